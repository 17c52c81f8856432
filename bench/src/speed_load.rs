//! `speed-load`: raw records appended to the stream at a steady rate while a speed worker in
//! this process keeps the speed view and every step is merged with the published batch view,
//! as `carlambda serve --speed` merges it. Reports the records per second sustained and the
//! latency from a record's arrival on the stream to the merged state that holds it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use carlambda_schemas::record::{Body, RecordParts};
use carlambda_schemas::{FetchedAt, RawRecord};
use carlambda_serving::BatchView;
use carlambda_serving::server::Served;
use carlambda_speed::worker::{self, Step, WorkerOptions};
use carlambda_store::Store;
use carlambda_stream::Stream;

use crate::generate::Polls;
use crate::serve_latency::percentile;

/// Distinct polls of every model the appender cycles through; each record gets its own
/// `fetched_at`, so each is a new record, and the newest snapshot of its scope.
const POLLS: u32 = 6;

/// The most records one append carries.
const APPEND_CHUNK: usize = 2000;

/// How long after the last append the merged state may take to hold every record.
const SETTLE: Duration = Duration::from_secs(30);

/// What to measure.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadOptions {
    /// A master dataset with a published batch view; its speed view is replaced.
    #[arg(long)]
    pub store: String,
    /// A new local log folder, or kinesis://<name>.
    #[arg(long)]
    pub stream: String,
    /// Create the Kinesis stream first, with this many shards.
    #[arg(long)]
    pub create_shards: Option<u32>,
    /// The Edmunds makes response whose models are polled.
    #[arg(long, default_value = crate::DEFAULT_CATALOG)]
    pub catalog: PathBuf,
    /// Records appended per second.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u32,
    /// Seconds of appending.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Seconds at the start left out of the latency figures.
    #[arg(long, default_value_t = 2.0)]
    pub warm_up: f64,
    /// Timely worker threads of the speed worker.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

/// What one run measured, as one JSON object.
#[derive(Debug, serde::Serialize)]
struct Figures {
    stream: String,
    rate_asked: u32,
    workers: usize,
    seconds: f64,
    appended: u64,
    appended_per_second: f64,
    served: u64,
    served_per_second: f64,
    steps: usize,
    records_per_state: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    state_build_p50_ms: f64,
    state_build_p99_ms: f64,
    all_served: bool,
}

/// Runs the load and prints its figures as one JSON line.
pub fn run(options: &LoadOptions) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let store = runtime
        .block_on(Store::open(&options.store))
        .with_context(|| format!("cannot open the store {}", options.store))?;
    let batch = runtime
        .block_on(BatchView::load(&store))
        .context("the store needs a published batch view: run `carlambda batch` on it")?;
    let stream = runtime.block_on(open_stream(options))?;
    let bodies = bodies(options)?;
    let store = Arc::new(store);

    let (steps, received) = channel();
    let worker_options = WorkerOptions {
        workers: options.workers,
        ..WorkerOptions::default()
    };
    let (worker_store, worker_stream) = (store.clone(), stream.clone());
    std::thread::Builder::new()
        .name("speed-worker".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the speed worker");
            let run = worker::run(&worker_store, &worker_stream, &worker_options, |step| {
                let _ = steps.send(step);
            });
            if let Err(e) = runtime.block_on(run) {
                eprintln!("carlambda-bench: the speed worker stopped: {e}");
            }
        })
        .context("cannot start the speed worker")?;

    let appended = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let appender = runtime.spawn(append(
        stream,
        bodies,
        options.clone(),
        appended.clone(),
        done.clone(),
    ));
    let mut figures = measure(&batch, &received, options, started, &appended, &done)?;
    let appending = runtime
        .block_on(appender)
        .context("the appender panicked")??;
    figures.appended_per_second = (figures.appended as f64 / appending.as_secs_f64()).round();
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}

async fn open_stream(options: &LoadOptions) -> Result<Stream> {
    let stream = Stream::open(&options.stream)
        .await
        .with_context(|| format!("cannot open the stream {}", options.stream))?;
    if let (Some(shards), Stream::Kinesis(kinesis)) = (options.create_shards, &stream) {
        kinesis
            .create(shards)
            .await
            .context("cannot create the Kinesis stream")?;
    }
    Ok(stream)
}

/// The scope and body of every model in [`POLLS`] polls: responses mostly, and the error
/// bodies and truncated lines the workload has.
fn bodies(options: &LoadOptions) -> Result<Vec<(String, Body)>> {
    let mut polls = Polls::of_catalog(&options.catalog, 1)?;
    let scopes: Vec<String> = polls.model_ids().map(|id| format!("model:{id}")).collect();
    let mut bodies = Vec::new();
    for poll in 0..POLLS {
        for (scope, line) in scopes.iter().zip(polls.poll(poll)) {
            bodies.push((scope.clone(), Body::from_received(line.as_bytes())));
        }
    }
    Ok(bodies)
}

/// Appends records at `options.rate` for `options.seconds`, counting them into `appended`,
/// then sets `done`; returns how long appending took (longer than asked when the stream cannot
/// take the rate).
async fn append(
    stream: Stream,
    bodies: Vec<(String, Body)>,
    options: LoadOptions,
    appended: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) -> Result<Duration> {
    let started = Instant::now();
    let total = (f64::from(options.rate) * options.seconds) as u64;
    let mut next = bodies.iter().cycle();
    let mut sent = 0u64;
    while sent < total {
        let due = ((started.elapsed().as_secs_f64() * f64::from(options.rate)) as u64).min(total);
        if due <= sent {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        let count = usize::try_from(due - sent)
            .unwrap_or(usize::MAX)
            .min(APPEND_CHUNK);
        let fetched_at = FetchedAt::now();
        let records: Vec<RawRecord> = next
            .by_ref()
            .take(count)
            .map(|(scope, body)| record(scope, body, fetched_at))
            .collect();
        stream
            .append(&records)
            .await
            .with_context(|| format!("cannot append to {}", stream.describe()))?;
        sent += records.len() as u64;
        appended.store(sent, Ordering::Release);
    }
    done.store(true, Ordering::Release);
    Ok(started.elapsed())
}

fn record(scope: &str, body: &Body, fetched_at: FetchedAt) -> RawRecord {
    RawRecord::new(RecordParts {
        source: "bench",
        endpoint: "/api/vehicle/v2/bench",
        scope: scope.to_owned(),
        fetched_at,
        http_status: Some(200),
        body: body.clone(),
        error: None,
    })
}

/// Merges every step of the speed worker into a served state, as the server does, until the
/// appender is done and every record it appended is served (or [`SETTLE`] passed).
fn measure(
    batch: &BatchView,
    steps: &Receiver<Step>,
    options: &LoadOptions,
    started: Instant,
    appended: &AtomicU64,
    done: &AtomicBool,
) -> Result<Figures> {
    let warm_up_until = FetchedAt::now().unix_millis() + (options.warm_up * 1000.0) as i64;
    let (mut latencies, mut builds) = (Vec::new(), Vec::new());
    let (mut served, mut states) = (0u64, 0usize);
    let mut finished_at = None;
    let mut last_served = started;
    loop {
        let appending = !done.load(Ordering::Acquire);
        let goal_met = !appending && served >= appended.load(Ordering::Acquire);
        let settled = finished_at.is_some_and(|at: Instant| at.elapsed() > SETTLE);
        if goal_met || settled {
            break;
        }
        if !appending && finished_at.is_none() {
            finished_at = Some(Instant::now());
        }
        let first = match steps.recv_timeout(Duration::from_millis(100)) {
            Ok(step) => step,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => bail!("the speed worker stopped"),
        };
        // Steps that came while the last state was built are merged once, as the server does.
        let mut view = first.view;
        let mut arrivals = first.arrivals;
        while let Ok(step) = steps.try_recv() {
            view = step.view;
            arrivals.extend(step.arrivals);
        }

        let building = Instant::now();
        Served::build(batch, Some(&view)).context("cannot build the served state")?;
        builds.push(building.elapsed());
        let now = FetchedAt::now().unix_millis();
        for arrived in &arrivals {
            if arrived.unix_millis() >= warm_up_until {
                let millis = (now - arrived.unix_millis()).max(0).unsigned_abs();
                latencies.push(Duration::from_millis(millis));
            }
        }
        served += arrivals.len() as u64;
        states += 1;
        last_served = Instant::now();
    }

    let appended = appended.load(Ordering::Acquire);
    latencies.sort_unstable();
    builds.sort_unstable();
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let quantile = |sorted: &[Duration], q| {
        if sorted.is_empty() {
            0.0
        } else {
            ms(percentile(sorted, q))
        }
    };
    let seconds = last_served.duration_since(started).as_secs_f64();
    Ok(Figures {
        stream: options.stream.clone(),
        rate_asked: options.rate,
        workers: options.workers,
        seconds: (seconds * 100.0).round() / 100.0,
        appended,
        appended_per_second: 0.0,
        served,
        served_per_second: (served as f64 / seconds).round(),
        steps: states,
        records_per_state: (served as f64 / states.max(1) as f64).round(),
        latency_p50_ms: quantile(&latencies, 0.50),
        latency_p99_ms: quantile(&latencies, 0.99),
        latency_max_ms: latencies.last().map_or(0.0, |d| ms(*d)),
        state_build_p50_ms: quantile(&builds, 0.50),
        state_build_p99_ms: quantile(&builds, 0.99),
        all_served: served >= appended,
    })
}
