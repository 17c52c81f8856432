//! The `snapshots` output of a batch version: each scope's winning snapshot with the rows it
//! contributes, so that a reader can apply the rules of "current" again (merging the speed
//! view's winners first) instead of reading tables that are already merged.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, TimestampMillisecondArray};
use arrow::datatypes::TimestampMillisecondType;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use carlambda_schemas::FetchedAt;
use carlambda_schemas::rows::SnapshotRows;
use carlambda_store::Store;
use carlambda_views::{Snapshot, Winners};

use crate::layout::{self, LayoutError};

/// The name of the output, beside the tables and views.
pub const NAME: &str = "snapshots";

/// The winners as one record batch: `scope`, `record_id`, `fetched_at` (milliseconds, UTC),
/// and `rows`, the JSON of the snapshot's `SnapshotRows` (the serde form of that type).
pub fn to_record_batch(winners: &Winners) -> Result<RecordBatch, ArrowError> {
    let scopes = winners.snapshots().map(|s| Some(s.scope.to_string()));
    let record_ids = winners.snapshots().map(|s| Some(s.record_id.to_string()));
    let fetched_at = winners.snapshots().map(|s| s.fetched_at.unix_millis());
    let rows = winners
        .snapshots()
        // sonic-rs writes the same JSON as serde_json in half the time; 28,000 styles of rows
        // are a good part of a batch's last step.
        .map(|s| sonic_rs::to_string(&s.rows).map(Some))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ArrowError::JsonError(e.to_string()))?;
    let columns: [(&str, ArrayRef); 4] = [
        ("scope", Arc::new(StringArray::from_iter(scopes))),
        ("record_id", Arc::new(StringArray::from_iter(record_ids))),
        (
            "fetched_at",
            Arc::new(TimestampMillisecondArray::from_iter_values(fetched_at).with_timezone("UTC")),
        ),
        ("rows", Arc::new(StringArray::from(rows))),
    ];
    RecordBatch::try_from_iter(columns)
}

/// Reads the winning snapshots of `version` back, rows included.
///
/// # Errors
///
/// [`LayoutError::Snapshots`] when the output lacks a column or holds a value that does not
/// parse (a version written before snapshots kept their rows is one such), and the errors of
/// [`layout::read_table`].
pub async fn read_winners(store: &Store, version: u64) -> Result<Winners, LayoutError> {
    let batches = layout::read_table(store, version, NAME).await?;
    winners(&batches).map_err(|cause| LayoutError::Snapshots {
        key: layout::part_key(version, NAME),
        cause,
    })
}

/// The winners held in `batches`, the inverse of [`to_record_batch`].
fn winners(batches: &[RecordBatch]) -> Result<Winners, String> {
    let mut winners = Winners::default();
    for batch in batches {
        let text = |name: &str| -> Result<&StringArray, String> {
            batch
                .column_by_name(name)
                .and_then(|column| column.as_string_opt::<i32>())
                .ok_or_else(|| format!("no text column `{name}`"))
        };
        let (scopes, record_ids, rows) = (text("scope")?, text("record_id")?, text("rows")?);
        let fetched_at = batch
            .column_by_name("fetched_at")
            .and_then(|column| column.as_primitive_opt::<TimestampMillisecondType>())
            .ok_or("no timestamp column `fetched_at`")?;

        for i in 0..batch.num_rows() {
            if scopes.is_null(i) || record_ids.is_null(i) || rows.is_null(i) {
                return Err(format!("row {i} has a null scope, record_id or rows"));
            }
            let scope = scopes.value(i);
            let snapshot_rows: SnapshotRows = sonic_rs::from_str(rows.value(i))
                .map_err(|e| format!("the rows of scope {scope}: {e}"))?;
            winners.offer(Snapshot {
                scope: scope.parse().map_err(|e| format!("scope {scope:?}: {e}"))?,
                record_id: record_ids.value(i).into(),
                fetched_at: FetchedAt::from_unix_millis(fetched_at.value(i)),
                rows: snapshot_rows.into(),
            });
        }
    }
    Ok(winners)
}

#[cfg(test)]
mod tests {
    use carlambda_schemas::rows::ModelYearRow;

    use super::*;

    fn snapshot(scope: &str, record_id: &str, millis: i64, years: &[i32]) -> Snapshot {
        let model_years = years
            .iter()
            .map(|&year| ModelYearRow {
                model_id: "Lexus_RX_350".into(),
                year,
                model_year_id: i64::from(year) * 10,
            })
            .collect();
        Snapshot {
            scope: scope.parse().unwrap(),
            record_id: record_id.into(),
            fetched_at: FetchedAt::from_unix_millis(millis),
            rows: SnapshotRows {
                model_years,
                ..SnapshotRows::default()
            }
            .into(),
        }
    }

    #[test]
    fn winners_come_back_with_their_rows() {
        let winners: Winners = [
            snapshot("model:Lexus_RX_350", "a", 1_488_430_800_123, &[2016, 2017]),
            snapshot("catalog", "b", 1_488_430_000_000, &[]),
        ]
        .into_iter()
        .collect();

        let batch = to_record_batch(&winners).unwrap();

        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            super::winners(std::slice::from_ref(&batch)).unwrap(),
            winners
        );
    }

    #[test]
    fn a_version_without_rows_is_named_as_such() {
        let winners: Winners = [snapshot("catalog", "b", 1, &[])].into_iter().collect();
        let batch = to_record_batch(&winners).unwrap();
        let without_rows = batch.project(&[0, 1, 2]).unwrap();

        let error = super::winners(&[without_rows]).unwrap_err();

        assert!(error.contains("no text column `rows`"), "{error}");
    }
}
