//! Raw objects: NDJSON files of raw records under `raw/YYYY/MM/DD/HH/`, written once.

use bytes::Bytes;
use carlambda_schemas::{FetchedAt, RawRecord};
use carlambda_store::{Store, StoreError};

/// The key of a raw object named `name` that arrived at `arrived`: the hour partition keeps
/// keys in arrival order, so "everything after the last key read" is a listing.
pub fn object_key(arrived: FetchedAt, name: &str) -> String {
    let (year, month, day, hour) = arrived.utc_hour();
    format!("raw/{year:04}/{month:02}/{day:02}/{hour:02}/{name}.ndjson")
}

/// `records` as the body of one raw object.
pub fn object_body(records: &[RawRecord]) -> Bytes {
    let text: String = records.iter().map(RawRecord::to_line).collect();
    Bytes::from(text)
}

/// Content-named: the same records give the same name, so writing them twice in one hour
/// writes one object.
pub fn content_name(prefix: &str, body: &[u8]) -> String {
    format!("{prefix}-{}", &blake3::hash(body).to_hex()[..16])
}

/// Appends `records` to the master dataset as one new raw object. Returns its key, and whether
/// it was written (`false`: an identical object was already there).
pub async fn append(
    store: &Store,
    prefix: &str,
    records: &[RawRecord],
) -> Result<(String, bool), StoreError> {
    let body = object_body(records);
    let key = object_key(FetchedAt::now(), &content_name(prefix, &body));
    let written = store.put_new(&key, body, "application/x-ndjson").await?;
    Ok((key, written))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_partitioned_by_the_hour() {
        let arrived: FetchedAt = "2017-03-02T05:37:49.071Z".parse().unwrap();
        assert_eq!(
            object_key(arrived, "import-ab"),
            "raw/2017/03/02/05/import-ab.ndjson"
        );
    }

    #[test]
    fn names_follow_content() {
        assert_eq!(content_name("import", b"x"), content_name("import", b"x"));
        assert_ne!(content_name("import", b"x"), content_name("import", b"y"));
    }
}
