//! The catalogue database: SQLite in WAL mode, with numbered migrations
//! applied in one transaction each and tracked in `PRAGMA user_version`.
//!
//! *Invariant*: migrations are append-only. A released migration is never
//! edited; a change is a new entry at the end of [`MIGRATIONS`].

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::pg::PgConn;

use crate::{Result, StoreError};

/// Each entry moves the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: ingest — what bytes we hold (contents) and where we found them (files).
    r#"
    CREATE TABLE contents (
        content_id       TEXT PRIMARY KEY,       -- BLAKE3 of the bytes, hex
        sha256           TEXT NOT NULL,          -- for publication
        size             INTEGER NOT NULL,
        stored           INTEGER NOT NULL DEFAULT 0, -- 1: the blob store holds the bytes
        verdict          TEXT NOT NULL,          -- audio | damaged | unsupported | not_audio
        reason           TEXT,
        damage_kind      TEXT,
        damage_position  REAL,                   -- seconds into the audio
        decode_errors    INTEGER NOT NULL DEFAULT 0,
        container        TEXT,
        codec            TEXT,
        lossless         INTEGER,
        sample_rate      INTEGER,
        decode_rate      INTEGER,
        bits_per_sample  INTEGER,
        channels         INTEGER,
        frames           INTEGER,                -- decoded sample frames at decode_rate
        duration_seconds REAL,
        bitrate          INTEGER,                -- bits per second of coded audio
        tags             TEXT,                   -- JSON: musicark_audio::Tags
        warnings         TEXT,                   -- JSON array of strings
        analyzer_version INTEGER NOT NULL,
        analyzed_at      TEXT NOT NULL
    ) STRICT;

    CREATE TABLE ingest_runs (
        run_id      INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        roots       TEXT NOT NULL,               -- JSON array of display paths
        mode        TEXT NOT NULL,               -- copy | reference
        summary     TEXT                         -- JSON, when finished
    ) STRICT;

    CREATE TABLE files (
        file_id      INTEGER PRIMARY KEY,
        path         BLOB NOT NULL UNIQUE,       -- the OS path's raw bytes (not always UTF-8)
        display_path TEXT NOT NULL,              -- lossy UTF-8, for people
        size         INTEGER NOT NULL,
        mtime_ns     INTEGER NOT NULL,
        content_id   TEXT REFERENCES contents(content_id),
        status       TEXT NOT NULL,              -- ok | damaged | unsupported | skipped | error
        reason       TEXT,
        mode         TEXT NOT NULL,              -- copy | reference
        run_id       INTEGER REFERENCES ingest_runs(run_id),
        first_seen   TEXT NOT NULL,
        last_seen    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX files_content ON files(content_id);
    CREATE INDEX files_status ON files(status);

    -- The current ingest's work queue: filled by the walk, drained largest
    -- first; a row leaves in the same transaction that records its file.
    CREATE TABLE pending (
        path         BLOB PRIMARY KEY,
        display_path TEXT NOT NULL,
        size         INTEGER NOT NULL,
        mtime_ns     INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX pending_order ON pending(size DESC, path);
    "#,
    // 2: the catalogue — what exists (artists, release groups, releases,
    // recordings, tracks), its identifiers, popularity, rights, provenance.
    r#"
    CREATE TABLE imports (
        import_id   INTEGER PRIMARY KEY,
        source      TEXT NOT NULL,               -- musicbrainz | listenbrainz | a mapping's source
        kind        TEXT NOT NULL,               -- artist | release | recording | popularity | mapped
        path        TEXT NOT NULL,
        size        INTEGER NOT NULL,
        mtime_ns    INTEGER NOT NULL,
        lines_done  INTEGER NOT NULL DEFAULT 0,  -- committed input lines: where a rerun resumes
        rows        INTEGER NOT NULL DEFAULT 0,
        rejects     INTEGER NOT NULL DEFAULT 0,
        started_at  TEXT NOT NULL,
        finished_at TEXT
    ) STRICT;

    CREATE TABLE artists (
        artist_id  INTEGER PRIMARY KEY,
        mbid       TEXT UNIQUE,
        name       TEXT NOT NULL,
        sort_name  TEXT,
        country    TEXT,
        type       TEXT
    ) STRICT;

    CREATE TABLE release_groups (
        rg_id        INTEGER PRIMARY KEY,
        mbid         TEXT UNIQUE,
        title        TEXT NOT NULL,
        primary_type TEXT
    ) STRICT;

    CREATE TABLE releases (
        release_id     INTEGER PRIMARY KEY,
        mbid           TEXT UNIQUE,
        title          TEXT NOT NULL,
        artist_credit  TEXT,
        rg_id          INTEGER REFERENCES release_groups(rg_id),
        date           TEXT,
        country        TEXT,
        barcode        TEXT,                     -- validated UPC/EAN (GTIN)
        label          TEXT,
        catalog_number TEXT,
        status         TEXT
    ) STRICT;
    CREATE INDEX releases_barcode ON releases(barcode) WHERE barcode IS NOT NULL;

    CREATE TABLE recordings (
        recording_id  INTEGER PRIMARY KEY,
        mbid          TEXT,                      -- unique: recordings_mbid
        title         TEXT NOT NULL,
        artist_credit TEXT,                      -- the credit as printed, join phrases included
        length_ms     INTEGER,
        video         INTEGER NOT NULL DEFAULT 0,
        first_release_date TEXT
    ) STRICT;
    -- Separate (not a column constraint) so that a first bulk load can
    -- append rows without it and build it sorted at the end.
    CREATE UNIQUE INDEX recordings_mbid ON recordings(mbid);

    -- Who is credited, in order (MusicBrainz artist credits).
    CREATE TABLE recording_artists (
        recording_id  INTEGER NOT NULL REFERENCES recordings(recording_id),
        position      INTEGER NOT NULL,
        artist_id     INTEGER NOT NULL REFERENCES artists(artist_id),
        credited_name TEXT NOT NULL,
        join_phrase   TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (recording_id, position)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX recording_artists_artist ON recording_artists(artist_id);

    CREATE TABLE isrcs (
        isrc         TEXT NOT NULL,              -- normalised: 12 characters, upper case
        recording_id INTEGER NOT NULL REFERENCES recordings(recording_id)
    ) STRICT;
    CREATE UNIQUE INDEX isrcs_pk ON isrcs(isrc, recording_id);
    CREATE INDEX isrcs_recording ON isrcs(recording_id);

    -- A recording on a release, at disc and position.
    CREATE TABLE tracks (
        release_id   INTEGER NOT NULL REFERENCES releases(release_id),
        disc         INTEGER NOT NULL,
        position     INTEGER NOT NULL,
        recording_id INTEGER NOT NULL REFERENCES recordings(recording_id),
        title        TEXT,
        length_ms    INTEGER,
        PRIMARY KEY (release_id, disc, position)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX tracks_recording ON tracks(recording_id);

    -- Every source's identifier for every entity (MBID too): provenance
    -- of identity, and the generic home of other sources' ids.
    CREATE TABLE external_ids (
        source      TEXT NOT NULL,
        external_id TEXT NOT NULL,
        entity      TEXT NOT NULL,               -- recording | release | artist
        entity_id   INTEGER NOT NULL,
        import_id   INTEGER REFERENCES imports(import_id),
        PRIMARY KEY (source, entity, external_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX external_ids_entity ON external_ids(entity, entity_id);

    -- Popularity by recording key — its MBID, or `rec:<recording_id>` for
    -- recordings without one — so that it may arrive before or after the
    -- recordings it scores.
    CREATE TABLE popularity (
        recording_key  TEXT NOT NULL,
        source         TEXT NOT NULL,
        listen_count   INTEGER,
        user_count     INTEGER,
        score          REAL,                     -- 0..100, when a source gives one
        as_of          TEXT,
        PRIMARY KEY (recording_key, source)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE rights (
        entity        TEXT NOT NULL,
        entity_id     INTEGER NOT NULL,
        statement     TEXT,                      -- a rights statement URI or text
        license       TEXT,
        embargo       INTEGER NOT NULL DEFAULT 0,
        embargo_until TEXT,
        takedown      INTEGER NOT NULL DEFAULT 0,
        source        TEXT,
        PRIMARY KEY (entity, entity_id)
    ) STRICT, WITHOUT ROWID;

    -- Invalid input, never silently dropped: the reason and the line.
    CREATE TABLE rejects (
        reject_id INTEGER PRIMARY KEY,
        import_id INTEGER NOT NULL REFERENCES imports(import_id),
        line      INTEGER NOT NULL,
        field     TEXT,
        value     TEXT,
        reason    TEXT NOT NULL,
        raw       TEXT                           -- the input line, cut at 1 KiB
    ) STRICT;
    CREATE INDEX rejects_import ON rejects(import_id, line);

    -- Full-text search, case and diacritics folded. One document per
    -- recording (rowid = recording_id) and per release (rowid = -release_id).
    CREATE VIRTUAL TABLE catalog_fts USING fts5(
        title, artist, release,
        content = '', contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    "#,
    // 3: search documents of new recordings are built once, at the end of
    // the import that created them (rowid > fts_from), not row by row.
    r#"
    ALTER TABLE imports ADD COLUMN fts_from INTEGER NOT NULL DEFAULT 0;
    -- 1: a first load into an empty recordings table, appending rows
    -- without secondary indexes, which are built when it ends.
    ALTER TABLE imports ADD COLUMN bulk INTEGER NOT NULL DEFAULT 0;
    "#,
    // 4: full-text search moves to a tantivy index beside the database
    // (`search/`), derived from it: FTS5 walked whole posting lists to rank
    // common words (BENCHMARKS.md). What it still has to index is kept
    // here, in the same transactions as the rows: every recording above
    // the high-water mark, and the keys in the outbox (recording_id, or
    // -release_id) whose documents changed.
    r#"
    DROP TABLE catalog_fts;
    CREATE TABLE search_state (
        one          INTEGER PRIMARY KEY CHECK (one = 1),
        indexed_upto INTEGER NOT NULL            -- recordings above it are not indexed yet
    ) STRICT;
    INSERT INTO search_state VALUES (1, 0);
    CREATE TABLE search_outbox (key INTEGER PRIMARY KEY) STRICT;
    INSERT INTO search_outbox SELECT -release_id FROM releases;
    "#,
    // 5: Chromaprint fingerprints of analysed audio, full length.
    r#"
    CREATE TABLE fingerprints (
        content_id TEXT PRIMARY KEY REFERENCES contents(content_id),
        algorithm  INTEGER NOT NULL,             -- Chromaprint's enum (1: TEST2, fpcalc's default; see migration 10)
        duration   REAL NOT NULL,                -- seconds of audio fingerprinted
        data       BLOB NOT NULL                 -- the raw items, 4 bytes little-endian each
    ) STRICT;
    "#,
    // 6: what the spectrum says of each content: a lossy encoder's cut?
    r#"
    ALTER TABLE contents ADD COLUMN bandwidth TEXT;       -- full_band | transcode | undetermined
    ALTER TABLE contents ADD COLUMN bandwidth_confidence REAL;
    ALTER TABLE contents ADD COLUMN cutoff_hz REAL;       -- the cut (transcode) or highest content
    "#,
    // 7: which catalogue recording each analysed content is, and why.
    r#"
    CREATE TABLE matches (
        content_id   TEXT PRIMARY KEY REFERENCES contents(content_id),
        recording_id INTEGER REFERENCES recordings(recording_id), -- null unless linked
        status       TEXT NOT NULL,             -- linked | review | unmatched
        method       TEXT,                      -- mbid | isrc | fingerprint | text
        confidence   REAL,
        evidence     TEXT                       -- JSON: what agreed; the candidates for review
    ) STRICT;
    CREATE INDEX matches_recording ON matches(recording_id);
    "#,
    // 8: the archive copies `musicark preserve` made (or chose to keep).
    r#"
    CREATE TABLE preserved (
        source_id     TEXT PRIMARY KEY REFERENCES contents(content_id),
        tier          TEXT NOT NULL,            -- original | opus
        kbps          INTEGER,                  -- the Opus bitrate (null for original)
        output_id     TEXT NOT NULL,            -- the copy's BLAKE3 (the source's for original)
        bytes         INTEGER NOT NULL,
        duration      REAL,
        recording_id  INTEGER REFERENCES recordings(recording_id),
        made_at       TEXT NOT NULL
    ) STRICT;
    "#,
    // 9: published torrents (packs of preserved copies, metadata releases)
    // and where each file sits in them. Rows are never rewritten, only
    // marked obsolete.
    r#"
    CREATE TABLE packs (
        pack_id          INTEGER PRIMARY KEY,     -- monotonic, never reused
        name             TEXT NOT NULL UNIQUE,    -- the torrent's name
        kind             TEXT NOT NULL,           -- audio | metadata
        band             TEXT NOT NULL,           -- popularity band (top1, top10, …, unlinked, metadata)
        tier             TEXT NOT NULL,           -- opus-64 | original | mixed | metadata
        btih             TEXT,                    -- v1 info-hash, hex
        btmh             TEXT,                    -- v2 info-hash, hex (hybrid packs)
        torrent_size     INTEGER NOT NULL,
        num_files        INTEGER NOT NULL,
        data_size        INTEGER NOT NULL,
        manifest_sha256  TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        obsolete         INTEGER NOT NULL DEFAULT 0,
        obsoleted_at     TEXT,
        obsolete_reason  TEXT
    ) STRICT;

    CREATE TABLE pack_files (
        pack_id      INTEGER NOT NULL REFERENCES packs(pack_id),
        file_index   INTEGER NOT NULL,            -- in the torrent's v1 file list (BEP 53 `so=`)
        path         TEXT NOT NULL,               -- below the torrent's name, '/'-separated
        byte_offset  INTEGER NOT NULL,            -- where the file starts in the torrent's data
        size         INTEGER NOT NULL,
        output_id    TEXT NOT NULL,               -- BLAKE3 of the file
        source_id    TEXT,                        -- the ingested content it was made from
        recording_id INTEGER,
        PRIMARY KEY (pack_id, file_index)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX pack_files_recording ON pack_files(recording_id);
    CREATE INDEX pack_files_output ON pack_files(output_id);
    "#,
    // 10: fingerprints were stored with algorithm 2 meaning "TEST2"; in
    // Chromaprint's own numbering (the compressed header, AcoustID) TEST2
    // is 1.
    r#"
    UPDATE fingerprints SET algorithm = 1 WHERE algorithm = 2;
    "#,
    // 11: fingerprints stored compressed (Chromaprint's own encoding: 0.69
    // of the raw size on the real corpus); earlier rows stay raw.
    r#"
    ALTER TABLE fingerprints ADD COLUMN encoding TEXT NOT NULL DEFAULT 'raw'; -- raw | chromaprint
    "#,
    // 12: what trackers say of each published info-hash, every scrape kept.
    r#"
    CREATE TABLE scrapes (
        info_hash  TEXT NOT NULL,               -- hex: v1, or v2 cut to 20 bytes
        tracker    TEXT NOT NULL,
        scraped_at TEXT NOT NULL,
        seeders    INTEGER,                     -- null when the scrape failed
        leechers   INTEGER,
        completed  INTEGER,
        error      TEXT,
        PRIMARY KEY (info_hash, tracker, scraped_at)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 13: a recording's preserved copies, looked up per page of the web UI.
    r#"
    CREATE INDEX preserved_recording ON preserved(recording_id);
    "#,
    // 14: rights as data — the operator's default rights of an ingest run,
    // why a pack was withdrawn, and the append-only log of takedowns and
    // embargoes.
    r#"
    ALTER TABLE ingest_runs ADD COLUMN rights TEXT;   -- `ingest --rights ID`: default for its files
    ALTER TABLE packs ADD COLUMN withheld_for TEXT;   -- takedown | embargo | licence, when obsoleted for rights
    CREATE TABLE rights_log (
        entry_id  INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        action    TEXT NOT NULL,                  -- takedown | reinstate | embargo | lift
        entity    TEXT NOT NULL,                  -- recording | artist | release
        entity_id INTEGER NOT NULL,
        until     TEXT,                           -- embargo: the day it ends
        reason    TEXT,
        reference TEXT                            -- the request's reference (ticket, letter)
    ) STRICT;
    CREATE TRIGGER rights_log_no_update BEFORE UPDATE ON rights_log
        BEGIN SELECT RAISE(ABORT, 'rights_log is append-only'); END;
    CREATE TRIGGER rights_log_no_delete BEFORE DELETE ON rights_log
        BEGIN SELECT RAISE(ABORT, 'rights_log is append-only'); END;
    "#,
    // 15: fixity — when each blob, pack, torrent, the database and the
    // search index were last checked (fsck checks the oldest first), each
    // run's summary, and the append-only log of repairs.
    r#"
    CREATE TABLE fsck_checks (
        kind        TEXT NOT NULL,                -- blob | pack | torrent | database | search
        key         TEXT NOT NULL,
        checked_at  TEXT NOT NULL,
        ok          INTEGER NOT NULL,
        problem     TEXT,
        PRIMARY KEY (kind, key)
    ) STRICT;
    CREATE INDEX fsck_checks_at ON fsck_checks(checked_at);
    CREATE TABLE fsck_runs (
        run_id      INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        summary     TEXT                          -- JSON
    ) STRICT;
    CREATE TABLE repair_log (
        entry_id    INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        kind        TEXT NOT NULL,
        key         TEXT NOT NULL,
        problem     TEXT NOT NULL,
        source      TEXT NOT NULL,                -- where the good bytes came from
        quarantined TEXT                          -- where the bad ones went
    ) STRICT;
    CREATE TRIGGER repair_log_no_update BEFORE UPDATE ON repair_log
        BEGIN SELECT RAISE(ABORT, 'repair_log is append-only'); END;
    CREATE TRIGGER repair_log_no_delete BEFORE DELETE ON repair_log
        BEGIN SELECT RAISE(ABORT, 'repair_log is append-only'); END;
    "#,
    // 16: following other publishers' signed lists — each publisher with
    // its pinned key and the copy last verified, the torrents of that
    // copy, the recordings its metadata release says they hold (by MBID),
    // and its wanted list.
    r#"
    CREATE TABLE publishers (
        publisher_id   INTEGER PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        url            TEXT NOT NULL,
        public_key     TEXT NOT NULL,             -- minisign, base64
        key_id         TEXT NOT NULL,
        added_at       TEXT NOT NULL,
        format         TEXT,                      -- musicark | torrents.json, of the copy held
        list_sha256    TEXT,
        list_signed_at INTEGER,                   -- the signature's trusted timestamp
        synced_at      TEXT,                      -- when the copy held was verified
        tried_at       TEXT,
        problem        TEXT                       -- why the last sync was refused or failed
    ) STRICT;
    CREATE TABLE publisher_torrents (
        publisher_id INTEGER NOT NULL,
        btih         TEXT NOT NULL,
        name         TEXT NOT NULL,               -- display_name: NAME.torrent
        group_name   TEXT NOT NULL,
        is_metadata  INTEGER NOT NULL,
        obsolete     INTEGER NOT NULL,
        embargo      INTEGER NOT NULL,
        data_size    INTEGER NOT NULL,
        num_files    INTEGER NOT NULL,
        seeders      INTEGER NOT NULL,
        leechers     INTEGER NOT NULL,
        magnet_link  TEXT NOT NULL,
        manifest_sha256 TEXT,                     -- musicark lists: the pack's manifest
        pack_offset  INTEGER,                     -- its .torrent in follows/NAME/torrents.SHA.pack
        torrent_size INTEGER,                     --   (null when embargoed: listed without)
        PRIMARY KEY (publisher_id, btih)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE publisher_holdings (
        publisher_id   INTEGER NOT NULL,
        btih           TEXT NOT NULL,
        recording_mbid TEXT NOT NULL,
        PRIMARY KEY (publisher_id, btih, recording_mbid)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX publisher_holdings_mbid ON publisher_holdings(recording_mbid);
    CREATE TABLE publisher_wants (
        publisher_id   INTEGER NOT NULL,
        recording_mbid TEXT NOT NULL,
        isrc           TEXT,
        artist         TEXT,
        title          TEXT NOT NULL,
        listens        INTEGER NOT NULL,
        PRIMARY KEY (publisher_id, recording_mbid)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 17: a preserved copy's SHA-256, made in the read that names it, so
    // that `pack` reads each file once (pieces and BLAKE3 check) instead
    // of once more for the manifest's SHA-256. Null for originals (theirs
    // is the content's) and for copies made before.
    r#"
    ALTER TABLE preserved ADD COLUMN sha256 TEXT;
    "#,
    // 18: the work queue — jobs `musicark worker` processes claim under a
    // lease (unix milliseconds), fenced by their attempt number.
    r#"
    CREATE TABLE jobs (
        job_id      INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,               -- ingest | preserve | pack | noop
        key         TEXT NOT NULL,               -- what it works on (a content id…)
        payload     TEXT NOT NULL,               -- JSON, the kind's own
        state       TEXT NOT NULL,               -- queued | running | done | failed
        attempts    INTEGER NOT NULL DEFAULT 0,
        worker      TEXT,
        lease_until INTEGER,
        error       TEXT,
        enqueued_at TEXT NOT NULL,
        finished_at TEXT,
        UNIQUE (kind, key)
    ) STRICT;
    CREATE INDEX jobs_ready ON jobs(state, job_id);
    "#,
    // 19: queued ingest and pack work, and ingests side by side. A queued
    // run's summary counts the files its workers recorded (by run); a
    // pack's hashing job hands its pieces back to the host that builds the
    // torrent (`result`, JSON); each run drains its own walk's files from
    // `pending` (on PostgreSQL several ingests run at once).
    r#"
    CREATE INDEX files_run ON files(run_id);
    ALTER TABLE jobs ADD COLUMN result TEXT;
    ALTER TABLE pending ADD COLUMN run_id INTEGER;
    DROP INDEX pending_order;
    CREATE INDEX pending_run_order ON pending(run_id, size DESC, path);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Prepared statements a connection keeps. rusqlite's default of 16 is
/// fewer than one recording page runs, so every page parsed its SQL
/// again (a tenth of the page's CPU in `scripts/bench-web.sh`).
const STATEMENT_CACHE: usize = 256;

/// A connection to the catalogue, on either engine.
pub struct Db {
    pub(crate) engine: Engine,
}

pub(crate) enum Engine {
    Sqlite(Connection),
    Postgres(Box<PgConn>),
}

/// Where an archive's database is: its SQLite file, or a PostgreSQL
/// server's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://…` (or `postgresql://…`), or `sqlite:PATH` (relative
    /// to `root`, the archive, when not absolute).
    pub fn parse(s: &str, root: &Path) -> Result<Location> {
        if is_postgres_url(s) {
            return Ok(Location::Postgres(s.to_string()));
        }
        if let Some(path) = s.strip_prefix("sqlite:") {
            let path = Path::new(path.strip_prefix("//").unwrap_or(path));
            if !path.as_os_str().is_empty() {
                return Ok(Location::Sqlite(root.join(path)));
            }
        }
        Err(StoreError::BadLocation {
            given: s.to_string(),
        })
    }

    /// How `musicark.toml` names it.
    pub fn config_value(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("sqlite:{}", p.display()),
            Location::Postgres(url) => url.clone(),
        }
    }

    /// Whether an archive's schema is already there (a file that exists
    /// counts: a new SQLite database is a new file).
    pub fn holds_archive(&self) -> Result<bool> {
        match self {
            Location::Sqlite(p) => Ok(p.exists()),
            Location::Postgres(url) => PgConn::holds_archive(url),
        }
    }

    /// For people: the file's path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => crate::pg::redact(url),
        }
    }
}

/// Whether `s` names a PostgreSQL database (`postgres://` or
/// `postgresql://`).
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

impl Db {
    /// Open (and migrate) the database at `location`.
    pub fn open_at(location: &Location) -> Result<Db> {
        match location {
            Location::Sqlite(p) => Db::open(p),
            Location::Postgres(url) => Ok(Db {
                engine: Engine::Postgres(Box::new(PgConn::open(url)?)),
            }),
        }
    }

    /// A connection for reading only (migrated first when older).
    pub fn open_read_only_at(location: &Location) -> Result<Db> {
        match location {
            Location::Sqlite(p) => {
                let db = Db::open_read_only(p)?;
                if db.schema_version()? < SCHEMA_VERSION {
                    drop(db);
                    drop(Db::open(p)?);
                    return Db::open_read_only(p);
                }
                Ok(db)
            }
            Location::Postgres(url) => Ok(Db {
                engine: Engine::Postgres(Box::new(PgConn::open_read_only(url)?)),
            }),
        }
    }

    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        configure(&conn)?;
        let mut db = Db {
            engine: Engine::Sqlite(conn),
        };
        db.migrate()?;
        Ok(db)
    }

    pub fn open_read_only(path: &Path) -> Result<Db> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Db {
            engine: Engine::Sqlite(conn),
        })
    }

    /// The SQLite connection (for the store's tests); `None` on
    /// PostgreSQL.
    #[cfg(test)]
    pub(crate) fn sqlite(&self) -> Option<&Connection> {
        match &self.engine {
            Engine::Sqlite(c) => Some(c),
            Engine::Postgres(_) => None,
        }
    }

    fn migrate(&mut self) -> Result<()> {
        let Engine::Sqlite(conn) = &mut self.engine else {
            return Ok(()); // PostgreSQL: migrated on connect (PgConn::open)
        };
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(match &self.engine {
            Engine::Sqlite(c) => c.query_row("PRAGMA user_version", [], |r| r.get(0))?,
            Engine::Postgres(_) => self.query_row(
                "SELECT coalesce(max(version), 0) FROM musicark_schema",
                [],
                |r| r.get(0),
            )?,
        })
    }
}

/// The archive's schema as SQLite declares it, whatever engine holds the
/// archive: built from the migrations in memory, for those who write
/// SQLite files of the archive's tables (the metadata release).
pub struct SqliteSchema {
    conn: Connection,
}

impl SqliteSchema {
    pub fn new() -> Result<SqliteSchema> {
        let mut db = Db {
            engine: Engine::Sqlite(Connection::open_in_memory()?),
        };
        db.migrate()?;
        let Engine::Sqlite(conn) = db.engine else {
            unreachable!("made as SQLite above")
        };
        Ok(SqliteSchema { conn })
    }

    /// The first column of every row `sql` answers, `arg` bound to its
    /// placeholder when it has one.
    fn names(&self, sql: &str, arg: Option<&str>) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(sql)?;
        let names = stmt
            .query_map(rusqlite::params_from_iter(arg), |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(names)
    }

    /// Every table, in the order the migrations made them (a table's
    /// references come before it).
    pub fn tables(&self) -> Result<Vec<String>> {
        self.names(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
            None,
        )
    }

    /// The columns that identify a row of `table`: its primary key, else
    /// its first unique index; empty when it has neither.
    pub fn key_columns(&self, table: &str) -> Result<Vec<String>> {
        let pk = self.names(
            "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk",
            Some(table),
        )?;
        if !pk.is_empty() {
            return Ok(pk);
        }
        let unique = self.names(
            "SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1 ORDER BY name LIMIT 1",
            Some(table),
        )?;
        match unique.first() {
            Some(index) => self.names(
                "SELECT name FROM pragma_index_info(?1) ORDER BY seqno",
                Some(index),
            ),
            None => Ok(Vec::new()),
        }
    }

    /// `CREATE TABLE …` of `table`.
    pub fn table_sql(&self, table: &str) -> Result<String> {
        Ok(self.conn.query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )?)
    }

    /// `table`'s columns, in order.
    pub fn columns(&self, table: &str) -> Result<Vec<String>> {
        self.names(
            "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
            Some(table),
        )
    }

    /// `CREATE INDEX …` of every index on `tables`, by index name.
    pub fn indexes(&self, tables: &[&str]) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
        )?;
        let all: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(all
            .into_iter()
            .filter(|(t, _)| tables.contains(&t.as_str()))
            .map(|(_, sql)| sql)
            .collect())
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    // WAL: readers never block the writer; NORMAL is durable against a
    // process crash (kill -9) and consistent after a power loss.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_refuse_newer_schemas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.sqlite");
        let db = Db::open(&path).expect("open");
        assert_eq!(db.schema_version().expect("version"), SCHEMA_VERSION);
        drop(db);
        let db = Db::open(&path).expect("reopen");
        db.sqlite()
            .expect("sqlite")
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        drop(db);
        assert!(matches!(
            Db::open(&path),
            Err(StoreError::NewerSchema { .. })
        ));
    }
}
