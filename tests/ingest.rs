//! The live path end to end: `carlambda simulate-api` serving, `carlambda ingest` polling it
//! into the local stream, what both wrote, and the tables the archived records give.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use carlambda_schemas::RawRecord;
use carlambda_schemas::record::one_line_json;
use carlambda_simulator::FaultConfig;
use carlambda_stream::{Position, Stream};
use common::{carlambda, read_rows, recorded_data};
use serde_json::Value;

const KEY: &str = "e2e-secret-key-7f3a91";

/// A running `carlambda simulate-api`, stopped when dropped.
struct Simulator {
    child: Child,
    url: String,
}

impl Simulator {
    fn start(args: &[&str]) -> Simulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_carlambda"))
            .arg("simulate-api")
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the simulator starts");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the simulator said {line:?}"))
            .to_owned();
        Simulator { child, url }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `carlambda --store <dir>/store --stream <dir>/stream ingest <args>` with the key set.
fn ingest(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carlambda"))
        .current_dir(dir)
        .env("EDMUNDS_API_KEY", KEY)
        .env("RUST_LOG", "debug")
        .args(["--store", "store", "--stream", "stream", "ingest"])
        .args(args)
        .output()
        .expect("the carlambda binary runs")
}

fn succeeded(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "ingest failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A quick budget: no daily limit to speak of, a short quota window, fast retries.
const FAST: [&str; 10] = [
    "--once",
    "--calls-per-window",
    "1000000",
    "--window",
    "300ms",
    "--min-interval",
    "0s",
    "--retry-delay",
    "5ms",
    "--timeout=10s",
];

/// Every raw record on the local stream at `dir`.
fn stream_records(dir: &Path) -> Vec<RawRecord> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let stream = Stream::open(dir.to_str().unwrap()).await.unwrap();
        let mut consumer = stream.consumer(Position::default()).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut records = Vec::new();
        loop {
            let batch = consumer.next_batch().await.unwrap();
            records.extend(batch.iter().map(|r| r.record().unwrap()));
            if batch.is_empty() && consumer.caught_up().await.unwrap() {
                return records;
            }
            assert!(Instant::now() < deadline, "the stream was not read in time");
        }
    })
}

fn log_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The first fault seed whose first request (the catalog) is answered right: with a broken
/// catalog, `--once` has no work list and stops.
fn seed_with_a_good_catalog(faults: &FaultConfig) -> u64 {
    (0..)
        .find(|&seed| {
            FaultConfig {
                seed,
                ..faults.clone()
            }
            .draw(1)
            .is_none()
        })
        .unwrap()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn a_500_model_pass_through_faults_accounts_for_every_call_and_never_shows_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("simulator.ndjson");
    let faults = FaultConfig {
        error_body: 0.2,
        malformed: 0.05,
        throttle: 0.02,
        ..FaultConfig::default()
    };
    let seed = seed_with_a_good_catalog(&faults).to_string();
    let simulator = Simulator::start(&[
        "--makes",
        "100",
        "--models-per-make",
        "5",
        "--seed",
        &seed,
        "--error-rate",
        "0.2",
        "--malformed-rate",
        "0.05",
        "--throttle-rate",
        "0.02",
        "--log",
        log.to_str().unwrap(),
    ]);

    let output = ingest(
        dir.path(),
        &[&["--api-url", &simulator.url][..], &FAST].concat(),
    );
    let summary = succeeded(&output);
    assert!(summary.contains("ingested 500 models"), "{summary}");

    let records = stream_records(&dir.path().join("stream"));
    let served = log_lines(&log);
    assert!(served.len() >= 500, "{} calls", served.len());
    let from_records = records
        .iter()
        .map(|r| (r.endpoint.clone(), u64::from(r.http_status.unwrap())));
    let from_log = served.iter().map(|l| {
        (
            l["path"].as_str().unwrap().to_owned(),
            l["status"].as_u64().unwrap(),
        )
    });
    assert_eq!(tally(from_records), tally(from_log), "one record per call");

    let good = records.iter().filter(|r| r.error.is_none()).count();
    let clean = served.iter().filter(|l| l["fault"].is_null()).count();
    let faults = tally(
        served
            .iter()
            .filter_map(|l| Some((l["fault"].as_str()?, l["status"].as_u64()?))),
    );
    let errors = tally(
        records
            .iter()
            .filter_map(|r| Some(r.error.as_ref()?.kind.as_str())),
    );
    eprintln!(
        "{} calls served, {clean} without a fault, faults (kind, status): {faults:?}; \
         {} records, {good} good, error records by kind: {errors:?}",
        served.len(),
        records.len()
    );
    assert_eq!(
        good, clean,
        "good records are the calls served without a fault"
    );
    let invalid = records
        .iter()
        .filter(|r| {
            r.error
                .as_ref()
                .is_some_and(|e| e.kind.as_str() == "invalid-json")
        })
        .count();
    let malformed = served.iter().filter(|l| l["fault"] == "malformed").count();
    assert_eq!(invalid, malformed);
    assert!(
        served.iter().any(|l| l["status"] == 429),
        "some calls were throttled"
    );

    let archived = Command::new(env!("CARGO_BIN_EXE_carlambda"))
        .current_dir(dir.path())
        .args([
            "--store", "store", "--stream", "stream", "archive", "--drain",
        ])
        .output()
        .unwrap();
    succeeded(&archived);
    let elsewhere = dir.path().join("no-work-list");
    std::fs::create_dir(&elsewhere).unwrap();
    let unreachable = ingest(
        &elsewhere,
        &[
            "--api-url",
            "http://127.0.0.1:9",
            "--once",
            "--retries",
            "0",
            "--timeout",
            "2s",
        ],
    );
    assert!(!unreachable.status.success());
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(stderr.contains("catalog"), "{stderr}");

    let outputs = [output, archived, unreachable];
    for output in &outputs {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!text.contains(KEY), "the key in the output:\n{text}");
    }
    assert!(dir.path().join("store/ingest/cursor.json").exists());
    assert!(dir.path().join("store/raw").exists());
    assert_eq!(files_containing(dir.path(), KEY), Vec::<String>::new());
}

#[test]
fn polling_the_recorded_data_gives_its_bodies_and_the_tables_of_importing_it() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = recorded_data();
    let simulator = Simulator::start(&["--recorded", recorded.to_str().unwrap()]);

    let summary = succeeded(&ingest(
        dir.path(),
        &[&["--api-url", &simulator.url][..], &FAST].concat(),
    ));
    assert!(summary.contains("ingested 1124 models"), "{summary}");

    let records = stream_records(&dir.path().join("stream"));
    let good: BTreeMap<&str, &RawRecord> = records
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| (r.scope.as_str(), r))
        .collect();
    let keys: Vec<&str> = good.keys().copied().collect();
    assert_eq!(
        keys,
        ["catalog", "model:AM_General_Hummer", "model:Lexus_RX_350"]
    );
    for (scope, file) in [
        ("catalog", "makes.json"),
        (
            "model:AM_General_Hummer",
            "responses/am-general__hummer.json",
        ),
        ("model:Lexus_RX_350", "responses/lexus__rx350.json"),
    ] {
        let text = std::fs::read_to_string(recorded.join(file)).unwrap();
        let body = good[scope].body.as_ref().unwrap().get();
        assert_eq!(body, one_line_json(&text), "{scope}");
    }
    assert_eq!(
        good["model:Lexus_RX_350"].endpoint,
        "/api/vehicle/v2/lexus/rx-350"
    );
    let not_recorded = records
        .iter()
        .filter(|r| r.http_status == Some(404) && r.error.is_some())
        .count();
    assert_eq!(not_recorded, 1122);

    // Archived and batched, the polled responses give the tables that importing the recorded
    // files gives: the same rows, traced to other records.
    carlambda(
        dir.path(),
        "store",
        &["--stream", "stream", "archive", "--drain"],
    );
    carlambda(dir.path(), "store", &["batch"]);
    let imported = dir.path().join("imported").display().to_string();
    carlambda(
        dir.path(),
        &imported,
        &["import", recorded.to_str().unwrap()],
    );
    carlambda(dir.path(), &imported, &["batch"]);
    let polled = dir.path().join("store").display().to_string();
    for table in carlambda_schemas::arrow::TABLE_NAMES {
        let untraced = |store: &str| {
            let mut rows = read_rows(store, table);
            for row in &mut rows {
                row.remove("record_id");
                row.remove("fetched_at");
            }
            rows
        };
        let (from_polls, from_files) = (untraced(&polled), untraced(&imported));
        assert!(!from_polls.is_empty(), "{table} has rows");
        assert_eq!(from_polls, from_files, "{table}");
    }
}

/// How many times each item occurs.
fn tally<K: Ord>(items: impl IntoIterator<Item = K>) -> BTreeMap<K, u64> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(item).or_insert(0) += 1;
    }
    counts
}
