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

/// Writes the checkpoint, then the view. A crash between the two leaves a view one step
/// behind its checkpoint, which the next step replaces; never a view ahead of what a restart
/// can resume.
pub async fn publish(
    store: &Store,
    view: &SpeedView,
    checkpoint: &Checkpoint,
) -> Result<(), SpeedError> {
    put_json(store, CHECKPOINT_KEY, checkpoint).await?;
    put_json(store, VIEW_KEY, view).await
}

/// The published speed view, if any.
pub async fn read_view(store: &Store) -> Result<Option<SpeedView>, SpeedError> {
    get_json(store, VIEW_KEY, "view").await
}

/// The last checkpoint, if any.
pub async fn read_checkpoint(store: &Store) -> Result<Option<Checkpoint>, SpeedError> {
    get_json(store, CHECKPOINT_KEY, "checkpoint").await
}

async fn put_json(store: &Store, key: &str, value: &impl Serialize) -> Result<(), SpeedError> {
    let json = serde_json::to_vec(value).expect("the speed view and checkpoint serialize");
    store
        .put(key, Bytes::from(json), "application/json")
        .await?;
    Ok(())
}

async fn get_json<T: DeserializeOwned>(
    store: &Store,
    key: &str,
    what: &'static str,
) -> Result<Option<T>, SpeedError> {
    let bytes = match store.get(key).await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|cause| SpeedError::Format {
            key: key.to_owned(),
            what,
            cause,
        })
}
