//! The master dataset in a local folder: one file per key, each written whole or not at all.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tracing::debug;

use crate::{StoreError, check_key, check_prefix};

/// File names that start with this are writes in progress (or left by a crash): they are never
/// listed, and no key may use them.
pub(crate) const TEMP_PREFIX: &str = ".carlambda-tmp.";

/// Makes temporary names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A master dataset kept in a folder on this machine. Reached through [`crate::Store`].
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    location: String,
}

impl LocalStore {
    /// Opens the folder at `path`, creating it if it does not exist.
    pub(crate) async fn open(path: &str) -> Result<Self, StoreError> {
        if path.is_empty() {
            return Err(StoreError::InvalidLocation {
                location: String::new(),
                reason: "the location is empty; give a folder path or `s3://bucket/prefix`"
                    .to_owned(),
            });
        }

        let given = PathBuf::from(path);
        blocking(move || {
            let unusable = |cause: io::Error| StoreError::InvalidLocation {
                location: given.display().to_string(),
                reason: format!(
                    "the folder cannot be created or opened ({cause}); {}",
                    crate::io_hint(&cause)
                ),
            };
            if given.is_file() {
                return Err(StoreError::InvalidLocation {
                    location: given.display().to_string(),
                    reason: "it is a file, not a folder; name a folder or `s3://bucket/prefix`"
                        .to_owned(),
                });
            }
            // Relative names are made absolute first: `carlambda-data` has the parent "",
            // which no folder can be created in.
            let given = std::path::absolute(&given).map_err(unusable)?;
            create_folders(&given).map_err(unusable)?;
            let root = fs::canonicalize(&given).map_err(unusable)?;
            let location = root.display().to_string();
            Ok(LocalStore { root, location })
        })
        .await
    }

    /// The absolute path of the store's folder.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    pub(crate) async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
    ) -> Result<Vec<String>, StoreError> {
        check_prefix(&self.location, prefix)?;

        let store = self.clone();
        let prefix = prefix.to_owned();
        let start_after = start_after.to_owned();
        blocking(move || {
            // Only the folder named by the prefix's complete segments can hold matching files;
            // the last, partial segment is matched as text, as S3 matches prefixes.
            let folder_key = &prefix[..prefix.rfind('/').map_or(0, |slash| slash + 1)];
            let mut keys = Vec::new();
            store.walk(folder_key, &mut keys)?;

            keys.retain(|key| key.starts_with(&prefix) && key.as_str() > start_after.as_str());
            keys.sort_unstable();
            debug!(store = %store.location, %prefix, %start_after, keys = keys.len(), "listed");
            Ok(keys)
        })
        .await
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        check_key(&self.location, key)?;

        let store = self.clone();
        let key = key.to_owned();
        blocking(move || match fs::read(store.root.join(&key)) {
            Ok(body) => {
                debug!(store = %store.location, %key, bytes = body.len(), "read");
                Ok(Bytes::from(body))
            }
            Err(cause) if is_absent(&cause) => Err(StoreError::NotFound {
                location: store.location.clone(),
                key,
            }),
            Err(cause) => Err(store.io_error("read", &key, cause)),
        })
        .await
    }

    pub(crate) async fn put(
        &self,
        key: &str,
        body: Bytes,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        // A folder has nowhere to keep a content type; readers go by the key's extension.
        self.write(key, body, Mode::Replace).await.map(|_| ())
    }

    pub(crate) async fn put_new(
        &self,
        key: &str,
        body: Bytes,
        _content_type: &str,
    ) -> Result<bool, StoreError> {
        self.write(key, body, Mode::KeepExisting).await
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        check_key(&self.location, key)?;

        let store = self.clone();
        let key = key.to_owned();
        blocking(move || match fs::metadata(store.root.join(&key)) {
            Ok(metadata) => Ok(metadata.is_file()),
            Err(cause) if is_absent(&cause) => Ok(false),
            Err(cause) => Err(store.io_error("check", &key, cause)),
        })
        .await
    }

    /// Writes `body` at `key` as `mode` says; returns whether it wrote.
    async fn write(&self, key: &str, body: Bytes, mode: Mode) -> Result<bool, StoreError> {
        check_key(&self.location, key)?;

        let store = self.clone();
        let key = key.to_owned();
        blocking(move || {
            let written = store
                .write_blocking(&key, &body, mode)
                .map_err(|cause| store.io_error("write", &key, cause))?;
            debug!(store = %store.location, %key, bytes = body.len(), written, "put");
            Ok(written)
        })
        .await
    }

    /// Writes the body to a temporary file beside the target, makes it durable, and only then
    /// gives it the key's name, so that a reader or a crash never meets a partial object.
    fn write_blocking(&self, key: &str, body: &[u8], mode: Mode) -> io::Result<bool> {
        let path = self.root.join(key);
        let folder = path.parent().unwrap_or(&self.root);
        create_folders(folder)?;

        let temp = TempFile::write(folder, body)?;
        let written = match mode {
            Mode::Replace => fs::rename(&temp.path, &path).map(|()| true)?,
            // A hard link, unlike a rename, fails when the name is taken, so two writers racing
            // for the same key cannot both win and neither can clobber the other.
            // LIMITATION: needs a file system with hard links (any Unix one; not FAT or some
            // network shares), where this fails with an error rather than overwriting.
            Mode::KeepExisting => match fs::hard_link(&temp.path, &path) {
                Ok(()) => true,
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => false,
                Err(error) => return Err(error),
            },
        };
        drop(temp);

        if written {
            sync_folder(folder)?;
        }
        Ok(written)
    }

    /// Collects every key at or below `folder_key` (`""` or a path ending in `/`).
    fn walk(&self, folder_key: &str, keys: &mut Vec<String>) -> Result<(), StoreError> {
        let entries = match fs::read_dir(self.root.join(folder_key)) {
            Ok(entries) => entries,
            Err(cause) if is_absent(&cause) => return Ok(()),
            Err(cause) => return Err(self.io_error("list", folder_key, cause)),
        };

        for entry in entries {
            let entry = entry.map_err(|cause| self.io_error("list", folder_key, cause))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                return Err(StoreError::InvalidKey {
                    location: self.location.clone(),
                    key: format!("{folder_key}{}", file_name.to_string_lossy()),
                    reason: "the file name is not UTF-8, so it cannot be a key",
                });
            };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }

            let key = format!("{folder_key}{name}");
            if is_folder(&entry).map_err(|cause| self.io_error("list", &key, cause))? {
                self.walk(&format!("{key}/"), keys)?;
            } else {
                keys.push(key);
            }
        }
        Ok(())
    }

    fn io_error(&self, action: &'static str, key: &str, cause: io::Error) -> StoreError {
        StoreError::Io {
            location: self.location.clone(),
            key: key.to_owned(),
            action,
            cause,
        }
    }
}

/// What a write does when the key already has an object.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Replace,
    KeepExisting,
}

/// A fully written and synced file under a temporary name, removed when dropped (after a
/// rename there is nothing left to remove, and that error is ignored).
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn write(folder: &Path, body: &[u8]) -> io::Result<TempFile> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{TEMP_PREFIX}{}.{nanos}.{count}", std::process::id());

        // `create_new` so that a name clash with another writer is an error, not a shared file.
        let temp = TempFile {
            path: folder.join(name),
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp.path)?;
        file.write_all(body)?;
        file.sync_all()?;
        Ok(temp)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => panic!("a blocking store task was cancelled by runtime shutdown: {error}"),
    }
}

/// Creates `folder` and its missing parents, syncing each new folder's parent so that the new
/// entries survive a crash along with the file written into them.
fn create_folders(folder: &Path) -> io::Result<()> {
    if folder.is_dir() {
        return Ok(());
    }
    let Some(parent) = folder.parent() else {
        return fs::create_dir(folder);
    };

    create_folders(parent)?;
    match fs::create_dir(folder) {
        Ok(()) => sync_folder(parent),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && folder.is_dir() => Ok(()),
        Err(error) => Err(error),
    }
}

/// Makes the names in `folder` (a rename, a new link, a new subfolder) durable.
fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

/// Whether `entry` is a folder, following a symbolic link to see what it points at.
fn is_folder(entry: &fs::DirEntry) -> io::Result<bool> {
    let file_type = entry.file_type()?;
    if file_type.is_symlink() {
        return Ok(entry.path().is_dir());
    }
    Ok(file_type.is_dir())
}

/// Whether an error means "there is no object here" rather than a failure: the path, or one of
/// its folders, is missing, or the path is a folder.
fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    const NDJSON: &str = "application/x-ndjson";

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().to_str().expect("a UTF-8 temporary path");
        let store = Store::open(path).await.expect("the folder opens");
        (dir, store)
    }

    async fn put_all(store: &Store, keys: &[&str]) {
        for key in keys {
            let body = Bytes::from(format!("body of {key}"));
            store.put(key, body, NDJSON).await.expect("put works");
        }
    }

    #[tokio::test]
    async fn open_creates_the_folder_and_describes_it_absolutely() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("new").join("master");
        let store = Store::open(path.to_str().expect("UTF-8"))
            .await
            .expect("opens");

        assert!(path.is_dir());
        let described = store.describe();
        assert!(Path::new(&described).is_absolute(), "{described}");
        assert!(described.ends_with("master"), "{described}");
    }

    #[tokio::test]
    async fn a_reader_opening_a_missing_folder_is_told_and_creates_nothing() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("typo").join("master");
        let error = Store::open_existing(path.to_str().expect("UTF-8"))
            .await
            .expect_err("no such folder");

        assert!(error.to_string().contains("no such folder"), "{error}");
        assert!(!dir.path().join("typo").exists());
        std::fs::create_dir_all(&path).expect("created");
        Store::open_existing(path.to_str().expect("UTF-8"))
            .await
            .expect("an existing folder opens");
    }

    #[tokio::test]
    async fn list_is_sorted_bytewise_across_nested_folders() {
        let (_dir, store) = store().await;
        // '-' sorts before '/', so "a-b" comes before "a/...", whatever order folders are read.
        put_all(&store, &["b", "a/z", "a-b", "a/b/c", "A", "a/b/a", "a/b-"]).await;

        let keys = store.list("").await.expect("lists");
        assert_eq!(keys, ["A", "a-b", "a/b-", "a/b/a", "a/b/c", "a/z", "b"]);
    }

    #[tokio::test]
    async fn list_matches_prefixes_as_text() {
        let (_dir, store) = store().await;
        put_all(
            &store,
            &[
                "raw/2017/03/02/05/x.ndjson",
                "raw/2017/03/02/06/y.ndjson",
                "raw/2017/11/01/00/z.ndjson",
                "raw/2018/01/01/00/w.ndjson",
                "batch/CURRENT",
            ],
        )
        .await;

        let march = store.list("raw/2017/0").await.expect("lists");
        assert_eq!(
            march,
            ["raw/2017/03/02/05/x.ndjson", "raw/2017/03/02/06/y.ndjson"]
        );
        assert_eq!(store.list("raw/").await.expect("lists").len(), 4);
        assert_eq!(store.list("batch").await.expect("lists"), ["batch/CURRENT"]);
        assert!(store.list("speed/").await.expect("lists").is_empty());
        assert!(
            store
                .list("raw/2017/03/02/05/x.ndjson/")
                .await
                .expect("lists")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn list_after_returns_only_later_keys() {
        let (_dir, store) = store().await;
        put_all(
            &store,
            &[
                "raw/2017/03/02/05/a",
                "raw/2017/03/02/05/b",
                "raw/2017/03/02/06/a",
            ],
        )
        .await;

        let after = store
            .list_after("raw/", "raw/2017/03/02/05/a")
            .await
            .expect("lists");
        assert_eq!(after, ["raw/2017/03/02/05/b", "raw/2017/03/02/06/a"]);

        let after_last = store
            .list_after("raw/", "raw/2017/03/02/06/a")
            .await
            .expect("lists");
        assert!(after_last.is_empty());

        // A start before the prefix filters nothing; one past it filters everything.
        assert_eq!(store.list_after("raw/", "").await.expect("lists").len(), 3);
        assert_eq!(store.list_after("raw/", "a").await.expect("lists").len(), 3);
        assert!(
            store
                .list_after("raw/", "s")
                .await
                .expect("lists")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn put_overwrites_whole_and_leaves_no_temporary_file() {
        let (dir, store) = store().await;
        store
            .put("batch/CURRENT", Bytes::from("v1"), "text/plain")
            .await
            .expect("put");
        store
            .put("batch/CURRENT", Bytes::from("v22"), "text/plain")
            .await
            .expect("put");

        assert_eq!(store.get("batch/CURRENT").await.expect("get"), "v22");
        let names: Vec<_> = fs::read_dir(dir.path().join("batch"))
            .expect("the folder exists")
            .map(|entry| entry.expect("an entry").file_name())
            .collect();
        assert_eq!(names, ["CURRENT"]);
    }

    #[tokio::test]
    async fn put_new_writes_once_and_keeps_the_first_content() {
        let (dir, store) = store().await;
        let key = "raw/2017/03/02/05/x.ndjson";

        assert!(
            store
                .put_new(key, Bytes::from("first"), NDJSON)
                .await
                .expect("put_new")
        );
        assert!(
            !store
                .put_new(key, Bytes::from("second"), NDJSON)
                .await
                .expect("put_new")
        );

        assert_eq!(store.get(key).await.expect("get"), "first");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("raw/2017/03/02/05"))
            .expect("the folder exists")
            .map(|entry| entry.expect("an entry").file_name())
            .filter(|name| name.to_string_lossy().starts_with(TEMP_PREFIX))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn concurrent_put_new_has_exactly_one_winner() {
        let (_dir, store) = store().await;
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..16 {
            let store = store.clone();
            writers.spawn(async move {
                let body = Bytes::from(format!("writer {writer}"));
                store
                    .put_new("raw/race", body, NDJSON)
                    .await
                    .expect("put_new")
            });
        }

        let wins = writers
            .join_all()
            .await
            .into_iter()
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1);
        let body = store.get("raw/race").await.expect("get");
        assert!(body.starts_with(b"writer "), "{body:?}");
    }

    #[tokio::test]
    async fn get_of_a_missing_key_is_not_found() {
        let (_dir, store) = store().await;
        put_all(&store, &["raw/a"]).await;

        for missing in ["raw/b", "raw", "raw/a/b", "nothing/here"] {
            let error = store.get(missing).await.unwrap_err();
            assert!(
                matches!(error, StoreError::NotFound { .. }),
                "{missing}: {error}"
            );
            assert!(
                error.to_string().contains(&format!("`{missing}`")),
                "{error}"
            );
            assert!(!store.exists(missing).await.expect("exists"), "{missing}");
        }
        assert!(store.exists("raw/a").await.expect("exists"));
    }

    #[tokio::test]
    async fn temporary_files_are_never_listed() {
        let (dir, store) = store().await;
        put_all(&store, &["raw/a"]).await;
        fs::write(
            dir.path().join("raw").join(format!("{TEMP_PREFIX}1.2.3")),
            "partial",
        )
        .expect("a stray temporary file");
        fs::write(dir.path().join(format!("{TEMP_PREFIX}4.5.6")), "partial")
            .expect("a stray temporary file");

        assert_eq!(store.list("").await.expect("lists"), ["raw/a"]);
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_folder() {
        let (_dir, store) = store().await;
        for bad in ["../outside", "/etc/passwd", "raw/../../x"] {
            let error = store.put(bad, Bytes::from("x"), NDJSON).await.unwrap_err();
            assert!(
                matches!(error, StoreError::InvalidKey { .. }),
                "{bad}: {error}"
            );
        }
        assert!(store.list("../").await.is_err());
    }
}
