//! A small published batch view in a temporary folder, shared by the tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use carlambda_batch::layout::{self, Counts, Manifest, Watermark};
use carlambda_batch::snapshots;
use carlambda_schemas::FetchedAt;
use carlambda_schemas::rows::{
    MakeRow, ModelRow, ModelYearRow, SnapshotRows, StyleRow, SubmodelRow, Traced,
};
use carlambda_store::Store;
use carlambda_views::{Category, Issue, Snapshot, Tables, Views, Winners};
use tempfile::TempDir;

/// The version the fixture publishes.
pub const VERSION: u64 = 3;

/// When every snapshot of the fixture was fetched.
pub const FETCHED_AT: i64 = 1_488_430_800_000;

/// A make name that would run script if the page did not escape it.
pub const HOSTILE_MAKE: &str = "<script>alert(1)</script> & \"Quoted\" 'Motors'";

/// A store holding one published batch view; the folder lives as long as the fixture.
pub struct Fixture {
    pub store: Store,
    _folder: TempDir,
}

impl Fixture {
    /// Publishes version [`VERSION`] of `tables` and `issues`: the winning snapshots that give
    /// `tables`, every table and view, and a manifest with their rows.
    pub async fn publish(tables: Tables, issues: &[Issue]) -> Fixture {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().to_str().unwrap()).await.unwrap();
        let fixture = Fixture {
            store,
            _folder: folder,
        };

        let views = Views::compute(&tables, issues);
        let mut batches = tables.to_record_batches().unwrap();
        batches.extend(views.to_record_batches().unwrap());
        let mut rows = BTreeMap::new();
        for (name, batch) in &batches {
            fixture.put_parquet(name, batch).await;
            rows.insert((*name).to_owned(), batch.num_rows() as u64);
        }
        fixture.overwrite_snapshots(&tables).await;

        let manifest = manifest(rows);
        let body = serde_json::to_vec_pretty(&manifest).unwrap();
        let key = layout::manifest_key(VERSION);
        fixture
            .store
            .put(&key, body.into(), "application/json")
            .await
            .unwrap();
        layout::publish(&fixture.store, VERSION).await.unwrap();
        fixture
    }

    /// Replaces the winning snapshots with one that gives `tables`.
    pub async fn overwrite_snapshots(&self, tables: &Tables) {
        let batch = snapshots::to_record_batch(&winners(tables)).unwrap();
        self.put_parquet(snapshots::NAME, &batch).await;
    }

    async fn put_parquet(&self, name: &str, batch: &RecordBatch) {
        let key = layout::part_key(VERSION, name);
        let bytes = layout::parquet_bytes(&key, batch).unwrap();
        self.store
            .put(&key, bytes, "application/vnd.apache.parquet")
            .await
            .unwrap();
    }
}

/// One catalog snapshot holding every row of `tables`, so that the current tables of the
/// winners are `tables`.
pub fn winners(tables: &Tables) -> Winners {
    let snapshot = Snapshot {
        scope: "catalog".parse().unwrap(),
        record_id: Arc::from("rec-1"),
        fetched_at: FetchedAt::from_unix_millis(FETCHED_AT),
        rows: SnapshotRows {
            makes: untraced(&tables.makes),
            models: untraced(&tables.models),
            model_years: untraced(&tables.model_years),
            submodels: untraced(&tables.submodels),
            styles: untraced(&tables.styles),
        }
        .into(),
    };
    [snapshot].into_iter().collect()
}

fn untraced<T: Clone>(table: &[Traced<T>]) -> Vec<T> {
    table.iter().map(|traced| traced.row.clone()).collect()
}

/// The watermark of the fixture's batch: one shard, read to sequence number 7.
pub fn watermark() -> Watermark {
    Watermark {
        shards: [("shard-0".to_owned(), 7.into())].into(),
        last_object: Some("raw/2017/03/02/06/b.ndjson".into()),
    }
}

fn manifest(rows: BTreeMap<String, u64>) -> Manifest {
    Manifest {
        version: VERSION,
        created_at: "2024-05-06T07:08:09.123Z".into(),
        watermark: watermark(),
        objects: vec![
            "raw/2017/03/02/05/a.ndjson".into(),
            "raw/2017/03/02/06/b.ndjson".into(),
        ],
        counts: Counts {
            objects: 2,
            bytes: 4096,
            records: 11,
            snapshots: 7,
            errors: 3,
            rejected: 1,
            scopes: 6,
        },
        rows,
        oldest_fetched_at: Some("2017-03-02T05:00:00.000Z".into()),
        newest_fetched_at: Some("2017-03-02T06:30:00.000Z".into()),
        seconds: 0.25,
    }
}

fn traced<T>(row: T) -> Traced<T> {
    Traced {
        row,
        record_id: Arc::from("rec-1"),
        fetched_at: FetchedAt::from_unix_millis(FETCHED_AT),
    }
}

fn make(make_id: i64, name: &str) -> Traced<MakeRow> {
    traced(MakeRow {
        make_id,
        name: Some(name.into()),
        nice_name: None,
    })
}

fn model(model_id: &str, make_id: Option<i64>, name: &str) -> Traced<ModelRow> {
    traced(ModelRow {
        model_id: model_id.into(),
        make_id,
        name: Some(name.into()),
        nice_name: None,
    })
}

fn model_year(model_id: &str, year: i32) -> Traced<ModelYearRow> {
    let model_year_id = i64::from(year) * 1000 + model_id.len() as i64;
    traced(ModelYearRow {
        model_id: model_id.into(),
        year,
        model_year_id,
    })
}

fn style(style_id: i64, of: &Traced<ModelYearRow>, submodel: Option<&str>) -> Traced<StyleRow> {
    traced(StyleRow {
        style_id,
        model_id: of.row.model_id.clone(),
        model_year_id: of.row.model_year_id,
        submodel: submodel.map(Into::into),
        name: None,
        trim: None,
    })
}

fn submodel(model_id: &str, nice_name: &str, body: &str) -> Traced<SubmodelRow> {
    traced(SubmodelRow {
        model_id: model_id.into(),
        nice_name: nice_name.into(),
        body: Some(body.into()),
        model_name: None,
    })
}

/// Two makes (one with a hostile name), four models (one without a make), styles with and
/// without a known body.
pub fn tables() -> Tables {
    let model_years = vec![
        model_year("Lexus_RX_350", 2015),
        model_year("Lexus_RX_350", 2016),
        model_year("Lexus_RX_350", 2017),
        model_year("Lexus_IS_250", 2016),
        model_year("Evil_Roadster", 2017),
        model_year("Mystery_Van", 2010),
    ];
    let styles = vec![
        style(101, &model_years[0], Some("suv")),
        style(102, &model_years[1], Some("suv")),
        style(103, &model_years[3], Some("sedan")),
        style(104, &model_years[4], None),
    ];
    Tables {
        makes: vec![make(1, "Lexus"), make(2, HOSTILE_MAKE)],
        models: vec![
            model("Lexus_RX_350", Some(1), "RX 350"),
            model("Lexus_IS_250", Some(1), "IS 250"),
            model("Evil_Roadster", Some(2), "Roadster"),
            model("Mystery_Van", None, "Van"),
        ],
        model_years,
        submodels: vec![
            submodel("Lexus_RX_350", "suv", "SUV"),
            submodel("Lexus_IS_250", "sedan", "Sedan"),
        ],
        styles,
    }
}

/// An error record of `kind` from `endpoint`, found on `line` of a raw object.
pub fn error(kind: &str, endpoint: &str, line: u64) -> Issue {
    Issue {
        category: Category::Error,
        kind: kind.into(),
        endpoint: Some(endpoint.into()),
        record_id: Some(format!("err-{line}")),
        object: "raw/2017/03/02/05/a.ndjson".into(),
        line,
        detail: format!("{kind} calling {endpoint}"),
    }
}

/// Two timeouts on one endpoint, an API error on another, and a rejected line.
pub fn issues() -> Vec<Issue> {
    vec![
        error("timeout", "/api/vehicle/v2/lexus/rx350", 2),
        error("timeout", "/api/vehicle/v2/lexus/rx350", 5),
        error("api", "/api/vehicle/v2/lexus/is250", 7),
        Issue {
            category: Category::Rejected,
            kind: "not-json".into(),
            endpoint: None,
            record_id: None,
            object: "raw/2017/03/02/06/b.ndjson".into(),
            line: 4,
            detail: "expected value at line 1 column 1".into(),
        },
    ]
}

/// Tables with nothing wrong in them: one make, one model, one style.
pub fn clean_tables() -> Tables {
    let year = model_year("Lexus_RX_350", 2017);
    Tables {
        makes: vec![make(1, "Lexus")],
        models: vec![model("Lexus_RX_350", Some(1), "RX 350")],
        styles: vec![style(101, &year, Some("suv"))],
        model_years: vec![year],
        submodels: vec![submodel("Lexus_RX_350", "suv", "SUV")],
    }
}

/// Tables with `models` models of one make, model `i` having `i + 1` model years.
pub fn many_models(models: usize) -> Tables {
    let mut tables = Tables {
        makes: vec![make(1, "Lexus")],
        ..Tables::default()
    };
    for i in 0..models {
        let model_id = format!("Lexus_M{i:02}");
        tables
            .models
            .push(model(&model_id, Some(1), &format!("M{i:02}")));
        for year in 0..=i {
            tables
                .model_years
                .push(model_year(&model_id, 1990 + year as i32));
        }
    }
    tables
}
