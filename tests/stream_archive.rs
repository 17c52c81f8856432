//! The stream into the master dataset: 10,000 raw records appended with
//! `import --to-stream` while `archive` is killed (SIGKILL) at random moments and restarted;
//! afterwards every record is in `raw/` exactly once. Once on the local log with a local
//! store, once on Kinesis with an S3 store (the local server that `scripts/test` starts).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use carlambda_schemas::record::{Body, RecordParts};
use carlambda_schemas::{FetchedAt, RawRecord};
use carlambda_store::Store;
use carlambda_stream::archive::object_range;
use carlambda_stream::{KinesisStream, SequenceNumber};
use common::{carlambda, fresh_bucket};

const RECORDS: u32 = 10_000;
/// Appended one file at a time; the archive is killed once per file.
const FILES: u32 = 5;

/// The records to append, as NDJSON files of raw records, and their sorted ids.
fn write_records(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for file in 0..FILES {
        let mut text = String::new();
        for n in (file * RECORDS / FILES)..((file + 1) * RECORDS / FILES) {
            let body = format!(
                "{{\"id\":\"M_{n}\",\"years\":[],\"pad\":\"{}\"}}",
                "x".repeat(200)
            );
            let record = RawRecord::new(RecordParts {
                source: "simulator",
                endpoint: "/api/vehicle/v2/x",
                scope: format!("model:M_{}", n % 101),
                fetched_at: FetchedAt::from_unix_millis(1_488_433_069_071 + i64::from(n)),
                http_status: Some(200),
                body: Body::from_received(body.as_bytes()),
                error: None,
            });
            ids.push(record.record_id.clone());
            text.push_str(&record.to_line());
        }
        std::fs::write(dir.join(format!("records-{file}.ndjson")), text).unwrap();
    }
    ids.sort();
    ids
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(future)
}

/// Every raw object and its lines.
fn raw_objects(store: &str) -> BTreeMap<String, Vec<String>> {
    block_on(async {
        let store = Store::open(store).await.unwrap();
        let mut objects = BTreeMap::new();
        for key in store.list("raw/").await.unwrap() {
            let body = store.get(&key).await.unwrap();
            let lines = String::from_utf8(body.to_vec()).unwrap();
            objects.insert(key, lines.lines().map(str::to_owned).collect());
        }
        objects
    })
}

fn object_count(store: &str) -> usize {
    block_on(async {
        Store::open(store)
            .await
            .unwrap()
            .list("raw/")
            .await
            .unwrap()
            .len()
    })
}

fn start_archive(workdir: &Path, store: &str, stream: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_carlambda"))
        .current_dir(workdir)
        .args(["--store", store, "--stream", stream, "archive"])
        .args(["--buffer-bytes", "20000", "--buffer-time", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the carlambda binary runs")
}

/// A pause of 0 to 400 ms that differs from run to run.
fn random_pause() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Duration::from_millis(u64::from(nanos % 400))
}

/// Appends the files one by one while an archive runs, killing it at random moments after it
/// wrote a new object, then drains the stream with one last run, and checks that every
/// record is in the master dataset exactly once.
fn archive_survives_kills(workdir: &Path, store: &str, stream: &str) {
    let expected = write_records(workdir);
    for round in 0..FILES {
        let before = object_count(store);
        let mut archive = start_archive(workdir, store, stream);
        let file = workdir.join(format!("records-{round}.ndjson"));
        let file = file.to_str().unwrap();
        carlambda(
            workdir,
            store,
            &["--stream", stream, "import", "--to-stream", file],
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        while object_count(store) == before && archive.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "round {round}: no new object in 2 minutes"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let pause = random_pause();
        std::thread::sleep(pause);
        assert!(
            archive.try_wait().unwrap().is_none(),
            "round {round}: archive died"
        );
        archive.kill().unwrap();
        archive.wait().unwrap();
        eprintln!(
            "round {round}: killed {} ms after a new object",
            pause.as_millis()
        );
    }
    carlambda(
        workdir,
        store,
        &[
            "--stream",
            stream,
            "archive",
            "--drain",
            "--buffer-bytes",
            "20000",
        ],
    );

    let objects = raw_objects(store);
    let mut archived: Vec<String> = objects
        .values()
        .flatten()
        .map(|line| serde_json::from_str::<RawRecord>(line).unwrap().record_id)
        .collect();
    assert_eq!(
        archived.len(),
        expected.len(),
        "as many lines as records appended"
    );
    archived.sort();
    assert_eq!(archived, expected, "every record exactly once");

    // The objects' names tell their ranges, which tile each shard without overlap.
    let mut ranges: BTreeMap<String, Vec<(SequenceNumber, SequenceNumber)>> = BTreeMap::new();
    for key in objects.keys() {
        let (shard, first, last) = object_range(key).expect("an archive object's key");
        assert!(first <= last, "{key}");
        ranges.entry(shard).or_default().push((first, last));
    }
    eprintln!(
        "{} records in {} objects over {} shards, each exactly once",
        archived.len(),
        objects.len(),
        ranges.len()
    );
    for (shard, mut ranges) in ranges {
        ranges.sort();
        for pair in ranges.windows(2) {
            assert!(
                pair[0].1 < pair[1].0,
                "shard {shard}: {:?} overlaps {:?}",
                pair[0],
                pair[1]
            );
        }
    }
}

#[test]
fn the_local_log_is_archived_exactly_once_through_kills() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let stream = dir.path().join("stream").display().to_string();
    archive_survives_kills(dir.path(), &store, &stream);
}

#[test]
#[ignore = "needs the moto server that scripts/test starts"]
fn kinesis_is_archived_into_s3_exactly_once_through_kills() {
    let bucket = block_on(fresh_bucket("carlambda-archive"));
    let name = format!("carlambda-archive-{}", bucket.rsplit('-').next().unwrap());
    block_on(async {
        let stream = KinesisStream::open(&name).await.unwrap();
        stream.create(2).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    archive_survives_kills(
        dir.path(),
        &format!("s3://{bucket}/master"),
        &format!("kinesis://{name}"),
    );
}

#[test]
fn draining_a_stream_that_is_not_there_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["archive", "speed"] {
        let output = Command::new(env!("CARGO_BIN_EXE_carlambda"))
            .current_dir(dir.path())
            .args(["--stream", "strem", command, "--drain"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        assert!(stderr.contains("no stream at strem"), "{command}: {stderr}");
        assert!(!dir.path().join("strem").exists(), "{command}");
    }
}
