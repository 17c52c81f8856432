//! `carlambda speed`: the continuous speed worker. It reads the stream from the watermark of
//! the published batch view on, keeps the speed view up to date, and publishes it after every
//! step of progress.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use carlambda_speed::worker::{self, Step, WorkerOptions};
use carlambda_store::Store;
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tracing::{error, info};

use crate::stream_commands;

/// How the speed worker runs.
#[derive(clap::Args)]
pub struct SpeedArgs {
    /// Timely worker threads of the differential dataflow [default: `workers` in
    /// carlambda.toml, else the CPU count].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Process what is in the stream, publish, and exit.
    #[arg(long)]
    pub drain: bool,
    #[command(flatten)]
    pub timing: SpeedTiming,
}

/// The speed worker's pacing, shared by `speed` and `serve --speed`.
#[derive(clap::Args, Clone, Debug)]
pub struct SpeedTiming {
    /// How long to wait before asking an idle stream again [default: 25ms].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub idle_wait: Option<Duration>,
    /// The least time between two writes of the speed view to the store (`serve --speed` is
    /// handed every step) [default: 250ms].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub publish_every: Option<Duration>,
    /// The least time between two checkpoints of the speed layer [default: 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub checkpoint_every: Option<Duration>,
}

impl SpeedTiming {
    /// The worker's options with `workers` threads.
    pub fn options(&self, workers: usize, drain: bool) -> WorkerOptions {
        let defaults = WorkerOptions::default();
        WorkerOptions {
            workers,
            drain,
            idle_wait: self.idle_wait.unwrap_or(defaults.idle_wait),
            publish_every: self.publish_every.unwrap_or(defaults.publish_every),
            checkpoint_every: self.checkpoint_every.unwrap_or(defaults.checkpoint_every),
        }
    }
}

/// Runs the speed worker over the stream at `location` until it is stopped (or, with
/// `options.drain`, until the stream is read to its end).
pub async fn speed(store: &Store, location: &str, options: &WorkerOptions) -> Result<()> {
    let stream = stream_commands::open_to_read(location, options.drain).await?;
    let view = worker::run(store, &stream, options, |step| {
        info!(
            received = step.arrivals.len(),
            scopes = step.view.winners.len(),
            since_watermark = step.view.records_since_watermark,
            "published the speed view"
        );
    })
    .await
    .with_context(|| format!("the speed worker on {} failed", stream.describe()))?;
    crate::say(format_args!(
        "speed view: {} scopes, {} issues, {} records since the batch watermark",
        view.winners.len(),
        view.issues.len(),
        view.records_since_watermark,
    ))?;
    Ok(())
}

/// Starts the speed worker over the stream at `location` on a thread of its own (its dataflow
/// steps block while the workers compute, which must not hold up the server's async threads)
/// and returns its steps. The channel closes when the worker stops; its error is logged.
pub async fn spawn(
    store: Arc<Store>,
    location: &str,
    options: WorkerOptions,
) -> Result<UnboundedReceiver<Step>> {
    let stream = stream_commands::open(location).await?;
    let (steps, received) = mpsc::unbounded_channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the speed worker's runtime")?;
    std::thread::Builder::new()
        .name("speed-worker".into())
        .spawn(move || {
            let run = worker::run(&store, &stream, &options, |step| {
                // A closed channel means the server is gone; the process is ending.
                let _ = steps.send(step);
            });
            if let Err(e) = runtime.block_on(run) {
                error!("the speed worker on {} stopped: {e}", stream.describe());
            }
        })
        .context("cannot start the speed worker's thread")?;
    Ok(received)
}
