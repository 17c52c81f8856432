//! Why serving failed: each error names the table, view, batch version, key or address
//! involved.

use arrow::error::ArrowError;
use carlambda_batch::layout::LayoutError;
use carlambda_speed::SpeedError;
use carlambda_store::StoreError;

/// A fault while loading the current state, answering a query, serving, or publishing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServingError {
    /// No published batch view could be found or its manifest could not be read. When nothing
    /// is published yet, the message says to run `carlambda batch`.
    #[error(transparent)]
    Published(#[from] LayoutError),

    /// The published speed view could not be read.
    #[error("could not read the speed view: {0}")]
    Speed(#[from] SpeedError),

    /// A part of the published batch view could not be read.
    #[error("could not read `{name}` of batch v{version}: {source}")]
    Read {
        name: &'static str,
        version: u64,
        source: Box<LayoutError>,
    },

    /// The `data_quality` of the published batch view lists a row that is no error record or
    /// rejected line as the batch writes them.
    #[error("the data_quality of batch v{version} holds a row serving cannot read: {detail}")]
    Issues { version: u64, detail: String },

    /// A table or view could not be built as Arrow, or written as JSON.
    #[error("could not build `{name}`: {source}")]
    Arrow {
        name: &'static str,
        source: ArrowError,
    },

    /// A table or view rebuilt from the winning snapshots holds another number of rows than
    /// the batch manifest records: the batch view is damaged or was changed after it was
    /// published.
    #[error(
        "`{name}` of batch v{version} holds {found} rows but its manifest records \
         {expected}; run `carlambda batch` to publish a fresh version"
    )]
    RowCount {
        name: &'static str,
        version: u64,
        found: u64,
        expected: u64,
    },

    /// A name that is not one of the tables or views asked for.
    #[error("there is no `{name}`: the names are {known}")]
    UnknownName { name: String, known: String },

    /// A query that would change something (DDL, DML, `COPY`, `SET`, ...): queries only read.
    #[error("the query is refused, queries are read-only: {0}")]
    ReadOnly(String),

    /// A query that does not parse or plan or run, with the SQL engine's reason.
    #[error("{0}")]
    Sql(String),

    /// The HTTP server could not listen on its address.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },

    /// The HTTP server stopped with an error.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),

    /// The page template kept in `serving/templates/index.hbs` does not compile.
    #[error("the page template serving/templates/index.hbs is invalid: {0}")]
    Template(String),

    /// The page could not be rendered from the current state.
    #[error("could not render the page for batch v{version}: {source}")]
    Render {
        version: u64,
        source: handlebars::RenderError,
    },

    /// The rendered page or a view could not be stored.
    #[error("could not publish {key}: {source}")]
    Publish {
        key: String,
        source: Box<StoreError>,
    },
}
