//! Typed reads of `packs` and `pack_files`, the tables `pack` owns: what
//! is published, a torrent's record and its manifest rows.

use std::collections::HashMap;

use musicark_store::{params, sql::OptionalExtension};
use serde::Serialize;

use musicark_store::{Activity, Db};

use crate::PublishError;

/// Whether a copy of the recording is in an active torrent.
pub fn recording_published(db: &Db, recording_id: i64) -> Result<bool, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM pack_files f JOIN packs p USING (pack_id) \
             WHERE f.recording_id = ?1 AND p.obsolete = 0)",
        )?
        .query_row([recording_id], |r| r.get(0))?)
}

/// Each recording in an active audio torrent, with that torrent's v1
/// info-hash (each pair once).
pub fn published_recordings(db: &Db, mut f: impl FnMut(i64, &str)) -> Result<(), PublishError> {
    db.scan(
        "SELECT DISTINCT f.recording_id, p.btih FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
         WHERE p.kind = 'audio' AND p.obsolete = 0 AND f.recording_id IS NOT NULL AND p.btih IS NOT NULL",
        [],
        |r| {
            f(r.get(0)?, r.text(1)?.unwrap_or_default());
            Ok(())
        },
    )?;
    Ok(())
}

/// The active audio packs holding a copy of `recording_id`, by name.
pub fn audio_packs_of(db: &Db, recording_id: i64) -> Result<Vec<String>, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT DISTINCT p.name FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
             WHERE f.recording_id = ?1 AND p.kind = 'audio' AND p.obsolete = 0",
        )?
        .query_map([recording_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Whether a copy of any track of the release is in an active torrent.
pub fn release_published(db: &Db, release_id: i64) -> Result<bool, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tracks t JOIN pack_files f USING (recording_id) \
             JOIN packs p USING (pack_id) WHERE t.release_id = ?1 AND p.obsolete = 0)",
        )?
        .query_row([release_id], |r| r.get(0))?)
}

/// Every pack's id by its name.
pub fn ids_by_name(db: &Db) -> Result<HashMap<String, i64>, PublishError> {
    Ok(db
        .prepare_cached("SELECT name, pack_id FROM packs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

/// A pack's record: its name, when it was made, why it is obsolete, and
/// the hashes recorded for its files (what a download is checked against).
#[derive(Debug, Clone, Serialize)]
pub struct PackRecord {
    pub name: String,
    pub created_at: String,
    pub obsolete_reason: Option<String>,
    pub btih: Option<String>,
    pub btmh: Option<String>,
    pub manifest_sha256: String,
}

pub fn record(db: &Db, pack_id: i64) -> Result<Option<PackRecord>, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT name, created_at, obsolete_reason, btih, btmh, manifest_sha256 \
             FROM packs WHERE pack_id = ?1",
        )?
        .query_row([pack_id], |r| {
            Ok(PackRecord {
                name: r.get(0)?,
                created_at: r.get(1)?,
                obsolete_reason: r.get(2)?,
                btih: r.get(3)?,
                btmh: r.get(4)?,
                manifest_sha256: r.get(5)?,
            })
        })
        .optional()?)
}

/// How many files a pack's manifest lists.
pub fn file_count(db: &Db, pack_id: i64) -> Result<u64, PublishError> {
    Ok(db
        .prepare_cached("SELECT count(*) FROM pack_files WHERE pack_id = ?1")?
        .query_row([pack_id], |r| r.get::<_, i64>(0))?
        .max(0) as u64)
}

/// One file of a torrent's manifest.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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

/// A page of a pack's files, in torrent order.
pub fn files(
    db: &Db,
    pack_id: i64,
    limit: usize,
    offset: u64,
) -> Result<Vec<ManifestRow>, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT f.file_index, f.path, f.size, f.byte_offset, f.output_id, f.source_id, f.recording_id, \
                    r.title, r.artist_credit \
             FROM pack_files f LEFT JOIN recordings r USING (recording_id) \
             WHERE f.pack_id = ?1 ORDER BY f.file_index LIMIT ?2 OFFSET ?3",
        )?
        .query_map(
            params![pack_id, limit as i64, offset.min(i64::MAX as u64) as i64],
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
        .collect::<Result<_, _>>()?)
}

/// Packs published and made obsolete, newest first.
pub fn activity(db: &Db, limit: usize) -> Result<Vec<Activity>, PublishError> {
    Ok(db.activity(
        "SELECT at, kind, text FROM ( \
           SELECT created_at AS at, 'pack' AS kind, \
                  'published ' || name || ' (' || num_files || ' files)' AS text FROM packs \
           UNION ALL SELECT obsoleted_at, 'obsolete', name || ' obsolete: ' || coalesce(obsolete_reason, '') \
             FROM packs WHERE obsolete = 1 AND obsoleted_at IS NOT NULL) AS events \
         ORDER BY at DESC LIMIT ?1",
        limit,
    )?)
}

/// The size of the file at `path` in the pack `name`, when it has one.
pub fn file_size(db: &Db, name: &str, path: &str) -> Result<Option<u64>, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT f.size FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
             WHERE p.name = ?1 AND f.path = ?2",
        )?
        .query_row([name, path], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|n| n as u64))
}

/// Whether the pack `name`'s data may be served (as a BEP 19 web seed):
/// it exists and is not obsolete (replaced, or withdrawn for rights). A
/// pack listed under embargo is the caller's to refuse too (the list
/// knows it).
pub fn servable(db: &Db, name: &str) -> Result<bool, PublishError> {
    Ok(db
        .prepare_cached("SELECT obsolete FROM packs WHERE name = ?1")?
        .query_row([name], |r| r.get::<_, bool>(0))
        .optional()?
        .is_some_and(|obsolete| !obsolete))
}

/// What was published of a pack: the hashes a copy is checked against.
#[derive(Debug, Clone, Default)]
pub struct PublishedHashes {
    pub btih: Option<String>,
    pub btmh: Option<String>,
    /// Bytes of its .torrent file.
    pub torrent_size: i64,
    /// SHA-256 of its manifest, as the list states it.
    pub manifest_sha256: Option<String>,
}

/// The hashes published of the pack `name` (`None`: no such pack).
pub fn published_hashes(db: &Db, name: &str) -> Result<Option<PublishedHashes>, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT btih, btmh, torrent_size, manifest_sha256 FROM packs WHERE name = ?1",
        )?
        .query_row([name], |r| {
            Ok(PublishedHashes {
                btih: r.get(0)?,
                btmh: r.get(1)?,
                torrent_size: r.get(2)?,
                manifest_sha256: r.get(3)?,
            })
        })
        .optional()?)
}

/// The pack `name`'s files as (path, recorded BLAKE3), the manifest
/// among them, by path.
pub fn file_blake3s(db: &Db, name: &str) -> Result<Vec<(String, String)>, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT f.path, f.output_id FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
             WHERE p.name = ?1 ORDER BY f.path",
        )?
        .query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

/// Where a blob is published: a file of an active pack.
#[derive(Debug, Clone)]
pub struct Place {
    pub pack: String,
    pub btih: Option<String>,
    pub btmh: Option<String>,
    pub file_index: i64,
    pub path: String,
    pub size: i64,
}

/// The newest active pack's file whose bytes are the blob `output_id`.
pub fn newest_place_of(db: &Db, output_id: &str) -> Result<Option<Place>, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT p.name, p.btih, p.btmh, f.file_index, f.path, f.size FROM pack_files f \
             JOIN packs p ON p.pack_id = f.pack_id \
             WHERE f.output_id = ?1 AND p.obsolete = 0 ORDER BY p.pack_id DESC LIMIT 1",
        )?
        .query_row([output_id], |r| {
            Ok(Place {
                pack: r.get(0)?,
                btih: r.get(1)?,
                btmh: r.get(2)?,
                file_index: r.get(3)?,
                path: r.get(4)?,
                size: r.get(5)?,
            })
        })
        .optional()?)
}

/// Every active pack's file whose bytes are the blob `output_id`, as
/// (pack name, path).
pub fn active_places_of(db: &Db, output_id: &str) -> Result<Vec<(String, String)>, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT p.name, f.path FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
             WHERE f.output_id = ?1 AND p.obsolete = 0",
        )?
        .query_map([output_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}
