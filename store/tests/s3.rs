//! The S3 store against a running S3-compatible server (moto, under `scripts/test`), found
//! through `AWS_ENDPOINT_URL`. Each test works in a bucket of its own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use bytes::Bytes;
use carlambda_store::{Store, StoreError};
use tokio::task::JoinSet;

const NDJSON: &str = "application/x-ndjson";

/// A client of the test server that bypasses the store, to set up and check what it did.
async fn server() -> Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests need a local S3 server such as moto; \
             run scripts/test, which starts one"
        )
    });
    let region = RegionProviderChain::default_provider().or_else(Region::from_static("us-east-1"));
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(region)
        .load()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// A bucket name no other test, run or process has used.
fn unique_bucket_name() -> String {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_micros();
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("carlambda-test-{}-{micros}-{count}", std::process::id())
}

async fn fresh_bucket(server: &Client) -> String {
    let bucket = unique_bucket_name();
    let mut request = server.create_bucket().bucket(&bucket);

    // Only us-east-1 takes a bucket without a location constraint.
    let region = server
        .config()
        .region()
        .map(|region| region.as_ref().to_owned());
    if let Some(region) = region.filter(|region| region != "us-east-1") {
        let constraint = BucketLocationConstraint::from(region.as_str());
        let configuration = CreateBucketConfiguration::builder()
            .location_constraint(constraint)
            .build();
        request = request.create_bucket_configuration(configuration);
    }

    request
        .send()
        .await
        .expect("the test server creates a bucket");
    bucket
}

async fn open(location: &str) -> Store {
    Store::open(location)
        .await
        .unwrap_or_else(|error| panic!("{location} opens: {error}"))
}

async fn server_keys(server: &Client, bucket: &str) -> Vec<String> {
    let listing = server
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("the test server lists the bucket");
    listing
        .contents()
        .iter()
        .filter_map(|object| object.key().map(str::to_owned))
        .collect()
}

#[tokio::test]
#[ignore = "needs a local S3 server: run scripts/test"]
async fn put_then_get_returns_the_body_and_keeps_the_content_type() {
    let server = server().await;
    let bucket = fresh_bucket(&server).await;
    let store = open(&format!("s3://{bucket}")).await;
    assert_eq!(store.describe(), format!("s3://{bucket}"));

    let page = Bytes::from_static(b"<!doctype html><title>carlambda</title>");
    let html = "text/html; charset=utf-8";
    store
        .put("site/index.html", page.clone(), html)
        .await
        .expect("put");

    assert_eq!(store.get("site/index.html").await.expect("get"), page);
    assert!(store.exists("site/index.html").await.expect("exists"));
    let head = server
        .head_object()
        .bucket(&bucket)
        .key("site/index.html")
        .send()
        .await
        .expect("the object is there");
    assert_eq!(head.content_type(), Some(html));

    let replacement = Bytes::from_static(b"<!doctype html><title>v2</title>");
    store
        .put("site/index.html", replacement.clone(), html)
        .await
        .expect("put");
    assert_eq!(
        store.get("site/index.html").await.expect("get"),
        replacement
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a local S3 server: run scripts/test"]
async fn list_follows_every_page() {
    const KEYS: usize = 1_100;
    const WRITERS: usize = 32;

    let server = server().await;
    let bucket = fresh_bucket(&server).await;
    let store = open(&format!("s3://{bucket}")).await;

    let expected: Vec<String> = (0..KEYS)
        .map(|n| format!("raw/2017/03/02/{:02}/{n:05}.ndjson", n / 100))
        .collect();
    let mut writers = JoinSet::new();
    for key in &expected {
        if writers.len() >= WRITERS {
            writers
                .join_next()
                .await
                .expect("a writer")
                .expect("the writer ends");
        }
        let (store, key) = (store.clone(), key.clone());
        writers.spawn(async move {
            let body = Bytes::from(format!("{{\"key\":\"{key}\"}}\n"));
            store.put(&key, body, NDJSON).await.expect("put");
        });
    }
    writers.join_all().await;
    store
        .put("batch/CURRENT", Bytes::from_static(b"v1"), "text/plain")
        .await
        .expect("put");

    // Nothing lost, nothing doubled, and in order.
    assert_eq!(store.list("raw/").await.expect("lists"), expected);
    assert_eq!(store.list("").await.expect("lists").len(), KEYS + 1);
    assert_eq!(
        store.list("raw/2017/03/02/1").await.expect("lists"),
        &expected[1_000..]
    );

    // Starting early, so the answer still spans two pages.
    let after = store
        .list_after("raw/", &expected[49])
        .await
        .expect("lists");
    assert_eq!(after, &expected[50..]);
    let after_last = store
        .list_after("raw/", &expected[KEYS - 1])
        .await
        .expect("lists");
    assert!(after_last.is_empty(), "{after_last:?}");
}

#[tokio::test]
#[ignore = "needs a local S3 server: run scripts/test"]
async fn list_after_returns_only_later_keys() {
    let server = server().await;
    let bucket = fresh_bucket(&server).await;
    let store = open(&format!("s3://{bucket}")).await;
    for key in [
        "raw/2017/03/02/05/a",
        "raw/2017/03/02/05/b",
        "raw/2017/03/02/06/a",
        "speed/x",
    ] {
        store
            .put(key, Bytes::from_static(b"{}\n"), NDJSON)
            .await
            .expect("put");
    }

    let after = store
        .list_after("raw/", "raw/2017/03/02/05/a")
        .await
        .expect("lists");
    assert_eq!(after, ["raw/2017/03/02/05/b", "raw/2017/03/02/06/a"]);
    assert_eq!(store.list_after("raw/", "").await.expect("lists").len(), 3);
    assert!(
        store
            .list_after("raw/", "s")
            .await
            .expect("lists")
            .is_empty()
    );
}

#[tokio::test]
#[ignore = "needs a local S3 server: run scripts/test"]
async fn put_new_never_rewrites_an_object() {
    let server = server().await;
    let bucket = fresh_bucket(&server).await;
    let store = open(&format!("s3://{bucket}")).await;
    let key = "raw/2017/03/02/05/x.ndjson";

    assert!(
        store
            .put_new(key, Bytes::from_static(b"first\n"), NDJSON)
            .await
            .expect("put_new")
    );
    assert!(
        !store
            .put_new(key, Bytes::from_static(b"second\n"), NDJSON)
            .await
            .expect("put_new")
    );

    assert_eq!(store.get(key).await.expect("get"), "first\n");
    assert_eq!(store.list("raw/").await.expect("lists"), [key]);
}

#[tokio::test]
#[ignore = "needs a local S3 server: run scripts/test"]
async fn a_missing_key_is_not_found() {
    let server = server().await;
    let bucket = fresh_bucket(&server).await;
    let store = open(&format!("s3://{bucket}")).await;

    let error = store.get("raw/missing.ndjson").await.unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("`raw/missing.ndjson`"), "{message}");
    assert!(message.contains(&format!("s3://{bucket}")), "{message}");

    assert!(!store.exists("raw/missing.ndjson").await.expect("exists"));
    assert!(store.list("raw/").await.expect("lists").is_empty());
}

#[tokio::test]
#[ignore = "needs a local S3 server: run scripts/test"]
async fn a_missing_bucket_is_named_in_the_error() {
    // No bucket is created: the name is only reserved from the same sequence.
    let bucket = unique_bucket_name();
    let store = open(&format!("s3://{bucket}/master")).await;

    for error in [
        store.get("batch/CURRENT").await.unwrap_err(),
        store.list("raw/").await.unwrap_err(),
    ] {
        assert!(matches!(error, StoreError::S3 { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("NoSuchBucket"), "{message}");
        assert!(
            message.contains(&format!("s3://{bucket}/master")),
            "{message}"
        );
    }
}

#[tokio::test]
#[ignore = "needs a local S3 server: run scripts/test"]
async fn a_prefix_store_sees_only_its_own_keys_relative_to_the_prefix() {
    let server = server().await;
    let bucket = fresh_bucket(&server).await;
    // Neighbours: one shares the prefix as text but is another folder, one is a folder marker.
    for key in ["some/prefixed/x", "other/y", "some/prefix/raw/"] {
        server
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(Vec::new().into())
            .send()
            .await
            .expect("the test server takes a neighbour object");
    }

    let store = open(&format!("s3://{bucket}/some/prefix")).await;
    assert_eq!(store.describe(), format!("s3://{bucket}/some/prefix"));
    store
        .put("raw/a.ndjson", Bytes::from_static(b"a\n"), NDJSON)
        .await
        .expect("put");
    assert!(
        store
            .put_new("raw/b.ndjson", Bytes::from_static(b"b\n"), NDJSON)
            .await
            .expect("new")
    );

    let mut stored = server_keys(&server, &bucket).await;
    stored.sort();
    let expected = [
        "other/y",
        "some/prefix/raw/",
        "some/prefix/raw/a.ndjson",
        "some/prefix/raw/b.ndjson",
        "some/prefixed/x",
    ];
    assert_eq!(stored, expected);

    assert_eq!(
        store.list("").await.expect("lists"),
        ["raw/a.ndjson", "raw/b.ndjson"]
    );
    assert_eq!(
        store.list_after("", "raw/a.ndjson").await.expect("lists"),
        ["raw/b.ndjson"]
    );
    assert_eq!(store.get("raw/b.ndjson").await.expect("get"), "b\n");
    assert!(store.exists("raw/a.ndjson").await.expect("exists"));

    // A trailing slash names the same store.
    let same = open(&format!("s3://{bucket}/some/prefix/")).await;
    assert_eq!(same.describe(), store.describe());
    assert_eq!(same.list("raw/").await.expect("lists").len(), 2);
}
