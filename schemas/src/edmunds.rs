//! Serde types for the Edmunds vehicle API v2 responses, borrowing from the input where they
//! can.
//!
//! Unknown fields are ignored and every field that is not an id may be missing, as the
//! recorded responses allow. A value of the wrong type is a deserialization error, which the
//! readers turn into a rejection.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::Scope;

/// A string from a response: borrowed from the input when it holds no escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_owned_string(&self) -> String {
        self.0.clone().into_owned()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

/// `/api/vehicle/v2/makes`: the whole catalog.
#[derive(Debug, Deserialize)]
pub struct CatalogResponse<'a> {
    #[serde(borrow)]
    pub makes: Vec<MakeResponse<'a>>,
}

/// `/api/vehicle/v2/{make}`, and each make of the catalog: a make with its models and their
/// years, without styles.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MakeResponse<'a> {
    pub id: i64,
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub nice_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub models: Vec<ModelSummary<'a>>,
}

/// A model as the catalog and the make endpoint list it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelSummary<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub nice_name: Option<Text<'a>>,
    #[serde(default)]
    pub years: Vec<YearRef>,
}

/// A model year by id and year.
#[derive(Debug, Deserialize)]
pub struct YearRef {
    pub id: i64,
    pub year: i32,
}

/// `/api/vehicle/v2/{make}/{model}`: one model with its years and their styles.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelResponse<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub nice_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub years: Vec<ModelYearStyles<'a>>,
}

/// One year of a model response, with its styles.
#[derive(Debug, Deserialize)]
pub struct ModelYearStyles<'a> {
    pub id: i64,
    pub year: i32,
    #[serde(borrow, default)]
    pub styles: Vec<Style<'a>>,
}

/// A style inside a model response.
#[derive(Debug, Deserialize)]
pub struct Style<'a> {
    pub id: i64,
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub trim: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub submodel: Option<Submodel<'a>>,
}

/// The submodel a style belongs to.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Submodel<'a> {
    #[serde(borrow, default)]
    pub body: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub model_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub nice_name: Text<'a>,
}

/// `/api/vehicle/v2/{make}/{model}/{year}/styles`: the styles of one model year, each with its
/// make, model and year embedded.
#[derive(Debug, Deserialize)]
pub struct StylesResponse<'a> {
    #[serde(borrow)]
    pub styles: Vec<YearStyle<'a>>,
}

/// A style of the model-year styles response.
#[derive(Debug, Deserialize)]
pub struct YearStyle<'a> {
    pub id: i64,
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub trim: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub submodel: Option<Submodel<'a>>,
    #[serde(borrow)]
    pub make: MakeRef<'a>,
    #[serde(borrow)]
    pub model: ModelRef<'a>,
    pub year: YearRef,
}

/// A make embedded in a style.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MakeRef<'a> {
    pub id: i64,
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub nice_name: Option<Text<'a>>,
}

/// A model embedded in a style.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRef<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub nice_name: Option<Text<'a>>,
}

/// The Edmunds error body: `{status, errorType, message, moreInfoUrl}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody<'a> {
    #[serde(borrow)]
    pub error_type: Text<'a>,
    #[serde(borrow, default)]
    pub status: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub message: Option<Text<'a>>,
}

impl ApiErrorBody<'_> {
    /// One line for `data_quality`: `BAD_REQUEST INCORRECT_PARAMS: Style ID is not valid.`
    pub fn summary(&self) -> String {
        let status = self.status.as_ref().map_or("", Text::as_str);
        let message = self.message.as_ref().map_or("", Text::as_str);
        format!("{status} {}: {}", self.error_type.as_str(), message.trim())
            .trim()
            .to_owned()
    }

    /// The HTTP status code the body's `status` names (`BAD_REQUEST` is 400), when it names
    /// one.
    pub fn http_status(&self) -> Option<u16> {
        Some(match self.status.as_ref()?.as_str() {
            "BAD_REQUEST" => 400,
            "UNAUTHORIZED" => 401,
            "FORBIDDEN" => 403,
            "NOT_FOUND" => 404,
            "TOO_MANY_REQUESTS" => 429,
            "INTERNAL_SERVER_ERROR" => 500,
            "BAD_GATEWAY" => 502,
            "SERVICE_UNAVAILABLE" => 503,
            "GATEWAY_TIMEOUT" => 504,
            _ => return None,
        })
    }
}

/// A successful response of any of the four endpoints.
#[derive(Debug)]
pub enum Response<'a> {
    Catalog(CatalogResponse<'a>),
    Make(MakeResponse<'a>),
    Model(ModelResponse<'a>),
    Styles(StylesResponse<'a>),
}

/// What a body says when read against a scope, or by its shape alone.
#[derive(Debug)]
pub enum Reading<'a> {
    Response(Response<'a>),
    ApiError(ApiErrorBody<'a>),
}

/// Reads `body` as the response for `scope`, checking that it is a snapshot of that scope.
///
/// An Edmunds error body reads as [`Reading::ApiError`]; anything else that is not the
/// scope's response is an error message saying what is wrong with it.
pub fn read_for_scope<'a>(scope: &Scope, body: &'a str) -> Result<Reading<'a>, String> {
    let read = match scope {
        Scope::Catalog => sonic_rs::from_str(body).map(Response::Catalog),
        Scope::Make(_) => sonic_rs::from_str(body).map(Response::Make),
        Scope::Model(_) => sonic_rs::from_str(body).map(Response::Model),
        Scope::Styles { .. } => sonic_rs::from_str(body).map(Response::Styles),
    };
    match read {
        Ok(response) => check_scope(scope, &response).map(|()| Reading::Response(response)),
        Err(shape_error) => match sonic_rs::from_str::<ApiErrorBody>(body) {
            Ok(api_error) => Ok(Reading::ApiError(api_error)),
            Err(_) => Err(format!(
                "body is not a {} response: {shape_error}",
                scope_kind(scope)
            )),
        },
    }
}

fn scope_kind(scope: &Scope) -> &'static str {
    match scope {
        Scope::Catalog => "makes catalog",
        Scope::Make(_) => "make",
        Scope::Model(_) => "model",
        Scope::Styles { .. } => "model-year styles",
    }
}

fn check_scope(scope: &Scope, response: &Response<'_>) -> Result<(), String> {
    match (scope, response) {
        (Scope::Make(nice_name), Response::Make(make)) => {
            let body_name = make.nice_name.as_ref().map(Text::as_str);
            if body_name.is_some_and(|name| name != nice_name) {
                return Err(format!(
                    "body is make {body_name:?}, not the scope's {nice_name}"
                ));
            }
        }
        (Scope::Model(model_id), Response::Model(model)) if model.id.as_str() != model_id => {
            return Err(format!(
                "body is model {}, not the scope's {model_id}",
                model.id.as_str()
            ));
        }
        (Scope::Styles { model_id, year }, Response::Styles(styles)) => {
            let stray = styles
                .styles
                .iter()
                .find(|style| style.model.id.as_str() != model_id || style.year.year != *year);
            if let Some(style) = stray {
                return Err(format!(
                    "style {} belongs to {}/{}, not the scope's {model_id}/{year}",
                    style.id,
                    style.model.id.as_str(),
                    style.year.year
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Works out from its shape alone what a body is a snapshot of, for responses recorded without
/// their request. `None` for a body of no known shape, or a styles response with no style to
/// tell its model year by.
pub fn scope_of_body(body: &str) -> Option<Scope> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape<'a> {
        makes: Option<de::IgnoredAny>,
        #[serde(borrow)]
        styles: Option<Vec<StyleShape<'a>>>,
        models: Option<de::IgnoredAny>,
        years: Option<de::IgnoredAny>,
        #[serde(borrow)]
        nice_name: Option<Text<'a>>,
        id: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct StyleShape<'a> {
        #[serde(borrow)]
        model: ModelRef<'a>,
        year: YearRef,
    }

    let shape: Shape = serde_json::from_str(body).ok()?;
    if shape.makes.is_some() {
        return Some(Scope::Catalog);
    }
    if let Some(styles) = shape.styles {
        let first = styles.first()?;
        let model_id = first.model.id.to_owned_string();
        return Some(Scope::Styles {
            model_id,
            year: first.year.year,
        });
    }
    match shape.id? {
        serde_json::Value::String(model_id) if shape.years.is_some() => {
            Some(Scope::Model(model_id))
        }
        serde_json::Value::Number(_) if shape.models.is_some() => {
            Some(Scope::Make(shape.nice_name?.to_owned_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_borrows_unless_escaped() {
        let plain: Text = serde_json::from_str(r#""RX 350""#).unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("RX 350")));
        let escaped: Text = serde_json::from_str(r#""Citro\u00ebn""#).unwrap();
        assert_eq!(escaped.as_str(), "Citroën");
    }

    #[test]
    fn shapes_tell_their_scope() {
        let cases = [
            (r#"{"makes":[],"makesCount":0}"#, Some("catalog")),
            (
                r#"{"id":1,"name":"Lexus","niceName":"lexus","models":[]}"#,
                Some("make:lexus"),
            ),
            (
                r#"{"id":"Lexus_RX_350","years":[]}"#,
                Some("model:Lexus_RX_350"),
            ),
            (
                r#"{"styles":[{"id":1,"make":{"id":2},"model":{"id":"M_X"},"year":{"id":3,"year":2011}}]}"#,
                Some("styles:M_X/2011"),
            ),
            (r#"{"styles":[],"stylesCount":0}"#, None),
            (r#"{"errorType":"X","status":"BAD_REQUEST"}"#, None),
            (r#"[1,2]"#, None),
        ];
        for (body, expected) in cases {
            let scope = scope_of_body(body).map(|scope| scope.to_string());
            assert_eq!(scope.as_deref(), expected, "{body}");
        }
    }

    #[test]
    fn a_body_of_another_model_is_refused() {
        let scope = Scope::Model("Lexus_RX_350".into());
        let err = read_for_scope(&scope, r#"{"id":"Lexus_GX_460","years":[]}"#).unwrap_err();
        assert!(err.contains("Lexus_GX_460"), "{err}");
    }

    #[test]
    fn wrong_types_say_where() {
        let scope = Scope::Model("M".into());
        let err =
            read_for_scope(&scope, r#"{"id":"M","years":[{"id":1,"year":"2011"}]}"#).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn error_bodies_are_recognised_under_any_scope() {
        let body = r#"{"errorType":"INCORRECT_PARAMS","message":"Style ID is not valid. ","moreInfoUrl":"http://developer.edmunds.com","status":"BAD_REQUEST"}"#;
        let Ok(Reading::ApiError(error)) = read_for_scope(&Scope::Catalog, body) else {
            panic!("not read as an API error");
        };
        assert_eq!(
            error.summary(),
            "BAD_REQUEST INCORRECT_PARAMS: Style ID is not valid."
        );
        assert_eq!(error.http_status(), Some(400));
    }
}
