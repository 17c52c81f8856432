//! The serving subcommands: `query`, `serve`, and `publish` of the page or the website.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use carlambda_serving::query::{self, Answer, Format};
use carlambda_serving::server::{self, ServeOptions, SpeedSource};
use carlambda_serving::{CurrentState, publish_page, publish_website};
use carlambda_store::Store;
use clap::Args;

use crate::speed_command::{self, SpeedTiming};

/// `carlambda query`: SQL over the current tables and views.
#[derive(Args)]
#[command(group = clap::ArgGroup::new("what").required(true))]
pub struct QueryArgs {
    /// One read-only SQL statement over the tables (makes, models, model_years, submodels,
    /// styles) and views (body_style_counts, model_year_counts, make_summary, data_quality).
    #[arg(group = "what")]
    sql: Option<String>,
    /// Print a table or view whole, in its own order.
    #[arg(long, group = "what", value_name = "NAME")]
    view: Option<String>,
    /// List the tables and views with their columns.
    #[arg(long, group = "what")]
    tables: bool,
    /// table (aligned), csv or json (an array of objects).
    #[arg(long, default_value = "table")]
    format: Format,
}

/// `carlambda serve`: the page and the API over HTTP.
#[derive(Args)]
#[command(group(
    clap::ArgGroup::new("speed_timing")
        .args(["idle_wait", "publish_every", "checkpoint_every"])
        .multiple(true)
        .requires("speed")
))]
pub struct ServeArgs {
    /// Run the speed worker in this process and serve each of its steps as it comes, instead
    /// of reading the speed view another process publishes.
    #[arg(long)]
    speed: bool,
    /// Timely worker threads of the in-process speed worker [default: `workers` in
    /// carlambda.toml, else the CPU count].
    #[arg(long, requires = "speed")]
    pub workers: Option<usize>,
    #[command(flatten)]
    speed_timing: SpeedTiming,
    /// The port to listen on; 0 picks a free one (printed once listening).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to listen on; 0.0.0.0 opens the server to other machines.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Seconds between two looks at batch/CURRENT for a newly published version (and, without
    /// --speed, at the speed view another process publishes).
    #[arg(long, default_value = "1", value_name = "SECONDS", value_parser = positive_seconds)]
    refresh: Duration,
}

/// A positive number of seconds, like `1` or `0.25`.
fn positive_seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("`{text}` is not a positive number of seconds"))
}

pub async fn query(store: &Store, args: QueryArgs) -> Result<()> {
    let state = CurrentState::load(store).await.context("query failed")?;
    let output = if args.tables {
        query::describe_tables(&state)
    } else {
        let answer = match (&args.sql, &args.view) {
            (Some(sql), _) => query::run_sql(&state, sql).await,
            (None, Some(name)) => Answer::of(&state, name),
            (None, None) => unreachable!("clap requires a query, --view or --tables"),
        };
        answer
            .and_then(|answer| answer.render(args.format))
            .context("query failed")?
    };
    crate::say(output.trim_end_matches('\n'))?;
    Ok(())
}

/// Serves the current state of `store`; with `--speed`, runs the speed worker over the stream
/// at `stream` (on `workers` threads) in this process.
pub async fn serve(store: Arc<Store>, args: ServeArgs, stream: &str, workers: usize) -> Result<()> {
    let options = ServeOptions {
        bind: args.bind,
        port: args.port,
        refresh: args.refresh,
    };
    let speed = if args.speed {
        let options = args.speed_timing.options(workers, false);
        SpeedSource::InProcess(speed_command::spawn(store.clone(), stream, options).await?)
    } else {
        SpeedSource::Store
    };
    server::serve(store, options, speed, |address| {
        // Serving goes on when nobody reads the output any more.
        let _ = crate::say(format_args!("serving on http://{address}/"));
    })
    .await
    .context("serve failed")
}

pub async fn publish(store: &Store, website: Option<&str>) -> Result<()> {
    let Some(website) = website else {
        let page = publish_page(store).await.context("publish failed")?;
        crate::say(&page)?;
        return Ok(());
    };
    let target = Store::open(website)
        .await
        .context("cannot open the website target")?;
    let state = CurrentState::load(store).await.context("publish failed")?;
    let published = publish_website(&state, &target)
        .await
        .context("publish failed")?;
    crate::say(format_args!(
        "published batch v{} to {}: {}",
        published.version,
        published.location,
        published.keys.join(", ")
    ))?;
    Ok(())
}
