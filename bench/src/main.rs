//! `carlambda-bench`: writes the batch benchmark's workload and measures its parse floor.
//!
//! `generate` turns the recorded catalog into hourly polls of legacy Firehose objects, the
//! way the original Python pipeline stored them; `floor` times reading and merely parsing
//! every line once, the bound the batch is measured against; `serve-latency` measures the
//! latency of a running `carlambda serve`; `speed-load` measures the speed layer under a
//! steady stream of records.

mod floor;
mod generate;
mod pyjson;
mod serve_latency;
mod speed_load;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The recorded catalog, read in place from the shared data folder.
pub(crate) const DEFAULT_CATALOG: &str = "../shared/data/edmunds-2017/makes.json";

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes legacy Firehose objects for every model of the catalog, once per hourly poll,
    /// under OUT/raw/YYYY/MM/DD/HH/.
    Generate {
        /// The catalog (an Edmunds `/makes` response).
        #[arg(long, default_value = DEFAULT_CATALOG)]
        catalog: PathBuf,
        /// Hourly polls of the whole catalog.
        #[arg(long, default_value_t = 48)]
        polls: u32,
        /// The same seed always gives byte-identical objects.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The store folder to write into; its `raw/` must not hold objects yet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Reads every line of every file under a folder once and parses it as JSON, discarding
    /// the result; prints one JSON line of figures per thread count.
    Floor {
        /// The folder to read, e.g. a store's `raw/`.
        folder: PathBuf,
        /// Thread counts to measure, each a separate pass.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        /// The parser that checks each line.
        #[arg(long, value_enum, default_value = "serde-json")]
        parser: floor::Parser,
    },
    /// Sends GET requests to a URL of a running `carlambda serve` and prints the p50 and p99
    /// latency as one JSON line.
    ServeLatency {
        /// e.g. http://127.0.0.1:8080/api/views/body_style_counts
        url: String,
        /// Requests measured (after 50 to warm up).
        #[arg(long, default_value_t = 1000)]
        requests: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Appends records to a stream at a steady rate while a speed worker in this process keeps
    /// the speed view merged with the store's batch view; prints records/s sustained and the
    /// latency from append to merged view as one JSON line.
    SpeedLoad(speed_load::LoadOptions),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Generate {
            catalog,
            polls,
            seed,
            out,
        } => generate::run(&catalog, polls, seed, &out),
        Command::Floor {
            folder,
            threads,
            parser,
        } => floor::run(&folder, &threads, parser),
        Command::ServeLatency {
            url,
            requests,
            concurrency,
        } => tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(serve_latency::run(&url, requests, concurrency))),
        Command::SpeedLoad(options) => speed_load::run(&options),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carlambda-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
