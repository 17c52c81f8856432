//! The page: the current state rendered as one self-contained HTML file, published at
//! `site/index.html` in the store or, with the views as JSON beside it, as a static website.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use carlambda_batch::layout::Counts;
use carlambda_schemas::FetchedAt;
use carlambda_store::Store;
use handlebars::Handlebars;
use serde::Serialize;
use serde_json::Value;
use tracing::info;

use crate::chart::BarChart;
use crate::{CurrentState, Row, ServingError, SpeedFacts, api};

/// The key the page is published at.
pub const PAGE_KEY: &str = "site/index.html";

const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// How long browsers and caches may keep a file of the static website: a batch runs hourly
/// at most, so five minutes of staleness is the price of cheap hosting.
const WEBSITE_CACHE_CONTROL: &str = "max-age=300";

const TEMPLATE_NAME: &str = "index";

/// Kept as a file so that the page can be changed without reading Rust.
const TEMPLATE: &str = include_str!("../templates/index.hbs");

/// How many of the models with the most model years the page lists.
const TOP_MODELS: usize = 25;

/// How many of them the chart shows.
const CHART_MODELS: usize = 15;

/// How many `data_quality` rows the page lists; the counts above them cover every row.
const QUALITY_ROWS: usize = 200;

/// The categories of `data_quality`, in the order the page lists them.
const CATEGORIES: [&str; 3] = ["error", "rejected", "orphan"];

/// Where a published page went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedPage {
    /// The batch version the page shows.
    pub version: u64,
    /// Where to open the page: the absolute file path for a local store, or
    /// `s3://bucket/prefix/site/index.html` for S3.
    pub location: String,
    /// The size of the page in bytes.
    pub bytes: usize,
}

impl fmt::Display for PublishedPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location)
    }
}

/// Renders the page from the current state of `store` and stores it at [`PAGE_KEY`], replacing
/// the page before it. Readers see the old page or the new one, never a part.
///
/// # Errors
///
/// Any error of [`CurrentState::load`] (with nothing published, it says to run
/// `carlambda batch`), [`ServingError::Template`] or [`ServingError::Render`] when the page
/// cannot be rendered, and [`ServingError::Publish`] when it cannot be stored.
pub async fn publish_page(store: &Store) -> Result<PublishedPage, ServingError> {
    let state = CurrentState::load(store).await?;
    let html = render_page(&state)?;

    let bytes = html.len();
    store
        .put(PAGE_KEY, Bytes::from(html), CONTENT_TYPE)
        .await
        .map_err(|source| ServingError::Publish {
            key: PAGE_KEY.to_owned(),
            source: Box::new(source),
        })?;

    let page = PublishedPage {
        version: state.manifest().version,
        location: page_location(store),
        bytes,
    };
    info!(version = page.version, bytes, location = %page.location, "published the page");
    Ok(page)
}

/// Where a static website went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedWebsite {
    /// The batch version the website shows.
    pub version: u64,
    /// The target, as [`Store::describe`] gives it.
    pub location: String,
    /// Every key written, the page first.
    pub keys: Vec<String>,
}

/// Publishes the page of `state` as `index.html` in `target` (a local folder or an S3
/// bucket and prefix), with every view beside it as `views/<name>.json` (the document
/// `/api/views/<name>` serves). Each file carries its content type and
/// `Cache-Control: max-age=300`. The views are written before the page, so that a page never
/// links to views older than itself.
///
/// # Errors
///
/// [`ServingError::Render`] or [`ServingError::Template`] when the page cannot be rendered,
/// [`ServingError::Arrow`] when a view cannot be written as JSON, and
/// [`ServingError::Publish`] naming the key that could not be stored.
pub async fn publish_website(
    state: &CurrentState,
    target: &Store,
) -> Result<PublishedWebsite, ServingError> {
    let html = render_page(state)?;

    let mut files = Vec::new();
    for name in carlambda_views::VIEW_NAMES {
        let document = api::view_document(state, name)?;
        files.push((format!("views/{name}.json"), document, api::JSON));
    }
    files.push(("index.html".to_owned(), Bytes::from(html), CONTENT_TYPE));

    let mut keys = Vec::new();
    for (key, body, content_type) in files {
        target
            .put_served(&key, body, content_type, WEBSITE_CACHE_CONTROL)
            .await
            .map_err(|source| ServingError::Publish {
                key: key.clone(),
                source: Box::new(source),
            })?;
        keys.push(key);
    }
    keys.rotate_right(1);

    let website = PublishedWebsite {
        version: state.version(),
        location: target.describe(),
        keys,
    };
    info!(
        version = website.version,
        files = website.keys.len(),
        location = %website.location,
        "published the website"
    );
    Ok(website)
}

/// The page for `state`: a complete HTML5 document that needs no JavaScript and no other file.
/// Every value taken from the data is HTML-escaped.
///
/// # Errors
///
/// [`ServingError::Template`] when the page template does not compile, and
/// [`ServingError::Render`] when a view lacks a column the template shows.
pub fn render_page(state: &CurrentState) -> Result<String, ServingError> {
    let version = state.manifest().version;
    templates()?
        .render(TEMPLATE_NAME, &Page::of(state))
        .map_err(|source| ServingError::Render { version, source })
}

/// The page template, compiled once per process: a server renders a page for every state.
fn templates() -> Result<&'static Handlebars<'static>, ServingError> {
    static TEMPLATES: OnceLock<Result<Handlebars<'static>, String>> = OnceLock::new();
    let compiled = TEMPLATES.get_or_init(|| {
        let mut handlebars = Handlebars::new();
        // Strict: a column the template names but a view lacks is an error, not an empty cell.
        handlebars.set_strict_mode(true);
        handlebars
            .register_template_string(TEMPLATE_NAME, TEMPLATE)
            .map_err(|e| e.to_string())?;
        Ok(handlebars)
    });
    compiled
        .as_ref()
        .map_err(|e| ServingError::Template(e.clone()))
}

fn page_location(store: &Store) -> String {
    match store {
        Store::Local(local) => local.root().join(PAGE_KEY).display().to_string(),
        Store::S3(_) => format!("{}/{PAGE_KEY}", store.describe()),
    }
}

/// What the template is given.
#[derive(Serialize)]
struct Page<'a> {
    batch: Batch<'a>,
    speed: Option<Speed>,
    body_styles: Listing<'a>,
    body_chart: BarChart,
    top_models: Listing<'a>,
    models_chart: BarChart,
    makes: Listing<'a>,
    quality_counts: Vec<QualityCount<'a>>,
    quality: Listing<'a>,
}

impl<'a> Page<'a> {
    fn of(state: &'a CurrentState) -> Page<'a> {
        let view = |name| state.view(name).unwrap_or_default();
        let manifest = state.manifest();
        let top_models = view("model_year_counts");
        Page {
            batch: Batch {
                version: manifest.version,
                created_at: &manifest.created_at,
                as_of: state.as_of().map(|t| t.to_string()),
                batch_as_of: state.batch_as_of().map(|t| t.to_string()),
                counts: manifest.counts,
                oldest_fetched_at: manifest.oldest_fetched_at.as_deref(),
                newest_fetched_at: manifest.newest_fetched_at.as_deref(),
            },
            speed: state
                .speed()
                .map(|speed| Speed::of(speed, FetchedAt::now())),
            body_styles: Listing::all(view("body_style_counts")),
            body_chart: chart(
                "Bar chart of the styles per body type",
                view("body_style_counts"),
                |row| (named(row, "body"), number(row, "styles")),
            ),
            top_models: Listing::first(top_models, TOP_MODELS),
            models_chart: chart(
                "Bar chart of the models with the most model years",
                &top_models[..top_models.len().min(CHART_MODELS)],
                |row| {
                    let label = match (text(row, "make"), text(row, "model")) {
                        (Some(make), Some(model)) => format!("{make} {model}"),
                        _ => named(row, "model_id"),
                    };
                    (label, number(row, "years"))
                },
            ),
            makes: Listing::all(view("make_summary")),
            quality_counts: quality_counts(view("data_quality")),
            quality: Listing::first(view("data_quality"), QUALITY_ROWS),
        }
    }
}

/// The header line's facts about the data: the batch view and how recent its data is.
#[derive(Serialize)]
struct Batch<'a> {
    version: u64,
    created_at: &'a str,
    /// The newest `fetched_at` of the current state, speed view included.
    as_of: Option<String>,
    /// The newest `fetched_at` of the batch view alone.
    batch_as_of: Option<String>,
    counts: Counts,
    oldest_fetched_at: Option<&'a str>,
    newest_fetched_at: Option<&'a str>,
}

/// The header line's facts about the speed view, as of the page's rendering.
#[derive(Serialize)]
struct Speed {
    records_since_watermark: u64,
    scopes: usize,
    /// How long before the rendering the newest response the speed view holds was fetched,
    /// e.g. `1.2 s` or `3 h 5 min`.
    lag: Option<String>,
    /// Whether the counts are since an earlier batch (see [`SpeedFacts::behind_batch`]).
    behind_batch: bool,
}

impl Speed {
    fn of(speed: &SpeedFacts, now: FetchedAt) -> Speed {
        Speed {
            records_since_watermark: speed.records_since_watermark,
            scopes: speed.scopes,
            lag: speed.lag(now).map(lag_text),
            behind_batch: speed.behind_batch,
        }
    }
}

/// A lag in the unit a reader takes in at a glance: tenths of seconds under a minute, then
/// whole minutes, hours and days.
fn lag_text(lag: Duration) -> String {
    let seconds = lag.as_secs_f64();
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let minutes = lag.as_secs() / 60;
    match (minutes / (24 * 60), minutes / 60 % 24, minutes % 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

fn chart(title: &str, rows: &[Row], bar: impl Fn(&Row) -> (String, u64)) -> BarChart {
    let values: Vec<(String, u64)> = rows.iter().map(bar).collect();
    BarChart::new(title, &values)
}

/// The text of `column`, or `(unknown)` when it is null.
fn named(row: &Row, column: &str) -> String {
    text(row, column).unwrap_or("(unknown)").to_owned()
}

fn number(row: &Row, column: &str) -> u64 {
    row.get(column).and_then(Value::as_u64).unwrap_or_default()
}

/// The first rows of a view, and how many it has.
#[derive(Serialize)]
struct Listing<'a> {
    rows: &'a [Row],
    shown: usize,
    total: usize,
    /// Whether rows were left out.
    more: bool,
}

impl<'a> Listing<'a> {
    fn all(rows: &'a [Row]) -> Listing<'a> {
        Listing::first(rows, rows.len())
    }

    fn first(rows: &'a [Row], limit: usize) -> Listing<'a> {
        let shown = &rows[..rows.len().min(limit)];
        Listing {
            rows: shown,
            shown: shown.len(),
            total: rows.len(),
            more: shown.len() < rows.len(),
        }
    }
}

/// The number of `data_quality` rows of one category and kind, and for errors one endpoint.
#[derive(Serialize)]
struct QualityCount<'a> {
    category: &'a str,
    kind: &'a str,
    endpoint: Option<&'a str>,
    rows: u64,
}

/// Every `data_quality` row counted, errors by kind and endpoint, the others by kind.
fn quality_counts(rows: &[Row]) -> Vec<QualityCount<'_>> {
    let mut counts: BTreeMap<(usize, &str, &str, Option<&str>), u64> = BTreeMap::new();
    for row in rows {
        let category = text(row, "category").unwrap_or_default();
        let kind = text(row, "kind").unwrap_or_default();
        let endpoint = text(row, "endpoint").filter(|_| category == "error");
        let rank = CATEGORIES
            .iter()
            .position(|c| *c == category)
            .unwrap_or(CATEGORIES.len());
        *counts.entry((rank, category, kind, endpoint)).or_default() += 1;
    }

    counts
        .into_iter()
        .map(|((_, category, kind, endpoint), rows)| QualityCount {
            category,
            kind,
            endpoint,
            rows,
        })
        .collect()
}

fn text<'r>(row: &'r Row, column: &str) -> Option<&'r str> {
    row.get(column).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Fixture};

    /// A table row of the page.
    fn tr(cells: &[String]) -> String {
        format!("<tr>{}</tr>", cells.concat())
    }

    /// A text cell.
    fn td(text: &str) -> String {
        format!("<td>{text}</td>")
    }

    /// A number cell.
    fn n(number: u64) -> String {
        format!(r#"<td class="n">{number}</td>"#)
    }

    async fn published(fixture: &Fixture) -> (PublishedPage, String) {
        let page = publish_page(&fixture.store).await.unwrap();
        let html = std::fs::read_to_string(&page.location).unwrap();
        (page, html)
    }

    #[tokio::test]
    async fn the_page_is_a_file_in_the_store_with_the_batch_facts() {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;

        let (page, html) = published(&fixture).await;

        let Store::Local(local) = &fixture.store else {
            unreachable!("a local fixture")
        };
        assert_eq!(
            page.location,
            local.root().join("site/index.html").display().to_string()
        );
        assert_eq!(page.version, fixture::VERSION);
        assert_eq!(page.bytes, html.len());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>carlambda: vehicle catalog</title>"));
        assert!(
            html.contains("Batch version 3, run at 2024-05-06T07:08:09.123Z"),
            "{html}"
        );
        let text = one_spaced(&html);
        assert!(
            text.contains(
                "Raw objects read: 2 (4096 bytes); records: 11; snapshots: 7, of 6 scopes; \
                 error records: 3; rejected: 1; \
                 fetched from 2017-03-02T05:00:00.000Z to 2017-03-02T06:30:00.000Z."
            ),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_speed_view_is_shown_beside_the_batch() {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;
        let (_, html) = published(&fixture).await;
        assert!(html.contains("<dd>no speed view</dd>"), "{html}");

        let fetched = FetchedAt::from_unix_millis(FetchedAt::now().unix_millis() - 90_000);
        let view = carlambda_speed::SpeedView {
            newest_fetched_at: Some(fetched),
            records_since_watermark: 42,
            covered: fixture::watermark().shards,
            ..Default::default()
        };
        carlambda_speed::publish_view(&fixture.store, &view)
            .await
            .unwrap();
        let (_, html) = published(&fixture).await;

        assert!(
            html.contains("<dt>Records since the batch</dt><dd>42</dd>"),
            "{html}"
        );
        assert!(html.contains("<dt>Speed lag</dt><dd>1 min</dd>"), "{html}");
        let text = one_spaced(&html);
        assert!(
            text.contains(
                "records read from the stream after the batch's watermark: 42; \
                 scopes with a newer snapshot there: 0; \
                 the newest fetched 1 min before this page was rendered."
            ),
            "{text}"
        );
        assert!(
            html.contains("<dt>Batch as of</dt><dd>2017-03-02T05:00:00.000Z</dd>"),
            "{html}"
        );
        assert!(!text.contains("earlier batch"), "{text}");

        let of_an_earlier_batch = carlambda_speed::SpeedView {
            covered: [("shard-0".to_owned(), 3.into())].into(),
            ..view
        };
        carlambda_speed::publish_view(&fixture.store, &of_an_earlier_batch)
            .await
            .unwrap();
        let (_, html) = published(&fixture).await;
        let text = one_spaced(&html);
        assert!(
            html.contains("<dd>42 (since an earlier batch)</dd>"),
            "{html}"
        );
        assert!(
            text.contains(
                "The speed worker has not taken in batch version 3 yet: \
                 these counts are since the watermark of an earlier batch."
            ),
            "{text}"
        );
    }

    /// `html` with every run of whitespace one space, for text the template breaks across lines.
    fn one_spaced(html: &str) -> String {
        html.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn lags_read_at_a_glance() {
        let text = |seconds| lag_text(Duration::from_secs_f64(seconds));
        assert_eq!(text(0.25), "0.2 s");
        assert_eq!(text(59.0), "59.0 s");
        assert_eq!(text(61.0), "1 min");
        assert_eq!(text(3.0 * 3600.0 + 5.0 * 60.0), "3 h 5 min");
        assert_eq!(text(2.0 * 86400.0 + 3.0 * 3600.0), "2 d 3 h");
    }

    #[tokio::test]
    async fn the_seed_tables_list_their_rows() {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;

        let (_, html) = published(&fixture).await;

        assert!(html.contains("<h2>Styles per body type</h2>"));
        assert!(html.contains(&tr(&[td("SUV"), n(2)])), "{html}");
        assert!(html.contains(&tr(&[td("Sedan"), n(1)])));
        assert!(html.contains(&tr(&[td("(unknown)"), n(1)])));

        assert!(html.contains("<h2>Models with the most model years</h2>"));
        let rx = tr(&[
            td("Lexus"),
            td("RX 350"),
            td("<code>Lexus_RX_350</code>"),
            n(3),
        ]);
        assert!(html.contains(&rx), "{html}");
        let van = tr(&[
            td("(unknown)"),
            td("Van"),
            td("<code>Mystery_Van</code>"),
            n(1),
        ]);
        assert!(html.contains(&van), "a model without a make");

        assert!(html.contains("<h2>Makes</h2>"));
        let lexus = tr(&[td("Lexus"), n(2), n(4), n(3), n(2015), n(2017)]);
        assert!(html.contains(&lexus), "{html}");
    }

    #[tokio::test]
    async fn data_from_the_api_is_escaped() {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;

        let (_, html) = published(&fixture).await;

        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains(fixture::HOSTILE_MAKE));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Quoted&quot;"));
    }

    #[tokio::test]
    async fn data_quality_is_counted_then_listed() {
        let fixture = Fixture::publish(fixture::tables(), &fixture::issues()).await;

        let (_, html) = published(&fixture).await;

        let count = |category: &str, kind: &str, endpoint: &str, rows: u64| {
            tr(&[td(category), td(kind), td(endpoint), n(rows)])
        };
        let rx350 = "<code>/api/vehicle/v2/lexus/rx350</code>";
        let is250 = "<code>/api/vehicle/v2/lexus/is250</code>";
        assert!(html.contains(&count("error", "api", is250, 1)), "{html}");
        assert!(html.contains(&count("error", "timeout", rx350, 2)));
        assert!(html.contains(&count("rejected", "not-json", "", 1)));
        assert!(html.contains(&count("orphan", "model-without-make", "", 1)));
        assert!(html.contains("<td class=\"detail\">model Mystery_Van has no known make</td>"));
        assert!(
            html.contains("<code>raw/2017/03/02/06/b.ndjson</code></td><td class=\"n\">4</td>")
        );
        assert!(!html.contains("Nothing here"), "every view has rows");
    }

    #[tokio::test]
    async fn an_empty_data_quality_says_so() {
        let fixture = Fixture::publish(fixture::clean_tables(), &[]).await;

        let (_, html) = published(&fixture).await;

        let quality = &html[html.find("<h2>Data quality</h2>").unwrap()..];
        assert!(
            quality.contains("Nothing here: no error records"),
            "{quality}"
        );
        assert!(!quality.contains("<table>"), "{quality}");
    }

    #[tokio::test]
    async fn an_empty_batch_view_says_so_in_every_section() {
        let fixture = Fixture::publish(carlambda_views::Tables::default(), &[]).await;

        let (_, html) = published(&fixture).await;

        assert_eq!(
            html.matches("<p class=\"empty\">Nothing here").count(),
            4,
            "{html}"
        );
        assert!(!html.contains("<table>"));
    }

    #[tokio::test]
    async fn long_views_are_cut_with_a_note() {
        let issues: Vec<_> = (1..=205)
            .map(|line| fixture::error("timeout", "/api/vehicle/v2/lexus", line))
            .collect();
        let fixture = Fixture::publish(fixture::many_models(30), &issues).await;

        let (_, html) = published(&fixture).await;

        assert!(
            html.contains("The 25 models with the most model years of 30."),
            "{html}"
        );
        assert!(
            html.contains("<code>Lexus_M05</code>"),
            "the 25th has 6 model years"
        );
        assert!(!html.contains("<code>Lexus_M04</code>"));
        assert_eq!(html.matches("<td class=\"detail\">").count(), 200);
        assert!(html.contains("The first 200 of 205 rows"));
        assert!(
            html.contains(r#"<td class="n">205</td>"#),
            "the counts cover every row"
        );
    }

    #[tokio::test]
    async fn with_nothing_published_the_error_says_to_run_the_batch() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().to_str().unwrap()).await.unwrap();

        let error = publish_page(&store).await.unwrap_err();

        let message = error.to_string();
        assert!(
            message.contains("no batch version is published"),
            "{message}"
        );
        assert!(message.contains("run `carlambda batch`"), "{message}");
        assert!(
            !store.exists(PAGE_KEY).await.unwrap(),
            "no page without a batch view"
        );
    }

    #[tokio::test]
    async fn the_page_location_on_s3_is_a_url() {
        let store = Store::open("s3://bucket/prefix").await.unwrap();

        assert_eq!(page_location(&store), "s3://bucket/prefix/site/index.html");
    }
}
