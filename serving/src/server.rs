//! `carlambda serve`: the page, the tables and views as JSON, health and Prometheus metrics
//! over HTTP, with the current state swapped in whole when a new batch version is published.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use carlambda_batch::layout;
use carlambda_schemas::FetchedAt;
use carlambda_store::Store;
use carlambda_views::VIEW_NAMES;
use serde::Deserialize;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::api::{self, DEFAULT_LIMIT, JSON, MAX_LIMIT};
use crate::metrics::Metrics;
use crate::{CurrentState, ServingError, render_page};

/// Where and how to serve.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// The address to listen on; `127.0.0.1` keeps the server to this machine.
    pub bind: IpAddr,
    /// The port; 0 lets the system pick a free one (the address is reported once bound).
    pub port: u16,
    /// How often `batch/CURRENT` is read for a newly published version.
    pub refresh: Duration,
}

/// Serves the current state of `store` until the process is stopped. `listening` is called
/// with the bound address once the server accepts connections.
///
/// # Errors
///
/// The errors of [`CurrentState::load`] for the first state (with nothing published it says
/// to run `carlambda batch`), [`ServingError::Bind`] when the address cannot be listened on,
/// and [`ServingError::Serve`] when the server fails. A later state that cannot be loaded is
/// logged and the one before it kept.
pub async fn serve(
    store: Arc<Store>,
    options: ServeOptions,
    listening: impl FnOnce(SocketAddr),
) -> Result<(), ServingError> {
    let served = Served::load(&store).await?;
    let shared = Arc::new(Shared {
        current: RwLock::new(Arc::new(served)),
        metrics: Metrics::new(),
    });

    let address = SocketAddr::new(options.bind, options.port);
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| ServingError::Bind {
            address: address.to_string(),
            source,
        })?;
    let bound = listener.local_addr().map_err(ServingError::Serve)?;
    info!(address = %bound, version = shared.current().state.version(), "serving");
    listening(bound);

    let refresher = tokio::spawn(refresh(store, shared.clone(), options.refresh));
    let served = axum::serve(listener, router(shared)).await;
    refresher.abort();
    served.map_err(ServingError::Serve)
}

/// The routes, with every matched request counted and timed.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/tables/{name}", get(table))
        .route("/api/views/{name}", get(view))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(shared.clone(), track))
        .fallback(not_found)
        .with_state(shared)
}

/// What every request reads: the state being served, and the metrics.
struct Shared {
    /// Held only to clone or replace the `Arc`, so a read never waits on a refresh.
    current: RwLock<Arc<Served>>,
    metrics: Metrics,
}

impl Shared {
    fn current(&self) -> Arc<Served> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, served: Served) {
        let served = Arc::new(served);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = served;
    }
}

/// A state with its page and view documents rendered once, when it is loaded.
struct Served {
    state: CurrentState,
    page: Bytes,
    views: BTreeMap<&'static str, Bytes>,
}

impl Served {
    async fn load(store: &Store) -> Result<Served, ServingError> {
        let state = CurrentState::load(store).await?;
        let page = Bytes::from(render_page(&state)?);
        let mut views = BTreeMap::new();
        for name in VIEW_NAMES {
            views.insert(name, api::view_document(&state, name)?);
        }
        Ok(Served { state, page, views })
    }
}

/// Every `every`, reads which batch version is published; when it is not the one served,
/// loads it to the side and swaps it in.
async fn refresh(store: Arc<Store>, shared: Arc<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let serving = shared.current().state.version();
        match layout::current_version(&store).await {
            Ok(Some(published)) if published != serving => match Served::load(&store).await {
                Ok(served) => {
                    let version = served.state.version();
                    shared.replace(served);
                    shared.metrics.refreshed("ok");
                    info!(from = serving, to = version, "serving a new batch version");
                }
                Err(e) => {
                    shared.metrics.refreshed("failed");
                    warn!(serving, published, "keeping the state served: {e}");
                }
            },
            Ok(_) => {}
            Err(e) => warn!(serving, "cannot read which batch version is published: {e}"),
        }
    }
}

async fn track(
    State(shared): State<Arc<Shared>>,
    route: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    shared
        .metrics
        .observe(route.as_str(), response.status(), started.elapsed());
    response
}

async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let page = shared.current().page.clone();
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// The page of rows a table request asks for.
#[derive(Debug, Deserialize)]
struct Paging {
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn table(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Response {
    let Query(paging) = match paging {
        Ok(paging) => paging,
        Err(rejection) => {
            let message = format!(
                "{}: limit and offset are whole numbers",
                rejection.body_text()
            );
            return error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let limit = paging.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        let message = format!("limit must be from 1 to {MAX_LIMIT}, not {limit}");
        return error(StatusCode::BAD_REQUEST, &message);
    }

    let served = shared.current();
    match api::table_document(&served.state, &name, paging.offset.unwrap_or(0), limit) {
        Ok(document) => json(document),
        Err(e @ ServingError::UnknownName { .. }) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn view(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match shared.current().views.get(name.as_str()) {
        Some(document) => json(document.clone()),
        None => {
            let known = VIEW_NAMES.join(", ");
            error(
                StatusCode::NOT_FOUND,
                &format!("there is no view `{name}`: the views are {known}"),
            )
        }
    }
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let version = shared.current().state.version();
    json(Bytes::from(format!(
        r#"{{"status":"ok","version":{version}}}"#
    )))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let served = shared.current();
    let age = FetchedAt::now().unix_millis()
        - served
            .state
            .published_at()
            .parse::<FetchedAt>()
            .map_or(0, FetchedAt::unix_millis);
    match shared.metrics.render(&served.state, age as f64 / 1000.0) {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

async fn not_found(request: Request) -> Response {
    let message = format!(
        "nothing at {}: try /, /api/tables/<table>, /api/views/<view>, /healthz or /metrics",
        request.uri().path()
    );
    error(StatusCode::NOT_FOUND, &message)
}

fn json(document: Bytes) -> Response {
    ([(header::CONTENT_TYPE, JSON)], document).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message });
    (status, [(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
}
