//! The Edmunds vehicle API v2 client: one call to one endpoint becomes one raw record.
//!
//! The API key travels only as the `api_key` query parameter of the request. A record keeps
//! the request path, never the URL; errors from the HTTP library are kept without their URL,
//! and every message is scrubbed of the key besides, so that no record, log line or error
//! message can hold it.

use std::fmt;
use std::time::Duration;

use carlambda_schemas::edmunds::ApiErrorBody;
use carlambda_schemas::record::{Body, RecordParts};
use carlambda_schemas::{ErrorKind, FetchError, FetchedAt, RawRecord, Scope};
use reqwest::{StatusCode, Url};

/// The `source` of the records made from the live API.
pub const SOURCE: &str = "edmunds-v2";

/// The public Edmunds API.
pub const DEFAULT_BASE_URL: &str = "https://api.edmunds.com";

/// The environment variable the key is read from.
pub const API_KEY_VAR: &str = "EDMUNDS_API_KEY";

/// The path every endpoint of the vehicle API v2 starts with.
const API_ROOT: &str = "/api/vehicle/v2";

/// An API key. It is never printed: `Debug` shows `ApiKey(<redacted>)`, and there is no
/// `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key, or `None` for an empty or blank one.
    pub fn new(key: impl Into<String>) -> Option<ApiKey> {
        let key = key.into().trim().to_owned();
        (!key.is_empty()).then_some(ApiKey(key))
    }

    /// The key of [`API_KEY_VAR`] in the environment, when it is set and not blank.
    pub fn from_env() -> Option<ApiKey> {
        std::env::var(API_KEY_VAR).ok().and_then(ApiKey::new)
    }

    /// `text` with every occurrence of the key replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.0, "<redacted>")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// One endpoint of the API: the request path (without credentials), and what a response of
/// it is a complete snapshot of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    segments: Vec<String>,
    /// What a good response is a snapshot of.
    pub scope: Scope,
}

impl Endpoint {
    /// `/api/vehicle/v2/makes`: the whole catalog.
    pub fn catalog() -> Endpoint {
        Endpoint {
            segments: vec!["makes".into()],
            scope: Scope::Catalog,
        }
    }

    /// `/api/vehicle/v2/{make}`: one make and its models, by the make's nice name.
    pub fn make(make: &str) -> Endpoint {
        Endpoint {
            segments: vec![make.into()],
            scope: Scope::Make(make.into()),
        }
    }

    /// `/api/vehicle/v2/{make}/{model}`: one model with its years and styles, by nice names;
    /// `model_id` (the API's, like `Lexus_RX_350`) names its scope.
    pub fn model(make: &str, model: &str, model_id: &str) -> Endpoint {
        Endpoint {
            segments: vec![make.into(), model.into()],
            scope: Scope::Model(model_id.into()),
        }
    }

    /// `/api/vehicle/v2/{make}/{model}/{year}/styles`: the styles of one model year.
    pub fn styles(make: &str, model: &str, model_id: &str, year: i32) -> Endpoint {
        Endpoint {
            segments: vec![make.into(), model.into(), year.to_string(), "styles".into()],
            scope: Scope::Styles {
                model_id: model_id.into(),
                year,
            },
        }
    }

    /// The request path, as records name their endpoint: `/api/vehicle/v2/lexus/rx-350`.
    pub fn path(&self) -> String {
        format!("{API_ROOT}/{}", self.segments.join("/"))
    }
}

/// How to reach the API.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Scheme, host and port, optionally a path prefix: `https://api.edmunds.com`.
    pub base_url: String,
    pub key: ApiKey,
    /// The longest a whole call may take, answer included.
    pub timeout: Duration,
    /// The longest connecting may take.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// The public API with `key`, 30 s per call and 10 s to connect.
    pub fn new(key: ApiKey) -> ClientConfig {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.into(),
            key,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{url}` is not an API base URL ({reason}); give one like https://api.edmunds.com")]
    BadBaseUrl { url: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
}

/// What an answer means for the call that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A response to keep as a snapshot (2xx, JSON).
    Good,
    /// A final failure that asking again will not mend: a 4xx error, a body that is not
    /// JSON.
    Failed,
    /// A fault that may pass: a timeout, a failed connection, a 5xx.
    Transient,
    /// 403 or 429: possibly over quota, worth asking again in the next quota window.
    OverQuota,
    /// 401: the key is wrong or inactive.
    Unauthorized,
}

/// One attempt at a call: its record, and what it means.
#[derive(Debug)]
pub struct Attempt {
    pub record: RawRecord,
    pub verdict: Verdict,
}

/// A client of the Edmunds vehicle API v2.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    key: ApiKey,
    timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the API at `config.base_url`. Contacts nothing yet.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let base = parse_base_url(&config.base_url)?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("carlambda/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Http(e.without_url().to_string()))?;
        Ok(Client {
            http,
            base,
            key: config.key,
            timeout: config.timeout,
        })
    }

    /// The base URL, for messages (it holds no credentials).
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Calls `endpoint` once. Never fails: whatever happens is a record, with its verdict.
    pub async fn fetch(&self, endpoint: &Endpoint) -> Attempt {
        let result = self.send(endpoint).await;
        let fetched_at = FetchedAt::now();
        let path = endpoint.path();
        let parts = |http_status, body, error| RecordParts {
            source: SOURCE,
            endpoint: &path,
            scope: endpoint.scope.to_string(),
            fetched_at,
            http_status,
            body,
            error,
        };
        let (record, verdict) = match result {
            Ok((status, bytes)) => {
                let (body, error, verdict) = judge_answer(status, &bytes);
                let error = error.map(|e| self.scrubbed(e));
                (
                    RawRecord::new(parts(Some(status.as_u16()), body, error)),
                    verdict,
                )
            }
            Err(error) => {
                let (kind, message) = self.describe(&error);
                let error = self.scrubbed(FetchError { kind, message });
                (
                    RawRecord::new(parts(None, Body::None, Some(error))),
                    Verdict::Transient,
                )
            }
        };
        Attempt { record, verdict }
    }

    async fn send(
        &self,
        endpoint: &Endpoint,
    ) -> Result<(StatusCode, bytes::Bytes), reqwest::Error> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("a base URL checked to be http(s) has path segments")
            .pop_if_empty()
            .extend(["api", "vehicle", "v2"])
            .extend(&endpoint.segments);
        let response = self
            .http
            .get(url)
            .query(&[("fmt", "json"), ("api_key", self.key.0.as_str())])
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        Ok((status, bytes))
    }

    /// The kind and message of a failure without an answer; the message holds no URL.
    fn describe(&self, error: &reqwest::Error) -> (ErrorKind, String) {
        if error.is_timeout() {
            let message = format!("no answer within {} s", self.timeout.as_secs_f64());
            return (ErrorKind::Timeout, message);
        }
        let kind = if error.is_connect() {
            ErrorKind::Connect
        } else {
            ErrorKind::Http
        };
        (kind, error_chain(error))
    }

    fn scrubbed(&self, error: FetchError) -> FetchError {
        FetchError {
            kind: error.kind,
            message: self.key.redact(&error.message),
        }
    }
}

fn parse_base_url(text: &str) -> Result<Url, ClientError> {
    let bad = |reason: &str| ClientError::BadBaseUrl {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "it must have no query or fragment: the key goes in the environment",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must hold no credentials"));
    }
    Ok(url)
}

/// A reqwest error and its causes on one line, without the URL it was about.
fn error_chain(error: &reqwest::Error) -> String {
    let mut message = String::from("the request failed");
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = inner.source();
    }
    message
}

/// The stored body, error and verdict of an answer with `status` and `bytes`.
fn judge_answer(status: StatusCode, bytes: &[u8]) -> (Body, Option<FetchError>, Verdict) {
    let body = Body::from_received(bytes);
    let error = |kind, message: String| Some(FetchError { kind, message });
    if status.is_success() {
        let (error, verdict) = match &body {
            Body::Json(_) => (None, Verdict::Good),
            Body::Text(_) => (
                error(
                    ErrorKind::InvalidJson,
                    format!("HTTP {status} with a body that is not JSON"),
                ),
                Verdict::Failed,
            ),
            Body::None => (
                error(
                    ErrorKind::InvalidJson,
                    format!("HTTP {status} with an empty body"),
                ),
                Verdict::Failed,
            ),
        };
        return (body, error, verdict);
    }
    let verdict = match status.as_u16() {
        401 => Verdict::Unauthorized,
        403 | 429 => Verdict::OverQuota,
        500..=599 => Verdict::Transient,
        _ => Verdict::Failed,
    };
    let api_error = match &body {
        Body::Json(raw) => serde_json::from_str::<ApiErrorBody>(raw.get())
            .ok()
            .map(|api| format!("HTTP {}: {}", status.as_u16(), api.summary())),
        _ => None,
    };
    let error = match api_error {
        Some(summary) => error(ErrorKind::Api, summary),
        None => error(ErrorKind::Http, format!("HTTP {status}")),
    };
    (body, error, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_have_the_api_paths_and_scopes() {
        assert_eq!(Endpoint::catalog().path(), "/api/vehicle/v2/makes");
        assert_eq!(Endpoint::make("lexus").scope.to_string(), "make:lexus");
        let model = Endpoint::model("lexus", "rx-350", "Lexus_RX_350");
        assert_eq!(model.path(), "/api/vehicle/v2/lexus/rx-350");
        assert_eq!(model.scope.to_string(), "model:Lexus_RX_350");
        let styles = Endpoint::styles("lexus", "rx-350", "Lexus_RX_350", 2011);
        assert_eq!(styles.path(), "/api/vehicle/v2/lexus/rx-350/2011/styles");
        assert_eq!(styles.scope.to_string(), "styles:Lexus_RX_350/2011");
    }

    #[test]
    fn the_key_never_shows() {
        let key = ApiKey::new(" sekrit-123 ").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert_eq!(key.redact("a sekrit-123 b"), "a <redacted> b");
        assert!(ApiKey::new("  ").is_none());
    }

    #[test]
    fn base_urls_with_queries_or_credentials_are_refused() {
        assert!(parse_base_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_base_url("https://api.edmunds.com/?api_key=x").is_err());
        assert!(parse_base_url("https://me:pw@api.edmunds.com").is_err());
        assert!(parse_base_url("ftp://api.edmunds.com").is_err());
    }

    #[test]
    fn answers_are_judged_by_status_and_body() {
        let ok = judge_answer(StatusCode::OK, b"{\"makes\": []}");
        assert!(ok.1.is_none() && ok.2 == Verdict::Good);

        let broken = judge_answer(StatusCode::OK, b"{\"makes\": [");
        assert_eq!(broken.1.unwrap().kind, ErrorKind::InvalidJson);
        assert_eq!(broken.2, Verdict::Failed);

        let api =
            br#"{"errorType":"ENTITY_NOT_FOUND","message":"no such model","status":"NOT_FOUND"}"#;
        let (_, error, verdict) = judge_answer(StatusCode::NOT_FOUND, api);
        let error = error.unwrap();
        assert_eq!((error.kind, verdict), (ErrorKind::Api, Verdict::Failed));
        assert_eq!(
            error.message,
            "HTTP 404: NOT_FOUND ENTITY_NOT_FOUND: no such model"
        );

        let (_, error, verdict) = judge_answer(StatusCode::BAD_GATEWAY, b"<html>oops</html>");
        assert_eq!(
            (error.unwrap().kind, verdict),
            (ErrorKind::Http, Verdict::Transient)
        );

        let verdict = |code: u16| judge_answer(StatusCode::from_u16(code).unwrap(), b"").2;
        assert_eq!(verdict(401), Verdict::Unauthorized);
        assert_eq!(verdict(403), Verdict::OverQuota);
        assert_eq!(verdict(429), Verdict::OverQuota);
        assert_eq!(verdict(400), Verdict::Failed);
    }
}
