//! Read-only summaries of the archive: the plain data behind `status`,
//! `report damaged` and, later, the JSON API.

use crate::params;
use serde::{Deserialize, Serialize};

use crate::{Db, Result, StoreError};

/// What the archive holds (`musicark status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Status {
    pub archive: String,
    pub schema_version: i64,
    /// Which engine holds the catalogue: `sqlite` or `postgres`.
    pub engine: String,
    /// Where the blobs are: the archive's `blobs/` folder or
    /// `s3://bucket/prefix` (see [`crate::Home::status`]).
    pub blobs: String,
    /// The work queue (`musicark worker`), by state.
    #[serde(default)]
    pub queue: crate::queue::QueueCounts,
    /// Every file recorded, whatever its outcome.
    pub files: u64,
    /// Files that decoded cleanly as audio.
    pub audio_files: u64,
    pub damaged: u64,
    pub unsupported: u64,
    /// Not audio (or not regular files): recorded, not ingested.
    pub skipped: u64,
    /// Unreadable; retried by the next ingest.
    pub errors: u64,
    /// Bytes of all readable files recorded.
    pub bytes: u64,
    /// Bytes of clean audio files.
    pub audio_bytes: u64,
    /// Distinct byte strings among audio, damaged and unsupported files.
    pub unique_contents: u64,
    /// Bytes held in the blob store (each distinct content once).
    pub stored_bytes: u64,
    /// Total decoded duration of clean audio files.
    pub duration_seconds: f64,
    pub codecs: Vec<CodecCount>,
    pub last_ingest: Option<RunSummary>,
    /// Fixity: what `musicark fsck` found and when.
    pub fixity: FixitySummary,
}

/// Every object fsck checks, as `objects(kind, key)`: one definition for
/// counting them and for choosing the next ones to check.
const FIXITY_OBJECTS: &str = "WITH objects(kind, key) AS ( \
       SELECT 'blob', content_id FROM contents WHERE stored = 1 \
       UNION SELECT 'blob', output_id FROM preserved WHERE tier <> 'original' \
       UNION SELECT 'pack', name FROM packs WHERE obsolete = 0 \
       UNION SELECT 'torrent', name FROM packs \
       UNION SELECT 'database', 'catalog.sqlite' \
       UNION SELECT 'search', 'search')";

/// What `status` and the dashboard show of fixity (`musicark fsck`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FixitySummary {
    /// When the last fsck run finished (`None`: never run).
    pub last_run: Option<String>,
    /// Objects whose last check found damage not (yet) repaired.
    pub damaged: u64,
    /// Objects (blobs, packs, torrents, the database, the search index)
    /// never checked.
    pub never_checked: u64,
    /// Objects checked at least once.
    pub checked: u64,
    /// The oldest check still standing: everything was checked since.
    pub oldest_check: Option<String>,
    pub repairs_logged: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CodecCount {
    pub codec: String,
    pub files: u64,
    pub bytes: u64,
    pub duration_seconds: f64,
}

/// The outcome of one ingest run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunSummary {
    pub run_id: i64,
    /// Files the walk found.
    pub seen: u64,
    /// Files skipped because they were recorded unchanged before.
    pub unchanged: u64,
    /// Files processed by this run.
    pub processed: u64,
    pub ok: u64,
    pub damaged: u64,
    pub unsupported: u64,
    pub skipped: u64,
    pub errors: u64,
    /// Files whose bytes were already known (duplicates, renames).
    pub known_content: u64,
    /// Blobs newly written to the store.
    pub blobs_stored: u64,
    /// Stored blobs found rotten (or missing) and restored from a file of
    /// this run with the same bytes.
    #[serde(default)]
    pub blobs_repaired: u64,
    /// With `--rights ID`: files whose own licence tag won over it, by
    /// licence.
    #[serde(default)]
    pub kept_own_licence: std::collections::BTreeMap<String, u64>,
    pub bytes_processed: u64,
    pub audio_seconds: f64,
    pub wall_seconds: f64,
}

/// One entry of `musicark report damaged`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DamagedEntry {
    pub path: String,
    pub status: String,
    pub reason: Option<String>,
    pub damage_kind: Option<String>,
    pub position_seconds: Option<f64>,
    pub decode_errors: u64,
    pub content_id: Option<String>,
    pub size: u64,
}

/// One entry of `musicark report transcodes`: a lossless file whose
/// spectrum shows a lossy encoder's cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TranscodeEntry {
    pub path: String,
    pub codec: Option<String>,
    pub sample_rate: Option<u32>,
    pub cutoff_hz: Option<f64>,
    pub confidence: Option<f64>,
    pub content_id: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DamagedReport {
    pub damaged: Vec<DamagedEntry>,
    pub unsupported: Vec<DamagedEntry>,
    pub errors: Vec<DamagedEntry>,
    /// Clean audio with warnings (tags that could not be read, say).
    pub warnings: Vec<DamagedEntry>,
}

impl Db {
    pub fn status(&self, archive_name: &str) -> Result<Status> {
        let count = |status: &str| -> Result<u64> {
            Ok(self.query_row(
                "SELECT count(*) FROM files WHERE status = ?1",
                params![status],
                |r| r.get::<_, i64>(0),
            )? as u64)
        };
        let files: i64 = self.query_row("SELECT count(*) FROM files", [], |r| r.get(0))?;
        let bytes: i64 = self.query_row(
            "SELECT coalesce(sum(size), 0) FROM files WHERE status != 'error'",
            [],
            |r| r.get(0),
        )?;
        let (audio_bytes, duration): (i64, f64) = self.query_row(
            "SELECT coalesce(sum(f.size), 0), coalesce(sum(c.duration_seconds), 0.0) \
             FROM files f JOIN contents c USING (content_id) WHERE f.status = 'ok'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (unique, stored_bytes): (i64, i64) = self.query_row(
            "SELECT count(*), coalesce(sum(CASE WHEN stored = 1 THEN size ELSE 0 END), 0) \
             FROM contents WHERE verdict != 'not_audio'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut stmt = self.prepare(
            "SELECT c.codec, count(*), sum(f.size), sum(c.duration_seconds) \
             FROM files f JOIN contents c USING (content_id) \
             WHERE f.status = 'ok' GROUP BY c.codec ORDER BY count(*) DESC, c.codec",
        )?;
        let codecs = stmt
            .query_map([], |r| {
                Ok(CodecCount {
                    codec: r
                        .get::<_, Option<String>>(0)?
                        .unwrap_or_else(|| "unknown".into()),
                    files: r.get::<_, i64>(1)? as u64,
                    bytes: r.get::<_, i64>(2)? as u64,
                    duration_seconds: r.get(3)?,
                })
            })?
            .collect::<crate::sql::Result<Vec<_>>>()?;
        let last: Option<String> = self
            .query_row(
                "SELECT summary FROM ingest_runs WHERE summary IS NOT NULL ORDER BY run_id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .ok();
        let last_ingest = match last {
            Some(s) => Some(serde_json::from_str(&s).map_err(|source| StoreError::Json {
                what: "ingest_runs.summary",
                source,
            })?),
            None => None,
        };
        Ok(Status {
            archive: archive_name.to_string(),
            schema_version: self.schema_version()?,
            engine: self.engine_name().to_string(),
            blobs: String::new(),
            queue: self.queue_counts(None)?,
            files: files as u64,
            audio_files: count("ok")?,
            damaged: count("damaged")?,
            unsupported: count("unsupported")?,
            skipped: count("skipped")?,
            errors: count("error")?,
            bytes: bytes as u64,
            audio_bytes: audio_bytes as u64,
            unique_contents: unique as u64,
            stored_bytes: stored_bytes as u64,
            duration_seconds: duration,
            codecs,
            last_ingest,
            fixity: self.fixity()?,
        })
    }

    /// Objects fsck checks: stored blobs, preserved copies, active packs,
    /// every pack's .torrent, the database and the search index.
    pub fn fixity_objects(&self) -> Result<u64> {
        Ok(self.query_row(
            &format!("{FIXITY_OBJECTS} SELECT count(*) FROM objects"),
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// The next `limit` objects for fsck, as (kind, key): never checked
    /// first, then the oldest check first, leaving out those checked since
    /// `since`; within one age, the database, torrents, blobs, packs, then
    /// the search index (a pack is checked through its torrent).
    pub fn fixity_due(&self, since: &str, limit: usize) -> Result<Vec<(String, String)>> {
        let mut stmt = self.prepare_cached(&format!(
            "{FIXITY_OBJECTS} \
             SELECT o.kind, o.key FROM objects o \
             LEFT JOIN fsck_checks c ON c.kind = o.kind AND c.key = o.key \
             WHERE c.checked_at IS NULL OR c.checked_at < ?1 \
             ORDER BY c.checked_at IS NOT NULL, c.checked_at, \
               CASE o.kind WHEN 'database' THEN 0 WHEN 'torrent' THEN 1 WHEN 'blob' THEN 2 \
                           WHEN 'pack' THEN 3 ELSE 4 END, o.key LIMIT ?2"
        ))?;
        let rows = stmt.query_map(crate::params![since, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<crate::sql::Result<_>>()?)
    }

    /// The fixity summary of `status` and the dashboard.
    pub fn fixity(&self) -> Result<FixitySummary> {
        let total = self.fixity_objects()?;
        let (checked, damaged, oldest): (i64, i64, Option<String>) = self.query_row(
            "SELECT count(*), coalesce(sum(CASE WHEN ok = 0 THEN 1 ELSE 0 END), 0), min(checked_at) FROM fsck_checks",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let last_run: Option<String> =
            self.query_row("SELECT max(finished_at) FROM fsck_runs", [], |r| r.get(0))?;
        let repairs: i64 = self.query_row("SELECT count(*) FROM repair_log", [], |r| r.get(0))?;
        Ok(FixitySummary {
            last_run,
            damaged: damaged as u64,
            never_checked: total.saturating_sub(checked as u64),
            checked: checked as u64,
            oldest_check: oldest,
            repairs_logged: repairs as u64,
        })
    }

    /// Lossless files that look transcoded from lossy sources, most
    /// confident first.
    pub fn transcode_report(&self) -> Result<Vec<TranscodeEntry>> {
        let mut stmt = self.prepare(
            "SELECT f.display_path, c.codec, c.sample_rate, c.cutoff_hz, c.bandwidth_confidence, \
                    c.content_id, f.size \
             FROM files f JOIN contents c USING (content_id) \
             WHERE c.lossless = 1 AND c.bandwidth = 'transcode' \
             ORDER BY c.bandwidth_confidence DESC, f.display_path",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TranscodeEntry {
                path: r.get(0)?,
                codec: r.get(1)?,
                sample_rate: r.get(2)?,
                cutoff_hz: r.get(3)?,
                confidence: r.get(4)?,
                content_id: r.get(5)?,
                size: r.get::<_, i64>(6)? as u64,
            })
        })?;
        Ok(rows.collect::<crate::sql::Result<Vec<_>>>()?)
    }

    pub fn damaged_report(&self) -> Result<DamagedReport> {
        let query = |filter: &str| -> Result<Vec<DamagedEntry>> {
            let sql = format!(
                "SELECT f.display_path, f.status, coalesce(f.reason, c.reason), c.damage_kind, \
                        c.damage_position, coalesce(c.decode_errors, 0), f.content_id, f.size, c.warnings \
                 FROM files f LEFT JOIN contents c USING (content_id) WHERE {filter} ORDER BY f.display_path"
            );
            let mut stmt = self.prepare(&sql)?;
            let rows = stmt.query_map([], |r| {
                let warnings: Option<String> = r.get(8)?;
                let mut reason: Option<String> = r.get(2)?;
                if reason.is_none() {
                    reason = warnings
                        .and_then(|w| serde_json::from_str::<Vec<String>>(&w).ok())
                        .map(|w| w.join("; "));
                }
                Ok(DamagedEntry {
                    path: r.get(0)?,
                    status: r.get(1)?,
                    reason,
                    damage_kind: r.get(3)?,
                    position_seconds: r.get(4)?,
                    decode_errors: r.get::<_, i64>(5)? as u64,
                    content_id: r.get(6)?,
                    size: r.get::<_, i64>(7)? as u64,
                })
            })?;
            Ok(rows.collect::<crate::sql::Result<Vec<_>>>()?)
        };
        Ok(DamagedReport {
            damaged: query("f.status = 'damaged'")?,
            unsupported: query("f.status = 'unsupported'")?,
            errors: query("f.status = 'error'")?,
            warnings: query("f.status = 'ok' AND c.warnings IS NOT NULL AND c.warnings != '[]'")?,
        })
    }
}
