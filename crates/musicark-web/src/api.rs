//! The JSON API under `/api/`: the types of `model` and of the library
//! crates (the same the CLI prints with `--json`), errors as
//! `{"error": "..."}`.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{self, TorrentFilter};
use crate::{App, WebError, blocking, bounded_query};

/// Every error of the API.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiErrorBody {
    pub error: String,
}

pub struct ApiError(pub WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.0.status(),
            Json(ApiErrorBody {
                error: self.0.public_text(),
            }),
        )
            .into_response();
        if matches!(self.0, WebError::Unauthorized) {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `Query`, with its rejections as JSON errors.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| ApiError(WebError::BadRequest(e.body_text())))
    }
}

/// `Path`, with its rejections as JSON errors.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| ApiError(WebError::BadRequest(e.body_text())))
    }
}

/// A request carrying the configured token (checked before any body is
/// read).
pub struct Authorized;

impl FromRequestParts<Arc<App>> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        app.authorize(&parts.headers)?;
        Ok(Authorized)
    }
}

/// A JSON body within [`crate::MAX_BODY`], its rejections as JSON errors.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                ApiError(if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    WebError::TooLarge
                } else {
                    WebError::BadRequest(e.body_text())
                })
            })?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError(WebError::BadRequest(format!("body: {e}"))))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchParams {
    /// Words to look for in titles, credits and release titles.
    pub q: String,
    /// Hits to return: 1 to 100 (default 25).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct LookupParams {
    /// An MBID, ISRC, barcode or `rec:ID`.
    pub q: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PageParams {
    /// First row to return.
    pub offset: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SeedPlanParams {
    /// The donor's disk, in bytes.
    pub budget: u64,
    /// A stable id for the donor (spreads donors over torrents).
    pub donor: Option<String>,
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/status", get(status))
        .route("/dashboard", get(dashboard))
        .route("/search", get(search))
        .route("/lookup", get(lookup))
        .route("/recordings/{id}", get(recording))
        .route("/recordings/{id}/holders", get(recording_holders))
        .route("/artists/{id}", get(artist))
        .route("/releases/{id}", get(release))
        .route("/torrents", get(torrents))
        .route("/torrents/{id}", get(torrent))
        .route("/coverage", get(coverage))
        .route("/federation", get(federation))
        .route("/wanted", get(wanted))
        .route("/health", get(health))
        .route("/seedplan", get(seedplan))
        .route("/damaged", get(damaged))
        .route("/review", get(review))
        .route("/rights", get(rights_report))
        .route("/rights/log", get(rights_log))
        .route("/actions/scrape", post(scrape))
        .route("/actions/rights", post(rights))
        .fallback(|| async { ApiError(WebError::NotFound("no such API endpoint".into())) })
}

pub(crate) fn search_limit(limit: Option<usize>) -> Result<usize, WebError> {
    match limit {
        None => Ok(25),
        Some(n @ 1..=100) => Ok(n),
        Some(n) => Err(WebError::BadRequest(format!(
            "limit must be 1 to 100, not {n}"
        ))),
    }
}

async fn status(State(app): State<Arc<App>>) -> ApiResult<musicark_swarm::health::StatusReport> {
    Ok(Json(
        (*blocking(&app, |app| app.read(|db| app.status_report(db))).await?).clone(),
    ))
}

/// The dashboard's figures, cached like the coverage report they hold.
pub(crate) fn dashboard_data(app: &App) -> Result<Arc<model::Dashboard>, WebError> {
    app.read(|db| app.dashboard(db))
}

async fn dashboard(State(app): State<Arc<App>>) -> ApiResult<model::Dashboard> {
    Ok(Json((*blocking(&app, dashboard_data).await?).clone()))
}

async fn search(
    State(app): State<Arc<App>>,
    Query(p): Query<SearchParams>,
) -> ApiResult<model::SearchResult> {
    let q = bounded_query(&p.q)?;
    let limit = search_limit(p.limit)?;
    Ok(Json(
        blocking(&app, move |app| {
            app.read(|db| model::search(db, &app.index, &q, limit))
        })
        .await?,
    ))
}

async fn lookup(
    State(app): State<Arc<App>>,
    Query(p): Query<LookupParams>,
) -> ApiResult<Vec<musicark_catalog::RecordingView>> {
    let q = bounded_query(&p.q)?;
    Ok(Json(
        blocking(&app, move |app| {
            app.read(|db| {
                let mut v = musicark_catalog::lookup(db, &q)?;
                v.truncate(model::MAX_ROWS);
                Ok(v)
            })
        })
        .await?,
    ))
}

async fn recording(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult<model::RecordingPage> {
    let full = app.sees_paths(&headers);
    Ok(Json(crate::redact_recording(
        blocking(&app, move |app| {
            app.read(|db| model::recording(&app.home, db, id))
        })
        .await?,
        full,
    )))
}

async fn artist(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<model::ArtistPage> {
    Ok(Json(
        blocking(&app, move |app| app.read(|db| model::artist(db, id))).await?,
    ))
}

async fn release(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
) -> ApiResult<model::ReleasePage> {
    Ok(Json(
        blocking(&app, move |app| app.read(|db| model::release(db, id))).await?,
    ))
}

async fn torrents(
    State(app): State<Arc<App>>,
    Query(f): Query<TorrentFilter>,
) -> ApiResult<Vec<model::TorrentRow>> {
    model::check_filter(&f, true)?;
    Ok(Json(
        blocking(&app, move |app| {
            app.read(|db| Ok(model::filter_torrents(&app.torrent_rows(db)?, &f)))
        })
        .await?,
    ))
}

async fn torrent(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    Query(p): Query<PageParams>,
) -> ApiResult<model::TorrentPage> {
    Ok(Json(
        blocking(&app, move |app| {
            app.read(|db| {
                let rows = app.torrent_rows(db)?;
                model::torrent(&app.home, db, &rows, id, p.offset.unwrap_or(0))
            })
        })
        .await?,
    ))
}

async fn coverage(State(app): State<Arc<App>>) -> ApiResult<musicark_publish::coverage::Coverage> {
    Ok(Json(
        blocking(&app, |app| app.read(|db| Ok((*app.coverage(db)?).clone()))).await?,
    ))
}

async fn recording_holders(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
) -> ApiResult<musicark_follow::view::RecordingHolders> {
    Ok(Json(
        blocking(&app, move |app| {
            app.read(|db| {
                Ok(musicark_follow::view::holders_with(
                    db,
                    id,
                    app.torrent_rows(db)?.iter().map(|t| &t.entry),
                )?)
            })
        })
        .await?,
    ))
}

async fn federation(
    State(app): State<Arc<App>>,
) -> ApiResult<musicark_follow::view::FederatedCoverage> {
    Ok(Json(
        blocking(&app, |app| {
            app.read(|db| Ok((*app.federation(db)?).clone()))
        })
        .await?,
    ))
}

/// Most wanted recordings one request returns.
pub(crate) const MAX_WANTED: usize = 1000;

/// The page size of the wanted list: 1 to [`MAX_WANTED`], 100 by default.
pub(crate) fn wanted_limit(limit: Option<usize>) -> Result<usize, WebError> {
    match limit.unwrap_or(100) {
        0 => Err(WebError::BadRequest(format!(
            "limit must be 1 to {MAX_WANTED}"
        ))),
        n if n > MAX_WANTED => Err(WebError::BadRequest(format!(
            "limit must be 1 to {MAX_WANTED}"
        ))),
        n => Ok(n),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct WantedQuery {
    q: Option<String>,
    limit: Option<usize>,
}

/// One page of the wanted list, and how many there are.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WantedPage {
    pub total: u64,
    pub wants: Vec<musicark_follow::wanted::Want>,
}

async fn wanted(
    State(app): State<Arc<App>>,
    Query(f): Query<WantedQuery>,
) -> ApiResult<WantedPage> {
    let q = bounded_query(f.q.as_deref().unwrap_or(""))?;
    let limit = wanted_limit(f.limit)?;
    Ok(Json(
        blocking(&app, move |app| {
            app.read(|db| {
                let (wants, total) = musicark_follow::wanted::wanted(
                    &app.home,
                    db,
                    Some(&q).filter(|q| !q.is_empty()).map(String::as_str),
                    limit,
                )?;
                Ok(WantedPage { total, wants })
            })
        })
        .await?,
    ))
}

async fn health(State(app): State<Arc<App>>) -> ApiResult<musicark_swarm::health::HealthReport> {
    Ok(Json(
        blocking(&app, |app| {
            app.read(|db| Ok(musicark_swarm::health::report(db)?))
        })
        .await?,
    ))
}

/// Most characters of a donor id.
pub(crate) const MAX_DONOR_CHARS: usize = 100;

/// Check the plan's parameters: a budget of at least a byte, a bounded
/// donor id (default `web`).
pub(crate) fn plan_params(budget: u64, donor: Option<&str>) -> Result<(u64, String), WebError> {
    if budget == 0 || budget > i64::MAX as u64 {
        return Err(WebError::BadRequest(format!(
            "budget must be 1 to {} bytes",
            i64::MAX
        )));
    }
    let donor = donor.unwrap_or("");
    if donor.chars().count() > MAX_DONOR_CHARS {
        return Err(WebError::BadRequest(format!(
            "donor longer than {MAX_DONOR_CHARS} characters"
        )));
    }
    let donor = donor.trim();
    let donor = if donor.is_empty() { "web" } else { donor };
    Ok((budget, donor.to_string()))
}

pub(crate) fn seed_plan(
    app: &App,
    budget: u64,
    donor: &str,
) -> Result<musicark_swarm::health::SeedPlan, WebError> {
    app.read(|db| {
        Ok(musicark_swarm::health::seed_plan(
            db,
            budget,
            donor,
            &app.home.config.publish.trackers,
        )?)
    })
}

async fn seedplan(
    State(app): State<Arc<App>>,
    Query(p): Query<SeedPlanParams>,
) -> ApiResult<musicark_swarm::health::SeedPlan> {
    let (budget, donor) = plan_params(p.budget, p.donor.as_deref())?;
    Ok(Json(
        blocking(&app, move |app| seed_plan(app, budget, &donor)).await?,
    ))
}

async fn damaged(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
) -> ApiResult<musicark_store::DamagedReport> {
    let full = app.sees_paths(&headers);
    Ok(Json(crate::redact_damaged(
        blocking(&app, |app| app.read(|db| Ok(db.damaged_report()?))).await?,
        full,
    )))
}

async fn review(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Vec<model::ReviewItem>> {
    let full = app.sees_paths(&headers);
    Ok(Json(crate::redact_review(
        blocking(&app, |app| app.read(model::review)).await?,
        full,
    )))
}

async fn rights_report(
    State(app): State<Arc<App>>,
) -> ApiResult<musicark_publish::rights::RightsReport> {
    Ok(Json(
        blocking(&app, |app| {
            app.read(|db| Ok(musicark_publish::rights::report(&app.home, db)?))
        })
        .await?,
    ))
}

async fn rights_log(
    State(app): State<Arc<App>>,
) -> ApiResult<Vec<musicark_publish::rights::LogEntry>> {
    Ok(Json(
        blocking(&app, |app| {
            app.read(|db| Ok(musicark_publish::rights::log(db)?))
        })
        .await?,
    ))
}

async fn scrape(
    State(app): State<Arc<App>>,
    _: Authorized,
) -> ApiResult<musicark_swarm::health::ScrapeReport> {
    Ok(Json(
        blocking(&app, |app| {
            let db = app.home.db()?;
            let report = musicark_swarm::health::scrape_archive(
                &app.home,
                &db,
                &[],
                &musicark_swarm::scrape::ScrapeOptions::default(),
            )?;
            app.invalidate();
            Ok(report)
        })
        .await?,
    ))
}

async fn rights(
    State(app): State<Arc<App>>,
    _: Authorized,
    Body(action): Body<model::RightsAction>,
) -> ApiResult<model::RightsApplied> {
    Ok(Json(
        blocking(&app, move |app| {
            let v = model::apply_rights(&app.home, &action)?;
            app.invalidate();
            Ok(v)
        })
        .await?,
    ))
}
