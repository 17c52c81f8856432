//! The parse floor: the least work any batch must do, reading every line of every object once
//! and parsing it as JSON into nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::de::IgnoredAny;

/// What one pass read.
#[derive(Default)]
struct Tally {
    files: u64,
    bytes: u64,
    lines: u64,
    invalid: u64,
}

/// The JSON parser a floor pass uses to merely check each line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Parser {
    /// serde_json into `IgnoredAny`.
    SerdeJson,
    /// sonic-rs into `IgnoredAny`: the parser the batch reads lines with.
    SonicRs,
}

impl Parser {
    fn is_json(self, line: &[u8]) -> bool {
        match self {
            Parser::SerdeJson => serde_json::from_slice::<IgnoredAny>(line).is_ok(),
            Parser::SonicRs => sonic_rs::from_slice::<IgnoredAny>(line).is_ok(),
        }
    }
}

/// Measures one pass per entry of `threads` over the files under `folder`, printing each as
/// one JSON line on stdout.
pub fn run(folder: &Path, threads: &[usize], parser: Parser) -> Result<()> {
    let mut files = Vec::new();
    collect_files(folder, &mut files)?;
    files.sort();

    for &count in threads {
        let count = count.max(1);
        let started = Instant::now();
        let tally = parse_all(&files, count, parser)?;
        let seconds = started.elapsed().as_secs_f64();
        let megabytes = tally.bytes as f64 / 1e6;
        println!(
            "{}",
            serde_json::json!({
                "threads": count,
                "parser": format!("{parser:?}"),
                "files": tally.files,
                "bytes": tally.bytes,
                "lines": tally.lines,
                "invalid_lines": tally.invalid,
                "seconds": seconds,
                "mb_per_s": megabytes / seconds,
                "lines_per_s": tally.lines as f64 / seconds,
            })
        );
        eprintln!(
            "carlambda-bench: floor ({parser:?}), {count} thread(s): {} lines, {megabytes:.1} MB in \
             {seconds:.3} s = {:.0} MB/s, {:.0} lines/s ({} not JSON)",
            tally.lines,
            megabytes / seconds,
            tally.lines as f64 / seconds,
            tally.invalid
        );
    }
    Ok(())
}

fn collect_files(folder: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(folder).with_context(|| format!("listing {}", folder.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Parses `files` on `threads` threads, each taking every `threads`-th file (the objects are
/// of similar size, so this balances well enough).
fn parse_all(files: &[PathBuf], threads: usize, parser: Parser) -> Result<Tally> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || -> Result<Tally> {
                    let mut tally = Tally::default();
                    for path in files.iter().skip(worker).step_by(threads) {
                        let bytes = fs::read(path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        tally.files += 1;
                        tally.bytes += bytes.len() as u64;
                        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                            tally.lines += 1;
                            if !parser.is_json(line) {
                                tally.invalid += 1;
                            }
                        }
                    }
                    Ok(tally)
                })
            })
            .collect();

        let mut total = Tally::default();
        for worker in workers {
            let tally = worker.join().expect("a floor thread panicked")?;
            total.files += tally.files;
            total.bytes += tally.bytes;
            total.lines += tally.lines;
            total.invalid += tally.invalid;
        }
        Ok(total)
    })
}
