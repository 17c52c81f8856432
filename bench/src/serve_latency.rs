//! `serve-latency`: the latency of one route of a running `carlambda serve`, as p50 and p99
//! over a fixed number of requests.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Requests sent before measuring, so that connections and caches are warm.
const WARM_UP: usize = 50;

/// Sends `requests` GET requests to `url`, `concurrency` at a time over kept-alive
/// connections, and prints one JSON line: requests, concurrency, p50, p99, max and mean in
/// milliseconds, and requests per second.
pub async fn run(url: &str, requests: usize, concurrency: usize) -> Result<()> {
    if requests == 0 || concurrency == 0 {
        bail!("--requests and --concurrency must be at least 1");
    }
    let client = reqwest::Client::new();
    for _ in 0..WARM_UP {
        get(&client, url).await?;
    }

    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let share = requests / concurrency + usize::from(worker < requests % concurrency);
        let (client, url) = (client.clone(), url.to_owned());
        workers.spawn(async move {
            let mut took = Vec::with_capacity(share);
            for _ in 0..share {
                let sent = Instant::now();
                get(&client, &url).await?;
                took.push(sent.elapsed());
            }
            anyhow::Ok(took)
        });
    }
    let mut took = Vec::with_capacity(requests);
    while let Some(worker) = workers.join_next().await {
        took.extend(worker.context("a request task panicked")??);
    }
    let wall = started.elapsed();

    took.sort_unstable();
    let mean = took.iter().sum::<Duration>() / requests as u32;
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let figures = serde_json::json!({
        "url": url,
        "requests": requests,
        "concurrency": concurrency,
        "p50_ms": ms(percentile(&took, 0.50)),
        "p99_ms": ms(percentile(&took, 0.99)),
        "max_ms": ms(took[took.len() - 1]),
        "mean_ms": ms(mean),
        "requests_per_second": (requests as f64 / wall.as_secs_f64()).round(),
    });
    println!("{figures}");
    Ok(())
}

async fn get(client: &reqwest::Client, url: &str) -> Result<()> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    response
        .bytes()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url} answered {status}");
    }
    Ok(())
}

/// The `q` quantile of `sorted` by the nearest-rank method.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();

        assert_eq!(percentile(&sorted, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&sorted[..1], 0.99), Duration::from_millis(1));
    }
}
