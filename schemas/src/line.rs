//! Reading one line of a raw object: a raw record envelope, or a legacy Firehose object (a bare
//! model response with a float `time_stamp`), into what the layers act on.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::edmunds::{self, ModelResponse, ModelYearStyles, Reading, Response, Text};
use crate::normalize::normalize;
use crate::record::{self, Body, RecordParts};
use crate::rows::SnapshotRows;
use crate::{ErrorKind, FetchError, FetchedAt, RawRecord, Scope, UNKNOWN_SCOPE};

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
    body: CandidateBody<'a>,
    id: CandidateId<'a>,
}

/// A candidate's response: read whole, or known to read as its scope's response (its bytes
/// were read whole before) and read only when its rows are wanted.
#[derive(Debug)]
enum CandidateBody<'a> {
    Read(Response<'a>),
    KnownEnvelope(&'a str),
    KnownLegacy {
        id: Text<'a>,
        name: Option<Text<'a>>,
        nice_name: Option<Text<'a>>,
        years: &'a str,
    },
}

/// Per scope, the last body read whole and found to be the scope's response. A line repeating
/// it byte for byte is only scanned, not read into typed values, unless it can win: an hourly
/// poll of an unchanged model costs a scan and a comparison.
///
/// Reading a known body again gives what it gave the first time, so a line's outcome is the
/// same whether or not its body was known.
#[derive(Clone, Debug, Default)]
pub struct KnownBodies {
    /// By the envelope's scope, its body.
    envelopes: HashMap<String, Box<str>>,
    /// By the legacy line's model id, its `years`.
    legacy_years: HashMap<String, Box<str>>,
}

fn knows(known: &HashMap<String, Box<str>>, key: &str, body: &str) -> bool {
    known.get(key).is_some_and(|last| **last == *body)
}

fn remember(known: &mut HashMap<String, Box<str>>, key: &str, body: &str) {
    known.insert(key.to_owned(), body.into());
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

    /// The rows the snapshot contributes.
    pub fn rows(&self) -> SnapshotRows {
        const KNOWN: &str = "a known body reads as it read before";
        match &self.body {
            CandidateBody::Read(response) => normalize(response),
            CandidateBody::KnownEnvelope(body) => {
                match edmunds::read_for_scope(&self.scope, body) {
                    Ok(Reading::Response(response)) => normalize(&response),
                    _ => unreachable!("{KNOWN}"),
                }
            }
            CandidateBody::KnownLegacy {
                id,
                name,
                nice_name,
                years,
            } => normalize(&Response::Model(ModelResponse {
                id: id.clone(),
                name: name.clone(),
                nice_name: nice_name.clone(),
                years: sonic_rs::from_str(years).expect(KNOWN),
            })),
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
    body: Option<&'a RawValue>,
    error: Option<FetchError>,

    #[serde(rename = "time_stamp")]
    time_stamp: Option<f64>,
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    nice_name: Option<Text<'a>>,
    /// Scanned only: read into typed values unless its bytes are known (see [`KnownBodies`]).
    #[serde(borrow)]
    years: Option<&'a RawValue>,
    #[serde(borrow)]
    error_type: Option<Text<'a>>,
    #[serde(borrow)]
    status: Option<Text<'a>>,
    #[serde(borrow)]
    message: Option<Text<'a>>,
}

/// Reads one line (without its newline) of a raw object. Never panics: whatever cannot be
/// understood is a [`LineOutcome::Rejected`] with the reason. `known` holds the bodies read
/// before; this line's is added when it reads as its scope's response.
pub fn read_line<'a>(line: &'a [u8], known: &mut KnownBodies) -> LineOutcome<'a> {
    let Ok(text) = std::str::from_utf8(line) else {
        return LineOutcome::Rejected(Rejection::new(RejectKind::NotJson, "line is not UTF-8"));
    };
    let text = text.trim_end_matches('\r');
    if text.trim().is_empty() {
        return LineOutcome::Blank;
    }
    // serde_json scans the bodies (left raw here) at twice sonic-rs's speed; the typed reads
    // of the bodies that are new use sonic-rs, which reads typed values at twice serde_json's.
    let fields: LineFields = match serde_json::from_str(text) {
        Ok(fields) => fields,
        Err(e) => return not_an_object(e.to_string()),
    };
    if fields.record_id.is_some() {
        read_envelope(fields, known)
    } else if fields.time_stamp.is_some() {
        read_legacy(fields, text, known)
    } else {
        LineOutcome::Rejected(Rejection::new(
            RejectKind::UnknownLine,
            "neither a raw record (no record_id) nor a legacy Firehose object (no time_stamp)",
        ))
    }
}

fn read_envelope<'a>(fields: LineFields<'a>, known: &mut KnownBodies) -> LineOutcome<'a> {
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
    let scope_text = fields.scope.as_ref().map_or("", Text::as_str);
    if scope_text == UNKNOWN_SCOPE {
        return reject(
            RejectKind::WrongShape,
            "the body is no response a scope can be told from (a makes catalog, make, \
             model or model-year styles response), so it was imported with scope `unknown`"
                .into(),
        );
    }
    let scope = match fields.scope.as_ref().map(|s| s.as_str().parse::<Scope>()) {
        Some(Ok(scope)) => scope,
        Some(Err(e)) => return reject(RejectKind::BadEnvelope, e.to_string()),
        None => return reject(RejectKind::BadEnvelope, "envelope without a scope".into()),
    };
    let body = body.get();
    if knows(&known.envelopes, scope_text, body) {
        return LineOutcome::Snapshot(Candidate {
            scope,
            fetched_at,
            body: CandidateBody::KnownEnvelope(body),
            id: CandidateId::Known(record_id),
        });
    }
    match edmunds::read_for_scope(&scope, body) {
        Ok(Reading::Response(response)) => {
            remember(&mut known.envelopes, scope_text, body);
            LineOutcome::Snapshot(Candidate {
                scope,
                fetched_at,
                body: CandidateBody::Read(response),
                id: CandidateId::Known(record_id),
            })
        }
        Ok(Reading::ApiError(api_error)) => LineOutcome::Error(ErrorRecord {
            record_id,
            endpoint,
            kind: ErrorKind::Api,
            message: api_error.summary(),
        }),
        Err(reason) => reject(RejectKind::WrongShape, reason),
    }
}

fn read_legacy<'a>(
    fields: LineFields<'a>,
    text: &'a str,
    known: &mut KnownBodies,
) -> LineOutcome<'a> {
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
    // Every line is read whole once its bytes are new, known or not: a wrong type anywhere
    // rejects the line, wherever it sits among its scope's snapshots.
    let years = years.get();
    let body = if knows(&known.legacy_years, id.as_str(), years) {
        CandidateBody::KnownLegacy {
            id: id.clone(),
            name: fields.name,
            nice_name: fields.nice_name,
            years,
        }
    } else {
        let read: Vec<ModelYearStyles> = match sonic_rs::from_str(years) {
            Ok(read) => read,
            Err(e) => return not_an_object(e.to_string()),
        };
        remember(&mut known.legacy_years, id.as_str(), years);
        CandidateBody::Read(Response::Model(ModelResponse {
            id: id.clone(),
            name: fields.name,
            nice_name: fields.nice_name,
            years: read,
        }))
    };
    LineOutcome::Snapshot(Candidate {
        scope: Scope::Model(id.to_owned_string()),
        id: CandidateId::LegacyLine(text),
        fetched_at,
        body,
    })
}

/// A line whose JSON does not have the types of the fields it is read into.
fn not_an_object(cause: String) -> LineOutcome<'static> {
    LineOutcome::Rejected(Rejection::new(
        RejectKind::NotJson,
        format!("not a JSON object: {cause}"),
    ))
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
        _ => UNKNOWN_SCOPE.to_owned(),
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
        match read_line(line.as_bytes(), &mut KnownBodies::default()) {
            LineOutcome::Rejected(rejection) => rejection.reason,
            other => panic!("{line} was not rejected: {other:?}"),
        }
    }

    #[test]
    fn a_legacy_line_is_a_model_snapshot() {
        let LineOutcome::Snapshot(candidate) =
            read_line(HUMMER.as_bytes(), &mut KnownBodies::default())
        else {
            panic!("not a snapshot");
        };
        assert_eq!(candidate.scope.to_string(), "model:AM_General_Hummer");
        assert_eq!(candidate.fetched_at.to_string(), "2017-03-02T05:37:49.071Z");
    }

    #[test]
    fn a_converted_legacy_line_keeps_its_record_id() {
        let LineOutcome::Snapshot(in_place) =
            read_line(HUMMER.as_bytes(), &mut KnownBodies::default())
        else {
            panic!("not a snapshot");
        };
        let record = legacy_record(HUMMER).unwrap();
        assert_eq!(record.record_id, in_place.record_id());

        let line = record.to_line();
        let LineOutcome::Snapshot(converted) =
            read_line(line.trim_end().as_bytes(), &mut KnownBodies::default())
        else {
            panic!("converted record is not a snapshot");
        };
        assert_eq!(converted.record_id(), in_place.record_id());
        assert_eq!(converted.scope, in_place.scope);
        assert_eq!(converted.fetched_at, in_place.fetched_at);
    }

    #[test]
    fn a_legacy_error_body_reads_the_same_in_place_and_converted() {
        let line = r#"{"time_stamp": 2.5, "errorType": "NOT_FOUND", "message": "gone ", "status": "NOT_FOUND"}"#;
        let LineOutcome::Error(in_place) = read_line(line.as_bytes(), &mut KnownBodies::default())
        else {
            panic!("not an error record");
        };
        let converted = legacy_record(line).unwrap();
        assert_eq!(converted.error.unwrap().message, in_place.message);
        assert_eq!(converted.record_id, in_place.record_id);
    }

    #[test]
    fn an_envelope_with_an_error_is_an_error_record() {
        let line = r#"{"v":1,"record_id":"abc","source":"s","endpoint":"/e","scope":"catalog","fetched_at":"2017-03-02T05:37:49.071Z","http_status":null,"body":null,"error":{"kind":"timeout","message":"no answer in 10 s"}}"#;
        let LineOutcome::Error(error) = read_line(line.as_bytes(), &mut KnownBodies::default())
        else {
            panic!("not an error record");
        };
        assert_eq!(error.kind, ErrorKind::Timeout);
        assert_eq!(error.endpoint, "/e");
    }

    #[test]
    fn an_error_body_is_an_api_error_record() {
        let line = r#"{"v":1,"record_id":"abc","source":"s","endpoint":"/e","scope":"model:X","fetched_at":"2017-03-02T05:37:49.071Z","http_status":400,"body":{"errorType":"INCORRECT_PARAMS","message":"m","status":"BAD_REQUEST"},"error":null}"#;
        assert!(matches!(
            read_line(line.as_bytes(), &mut KnownBodies::default()),
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
            rejection(&envelope("unknown", r#"{"a":1}"#)).contains("imported with scope `unknown`")
        );
        assert!(
            rejection(&envelope("catalog", r#"{"makes":[{"id":"x"}]}"#)).contains("invalid type")
        );
        assert!(rejection(&envelope("model:X", r#""<html>""#)).contains("not a model response"));
    }

    #[test]
    fn a_known_body_reads_as_it_read_the_first_time() {
        let mut known = KnownBodies::default();
        let candidate =
            |line: &str, known: &mut KnownBodies| match read_line(line.as_bytes(), known) {
                LineOutcome::Snapshot(candidate) => (candidate.record_id(), candidate.rows()),
                other => panic!("not a snapshot: {other:?}"),
            };
        let first = candidate(HUMMER, &mut known);
        let again = candidate(HUMMER, &mut known);
        assert_eq!(again, first);
        assert_eq!(first.1.styles.len(), 1);

        let later = HUMMER.replace("1488433069.071519", "1488436669.5");
        let (later_id, later_rows) = candidate(&later, &mut known);
        assert_ne!(later_id, first.0, "another poll is another record");
        assert_eq!(later_rows, first.1, "with the same rows");
    }

    #[test]
    fn a_changed_body_after_a_known_one_is_read_whole() {
        let mut known = KnownBodies::default();
        assert!(matches!(
            read_line(HUMMER.as_bytes(), &mut known),
            LineOutcome::Snapshot(_)
        ));
        let wrong_type = HUMMER.replace(r#""id": 8769"#, r#""id": "8769""#);
        assert!(matches!(
            read_line(wrong_type.as_bytes(), &mut known),
            LineOutcome::Rejected(Rejection {
                kind: RejectKind::NotJson,
                ..
            })
        ));

        let envelope = |body: &str| {
            format!(
                r#"{{"v":1,"record_id":"r","source":"s","endpoint":"/e","scope":"model:M","fetched_at":"2017-03-02T05:37:49.071Z","http_status":200,"body":{body},"error":null}}"#
            )
        };
        let good = envelope(r#"{"id":"M","years":[{"id":1,"year":2000,"styles":[]}]}"#);
        let other_model = envelope(r#"{"id":"N","years":[{"id":1,"year":2000,"styles":[]}]}"#);
        for _ in 0..2 {
            assert!(matches!(
                read_line(good.as_bytes(), &mut known),
                LineOutcome::Snapshot(_)
            ));
            assert!(matches!(
                read_line(other_model.as_bytes(), &mut known),
                LineOutcome::Rejected(Rejection {
                    kind: RejectKind::WrongShape,
                    ..
                })
            ));
        }
    }

    #[test]
    fn blank_lines_carry_nothing() {
        assert!(matches!(
            read_line(b"  \r", &mut KnownBodies::default()),
            LineOutcome::Blank
        ));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_rejected() {
        assert_eq!(rejection_bytes(b"{\"a\":\"\xff\"}"), "line is not UTF-8");
    }

    fn rejection_bytes(line: &[u8]) -> String {
        match read_line(line, &mut KnownBodies::default()) {
            LineOutcome::Rejected(rejection) => rejection.reason,
            other => panic!("not rejected: {other:?}"),
        }
    }
}
