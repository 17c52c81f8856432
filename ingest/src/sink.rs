//! Where ingest appends its raw records: the stream, or in tests anything that keeps them.

use std::error::Error;
use std::future::Future;

use carlambda_schemas::RawRecord;

/// A destination for raw records, in order. Ingest appends the records of one API call at a
/// time and advances its cursor only after `append` returned `Ok`, so an implementation must
/// not return `Ok` before the records are durable: a restart would otherwise skip them.
pub trait RecordSink: Send + Sync {
    /// Appends `records`, in order. On `Err` none, some or all of them may have been written;
    /// ingest then calls again with the same records, so a sink that is not idempotent may
    /// hold a record twice, which readers accept (the same `record_id` is one record).
    fn append(&self, records: &[RawRecord]) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// Why records could not be appended: the destination, and the underlying failure.
///
/// Implementations name the destination as users know it (`stream ./carlambda-stream`,
/// `kinesis stream carlambda`) and must not put credentials in either part.
#[derive(Debug, thiserror::Error)]
#[error("cannot append raw records to {destination}: {source}")]
pub struct SinkError {
    /// The destination, as users name it.
    pub destination: String,
    /// What failed.
    pub source: Box<dyn Error + Send + Sync>,
}

impl SinkError {
    /// A failure to append to `destination`.
    pub fn new(
        destination: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> SinkError {
        SinkError {
            destination: destination.into(),
            source: source.into(),
        }
    }
}
