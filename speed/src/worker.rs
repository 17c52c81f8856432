//! The speed worker: reads the stream from the batch watermark on, feeds the speed layer,
//! publishes the speed view after every step of progress, and retracts what each newly
//! published batch version covers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use carlambda_batch::layout;
use carlambda_schemas::FetchedAt;
use carlambda_store::Store;
use carlambda_stream::Stream;
use tracing::{info, warn};

use crate::position;
use crate::{SpeedError, SpeedLayer, SpeedView, publish_view, read_checkpoint, save_checkpoint};

/// How often the worker reads `batch/CURRENT` for a newly published version.
const BATCH_CHECK: Duration = Duration::from_secs(1);

/// How the worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Timely worker threads of the dataflow.
    pub workers: usize,
    /// Stop once the stream is read to its end, instead of following it.
    pub drain: bool,
    /// How long to wait before asking an idle stream again.
    pub idle_wait: Duration,
    /// The least time between two writes of the view to the store. A server in this process
    /// is handed every step; other readers see the store's copy, at most this much behind.
    pub publish_every: Duration,
    /// The least time between two checkpoints.
    pub checkpoint_every: Duration,
}

impl Default for WorkerOptions {
    fn default() -> WorkerOptions {
        WorkerOptions {
            workers: 1,
            drain: false,
            idle_wait: Duration::from_millis(25),
            publish_every: Duration::from_millis(250),
            checkpoint_every: Duration::from_secs(5),
        }
    }
}

/// One step of progress, as the worker hands it to a server in the same process.
#[derive(Clone, Debug)]
pub struct Step {
    /// The speed view after the step; it is published to the store right after.
    pub view: Arc<SpeedView>,
    /// When each record of the step arrived on the stream: how old each is once the view is
    /// served is its latency from append to view. Empty for a retraction.
    pub arrivals: Vec<FetchedAt>,
}

/// Runs the speed worker over `stream`, keeping its view and checkpoint in `store`, until an
/// error (or, with `drain`, until the stream is read to its end). `on_step` is called after
/// every step that changed the view; the store's copy follows within `publish_every`.
///
/// # Errors
///
/// A stream, store or dataflow failure; the last checkpoint stays, so a restart resumes there.
pub async fn run(
    store: &Store,
    stream: &Stream,
    options: &WorkerOptions,
    mut on_step: impl FnMut(Step),
) -> Result<SpeedView, SpeedError> {
    let mut layer = resume_or_start(store, stream, options.workers).await?;
    let mut batch = BatchWatch::default();
    if let Some(view) = batch.retract_published(store, &mut layer).await? {
        publish_view(store, &view).await?;
        on_step(Step {
            view: Arc::new(view),
            arrivals: Vec::new(),
        });
    }

    let view = layer.view();
    let mut start = view.positions;
    position::advance(&mut start, &view.covered);
    let mut consumer = stream.consumer(start).await?;
    info!(stream = %stream.describe(), held = layer.held(), "speed worker started");
    let mut checkpointed = Instant::now();
    let mut published = Instant::now();
    // The view of the last step, while the store holds an older one.
    let mut unpublished: Option<Arc<SpeedView>> = None;

    loop {
        let records = consumer.next_batch().await?;
        let received = records.len();
        if received > 0 {
            let arrivals = records.iter().map(|record| record.arrived).collect();
            let view = Arc::new(layer.feed(records)?);
            // A server in this process has the view first: writing it to the store can take
            // longer than the step itself when the view is large.
            on_step(Step {
                view: view.clone(),
                arrivals,
            });
            if published.elapsed() >= options.publish_every {
                publish_view(store, &view).await?;
                (published, unpublished) = (Instant::now(), None);
            } else {
                unpublished = Some(view);
            }
            if checkpointed.elapsed() >= options.checkpoint_every {
                checkpoint(store, stream, &layer).await?;
                checkpointed = Instant::now();
            }
        }
        if let Some(view) = batch.retract_published(store, &mut layer).await? {
            publish_view(store, &view).await?;
            (published, unpublished) = (Instant::now(), None);
            checkpoint(store, stream, &layer).await?;
            checkpointed = Instant::now();
            on_step(Step {
                view: Arc::new(view),
                arrivals: Vec::new(),
            });
        }
        if options.drain && consumer.caught_up().await? {
            break;
        }
        if received == 0 {
            if let Some(view) = unpublished.take() {
                publish_view(store, &view).await?;
                published = Instant::now();
            }
            tokio::time::sleep(options.idle_wait).await;
        }
    }

    let view = layer.view();
    publish_view(store, &view).await?;
    checkpoint(store, stream, &layer).await?;
    Ok(view)
}

/// The layer of the last checkpoint of `stream`, or a new one.
async fn resume_or_start(
    store: &Store,
    stream: &Stream,
    workers: usize,
) -> Result<SpeedLayer, SpeedError> {
    match read_checkpoint(store).await? {
        Some(saved) if saved.stream == stream.name() => {
            info!(
                records = saved.records.len(),
                "resuming from the speed checkpoint"
            );
            SpeedLayer::resume(workers, saved)
        }
        Some(saved) => {
            warn!(
                checkpoint = %saved.stream,
                stream = %stream.name(),
                "the speed checkpoint is of another stream: starting from the batch watermark"
            );
            SpeedLayer::start(workers)
        }
        None => SpeedLayer::start(workers),
    }
}

async fn checkpoint(store: &Store, stream: &Stream, layer: &SpeedLayer) -> Result<(), SpeedError> {
    let mut checkpoint = layer.checkpoint();
    checkpoint.stream = stream.name();
    save_checkpoint(store, &checkpoint).await
}

/// Which batch version the layer's watermark comes from, and when `batch/CURRENT` was read.
#[derive(Default)]
struct BatchWatch {
    version: Option<u64>,
    checked: Option<Instant>,
}

impl BatchWatch {
    /// When a batch version other than the one seen is published (read at most every
    /// [`BATCH_CHECK`]), retracts the records its watermark covers and returns the view.
    async fn retract_published(
        &mut self,
        store: &Store,
        layer: &mut SpeedLayer,
    ) -> Result<Option<SpeedView>, SpeedError> {
        if self.checked.is_some_and(|at| at.elapsed() < BATCH_CHECK) {
            return Ok(None);
        }
        self.checked = Some(Instant::now());
        let Some(version) = layout::current_version(store).await? else {
            return Ok(None);
        };
        if self.version == Some(version) {
            return Ok(None);
        }
        let manifest = layout::read_manifest(store, version).await?;
        let view = layer.retract(&manifest.watermark.shards)?;
        info!(
            version,
            held = layer.held(),
            "batch v{version} is published: retracted what its watermark covers"
        );
        self.version = Some(version);
        Ok(Some(view))
    }
}
