//! `fetched_at`: when a response arrived, as milliseconds since the Unix epoch in UTC.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// An instant with millisecond precision, written as RFC 3339 UTC (`2017-03-02T05:37:49.071Z`).
///
/// Ordering is chronological, which is the first half of "the latest snapshot wins".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FetchedAt(i64);

impl FetchedAt {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub fn from_unix_millis(millis: i64) -> FetchedAt {
        FetchedAt(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// The instant of a float Unix timestamp in seconds, as the legacy Firehose objects carry
    /// in `time_stamp`; sub-millisecond digits are dropped.
    pub fn from_unix_seconds_f64(seconds: f64) -> Option<FetchedAt> {
        let millis = (seconds * 1000.0).floor();
        if !(millis.is_finite() && millis.abs() < 1e15) {
            return None;
        }
        FetchedAt::checked_from_unix_millis(millis as i64)
    }

    /// The instant `millis` after the epoch, if it lies in the years 0000 to 9999 that RFC 3339
    /// can write.
    pub fn checked_from_unix_millis(millis: i64) -> Option<FetchedAt> {
        let nanos = i128::from(millis) * 1_000_000;
        let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
        (0..=9999).contains(&t.year()).then_some(FetchedAt(millis))
    }

    /// The current time, truncated to milliseconds.
    pub fn now() -> FetchedAt {
        FetchedAt::from(OffsetDateTime::now_utc())
    }

    fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .expect("a millisecond count from an i64 is within time's range")
    }

    /// `(year, month, day, hour)` in UTC, for the time-partitioned keys of the master dataset.
    pub fn utc_hour(self) -> (i32, u8, u8, u8) {
        let t = self.to_datetime();
        (t.year(), t.month().into(), t.day(), t.hour())
    }
}

impl From<OffsetDateTime> for FetchedAt {
    fn from(t: OffsetDateTime) -> FetchedAt {
        FetchedAt((t.unix_timestamp_nanos() / 1_000_000) as i64)
    }
}

impl fmt::Display for FetchedAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let text = self.to_datetime().format(format).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// A `fetched_at` that is not RFC 3339.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 time such as 2017-03-02T05:37:49.071Z")]
pub struct BadTime(String);

impl FromStr for FetchedAt {
    type Err = BadTime;

    fn from_str(text: &str) -> Result<FetchedAt, BadTime> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| FetchedAt::from(t.to_offset(UtcOffset::UTC)))
            .map_err(|_| BadTime(text.to_owned()))
    }
}

impl Serialize for FetchedAt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FetchedAt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FetchedAt, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339() {
        let t: FetchedAt = "2017-03-02T05:37:49.071Z".parse().unwrap();
        assert_eq!(t.to_string(), "2017-03-02T05:37:49.071Z");
        assert_eq!(t.unix_millis(), 1_488_433_069_071);
    }

    #[test]
    fn converts_offsets_to_utc() {
        let t: FetchedAt = "2017-03-02T06:37:49.5+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2017-03-02T05:37:49.500Z");
    }

    #[test]
    fn reads_legacy_float_seconds() {
        let t = FetchedAt::from_unix_seconds_f64(1488433069.071519).unwrap();
        assert_eq!(t.to_string(), "2017-03-02T05:37:49.071Z");
        assert_eq!(t.utc_hour(), (2017, 3, 2, 5));
        assert!(FetchedAt::from_unix_seconds_f64(f64::NAN).is_none());
        assert!(
            FetchedAt::from_unix_seconds_f64(300_000_000_000.0).is_none(),
            "year 11476"
        );
    }

    #[test]
    fn rejects_text_that_is_not_a_time() {
        assert!("yesterday".parse::<FetchedAt>().is_err());
    }
}
