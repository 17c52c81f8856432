//! `carlambda`: the command line of the pipeline.
//!
//! Exit codes: 0 success (a reader that closed the output pipe early included), 1 the command
//! failed (one sentence on stderr says what and where), 2 the command line itself was wrong.

mod config;
mod demo;
mod live_commands;
mod serving;
mod speed_command;
mod stream_commands;

use std::fmt::Display;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use carlambda_batch::BatchOptions;
use carlambda_ingest::import::{self, ImportOptions};
use carlambda_schemas::FetchedAt;
use carlambda_store::Store;
use carlambda_stream::archive::ArchiveOptions;
use clap::{Parser, Subcommand};

use crate::config::Config;

/// A Lambda-architecture pipeline for vehicle catalog data (Edmunds API v2).
#[derive(Parser)]
#[command(name = "carlambda", version)]
struct Cli {
    /// The master dataset: a local folder, or s3://bucket/prefix (region, endpoint and
    /// credentials from the standard AWS configuration). Default: `store` in carlambda.toml,
    /// else ./carlambda-data.
    #[arg(long, global = true, env = "CARLAMBDA_STORE")]
    store: Option<String>,

    /// The stream: a local folder (the embedded log) or kinesis://<stream name>. Default:
    /// `stream` in carlambda.toml, else ./carlambda-stream.
    #[arg(long, global = true, env = "CARLAMBDA_STREAM")]
    stream: Option<String>,

    /// Configuration file; its settings yield to flags and environment variables.
    /// Default: carlambda.toml in the working directory, when there is one.
    #[arg(long, global = true)]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Append recorded API responses (files or folders) to the master dataset as raw records.
    Import {
        /// Files or folders: one JSON response per file, or NDJSON such as legacy Firehose
        /// objects (a response plus `time_stamp` per line).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// `fetched_at` (RFC 3339) of responses that carry no time; default: each file's
        /// modification time.
        #[arg(long)]
        fetched_at: Option<FetchedAt>,
        /// `source` of the records made from plain responses.
        #[arg(long, default_value = "edmunds-v2")]
        source: String,
        /// Append the records to the stream instead of the master dataset.
        #[arg(long)]
        to_stream: bool,
    },
    /// Archive the stream into raw objects of the master dataset, each record exactly once.
    Archive {
        /// Stop once everything on the stream is archived, instead of following it.
        #[arg(long)]
        drain: bool,
        /// Write an object once a shard's buffered records reach this many bytes [default:
        /// 5 MiB].
        #[arg(long)]
        buffer_bytes: Option<usize>,
        /// Write an object once a shard's oldest buffered record waited this long [default:
        /// 60s].
        #[arg(long, value_parser = humantime::parse_duration)]
        buffer_time: Option<Duration>,
    },
    /// Recompute the batch view from every raw record and publish it as a new version.
    Batch {
        /// Timely worker threads (default: `workers` in carlambda.toml, else the CPU count).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Render the page from the current views into site/index.html in the store.
    Publish {
        /// Publish a static website instead: index.html and views/<name>.json under this
        /// s3://bucket/prefix or local folder.
        #[arg(long, value_name = "LOCATION")]
        website: Option<String>,
    },
    /// SQL over the current tables and views (read-only).
    Query(serving::QueryArgs),
    /// Serve the page, the tables and views as JSON, /healthz and /metrics over HTTP.
    Serve(serving::ServeArgs),
    /// Poll the live API (or a simulated one) into the stream, within the API's call budget.
    Ingest(live_commands::IngestArgs),
    /// Serve a simulated API (generated or recorded responses, optional faults) over HTTP.
    SimulateApi(live_commands::SimulateArgs),
    /// The speed worker: keeps the speed view up to date over the records in the stream
    /// newer than the batch watermark, and publishes it after every step.
    Speed(speed_command::SpeedArgs),
    /// The whole path on the built-in simulator: the simulated API, ingest into the stream,
    /// archive, batch, a second poll taken in by the speed worker, and the page.
    Demo {
        /// Timely worker threads for the batch and the speed worker.
        #[arg(long)]
        workers: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("carlambda: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carlambda: {}", one_sentence(&e));
            ExitCode::FAILURE
        }
    }
}

/// A line of output that could not be written to stdout.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout: {0}")]
pub struct StdoutError(std::io::Error);

/// Writes `line` and a newline to stdout. When the reader closed the pipe
/// (`carlambda query ... | head`), the error this returns makes `main` exit cleanly.
pub fn say(line: impl Display) -> Result<(), StdoutError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(StdoutError)
}

/// Whether `error` comes from writing the output to a pipe whose reader is gone (and not
/// from any other broken connection).
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<StdoutError>()
            .is_some_and(|StdoutError(io)| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, each cause only once: many errors already print
/// their cause in their own message.
fn one_sentence(error: &anyhow::Error) -> String {
    let mut sentence = String::new();
    for cause in error.chain().map(on_one_line) {
        if !sentence.contains(&cause) {
            if !sentence.is_empty() {
                sentence.push_str(": ");
            }
            sentence.push_str(&cause);
        }
    }
    sentence
}

/// `cause`'s message with its lines (the AWS SDK lists the credential providers it tried on
/// lines of their own) joined by semicolons.
fn on_one_line(cause: &(dyn std::error::Error + 'static)) -> String {
    let text = cause.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    lines.join("; ")
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,carlambda=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> Result<()> {
    let command = match cli.command {
        Command::SimulateApi(args) => return live_commands::simulate_api(args).await,
        command => command,
    };
    let config = Config::load(cli.config.as_deref())?;
    let location = cli
        .store
        .or(config.store.clone())
        .unwrap_or_else(|| "carlambda-data".into());
    // The commands that need a batch, or raw records, do not create a store where none is;
    // the ones that write the first records (import, archive, ingest, demo) do.
    let needs_a_store = matches!(
        command,
        Command::Query(_)
            | Command::Serve(_)
            | Command::Batch { .. }
            | Command::Publish { .. }
            | Command::Speed(_)
    );
    let store = if needs_a_store {
        Store::open_existing(&location).await?
    } else {
        Store::open(&location).await?
    };
    let store = Arc::new(store);
    let stream = config.stream(cli.stream);

    match command {
        Command::Import {
            paths,
            fetched_at,
            source,
            to_stream,
        } => {
            let options = ImportOptions { source, fetched_at };
            if to_stream {
                stream_commands::import_to_stream(&stream, &paths, &options).await
            } else {
                import_paths(&store, &paths, &options).await
            }
        }
        Command::Archive {
            drain,
            buffer_bytes,
            buffer_time,
        } => {
            let defaults = ArchiveOptions::default();
            let options = ArchiveOptions {
                buffer_bytes: buffer_bytes.unwrap_or(defaults.buffer_bytes),
                buffer_time: buffer_time.unwrap_or(defaults.buffer_time),
                drain,
            };
            stream_commands::archive(&stream, &store, &options).await
        }
        Command::Batch { workers } => batch(store, config.workers(workers)).await,
        Command::Publish { website } => serving::publish(&store, website.as_deref()).await,
        Command::Query(args) => serving::query(&store, args).await,
        Command::Serve(args) => {
            let workers = config.workers(args.workers);
            serving::serve(store, args, &stream, workers).await
        }
        Command::Ingest(args) => live_commands::ingest(args, &config.ingest, &store, &stream).await,
        Command::SimulateApi(_) => unreachable!("answered before the store is opened"),
        Command::Speed(args) => {
            let options = args
                .timing
                .options(config.workers(args.workers), args.drain);
            speed_command::speed(&store, &stream, &options).await
        }
        Command::Demo { workers } => demo::run(store, &stream, config.workers(workers)).await,
    }
}

async fn import_paths(store: &Store, paths: &[PathBuf], options: &ImportOptions) -> Result<()> {
    let summary = import::import(store, paths, options)
        .await
        .context("import failed")?;
    let outcome = match (&summary.object, summary.written) {
        (None, _) => "nothing to import".to_owned(),
        (Some(key), true) => format!("wrote {key}"),
        (Some(key), false) => format!("already imported as {key}"),
    };
    say(format_args!(
        "imported {} files: {} records ({} errors); {outcome}",
        summary.files, summary.records, summary.errors
    ))?;
    Ok(())
}

/// `carlambda batch`: recomputes and publishes a batch version, and prints what it holds.
pub async fn batch(store: Arc<Store>, workers: usize) -> Result<()> {
    let options = BatchOptions {
        workers,
        progress: true,
    };
    let manifest = carlambda_batch::run(store, options)
        .await
        .context("batch failed")?;
    let rows = |name: &str| manifest.rows.get(name).copied().unwrap_or(0);
    let c = &manifest.counts;
    say(format_args!(
        "published batch v{}: {} objects, {} records ({} rejected, {} errors), {} scopes; \
         makes {}, models {}, model_years {}, submodels {}, styles {}; {:.2} s",
        manifest.version,
        c.objects,
        c.records,
        c.rejected,
        c.errors,
        c.scopes,
        rows("makes"),
        rows("models"),
        rows("model_years"),
        rows("submodels"),
        rows("styles"),
        manifest.seconds
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_line_each_cause_once() {
        let error = anyhow::anyhow!("no credentials found. Attempted:\n  Environment: not set\n  Profile: none")
            .context("S3 could not get `batch/CURRENT`: no credentials found. Attempted:\n  Environment: not set\n  Profile: none")
            .context("query failed");
        assert_eq!(
            one_sentence(&error),
            "query failed: S3 could not get `batch/CURRENT`: no credentials found. Attempted:; \
             Environment: not set; Profile: none"
        );
    }
}
