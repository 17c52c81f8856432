//! The serving layer end to end on the recorded Edmunds data: the state rebuilt from the
//! winning snapshots, `carlambda query`, `carlambda serve`, and `publish --website`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use carlambda_store::Store;
use common::{Server, carlambda, manifest, read_rows, recorded_data, wait_until};
use serde_json::{Map, Value};

/// Ad hoc questions over the 3NF tables and views; the report and the DuckDB check use them.
const QUERIES: [&str; 10] = [
    // 1. Makes with the most models.
    "SELECT mk.name AS make, count(*) AS models FROM models m \
     JOIN makes mk ON mk.make_id = m.make_id \
     GROUP BY mk.name ORDER BY models DESC, make LIMIT 10",
    // 2. Lexus styles per submodel body.
    "SELECT sm.body, count(*) AS styles FROM styles s \
     JOIN submodels sm ON sm.model_id = s.model_id AND sm.nice_name = s.submodel_nice_name \
     JOIN models m ON m.model_id = s.model_id JOIN makes mk ON mk.make_id = m.make_id \
     WHERE mk.name = 'Lexus' GROUP BY sm.body ORDER BY styles DESC, sm.body",
    // 3. Model years per decade.
    "SELECT year - year % 10 AS decade, count(*) AS model_years FROM model_years \
     GROUP BY year - year % 10 ORDER BY decade",
    // 4. The longest-running models.
    "SELECT m.model_id, mk.name AS make, min(y.year) AS first_year, max(y.year) AS last_year, \
     count(*) AS years FROM model_years y JOIN models m ON m.model_id = y.model_id \
     JOIN makes mk ON mk.make_id = m.make_id \
     GROUP BY m.model_id, mk.name ORDER BY years DESC, m.model_id LIMIT 10",
    // 5. Styles of the Lexus RX 350 per model year, the years without styles included.
    "SELECT y.year, count(s.style_id) AS styles FROM model_years y \
     LEFT JOIN styles s ON s.model_id = y.model_id AND s.model_year_id = y.model_year_id \
     WHERE y.model_id = 'Lexus_RX_350' GROUP BY y.year ORDER BY y.year DESC LIMIT 10",
    // 6. The 2017 Lexus RX 350 styles with their trim and body.
    "SELECT s.style_id, s.name, s.trim, sm.body FROM styles s \
     JOIN model_years y ON y.model_id = s.model_id AND y.model_year_id = s.model_year_id \
     LEFT JOIN submodels sm ON sm.model_id = s.model_id AND sm.nice_name = s.submodel_nice_name \
     WHERE s.model_id = 'Lexus_RX_350' AND y.year = 2017 ORDER BY s.style_id",
    // 7. Makes by the span of their model years, from the make summary.
    "SELECT make, first_year, last_year, last_year - first_year + 1 AS span FROM make_summary \
     WHERE first_year IS NOT NULL ORDER BY span DESC, make LIMIT 8",
    // 8. Average model years per model, for makes with at least 20 models.
    "SELECT mk.name AS make, count(*) AS models, round(avg(c.years), 2) AS average_years \
     FROM model_year_counts c JOIN models m ON m.model_id = c.model_id \
     JOIN makes mk ON mk.make_id = m.make_id GROUP BY mk.name HAVING count(*) >= 20 \
     ORDER BY average_years DESC, make LIMIT 10",
    // 9. Data quality by category and kind.
    "SELECT category, kind, count(*) AS rows FROM data_quality \
     GROUP BY category, kind ORDER BY rows DESC, category, kind",
    // 10. Makes whose models have no known style, most models first.
    "SELECT mk.name AS make, count(*) AS models_without_styles FROM models m \
     JOIN makes mk ON mk.make_id = m.make_id \
     WHERE NOT EXISTS (SELECT 1 FROM styles s WHERE s.model_id = m.model_id) \
     GROUP BY mk.name ORDER BY models_without_styles DESC, make LIMIT 5",
];

/// One store with the recorded data imported and batched, shared by the tests of this file.
fn recorded_store() -> &'static str {
    static STORE: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store").display().to_string();
        let recorded = recorded_data();
        carlambda(dir.path(), &store, &["import", recorded.to_str().unwrap()]);
        carlambda(dir.path(), &store, &["batch", "--workers", "2"]);
        (dir, store)
    });
    store
}

/// Runs `carlambda --store <store> <args>`, expecting it to fail; returns its stderr.
fn carlambda_fails(store: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_carlambda"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "carlambda {args:?} should fail"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_state_rebuilt_from_the_snapshots_is_the_batch_view() {
    let store = recorded_store();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let state = runtime.block_on(async {
        let store = Store::open(store).await.unwrap();
        carlambda_serving::CurrentState::load(&store).await.unwrap()
    });

    for name in carlambda_serving::CurrentState::names() {
        let rebuilt = state.batch(name).unwrap();
        let rows = carlambda_serving::json_rows(rebuilt).unwrap();
        assert_eq!(rows, read_rows(store, name), "{name}");
        assert!(!rows.is_empty(), "{name} has rows on the recorded data");
    }
    let written = manifest(store);
    assert_eq!(state.version(), written.version);
    assert_eq!(
        state.as_of().map(|t| t.to_string()),
        written.newest_fetched_at
    );
}

#[test]
fn a_query_joins_the_tables_and_prints_a_table_csv_or_json() {
    let store = recorded_store();
    let dir = tempfile::tempdir().unwrap();
    let sql = QUERIES[3];

    let table = carlambda(dir.path(), store, &["query", sql]);
    let csv = carlambda(dir.path(), store, &["query", "--format", "csv", sql]);
    let rows = json(&carlambda(
        dir.path(),
        store,
        &["query", "--format", "json", sql],
    ));

    assert!(table.contains("| model_id "), "{table}");
    assert!(table.ends_with("\n10 rows\n"), "{table}");
    assert!(
        csv.starts_with("model_id,make,first_year,last_year,years\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 11);
    let counts = read_rows(store, "model_year_counts");
    assert_eq!(rows[0]["years"], counts[0]["years"], "the view agrees");
    assert_eq!(rows.as_array().unwrap().len(), 10);
}

#[test]
fn a_view_prints_whole_and_the_tables_are_listed() {
    let store = recorded_store();
    let dir = tempfile::tempdir().unwrap();

    let view = json(&carlambda(
        dir.path(),
        store,
        &["query", "--view", "body_style_counts", "--format", "json"],
    ));
    let tables = carlambda(dir.path(), store, &["query", "--tables"]);

    let expected: Vec<Value> = read_rows(store, "body_style_counts")
        .into_iter()
        .map(Value::Object)
        .collect();
    assert_eq!(view, Value::Array(expected));
    assert!(
        tables.contains("model_years (table, 8101 rows)"),
        "{tables}"
    );
    assert!(tables.contains("make_summary (view, 62 rows)"), "{tables}");
    assert!(tables.contains("  submodel_nice_name"), "{tables}");
}

#[test]
fn usage_mistakes_exit_with_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let mistakes: [(&[&str], &str); 4] = [
        (&["serve", "--refresh", "0"], "--refresh"),
        (&["serve", "--publish-every", "1s"], "--speed"),
        (&["simulate-api", "--error-rate", "1.5"], "--error-rate"),
        (
            &[
                "simulate-api",
                "--error-rate",
                "0.6",
                "--throttle-rate",
                "0.6",
            ],
            "--throttle-rate 0.6",
        ),
    ];
    for (args, named) in mistakes {
        let output = Command::new(env!("CARGO_BIN_EXE_carlambda"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn a_reader_that_stops_early_ends_the_query_cleanly() {
    let store = recorded_store();
    let mut query = Command::new(env!("CARGO_BIN_EXE_carlambda"))
        .args(["--store", store, "query", "SELECT * FROM model_years"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut stdout = std::io::BufReader::new(query.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(first.starts_with("+-"), "{first}");
    drop(stdout);

    let output = query.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn writes_are_refused_and_mistakes_are_named() {
    let store = recorded_store();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("makes.csv");
    let copy = format!("COPY makes TO '{}'", target.display());

    let refused = carlambda_fails(store, &["query", "DROP TABLE makes"]);
    let copied = carlambda_fails(store, &["query", &copy]);
    let mistake = carlambda_fails(store, &["query", "SELECT horsepower FROM styles"]);
    let unknown = carlambda_fails(store, &["query", "--view", "engines"]);
    let typo = dir.path().join("stroe");
    let no_store = carlambda_fails(typo.to_str().unwrap(), &["query", "--tables"]);

    assert!(
        refused.contains("refused, queries are read-only"),
        "{refused}"
    );
    assert!(copied.contains("read-only"), "{copied}");
    assert!(!target.exists(), "nothing was copied");
    assert!(mistake.contains("horsepower"), "{mistake}");
    assert_eq!(mistake.lines().count(), 1, "one sentence: {mistake}");
    assert!(unknown.contains("there is no `engines`"), "{unknown}");
    assert!(no_store.contains("no such folder"), "{no_store}");
    assert!(!typo.exists(), "a query creates no store");
    let makes = read_rows(store, "makes").len();
    assert_eq!(makes, 62, "the tables are as they were");
}

#[test]
fn the_server_answers_the_page_tables_views_health_and_metrics() {
    let store = recorded_store();
    let server = Server::start(
        Path::new(store).parent().unwrap(),
        store,
        &["--refresh", "10"],
    );

    let (status, content_type, page) = server.get("/");
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(page.contains("<svg class=\"chart\""), "{page}");

    let (status, content_type, view) = server.get("/api/views/body_style_counts");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let view = json(&view);
    let expected: Vec<Value> = read_rows(store, "body_style_counts")
        .into_iter()
        .map(Value::Object)
        .collect();
    assert_eq!(view["rows"], Value::Array(expected));
    assert_eq!(view["version"], 1);

    let (_, _, models) = server.get("/api/tables/models?limit=5&offset=10");
    let models = json(&models);
    let all = read_rows(store, "models");
    assert_eq!(models["total"], 1124);
    let page_rows: Vec<Value> = all[10..15].iter().cloned().map(Value::Object).collect();
    assert_eq!(models["rows"], Value::Array(page_rows));
    let (_, _, default) = server.get("/api/tables/model_years");
    assert_eq!(json(&default)["rows"].as_array().unwrap().len(), 100);

    let (status, _, too_many) = server.get("/api/tables/styles?limit=5000");
    assert_eq!(status, 400);
    assert!(json(&too_many)["error"].as_str().unwrap().contains("1000"));
    for path in ["/api/tables/engines", "/api/views/makes", "/nowhere"] {
        let (status, content_type, body) = server.get(path);
        assert_eq!(
            (status, content_type.as_str()),
            (404, "application/json"),
            "{path}"
        );
        assert!(json(&body)["error"].is_string(), "{path}: {body}");
    }

    let (status, _, health) = server.get("/healthz");
    assert_eq!(
        (status, json(&health)["version"].clone()),
        (200, Value::from(1))
    );

    let (status, content_type, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    for line in [
        "carlambda_rows{kind=\"table\",name=\"model_years\"} 8101",
        "carlambda_batch_version 1",
        "carlambda_http_requests_total{route=\"/api/views/{name}\",status=\"200\"} 1",
        "carlambda_http_requests_total{route=\"/api/tables/{name}\",status=\"404\"} 1",
        "carlambda_http_request_duration_seconds_count{route=\"/api/tables/{name}\"} 4",
        "carlambda_speed_lag_seconds NaN",
        "carlambda_speed_behind_batch 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(
        metrics.contains("carlambda_batch_age_seconds "),
        "{metrics}"
    );
}

#[test]
fn a_newly_published_batch_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let responses = recorded_data().join("responses");
    carlambda(dir.path(), &store, &["import", responses.to_str().unwrap()]);
    carlambda(dir.path(), &store, &["batch", "--workers", "1"]);
    let server = Server::start(dir.path(), &store, &["--refresh", "0.1"]);
    let models_before = json(&server.get("/api/tables/models?limit=1").2)["total"].clone();

    let catalog = recorded_data().join("makes.json");
    carlambda(dir.path(), &store, &["import", catalog.to_str().unwrap()]);
    carlambda(dir.path(), &store, &["batch", "--workers", "1"]);

    wait_until("batch v2 is served", || {
        json(&server.get("/healthz").2)["version"] == 2
    });
    let models_after = json(&server.get("/api/tables/models?limit=1").2)["total"].clone();
    assert_eq!(models_after, 1124);
    assert_ne!(models_before, models_after, "the catalog adds models");
}

#[test]
fn the_website_goes_to_a_folder_with_the_views_beside_the_page() {
    let store = recorded_store();
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");

    let printed = carlambda(
        dir.path(),
        store,
        &["publish", "--website", site.to_str().unwrap()],
    );

    assert!(printed.contains("views/make_summary.json"), "{printed}");
    let page = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(page.contains("Models with the most model years"));
    for name in carlambda_views::VIEW_NAMES {
        let document = std::fs::read_to_string(site.join(format!("views/{name}.json"))).unwrap();
        let expected: Vec<Value> = read_rows(store, name)
            .into_iter()
            .map(Value::Object)
            .collect();
        assert_eq!(json(&document)["rows"], Value::Array(expected), "{name}");
    }
}

/// Where the screenshot goes: CARLAMBDA_SCREENSHOT_DIR when set, else `dir`.
fn screenshot_path(dir: &Path) -> PathBuf {
    let folder = std::env::var_os("CARLAMBDA_SCREENSHOT_DIR").map_or(dir.to_owned(), PathBuf::from);
    std::fs::create_dir_all(&folder).unwrap();
    folder.join("carlambda-page.png")
}

#[test]
#[ignore = "needs Debian's chromium package: run scripts/test"]
fn the_page_renders_in_a_headless_browser_with_its_tables_and_charts() {
    let store = recorded_store();
    let server = Server::start(
        Path::new(store).parent().unwrap(),
        store,
        &["--refresh", "10"],
    );
    let dir = tempfile::tempdir().unwrap();
    let chromium = |args: &[&str]| {
        let output = Command::new("/usr/bin/chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .args(args)
            .arg(format!("{}/", server.url))
            .output()
            .expect("/usr/bin/chromium runs");
        assert!(
            output.status.success(),
            "chromium {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };

    let dom = chromium(&["--dump-dom"]);
    let screenshot = screenshot_path(dir.path());
    chromium(&[
        &format!("--screenshot={}", screenshot.display()),
        "--window-size=1280,2400",
    ]);

    for heading in [
        "Styles per body type",
        "Models with the most model years",
        "Makes",
    ] {
        assert!(dom.contains(&format!("<h2>{heading}</h2>")), "{heading}");
    }
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 2, "two charts");
    assert!(dom.matches("<rect ").count() >= 15, "the charts have bars");
    assert!(dom.matches("<table>").count() >= 4, "the tables");
    assert!(
        dom.contains("BMW 3 Series"),
        "the top model is in the chart"
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    eprintln!("screenshot: {}", screenshot.display());
}

/// Runs each query through DuckDB over the batch view's Parquet files; prints a JSON array of
/// answers, each an array of rows.
const DUCKDB_RUNNER: &str = r#"
import json, sys, duckdb
folder, queries = sys.argv[1], json.loads(sys.stdin.read())
con = duckdb.connect()
for name in sys.argv[2:]:
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{folder}/{name}/*.parquet')")
answers = []
for sql in queries:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    answers.append([dict(zip(columns, row)) for row in cursor.fetchall()])
print(json.dumps(answers, default=str))
"#;

/// Every number as a float, so that 7 and 7.0 from two engines compare equal.
fn floats(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::from(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.into_iter().map(floats).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, floats(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

#[test]
#[ignore = "needs DuckDB: run scripts/test"]
fn every_query_answers_as_duckdb_does_over_the_parquet_files() {
    let python = std::env::var("CARLAMBDA_PYTHON").expect("CARLAMBDA_PYTHON has duckdb");
    let store = recorded_store();
    let dir = tempfile::tempdir().unwrap();
    let folder = Path::new(store).join(format!("batch/v{}", manifest(store).version));

    let mut duckdb = Command::new(python)
        .args(["-c", DUCKDB_RUNNER, folder.to_str().unwrap()])
        .args(carlambda_serving::CurrentState::names())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let queries = serde_json::to_vec(&QUERIES).unwrap();
    std::io::Write::write_all(&mut duckdb.stdin.take().unwrap(), &queries).unwrap();
    let output = duckdb.wait_with_output().unwrap();
    assert!(output.status.success());
    let expected = json(&String::from_utf8_lossy(&output.stdout));

    for (i, sql) in QUERIES.iter().enumerate() {
        let answer = json(&carlambda(
            dir.path(),
            store,
            &["query", "--format", "json", sql],
        ));
        assert!(
            !answer.as_array().unwrap().is_empty(),
            "query {} has rows",
            i + 1
        );
        assert_eq!(
            floats(answer),
            floats(expected[i].clone()),
            "query {}: {sql}",
            i + 1
        );
    }
}

#[test]
#[ignore = "needs a local S3 server: run scripts/test"]
fn the_website_goes_to_s3_with_content_types_and_cache_control() {
    let store = recorded_store();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bucket = runtime.block_on(common::fresh_bucket("carlambda-website"));

    carlambda(
        dir.path(),
        store,
        &["publish", "--website", &format!("s3://{bucket}/www")],
    );

    let objects = runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let mut objects = Vec::new();
        for key in [
            "www/index.html",
            "www/views/body_style_counts.json",
            "www/views/data_quality.json",
        ] {
            let object = s3
                .get_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            let content_type = object.content_type().map(str::to_owned);
            let cache_control = object.cache_control().map(str::to_owned);
            let body = object.body.collect().await.unwrap().into_bytes();
            objects.push((key, content_type, cache_control, body));
        }
        objects
    });

    for (key, content_type, cache_control, body) in objects {
        assert_eq!(cache_control.as_deref(), Some("max-age=300"), "{key}");
        if let Some(name) = key.strip_prefix("www/views/") {
            let name = name.trim_end_matches(".json");
            assert_eq!(content_type.as_deref(), Some("application/json"), "{key}");
            let expected: Vec<Value> = read_rows(store, name)
                .into_iter()
                .map(Value::Object)
                .collect();
            let document: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(document["rows"], Value::Array(expected), "{key}");
        } else {
            assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
            assert!(String::from_utf8_lossy(&body).contains("<svg class=\"chart\""));
        }
    }
}
