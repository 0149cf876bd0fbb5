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
    #[error("{}: another musicark process is writing to this archive; wait for it to finish", path.display())]
    Locked { path: PathBuf },
    #[error(
        "blob {id}: copied bytes hash to {actual}: the source changed while it was being stored"
    )]
    BlobMismatch { id: String, actual: String },
    #[error("stored JSON in {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
