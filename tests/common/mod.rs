//! What the end-to-end tests share: running the binary on a store, and reading what it wrote.

#![allow(dead_code)] // each test file uses its own part of this module

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::json::writer::{JsonArray, WriterBuilder};
use carlambda_batch::layout;
use carlambda_store::Store;
use serde_json::{Map, Value};

/// The recorded Edmunds responses, read in place.
pub fn recorded_data() -> PathBuf {
    match std::env::var_os("CARLAMBDA_RECORDED_DATA") {
        Some(dir) => dir.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/edmunds-2017"),
    }
}

/// Runs `carlambda --store <store> <args>` in `workdir` and returns its stdout; fails the test
/// with stderr when the command fails.
pub fn carlambda(workdir: &Path, store: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_carlambda"))
        .current_dir(workdir)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("the carlambda binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "carlambda {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// A published table or view as JSON rows, nulls kept.
pub fn read_rows(store: &str, name: &str) -> Vec<Map<String, Value>> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(store).await.unwrap();
        let manifest = layout::published(&store).await.unwrap();
        let batches = layout::read_table(&store, manifest.version, name)
            .await
            .unwrap();
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(Vec::new());
        for batch in &batches {
            writer.write(batch).unwrap();
        }
        writer.finish().unwrap();
        let json = writer.into_inner();
        if json.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&json).unwrap()
        }
    })
}

/// The published manifest.
pub fn manifest(store: &str) -> layout::Manifest {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(store).await.unwrap();
        layout::published(&store).await.unwrap()
    })
}

/// Every table and view of the published batch view, by name.
pub fn everything(store: &str) -> Vec<(String, Vec<Map<String, Value>>)> {
    let names = carlambda_schemas::arrow::TABLE_NAMES
        .iter()
        .chain(carlambda_views::VIEW_NAMES.iter());
    names
        .map(|name| (name.to_string(), read_rows(store, name)))
        .collect()
}

/// The rows of `rows` whose `column` equals `value`.
pub fn matching<'a>(
    rows: &'a [Map<String, Value>],
    column: &str,
    value: &str,
) -> Vec<&'a Map<String, Value>> {
    rows.iter().filter(|row| row[column] == value).collect()
}

/// A new bucket on the local S3 server that `scripts/test` starts, named `<prefix>-<nanos>`.
pub async fn fresh_bucket(prefix: &str) -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL names the local S3 server");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let bucket = format!("{prefix}-{}", nanos.as_nanos());
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("the test bucket is created");
    bucket
}

/// Waits until `condition` holds, checking every 20 ms; fails the test, naming `what`, when it
/// does not hold within 60 s.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "waited 60 s for: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// A `carlambda serve` process, stopped when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts `carlambda --store <store> serve --port 0 <args>` in `workdir` and waits until it
    /// listens.
    pub fn start(workdir: &Path, store: &str, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_carlambda"))
            .current_dir(workdir)
            .args(["--store", store, "serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The first line says where it listens; reading it waits until it does.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("serving on ")
            .unwrap_or_else(|| panic!("not an address: {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        Server { child, url }
    }

    /// GETs `path`: the status, the content type and the body.
    pub fn get(&self, path: &str) -> (u16, String, String) {
        let url = format!("{}{path}", self.url);
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let response = reqwest::get(&url).await.unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned();
            (status, content_type, response.text().await.unwrap())
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
