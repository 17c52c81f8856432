//! `carlambda demo`: the whole path on the built-in simulator, with nothing to set up. The
//! simulated API serves a generated catalog on a loopback port; ingest polls it into the
//! stream, archive writes the stream into the master dataset, the batch publishes a version,
//! a second poll (in which some styles changed) reaches the speed view, and the page shows the
//! merged views.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use carlambda_ingest::budget::BudgetConfig;
use carlambda_ingest::client::{ApiKey, Client, ClientConfig};
use carlambda_ingest::live::{LiveOptions, RetryConfig};
use carlambda_simulator::{Answers, Catalog, FaultConfig, SimulatedApi};
use carlambda_speed::worker::WorkerOptions;
use carlambda_store::Store;
use carlambda_stream::archive::ArchiveOptions;

use crate::{live_commands, serving, speed_command, stream_commands};

/// The simulator asks for a key, as the API does, and takes any.
const DEMO_KEY: &str = "demo";

/// Runs the demo on `store` and the stream at `stream`, with `workers` timely threads.
pub async fn run(store: Arc<Store>, stream: &str, workers: usize) -> Result<()> {
    let base_url = start_simulated_api().await?;
    let key = ApiKey::new(DEMO_KEY).expect("the demo key is not empty");
    let client = Client::new(ClientConfig {
        base_url,
        ..ClientConfig::new(key)
    })
    .context("cannot set up the API client")?;
    let appended = stream_commands::open(stream).await?;
    // The simulator has no quota: the demo polls as fast as it answers.
    let options = LiveOptions {
        budget: BudgetConfig {
            calls_per_window: 1_000_000,
            min_interval: Duration::ZERO,
            ..BudgetConfig::default()
        },
        retry: RetryConfig {
            min_delay: Duration::from_millis(10),
            ..RetryConfig::default()
        },
        once: true,
        ..LiveOptions::default()
    };

    live_commands::poll(&client, &appended, &store, &options).await?;
    let archive = ArchiveOptions {
        drain: true,
        ..ArchiveOptions::default()
    };
    stream_commands::archive(stream, &store, &archive).await?;
    crate::batch(store.clone(), workers).await?;

    // The simulator answers a model asked for again with its next poll: the speed view takes
    // in the changes, and the page shows them without another batch.
    live_commands::poll(&client, &appended, &store, &options).await?;
    let speed = WorkerOptions {
        workers,
        drain: true,
        ..WorkerOptions::default()
    };
    speed_command::speed(&store, stream, &speed).await?;
    serving::publish(&store, None).await
}

/// Serves the default generated catalog on a free loopback port, for as long as the process
/// runs, and returns its base URL.
async fn start_simulated_api() -> Result<String> {
    let catalog = Catalog::generate(&Default::default());
    let api = SimulatedApi::new(Answers::Generated(catalog), FaultConfig::default(), None)
        .context("cannot start the simulated API")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on a loopback port for the simulated API")?;
    let address = listener
        .local_addr()
        .context("cannot tell the simulated API's address")?;
    tokio::spawn(api.serve(listener));
    Ok(format!("http://{address}"))
}
