//! `carlambda import`: recorded responses from files into raw records.
//!
//! A file is either one JSON response (pretty-printed or not; its scope worked out from the
//! body's shape), or NDJSON: legacy Firehose lines (a model response plus `time_stamp`), raw
//! records, or bare responses, one per line. Whatever cannot be read still becomes a record,
//! an `invalid-json` error record holding the text, so an import loses nothing.

use std::path::PathBuf;
use std::time::SystemTime;

use carlambda_schemas::edmunds::{ApiErrorBody, scope_of_body};
use carlambda_schemas::line::legacy_record;
use carlambda_schemas::record::{Body, RecordParts};
use carlambda_schemas::{ErrorKind, FetchError, FetchedAt, RawRecord, UNKNOWN_SCOPE};
use carlambda_store::{Store, StoreError};
use serde_json::value::RawValue;

use crate::raw_object;

/// How to import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// `source` of the records made from plain responses.
    pub source: String,
    /// `fetched_at` of responses that carry none; `None`: the file's modification time.
    pub fetched_at: Option<FetchedAt>,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions {
            source: "edmunds-v2".to_owned(),
            fetched_at: None,
        }
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub files: u64,
    pub records: u64,
    /// Records of failures: error bodies and text that is not JSON.
    pub errors: u64,
    /// The raw object written, or `None` when there was nothing to write.
    pub object: Option<String>,
    /// `false` when an identical object was already in the master dataset.
    pub written: bool,
}

/// Why an import stopped. Nothing is written then.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports every file in `paths` (folders recursively, in name order) into `store` as one new
/// raw object.
pub async fn import(
    store: &Store,
    paths: &[PathBuf],
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let (files, records) = records_of_paths(paths, options)?;
    let mut summary = ImportSummary {
        files,
        ..ImportSummary::default()
    };
    summary.records = records.len() as u64;
    summary.errors = records.iter().filter(|r| r.error.is_some()).count() as u64;
    if !records.is_empty() {
        let (key, written) = raw_object::append(store, "import", &records).await?;
        summary.object = Some(key);
        summary.written = written;
    }
    Ok(summary)
}

/// The raw records an import of `paths` makes, and the number of files read; for callers
/// that send them elsewhere than to a new raw object (the stream).
pub fn records_of_paths(
    paths: &[PathBuf],
    options: &ImportOptions,
) -> Result<(u64, Vec<RawRecord>), ImportError> {
    let mut files = 0;
    let mut records = Vec::new();
    for path in files_under(paths)? {
        let read_error = |source| ImportError::Read {
            path: path.clone(),
            source,
        };
        let bytes = std::fs::read(&path).map_err(read_error)?;
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(read_error)?;
        let fetched_at = options.fetched_at.unwrap_or_else(|| modified_at(modified));
        let file_name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into());
        records.extend(records_of_file(
            &file_name,
            &bytes,
            fetched_at,
            &options.source,
        ));
        files += 1;
    }
    Ok((files, records))
}

fn modified_at(modified: SystemTime) -> FetchedAt {
    let millis = match modified.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => after.as_millis() as i64,
        Err(before) => -(before.duration().as_millis() as i64),
    };
    FetchedAt::from_unix_millis(millis)
}

fn files_under(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    for path in paths {
        let read_error = |source| ImportError::Read {
            path: path.clone(),
            source,
        };
        if path.metadata().map_err(read_error)?.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_error)?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(read_error)?;
            entries.retain(|entry| is_data_file(entry));
            entries.sort();
            files.extend(files_under(&entries)?);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Whether a file met while walking a folder may hold responses: hidden files and documents
/// (a recording's README, say) are passed over. Files named on the command line are always read.
fn is_data_file(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().to_lowercase());
    let document = [".md", ".txt", ".rst", ".html", ".pdf"]
        .iter()
        .any(|ext| name.ends_with(ext));
    !name.starts_with('.') && !document
}

/// The raw records one file stands for. Never fails: unreadable text becomes error records.
pub fn records_of_file(
    file_name: &str,
    bytes: &[u8],
    fetched_at: FetchedAt,
    source: &str,
) -> Vec<RawRecord> {
    let endpoint = format!("file:{file_name}");
    let record =
        |line: &[u8], what: &str| record_of_bytes(line, what, &endpoint, fetched_at, source);
    if bytes.trim_ascii().is_empty() {
        let scope = UNKNOWN_SCOPE.to_owned();
        let (body, error, http_status) = (Body::None, None, None);
        let parts = RecordParts {
            source,
            endpoint: &endpoint,
            scope,
            fetched_at,
            http_status,
            body,
            error,
        };
        return vec![RawRecord::new(parts)];
    }
    if is_json(bytes) || !is_ndjson(bytes) {
        return vec![record(bytes, "the file")];
    }
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .map(|(index, line)| record(line, &format!("line {}", index + 1)))
        .collect()
}

fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<&RawValue>(bytes).is_ok()
}

/// Whether a file that is not one JSON document is NDJSON: some line, starting at its first
/// column, is a whole JSON object. Lines of a pretty-printed document are indented or partial,
/// so a truncated response stays one record, while an NDJSON file with a broken first line
/// still has its good lines read.
fn is_ndjson(bytes: &[u8]) -> bool {
    bytes
        .split(|&b| b == b'\n')
        .any(|line| line.first() == Some(&b'{') && is_json(line))
}

/// The record of one document (`what` names it in messages): JSON as [`record_of_json`] reads
/// it, anything else an `invalid-json` error record holding the text.
fn record_of_bytes(
    bytes: &[u8],
    what: &str,
    endpoint: &str,
    fetched_at: FetchedAt,
    source: &str,
) -> RawRecord {
    match std::str::from_utf8(bytes) {
        Ok(text) => match serde_json::from_str::<&RawValue>(text) {
            Ok(_) => record_of_json(text, endpoint, fetched_at, source),
            Err(e) => not_json(
                text,
                endpoint,
                fetched_at,
                source,
                &format!("{what} is not JSON: {e}"),
            ),
        },
        // LIMITATION: the bytes that are not UTF-8 are kept as U+FFFD in the stored text; the
        // record says so, and everything else of the text is kept.
        Err(e) => {
            let text = String::from_utf8_lossy(bytes);
            not_json(
                &text,
                endpoint,
                fetched_at,
                source,
                &format!("{what} is not UTF-8: {e}"),
            )
        }
    }
}

/// One JSON document: a raw record as it is, a legacy Firehose object, or a bare response.
fn record_of_json(json: &str, endpoint: &str, fetched_at: FetchedAt, source: &str) -> RawRecord {
    if let Ok(record) = serde_json::from_str::<RawRecord>(json) {
        return record;
    }
    if let Ok(record) = legacy_record(json) {
        return record;
    }
    let body = Body::from_received(json.as_bytes());
    let (http_status, error) = match serde_json::from_str::<ApiErrorBody>(json) {
        Ok(api_error) => (
            api_error.http_status(),
            Some(FetchError {
                kind: ErrorKind::Api,
                message: api_error.summary(),
            }),
        ),
        Err(_) => (Some(200), None),
    };
    let scope = scope_of_body(json).map_or_else(|| UNKNOWN_SCOPE.to_owned(), |s| s.to_string());
    RawRecord::new(RecordParts {
        source,
        endpoint,
        scope,
        fetched_at,
        http_status,
        body,
        error,
    })
}

fn not_json(
    text: &str,
    endpoint: &str,
    fetched_at: FetchedAt,
    source: &str,
    why: &str,
) -> RawRecord {
    RawRecord::new(RecordParts {
        source,
        endpoint,
        scope: UNKNOWN_SCOPE.to_owned(),
        fetched_at,
        http_status: None,
        body: Body::Text(text.to_owned()),
        error: Some(FetchError {
            kind: ErrorKind::InvalidJson,
            message: why.to_owned(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> FetchedAt {
        "2017-03-02T05:00:00.000Z".parse().unwrap()
    }

    fn records(bytes: &str) -> Vec<RawRecord> {
        records_of_file("f.json", bytes.as_bytes(), at(), "edmunds-v2")
    }

    #[test]
    fn a_pretty_response_is_one_record_with_its_scope() {
        let records = records("{\n \"id\": \"Lexus_RX_350\",\n \"years\": []\n}\n");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].scope, "model:Lexus_RX_350");
        assert_eq!(
            records[0].body.as_ref().unwrap().get(),
            r#"{"id":"Lexus_RX_350","years":[]}"#
        );
        assert_eq!(records[0].fetched_at, at());
        assert!(records[0].error.is_none());
    }

    #[test]
    fn an_error_body_is_an_api_error_record() {
        let records = records(
            r#"{"errorType":"INCORRECT_PARAMS","message":"Style ID is not valid. ","status":"BAD_REQUEST"}"#,
        );
        let error = records[0].error.as_ref().unwrap();
        assert_eq!(error.kind, ErrorKind::Api);
        assert_eq!(records[0].http_status, Some(400));
    }

    #[test]
    fn legacy_lines_keep_their_time_stamps() {
        let line = |ts: f64| format!(r#"{{"time_stamp": {ts}, "id": "M_X", "years": []}}"#);
        let file = format!("{}\n{}\n", line(1488433069.5), line(1488436669.5));
        let records = records(&file);
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0].fetched_at.to_string(),
            "2017-03-02T05:37:49.500Z"
        );
        assert_ne!(records[0].record_id, records[1].record_id);
    }

    #[test]
    fn a_truncated_file_is_one_invalid_json_record_holding_the_text() {
        let records = records("{\n \"id\": \"Lexus_RX_350\",\n \"years\": [");
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].error.as_ref().unwrap().kind,
            ErrorKind::InvalidJson
        );
        let kept: String = serde_json::from_str(records[0].body.as_ref().unwrap().get()).unwrap();
        assert!(kept.ends_with("\"years\": ["));
        let message = &records[0].error.as_ref().unwrap().message;
        assert!(message.starts_with("the file is not JSON"), "{message}");
    }

    #[test]
    fn a_bad_line_among_good_ones_is_an_error_record_of_its_own() {
        let file = "{\"time_stamp\": 1.0, \"id\": \"M\", \"years\": []}\n{\"time_st\n";
        let records = records(file);
        assert_eq!(records.len(), 2);
        assert!(records[0].error.is_none());
        let message = &records[1].error.as_ref().unwrap().message;
        assert!(message.starts_with("line 2 is not JSON"), "{message}");
    }

    #[test]
    fn a_broken_first_line_does_not_hide_the_good_ones() {
        let file = "{\"time_st\n{\"time_stamp\": 1.0, \"id\": \"M\", \"years\": []}\n";
        let records = records(file);
        assert_eq!(records.len(), 2);
        assert!(records[0].error.is_some());
        assert_eq!(records[1].scope, "model:M");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_an_error_record() {
        let records = records_of_file("f.json", b"{\"id\": \"B\xffr\", \"years\": []}", at(), "s");
        let error = records[0].error.as_ref().unwrap();
        assert_eq!(error.kind, ErrorKind::InvalidJson);
        assert!(error.message.contains("not UTF-8"), "{}", error.message);
    }

    #[test]
    fn raw_records_are_imported_as_they_are() {
        let original = records("{\"makes\": []}").remove(0);
        let again = records(&original.to_line()).remove(0);
        assert_eq!(again.record_id, original.record_id);
        assert_eq!(again.scope, "catalog");
    }

    #[test]
    fn an_empty_file_is_a_record_without_a_body() {
        let records = records(" \n");
        assert_eq!(records.len(), 1);
        assert!(records[0].body.is_none() && records[0].error.is_none());
    }

    #[test]
    fn folder_walks_pass_over_documents_and_hidden_files() {
        assert!(is_data_file("a/lexus__rx350.json".as_ref()));
        assert!(is_data_file("raw/2017/03/02/05/stream-1-2017".as_ref()));
        assert!(!is_data_file("a/README.md".as_ref()));
        assert!(!is_data_file("a/.DS_Store".as_ref()));
    }

    #[test]
    fn the_same_file_gives_the_same_records() {
        let file = "{\"makes\": []}";
        assert_eq!(records(file)[0].record_id, records(file)[0].record_id);
    }
}
