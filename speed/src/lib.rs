//! The speed layer: the speed view kept up to date, incrementally, over the raw records that
//! arrived after the batch watermark.
//!
//! [`SpeedLayer`] runs a differential dataflow (`dataflow`) on timely workers. It is fed
//! batches of stream records, and told (by [`SpeedLayer::retract`]) when a batch version
//! covers records, which then leave the computation. After every step it
//! yields a [`SpeedView`]: per scope the winning snapshot with its rows, and the issues, by the
//! same rules and the same reading code as the batch. [`publish`] writes the view and a
//! [`Checkpoint`] to the master dataset under `speed/`.

mod dataflow;
mod layer;
mod position;
mod publish;

pub use layer::{Checkpoint, HeldRecord, SpeedLayer, SpeedView};
pub use publish::{CHECKPOINT_KEY, VIEW_KEY, publish, read_checkpoint, read_view};

use carlambda_store::StoreError;

/// Why the speed layer could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SpeedError {
    #[error("the speed dataflow could not start: {0}")]
    Timely(String),
    #[error("a speed dataflow worker stopped; see the log for its panic")]
    WorkerStopped,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key} is not a speed {what}: {cause}")]
    Format {
        key: String,
        what: &'static str,
        cause: serde_json::Error,
    },
}
