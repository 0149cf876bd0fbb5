//! Declarative mappings: any CSV, JSON Lines or SQLite table into the
//! catalogue, described in TOML, so that a new source needs no code.
//!
//! ```toml
//! source = "netlabel-x"        # names the source (provenance, external ids)
//! format = "csv"               # csv | jsonl | sqlite
//! table = "tracks"             # sqlite: a table, or `query = "SELECT …"`
//!
//! [columns]                    # our field = their column
//! id = "track_id"              # required: the source's own id
//! title = "title"              # required
//! artist = "artist"
//! isrc = "isrc"
//! mbid = "recording_mbid"
//! length_ms = "duration_ms"    # or length_s = "seconds"
//! release = "album"
//! barcode = "upc"
//! date = "year"
//! license = "license"
//! listen_count = "plays"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::CatalogError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
    Sqlite,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub source: String,
    pub format: Format,
    pub table: Option<String>,
    pub query: Option<String>,
    /// Our field → their column.
    pub columns: BTreeMap<String, String>,
}

/// The fields a mapping may fill.
pub const FIELDS: &[&str] = &[
    "id",
    "title",
    "artist",
    "isrc",
    "mbid",
    "length_ms",
    "length_s",
    "release",
    "barcode",
    "date",
    "license",
    "listen_count",
    "disc",
    "track",
];

impl Mapping {
    pub fn load(path: &Path) -> Result<Mapping, CatalogError> {
        let err = |message: String| CatalogError::Mapping {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let m: Mapping = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        for key in m.columns.keys() {
            if !FIELDS.contains(&key.as_str()) {
                return Err(err(format!(
                    "unknown field {key:?}; known fields: {}",
                    FIELDS.join(", ")
                )));
            }
        }
        for required in ["id", "title"] {
            if !m.columns.contains_key(required) {
                return Err(err(format!("[columns] must map {required:?}")));
            }
        }
        if m.format == Format::Sqlite && m.table.is_none() && m.query.is_none() {
            return Err(err("an sqlite mapping needs `table` or `query`".into()));
        }
        if m.source.trim().is_empty() || m.source == "musicbrainz" || m.source == "listenbrainz" {
            return Err(err(
                "`source` must name this source (not musicbrainz or listenbrainz)".into(),
            ));
        }
        Ok(m)
    }

    pub fn column(&self, field: &str) -> Option<&str> {
        self.columns.get(field).map(String::as_str)
    }
}
