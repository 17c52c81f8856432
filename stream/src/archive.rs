//! `carlambda archive`: the stream into raw objects of the master dataset, buffered by size and
//! by time as Firehose does, each record exactly once however often the archive is killed.
//!
//! Records are buffered per shard. A buffer becomes one object, named after its shard and its
//! first and last sequence numbers (`archive-<shard>-<first>-<last>.ndjson`) and filed under
//! the hour its first record arrived on the stream, so the same records always make the same
//! object. The checkpoint (`stream/archive/<stream name>/checkpoint.json` in the store) holds,
//! per shard, the last sequence number archived, and the objects being written:
//!
//! 1. the intent (shard, first, last, key) is saved in the checkpoint;
//! 2. the object is written, if no object has that key yet;
//! 3. the shard's position moves to `last` and the intent is dropped, in one checkpoint write.
//!
//! A run that finds an intent either sees its object already stored (and does step 3) or
//! re-reads the shard and cuts the buffer exactly at the intent's last record, which gives the
//! same key and the same bytes. A crash before step 1 leaves no object, and the records are
//! read again after the saved position. Nothing is lost, nothing doubled.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use carlambda_ingest::raw_object;
use carlambda_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

use crate::{Position, SequenceNumber, Stream, StreamError, StreamRecord};

/// The pause before asking the stream again when it had nothing new.
const POLL: Duration = Duration::from_millis(250);

/// How raw objects are cut.
#[derive(Clone, Debug)]
pub struct ArchiveOptions {
    /// An object is written once a shard's buffer holds this many bytes.
    pub buffer_bytes: usize,
    /// An object is written once a shard's oldest buffered record waited this long.
    pub buffer_time: Duration,
    /// Stop once everything on the stream is archived, instead of following it.
    pub drain: bool,
}

impl Default for ArchiveOptions {
    fn default() -> ArchiveOptions {
        ArchiveOptions {
            buffer_bytes: 5 * 1024 * 1024,
            buffer_time: Duration::from_secs(60),
            drain: false,
        }
    }
}

/// What an archive run wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub objects: u64,
    pub records: u64,
}

/// Why the archive stopped. Whatever was not yet in an object is read again by the next run.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key} is not an archive checkpoint: {cause}; move it aside to archive from the start")]
    Checkpoint {
        key: String,
        cause: serde_json::Error,
    },
    #[error(
        "an interrupted run was writing {key} (shard {shard}, sequence numbers {first} to \
         {last}), but the stream no longer gives those records the same way; the checkpoint \
         belongs to another stream, or the records expired from it"
    )]
    Unfinished {
        shard: String,
        first: SequenceNumber,
        last: SequenceNumber,
        key: String,
    },
}

/// The key of the archive checkpoint of the stream named `stream_name`.
// LIMITATION: one archive per stream and store at a time; nothing stops a second one, and two
// local logs in folders of the same name share a checkpoint in one store.
pub fn checkpoint_key(stream_name: &str) -> String {
    format!("stream/archive/{stream_name}/checkpoint.json")
}

/// The name (without folder and extension) of the object holding records `first` to `last`
/// of `shard`.
fn object_name(shard: &str, first: &SequenceNumber, last: &SequenceNumber) -> String {
    format!("archive-{shard}-{first}-{last}")
}

/// The shard and the first and last sequence numbers of the records in a raw object that
/// archive wrote, from its key; `None` for any other key (imports, legacy objects).
pub fn object_range(key: &str) -> Option<(String, SequenceNumber, SequenceNumber)> {
    let name = key.rsplit('/').next()?.strip_suffix(".ndjson")?;
    let rest = name.strip_prefix("archive-")?;
    let mut parts = rest.rsplitn(3, '-');
    let last = parts.next()?.parse().ok()?;
    let first = parts.next()?.parse().ok()?;
    let shard = parts.next().filter(|s| !s.is_empty())?;
    Some((shard.to_owned(), first, last))
}

/// What the checkpoint holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// Per shard, the last sequence number in an object.
    shards: Position,
    /// Per shard, the object being written.
    #[serde(default)]
    pending: BTreeMap<String, Intent>,
}

/// An object about to be written: records `first` to `last` of its shard, at `key`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Intent {
    first: SequenceNumber,
    last: SequenceNumber,
    key: String,
}

/// One shard's records waiting for their object.
#[derive(Debug)]
struct Buffer {
    records: Vec<StreamRecord>,
    bytes: usize,
    since: Instant,
}

/// Reads `stream` and writes its records into `store` as raw objects, until the stream is
/// drained (with [`ArchiveOptions::drain`]) or forever.
pub async fn run(
    stream: &Stream,
    store: &Store,
    options: &ArchiveOptions,
) -> Result<ArchiveSummary, ArchiveError> {
    let mut archive = Archive::start(stream, store).await?;
    let mut consumer = stream.consumer(archive.checkpoint.shards.clone()).await?;
    info!(
        stream = %stream.describe(),
        store = %store.describe(),
        checkpoint = %archive.key,
        "archiving"
    );
    loop {
        let batch = consumer.next_batch().await?;
        let idle = batch.is_empty();
        for record in batch {
            archive.push(record, options).await?;
        }
        archive.flush_aged(options.buffer_time).await?;
        if idle {
            if options.drain && consumer.caught_up().await? {
                archive.flush_all().await?;
                return Ok(archive.summary);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

struct Archive<'a> {
    store: &'a Store,
    key: String,
    checkpoint: Checkpoint,
    buffers: BTreeMap<String, Buffer>,
    summary: ArchiveSummary,
}

impl<'a> Archive<'a> {
    /// Reads the checkpoint and completes the intents whose objects are already stored.
    async fn start(stream: &Stream, store: &'a Store) -> Result<Archive<'a>, ArchiveError> {
        let key = checkpoint_key(&stream.name());
        let checkpoint = match store.get(&key).await {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|cause| ArchiveError::Checkpoint {
                    key: key.clone(),
                    cause,
                })?
            }
            Err(StoreError::NotFound { .. }) => Checkpoint::default(),
            Err(e) => return Err(e.into()),
        };
        let mut archive = Archive {
            store,
            key,
            checkpoint,
            buffers: BTreeMap::new(),
            summary: ArchiveSummary::default(),
        };
        let pending: Vec<(String, Intent)> =
            archive.checkpoint.pending.clone().into_iter().collect();
        for (shard, intent) in pending {
            if store.exists(&intent.key).await? {
                info!(key = %intent.key, "an interrupted run stored this object; recording it");
                archive.commit(&shard, &intent).await?;
            } else {
                let key = &intent.key;
                info!(%key, "an interrupted run was writing this object; writing it again");
            }
        }
        Ok(archive)
    }

    async fn push(
        &mut self,
        record: StreamRecord,
        options: &ArchiveOptions,
    ) -> Result<(), ArchiveError> {
        let shard = record.shard.clone();
        let sequence = record.sequence.clone();
        let buffer = self.buffers.entry(shard.clone()).or_insert_with(|| Buffer {
            records: Vec::new(),
            bytes: 0,
            since: Instant::now(),
        });
        buffer.bytes += record.line.len() + 1;
        buffer.records.push(record);
        let full = buffer.bytes >= options.buffer_bytes;
        match self.checkpoint.pending.get(&shard) {
            // An interrupted object is cut where it was cut before, whatever the buffer size.
            Some(intent) if sequence == intent.last => self.flush(&shard).await,
            Some(intent) if sequence > intent.last => Err(self.unfinished(&shard, intent)),
            Some(_) => Ok(()),
            None if full => self.flush(&shard).await,
            None => Ok(()),
        }
    }

    /// Writes the buffers whose oldest record waited `limit` or longer.
    async fn flush_aged(&mut self, limit: Duration) -> Result<(), ArchiveError> {
        let aged: Vec<String> = self
            .buffers
            .iter()
            .filter(|(shard, buffer)| {
                buffer.since.elapsed() >= limit && !self.checkpoint.pending.contains_key(*shard)
            })
            .map(|(shard, _)| shard.clone())
            .collect();
        for shard in aged {
            self.flush(&shard).await?;
        }
        Ok(())
    }

    /// Writes every buffer: the stream is drained. An interrupted object that is still not
    /// complete will never be.
    async fn flush_all(&mut self) -> Result<(), ArchiveError> {
        if let Some((shard, intent)) = self.checkpoint.pending.iter().next() {
            return Err(self.unfinished(shard, intent));
        }
        let shards: Vec<String> = self.buffers.keys().cloned().collect();
        for shard in shards {
            self.flush(&shard).await?;
        }
        Ok(())
    }

    /// Writes the buffer of `shard` as one object: intent, object, then position.
    async fn flush(&mut self, shard: &str) -> Result<(), ArchiveError> {
        let Some(buffer) = self.buffers.remove(shard) else {
            return Ok(());
        };
        let (first, last) = match (buffer.records.first(), buffer.records.last()) {
            (Some(first), Some(last)) => (first, last),
            _ => return Ok(()),
        };
        let name = object_name(shard, &first.sequence, &last.sequence);
        let intent = Intent {
            first: first.sequence.clone(),
            last: last.sequence.clone(),
            key: raw_object::object_key(first.arrived, &name),
        };
        if let Some(earlier) = self.checkpoint.pending.get(shard) {
            if (&earlier.first, &earlier.key) != (&intent.first, &intent.key) {
                return Err(self.unfinished(shard, earlier));
            }
        } else {
            self.checkpoint
                .pending
                .insert(shard.to_owned(), intent.clone());
            self.save().await?;
        }

        let mut text = String::with_capacity(buffer.bytes);
        for record in &buffer.records {
            text.push_str(&record.line);
            text.push('\n');
        }
        let written = self
            .store
            .put_new(&intent.key, Bytes::from(text), "application/x-ndjson")
            .await?;
        self.commit(shard, &intent).await?;

        let records = buffer.records.len() as u64;
        self.summary.objects += 1;
        self.summary.records += records;
        info!(key = %intent.key, records, written, "archived");
        Ok(())
    }

    /// Records that the object of `intent` is stored.
    async fn commit(&mut self, shard: &str, intent: &Intent) -> Result<(), ArchiveError> {
        self.checkpoint
            .shards
            .insert(shard.to_owned(), intent.last.clone());
        self.checkpoint.pending.remove(shard);
        self.save().await
    }

    async fn save(&self) -> Result<(), ArchiveError> {
        let json = serde_json::to_vec_pretty(&self.checkpoint).expect("plain data serializes");
        self.store
            .put(&self.key, Bytes::from(json), "application/json")
            .await?;
        debug!(key = %self.key, "checkpoint saved");
        Ok(())
    }

    fn unfinished(&self, shard: &str, intent: &Intent) -> ArchiveError {
        ArchiveError::Unfinished {
            shard: shard.to_owned(),
            first: intent.first.clone(),
            last: intent.last.clone(),
            key: intent.key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_give_back_their_shard_and_range() {
        let key = raw_object::object_key(
            "2017-03-02T05:37:49.071Z".parse().unwrap(),
            &object_name(
                "shardId-000000000001",
                &"49590".parse().unwrap(),
                &"49600".parse().unwrap(),
            ),
        );
        assert_eq!(
            key,
            "raw/2017/03/02/05/archive-shardId-000000000001-49590-49600.ndjson"
        );
        let (shard, first, last) = object_range(&key).unwrap();
        assert_eq!(shard, "shardId-000000000001");
        assert_eq!((first.as_str(), last.as_str()), ("49590", "49600"));

        for other in [
            "raw/2017/03/02/05/import-0123456789abcdef.ndjson",
            "raw/2017/03/02/05/archive--1-2.ndjson",
            "raw/2017/03/02/05/archive-shard-0000-1-2",
            "raw/2017/03/02/05/firehose-1-2017-03-02-05-37-49-1234-5678",
        ] {
            assert_eq!(object_range(other), None, "{other}");
        }
    }
}
