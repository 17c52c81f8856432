//! The speed layer fed stream records: one record per record id, errors never win, the same
//! view on one or two workers, retraction at the watermark, and resuming from a checkpoint.

mod records;

use carlambda_speed::{SpeedLayer, SpeedView};
use carlambda_store::Store;
use carlambda_stream::{Position, SequenceNumber, StreamRecord};
use carlambda_views::Category;

use records::{delivered, delivered_line, error, rejected, snapshot};

/// Records of every kind on two shards: the newest model:M_A snapshot arrives before an older
/// one, an error record is newer than every snapshot, one snapshot is delivered twice, and one
/// line is no raw record at all.
fn stream() -> Vec<StreamRecord> {
    vec![
        delivered("s0", 1, &snapshot(0, 0, 100)),
        delivered("s0", 2, &snapshot(1, 3, 300)),
        delivered("s1", 1, &snapshot(1, 1, 200)),
        delivered("s1", 2, &error(0, 900)),
        delivered("s0", 3, &rejected(0, 400)),
        delivered("s1", 3, &snapshot(2, 2, 250)),
        delivered("s0", 4, &snapshot(1, 3, 300)),
        delivered("s1", 4, &rejected(1, 500)),
        delivered_line("s0", 5, "not json"),
    ]
}

fn position(shards: &[(&str, u64)]) -> Position {
    shards
        .iter()
        .map(|&(shard, sequence)| (shard.to_owned(), SequenceNumber::from(sequence)))
        .collect()
}

fn winner_of(view: &SpeedView, scope: &str) -> Option<String> {
    let scope = scope.parse().unwrap();
    view.winners.winner(&scope).map(|s| s.record_id.to_string())
}

fn feed_in_steps(layer: &mut SpeedLayer, records: &[StreamRecord]) -> SpeedView {
    let mut view = SpeedView::default();
    for step in records.chunks(3) {
        view = layer.feed(step.to_vec()).unwrap();
    }
    view
}

#[test]
fn per_scope_the_greatest_snapshot_wins_and_each_record_counts_once() {
    let mut layer = SpeedLayer::start(1).unwrap();
    let view = feed_in_steps(&mut layer, &stream());

    assert_eq!(
        winner_of(&view, "model:M_A"),
        Some(snapshot(1, 3, 300).record_id)
    );
    assert_eq!(view.winners.len(), 3);
    assert_eq!(view.records_since_watermark, 9, "9 places read");
    // Held after the last step: two beaten snapshots and a second delivery are let go at the
    // next step, so the state is the three winners and four issues then.
    layer.feed([]).unwrap();
    assert_eq!(layer.held(), 7);
    let categories: Vec<(Category, &str)> = view
        .issues
        .iter()
        .map(|i| (i.category, i.kind.as_str()))
        .collect();
    assert_eq!(
        categories,
        [
            (Category::Error, "timeout"),
            (Category::Rejected, "bad-envelope"),
            (Category::Rejected, "not-json"),
            (Category::Rejected, "wrong-shape")
        ]
    );
    assert_eq!(view.issues[0].object, "stream/s1/2");
    assert_eq!(view.newest_fetched_at.unwrap().unix_millis(), 300);
    assert_eq!(view.positions, position(&[("s0", 5), ("s1", 4)]));
}

#[test]
fn one_and_two_workers_give_the_same_view() {
    let mut one = SpeedLayer::start(1).unwrap();
    let mut two = SpeedLayer::start(2).unwrap();
    let (view_one, view_two) = (
        feed_in_steps(&mut one, &stream()),
        feed_in_steps(&mut two, &stream()),
    );
    assert_eq!(view_one, view_two);

    let covered = position(&[("s1", 2)]);
    assert_eq!(
        one.retract(&covered).unwrap(),
        two.retract(&covered).unwrap()
    );
}

#[test]
fn a_redelivery_at_a_new_position_changes_nothing_but_the_positions() {
    let mut layer = SpeedLayer::start(2).unwrap();
    let before = feed_in_steps(&mut layer, &stream());
    let after = layer
        .feed([
            delivered("s0", 9, &snapshot(2, 2, 250)),
            delivered("s1", 9, &error(0, 900)),
        ])
        .unwrap();
    assert_eq!(after.winners, before.winners);
    assert_eq!(after.issues, before.issues);
    assert_eq!(
        after.records_since_watermark,
        before.records_since_watermark + 2,
        "each place read counts"
    );
    assert_eq!(after.positions, position(&[("s0", 9), ("s1", 9)]));

    // The same places handed out again (a consumer resuming from an older position) are no
    // new reads.
    let again = layer
        .feed([delivered("s0", 9, &snapshot(2, 2, 250))])
        .unwrap();
    assert_eq!(again.records_since_watermark, after.records_since_watermark);
}

#[test]
fn snapshots_beaten_by_a_winner_leave_the_state() {
    let mut layer = SpeedLayer::start(2).unwrap();
    for n in 0..50u8 {
        let newer = snapshot(1, n % 4, i64::from(n));
        layer
            .feed([delivered("s0", u64::from(n) + 1, &newer)])
            .unwrap();
    }
    let view = layer.feed([]).unwrap();

    assert_eq!(layer.held(), 1, "only the winner is held");
    assert_eq!(view.records_since_watermark, 50);
    assert_eq!(
        winner_of(&view, "model:M_A"),
        Some(snapshot(1, 49 % 4, 49).record_id)
    );
}

#[test]
fn retraction_empties_the_covered_scopes_and_shrinks_the_state() {
    let mut layer = SpeedLayer::start(2).unwrap();
    let before = feed_in_steps(&mut layer, &stream());
    let held_before = layer.held();

    // The batch covers s0 up to 4 and s1 up to 2: left are the model:M_B snapshot, a
    // rejected record on s1 and the line on s0 that is no record.
    let covered = position(&[("s0", 4), ("s1", 2)]);
    let after = layer.retract(&covered).unwrap();
    assert_eq!(after.records_since_watermark, 3);

    assert_eq!(winner_of(&after, "catalog"), None);
    assert_eq!(winner_of(&after, "model:M_A"), None);
    assert_eq!(
        winner_of(&after, "model:M_B"),
        winner_of(&before, "model:M_B")
    );
    let left: Vec<&str> = after.issues.iter().map(|i| i.object.as_str()).collect();
    assert_eq!(left, ["stream/s1/4", "stream/s0/5"]);
    assert_eq!((held_before, layer.held()), (8, 3));
    assert_eq!(after.covered, covered);

    // A record the batch already covers is not taken in again.
    let again = layer
        .feed([delivered("s0", 2, &snapshot(1, 3, 300))])
        .unwrap();
    assert_eq!(winner_of(&again, "model:M_A"), None);
    assert_eq!(layer.held(), 3);
}

#[test]
fn a_published_checkpoint_resumes_the_same_view_without_counting_twice() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let store = runtime
        .block_on(Store::open(folder.path().to_str().unwrap()))
        .unwrap();

    let mut layer = SpeedLayer::start(1).unwrap();
    feed_in_steps(&mut layer, &stream());
    let view = layer.retract(&position(&[("s0", 1)])).unwrap();
    runtime
        .block_on(carlambda_speed::publish_view(&store, &view))
        .unwrap();
    runtime
        .block_on(carlambda_speed::save_checkpoint(
            &store,
            &layer.checkpoint(),
        ))
        .unwrap();
    drop(layer);

    let published = runtime
        .block_on(carlambda_speed::read_view(&store))
        .unwrap();
    assert_eq!(published.as_ref(), Some(&view));
    let checkpoint = runtime
        .block_on(carlambda_speed::read_checkpoint(&store))
        .unwrap()
        .expect("a checkpoint was published");
    let mut resumed = SpeedLayer::resume(2, checkpoint).unwrap();
    assert_eq!(resumed.view(), view);

    // The stream hands out again what was read before the restart: nothing changes.
    let replayed = resumed.feed(stream()).unwrap();
    assert_eq!(replayed, view);
}

#[test]
fn nothing_published_reads_as_none() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let store = runtime
        .block_on(Store::open(folder.path().to_str().unwrap()))
        .unwrap();
    assert!(
        runtime
            .block_on(carlambda_speed::read_view(&store))
            .unwrap()
            .is_none()
    );
}
