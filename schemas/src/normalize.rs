//! Normalization: the rows of the five 3NF tables that one snapshot contributes.

use crate::edmunds::{MakeResponse, ModelResponse, Response, StylesResponse, Submodel, Text};
use crate::rows::{MakeRow, ModelRow, ModelYearRow, SnapshotRows, StyleRow, SubmodelRow};

fn owned(text: &Option<Text<'_>>) -> Option<String> {
    text.as_ref().map(Text::to_owned_string)
}

/// The rows `response` holds. A key that appears twice in one response keeps its first row.
pub fn normalize(response: &Response<'_>) -> SnapshotRows {
    let mut rows = SnapshotRows::default();
    match response {
        Response::Catalog(catalog) => {
            for make in &catalog.makes {
                add_make(&mut rows, make);
            }
        }
        Response::Make(make) => add_make(&mut rows, make),
        Response::Model(model) => add_model(&mut rows, model),
        Response::Styles(styles) => add_styles(&mut rows, styles),
    }
    dedup(&mut rows);
    rows
}

fn add_make(rows: &mut SnapshotRows, make: &MakeResponse<'_>) {
    rows.makes.push(MakeRow {
        make_id: make.id,
        name: owned(&make.name),
        nice_name: owned(&make.nice_name),
    });
    for model in &make.models {
        let model_id = model.id.to_owned_string();
        for year in &model.years {
            rows.model_years.push(ModelYearRow {
                model_id: model_id.clone(),
                year: year.year,
                model_year_id: year.id,
            });
        }
        rows.models.push(ModelRow {
            model_id,
            make_id: Some(make.id),
            name: owned(&model.name),
            nice_name: owned(&model.nice_name),
        });
    }
}

fn add_model(rows: &mut SnapshotRows, model: &ModelResponse<'_>) {
    let model_id = model.id.to_owned_string();
    for year in &model.years {
        rows.model_years.push(ModelYearRow {
            model_id: model_id.clone(),
            year: year.year,
            model_year_id: year.id,
        });
        for style in &year.styles {
            let submodel = add_submodel(rows, &model_id, style.submodel.as_ref());
            rows.styles.push(StyleRow {
                style_id: style.id,
                model_id: model_id.clone(),
                model_year_id: year.id,
                submodel,
                name: owned(&style.name),
                trim: owned(&style.trim),
            });
        }
    }
    rows.models.push(ModelRow {
        model_id,
        make_id: None,
        name: owned(&model.name),
        nice_name: owned(&model.nice_name),
    });
}

fn add_styles(rows: &mut SnapshotRows, styles: &StylesResponse<'_>) {
    for style in &styles.styles {
        let model_id = style.model.id.to_owned_string();
        rows.makes.push(MakeRow {
            make_id: style.make.id,
            name: owned(&style.make.name),
            nice_name: owned(&style.make.nice_name),
        });
        rows.models.push(ModelRow {
            model_id: model_id.clone(),
            make_id: Some(style.make.id),
            name: owned(&style.model.name),
            nice_name: owned(&style.model.nice_name),
        });
        rows.model_years.push(ModelYearRow {
            model_id: model_id.clone(),
            year: style.year.year,
            model_year_id: style.year.id,
        });
        let submodel = add_submodel(rows, &model_id, style.submodel.as_ref());
        rows.styles.push(StyleRow {
            style_id: style.id,
            model_id,
            model_year_id: style.year.id,
            submodel,
            name: owned(&style.name),
            trim: owned(&style.trim),
        });
    }
}

/// Adds the submodel row and returns the submodel's key part for the style.
fn add_submodel(
    rows: &mut SnapshotRows,
    model_id: &str,
    submodel: Option<&Submodel<'_>>,
) -> Option<String> {
    let submodel = submodel?;
    let nice_name = submodel.nice_name.to_owned_string();
    rows.submodels.push(SubmodelRow {
        model_id: model_id.to_owned(),
        nice_name: nice_name.clone(),
        body: owned(&submodel.body),
        model_name: owned(&submodel.model_name),
    });
    Some(nice_name)
}

fn dedup(rows: &mut SnapshotRows) {
    fn first_per_key<T: crate::rows::TableRow>(rows: &mut Vec<T>) {
        let mut seen = std::collections::BTreeSet::new();
        rows.retain(|row| seen.insert(row.key()));
    }
    first_per_key(&mut rows.makes);
    first_per_key(&mut rows.models);
    first_per_key(&mut rows.model_years);
    first_per_key(&mut rows.submodels);
    first_per_key(&mut rows.styles);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scope;
    use crate::edmunds::{Reading, read_for_scope};

    fn rows_of(scope: &str, body: &str) -> SnapshotRows {
        let scope: Scope = scope.parse().unwrap();
        match read_for_scope(&scope, body).unwrap() {
            Reading::Response(response) => normalize(&response),
            Reading::ApiError(error) => panic!("error body: {error:?}"),
        }
    }

    #[test]
    fn a_model_snapshot_knows_everything_but_its_make() {
        let rows = rows_of(
            "model:M_X",
            r#"{"id":"M_X","name":"X","niceName":"x","years":[{"id":7,"year":2011,"styles":[
                {"id":70,"name":"4dr SUV","trim":"Base","submodel":{"body":"SUV","modelName":"X SUV","niceName":"suv"}},
                {"id":71,"name":"2dr SUV","trim":"Base","submodel":{"body":"SUV","modelName":"X SUV","niceName":"suv"}}]}]}"#,
        );
        assert_eq!(rows.models[0].make_id, None);
        assert_eq!(rows.model_years.len(), 1);
        assert_eq!(rows.submodels.len(), 1, "one submodel shared by two styles");
        assert_eq!(rows.styles.len(), 2);
        assert_eq!(rows.styles[1].submodel.as_deref(), Some("suv"));
        assert!(rows.makes.is_empty());
    }

    #[test]
    fn a_styles_snapshot_names_make_model_and_year() {
        let rows = rows_of(
            "styles:M_X/2011",
            r#"{"styles":[{"id":70,"make":{"id":1,"name":"M","niceName":"m"},"model":{"id":"M_X"},"year":{"id":7,"year":2011}},
                          {"id":71,"make":{"id":1,"name":"M","niceName":"m"},"model":{"id":"M_X"},"year":{"id":7,"year":2011}}]}"#,
        );
        assert_eq!(rows.makes.len(), 1);
        assert_eq!(rows.models[0].make_id, Some(1));
        assert_eq!(rows.model_years.len(), 1);
        assert_eq!(rows.styles.len(), 2);
        assert_eq!(rows.styles[0].submodel, None);
    }
}
