//! The call budget: at most so many calls per quota window (a day, for the API's free tier)
//! and a minimum interval between calls, counted in the store so that a restart does not
//! overspend.

use std::time::Duration;

use carlambda_schemas::FetchedAt;
use carlambda_store::Store;
use serde::{Deserialize, Serialize};

use crate::state::{self, StateError};

/// Where the budget's use is kept.
pub const BUDGET_KEY: &str = "ingest/budget.json";

/// How many calls may be made, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetConfig {
    /// Calls allowed in one quota window.
    pub calls_per_window: u32,
    /// The quota window. Windows are aligned to the Unix epoch, so a window of a day resets
    /// at midnight UTC.
    pub window: Duration,
    /// The least time between the starts of two calls.
    pub min_interval: Duration,
}

impl Default for BudgetConfig {
    /// The free tier of the Edmunds API: 25 calls a day, at most one a second.
    fn default() -> BudgetConfig {
        BudgetConfig {
            calls_per_window: 25,
            window: Duration::from_secs(24 * 60 * 60),
            min_interval: Duration::from_secs(1),
        }
    }
}

/// The use of the budget, as kept in the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Use {
    /// Start of the window `used` counts in, in Unix milliseconds.
    window_start: i64,
    /// Calls made in that window.
    used: u32,
    /// When the last call started, in Unix milliseconds.
    last_call: Option<i64>,
    /// Whether the API said the window's quota is spent.
    #[serde(default)]
    over_quota: bool,
}

/// How long a call must wait, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wait {
    until: Duration,
    limit: Limit,
}

/// The limit a call waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    /// The calls of the window are made.
    Window,
    /// The API answered over quota in this window.
    OverQuota,
    /// The minimum interval since the last call has not passed.
    Interval,
}

/// The budget, loaded from and kept in the store.
#[derive(Debug)]
pub struct Budget {
    config: BudgetConfig,
    state: Use,
}

impl Budget {
    /// The budget with the use kept in `store`, if any.
    pub async fn load(store: &Store, config: BudgetConfig) -> Result<Budget, StateError> {
        let state = state::load(store, BUDGET_KEY).await?.unwrap_or_default();
        Ok(Budget { config, state })
    }

    /// Waits until the budget allows a call, then counts the call in the store before
    /// returning: a call made after that is paid for even if the program dies during it.
    pub async fn take(&mut self, store: &Store) -> Result<(), StateError> {
        loop {
            let now = FetchedAt::now().unix_millis();
            match self.wait_before_call(now) {
                Some(Wait { until, limit }) => {
                    if until >= Duration::from_secs(60) {
                        let wait = humantime::format_duration(whole_seconds(until));
                        match limit {
                            Limit::OverQuota => tracing::info!(
                                "the API said the quota is spent; waiting {wait} for the next window"
                            ),
                            Limit::Window => tracing::info!(
                                "call budget spent ({} calls in this window); waiting {wait}",
                                self.state.used
                            ),
                            Limit::Interval => tracing::info!(
                                "waiting {wait}, the minimum interval between two calls"
                            ),
                        }
                    }
                    tokio::time::sleep(until).await;
                }
                None => {
                    self.count_call(now);
                    return state::save(store, BUDGET_KEY, &self.state).await;
                }
            }
        }
    }

    /// Takes an over-quota answer at its word: no more calls until the next window.
    pub async fn spend_window(&mut self, store: &Store) -> Result<(), StateError> {
        self.roll_window(FetchedAt::now().unix_millis());
        self.state.used = self.state.used.max(self.config.calls_per_window);
        self.state.over_quota = true;
        state::save(store, BUDGET_KEY, &self.state).await
    }

    /// How long to wait at `now` before a call is allowed, and for which limit; `None` when
    /// it is allowed now.
    fn wait_before_call(&mut self, now: i64) -> Option<Wait> {
        self.roll_window(now);
        if self.state.used >= self.config.calls_per_window {
            let next_window = self.state.window_start + millis(self.config.window);
            return Some(Wait {
                until: Duration::from_millis((next_window - now).max(1) as u64),
                limit: if self.state.over_quota {
                    Limit::OverQuota
                } else {
                    Limit::Window
                },
            });
        }
        let earliest = self.state.last_call? + millis(self.config.min_interval);
        (earliest > now).then(|| Wait {
            until: Duration::from_millis((earliest - now) as u64),
            limit: Limit::Interval,
        })
    }

    fn count_call(&mut self, now: i64) {
        self.state.used += 1;
        self.state.last_call = Some(now);
    }

    /// Starts a new window when `now` is past the current one.
    fn roll_window(&mut self, now: i64) {
        let window = millis(self.config.window).max(1);
        let start = now - now.rem_euclid(window);
        if start != self.state.window_start {
            self.state.window_start = start;
            self.state.used = 0;
            self.state.over_quota = false;
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2)
}

fn whole_seconds(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(calls: u32, window_ms: u64, interval_ms: u64) -> Budget {
        Budget {
            config: BudgetConfig {
                calls_per_window: calls,
                window: Duration::from_millis(window_ms),
                min_interval: Duration::from_millis(interval_ms),
            },
            state: Use::default(),
        }
    }

    #[test]
    fn calls_are_spaced_by_the_minimum_interval() {
        let mut budget = budget(10, 1_000_000, 100);
        assert_eq!(budget.wait_before_call(5_000), None);
        budget.count_call(5_000);
        assert_eq!(
            budget.wait_before_call(5_030),
            Some(Wait {
                until: Duration::from_millis(70),
                limit: Limit::Interval
            })
        );
        assert_eq!(budget.wait_before_call(5_100), None);
    }

    #[test]
    fn a_spent_window_waits_for_the_next_one() {
        let mut budget = budget(2, 1_000, 0);
        for now in [10_100, 10_200] {
            assert_eq!(budget.wait_before_call(now), None);
            budget.count_call(now);
        }
        assert_eq!(
            budget.wait_before_call(10_250),
            Some(Wait {
                until: Duration::from_millis(750),
                limit: Limit::Window
            })
        );
        assert_eq!(budget.wait_before_call(11_000), None, "a new window");
        assert_eq!(budget.state.used, 0);
    }

    #[tokio::test]
    async fn the_use_survives_a_restart_and_an_over_quota_answer_spends_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
        let config = BudgetConfig {
            calls_per_window: 3,
            window: Duration::from_secs(3600),
            min_interval: Duration::ZERO,
        };
        let mut first = Budget::load(&store, config.clone()).await.unwrap();
        first.take(&store).await.unwrap();
        first.take(&store).await.unwrap();

        let mut again = Budget::load(&store, config.clone()).await.unwrap();
        assert_eq!(again.state, first.state);
        assert_eq!(again.state.used, 2);
        let now = FetchedAt::now().unix_millis();
        again.spend_window(&store).await.unwrap();

        let mut after = Budget::load(&store, config).await.unwrap();
        assert_eq!(
            after.wait_before_call(now).map(|wait| wait.limit),
            Some(Limit::OverQuota)
        );
    }
}
