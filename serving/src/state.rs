//! The current state serving reads: every table and view, computed by the rules of "current"
//! from the winning snapshots of the published batch view merged with the speed view.

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::error::ArrowError;
use arrow::json::WriterBuilder;
use arrow::json::writer::JsonArray;
use arrow::record_batch::RecordBatch;
use carlambda_batch::layout::{self, Manifest, Watermark};
use carlambda_batch::snapshots;
use carlambda_schemas::FetchedAt;
use carlambda_schemas::arrow::TABLE_NAMES;
use carlambda_speed::SpeedView;
use carlambda_store::Store;
use carlambda_stream::Position;
use carlambda_views::{
    Category, Issue, LayerView, VIEW_NAMES, Views, Winners, current_tables, merge,
};
use serde_json::{Map, Value};
use tracing::debug;

use crate::ServingError;

/// One row of a table or view: column name to value, every column present, nulls as `null`.
pub type Row = Map<String, Value>;

/// The published batch view as serving merges it: its manifest, each scope's winning snapshot
/// with its rows, and the error and rejected records it found.
#[derive(Clone, Debug)]
pub struct BatchView {
    manifest: Manifest,
    layer: LayerView,
}

impl BatchView {
    /// Loads the published batch view of `store`: its winning snapshots and the error and
    /// rejected records of its `data_quality`.
    ///
    /// # Errors
    ///
    /// [`ServingError::Published`] when no batch view is published (the message says to run
    /// `carlambda batch`) or its manifest cannot be read; [`ServingError::Read`] when its
    /// snapshots or `data_quality` cannot be read; [`ServingError::RowCount`] when the tables
    /// rebuilt from its snapshots disagree with the manifest.
    pub async fn load(store: &Store) -> Result<BatchView, ServingError> {
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

        let batch = BatchView {
            manifest,
            layer: LayerView { winners, issues },
        };
        batch.check_against_manifest()?;
        debug!(
            store = %store.describe(),
            version,
            scopes = batch.layer.winners.len(),
            "loaded the batch view"
        );
        Ok(batch)
    }

    /// The batch version.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.manifest.version
    }

    /// Checks the rows of every table rebuilt from the snapshots against those the manifest
    /// records: a difference means the snapshots are not the ones the batch computed its view
    /// from.
    fn check_against_manifest(&self) -> Result<(), ServingError> {
        let tables = current_tables(&self.layer.winners);
        let arrow_error = |source| ServingError::Arrow {
            name: "tables",
            source,
        };
        for (name, batch) in tables.to_record_batches().map_err(arrow_error)? {
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

/// What the speed view adds to the batch view: the facts the page and the metrics show.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpeedFacts {
    /// Scopes whose winning snapshot the speed view holds.
    pub scopes: usize,
    /// Records read from the stream after the batch watermark.
    pub records_since_watermark: u64,
    /// The newest `fetched_at` the speed view has seen.
    pub newest_fetched_at: Option<FetchedAt>,
    /// Whether the speed view was computed against an earlier batch version than the one
    /// served, its worker not having taken the new one in yet: its counts are since that
    /// earlier batch's watermark. The merge is right either way, as both hold the records in
    /// between and the newer snapshot of a scope wins wherever it is.
    pub behind_batch: bool,
}

impl SpeedFacts {
    fn of(view: &SpeedView, batch: &Watermark) -> SpeedFacts {
        SpeedFacts {
            scopes: view.winners.len(),
            records_since_watermark: view.records_since_watermark,
            newest_fetched_at: view.newest_fetched_at,
            behind_batch: reaches_past(&batch.shards, &view.covered),
        }
    }

    /// The speed lag at `now`: how long ago the newest response the speed view has seen was
    /// fetched. `None` when it has seen none.
    #[must_use]
    pub fn lag(&self, now: FetchedAt) -> Option<Duration> {
        let newest = self.newest_fetched_at?;
        let millis = (now.unix_millis() - newest.unix_millis()).max(0);
        Some(Duration::from_millis(millis.unsigned_abs()))
    }
}

/// The current state of the catalog as serving sees it: the five tables and four views as
/// Arrow record batches, and where they come from.
///
/// This is the one way serving reads the current state: the query command, the HTTP server and
/// the page all take a `CurrentState`.
#[derive(Clone, Debug)]
pub struct CurrentState {
    manifest: Manifest,
    as_of: Option<FetchedAt>,
    batch_as_of: Option<FetchedAt>,
    speed: Option<SpeedFacts>,
    batches: BTreeMap<&'static str, RecordBatch>,
    view_rows: BTreeMap<&'static str, Vec<Row>>,
}

impl CurrentState {
    /// Loads the published batch view of `store` and its published speed view, if any, and
    /// merges them (see [`CurrentState::merged`]).
    ///
    /// # Errors
    ///
    /// The errors of [`BatchView::load`] and of [`CurrentState::merged`], and
    /// [`ServingError::Speed`] when the speed view cannot be read.
    pub async fn load(store: &Store) -> Result<CurrentState, ServingError> {
        let mut batch = BatchView::load(store).await?;
        let speed = carlambda_speed::read_view(store).await?;
        if speed
            .as_ref()
            .is_some_and(|speed| speed_is_ahead_of(speed, &batch))
        {
            // A batch version was published between the two reads.
            batch = BatchView::load(store).await?;
        }
        CurrentState::merged(&batch, speed.as_ref())
    }

    /// The state of `batch` merged with `speed`: per scope the newer winner of the two, the
    /// issues of both (each record once), then the tables by [`current_tables`] and the views
    /// by [`Views::compute`], exactly as the batch computes them.
    ///
    /// # Errors
    ///
    /// [`ServingError::Arrow`] when a table or view cannot be built as Arrow or JSON.
    pub fn merged(
        batch: &BatchView,
        speed: Option<&SpeedView>,
    ) -> Result<CurrentState, ServingError> {
        let batch_as_of = newest(&batch.layer.winners);
        let layer = match speed {
            Some(speed) => merge(batch.layer.clone(), speed.clone().into_layer()),
            None => batch.layer.clone(),
        };
        let tables = current_tables(&layer.winners);
        let views = Views::compute(&tables, &layer.issues);
        let arrow_error = |name: &'static str| move |source| ServingError::Arrow { name, source };

        let mut batches = BTreeMap::new();
        batches.extend(tables.to_record_batches().map_err(arrow_error("tables"))?);
        let mut view_rows = BTreeMap::new();
        for (name, batch) in views.to_record_batches().map_err(arrow_error("views"))? {
            view_rows.insert(name, json_rows(&batch).map_err(arrow_error(name))?);
            batches.insert(name, batch);
        }

        Ok(CurrentState {
            manifest: batch.manifest.clone(),
            as_of: newest(&layer.winners),
            batch_as_of,
            speed: speed.map(|speed| SpeedFacts::of(speed, &batch.manifest.watermark)),
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

    /// What the batch view alone is as of: the newest `fetched_at` of its winning snapshots.
    #[must_use]
    pub fn batch_as_of(&self) -> Option<FetchedAt> {
        self.batch_as_of
    }

    /// What the speed view adds, `None` when no speed view is published.
    #[must_use]
    pub fn speed(&self) -> Option<&SpeedFacts> {
        self.speed.as_ref()
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
}

/// Whether `position` reaches past `other` in some shard: further in it, or in a shard
/// `other` has not reached at all.
fn reaches_past(position: &Position, other: &Position) -> bool {
    position
        .iter()
        .any(|(shard, sequence)| other.get(shard).is_none_or(|reached| reached < sequence))
}

/// Whether `speed` was computed against a later batch version than `batch`: merging the two
/// would leave out the records between their watermarks, which neither holds.
#[must_use]
pub fn speed_is_ahead_of(speed: &SpeedView, batch: &BatchView) -> bool {
    reaches_past(&speed.covered, &batch.manifest.watermark.shards)
}

/// The newest `fetched_at` of `winners`.
fn newest(winners: &Winners) -> Option<FetchedAt> {
    winners.snapshots().map(|s| s.fetched_at).max()
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
    use carlambda_schemas::rows::{ModelRow, ModelYearRow, SnapshotRows, StyleRow};
    use carlambda_views::Snapshot;
    use serde_json::json;

    use super::*;
    use crate::fixture::{self, Fixture};

    #[test]
    fn a_speed_view_of_an_earlier_batch_is_told_apart() {
        let position = |shards: &[(&str, u64)]| {
            shards
                .iter()
                .map(|&(shard, sequence)| (shard.to_owned(), sequence.into()))
                .collect()
        };
        let batch = Watermark {
            shards: position(&[("shard-0", 10), ("shard-1", 3)]),
            last_object: None,
        };
        let behind = |covered: &[(&str, u64)]| {
            let view = SpeedView {
                covered: position(covered),
                ..SpeedView::default()
            };
            SpeedFacts::of(&view, &batch).behind_batch
        };

        assert!(behind(&[]), "a view of no batch");
        assert!(behind(&[("shard-0", 4), ("shard-1", 3)]));
        assert!(
            behind(&[("shard-0", 10)]),
            "a shard the view has not seen covered"
        );
        assert!(!behind(&[("shard-0", 10), ("shard-1", 3)]));
        assert!(
            !behind(&[("shard-0", 12), ("shard-1", 3)]),
            "a newer batch than served"
        );
        let ahead = position(&[("shard-0", 12), ("shard-1", 3)]);
        assert!(
            reaches_past(&ahead, &batch.shards),
            "a view ahead of the batch"
        );
        assert!(
            !reaches_past(&batch.shards, &batch.shards),
            "the same watermark"
        );
    }

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

    /// A speed view with a newer snapshot of model `Lexus_RX_350`: model years 2017 and 2018,
    /// and one style.
    fn newer_rx_350() -> SpeedView {
        let rows = SnapshotRows {
            models: vec![ModelRow {
                model_id: "Lexus_RX_350".into(),
                make_id: None,
                name: Some("RX 350".into()),
                nice_name: Some("rx-350".into()),
            }],
            model_years: [2017, 2018]
                .map(|year| ModelYearRow {
                    model_id: "Lexus_RX_350".into(),
                    year,
                    model_year_id: i64::from(year),
                })
                .into(),
            styles: vec![StyleRow {
                style_id: 900,
                model_id: "Lexus_RX_350".into(),
                model_year_id: 2018,
                submodel: Some("suv".into()),
                name: None,
                trim: None,
            }],
            ..SnapshotRows::default()
        };
        let snapshot = Snapshot {
            scope: "model:Lexus_RX_350".parse().unwrap(),
            record_id: "rec-speed".into(),
            fetched_at: FetchedAt::from_unix_millis(fixture::FETCHED_AT + 60_000),
            rows: rows.into(),
        };
        SpeedView {
            newest_fetched_at: Some(snapshot.fetched_at),
            winners: [snapshot].into_iter().collect(),
            records_since_watermark: 2,
            ..SpeedView::default()
        }
    }

    #[tokio::test]
    async fn a_published_speed_view_is_merged_with_the_batch_view() {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;
        carlambda_speed::publish_view(&fixture.store, &newer_rx_350())
            .await
            .unwrap();

        let state = CurrentState::load(&fixture.store).await.unwrap();

        let years = |state: &CurrentState| {
            let rows = json_rows(state.batch("model_years").unwrap()).unwrap();
            let mut years: Vec<(String, i64)> = rows
                .iter()
                .map(|r| {
                    (
                        r["model_id"].as_str().unwrap().into(),
                        r["year"].as_i64().unwrap(),
                    )
                })
                .filter(|(model, _)| model == "Lexus_RX_350")
                .collect();
            years.sort();
            years
        };
        let rx = |year| ("Lexus_RX_350".to_owned(), year);
        // The fixture's catalog snapshot lists 2015 to 2017; the speed view's model snapshot
        // adds 2018.
        assert_eq!(years(&state), [rx(2015), rx(2016), rx(2017), rx(2018)]);
        let models = json_rows(state.batch("models").unwrap()).unwrap();
        let rx_350 = models
            .iter()
            .find(|r| r["model_id"] == "Lexus_RX_350")
            .unwrap();
        assert_eq!(
            rx_350["make_id"], 1,
            "the make comes from the batch's catalog (rule 3)"
        );
        assert_eq!(
            state.speed().unwrap().records_since_watermark,
            2,
            "the speed facts are kept"
        );
        assert_eq!(
            state.batch_as_of(),
            Some(FetchedAt::from_unix_millis(fixture::FETCHED_AT))
        );
        assert_eq!(state.as_of(), newer_rx_350().newest_fetched_at);

        let batch = BatchView::load(&fixture.store).await.unwrap();
        let alone = CurrentState::merged(&batch, None).unwrap();
        assert_eq!(years(&alone), [rx(2015), rx(2016), rx(2017)]);
        assert!(alone.speed().is_none());
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
