//! Typed reads of the catalogue's own tables for front ends: an artist,
//! a release and its tracks, a recording's brief, what an identifier
//! names. The web pages and the CLI compose these; they hold no SQL.

use musicark_store::{params, sql::OptionalExtension};
use serde::Serialize;

use crate::CatalogError;
use crate::ids::{self, Lookup};
use musicark_store::{Activity, Db};

/// A recording in a list: the columns every list shows.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RecordingBrief {
    pub recording_id: i64,
    pub mbid: Option<String>,
    pub title: String,
    pub artist_credit: Option<String>,
    pub length_ms: Option<i64>,
}

pub fn recording_brief(db: &Db, id: i64) -> Result<Option<RecordingBrief>, CatalogError> {
    Ok(db
        .prepare_cached(
            "SELECT mbid, title, artist_credit, length_ms FROM recordings WHERE recording_id = ?1",
        )?
        .query_row([id], |r| {
            Ok(RecordingBrief {
                recording_id: id,
                mbid: r.get(0)?,
                title: r.get(1)?,
                artist_credit: r.get(2)?,
                length_ms: r.get(3)?,
            })
        })
        .optional()?)
}

/// Every recording's id and MBID, in no set order.
pub fn scan_recordings(db: &Db, mut f: impl FnMut(i64, Option<&str>)) -> Result<(), CatalogError> {
    db.scan("SELECT recording_id, mbid FROM recordings", [], |r| {
        f(r.get(0)?, r.text(1)?);
        Ok(())
    })?;
    Ok(())
}

/// A recording's lowest ISRC, if it has any.
pub fn first_isrc(db: &Db, id: i64) -> Result<Option<String>, CatalogError> {
    Ok(db
        .prepare_cached("SELECT min(isrc) FROM isrcs WHERE recording_id = ?1")?
        .query_row([id], |r| r.get(0))?)
}

pub fn recording_exists(db: &Db, id: i64) -> Result<bool, CatalogError> {
    Ok(db
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM recordings WHERE recording_id = ?1)")?
        .query_row([id], |r| r.get(0))?)
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ArtistView {
    pub artist_id: i64,
    pub mbid: Option<String>,
    pub name: String,
    pub sort_name: Option<String>,
    pub country: Option<String>,
    pub kind: Option<String>,
}

pub fn artist(db: &Db, id: i64) -> Result<Option<ArtistView>, CatalogError> {
    Ok(db
        .prepare_cached(
            "SELECT mbid, name, sort_name, country, type FROM artists WHERE artist_id = ?1",
        )?
        .query_row([id], |r| {
            Ok(ArtistView {
                artist_id: id,
                mbid: r.get(0)?,
                name: r.get(1)?,
                sort_name: r.get(2)?,
                country: r.get(3)?,
                kind: r.get(4)?,
            })
        })
        .optional()?)
}

/// How many recordings credit the artist.
pub fn artist_recording_count(db: &Db, id: i64) -> Result<u64, CatalogError> {
    Ok(db
        .prepare_cached(
            "SELECT count(DISTINCT recording_id) FROM recording_artists WHERE artist_id = ?1",
        )?
        .query_row([id], |r| r.get::<_, i64>(0))?
        .max(0) as u64)
}

/// The first `limit` recordings crediting the artist, by title.
pub fn artist_recordings(db: &Db, id: i64, limit: usize) -> Result<Vec<i64>, CatalogError> {
    Ok(db
        .prepare_cached(
            "SELECT ra.recording_id FROM recording_artists ra JOIN recordings r USING (recording_id) \
             WHERE ra.artist_id = ?1 GROUP BY ra.recording_id, r.title ORDER BY r.title, ra.recording_id LIMIT ?2",
        )?
        .query_map(params![id, limit as i64], |r| r.get(0))?
        .collect::<musicark_store::sql::Result<_>>()?)
}

/// Artists credited on a recording, in credit order: (artist id, name).
pub fn recording_artists(db: &Db, id: i64) -> Result<Vec<(i64, String)>, CatalogError> {
    Ok(db
        .prepare_cached(
            "SELECT a.artist_id, a.name FROM recording_artists ra JOIN artists a USING (artist_id) \
             WHERE ra.recording_id = ?1 ORDER BY ra.position",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<musicark_store::sql::Result<_>>()?)
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReleaseView {
    pub release_id: i64,
    pub mbid: Option<String>,
    pub title: String,
    pub artist_credit: Option<String>,
    pub date: Option<String>,
    pub country: Option<String>,
    pub barcode: Option<String>,
    pub label: Option<String>,
    pub catalog_number: Option<String>,
}

pub fn release(db: &Db, id: i64) -> Result<Option<ReleaseView>, CatalogError> {
    Ok(db
        .prepare_cached(
            "SELECT mbid, title, artist_credit, date, country, barcode, label, catalog_number \
             FROM releases WHERE release_id = ?1",
        )?
        .query_row([id], |r| {
            Ok(ReleaseView {
                release_id: id,
                mbid: r.get(0)?,
                title: r.get(1)?,
                artist_credit: r.get(2)?,
                date: r.get(3)?,
                country: r.get(4)?,
                barcode: r.get(5)?,
                label: r.get(6)?,
                catalog_number: r.get(7)?,
            })
        })
        .optional()?)
}

/// A release's first `limit` tracks: (disc, position, recording id).
pub fn release_tracks(
    db: &Db,
    id: i64,
    limit: usize,
) -> Result<Vec<(i64, i64, i64)>, CatalogError> {
    Ok(db
        .prepare_cached(
            "SELECT disc, position, recording_id FROM tracks WHERE release_id = ?1 \
             ORDER BY disc, position LIMIT ?2",
        )?
        .query_map(params![id, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<musicark_store::sql::Result<_>>()?)
}

/// What an identifier names in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Recording(i64),
    Release(i64),
    Artist(i64),
}

/// Resolve `rec:N`, `artist:N`, `release:N`, a bare number (a
/// recording), an MBID (a recording, else a release, else an artist) or
/// an ISRC (its first recording). `Ok(None)`: it names nothing held.
pub fn resolve(db: &Db, text: &str) -> Result<Option<Named>, CatalogError> {
    let t = text.trim();
    for (prefix, make) in [
        ("artist:", Named::Artist as fn(i64) -> Named),
        ("release:", Named::Release),
    ] {
        if let Some(n) = t.strip_prefix(prefix) {
            return Ok(n.parse().ok().map(make));
        }
    }
    let one =
        |sql: &str, key: &dyn musicark_store::sql::Param| -> Result<Option<i64>, CatalogError> {
            Ok(db
                .prepare_cached(sql)?
                .query_row([key], |r| r.get(0))
                .optional()?)
        };
    let recording = match ids::classify(t) {
        Some(Lookup::Internal(n)) => one(
            "SELECT recording_id FROM recordings WHERE recording_id = ?1",
            &n,
        )?,
        Some(Lookup::Mbid(m)) => one("SELECT recording_id FROM recordings WHERE mbid = ?1", &m)?,
        Some(Lookup::Isrc(i)) => one(
            "SELECT recording_id FROM isrcs WHERE isrc = ?1 ORDER BY recording_id LIMIT 1",
            &i,
        )?,
        _ => None,
    };
    if let Some(r) = recording {
        return Ok(Some(Named::Recording(r)));
    }
    let mbid = t.to_ascii_lowercase();
    if let Some(n) = one("SELECT release_id FROM releases WHERE mbid = ?1", &mbid)? {
        return Ok(Some(Named::Release(n)));
    }
    Ok(one("SELECT artist_id FROM artists WHERE mbid = ?1", &mbid)?.map(Named::Artist))
}

/// The latest imports, newest first.
pub fn activity(db: &Db, limit: usize) -> Result<Vec<Activity>, CatalogError> {
    Ok(db.activity(
        "SELECT coalesce(finished_at, started_at), 'import', \
           source || ' ' || kind || ': ' || rows || ' rows, ' || rejects || ' rejected' \
         FROM imports ORDER BY 1 DESC LIMIT ?1",
        limit,
    )?)
}
