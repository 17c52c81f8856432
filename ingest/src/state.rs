//! Ingest's own state in the store (`ingest/…` keys): small JSON documents, each replaced whole,
//! so that a restart continues where the last run stopped.

use bytes::Bytes;
use carlambda_store::{Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why ingest's state could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "`{key}` in the master dataset at {location} is not ingest state ({reason}); \
         move it away to start over"
    )]
    Corrupt {
        location: String,
        key: String,
        reason: String,
    },
}

/// The document at `key`, or `None` when there is none yet.
pub(crate) async fn load<T: DeserializeOwned>(
    store: &Store,
    key: &str,
) -> Result<Option<T>, StateError> {
    let bytes = match store.get(key).await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StateError::Corrupt {
            location: store.describe(),
            key: key.to_owned(),
            reason: e.to_string(),
        })
}

/// Replaces the document at `key` with `value`.
pub(crate) async fn save<T: Serialize>(
    store: &Store,
    key: &str,
    value: &T,
) -> Result<(), StateError> {
    let json = serde_json::to_vec_pretty(value).expect("ingest state always serializes");
    store
        .put(key, Bytes::from(json), "application/json")
        .await
        .map_err(StateError::from)
}
