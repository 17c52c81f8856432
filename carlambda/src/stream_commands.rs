//! The commands of the stream: `archive`, and `import --to-stream`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use carlambda_ingest::import::{self, ImportOptions};
use carlambda_store::Store;
use carlambda_stream::Stream;
use carlambda_stream::archive::{self, ArchiveOptions};

/// The stream used when neither `--stream`, `CARLAMBDA_STREAM` nor carlambda.toml names one.
pub const DEFAULT_STREAM: &str = "carlambda-stream";

pub async fn open(location: &str) -> Result<Stream> {
    Stream::open(location)
        .await
        .with_context(|| format!("cannot open the stream {location}"))
}

/// Opens the stream at `location` for a reader; with `drain` (read it to its end and stop), a
/// local log that does not exist is an error, as a mistyped `--stream` would otherwise read an
/// empty one and report nothing. A follower waits for a log that is not there yet.
pub async fn open_to_read(location: &str, drain: bool) -> Result<Stream> {
    let is_local = !location.contains("://");
    if drain && is_local && !std::path::Path::new(location).exists() {
        anyhow::bail!(
            "no stream at {location}: check --stream (ingest and `import --to-stream` create it)"
        );
    }
    open(location).await
}

/// Appends the records an import of `paths` makes to the stream at `location`.
pub async fn import_to_stream(
    location: &str,
    paths: &[PathBuf],
    options: &ImportOptions,
) -> Result<()> {
    let stream = open(location).await?;
    let (files, records) = import::records_of_paths(paths, options).context("import failed")?;
    stream
        .append(&records)
        .await
        .context("import to the stream failed")?;
    let errors = records.iter().filter(|r| r.error.is_some()).count();
    crate::say(format_args!(
        "imported {files} files: {} records ({errors} errors); appended to {}",
        records.len(),
        stream.describe()
    ))?;
    Ok(())
}

/// `carlambda archive`: the stream at `location` into raw objects of `store`.
pub async fn archive(location: &str, store: &Store, options: &ArchiveOptions) -> Result<()> {
    let stream = open_to_read(location, options.drain).await?;
    let summary = archive::run(&stream, store, options)
        .await
        .with_context(|| format!("archive of {} failed", stream.describe()))?;
    crate::say(format_args!(
        "archived {} records in {} objects from {} into {}",
        summary.records,
        summary.objects,
        stream.describe(),
        store.describe()
    ))?;
    Ok(())
}
