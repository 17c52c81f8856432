//! The JSON documents serving answers with: a table's rows a page at a time, a view whole.
//! The HTTP API serves them and the static website stores the views' documents as files.

use bytes::Bytes;
use serde::Serialize;

use carlambda_schemas::arrow::TABLE_NAMES;
use carlambda_views::VIEW_NAMES;

use crate::query::unknown_name;
use crate::state::json_rows;
use crate::{CurrentState, Row, ServingError, SpeedFacts};

/// The content type of every document.
pub const JSON: &str = "application/json";

/// How many rows of a table a page holds when the request does not say.
pub const DEFAULT_LIMIT: usize = 100;

/// The most rows of a table one page may hold.
pub const MAX_LIMIT: usize = 1000;

/// A table or view, or a page of one, with where its rows come from.
#[derive(Serialize)]
struct Document<'a> {
    name: &'a str,
    kind: &'static str,
    /// The batch version the state is built on, when it was published, and the newest
    /// `fetched_at` of its data.
    version: u64,
    published_at: &'a str,
    as_of: Option<String>,
    /// What the speed view adds to the batch view; `null` when none is published.
    speed: Option<&'a SpeedFacts>,
    /// All rows of the table or view; `rows` holds those from `offset` on.
    total: usize,
    offset: usize,
    rows: &'a [Row],
}

/// View `name` as one JSON document, rows in the view's order.
///
/// # Errors
///
/// [`ServingError::UnknownName`] when `name` is not a view.
pub fn view_document(state: &CurrentState, name: &str) -> Result<Bytes, ServingError> {
    let rows = state
        .view(name)
        .ok_or_else(|| unknown_name(name, VIEW_NAMES))?;
    Ok(document(state, name, "view", rows.len(), 0, rows))
}

/// Rows `offset..offset + limit` of table `name` as one JSON document, rows in key order.
///
/// # Errors
///
/// [`ServingError::UnknownName`] when `name` is not a table, and [`ServingError::Arrow`] when
/// its rows cannot be written as JSON.
pub fn table_document(
    state: &CurrentState,
    name: &str,
    offset: usize,
    limit: usize,
) -> Result<Bytes, ServingError> {
    let batch = state
        .batch(name)
        .filter(|_| CurrentState::is_table(name))
        .ok_or_else(|| unknown_name(name, TABLE_NAMES))?;
    let total = batch.num_rows();
    let start = offset.min(total);
    let page = batch.slice(start, limit.min(total - start));
    let rows = json_rows(&page).map_err(|source| ServingError::Arrow {
        name: "a table page",
        source,
    })?;
    Ok(document(state, name, "table", total, offset, &rows))
}

fn document(
    state: &CurrentState,
    name: &str,
    kind: &'static str,
    total: usize,
    offset: usize,
    rows: &[Row],
) -> Bytes {
    let document = Document {
        name,
        kind,
        version: state.version(),
        published_at: state.published_at(),
        as_of: state.as_of().map(|t| t.to_string()),
        speed: state.speed(),
        total,
        offset,
        rows,
    };
    Bytes::from(serde_json::to_vec(&document).expect("JSON values serialize"))
}
