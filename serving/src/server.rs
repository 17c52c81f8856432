//! `carlambda serve`: the page, the tables and views as JSON, health and Prometheus metrics
//! over HTTP, with the current state swapped in whole when a new batch version or speed view
//! is published.

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
use carlambda_speed::SpeedView;
use carlambda_speed::worker::Step;
use carlambda_store::Store;
use carlambda_views::VIEW_NAMES;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{info, warn};

use crate::api::{self, DEFAULT_LIMIT, JSON, MAX_LIMIT};
use crate::metrics::Metrics;
use crate::state::speed_is_ahead_of;
use crate::{BatchView, CurrentState, ServingError, render_page};

/// Where and how to serve.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// The address to listen on; `127.0.0.1` keeps the server to this machine.
    pub bind: IpAddr,
    /// The port; 0 lets the system pick a free one (the address is reported once bound).
    pub port: u16,
    /// How often `batch/CURRENT` (and, from another process, the speed view) is read for a
    /// newly published version.
    pub refresh: Duration,
}

/// Where the speed view that serving merges comes from.
pub enum SpeedSource {
    /// `speed/view.json` in the store, read again at every refresh: a speed worker in another
    /// process publishes it.
    Store,
    /// The steps of a speed worker in this process, merged as soon as they arrive; the view
    /// in the store is read once, at the start.
    InProcess(UnboundedReceiver<Step>),
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
    speed: SpeedSource,
    listening: impl FnOnce(SocketAddr),
) -> Result<(), ServingError> {
    let sources = Sources::load(store).await?;
    let served = Served::build(&sources.batch, sources.speed.as_deref())?;
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

    let refresher = tokio::spawn(refresh(sources, shared.clone(), options.refresh, speed));
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

/// A state with its page and view documents rendered once, when it is built: what a request
/// reads.
pub struct Served {
    state: CurrentState,
    page: Bytes,
    views: BTreeMap<&'static str, Bytes>,
}

impl Served {
    /// The state of `batch` merged with `speed`, its page and every view's document.
    ///
    /// # Errors
    ///
    /// The errors of [`CurrentState::merged`], [`render_page`] and [`api::view_document`].
    pub fn build(batch: &BatchView, speed: Option<&SpeedView>) -> Result<Served, ServingError> {
        let state = CurrentState::merged(batch, speed)?;
        let page = Bytes::from(render_page(&state)?);
        let mut views = BTreeMap::new();
        for name in VIEW_NAMES {
            views.insert(name, api::view_document(&state, name)?);
        }
        Ok(Served { state, page, views })
    }

    /// The state served.
    #[must_use]
    pub fn state(&self) -> &CurrentState {
        &self.state
    }
}

/// What the served state is built from, as the refresher last read it.
struct Sources {
    store: Arc<Store>,
    batch: Arc<BatchView>,
    speed: Option<Arc<SpeedView>>,
    /// `speed/view.json` as last read, to parse it only when it changed.
    speed_bytes: Option<Bytes>,
}

impl Sources {
    async fn load(store: Arc<Store>) -> Result<Sources, ServingError> {
        let batch = Arc::new(BatchView::load(&store).await?);
        let mut sources = Sources {
            store,
            batch,
            speed: None,
            speed_bytes: None,
        };
        sources.reread_speed().await?;
        Ok(sources)
    }

    /// Reads which batch version is published, and loads it when it is not the one held.
    /// Returns whether the batch view changed.
    async fn reread_batch(&mut self) -> Result<bool, ServingError> {
        let held = self.batch.version();
        match layout::current_version(&self.store).await? {
            Some(published) if published != held => {
                self.batch = Arc::new(BatchView::load(&self.store).await?);
                info!(
                    from = held,
                    to = self.batch.version(),
                    "loaded a new batch version"
                );
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Reads the batch version again when the speed view was computed against a later one
    /// than the one held (its worker saw the new version before the last tick did): merged
    /// with the older batch, it would leave out the records between the two watermarks.
    async fn catch_up_with_speed(&mut self, shared: &Shared) {
        let ahead = self
            .speed
            .as_ref()
            .is_some_and(|speed| speed_is_ahead_of(speed, &self.batch));
        if ahead && let Err(e) = self.reread_batch().await {
            shared.metrics.refreshed("failed");
            warn!(
                serving = shared.current().state.version(),
                "the speed view is of a newer batch, which cannot be read: {e}"
            );
        }
    }

    /// Reads the published speed view, parsing it only when its bytes changed. Returns
    /// whether the speed view changed.
    async fn reread_speed(&mut self) -> Result<bool, ServingError> {
        let bytes = carlambda_speed::read_view_bytes(&self.store).await?;
        if bytes == self.speed_bytes {
            return Ok(false);
        }
        self.speed = match &bytes {
            Some(bytes) => Some(Arc::new(carlambda_speed::parse_view(bytes)?)),
            None => None,
        };
        self.speed_bytes = bytes;
        Ok(true)
    }
}

/// Keeps the served state current: every `every` it reads which batch version is published
/// (and, with [`SpeedSource::Store`], the published speed view); with
/// [`SpeedSource::InProcess`] it merges each speed step as it arrives. A new state is built to
/// the side and swapped in whole.
async fn refresh(
    mut sources: Sources,
    shared: Arc<Shared>,
    every: Duration,
    mut speed: SpeedSource,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        let mut arrivals = Vec::new();
        let changed = tokio::select! {
            _ = ticks.tick() => {
                let batch = sources.reread_batch().await;
                let speed = match speed {
                    SpeedSource::Store => sources.reread_speed().await,
                    SpeedSource::InProcess(_) => Ok(false),
                };
                match (batch, speed) {
                    (Ok(batch), Ok(speed)) => batch || speed,
                    (Err(e), _) | (_, Err(e)) => {
                        shared.metrics.refreshed("failed");
                        warn!(serving = shared.current().state.version(), "keeping the state served: {e}");
                        false
                    }
                }
            }
            step = next_step(&mut speed) => match step {
                Some(step) => {
                    sources.speed = Some(latest_step(step, &mut speed, &mut arrivals));
                    true
                }
                None => {
                    warn!("the speed worker stopped: reading the speed view from the store");
                    speed = SpeedSource::Store;
                    false
                }
            },
        };
        if changed {
            sources.catch_up_with_speed(&shared).await;
            rebuild(&sources, &shared, &arrivals).await;
        }
    }
}

/// The next step of an in-process speed worker; never, for [`SpeedSource::Store`]. `None`
/// when the worker has stopped.
async fn next_step(speed: &mut SpeedSource) -> Option<Step> {
    match speed {
        SpeedSource::InProcess(steps) => steps.recv().await,
        SpeedSource::Store => std::future::pending().await,
    }
}

/// The view of the last of the steps waiting, `first` and every one after it, with their
/// arrivals added to `arrivals`: a state is built once for steps that came while the last was
/// being built.
fn latest_step(
    first: Step,
    speed: &mut SpeedSource,
    arrivals: &mut Vec<FetchedAt>,
) -> Arc<SpeedView> {
    let mut view = first.view;
    arrivals.extend(first.arrivals);
    if let SpeedSource::InProcess(steps) = speed {
        while let Ok(step) = steps.try_recv() {
            view = step.view;
            arrivals.extend(step.arrivals);
        }
    }
    view
}

/// Builds the state of `sources` off the async threads and swaps it in; the records that
/// `arrivals` stand for are then served, and their latency is observed.
async fn rebuild(sources: &Sources, shared: &Shared, arrivals: &[FetchedAt]) {
    let (batch, speed) = (sources.batch.clone(), sources.speed.clone());
    let built = tokio::task::spawn_blocking(move || Served::build(&batch, speed.as_deref())).await;
    match built {
        Ok(Ok(served)) => {
            shared.replace(served);
            shared.metrics.refreshed("ok");
            shared.metrics.served_records(arrivals, FetchedAt::now());
        }
        Ok(Err(e)) => {
            shared.metrics.refreshed("failed");
            warn!("keeping the state served: {e}");
        }
        Err(e) => {
            shared.metrics.refreshed("failed");
            warn!("building the state stopped: {e}");
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
