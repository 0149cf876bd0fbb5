//! What the pages and the API show, as plain typed data read from the
//! archive. No HTTP here: every function takes a connection and returns
//! the same types the API serialises and the pages render.

use rusqlite::OptionalExtension;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use musicark_catalog::{RecordingView, SearchHit, SearchIndex};
use musicark_publish::locate::Location;
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

/// Flags of many recordings at once: (preserved, published).
fn flags(db: &Db, recording_id: i64) -> Result<(bool, bool), WebError> {
    let preserved: bool = db
        .conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM preserved WHERE recording_id = ?1)")?
        .query_row([recording_id], |r| r.get(0))?;
    let published: bool = db
        .conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM pack_files f JOIN packs p USING (pack_id) \
             WHERE f.recording_id = ?1 AND p.obsolete = 0)",
        )?
        .query_row([recording_id], |r| r.get(0))?;
    Ok((preserved, published))
}

fn release_flags(db: &Db, release_id: i64) -> Result<(bool, bool), WebError> {
    let preserved: bool = db
        .conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tracks t JOIN preserved p USING (recording_id) \
             WHERE t.release_id = ?1)",
        )?
        .query_row([release_id], |r| r.get(0))?;
    let published: bool = db
        .conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tracks t JOIN pack_files f USING (recording_id) \
             JOIN packs p USING (pack_id) WHERE t.release_id = ?1 AND p.obsolete = 0)",
        )?
        .query_row([release_id], |r| r.get(0))?;
    Ok((preserved, published))
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
    /// original | opus | lossless
    pub tier: String,
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

/// Rights recorded for a recording.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RightsView {
    pub statement: Option<String>,
    pub license: Option<String>,
    pub embargo: bool,
    pub embargo_until: Option<String>,
    pub takedown: bool,
    pub source: Option<String>,
}

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
    let mut out = Vec::with_capacity(names.len());
    let mut stmt = db.conn.prepare_cached(
        "SELECT max(s.seeders) FROM packs p JOIN scrapes s \
           ON (s.info_hash = p.btih OR s.info_hash = substr(p.btmh, 1, 40)) \
         WHERE p.name = ?1 AND s.error IS NULL AND s.scraped_at = ( \
           SELECT max(t.scraped_at) FROM scrapes t WHERE t.info_hash = s.info_hash \
             AND t.tracker = s.tracker AND t.error IS NULL)",
    )?;
    for n in names {
        let v: Option<i64> = stmt.query_row([n], |r| r.get(0))?;
        out.push(v.map(|v| v.max(0) as u64));
    }
    Ok(out)
}

pub fn rights(db: &Db, entity: &str, id: i64) -> Result<Option<RightsView>, WebError> {
    Ok(db
        .conn
        .prepare_cached(
            "SELECT statement, license, embargo, embargo_until, takedown, source FROM rights \
             WHERE entity = ?1 AND entity_id = ?2",
        )?
        .query_row(rusqlite::params![entity, id], |r| {
            Ok(RightsView {
                statement: r.get(0)?,
                license: r.get(1)?,
                embargo: r.get::<_, i64>(2)? != 0,
                embargo_until: r.get(3)?,
                takedown: r.get::<_, i64>(4)? != 0,
                source: r.get(5)?,
            })
        })
        .optional()?)
}

pub fn recording(home: &Home, db: &Db, id: i64) -> Result<RecordingPage, WebError> {
    let recording = musicark_catalog::query::recording(db, id)?
        .ok_or_else(|| WebError::NotFound(format!("no recording {id}")))?;
    let matches = db
        .conn
        .prepare_cached(
            "SELECT m.content_id, (SELECT display_path FROM files f WHERE f.content_id = m.content_id \
                ORDER BY f.file_id LIMIT 1), c.codec, m.status, m.method, m.confidence, m.evidence \
             FROM matches m LEFT JOIN contents c USING (content_id) WHERE m.recording_id = ?1 \
             ORDER BY m.content_id LIMIT 100",
        )?
        .query_map([id], |r| {
            Ok(MatchView {
                content_id: r.get(0)?,
                path: r.get(1)?,
                codec: r.get(2)?,
                status: r.get(3)?,
                method: r.get(4)?,
                confidence: r.get(5)?,
                evidence: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let copies = db
        .conn
        .prepare_cached(
            "SELECT p.source_id, p.tier, p.kbps, p.output_id, p.bytes, p.duration, c.codec, p.made_at \
             FROM preserved p LEFT JOIN contents c ON c.content_id = p.source_id \
             WHERE p.recording_id = ?1 ORDER BY p.made_at LIMIT 100",
        )?
        .query_map([id], |r| {
            Ok(CopyView {
                source_id: r.get(0)?,
                tier: r.get(1)?,
                kbps: r.get(2)?,
                output_id: r.get(3)?,
                bytes: r.get::<_, i64>(4)?.max(0) as u64,
                duration: r.get(5)?,
                source_codec: r.get(6)?,
                made_at: r.get(7)?,
                rights: musicark_publish::rights::decide(None, None, None, None),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut copies = copies;
    for c in &mut copies {
        c.rights = musicark_publish::rights::content_rights_of(db, &c.source_id)?;
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
        rights: rights(db, "recording", id)?,
        rights_log: musicark_publish::rights::log_of(db, "recording", id)?,
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
    let row = db
        .conn
        .prepare_cached(
            "SELECT mbid, title, artist_credit, length_ms FROM recordings WHERE recording_id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })
        .optional()?;
    let Some((mbid, title, artist_credit, length_ms)) = row else {
        return Ok(None);
    };
    let (preserved, published) = flags(db, id)?;
    Ok(Some(RecordingRow {
        recording_id: id,
        mbid,
        title,
        artist_credit,
        length_ms,
        preserved,
        published,
    }))
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ArtistPage {
    pub artist_id: i64,
    pub mbid: Option<String>,
    pub name: String,
    pub sort_name: Option<String>,
    pub country: Option<String>,
    pub kind: Option<String>,
    /// Recordings credited to the artist (at most [`MAX_ROWS`]).
    pub recordings: Vec<RecordingRow>,
    pub recordings_total: u64,
}

pub fn artist(db: &Db, id: i64) -> Result<ArtistPage, WebError> {
    let base = db
        .conn
        .prepare_cached(
            "SELECT mbid, name, sort_name, country, type FROM artists WHERE artist_id = ?1",
        )?
        .query_row([id], |r| {
            Ok(ArtistPage {
                artist_id: id,
                mbid: r.get(0)?,
                name: r.get(1)?,
                sort_name: r.get(2)?,
                country: r.get(3)?,
                kind: r.get(4)?,
                recordings: vec![],
                recordings_total: 0,
            })
        })
        .optional()?;
    let mut page = base.ok_or_else(|| WebError::NotFound(format!("no artist {id}")))?;
    page.recordings_total = db
        .conn
        .prepare_cached(
            "SELECT count(DISTINCT recording_id) FROM recording_artists WHERE artist_id = ?1",
        )?
        .query_row([id], |r| r.get::<_, i64>(0))?
        .max(0) as u64;
    let ids: Vec<i64> = db
        .conn
        .prepare_cached(
            "SELECT DISTINCT ra.recording_id FROM recording_artists ra JOIN recordings r USING (recording_id) \
             WHERE ra.artist_id = ?1 ORDER BY r.title, ra.recording_id LIMIT ?2",
        )?
        .query_map(rusqlite::params![id, MAX_ROWS as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for rid in ids {
        page.recordings.extend(recording_row(db, rid)?);
    }
    Ok(page)
}

/// Artists credited on a recording, with their internal ids (for links).
pub fn recording_artist_ids(db: &Db, id: i64) -> Result<Vec<(i64, String)>, WebError> {
    Ok(db
        .conn
        .prepare_cached(
            "SELECT a.artist_id, a.name FROM recording_artists ra JOIN artists a USING (artist_id) \
             WHERE ra.recording_id = ?1 ORDER BY ra.position",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TrackRow {
    pub disc: i64,
    pub position: i64,
    pub recording: RecordingRow,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReleasePage {
    pub release_id: i64,
    pub mbid: Option<String>,
    pub title: String,
    pub artist_credit: Option<String>,
    pub date: Option<String>,
    pub country: Option<String>,
    pub barcode: Option<String>,
    pub label: Option<String>,
    pub catalog_number: Option<String>,
    pub tracks: Vec<TrackRow>,
}

pub fn release(db: &Db, id: i64) -> Result<ReleasePage, WebError> {
    let base = db
        .conn
        .prepare_cached(
            "SELECT mbid, title, artist_credit, date, country, barcode, label, catalog_number \
             FROM releases WHERE release_id = ?1",
        )?
        .query_row([id], |r| {
            Ok(ReleasePage {
                release_id: id,
                mbid: r.get(0)?,
                title: r.get(1)?,
                artist_credit: r.get(2)?,
                date: r.get(3)?,
                country: r.get(4)?,
                barcode: r.get(5)?,
                label: r.get(6)?,
                catalog_number: r.get(7)?,
                tracks: vec![],
            })
        })
        .optional()?;
    let mut page = base.ok_or_else(|| WebError::NotFound(format!("no release {id}")))?;
    let rows: Vec<(i64, i64, i64)> = db
        .conn
        .prepare_cached(
            "SELECT disc, position, recording_id FROM tracks WHERE release_id = ?1 \
             ORDER BY disc, position LIMIT ?2",
        )?
        .query_map(rusqlite::params![id, MAX_ROWS as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    for (disc, position, rid) in rows {
        if let Some(recording) = recording_row(db, rid)? {
            page.tracks.push(TrackRow {
                disc,
                position,
                recording,
            });
        }
    }
    Ok(page)
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
    let ids: std::collections::HashMap<String, i64> = db
        .conn
        .prepare("SELECT name, pack_id FROM packs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
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
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ManifestRow {
    pub file_index: i64,
    pub path: String,
    pub size: u64,
    pub byte_offset: u64,
    /// BLAKE3 of the file.
    pub blake3: String,
    pub source_id: Option<String>,
    pub recording_id: Option<i64>,
    pub title: Option<String>,
    pub artist_credit: Option<String>,
}

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
    let (created_at, obsolete_reason): (String, Option<String>) = db
        .conn
        .prepare_cached("SELECT created_at, obsolete_reason FROM packs WHERE pack_id = ?1")?
        .query_row([pack_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let files_total: i64 = db
        .conn
        .prepare_cached("SELECT count(*) FROM pack_files WHERE pack_id = ?1")?
        .query_row([pack_id], |r| r.get(0))?;
    let files = db
        .conn
        .prepare_cached(
            "SELECT f.file_index, f.path, f.size, f.byte_offset, f.output_id, f.source_id, f.recording_id, \
                    r.title, r.artist_credit \
             FROM pack_files f LEFT JOIN recordings r USING (recording_id) \
             WHERE f.pack_id = ?1 ORDER BY f.file_index LIMIT ?2 OFFSET ?3",
        )?
        .query_map(
            rusqlite::params![pack_id, MAX_ROWS as i64, offset.min(i64::MAX as u64) as i64],
            |r| {
                Ok(ManifestRow {
                    file_index: r.get(0)?,
                    path: r.get(1)?,
                    size: r.get::<_, i64>(2)?.max(0) as u64,
                    byte_offset: r.get::<_, i64>(3)?.max(0) as u64,
                    blake3: r.get(4)?,
                    source_id: r.get(5)?,
                    recording_id: r.get(6)?,
                    title: r.get(7)?,
                    artist_credit: r.get(8)?,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok(TorrentPage {
        torrent,
        obsolete_reason,
        created_at,
        files,
        offset,
        files_total: files_total.max(0) as u64,
    })
}

/// The name of a pack by id (the only way a request reaches a file of
/// `torrents/`: names come from the database, never from the URL).
pub fn pack_name(db: &Db, pack_id: i64) -> Result<String, WebError> {
    Ok(pack_hashes(db, pack_id)?.name)
}

/// A pack's name and the hashes the archive recorded for its files.
pub struct PackHashes {
    pub name: String,
    pub btih: Option<String>,
    pub btmh: Option<String>,
    pub manifest_sha256: String,
}

pub fn pack_hashes(db: &Db, pack_id: i64) -> Result<PackHashes, WebError> {
    db.conn
        .prepare_cached("SELECT name, btih, btmh, manifest_sha256 FROM packs WHERE pack_id = ?1")?
        .query_row([pack_id], |r| {
            Ok(PackHashes {
                name: r.get(0)?,
                btih: r.get(1)?,
                btmh: r.get(2)?,
                manifest_sha256: r.get(3)?,
            })
        })
        .optional()?
        .ok_or_else(|| WebError::NotFound(format!("no torrent {pack_id}")))
}

/// Something that happened to the archive.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Activity {
    pub at: String,
    /// ingest | import | pack | obsolete | scrape
    pub kind: String,
    pub text: String,
}

pub fn activity(db: &Db, limit: usize) -> Result<Vec<Activity>, WebError> {
    let sql = "SELECT at, kind, text FROM ( \
        SELECT coalesce(finished_at, started_at) AS at, 'ingest' AS kind, \
               'ingest run ' || run_id || CASE WHEN finished_at IS NULL THEN ' (interrupted or running)' ELSE '' END || ': ' || roots AS text \
          FROM ingest_runs \
        UNION ALL SELECT coalesce(finished_at, started_at), 'import', \
               source || ' ' || kind || ': ' || rows || ' rows, ' || rejects || ' rejected' FROM imports \
        UNION ALL SELECT created_at, 'pack', 'published ' || name || ' (' || num_files || ' files)' FROM packs \
        UNION ALL SELECT obsoleted_at, 'obsolete', name || ' obsolete: ' || coalesce(obsolete_reason, '') \
          FROM packs WHERE obsolete = 1 AND obsoleted_at IS NOT NULL \
        UNION ALL SELECT scraped_at, 'scrape', 'scrape of ' || count(DISTINCT info_hash) || ' hashes at ' \
               || count(DISTINCT tracker) || ' trackers' || CASE WHEN count(error) > 0 THEN ', ' || count(error) || ' errors' ELSE '' END \
          FROM scrapes GROUP BY scraped_at \
      ) ORDER BY at DESC LIMIT ?1";
    Ok(db
        .conn
        .prepare_cached(sql)?
        .query_map([limit as i64], |r| {
            Ok(Activity {
                at: r.get(0)?,
                kind: r.get(1)?,
                text: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Dashboard {
    pub status: musicark_store::Status,
    pub coverage: musicark_publish::coverage::Coverage,
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

/// A review row: content, a path, best confidence, evidence.
type ReviewRow = (String, Option<String>, Option<f64>, Option<String>);

/// The candidates `match` appends to its evidence: `… (candidates: [3, 7])`.
fn candidate_ids(evidence: &str) -> Vec<i64> {
    evidence
        .rsplit_once("(candidates: [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| {
            list.split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

pub fn review(db: &Db) -> Result<Vec<ReviewItem>, WebError> {
    let rows: Vec<ReviewRow> = db
        .conn
        .prepare_cached(
            "SELECT m.content_id, (SELECT display_path FROM files f WHERE f.content_id = m.content_id \
                ORDER BY f.file_id LIMIT 1), m.confidence, m.evidence \
             FROM matches m WHERE m.status = 'review' ORDER BY 2 LIMIT ?1",
        )?
        .query_map([MAX_ROWS as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (content_id, path, confidence, evidence) in rows {
        let mut candidates = Vec::new();
        for id in candidate_ids(evidence.as_deref().unwrap_or(""))
            .into_iter()
            .take(20)
        {
            candidates.extend(recording_row(db, id)?);
        }
        out.push(ReviewItem {
            content_id,
            path,
            confidence,
            evidence,
            candidates,
        });
    }
    Ok(out)
}

/// What to do to a recording's publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RightsVerb {
    /// Never publish it again; the next `pack` obsoletes the torrents
    /// holding it and builds replacements.
    Takedown,
    /// Reverse a takedown.
    Reinstate,
    /// Withhold it until a date (or until lifted).
    Embargo,
    /// End an embargo.
    Lift,
}

/// What an action on a recording's rights asks. Recorded, like the
/// CLI's `takedown` and `embargo`, in the append-only rights log.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RightsAction {
    pub recording_id: i64,
    pub action: RightsVerb,
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

/// Record a takedown or an embargo (or their reversal) in `rights` and the
/// rights log. The next `pack` leaves the recording out and obsoletes the
/// torrents holding it.
pub fn apply_rights(db: &mut Db, a: &RightsAction) -> Result<RightsView, WebError> {
    let exists: bool = db
        .conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM recordings WHERE recording_id = ?1)")?
        .query_row([a.recording_id], |r| r.get(0))?;
    if !exists {
        return Err(WebError::NotFound(format!(
            "no recording {}",
            a.recording_id
        )));
    }
    for (what, text) in [("reason", &a.reason), ("reference", &a.reference)] {
        if text.as_deref().is_some_and(|r| r.chars().count() > 500) {
            return Err(WebError::BadRequest(format!(
                "{what} longer than 500 characters"
            )));
        }
    }
    let action = match a.action {
        RightsVerb::Takedown => "takedown",
        RightsVerb::Reinstate => "reinstate",
        RightsVerb::Embargo => "embargo",
        RightsVerb::Lift => "lift",
    };
    let now = musicark_store::clock::now_seconds();
    // `record` checks the date (a bad one is the caller's mistake: 400).
    musicark_publish::rights::record(
        db,
        &musicark_publish::rights::Decision {
            action,
            entity: "recording",
            entity_id: a.recording_id,
            until: if a.action == RightsVerb::Embargo {
                a.until.as_deref()
            } else {
                None
            },
            reason: a.reason.as_deref(),
            reference: a.reference.as_deref(),
        },
        &now,
    )
    .map_err(|e| match e {
        musicark_publish::PublishError::Invalid(m) => WebError::BadRequest(m),
        e => e.into(),
    })?;
    rights(db, "recording", a.recording_id)?
        .ok_or_else(|| WebError::Internal("rights not recorded".into()))
}
