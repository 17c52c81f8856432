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

    /// Worker threads: the flag, else the file, else one per CPU.
    pub fn workers(&self, flag: Option<usize>) -> usize {
        flag.or(self.workers)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }
}
