//! `carlambda.toml`: optional settings that flags and environment variables override.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The settings a `carlambda.toml` may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The master dataset, as `--store` takes it.
    pub store: Option<String>,
    /// Timely worker threads for the batch.
    pub workers: Option<usize>,
}

impl Config {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid configuration", path.display()))
    }

    /// Worker threads: the flag, else the file, else one per CPU.
    pub fn workers(&self, flag: Option<usize>) -> usize {
        flag.or(self.workers)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }
}
