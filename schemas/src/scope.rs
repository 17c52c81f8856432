//! Scopes: what a response is a complete snapshot of.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What one response is a complete snapshot of. Per scope, the latest snapshot wins.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The makes catalog, `/api/vehicle/v2/makes`.
    Catalog,
    /// One make and its models, by the make's nice name.
    Make(String),
    /// One model with its years and their styles, by model id (`Lexus_RX_350`).
    Model(String),
    /// The styles of one model year.
    Styles { model_id: String, year: i32 },
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Catalog => f.write_str("catalog"),
            Scope::Make(nice_name) => write!(f, "make:{nice_name}"),
            Scope::Model(model_id) => write!(f, "model:{model_id}"),
            Scope::Styles { model_id, year } => write!(f, "styles:{model_id}/{year}"),
        }
    }
}

/// The scope of a record whose scope could not be worked out (a recorded response of no known
/// shape, an error body recorded without its request); such a record never wins.
pub const UNKNOWN_SCOPE: &str = "unknown";

/// A scope string that is none of `catalog`, `make:<nice name>`, `model:<id>`,
/// `styles:<id>/<year>`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a scope (catalog, make:<nice name>, model:<id> or styles:<id>/<year>)")]
pub struct BadScope(pub String);

impl FromStr for Scope {
    type Err = BadScope;

    fn from_str(text: &str) -> Result<Scope, BadScope> {
        let bad = || BadScope(text.to_owned());
        let (kind, rest) = match text.split_once(':') {
            Some(parts) => parts,
            None if text == "catalog" => return Ok(Scope::Catalog),
            None => return Err(bad()),
        };
        if rest.is_empty() {
            return Err(bad());
        }
        match kind {
            "make" => Ok(Scope::Make(rest.to_owned())),
            "model" => Ok(Scope::Model(rest.to_owned())),
            "styles" => {
                let (model_id, year) = rest.rsplit_once('/').ok_or_else(bad)?;
                let year = year.parse().map_err(|_| bad())?;
                if model_id.is_empty() {
                    return Err(bad());
                }
                Ok(Scope::Styles {
                    model_id: model_id.to_owned(),
                    year,
                })
            }
            _ => Err(bad()),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scope, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips() {
        for text in [
            "catalog",
            "make:lexus",
            "model:Lexus_RX_350",
            "styles:Lexus_RX_350/2011",
        ] {
            let scope: Scope = text.parse().unwrap();
            assert_eq!(scope.to_string(), text);
        }
    }

    #[test]
    fn malformed_scopes_are_refused() {
        for text in [
            "",
            "unknown",
            "model:",
            "styles:Lexus_RX_350",
            "styles:/2011",
            "year:3",
        ] {
            assert!(text.parse::<Scope>().is_err(), "{text} parsed");
        }
    }
}
