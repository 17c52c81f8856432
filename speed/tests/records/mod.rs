//! Raw records for the speed layer's tests: snapshots of a small catalog and two models in a
//! few variants, error records, and records the readers reject.

#![allow(dead_code)] // each test file uses its own part of this module

use carlambda_schemas::record::{Body, RecordParts, one_line_raw};
use carlambda_schemas::{ErrorKind, FetchError, FetchedAt, RawRecord};
use carlambda_stream::{SequenceNumber, StreamRecord};

/// The scopes the records are snapshots of.
pub const SCOPES: [&str; 3] = ["catalog", "model:M_A", "model:M_B"];

fn record(scope: &str, millis: i64, body: Body, error: Option<FetchError>) -> RawRecord {
    // The record id covers the endpoint but not the error: failures of one call at one
    // millisecond would be one record, so each kind of failure gets its own endpoint.
    let endpoint = match &error {
        Some(error) => format!("/api/vehicle/v2/{}", error.kind),
        None => "/api/vehicle/v2/test".to_owned(),
    };
    RawRecord::new(RecordParts {
        source: "simulator",
        endpoint: &endpoint,
        scope: scope.to_owned(),
        fetched_at: FetchedAt::from_unix_millis(millis),
        http_status: Some(200),
        body,
        error,
    })
}

/// A snapshot of `SCOPES[scope]`; each variant has other rows, and some leave columns unknown
/// so that rule 3 fills them from another scope's snapshot.
pub fn snapshot(scope: usize, variant: u8, millis: i64) -> RawRecord {
    let v = i64::from(variant);
    let body = match scope {
        0 => format!(
            r#"{{"makes":[{{"id":1,"name":"Make {v}","niceName":"make","models":[
                {{"id":"M_A","name":"A","niceName":"a","years":[{{"id":{a},"year":{ay}}}]}},
                {{"id":"M_B","name":"B","niceName":"b","years":[{{"id":20,"year":2020}}]}}
            ]}}]}}"#,
            a = 10 + v,
            ay = 2010 + v,
        ),
        _ => {
            let id = if scope == 1 { "M_A" } else { "M_B" };
            let name = if variant.is_multiple_of(2) {
                "null".to_owned()
            } else {
                format!(r#""{id} {v}""#)
            };
            format!(
                r#"{{"id":"{id}","name":{name},"niceName":"n","years":[
                    {{"id":{y},"year":{year},"styles":[{{"id":{s},"name":"S","trim":"T",
                      "submodel":{{"body":"Body {v}","modelName":"M","niceName":"sub"}}}}]}},
                    {{"id":20,"year":2020,"styles":[]}}]}}"#,
                y = 10 + v,
                year = 2010 + v,
                s = 100 * scope as i64 + v,
            )
        }
    };
    record(SCOPES[scope], millis, Body::Json(one_line_raw(&body)), None)
}

/// A record of a failed call.
pub fn error(kind: u8, millis: i64) -> RawRecord {
    let kind = [ErrorKind::Timeout, ErrorKind::Connect, ErrorKind::Http][kind as usize % 3];
    let error = FetchError {
        kind,
        message: format!("{kind} failure"),
    };
    record("model:M_A", millis, Body::None, Some(error))
}

/// A record the readers reject: a body of the wrong shape, a scope that is none, an envelope
/// of an unknown version, or no body and no error.
pub fn rejected(which: u8, millis: i64) -> RawRecord {
    match which % 4 {
        0 => record(
            "model:M_B",
            millis,
            Body::Text("<html>502</html>".into()),
            None,
        ),
        1 => record("weird", millis, Body::Json(one_line_raw("{}")), None),
        2 => {
            let base = snapshot(1, 0, millis);
            RawRecord {
                v: 2,
                record_id: format!("{}-v2", base.record_id),
                ..base
            }
        }
        _ => record("catalog", millis, Body::None, None),
    }
}

/// `record` as read from the stream at `sequence` of `shard`.
pub fn delivered(shard: &str, sequence: u64, record: &RawRecord) -> StreamRecord {
    delivered_line(shard, sequence, record.to_line().trim_end())
}

/// A line read from the stream at `sequence` of `shard`, raw record or not.
pub fn delivered_line(shard: &str, sequence: u64, line: &str) -> StreamRecord {
    StreamRecord {
        shard: shard.to_owned(),
        sequence: SequenceNumber::from(sequence),
        arrived: FetchedAt::from_unix_millis(0),
        line: line.to_owned(),
    }
}
