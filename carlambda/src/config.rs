//! `carlambda.toml`: optional settings that flags and environment variables override.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The configuration file read when `--config` names none.
const DEFAULT_FILE: &str = "carlambda.toml";

/// The settings a `carlambda.toml` may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The master dataset, as `--store` takes it.
    pub store: Option<String>,
    /// Timely worker threads for the batch.
    pub workers: Option<usize>,
    /// The stream, as `--stream` takes it.
    pub stream: Option<String>,
    /// `[ingest]`: defaults of the `ingest` flags.
    #[serde(default)]
    pub ingest: crate::live_commands::IngestSettings,
}

impl Config {
    /// Reads the file named with `--config`, which must exist, or else `carlambda.toml` in the
    /// working directory when there is one.
    pub fn load(named: Option<&Path>) -> Result<Config> {
        let path = named.unwrap_or(Path::new(DEFAULT_FILE));
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && named.is_none() => {
                return Ok(Config::default());
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid configuration", path.display()))
    }

    /// The stream: the flag (or its environment variable), else the file, else the default.
    pub fn stream(&self, flag: Option<String>) -> String {
        flag.or_else(|| self.stream.clone())
            .unwrap_or_else(|| crate::stream_commands::DEFAULT_STREAM.to_owned())
    }

    /// Worker threads: the flag, else the file, else one per CPU.
    pub fn workers(&self, flag: Option<usize>) -> usize {
        flag.or(self.workers)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }
}
