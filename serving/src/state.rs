//! The current state serving reads: every table and view, rebuilt from the winning snapshots of
//! the published batch view by the rules of "current".

use std::collections::BTreeMap;

use arrow::error::ArrowError;
use arrow::json::WriterBuilder;
use arrow::json::writer::JsonArray;
use arrow::record_batch::RecordBatch;
use carlambda_batch::layout::{self, Manifest, Watermark};
use carlambda_batch::snapshots;
use carlambda_schemas::FetchedAt;
use carlambda_schemas::arrow::TABLE_NAMES;
use carlambda_store::Store;
use carlambda_views::{Category, Issue, VIEW_NAMES, Views, Winners, current_tables};
use serde_json::{Map, Value};
use tracing::debug;

use crate::ServingError;

/// One row of a table or view: column name to value, every column present, nulls as `null`.
pub type Row = Map<String, Value>;

/// The current state of the catalog as serving sees it: the five tables and four views as
/// Arrow record batches, and where they come from.
///
/// This is the one way serving reads the current state: the query command, the HTTP server and
/// the page all take a `CurrentState`.
#[derive(Clone, Debug)]
pub struct CurrentState {
    manifest: Manifest,
    as_of: Option<FetchedAt>,
    batches: BTreeMap<&'static str, RecordBatch>,
    view_rows: BTreeMap<&'static str, Vec<Row>>,
}

impl CurrentState {
    /// Loads the published batch view of `store`: its winning snapshots and the error and
    /// rejected records of its `data_quality`, from which the tables and views are computed
    /// again (see [`CurrentState::from_winners`]).
    ///
    /// # Errors
    ///
    /// [`ServingError::Published`] when no batch view is published (the message says to run
    /// `carlambda batch`) or its manifest cannot be read; [`ServingError::Read`] when its
    /// snapshots or `data_quality` cannot be read; [`ServingError::RowCount`] when the state
    /// rebuilt from them disagrees with the manifest; and the errors of `from_winners`.
    // LIMITATION: today this is the published batch view alone; records that arrived after its
    // watermark are not shown until the speed view's winners are offered here too.
    pub async fn load(store: &Store) -> Result<CurrentState, ServingError> {
        let manifest = layout::published(store).await?;
        let version = manifest.version;
        let read_error = |name: &'static str| {
            move |source| ServingError::Read {
                name,
                version,
                source: Box::new(source),
            }
        };
        let winners = snapshots::read_winners(store, version)
            .await
            .map_err(read_error(snapshots::NAME))?;
        let quality = layout::read_table(store, version, "data_quality")
            .await
            .map_err(read_error("data_quality"))?;
        let issues = issues_from(version, &quality)?;

        let state = CurrentState::from_winners(manifest, &winners, &issues)?;
        state.check_against_manifest()?;
        debug!(
            store = %store.describe(),
            version,
            scopes = winners.len(),
            "loaded the current state from the batch view"
        );
        Ok(state)
    }

    /// The state of `winners` (each scope's winning snapshot) and `issues` (the error records
    /// and rejected lines seen): the tables by [`current_tables`], the views by
    /// [`Views::compute`], exactly as the batch computes them. `manifest` names the batch
    /// view the state is built on.
    ///
    /// # Errors
    ///
    /// [`ServingError::Arrow`] when a table or view cannot be built as Arrow or JSON.
    pub fn from_winners(
        manifest: Manifest,
        winners: &Winners,
        issues: &[Issue],
    ) -> Result<CurrentState, ServingError> {
        let tables = current_tables(winners);
        let views = Views::compute(&tables, issues);
        let arrow_error = |name: &'static str| move |source| ServingError::Arrow { name, source };

        let mut batches = BTreeMap::new();
        batches.extend(tables.to_record_batches().map_err(arrow_error("tables"))?);
        let mut view_rows = BTreeMap::new();
        for (name, batch) in views.to_record_batches().map_err(arrow_error("views"))? {
            view_rows.insert(name, json_rows(&batch).map_err(arrow_error(name))?);
            batches.insert(name, batch);
        }

        let as_of = winners.snapshots().map(|s| s.fetched_at).max();
        Ok(CurrentState {
            manifest,
            as_of,
            batches,
            view_rows,
        })
    }

    /// The manifest of the batch view this state is built on: its version, when it ran, and
    /// what it read.
    #[must_use]
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The batch version this state is built on.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.manifest.version
    }

    /// When the batch view was published (RFC 3339).
    #[must_use]
    pub fn published_at(&self) -> &str {
        &self.manifest.created_at
    }

    /// How far into the raw records the state reaches.
    #[must_use]
    pub fn watermark(&self) -> &Watermark {
        &self.manifest.watermark
    }

    /// What the data is as of: the newest `fetched_at` of the winning snapshots, `None` when
    /// there are none.
    #[must_use]
    pub fn as_of(&self) -> Option<FetchedAt> {
        self.as_of
    }

    /// The names of the tables, then the views, in the order of `TABLE_NAMES` and
    /// `VIEW_NAMES`.
    pub fn names() -> impl Iterator<Item = &'static str> {
        TABLE_NAMES.into_iter().chain(VIEW_NAMES)
    }

    /// Whether `name` is one of the five tables.
    #[must_use]
    pub fn is_table(name: &str) -> bool {
        TABLE_NAMES.contains(&name)
    }

    /// Whether `name` is one of the four views.
    #[must_use]
    pub fn is_view(name: &str) -> bool {
        VIEW_NAMES.contains(&name)
    }

    /// Table or view `name` as one record batch, or `None` for any other name.
    #[must_use]
    pub fn batch(&self, name: &str) -> Option<&RecordBatch> {
        self.batches.get(name)
    }

    /// The rows of view `name` (one of `VIEW_NAMES`) in the view's order, or `None` for any
    /// other name.
    #[must_use]
    pub fn view(&self, name: &str) -> Option<&[Row]> {
        self.view_rows.get(name).map(Vec::as_slice)
    }

    /// Checks the rows of every table and view against those the manifest records: a
    /// difference means the snapshots are not the ones the batch computed its view from.
    fn check_against_manifest(&self) -> Result<(), ServingError> {
        for (name, batch) in CurrentState::names().filter_map(|n| Some((n, self.batch(n)?))) {
            let found = batch.num_rows() as u64;
            match self.manifest.rows.get(name) {
                Some(&expected) if expected != found => {
                    return Err(ServingError::RowCount {
                        name,
                        version: self.manifest.version,
                        found,
                        expected,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The rows of `batch` as JSON objects, in order, with nulls kept as `null`.
///
/// # Errors
///
/// When Arrow cannot write a column as JSON.
pub fn json_rows(batch: &RecordBatch) -> Result<Vec<Row>, ArrowError> {
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::new());
    writer.write(batch)?;
    writer.finish()?;

    let json = writer.into_inner();
    if json.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&json)
        .map_err(|e| ArrowError::JsonError(format!("arrow wrote JSON that is not rows: {e}")))
}

/// The error records and rejected lines listed in `data_quality`; its orphan rows are left
/// out, as [`Views::compute`] finds them again.
fn issues_from(version: u64, quality: &[RecordBatch]) -> Result<Vec<Issue>, ServingError> {
    let issue_error = |detail: String| ServingError::Issues { version, detail };
    let mut issues = Vec::new();
    for batch in quality {
        let rows = json_rows(batch).map_err(|e| issue_error(e.to_string()))?;
        for row in &rows {
            if let Some(issue) = issue_of(row).map_err(&issue_error)? {
                issues.push(issue);
            }
        }
    }
    Ok(issues)
}

/// The issue a `data_quality` row lists, `None` for an orphan row.
fn issue_of(row: &Row) -> Result<Option<Issue>, String> {
    let text = |column: &str| row.get(column).and_then(Value::as_str).map(str::to_owned);
    let required = |column: &str| text(column).ok_or_else(|| format!("a row without {column}"));

    let category = required("category")?;
    let Some(category) = [Category::Error, Category::Rejected]
        .into_iter()
        .find(|c| c.as_str() == category)
    else {
        return Ok(None);
    };
    let line = row
        .get("line")
        .and_then(Value::as_u64)
        .ok_or("an error or rejected row without a line")?;
    Ok(Some(Issue {
        category,
        kind: required("kind")?,
        endpoint: text("endpoint"),
        record_id: text("record_id"),
        object: required("object")?,
        line,
        detail: required("detail")?,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixture::{self, Fixture};

    #[tokio::test]
    async fn loads_every_table_and_view_with_nulls_kept() {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;

        let state = CurrentState::load(&fixture.store).await.unwrap();

        assert_eq!(state.version(), fixture::VERSION);
        for name in CurrentState::names() {
            assert!(state.batch(name).is_some(), "{name} is loaded");
        }
        assert_eq!(state.batch("models").unwrap().num_rows(), 4);
        assert!(state.view("makes").is_none(), "tables are not views");
        let bodies = state.view("body_style_counts").unwrap();
        assert!(
            bodies.contains(&json_row(json!({"body": null, "styles": 1}))),
            "{bodies:?}"
        );
        assert_eq!(
            state.as_of(),
            Some(FetchedAt::from_unix_millis(fixture::FETCHED_AT))
        );
    }

    #[tokio::test]
    async fn the_issues_come_back_from_data_quality() {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;

        let state = CurrentState::load(&fixture.store).await.unwrap();

        let expected = Views::compute(&fixture::tables(), &fixture::issues());
        let quality = expected.to_record_batches().unwrap().pop().unwrap().1;
        assert_eq!(state.batch("data_quality"), Some(&quality));
    }

    #[tokio::test]
    async fn snapshots_that_disagree_with_the_manifest_are_named() {
        let fixture = Fixture::publish(fixture::tables(), &[]).await;
        fixture.overwrite_snapshots(&fixture::clean_tables()).await;

        let error = CurrentState::load(&fixture.store).await.unwrap_err();

        let message = error.to_string();
        assert!(
            matches!(error, ServingError::RowCount { name: "makes", .. }),
            "{message}"
        );
        assert!(message.contains("`makes` of batch v3"), "{message}");
    }

    #[tokio::test]
    async fn with_nothing_published_the_error_says_to_run_the_batch() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().to_str().unwrap()).await.unwrap();

        let error = CurrentState::load(&store).await.unwrap_err();

        assert!(
            error.to_string().contains("run `carlambda batch`"),
            "{error}"
        );
    }

    fn json_row(value: Value) -> Row {
        match value {
            Value::Object(row) => row,
            other => panic!("not a row: {other}"),
        }
    }
}
