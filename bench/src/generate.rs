//! The workload: every model of the recorded catalog polled once an hour, written as the
//! original pipeline's Firehose objects (a bare model response plus a float `time_stamp`).

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use carlambda_simulator::{YearKey, generate_styles};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::pyjson::{push_f64, push_key, push_str};

/// The first poll's hour, 2017-03-01T00:00:00Z, when the recorded responses were captured.
const FIRST_POLL: i64 = 1_488_326_400;
/// Seconds between two models' calls within a poll; 1,124 models fit in the hour.
const SECONDS_PER_MODEL: f64 = 3.0;
/// Lines per object: the hour's lines are cut into objects of at most this many.
const LINES_PER_OBJECT: usize = 300;
/// Chance, per model and poll, that one of its model years gets new styles.
const CHANGE_SHARE: f64 = 0.03;
/// Chance that a call was answered with an error body.
const ERROR_SHARE: f64 = 0.01;
/// Chance that a line was stored truncated.
const MALFORMED_SHARE: f64 = 0.005;

/// Error bodies of the Edmunds API: `errorType`, `message`, `status`.
const ERRORS: [(&str, &str, &str); 3] = [
    (
        "SERVICE_UNAVAILABLE",
        "The service is temporarily unavailable.",
        "SERVICE_UNAVAILABLE",
    ),
    (
        "GATEWAY_TIMEOUT",
        "The upstream call timed out.",
        "GATEWAY_TIMEOUT",
    ),
    ("INCORRECT_PARAMS", "Model is not valid. ", "BAD_REQUEST"),
];

#[derive(Deserialize)]
struct Catalog {
    makes: Vec<CatalogMake>,
}

#[derive(Deserialize)]
struct CatalogMake {
    models: Vec<CatalogModel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CatalogModel {
    id: String,
    name: String,
    nice_name: String,
    years: Vec<CatalogYear>,
}

#[derive(Deserialize)]
struct CatalogYear {
    id: i64,
    year: u16,
}

/// One model year as the generator tracks it between polls.
struct YearState {
    id: i64,
    year: u16,
    /// The id its styles are numbered from: the model year's id, unless another model year of
    /// the catalog has that id too (the recorded catalog has a few), so style ids stay unique.
    style_base: i64,
    /// How many times its styles changed so far.
    version: u64,
    /// Its rendered `{"styles": [...], "id": .., "year": ..}`, for `version`.
    rendered: Option<String>,
}

struct ModelState {
    id: String,
    name: String,
    nice_name: String,
    years: Vec<YearState>,
}

/// Successive hourly polls of every model of a catalog, each model's line as the original
/// pipeline stored it: its response, an error body, or a truncated line.
pub struct Polls {
    models: Vec<ModelState>,
    seed: u64,
}

impl Polls {
    /// The polls of the Edmunds makes response at `catalog`, varied by `seed`.
    pub fn of_catalog(catalog: &Path, seed: u64) -> Result<Polls> {
        let text = fs::read_to_string(catalog)
            .with_context(|| format!("reading the catalog {}", catalog.display()))?;
        let catalog: Catalog = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an Edmunds makes response", catalog.display()))?;
        Ok(Polls {
            models: model_states(catalog),
            seed,
        })
    }

    /// The ids of the models, in the order of each poll's lines.
    pub fn model_ids(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|model| model.id.as_str())
    }

    /// The line of every model in poll number `poll`, polls taken in order from 0.
    pub fn poll(&mut self, poll: u32) -> Vec<String> {
        let hour = FIRST_POLL + i64::from(poll) * 3600;
        let seed = self.seed;
        self.models
            .iter_mut()
            .enumerate()
            .map(|(index, model)| poll_line(model, seed, poll, index, hour))
            .collect()
    }
}

/// Writes `polls` hourly polls of the catalog at `catalog` into `out/raw/`.
pub fn run(catalog: &Path, polls: u32, seed: u64, out: &Path) -> Result<()> {
    let started = Instant::now();
    let mut workload = Polls::of_catalog(catalog, seed)?;

    let raw = out.join("raw");
    if raw.exists() && fs::read_dir(&raw)?.next().is_some() {
        bail!(
            "{} already holds objects; generate into an empty store",
            raw.display()
        );
    }

    let (mut lines, mut bytes, mut objects) = (0u64, 0u64, 0u64);
    for poll in 0..polls {
        let hour = FIRST_POLL + i64::from(poll) * 3600;
        let poll_lines = workload.poll(poll);
        for (chunk_index, chunk) in poll_lines.chunks(LINES_PER_OBJECT).enumerate() {
            let first_second = hour + (chunk_index * LINES_PER_OBJECT) as i64 * 3;
            let path = raw.join(object_key(first_second, seed, poll, chunk_index));
            let mut object = chunk.join("\n");
            object.push('\n');
            fs::create_dir_all(path.parent().expect("object keys have folders"))?;
            fs::write(&path, &object).with_context(|| format!("writing {}", path.display()))?;
            lines += chunk.len() as u64;
            bytes += object.len() as u64;
            objects += 1;
        }
    }

    eprintln!(
        "carlambda-bench: wrote {polls} polls: {objects} objects, {lines} lines, {:.1} MB \
         into {} in {:.1} s",
        bytes as f64 / 1e6,
        raw.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn model_states(catalog: Catalog) -> Vec<ModelState> {
    let mut seen = HashSet::new();
    let mut spare_base = 9_000_000_000i64;
    let mut models = Vec::new();
    for model in catalog.makes.into_iter().flat_map(|make| make.models) {
        let years = model
            .years
            .iter()
            .map(|year| {
                let style_base = if seen.insert(year.id) {
                    year.id
                } else {
                    spare_base += 1;
                    spare_base
                };
                YearState {
                    id: year.id,
                    year: year.year,
                    style_base,
                    version: 0,
                    rendered: None,
                }
            })
            .collect();
        models.push(ModelState {
            id: model.id,
            name: model.name,
            nice_name: model.nice_name,
            years,
        });
    }
    models
}

/// The line of one model in one poll: its response, or an error body, or a truncated line.
fn poll_line(model: &mut ModelState, seed: u64, poll: u32, index: usize, hour: i64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, u64::from(poll), index as u64]));
    if poll > 0 && rng.random_bool(CHANGE_SHARE) && !model.years.is_empty() {
        let year = rng.random_range(0..model.years.len());
        model.years[year].version += 1;
        model.years[year].rendered = None;
    }

    let micros: u32 = rng.random_range(0..1_000_000);
    let time_stamp = (hour as f64 + index as f64 * SECONDS_PER_MODEL) + f64::from(micros) / 1e6;
    let outcome: f64 = rng.random();
    if outcome < ERROR_SHARE {
        let (error_type, message, status) = ERRORS[rng.random_range(0..ERRORS.len())];
        return error_line(error_type, message, status, time_stamp);
    }

    let line = model_line(model, seed, time_stamp);
    if outcome < ERROR_SHARE + MALFORMED_SHARE {
        let cut = rng.random_range(line.len() / 10..line.len() * 9 / 10);
        return line[..cut].to_owned();
    }
    line
}

/// A model response as the old pipeline stored it, keys in its order.
fn model_line(model: &mut ModelState, seed: u64, time_stamp: f64) -> String {
    let mut line = String::with_capacity(8 * 1024);
    line.push('{');
    push_key(&mut line, "time_stamp");
    push_f64(&mut line, time_stamp);
    line.push_str(", ");
    push_key(&mut line, "years");
    line.push('[');
    for (index, year) in model.years.iter_mut().enumerate() {
        if index > 0 {
            line.push_str(", ");
        }
        if year.rendered.is_none() {
            year.rendered = Some(render_year(&model.id, &model.name, year_fields(year), seed));
        }
        line.push_str(year.rendered.as_deref().expect("rendered just above"));
    }
    line.push_str("], ");
    push_key(&mut line, "id");
    push_str(&mut line, &model.id);
    line.push_str(", ");
    push_key(&mut line, "niceName");
    push_str(&mut line, &model.nice_name);
    line.push_str(", ");
    push_key(&mut line, "name");
    push_str(&mut line, &model.name);
    line.push('}');
    line
}

fn year_fields(year: &YearState) -> (i64, u16, i64, u64) {
    (year.id, year.year, year.style_base, year.version)
}

/// One model year with 1 to 6 styles; each version of the model year has its own styles.
fn render_year(
    model_id: &str,
    model_name: &str,
    (id, year, style_base, version): (i64, u16, i64, u64),
    seed: u64,
) -> String {
    let key = YearKey {
        model_id,
        model_name,
        year_id: style_base,
        year,
    };
    let styles_seed = if version == 0 {
        seed
    } else {
        mix(&[seed, version])
    };
    let mut out = String::with_capacity(1024);
    out.push('{');
    push_key(&mut out, "styles");
    out.push('[');
    for (index, style) in generate_styles(&key, 1..=6, styles_seed).iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push('{');
        push_key(&mut out, "trim");
        push_str(&mut out, &style.trim);
        out.push_str(", ");
        push_key(&mut out, "submodel");
        out.push('{');
        push_key(&mut out, "body");
        push_str(&mut out, &style.submodel.body);
        out.push_str(", ");
        push_key(&mut out, "modelName");
        push_str(&mut out, &style.submodel.model_name);
        out.push_str(", ");
        push_key(&mut out, "niceName");
        push_str(&mut out, &style.submodel.nice_name);
        out.push_str("}, ");
        push_key(&mut out, "id");
        out.push_str(&style.id.to_string());
        out.push_str(", ");
        push_key(&mut out, "name");
        push_str(&mut out, &style.name);
        out.push('}');
    }
    out.push_str("], ");
    push_key(&mut out, "id");
    out.push_str(&id.to_string());
    out.push_str(", ");
    push_key(&mut out, "year");
    out.push_str(&year.to_string());
    out.push('}');
    out
}

fn error_line(error_type: &str, message: &str, status: &str, time_stamp: f64) -> String {
    let mut line = String::with_capacity(160);
    line.push('{');
    push_key(&mut line, "errorType");
    push_str(&mut line, error_type);
    line.push_str(", ");
    push_key(&mut line, "message");
    push_str(&mut line, message);
    line.push_str(", ");
    push_key(&mut line, "status");
    push_str(&mut line, status);
    line.push_str(", ");
    push_key(&mut line, "time_stamp");
    push_f64(&mut line, time_stamp);
    line.push('}');
    line
}

/// A Firehose-style key, `YYYY/MM/DD/HH/carlambda-legacy-1-YYYY-MM-DD-HH-MM-SS-<hex>`.
fn object_key(unix_seconds: i64, seed: u64, poll: u32, chunk: usize) -> String {
    let (year, month, day) = civil_date(unix_seconds.div_euclid(86_400));
    let second_of_day = unix_seconds.rem_euclid(86_400);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let tag = mix(&[seed, u64::from(poll), chunk as u64]) as u32;
    format!(
        "{year:04}/{month:02}/{day:02}/{hour:02}/carlambda-legacy-1-\
         {year:04}-{month:02}-{day:02}-{hour:02}-{minute:02}-{second:02}-{tag:08x}"
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Folds `parts` into one seed (SplitMix64's finalizer over each step).
fn mix(parts: &[u64]) -> u64 {
    parts.iter().fold(0x243f_6a88_85a3_08d3, |acc: u64, &part| {
        let mut z = acc.rotate_left(17) ^ part.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_time_partitioned() {
        assert_eq!(
            &object_key(FIRST_POLL + 3600 + 905, 1, 1, 0)[..53],
            "2017/03/01/01/carlambda-legacy-1-2017-03-01-01-15-05-"
        );
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(17_226), (2017, 3, 1));
    }
}
