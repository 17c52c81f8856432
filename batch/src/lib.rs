//! The batch layer: recomputes the batch view from every raw record in the master dataset.
//!
//! `run` lists the raw objects, reads them on timely workers ([`dataflow`]), applies "what
//! current means" and the views ([`carlambda_views`]), writes every table and view as Parquet
//! into a new version folder, and only then publishes that version ([`layout`]).

pub mod dataflow;
pub mod layout;
pub mod read;
pub mod snapshots;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use carlambda_schemas::FetchedAt;
use carlambda_store::{Store, StoreError};
use carlambda_stream::{Position, archive};
use carlambda_views::{Issue, Views, Winners, current_tables};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinSet;

use crate::layout::{LayoutError, Manifest, Watermark};

/// The prefix of every raw object in the master dataset.
pub const RAW_PREFIX: &str = "raw/";

/// How to run a batch.
#[derive(Clone, Copy, Debug)]
pub struct BatchOptions {
    /// Timely worker threads.
    pub workers: usize,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
}

/// Why a batch did not publish.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("building the Arrow batch of {name}: {cause}")]
    Arrow {
        name: String,
        cause: arrow::error::ArrowError,
    },
    #[error(
        "no raw records in {0}: run `carlambda archive --drain` to archive what ingest put on the \
         stream, or `carlambda import` for files (or point --store at the master dataset)"
    )]
    NoRawRecords(String),
    #[error("the batch dataflow failed: {0}")]
    Dataflow(String),
    #[error(
        "{} raw object(s) could not be read, so nothing was published; first: {}",
        .0.len(), .0[0]
    )]
    Unreadable(Vec<String>),
}

/// Recomputes the batch view from all raw objects in `store` and publishes it as a new
/// version. Returns the new version's manifest. Must be called within a tokio runtime.
pub async fn run(store: Arc<Store>, options: BatchOptions) -> Result<Manifest, BatchError> {
    let started = Instant::now();
    let keys = Arc::new(store.list(RAW_PREFIX).await?);
    if keys.is_empty() {
        return Err(BatchError::NoRawRecords(store.describe()));
    }
    let version = layout::next_version(&store).await?;
    tracing::info!(
        objects = keys.len(),
        version,
        "batch reading {}",
        store.describe()
    );

    let progress = progress_bar(keys.len() as u64, options.progress);
    let partial = {
        let (keys, store, progress) = (keys.clone(), store.clone(), progress.clone());
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            dataflow::read_objects(keys, store, runtime, options.workers, progress)
        })
        .await
        .map_err(|e| BatchError::Dataflow(e.to_string()))?
        .map_err(BatchError::Dataflow)?
    };
    progress.finish_and_clear();
    let read_seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        records = partial.counts.records,
        "read {} objects in {read_seconds:.2} s",
        keys.len()
    );
    if !partial.failures.is_empty() {
        return Err(BatchError::Unreadable(partial.failures));
    }

    let mut counts = partial.counts;
    counts.scopes = partial.winners.len() as u64;
    let fetched: Vec<FetchedAt> = partial.winners.snapshots().map(|s| s.fetched_at).collect();
    let rows = write_outputs(&store, version, partial.winners, &partial.issues).await?;

    let manifest = Manifest {
        version,
        created_at: FetchedAt::now().to_string(),
        watermark: Watermark {
            shards: archived_through(&keys),
            last_object: keys.last().cloned(),
        },
        objects: keys.to_vec(),
        counts,
        rows,
        oldest_fetched_at: fetched.iter().min().map(|t| t.to_string()),
        newest_fetched_at: fetched.iter().max().map(|t| t.to_string()),
        seconds: started.elapsed().as_secs_f64(),
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    store
        .put(
            &layout::manifest_key(version),
            manifest_json.into(),
            "application/json",
        )
        .await?;
    layout::publish(&store, version).await?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(version, "published batch v{version} in {seconds:.2} s");
    Ok(manifest)
}

fn progress_bar(objects: u64, wanted: bool) -> ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{spinner} reading raw objects {bar:40} {pos}/{len} {elapsed}",
    )
    .expect("the progress template is valid");
    ProgressBar::new(objects).with_style(style)
}

/// Per stream shard, the last sequence number in the objects `archive` wrote among `keys`:
/// the archive writes each shard's records in order, so everything up to it is in the batch.
fn archived_through(keys: &[String]) -> Position {
    let mut through = Position::new();
    for (shard, _first, last) in keys.iter().filter_map(|key| archive::object_range(key)) {
        match through.entry(shard) {
            Entry::Vacant(slot) => {
                slot.insert(last);
            }
            Entry::Occupied(mut slot) => {
                if last > *slot.get() {
                    slot.insert(last);
                }
            }
        }
    }
    through
}

/// Writes every table and view of the batch view, and [`snapshots`] (each scope's winning
/// snapshot with its rows, which later layers merge against), as version `version`'s Parquet
/// files; returns the rows of each.
///
/// The three groups of outputs (snapshots, tables, views) are built and encoded on blocking
/// threads at once, each as soon as what it needs is computed, and each file is written as
/// soon as it is encoded: each local write waits on fsync, each S3 write on a round trip.
async fn write_outputs(
    store: &Arc<Store>,
    version: u64,
    winners: Winners,
    issues: &[Issue],
) -> Result<BTreeMap<String, u64>, BatchError> {
    let winners = Arc::new(winners);
    let mut encoding = JoinSet::new();
    let snapshots_of = winners.clone();
    encoding.spawn_blocking(move || {
        let batch =
            snapshots::to_record_batch(&snapshots_of).map_err(arrow_error(snapshots::NAME))?;
        encode(version, vec![(snapshots::NAME, batch)])
    });
    let tables = Arc::new(current_tables(&winners));
    let tables_of = tables.clone();
    encoding.spawn_blocking(move || {
        encode(
            version,
            tables_of
                .to_record_batches()
                .map_err(arrow_error("tables"))?,
        )
    });
    let views = Views::compute(&tables, issues);
    encoding.spawn_blocking(move || {
        encode(
            version,
            views.to_record_batches().map_err(arrow_error("views"))?,
        )
    });

    let mut rows = BTreeMap::new();
    let mut writes = JoinSet::new();
    while let Some(encoded) = encoding.join_next().await {
        let encoded = encoded.map_err(|e| BatchError::Dataflow(e.to_string()))??;
        for (name, key, bytes, count) in encoded {
            rows.insert(name.to_owned(), count);
            let store = store.clone();
            writes.spawn(async move {
                store
                    .put(&key, bytes, "application/vnd.apache.parquet")
                    .await
            });
        }
    }
    while let Some(written) = writes.join_next().await {
        written.map_err(|e| BatchError::Dataflow(e.to_string()))??;
    }
    // Freeing every row takes as long as writing a file: it is done aside, not on the way to
    // publishing.
    tokio::task::spawn_blocking(move || drop((winners, tables)));
    Ok(rows)
}

/// The Parquet file of each of `batches` in version `version`: name, key, bytes and rows.
fn encode(
    version: u64,
    batches: Vec<(&'static str, RecordBatch)>,
) -> Result<Vec<(&'static str, String, Bytes, u64)>, BatchError> {
    batches
        .into_iter()
        .map(|(name, batch)| {
            let key = layout::part_key(version, name);
            let bytes = layout::parquet_bytes(&key, &batch)?;
            Ok((name, key, bytes, batch.num_rows() as u64))
        })
        .collect()
}

fn arrow_error(name: &str) -> impl FnOnce(arrow::error::ArrowError) -> BatchError {
    let name = name.to_owned();
    move |cause| BatchError::Arrow { name, cause }
}
