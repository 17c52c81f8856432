//! Reading one line of a raw object: a raw record envelope, or a legacy Firehose object (a bare
//! model response with a float `time_stamp`), into what the layers act on.

use std::borrow::Cow;

use serde::Deserialize;
use sonic_rs::LazyValue;

use crate::edmunds::{self, ModelResponse, ModelYearStyles, Reading, Response, Text};
use crate::record::{self, Body, RecordParts};
use crate::{ErrorKind, FetchError, FetchedAt, RawRecord, Scope};

/// The source of legacy Firehose objects: the old pipeline polled the Edmunds API.
pub const LEGACY_SOURCE: &str = "edmunds-v2";
/// The old pipeline did not keep its request paths; its records all carry this endpoint.
pub const LEGACY_ENDPOINT: &str = "legacy-firehose";

/// What one line of a raw object is.
#[derive(Debug)]
pub enum LineOutcome<'a> {
    /// An empty line, which carries nothing.
    Blank,
    /// A usable snapshot of its scope.
    Snapshot(Candidate<'a>),
    /// A record of a call that failed, or that the API answered with an error body.
    Error(ErrorRecord),
    /// A line that cannot be understood.
    Rejected(Rejection),
}

/// A snapshot that may win its scope.
#[derive(Debug)]
pub struct Candidate<'a> {
    pub scope: Scope,
    pub fetched_at: FetchedAt,
    pub response: Response<'a>,
    id: CandidateId<'a>,
}

#[derive(Debug)]
enum CandidateId<'a> {
    /// The id an envelope carries.
    Known(String),
    /// The id of a legacy line, computed on demand: hashing every line would cost a sixth of a
    /// batch, and a snapshot older than its scope's winner never needs its id.
    LegacyLine(&'a str),
}

impl Candidate<'_> {
    /// The record id.
    pub fn record_id(&self) -> String {
        match &self.id {
            CandidateId::Known(id) => id.clone(),
            CandidateId::LegacyLine(text) => legacy_record_id(self.fetched_at, text),
        }
    }
}

/// An error record, for `data_quality`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorRecord {
    pub record_id: String,
    pub endpoint: String,
    pub kind: ErrorKind,
    pub message: String,
}

/// A rejected line: what could be read of it, and why it was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectKind,
    pub record_id: Option<String>,
    pub endpoint: Option<String>,
    pub reason: String,
}

/// Why a line was rejected, in one word, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectKind {
    /// Bytes that are not UTF-8, or text that is not one JSON object (a truncated line).
    NotJson,
    /// A JSON object that is neither a raw record nor a legacy Firehose object.
    UnknownLine,
    /// A raw record whose envelope fields are missing or wrong.
    BadEnvelope,
    /// A raw record without an error and without a body.
    EmptyBody,
    /// A body that is not the response its scope calls for.
    WrongShape,
}

impl RejectKind {
    /// The name used in `data_quality`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::NotJson => "not-json",
            RejectKind::UnknownLine => "unknown-line",
            RejectKind::BadEnvelope => "bad-envelope",
            RejectKind::EmptyBody => "empty-body",
            RejectKind::WrongShape => "wrong-shape",
        }
    }
}

impl Rejection {
    fn new(kind: RejectKind, reason: impl Into<String>) -> Rejection {
        Rejection {
            kind,
            record_id: None,
            endpoint: None,
            reason: reason.into(),
        }
    }
}

/// Every field either kind of line may have, so that one pass over the bytes tells which kind
/// it is and reads it: envelope fields, and the fields of a legacy model or error body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineFields<'a> {
    v: Option<u32>,
    #[serde(borrow, rename = "record_id")]
    record_id: Option<Text<'a>>,
    #[serde(borrow)]
    endpoint: Option<Text<'a>>,
    #[serde(borrow)]
    scope: Option<Text<'a>>,
    #[serde(borrow, rename = "fetched_at")]
    fetched_at: Option<Text<'a>>,
    #[serde(borrow)]
    body: Option<LazyValue<'a>>,
    error: Option<FetchError>,

    #[serde(rename = "time_stamp")]
    time_stamp: Option<f64>,
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    nice_name: Option<Text<'a>>,
    #[serde(borrow)]
    years: Option<Vec<ModelYearStyles<'a>>>,
    #[serde(borrow)]
    error_type: Option<Text<'a>>,
    #[serde(borrow)]
    status: Option<Text<'a>>,
    #[serde(borrow)]
    message: Option<Text<'a>>,
}

/// Reads one line (without its newline) of a raw object. Never panics: whatever cannot be
/// understood is a [`LineOutcome::Rejected`] with the reason.
pub fn read_line(line: &[u8]) -> LineOutcome<'_> {
    let Ok(text) = std::str::from_utf8(line) else {
        return LineOutcome::Rejected(Rejection::new(RejectKind::NotJson, "line is not UTF-8"));
    };
    let text = text.trim_end_matches('\r');
    if text.trim().is_empty() {
        return LineOutcome::Blank;
    }
    // sonic-rs rather than serde_json on this path: every line of every raw object passes here,
    // and its SIMD scanning halves the cost of the typed parse that dominates a batch.
    let fields: LineFields = match sonic_rs::from_str(text) {
        Ok(fields) => fields,
        Err(e) => {
            return LineOutcome::Rejected(Rejection::new(
                RejectKind::NotJson,
                format!("not a JSON object: {e}"),
            ));
        }
    };
    if fields.record_id.is_some() {
        read_envelope(fields)
    } else if fields.time_stamp.is_some() {
        read_legacy(fields, text)
    } else {
        LineOutcome::Rejected(Rejection::new(
            RejectKind::UnknownLine,
            "neither a raw record (no record_id) nor a legacy Firehose object (no time_stamp)",
        ))
    }
}

fn read_envelope(fields: LineFields<'_>) -> LineOutcome<'_> {
    let record_id = fields.record_id.as_ref().map(Text::to_owned_string);
    let endpoint = fields
        .endpoint
        .as_ref()
        .map_or_else(String::new, Text::to_owned_string);
    let reject = |kind: RejectKind, reason: String| {
        LineOutcome::Rejected(Rejection {
            kind,
            record_id: record_id.clone(),
            endpoint: Some(endpoint.clone()),
            reason,
        })
    };

    match fields.v {
        Some(record::ENVELOPE_VERSION) => {}
        Some(v) => {
            return reject(
                RejectKind::BadEnvelope,
                format!("envelope version {v} is not one this reader knows"),
            );
        }
        None => {
            return reject(
                RejectKind::BadEnvelope,
                "envelope without a version `v`".into(),
            );
        }
    }
    let record_id = record_id
        .clone()
        .expect("read_line only sends lines with a record_id");
    if let Some(error) = fields.error {
        return LineOutcome::Error(ErrorRecord {
            record_id,
            endpoint,
            kind: error.kind,
            message: error.message,
        });
    }
    let fetched_at = match fields
        .fetched_at
        .as_ref()
        .map(|t| t.as_str().parse::<FetchedAt>())
    {
        Some(Ok(fetched_at)) => fetched_at,
        Some(Err(e)) => return reject(RejectKind::BadEnvelope, format!("fetched_at: {e}")),
        None => {
            return reject(
                RejectKind::BadEnvelope,
                "envelope without fetched_at".into(),
            );
        }
    };
    let Some(body) = fields.body else {
        return reject(RejectKind::EmptyBody, "empty body".into());
    };
    let scope = match fields.scope.as_ref().map(|s| s.as_str().parse::<Scope>()) {
        Some(Ok(scope)) => scope,
        Some(Err(e)) => return reject(RejectKind::BadEnvelope, e.to_string()),
        None => return reject(RejectKind::BadEnvelope, "envelope without a scope".into()),
    };
    // Only a JSON string with escapes comes back owned; a string is never a response.
    let Cow::Borrowed(body) = body.as_raw_cow() else {
        return reject(
            RejectKind::WrongShape,
            "body is a JSON string, not a response".into(),
        );
    };
    match edmunds::read_for_scope(&scope, body) {
        Ok(Reading::Response(response)) => LineOutcome::Snapshot(Candidate {
            scope,
            fetched_at,
            response,
            id: CandidateId::Known(record_id),
        }),
        Ok(Reading::ApiError(api_error)) => LineOutcome::Error(ErrorRecord {
            record_id,
            endpoint,
            kind: ErrorKind::Api,
            message: api_error.summary(),
        }),
        Err(reason) => reject(RejectKind::WrongShape, reason),
    }
}

fn read_legacy<'a>(fields: LineFields<'a>, text: &'a str) -> LineOutcome<'a> {
    let time_stamp = fields
        .time_stamp
        .expect("read_line only sends lines with a time_stamp");
    let Some(fetched_at) = FetchedAt::from_unix_seconds_f64(time_stamp) else {
        return LineOutcome::Rejected(Rejection::new(
            RejectKind::UnknownLine,
            format!("legacy time_stamp {time_stamp} is not a time"),
        ));
    };
    let endpoint = Some(LEGACY_ENDPOINT.to_owned());

    if let Some(error_type) = fields.error_type {
        let api_error = edmunds::ApiErrorBody {
            error_type,
            status: fields.status,
            message: fields.message,
        };
        return LineOutcome::Error(ErrorRecord {
            record_id: legacy_record_id(fetched_at, text),
            endpoint: LEGACY_ENDPOINT.to_owned(),
            kind: ErrorKind::Api,
            message: api_error.summary(),
        });
    }
    let (Some(id), Some(years)) = (fields.id, fields.years) else {
        return LineOutcome::Rejected(Rejection {
            kind: RejectKind::UnknownLine,
            record_id: Some(legacy_record_id(fetched_at, text)),
            endpoint,
            reason: "legacy object is not a model response (no id or no years)".into(),
        });
    };
    LineOutcome::Snapshot(Candidate {
        scope: Scope::Model(id.to_owned_string()),
        id: CandidateId::LegacyLine(text),
        fetched_at,
        response: Response::Model(ModelResponse {
            id,
            name: fields.name,
            nice_name: fields.nice_name,
            years,
        }),
    })
}

fn legacy_record_id(fetched_at: FetchedAt, text: &str) -> String {
    record::record_id(
        LEGACY_SOURCE,
        LEGACY_ENDPOINT,
        fetched_at,
        Some(text.trim()),
    )
}

/// The raw record a legacy Firehose object stands for: scope `model:<id>`, `fetched_at` from
/// `time_stamp`, and the object itself (on one line) as the body. Reading the record gives the
/// same record id as reading the legacy object in place.
pub fn legacy_record(text: &str) -> Result<RawRecord, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Legacy<'a> {
        #[serde(rename = "time_stamp")]
        time_stamp: f64,
        #[serde(borrow)]
        id: Option<Text<'a>>,
    }

    let legacy: Legacy = serde_json::from_str(text).map_err(|e| {
        format!("not a legacy Firehose object (model response with time_stamp): {e}")
    })?;
    let fetched_at = FetchedAt::from_unix_seconds_f64(legacy.time_stamp)
        .ok_or_else(|| format!("legacy time_stamp {} is not a time", legacy.time_stamp))?;
    let error = serde_json::from_str::<edmunds::ApiErrorBody>(text)
        .ok()
        .map(|api_error| FetchError {
            kind: ErrorKind::Api,
            message: api_error.summary(),
        });
    let scope = match (&legacy.id, &error) {
        (Some(id), None) => Scope::Model(id.to_owned_string()).to_string(),
        _ => crate::UNKNOWN_SCOPE.to_owned(),
    };
    Ok(RawRecord::new(RecordParts {
        source: LEGACY_SOURCE,
        endpoint: LEGACY_ENDPOINT,
        scope,
        fetched_at,
        http_status: None,
        body: Body::Json(record::one_line_raw(text)),
        error,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUMMER: &str = r#"{"time_stamp": 1488433069.071519, "years": [{"styles": [{"trim": "Hard Top", "submodel": {"body": "SUV", "modelName": "Hummer SUV", "niceName": "suv"}, "id": 8769, "name": "Hard Top 2dr SUV AWD"}], "id": 3407, "year": 1998}], "id": "AM_General_Hummer", "niceName": "hummer", "name": "Hummer"}"#;

    fn rejection(line: &str) -> String {
        match read_line(line.as_bytes()) {
            LineOutcome::Rejected(rejection) => rejection.reason,
            other => panic!("{line} was not rejected: {other:?}"),
        }
    }

    #[test]
    fn a_legacy_line_is_a_model_snapshot() {
        let LineOutcome::Snapshot(candidate) = read_line(HUMMER.as_bytes()) else {
            panic!("not a snapshot");
        };
        assert_eq!(candidate.scope.to_string(), "model:AM_General_Hummer");
        assert_eq!(candidate.fetched_at.to_string(), "2017-03-02T05:37:49.071Z");
    }

    #[test]
    fn a_converted_legacy_line_keeps_its_record_id() {
        let LineOutcome::Snapshot(in_place) = read_line(HUMMER.as_bytes()) else {
            panic!("not a snapshot");
        };
        let record = legacy_record(HUMMER).unwrap();
        assert_eq!(record.record_id, in_place.record_id());

        let line = record.to_line();
        let LineOutcome::Snapshot(converted) = read_line(line.trim_end().as_bytes()) else {
            panic!("converted record is not a snapshot");
        };
        assert_eq!(converted.record_id(), in_place.record_id());
        assert_eq!(converted.scope, in_place.scope);
        assert_eq!(converted.fetched_at, in_place.fetched_at);
    }

    #[test]
    fn a_legacy_error_body_reads_the_same_in_place_and_converted() {
        let line = r#"{"time_stamp": 2.5, "errorType": "NOT_FOUND", "message": "gone ", "status": "NOT_FOUND"}"#;
        let LineOutcome::Error(in_place) = read_line(line.as_bytes()) else {
            panic!("not an error record");
        };
        let converted = legacy_record(line).unwrap();
        assert_eq!(converted.error.unwrap().message, in_place.message);
        assert_eq!(converted.record_id, in_place.record_id);
    }

    #[test]
    fn an_envelope_with_an_error_is_an_error_record() {
        let line = r#"{"v":1,"record_id":"abc","source":"s","endpoint":"/e","scope":"catalog","fetched_at":"2017-03-02T05:37:49.071Z","http_status":null,"body":null,"error":{"kind":"timeout","message":"no answer in 10 s"}}"#;
        let LineOutcome::Error(error) = read_line(line.as_bytes()) else {
            panic!("not an error record");
        };
        assert_eq!(error.kind, ErrorKind::Timeout);
        assert_eq!(error.endpoint, "/e");
    }

    #[test]
    fn an_error_body_is_an_api_error_record() {
        let line = r#"{"v":1,"record_id":"abc","source":"s","endpoint":"/e","scope":"model:X","fetched_at":"2017-03-02T05:37:49.071Z","http_status":400,"body":{"errorType":"INCORRECT_PARAMS","message":"m","status":"BAD_REQUEST"},"error":null}"#;
        assert!(matches!(
            read_line(line.as_bytes()),
            LineOutcome::Error(ErrorRecord {
                kind: ErrorKind::Api,
                ..
            })
        ));
    }

    #[test]
    fn bad_lines_are_rejected_with_a_reason() {
        assert!(
            rejection(r#"{"time_stamp": 1488433069.0, "id": "X", "years": [{"id": 1"#)
                .starts_with("not a JSON object")
        );
        assert!(rejection("[1, 2]").starts_with("not a JSON object"));
        assert!(rejection(r#"{"id": "X", "years": []}"#).starts_with("neither"));
        assert!(rejection(r#"{"time_stamp": 1.5, "makes": []}"#).contains("not a model"));
        let envelope = |scope: &str, body: &str| {
            format!(
                r#"{{"v":1,"record_id":"r","source":"s","endpoint":"/e","scope":"{scope}","fetched_at":"2017-03-02T05:37:49.071Z","http_status":200,"body":{body},"error":null}}"#
            )
        };
        assert_eq!(rejection(&envelope("catalog", "null")), "empty body");
        assert!(rejection(&envelope("weird", "{}")).contains("is not a scope"));
        assert!(
            rejection(&envelope("catalog", r#"{"makes":[{"id":"x"}]}"#)).contains("invalid type")
        );
        assert!(rejection(&envelope("model:X", r#""<html>""#)).contains("not a model response"));
    }

    #[test]
    fn blank_lines_carry_nothing() {
        assert!(matches!(read_line(b"  \r"), LineOutcome::Blank));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_rejected() {
        assert_eq!(rejection_bytes(b"{\"a\":\"\xff\"}"), "line is not UTF-8");
    }

    fn rejection_bytes(line: &[u8]) -> String {
        match read_line(line) {
            LineOutcome::Rejected(rejection) => rejection.reason,
            other => panic!("not rejected: {other:?}"),
        }
    }
}
