//! `carlambda speed`: the continuous speed worker. It reads the stream from the watermark of
//! the published batch view on, keeps the speed view up to date, and publishes it with a
//! checkpoint after every step of progress.

use std::time::Duration;

use anyhow::{Context, Result};
use carlambda_batch::layout;
use carlambda_speed::SpeedLayer;
use carlambda_store::Store;
use carlambda_stream::Position;
use tracing::info;

use crate::stream_commands;

/// How the speed worker runs.
#[derive(clap::Args)]
pub struct SpeedArgs {
    /// Timely worker threads of the differential dataflow.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Process what is in the stream, publish, and exit.
    #[arg(long)]
    pub drain: bool,
    /// How long to wait before asking an idle stream again, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub poll_ms: u64,
}

/// Runs the speed worker over the stream at `location` until it is stopped (or, with
/// `--drain`, until the stream is read to its end).
pub async fn speed(store: &Store, location: &str, args: &SpeedArgs, workers: usize) -> Result<()> {
    let stream = stream_commands::open(location).await?;
    let mut layer = match carlambda_speed::read_checkpoint(store).await? {
        Some(checkpoint) => SpeedLayer::resume(workers, checkpoint)?,
        None => SpeedLayer::start(workers)?,
    };
    let mut batch_version = None;
    retract_published(store, &mut layer, &mut batch_version).await?;

    let start = furthest(&layer.view().positions, &layer.view().covered);
    let mut consumer = stream
        .consumer(start)
        .await
        .with_context(|| format!("cannot read {}", stream.describe()))?;
    info!(stream = %stream.describe(), held = layer.held(), "speed worker started");

    loop {
        let records = consumer.next_batch().await?;
        let received = records.len();
        if received > 0 {
            let view = layer.feed(records)?;
            carlambda_speed::publish(store, &view, &layer.checkpoint()).await?;
            info!(
                received,
                scopes = view.winners.len(),
                since_watermark = view.records_since_watermark,
                "published the speed view"
            );
        }
        retract_published(store, &mut layer, &mut batch_version).await?;
        if args.drain && consumer.caught_up().await? {
            break;
        }
        if received == 0 {
            tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
        }
    }

    let view = layer.view();
    carlambda_speed::publish(store, &view, &layer.checkpoint()).await?;
    println!(
        "speed view: {} scopes, {} records since the batch watermark, {} held",
        view.winners.len(),
        view.records_since_watermark,
        layer.held()
    );
    Ok(())
}

/// When a batch version newer than the one seen is published, retracts the records its
/// watermark covers and publishes the smaller speed view.
async fn retract_published(
    store: &Store,
    layer: &mut SpeedLayer,
    seen: &mut Option<u64>,
) -> Result<()> {
    let Some(version) = layout::current_version(store).await? else {
        return Ok(());
    };
    if *seen == Some(version) {
        return Ok(());
    }
    let manifest = layout::read_manifest(store, version).await?;
    let view = layer.retract(&manifest.watermark.shards)?;
    carlambda_speed::publish(store, &view, &layer.checkpoint()).await?;
    info!(
        version,
        held = layer.held(),
        "batch v{version} published: retracted what its watermark covers"
    );
    *seen = Some(version);
    Ok(())
}

/// Per shard, the further of two positions.
fn furthest(a: &Position, b: &Position) -> Position {
    let mut position = a.clone();
    for (shard, sequence) in b {
        if position.get(shard).is_none_or(|mine| mine < sequence) {
            position.insert(shard.clone(), sequence.clone());
        }
    }
    position
}
