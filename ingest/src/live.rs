//! `carlambda ingest`: polls the live API within its call budget, round robin over the models
//! of the latest catalog, and appends every answer and every final failure to a
//! [`RecordSink`] as raw records.
//!
//! Each call is made in full before the next: its attempts (retries of timeouts and 5xx with
//! exponential backoff and jitter, waits for the next quota window after 403 or 429), then
//! the cursor moves on. A call's records are: every answer received (a 5xx that was retried
//! and a 429 that was waited out included), each appended before any wait, and a failure
//! without an answer only when it was the last attempt. Dropping the future of [`run`] at any
//! point loses nothing: a restart repeats at most the call that was under way, and the budget
//! counted it already.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use carlambda_schemas::{FetchedAt, RawRecord};
use carlambda_store::Store;

use crate::budget::{Budget, BudgetConfig};
use crate::client::{Attempt, Client, Endpoint, Verdict};
use crate::cursor::{Cursor, work_list_of_catalog};
use crate::sink::{RecordSink, SinkError};
use crate::state::StateError;

/// How to poll.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub budget: BudgetConfig,
    pub retry: RetryConfig,
    /// How often the catalog, and with it the work list, is fetched again.
    pub catalog_period: Duration,
    /// Make one pass over the work list and stop, instead of polling forever.
    pub once: bool,
}

impl Default for LiveOptions {
    /// The free tier's budget, three retries from 1 s, a new catalog every 7 days, forever.
    fn default() -> LiveOptions {
        LiveOptions {
            budget: BudgetConfig::default(),
            retry: RetryConfig::default(),
            catalog_period: Duration::from_secs(7 * 24 * 60 * 60),
            once: false,
        }
    }
}

/// Retries of timeouts, failed connections and 5xx answers: exponential backoff with jitter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts after the first.
    pub retries: usize,
    /// The wait before the first retry; each next wait doubles, up to `max_delay`.
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            retries: 3,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryConfig {
    fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.retries)
            .with_jitter()
            .build()
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSummary {
    /// Calls to the API, retries included.
    pub calls: u64,
    /// Raw records appended.
    pub records: u64,
    /// Of those, error records.
    pub errors: u64,
    /// Model endpoints done (answered well or failed for good).
    pub models: u64,
    /// Catalogs that gave a new work list.
    pub catalogs: u64,
    /// Answers taken as over quota.
    pub over_quota: u64,
}

/// Why polling stopped.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "the API refused the key (HTTP 401) on {endpoint}: it is wrong or inactive; set \
         EDMUNDS_API_KEY to an active key"
    )]
    Unauthorized { endpoint: String },
    #[error("no work list: the catalog call to {endpoint} failed ({reason})")]
    NoWorkList { endpoint: String, reason: String },
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("cannot keep ingest state: {0}")]
    State(#[from] StateError),
}

/// Polls the API through `client` into `sink`, keeping the cursor and the budget in `store`.
/// With `options.once` it makes one pass over the work list (fetching the catalog first when
/// it is due) and returns; otherwise it returns only on an error.
pub async fn run<S: RecordSink>(
    client: &Client,
    sink: &S,
    store: &Store,
    options: &LiveOptions,
) -> Result<LiveSummary, LiveError> {
    let mut poller = Poller {
        client,
        sink,
        store,
        options,
        budget: Budget::load(store, options.budget.clone()).await?,
        cursor: Cursor::load(store).await?,
        summary: LiveSummary::default(),
    };
    poller.run().await?;
    Ok(poller.summary)
}

struct Poller<'a, S> {
    client: &'a Client,
    sink: &'a S,
    store: &'a Store,
    options: &'a LiveOptions,
    budget: Budget,
    cursor: Cursor,
    summary: LiveSummary,
}

impl<S: RecordSink> Poller<'_, S> {
    async fn run(&mut self) -> Result<(), LiveError> {
        let api = self.client.base_url();
        if let Some(other) = self.cursor.drop_list_of_another_api(api) {
            tracing::info!("the work list came from {other}: asking {api} for its catalog first");
        }
        let mut done_this_pass = 0;
        loop {
            if self
                .cursor
                .catalog_due(FetchedAt::now(), self.options.catalog_period)
            {
                self.refresh_catalog().await?;
            }
            if self.options.once && done_this_pass >= self.cursor.len() {
                return Ok(());
            }
            let Some(item) = self.cursor.current().cloned() else {
                continue;
            };
            self.call(&item.endpoint()).await?;
            self.summary.models += 1;
            self.cursor.advance(self.store).await?;
            done_this_pass += 1;
        }
    }

    /// Fetches the catalog and, when it is good, replaces the work list. A failure keeps the
    /// old list; with none, `--once` stops and polling forever asks again (within budget).
    async fn refresh_catalog(&mut self) -> Result<(), LiveError> {
        let endpoint = Endpoint::catalog();
        let last = self.call(&endpoint).await?;
        self.cursor
            .catalog_checked(self.store, last.fetched_at)
            .await?;
        let read = match (&last.error, &last.body) {
            (None, Some(body)) => work_list_of_catalog(body.get()),
            (Some(error), _) => Err(format!("{}: {}", error.kind, error.message)),
            (None, None) => Err("no body".to_owned()),
        };
        match read {
            Ok(models) => {
                tracing::info!(
                    "new work list: {} models from the catalog of {}",
                    models.len(),
                    last.fetched_at
                );
                self.summary.catalogs += 1;
                self.cursor
                    .replace_list(self.store, self.client.base_url(), models, last.fetched_at)
                    .await?;
            }
            Err(reason) if self.cursor.is_empty() && self.options.once => {
                return Err(LiveError::NoWorkList {
                    endpoint: endpoint.path(),
                    reason,
                });
            }
            Err(reason) => {
                tracing::warn!("the catalog gave no new work list ({reason}); keeping the last")
            }
        }
        Ok(())
    }

    /// One call: its attempts, each answer appended as soon as it is received, before any
    /// wait for a retry or for the next window. Returns the last record.
    async fn call(&mut self, endpoint: &Endpoint) -> Result<RawRecord, LiveError> {
        let mut delays = self.options.retry.delays();
        loop {
            self.budget.take(self.store).await?;
            self.summary.calls += 1;
            let Attempt { record, verdict } = self.client.fetch(endpoint).await;
            let next = match verdict {
                Verdict::Good | Verdict::Failed => Next::Done,
                Verdict::Unauthorized => {
                    self.append(&record).await?;
                    return Err(LiveError::Unauthorized {
                        endpoint: endpoint.path(),
                    });
                }
                Verdict::OverQuota => Next::QuotaWindow,
                Verdict::Transient => delays.next().map_or(Next::Done, Next::RetryAfter),
            };
            // A failure without an answer is kept only when it is the last attempt.
            if next == Next::Done || record.http_status.is_some() {
                self.append(&record).await?;
            }
            match next {
                Next::Done => {
                    if let Some(error) = &record.error {
                        tracing::warn!("{}: {}: {}", record.endpoint, error.kind, error.message);
                    }
                    return Ok(record);
                }
                Next::QuotaWindow => {
                    self.summary.over_quota += 1;
                    tracing::warn!(
                        "{} answered HTTP {}: taken as over quota, waiting for the next window",
                        endpoint.path(),
                        record.http_status.unwrap_or_default()
                    );
                    self.budget.spend_window(self.store).await?;
                }
                Next::RetryAfter(delay) => {
                    warn_retry(&record, delay);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Appends `record`, asking the sink again a few times (with backoff) when it fails.
    async fn append(&mut self, record: &RawRecord) -> Result<(), LiveError> {
        let mut delays = self.options.retry.delays();
        loop {
            match self.sink.append(std::slice::from_ref(record)).await {
                Ok(()) => break,
                Err(error) => match delays.next() {
                    Some(delay) => {
                        tracing::warn!("{error}; trying again in {delay:?}");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(error.into()),
                },
            }
        }
        self.summary.records += 1;
        self.summary.errors += u64::from(record.error.is_some());
        Ok(())
    }
}

/// What a call does after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// The attempt is the call's last.
    Done,
    /// The API said the quota is spent: the next attempt waits for the next window.
    QuotaWindow,
    /// A transient failure: the next attempt waits this long (and for the call budget).
    RetryAfter(Duration),
}

fn warn_retry(record: &RawRecord, delay: Duration) {
    let why = record.error.as_ref().map_or_else(String::new, |error| {
        format!("{}: {}", error.kind, error.message)
    });
    tracing::warn!(
        "{}: {why}; trying again in {} at the earliest (the call budget may wait longer)",
        record.endpoint,
        humantime::format_duration(Duration::from_millis(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
        ))
    );
}
