//! Ingest: turns API responses into raw records and appends them to the master dataset.

pub mod import;
pub mod raw_object;
