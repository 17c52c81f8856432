//! The views over the current tables: the two tables of the old page, the make summary, and
//! data quality.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use arrow::error::ArrowError;

use serde::{Deserialize, Serialize};

use crate::Tables;

/// The names of the views, in the order the page shows them.
pub const VIEW_NAMES: [&str; 4] = [
    "body_style_counts",
    "model_year_counts",
    "make_summary",
    "data_quality",
];

/// `body_style_counts`: current styles per submodel body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyStyleCount {
    /// `None` for styles whose submodel or body is unknown.
    pub body: Option<String>,
    pub styles: u64,
}

/// `model_year_counts`: current model years per model, most first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelYearCount {
    pub model_id: String,
    pub make: Option<String>,
    pub model: Option<String>,
    pub years: u64,
}

/// `make_summary`: per make, its current models, model years and styles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MakeSummary {
    pub make: Option<String>,
    pub models: u64,
    pub model_years: u64,
    pub styles: u64,
    pub first_year: Option<i32>,
    pub last_year: Option<i32>,
}

/// The three kinds of fault `data_quality` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    /// A record of a failed call or an API error body.
    Error,
    /// A line that could not be understood.
    Rejected,
    /// A current row whose parent is unknown.
    Orphan,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Error => "error",
            Category::Rejected => "rejected",
            Category::Orphan => "orphan",
        }
    }
}

/// An error record or a rejected line, where it was found.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Issue {
    pub category: Category,
    /// The error kind (`timeout`, `api`, ...) or rejection kind (`not-json`, ...).
    pub kind: String,
    pub endpoint: Option<String>,
    pub record_id: Option<String>,
    /// The raw object's key and the 1-based line within it.
    pub object: String,
    pub line: u64,
    pub detail: String,
}

/// A row of `data_quality`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QualityRow {
    pub category: Category,
    pub kind: String,
    pub endpoint: Option<String>,
    pub object: Option<String>,
    pub line: Option<u64>,
    pub record_id: Option<String>,
    pub detail: String,
}

/// All views of one state of the tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Views {
    pub body_style_counts: Vec<BodyStyleCount>,
    pub model_year_counts: Vec<ModelYearCount>,
    pub make_summary: Vec<MakeSummary>,
    pub data_quality: Vec<QualityRow>,
}

impl Views {
    /// The views of `tables`, with `issues` (the error records and rejected lines seen) in
    /// `data_quality`. An error record delivered more than once is listed once, where it was
    /// first found.
    pub fn compute(tables: &Tables, issues: &[Issue]) -> Views {
        Views {
            body_style_counts: body_style_counts(tables),
            model_year_counts: model_year_counts(tables),
            make_summary: make_summary(tables),
            data_quality: data_quality(tables, issues),
        }
    }

    /// Each view as `(name, record batch)`, in the order of [`VIEW_NAMES`].
    pub fn to_record_batches(&self) -> Result<Vec<(&'static str, RecordBatch)>, ArrowError> {
        Ok(vec![
            (VIEW_NAMES[0], body_style_batch(&self.body_style_counts)?),
            (VIEW_NAMES[1], model_year_batch(&self.model_year_counts)?),
            (VIEW_NAMES[2], make_summary_batch(&self.make_summary)?),
            (VIEW_NAMES[3], data_quality_batch(&self.data_quality)?),
        ])
    }
}

fn body_style_counts(tables: &Tables) -> Vec<BodyStyleCount> {
    let body_of: HashMap<(&str, &str), Option<&str>> = tables
        .submodels
        .iter()
        .map(|s| {
            (
                (s.row.model_id.as_str(), s.row.nice_name.as_str()),
                s.row.body.as_deref(),
            )
        })
        .collect();
    let mut counts: BTreeMap<Option<&str>, u64> = BTreeMap::new();
    for style in &tables.styles {
        let body = style
            .row
            .submodel
            .as_deref()
            .and_then(|submodel| body_of.get(&(style.row.model_id.as_str(), submodel)))
            .copied()
            .flatten();
        *counts.entry(body).or_default() += 1;
    }
    let mut rows: Vec<BodyStyleCount> = counts
        .into_iter()
        .map(|(body, styles)| BodyStyleCount {
            body: body.map(Into::into),
            styles,
        })
        .collect();
    // Most styles first; among equals, named bodies by name, then the unknown one.
    rows.sort_by(|a, b| {
        let order = |r: &BodyStyleCount| (std::cmp::Reverse(r.styles), r.body.is_none());
        order(a).cmp(&order(b)).then_with(|| a.body.cmp(&b.body))
    });
    rows
}

/// Make names by make id, and (make id, name) by model id.
struct Names<'a> {
    make_name: HashMap<i64, Option<&'a str>>,
    model: HashMap<&'a str, (Option<i64>, Option<&'a str>)>,
}

impl<'a> Names<'a> {
    fn of(tables: &'a Tables) -> Names<'a> {
        Names {
            make_name: tables
                .makes
                .iter()
                .map(|m| (m.row.make_id, m.row.name.as_deref()))
                .collect(),
            model: tables
                .models
                .iter()
                .map(|m| {
                    (
                        m.row.model_id.as_str(),
                        (m.row.make_id, m.row.name.as_deref()),
                    )
                })
                .collect(),
        }
    }

    /// The make id of a model, when the model and its make are known.
    fn known_make_of(&self, model_id: &str) -> Option<i64> {
        let make_id = self.model.get(model_id)?.0?;
        self.make_name.contains_key(&make_id).then_some(make_id)
    }
}

fn model_year_counts(tables: &Tables) -> Vec<ModelYearCount> {
    let names = Names::of(tables);
    let mut years: BTreeMap<&str, u64> = BTreeMap::new();
    for model_year in &tables.model_years {
        *years.entry(&model_year.row.model_id).or_default() += 1;
    }
    let mut rows: Vec<ModelYearCount> = years
        .into_iter()
        .map(|(model_id, years)| {
            let (make_id, model) = names.model.get(model_id).copied().unwrap_or_default();
            let make = make_id.and_then(|id| names.make_name.get(&id).copied().flatten());
            ModelYearCount {
                model_id: model_id.to_owned(),
                make: make.map(Into::into),
                model: model.map(Into::into),
                years,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.years
            .cmp(&a.years)
            .then_with(|| a.model_id.cmp(&b.model_id))
    });
    rows
}

fn make_summary(tables: &Tables) -> Vec<MakeSummary> {
    #[derive(Default)]
    struct Totals {
        models: u64,
        model_years: u64,
        styles: u64,
        first_year: Option<i32>,
        last_year: Option<i32>,
    }

    let names = Names::of(tables);
    let mut totals: BTreeMap<i64, Totals> = tables
        .makes
        .iter()
        .map(|m| (m.row.make_id, Totals::default()))
        .collect();
    for model in &tables.models {
        if let Some(make_id) = names.known_make_of(&model.row.model_id) {
            totals
                .get_mut(&make_id)
                .expect("known makes have totals")
                .models += 1;
        }
    }
    for model_year in &tables.model_years {
        if let Some(make_id) = names.known_make_of(&model_year.row.model_id) {
            let make = totals.get_mut(&make_id).expect("known makes have totals");
            let year = model_year.row.year;
            make.model_years += 1;
            make.first_year = Some(make.first_year.map_or(year, |y| y.min(year)));
            make.last_year = Some(make.last_year.map_or(year, |y| y.max(year)));
        }
    }
    for style in &tables.styles {
        if let Some(make_id) = names.known_make_of(&style.row.model_id) {
            totals
                .get_mut(&make_id)
                .expect("known makes have totals")
                .styles += 1;
        }
    }
    let mut rows: Vec<MakeSummary> = totals
        .into_iter()
        .map(|(make_id, t)| MakeSummary {
            make: names.make_name[&make_id].map(Into::into),
            models: t.models,
            model_years: t.model_years,
            styles: t.styles,
            first_year: t.first_year,
            last_year: t.last_year,
        })
        .collect();
    rows.sort_by(|a, b| a.make.cmp(&b.make));
    rows
}

/// `issues` with each error or rejected record listed once, where it was first found (by
/// object key, then line); lines without a record id are all kept.
pub(crate) fn first_found(issues: &[Issue]) -> Vec<&Issue> {
    let mut sorted: Vec<&Issue> = issues.iter().collect();
    sorted.sort_by(|a, b| (&a.object, a.line).cmp(&(&b.object, b.line)));
    let mut seen_records = BTreeSet::new();
    sorted.retain(|issue| {
        issue
            .record_id
            .as_ref()
            .is_none_or(|id| seen_records.insert(id))
    });
    sorted
}

fn data_quality(tables: &Tables, issues: &[Issue]) -> Vec<QualityRow> {
    let mut rows: Vec<QualityRow> = first_found(issues)
        .into_iter()
        .map(|issue| QualityRow {
            category: issue.category,
            kind: issue.kind.clone(),
            endpoint: issue.endpoint.clone(),
            object: Some(issue.object.clone()),
            line: Some(issue.line),
            record_id: issue.record_id.clone(),
            detail: issue.detail.clone(),
        })
        .collect();
    rows.extend(orphans(tables));
    rows.sort();
    rows
}

fn orphans(tables: &Tables) -> Vec<QualityRow> {
    let names = Names::of(tables);
    let orphan = |kind: &str, record_id: &str, detail: String| QualityRow {
        category: Category::Orphan,
        kind: kind.to_owned(),
        endpoint: None,
        object: None,
        line: None,
        record_id: Some(record_id.to_owned()),
        detail,
    };
    let mut rows = Vec::new();
    for model in &tables.models {
        if names.known_make_of(&model.row.model_id).is_none() {
            let detail = format!("model {} has no known make", model.row.model_id);
            rows.push(orphan("model-without-make", &model.record_id, detail));
        }
    }
    let model_years: BTreeSet<(&str, i64)> = tables
        .model_years
        .iter()
        .map(|y| (y.row.model_id.as_str(), y.row.model_year_id))
        .collect();
    for style in &tables.styles {
        if !model_years.contains(&(style.row.model_id.as_str(), style.row.model_year_id)) {
            let detail = format!(
                "style {} of {} has unknown model year {}",
                style.row.style_id, style.row.model_id, style.row.model_year_id
            );
            rows.push(orphan("style-without-model-year", &style.record_id, detail));
        }
    }
    rows
}

fn column(array: impl arrow::array::Array + 'static) -> ArrayRef {
    Arc::new(array)
}

fn body_style_batch(rows: &[BodyStyleCount]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_from_iter([
        (
            "body",
            column(StringArray::from_iter(
                rows.iter().map(|r| r.body.as_deref()),
            )),
        ),
        (
            "styles",
            column(UInt64Array::from_iter_values(rows.iter().map(|r| r.styles))),
        ),
    ])
}

fn model_year_batch(rows: &[ModelYearCount]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_from_iter([
        (
            "model_id",
            column(StringArray::from_iter_values(
                rows.iter().map(|r| &r.model_id),
            )),
        ),
        (
            "make",
            column(StringArray::from_iter(
                rows.iter().map(|r| r.make.as_deref()),
            )),
        ),
        (
            "model",
            column(StringArray::from_iter(
                rows.iter().map(|r| r.model.as_deref()),
            )),
        ),
        (
            "years",
            column(UInt64Array::from_iter_values(rows.iter().map(|r| r.years))),
        ),
    ])
}

fn make_summary_batch(rows: &[MakeSummary]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_from_iter([
        (
            "make",
            column(StringArray::from_iter(
                rows.iter().map(|r| r.make.as_deref()),
            )),
        ),
        (
            "models",
            column(UInt64Array::from_iter_values(rows.iter().map(|r| r.models))),
        ),
        (
            "model_years",
            column(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.model_years),
            )),
        ),
        (
            "styles",
            column(UInt64Array::from_iter_values(rows.iter().map(|r| r.styles))),
        ),
        (
            "first_year",
            column(Int32Array::from_iter(rows.iter().map(|r| r.first_year))),
        ),
        (
            "last_year",
            column(Int32Array::from_iter(rows.iter().map(|r| r.last_year))),
        ),
    ])
}

fn data_quality_batch(rows: &[QualityRow]) -> Result<RecordBatch, ArrowError> {
    let lines = rows.iter().map(|r| r.line.map(|line| line as i64));
    RecordBatch::try_from_iter([
        (
            "category",
            column(StringArray::from_iter_values(
                rows.iter().map(|r| r.category.as_str()),
            )),
        ),
        (
            "kind",
            column(StringArray::from_iter_values(rows.iter().map(|r| &r.kind))),
        ),
        (
            "endpoint",
            column(StringArray::from_iter(
                rows.iter().map(|r| r.endpoint.as_deref()),
            )),
        ),
        (
            "object",
            column(StringArray::from_iter(
                rows.iter().map(|r| r.object.as_deref()),
            )),
        ),
        ("line", column(Int64Array::from_iter(lines))),
        (
            "record_id",
            column(StringArray::from_iter(
                rows.iter().map(|r| r.record_id.as_deref()),
            )),
        ),
        (
            "detail",
            column(StringArray::from_iter_values(
                rows.iter().map(|r| &r.detail),
            )),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use carlambda_schemas::FetchedAt;
    use carlambda_schemas::rows::{MakeRow, ModelRow, ModelYearRow, StyleRow, SubmodelRow, Traced};

    use super::*;

    fn traced<T>(row: T) -> Traced<T> {
        Traced {
            row,
            record_id: "r".into(),
            fetched_at: FetchedAt::from_unix_millis(0),
        }
    }

    fn tables() -> Tables {
        let model = |id: &str, make_id| ModelRow {
            model_id: id.into(),
            make_id,
            name: Some(id.to_lowercase()),
            nice_name: None,
        };
        let year = |model_id: &str, year: i32| ModelYearRow {
            model_id: model_id.into(),
            year,
            model_year_id: i64::from(year),
        };
        let style = |id: i64, model_id: &str, year: i64, submodel: Option<&str>| StyleRow {
            style_id: id,
            model_id: model_id.into(),
            model_year_id: year,
            submodel: submodel.map(Into::into),
            name: None,
            trim: None,
        };
        Tables {
            makes: vec![traced(MakeRow {
                make_id: 1,
                name: Some("Lexus".into()),
                nice_name: None,
            })],
            models: vec![
                traced(model("A", Some(1))),
                traced(model("B", Some(1))),
                traced(model("C", None)),
            ],
            model_years: vec![
                traced(year("A", 2010)),
                traced(year("A", 2011)),
                traced(year("B", 2012)),
                traced(year("C", 2001)),
            ],
            submodels: vec![traced(SubmodelRow {
                model_id: "A".into(),
                nice_name: "suv".into(),
                body: Some("SUV".into()),
                model_name: None,
            })],
            styles: vec![
                traced(style(1, "A", 2010, Some("suv"))),
                traced(style(2, "A", 2011, Some("suv"))),
                traced(style(3, "B", 2012, None)),
                traced(style(4, "B", 1999, None)),
            ],
        }
    }

    #[test]
    fn body_styles_count_current_styles_by_submodel_body() {
        let counts = body_style_counts(&tables());
        assert_eq!(
            counts,
            [
                BodyStyleCount {
                    body: Some("SUV".into()),
                    styles: 2
                },
                BodyStyleCount {
                    body: None,
                    styles: 2
                },
            ]
        );
    }

    #[test]
    fn model_year_counts_rank_models_by_years() {
        let counts = model_year_counts(&tables());
        let ranked: Vec<(&str, u64, Option<&str>)> = counts
            .iter()
            .map(|c| (c.model_id.as_str(), c.years, c.make.as_deref()))
            .collect();
        assert_eq!(
            ranked,
            [
                ("A", 2, Some("Lexus")),
                ("B", 1, Some("Lexus")),
                ("C", 1, None)
            ]
        );
    }

    #[test]
    fn make_summary_counts_only_rows_of_the_make() {
        let summary = make_summary(&tables());
        assert_eq!(
            summary,
            [MakeSummary {
                make: Some("Lexus".into()),
                models: 2,
                model_years: 3,
                styles: 4,
                first_year: Some(2010),
                last_year: Some(2012),
            }]
        );
    }

    #[test]
    fn data_quality_lists_orphans_and_each_error_record_once() {
        let issue = |object: &str, line| Issue {
            category: Category::Error,
            kind: "api".into(),
            endpoint: Some("/e".into()),
            record_id: Some("same".into()),
            object: object.into(),
            line,
            detail: "BAD_REQUEST".into(),
        };
        let rows = data_quality(&tables(), &[issue("raw/b", 1), issue("raw/a", 3)]);
        let kinds: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.category.as_str(), r.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("error", "api"),
                ("orphan", "model-without-make"),
                ("orphan", "style-without-model-year")
            ]
        );
        assert_eq!(
            rows[0].object.as_deref(),
            Some("raw/a"),
            "listed where first found"
        );
    }

    #[test]
    fn every_view_becomes_a_record_batch() {
        let views = Views::compute(&tables(), &[]);
        let batches = views.to_record_batches().unwrap();
        let names: Vec<&str> = batches.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, VIEW_NAMES);
        assert_eq!(batches[1].1.num_rows(), 3);
    }
}
