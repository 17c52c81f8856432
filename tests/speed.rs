//! The speed layer end to end on the recorded data: a newer snapshot of the Lexus RX 350 (one
//! style removed, one model year added) reaches the merged view through the stream without a
//! batch; after the next batch the speed view holds nothing for it, and the merged view still
//! shows the change.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Server, carlambda, recorded_data, wait_until};
use serde_json::{Value, json};

const RX_350: &str = "Lexus_RX_350";

/// The style the newer snapshot drops, and the model year and style it adds.
const DROPPED_STYLE: i64 = 401_660_466;
const ADDED_YEAR: i64 = 2018;
const ADDED_STYLE: i64 = 401_999_001;

/// What the merged view says of the RX 350: its model years, and its style ids.
#[derive(Debug, PartialEq, Eq)]
struct Rx350 {
    years: i64,
    styles: BTreeSet<i64>,
}

fn rx_350(server: &Server) -> Rx350 {
    let counts = json(&server.get("/api/views/model_year_counts").2);
    let years = counts["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["model_id"] == RX_350)
        .map_or(0, |row| row["years"].as_i64().unwrap());
    let styles = json(&server.get("/api/tables/styles?limit=1000").2);
    let styles = styles["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["model_id"] == RX_350)
        .map(|row| row["style_id"].as_i64().unwrap())
        .collect();
    Rx350 { years, styles }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The recorded RX 350 response with its first 2017 style dropped and a 2018 model year of one
/// style added, written as a file of its own in `dir`.
fn newer_rx_350(dir: &Path) -> PathBuf {
    let recorded = recorded_data().join("responses/lexus__rx350.json");
    let mut body = json(&std::fs::read_to_string(recorded).unwrap());
    let years = body["years"].as_array_mut().unwrap();
    let latest = years.iter_mut().find(|y| y["year"] == 2017).unwrap();
    let styles = latest["styles"].as_array_mut().unwrap();
    assert_eq!(styles[0]["id"], DROPPED_STYLE);
    styles.remove(0);
    years.push(json!({
        "id": 401_999_000,
        "year": ADDED_YEAR,
        "styles": [{
            "id": ADDED_STYLE,
            "name": "4dr SUV (3.5L 6cyl 8A)",
            "trim": "Base",
            "submodel": {"body": "SUV", "modelName": "RX 350 SUV", "niceName": "suv"}
        }]
    }));
    let folder = dir.join("newer");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("lexus__rx350.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&body).unwrap()).unwrap();
    path
}

/// Whether the published speed view holds a winner for the RX 350.
fn speed_view_holds_the_rx_350(store: &str) -> bool {
    let view = std::fs::read_to_string(Path::new(store).join("speed/view.json")).unwrap();
    view.contains(&format!("\"model:{RX_350}\""))
}

#[test]
fn a_newer_snapshot_is_served_before_the_next_batch_and_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let stream = dir.path().join("stream").display().to_string();
    let recorded = recorded_data();
    let with_stream = |args: &[&str]| {
        let mut all = vec!["--stream", &stream];
        all.extend(args);
        carlambda(dir.path(), &store, &all)
    };
    // The recordings are of March 2017: given their time, a response fetched now is newer.
    with_stream(&[
        "import",
        recorded.to_str().unwrap(),
        "--fetched-at",
        "2017-03-02T05:00:00Z",
    ]);
    with_stream(&["batch", "--workers", "2"]);
    let server = Server::start(
        dir.path(),
        &store,
        &["--stream", &stream, "--speed", "--refresh", "0.2"],
    );
    let batch = rx_350(&server);
    assert_eq!(batch.years, 11);
    assert!(batch.styles.contains(&DROPPED_STYLE));

    let newer = newer_rx_350(dir.path());
    with_stream(&["import", "--to-stream", newer.to_str().unwrap()]);
    let took = wait_until("the newer RX 350 is served", || rx_350(&server) != batch);
    println!("the newer RX 350 was served {took:?} after its append returned");

    let merged = rx_350(&server);
    let mut expected = batch.styles.clone();
    expected.remove(&DROPPED_STYLE);
    expected.insert(ADDED_STYLE);
    assert_eq!(
        merged,
        Rx350 {
            years: 12,
            styles: expected
        }
    );
    assert!(speed_view_holds_the_rx_350(&store));
    let page = server.get("/").2;
    assert!(
        page.contains("<dt>Records since the batch</dt><dd>1</dd>"),
        "{page}"
    );

    // The next batch covers the record: the speed view lets go of it, the merge still has it.
    let archived = with_stream(&["archive", "--drain"]);
    assert!(archived.contains("archived 1 records"), "{archived}");
    with_stream(&["batch", "--workers", "2"]);
    wait_until(
        "the speed worker's retraction is served with batch v2",
        || {
            let page = server.get("/").2;
            page.contains("<dt>Batch version</dt><dd>v2</dd>")
                && page.contains("<dt>Records since the batch</dt><dd>0</dd>")
        },
    );
    assert!(!speed_view_holds_the_rx_350(&store));
    assert_eq!(rx_350(&server), merged);
}

#[test]
fn the_speed_command_gives_one_view_on_any_workers_and_query_merges_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let stream = dir.path().join("stream").display().to_string();
    let with_stream = |args: &[&str]| {
        let mut all = vec!["--stream", &stream];
        all.extend(args);
        carlambda(dir.path(), &store, &all)
    };
    let recorded = recorded_data();
    let catalog = recorded.join("makes.json");
    with_stream(&[
        "import",
        catalog.to_str().unwrap(),
        "--fetched-at",
        "2017-03-02T05:00:00Z",
    ]);
    with_stream(&["batch", "--workers", "1"]);
    // Every recorded response on the stream, and the newer RX 350 twice: a redelivery.
    with_stream(&["import", "--to-stream", recorded.to_str().unwrap()]);
    let newer = newer_rx_350(dir.path());
    with_stream(&["import", "--to-stream", newer.to_str().unwrap()]);
    with_stream(&["import", "--to-stream", newer.to_str().unwrap()]);

    let view_on = |workers: &str| {
        let speed = Path::new(&store).join("speed");
        if speed.exists() {
            std::fs::remove_dir_all(&speed).unwrap();
        }
        let printed = with_stream(&["speed", "--drain", "--workers", workers]);
        let view = std::fs::read_to_string(speed.join("view.json")).unwrap();
        (printed, view)
    };
    let (printed, one) = view_on("1");
    let (_, two) = view_on("2");
    assert_eq!(one, two, "the same speed view on one and two workers");
    assert!(
        printed.contains("speed view: 4 scopes, 1 issues, 7 records since the batch watermark"),
        "{printed}"
    );

    // A restart resumes from the checkpoint: the records read before count once.
    let again = with_stream(&["speed", "--drain", "--workers", "2"]);
    assert_eq!(again, printed);

    let years = with_stream(&[
        "query",
        "--format",
        "csv",
        &format!("SELECT years FROM model_year_counts WHERE model_id = '{RX_350}'"),
    ]);
    assert_eq!(years, "years\n12\n", "the query merges the speed view");
}
