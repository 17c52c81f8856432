//! The shapes every layer of carlambda agrees on: the raw record envelope, the Edmunds v2
//! responses it carries, and the rows of the five 3NF tables those responses normalize into.
//!
//! Nothing here does I/O. Reading a line of a raw object ([`line::read_line`]) either yields a
//! record the layers can use or a [`line::Rejection`] that says why not; it never panics.

pub mod arrow;
pub mod edmunds;
pub mod fetched_at;
pub mod line;
pub mod normalize;
pub mod record;
pub mod rows;
pub mod scope;

pub use fetched_at::FetchedAt;
pub use record::{ErrorKind, FetchError, RawRecord};
pub use scope::{Scope, UNKNOWN_SCOPE};
