//! The speed layer: the speed view kept up to date, incrementally, over the raw records that
//! arrived after the batch watermark.
//!
//! [`SpeedLayer`] runs a differential dataflow (`dataflow`) on timely workers. It is fed
//! batches of stream records, and told (by [`SpeedLayer::retract`]) when a batch version
//! covers records, which then leave the computation. After every step it
//! yields a [`SpeedView`]: per scope the winning snapshot with its rows, and the issues, by the
//! same rules and the same reading code as the batch. [`worker::run`] drives it from the
//! stream, publishing the view ([`publish_view`]) and a [`Checkpoint`] ([`save_checkpoint`])
//! to the master dataset under `speed/`.

mod dataflow;
mod layer;
mod position;
mod publish;
pub mod worker;

pub use layer::{Checkpoint, HeldRecord, SpeedLayer, SpeedView};
pub use publish::{
    CHECKPOINT_KEY, VIEW_KEY, parse_view, publish_view, read_checkpoint, read_view,
    read_view_bytes, save_checkpoint,
};

use carlambda_batch::layout::LayoutError;
use carlambda_store::StoreError;
use carlambda_stream::StreamError;

/// Why the speed layer could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SpeedError {
    #[error("the speed dataflow could not start: {0}")]
    Timely(String),
    #[error("a speed dataflow worker stopped; see the log for its panic")]
    WorkerStopped,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("cannot read the published batch view: {0}")]
    Batch(#[from] LayoutError),
    #[error("{key} is not a speed {what}: {cause}")]
    Format {
        key: String,
        what: &'static str,
        cause: serde_json::Error,
    },
}
