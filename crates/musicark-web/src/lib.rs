//! `musicark serve`: the web UI and the JSON API over one archive.
//!
//! Server-rendered HTML (maud: every interpolation escaped at compile
//! time), one embedded style sheet, no script and nothing fetched from
//! the network. The API under `/api/` returns the same types the CLI
//! prints with `--json`, described by the OpenAPI document at
//! `/openapi.json` (its schemas are derived from those types).
//!
//! Read-only unless the archive's config sets `[serve] token`: then
//! actions (scrape now, embargo, takedown) are accepted with
//! `Authorization: Bearer TOKEN`. Requests are bounded: body size, URL
//! length, query words, rows per answer; file downloads go through names
//! read from the database, never paths from the URL.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use musicark_catalog::SearchIndex;
use musicark_store::{Db, Home};

mod api;
pub mod charts;
pub mod model;
pub mod openapi;
mod pages;

/// Largest request body accepted (actions are small JSON objects).
pub const MAX_BODY: usize = 16 * 1024;
/// Longest URL accepted (path and query): room for the longest query
/// words percent-encoded, so those get their own, clearer error.
pub const MAX_URI: usize = 8192;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// How long list-wide figures (coverage, the torrent list) are reused.
const CACHE_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("this action needs the token: Authorization: Bearer TOKEN")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("request body larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Busy(_) => StatusCode::CONFLICT,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

macro_rules! internal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for WebError {
            fn from(e: $t) -> WebError {
                WebError::Internal(e.to_string())
            }
        }
    )*};
}
internal_from!(
    musicark_store::StoreError,
    musicark_identify::IdentifyError,
    musicark_preserve::PreserveError,
    musicark_catalog::CatalogError,
    musicark_publish::PublishError,
    musicark_swarm::health::HealthError,
    musicark_follow::FollowError,
    std::io::Error
);

/// A value computed from the whole archive, reused for [`CACHE_TTL`].
///
/// Under `serve`, a background thread computes the values again before
/// they expire ([`App::start_refresher`]), and requests are answered the
/// value held, never made to compute one: before, the request that found
/// the value expired computed it (8 s for the dashboard at 1 M
/// recordings) and the dashboard's p99 under load was that time. With no
/// value yet (at start, after an action cleared it) requests wait for the
/// one computing it. Without the refresher (the router driven directly,
/// as tests do) an expired value is computed again by the request that
/// finds it, the others waiting for it.
struct Cached<T> {
    value: Mutex<Option<(Instant, Arc<T>)>>,
    /// Held by whoever computes the value.
    making: Mutex<()>,
    /// Bumped by [`Cached::clear`]: a value computed from the archive as
    /// it was before an action is not kept.
    generation: std::sync::atomic::AtomicU64,
}

impl<T> Cached<T> {
    fn new() -> Self {
        Cached {
            value: Mutex::new(None),
            making: Mutex::new(()),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn current(&self) -> Result<Option<(Instant, Arc<T>)>, WebError> {
        Ok(self
            .value
            .lock()
            .map_err(|_| WebError::Internal("cache poisoned".into()))?
            .clone())
    }

    /// The value; `background`: a refresher keeps it current, so an
    /// expired one is answered as it is.
    fn get(
        &self,
        background: bool,
        make: impl FnOnce() -> Result<T, WebError>,
    ) -> Result<Arc<T>, WebError> {
        let usable = |held: Option<(Instant, Arc<T>)>| {
            held.filter(|(at, _)| background || at.elapsed() < CACHE_TTL)
                .map(|(_, v)| v)
        };
        if let Some(v) = usable(self.current()?) {
            return Ok(v);
        }
        let _making = self
            .making
            .lock()
            .map_err(|_| WebError::Internal("cache poisoned".into()))?;
        // Made while this request waited for the one computing it.
        if let Some(v) = usable(self.current()?) {
            return Ok(v);
        }
        self.make_and_keep(make)
    }

    /// Compute the value again if it is held and older than `age`.
    fn refresh(
        &self,
        age: Duration,
        make: impl FnOnce() -> Result<T, WebError>,
    ) -> Result<(), WebError> {
        match self.current()? {
            Some((at, _)) if at.elapsed() >= age => {}
            _ => return Ok(()),
        }
        let _making = self
            .making
            .lock()
            .map_err(|_| WebError::Internal("cache poisoned".into()))?;
        self.make_and_keep(make).map(drop)
    }

    fn make_and_keep(
        &self,
        make: impl FnOnce() -> Result<T, WebError>,
    ) -> Result<Arc<T>, WebError> {
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let v = Arc::new(make()?);
        let mut value = self
            .value
            .lock()
            .map_err(|_| WebError::Internal("cache poisoned".into()))?;
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            *value = Some((Instant::now(), v.clone()));
        }
        Ok(v)
    }

    fn clear(&self) {
        if let Ok(mut g) = self.value.lock() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            *g = None;
        }
    }
}

/// The server's state: the archive, a pool of read-only connections and
/// the search index (opened once; tantivy searches from many threads).
pub struct App {
    home: Home,
    pool: Mutex<Vec<Db>>,
    index: SearchIndex,
    token: Option<String>,
    torrents: Cached<Vec<model::TorrentRow>>,
    coverage: Cached<musicark_publish::coverage::Coverage>,
    /// Over every followed list and our own (`report coverage --federated`).
    federation: Cached<musicark_follow::view::FederatedCoverage>,
    /// The dashboard and `/api/status` count over the whole archive
    /// (files, fixity objects, the activity log): 110 ms per request at
    /// 1 M recordings, 9 dashboards/s under load (scripts/bench-web.sh).
    dashboard: Cached<model::Dashboard>,
    status: Cached<musicark_swarm::health::StatusReport>,
    /// A refresher thread keeps the cached figures current.
    refresher: std::sync::atomic::AtomicBool,
    /// Archive work runs at most one request per core (plus one, so the
    /// cores stay busy while one waits on the disk) at a time; the rest
    /// wait their turn in order. Under load, time-slicing many requests
    /// over two cores made every one of them slow (search p99 77 → 32 ms
    /// at 16 connections, scripts/bench-web.sh).
    gate: tokio::sync::Semaphore,
}

impl App {
    /// Open the archive at `root` for serving.
    pub fn open(root: &Path) -> Result<Arc<App>, WebError> {
        let home = Home::open(root)?;
        // Migrates an archive written by an older musicark, once.
        let db = home.db_read_only()?;
        let index = SearchIndex::open(&home.search_dir())
            .map_err(|e| WebError::Internal(format!("search index: {e}")))?;
        let token = home
            .config
            .serve
            .token
            .clone()
            .filter(|t| !t.trim().is_empty());
        Ok(Arc::new(App {
            home,
            pool: Mutex::new(vec![db]),
            index,
            token,
            torrents: Cached::new(),
            coverage: Cached::new(),
            federation: Cached::new(),
            dashboard: Cached::new(),
            status: Cached::new(),
            refresher: std::sync::atomic::AtomicBool::new(false),
            gate: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()) + 1,
            ),
        }))
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Whether actions are enabled (a token is configured).
    pub fn actions_enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Run `f` with a pooled read-only connection.
    fn read<T>(&self, f: impl FnOnce(&Db) -> Result<T, WebError>) -> Result<T, WebError> {
        let db = self.pool.lock().ok().and_then(|mut p| p.pop());
        let db = match db {
            Some(db) => db,
            None => self.home.db_read_only()?,
        };
        let out = f(&db);
        if let Ok(mut p) = self.pool.lock()
            && p.len() < 16
        {
            p.push(db);
        }
        out
    }

    fn background(&self) -> bool {
        self.refresher.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn torrent_rows(&self, db: &Db) -> Result<Arc<Vec<model::TorrentRow>>, WebError> {
        self.torrents
            .get(self.background(), || self.make_torrent_rows(db))
    }

    fn coverage(&self, db: &Db) -> Result<Arc<musicark_publish::coverage::Coverage>, WebError> {
        self.coverage
            .get(self.background(), || self.make_coverage(db))
    }

    fn federation(
        &self,
        db: &Db,
    ) -> Result<Arc<musicark_follow::view::FederatedCoverage>, WebError> {
        self.federation
            .get(self.background(), || self.make_federation(db))
    }

    fn make_federation(
        &self,
        db: &Db,
    ) -> Result<musicark_follow::view::FederatedCoverage, WebError> {
        Ok(musicark_follow::view::coverage(&self.home, db)?)
    }

    fn status_report(
        &self,
        db: &Db,
    ) -> Result<Arc<musicark_swarm::health::StatusReport>, WebError> {
        self.status
            .get(self.background(), || self.make_status_report(db))
    }

    fn dashboard(&self, db: &Db) -> Result<Arc<model::Dashboard>, WebError> {
        self.dashboard
            .get(self.background(), || self.make_dashboard(db))
    }

    fn make_torrent_rows(&self, db: &Db) -> Result<Vec<model::TorrentRow>, WebError> {
        model::torrents(&self.home, db)
    }

    fn make_coverage(&self, db: &Db) -> Result<musicark_publish::coverage::Coverage, WebError> {
        Ok(musicark_publish::coverage::coverage(&self.home, db)?)
    }

    fn make_status_report(
        &self,
        db: &Db,
    ) -> Result<musicark_swarm::health::StatusReport, WebError> {
        Ok(musicark_swarm::health::status(&self.home, db)?)
    }

    fn make_dashboard(&self, db: &Db) -> Result<model::Dashboard, WebError> {
        let (_, health) = musicark_swarm::health::current(db)?;
        Ok(model::Dashboard {
            status: self.home.status(db)?,
            coverage: (*self.coverage(db)?).clone(),
            // Shown once the archive follows somebody; an archive that
            // follows nobody does not compute it (a pass over the whole
            // catalogue, at every refresh of the dashboard).
            federation: if musicark_follow::publishers(db)?.is_empty() {
                None
            } else {
                Some((*self.federation(db)?).clone())
            },
            health,
            activity: model::activity(db, 12)?,
        })
    }

    /// Keep the cached figures current from a thread of their own, so
    /// that no request waits for them (see [`Cached`]). Each value asked
    /// for once is computed again when it is half [`CACHE_TTL`] old. The
    /// thread ends with the last reference to the app.
    pub fn start_refresher(self: &Arc<Self>) {
        if self
            .refresher
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let app = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("musicark-web-refresh".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(CACHE_TTL / 6);
                    let Some(app) = app.upgrade() else { return };
                    if let Err(e) = app.refresh() {
                        log_internal(&format!("refreshing the cached figures: {e}"));
                    }
                }
            })
            .map(drop)
            .unwrap_or_else(|e| {
                // No thread: requests compute expired values themselves.
                self.refresher
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                log_internal(&format!("no refresher thread: {e}"));
            });
    }

    fn refresh(&self) -> Result<(), WebError> {
        let age = CACHE_TTL / 2;
        self.read(|db| {
            self.torrents.refresh(age, || self.make_torrent_rows(db))?;
            // Before the dashboard, which shows it.
            self.coverage.refresh(age, || self.make_coverage(db))?;
            self.federation.refresh(age, || self.make_federation(db))?;
            self.status.refresh(age, || self.make_status_report(db))?;
            self.dashboard.refresh(age, || self.make_dashboard(db))
        })
    }

    /// Forget cached figures (after an action changed the archive).
    fn invalidate(&self) {
        self.torrents.clear();
        self.coverage.clear();
        self.federation.clear();
        self.dashboard.clear();
        self.status.clear();
    }

    /// Whether this request may see operators' paths: it holds the token.
    fn sees_paths(&self, headers: &axum::http::HeaderMap) -> bool {
        self.authorize(headers).is_ok()
    }

    /// Check an action's `Authorization` header, in constant time.
    fn authorize(&self, headers: &axum::http::HeaderMap) -> Result<(), WebError> {
        let Some(token) = &self.token else {
            return Err(WebError::Forbidden(
                "this server is read-only: set [serve] token in musicark.toml to enable actions"
                    .into(),
            ));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let (a, b) = (given.as_bytes(), token.as_bytes());
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
        }
        if diff == 0 {
            Ok(())
        } else {
            Err(WebError::Unauthorized)
        }
    }
}

/// What an anonymous client sees of an operator's path: its file name.
/// The folders (the operator's disks, users, mounts) are shown only to a
/// client holding the token.
pub fn redact_path(path: &str) -> String {
    match path.rsplit('/').next() {
        Some(name) if name.len() < path.len() => format!("…/{name}"),
        _ => path.to_string(),
    }
}

/// Operators' paths in a damaged report, redacted unless `full`.
fn redact_damaged(
    mut d: musicark_store::DamagedReport,
    full: bool,
) -> musicark_store::DamagedReport {
    if !full {
        for e in d
            .damaged
            .iter_mut()
            .chain(&mut d.unsupported)
            .chain(&mut d.errors)
            .chain(&mut d.warnings)
        {
            e.path = redact_path(&e.path);
        }
    }
    d
}

/// Paths of a recording page's matches, redacted unless `full`.
fn redact_recording(mut p: model::RecordingPage, full: bool) -> model::RecordingPage {
    if !full {
        for m in &mut p.matches {
            m.path = m.path.as_deref().map(redact_path);
        }
    }
    p
}

/// Paths of review items, redacted unless `full`.
fn redact_review(mut items: Vec<model::ReviewItem>, full: bool) -> Vec<model::ReviewItem> {
    if !full {
        for i in &mut items {
            i.path = i.path.as_deref().map(redact_path);
        }
    }
    items
}

/// Run blocking archive work off the async threads.
async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    let _turn = app
        .gate
        .acquire()
        .await
        .map_err(|e| WebError::Internal(format!("server closing: {e}")))?;
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| WebError::Internal(format!("worker failed: {e}")))?
}

/// Reject over-long URLs before any handler runs; set safe headers on
/// every answer.
async fn guard(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, Response> {
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > MAX_URI {
        let message = format!("URL longer than {MAX_URI} bytes");
        return Err(if req.uri().path().starts_with("/api/") {
            (
                StatusCode::URI_TOO_LONG,
                axum::Json(api::ApiErrorBody { error: message }),
            )
                .into_response()
        } else {
            (StatusCode::URI_TOO_LONG, message).into_response()
        });
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(res)
}

/// The whole application: pages, API, OpenAPI document, assets.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(pages::routes())
        .nest("/api", api::routes())
        .route(
            "/openapi.json",
            axum::routing::get(|| async { axum::Json(openapi::document()) }),
        )
        .fallback(pages::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(guard))
        .with_state(app)
}

/// Connections served at once; more wait in the kernel's backlog until
/// one closes (a flood of idle connections cannot starve the rest).
pub const MAX_CONNECTIONS: usize = 512;
/// Time a client has to send a request's headers, and the longest a
/// kept-alive connection may sit idle between requests.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve until the process is stopped: HTTP/1.1 with keep-alive, at most
/// [`MAX_CONNECTIONS`] at once, each closed when its headers take longer
/// than [`HEADER_TIMEOUT`] (idle keep-alive included).
pub async fn serve(app: Arc<App>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_with(app, listener, MAX_CONNECTIONS, HEADER_TIMEOUT).await
}

/// [`serve`] with its bounds given (tests use small ones).
pub async fn serve_with(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    max_connections: usize,
    header_timeout: Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    app.start_refresher();
    let router = router(app);
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    loop {
        // Wait for a free slot before accepting: the rest queue in the
        // kernel's backlog rather than as tasks here.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            // Out of file descriptors and the like: back off, go on.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}

/// What a client is told of an internal error: an id to quote, nothing
/// else. The error itself goes to the server's log under that id.
pub(crate) fn internal_error_text(message: &str) -> String {
    let id = log_internal(message);
    format!("internal error (id {id}); the server's log has the details")
}

/// Write an internal error to the server's log under a new id; the id.
fn log_internal(message: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = format!("{t:x}-{n}");
    eprintln!("musicark serve: internal error {id}: {message}");
    id
}

impl WebError {
    /// The text a client sees: the error itself, except for internal
    /// errors (logged with an id; the client gets the id).
    pub fn public_text(&self) -> String {
        match self {
            WebError::Internal(m) => internal_error_text(m),
            other => other.to_string(),
        }
    }
}

/// Trim and bound a user's search text.
fn bounded_query(q: &str) -> Result<String, WebError> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(WebError::BadRequest(format!(
            "query longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(q.trim().to_string())
}

/// A `.tar` of files, each (name, bytes), for the plan's torrents.
fn tar_of(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, WebError> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, bytes.as_slice())?;
    }
    Ok(b.into_inner()?)
}
