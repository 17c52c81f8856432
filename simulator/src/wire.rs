//! The JSON shapes of the API's responses, borrowed from the catalog. Fields are declared in
//! the order the API writes them, which is alphabetical.

use serde::Serialize;
use serde_json::ser::{PrettyFormatter, Serializer};

use crate::catalog::{Make, Model, ModelYear, Style, Submodel};

/// `value` as the API prints it: one space of indent per level, and a final newline.
pub(crate) fn to_api_json(value: &impl Serialize) -> String {
    let mut out = Vec::new();
    let mut serializer = Serializer::with_formatter(&mut out, PrettyFormatter::with_indent(b" "));
    value
        .serialize(&mut serializer)
        .expect("wire types have string keys and no floats, so they always serialize");
    out.push(b'\n');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// `/api/vehicle/v2/makes`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MakesBody<'a> {
    pub makes: Vec<MakeEntry<'a>>,
    pub makes_count: usize,
}

/// A make with its models and their years: an entry of the makes response, and the whole
/// response of `/api/vehicle/v2/{make}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MakeEntry<'a> {
    id: i64,
    models: Vec<ModelEntry<'a>>,
    name: &'a str,
    nice_name: &'a str,
}

impl<'a> From<&'a Make> for MakeEntry<'a> {
    fn from(make: &'a Make) -> Self {
        MakeEntry {
            id: make.id,
            models: make.models.iter().map(ModelEntry::from).collect(),
            name: &make.name,
            nice_name: &make.nice_name,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelEntry<'a> {
    id: &'a str,
    name: &'a str,
    nice_name: &'a str,
    years: Vec<YearEntry>,
}

impl<'a> From<&'a Model> for ModelEntry<'a> {
    fn from(model: &'a Model) -> Self {
        ModelEntry {
            id: &model.id,
            name: &model.name,
            nice_name: &model.nice_name,
            years: model.years.iter().map(YearEntry::from).collect(),
        }
    }
}

#[derive(Serialize)]
struct YearEntry {
    id: i64,
    year: u16,
}

impl From<&ModelYear> for YearEntry {
    fn from(year: &ModelYear) -> Self {
        YearEntry {
            id: year.id,
            year: year.year,
        }
    }
}

/// `/api/vehicle/v2/{make}/{model}`: a model with its years and their styles.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModelBody<'a> {
    id: &'a str,
    name: &'a str,
    nice_name: &'a str,
    years: Vec<YearWithStyles<'a>>,
}

impl<'a> From<&'a Model> for ModelBody<'a> {
    fn from(model: &'a Model) -> Self {
        ModelBody {
            id: &model.id,
            name: &model.name,
            nice_name: &model.nice_name,
            years: model.years.iter().map(YearWithStyles::from).collect(),
        }
    }
}

#[derive(Serialize)]
struct YearWithStyles<'a> {
    id: i64,
    styles: Vec<StyleEntry<'a>>,
    year: u16,
}

impl<'a> From<&'a ModelYear> for YearWithStyles<'a> {
    fn from(year: &'a ModelYear) -> Self {
        YearWithStyles {
            id: year.id,
            styles: year.styles.iter().map(StyleEntry::from).collect(),
            year: year.year,
        }
    }
}

#[derive(Serialize)]
struct StyleEntry<'a> {
    id: i64,
    name: &'a str,
    submodel: SubmodelEntry<'a>,
    trim: &'a str,
}

impl<'a> From<&'a Style> for StyleEntry<'a> {
    fn from(style: &'a Style) -> Self {
        StyleEntry {
            id: style.id,
            name: &style.name,
            submodel: SubmodelEntry::from(&style.submodel),
            trim: &style.trim,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubmodelEntry<'a> {
    body: &'a str,
    model_name: &'a str,
    nice_name: &'a str,
}

impl<'a> From<&'a Submodel> for SubmodelEntry<'a> {
    fn from(submodel: &'a Submodel) -> Self {
        SubmodelEntry {
            body: &submodel.body,
            model_name: &submodel.model_name,
            nice_name: &submodel.nice_name,
        }
    }
}

/// `/api/vehicle/v2/{make}/{model}/{year}/styles`: one model year's styles, each with its make,
/// model and year embedded.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StylesBody<'a> {
    pub styles: Vec<YearStyleEntry<'a>>,
    pub styles_count: usize,
}

#[derive(Serialize)]
pub(crate) struct YearStyleEntry<'a> {
    id: i64,
    make: NamedEntry<'a, i64>,
    model: NamedEntry<'a, &'a str>,
    name: &'a str,
    submodel: SubmodelEntry<'a>,
    trim: &'a str,
    year: YearEntry,
}

impl<'a> YearStyleEntry<'a> {
    pub(crate) fn new(
        make: &'a Make,
        model: &'a Model,
        year: &ModelYear,
        style: &'a Style,
    ) -> Self {
        YearStyleEntry {
            id: style.id,
            make: NamedEntry {
                id: make.id,
                name: &make.name,
                nice_name: &make.nice_name,
            },
            model: NamedEntry {
                id: &model.id,
                name: &model.name,
                nice_name: &model.nice_name,
            },
            name: &style.name,
            submodel: SubmodelEntry::from(&style.submodel),
            trim: &style.trim,
            year: YearEntry::from(year),
        }
    }
}

/// A make or model as a styles response embeds it: id and names only.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NamedEntry<'a, Id> {
    id: Id,
    name: &'a str,
    nice_name: &'a str,
}

/// An error body of the API.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody<'a> {
    pub error_type: &'a str,
    pub message: &'a str,
    pub more_info_url: &'a str,
    pub status: &'a str,
}
