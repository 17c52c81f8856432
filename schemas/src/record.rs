//! The raw record envelope: the only thing the master dataset holds.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::FetchedAt;

/// The envelope version this crate writes.
pub const ENVELOPE_VERSION: u32 = 1;

/// One API response, or one failure to get one, exactly as it arrived. Written once as one
/// NDJSON line and never changed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RawRecord {
    pub v: u32,
    /// Stable content id, see [`record_id`].
    pub record_id: String,
    /// Where the response came from, e.g. `edmunds-v2` or `simulator`.
    pub source: String,
    /// Request path without credentials.
    pub endpoint: String,
    /// What the response is a complete snapshot of (see [`crate::Scope`]), as text so that a
    /// record whose scope could not be worked out is still kept.
    pub scope: String,
    pub fetched_at: FetchedAt,
    pub http_status: Option<u16>,
    /// The body as compact JSON, or a JSON string holding the text when the body was not JSON.
    pub body: Option<Box<RawValue>>,
    pub error: Option<FetchError>,
}

/// Why a call produced no usable response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The kinds of fetch failure of DESIGN.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    Timeout,
    Connect,
    Http,
    /// The API answered with an Edmunds error body.
    Api,
    InvalidJson,
}

impl ErrorKind {
    /// The name used in records and in `data_quality`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Http => "http",
            ErrorKind::Api => "api",
            ErrorKind::InvalidJson => "invalid-json",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields of a record that are not derived from the others.
pub struct RecordParts<'a> {
    pub source: &'a str,
    pub endpoint: &'a str,
    pub scope: String,
    pub fetched_at: FetchedAt,
    pub http_status: Option<u16>,
    pub body: Body,
    pub error: Option<FetchError>,
}

/// A response body as the envelope stores it.
pub enum Body {
    /// No body arrived.
    None,
    /// A body that is JSON, already compact (see [`compact_json`]).
    Json(Box<RawValue>),
    /// A body that is not JSON; kept as a JSON string so that nothing is lost.
    Text(String),
}

impl Body {
    /// Classifies received bytes: empty, JSON (compacted), or text that is not JSON.
    pub fn from_received(bytes: &[u8]) -> Body {
        let text = String::from_utf8_lossy(bytes);
        if text.trim().is_empty() {
            return Body::None;
        }
        match serde_json::from_str::<&RawValue>(&text) {
            Ok(_) => Body::Json(compact_raw(&text)),
            Err(_) => Body::Text(text.into_owned()),
        }
    }

    /// Whether the body is JSON.
    pub fn is_json(&self) -> bool {
        matches!(self, Body::Json(_))
    }

    fn into_raw(self) -> Option<Box<RawValue>> {
        match self {
            Body::None => None,
            Body::Json(raw) => Some(raw),
            Body::Text(text) => {
                let quoted = serde_json::to_string(&text).expect("a string always serializes");
                Some(RawValue::from_string(quoted).expect("a quoted string is JSON"))
            }
        }
    }
}

impl RawRecord {
    /// A version-1 record with its content id computed from the parts.
    pub fn new(parts: RecordParts<'_>) -> RawRecord {
        let body = parts.body.into_raw();
        let record_id = record_id(
            parts.source,
            parts.endpoint,
            parts.fetched_at,
            body.as_deref().map(RawValue::get),
        );
        RawRecord {
            v: ENVELOPE_VERSION,
            record_id,
            source: parts.source.to_owned(),
            endpoint: parts.endpoint.to_owned(),
            scope: parts.scope,
            fetched_at: parts.fetched_at,
            http_status: parts.http_status,
            body,
            error: parts.error,
        }
    }

    /// The record as one NDJSON line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a raw record always serializes");
        line.push('\n');
        line
    }
}

/// The content id of a record: 128 bits of BLAKE3 over source, endpoint, fetched_at and the
/// stored body, as 32 hex digits. The same response fetched at the same millisecond is the
/// same record, however often it is delivered.
pub fn record_id(
    source: &str,
    endpoint: &str,
    fetched_at: FetchedAt,
    body: Option<&str>,
) -> String {
    let mut hasher = id_hasher(source, endpoint, fetched_at);
    match body {
        Some(body) => hasher.update(&[1]).update(body.as_bytes()),
        None => hasher.update(&[0]),
    };
    hex_id(&hasher)
}

/// [`record_id`] of a record whose stored body would be `compact_json(json)`, without building
/// that string: the batch computes it for every legacy line it reads.
pub fn record_id_of_json(
    source: &str,
    endpoint: &str,
    fetched_at: FetchedAt,
    json: &str,
) -> String {
    let mut hasher = id_hasher(source, endpoint, fetched_at);
    hasher.update(&[1]);
    for_each_compact_run(json, |run| {
        hasher.update(run);
    });
    hex_id(&hasher)
}

fn id_hasher(source: &str, endpoint: &str, fetched_at: FetchedAt) -> blake3::Hasher {
    let mut hasher = blake3::Hasher::new();
    for part in [source, endpoint, &fetched_at.to_string()] {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    hasher
}

fn hex_id(hasher: &blake3::Hasher) -> String {
    hasher.finalize().to_hex()[..32].to_owned()
}

/// `json` without the whitespace between tokens; strings, numbers and key order are kept
/// byte for byte. The input must be valid JSON.
///
/// Records are one line each, and the API pretty-prints its bodies, so bodies are stored
/// compact; the record id is taken over this form so that it can be recomputed from a record.
pub fn compact_json(json: &str) -> String {
    let mut out = Vec::with_capacity(json.len());
    for_each_compact_run(json, |run| out.extend_from_slice(run));
    String::from_utf8(out).expect("dropping ASCII whitespace keeps UTF-8 valid")
}

/// Calls `emit` with the runs of `json` that its compact form keeps, in order.
///
/// Works on bytes: JSON's whitespace, quotes and backslashes are ASCII, and no byte of a
/// multi-byte UTF-8 character is ASCII.
fn for_each_compact_run(json: &str, mut emit: impl FnMut(&[u8])) {
    let bytes = json.as_bytes();
    let mut run_start = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b.is_ascii_whitespace() {
            if run_start < i {
                emit(&bytes[run_start..i]);
            }
            run_start = i + 1;
        } else if b == b'"' {
            in_string = true;
        }
    }
    if run_start < bytes.len() {
        emit(&bytes[run_start..]);
    }
}

/// [`compact_json`] as a raw value. The input must be valid JSON.
pub fn compact_raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(compact_json(json)).expect("compacting valid JSON keeps it valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(body: Body) -> RecordParts<'static> {
        RecordParts {
            source: "edmunds-v2",
            endpoint: "/api/vehicle/v2/makes",
            scope: "catalog".into(),
            fetched_at: "2017-03-02T05:37:49.071Z".parse().unwrap(),
            http_status: Some(200),
            body,
            error: None,
        }
    }

    #[test]
    fn compacting_keeps_strings_and_drops_layout() {
        let pretty = "{\n \"a\" : [1, 2.50],\n \"b\": \"x y\\\" \\\\\" }";
        assert_eq!(compact_json(pretty), r#"{"a":[1,2.50],"b":"x y\" \\"}"#);
    }

    #[test]
    fn the_id_of_uncompacted_json_is_the_id_of_its_compact_form() {
        let at = FetchedAt::from_unix_millis(7);
        let pretty = "{\n \"a\" : [1, \"x y\\\" é\"]\n}";
        let compact = compact_json(pretty);
        assert_eq!(compact, r#"{"a":[1,"x y\" é"]}"#);
        assert_eq!(
            record_id_of_json("s", "e", at, pretty),
            record_id("s", "e", at, Some(&compact))
        );
    }

    #[test]
    fn record_id_ignores_body_layout_but_not_content() {
        let a = RawRecord::new(parts(Body::from_received(b"{\"makes\": []}")));
        let b = RawRecord::new(parts(Body::from_received(b"{\n  \"makes\":[]\n}\n")));
        let c = RawRecord::new(parts(Body::from_received(b"{\"makes\": [1]}")));
        assert_eq!(a.record_id, b.record_id);
        assert_ne!(a.record_id, c.record_id);
        assert_eq!(a.record_id.len(), 32);
    }

    #[test]
    fn a_record_is_one_line_and_reads_back() {
        let record = RawRecord::new(parts(Body::from_received(b"{\n \"makes\": []\n}")));
        let line = record.to_line();
        assert_eq!(line.matches('\n').count(), 1);
        let back: RawRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back.body.unwrap().get(), r#"{"makes":[]}"#);
        assert_eq!(back.fetched_at, record.fetched_at);
    }

    #[test]
    fn a_body_that_is_not_json_is_kept_as_text() {
        let body = Body::from_received(b"<html>502 Bad Gateway</html>");
        assert!(!body.is_json());
        let record = RawRecord::new(parts(body));
        let text: String = serde_json::from_str(record.body.unwrap().get()).unwrap();
        assert_eq!(text, "<html>502 Bad Gateway</html>");
    }

    #[test]
    fn an_empty_body_is_no_body() {
        assert!(matches!(Body::from_received(b" \n"), Body::None));
    }
}
