//! The batch path end to end on the recorded Edmunds data: import, batch, publish.

mod common;

use std::path::Path;

use common::{carlambda, everything, manifest, matching, read_rows, recorded_data};
use serde_json::Value;

fn store_in(dir: &Path) -> String {
    dir.join("store").display().to_string()
}

#[test]
fn the_recorded_data_gives_the_catalog_and_its_details() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    let recorded = recorded_data();
    carlambda(dir.path(), &store, &["import", recorded.to_str().unwrap()]);
    let summary = carlambda(dir.path(), &store, &["batch", "--workers", "2"]);
    assert!(summary.contains("model_years 8101"), "{summary}");

    let rows = manifest(&store).rows;
    assert_eq!(
        (rows["makes"], rows["models"], rows["model_years"]),
        (62, 1124, 8101)
    );

    let counts = read_rows(&store, "model_year_counts");
    assert_eq!(
        matching(&counts, "model_id", "BMW_3_Series")[0]["years"],
        28
    );
    let styles = read_rows(&store, "styles");
    let years = read_rows(&store, "model_years");
    assert_eq!(matching(&styles, "model_id", "Lexus_RX_350").len(), 29);
    assert_eq!(matching(&years, "model_id", "Lexus_RX_350").len(), 11);

    let quality = read_rows(&store, "data_quality");
    let api_errors = matching(&quality, "kind", "api");
    assert_eq!(api_errors.len(), 1, "{quality:?}");
    assert!(
        api_errors[0]["detail"]
            .as_str()
            .unwrap()
            .contains("Style ID is not valid")
    );
    assert!(
        api_errors[0]["object"]
            .as_str()
            .unwrap()
            .starts_with("raw/")
    );
    assert!(api_errors[0]["line"].is_number());

    let page_path = carlambda(dir.path(), &store, &["publish"]);
    let page = std::fs::read_to_string(page_path.trim()).unwrap();
    assert!(page.contains("BMW_3_Series") && page.contains("Styles per body type"));
}

#[test]
fn nine_legacy_polls_of_the_hummer_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    let pretty =
        std::fs::read_to_string(recorded_data().join("responses/am-general__hummer.json")).unwrap();
    let mut response: serde_json::Map<String, Value> = serde_json::from_str(&pretty).unwrap();
    let mut legacy = String::new();
    for poll in 0..9 {
        response.insert(
            "time_stamp".into(),
            (1_488_433_069.071_519 + 3600.0 * f64::from(poll)).into(),
        );
        legacy.push_str(&serde_json::to_string(&response).unwrap());
        legacy.push('\n');
    }
    let object = dir.path().join("firehose-object");
    std::fs::write(&object, legacy).unwrap();

    let imported = carlambda(dir.path(), &store, &["import", object.to_str().unwrap()]);
    assert!(imported.contains("9 records"), "{imported}");
    carlambda(dir.path(), &store, &["batch"]);

    assert_eq!(manifest(&store).counts.snapshots, 9);
    let years = read_rows(&store, "model_years");
    let styles = read_rows(&store, "styles");
    assert_eq!(matching(&years, "model_id", "AM_General_Hummer").len(), 3);
    assert_eq!(matching(&styles, "model_id", "AM_General_Hummer").len(), 13);
    let counts = read_rows(&store, "body_style_counts");
    assert_eq!(matching(&counts, "body", "SUV")[0]["styles"], 13);
}

#[test]
fn importing_the_same_responses_again_changes_no_table_or_view() {
    let dir = tempfile::tempdir().unwrap();
    let (once, twice) = (dir.path().join("once"), dir.path().join("twice"));
    let (once, twice) = (once.to_str().unwrap(), twice.to_str().unwrap());
    let responses = recorded_data().join("responses");
    let rx350 = responses.join("lexus__rx350.json");
    let args = ["--fetched-at", "2017-03-02T05:00:00Z"];

    let import = |store: &str, path: &Path| {
        let mut all = vec!["import", path.to_str().unwrap()];
        all.extend(args);
        carlambda(dir.path(), store, &all)
    };
    import(once, &responses);
    import(twice, &rx350);
    let again = import(twice, &responses);
    import(twice, &responses);
    assert!(
        again.contains("wrote"),
        "a second object holds the RX 350 again: {again}"
    );

    carlambda(dir.path(), once, &["batch"]);
    carlambda(dir.path(), twice, &["batch"]);
    assert_eq!(manifest(twice).counts.objects, 2);
    assert_eq!(everything(once), everything(twice));
}

#[test]
fn bad_input_is_counted_where_it_was_found_and_loses_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    let input = dir.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let rx350 =
        std::fs::read_to_string(recorded_data().join("responses/lexus__rx350.json")).unwrap();
    let files = [
        ("good.json", rx350.clone()),
        ("truncated.json", rx350[..rx350.len() / 2].to_owned()),
        ("empty.json", String::new()),
        (
            "wrong-types.json",
            r#"{"id": "Acme_Z", "years": [{"id": 1, "year": "2011"}]}"#.to_owned(),
        ),
        (
            "error.json",
            r#"{"errorType": "NOT_FOUND", "message": "No such model", "status": "NOT_FOUND"}"#
                .to_owned(),
        ),
        (
            "lines.ndjson",
            "{\"time_stamp\": 1.5, \"id\": \"Acme_Y\", \"years\": []}\nthis is not json\n"
                .to_owned(),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(input.join(name), text).unwrap();
    }
    carlambda(dir.path(), &store, &["import", input.to_str().unwrap()]);

    // An object dropped into the master dataset by another writer: a time past year 9999, and
    // a line cut off.
    let foreign = Path::new(&store).join("raw/2017/03/02/05/foreign.ndjson");
    std::fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    let far_future = r#"{"time_stamp": 300000000000.0, "id": "Acme_F", "years": []}"#;
    let cut_off = r#"{"time_stamp": 2.5, "id": "Acme_X", "years": [{"id": 9, "ye"#;
    std::fs::write(&foreign, format!("{far_future}\n{cut_off}")).unwrap();

    carlambda(dir.path(), &store, &["batch"]);
    let quality = read_rows(&store, "data_quality");
    let kinds = |category: &str| -> Vec<String> {
        let mut kinds: Vec<String> = matching(&quality, "category", category)
            .iter()
            .map(|row| row["kind"].as_str().unwrap().to_owned())
            .collect();
        kinds.sort();
        kinds
    };
    assert_eq!(
        kinds("error"),
        ["api", "invalid-json", "invalid-json"],
        "{quality:#?}"
    );
    let rejected = ["empty-body", "not-json", "unknown-line", "wrong-shape"];
    assert_eq!(kinds("rejected"), rejected, "{quality:#?}");
    let foreign_row = &matching(&quality, "kind", "not-json")[0];
    assert_eq!(foreign_row["object"], "raw/2017/03/02/05/foreign.ndjson");
    assert_eq!(foreign_row["line"], 2);

    let years = read_rows(&store, "model_years");
    assert_eq!(
        matching(&years, "model_id", "Lexus_RX_350").len(),
        11,
        "good data kept"
    );
    assert_eq!(
        matching(&read_rows(&store, "models"), "model_id", "Acme_Y").len(),
        1
    );
    let counts = manifest(&store).counts;
    assert_eq!((counts.errors, counts.rejected), (3, 4));
}

#[test]
fn a_batch_of_an_empty_or_missing_store_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let batch = |store: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_carlambda"))
            .current_dir(dir.path())
            .args(["--store", store, "batch"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };

    let empty = batch("empty");
    assert!(
        empty.contains("no raw records") && empty.contains("carlambda archive --drain"),
        "{empty}"
    );
    let missing = batch("emtpy");
    assert!(missing.contains("no such folder"), "{missing}");
    assert!(
        !dir.path().join("emtpy").exists(),
        "a batch creates no store"
    );
}

/// Reads every table's Parquet files with pyarrow and prints `{table: [columns, rows]}`.
const PYARROW_READER: &str = r#"
import json, pathlib, sys
import pyarrow.parquet as pq
version = (pathlib.Path(sys.argv[1]) / "batch" / "CURRENT").read_text().strip()
out = {}
for table in sys.argv[2:]:
    data = pq.read_table(pathlib.Path(sys.argv[1]) / "batch" / version / table)
    out[table] = [data.column_names, data.num_rows]
print(json.dumps(out))
"#;

#[test]
#[ignore = "needs pyarrow: run scripts/test"]
fn an_independent_reader_sees_the_tables_of_the_design() {
    let python = std::env::var("CARLAMBDA_PYTHON").expect("CARLAMBDA_PYTHON has pyarrow");
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    carlambda(
        dir.path(),
        &store,
        &["import", recorded_data().to_str().unwrap()],
    );
    carlambda(dir.path(), &store, &["batch"]);

    let tables = carlambda_schemas::arrow::TABLE_NAMES;
    let output = std::process::Command::new(python)
        .args(["-c", PYARROW_READER, &store])
        .args(tables)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: serde_json::Map<String, Value> = serde_json::from_slice(&output.stdout).unwrap();

    let traced = ["record_id", "fetched_at"];
    let expected: [(&str, &[&str]); 5] = [
        ("makes", &["make_id", "name", "nice_name"]),
        ("models", &["model_id", "make_id", "name", "nice_name"]),
        ("model_years", &["model_year_id", "model_id", "year"]),
        (
            "submodels",
            &["model_id", "nice_name", "body", "model_name"],
        ),
        (
            "styles",
            &[
                "style_id",
                "model_year_id",
                "model_id",
                "submodel_nice_name",
                "name",
                "trim",
            ],
        ),
    ];
    let rows = manifest(&store).rows;
    for (table, columns) in expected {
        let columns: Vec<&str> = columns.iter().chain(&traced).copied().collect();
        assert_eq!(
            read[table][0],
            serde_json::json!(columns),
            "columns of {table}"
        );
        assert_eq!(read[table][1], rows[table], "rows of {table}");
    }
}
