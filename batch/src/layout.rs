//! The published batch view in the master dataset: `batch/v<N>/<name>/part-0.parquet` for
//! every table and view, `batch/v<N>/manifest.json`, and `batch/CURRENT` naming the published
//! version. Readers (serving) go through this module only.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use carlambda_store::{Store, StoreError};
use carlambda_stream::Position;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

/// The key that names the published version, e.g. `v7`.
pub const CURRENT_KEY: &str = "batch/CURRENT";

/// What one batch version read and produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u64,
    /// When the batch finished, RFC 3339.
    pub created_at: String,
    /// How far into the raw records this version reaches.
    pub watermark: Watermark,
    /// Every raw object read, sorted.
    pub objects: Vec<String>,
    pub counts: Counts,
    /// Rows per table and view.
    pub rows: BTreeMap<String, u64>,
    /// The oldest and newest `fetched_at` of the winning snapshots, RFC 3339.
    pub oldest_fetched_at: Option<String>,
    pub newest_fetched_at: Option<String>,
    pub seconds: f64,
}

/// The batch watermark: per stream shard, the last sequence number archived into the objects
/// the batch read (the speed layer takes over after it), and the last raw object key read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub shards: Position,
    pub last_object: Option<String>,
}

/// What a batch read, line by line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub objects: u64,
    pub bytes: u64,
    /// Non-blank lines.
    pub records: u64,
    /// Records that were usable snapshots.
    pub snapshots: u64,
    pub errors: u64,
    pub rejected: u64,
    /// Scopes with a winning snapshot.
    pub scopes: u64,
}

impl Counts {
    /// Adds `other`'s counts of what was read (not `scopes`, which is known only at the end).
    pub fn add(&mut self, other: &Counts) {
        self.objects += other.objects;
        self.bytes += other.bytes;
        self.records += other.records;
        self.snapshots += other.snapshots;
        self.errors += other.errors;
        self.rejected += other.rejected;
    }
}

/// Faults reading or writing a batch view.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: {cause}")]
    Parquet {
        key: String,
        cause: parquet::errors::ParquetError,
    },
    #[error("{key} is not a batch manifest: {cause}")]
    Manifest {
        key: String,
        cause: serde_json::Error,
    },
    #[error(
        "{key} does not hold winning snapshots with their rows: {cause}; run `carlambda batch` \
         to publish a fresh version"
    )]
    Snapshots { key: String, cause: String },
    #[error("batch/CURRENT holds {0:?}, not a version such as v7")]
    BadCurrent(String),
    #[error("no batch version is published in {0}: run `carlambda batch` first")]
    NothingPublished(String),
}

fn version_prefix(version: u64) -> String {
    format!("batch/v{version}/")
}

/// The key of the one Parquet file of table or view `name` in `version`.
pub fn part_key(version: u64, name: &str) -> String {
    format!("{}{name}/part-0.parquet", version_prefix(version))
}

/// The key of the manifest of `version`.
pub fn manifest_key(version: u64) -> String {
    format!("{}manifest.json", version_prefix(version))
}

/// The published version, if any.
pub async fn current_version(store: &Store) -> Result<Option<u64>, LayoutError> {
    match store.get(CURRENT_KEY).await {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            let version = text.strip_prefix('v').and_then(|n| n.parse().ok());
            version.map(Some).ok_or(LayoutError::BadCurrent(text))
        }
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The number for a new version: one more than any version folder present, published or not,
/// so that an abandoned half-written version is never reused.
pub async fn next_version(store: &Store) -> Result<u64, LayoutError> {
    let keys = store.list("batch/v").await?;
    let highest = keys
        .iter()
        .filter_map(|key| {
            key.strip_prefix("batch/v")?
                .split('/')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max();
    Ok(highest.map_or(1, |v| v + 1))
}

/// Reads the manifest of `version`.
pub async fn read_manifest(store: &Store, version: u64) -> Result<Manifest, LayoutError> {
    let key = manifest_key(version);
    let bytes = store.get(&key).await?;
    serde_json::from_slice(&bytes).map_err(|cause| LayoutError::Manifest { key, cause })
}

/// The published version and its manifest, or [`LayoutError::NothingPublished`].
pub async fn published(store: &Store) -> Result<Manifest, LayoutError> {
    match current_version(store).await? {
        Some(version) => read_manifest(store, version).await,
        None => Err(LayoutError::NothingPublished(store.describe())),
    }
}

/// Reads every Parquet file of table or view `name` in `version`.
pub async fn read_table(
    store: &Store,
    version: u64,
    name: &str,
) -> Result<Vec<RecordBatch>, LayoutError> {
    let folder = format!("{}{name}/", version_prefix(version));
    let mut batches = Vec::new();
    for key in store.list(&folder).await? {
        let bytes = store.get(&key).await?;
        let parquet_error = |cause| LayoutError::Parquet {
            key: key.clone(),
            cause,
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|builder| builder.build())
            .map_err(parquet_error)?;
        for batch in reader {
            batches.push(batch.map_err(|e| parquet_error(e.into()))?);
        }
    }
    Ok(batches)
}

/// `batch` as the bytes of a Parquet file (Snappy-compressed).
pub fn parquet_bytes(key: &str, batch: &RecordBatch) -> Result<Bytes, LayoutError> {
    let parquet_error = |cause| LayoutError::Parquet {
        key: key.to_owned(),
        cause,
    };
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties))
        .map_err(parquet_error)?;
    writer.write(batch).map_err(parquet_error)?;
    let bytes = writer.into_inner().map_err(parquet_error)?;
    Ok(Bytes::from(bytes))
}

/// Publishes `version`: from now on readers see it. Call only once all its files are written.
pub async fn publish(store: &Store, version: u64) -> Result<(), LayoutError> {
    let body = Bytes::from(format!("v{version}\n"));
    store.put(CURRENT_KEY, body, "text/plain").await?;
    Ok(())
}
