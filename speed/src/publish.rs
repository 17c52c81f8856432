//! The speed view and its checkpoint in the master dataset: `speed/view.json` for serving,
//! `speed/checkpoint.json` for a restart. Each is written whole (readers see the old or the
//! new object, never a part).

use bytes::Bytes;
use carlambda_store::{Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Checkpoint, SpeedError, SpeedView};

/// Where serving reads the speed view.
pub const VIEW_KEY: &str = "speed/view.json";
/// Where a restarted speed layer reads what it held.
pub const CHECKPOINT_KEY: &str = "speed/checkpoint.json";

/// Writes the speed view for serving.
pub async fn publish_view(store: &Store, view: &SpeedView) -> Result<(), SpeedError> {
    put_json(store, VIEW_KEY, view).await
}

/// Writes the checkpoint a restart resumes from. A view published after it is not lost by a
/// restart: reading resumes at the checkpoint's positions, and the stream still holds every
/// record after them.
pub async fn save_checkpoint(store: &Store, checkpoint: &Checkpoint) -> Result<(), SpeedError> {
    put_json(store, CHECKPOINT_KEY, checkpoint).await
}

/// The published speed view, if any.
pub async fn read_view(store: &Store) -> Result<Option<SpeedView>, SpeedError> {
    match read_view_bytes(store).await? {
        Some(bytes) => parse_view(&bytes).map(Some),
        None => Ok(None),
    }
}

/// The published speed view as stored, if any: for a reader that parses it only when it
/// changed (see [`parse_view`]).
pub async fn read_view_bytes(store: &Store) -> Result<Option<Bytes>, SpeedError> {
    match store.get(VIEW_KEY).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A speed view from the bytes [`read_view_bytes`] gave.
pub fn parse_view(bytes: &[u8]) -> Result<SpeedView, SpeedError> {
    parse(VIEW_KEY, "view", bytes)
}

/// The last checkpoint, if any.
pub async fn read_checkpoint(store: &Store) -> Result<Option<Checkpoint>, SpeedError> {
    match store.get(CHECKPOINT_KEY).await {
        Ok(bytes) => parse(CHECKPOINT_KEY, "checkpoint", &bytes).map(Some),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn put_json(store: &Store, key: &str, value: &impl Serialize) -> Result<(), SpeedError> {
    let json = serde_json::to_vec(value).expect("the speed view and checkpoint serialize");
    store
        .put(key, Bytes::from(json), "application/json")
        .await?;
    Ok(())
}

fn parse<T: DeserializeOwned>(
    key: &str,
    what: &'static str,
    bytes: &[u8],
) -> Result<T, SpeedError> {
    serde_json::from_slice(bytes).map_err(|cause| SpeedError::Format {
        key: key.to_owned(),
        what,
        cause,
    })
}
