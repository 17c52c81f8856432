//! The lambda invariant of DESIGN.md as a property: for any raw records and any cut W in
//! stream order, merging the batch view of the records up to W with the speed view of those
//! after W gives the tables and views of the batch over all records.
//!
//! The batch side is the real batch reader (`carlambda_batch::dataflow::read_objects`) over a
//! master dataset in a temporary folder, whose raw objects hold the stream's lines as the
//! archive writes them. The speed side is fed every record, then retracts what the batch
//! covers, as it would in service.

mod records;

use std::sync::Arc;

use bytes::Bytes;
use carlambda_batch::read::Partial;
use carlambda_ingest::raw_object::object_key;
use carlambda_schemas::{FetchedAt, RawRecord};
use carlambda_speed::SpeedLayer;
use carlambda_store::Store;
use carlambda_stream::{Position, StreamRecord};
use carlambda_views::{LayerView, Tables, Views, current_tables, merge};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use records::{delivered_line, error, rejected, snapshot};

/// Enough to find a broken merge in every run tried, and under ten seconds in debug builds.
const CASES: u32 = 64;

/// Lines that are no raw record: on the stream (someone else's writer) and in the master
/// dataset (never on the stream).
const MALFORMED: [&str; 3] = [
    "not json",
    r#"{"id": "X", "years": []}"#,
    r#"{"time_stamp": 1.5, "id""#,
];

/// One record arriving on the stream.
#[derive(Clone, Debug)]
enum Arrival {
    Snapshot {
        scope: usize,
        variant: u8,
        millis: i64,
    },
    Error {
        kind: u8,
        millis: i64,
    },
    Rejected {
        which: u8,
        millis: i64,
    },
    /// A line that is no raw record.
    Malformed {
        which: usize,
    },
    /// The record of an earlier arrival, delivered again.
    Redelivery {
        of: usize,
    },
}

fn arrival() -> impl Strategy<Value = Arrival> {
    // Few distinct times, so that fetched_at ties and out-of-order arrivals are common.
    let millis = 0i64..6;
    prop_oneof![
        4 => (0usize..3, 0u8..4, millis.clone())
            .prop_map(|(scope, variant, millis)| Arrival::Snapshot { scope, variant, millis }),
        1 => (0u8..3, millis.clone()).prop_map(|(kind, millis)| Arrival::Error { kind, millis }),
        1 => (0u8..4, millis).prop_map(|(which, millis)| Arrival::Rejected { which, millis }),
        1 => (0..MALFORMED.len()).prop_map(|which| Arrival::Malformed { which }),
        2 => any::<prop::sample::Index>().prop_map(|i| Arrival::Redelivery { of: i.index(64) }),
    ]
}

/// A stream of records on two shards, and a cut: how many arrivals the batch has seen.
fn stream_and_cut() -> impl Strategy<Value = (Vec<StreamRecord>, usize, usize)> {
    (
        prop::collection::vec((arrival(), 0u8..2), 1..24),
        any::<prop::sample::Index>(),
        1usize..5,
    )
        .prop_map(|(arrivals, cut, step)| {
            let stream = positioned(arrivals);
            let cut = cut.index(stream.len() + 1);
            (stream, cut, step)
        })
}

fn positioned(arrivals: Vec<(Arrival, u8)>) -> Vec<StreamRecord> {
    let mut sequences = [0u64; 2];
    let mut lines: Vec<String> = Vec::new();
    let mut stream = Vec::new();
    for (arrival, shard) in arrivals {
        let line = match arrival {
            Arrival::Snapshot {
                scope,
                variant,
                millis,
            } => line_of(&snapshot(scope, variant, millis)),
            Arrival::Error { kind, millis } => line_of(&error(kind, millis)),
            Arrival::Rejected { which, millis } => line_of(&rejected(which, millis)),
            Arrival::Malformed { which } => MALFORMED[which].to_owned(),
            Arrival::Redelivery { of } if !lines.is_empty() => lines[of % lines.len()].clone(),
            Arrival::Redelivery { .. } => continue,
        };
        lines.push(line.clone());
        let sequence = &mut sequences[usize::from(shard)];
        *sequence += 1;
        stream.push(delivered_line(&format!("shard-{shard}"), *sequence, &line));
    }
    stream
}

fn line_of(record: &RawRecord) -> String {
    record.to_line().trim_end().to_owned()
}

/// The batch view of the stream records `archived` plus the master dataset's own malformed
/// lines: each object holds up to three lines, as the archive writes them.
fn batch(runtime: &tokio::runtime::Runtime, archived: &[StreamRecord]) -> LayerView {
    let folder = tempfile::tempdir().unwrap();
    let store = runtime
        .block_on(Store::open(folder.path().to_str().unwrap()))
        .unwrap();
    let hour = FetchedAt::from_unix_millis(0);
    let mut objects = vec![(object_key(hour, "legacy"), MALFORMED.join("\n"))];
    for (index, chunk) in archived.chunks(3).enumerate() {
        let lines: Vec<&str> = chunk.iter().map(|r| r.line.as_str()).collect();
        objects.push((
            object_key(hour, &format!("part-{index:04}")),
            lines.join("\n"),
        ));
    }
    for (key, text) in objects {
        let body = Bytes::from(text + "\n");
        runtime
            .block_on(store.put(&key, body, "application/x-ndjson"))
            .unwrap();
    }
    let keys = runtime.block_on(store.list("raw/")).unwrap();
    let partial: Partial = carlambda_batch::dataflow::read_objects(
        Arc::new(keys),
        Arc::new(store),
        runtime.handle().clone(),
        1,
        indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    assert!(partial.failures.is_empty(), "{:?}", partial.failures);
    LayerView {
        winners: partial.winners,
        issues: partial.issues,
    }
}

/// The speed view of the records after the cut: every record fed in steps, then those the
/// batch covers retracted.
fn speed(stream: &[StreamRecord], cut: usize, step: usize) -> LayerView {
    let mut layer = SpeedLayer::start(1 + step % 2).unwrap();
    for records in stream.chunks(step) {
        layer.feed(records.to_vec()).unwrap();
    }
    let mut covered = Position::new();
    for record in &stream[..cut] {
        covered.insert(record.shard.clone(), record.sequence.clone());
    }
    let view = layer.retract(&covered).unwrap();
    assert!(
        layer.held() <= stream.len() - cut,
        "retraction shrinks the state"
    );
    view.into_layer()
}

/// Tables and views of what a layer holds. Where an issue is listed (raw object and line, or
/// stream position) is left out: a record the speed layer read is listed at its stream
/// position, the same record archived at its raw object.
fn served(layer: &LayerView) -> (Tables, Views) {
    let tables = current_tables(&layer.winners);
    let mut views = Views::compute(&tables, &layer.issues);
    for row in &mut views.data_quality {
        if row.object.is_some() {
            row.object = Some("somewhere".into());
            row.line = Some(0);
        }
    }
    views.data_quality.sort();
    (tables, views)
}

/// A merge of a batch view and a speed view, as serving would do it.
type Merge = fn(LayerView, LayerView) -> LayerView;

/// Checks the lambda invariant with `merge` on `CASES` random streams and cuts; returns how
/// many cuts fell inside their stream, or the failing case.
fn lambda_invariant(runtime: &tokio::runtime::Runtime, merge: Merge) -> Result<usize, String> {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let cuts_inside = std::cell::Cell::new(0);
    runner
        .run(&stream_and_cut(), |(stream, cut, step)| {
            let everything = batch(runtime, &stream);
            let merged = merge(batch(runtime, &stream[..cut]), speed(&stream, cut, step));

            let (expected_tables, expected_views) = served(&everything);
            let (tables, views) = served(&merged);
            prop_assert_eq!(tables, expected_tables);
            prop_assert_eq!(views, expected_views);
            cuts_inside.set(cuts_inside.get() + usize::from(0 < cut && cut < stream.len()));
            Ok(())
        })
        .map_err(|failure| failure.to_string())?;
    Ok(cuts_inside.get())
}

#[test]
fn merging_the_batch_and_speed_views_at_any_cut_is_the_batch_of_everything() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cuts_inside = lambda_invariant(&runtime, merge).unwrap();
    println!("lambda invariant held on {CASES} cases, {cuts_inside} cut inside the stream");
}

/// Per scope the batch's winner, the speed view's only where the batch has none.
fn batch_first(batch: LayerView, speed: LayerView) -> LayerView {
    let mut winners = batch.winners.clone();
    for snapshot in speed.winners.into_snapshots() {
        if batch.winners.winner(&snapshot.scope).is_none() {
            winners.offer(snapshot);
        }
    }
    LayerView {
        winners,
        issues: batch.issues.into_iter().chain(speed.issues).collect(),
    }
}

/// Per scope the speed view's winner, the batch's only where the speed view has none.
fn speed_first(batch: LayerView, speed: LayerView) -> LayerView {
    batch_first(speed, batch)
}

/// The right winners, but the speed view's issues forgotten.
fn speed_issues_lost(batch: LayerView, speed: LayerView) -> LayerView {
    let mut merged = merge(batch, speed);
    merged
        .issues
        .retain(|issue| !issue.object.starts_with("stream/"));
    merged
}

#[test]
fn a_broken_merge_fails_the_invariant() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broken: [(&str, Merge); 3] = [
        ("the batch's winner first", batch_first),
        ("the speed view's winner first", speed_first),
        ("the speed view's issues lost", speed_issues_lost),
    ];
    for (name, merge) in broken {
        let failure = lambda_invariant(&runtime, merge)
            .expect_err(&format!("a merge that takes {name} is caught"));
        println!("{name}: {}", failure.lines().next().unwrap_or_default());
    }
}
