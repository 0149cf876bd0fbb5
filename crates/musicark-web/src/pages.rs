//! The HTML pages. maud escapes every interpolated value; the only raw
//! markup is the SVG charts of `musicark_publish::coverage`, which escape
//! their own text.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::charts::{self, pct};
use musicark_store::units::size;
use musicark_swarm::health::Health;

use crate::api::{plan_params, search_limit};
use crate::model::{self, TorrentFilter};
use crate::{App, WebError, blocking, bounded_query};

const STYLE: &str = include_str!("style.css");

pub struct PageError(WebError);

impl From<WebError> for PageError {
    fn from(e: WebError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = layout(
            status.canonical_reason().unwrap_or("Error"),
            "",
            html! {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p.error { (self.0.public_text()) }
                p { a href="/" { "Back to the dashboard" } }
            },
        );
        (status, body).into_response()
    }
}

type PageResult = Result<Markup, PageError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(dashboard))
        .route("/search", get(search))
        .route("/recordings/{id}", get(recording))
        .route("/artists/{id}", get(artist))
        .route("/releases/{id}", get(release))
        .route("/torrents", get(torrents))
        .route("/torrents/{id}", get(torrent))
        .route("/torrents/{id}/file.torrent", get(torrent_file))
        .route("/torrents/{id}/manifest.jsonl", get(manifest_file))
        .route("/seedplan", get(seedplan))
        .route("/seedplan/magnets.txt", get(seedplan_magnets))
        .route("/seedplan/torrents.tar", get(seedplan_torrents))
        .route("/damaged", get(damaged))
        .route("/review", get(review))
        .route("/rights", get(rights_page))
        .route("/federation", get(federation_page))
        .route("/wanted", get(wanted_page))
        .route("/packs/{*path}", get(pack_data))
        .route("/static/style.css", get(style))
        .route("/static/icon.svg", get(icon))
        .route("/favicon.ico", get(icon))
}

pub async fn not_found() -> PageError {
    PageError(WebError::NotFound("nothing here".into()))
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#2e7d32"/><path d="M12 23V9l12-3v14" fill="none" stroke="#fff" stroke-width="2.5"/><circle cx="9" cy="23" r="3.5" fill="#fff"/><circle cx="21" cy="20" r="3.5" fill="#fff"/></svg>"##;

async fn icon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ICON,
    )
}

fn layout(title: &str, active: &str, body: Markup) -> Markup {
    let nav = [
        ("/", "Dashboard"),
        ("/search", "Search"),
        ("/torrents", "Torrents"),
        ("/seedplan", "Seeding plan"),
        ("/damaged", "Damaged"),
        ("/review", "Review"),
        ("/rights", "Rights"),
        ("/federation", "Federation"),
        ("/wanted", "Wanted"),
        ("/openapi.json", "API"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · musicark" }
                link rel="stylesheet" href="/static/style.css";
                link rel="icon" href="/static/icon.svg" type="image/svg+xml";
            }
            body {
                header {
                    a.brand href="/" { "musicark" }
                    nav {
                        @for (href, label) in nav {
                            a href=(href) class=[(href == active).then_some("active")] { (label) }
                        }
                    }
                    form.quick action="/search" method="get" role="search" {
                        input type="search" name="q" placeholder="Search recordings, artists, releases" aria-label="Search";
                    }
                }
                main { (body) }
                footer { "musicark · a preservation archive of music · " a href="/openapi.json" { "OpenAPI" } }
            }
        }
    }
}

fn length(ms: Option<i64>) -> String {
    ms.map(|ms| format!("{}:{:02}", ms / 60_000, ms / 1000 % 60))
        .unwrap_or_default()
}

fn badges(preserved: bool, published: bool) -> Markup {
    html! {
        @if published { span.badge.pub title="A preserved copy is in an active torrent" { "published" } }
        @else if preserved { span.badge.kept title="A preserved copy exists, not yet packed" { "preserved" } }
        @else { span.badge.none title="No copy in the archive" { "not preserved" } }
    }
}

fn health_badge(class: Health, seeders: Option<u64>) -> Markup {
    let label = match seeders {
        Some(s) => format!("{s} seeders"),
        None => "never scraped".into(),
    };
    html! { span class={"health " (class)} { (label) } }
}

async fn dashboard(State(app): State<Arc<App>>) -> PageResult {
    let d = blocking(&app, crate::api::dashboard_data).await?;
    let c = &d.coverage;
    let tiers = charts::tier_bars(c);
    let bands = charts::band_bars(c);
    let h = &d.health;
    Ok(layout(
        "Dashboard",
        "/",
        html! {
            h1 { (d.status.archive) }
            p.note { "Catalogue on " (d.status.engine) "; blobs in " (d.status.blobs) "." }
            @let q = &d.status.queue;
            @if q.total() > 0 {
                p.note { "Work queue: " (q.queued) " queued · " (q.running) " running · " (q.done) " done · " (q.failed) " failed." }
            }
            div.cards {
                div.card { b { (pct(c.share_listens_preserved)) } span { "of listens preserved (" (pct(c.share_listens_published)) " published)" } }
                div.card { b { (pct(c.share_recordings_preserved)) } span { "of " (c.recordings) " recordings preserved" } }
                div.card { b { (pct(h.share_data_4_copies)) } span { "of published data in ≥ 4 copies" } }
                div.card { b { (h.torrents) } span { "active torrents, " (size(h.bytes)) } }
                div.card { b { (d.status.audio_files) } span { "audio files ingested, " (d.status.damaged) " damaged" } }
                @let f = &d.status.fixity;
                div.card {
                    @match &f.last_run {
                        None => { b { "—" } span { "fixity never checked (" code { "musicark fsck" } ")" } }
                        Some(at) => {
                            b { (f.damaged) } span { "damaged objects at the last fsck (" (at.get(..10).unwrap_or(at)) "); " (f.never_checked) " never checked" }
                        }
                    }
                }
                div.card { b { (c.rights.files_publishable) } span { "files publishable by their licence; " a href="/rights" { (c.rights.files_withheld) " withheld, " (c.rights.takedowns.len()) " takedowns" } } }
            }
            section {
                h2 { "The long tail" }
                p.note { "Share of all listens held by the most-listened recordings (line); the green area is what the archive preserves." }
                div.chart { (charts::long_tail(&c.long_tail)) }
            }
            div {
                section {
                    h2 { "Listens preserved by popularity band" }
                    @if bands.is_empty() { p.note { "No listens imported yet." } }
                    @else { div.chart { (charts::bars(&bands, "Listens preserved by band")) } }
                }
                section {
                    h2 { "Bytes by tier" }
                    @if tiers.is_empty() { p.note { "Nothing preserved yet." } }
                    @else { div.chart { (charts::bars(&tiers, "Bytes by tier")) } }
                }
            }
            @if let Some(f) = &d.federation {
                section {
                    h2 { "Federation" }
                    p.note { "With the " (f.publishers.len() - 1) " publishers this archive follows: " a href="/federation" { "details" } " · " a href="/wanted" { "what nobody holds" } }
                    div.cards {
                        div.card { b { (pct(f.anyone.share_listens)) } span { "of listens held by anyone" } }
                        div.card { b { (pct(f.only_elsewhere.share_listens)) } span { "held only by others" } }
                        div.card { b { (pct(f.nobody.share_listens)) } span { "held by nobody (" (f.nobody.recordings) " recordings)" } }
                    }
                }
            }
            section {
                h2 { "Seeding health" }
                div.chart { (charts::health(h)) }
                p { a href="/torrents?health=red" { "Torrents at risk" } " · " a href="/seedplan" { "What should I seed?" } }
            }
            section {
                h2 { "Recent activity" }
                @if d.activity.is_empty() { p.note { "Nothing yet." } }
                table {
                    @for a in &d.activity {
                        tr { td.mono { (a.at) } td { span class={"kind " (a.kind)} { (a.kind) } } td { (a.text) } }
                    }
                }
            }
        },
    ))
}

async fn federation_page(State(app): State<Arc<App>>) -> PageResult {
    let f = blocking(&app, |app| app.read(|db| app.federation(db))).await?;
    Ok(layout(
        "Federation",
        "/federation",
        html! {
            h1 { "Federation" }
            @if f.publishers.len() <= 1 {
                p.note { "This archive follows no other publisher yet: " code { "musicark follow add URL --key PUBKEY" } ", then " code { "musicark follow sync" } "." }
            }
            p.note { "Every followed list and this archive's own, one torrent per info-hash. " (f.recordings) " recordings in the catalogue, " (f.listens) " listens." }
            (charts::federated_body(&f))
        },
    ))
}

#[derive(Debug, Deserialize)]
struct WantedForm {
    q: Option<String>,
    limit: Option<usize>,
}

async fn wanted_page(State(app): State<Arc<App>>, Query(f): Query<WantedForm>) -> PageResult {
    let q = bounded_query(f.q.as_deref().unwrap_or(""))?;
    let limit = crate::api::wanted_limit(f.limit)?;
    let q2 = q.clone();
    let (wants, total) = blocking(&app, move |app| {
        app.read(|db| {
            Ok(musicark_follow::wanted::wanted(
                &app.home,
                db,
                Some(&q2).filter(|q| !q.is_empty()).map(String::as_str),
                limit,
            )?)
        })
    })
    .await?;
    Ok(layout(
        "Wanted",
        "/wanted",
        html! {
            h1 { "Wanted: what nobody holds" }
            p.note { "Recordings of the catalogue (and of followed publishers' wanted lists) that no followed publisher's torrents and none of this archive's hold, most listened first. Ingest these next." }
            form.search action="/wanted" method="get" {
                input id="q" type="search" name="q" value=(q) placeholder="title, artist, MBID or ISRC" aria-label="Search the wanted list";
                button type="submit" { "Search" }
            }
            p.note { (total) " wanted" @if !q.is_empty() { " matching “" (q) "”" } "; the first " (wants.len()) " shown." }
            table.results {
                thead { tr { th { "Listens" } th { "Title" } th { "Artist" } th { "MBID" } th { "ISRC" } th { "Wanted by" } } }
                tbody {
                    @for w in &wants {
                        tr {
                            td.num { (w.listens) }
                            td {
                                @if let Some(id) = w.recording_id { a.rec href={"/recordings/" (id)} { (w.title) } }
                                @else { (w.title) }
                            }
                            td { (w.artist.as_deref().unwrap_or("")) }
                            td.mono { (w.recording_mbid.as_deref().unwrap_or("")) }
                            td.mono { (w.isrc.as_deref().unwrap_or("")) }
                            td { (w.wanted_by.join(", ")) }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
struct SearchForm {
    q: Option<String>,
    limit: Option<usize>,
}

async fn search(State(app): State<Arc<App>>, Query(f): Query<SearchForm>) -> PageResult {
    let q = bounded_query(f.q.as_deref().unwrap_or(""))?;
    let limit = search_limit(f.limit.or(Some(25)))?;
    let result = if q.is_empty() {
        None
    } else {
        let q2 = q.clone();
        Some(
            blocking(&app, move |app| {
                app.read(|db| model::search(db, &app.index, &q2, limit))
            })
            .await?,
        )
    };
    Ok(layout(
        if q.is_empty() { "Search" } else { &q },
        "/search",
        html! {
            h1 { "Search the catalogue" }
            form.search action="/search" method="get" {
                input id="q" type="search" name="q" value=(q) autofocus placeholder="title, artist or release" aria-label="Search words";
                button type="submit" { "Search" }
            }
            @if let Some(r) = &result {
                p.note {
                    (r.hits.len()) " results for “" (r.query) "”"
                    @if r.hits.len() == limit && limit < 100 {
                        " · " a href={"/search?limit=100&q=" (musicark_torrent::url_encode(&r.query))} { "more" }
                    }
                }
                table.results {
                    thead { tr { th { "" } th { "Title" } th { "Artist" } th { "Length" } th { "Archive" } } }
                    tbody {
                        @for h in &r.hits {
                            tr {
                                td.kind { (h.hit.kind) }
                                td {
                                    @if h.hit.kind == "recording" {
                                        a.rec href={"/recordings/" (h.hit.id)} { (h.hit.title) }
                                    } @else {
                                        a href={"/releases/" (h.hit.id)} { (h.hit.title) }
                                    }
                                }
                                td { (h.hit.artist.as_deref().unwrap_or("")) }
                                td.num { (length(h.hit.length_ms)) }
                                td { (badges(h.preserved, h.published)) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

async fn recording(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    Path(id): Path<i64>,
) -> PageResult {
    let full = app.sees_paths(&headers);
    let (p, artists, held) = blocking(&app, move |app| {
        app.read(|db| {
            Ok((
                model::recording(&app.home, db, id)?,
                model::recording_artist_ids(db, id)?,
                musicark_follow::view::holders_with(
                    db,
                    id,
                    app.torrent_rows(db)?.iter().map(|t| &t.entry),
                )?,
            ))
        })
    })
    .await?;
    let p = crate::redact_recording(p, full);
    let r = &p.recording;
    let listens: i64 = r.popularity.iter().filter_map(|x| x.listen_count).sum();
    Ok(layout(
        &r.title,
        "",
        html! {
            p.crumbs { "recording" }
            h1 { (r.title) }
            p.by {
                @for (i, (aid, name)) in artists.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={"/artists/" (aid)} { (name) }
                }
                @if artists.is_empty() { (r.artist_credit.as_deref().unwrap_or("")) }
                " · " (length(r.length_ms))
                @if let Some(d) = &r.first_release_date { " · first released " (d) }
            }
            p { (badges(!p.copies.is_empty(), p.places.iter().any(|l| !l.location.obsolete))) }
            @if let Some(rt) = &p.rights {
                @if rt.takedown { p.warn { "Taken down: never published. " (rt.source.as_deref().unwrap_or("")) } }
                @if rt.embargo { p.warn { "Embargoed" @if let Some(u) = &rt.embargo_until { " until " (u) } ". " (rt.source.as_deref().unwrap_or("")) } }
            }
            section {
                h2 { "Identifiers" }
                dl {
                    dt { "Internal id" } dd.mono { "rec:" (r.recording_id) }
                    @if let Some(m) = &r.mbid { dt { "MusicBrainz" } dd.mono { (m) } }
                    @for i in &r.isrcs { dt { "ISRC" } dd.mono { (i) } }
                    @for e in &r.external_ids { dt { (e.source) } dd.mono { (e.id) } }
                    @if let Some(l) = &r.license { dt { "Licence" } dd { (l) } }
                    dt { "Listens" } dd { (listens) }
                }
            }
            @if !r.releases.is_empty() {
                section {
                    h2 { "On releases" }
                    table {
                        @for t in &r.releases {
                            tr {
                                td { a href={"/releases/" (t.release_id)} { (t.release_title) } }
                                td { (t.date.as_deref().unwrap_or("")) }
                                td { (t.country.as_deref().unwrap_or("")) }
                                td.num { (t.disc) "-" (t.position) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Preserved copy" }
                @if p.copies.is_empty() { p.note { "No copy in the archive." } }
                @else {
                    table {
                        thead { tr { th { "Tier" } th { "Bitrate" } th { "Size" } th { "Source" } th { "Licence" } th { "BLAKE3" } th { "Made" } } }
                        @for c in &p.copies {
                            tr {
                                td { (c.tier) }
                                td.num { @if let Some(k) = c.kbps { (k) " kbit/s" } }
                                td.num { (size(c.bytes)) }
                                td { (c.source_codec.as_deref().unwrap_or("")) }
                                td title={"from " (c.rights.source) @if let Some(t) = &c.rights.license_tag { ": " (t) }} {
                                    (c.rights.license.as_deref().or(c.rights.license_tag.as_deref()).unwrap_or("unknown"))
                                    " " span class={"kind"} { "(" (c.rights.class.as_str()) ")" }
                                }
                                td.mono.hash { (c.output_id) }
                                td.mono { (c.made_at) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Who holds it" }
                @if held.torrents.is_empty() {
                    p.note { "Nobody, among this archive and the publishers it follows: it is on the " a href="/wanted" { "wanted list" } "." }
                } @else {
                    p.note { (held.torrents.len()) " copies (distinct torrents), " (held.seeders) " seeders in all; held by " (held.publishers.join(", ")) "." }
                }
            }
            section {
                h2 { "Where it is" }
                @if p.places.is_empty() { p.note { "Not in any published torrent yet." } }
                @else {
                    table.places {
                        thead { tr { th { "Torrent" } th { "Path" } th { "Bytes" } th { "Health" } th { "" } } }
                        @for l in &p.places {
                            tr class=[l.location.obsolete.then_some("obsolete")] {
                                td { (l.location.torrent) @if l.location.obsolete { " (obsolete)" } }
                                td.mono { (l.location.path) }
                                td.num { (l.location.byte_start) "–" (l.location.byte_end) }
                                td { (health_badge(l.health, l.seeders)) }
                                td { a.magnet href=(l.location.magnet) { "magnet" } }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Matches and evidence" }
                @if p.matches.is_empty() { p.note { "No ingested file is linked to this recording." } }
                @for m in &p.matches {
                    div.match {
                        p {
                            b { (m.status) } @if let Some(me) = &m.method { " by " (me) }
                            @if let Some(c) = m.confidence { " · confidence " (format!("{c:.2}")) }
                            " · " span.mono { (m.path.as_deref().unwrap_or(&m.content_id)) }
                            @if let Some(c) = &m.codec { " (" (c) ")" }
                        }
                        @if let Some(e) = &m.evidence { p.evidence { (e) } }
                    }
                }
            }
            @if !p.rights_log.is_empty() {
                section {
                    h2 { "Rights log" }
                    table {
                        @for e in &p.rights_log {
                            tr {
                                td.mono { (e.at) }
                                td { b { (e.action) } @if let Some(u) = &e.until { " until " (u) } }
                                td { (e.reason.as_deref().unwrap_or("")) }
                                td { (e.reference.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            p.note { "JSON: " a href={"/api/recordings/" (r.recording_id)} { "/api/recordings/" (r.recording_id) } }
        },
    ))
}

fn recording_rows(rows: &[model::RecordingRow]) -> Markup {
    html! {
        table.results {
            @for r in rows {
                tr {
                    td { a.rec href={"/recordings/" (r.recording_id)} { (r.title) } }
                    td { (r.artist_credit.as_deref().unwrap_or("")) }
                    td.num { (length(r.length_ms)) }
                    td { (badges(r.preserved, r.published)) }
                }
            }
        }
    }
}

async fn artist(State(app): State<Arc<App>>, Path(id): Path<i64>) -> PageResult {
    let a = blocking(&app, move |app| app.read(|db| model::artist(db, id))).await?;
    let kept = a.recordings.iter().filter(|r| r.preserved).count();
    Ok(layout(
        &a.artist.name,
        "",
        html! {
            p.crumbs { "artist" }
            h1 { (a.artist.name) }
            dl {
                @if let Some(m) = &a.artist.mbid { dt { "MusicBrainz" } dd.mono { (m) } }
                @if let Some(c) = &a.artist.country { dt { "Country" } dd { (c) } }
                @if let Some(k) = &a.artist.kind { dt { "Type" } dd { (k) } }
                dt { "Recordings" } dd { (a.recordings_total) " (" (kept) " of those shown preserved)" }
            }
            (recording_rows(&a.recordings))
        },
    ))
}

async fn release(State(app): State<Arc<App>>, Path(id): Path<i64>) -> PageResult {
    let r = blocking(&app, move |app| app.read(|db| model::release(db, id))).await?;
    Ok(layout(
        &r.release.title,
        "",
        html! {
            p.crumbs { "release" }
            h1 { (r.release.title) }
            p.by { (r.release.artist_credit.as_deref().unwrap_or("")) }
            dl {
                @if let Some(m) = &r.release.mbid { dt { "MusicBrainz" } dd.mono { (m) } }
                @if let Some(b) = &r.release.barcode { dt { "Barcode" } dd.mono { (b) } }
                @if let Some(d) = &r.release.date { dt { "Date" } dd { (d) } }
                @if let Some(c) = &r.release.country { dt { "Country" } dd { (c) } }
                @if let Some(l) = &r.release.label { dt { "Label" } dd { (l) @if let Some(c) = &r.release.catalog_number { " · " (c) } } }
            }
            table.results {
                @for t in &r.tracks {
                    tr {
                        td.num { (t.disc) "-" (t.position) }
                        td { a.rec href={"/recordings/" (t.recording.recording_id)} { (t.recording.title) } }
                        td { (t.recording.artist_credit.as_deref().unwrap_or("")) }
                        td.num { (length(t.recording.length_ms)) }
                        td { (badges(t.recording.preserved, t.recording.published)) }
                    }
                }
            }
        },
    ))
}

async fn torrents(State(app): State<Arc<App>>, Query(f): Query<TorrentFilter>) -> PageResult {
    model::check_filter(&f, false)?;
    let (rows, bands) = {
        let f = f.clone();
        blocking(&app, move |app| {
            app.read(|db| {
                let all = app.torrent_rows(db)?;
                let mut bands: Vec<String> = all
                    .iter()
                    .map(|t| t.entry.popularity_band.clone())
                    .collect();
                bands.sort();
                bands.dedup();
                Ok((model::filter_torrents(&all, &f), bands))
            })
        })
        .await?
    };
    let sel = |a: Option<&str>, b: &str| a == Some(b);
    Ok(layout(
        "Torrents",
        "/torrents",
        html! {
            h1 { "Torrents" }
            form.filters action="/torrents" method="get" {
                label { "Kind " select name="kind" {
                    option value="" { "any" }
                    option value="audio" selected[sel(f.kind.as_deref(), "audio")] { "audio" }
                    option value="metadata" selected[sel(f.kind.as_deref(), "metadata")] { "metadata" }
                } }
                label { "Band " select name="band" {
                    option value="" { "any" }
                    @for b in &bands { option value=(b) selected[sel(f.band.as_deref(), b)] { (b) } }
                } }
                label { "Health " select name="health" {
                    option value="" { "any" }
                    @for h in Health::ALL { option value=(h) selected[sel(f.health.as_deref(), h.as_str())] { (h) } }
                } }
                label { input type="checkbox" name="obsolete" value="true" checked[f.obsolete.unwrap_or(false)]; " obsolete too" }
                input type="search" name="q" value=(f.q.as_deref().unwrap_or("")) placeholder="name" aria-label="Name";
                button type="submit" { "Filter" }
            }
            p.note { (rows.len()) " torrents, " (size(rows.iter().map(|t| t.entry.data_size).sum())) }
            table.torrents {
                thead { tr { th { "Name" } th { "Band" } th { "Tier" } th { "Files" } th { "Size" } th { "Seeders" } th { "" } } }
                tbody {
                    @for t in &rows {
                        tr class=[t.entry.obsolete.then_some("obsolete")] {
                            td { a href={"/torrents/" (t.pack_id)} { (t.entry.display_name) } @if t.entry.obsolete { " (obsolete)" } }
                            td { (t.entry.popularity_band) }
                            td { (t.entry.tier) }
                            td.num { (t.entry.num_files) }
                            td.num { (size(t.entry.data_size)) }
                            td {
                                @if t.entry.stats_scraped_at.is_some() {
                                    span class={"health " (t.health)} { (t.entry.seeders) }
                                } @else {
                                    span class={"health " (t.health)} title="No tracker has been asked yet (health scrape)" { "never scraped" }
                                }
                                @if t.entry.embargo { " " span.badge.none { "embargo" } }
                            }
                            td {
                                @if !t.entry.embargo {
                                    a href={"/torrents/" (t.pack_id) "/file.torrent"} { ".torrent" } " " a.magnet href=(t.entry.magnet_link) { "magnet" }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
struct Offset {
    offset: Option<u64>,
}

async fn torrent(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    Query(o): Query<Offset>,
) -> PageResult {
    let offset = o.offset.unwrap_or(0);
    let t = blocking(&app, move |app| {
        app.read(|db| {
            let rows = app.torrent_rows(db)?;
            model::torrent(&app.home, db, &rows, id, offset)
        })
    })
    .await?;
    let e = &t.torrent.entry;
    let next = offset + t.files.len() as u64;
    Ok(layout(
        &e.display_name,
        "/torrents",
        html! {
            p.crumbs { a href="/torrents" { "torrents" } }
            h1 { (e.display_name) }
            @if e.obsolete { p.warn { "Obsolete: " (t.obsolete_reason.as_deref().unwrap_or("")) } }
            @if e.embargo { p.warn { "Holds a recording under embargo: listed without its magnet and .torrent." } }
            dl {
                dt { "Info-hash (v1)" } dd.mono { (e.btih) }
                @if let Some(m) = &e.btmh { dt { "Info-hash (v2)" } dd.mono { (m) } }
                dt { "Size" } dd { (size(e.data_size)) " in " (e.num_files) " files" }
                dt { "Band, tier" } dd { (e.popularity_band) ", " (e.tier) }
                dt { "Health" } dd { span class={"health " (t.torrent.health)} { (e.seeders) " seeders, " (e.leechers) " leechers" } @if let Some(s) = &e.stats_scraped_at { " (" (s) ")" } }
                dt { "Share of listens" } dd { (pct(e.listen_share)) }
                dt { "Manifest SHA-256" } dd.mono { (e.manifest_sha256) }
                dt { "Created" } dd { (t.created_at) }
            }
            p {
                @if !e.embargo {
                    a.button href={"/torrents/" (t.torrent.pack_id) "/file.torrent"} { "Download .torrent" } " "
                    a.button href=(e.magnet_link) { "Magnet" } " "
                }
                a.button href={"/torrents/" (t.torrent.pack_id) "/manifest.jsonl"} { "Manifest (JSON lines)" }
            }
            h2 { "Manifest" }
            p.note { "Files " (offset + 1) "–" (next) " of " (t.files_total) }
            table.manifest {
                thead { tr { th { "#" } th { "Path" } th { "Size" } th { "Recording" } th { "BLAKE3" } } }
                @for f in &t.files {
                    tr {
                        td.num { (f.file_index) }
                        td.mono { (f.path) }
                        td.num { (size(f.size)) }
                        td { @if let Some(r) = f.recording_id { a href={"/recordings/" (r)} { (f.title.as_deref().unwrap_or("?")) } } }
                        td.mono.hash { (f.blake3) }
                    }
                }
            }
            @if next < t.files_total { p { a href={"/torrents/" (t.torrent.pack_id) "?offset=" (next)} { "Next files →" } } }
        },
    ))
}

/// Read a file of `torrents/` named after a pack found in the database,
/// checked against the hashes the archive recorded (a damaged file is
/// never served), whole or the byte range asked for.
async fn pack_download(
    app: Arc<App>,
    headers: axum::http::HeaderMap,
    id: i64,
    suffix: &'static str,
    mime: &'static str,
) -> Result<Response, PageError> {
    let (name, bytes) = blocking(&app, move |app| {
        let hashes = app.read(|db| {
            // Under embargo, the list offers neither magnet nor .torrent;
            // neither does the server.
            if app
                .torrent_rows(db)?
                .iter()
                .any(|t| t.pack_id == id && t.entry.embargo)
            {
                return Err(WebError::Forbidden(format!(
                    "torrent {id} holds a recording under embargo"
                )));
            }
            model::pack_record(db, id)
        })?;
        let name = hashes.name.clone();
        // Names are made by `pack` (sanitised); refuse anything else.
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(WebError::NotFound(format!("no torrent {id}")));
        }
        let path = app.home.torrents_dir().join(format!("{name}{suffix}"));
        let bytes = musicark_publish::list::read_bounded(&path, musicark_publish::list::MAX_LIST_BYTES)
            .map_err(|_| WebError::NotFound(format!("{name}{suffix} is not in the archive")))?;
        let intact = if suffix == ".torrent" {
            musicark_torrent::Metainfo::parse(&bytes)
                .is_ok_and(|m| m.has_info_hashes(hashes.btih.as_deref(), hashes.btmh.as_deref()))
        } else {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes)) == hashes.manifest_sha256
        };
        if !intact {
            return Err(WebError::Internal(format!(
                "{}: does not match the hashes recorded for pack {name}: damaged at rest (run musicark fsck)",
                path.display()
            )));
        }
        Ok((name, bytes))
    })
    .await?;
    let disposition = format!(
        "attachment; filename=\"{}{suffix}\"",
        name.replace('"', "_")
    );
    Ok(ranged(&headers, bytes, mime, &disposition))
}

/// An answer of `bytes`, honouring a single `Range: bytes=…` request
/// (206 with `Content-Range`; 416 when it lies outside the file).
fn ranged(
    headers: &axum::http::HeaderMap,
    bytes: Vec<u8>,
    mime: &str,
    disposition: &str,
) -> Response {
    let len = bytes.len() as u64;
    let base = [
        (header::CONTENT_TYPE, mime.to_string()),
        (header::CONTENT_DISPOSITION, disposition.to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
    ];
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return (base, bytes).into_response();
    };
    match parse_range(range, len) {
        Some(Some((start, end))) => {
            let body = bytes[start as usize..=end as usize].to_vec();
            let mut res = (StatusCode::PARTIAL_CONTENT, base, body).into_response();
            if let Ok(v) = format!("bytes {start}-{end}/{len}").parse() {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            res
        }
        // Not a single byte range we understand: the whole file (RFC 9110
        // lets a server ignore Range).
        None => (base, bytes).into_response(),
        Some(None) => {
            let mut res =
                (StatusCode::RANGE_NOT_SATISFIABLE, "range outside the file").into_response();
            if let Ok(v) = format!("bytes */{len}").parse() {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            res
        }
    }
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` of a file of `len` bytes:
/// `Some(Some((first, last)))`, `Some(None)` when unsatisfiable, `None`
/// when it is not one byte range.
fn parse_range(text: &str, len: u64) -> Option<Option<(u64, u64)>> {
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(None);
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end: u64 = if b.is_empty() {
            u64::MAX
        } else {
            b.parse().ok()?
        };
        if start >= len || end < start {
            return Some(None);
        }
        (start, end.min(len - 1))
    };
    Some(Some(range))
}

async fn torrent_file(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    pack_download(app, headers, id, ".torrent", "application/x-bittorrent").await
}

async fn manifest_file(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    pack_download(
        app,
        headers,
        id,
        ".manifest.jsonl",
        "application/jsonl; charset=utf-8",
    )
    .await
}

/// A published pack's files, as a BEP 19 web seed serves them:
/// `/packs/NAME/PATH`, with `Range` and `HEAD` (tower-http's `ServeDir`:
/// streamed, paths confined to the packs folder). Only an active pack is
/// served: not an obsolete one (replaced, or withdrawn by a takedown),
/// not one the list shows under embargo.
async fn pack_data(
    State(app): State<Arc<App>>,
    Path(path): Path<String>,
    req: axum::extract::Request,
) -> Result<Response, PageError> {
    use tower::ServiceExt;
    let name = path.split('/').next().unwrap_or("").to_string();
    let refused = || WebError::NotFound(format!("no published pack {name:?} here"));
    if musicark_publish::list::confined_name(&name).is_err() || !path.contains('/') {
        return Err(refused().into());
    }
    let check = name.clone();
    let servable = blocking(&app, move |app| {
        app.read(|db| {
            let listed = format!("{check}.torrent");
            let embargoed = app
                .torrent_rows(db)?
                .iter()
                .any(|t| t.entry.display_name == listed && t.entry.embargo);
            Ok(!embargoed && musicark_publish::packs::servable(db, &check)?)
        })
    })
    .await?;
    if !servable {
        return Err(refused().into());
    }
    // A pack streamed from object storage keeps its files in the bucket:
    // they are read there, with Range, through the archive's store.
    let within = percent_encoding::percent_decode_str(&path[name.len() + 1..])
        .decode_utf8()
        .map_err(|_| WebError::BadRequest("not a path".into()))?
        .into_owned();
    let placed = within
        .split('/')
        .fold(app.home.packs_dir().join(&name), |p, c| p.join(c));
    if !placed.exists()
        && let Ok(blobs) = app.home.blobs()
        && !blobs.is_local()
    {
        return laid_out(app, req.headers().clone(), name, within, blobs).await;
    }
    // ServeDir sees the path below the packs folder, still encoded as
    // the client sent it (file names hold spaces and brackets).
    let (mut parts, body) = req.into_parts();
    let below = parts
        .uri
        .path()
        .strip_prefix("/packs")
        .unwrap_or("/")
        .to_string();
    parts.uri = below
        .parse()
        .map_err(|_| WebError::BadRequest("not a path".into()))?;
    let res = tower_http::services::ServeDir::new(app.home.packs_dir())
        .oneshot(axum::extract::Request::from_parts(parts, body))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(res.map(axum::body::Body::new))
}

/// A pack file laid out in object storage, streamed from the bucket in
/// chunks as the client reads (a single `Range` honoured, as `ServeDir`
/// does for local files).
async fn laid_out(
    app: Arc<App>,
    headers: axum::http::HeaderMap,
    name: String,
    within: String,
    blobs: Arc<dyn musicark_store::BlobStore>,
) -> Result<Response, PageError> {
    const CHUNK: usize = 256 << 10;
    let (pack, path) = (name.clone(), within.clone());
    let len = blocking(&app, move |app| {
        app.read(|db| Ok(musicark_publish::packs::file_size(db, &pack, &path)?))
    })
    .await?
    .ok_or_else(|| WebError::NotFound(format!("no file {within:?} in pack {name:?}")))?;
    let (start, end, status) = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(text) => match parse_range(text, len) {
            Some(Some((a, b))) => (a, b + 1, StatusCode::PARTIAL_CONTENT),
            Some(None) => {
                let mut res =
                    (StatusCode::RANGE_NOT_SATISFIABLE, "range outside the file").into_response();
                if let Ok(v) = format!("bytes */{len}").parse() {
                    res.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(res);
            }
            None => (0, len, StatusCode::OK),
        },
        None => (0, len, StatusCode::OK),
    };
    let key = format!("{name}/{within}");
    // The first bytes are read before answering: a missing object is a
    // 404, not a cut-off 200.
    let opened = tokio::task::spawn_blocking(move || blobs.open_laid_out(&key, start))
        .await
        .map_err(|e| WebError::Internal(format!("worker failed: {e}")))?;
    let mut reader = opened.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => WebError::NotFound("not laid out in the bucket".into()),
        _ => WebError::Internal(format!("reading the bucket: {e}")),
    })?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut left = end - start;
        while left > 0 {
            let mut buf = vec![0u8; CHUNK.min(left as usize)];
            let sent = match reader.read_exact(&mut buf) {
                Ok(()) => {
                    left -= buf.len() as u64;
                    tx.blocking_send(Ok(buf))
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            if sent.is_err() {
                return; // the client went away
            }
        }
    });
    let body =
        axum::body::Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        }));
    let mut res = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, end - start);
    if status == StatusCode::PARTIAL_CONTENT {
        res = res.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end - 1),
        );
    }
    res.body(body)
        .map_err(|e| WebError::Internal(e.to_string()).into())
}

#[cfg(test)]
mod range_tests {
    use super::parse_range;

    #[test]
    fn byte_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Some((90, 99))));
        assert_eq!(parse_range("bytes=50-1000", 100), Some(Some((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(None));
        assert_eq!(parse_range("bytes=9-3", 100), Some(None));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}

#[derive(Debug, Deserialize)]
struct PlanForm {
    budget: Option<String>,
    donor: Option<String>,
}

fn plan_query(budget: &str, donor: &str) -> String {
    format!(
        "budget={}&donor={}",
        musicark_torrent::url_encode(budget),
        musicark_torrent::url_encode(donor)
    )
}

async fn seedplan(State(app): State<Arc<App>>, Query(f): Query<PlanForm>) -> PageResult {
    let budget_text = f.budget.clone().unwrap_or_default();
    let donor_text = f.donor.clone().unwrap_or_default();
    let plan = if budget_text.trim().is_empty() {
        None
    } else {
        let budget =
            musicark_store::units::parse_budget(&budget_text).map_err(WebError::BadRequest)?;
        let (budget, donor) = plan_params(budget, f.donor.as_deref())?;
        Some(blocking(&app, move |app| crate::api::seed_plan(app, budget, &donor)).await?)
    };
    Ok(layout(
        "Seeding plan",
        "/seedplan",
        html! {
            h1 { "What should I seed?" }
            p.note { "Give the disk you can spare: the plan picks the torrents that most cut the risk of losing recordings per byte (those nobody seeds first, then the fewest copies, the long tail weighing more)." }
            form.plan action="/seedplan" method="get" {
                label { "Disk to give " input id="budget" type="text" name="budget" value=(budget_text) placeholder="500GB" required; }
                label { "Donor id (optional) " input id="donor" type="text" name="donor" value=(donor_text) placeholder="my-server"; }
                button id="make-plan" type="submit" { "Make my plan" }
            }
            @if let Some(p) = &plan {
                h2 { (p.torrents.len()) " torrents, " (size(p.used)) " of " (size(p.budget)) }
                p {
                    a.button id="download-magnets" href={"/seedplan/magnets.txt?" (plan_query(&budget_text, &donor_text))} download { "Download magnets" } " "
                    a.button id="download-torrents" href={"/seedplan/torrents.tar?" (plan_query(&budget_text, &donor_text))} download { "Download .torrent files (tar)" }
                }
                table.plan {
                    thead { tr { th { "Torrent" } th { "Size" } th { "Seeders" } th { "Unseeded recordings" } th { "" } } }
                    @for t in &p.torrents {
                        tr {
                            td { (t.name) }
                            td.num { (size(t.data_size)) }
                            td { (health_badge(Health::of(t.seeders.unwrap_or(0)), t.seeders)) }
                            td.num { (t.unseeded_recordings) }
                            td { a.magnet href=(t.magnet) { "magnet" } }
                        }
                    }
                }
            }
        },
    ))
}

async fn plan_for(
    app: &Arc<App>,
    f: PlanForm,
) -> Result<musicark_swarm::health::SeedPlan, PageError> {
    let budget = musicark_store::units::parse_budget(f.budget.as_deref().unwrap_or(""))
        .map_err(WebError::BadRequest)?;
    let (budget, donor) = plan_params(budget, f.donor.as_deref())?;
    Ok(blocking(app, move |app| crate::api::seed_plan(app, budget, &donor)).await?)
}

async fn seedplan_magnets(
    State(app): State<Arc<App>>,
    Query(f): Query<PlanForm>,
) -> Result<Response, PageError> {
    let plan = plan_for(&app, f).await?;
    let mut text = String::new();
    for t in &plan.torrents {
        text.push_str(&t.magnet);
        text.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"musicark-seedplan.txt\"",
            ),
        ],
        text,
    )
        .into_response())
}

async fn seedplan_torrents(
    State(app): State<Arc<App>>,
    Query(f): Query<PlanForm>,
) -> Result<Response, PageError> {
    let plan = plan_for(&app, f).await?;
    let tar = blocking(&app, move |app| {
        let mut files = Vec::new();
        for t in &plan.torrents {
            if t.name.contains(['/', '\\']) || t.name.starts_with('.') {
                continue;
            }
            let name = format!("{}.torrent", t.name);
            let bytes = std::fs::read(app.home.torrents_dir().join(&name))?;
            files.push((name, bytes));
        }
        crate::tar_of(&files)
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"musicark-seedplan.tar\"",
            ),
        ],
        tar,
    )
        .into_response())
}

async fn damaged(State(app): State<Arc<App>>, headers: axum::http::HeaderMap) -> PageResult {
    let full = app.sees_paths(&headers);
    let d = crate::redact_damaged(
        blocking(&app, |app| app.read(|db| Ok(db.damaged_report()?))).await?,
        full,
    );
    let section = |title: &str, rows: &[musicark_store::DamagedEntry]| {
        html! {
            h2 { (title) " (" (rows.len()) ")" }
            @if !rows.is_empty() {
                table.damaged {
                    thead { tr { th { "Path" } th { "Reason" } th { "Where" } th { "Size" } } }
                    @for e in rows.iter().take(model::MAX_ROWS) {
                        tr {
                            td.mono { (e.path) }
                            td { (e.reason.as_deref().unwrap_or("")) @if let Some(k) = &e.damage_kind { " (" (k) ")" } }
                            td.num { @if let Some(p) = e.position_seconds { (format!("{p:.1} s")) } }
                            td.num { (size(e.size)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(
        "Damaged",
        "/damaged",
        html! {
            h1 { "Damaged and unreadable files" }
            (section("Damaged", &d.damaged))
            (section("Unsupported", &d.unsupported))
            (section("Unreadable (retried by the next ingest)", &d.errors))
            (section("Clean, with warnings", &d.warnings))
        },
    ))
}

async fn rights_page(State(app): State<Arc<App>>) -> PageResult {
    let (r, log) = blocking(&app, |app| {
        app.read(|db| {
            Ok((
                musicark_publish::rights::report(&app.home, db)?,
                musicark_publish::rights::log(db)?,
            ))
        })
    })
    .await?;
    let rows = |rows: &[musicark_publish::rights::RightsRow], published: bool| {
        html! {
            table {
                thead { tr { th { "Licence" } th { "Class" } th.num { "Files" } th.num { "Bytes" } @if published { th { "Published" } } } }
                @for row in rows {
                    tr {
                        td { (row.key) }
                        td { (row.class.map_or("", |c| c.as_str())) }
                        td.num { (row.files) }
                        td.num { (size(row.bytes)) }
                        @if published { td { @if row.publishable { span.badge.pub { "yes" } } @else { span.badge.none { "no" } } } }
                    }
                }
            }
        }
    };
    Ok(layout(
        "Rights",
        "/rights",
        html! {
            h1 { "Rights" }
            div.cards {
                div.card { b { (r.files_publishable) } span { "preserved files publishable (" (size(r.bytes_publishable)) ")" } }
                div.card { b { (r.files_withheld) } span { "withheld by rights (" (size(r.bytes_withheld)) ")" } }
                div.card { b { (r.takedowns.len()) } span { "takedowns in force" } }
                div.card { b { (r.embargoes.len()) } span { "embargoes in force" } }
            }
            p.note { "Publication policy: [publish] allow = " code { (format!("{:?}", r.policy_allows)) } ". A file's licence is its own LICENSE tag when it names one licence, else the operator's default given at ingest, else the catalogue's." }
            h2 { "Preserved copies by licence" }
            (rows(&r.by_license, true))
            h2 { "Ingested audio by licence" }
            (rows(&r.ingested_by_license, false))
            @if !r.unmapped_tags.is_empty() {
                h2 { "Licence tags that name no single licence" }
                p.note { "Kept verbatim; `musicark ingest PATH --rights ID` gives these files a licence." }
                (rows(&r.unmapped_tags, false))
            }
            h2 { "Takedowns and embargoes in force" }
            @if r.takedowns.is_empty() && r.embargoes.is_empty() { p.note { "None." } }
            table {
                @for w in r.takedowns.iter().chain(&r.embargoes) {
                    tr {
                        td { @if w.entity == "recording" { a href={"/recordings/" (w.entity_id)} { (w.name.as_deref().unwrap_or("?")) } } @else { (w.entity) " " (w.entity_id) " " (w.name.as_deref().unwrap_or("")) } }
                        td { @if w.takedown { "taken down" } @else { "embargo until " (w.embargo_until.as_deref().unwrap_or("lifted")) } }
                    }
                }
            }
            h2 { "Rights log (append-only)" }
            @if log.is_empty() { p.note { "No decision recorded." } }
            table {
                @for e in &log {
                    tr {
                        td.mono { (e.at) }
                        td { b { (e.action) } @if let Some(u) = &e.until { " until " (u) } }
                        td { (e.entity) " " (e.entity_id) " " (e.name.as_deref().unwrap_or("")) }
                        td { (e.reason.as_deref().unwrap_or("")) }
                        td { (e.reference.as_deref().unwrap_or("")) }
                    }
                }
            }
            p.note { "JSON: " a href="/api/rights" { "/api/rights" } ", " a href="/api/rights/log" { "/api/rights/log" } }
        },
    ))
}

async fn review(State(app): State<Arc<App>>, headers: axum::http::HeaderMap) -> PageResult {
    let full = app.sees_paths(&headers);
    let items = crate::redact_review(blocking(&app, |app| app.read(model::review)).await?, full);
    Ok(layout(
        "Review",
        "/review",
        html! {
            h1 { "Matches to review" }
            p.note { "Files musicark would not link on its own: several candidates, or evidence that disagrees. Decide with the CLI (`musicark match --review`)." }
            @if items.is_empty() { p { "Nothing to review." } }
            @for i in &items {
                div.match {
                    p { span.mono { (i.path.as_deref().unwrap_or(&i.content_id)) } @if let Some(c) = i.confidence { " · best confidence " (format!("{c:.2}")) } }
                    (recording_rows(&i.candidates))
                    @if let Some(e) = &i.evidence { p.evidence { (e) } }
                }
            }
        },
    ))
}
