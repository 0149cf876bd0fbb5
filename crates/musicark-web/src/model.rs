//! What the pages and the API show, as plain typed data read from the
//! archive. No HTTP here: every function takes a connection and returns
//! the same types the API serialises and the pages render.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use musicark_catalog::{RecordingView, SearchHit, SearchIndex, browse};
use musicark_publish::locate::Location;
use musicark_publish::rights::{self as publish_rights, Entity};
use musicark_store::{Db, Home};
use musicark_swarm::health::Health;

use crate::WebError;

/// Most rows any list returns in one answer.
pub const MAX_ROWS: usize = 500;

/// A search hit with what the archive holds of it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchRow {
    #[serde(flatten)]
    pub hit: SearchHit,
    /// A preserved copy exists (for a release: of at least one track).
    pub preserved: bool,
    /// That copy is in an active torrent.
    pub published: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchResult {
    pub query: String,
    pub hits: Vec<SearchRow>,
}

/// A recording's badges: (preserved, published).
fn flags(db: &Db, recording_id: i64) -> Result<(bool, bool), WebError> {
    Ok((
        musicark_preserve::copies::recording_preserved(db, recording_id)?,
        musicark_publish::packs::recording_published(db, recording_id)?,
    ))
}

fn release_flags(db: &Db, release_id: i64) -> Result<(bool, bool), WebError> {
    Ok((
        musicark_preserve::copies::release_preserved(db, release_id)?,
        musicark_publish::packs::release_published(db, release_id)?,
    ))
}

/// Ranked catalogue search with preserved/published badges.
pub fn search(
    db: &Db,
    index: &SearchIndex,
    query: &str,
    limit: usize,
) -> Result<SearchResult, WebError> {
    let hits = musicark_catalog::search_in(db, index, query, limit)?;
    let mut rows = Vec::with_capacity(hits.len());
    for hit in hits {
        let (preserved, published) = if hit.kind == "recording" {
            flags(db, hit.id)?
        } else {
            release_flags(db, hit.id)?
        };
        rows.push(SearchRow {
            hit,
            preserved,
            published,
        });
    }
    Ok(SearchResult {
        query: query.to_string(),
        hits: rows,
    })
}

/// One ingested content's link to a recording, and why.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MatchView {
    pub content_id: String,
    /// One of the paths the content was ingested from.
    pub path: Option<String>,
    pub codec: Option<String>,
    /// linked | review | unmatched
    pub status: String,
    /// mbid | isrc | fingerprint | text
    pub method: Option<String>,
    pub confidence: Option<f64>,
    /// What agreed (and, for review, the candidates), as `match` recorded it.
    pub evidence: Option<String>,
}

/// A preserved copy: what `preserve` made or kept.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CopyView {
    pub source_id: String,
    pub tier: musicark_preserve::Tier,
    pub kbps: Option<i64>,
    /// The copy's BLAKE3.
    pub output_id: String,
    pub bytes: u64,
    pub duration: Option<f64>,
    pub source_codec: Option<String>,
    pub made_at: String,
    /// The source's rights (licence, where it was read, class).
    pub rights: musicark_publish::rights::ContentRights,
}

/// A published place of a copy, with the health of its torrent.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PlacedCopy {
    #[serde(flatten)]
    pub location: Location,
    pub seeders: Option<u64>,
    /// Never scraped counts as red.
    pub health: Health,
}

/// Rights recorded for a recording (`rights`, owned by publish).
pub use musicark_publish::rights::Recorded as RightsView;

/// Everything about one recording: the recording page and
/// `GET /api/recordings/{id}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RecordingPage {
    pub recording: RecordingView,
    pub matches: Vec<MatchView>,
    pub copies: Vec<CopyView>,
    pub places: Vec<PlacedCopy>,
    pub rights: Option<RightsView>,
    /// Takedowns, embargoes and reversals of this recording, oldest first.
    pub rights_log: Vec<musicark_publish::rights::LogEntry>,
}

/// Latest seeders of every active pack by name.
fn seeders_of(db: &Db, names: &[&str]) -> Result<Vec<Option<u64>>, WebError> {
    names
        .iter()
        .map(|n| Ok(musicark_swarm::health::latest_seeders(db, n)?))
        .collect()
}

pub fn rights(db: &Db, entity: Entity, id: i64) -> Result<Option<RightsView>, WebError> {
    Ok(publish_rights::recorded(db, entity, id)?)
}

pub fn recording(home: &Home, db: &Db, id: i64) -> Result<RecordingPage, WebError> {
    let recording = musicark_catalog::query::recording(db, id)?
        .ok_or_else(|| WebError::NotFound(format!("no recording {id}")))?;
    let mut matches = Vec::new();
    for l in musicark_identify::links::of_recording(db, id, 100)? {
        matches.push(MatchView {
            path: db.a_path_of(&l.content_id)?,
            codec: db.codec_of(&l.content_id)?,
            content_id: l.content_id,
            status: l.status,
            method: l.method,
            confidence: l.confidence,
            evidence: l.evidence,
        });
    }
    let mut copies = Vec::new();
    for c in musicark_preserve::copies::of_recording(db, id, 100)? {
        copies.push(CopyView {
            source_codec: db.codec_of(&c.source_id)?,
            rights: publish_rights::content_rights_of(db, &c.source_id)?,
            source_id: c.source_id,
            tier: c.tier,
            kbps: c.kbps,
            output_id: c.output_id,
            bytes: c.bytes,
            duration: c.duration,
            made_at: c.made_at,
        });
    }
    let locations = musicark_publish::locate::recordings(home, db, &[id])?;
    let names: Vec<&str> = locations.iter().map(|l| l.torrent.as_str()).collect();
    let seeders = seeders_of(db, &names)?;
    let places = locations
        .into_iter()
        .zip(seeders)
        .map(|(location, seeders)| PlacedCopy {
            location,
            seeders,
            health: Health::of(seeders.unwrap_or(0)),
        })
        .collect();
    Ok(RecordingPage {
        recording,
        matches,
        copies,
        places,
        rights: rights(db, Entity::Recording, id)?,
        rights_log: publish_rights::log_of(db, Entity::Recording, id)?,
    })
}

/// A recording in a list, with its badges.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RecordingRow {
    pub recording_id: i64,
    pub mbid: Option<String>,
    pub title: String,
    pub artist_credit: Option<String>,
    pub length_ms: Option<i64>,
    pub preserved: bool,
    pub published: bool,
}

fn recording_row(db: &Db, id: i64) -> Result<Option<RecordingRow>, WebError> {
    let Some(b) = browse::recording_brief(db, id)? else {
        return Ok(None);
    };
    let (preserved, published) = flags(db, id)?;
    Ok(Some(RecordingRow {
        recording_id: id,
        mbid: b.mbid,
        title: b.title,
        artist_credit: b.artist_credit,
        length_ms: b.length_ms,
        preserved,
        published,
    }))
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ArtistPage {
    #[serde(flatten)]
    pub artist: browse::ArtistView,
    /// Recordings credited to the artist (at most [`MAX_ROWS`]).
    pub recordings: Vec<RecordingRow>,
    pub recordings_total: u64,
}

pub fn artist(db: &Db, id: i64) -> Result<ArtistPage, WebError> {
    let artist =
        browse::artist(db, id)?.ok_or_else(|| WebError::NotFound(format!("no artist {id}")))?;
    let mut recordings = Vec::new();
    for rid in browse::artist_recordings(db, id, MAX_ROWS)? {
        recordings.extend(recording_row(db, rid)?);
    }
    Ok(ArtistPage {
        artist,
        recordings,
        recordings_total: browse::artist_recording_count(db, id)?,
    })
}

/// Artists credited on a recording, with their internal ids (for links).
pub fn recording_artist_ids(db: &Db, id: i64) -> Result<Vec<(i64, String)>, WebError> {
    Ok(browse::recording_artists(db, id)?)
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TrackRow {
    pub disc: i64,
    pub position: i64,
    pub recording: RecordingRow,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReleasePage {
    #[serde(flatten)]
    pub release: browse::ReleaseView,
    pub tracks: Vec<TrackRow>,
}

pub fn release(db: &Db, id: i64) -> Result<ReleasePage, WebError> {
    let release =
        browse::release(db, id)?.ok_or_else(|| WebError::NotFound(format!("no release {id}")))?;
    let mut tracks = Vec::new();
    for (disc, position, rid) in browse::release_tracks(db, id, MAX_ROWS)? {
        if let Some(recording) = recording_row(db, rid)? {
            tracks.push(TrackRow {
                disc,
                position,
                recording,
            });
        }
    }
    Ok(ReleasePage { release, tracks })
}

/// Filters of the torrents page and `GET /api/torrents`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TorrentFilter {
    /// `audio` or `metadata`.
    pub kind: Option<String>,
    /// A popularity band (`top1`, `top10`, …).
    pub band: Option<String>,
    /// `red`, `amber` or `green`.
    pub health: Option<String>,
    /// Include obsolete torrents (default: only active ones).
    pub obsolete: Option<bool>,
    /// Words the torrent's name must contain.
    pub q: Option<String>,
}

/// A torrent of the list, with its health colour.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TorrentRow {
    pub pack_id: i64,
    #[serde(flatten)]
    pub entry: musicark_publish::list::ListEntry,
    /// Never scraped counts as red.
    pub health: Health,
}

/// Every torrent as the list shows it (active and obsolete), with ids.
pub fn torrents(home: &Home, db: &Db) -> Result<Vec<TorrentRow>, WebError> {
    let entries = musicark_publish::list::entries(home, db)?;
    let ids = musicark_publish::packs::ids_by_name(db)?;
    Ok(entries
        .into_iter()
        .filter_map(|entry| {
            let name = entry
                .display_name
                .strip_suffix(".torrent")
                .unwrap_or(&entry.display_name);
            let pack_id = *ids.get(name)?;
            Some(TorrentRow {
                pack_id,
                health: Health::of(entry.seeders),
                entry,
            })
        })
        .collect())
}

/// Reject filters outside their documented values. The API is strict;
/// the page's form sends empty strings for "any".
pub fn check_filter(f: &TorrentFilter, strict: bool) -> Result<(), WebError> {
    let allowed = |v: Option<&str>, set: &[&str], what: &str| match v {
        None => Ok(()),
        Some("") if !strict => Ok(()),
        Some(x) if set.contains(&x) => Ok(()),
        Some(x) => Err(WebError::BadRequest(format!(
            "{what}: expected one of {set:?}, not {x:?}"
        ))),
    };
    allowed(f.kind.as_deref(), &["audio", "metadata"], "kind")?;
    let healths = Health::ALL.map(Health::as_str);
    allowed(f.health.as_deref(), &healths, "health")?;
    if f.band.as_deref().is_some_and(|b| b.chars().count() > 40) {
        return Err(WebError::BadRequest(
            "band longer than 40 characters".into(),
        ));
    }
    if f.q
        .as_deref()
        .is_some_and(|q| q.chars().count() > crate::MAX_QUERY_CHARS)
    {
        return Err(WebError::BadRequest(format!(
            "q longer than {} characters",
            crate::MAX_QUERY_CHARS
        )));
    }
    Ok(())
}

pub fn filter_torrents(rows: &[TorrentRow], f: &TorrentFilter) -> Vec<TorrentRow> {
    let words: Vec<String> =
        f.q.as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
    rows.iter()
        .filter(|t| f.obsolete.unwrap_or(false) || !t.entry.obsolete)
        .filter(|t| match f.kind.as_deref() {
            Some("metadata") => t.entry.is_metadata,
            Some("audio") => !t.entry.is_metadata,
            _ => true,
        })
        .filter(|t| {
            f.band
                .as_deref()
                .is_none_or(|b| b.is_empty() || t.entry.popularity_band == b)
        })
        .filter(|t| {
            f.health
                .as_deref()
                .is_none_or(|h| h.is_empty() || t.health.as_str() == h)
        })
        .filter(|t| {
            let name = t.entry.display_name.to_lowercase();
            words.iter().all(|w| name.contains(w))
        })
        .take(MAX_ROWS * 4)
        .cloned()
        .collect()
}

/// One file of a torrent's manifest.
pub use musicark_publish::packs::ManifestRow;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TorrentPage {
    pub torrent: TorrentRow,
    pub obsolete_reason: Option<String>,
    pub created_at: String,
    /// Files from `offset`, at most [`MAX_ROWS`].
    pub files: Vec<ManifestRow>,
    pub offset: u64,
    pub files_total: u64,
}

pub fn torrent(
    home: &Home,
    db: &Db,
    rows: &[TorrentRow],
    pack_id: i64,
    offset: u64,
) -> Result<TorrentPage, WebError> {
    let torrent = rows
        .iter()
        .find(|t| t.pack_id == pack_id)
        .cloned()
        .ok_or_else(|| WebError::NotFound(format!("no torrent {pack_id}")))?;
    let _ = home;
    let record = pack_record(db, pack_id)?;
    let files = musicark_publish::packs::files(db, pack_id, MAX_ROWS, offset)?;
    Ok(TorrentPage {
        torrent,
        obsolete_reason: record.obsolete_reason,
        created_at: record.created_at,
        files,
        offset,
        files_total: musicark_publish::packs::file_count(db, pack_id)?,
    })
}

/// A pack's record by id: its name (the only way a request reaches a
/// file of `torrents/`: names come from the database, never from the
/// URL) and the hashes recorded for its files.
pub fn pack_record(db: &Db, pack_id: i64) -> Result<musicark_publish::packs::PackRecord, WebError> {
    musicark_publish::packs::record(db, pack_id)?
        .ok_or_else(|| WebError::NotFound(format!("no torrent {pack_id}")))
}

/// Something that happened to the archive.
pub use musicark_store::Activity;

/// The latest events of every kind, newest first: each table's owner
/// reports its own.
pub fn activity(db: &Db, limit: usize) -> Result<Vec<Activity>, WebError> {
    let mut all = db.ingest_activity(limit)?;
    all.extend(browse::activity(db, limit)?);
    all.extend(musicark_publish::packs::activity(db, limit)?);
    all.extend(musicark_swarm::health::activity(db, limit)?);
    all.sort_by(|a, b| b.at.cmp(&a.at));
    all.truncate(limit);
    Ok(all)
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Dashboard {
    pub status: musicark_store::Status,
    pub coverage: musicark_publish::coverage::Coverage,
    /// The federated figures, once the archive follows a publisher.
    pub federation: Option<musicark_follow::view::FederatedCoverage>,
    pub health: musicark_swarm::health::Summary,
    pub activity: Vec<Activity>,
}

/// A content waiting for a decision, with its candidates.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReviewItem {
    pub content_id: String,
    pub path: Option<String>,
    pub confidence: Option<f64>,
    pub evidence: Option<String>,
    pub candidates: Vec<RecordingRow>,
}

pub fn review(db: &Db) -> Result<Vec<ReviewItem>, WebError> {
    let mut out = Vec::new();
    for l in musicark_identify::links::review_queue(db, MAX_ROWS)? {
        let mut candidates = Vec::new();
        for id in musicark_identify::links::candidate_ids(l.evidence.as_deref().unwrap_or(""))
            .into_iter()
            .take(20)
        {
            candidates.extend(recording_row(db, id)?);
        }
        out.push(ReviewItem {
            path: db.a_path_of(&l.content_id)?,
            content_id: l.content_id,
            confidence: l.confidence,
            evidence: l.evidence,
            candidates,
        });
    }
    Ok(out)
}

/// What an action on a recording's rights asks: the same decision as
/// the CLI's `takedown`, `embargo` and their reversal, applied by the
/// same use case ([`musicark_publish::rights::apply`]).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RightsAction {
    pub recording_id: i64,
    pub action: publish_rights::Action,
    /// For `embargo`: the first day it may be published, `YYYY-MM-DD`
    /// (none: until lifted).
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub until: Option<String>,
    /// Why.
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
    /// The request's reference (a ticket, a letter).
    #[schemars(length(max = 500))]
    pub reference: Option<String>,
}

/// What an action did: the rights now recorded, and the repack it caused
/// (as `musicark takedown` prints it).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RightsApplied {
    #[serde(flatten)]
    pub rights: RightsView,
    pub log: publish_rights::LogEntry,
    /// Torrents made obsolete: (name, why).
    pub obsoleted: Vec<(String, String)>,
    /// Replacement torrents built.
    pub packed: Vec<String>,
}

/// Apply a takedown or an embargo (or their reversal): the shared use
/// case records it and repacks at once, exactly as the CLI does.
pub fn apply_rights(home: &Home, a: &RightsAction) -> Result<RightsApplied, WebError> {
    for (what, text) in [("reason", &a.reason), ("reference", &a.reference)] {
        if text.as_deref().is_some_and(|r| r.chars().count() > 500) {
            return Err(WebError::BadRequest(format!(
                "{what} longer than 500 characters"
            )));
        }
    }
    let decided = publish_rights::apply(
        home,
        &publish_rights::Decision {
            action: a.action,
            entity: Entity::Recording,
            entity_id: a.recording_id,
            // `until` means something for an embargo only; the API has
            // always ignored it elsewhere.
            until: a
                .until
                .as_deref()
                .filter(|_| a.action == publish_rights::Action::Embargo),
            reason: a.reason.as_deref(),
            reference: a.reference.as_deref(),
        },
    )
    .map_err(|e| match e {
        musicark_publish::PublishError::Invalid(m) => WebError::BadRequest(m),
        musicark_publish::PublishError::NotFound(m) => WebError::NotFound(m),
        musicark_publish::PublishError::Store(musicark_store::StoreError::Locked { .. }) => {
            WebError::Busy("the archive is busy: another process is writing it".into())
        }
        e => e.into(),
    })?;
    let db = home.db_read_only()?;
    Ok(RightsApplied {
        rights: rights(&db, Entity::Recording, a.recording_id)?
            .ok_or_else(|| WebError::Internal("rights not recorded".into()))?,
        log: decided.log,
        obsoleted: decided.pack.obsoleted,
        packed: decided.pack.packs.into_iter().map(|p| p.name).collect(),
    })
}
