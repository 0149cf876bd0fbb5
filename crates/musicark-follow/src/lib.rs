//! Following other publishers: their signed lists fetched, verified and
//! kept (`sync`), combined with the archive's own into one federated view
//! (`view`: which torrents and copies hold each catalogue recording,
//! whoever published them), and the wanted list (`wanted`: what nobody
//! holds yet, most listened first).
//!
//! Owns the tables `publishers`, `publisher_torrents`,
//! `publisher_holdings` and `publisher_wants`, and the folder
//! `ARCHIVE/follows/` (one folder per publisher: its last good list, the
//! signature, the .torrent files). Nothing a list names is written
//! anywhere else.
//!
//! Trust: a publisher is followed with a key the operator gives; a list
//! signed by another key is refused until the operator confirms the new
//! one (`rekey`); a list whose signed timestamp is older than the copy
//! held is refused as a rollback; a list that fails any check leaves the
//! previous good copy in place.

use std::path::{Path, PathBuf};

use minisign::PublicKey;
use musicark_publish::list;
use musicark_store::sql::OptionalExtension;
use musicark_store::{Db, Home};
use serde::Serialize;

pub mod fetch;
pub mod plan;
pub mod sync;
pub mod view;
pub mod wanted;

pub use fetch::FetchLimits;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("{0}")]
    List(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{url}: {what}")]
    Fetch { url: String, what: String },
    /// The list is not signed by the key the operator trusts.
    #[error("{0}")]
    Untrusted(String),
    /// A list older than the one held.
    #[error("{0}")]
    Rollback(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] musicark_store::StoreError),
    #[error("database: {0}")]
    Sql(#[from] musicark_store::sql::Error),
    #[error(transparent)]
    Publish(#[from] musicark_publish::PublishError),
    #[error(transparent)]
    Catalog(#[from] musicark_catalog::CatalogError),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FollowError + '_ {
    move |source| FollowError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The form of a followed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum ListFormat {
    /// musicark's list: Anna's Archive's fields plus ours, with a metadata
    /// release that says which recordings each torrent holds.
    #[serde(rename = "musicark")]
    Musicark,
    /// Anna's Archive's `torrents.json` fields only: its torrents count in
    /// the federated union and health, without recording-level knowledge.
    #[serde(rename = "torrents.json")]
    TorrentsJson,
}
musicark_store::text_enum!(ListFormat, "list format", Musicark => "musicark", TorrentsJson => "torrents.json");

/// A followed publisher and the state of its copy.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Publisher {
    pub name: String,
    pub url: String,
    /// The pinned minisign key (base64) and its id.
    pub public_key: String,
    pub key_id: String,
    pub added_at: String,
    /// Of the copy held; null before the first good sync.
    pub format: Option<ListFormat>,
    pub list_sha256: Option<String>,
    /// The signature's trusted timestamp (seconds since 1970) of the copy
    /// held: a list older than it is a rollback.
    pub list_signed_at: Option<i64>,
    pub synced_at: Option<String>,
    pub tried_at: Option<String>,
    /// Why the last sync was refused or failed; null when it succeeded.
    pub problem: Option<String>,
    /// Torrents of the copy held (all, obsolete included).
    pub torrents: u64,
    /// (torrent, recording) pairs its metadata release names.
    pub holdings: u64,
    /// Recordings on its wanted list.
    pub wants: u64,
}

/// A publisher's name: a plain file name (it names the publisher's
/// folder), letters, digits, `.`, `-` and `_`.
pub fn check_name(name: &str) -> Result<&str, FollowError> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if plain {
        Ok(name)
    } else {
        Err(FollowError::Invalid(format!(
            "{name:?} is not a publisher name: use 1 to 64 letters, digits, '.', '-' or '_', not starting with '.'"
        )))
    }
}

/// The name a publisher gets when none is given: its URL's host and the
/// folder of its list, as a plain name (`lists.example.org-music`).
pub fn default_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let mut parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    parts.pop(); // the list's own file name
    let raw = parts.join("-");
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches(['-', '.']).to_string();
    name.truncate(64);
    if name.is_empty() {
        "publisher".into()
    } else {
        name
    }
}

/// The folder of a publisher's last good copy.
pub fn publisher_dir(home: &Home, name: &str) -> PathBuf {
    home.follows_dir().join(name)
}

const PUBLISHER_COLUMNS: &str = "p.name, p.url, p.public_key, p.key_id, p.added_at, p.format, p.list_sha256, \
     p.list_signed_at, p.synced_at, p.tried_at, p.problem, \
     (SELECT count(*) FROM publisher_torrents t WHERE t.publisher_id = p.publisher_id), \
     (SELECT count(*) FROM publisher_holdings h WHERE h.publisher_id = p.publisher_id), \
     (SELECT count(*) FROM publisher_wants w WHERE w.publisher_id = p.publisher_id)";

fn publisher_row(r: &musicark_store::sql::Row<'_, '_>) -> musicark_store::sql::Result<Publisher> {
    Ok(Publisher {
        name: r.get(0)?,
        url: r.get(1)?,
        public_key: r.get(2)?,
        key_id: r.get(3)?,
        added_at: r.get(4)?,
        format: r
            .get::<_, Option<String>>(5)?
            .and_then(|f| f.parse::<ListFormat>().ok()),
        list_sha256: r.get(6)?,
        list_signed_at: r.get(7)?,
        synced_at: r.get(8)?,
        tried_at: r.get(9)?,
        problem: r.get(10)?,
        torrents: r.get::<_, i64>(11)? as u64,
        holdings: r.get::<_, i64>(12)? as u64,
        wants: r.get::<_, i64>(13)? as u64,
    })
}

/// Every followed publisher, by name.
pub fn publishers(db: &Db) -> Result<Vec<Publisher>, FollowError> {
    let sql = format!("SELECT {PUBLISHER_COLUMNS} FROM publishers p ORDER BY p.name");
    let mut stmt = db.prepare(&sql)?;
    let rows = stmt.query_map([], publisher_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One followed publisher.
pub fn publisher(db: &Db, name: &str) -> Result<Publisher, FollowError> {
    let sql = format!("SELECT {PUBLISHER_COLUMNS} FROM publishers p WHERE p.name = ?1");
    db.prepare(&sql)?
        .query_row([name], publisher_row)
        .optional()?
        .ok_or_else(|| FollowError::NotFound(format!("no followed publisher named {name:?}")))
}

fn key_text(key: &PublicKey) -> (String, String) {
    (key.to_base64(), list::public_key_id(key))
}

/// Follow the list at `url` (http(s), `file://` or a path), signed by
/// `key`. Following a publisher again with the same URL and key changes
/// nothing; a different key is refused (confirm a new key with [`rekey`]).
pub fn add(
    db: &mut Db,
    url: &str,
    key: &PublicKey,
    name: Option<&str>,
) -> Result<Publisher, FollowError> {
    let name = match name {
        Some(n) => check_name(n)?.to_string(),
        None => default_name(url),
    };
    check_name(&name)?;
    if url.trim().is_empty() {
        return Err(FollowError::Invalid("the list's URL is empty".into()));
    }
    let (b64, id) = key_text(key);
    if let Ok(p) = publisher(db, &name) {
        if p.public_key != b64 {
            return Err(FollowError::Untrusted(format!(
                "{name} is followed with key {}; to trust {id} instead, check it with the publisher and run `musicark follow rekey {name} --key KEY`",
                p.key_id
            )));
        }
        if p.url != url {
            return Err(FollowError::Invalid(format!(
                "{name} is followed at {}; remove it first or choose another --name",
                p.url
            )));
        }
        return Ok(p);
    }
    db.execute(
        "INSERT INTO publishers (name, url, public_key, key_id, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        musicark_store::params![name, url, b64, id, musicark_store::clock::now_seconds()],
    )?;
    publisher(db, &name)
}

/// Trust a new key for a publisher (after its list was refused for being
/// signed by another key, and the operator checked the new one with the
/// publisher). The copy held stays until the next sync verifies by the
/// new key.
pub fn rekey(db: &mut Db, name: &str, key: &PublicKey) -> Result<Publisher, FollowError> {
    publisher(db, name)?;
    let (b64, id) = key_text(key);
    db.execute(
        "UPDATE publishers SET public_key = ?2, key_id = ?3 WHERE name = ?1",
        musicark_store::params![name, b64, id],
    )?;
    publisher(db, name)
}

/// Stop following a publisher: its rows and its folder go.
pub fn remove(home: &Home, db: &mut Db, name: &str) -> Result<Publisher, FollowError> {
    let p = publisher(db, name)?;
    let tx = db.transaction()?;
    let id: i64 = tx.query_row(
        "SELECT publisher_id FROM publishers WHERE name = ?1",
        [name],
        |r| r.get(0),
    )?;
    for table in [
        "publisher_torrents",
        "publisher_holdings",
        "publisher_wants",
        "publishers",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE publisher_id = ?1"),
            [id],
        )?;
    }
    tx.commit()?;
    let dir = publisher_dir(home, check_name(name)?);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_default_to_host_and_folder() {
        assert_eq!(
            default_name("https://lists.example.org/music/torrents.json"),
            "lists.example.org-music"
        );
        assert_eq!(
            default_name("http://127.0.0.1:8001/published/torrents.json"),
            "127.0.0.1-8001-published"
        );
        assert_eq!(default_name("torrents.json"), "publisher");
        for bad in ["", "..", ".hidden", "a/b", "a b", "x\0"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("netlabel-42_a.b").is_ok());
    }
}
