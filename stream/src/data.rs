//! A raw record as the data of a Kinesis record: its JSON line, gzipped when it is too large.
//!
//! The data is the record's NDJSON line, line break included, so that a Firehose delivery
//! stream reading the same Kinesis stream writes valid NDJSON. A record whose line and
//! partition key exceed what a Kinesis record may hold is gzipped (a JSON line starts with `{`,
//! gzip with the bytes 1f 8b, so readers tell them apart); one that is still too large is an
//! error before anything is sent.

use std::io::{Read, Write};

use carlambda_schemas::RawRecord;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use tracing::warn;

use crate::StreamError;

/// What a Kinesis record may hold: its data plus its partition key.
pub(crate) const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The longest partition key Kinesis takes, in characters.
const MAX_PARTITION_KEY_CHARS: usize = 256;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The partition key of a record of `scope`: the scope itself, or for a scope too long to be
/// a key, a hash of it (any fixed function of the scope keeps its records on one shard).
pub(crate) fn partition_key(scope: &str) -> String {
    if scope.chars().count() <= MAX_PARTITION_KEY_CHARS {
        scope.to_owned()
    } else {
        blake3::hash(scope.as_bytes()).to_hex().to_string()
    }
}

/// The data of `record`'s Kinesis record, whose partition key is `key_bytes` long.
pub(crate) fn encode(record: &RawRecord, key_bytes: usize) -> Result<Vec<u8>, StreamError> {
    let line = record.to_line().into_bytes();
    if line.len() + key_bytes <= MAX_RECORD_BYTES {
        return Ok(line);
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(&line)
        .expect("writing into memory cannot fail");
    let packed = encoder.finish().expect("writing into memory cannot fail");
    if packed.len() + key_bytes > MAX_RECORD_BYTES {
        return Err(StreamError::RecordTooLarge {
            record_id: record.record_id.clone(),
            bytes: packed.len() + key_bytes,
            limit: MAX_RECORD_BYTES,
        });
    }
    Ok(packed)
}

/// The JSON line a Kinesis record's data holds, without its line break. Never fails: data
/// that cannot be unpacked or is not one line of UTF-8 is kept as text on one line (line
/// breaks escaped), so that the archive keeps it and the batch lists it as rejected.
pub(crate) fn decode(data: &[u8], shard: &str, sequence: &str) -> String {
    let mut text = if data.starts_with(&GZIP_MAGIC) {
        let mut unpacked = Vec::new();
        match GzDecoder::new(data).read_to_end(&mut unpacked) {
            Ok(_) => String::from_utf8_lossy(&unpacked).into_owned(),
            Err(e) => {
                warn!(
                    shard,
                    sequence, "a record looks gzipped but cannot be unpacked: {e}"
                );
                String::from_utf8_lossy(data).into_owned()
            }
        }
    } else {
        String::from_utf8_lossy(data).into_owned()
    };
    if text.ends_with('\n') {
        text.pop();
    }
    if text.contains(['\n', '\r']) {
        warn!(
            shard,
            sequence, "a record is not one line; its line breaks are escaped"
        );
        text = text.replace('\r', "\\r").replace('\n', "\\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use carlambda_schemas::record::{Body, RecordParts};

    use super::*;

    fn record(body_bytes: usize) -> RawRecord {
        // Like a catalog: many small objects with the same keys and different values.
        let makes: Vec<String> = (0..body_bytes / 50)
            .map(|n| format!("{{\"id\":{n},\"name\":\"Make {n}\",\"niceName\":\"make-{n}\"}}"))
            .collect();
        let body = format!("{{\"makes\":[{}]}}", makes.join(","));
        RawRecord::new(RecordParts {
            source: "simulator",
            endpoint: "/api/vehicle/v2/makes",
            scope: "catalog".into(),
            fetched_at: "2017-03-02T05:37:49.071Z".parse().unwrap(),
            http_status: Some(200),
            body: Body::from_received(body.as_bytes()),
            error: None,
        })
    }

    #[test]
    fn small_records_are_their_json_line() {
        let record = record(1000);
        let data = encode(&record, 7).unwrap();
        assert_eq!(data, record.to_line().into_bytes());
        assert_eq!(decode(&data, "s", "1"), record.to_line().trim_end());
    }

    #[test]
    fn large_records_are_gzipped_and_read_back_whole() {
        let record = record(3 * MAX_RECORD_BYTES);
        let data = encode(&record, 7).unwrap();
        assert!(data.starts_with(&GZIP_MAGIC));
        assert!(data.len() + 7 <= MAX_RECORD_BYTES);
        assert_eq!(decode(&data, "s", "1"), record.to_line().trim_end());
    }

    #[test]
    fn a_record_too_large_even_gzipped_is_an_error_naming_it() {
        // Random-looking text does not compress much.
        let mut state = 1_u64;
        let noise: String = (0..2 * MAX_RECORD_BYTES)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'a' + (state >> 58) as u8 % 26)
            })
            .collect();
        let mut record = record(10);
        record.body = Some(serde_json::value::to_raw_value(&noise).unwrap());
        let error = encode(&record, 7).unwrap_err();
        assert!(
            matches!(error, StreamError::RecordTooLarge { .. }),
            "{error}"
        );
        assert!(error.to_string().contains(&record.record_id), "{error}");
    }

    #[test]
    fn foreign_data_stays_one_line() {
        assert_eq!(decode(b"a\nb\n", "s", "1"), "a\\nb");
        assert_eq!(decode(&[0x1f, 0x8b, 0, 1], "s", "1").lines().count(), 1);
    }

    #[test]
    fn long_scopes_get_a_fixed_short_key() {
        let long = "model:".to_owned() + &"x".repeat(300);
        assert_eq!(partition_key(&long), partition_key(&long));
        assert!(partition_key(&long).len() <= MAX_PARTITION_KEY_CHARS);
        assert_eq!(partition_key("catalog"), "catalog");
    }
}
