//! The current state serving reads: the manifest and the views of the published batch view.

use std::collections::BTreeMap;

use arrow::error::ArrowError;
use arrow::json::WriterBuilder;
use arrow::json::writer::JsonArray;
use arrow::record_batch::RecordBatch;
use carlambda_batch::layout::{self, Manifest};
use carlambda_store::Store;
use carlambda_views::VIEW_NAMES;
use serde_json::{Map, Value};
use tracing::info;

use crate::ServingError;

/// One row of a view: column name to value, with every column present and nulls as `null`.
pub type Row = Map<String, Value>;

/// The current state of the catalog as serving sees it: the views, row by row, and the manifest
/// of the batch view they come from.
///
/// This is the one way serving reads the current state.
// LIMITATION: today this is the published batch view alone; records that arrived after its
// watermark are not shown until the speed view is merged in here.
#[derive(Clone, Debug)]
pub struct CurrentState {
    manifest: Manifest,
    views: BTreeMap<&'static str, Vec<Row>>,
}

impl CurrentState {
    /// Loads the published batch view from `store`: its manifest and every view of
    /// [`VIEW_NAMES`], each in the row order the batch wrote it.
    ///
    /// # Errors
    ///
    /// [`ServingError::Published`] when no batch view is published (the message says to run
    /// `carlambda batch`) or its manifest cannot be read, and the other variants when a view
    /// cannot be read, converted, or disagrees with the manifest on its number of rows.
    // LIMITATION: every view is held in memory; `data_quality` grows with the error records
    // ever fetched, which is fine for thousands of rows but not for millions.
    pub async fn load(store: &Store) -> Result<CurrentState, ServingError> {
        let manifest = layout::published(store).await?;

        let mut views = BTreeMap::new();
        for name in VIEW_NAMES {
            views.insert(name, read_view(store, &manifest, name).await?);
        }

        let rows: usize = views.values().map(Vec::len).sum();
        info!(
            store = %store.describe(),
            version = manifest.version,
            rows,
            "loaded the current state from the batch view"
        );
        Ok(CurrentState { manifest, views })
    }

    /// The manifest of the batch view this state is built on: its version, when it ran, and
    /// what it read.
    #[must_use]
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The rows of view `name` (one of [`VIEW_NAMES`]), or `None` for any other name.
    #[must_use]
    pub fn view(&self, name: &str) -> Option<&[Row]> {
        self.views.get(name).map(Vec::as_slice)
    }
}

/// Reads view `name` of the manifest's version, checking its rows against the manifest.
async fn read_view(
    store: &Store,
    manifest: &Manifest,
    name: &'static str,
) -> Result<Vec<Row>, ServingError> {
    let version = manifest.version;
    let batches = layout::read_table(store, version, name)
        .await
        .map_err(|e| ServingError::ReadView {
            view: name,
            version,
            source: Box::new(e),
        })?;
    let rows = json_rows(&batches).map_err(|source| ServingError::ConvertView {
        view: name,
        version,
        source,
    })?;

    // A manifest need not list every view; where it does, a different count means the files
    // are not the ones the batch wrote.
    let found = rows.len() as u64;
    match manifest.rows.get(name) {
        Some(&expected) if expected != found => Err(ServingError::RowCount {
            view: name,
            version,
            found,
            expected,
        }),
        _ => Ok(rows),
    }
}

/// The rows of `batches` as JSON objects, in order, with nulls kept as `null`.
fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Row>, ArrowError> {
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::new());
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;

    serde_json::from_slice(&writer.into_inner())
        .map_err(|e| ArrowError::JsonError(format!("arrow wrote JSON that is not rows: {e}")))
}

#[cfg(test)]
mod tests {
    use carlambda_views::Views;
    use serde_json::json;

    use super::*;
    use crate::fixture::{self, Fixture};

    #[tokio::test]
    async fn loads_the_manifest_and_every_view_with_nulls_kept() {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;

        let state = CurrentState::load(&fixture.store).await.unwrap();

        assert_eq!(state.manifest().version, fixture::VERSION);
        for name in VIEW_NAMES {
            assert!(state.view(name).is_some(), "view {name} is loaded");
        }
        assert!(state.view("makes").is_none(), "tables are not views");
        let bodies = state.view("body_style_counts").unwrap();
        assert!(
            bodies.contains(&json_row(json!({"body": null, "styles": 1}))),
            "{bodies:?}"
        );
    }

    #[tokio::test]
    async fn a_view_that_disagrees_with_the_manifest_is_named() {
        let fixture = Fixture::publish(fixture::tables(), &[]).await;
        fixture
            .overwrite_view("make_summary", &Views::default())
            .await;

        let error = CurrentState::load(&fixture.store).await.unwrap_err();

        let message = error.to_string();
        assert!(matches!(
            error,
            ServingError::RowCount {
                view: "make_summary",
                ..
            }
        ));
        assert!(message.contains("`make_summary` of batch v3"), "{message}");
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
