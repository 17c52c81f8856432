//! The stream as the destination of ingest.

use carlambda_ingest::{RecordSink, SinkError};
use carlambda_schemas::RawRecord;

use crate::Stream;

impl RecordSink for Stream {
    /// Appends as [`Stream::append`] does: `Ok` only once every record is durably on the
    /// stream.
    async fn append(&self, records: &[RawRecord]) -> Result<(), SinkError> {
        Stream::append(self, records)
            .await
            .map_err(|e| SinkError::new(format!("stream {}", self.describe()), e))
    }
}
