//! `carlambda-bench`: writes the batch benchmark's workload and measures its parse floor.
//!
//! `generate` turns the recorded catalog into hourly polls of legacy Firehose objects, the
//! way the original Python pipeline stored them; `floor` times reading and merely parsing
//! every line once, the bound the batch is measured against.

mod floor;
mod generate;
mod pyjson;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The recorded catalog, read in place from the shared data folder.
const DEFAULT_CATALOG: &str = "../shared/data/edmunds-2017/makes.json";

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
    },
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
        Command::Floor { folder, threads } => floor::run(&folder, &threads),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carlambda-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
