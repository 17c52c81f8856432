//! The generated catalog as the API serves it: request paths and pretty-printed JSON bodies,
//! and the files they are written to.

use std::io;
use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, Make, Model, ModelYear};
use crate::names;
use crate::wire::{self, ErrorBody, MakeEntry, MakesBody, ModelBody, StylesBody, YearStyleEntry};

/// The path every endpoint of the vehicle API v2 starts with.
pub(crate) const API_ROOT: &str = "/api/vehicle/v2";

/// One response of the API: the path it answers and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The request path, like `/api/vehicle/v2/corvane/arlo-gt`.
    pub endpoint: String,
    /// The JSON body as the API prints it: keys in the API's order, one space of indent, and
    /// a final newline.
    pub body: String,
}

impl Response {
    /// A file name for this response, distinct for distinct endpoints of the API: the path
    /// after `/api/vehicle/v2/`, its slashes as double underscores, plus `.json`
    /// (`makes.json`, `corvane__arlo-gt.json`, `corvane__arlo-gt__2016__styles.json`), the
    /// naming of the recorded responses.
    pub fn file_name(&self) -> String {
        let relative = self
            .endpoint
            .strip_prefix(API_ROOT)
            .unwrap_or(&self.endpoint)
            .trim_start_matches('/');
        format!("{}.json", relative.replace('/', "__"))
    }
}

impl Catalog {
    /// The `/api/vehicle/v2/makes` response: every make with its models and their years (ids
    /// and years, no styles), and `makesCount`.
    pub fn catalog_response(&self) -> Response {
        let body = MakesBody {
            makes: self.makes.iter().map(MakeEntry::from).collect(),
            makes_count: self.makes.len(),
        };
        Response {
            endpoint: format!("{API_ROOT}/makes"),
            body: wire::to_api_json(&body),
        }
    }

    /// The `/api/vehicle/v2/{make}` response: one make with its models and their years, no
    /// styles.
    pub fn make_response(&self, make: &Make) -> Response {
        Response {
            endpoint: format!("{API_ROOT}/{}", make.nice_name),
            body: wire::to_api_json(&MakeEntry::from(make)),
        }
    }

    /// The `/api/vehicle/v2/{make}/{model}` response: one model with its years and their
    /// styles. The make's path segment comes from the model's id, so `model` may also be a
    /// changed copy, like [`Model::at_poll`] makes.
    pub fn model_response(&self, model: &Model) -> Response {
        Response {
            endpoint: format!("{API_ROOT}/{}/{}", make_segment(model), model.nice_name),
            body: wire::to_api_json(&ModelBody::from(model)),
        }
    }

    /// The model response of `model` as poll number `poll` returns it (see
    /// [`Model::at_poll`]): the same endpoint, with the latest year's styles changed a little
    /// on some polls. Poll 0 is [`Catalog::model_response`].
    pub fn model_response_at_poll(&self, model: &Model, poll: u32) -> Response {
        self.model_response(&model.at_poll(poll))
    }

    /// The `/api/vehicle/v2/{make}/{model}/{year}/styles` response: the styles of one model
    /// year, each with its make, model and year embedded, and `stylesCount`.
    pub fn model_year_styles_response(
        &self,
        make: &Make,
        model: &Model,
        year: &ModelYear,
    ) -> Response {
        let body = StylesBody {
            styles: year
                .styles
                .iter()
                .map(|style| YearStyleEntry::new(make, model, year, style))
                .collect(),
            styles_count: year.styles.len(),
        };
        Response {
            endpoint: format!(
                "{API_ROOT}/{}/{}/{}/styles",
                make.nice_name, model.nice_name, year.year
            ),
            body: wire::to_api_json(&body),
        }
    }

    /// Every response above, each endpoint once: the catalog first, then each make followed
    /// by each of its models and the styles of that model's latest year.
    pub fn all_responses(&self) -> Vec<Response> {
        let mut responses = vec![self.catalog_response()];
        for make in &self.makes {
            responses.push(self.make_response(make));
            for model in &make.models {
                responses.push(self.model_response(model));
                if let Some(latest) = model.latest_year() {
                    responses.push(self.model_year_styles_response(make, model, latest));
                }
            }
        }
        responses
    }
}

/// The make's path segment of a model's endpoint. A model id is its make's name and its own
/// joined by underscores, so the make is recovered from the model alone; an id made another
/// way falls back to the whole id.
fn make_segment(model: &Model) -> String {
    names::make_nice_name_of(&model.id, &model.name).unwrap_or_else(|| names::nice_name(&model.id))
}

/// Writes every response of `catalog` (see [`Catalog::all_responses`]) into `dir`, creating
/// it if needed, one file per response named by [`Response::file_name`]. Returns the paths
/// written, in the order of the responses. An error names the path that failed.
pub fn write_responses(catalog: &Catalog, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|err| with_path(err, "creating", dir))?;

    catalog
        .all_responses()
        .into_iter()
        .map(|response| {
            let path = dir.join(response.file_name());
            std::fs::write(&path, &response.body)
                .map_err(|err| with_path(err, "writing", &path))?;
            Ok(path)
        })
        .collect()
}

fn with_path(err: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{action} {}: {err}", path.display()))
}

/// An error body as the API returns it for HTTP `status`:
/// `{"errorType", "message", "moreInfoUrl": "http://developer.edmunds.com", "status"}`, with
/// `status` the status's name (`BAD_REQUEST` for 400, `NOT_FOUND` for 404) and `message` as
/// given; other statuses are `CLIENT_ERROR` (4xx) or `SERVER_ERROR`. Only 400's
/// `INCORRECT_PARAMS` error type was seen in a recording; the others are this crate's
/// plausible guesses.
pub fn error_body(status: u16, message: &str) -> String {
    let (status_name, error_type) = match status {
        400 => ("BAD_REQUEST", "INCORRECT_PARAMS"),
        401 => ("UNAUTHORIZED", "AUTHENTICATION_REQUIRED"),
        403 => ("FORBIDDEN", "NO_ACCESS"),
        404 => ("NOT_FOUND", "ENTITY_NOT_FOUND"),
        405 => ("METHOD_NOT_ALLOWED", "METHOD_NOT_ALLOWED"),
        429 => ("TOO_MANY_REQUESTS", "RATE_LIMIT_EXCEEDED"),
        500 => ("INTERNAL_SERVER_ERROR", "INTERNAL_ERROR"),
        503 => ("SERVICE_UNAVAILABLE", "SERVICE_UNAVAILABLE"),
        _ if (400..500).contains(&status) => ("CLIENT_ERROR", "INCORRECT_PARAMS"),
        _ => ("SERVER_ERROR", "INTERNAL_ERROR"),
    };
    wire::to_api_json(&ErrorBody {
        error_type,
        message,
        more_info_url: "http://developer.edmunds.com",
        status: status_name,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::GeneratorConfig;

    fn catalog() -> Catalog {
        Catalog::generate(&GeneratorConfig::default())
    }

    /// The keys of a body's top-level object, in the order written.
    fn top_level_keys(body: &str) -> Vec<&str> {
        body.lines()
            .filter_map(|line| line.strip_prefix(" \""))
            .filter_map(|line| line.split('"').next())
            .collect()
    }

    fn parse(response: &Response) -> Value {
        serde_json::from_str(&response.body)
            .unwrap_or_else(|err| panic!("{} is not JSON: {err}", response.endpoint))
    }

    #[test]
    fn responses_are_byte_identical_across_generations() {
        assert_eq!(catalog().all_responses(), catalog().all_responses());
    }

    #[test]
    fn catalog_response_has_the_makes_shape() {
        let catalog = catalog();
        let response = catalog.catalog_response();
        let body = parse(&response);

        assert_eq!(response.endpoint, "/api/vehicle/v2/makes");
        assert_eq!(top_level_keys(&response.body), ["makes", "makesCount"]);
        assert_eq!(body["makesCount"], catalog.makes.len());
        let first_make = &body["makes"][0];
        assert_eq!(first_make["id"], catalog.makes[0].id);
        assert_eq!(
            first_make["models"][0]["years"][0]
                .as_object()
                .map(|year| year.len()),
            Some(2)
        );
        assert!(
            response
                .body
                .starts_with("{\n \"makes\": [\n  {\n   \"id\": ")
        );
        assert!(response.body.ends_with("}\n"));
    }

    #[test]
    fn make_and_model_responses_have_their_shapes() {
        let catalog = catalog();
        let make = &catalog.makes[1];
        let model = &make.models[0];

        let make_response = catalog.make_response(make);
        assert_eq!(
            make_response.endpoint,
            format!("/api/vehicle/v2/{}", make.nice_name)
        );
        assert_eq!(
            top_level_keys(&make_response.body),
            ["id", "models", "name", "niceName"]
        );
        assert_eq!(
            parse(&make_response)["models"].as_array().map(Vec::len),
            Some(make.models.len())
        );

        let model_response = catalog.model_response(model);
        let endpoint = format!("/api/vehicle/v2/{}/{}", make.nice_name, model.nice_name);
        assert_eq!(model_response.endpoint, endpoint);
        assert_eq!(
            top_level_keys(&model_response.body),
            ["id", "name", "niceName", "years"]
        );
        let style = &parse(&model_response)["years"][0]["styles"][0];
        let style_keys: Vec<&String> = style
            .as_object()
            .expect("a style is an object")
            .keys()
            .collect();
        assert_eq!(style_keys, ["id", "name", "submodel", "trim"]);
        assert_eq!(
            style["submodel"]["modelName"],
            model.years[0].styles[0].submodel.model_name
        );
    }

    #[test]
    fn styles_response_embeds_make_model_and_year() {
        let catalog = catalog();
        let make = &catalog.makes[0];
        let model = &make.models[0];
        let year = model.latest_year().expect("generated models have years");

        let response = catalog.model_year_styles_response(make, model, year);
        assert_eq!(
            response.endpoint,
            format!(
                "/api/vehicle/v2/{}/{}/{}/styles",
                make.nice_name, model.nice_name, year.year
            )
        );
        assert_eq!(top_level_keys(&response.body), ["styles", "stylesCount"]);

        let body = parse(&response);
        assert_eq!(body["stylesCount"], year.styles.len());
        let style = &body["styles"][0];
        assert_eq!(style["make"]["niceName"], make.nice_name.as_str());
        assert_eq!(style["model"]["id"], model.id.as_str());
        assert_eq!(style["year"]["id"], year.id);
        assert_eq!(style["id"], year.styles[0].id);
    }

    #[test]
    fn all_responses_cover_each_endpoint_once_with_distinct_file_names() {
        let catalog = catalog();
        let responses = catalog.all_responses();
        let models: usize = catalog.makes.iter().map(|make| make.models.len()).sum();
        assert_eq!(responses.len(), 1 + catalog.makes.len() + 2 * models);

        let file_names: BTreeSet<String> = responses.iter().map(Response::file_name).collect();
        assert_eq!(file_names.len(), responses.len());
        assert!(file_names.contains("makes.json"));

        for response in &responses {
            parse(response);
        }
    }

    #[test]
    fn file_names_follow_the_recorded_naming() {
        let response = |endpoint: &str| Response {
            endpoint: endpoint.to_string(),
            body: String::new(),
        };
        assert_eq!(response("/api/vehicle/v2/makes").file_name(), "makes.json");
        assert_eq!(
            response("/api/vehicle/v2/corvane").file_name(),
            "corvane.json"
        );
        assert_eq!(
            response("/api/vehicle/v2/corvane/arlo-gt").file_name(),
            "corvane__arlo-gt.json"
        );
        assert_eq!(
            response("/api/vehicle/v2/corvane/arlo-gt/2016/styles").file_name(),
            "corvane__arlo-gt__2016__styles.json"
        );
    }

    #[test]
    fn a_later_poll_answers_the_same_endpoint() {
        let catalog = catalog();
        let model = &catalog.makes[2].models[0];
        let first = catalog.model_response(model);

        assert_eq!(catalog.model_response_at_poll(model, 0), first);
        let later: Vec<Response> = (1..20)
            .map(|poll| catalog.model_response_at_poll(model, poll))
            .collect();
        assert!(
            later
                .iter()
                .all(|response| response.endpoint == first.endpoint)
        );
        assert!(later.iter().any(|response| response.body != first.body));
    }

    #[test]
    fn write_responses_writes_one_file_per_response() {
        let catalog = catalog();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let target = dir.path().join("responses");

        let paths = write_responses(&catalog, &target).expect("the responses are written");
        let responses = catalog.all_responses();
        assert_eq!(paths.len(), responses.len());
        for (path, response) in paths.iter().zip(&responses) {
            assert_eq!(path, &target.join(response.file_name()));
            assert_eq!(
                std::fs::read_to_string(path).expect("the file reads"),
                response.body
            );
        }
    }

    #[test]
    fn error_bodies_have_the_api_fields() {
        let body = error_body(400, "Style ID is not valid. ");
        assert_eq!(
            top_level_keys(&body),
            ["errorType", "message", "moreInfoUrl", "status"]
        );

        let value: Value = serde_json::from_str(&body).expect("an error body is JSON");
        assert_eq!(value["errorType"], "INCORRECT_PARAMS");
        assert_eq!(value["message"], "Style ID is not valid. ");
        assert_eq!(value["moreInfoUrl"], "http://developer.edmunds.com");
        assert_eq!(value["status"], "BAD_REQUEST");

        let not_found: Value = serde_json::from_str(&error_body(404, "no \"such\" make"))
            .expect("an error body is JSON");
        assert_eq!(not_found["status"], "NOT_FOUND");
        assert_eq!(not_found["message"], "no \"such\" make");
    }
}
