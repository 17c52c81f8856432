//! Ingest: turns API responses into raw records, from recorded files (`import`) into the master
//! dataset, or from the live API (`client`, `live`) into the stream through a [`RecordSink`].

pub mod budget;
pub mod client;
pub mod cursor;
pub mod import;
pub mod live;
pub mod raw_object;
pub mod sink;
pub mod state;

pub use sink::{RecordSink, SinkError};
