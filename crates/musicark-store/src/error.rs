//! Typed errors of the store, each naming the file or record involved.

use std::path::{Path, PathBuf};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("catalogue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("catalogue database: {0}")]
    Database(#[from] crate::sql::Error),
    #[error("{}: not a musicark archive (no musicark.toml); create one with `musicark init`", path.display())]
    NotAnArchive { path: PathBuf },
    #[error("{}: already holds a musicark archive", path.display())]
    AlreadyAnArchive { path: PathBuf },
    #[error("{}: invalid config: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error(
        "the catalogue has schema version {found}, newer than this musicark understands ({supported}); upgrade musicark"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error("{given:?}: not a database location; write postgres://USER@HOST/DB or sqlite:PATH")]
    BadLocation { given: String },
    #[error(
        "the copy is not equal to its source: {tables}; the archive still uses its old database"
    )]
    CopyDiffers { tables: String },
    #[error(
        "{database} already holds a musicark archive's catalogue; give each archive a database of its own (createdb NAME)"
    )]
    DatabaseInUse { database: String },
    #[error("{}: another musicark process is writing to this archive; wait for it to finish", path.display())]
    Locked { path: PathBuf },
    #[error(
        "blob {id}: copied bytes hash to {actual}: the source changed while it was being stored"
    )]
    BlobMismatch { id: String, actual: String },
    /// The object store refused or failed a request (unreachable, bad
    /// credentials, no such bucket).
    #[error("object storage {location}: {message}")]
    Object { location: String, message: String },
    /// A stored blob's bytes no longer hash to its name.
    #[error(
        "{location}: its bytes hash to {actual} (damaged at rest); `musicark fsck --repair` restores it from a source"
    )]
    Rotten { location: String, actual: String },
    /// The filesystem holding `path` is full (ENOSPC or a quota). Nothing
    /// half-written was kept; a rerun after space is freed resumes.
    #[error(
        "{}: no space left on device; free some space (or move the archive) and run the command again: it resumes where it stopped",
        path.display()
    )]
    NoSpace { path: PathBuf },
    #[error("stored JSON in {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl StoreError {
    /// An I/O error on `path`; a full filesystem becomes [`StoreError::NoSpace`].
    pub fn io(path: &Path, source: std::io::Error) -> StoreError {
        if is_no_space(&source) {
            return StoreError::NoSpace {
                path: path.to_path_buf(),
            };
        }
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// ENOSPC or EDQUOT: the filesystem (or the user's quota) is full.
pub fn is_no_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(28 | 122))
}

/// SQLite's own "database or disk is full" (SQLITE_FULL). A full disk
/// also shows as an I/O error while growing the WAL or its index
/// (`SQLITE_IOERR_*`); [`crate::sqlite_error_is_full_disk`] tells those
/// apart by the free space left.
pub fn sqlite_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
}

/// Whether SQLite failed on I/O (any `SQLITE_IOERR_*`).
pub fn sqlite_io(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::SystemIoFailure)
}
