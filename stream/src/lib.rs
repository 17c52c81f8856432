//! The stream of raw records between ingest and the layers that read it: Kinesis, or an
//! embedded local log, behind one interface; and the archive from the stream into the master
//! dataset.
//!
//! A record on the stream is one raw record as its JSON line. Records are sharded by their
//! scope (the partition key), so the records of one scope keep their order. Readers see each
//! record with its shard, its sequence number in that shard, and the time it arrived.

pub mod archive;
mod data;
mod kinesis;
mod local;
mod sequence;
mod sink;

use std::collections::BTreeMap;
use std::path::PathBuf;

use carlambda_schemas::{FetchedAt, RawRecord};

pub use kinesis::{KinesisConsumer, KinesisStream};
pub use local::{LocalConsumer, LocalLog};
pub use sequence::{BadSequenceNumber, SequenceNumber};

/// The scheme of a Kinesis stream's location, `kinesis://<stream name>`.
const KINESIS_SCHEME: &str = "kinesis://";

/// Where a reader stands: per shard, the last sequence number read. A shard that is missing is
/// read from its start.
pub type Position = BTreeMap<String, SequenceNumber>;

/// The stream: Kinesis, or the embedded local log.
#[derive(Debug, Clone)]
pub enum Stream {
    /// A folder on this machine holding one append-only file per shard.
    Local(LocalLog),
    /// A Kinesis data stream.
    Kinesis(KinesisStream),
}

impl Stream {
    /// A local folder path (the embedded log) or `kinesis://<stream name>` (region, endpoint
    /// and credentials from the standard AWS configuration).
    ///
    /// A local log is created if the folder holds none yet; a Kinesis stream must exist (it is
    /// not contacted until the first operation).
    pub async fn open(location: &str) -> Result<Stream, StreamError> {
        if let Some(name) = location.strip_prefix(KINESIS_SCHEME) {
            return Ok(Stream::Kinesis(KinesisStream::open(name).await?));
        }
        if location.contains("://") {
            return Err(StreamError::InvalidLocation {
                location: location.to_owned(),
                reason: "only `kinesis://<stream name>` and local folder paths are supported"
                    .to_owned(),
            });
        }
        Ok(Stream::Local(LocalLog::open(location).await?))
    }

    /// Appends `records`, each to the shard of its scope. Returns once every record is
    /// durably on the stream; on an error some records may have been appended (appending them
    /// again is harmless: a record id is one record, however often delivered).
    pub async fn append(&self, records: &[RawRecord]) -> Result<(), StreamError> {
        match self {
            Stream::Local(log) => log.append(records).await,
            Stream::Kinesis(stream) => stream.append(records).await,
        }
    }

    /// Where this stream lives, for logs and messages: the log's absolute folder or
    /// `kinesis://<stream name>`.
    pub fn describe(&self) -> String {
        match self {
            Stream::Local(log) => log.root().display().to_string(),
            Stream::Kinesis(stream) => format!("{KINESIS_SCHEME}{}", stream.name()),
        }
    }

    /// A short name of the stream, fit for a key segment: the Kinesis stream's name, or the
    /// local log folder's name.
    pub fn name(&self) -> String {
        match self {
            Stream::Local(log) => log.name(),
            Stream::Kinesis(stream) => stream.name().to_owned(),
        }
    }

    /// A reader of every shard, starting after `position` (an empty position: from the start
    /// of every shard).
    pub async fn consumer(&self, position: Position) -> Result<Consumer, StreamError> {
        Ok(match self {
            Stream::Local(log) => Consumer::Local(log.consumer(position).await?),
            Stream::Kinesis(stream) => Consumer::Kinesis(stream.consumer(position).await?),
        })
    }
}

/// One record as read from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRecord {
    pub shard: String,
    pub sequence: SequenceNumber,
    /// When the stream accepted the record (Kinesis' approximate arrival time).
    pub arrived: FetchedAt,
    /// The record's JSON line, without the line break. Kept as it was read, so that a record
    /// someone else put on the stream that is not a raw record is still kept as it came.
    pub line: String,
}

impl StreamRecord {
    /// The raw record this line holds.
    pub fn record(&self) -> Result<RawRecord, serde_json::Error> {
        serde_json::from_str(&self.line)
    }
}

/// A reader of every shard of a stream, in order within each shard.
#[derive(Debug)]
pub enum Consumer {
    Local(LocalConsumer),
    Kinesis(KinesisConsumer),
}

impl Consumer {
    /// The next records, in sequence order within each shard; empty when nothing new has
    /// arrived since the last call (the caller decides how long to wait before asking again).
    pub async fn next_batch(&mut self) -> Result<Vec<StreamRecord>, StreamError> {
        match self {
            Consumer::Local(consumer) => consumer.next_batch().await,
            Consumer::Kinesis(consumer) => consumer.next_batch().await,
        }
    }

    /// The position after every record returned so far, to save and start from again.
    pub fn position(&self) -> &Position {
        match self {
            Consumer::Local(consumer) => consumer.position(),
            Consumer::Kinesis(consumer) => consumer.position(),
        }
    }

    /// Whether every record on the stream when this is asked has been returned.
    pub async fn caught_up(&mut self) -> Result<bool, StreamError> {
        match self {
            Consumer::Local(consumer) => consumer.caught_up().await,
            Consumer::Kinesis(consumer) => consumer.caught_up().await,
        }
    }
}

/// Why a stream operation failed. Messages name the stream and, where there is one, the shard
/// or file; none contains credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("cannot open the stream at `{location}`: {reason}")]
    InvalidLocation { location: String, reason: String },

    #[error("could not {action} {path} of the local stream log: {cause}")]
    Io {
        path: PathBuf,
        action: &'static str,
        cause: std::io::Error,
    },

    #[error(
        "the local stream log {path} is damaged at byte {offset}: {reason}; \
         move the file aside to keep its records and start a new log"
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    #[error(
        "shard {shard} of {stream} has no record at sequence number {sequence}: \
         the saved position does not belong to this stream"
    )]
    UnknownPosition {
        stream: String,
        shard: String,
        sequence: SequenceNumber,
    },

    #[error("Kinesis could not {action} on {stream}: {cause}; {hint}")]
    Kinesis {
        stream: String,
        action: &'static str,
        cause: String,
        hint: &'static str,
    },

    #[error(
        "record {record_id} takes {bytes} bytes even compressed, more than the {limit} bytes a \
         Kinesis record may hold; nothing of this append was sent"
    )]
    RecordTooLarge {
        record_id: String,
        bytes: usize,
        limit: usize,
    },

    #[error(
        "Kinesis refused {failed} records of an append to {stream} after {attempts} \
         attempts (last: {code}: {message}); the other records were appended"
    )]
    PutFailed {
        stream: String,
        failed: usize,
        attempts: u32,
        code: String,
        message: String,
    },
}
