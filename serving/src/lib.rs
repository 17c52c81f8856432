//! The serving layer: reads the current state of the master dataset and publishes it as the
//! page `site/index.html`.
//!
//! Everything serving shows is read through [`CurrentState`], so that the page (and later the
//! query CLI and HTTP) never depend on where a row came from: today the published batch view,
//! later the batch view merged with the speed view.

mod error;
mod page;
mod state;

#[cfg(test)]
mod fixture;

pub use error::ServingError;
pub use page::{PAGE_KEY, PublishedPage, publish_page, render_page};
pub use state::{CurrentState, Row};
