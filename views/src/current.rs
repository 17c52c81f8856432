//! The rules of "what current means": per scope the latest snapshot wins, and across scopes
//! each column takes its value from the newest winning snapshot that has one.

use std::collections::btree_map::{BTreeMap, Entry};
use std::sync::Arc;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use carlambda_schemas::arrow::ArrowTable;
use carlambda_schemas::rows::{
    MakeRow, ModelRow, ModelYearRow, SnapshotRows, StyleRow, SubmodelRow, TableRow, Traced,
};
use carlambda_schemas::{FetchedAt, Scope};
use serde::{Deserialize, Serialize};

/// A usable snapshot of a scope with the rows it contributes.
///
/// The rows are shared: a snapshot is cloned wherever winners are merged (in the batch, the
/// speed dataflow's operators and serving), and its rows never change once read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub scope: Scope,
    pub record_id: Arc<str>,
    pub fetched_at: FetchedAt,
    pub rows: Arc<SnapshotRows>,
}

impl Snapshot {
    /// The order in which snapshots of one scope replace each other: by `fetched_at`, ties
    /// broken by `record_id`.
    pub fn rank(&self) -> (FetchedAt, &str) {
        (self.fetched_at, &self.record_id)
    }
}

/// The winning snapshot of each scope seen so far.
///
/// Offering snapshots is a semilattice merge: the result does not depend on the order or the
/// grouping of the offers, and offering a snapshot twice changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Winners {
    by_scope: BTreeMap<Scope, Snapshot>,
}

impl Winners {
    /// Whether a snapshot of `scope` ranked `rank` would replace the current winner. Lets a
    /// reader skip building the rows of a snapshot that cannot win.
    pub fn would_win(&self, scope: &Scope, rank: (FetchedAt, &str)) -> bool {
        self.by_scope
            .get(scope)
            .is_none_or(|winner| rank > winner.rank())
    }

    /// The winning snapshot of `scope`, if any.
    pub fn winner(&self, scope: &Scope) -> Option<&Snapshot> {
        self.by_scope.get(scope)
    }

    /// Keeps `snapshot` if it is newer than its scope's winner.
    pub fn offer(&mut self, snapshot: Snapshot) {
        match self.by_scope.entry(snapshot.scope.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(snapshot);
            }
            Entry::Occupied(mut slot) => {
                if snapshot.rank() > slot.get().rank() {
                    slot.insert(snapshot);
                }
            }
        }
    }

    /// Every winner of `other` offered to `self`.
    pub fn merge(&mut self, other: Winners) {
        for snapshot in other.into_snapshots() {
            self.offer(snapshot);
        }
    }

    pub fn len(&self) -> usize {
        self.by_scope.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_scope.is_empty()
    }

    /// The winners, by scope.
    pub fn snapshots(&self) -> impl Iterator<Item = &Snapshot> {
        self.by_scope.values()
    }

    pub fn into_snapshots(self) -> impl Iterator<Item = Snapshot> {
        self.by_scope.into_values()
    }
}

impl FromIterator<Snapshot> for Winners {
    fn from_iter<I: IntoIterator<Item = Snapshot>>(snapshots: I) -> Winners {
        let mut winners = Winners::default();
        for snapshot in snapshots {
            winners.offer(snapshot);
        }
        winners
    }
}

/// The current 3NF tables, each sorted by its key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    pub makes: Vec<Traced<MakeRow>>,
    pub models: Vec<Traced<ModelRow>>,
    pub model_years: Vec<Traced<ModelYearRow>>,
    pub submodels: Vec<Traced<SubmodelRow>>,
    pub styles: Vec<Traced<StyleRow>>,
}

impl Tables {
    /// Each table as `(name, record batch)` of its schema in `carlambda_schemas::arrow`, in
    /// the order of `TABLE_NAMES`.
    pub fn to_record_batches(&self) -> Result<Vec<(&'static str, RecordBatch)>, ArrowError> {
        Ok(vec![
            (MakeRow::NAME, ArrowTable::to_record_batch(&self.makes)?),
            (ModelRow::NAME, ArrowTable::to_record_batch(&self.models)?),
            (
                ModelYearRow::NAME,
                ArrowTable::to_record_batch(&self.model_years)?,
            ),
            (
                SubmodelRow::NAME,
                ArrowTable::to_record_batch(&self.submodels)?,
            ),
            (StyleRow::NAME, ArrowTable::to_record_batch(&self.styles)?),
        ])
    }
}

/// The current tables: the rows of the winning snapshots, one row per key, each column from
/// the newest of those snapshots that has a value for it; every row traced to the newest
/// snapshot that holds its key.
pub fn current_tables(winners: &Winners) -> Tables {
    let mut newest_first: Vec<&Snapshot> = winners.snapshots().collect();
    newest_first.sort_by(|a, b| b.rank().cmp(&a.rank()));
    let newest_first = &newest_first;

    // The tables are independent of each other: styles, much the largest, on a thread of its
    // own beside the other four.
    std::thread::scope(|scope| {
        let styles = scope.spawn(|| merged(newest_first, |rows| &rows.styles));
        let tables = Tables {
            makes: merged(newest_first, |rows| &rows.makes),
            models: merged(newest_first, |rows| &rows.models),
            model_years: merged(newest_first, |rows| &rows.model_years),
            submodels: merged(newest_first, |rows| &rows.submodels),
            styles: Vec::new(),
        };
        Tables {
            styles: styles.join().expect("merging rows never panics"),
            ..tables
        }
    })
}

fn merged<T: TableRow + Send>(
    newest_first: &[&Snapshot],
    rows_of: impl Fn(&SnapshotRows) -> &Vec<T>,
) -> Vec<Traced<T>> {
    let mut by_key: BTreeMap<T::Key, Traced<T>> = BTreeMap::new();
    for snapshot in newest_first {
        for row in rows_of(&snapshot.rows) {
            match by_key.entry(row.key()) {
                Entry::Vacant(slot) => {
                    slot.insert(Traced {
                        row: row.clone(),
                        record_id: snapshot.record_id.clone(),
                        fetched_at: snapshot.fetched_at,
                    });
                }
                Entry::Occupied(mut slot) => slot.get_mut().row.fill_from(row),
            }
        }
    }
    by_key.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, make_id: Option<i64>, name: Option<&str>) -> ModelRow {
        ModelRow {
            model_id: id.into(),
            make_id,
            name: name.map(Into::into),
            nice_name: None,
        }
    }

    fn snapshot(scope: &str, record_id: &str, millis: i64, rows: SnapshotRows) -> Snapshot {
        Snapshot {
            scope: scope.parse().unwrap(),
            record_id: record_id.into(),
            fetched_at: FetchedAt::from_unix_millis(millis),
            rows: rows.into(),
        }
    }

    fn year(model_id: &str, year: i32) -> ModelYearRow {
        ModelYearRow {
            model_id: model_id.into(),
            year,
            model_year_id: i64::from(year),
        }
    }

    #[test]
    fn the_latest_snapshot_of_a_scope_wins_and_ties_go_by_record_id() {
        let old = snapshot("model:M", "b", 1, SnapshotRows::default());
        let new = snapshot("model:M", "a", 2, SnapshotRows::default());
        let tie = snapshot("model:M", "c", 2, SnapshotRows::default());
        for order in [[&old, &new, &tie], [&tie, &new, &old], [&new, &tie, &old]] {
            let winners: Winners = order.into_iter().cloned().collect();
            assert_eq!(&*winners.snapshots().next().unwrap().record_id, "c");
        }
    }

    #[test]
    fn rows_the_winner_lacks_are_gone() {
        let rows = |years: &[i32]| SnapshotRows {
            model_years: years.iter().map(|&y| year("M", y)).collect(),
            ..SnapshotRows::default()
        };
        let winners: Winners = [
            snapshot("model:M", "r1", 1, rows(&[2010, 2011])),
            snapshot("model:M", "r2", 2, rows(&[2011, 2012])),
        ]
        .into_iter()
        .collect();
        let years: Vec<i32> = current_tables(&winners)
            .model_years
            .iter()
            .map(|r| r.row.year)
            .collect();
        assert_eq!(years, [2011, 2012]);
    }

    #[test]
    fn columns_come_from_the_newest_snapshot_that_has_them() {
        let catalog = SnapshotRows {
            models: vec![model("M", Some(7), Some("old name"))],
            ..SnapshotRows::default()
        };
        let model_snapshot = SnapshotRows {
            models: vec![model("M", None, Some("new name"))],
            ..SnapshotRows::default()
        };
        let winners: Winners = [
            snapshot("catalog", "cat", 1, catalog),
            snapshot("model:M", "mod", 2, model_snapshot),
        ]
        .into_iter()
        .collect();
        let tables = current_tables(&winners);
        let row = &tables.models[0];
        assert_eq!(row.row.make_id, Some(7), "the make comes from the catalog");
        assert_eq!(row.row.name.as_deref(), Some("new name"));
        assert_eq!(
            &*row.record_id, "mod",
            "traced to the newest snapshot holding the key"
        );
    }

    #[test]
    fn merging_winners_in_parts_is_merging_them_whole() {
        let all: Vec<Snapshot> = (0..6)
            .map(|i| {
                snapshot(
                    &format!("model:M{}", i % 3),
                    &format!("r{i}"),
                    i,
                    SnapshotRows::default(),
                )
            })
            .collect();
        let whole: Winners = all.iter().cloned().collect();
        let mut left: Winners = all[..4].iter().cloned().collect();
        let right: Winners = all[2..].iter().cloned().collect();
        left.merge(right);
        assert_eq!(left, whole);
    }
}
