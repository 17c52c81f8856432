//! The ingest loop against the HTTP simulator of the API, appending to an in-memory sink.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use carlambda_ingest::budget::BudgetConfig;
use carlambda_ingest::client::{ApiKey, Client, ClientConfig, Endpoint};
use carlambda_ingest::live::{self, LiveError, LiveOptions, RetryConfig};
use carlambda_ingest::{RecordSink, SinkError};
use carlambda_schemas::{ErrorKind, RawRecord};
use carlambda_simulator::{Answers, Catalog, FaultConfig, GeneratorConfig, SimulatedApi};
use carlambda_store::Store;
use serde_json::Value;

const KEY: &str = "sekrit-key-4242";

/// Keeps records in memory; fails every append after the first `fail_after`, when set.
#[derive(Default)]
struct MemorySink {
    records: Mutex<Vec<RawRecord>>,
    appends: AtomicUsize,
    fail_after: Option<usize>,
}

impl RecordSink for MemorySink {
    async fn append(&self, records: &[RawRecord]) -> Result<(), SinkError> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst);
        if self.fail_after.is_some_and(|limit| n >= limit) {
            return Err(SinkError::new("memory", "full"));
        }
        self.records.lock().unwrap().extend_from_slice(records);
        Ok(())
    }
}

impl MemorySink {
    fn taken(&self) -> Vec<RawRecord> {
        self.records.lock().unwrap().clone()
    }
}

fn generated(makes: usize) -> Catalog {
    Catalog::generate(&GeneratorConfig {
        makes,
        ..GeneratorConfig::default()
    })
}

/// Serves `api` on a free port; returns its base URL.
async fn serve(api: SimulatedApi) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api.serve(listener));
    base
}

fn client(base: &str, timeout: Duration) -> Client {
    let mut config = ClientConfig::new(ApiKey::new(KEY).unwrap());
    config.base_url = base.to_owned();
    config.timeout = timeout;
    Client::new(config).unwrap()
}

fn fast_options() -> LiveOptions {
    LiveOptions {
        budget: BudgetConfig {
            calls_per_window: 100_000,
            window: Duration::from_millis(200),
            min_interval: Duration::ZERO,
        },
        retry: RetryConfig {
            retries: 2,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        catalog_period: Duration::from_secs(3600),
        once: true,
    }
}

async fn store(dir: &Path) -> Store {
    Store::open(dir.join("store").to_str().unwrap())
        .await
        .unwrap()
}

fn log_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn every_request_the_simulator_served_is_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.ndjson");
    let catalog = generated(20);
    let models: usize = catalog.makes.iter().map(|m| m.models.len()).sum();
    let mut faults = FaultConfig {
        error_body: 0.2,
        server_error: 0.05,
        malformed: 0.05,
        throttle: 0.03,
        ..FaultConfig::default()
    };
    // With a broken catalog, a single pass has no work list: start with a good one.
    faults.seed = (0..)
        .find(|&seed| {
            FaultConfig {
                seed,
                ..faults.clone()
            }
            .draw(1)
            .is_none()
        })
        .unwrap();
    let api = SimulatedApi::new(Answers::Generated(catalog), faults, Some(&log)).unwrap();
    let base = serve(api).await;
    let store = store(dir.path()).await;
    let sink = MemorySink::default();

    let summary = live::run(
        &client(&base, Duration::from_secs(5)),
        &sink,
        &store,
        &fast_options(),
    )
    .await
    .unwrap();

    let records = sink.taken();
    let served = log_lines(&log);
    assert_eq!(summary.models as usize, models);
    assert_eq!(summary.calls as usize, served.len());
    assert_eq!(records.len(), served.len(), "one record per answer");
    for (record, line) in records.iter().zip(&served) {
        assert_eq!(record.endpoint, line["path"].as_str().unwrap());
        assert_eq!(
            u64::from(record.http_status.unwrap()),
            line["status"].as_u64().unwrap()
        );
        let expected_kind = match line["fault"].as_str() {
            None if line["status"] == 200 => None,
            None | Some("error-body" | "throttle") => Some(ErrorKind::Api),
            Some("server-error") => Some(ErrorKind::Http),
            Some("malformed") if line["status"] == 200 => Some(ErrorKind::InvalidJson),
            Some("malformed") => Some(ErrorKind::Http),
            Some(other) => panic!("unexpected fault {other}"),
        };
        assert_eq!(
            record.error.as_ref().map(|e| e.kind),
            expected_kind,
            "{line}"
        );
    }
    assert!(served.iter().any(|l| l["fault"] == "throttle"));
    assert_eq!(
        summary.over_quota as usize,
        served.iter().filter(|l| l["status"] == 429).count()
    );

    let good_models = records
        .iter()
        .filter(|r| r.error.is_none() && r.scope.starts_with("model:"))
        .count();
    assert!(good_models > models / 2, "{good_models} of {models}");
    let everything = format!("{records:?}{}", std::fs::read_to_string(&log).unwrap());
    assert!(!everything.contains(KEY));
}

#[tokio::test]
async fn a_restart_after_a_failed_append_repeats_the_call_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = generated(4);
    let api = SimulatedApi::new(Answers::Generated(catalog), FaultConfig::default(), None);
    let base = serve(api.unwrap()).await;
    let store = store(dir.path()).await;
    let client = client(&base, Duration::from_secs(5));

    let failing = MemorySink {
        fail_after: Some(4),
        ..MemorySink::default()
    };
    let error = live::run(&client, &failing, &store, &fast_options())
        .await
        .unwrap_err();
    assert!(matches!(error, LiveError::Sink(_)), "{error}");
    let first = failing.taken();
    assert_eq!(first.len(), 4, "the catalog and three models");

    let sink = MemorySink::default();
    live::run(&client, &sink, &store, &fast_options())
        .await
        .unwrap();
    let second = sink.taken();
    assert!(
        second.iter().all(|r| r.scope != "catalog"),
        "the work list was kept"
    );
    let scopes = |records: &[RawRecord]| -> Vec<String> {
        records.iter().map(|r| r.scope.clone()).collect()
    };
    let (done, again) = (scopes(&first[1..]), scopes(&second));
    assert!(
        !again[..again.len() - done.len()]
            .iter()
            .any(|s| done.contains(s))
    );
    assert_eq!(
        again[again.len() - done.len()..],
        done[..],
        "the pass wraps around"
    );
}

#[tokio::test]
async fn failures_without_an_answer_are_kept_only_when_final_and_never_show_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultConfig {
        slow: 1.0,
        slow_delay: Duration::from_secs(2),
        ..FaultConfig::default()
    };
    let api = SimulatedApi::new(Answers::Generated(generated(1)), faults, None).unwrap();
    let base = serve(api).await;
    let store = store(dir.path()).await;
    let sink = MemorySink::default();

    let client = client(&base, Duration::from_millis(100));
    let error = live::run(&client, &sink, &store, &fast_options())
        .await
        .unwrap_err();
    assert!(matches!(error, LiveError::NoWorkList { .. }), "{error}");
    assert!(!error.to_string().contains(KEY));
    let records = sink.taken();
    assert_eq!(records.len(), 1, "three attempts, one final record");
    let failure = records[0].error.as_ref().unwrap();
    assert_eq!(failure.kind, ErrorKind::Timeout);
    assert_eq!(records[0].endpoint, "/api/vehicle/v2/makes");

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let attempt = crate::client(&nowhere, Duration::from_secs(1))
        .fetch(&Endpoint::catalog())
        .await;
    let failure = attempt.record.error.unwrap();
    assert_eq!(failure.kind, ErrorKind::Connect);
    assert!(!failure.message.contains(KEY) && !failure.message.contains("api_key"));
}

#[tokio::test]
async fn a_refused_key_stops_with_a_clear_message() {
    let router = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            r#"{"status":"UNAUTHORIZED"}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let sink = MemorySink::default();

    let client = client(&base, Duration::from_secs(5));
    let error = live::run(&client, &sink, &store, &fast_options())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("401") && message.contains("EDMUNDS_API_KEY"),
        "{message}"
    );
    assert_eq!(
        sink.taken().len(),
        1,
        "the answer is kept, and not asked again"
    );
}

#[tokio::test]
async fn an_over_quota_answer_is_kept_before_the_wait_for_the_next_window() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultConfig {
        throttle: 1.0,
        ..FaultConfig::default()
    };
    let api = SimulatedApi::new(Answers::Generated(generated(2)), faults, None).unwrap();
    let base = serve(api).await;
    let store = store(dir.path()).await;
    let sink = MemorySink::default();
    let options = LiveOptions {
        budget: BudgetConfig {
            // Windows are aligned to the epoch: this one ends in 2033.
            window: Duration::from_secs(1_000_000_000),
            ..fast_options().budget
        },
        ..fast_options()
    };

    let client = client(&base, Duration::from_secs(5));
    let stopped = tokio::time::timeout(
        Duration::from_secs(2),
        live::run(&client, &sink, &store, &options),
    )
    .await;

    assert!(stopped.is_err(), "still waiting for the next window");
    let records = sink.taken();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].http_status, Some(429));
    assert_eq!(
        records[0].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Api)
    );
}
