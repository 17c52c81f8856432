//! The serving layer: the current state of the master dataset as ad hoc SQL, an HTTP server,
//! the page `site/index.html`, and a static website.
//!
//! Everything serving shows is read through [`CurrentState`], so that the query command, the
//! HTTP server and the page never depend on where a row came from: the published batch view
//! merged with the speed view.

mod api;
mod chart;
mod error;
mod metrics;
mod page;
pub mod query;
pub mod server;
mod state;

#[cfg(test)]
mod fixture;

pub use api::{DEFAULT_LIMIT, MAX_LIMIT, table_document, view_document};
pub use error::ServingError;
pub use page::{
    PAGE_KEY, PublishedPage, PublishedWebsite, publish_page, publish_website, render_page,
};
pub use state::{BatchView, CurrentState, Row, SpeedFacts, json_rows};
