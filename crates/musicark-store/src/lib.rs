//! The archive home: where an archive lives on disk and how it is kept.
//!
//! ```text
//! ARCHIVE/
//!   musicark.toml      config (TOML), written atomically
//!   catalog.sqlite     the catalogue: SQLite in WAL mode, migrated on open
//!   blobs/ab/cd/<id>   content-addressed blobs, named by BLAKE3, read-only
//!                      (or in object storage: `[archive] blobs = "s3://…"`,
//!                      with local copies for the encoder under cache/blobs/)
//!   search/            the catalogue's full-text index (tantivy), derived from it
//!   packs/<name>/      published packs' files (hard links into blobs/)
//!   torrents/          published .torrent files and their manifests
//!   keys/              the list-signing key (minisign)
//!   tmp/               staging for blobs; emptied at the start of every write
//!   lock               held (flock) by the one process writing the archive
//! ```
//!
//! This crate owns persistence only: schema, migrations, queries, atomic
//! files. It holds no business rules (what counts as damaged, which tier a
//! file gets): callers decide, the store records.

mod blobs;
pub mod clock;
mod config;
mod db;
mod error;
mod fsutil;
pub mod migrate;
mod names;
mod pg;
pub mod pgschema;
pub mod queue;
pub mod records;
mod s3;
pub mod sql;
mod status;
pub mod units;

use std::fs::File;
use std::path::{Path, PathBuf};

pub use blobs::{
    BlobStore, ContentId, FsBlobStore, LocalCopy, PutOutcome, Repair, blob_is_intact, hash_reader,
    repair_from,
};
pub use config::{
    ArchiveConfig, Band, Config, EmbargoListing, IngestConfig, PreserveConfig, PublishConfig,
    S3Config, ServeConfig,
};
pub use db::{Db, Location, SCHEMA_VERSION, SqliteSchema, is_postgres_url};
pub use error::{Result, StoreError, is_no_space, sqlite_full, sqlite_io};
pub use fsutil::{atomic_write, fsync_dir, write_synced};
pub use names::UnknownName;
pub use s3::{S3BlobStore, S3Url};

pub use records::Activity;
pub use status::{
    CodecCount, DamagedEntry, DamagedReport, FixitySummary, RunSummary, Status, TranscodeEntry,
};

const CONFIG_FILE: &str = "musicark.toml";
/// The catalogue's file name inside an archive home.
pub const DB_FILE: &str = "catalog.sqlite";

/// An opened archive home.
pub struct Home {
    root: PathBuf,
    pub config: Config,
    /// Made at the first `blobs()`: an object store's client is kept.
    blob_store: std::sync::OnceLock<std::sync::Arc<dyn BlobStore>>,
}

/// Where a new archive keeps its state (`musicark init`).
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// `postgres://…`; `None`: `catalog.sqlite` in the archive.
    pub database: Option<String>,
    /// `s3://bucket/prefix`; `None`: `blobs/` in the archive.
    pub blobs: Option<String>,
    /// The object store's `[s3]` settings.
    pub s3: Option<S3Config>,
}

impl Home {
    /// Create a new archive at `root` (which may exist but must not already
    /// hold an archive).
    pub fn init(root: &Path) -> Result<Home> {
        Home::init_with(root, None)
    }

    /// Create a new archive at `root` whose catalogue and state live in
    /// the PostgreSQL database `database` names (`postgres://…`), or in
    /// `catalog.sqlite` beside the config when `None`. The database must
    /// exist; its schema is made (or checked) here.
    pub fn init_with(root: &Path, database: Option<&str>) -> Result<Home> {
        Home::init_options(
            root,
            &InitOptions {
                database: database.map(String::from),
                ..Default::default()
            },
        )
    }

    /// Create a new archive at `root` as `options` say. An object store
    /// is checked reachable (and its bucket there) before anything is
    /// written.
    pub fn init_options(root: &Path, options: &InitOptions) -> Result<Home> {
        let database = options.database.as_deref();
        if root.join(CONFIG_FILE).exists() {
            return Err(StoreError::AlreadyAnArchive {
                path: root.to_path_buf(),
            });
        }
        // An archive whose blobs are in a bucket keeps no blobs/ here.
        let mut dirs = vec![root.to_path_buf(), root.join("tmp")];
        if options.blobs.is_none() {
            dirs.push(root.join("blobs"));
        }
        for dir in dirs {
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        }
        let mut config = Config::new_default(root);
        if let Some(url) = database {
            if !is_postgres_url(url) {
                return Err(StoreError::Config {
                    path: root.join(CONFIG_FILE),
                    message: format!(
                        "--database {url:?}: not a postgres:// URL (leave it out for the embedded SQLite database)"
                    ),
                });
            }
            // One archive per database: two archive directories over one
            // catalogue would hold different blobs for the same rows.
            if pg::PgConn::holds_archive(url)? {
                return Err(StoreError::DatabaseInUse {
                    database: pg::redact(url),
                });
            }
            config.archive.database = Some(url.to_string());
        }
        if let Some(url) = &options.blobs {
            if S3Url::parse(url).is_none() {
                return Err(StoreError::Config {
                    path: root.join(CONFIG_FILE),
                    message: format!(
                        "--blobs {url:?}: write s3://BUCKET/PREFIX (leave it out to keep blobs in the archive)"
                    ),
                });
            }
            config.archive.blobs = Some(url.clone());
            config.s3 = options.s3.clone();
        }
        // The database first: a crash before the config is written leaves a
        // directory that `init` can simply be run on again.
        let home = Home {
            root: root.to_path_buf(),
            config,
            blob_store: Default::default(),
        };
        if home.config.archive.blobs.is_some() {
            // Reachable, with credentials that can list the bucket.
            home.blobs()?
                .contains(&ContentId::from_hash(&blake3::hash(b"")))?;
        }
        home.db()?;
        atomic_write(&root.join(CONFIG_FILE), home.config.to_toml()?.as_bytes())?;
        Ok(home)
    }

    /// Open an existing archive.
    pub fn open(root: &Path) -> Result<Home> {
        let config_path = root.join(CONFIG_FILE);
        if !config_path.exists() {
            return Err(StoreError::NotAnArchive {
                path: root.to_path_buf(),
            });
        }
        let text =
            std::fs::read_to_string(&config_path).map_err(|e| StoreError::io(&config_path, e))?;
        let config = Config::from_toml(&text, &config_path)?;
        if let Some(value) = &config.archive.database {
            Location::parse(value, root).map_err(|e| StoreError::Config {
                path: config_path.clone(),
                message: format!("[archive] database: {e}"),
            })?;
        }
        if let Some(value) = &config.archive.blobs
            && S3Url::parse(value).is_none()
        {
            return Err(StoreError::Config {
                path: config_path.clone(),
                message: format!("[archive] blobs = {value:?}: write s3://BUCKET/PREFIX"),
            });
        }
        Ok(Home {
            root: root.to_path_buf(),
            config,
            blob_store: Default::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite file the catalogue is in (for an archive on
    /// PostgreSQL, where it would be: nothing is there).
    pub fn db_path(&self) -> PathBuf {
        self.root.join(DB_FILE)
    }

    /// Where the archive's database is: `[archive] database` in
    /// `musicark.toml` (`postgres://…` or `sqlite:PATH`), else
    /// `catalog.sqlite` in the archive. A value that names neither was
    /// refused when the config was read.
    pub fn database(&self) -> Location {
        match &self.config.archive.database {
            Some(value) => Location::parse(value, &self.root)
                .unwrap_or_else(|_| Location::Postgres(value.clone())),
            None => Location::Sqlite(self.db_path()),
        }
    }

    /// Use the database at `location` from now on (written to
    /// `musicark.toml` atomically).
    pub fn use_database(&mut self, location: &Location) -> Result<()> {
        let mut config = self.config.clone();
        config.archive.database = match location {
            Location::Sqlite(p) if *p == self.db_path() => None,
            other => Some(other.config_value()),
        };
        atomic_write(&self.root.join(CONFIG_FILE), config.to_toml()?.as_bytes())?;
        self.config = config;
        Ok(())
    }

    /// The catalogue's full-text search index (derived from the database,
    /// rebuilt when missing).
    pub fn search_dir(&self) -> PathBuf {
        self.root.join("search")
    }

    /// Published packs' data: the save path for a client seeding them.
    pub fn packs_dir(&self) -> PathBuf {
        self.root.join("packs")
    }

    /// Published .torrent files and their manifests.
    pub fn torrents_dir(&self) -> PathBuf {
        self.root.join("torrents")
    }

    /// Followed publishers' last good lists, one folder each
    /// (`follow sync` writes nowhere else).
    pub fn follows_dir(&self) -> PathBuf {
        self.root.join("follows")
    }

    /// A new connection to the catalogue (migrated to the current schema).
    pub fn db(&self) -> Result<Db> {
        Db::open_at(&self.database())
    }

    /// A read-only connection, for workers that only look things up. An
    /// archive written by an older musicark is migrated first (a short
    /// write), so reading commands work on it too.
    pub fn db_read_only(&self) -> Result<Db> {
        Db::open_read_only_at(&self.database())
    }

    /// What the archive holds ([`Db::status`]), with where its blobs are.
    pub fn status(&self, db: &Db) -> Result<Status> {
        let mut status = db.status(&self.config.archive.name)?;
        // No path of this machine: the status reaches web clients.
        let blobs = self.blobs()?;
        status.blobs = if blobs.is_local() {
            "the archive's blobs/".into()
        } else {
            blobs.location()
        };
        Ok(status)
    }

    /// The archive's blob store: `blobs/` in the archive, or the object
    /// store `[archive] blobs` names (its client made once, then shared).
    pub fn blobs(&self) -> Result<std::sync::Arc<dyn BlobStore>> {
        if let Some(store) = self.blob_store.get() {
            return Ok(store.clone());
        }
        let store: std::sync::Arc<dyn BlobStore> = match &self.config.archive.blobs {
            Some(url) => {
                let url = S3Url::parse(url).ok_or_else(|| StoreError::Config {
                    path: self.root.join(CONFIG_FILE),
                    message: format!("[archive] blobs = {url:?}: write s3://BUCKET/PREFIX"),
                })?;
                let s3 = self.config.s3.clone().unwrap_or_default();
                std::sync::Arc::new(S3BlobStore::new(
                    &url,
                    s3.endpoint.as_deref(),
                    s3.region.as_deref(),
                    self.root.join("cache").join("blobs"),
                    self.root.join("tmp"),
                )?)
            }
            None => std::sync::Arc::new(FsBlobStore::new(
                self.root.join("blobs"),
                self.root.join("tmp"),
            )),
        };
        Ok(self.blob_store.get_or_init(|| store).clone())
    }

    /// Take the archive's writer lock, alone; held until the returned
    /// guard drops. Fails at once, with a clear error, if another process
    /// writes the archive.
    pub fn lock_for_writing(&self) -> Result<WriteLock> {
        self.lock(Writers::Alone)
    }

    /// Take the writer lock a kind of work needs. On SQLite every writer
    /// is alone (the engine takes one writer at a time); on PostgreSQL
    /// ingests and one catalogue import run together, each alone kind
    /// waits for none and refuses while any other writer runs. The locks
    /// are PostgreSQL's advisory locks, on a connection the guard holds
    /// (released by the server when the process dies, kill -9 included),
    /// and the archive directory's flock in the same mode.
    pub fn lock(&self, kind: Writers) -> Result<WriteLock> {
        let path = self.root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let location = self.database();
        let shared = matches!(location, Location::Postgres(_)) && kind != Writers::Alone;
        let taken = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match taken {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: self.root.clone(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
        }
        let pg = match &location {
            Location::Postgres(url) => {
                let conn = pg::PgConn::lock(url, kind)?;
                if conn.is_none() {
                    return Err(StoreError::Locked {
                        path: self.root.clone(),
                    });
                }
                conn
            }
            Location::Sqlite(_) => None,
        };
        Ok(WriteLock {
            _file: file,
            _pg: pg.map(Box::new),
        })
    }
}

/// Who may write an archive at the same time (see [`Home::lock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// Nobody else: packing, preserving, repairs, rights, migrating.
    Alone,
    /// Other ingests and a catalogue import.
    Ingest,
    /// Ingests, but no other catalogue import (one search index writer,
    /// one bulk load at a time).
    Catalog,
}

/// Bytes this user may still write on the filesystem holding `path`
/// (`None` when it cannot be asked).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Whether a SQLite error on the database at `db_path` is the disk being
/// full: SQLITE_FULL, or an I/O error (growing the WAL or its index) on a
/// filesystem with (almost) nothing left.
pub fn sqlite_error_is_full_disk(e: &rusqlite::Error, db_path: &Path) -> bool {
    sqlite_full(e)
        || (sqlite_io(e)
            && free_bytes(db_path.parent().unwrap_or(Path::new(".")))
                .is_some_and(|free| free < 4 << 20))
}

/// Whether any error in a chain (an `anyhow` chain, a `source()` walk)
/// is the database's disk being full; the text front ends print for it
/// (which file, what to do).
pub fn full_disk_message<'a>(
    mut chain: impl Iterator<Item = &'a (dyn std::error::Error + 'static)>,
    archive: &Path,
) -> Option<String> {
    let db = archive.join(DB_FILE);
    chain
        .find_map(|e| {
            e.downcast_ref::<rusqlite::Error>()
                .or_else(|| e.downcast_ref::<sql::Error>().and_then(sql::Error::sqlite))
                .filter(|e| sqlite_error_is_full_disk(e, &db))
        })
        .map(|e| {
            format!(
                "{}: no space left on device ({e}); free some space and run the command again: it resumes where it stopped",
                db.display()
            )
        })
}

/// The archive's writer lock (released on drop, and by the kernel when the
/// process dies, so a `kill -9` never leaves a stale lock behind).
pub struct WriteLock {
    _file: File,
    /// PostgreSQL: the connection holding the advisory locks.
    _pg: Option<Box<pg::PgConn>>,
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // Closing the connection releases its advisory locks only once
        // the server's backend has noticed and exited, after this process
        // may already have ended: the next command, started at once,
        // would find the archive still locked. Release them first, in
        // one round trip. (A killed process leaves that to the server.)
        if let Some(pg) = &self._pg {
            let _ = pg.batch("SELECT pg_advisory_unlock_all()");
        }
    }
}
