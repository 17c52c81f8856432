//! The Kinesis stream against the local server that `scripts/test` starts (its address in
//! `AWS_ENDPOINT_URL`): batching, large records, resuming from a position, and a reshard.

use std::time::{Duration, Instant};

use carlambda_schemas::record::{Body, RecordParts};
use carlambda_schemas::{FetchedAt, RawRecord};
use carlambda_stream::{Consumer, KinesisStream, Position, Stream, StreamRecord};

fn record(n: u32, body_bytes: usize) -> RawRecord {
    let body = format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(body_bytes));
    RawRecord::new(RecordParts {
        source: "simulator",
        endpoint: "/api/vehicle/v2/x",
        scope: format!("model:M_{}", n % 7),
        fetched_at: FetchedAt::from_unix_millis(1_488_433_069_071 + i64::from(n)),
        http_status: Some(200),
        body: Body::from_received(body.as_bytes()),
        error: None,
    })
}

/// A new stream of `shards` shards with a name no other test uses.
async fn fresh_stream(shards: u32) -> Stream {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL names the local server");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("carlambda-test-{nanos}");
    let kinesis = KinesisStream::open(&name).await.unwrap();
    kinesis.create(shards).await.unwrap();
    Stream::open(&format!("kinesis://{name}")).await.unwrap()
}

/// Everything the consumer gives until it is caught up, within a deadline.
async fn read_until_caught_up(consumer: &mut Consumer) -> Vec<StreamRecord> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut all = Vec::new();
    loop {
        let batch = consumer.next_batch().await.unwrap();
        if batch.is_empty() && consumer.caught_up().await.unwrap() {
            return all;
        }
        all.extend(batch);
        assert!(Instant::now() < deadline, "not caught up within a minute");
    }
}

fn numbers(records: &[StreamRecord]) -> Vec<u32> {
    records
        .iter()
        .map(|r| {
            let record = r.record().unwrap();
            let body: serde_json::Value = serde_json::from_str(record.body.unwrap().get()).unwrap();
            body["n"].as_u64().unwrap() as u32
        })
        .collect()
}

fn assert_each_once_in_scope_order(records: &[StreamRecord], expected: std::ops::Range<u32>) {
    let mut seen = numbers(records);
    for scope in 0..7 {
        let of_scope: Vec<u32> = seen.iter().copied().filter(|n| n % 7 == scope).collect();
        assert!(
            of_scope.windows(2).all(|w| w[0] < w[1]),
            "scope {scope} out of order: {of_scope:?}"
        );
    }
    seen.sort_unstable();
    assert_eq!(seen, expected.collect::<Vec<_>>());
}

#[tokio::test]
#[ignore = "needs the moto server that scripts/test starts"]
async fn records_go_through_in_batches_and_resume_after_a_saved_position() {
    let stream = fresh_stream(2).await;
    // 1,200 records of some 5 KiB: more than one PutRecords call by count and by size.
    let first: Vec<RawRecord> = (0..1200).map(|n| record(n, 5000)).collect();
    stream.append(&first).await.unwrap();

    let mut consumer = stream.consumer(Position::new()).await.unwrap();
    let read = read_until_caught_up(&mut consumer).await;
    assert_each_once_in_scope_order(&read, 0..1200);
    assert!(read.iter().all(|r| r.shard.starts_with("shardId-")));

    let saved = consumer.position().clone();
    assert_eq!(saved.len(), 2, "both shards were read: {saved:?}");
    let second: Vec<RawRecord> = (1200..1300).map(|n| record(n, 100)).collect();
    stream.append(&second).await.unwrap();
    let mut resumed = stream.consumer(saved).await.unwrap();
    assert_each_once_in_scope_order(&read_until_caught_up(&mut resumed).await, 1200..1300);
}

#[tokio::test]
#[ignore = "needs the moto server that scripts/test starts"]
async fn a_record_larger_than_kinesis_takes_arrives_whole() {
    let stream = fresh_stream(1).await;
    let big = record(1, 3 * 1024 * 1024);
    stream.append(std::slice::from_ref(&big)).await.unwrap();
    let mut consumer = stream.consumer(Position::new()).await.unwrap();
    let read = read_until_caught_up(&mut consumer).await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].line, big.to_line().trim_end());
}

#[tokio::test]
#[ignore = "needs the moto server that scripts/test starts"]
async fn after_a_split_children_are_read_after_their_parent_and_nothing_twice() {
    let stream = fresh_stream(1).await;
    let Stream::Kinesis(kinesis) = &stream else {
        unreachable!("a kinesis:// location")
    };
    let before: Vec<RawRecord> = (0..200).map(|n| record(n, 50)).collect();
    stream.append(&before).await.unwrap();

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let client = aws_sdk_kinesis::Client::new(&config);
    client
        .split_shard()
        .stream_name(kinesis.name())
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1_u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let after: Vec<RawRecord> = (200..400).map(|n| record(n, 50)).collect();
    stream.append(&after).await.unwrap();

    // Kinesis keeps the first 200 in the closed parent and puts the rest in the children;
    // moto 5.2.5 keeps routing every record to the closed parent. Either way each record comes
    // once, each scope in order, and the reader ends caught up with the parent drained.
    let mut consumer = stream.consumer(Position::new()).await.unwrap();
    let read = read_until_caught_up(&mut consumer).await;
    assert_each_once_in_scope_order(&read, 0..400);
    assert!(
        read.iter()
            .take(200)
            .all(|r| r.shard == "shardId-000000000000")
    );
}
