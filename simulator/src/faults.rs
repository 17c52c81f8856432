//! The faults the HTTP simulator can answer with instead of the right response, each at a
//! rate, drawn per request number from a seed so that a run can be repeated exactly.

use std::time::Duration;

use rand::Rng;

use crate::seed;

/// The statuses an error body fault answers with: the documented errors of the API.
const ERROR_STATUSES: [u16; 6] = [400, 404, 500, 502, 503, 504];

/// How often each fault happens. At most one fault hits a request: the rates are shares of
/// all requests and must add up to at most 1.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Seeds the draws: the same seed gives the same faults on the same request numbers.
    pub seed: u64,
    /// An Edmunds error body (`status`, `errorType`, `message`, `moreInfoUrl`) with a
    /// 4xx or 5xx status.
    pub error_body: f64,
    /// A bare `500 Internal Server Error` whose body is not JSON.
    pub server_error: f64,
    /// The right status with the body cut in half, which is not JSON.
    pub malformed: f64,
    /// `429 Too Many Requests` with an error body, as when over quota.
    pub throttle: f64,
    /// The right response, after `slow_delay`.
    pub slow: f64,
    pub slow_delay: Duration,
}

impl Default for FaultConfig {
    /// No faults.
    fn default() -> FaultConfig {
        FaultConfig {
            seed: 0,
            error_body: 0.0,
            server_error: 0.0,
            malformed: 0.0,
            throttle: 0.0,
            slow: 0.0,
            slow_delay: Duration::from_secs(2),
        }
    }
}

/// A fault that hit one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// An error body with this status.
    ErrorBody(u16),
    ServerError,
    Malformed,
    Throttle,
    Slow(Duration),
}

impl Fault {
    /// The fault's name in the request log.
    pub fn name(self) -> &'static str {
        match self {
            Fault::ErrorBody(_) => "error-body",
            Fault::ServerError => "server-error",
            Fault::Malformed => "malformed",
            Fault::Throttle => "throttle",
            Fault::Slow(_) => "slow",
        }
    }
}

/// Rates that are not shares of all requests.
#[derive(Debug, thiserror::Error)]
#[error("fault rates must each lie in 0..=1 and add up to at most 1; got {0}")]
pub struct BadRates(String);

impl FaultConfig {
    /// Checks that the rates are shares of all requests.
    pub fn validate(&self) -> Result<(), BadRates> {
        let rates = self.rates();
        let in_range = rates.iter().all(|(_, rate)| (0.0..=1.0).contains(rate));
        if in_range && rates.iter().map(|(_, rate)| rate).sum::<f64>() <= 1.0 + 1e-9 {
            Ok(())
        } else {
            let named: Vec<String> = rates
                .iter()
                .map(|(flag, rate)| format!("{flag} {rate}"))
                .collect();
            Err(BadRates(named.join(", ")))
        }
    }

    /// The fault, if any, that hits request number `request`.
    pub fn draw(&self, request: u64) -> Option<Fault> {
        let mut rng = seed::rng(&[self.seed, request]);
        let mut point: f64 = rng.random();
        let faults = [
            Fault::ErrorBody(ERROR_STATUSES[rng.random_range(0..ERROR_STATUSES.len())]),
            Fault::ServerError,
            Fault::Malformed,
            Fault::Throttle,
            Fault::Slow(self.slow_delay),
        ];
        for (fault, (_, rate)) in faults.into_iter().zip(self.rates()) {
            if point < rate {
                return Some(fault);
            }
            point -= rate;
        }
        None
    }

    /// Each rate, with the `simulate-api` flag that sets it.
    fn rates(&self) -> [(&'static str, f64); 5] {
        [
            ("--error-rate", self.error_body),
            ("--server-error-rate", self.server_error),
            ("--malformed-rate", self.malformed),
            ("--throttle-rate", self.throttle),
            ("--slow-rate", self.slow),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_come_at_their_rates_and_repeat_with_the_seed() {
        let config = FaultConfig {
            seed: 7,
            error_body: 0.2,
            malformed: 0.05,
            throttle: 0.02,
            ..FaultConfig::default()
        };
        config.validate().unwrap();
        let draws: Vec<Option<Fault>> = (1..=10_000).map(|n| config.draw(n)).collect();
        let share = |name: &str| {
            draws.iter().flatten().filter(|f| f.name() == name).count() as f64 / 10_000.0
        };
        assert!((share("error-body") - 0.2).abs() < 0.02);
        assert!((share("malformed") - 0.05).abs() < 0.01);
        assert!((share("throttle") - 0.02).abs() < 0.007);
        assert_eq!(share("server-error") + share("slow"), 0.0);
        assert_eq!(
            draws[..100],
            (1..=100).map(|n| config.draw(n)).collect::<Vec<_>>()
        );

        let other_seed = FaultConfig { seed: 8, ..config };
        assert_ne!(
            draws[..100],
            (1..=100).map(|n| other_seed.draw(n)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rates_must_be_shares() {
        let too_much = FaultConfig {
            error_body: 0.7,
            throttle: 0.4,
            ..FaultConfig::default()
        };
        let error = too_much.validate().unwrap_err().to_string();
        assert!(
            error.ends_with(
                "--error-rate 0.7, --server-error-rate 0, --malformed-rate 0, \
                 --throttle-rate 0.4, --slow-rate 0"
            ),
            "{error}"
        );
        let negative = FaultConfig {
            slow: -0.1,
            ..FaultConfig::default()
        };
        assert!(negative.validate().is_err());
    }
}
