//! Serving's merge of the batch view and the speed view: per scope the newer winner, and the
//! issues of both with each record listed once.

use serde::{Deserialize, Serialize};

use crate::views::first_found;
use crate::{Issue, Winners};

/// What a batch view or a speed view holds, and what serving merges them into: each scope's
/// winning snapshot with its rows, and the error and rejected records found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerView {
    pub winners: Winners,
    pub issues: Vec<Issue>,
}

/// The batch view and the speed view as one: per scope the newer of the two winners (rule 1),
/// and the union of their issues with an error or rejected record listed once, where it was
/// first found. [`crate::current_tables`] then applies rule 3 across scopes.
///
/// Both parts are semilattice merges, so the result is what one layer would hold had it read
/// the records of both.
pub fn merge(batch: LayerView, speed: LayerView) -> LayerView {
    let mut winners = batch.winners;
    winners.merge(speed.winners);

    let both: Vec<Issue> = batch.issues.into_iter().chain(speed.issues).collect();
    let issues = first_found(&both).into_iter().cloned().collect();
    LayerView { winners, issues }
}

#[cfg(test)]
mod tests {
    use carlambda_schemas::FetchedAt;
    use carlambda_schemas::rows::SnapshotRows;

    use super::*;
    use crate::{Category, Snapshot};

    fn snapshot(scope: &str, record_id: &str, millis: i64) -> Snapshot {
        Snapshot {
            scope: scope.parse().unwrap(),
            record_id: record_id.into(),
            fetched_at: FetchedAt::from_unix_millis(millis),
            rows: SnapshotRows::default().into(),
        }
    }

    fn error(record_id: &str, object: &str) -> Issue {
        Issue {
            category: Category::Error,
            kind: "timeout".into(),
            endpoint: Some("/e".into()),
            record_id: Some(record_id.into()),
            object: object.into(),
            line: 1,
            detail: "no answer".into(),
        }
    }

    #[test]
    fn the_newer_winner_of_each_scope_is_served() {
        let batch = LayerView {
            winners: [snapshot("model:A", "a1", 5), snapshot("model:B", "b2", 9)]
                .into_iter()
                .collect(),
            issues: vec![],
        };
        let speed = LayerView {
            winners: [snapshot("model:A", "a2", 7), snapshot("model:B", "b1", 3)]
                .into_iter()
                .collect(),
            issues: vec![],
        };
        let merged = merge(batch, speed);
        let ids: Vec<&str> = merged.winners.snapshots().map(|s| &*s.record_id).collect();
        assert_eq!(ids, ["a2", "b2"]);
    }

    #[test]
    fn a_record_in_both_views_is_one_issue_where_first_found() {
        let batch = LayerView {
            winners: Winners::default(),
            issues: vec![error("e1", "raw/a"), error("e2", "raw/a")],
        };
        let speed = LayerView {
            winners: Winners::default(),
            issues: vec![error("e1", "stream/s/9"), error("e3", "stream/s/10")],
        };
        let merged = merge(batch, speed);
        let found: Vec<(&str, &str)> = merged
            .issues
            .iter()
            .map(|i| (i.record_id.as_deref().unwrap(), i.object.as_str()))
            .collect();
        assert_eq!(
            found,
            [("e1", "raw/a"), ("e2", "raw/a"), ("e3", "stream/s/10")]
        );
    }
}
