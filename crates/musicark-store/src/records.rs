//! Rows written and read by ingest: the work queue (`pending`), the files
//! found (`files`) and the bytes analysed (`contents`).
//!
//! *Invariant*: a file row and the removal of its `pending` row are written
//! in one transaction, after its blob (if any) is durable; so after any
//! crash a rerun finds every file either recorded whole or still to do.

use crate::params;
use crate::sql::OptionalExtension;

use crate::{Db, Result};

/// A file as the walk saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey {
    /// The OS path's raw bytes (paths need not be UTF-8).
    pub path: Vec<u8>,
    pub display_path: String,
    pub size: u64,
    pub mtime_ns: i64,
}

/// Per-file outcome of ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Audio that decoded cleanly.
    Ok,
    Damaged,
    Unsupported,
    /// Not audio, or not a regular file: recorded, not an error.
    Skipped,
    /// Could not be read at all (permissions, vanished, symlink loop);
    /// retried by every later ingest.
    Error,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Ok => "ok",
            FileStatus::Damaged => "damaged",
            FileStatus::Unsupported => "unsupported",
            FileStatus::Skipped => "skipped",
            FileStatus::Error => "error",
        }
    }
}

/// The analysis of one byte string, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentRecord {
    pub content_id: String,
    pub sha256: String,
    pub size: u64,
    pub stored: bool,
    pub verdict: String,
    pub reason: Option<String>,
    pub damage_kind: Option<String>,
    pub damage_position: Option<f64>,
    pub decode_errors: u64,
    pub container: Option<String>,
    pub codec: Option<String>,
    pub lossless: Option<bool>,
    pub sample_rate: Option<u32>,
    pub decode_rate: Option<u32>,
    pub bits_per_sample: Option<u32>,
    pub channels: Option<u32>,
    pub frames: Option<u64>,
    pub duration_seconds: Option<f64>,
    pub bitrate: Option<u64>,
    pub tags_json: Option<String>,
    pub warnings_json: Option<String>,
    pub analyzer_version: u32,
    pub fingerprint: Option<StoredFingerprint>,
    /// `full_band`, `transcode` or `undetermined`, its confidence and the
    /// cut-off frequency.
    pub bandwidth: Option<(String, f64, Option<f64>)>,
}

/// A fingerprint as stored: the algorithm, seconds covered, the bytes and
/// their encoding (`chromaprint`: compressed; `raw`: 4 bytes per item).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFingerprint {
    pub algorithm: u8,
    pub duration: f64,
    pub data: Vec<u8>,
    pub encoding: &'static str,
}

/// The files one ingest run recorded, by status (a queued run's summary,
/// whose files were recorded by workers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunTally {
    pub files: u64,
    pub ok: u64,
    pub damaged: u64,
    pub unsupported: u64,
    pub skipped: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Seconds of clean audio.
    pub audio_seconds: f64,
}

/// What the catalogue already knows of a content id.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownContent {
    pub verdict: String,
    pub stored: bool,
    pub analyzer_version: u32,
    pub duration_seconds: Option<f64>,
    pub damage_kind: Option<String>,
}

/// One file's outcome, ready to record.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    pub key: FileKey,
    pub content_id: Option<String>,
    pub status: FileStatus,
    pub reason: Option<String>,
    pub reference: bool,
}

/// Something that happened to the archive, for the dashboard's feed.
/// Each table's owner reports its own ([`Db::ingest_activity`],
/// `musicark_catalog::browse::activity`, …); front ends merge them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Activity {
    pub at: String,
    /// ingest | import | pack | obsolete | scrape
    pub kind: String,
    pub text: String,
}

impl Db {
    /// The latest ingest runs, newest first.
    pub fn ingest_activity(&self, limit: usize) -> Result<Vec<Activity>> {
        Ok(self.activity(
            "SELECT coalesce(finished_at, started_at), 'ingest', 'ingest run ' || run_id || \
               CASE WHEN finished_at IS NULL THEN ' (interrupted or running)' ELSE '' END || ': ' || roots \
             FROM ingest_runs ORDER BY 1 DESC LIMIT ?1",
            limit,
        )?)
    }

    /// The latest `limit` events an owner's `sql` reports, as rows of
    /// (at, kind, text) with `?1` for the limit: each table's owner writes
    /// its own query, this reads them all alike.
    pub fn activity(&self, sql: &str, limit: usize) -> crate::sql::Result<Vec<Activity>> {
        self.prepare_cached(sql)?
            .query_map([limit as i64], |r| {
                Ok(Activity {
                    at: r.get(0)?,
                    kind: r.get(1)?,
                    text: r.get(2)?,
                })
            })?
            .collect()
    }

    /// One of the paths a content was ingested from (the first found).
    pub fn a_path_of(&self, content_id: &str) -> Result<Option<String>> {
        Ok(self
            .prepare_cached(
                "SELECT display_path FROM files WHERE content_id = ?1 ORDER BY file_id LIMIT 1",
            )?
            .query_row([content_id], |r| r.get(0))
            .optional()?)
    }

    /// Every path (as the file system gave it) a content was ingested
    /// from, in order: where to restore its blob from.
    pub fn paths_of(&self, content_id: &str) -> Result<Vec<std::path::PathBuf>> {
        use std::os::unix::ffi::OsStrExt;
        Ok(self
            .prepare_cached("SELECT path FROM files WHERE content_id = ?1 ORDER BY path")?
            .query_map([content_id], |r| r.get::<_, Vec<u8>>(0))?
            .map(|p| p.map(|p| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&p))))
            .collect::<crate::sql::Result<_>>()?)
    }

    /// A content's codec, when it was analysed as audio.
    pub fn codec_of(&self, content_id: &str) -> Result<Option<String>> {
        Ok(self
            .prepare_cached("SELECT codec FROM contents WHERE content_id = ?1")?
            .query_row([content_id], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    /// Start an ingest run; also empties the work queue of any earlier run
    /// that died (its files are found again by this run's walk).
    /// `rights`: the operator's default rights statement for the files
    /// under these roots (`ingest --rights`).
    pub fn begin_run(
        &self,
        roots: &[String],
        reference: bool,
        rights: Option<&str>,
    ) -> Result<i64> {
        // What an earlier run left: on SQLite nobody else runs, so all of
        // it (the walk finds those files again); on PostgreSQL other
        // ingests may be running, so only rows of runs that ended, and
        // rows of a run that died are taken over when walked again.
        if self.engine_name() == "sqlite" {
            self.execute("DELETE FROM pending", [])?;
        } else {
            self.execute(
                "DELETE FROM pending WHERE run_id IS NULL \
                   OR run_id IN (SELECT run_id FROM ingest_runs WHERE finished_at IS NOT NULL)",
                [],
            )?;
        }
        let roots = serde_json::to_string(roots).unwrap_or_else(|_| "[]".into());
        Ok(self.query_row(
            "INSERT INTO ingest_runs (started_at, roots, mode, rights) VALUES (?4, ?1, ?2, ?3) \
             RETURNING run_id",
            params![
                roots,
                if reference { "reference" } else { "copy" },
                rights,
                crate::clock::now()
            ],
            |r| r.get(0),
        )?)
    }

    pub fn finish_run(&self, run_id: i64, summary_json: &str) -> Result<()> {
        self.execute(
            "UPDATE ingest_runs SET finished_at = ?3, summary = ?2 WHERE run_id = ?1",
            params![run_id, summary_json, crate::clock::now()],
        )?;
        Ok(())
    }

    /// Whether `key` is already recorded with the same size and mtime (and
    /// was not an error, which is always retried).
    pub fn is_unchanged(&self, key: &FileKey) -> Result<bool> {
        let mut stmt = self.prepare_cached(
            "SELECT 1 FROM files WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3 AND status != 'error'",
        )?;
        Ok(stmt.exists(params![key.path, key.size as i64, key.mtime_ns])?)
    }

    /// The next page of the work queue, largest files first, after `after`
    /// (the last key of the previous page).
    pub fn pending_page(
        &self,
        run_id: i64,
        after: Option<&FileKey>,
        limit: usize,
    ) -> Result<Vec<FileKey>> {
        let map = |r: &crate::sql::Row<'_, '_>| -> crate::sql::Result<FileKey> {
            Ok(FileKey {
                path: r.get(0)?,
                display_path: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
                mtime_ns: r.get(3)?,
            })
        };
        let rows = match after {
            None => {
                let mut stmt = self.prepare_cached(
                    "SELECT path, display_path, size, mtime_ns FROM pending \
                     WHERE run_id = ?2 ORDER BY size DESC, path LIMIT ?1",
                )?;
                stmt.query_map(params![limit as i64, run_id], map)?
                    .collect::<crate::sql::Result<Vec<_>>>()?
            }
            Some(last) => {
                let mut stmt = self.prepare_cached(
                    "SELECT path, display_path, size, mtime_ns FROM pending \
                     WHERE run_id = ?4 AND (size < ?1 OR (size = ?1 AND path > ?2)) \
                     ORDER BY size DESC, path LIMIT ?3",
                )?;
                stmt.query_map(
                    params![last.size as i64, last.path, limit as i64, run_id],
                    map,
                )?
                .collect::<crate::sql::Result<Vec<_>>>()?
            }
        };
        Ok(rows)
    }

    /// Files and bytes in the work queue.
    pub fn pending_totals(&self, run_id: i64) -> Result<(u64, u64)> {
        Ok(self.query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM pending WHERE run_id = ?1",
            params![run_id],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// What run `run_id` recorded, by status.
    pub fn run_tally(&self, run_id: i64) -> Result<RunTally> {
        let mut t = RunTally::default();
        self.scan(
            "SELECT f.status, count(*), coalesce(sum(f.size), 0), \
                    coalesce(sum(CASE WHEN f.status = 'ok' THEN c.duration_seconds END), 0.0) \
             FROM files f LEFT JOIN contents c ON c.content_id = f.content_id \
             WHERE f.run_id = ?1 GROUP BY f.status",
            params![run_id],
            |r| {
                let status: String = r.get(0)?;
                let n = r.get::<_, i64>(1)? as u64;
                t.files += n;
                t.bytes += r.get::<_, i64>(2)? as u64;
                t.audio_seconds += r.get::<_, f64>(3)?;
                match status.as_str() {
                    "ok" => t.ok += n,
                    "damaged" => t.damaged += n,
                    "unsupported" => t.unsupported += n,
                    "skipped" => t.skipped += n,
                    _ => t.errors += n,
                }
                Ok(())
            },
        )?;
        Ok(t)
    }

    pub fn known_content(&self, content_id: &str) -> Result<Option<KnownContent>> {
        let mut stmt = self.prepare_cached(
            "SELECT verdict, stored, analyzer_version, duration_seconds, damage_kind FROM contents \
             WHERE content_id = ?1",
        )?;
        Ok(stmt
            .query_row(params![content_id], |r| {
                Ok(KnownContent {
                    verdict: r.get(0)?,
                    stored: r.get::<_, i64>(1)? != 0,
                    analyzer_version: r.get::<_, i64>(2)? as u32,
                    duration_seconds: r.get(3)?,
                    damage_kind: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// A read-only view of the whole `files` + `contents` join, in a stable
    /// order without timestamps: what two equivalent ingests must agree on.
    pub fn catalogue_fingerprint_rows(&self) -> Result<Vec<String>> {
        let mut stmt = self.prepare(
            "SELECT f.display_path, f.size, f.status, coalesce(f.reason, ''), f.mode, \
                    coalesce(c.content_id, ''), coalesce(c.sha256, ''), coalesce(c.stored, -1), \
                    coalesce(c.verdict, ''), coalesce(c.frames, -1), coalesce(c.codec, ''), \
                    coalesce(c.tags, '') \
             FROM files f LEFT JOIN contents c USING (content_id) ORDER BY f.path",
        )?;
        let rows = stmt.query_map([], |r| {
            let mut cols = Vec::with_capacity(12);
            for i in 0..12 {
                let v: crate::sql::Value = r.get(i)?;
                cols.push(match v {
                    crate::sql::Value::Null => "NULL".to_string(),
                    crate::sql::Value::Integer(i) => i.to_string(),
                    crate::sql::Value::Real(f) => f.to_string(),
                    crate::sql::Value::Text(t) => t,
                    crate::sql::Value::Blob(b) => format!("{b:?}"),
                });
            }
            Ok(cols.join("\t"))
        })?;
        Ok(rows.collect::<crate::sql::Result<Vec<_>>>()?)
    }
}

/// Queue `key` for run `run_id` (which takes it over from any other run
/// that queued the same path).
pub fn queue_pending(tx: &crate::sql::Tx<'_>, run_id: i64, key: &FileKey) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO pending (path, display_path, size, mtime_ns, run_id) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, \
           run_id = excluded.run_id",
    )?;
    stmt.execute(params![
        key.path,
        key.display_path,
        key.size as i64,
        key.mtime_ns,
        run_id
    ])?;
    Ok(())
}

/// Record one file (and the analysis of its bytes, when new), and take it
/// off the work queue.
pub fn record_file(
    tx: &crate::sql::Tx<'_>,
    run_id: i64,
    file: &FileRecord,
    content: Option<&ContentRecord>,
    stored_now: bool,
) -> Result<()> {
    if let Some(c) = content {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO contents (content_id, sha256, size, stored, verdict, reason, damage_kind, \
               damage_position, decode_errors, container, codec, lossless, sample_rate, decode_rate, \
               bits_per_sample, channels, frames, duration_seconds, bitrate, tags, warnings, \
               analyzer_version, analyzed_at, bandwidth, bandwidth_confidence, cutoff_hz) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
               ?19, ?20, ?21, ?22, ?26, ?23, ?24, ?25) \
             ON CONFLICT(content_id) DO UPDATE SET \
               stored = CASE WHEN excluded.stored > contents.stored THEN excluded.stored ELSE contents.stored END, \
               verdict = excluded.verdict, reason = excluded.reason, damage_kind = excluded.damage_kind, \
               damage_position = excluded.damage_position, decode_errors = excluded.decode_errors, \
               container = excluded.container, codec = excluded.codec, lossless = excluded.lossless, \
               sample_rate = excluded.sample_rate, decode_rate = excluded.decode_rate, \
               bits_per_sample = excluded.bits_per_sample, channels = excluded.channels, \
               frames = excluded.frames, duration_seconds = excluded.duration_seconds, \
               bitrate = excluded.bitrate, tags = excluded.tags, warnings = excluded.warnings, \
               analyzer_version = excluded.analyzer_version, analyzed_at = excluded.analyzed_at, \
               bandwidth = excluded.bandwidth, bandwidth_confidence = excluded.bandwidth_confidence, \
               cutoff_hz = excluded.cutoff_hz",
        )?;
        stmt.execute(params![
            c.content_id,
            c.sha256,
            c.size as i64,
            c.stored as i64,
            c.verdict,
            c.reason,
            c.damage_kind,
            c.damage_position,
            c.decode_errors as i64,
            c.container,
            c.codec,
            c.lossless.map(|b| b as i64),
            c.sample_rate,
            c.decode_rate,
            c.bits_per_sample,
            c.channels,
            c.frames.map(|f| f as i64),
            c.duration_seconds,
            c.bitrate.map(|b| b as i64),
            c.tags_json,
            c.warnings_json,
            c.analyzer_version,
            c.bandwidth.as_ref().map(|b| &b.0),
            c.bandwidth.as_ref().map(|b| b.1),
            c.bandwidth.as_ref().and_then(|b| b.2),
            crate::clock::now(),
        ])?;
        match &c.fingerprint {
            Some(f) => {
                tx.prepare_cached(
                    "INSERT INTO fingerprints (content_id, algorithm, duration, data, encoding) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (content_id) DO UPDATE SET \
                       algorithm = excluded.algorithm, duration = excluded.duration, \
                       data = excluded.data, encoding = excluded.encoding",
                )?
                .execute(params![
                    c.content_id,
                    f.algorithm,
                    f.duration,
                    f.data,
                    f.encoding
                ])?;
            }
            None => {
                tx.prepare_cached("DELETE FROM fingerprints WHERE content_id = ?1")?
                    .execute(params![c.content_id])?;
            }
        }
    } else if stored_now && let Some(id) = &file.content_id {
        tx.prepare_cached("UPDATE contents SET stored = 1 WHERE content_id = ?1")?
            .execute(params![id])?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO files (path, display_path, size, mtime_ns, content_id, status, reason, mode, \
           run_id, first_seen, last_seen) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) \
         ON CONFLICT(path) DO UPDATE SET display_path = excluded.display_path, size = excluded.size, \
           mtime_ns = excluded.mtime_ns, content_id = excluded.content_id, status = excluded.status, \
           reason = excluded.reason, mode = excluded.mode, run_id = excluded.run_id, \
           last_seen = excluded.last_seen",
    )?;
    stmt.execute(params![
        file.key.path,
        file.key.display_path,
        file.key.size as i64,
        file.key.mtime_ns,
        file.content_id,
        file.status.as_str(),
        file.reason,
        if file.reference { "reference" } else { "copy" },
        run_id,
        crate::clock::now(),
    ])?;
    tx.prepare_cached("DELETE FROM pending WHERE path = ?1")?
        .execute(params![file.key.path])?;
    Ok(())
}
