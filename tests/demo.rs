//! `carlambda demo` on a fresh machine: the simulated API, ingest, stream, archive, batch, the
//! speed worker and the page, with nothing set up.

mod common;

use std::collections::BTreeSet;

use common::{carlambda, manifest, read_rows};
use serde_json::{Map, Value};

#[test]
fn the_demo_runs_on_a_fresh_store_and_prints_its_page() {
    let dir = tempfile::tempdir().unwrap();
    // A relative store name, as the default `carlambda-data` is.
    let output = carlambda(dir.path(), "carlambda-data", &["demo"]);
    let store = dir.path().join("carlambda-data").display().to_string();
    let page_path = output.lines().last().unwrap();
    let page = std::fs::read_to_string(page_path).unwrap();
    for heading in ["Styles per body type", "Models with the most model years"] {
        let section = page
            .split(heading)
            .nth(1)
            .unwrap_or_else(|| panic!("no {heading}"));
        let table = section.split("</table>").next().unwrap();
        assert!(table.matches("<tr>").count() > 2, "{heading} has rows");
    }
    assert!(manifest(&store).rows["styles"] > 0);

    // The second poll reached the page through the speed view, without another batch.
    assert!(
        page.contains("<dt>Records since the batch</dt><dd>31</dd>"),
        "{page}"
    );
    let style_ids = |rows: Vec<Map<String, Value>>| -> BTreeSet<i64> {
        rows.iter()
            .map(|r| r["style_id"].as_i64().unwrap())
            .collect()
    };
    let batch = style_ids(read_rows(&store, "styles"));
    let merged = carlambda(
        dir.path(),
        "carlambda-data",
        &["query", "--format", "json", "SELECT style_id FROM styles"],
    );
    let merged = style_ids(serde_json::from_str(&merged).unwrap());
    assert_ne!(merged, batch, "the second poll changed styles");
    assert!(
        merged.symmetric_difference(&batch).count() < batch.len() / 4,
        "a poll changes a style or two per model, not the catalog"
    );
}
