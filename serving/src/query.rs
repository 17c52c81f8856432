//! Ad hoc SQL over the current state: every table and view registered with DataFusion as an
//! in-memory table, read-only, with the answer as an aligned table, CSV or JSON.

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::util::pretty::pretty_format_batches_with_schema;
use arrow::{csv, json};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};

use crate::{CurrentState, ServingError};

/// How an answer is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// An aligned text table followed by the number of rows.
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects, nulls kept.
    Json,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        match text {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("`{other}` is not a format: use table, csv or json")),
        }
    }
}

/// The rows a query answered, with their schema (known even when there are no rows).
#[derive(Clone, Debug)]
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl Answer {
    /// The whole of table or view `name` of `state`, in its own row order.
    ///
    /// # Errors
    ///
    /// [`ServingError::UnknownName`] when `name` is neither a table nor a view.
    pub fn of(state: &CurrentState, name: &str) -> Result<Answer, ServingError> {
        let batch = state
            .batch(name)
            .ok_or_else(|| unknown_name(name, CurrentState::names()))?;
        Ok(Answer {
            schema: batch.schema(),
            batches: vec![batch.clone()],
        })
    }

    /// The number of rows.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The answer printed in `format`, ending with a newline.
    ///
    /// # Errors
    ///
    /// [`ServingError::Arrow`] when a column cannot be written in that format.
    pub fn render(&self, format: Format) -> Result<String, ServingError> {
        let output_error = |source| ServingError::Arrow {
            name: "the answer",
            source,
        };
        match format {
            Format::Table => {
                let table = pretty_format_batches_with_schema(self.schema.clone(), &self.batches)
                    .map_err(output_error)?;
                let rows = self.rows();
                let noun = if rows == 1 { "row" } else { "rows" };
                Ok(format!("{table}\n{rows} {noun}\n"))
            }
            Format::Csv => self.csv().map_err(output_error),
            Format::Json => self.json().map_err(output_error),
        }
    }

    fn csv(&self) -> Result<String, ArrowError> {
        let mut writer = csv::WriterBuilder::new()
            .with_header(true)
            .build(Vec::new());
        // The header is written with the first batch, so an empty answer writes an empty one.
        writer.write(&RecordBatch::new_empty(self.schema.clone()))?;
        for batch in &self.batches {
            writer.write(batch)?;
        }
        Ok(String::from_utf8_lossy(&writer.into_inner()).into_owned())
    }

    fn json(&self) -> Result<String, ArrowError> {
        let mut writer = json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, json::writer::JsonArray>(Vec::new());
        for batch in &self.batches {
            writer.write(batch)?;
        }
        writer.finish()?;
        let mut text = String::from_utf8_lossy(&writer.into_inner()).into_owned();
        if text.is_empty() {
            text.push_str("[]");
        }
        text.push('\n');
        Ok(text)
    }
}

/// Runs `sql`, one statement, over the tables and views of `state`.
///
/// # Errors
///
/// [`ServingError::ReadOnly`] for a statement that would change something (DDL, DML, `COPY`,
/// `SET`, transactions), and [`ServingError::Sql`] with DataFusion's reason when the query does
/// not parse, names an unknown table or column, or fails to run.
pub async fn run_sql(state: &CurrentState, sql: &str) -> Result<Answer, ServingError> {
    let context = context(state)?;
    let plan = context
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(sql_error)?;
    read_only()
        .verify_plan(&plan)
        .map_err(|e| ServingError::ReadOnly(plain_message(e)))?;

    let frame = context
        .execute_logical_plan(plan)
        .await
        .map_err(sql_error)?;
    let schema = frame.schema().inner().clone();
    let batches = frame.collect().await.map_err(sql_error)?;
    Ok(Answer { schema, batches })
}

/// The tables and views of `state`, each with its rows and its columns' types, as text.
#[must_use]
pub fn describe_tables(state: &CurrentState) -> String {
    let mut text = String::new();
    for name in CurrentState::names() {
        let Some(batch) = state.batch(name) else {
            continue;
        };
        let kind = if CurrentState::is_table(name) {
            "table"
        } else {
            "view"
        };
        let _ = writeln!(text, "{name} ({kind}, {} rows)", batch.num_rows());
        for field in batch.schema().fields() {
            let null = if field.is_nullable() { "" } else { " not null" };
            let _ = writeln!(text, "  {:<20} {}{null}", field.name(), field.data_type());
        }
    }
    text
}

/// A DataFusion session over `state`: every table and view registered under its name, and
/// `information_schema` for `SHOW TABLES` and `SHOW COLUMNS`.
fn context(state: &CurrentState) -> Result<SessionContext, ServingError> {
    let config = SessionConfig::new().with_information_schema(true);
    let context = SessionContext::new_with_config(config);
    for name in CurrentState::names() {
        let batch = state
            .batch(name)
            .ok_or_else(|| unknown_name(name, CurrentState::names()))?;
        let table =
            MemTable::try_new(batch.schema(), vec![vec![batch.clone()]]).map_err(sql_error)?;
        context
            .register_table(name, Arc::new(table))
            .map_err(sql_error)?;
    }
    Ok(context)
}

/// What queries may do: read.
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// DataFusion's reason on one line (some reasons list the valid names on a second one).
fn sql_error(error: DataFusionError) -> ServingError {
    ServingError::Sql(error.strip_backtrace().replace('\n', " "))
}

/// The message of a planning error without DataFusion's "Error during planning" prefix.
fn plain_message(error: DataFusionError) -> String {
    match error {
        DataFusionError::Plan(message) => message,
        other => other.strip_backtrace(),
    }
}

/// The error for `name`, which is none of `known`.
pub(crate) fn unknown_name<'a>(
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> ServingError {
    ServingError::UnknownName {
        name: name.to_owned(),
        known: known.into_iter().collect::<Vec<_>>().join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Fixture};

    async fn state() -> (Fixture, CurrentState) {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;
        let state = CurrentState::load(&fixture.store).await.unwrap();
        (fixture, state)
    }

    #[tokio::test]
    async fn joins_across_the_tables_answer_as_csv() {
        let (_fixture, state) = state().await;

        let answer = run_sql(
            &state,
            "SELECT mk.name AS make, count(*) AS styles FROM styles s \
             JOIN models m ON m.model_id = s.model_id \
             JOIN makes mk ON mk.make_id = m.make_id \
             GROUP BY mk.name ORDER BY styles DESC, make",
        )
        .await
        .unwrap();

        let csv = answer.render(Format::Csv).unwrap();
        let expected = format!(
            "make,styles\nLexus,3\n\"{}\",1\n",
            fixture::HOSTILE_MAKE.replace('"', "\"\"")
        );
        assert_eq!(csv, expected);
    }

    #[tokio::test]
    async fn the_answer_prints_as_an_aligned_table_and_as_json() {
        let (_fixture, state) = state().await;

        let answer = run_sql(
            &state,
            "SELECT body, styles FROM body_style_counts ORDER BY styles DESC, body LIMIT 2",
        )
        .await
        .unwrap();

        let table = answer.render(Format::Table).unwrap();
        assert!(table.contains("| body  | styles |"), "{table}");
        assert!(table.contains("| SUV   | 2      |"), "{table}");
        assert!(table.ends_with("\n2 rows\n"), "{table}");
        let json: serde_json::Value =
            serde_json::from_str(&answer.render(Format::Json).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"body": "SUV", "styles": 2}, {"body": "Sedan", "styles": 1}])
        );
    }

    #[tokio::test]
    async fn an_empty_answer_keeps_its_columns() {
        let (_fixture, state) = state().await;

        let answer = run_sql(&state, "SELECT make_id, name FROM makes WHERE make_id < 0")
            .await
            .unwrap();

        assert_eq!(answer.render(Format::Csv).unwrap(), "make_id,name\n");
        assert_eq!(answer.render(Format::Json).unwrap(), "[]\n");
        assert!(
            answer
                .render(Format::Table)
                .unwrap()
                .contains("| make_id | name |")
        );
    }

    #[tokio::test]
    async fn statements_that_would_write_are_refused() {
        let (_fixture, state) = state().await;

        for sql in [
            "CREATE TABLE t AS SELECT * FROM makes",
            "INSERT INTO makes SELECT * FROM makes",
            "DROP TABLE makes",
            "COPY makes TO '/tmp/carlambda-copied.csv'",
            "CREATE VIEW v AS SELECT 1",
            "SET datafusion.execution.batch_size = 1",
        ] {
            let error = run_sql(&state, sql).await.unwrap_err();
            assert!(matches!(error, ServingError::ReadOnly(_)), "{sql}: {error}");
            assert!(error.to_string().contains("read-only"), "{error}");
        }
        let still = run_sql(&state, "SELECT count(*) AS n FROM makes")
            .await
            .unwrap();
        assert!(still.render(Format::Csv).unwrap().ends_with("\n2\n"));
    }

    #[tokio::test]
    async fn a_mistake_is_named_in_one_sentence() {
        let (_fixture, state) = state().await;

        let unknown_table = run_sql(&state, "SELECT * FROM engines").await.unwrap_err();
        let unknown_column = run_sql(&state, "SELECT horsepower FROM styles")
            .await
            .unwrap_err();
        let bad_syntax = run_sql(&state, "SELEC 1").await.unwrap_err();

        assert!(
            unknown_table.to_string().contains("engines"),
            "{unknown_table}"
        );
        assert!(
            unknown_column.to_string().contains("horsepower"),
            "{unknown_column}"
        );
        assert!(bad_syntax.to_string().contains("SELEC"), "{bad_syntax}");
        for error in [unknown_table, unknown_column, bad_syntax] {
            assert!(matches!(error, ServingError::Sql(_)));
            assert!(!error.to_string().contains('\n'), "{error}");
        }
    }

    #[tokio::test]
    async fn a_view_prints_whole_and_the_tables_are_described() {
        let (_fixture, state) = state().await;

        let answer = Answer::of(&state, "model_year_counts").unwrap();
        let described = describe_tables(&state);

        assert_eq!(answer.rows(), 4);
        assert!(
            answer
                .render(Format::Csv)
                .unwrap()
                .starts_with("model_id,make,model,years\nLexus_RX_350,Lexus,RX 350,3\n")
        );
        assert!(described.contains("makes (table, 2 rows)"), "{described}");
        assert!(described.contains("data_quality (view, "), "{described}");
        assert!(
            described.contains("  model_id             Utf8 not null"),
            "{described}"
        );
        let unknown = Answer::of(&state, "engines").unwrap_err().to_string();
        assert!(unknown.contains("engines") && unknown.contains("body_style_counts"));
    }
}
