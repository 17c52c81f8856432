//! Rows of the five 3NF tables.
//!
//! A snapshot contributes rows without provenance; when the rows of the winning snapshots are
//! merged into the current tables, each row is [`Traced`] back to the snapshot it came from.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::FetchedAt;

/// `makes`, keyed by `make_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakeRow {
    pub make_id: i64,
    pub name: Option<String>,
    pub nice_name: Option<String>,
}

/// `models`, keyed by `model_id`; `make_id` is unknown to a model snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRow {
    pub model_id: String,
    pub make_id: Option<i64>,
    pub name: Option<String>,
    pub nice_name: Option<String>,
}

/// `model_years`, keyed by (`model_id`, `year`).
///
/// `model_year_id` is not a key: the recorded catalog gives one id to two models in four
/// places (e.g. `Hyundai_Ioniq` and `Hyundai_Ioniq_Electric` 2017).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelYearRow {
    pub model_id: String,
    pub year: i32,
    pub model_year_id: i64,
}

/// `submodels`, keyed by (`model_id`, `nice_name`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmodelRow {
    pub model_id: String,
    pub nice_name: String,
    pub body: Option<String>,
    pub model_name: Option<String>,
}

/// `styles`, keyed by `style_id`. Its model year is (`model_id`, `model_year_id`) and its
/// submodel (`model_id`, `submodel`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StyleRow {
    pub style_id: i64,
    pub model_id: String,
    pub model_year_id: i64,
    pub submodel: Option<String>,
    pub name: Option<String>,
    pub trim: Option<String>,
}

/// A row of a table: it has a key, and columns that may be unknown to one snapshot and known
/// to another.
pub trait TableRow: Clone {
    type Key: Ord + Clone;

    fn key(&self) -> Self::Key;

    /// Takes the value of every column this row lacks from `older`, a row with the same key
    /// from an older snapshot (rule 3 of "what current means").
    fn fill_from(&mut self, older: &Self);
}

fn fill<T: Clone>(column: &mut Option<T>, older: &Option<T>) {
    if column.is_none() {
        column.clone_from(older);
    }
}

impl TableRow for MakeRow {
    type Key = i64;

    fn key(&self) -> i64 {
        self.make_id
    }

    fn fill_from(&mut self, older: &Self) {
        fill(&mut self.name, &older.name);
        fill(&mut self.nice_name, &older.nice_name);
    }
}

impl TableRow for ModelRow {
    type Key = String;

    fn key(&self) -> String {
        self.model_id.clone()
    }

    fn fill_from(&mut self, older: &Self) {
        fill(&mut self.make_id, &older.make_id);
        fill(&mut self.name, &older.name);
        fill(&mut self.nice_name, &older.nice_name);
    }
}

impl TableRow for ModelYearRow {
    type Key = (String, i32);

    fn key(&self) -> (String, i32) {
        (self.model_id.clone(), self.year)
    }

    fn fill_from(&mut self, _older: &Self) {}
}

impl TableRow for SubmodelRow {
    type Key = (String, String);

    fn key(&self) -> (String, String) {
        (self.model_id.clone(), self.nice_name.clone())
    }

    fn fill_from(&mut self, older: &Self) {
        fill(&mut self.body, &older.body);
        fill(&mut self.model_name, &older.model_name);
    }
}

impl TableRow for StyleRow {
    type Key = i64;

    fn key(&self) -> i64 {
        self.style_id
    }

    fn fill_from(&mut self, older: &Self) {
        fill(&mut self.submodel, &older.submodel);
        fill(&mut self.name, &older.name);
        fill(&mut self.trim, &older.trim);
    }
}

/// Every row one snapshot contributes, table by table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRows {
    pub makes: Vec<MakeRow>,
    pub models: Vec<ModelRow>,
    pub model_years: Vec<ModelYearRow>,
    pub submodels: Vec<SubmodelRow>,
    pub styles: Vec<StyleRow>,
}

/// A current row with the snapshot it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traced<T> {
    pub row: T,
    pub record_id: Arc<str>,
    pub fetched_at: FetchedAt,
}
