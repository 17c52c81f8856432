//! The HTTP simulator of the API: the four endpoints of the vehicle API v2, answered from the
//! generated catalog or from recorded responses, with faults switched on by rate.
//!
//! Every request must carry an `api_key` query parameter (any non-empty value), or it is
//! answered 401. The key is never logged: the request log holds the path without its query.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::faults::{Fault, FaultConfig};
use crate::recorded::Recorded;
use crate::response::{API_ROOT, error_body};

/// What the simulator answers from.
#[derive(Debug)]
pub enum Answers {
    /// A generated catalog; each model answers its next poll (see
    /// [`Catalog::model_response_at_poll`]) every time it is asked for.
    Generated(Catalog),
    /// Recorded responses (see [`Recorded`]).
    Recorded(Recorded),
}

/// One line of the request log.
#[derive(Debug, Serialize)]
struct LogLine<'a> {
    /// 1 for the first request served.
    request: u64,
    /// The path, without the query (which holds the key).
    path: &'a str,
    status: u16,
    /// The fault that hit the request, if any.
    fault: Option<&'static str>,
}

/// The simulated API: answers, faults, and the request log.
#[derive(Debug)]
pub struct SimulatedApi {
    answers: Answers,
    faults: FaultConfig,
    log: Option<Mutex<LineWriter<File>>>,
    requests: AtomicU64,
    polls: Mutex<HashMap<String, u32>>,
}

impl SimulatedApi {
    /// A simulated API answering from `answers` with `faults`, logging each request as one
    /// JSON line to `log` when given (the file is created or truncated).
    pub fn new(answers: Answers, faults: FaultConfig, log: Option<&Path>) -> io::Result<Self> {
        let log = match log {
            Some(path) => {
                let file = File::create(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                Some(Mutex::new(LineWriter::new(file)))
            }
            None => None,
        };
        Ok(SimulatedApi {
            answers,
            faults,
            log,
            requests: AtomicU64::new(0),
            polls: Mutex::new(HashMap::new()),
        })
    }

    /// The axum router answering every path.
    pub fn router(self) -> Router {
        Router::new()
            .fallback(answer)
            .with_state(std::sync::Arc::new(self))
    }

    /// Serves on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// The right answer to `path`: status and body.
    fn right_answer(&self, path: &str) -> (u16, String) {
        let found = match &self.answers {
            Answers::Recorded(recorded) => recorded
                .get(path)
                .map(|canned| (canned.status, canned.body.clone())),
            Answers::Generated(catalog) => self.generated(catalog, path),
        };
        found.unwrap_or_else(|| {
            (
                404,
                error_body(404, "The requested resource was not found."),
            )
        })
    }

    fn generated(&self, catalog: &Catalog, path: &str) -> Option<(u16, String)> {
        let rest = path.strip_prefix(API_ROOT)?.strip_prefix('/')?;
        let segments: Vec<&str> = rest.split('/').collect();
        let response = match segments[..] {
            ["makes"] => catalog.catalog_response(),
            [make] => catalog.make_response(catalog.make(make)?),
            [make, model] => {
                let model = catalog.make(make)?.model(model)?;
                let poll = self.next_poll(&model.id);
                catalog.model_response_at_poll(model, poll)
            }
            [make_name, model, year, "styles"] => {
                let make = catalog.make(make_name)?;
                let model = make.model(model)?;
                let year = model.year(year.parse().ok()?)?;
                catalog.model_year_styles_response(make, model, year)
            }
            _ => return None,
        };
        Some((200, response.body))
    }

    fn next_poll(&self, model_id: &str) -> u32 {
        let mut polls = self
            .polls
            .lock()
            .expect("no thread panics holding the polls");
        let poll = polls.entry(model_id.to_owned()).or_insert(0);
        let this = *poll;
        *poll += 1;
        this
    }

    fn write_log(&self, line: &LogLine<'_>) {
        let Some(log) = &self.log else { return };
        let mut text = serde_json::to_string(line).expect("a log line always serializes");
        text.push('\n');
        let mut log = log.lock().expect("no thread panics holding the log");
        if let Err(e) = log.write_all(text.as_bytes()) {
            tracing::error!("cannot write the request log: {e}");
        }
    }
}

async fn answer(State(api): State<std::sync::Arc<SimulatedApi>>, uri: Uri) -> HttpResponse {
    let request = api.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let path = uri.path();
    let has_key = Query::<HashMap<String, String>>::try_from_uri(&uri)
        .is_ok_and(|query| query.get("api_key").is_some_and(|key| !key.is_empty()));

    let (status, body, fault) = if has_key {
        let fault = api.faults.draw(request);
        let (status, body) = match fault {
            Some(Fault::ErrorBody(status)) => (status, error_body(status, "Simulated error.")),
            Some(Fault::ServerError) => (500, SERVER_ERROR_PAGE.to_owned()),
            Some(Fault::Throttle) => (429, error_body(429, "Rate limit exceeded.")),
            Some(Fault::Malformed) => {
                let (status, body) = api.right_answer(path);
                (status, cut_in_half(&body))
            }
            Some(Fault::Slow(_)) | None => api.right_answer(path),
        };
        (status, body, fault)
    } else {
        let body = error_body(401, "An api_key parameter is required.");
        (401, body, None)
    };

    api.write_log(&LogLine {
        request,
        path,
        status,
        fault: fault.map(Fault::name),
    });
    tracing::debug!(request, path, status, "served");
    if let Some(Fault::Slow(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if fault == Some(Fault::ServerError) {
        "text/html"
    } else {
        "application/json;charset=UTF-8"
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

const SERVER_ERROR_PAGE: &str = "<html><head><title>500 Internal Server Error</title></head><body>Internal Server Error</body></html>\n";

/// The first half of `body` (at a character boundary), which is never a whole JSON document.
fn cut_in_half(body: &str) -> String {
    let mut end = body.len() / 2;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GeneratorConfig;

    fn api(faults: FaultConfig) -> SimulatedApi {
        let catalog = Catalog::generate(&GeneratorConfig::default());
        SimulatedApi::new(Answers::Generated(catalog), faults, None).unwrap()
    }

    #[test]
    fn generated_answers_cover_the_four_endpoints() {
        let api = api(FaultConfig::default());
        let Answers::Generated(catalog) = &api.answers else {
            unreachable!()
        };
        let make = &catalog.makes[0];
        let model = &make.models[0];
        let year = model.latest_year().unwrap();
        let paths = [
            catalog.catalog_response(),
            catalog.make_response(make),
            catalog.model_response(model),
            catalog.model_year_styles_response(make, model, year),
        ];
        for response in paths {
            assert_eq!(api.right_answer(&response.endpoint), (200, response.body));
        }
        let (status, body) = api.right_answer("/api/vehicle/v2/no-such-make/x");
        assert_eq!(status, 404);
        assert!(body.contains("NOT_FOUND"));
    }

    #[test]
    fn a_model_asked_for_again_answers_its_next_poll() {
        let api = api(FaultConfig::default());
        let Answers::Generated(catalog) = &api.answers else {
            unreachable!()
        };
        let model = &catalog.makes[2].models[0];
        let path = catalog.model_response(model).endpoint;
        let bodies: Vec<String> = (0..10).map(|_| api.right_answer(&path).1).collect();
        let expected: Vec<String> = (0..10)
            .map(|poll| catalog.model_response_at_poll(model, poll).body)
            .collect();
        assert_eq!(bodies, expected);
    }

    #[tokio::test]
    async fn the_key_is_required_and_never_logged() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.ndjson");
        let catalog = Catalog::generate(&GeneratorConfig::default());
        let api = SimulatedApi::new(
            Answers::Generated(catalog),
            FaultConfig::default(),
            Some(&log),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!(
            "http://{}/api/vehicle/v2/makes",
            listener.local_addr().unwrap()
        );
        tokio::spawn(api.unwrap().serve(listener));

        let without = reqwest::get(&base).await.unwrap();
        assert_eq!(without.status(), 401);
        assert!(without.text().await.unwrap().contains("UNAUTHORIZED"));
        let with = reqwest::get(format!("{base}?fmt=json&api_key=sekrit-42"))
            .await
            .unwrap();
        assert_eq!(with.status(), 200);
        assert!(with.text().await.unwrap().contains("makesCount"));

        let logged = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<serde_json::Value> = logged
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["status"], 401);
        assert_eq!(lines[1]["request"], 2);
        assert_eq!(lines[1]["path"], "/api/vehicle/v2/makes");
        assert!(!logged.contains("sekrit-42"));
    }

    #[test]
    fn half_a_body_is_not_json() {
        let body = error_body(404, "Citroën");
        let cut = cut_in_half(&body);
        assert!(serde_json::from_str::<serde_json::Value>(&cut).is_err());
        assert!(body.starts_with(&cut));
    }
}
