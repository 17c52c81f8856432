//! The Arrow schemas of the five 3NF tables, and their rows as Arrow record batches.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::rows::{MakeRow, ModelRow, ModelYearRow, StyleRow, SubmodelRow, Traced};

/// The names of the five tables, in the order of DESIGN.md.
pub const TABLE_NAMES: [&str; 5] = ["makes", "models", "model_years", "submodels", "styles"];

/// The type of every `fetched_at` column: milliseconds, UTC.
pub fn fetched_at_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn schema(columns: &[(&str, DataType, bool)]) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|(name, data_type, nullable)| Field::new(*name, data_type.clone(), *nullable))
        .collect();
    fields.push(Field::new("record_id", DataType::Utf8, false));
    fields.push(Field::new("fetched_at", fetched_at_type(), false));
    Arc::new(Schema::new(fields))
}

/// A row type's table: its Arrow schema and how its rows become columns.
pub trait ArrowTable: Sized {
    /// The table's name, e.g. `makes`.
    const NAME: &'static str;

    /// The table's schema: its own columns, then `record_id` and `fetched_at`.
    fn schema() -> SchemaRef;

    /// The table's own columns for `rows`, in schema order.
    fn columns(rows: &[Traced<Self>]) -> Vec<ArrayRef>;

    /// `rows` as one record batch of [`ArrowTable::schema`].
    fn to_record_batch(rows: &[Traced<Self>]) -> Result<RecordBatch, ArrowError> {
        let mut columns = Self::columns(rows);
        let record_ids = rows.iter().map(|r| Some(&*r.record_id));
        columns.push(Arc::new(StringArray::from_iter(record_ids)));
        let fetched_at = rows.iter().map(|r| r.fetched_at.unix_millis());
        columns.push(Arc::new(
            TimestampMillisecondArray::from_iter_values(fetched_at).with_timezone("UTC"),
        ));
        RecordBatch::try_new(Self::schema(), columns)
    }
}

fn strings<'a, T: 'a>(
    rows: &'a [Traced<T>],
    column: impl Fn(&'a T) -> Option<&'a str>,
) -> ArrayRef {
    Arc::new(StringArray::from_iter(rows.iter().map(|r| column(&r.row))))
}

fn int64s<T>(rows: &[Traced<T>], column: impl Fn(&T) -> Option<i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter(rows.iter().map(|r| column(&r.row))))
}

impl ArrowTable for MakeRow {
    const NAME: &'static str = "makes";

    fn schema() -> SchemaRef {
        schema(&[
            ("make_id", DataType::Int64, false),
            ("name", DataType::Utf8, true),
            ("nice_name", DataType::Utf8, true),
        ])
    }

    fn columns(rows: &[Traced<Self>]) -> Vec<ArrayRef> {
        vec![
            int64s(rows, |r| Some(r.make_id)),
            strings(rows, |r| r.name.as_deref()),
            strings(rows, |r| r.nice_name.as_deref()),
        ]
    }
}

impl ArrowTable for ModelRow {
    const NAME: &'static str = "models";

    fn schema() -> SchemaRef {
        schema(&[
            ("model_id", DataType::Utf8, false),
            ("make_id", DataType::Int64, true),
            ("name", DataType::Utf8, true),
            ("nice_name", DataType::Utf8, true),
        ])
    }

    fn columns(rows: &[Traced<Self>]) -> Vec<ArrayRef> {
        vec![
            strings(rows, |r| Some(&r.model_id)),
            int64s(rows, |r| r.make_id),
            strings(rows, |r| r.name.as_deref()),
            strings(rows, |r| r.nice_name.as_deref()),
        ]
    }
}

impl ArrowTable for ModelYearRow {
    const NAME: &'static str = "model_years";

    fn schema() -> SchemaRef {
        schema(&[
            ("model_year_id", DataType::Int64, false),
            ("model_id", DataType::Utf8, false),
            ("year", DataType::Int32, false),
        ])
    }

    fn columns(rows: &[Traced<Self>]) -> Vec<ArrayRef> {
        vec![
            int64s(rows, |r| Some(r.model_year_id)),
            strings(rows, |r| Some(&r.model_id)),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.row.year),
            )),
        ]
    }
}

impl ArrowTable for SubmodelRow {
    const NAME: &'static str = "submodels";

    fn schema() -> SchemaRef {
        schema(&[
            ("model_id", DataType::Utf8, false),
            ("nice_name", DataType::Utf8, false),
            ("body", DataType::Utf8, true),
            ("model_name", DataType::Utf8, true),
        ])
    }

    fn columns(rows: &[Traced<Self>]) -> Vec<ArrayRef> {
        vec![
            strings(rows, |r| Some(&r.model_id)),
            strings(rows, |r| Some(&r.nice_name)),
            strings(rows, |r| r.body.as_deref()),
            strings(rows, |r| r.model_name.as_deref()),
        ]
    }
}

impl ArrowTable for StyleRow {
    const NAME: &'static str = "styles";

    /// The submodel key is (`model_id`, `submodel_nice_name`); the model year key is
    /// (`model_id`, `model_year_id`).
    fn schema() -> SchemaRef {
        schema(&[
            ("style_id", DataType::Int64, false),
            ("model_year_id", DataType::Int64, false),
            ("model_id", DataType::Utf8, false),
            ("submodel_nice_name", DataType::Utf8, true),
            ("name", DataType::Utf8, true),
            ("trim", DataType::Utf8, true),
        ])
    }

    fn columns(rows: &[Traced<Self>]) -> Vec<ArrayRef> {
        vec![
            int64s(rows, |r| Some(r.style_id)),
            int64s(rows, |r| Some(r.model_year_id)),
            strings(rows, |r| Some(&r.model_id)),
            strings(rows, |r| r.submodel.as_deref()),
            strings(rows, |r| r.name.as_deref()),
            strings(rows, |r| r.trim.as_deref()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FetchedAt;

    #[test]
    fn rows_become_a_batch_of_the_schema() {
        let rows = vec![Traced {
            row: ModelRow {
                model_id: "Lexus_RX_350".into(),
                make_id: None,
                name: Some("RX 350".into()),
                nice_name: Some("rx-350".into()),
            },
            record_id: "r1".into(),
            fetched_at: FetchedAt::from_unix_millis(1_488_433_069_071),
        }];
        let batch = ModelRow::to_record_batch(&rows).unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), ModelRow::schema());
        assert_eq!(batch.column(1).null_count(), 1, "unknown make stays null");
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "model_id",
                "make_id",
                "name",
                "nice_name",
                "record_id",
                "fetched_at"
            ]
        );
    }

    #[test]
    fn table_names_match_the_row_types() {
        let names = [
            MakeRow::NAME,
            ModelRow::NAME,
            ModelYearRow::NAME,
            SubmodelRow::NAME,
            StyleRow::NAME,
        ];
        assert_eq!(names, TABLE_NAMES);
    }
}
