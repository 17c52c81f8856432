//! The raw record envelope: the only thing the master dataset holds.

use std::borrow::Cow;
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
#[derive(Clone)]
pub enum Body {
    /// No body arrived.
    None,
    /// A body that is JSON, already on one line (see [`one_line_json`]).
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
            Ok(_) => Body::Json(one_line_raw(&text)),
            Err(_) => Body::Text(text.into_owned()),
        }
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
    let mut hasher = blake3::Hasher::new();
    for part in [source, endpoint, &fetched_at.to_string()] {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    match body {
        Some(body) => hasher.update(&[1]).update(body.as_bytes()),
        None => hasher.update(&[0]),
    };
    hasher.finalize().to_hex()[..32].to_owned()
}

/// `json` as a body is stored: as received when it is one line (trimmed), otherwise compacted
/// (see [`compact_json`]) so that the record stays one NDJSON line. The input must be valid
/// JSON.
pub fn one_line_json(json: &str) -> Cow<'_, str> {
    let json = json.trim();
    if json.contains(['\n', '\r']) {
        Cow::Owned(compact_json(json))
    } else {
        Cow::Borrowed(json)
    }
}

/// [`one_line_json`] as a raw value. The input must be valid JSON.
pub fn one_line_raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(one_line_json(json).into_owned()).expect("a valid body stays valid")
}

/// `json` without the whitespace between tokens; strings, numbers and key order are kept
/// byte for byte. The input must be valid JSON.
///
/// Works on bytes: JSON's whitespace, quotes and backslashes are ASCII, and no byte of a
/// multi-byte UTF-8 character is ASCII.
pub fn compact_json(json: &str) -> String {
    let mut out = Vec::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b.is_ascii_whitespace() {
            continue;
        } else if b == b'"' {
            in_string = true;
        }
        out.push(b);
    }
    String::from_utf8(out).expect("dropping ASCII whitespace keeps UTF-8 valid")
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
    fn one_line_bodies_are_kept_as_received_and_others_compacted() {
        let one_line = RawRecord::new(parts(Body::from_received(b" {\"makes\": []}\n")));
        assert_eq!(one_line.body.unwrap().get(), r#"{"makes": []}"#);
        let pretty = RawRecord::new(parts(Body::from_received(b"{\n  \"makes\": [1]\n}\n")));
        assert_eq!(pretty.body.unwrap().get(), r#"{"makes":[1]}"#);
    }

    #[test]
    fn record_id_follows_the_stored_body() {
        let a = RawRecord::new(parts(Body::from_received(b"{\"makes\": []}")));
        let b = RawRecord::new(parts(Body::from_received(b"{\"makes\": []}\n")));
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
        assert!(matches!(body, Body::Text(_)));
        let record = RawRecord::new(parts(body));
        let text: String = serde_json::from_str(record.body.unwrap().get()).unwrap();
        assert_eq!(text, "<html>502 Bad Gateway</html>");
    }

    #[test]
    fn an_empty_body_is_no_body() {
        assert!(matches!(Body::from_received(b" \n"), Body::None));
    }
}
