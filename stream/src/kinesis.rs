//! The stream on Kinesis: `PutRecords` within the service's limits with retries of the
//! entries a call refused, and a reader of every shard that keeps per-scope order across a
//! reshard.

use std::collections::BTreeMap;
use std::error::Error;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::Region;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{
    PutRecordsRequestEntry, PutRecordsResultEntry, ShardIteratorType, StreamStatus,
};
use carlambda_schemas::{FetchedAt, RawRecord};
use tracing::{debug, info, warn};

use crate::data;
use crate::{Position, SequenceNumber, StreamError, StreamRecord};

/// The region used when none is configured, as for the master dataset on S3.
const DEFAULT_REGION: &str = "us-east-1";

/// `PutRecords` limits: records and bytes (data plus partition keys) per call.
const MAX_BATCH_RECORDS: usize = 500;
const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;

/// How often the entries a `PutRecords` refused are sent again before the append fails, and
/// the first pause between attempts (doubling each time).
const PUT_ATTEMPTS: u32 = 8;
const PUT_PAUSE: Duration = Duration::from_millis(100);

/// Records asked of one `GetRecords` call (the service allows up to 10,000).
const GET_LIMIT: i32 = 1000;

/// `GetRecords` allows five calls a second per shard.
const SHARD_PACE: Duration = Duration::from_millis(200);

/// The longest pause after a shard was throttled.
const MAX_THROTTLE_PAUSE: Duration = Duration::from_secs(10);

/// A Kinesis data stream. Clones share one client.
#[derive(Debug, Clone)]
pub struct KinesisStream {
    name: String,
    client: Client,
}

impl KinesisStream {
    /// The stream named `name`, with region, endpoint and credentials from the standard AWS
    /// configuration. Nothing is sent yet.
    pub async fn open(name: &str) -> Result<KinesisStream, StreamError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
        if name.is_empty() || name.len() > 128 || !name.chars().all(valid) {
            return Err(StreamError::InvalidLocation {
                location: format!("kinesis://{name}"),
                reason: "a Kinesis stream name is 1 to 128 letters, digits, `_`, `.` or `-`"
                    .to_owned(),
            });
        }
        let region =
            RegionProviderChain::default_provider().or_else(Region::from_static(DEFAULT_REGION));
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .load()
            .await;
        Ok(KinesisStream {
            name: name.to_owned(),
            client: Client::new(&config),
        })
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the stream with `shards` shards and waits (up to a minute) until it is active:
    /// for first-time setup and tests.
    pub async fn create(&self, shards: u32) -> Result<(), StreamError> {
        let shards = i32::try_from(shards).unwrap_or(i32::MAX);
        self.client
            .create_stream()
            .stream_name(&self.name)
            .shard_count(shards)
            .send()
            .await
            .map_err(|e| self.error("create the stream", &e))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let summary = self
                .client
                .describe_stream_summary()
                .stream_name(&self.name)
                .send()
                .await
                .map_err(|e| self.error("describe the stream", &e))?;
            let status = summary
                .stream_description_summary()
                .map(|s| s.stream_status().clone());
            if status == Some(StreamStatus::Active) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StreamError::Kinesis {
                    stream: self.name.clone(),
                    action: "create the stream",
                    cause: format!("the stream is still {status:?} after a minute"),
                    hint: "look at the stream in the console",
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Appends `records` in as few `PutRecords` calls as the limits allow; the partition key
    /// is the scope. Every record is checked against the record size limit first, so a record
    /// that cannot fit fails the append before anything is sent.
    ///
    /// Entries that a call refused (throttled, internal failure) are sent again, alone, after
    /// a pause. A record sent again can land after records appended later in the same call;
    /// this is harmless, since "the latest snapshot wins" goes by `fetched_at`, not by order.
    pub async fn append(&self, records: &[RawRecord]) -> Result<(), StreamError> {
        let entries = records
            .iter()
            .map(|record| {
                let key = data::partition_key(&record.scope);
                let data = data::encode(record, key.len())?;
                Ok(PutRecordsRequestEntry::builder()
                    .partition_key(key)
                    .data(Blob::new(data))
                    .build()
                    .expect("data and partition key are set"))
            })
            .collect::<Result<Vec<_>, StreamError>>()?;
        for batch in batches(&entries) {
            self.put_batch(batch.to_vec()).await?;
        }
        debug!(stream = %self.name, records = records.len(), "appended");
        Ok(())
    }

    async fn put_batch(&self, mut pending: Vec<PutRecordsRequestEntry>) -> Result<(), StreamError> {
        let mut pause = PUT_PAUSE;
        let mut attempt = 1;
        loop {
            let output = self
                .client
                .put_records()
                .stream_name(&self.name)
                .set_records(Some(pending.clone()))
                .send()
                .await
                .map_err(|e| self.error("put records", &e))?;
            let refused = refused(pending, output.records());
            let Some((_, first)) = refused.first() else {
                return Ok(());
            };
            let code = first.error_code().unwrap_or("unknown").to_owned();
            let message = first.error_message().unwrap_or("").to_owned();
            if attempt == PUT_ATTEMPTS {
                return Err(StreamError::PutFailed {
                    stream: self.name.clone(),
                    failed: refused.len(),
                    attempts: attempt,
                    code,
                    message,
                });
            }
            warn!(
                stream = %self.name,
                refused = refused.len(),
                attempt,
                %code,
                "Kinesis refused some records of a PutRecords; sending those again"
            );
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
            pending = refused.into_iter().map(|(entry, _)| entry).collect();
        }
    }

    /// A reader of every shard, starting after `position`.
    pub async fn consumer(&self, position: Position) -> Result<KinesisConsumer, StreamError> {
        let mut consumer = KinesisConsumer {
            stream: self.clone(),
            shards: BTreeMap::new(),
            position,
        };
        consumer.refresh_shards().await?;
        Ok(consumer)
    }

    fn error<E>(&self, action: &'static str, error: &SdkError<E>) -> StreamError
    where
        E: Error + ProvideErrorMetadata + 'static,
    {
        StreamError::Kinesis {
            stream: self.name.clone(),
            action,
            cause: causes(error),
            hint: hint(error),
        }
    }
}

/// `entries` cut into runs that one `PutRecords` takes: at most 500 records and 5 MiB.
fn batches(entries: &[PutRecordsRequestEntry]) -> Vec<&[PutRecordsRequestEntry]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        let size = entry.data().as_ref().len() + entry.partition_key().map_or(0, str::len);
        if i - start == MAX_BATCH_RECORDS || bytes + size > MAX_BATCH_BYTES {
            batches.push(&entries[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < entries.len() {
        batches.push(&entries[start..]);
    }
    batches
}

/// The entries of a call that the service refused, each with its result (which says why).
/// Results come in the order of the entries sent.
fn refused<T>(sent: Vec<T>, results: &[PutRecordsResultEntry]) -> Vec<(T, PutRecordsResultEntry)> {
    sent.into_iter()
        .zip(results)
        .filter(|(_, result)| result.error_code().is_some())
        .map(|(entry, result)| (entry, result.clone()))
        .collect()
}

/// A reader of every shard of a Kinesis stream.
///
/// A shard is read only once its parents (after a split or merge) are drained, so the records
/// of one scope come in the order they were appended. Expired iterators are renewed after the
/// last sequence number read; a throttled shard is left alone for a growing pause.
#[derive(Debug)]
pub struct KinesisConsumer {
    stream: KinesisStream,
    shards: BTreeMap<String, ShardState>,
    position: Position,
}

#[derive(Debug, Default)]
struct ShardState {
    parents: Vec<String>,
    /// The last sequence number of a closed shard.
    ending: Option<SequenceNumber>,
    iterator: Option<String>,
    /// Every record of a closed shard has been read.
    drained: bool,
    /// The last read returned nothing and the shard was not behind.
    caught_up: bool,
    last_read: Option<Instant>,
    throttled_until: Option<Instant>,
    throttle_pause: Option<Duration>,
}

/// What a failed Kinesis call means to the reader.
enum Fault {
    Expired,
    Throttled,
    Other(StreamError),
}

impl KinesisConsumer {
    /// The next records of every shard that may be read now (at most a thousand of each).
    pub async fn next_batch(&mut self) -> Result<Vec<StreamRecord>, StreamError> {
        let mut records = Vec::new();
        let mut any_drained = false;
        let readable: Vec<String> = self
            .shards
            .keys()
            .filter(|id| self.readable(id))
            .cloned()
            .collect();
        for id in readable {
            let state = &self.shards[&id];
            if state
                .throttled_until
                .is_some_and(|until| Instant::now() < until)
            {
                continue;
            }
            if let Some(wait) = state
                .last_read
                .map(|at| SHARD_PACE.saturating_sub(at.elapsed()))
            {
                tokio::time::sleep(wait).await;
            }
            match self.read_shard(&id).await {
                Ok(read) => {
                    records.extend(read);
                    any_drained |= self.shards[&id].drained;
                }
                Err(Fault::Other(error)) => return Err(error),
                Err(Fault::Expired) => {
                    let stream = &self.stream.name;
                    warn!(%stream, shard = %id, "shard iterator expired; renewing it");
                    self.shards.get_mut(&id).expect("known shard").iterator = None;
                }
                Err(Fault::Throttled) => self.throttle(&id),
            }
        }
        if any_drained {
            self.refresh_shards().await?;
        }
        Ok(records)
    }

    /// The position after every record returned so far.
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// Whether every shard, including any a reshard has added, is drained or was read up to
    /// its end by the last read.
    pub async fn caught_up(&mut self) -> Result<bool, StreamError> {
        self.refresh_shards().await?;
        Ok(self.shards.values().all(|s| s.drained || s.caught_up))
    }

    /// A shard may be read once every parent still listed is drained; a shard already begun
    /// (it has a position) had its parents drained before.
    fn readable(&self, id: &str) -> bool {
        let state = &self.shards[id];
        !state.drained
            && (self.position.contains_key(id)
                || state
                    .parents
                    .iter()
                    .all(|p| self.shards.get(p).is_none_or(|parent| parent.drained)))
    }

    async fn read_shard(&mut self, id: &str) -> Result<Vec<StreamRecord>, Fault> {
        let iterator = match self.shards[id].iterator.clone() {
            Some(iterator) => iterator,
            None => self.iterator(id).await?,
        };
        let stream = &self.stream;
        let result = stream
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(GET_LIMIT)
            .send()
            .await;
        let state = self.shards.get_mut(id).expect("known shard");
        state.last_read = Some(Instant::now());
        let output = result.map_err(|e| {
            let code = e.code();
            if code == Some("ExpiredIteratorException") {
                Fault::Expired
            } else if is_throttling(code) {
                Fault::Throttled
            } else {
                Fault::Other(stream.error("get records", &e))
            }
        })?;
        state.throttle_pause = None;

        let mut records = Vec::with_capacity(output.records().len());
        for record in output.records() {
            let sequence: SequenceNumber = record.sequence_number().parse().map_err(|e| {
                Fault::Other(StreamError::Kinesis {
                    stream: stream.name.clone(),
                    action: "get records",
                    cause: format!("shard {id}: {e}"),
                    hint: "the service answered something unexpected",
                })
            })?;
            let arrived = record
                .approximate_arrival_timestamp()
                .and_then(|t| t.to_millis().ok())
                .ok_or_else(|| {
                    Fault::Other(StreamError::Kinesis {
                        stream: stream.name.clone(),
                        action: "get records",
                        cause: format!("shard {id}: record {sequence} has no arrival time"),
                        hint: "the service answered something unexpected",
                    })
                })?;
            let line = data::decode(record.data().as_ref(), id, sequence.as_str());
            records.push(StreamRecord {
                shard: id.to_owned(),
                sequence,
                arrived: FetchedAt::from_unix_millis(arrived),
                line,
            });
        }
        if let Some(last) = records.last() {
            self.position.insert(id.to_owned(), last.sequence.clone());
        }

        let behind = output.millis_behind_latest().unwrap_or(0);
        state.caught_up = records.is_empty() && behind == 0;
        state.iterator = output.next_shard_iterator().map(str::to_owned);
        // A closed shard ends when its iterator does. The local emulator never ends one, so a
        // closed shard also counts as drained once a read past its last record finds nothing.
        let past_end = state
            .ending
            .as_ref()
            .is_some_and(|end| self.position.get(id).is_some_and(|at| at >= end));
        state.drained = state.iterator.is_none()
            || (state.ending.is_some() && state.caught_up)
            || (past_end && records.is_empty());
        if state.drained {
            info!(stream = %stream.name, shard = %id, "shard drained; its children come next");
        }
        Ok(records)
    }

    /// A new iterator for shard `id`: after the last sequence number read, or at its start.
    async fn iterator(&self, id: &str) -> Result<String, Fault> {
        let request = self
            .stream
            .client
            .get_shard_iterator()
            .stream_name(&self.stream.name)
            .shard_id(id);
        let request = match self.position.get(id) {
            Some(after) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(after.as_str()),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let output = request.send().await.map_err(|e| {
            if is_throttling(e.code()) {
                Fault::Throttled
            } else {
                Fault::Other(self.stream.error("get a shard iterator", &e))
            }
        })?;
        output.shard_iterator().map(str::to_owned).ok_or_else(|| {
            Fault::Other(StreamError::Kinesis {
                stream: self.stream.name.clone(),
                action: "get a shard iterator",
                cause: format!("no iterator for shard {id}"),
                hint: "the service answered something unexpected",
            })
        })
    }

    fn throttle(&mut self, id: &str) {
        let state = self.shards.get_mut(id).expect("known shard");
        let pause = state
            .throttle_pause
            .map_or(SHARD_PACE, |p| (p * 2).min(MAX_THROTTLE_PAUSE));
        warn!(
            stream = %self.stream.name,
            shard = %id,
            pause_ms = pause.as_millis() as u64,
            "shard throttled (provisioned throughput exceeded); backing off"
        );
        state.throttle_pause = Some(pause);
        state.throttled_until = Some(Instant::now() + pause);
    }

    /// Learns the stream's shards: new ones (after a reshard) and which are closed.
    async fn refresh_shards(&mut self) -> Result<(), StreamError> {
        let mut next_token: Option<String> = None;
        loop {
            // ListShards takes either the stream's name or a page token, not both.
            let request = match &next_token {
                Some(token) => self.stream.client.list_shards().next_token(token),
                None => self
                    .stream
                    .client
                    .list_shards()
                    .stream_name(&self.stream.name),
            };
            let output = request
                .send()
                .await
                .map_err(|e| self.stream.error("list shards", &e))?;
            for shard in output.shards() {
                let ending = shard
                    .sequence_number_range()
                    .and_then(|range| range.ending_sequence_number())
                    .and_then(|end| end.parse().ok());
                let state = self.shards.entry(shard.shard_id().to_owned()).or_default();
                state.parents = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect();
                state.ending = ending;
            }
            next_token = output.next_token().map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
        debug!(stream = %self.stream.name, shards = self.shards.len(), "listed shards");
        Ok(())
    }
}

fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("ProvisionedThroughputExceededException" | "LimitExceededException")
    )
}

/// Every cause in `error`'s chain, outermost first. The SDK's own context printer also prints
/// the raw response, which is left out here so that no request detail reaches a message.
fn causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn hint<E: ProvideErrorMetadata>(error: &SdkError<E>) -> &'static str {
    if matches!(
        error,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    ) {
        return "check AWS_ENDPOINT_URL (if set) and that Kinesis is reachable";
    }
    match error.code() {
        Some("ResourceNotFoundException") => {
            "check the stream name and AWS_REGION, or create the stream"
        }
        Some("AccessDeniedException" | "UnrecognizedClientException" | "ExpiredTokenException") => {
            "check the credentials (AWS_ACCESS_KEY_ID or AWS_PROFILE) and their permissions"
        }
        _ => "check the stream name, AWS_REGION, AWS_ENDPOINT_URL and the credentials",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::MAX_RECORD_BYTES;

    fn entry(bytes: usize) -> PutRecordsRequestEntry {
        PutRecordsRequestEntry::builder()
            .partition_key("k")
            .data(Blob::new(vec![b'x'; bytes]))
            .build()
            .unwrap()
    }

    #[test]
    fn batches_keep_within_500_records_and_5_mib() {
        let small: Vec<_> = (0..1201).map(|_| entry(10)).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [500, 500, 201]);

        let large: Vec<_> = (0..12).map(|_| entry(MAX_RECORD_BYTES - 1)).collect();
        let sizes: Vec<usize> = batches(&large).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [5, 5, 2]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn only_refused_entries_are_sent_again() {
        let ok = |seq: &str| {
            PutRecordsResultEntry::builder()
                .sequence_number(seq)
                .shard_id("shardId-000000000000")
                .build()
        };
        let refused_entry = PutRecordsResultEntry::builder()
            .error_code("ProvisionedThroughputExceededException")
            .error_message("Rate exceeded for shard")
            .build();
        let results = [ok("1"), refused_entry.clone(), ok("2"), refused_entry];
        let again = refused(vec!["a", "b", "c", "d"], &results);
        let names: Vec<&str> = again.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["b", "d"]);
        assert_eq!(
            again[0].1.error_code(),
            Some("ProvisionedThroughputExceededException")
        );
    }

    #[test]
    fn a_child_shard_waits_for_every_parent_to_drain() {
        let config = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static(DEFAULT_REGION))
            .build();
        let stream = KinesisStream {
            name: "s".into(),
            client: Client::from_conf(config),
        };
        let shard = |parents: &[&str], drained| ShardState {
            parents: parents.iter().map(|p| p.to_string()).collect(),
            drained,
            ..ShardState::default()
        };
        let mut consumer = KinesisConsumer {
            stream,
            shards: BTreeMap::from([
                ("a".to_owned(), shard(&[], true)),
                ("b".to_owned(), shard(&[], false)),
                ("merged".to_owned(), shard(&["a", "b"], false)),
                ("orphan".to_owned(), shard(&["expired"], false)),
            ]),
            position: Position::new(),
        };
        assert!(consumer.readable("b"));
        assert!(!consumer.readable("a"), "a drained shard is done");
        assert!(!consumer.readable("merged"), "b is not drained yet");
        assert!(
            consumer.readable("orphan"),
            "a parent past retention is no longer listed"
        );
        consumer.shards.get_mut("b").unwrap().drained = true;
        assert!(consumer.readable("merged"));
    }

    #[test]
    fn throttling_codes_are_recognised() {
        assert!(is_throttling(Some(
            "ProvisionedThroughputExceededException"
        )));
        assert!(!is_throttling(Some("ResourceNotFoundException")));
        assert!(!is_throttling(None));
    }
}
