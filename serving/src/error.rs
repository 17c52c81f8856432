//! Why serving failed: each error names the view, batch version or key involved.

use arrow::error::ArrowError;
use carlambda_batch::layout::LayoutError;
use carlambda_store::StoreError;

/// A fault while loading the current state or publishing the page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServingError {
    /// No published batch view could be found or its manifest could not be read. When nothing
    /// is published yet, the message says to run `carlambda batch`.
    #[error(transparent)]
    Published(#[from] LayoutError),

    /// A view of the published batch view could not be read.
    #[error("could not read view `{view}` of batch v{version}: {source}")]
    ReadView {
        view: &'static str,
        version: u64,
        source: Box<LayoutError>,
    },

    /// A view's rows could not be turned into JSON objects.
    #[error("could not convert view `{view}` of batch v{version} to JSON: {source}")]
    ConvertView {
        view: &'static str,
        version: u64,
        source: ArrowError,
    },

    /// A view holds another number of rows than its batch manifest records: the batch view is
    /// damaged or was changed after it was published.
    #[error(
        "view `{view}` of batch v{version} holds {found} rows but its manifest records \
         {expected}; run `carlambda batch` to publish a fresh version"
    )]
    RowCount {
        view: &'static str,
        version: u64,
        found: u64,
        expected: u64,
    },

    /// The page template kept in `serving/templates/index.hbs` does not compile.
    #[error("the page template serving/templates/index.hbs is invalid: {0}")]
    Template(#[source] Box<handlebars::TemplateError>),

    /// The page could not be rendered from the current state.
    #[error("could not render the page for batch v{version}: {source}")]
    Render {
        version: u64,
        source: handlebars::RenderError,
    },

    /// The rendered page could not be stored.
    #[error("could not publish the page: {0}")]
    Publish(#[source] StoreError),
}
