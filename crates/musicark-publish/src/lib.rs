//! Publishing the archive: packs (torrents of preserved copies, each with
//! a manifest), the metadata release, the signed torrent list, `where` a
//! recording is, and the coverage report.
//!
//! *Invariants*: the same inputs give the same bytes — paths, order and
//! timestamps (`SOURCE_DATE_EPOCH` when set) are fixed by the data, never by
//! the machine; published packs are immutable (replaced ones are marked
//! obsolete, never rewritten); rights are respected in everything
//! published (taken-down or embargoed recordings are never packed, and the
//! list says which torrents are under embargo).
//! *Boundary*: no tracker traffic (that is the swarm's).

pub mod coverage;
pub mod export;
pub mod list;
pub mod locate;
pub mod metadata;
pub mod pack;
pub mod packjob;
pub mod packs;
pub mod paths;
pub mod rights;

use std::path::{Path, PathBuf};

use musicark_store::Db;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] musicark_store::StoreError),
    #[error("catalogue database: {0}")]
    Sqlite(#[from] musicark_store::sql::Error),
    /// Writing the metadata release's SQLite file.
    #[error("metadata release file: {0}")]
    ReleaseFile(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Item { path: String, reason: String },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("signature: {0}")]
    Signature(String),
    #[error("{0}")]
    Invalid(String),
    /// What a request names does not exist.
    #[error("{0}")]
    NotFound(String),
}

impl PublishError {
    /// An I/O error on `path`; a full filesystem says so (the store's
    /// `NoSpace`, which names the path and what to do).
    pub fn io(path: &Path, source: std::io::Error) -> PublishError {
        if musicark_store::is_no_space(&source) {
            return PublishError::Store(musicark_store::StoreError::io(path, source));
        }
        PublishError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Listens of every recording that has any: the most any popularity
/// source reports for it.
pub fn listens_by_recording(db: &Db) -> Result<std::collections::HashMap<i64, i64>, PublishError> {
    let mut stmt = db.prepare(
        "SELECT r.recording_id, max(p.listen_count) FROM popularity p \
         JOIN recordings r ON p.recording_key = coalesce(r.mbid, 'rec:' || r.recording_id) \
         GROUP BY r.recording_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or(0)))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
