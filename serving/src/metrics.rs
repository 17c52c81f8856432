//! The server's Prometheus metrics: requests and their latency per route, the age and version
//! of the batch view served, what the speed view adds and how soon, and the rows of every
//! table and view.

use std::time::Duration;

use axum::http::StatusCode;
use carlambda_schemas::FetchedAt;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::CurrentState;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    refreshes: IntCounterVec,
    age: Gauge,
    version: IntGauge,
    speed_records: IntGauge,
    speed_lag: Gauge,
    speed_behind: IntGauge,
    speed_latency: Histogram,
    rows: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry =
            Registry::new_custom(Some("carlambda".into()), None).expect("a fixed prefix is valid");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route and status",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by route",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let refreshes = IntCounterVec::new(
            Opts::new(
                "state_refreshes_total",
                "States built from a new batch version or speed view (ok), or kept out (failed)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let age = Gauge::new(
            "batch_age_seconds",
            "Seconds since the batch view served was published",
        )
        .expect("valid metric");
        let version = IntGauge::new("batch_version", "The version of the batch view served")
            .expect("valid metric");
        let speed_records = IntGauge::new(
            "speed_records_since_watermark",
            "Records the speed view has read from the stream after the batch watermark",
        )
        .expect("valid metric");
        let speed_lag = Gauge::new(
            "speed_lag_seconds",
            "Seconds since the newest response the speed view holds was fetched; NaN without one",
        )
        .expect("valid metric");
        let speed_behind = IntGauge::new(
            "speed_behind_batch",
            "1 while the speed view was computed against an earlier batch version than the one \
             served, else 0",
        )
        .expect("valid metric");
        let speed_latency = Histogram::with_opts(
            HistogramOpts::new(
                "speed_latency_seconds",
                "Time from a record's arrival on the stream to its speed view being served, \
                 for a speed worker in this process",
            )
            .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
        )
        .expect("valid metric");
        let rows = IntGaugeVec::new(
            Opts::new("rows", "Rows of each table and view served"),
            &["name", "kind"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(refreshes.clone()),
            Box::new(age.clone()),
            Box::new(version.clone()),
            Box::new(speed_records.clone()),
            Box::new(speed_lag.clone()),
            Box::new(speed_behind.clone()),
            Box::new(speed_latency.clone()),
            Box::new(rows.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Metrics {
            registry,
            requests,
            latency,
            refreshes,
            age,
            version,
            speed_records,
            speed_lag,
            speed_behind,
            speed_latency,
            rows,
        }
    }

    /// Counts a request to `route` answered with `status` after `took`.
    pub fn observe(&self, route: &str, status: StatusCode, took: Duration) {
        self.requests
            .with_label_values(&[route, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(took.as_secs_f64());
    }

    /// Counts a refresh of the state with `outcome`, `ok` or `failed`.
    pub fn refreshed(&self, outcome: &str) {
        self.refreshes.with_label_values(&[outcome]).inc();
    }

    /// Observes the latency of records that arrived on the stream at `arrivals` and are
    /// served from `now` on.
    pub fn served_records(&self, arrivals: &[FetchedAt], now: FetchedAt) {
        for arrived in arrivals {
            let millis = (now.unix_millis() - arrived.unix_millis()).max(0);
            self.speed_latency.observe(millis as f64 / 1000.0);
        }
    }

    /// Every metric in the text exposition format, with the gauges of `state`, whose batch
    /// view is `age_seconds` old.
    pub fn render(&self, state: &CurrentState, age_seconds: f64) -> Result<String, String> {
        self.version
            .set(i64::try_from(state.version()).unwrap_or(i64::MAX));
        self.age.set(age_seconds);
        let speed = state.speed().cloned().unwrap_or_default();
        self.speed_records
            .set(i64::try_from(speed.records_since_watermark).unwrap_or(i64::MAX));
        self.speed_lag.set(
            speed
                .lag(FetchedAt::now())
                .map_or(f64::NAN, |lag| lag.as_secs_f64()),
        );
        self.speed_behind.set(i64::from(speed.behind_batch));
        for name in CurrentState::names() {
            let kind = if CurrentState::is_table(name) {
                "table"
            } else {
                "view"
            };
            let rows = state.batch(name).map_or(0, |b| b.num_rows());
            self.rows
                .with_label_values(&[name, kind])
                .set(i64::try_from(rows).unwrap_or(i64::MAX));
        }

        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .map_err(|e| format!("cannot write the metrics: {e}"))?;
        String::from_utf8(text).map_err(|e| format!("the metrics are not text: {e}"))
    }
}
