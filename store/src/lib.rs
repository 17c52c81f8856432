//! The master dataset store: the raw records, batch views and published page of carlambda,
//! kept either in a local folder or in an S3 bucket, behind one async API.
//!
//! Keys are `/`-separated paths relative to the store root, such as
//! `raw/2017/03/02/05/x.ndjson`. Both implementations list keys in the same byte-wise
//! lexicographic order that S3 uses, so "everything after the last key I read" means the same
//! thing on either.

mod local;
mod s3;

use std::io;

use bytes::Bytes;

pub use local::LocalStore;
pub use s3::S3Store;

/// A master dataset: a local folder or an S3 bucket, optionally under a key prefix.
#[derive(Debug, Clone)]
pub enum Store {
    /// A folder on this machine, one file per key.
    Local(LocalStore),
    /// An S3 bucket, or a bucket on an S3-compatible server such as moto or MinIO.
    S3(S3Store),
}

impl Store {
    /// Opens the master dataset at `location`: `s3://bucket` or `s3://bucket/prefix`, or else a
    /// local folder path.
    ///
    /// A local folder is created if it does not exist yet. An S3 location is not contacted until
    /// the first operation; the client takes its endpoint, region and credentials from the usual
    /// AWS settings (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, profiles, ...), with
    /// `us-east-1` when no region is set.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidLocation`] when the location is empty, uses another URL scheme,
    /// names no bucket, or is a folder that cannot be created or opened.
    pub async fn open(location: &str) -> Result<Store, StoreError> {
        Store::open_with(location, true).await
    }

    /// Opens the store at `location` as [`Store::open`] does, for a reader: a local folder
    /// that does not exist is an error rather than created, so that a mistyped `--store`
    /// says so instead of reading an empty store.
    ///
    /// # Errors
    ///
    /// Those of [`Store::open`], and [`StoreError::InvalidLocation`] when the folder is not
    /// there.
    pub async fn open_existing(location: &str) -> Result<Store, StoreError> {
        Store::open_with(location, false).await
    }

    /// [`Store::open`], creating a missing local folder only when `create` is set.
    async fn open_with(location: &str, create: bool) -> Result<Store, StoreError> {
        if let Some(bucket_and_prefix) = location.strip_prefix("s3://") {
            return Ok(Store::S3(S3Store::open(bucket_and_prefix).await?));
        }
        if location.contains("://") {
            return Err(StoreError::InvalidLocation {
                location: location.to_owned(),
                reason: "only `s3://bucket/prefix` URLs and local folder paths are supported"
                    .to_owned(),
            });
        }
        if !create && !location.is_empty() && !std::path::Path::new(location).exists() {
            return Err(StoreError::InvalidLocation {
                location: location.to_owned(),
                reason: "no such folder; name the master dataset that `carlambda import` or \
                         `carlambda archive` wrote"
                    .to_owned(),
            });
        }
        Ok(Store::Local(LocalStore::open(location).await?))
    }

    /// Where this store lives, for logs and messages: `s3://bucket/prefix` or the absolute path
    /// of the folder.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Store::Local(store) => store.location().to_owned(),
            Store::S3(store) => store.location().to_owned(),
        }
    }

    /// Every key that starts with `prefix`, sorted lexicographically (byte-wise, as S3 does).
    ///
    /// `prefix` is a plain string prefix, as in S3: `raw/2017/0` matches
    /// `raw/2017/03/02/05/x.ndjson`. An empty prefix lists the whole store.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`] for a prefix with `.`, `..` or empty segments, and
    /// [`StoreError::Io`] or [`StoreError::S3`] when the listing fails.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Local(store) => store.list_after(prefix, "").await,
            Store::S3(store) => store.list_after(prefix, "").await,
        }
    }

    /// The keys under `prefix` that sort strictly after `start_after`, sorted.
    ///
    /// Raw records are stored under time-partitioned keys, so this returns the objects written
    /// since the key `start_after` was read (S3's `StartAfter`).
    ///
    /// # Errors
    ///
    /// As for [`Store::list`].
    pub async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
    ) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Local(store) => store.list_after(prefix, start_after).await,
            Store::S3(store) => store.list_after(prefix, start_after).await,
        }
    }

    /// The whole content of the object at `key`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when there is no object at `key`, [`StoreError::InvalidKey`]
    /// for a malformed key, and [`StoreError::Io`] or [`StoreError::S3`] when reading fails.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        match self {
            Store::Local(store) => store.get(key).await,
            Store::S3(store) => store.get(key).await,
        }
    }

    /// Writes `body` at `key`, replacing any object there. Readers see either the old object or
    /// the whole new one, never a part. `content_type` (for example `text/html`) is kept as the
    /// object's metadata on S3, where the published page is served from; a local folder has no
    /// place for it.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`] for a malformed key, and [`StoreError::Io`] or
    /// [`StoreError::S3`] when writing fails; then the previous object, if any, is left as it
    /// was.
    pub async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        match self {
            Store::Local(store) => store.put(key, body, content_type).await,
            Store::S3(store) => store.put(key, body, content_type).await,
        }
    }

    /// As [`Store::put`], for a file served to browsers from S3: `cache_control` (for example
    /// `max-age=300`) is kept as the object's `Cache-Control`. A local folder has no place for
    /// it; whatever serves the folder decides.
    ///
    /// # Errors
    ///
    /// As for [`Store::put`].
    pub async fn put_served(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), StoreError> {
        match self {
            Store::Local(store) => store.put(key, body, content_type).await,
            Store::S3(store) => {
                store
                    .put_served(key, body, content_type, cache_control)
                    .await
            }
        }
    }

    /// Writes `body` at `key` only if no object is there yet, as [`Store::put`] does otherwise.
    /// Returns `true` when it wrote the object and `false` when the key already existed, in
    /// which case the existing object is left untouched: raw objects are never rewritten.
    ///
    /// # Errors
    ///
    /// As for [`Store::put`].
    pub async fn put_new(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Local(store) => store.put_new(key, body, content_type).await,
            Store::S3(store) => store.put_new(key, body, content_type).await,
        }
    }

    /// Whether an object exists at `key`.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`] for a malformed key, and [`StoreError::Io`] or
    /// [`StoreError::S3`] when the store cannot be asked.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self {
            Store::Local(store) => store.exists(key).await,
            Store::S3(store) => store.exists(key).await,
        }
    }
}

/// Why a store operation failed. Every message names the store and the key involved and says
/// what to try; none contains credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The location given to [`Store::open`] cannot be used.
    #[error("cannot open the master dataset at `{location}`: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// What is wrong with it, and what to try.
        reason: String,
    },

    /// A key or prefix that no store accepts.
    #[error(
        "`{key}` is not a valid key in the master dataset at {location}: {reason}; \
         keys are relative paths like `raw/2017/03/02/05/x.ndjson`"
    )]
    InvalidKey {
        /// The store, as [`Store::describe`] gives it.
        location: String,
        /// The key or prefix as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// There is no object at the key.
    #[error(
        "no object `{key}` in the master dataset at {location}; \
         list its prefix to see which keys exist"
    )]
    NotFound {
        /// The store, as [`Store::describe`] gives it.
        location: String,
        /// The missing key.
        key: String,
    },

    /// A local file operation failed.
    #[error(
        "could not {action} `{key}` in the master dataset at {location}: {cause}; {hint}",
        hint = io_hint(cause)
    )]
    Io {
        /// The store, as [`Store::describe`] gives it.
        location: String,
        /// The key or prefix being worked on.
        key: String,
        /// What was being done, such as `read` or `write`.
        action: &'static str,
        /// The operating system's error.
        cause: io::Error,
    },

    /// An S3 request failed, after the client's own retries.
    #[error("S3 could not {action} `{key}` in {location}: {cause}; {hint}")]
    S3 {
        /// The store, as [`Store::describe`] gives it.
        location: String,
        /// The key or prefix being worked on.
        key: String,
        /// What was being done, such as `get` or `list`.
        action: &'static str,
        /// The whole chain of causes the SDK reports, such as `NoSuchBucket` or a refused
        /// connection.
        cause: String,
        /// What to check first.
        hint: &'static str,
    },
}

/// What to try after a local file operation failed with `cause`.
fn io_hint(cause: &io::Error) -> &'static str {
    match cause.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            "check the permissions of the folder and its files"
        }
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => "free some disk space",
        _ => "check that the folder exists and is a readable, writable directory",
    }
}

/// Checks that `key` names an object: a relative `/`-separated path whose segments are neither
/// empty, `.` nor `..`, so that it means the same in a folder as in a bucket and cannot escape
/// the store root.
fn check_key(location: &str, key: &str) -> Result<(), StoreError> {
    let reason = if key.is_empty() {
        Some("a key cannot be empty")
    } else {
        path_problem(key).or_else(|| {
            key.split('/')
                .any(|segment| segment.starts_with(local::TEMP_PREFIX))
                .then_some("names starting with `.carlambda-tmp.` are kept for unfinished writes")
        })
    };
    invalid_key(location, key, reason)
}

/// Checks that `prefix` is empty, a key, a key followed by `/`, or the start of a key.
fn check_prefix(location: &str, prefix: &str) -> Result<(), StoreError> {
    let path = prefix.strip_suffix('/').unwrap_or(prefix);
    let reason = if prefix.is_empty() {
        None
    } else {
        path_problem(path)
    };
    invalid_key(location, prefix, reason)
}

/// What is wrong with a non-empty relative path, if anything.
fn path_problem(path: &str) -> Option<&'static str> {
    if path.starts_with('/') {
        return Some("keys are relative to the store root and cannot start with `/`");
    }
    if path.contains('\0') {
        return Some("a key cannot contain a NUL character");
    }
    path.split('/').find_map(|segment| match segment {
        "" => Some("a key cannot have empty segments (`//` or a trailing `/`)"),
        "." | ".." => Some("a key cannot have `.` or `..` segments"),
        _ => None,
    })
}

fn invalid_key(location: &str, key: &str, reason: Option<&'static str>) -> Result<(), StoreError> {
    match reason {
        None => Ok(()),
        Some(reason) => Err(StoreError::InvalidKey {
            location: location.to_owned(),
            key: key.to_owned(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_paths_without_dot_segments() {
        for good in [
            "a",
            "raw/2017/03/02/05/x.ndjson",
            "batch/CURRENT",
            ".hidden/x",
            "a..b",
        ] {
            assert!(
                check_key("here", good).is_ok(),
                "{good} should be a valid key"
            );
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "./a",
            "a/../b",
            "..",
            "a\0b",
            "a/.carlambda-tmp.1",
        ] {
            assert!(
                check_key("here", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn prefixes_may_be_empty_or_end_in_a_slash() {
        for good in ["", "raw/", "raw/2017/0", "raw", "raw/.carlambda-tmp"] {
            assert!(
                check_prefix("here", good).is_ok(),
                "{good} should be a valid prefix"
            );
        }
        for bad in ["/", "/raw", "raw//", "../raw/", "raw/../"] {
            assert!(
                check_prefix("here", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn messages_name_the_store_and_the_key() {
        let error = check_key("/data/master", "a//b").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("/data/master"), "{message}");
        assert!(message.contains("`a//b`"), "{message}");
    }

    #[tokio::test]
    async fn other_url_schemes_are_refused() {
        let error = Store::open("gs://bucket/prefix").await.unwrap_err();
        assert!(
            matches!(error, StoreError::InvalidLocation { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("gs://bucket/prefix"), "{error}");
    }
}
