//! The speed view as a differential dataflow: the stream records since the batch watermark, as
//! the batch's own reader reads them, one per record id, and per scope the greatest snapshot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use carlambda_batch::read::Partial;
use carlambda_schemas::{FetchedAt, Scope};
use carlambda_views::{Issue, Snapshot};
use differential_dataflow::input::{Input, InputSession};
use serde::{Deserialize, Serialize};
use timely::dataflow::{ProbeHandle, Scope as TimelyScope};

use crate::position::{Place, location};

/// The computation's logical time: one tick per step of the speed layer.
pub(crate) type Time = u64;

/// A stream record as it enters the computation: keyed by its record id (see [`read`]), with
/// where it was read and what it is.
pub(crate) type Delivery = (String, (Place, Found));

/// A usable snapshot, ordered by scope and then by rank (`fetched_at`, ties by record id), so
/// that the last snapshot of a scope's group is its winner.
///
/// Equality follows the same key: a record id names its content, so two snapshots with one
/// scope, `fetched_at` and record id are the same snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Ranked(pub Snapshot);

impl Ranked {
    fn key(&self) -> (&Scope, FetchedAt, &str) {
        (&self.0.scope, self.0.fetched_at, &self.0.record_id)
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Ranked) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Ranked) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Ranked) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What one raw record is to the views: a snapshot that may win its scope, or an issue.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Found {
    Snapshot(Ranked),
    Issue(Issue),
}

impl Found {
    fn snapshot(self) -> Option<Ranked> {
        match self {
            Found::Snapshot(snapshot) => Some(snapshot),
            Found::Issue(_) => None,
        }
    }

    fn issue(self) -> Option<Issue> {
        match self {
            Found::Issue(issue) => Some(issue),
            Found::Snapshot(_) => None,
        }
    }
}

/// Reads a stream record's line exactly as the batch reads a line of a raw object, so that
/// both layers turn a record into the same snapshot or issue; an issue is listed at the
/// record's place in the stream.
///
/// Keyed by record id, for one record per id; a line without one (not a raw record at all) is
/// keyed by its place, so that each such line is listed, as the batch lists each. `None` for a
/// blank line, which carries nothing.
pub(crate) fn read(place: &Place, line: &str) -> Option<Delivery> {
    let mut read = Partial::default();
    read.read_object(&location(place), line.as_bytes());
    let found = match read.winners.into_snapshots().next() {
        Some(snapshot) => Found::Snapshot(Ranked(snapshot)),
        None => Found::Issue(read.issues.pop()?),
    };
    let key = match &found {
        Found::Snapshot(snapshot) => snapshot.0.record_id.to_string(),
        Found::Issue(issue) => issue
            .record_id
            .clone()
            .unwrap_or_else(|| format!("line at {}", location(place))),
    };
    Some((key, (place.clone(), found)))
}

/// The speed view's collections as of the last completed step: every worker adds the updates
/// it sees, and the sums are the collections.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub winners: BTreeMap<Ranked, isize>,
    pub issues: BTreeMap<Issue, isize>,
    /// The places of the deliveries the view rests on: each winner's, and each issue's first.
    /// Every other delivery can be taken out without changing the merged view (see
    /// [`crate::SpeedLayer`]).
    pub kept: BTreeMap<Place, isize>,
}

fn add<K: Ord + Clone>(collection: &mut BTreeMap<K, isize>, element: &K, diff: isize) {
    let count = collection.entry(element.clone()).or_default();
    *count += diff;
    if *count == 0 {
        collection.remove(element);
    }
}

/// Builds the speed view's dataflow in `scope`; its results are summed into `output`. Returns
/// the input of deliveries and a probe that passes a time once `output` holds its results.
pub(crate) fn speed_view(
    scope: TimelyScope<'_, Time>,
    output: &Arc<Mutex<Output>>,
) -> (InputSession<Time, Delivery, isize>, ProbeHandle<Time>) {
    let (input, deliveries) = scope.new_collection::<Delivery, isize>();

    // Each record once, as read at its first place: a redelivery changes nothing.
    let found = deliveries
        .reduce(|_record_id, deliveries, first| {
            let (place_and_found, _) = deliveries[0];
            first.push((place_and_found.clone(), 1isize));
        })
        .map(|(_record_id, place_and_found)| place_and_found);

    // Per scope, the greatest snapshot: a group's values arrive sorted, greatest last.
    let winners = found
        .clone()
        .flat_map(|(place, found)| found.snapshot().map(|snapshot| (snapshot, place)))
        .map(|(snapshot, place)| (snapshot.0.scope.clone(), (snapshot, place)))
        .reduce(|_scope, snapshots, winner| {
            let (greatest, _) = snapshots.last().expect("reduce groups are never empty");
            winner.push(((*greatest).clone(), 1isize));
        })
        .map(|(_scope, winner)| winner);
    let issues = found.flat_map(|(place, found)| found.issue().map(|issue| (place, issue)));
    let kept = winners
        .clone()
        .map(|(_winner, place)| place)
        .concat(issues.clone().map(|(place, _issue)| place));

    let probe = ProbeHandle::new();
    let sink = output.clone();
    winners
        .inspect(move |((winner, _place), _time, diff)| {
            add(
                &mut sink.lock().expect("output lock").winners,
                winner,
                *diff,
            );
        })
        .probe_with(&probe);
    let sink = output.clone();
    issues
        .inspect(move |((_place, issue), _time, diff)| {
            add(&mut sink.lock().expect("output lock").issues, issue, *diff);
        })
        .probe_with(&probe);
    let sink = output.clone();
    kept.inspect(move |(place, _time, diff)| {
        add(&mut sink.lock().expect("output lock").kept, place, *diff);
    })
    .probe_with(&probe);
    (input, probe)
}
