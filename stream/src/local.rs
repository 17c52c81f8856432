//! The embedded local log: the stream in a folder, one append-only file per shard.
//!
//! ```text
//! <folder>/stream.json        {"shards": 4}, written when the log is created
//! <folder>/shard-0000.log     one line per record: <checksum> <arrival ms> <record JSON>
//! <folder>/append.lock        held while appending, so that writers in several processes
//!                             never interleave
//! ```
//!
//! A record goes to the shard of a hash of its scope. Its sequence number is the byte offset
//! of its line in the shard's file, so a reader resumes with one seek. An append returns only
//! after the lines are written and synced. A crash can leave a torn last line: readers never
//! take a line without its line break or with a wrong checksum as a record, and the next
//! append cuts a torn tail off before writing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use carlambda_schemas::{FetchedAt, RawRecord};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::{Position, SequenceNumber, StreamError, StreamRecord};

const META_FILE: &str = "stream.json";
const LOCK_FILE: &str = "append.lock";

/// Shards of a new log. Four let four readers share the work without making a small log
/// a scatter of files.
const DEFAULT_SHARDS: u32 = 4;

/// The most lines one shard gives to one [`LocalConsumer::next_batch`].
const BATCH_LINES: usize = 1000;

/// The embedded local log. Clones share nothing but the folder.
#[derive(Debug, Clone)]
pub struct LocalLog {
    root: PathBuf,
    shards: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    shards: u32,
}

impl LocalLog {
    /// Opens the log in the folder at `path`, creating the folder and a new log of four
    /// shards when there is none.
    pub async fn open(path: &str) -> Result<LocalLog, StreamError> {
        if path.is_empty() {
            return Err(StreamError::InvalidLocation {
                location: String::new(),
                reason: "the location is empty; give a folder or `kinesis://<stream name>`"
                    .to_owned(),
            });
        }
        let path = PathBuf::from(path);
        blocking(move || open_blocking(&path)).await
    }

    /// The absolute path of the log's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder's name.
    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map_or_else(|| "stream".to_owned(), |n| n.to_string_lossy().into_owned())
    }

    /// Appends `records` to the shards of their scopes and syncs them to disk.
    pub async fn append(&self, records: &[RawRecord]) -> Result<(), StreamError> {
        let mut by_shard: Vec<Vec<String>> = vec![Vec::new(); self.shards as usize];
        for record in records {
            let mut line = record.to_line();
            line.pop();
            by_shard[self.shard_of(&record.scope) as usize].push(line);
        }
        let log = self.clone();
        let arrived = FetchedAt::now();
        blocking(move || log.append_blocking(&by_shard, arrived)).await?;
        debug!(log = %self.root.display(), records = records.len(), "appended");
        Ok(())
    }

    /// A reader of every shard, starting after `position`.
    pub async fn consumer(&self, position: Position) -> Result<LocalConsumer, StreamError> {
        let log = self.clone();
        blocking(move || LocalConsumer::start(log, position)).await
    }

    fn shard_names(&self) -> impl Iterator<Item = String> {
        (0..self.shards).map(|index| format!("shard-{index:04}"))
    }

    fn shard_path(&self, shard: &str) -> PathBuf {
        self.root.join(format!("{shard}.log"))
    }

    fn shard_of(&self, scope: &str) -> u32 {
        let hash = blake3::hash(scope.as_bytes());
        let head: [u8; 8] = hash.as_bytes()[..8]
            .try_into()
            .expect("a hash has 32 bytes");
        (u64::from_le_bytes(head) % u64::from(self.shards)) as u32
    }

    fn append_blocking(
        &self,
        by_shard: &[Vec<String>],
        arrived: FetchedAt,
    ) -> Result<(), StreamError> {
        let lock_path = self.root.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .and_then(|lock| lock.lock().map(|()| lock))
            .map_err(io_error(&lock_path, "lock"))?;

        for (shard, lines) in self.shard_names().zip(by_shard) {
            if lines.is_empty() {
                continue;
            }
            let path = self.shard_path(&shard);
            let text: String = lines.iter().map(|json| frame(arrived, json)).collect();
            let created = !path.exists();
            append_to_file(&path, text.as_bytes()).map_err(io_error(&path, "append to"))?;
            if created {
                sync_folder(&self.root).map_err(io_error(&self.root, "sync"))?;
            }
        }
        drop(lock);
        Ok(())
    }
}

fn open_blocking(path: &Path) -> Result<LocalLog, StreamError> {
    let unusable = |cause: io::Error| StreamError::InvalidLocation {
        location: path.display().to_string(),
        reason: format!("the folder cannot be created or opened ({cause})"),
    };
    fs::create_dir_all(path).map_err(unusable)?;
    let root = fs::canonicalize(path).map_err(unusable)?;
    let meta_path = root.join(META_FILE);
    let shards = match fs::read(&meta_path) {
        Ok(bytes) => {
            let meta: Meta =
                serde_json::from_slice(&bytes).map_err(|e| StreamError::InvalidLocation {
                    location: root.display().to_string(),
                    reason: format!("{} is not a stream log's description: {e}", META_FILE),
                })?;
            meta.shards
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_meta(&root, DEFAULT_SHARDS).map_err(io_error(&meta_path, "write"))?;
            DEFAULT_SHARDS
        }
        Err(e) => return Err(io_error(&meta_path, "read")(e)),
    };
    if shards == 0 {
        return Err(StreamError::InvalidLocation {
            location: root.display().to_string(),
            reason: format!("{META_FILE} gives the log no shards"),
        });
    }
    Ok(LocalLog { root, shards })
}

/// Writes the log's description under a temporary name and renames it into place, so that a
/// crash never leaves half of one.
fn create_meta(root: &Path, shards: u32) -> io::Result<()> {
    let temp = root.join(format!(".{META_FILE}.{}", std::process::id()));
    let mut file = File::create(&temp)?;
    file.write_all(&serde_json::to_vec(&Meta { shards }).expect("plain data serializes"))?;
    file.sync_all()?;
    fs::rename(&temp, root.join(META_FILE))?;
    sync_folder(root)
}

/// Appends `bytes` after the last whole line of the file at `path` and syncs it.
fn append_to_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let end = cut_torn_tail(&mut file, path)?;
    file.seek(SeekFrom::Start(end))?;
    file.write_all(bytes)?;
    file.sync_data()
}

/// Cuts off the bytes after the file's last line break (what a crash in the middle of an
/// append leaves) and returns the new length.
fn cut_torn_tail(file: &mut File, path: &Path) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(newline) = part.iter().rposition(|&b| b == b'\n') {
            end = start + newline as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        warn!(
            file = %path.display(),
            bytes = len - end,
            "cut off a torn last line left by an interrupted append"
        );
        file.set_len(end)?;
        file.sync_data()?;
    }
    Ok(end)
}

/// One line of a shard file: `<checksum> <arrival ms> <record JSON>\n`.
fn frame(arrived: FetchedAt, json: &str) -> String {
    let content = format!("{} {json}", arrived.unix_millis());
    format!("{} {content}\n", checksum(&content))
}

fn checksum(content: &str) -> String {
    blake3::hash(content.as_bytes()).to_hex()[..16].to_owned()
}

/// The arrival time and record JSON of a line (without its line break), or why it is not one.
fn unframe(line: &[u8]) -> Result<(FetchedAt, String), String> {
    let line = std::str::from_utf8(line).map_err(|_| "a line is not UTF-8".to_owned())?;
    let (sum, content) = line
        .split_once(' ')
        .ok_or_else(|| "a line has no checksum".to_owned())?;
    if checksum(content) != sum {
        return Err("a line does not match its checksum".to_owned());
    }
    let (millis, json) = content
        .split_once(' ')
        .ok_or_else(|| "a line has no arrival time".to_owned())?;
    let millis = millis
        .parse()
        .map_err(|_| format!("`{millis}` is not an arrival time"))?;
    Ok((FetchedAt::from_unix_millis(millis), json.to_owned()))
}

/// A reader of every shard of a [`LocalLog`].
#[derive(Debug)]
pub struct LocalConsumer {
    log: LocalLog,
    /// Per shard, in shard order: its name and the offset of the next line to read.
    cursors: Vec<(String, u64)>,
    position: Position,
}

impl LocalConsumer {
    fn start(log: LocalLog, position: Position) -> Result<LocalConsumer, StreamError> {
        let names: Vec<String> = log.shard_names().collect();
        let unknown = |shard: &str, sequence: &SequenceNumber| StreamError::UnknownPosition {
            stream: log.root.display().to_string(),
            shard: shard.to_owned(),
            sequence: sequence.clone(),
        };
        if let Some((shard, sequence)) = position.iter().find(|(s, _)| !names.contains(s)) {
            return Err(unknown(shard, sequence));
        }
        let mut cursors = Vec::new();
        for name in names {
            let offset = match position.get(&name) {
                None => 0,
                Some(sequence) => {
                    let start = sequence
                        .as_str()
                        .parse()
                        .map_err(|_| unknown(&name, sequence))?;
                    let path = log.shard_path(&name);
                    let (records, next) =
                        read_lines(&name, &path, start, 1).map_err(|_| unknown(&name, sequence))?;
                    if records.is_empty() || !(start == 0 || byte_before(&path, start)? == b'\n') {
                        return Err(unknown(&name, sequence));
                    }
                    next
                }
            };
            cursors.push((name, offset));
        }
        Ok(LocalConsumer {
            log,
            cursors,
            position,
        })
    }

    /// The next records of every shard, at most a thousand lines of each.
    pub async fn next_batch(&mut self) -> Result<Vec<StreamRecord>, StreamError> {
        let (records, cursors) = self.read(BATCH_LINES).await?;
        for record in &records {
            self.position
                .insert(record.shard.clone(), record.sequence.clone());
        }
        self.cursors = cursors;
        Ok(records)
    }

    /// The position after every record returned so far.
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// Whether no shard holds a whole line after the ones returned.
    pub async fn caught_up(&mut self) -> Result<bool, StreamError> {
        let (records, _) = self.read(1).await?;
        Ok(records.is_empty())
    }

    /// Up to `lines` records of each shard from the cursors, and the cursors after them.
    async fn read(
        &self,
        lines: usize,
    ) -> Result<(Vec<StreamRecord>, Vec<(String, u64)>), StreamError> {
        let log = self.log.clone();
        let cursors = self.cursors.clone();
        blocking(move || {
            let mut records = Vec::new();
            let mut after = Vec::new();
            for (shard, offset) in cursors {
                let (read, next) = read_lines(&shard, &log.shard_path(&shard), offset, lines)?;
                records.extend(read);
                after.push((shard, next));
            }
            Ok((records, after))
        })
        .await
    }
}

/// Up to `max` whole lines of the file at `path` from byte `offset`, and the offset after
/// them. A missing file has no lines; a last line without its line break is not read (it is
/// being written, or was torn by a crash).
fn read_lines(
    shard: &str,
    path: &Path,
    offset: u64,
    max: usize,
) -> Result<(Vec<StreamRecord>, u64), StreamError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(io_error(path, "open")(e)),
    };
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(offset))
        .map_err(io_error(path, "read"))?;
    let mut records = Vec::new();
    let mut next = offset;
    let mut line = Vec::new();
    while records.len() < max {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(io_error(path, "read"))?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        let (arrived, json) = unframe(&line[..n - 1]).map_err(|reason| StreamError::Corrupt {
            path: path.to_owned(),
            offset: next,
            reason,
        })?;
        records.push(StreamRecord {
            shard: shard.to_owned(),
            sequence: SequenceNumber::from(next),
            arrived,
            line: json,
        });
        next += n as u64;
    }
    Ok((records, next))
}

/// The byte just before `offset` (which is greater than zero and within the file).
fn byte_before(path: &Path, offset: u64) -> Result<u8, StreamError> {
    let mut file = File::open(path).map_err(io_error(path, "open"))?;
    let mut byte = [0];
    file.seek(SeekFrom::Start(offset - 1))
        .and_then(|_| file.read_exact(&mut byte))
        .map_err(io_error(path, "read"))?;
    Ok(byte[0])
}

/// Makes new names in `folder` durable.
fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

fn io_error(path: &Path, action: &'static str) -> impl Fn(io::Error) -> StreamError {
    let path = path.to_owned();
    move |cause| StreamError::Io {
        path: path.clone(),
        action,
        cause,
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
        Err(error) => panic!("a blocking stream task was cancelled by runtime shutdown: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use carlambda_schemas::record::{Body, RecordParts};

    use super::*;

    pub(crate) fn record(n: u32) -> RawRecord {
        RawRecord::new(RecordParts {
            source: "simulator",
            endpoint: "/api/vehicle/v2/x",
            scope: format!("model:M_{}", n % 13),
            fetched_at: FetchedAt::from_unix_millis(1_488_433_069_071 + i64::from(n)),
            http_status: Some(200),
            body: Body::from_received(format!("{{\"n\":{n}}}").as_bytes()),
            error: None,
        })
    }

    async fn read_all(consumer: &mut LocalConsumer) -> Vec<StreamRecord> {
        let mut all = Vec::new();
        loop {
            let batch = consumer.next_batch().await.unwrap();
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
    }

    fn ids(records: &[StreamRecord]) -> Vec<String> {
        let mut ids: Vec<String> = records
            .iter()
            .map(|r| r.record().unwrap().record_id)
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn appended_records_are_read_once_in_order_per_scope_and_resume_after_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalLog::open(dir.path().join("log").to_str().unwrap())
            .await
            .unwrap();
        let first: Vec<RawRecord> = (0..2500).map(record).collect();
        log.append(&first).await.unwrap();

        let mut consumer = log.consumer(Position::new()).await.unwrap();
        let read = read_all(&mut consumer).await;
        assert!(consumer.caught_up().await.unwrap());
        let mut expected: Vec<String> = first.iter().map(|r| r.record_id.clone()).collect();
        expected.sort();
        assert_eq!(ids(&read), expected);
        for scope in 0..13 {
            let of_scope: Vec<u32> = read
                .iter()
                .map(|r| r.record().unwrap())
                .filter(|r| r.scope == format!("model:M_{scope}"))
                .map(|r| {
                    serde_json::from_str::<serde_json::Value>(r.body.unwrap().get()).unwrap()["n"]
                        .as_u64()
                        .unwrap() as u32
                })
                .collect();
            assert!(
                of_scope.windows(2).all(|w| w[0] < w[1]),
                "scope {scope} in order"
            );
        }

        let saved = consumer.position().clone();
        let second: Vec<RawRecord> = (2500..2600).map(record).collect();
        log.append(&second).await.unwrap();
        assert!(!consumer.caught_up().await.unwrap());
        let mut resumed = log.consumer(saved).await.unwrap();
        let rest = read_all(&mut resumed).await;
        let mut expected: Vec<String> = second.iter().map(|r| r.record_id.clone()).collect();
        expected.sort();
        assert_eq!(ids(&rest), expected);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_never_read_and_is_cut_off_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalLog::open(dir.path().to_str().unwrap()).await.unwrap();
        log.append(&[record(1)]).await.unwrap();
        let shard = format!("shard-{:04}", log.shard_of(&record(1).scope));
        let path = log.shard_path(&shard);
        let whole = fs::read(&path).unwrap();
        // A crash in the middle of the next append: part of a line, and then zeros.
        let mut torn = whole.clone();
        torn.extend_from_slice(&frame(FetchedAt::now(), &record(14).to_line()).as_bytes()[..40]);
        torn.extend_from_slice(&[0; 16]);
        fs::write(&path, &torn).unwrap();

        let mut consumer = log.consumer(Position::new()).await.unwrap();
        assert_eq!(
            ids(&read_all(&mut consumer).await),
            vec![record(1).record_id]
        );
        assert!(consumer.caught_up().await.unwrap());

        log.append(&[record(14)]).await.unwrap();
        assert_eq!(record(14).scope, record(1).scope);
        let mut expected = vec![record(1).record_id, record(14).record_id];
        expected.sort();
        let mut fresh = log.consumer(Position::new()).await.unwrap();
        assert_eq!(ids(&read_all(&mut fresh).await), expected);
        assert!(fs::read(&path).unwrap().starts_with(&whole));
    }

    #[tokio::test]
    async fn a_damaged_line_is_an_error_not_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalLog::open(dir.path().to_str().unwrap()).await.unwrap();
        log.append(&[record(1), record(14)]).await.unwrap();
        let path = log.shard_path(&format!("shard-{:04}", log.shard_of(&record(1).scope)));
        let text = fs::read_to_string(&path)
            .unwrap()
            .replacen("\"n\":1", "\"n\":7", 1);
        fs::write(&path, text).unwrap();
        let mut consumer = log.consumer(Position::new()).await.unwrap();
        let error = consumer.next_batch().await.unwrap_err();
        assert!(
            matches!(error, StreamError::Corrupt { offset: 0, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_position_of_another_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalLog::open(dir.path().to_str().unwrap()).await.unwrap();
        log.append(&[record(1), record(14)]).await.unwrap();
        let shard = format!("shard-{:04}", log.shard_of(&record(1).scope));
        for sequence in ["5", "999999"] {
            let position = Position::from([(shard.clone(), sequence.parse().unwrap())]);
            let error = log.consumer(position).await.unwrap_err();
            assert!(
                matches!(error, StreamError::UnknownPosition { .. }),
                "{error}"
            );
        }
        let elsewhere = Position::from([("shardId-000000000000".to_owned(), 1.into())]);
        assert!(log.consumer(elsewhere).await.is_err());
    }
}
