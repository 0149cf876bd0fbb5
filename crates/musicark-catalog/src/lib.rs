//! The catalogue: what recorded music exists, by whom, on which releases,
//! under which identifiers, how popular, under which rights.
//!
//! - [`ids`]: identifier hygiene (ISRC, UPC/EAN, MBID) — pure.
//! - [`mb`]: the MusicBrainz JSON shapes.
//! - [`import`]: streaming, resumable, idempotent importers (MusicBrainz
//!   dumps, ListenBrainz popularity, any CSV/JSONL/SQLite via a mapping).
//! - [`query`]: lookup by any identifier and ranked full-text search.
//!
//! *Invariant*: an invalid identifier or a malformed line is never dropped
//! silently and never ends an import: it lands in `rejects` with the reason
//! and the line. *Boundary*: never decodes audio.

pub mod ids;
pub mod import;
pub mod mapping;
pub mod mb;
pub mod query;
mod write;

pub use import::{
    ImportProgress, ImportSummary, NoProgress, import_listenbrainz, import_mapped,
    import_musicbrainz,
};
pub use mapping::Mapping;
pub use query::{RecordingView, SearchHit, lookup, search};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] musicark_store::StoreError),
    #[error("catalogue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Input {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("mapping {}: {message}", path.display())]
    Mapping {
        path: std::path::PathBuf,
        message: String,
    },
}
