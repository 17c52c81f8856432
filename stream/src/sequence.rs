//! Sequence numbers: a record's place in its shard, compared as numbers.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The position of a record in its shard: a decimal number of any length. Kinesis hands out
/// numbers of some 56 digits, the local log and the emulator small ones, so they are compared
/// as numbers (by length, then digit by digit), never as text: `"9" < "10"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    /// The digits, without leading zeros (`"0"` for zero).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<u64> for SequenceNumber {
    fn from(n: u64) -> SequenceNumber {
        SequenceNumber(n.to_string())
    }
}

/// A sequence number that is not a decimal number.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a sequence number (a decimal number such as 4959033827149025660855)")]
pub struct BadSequenceNumber(String);

impl FromStr for SequenceNumber {
    type Err = BadSequenceNumber;

    fn from_str(text: &str) -> Result<SequenceNumber, BadSequenceNumber> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadSequenceNumber(text.to_owned()));
        }
        let digits = text.trim_start_matches('0');
        Ok(SequenceNumber(
            if digits.is_empty() { "0" } else { digits }.to_owned(),
        ))
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &SequenceNumber) -> Ordering {
        // Without leading zeros, a longer number is a greater one.
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &SequenceNumber) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SequenceNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SequenceNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SequenceNumber, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(text: &str) -> SequenceNumber {
        text.parse().unwrap()
    }

    #[test]
    fn numbers_compare_as_numbers_not_as_text() {
        assert!(seq("9") < seq("10"));
        assert!(seq("0010") > seq("9"));
        assert_eq!(seq("007"), seq("7"));
        assert_eq!(seq("000").as_str(), "0");
        let aws = "49590338271490256608559692538361571095921575989136588898";
        assert!(seq(aws) > seq("49590338271490256608559692538361571095921575989136588897"));
        assert!(seq(aws) > seq("9999999999999999999999999999999999999999999999999999999"));
    }

    #[test]
    fn only_digits_are_sequence_numbers() {
        for bad in ["", "-1", "1e5", "12a", " 1"] {
            assert!(bad.parse::<SequenceNumber>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serializes_as_a_string() {
        let json = serde_json::to_string(&seq("42")).unwrap();
        assert_eq!(json, "\"42\"");
        assert_eq!(
            serde_json::from_str::<SequenceNumber>(&json).unwrap(),
            seq("42")
        );
    }
}
