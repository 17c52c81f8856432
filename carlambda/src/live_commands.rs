//! The commands of the live API: `ingest` (poll the API into the stream) and `simulate-api`
//! (serve a simulated API to poll).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use carlambda_ingest::budget::BudgetConfig;
use carlambda_ingest::client::{self, ApiKey, Client, ClientConfig};
use carlambda_ingest::live::{self, LiveOptions, RetryConfig};
use carlambda_simulator::{Answers, Catalog, FaultConfig, GeneratorConfig, Recorded, SimulatedApi};
use carlambda_store::Store;
use carlambda_stream::Stream;
use serde::Deserialize;

/// `[ingest]` in carlambda.toml: defaults of the `ingest` flags, which win over it. Durations
/// are written like `1s`, `250ms` or `24h`. The API key is read from `EDMUNDS_API_KEY` only,
/// never from a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    api_url: Option<String>,
    calls_per_window: Option<u32>,
    window: Option<String>,
    min_interval: Option<String>,
    catalog_period: Option<String>,
    timeout: Option<String>,
    retries: Option<usize>,
    retry_delay: Option<String>,
}

/// `carlambda ingest`.
#[derive(clap::Args)]
pub struct IngestArgs {
    /// The API's base URL (default: `api_url` in carlambda.toml, else https://api.edmunds.com).
    /// The key comes from EDMUNDS_API_KEY.
    #[arg(long, env = "EDMUNDS_API_URL")]
    api_url: Option<String>,
    /// Make one pass over the models of the catalog, then stop.
    #[arg(long)]
    once: bool,
    /// Calls allowed per quota window [default: 25, the API's free tier].
    #[arg(long)]
    calls_per_window: Option<u32>,
    /// The quota window; an over-quota answer (403, 429) waits for the next one [default: 1d].
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// The least time between two calls [default: 1s].
    #[arg(long, value_parser = humantime::parse_duration)]
    min_interval: Option<Duration>,
    /// How often the catalog, and so the list of models, is fetched again [default: 7d].
    #[arg(long, value_parser = humantime::parse_duration)]
    catalog_period: Option<Duration>,
    /// The longest one call may take [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Retries of a timeout or 5xx answer [default: 3].
    #[arg(long)]
    retries: Option<usize>,
    /// The wait before the first retry, doubled for each next one [default: 1s].
    #[arg(long, value_parser = humantime::parse_duration)]
    retry_delay: Option<Duration>,
}

/// `carlambda ingest`: polls the API into the stream at `stream_location`, keeping its cursor
/// and budget in `store`.
pub async fn ingest(
    args: IngestArgs,
    settings: &IngestSettings,
    store: &Store,
    stream_location: &str,
) -> Result<()> {
    let Some(key) = ApiKey::from_env() else {
        bail!(
            "no API key: set {} to your Edmunds API key (the simulator takes any)",
            client::API_KEY_VAR
        );
    };
    let duration = |flag: Option<Duration>, file: &Option<String>, name: &str, default: u64| {
        file_or_flag(flag, file, name).map(|d| d.unwrap_or(Duration::from_secs(default)))
    };
    let mut config = ClientConfig::new(key);
    if let Some(url) = args.api_url.or(settings.api_url.clone()) {
        config.base_url = url;
    }
    config.timeout = duration(args.timeout, &settings.timeout, "timeout", 30)?;
    let options = LiveOptions {
        budget: BudgetConfig {
            calls_per_window: args
                .calls_per_window
                .or(settings.calls_per_window)
                .unwrap_or(25),
            window: duration(args.window, &settings.window, "window", 24 * 60 * 60)?,
            min_interval: duration(args.min_interval, &settings.min_interval, "min_interval", 1)?,
        },
        retry: RetryConfig {
            retries: args.retries.or(settings.retries).unwrap_or(3),
            min_delay: duration(args.retry_delay, &settings.retry_delay, "retry_delay", 1)?,
            ..RetryConfig::default()
        },
        catalog_period: duration(
            args.catalog_period,
            &settings.catalog_period,
            "catalog_period",
            7 * 24 * 60 * 60,
        )?,
        once: args.once,
    };

    let client = Client::new(config).context("cannot set up the API client")?;
    let stream = Stream::open(stream_location)
        .await
        .with_context(|| format!("cannot open the stream {stream_location}"))?;
    poll(&client, &stream, store, &options).await
}

/// Polls the API through `client` into `stream` and prints what it did.
pub async fn poll(
    client: &Client,
    stream: &Stream,
    store: &Store,
    options: &LiveOptions,
) -> Result<()> {
    tracing::info!(
        "ingesting from {} into {} ({} calls per {})",
        client.base_url(),
        stream.describe(),
        options.budget.calls_per_window,
        humantime::format_duration(options.budget.window)
    );
    let summary = live::run(client, stream, store, options)
        .await
        .context("ingest failed")?;
    crate::say(format_args!(
        "ingested {} models in {} calls: {} records ({} errors), {} catalogs, {} over-quota \
         answers; appended to {}",
        summary.models,
        summary.calls,
        summary.records,
        summary.errors,
        summary.catalogs,
        summary.over_quota,
        stream.describe()
    ))?;
    Ok(())
}

/// The flag, else the file's setting (parsed), else `None`.
fn file_or_flag(
    flag: Option<Duration>,
    file: &Option<String>,
    name: &str,
) -> Result<Option<Duration>> {
    match (flag, file) {
        (Some(flag), _) => Ok(Some(flag)),
        (None, Some(text)) => humantime::parse_duration(text)
            .map(Some)
            .with_context(|| format!("`{name} = \"{text}\"` in [ingest] is not a duration")),
        (None, None) => Ok(None),
    }
}

/// `carlambda simulate-api`.
#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The port to listen on; 0 picks a free one (the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Serve the recorded responses of this folder instead of a generated catalog.
    #[arg(long, value_name = "DIR")]
    recorded: Option<PathBuf>,
    /// Makes of the generated catalog [default: 8].
    #[arg(long, conflicts_with = "recorded")]
    makes: Option<usize>,
    /// Models per make of the generated catalog [default: 2 to 6].
    #[arg(long, conflicts_with = "recorded")]
    models_per_make: Option<usize>,
    /// Seeds the faults: the same seed gives the same faults on the same request numbers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Share of requests answered with an Edmunds error body (4xx or 5xx).
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    error_rate: f64,
    /// Share of requests answered with a bare 500 whose body is not JSON.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    server_error_rate: f64,
    /// Share of requests answered with half a body (not JSON).
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    malformed_rate: f64,
    /// Share of requests answered 429, as over quota.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    throttle_rate: f64,
    /// Share of requests answered late.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    slow_rate: f64,
    /// How late a slow answer is.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    slow: Duration,
    /// Log each request as one JSON line (number, path without the key, status, fault).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

/// A share of all requests: a number from 0 to 1.
fn share(text: &str) -> Result<f64, String> {
    text.parse()
        .ok()
        .filter(|share| (0.0..=1.0).contains(share))
        .ok_or_else(|| format!("`{text}` is not a share from 0 to 1"))
}

/// `carlambda simulate-api`: serves until the process is stopped.
pub async fn simulate_api(args: SimulateArgs) -> Result<()> {
    let faults = FaultConfig {
        seed: args.seed,
        error_body: args.error_rate,
        server_error: args.server_error_rate,
        malformed: args.malformed_rate,
        throttle: args.throttle_rate,
        slow: args.slow_rate,
        slow_delay: args.slow,
    };
    if let Err(rates) = faults.validate() {
        // Rates that add up to more than 1 are a mistake of the command line, as one out of
        // range is.
        <crate::Cli as clap::CommandFactory>::command()
            .error(clap::error::ErrorKind::ValueValidation, rates)
            .exit();
    }
    let answers =
        match &args.recorded {
            Some(dir) => Answers::Recorded(Recorded::load(dir).with_context(|| {
                format!("cannot read the recorded responses in {}", dir.display())
            })?),
            None => {
                let mut config = GeneratorConfig::default();
                if let Some(makes) = args.makes {
                    config.makes = makes;
                }
                if let Some(models) = args.models_per_make {
                    config.models_per_make = models..=models;
                }
                Answers::Generated(Catalog::generate(&config))
            }
        };
    let api = SimulatedApi::new(answers, faults, args.log.as_deref())
        .context("cannot open the request log")?;
    let address = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener
        .local_addr()
        .context("cannot tell the address listened on")?;
    crate::say(format_args!("listening on http://{bound}"))?;
    api.serve(listener)
        .await
        .context("the simulated API stopped")
}
