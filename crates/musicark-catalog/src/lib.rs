//! The catalogue: what recorded music exists, by whom, on which releases,
//! under which identifiers, how popular, under which rights.
//!
//! - [`ids`]: identifier hygiene (ISRC, UPC/EAN, MBID) — pure.
//! - [`mb`]: the MusicBrainz JSON shapes.
//! - [`import`]: streaming, resumable, idempotent importers (MusicBrainz
//!   dumps, ListenBrainz popularity, any CSV/JSONL/SQLite via a mapping).
//! - [`query`]: lookup by any identifier and ranked full-text search.
//! - [`textindex`]: the tantivy search index derived from the database,
//!   kept in step through a high-water mark and an outbox.
//!
//! *Invariant*: an invalid identifier or a malformed line is never dropped
//! silently and never ends an import: it lands in `rejects` with the reason
//! and the line. *Boundary*: never decodes audio.

pub mod browse;
pub mod ids;
pub mod import;
pub mod mapping;
pub mod mb;
pub mod plan;
pub mod query;
pub mod textindex;
mod write;

pub use import::{
    ImportProgress, ImportSummary, NoProgress, import_listenbrainz, import_mapped,
    import_musicbrainz,
};
pub use mapping::Mapping;
pub use query::{RecordingView, SearchHit, lookup, search, search_in};
pub use textindex::{SearchError, SearchIndex};

/// The catalogue of an archive: its database and the search index derived
/// from it.
pub struct Catalog {
    pub db: musicark_store::Db,
    pub search: SearchIndex,
}

impl Catalog {
    /// Open (and migrate) the catalogue of `home` for writing.
    pub fn open(home: &musicark_store::Home) -> Result<Catalog, CatalogError> {
        Ok(Catalog {
            db: home.db()?,
            search: SearchIndex::open(&home.search_dir())?,
        })
    }

    /// Open the catalogue of `home` for reading.
    pub fn open_read_only(home: &musicark_store::Home) -> Result<Catalog, CatalogError> {
        Ok(Catalog {
            db: home.db_read_only()?,
            search: SearchIndex::open(&home.search_dir())?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] musicark_store::StoreError),
    #[error("catalogue database: {0}")]
    Sqlite(#[from] musicark_store::sql::Error),
    /// Reading an SQLite file that a mapping names as a source.
    #[error("SQLite source file: {0}")]
    SourceFile(#[from] rusqlite::Error),
    #[error(transparent)]
    Search(#[from] SearchError),
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
    /// Rows that break a rule the catalogue keeps (a key checked at the
    /// end of a load): a defect, never the input's fault.
    #[error("the catalogue breaks its own rule: {0}")]
    Invariant(String),
}
