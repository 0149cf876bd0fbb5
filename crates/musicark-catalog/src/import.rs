//! Streaming importers. Each runs a producer thread (read and parse) and
//! writes on the calling thread in transactions of [`BATCH`] lines; each
//! transaction also records how many input lines are done, so a rerun after
//! a crash resumes exactly there. Upserts make a re-import an update.
//!
//! Memory is bounded: a few batches in flight and one line at a time, at
//! most [`MAX_LINE`] bytes (a longer line is rejected, not read into memory).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, UNIX_EPOCH};

use musicark_store::{params, sql::OptionalExtension};
use serde::Serialize;

use crate::mapping::{Format, Mapping};
use crate::mb;
use crate::write::{FieldReject, MappedRow, W};
use crate::{Catalog, CatalogError, ids};

/// Input lines per transaction.
pub const BATCH: usize = 4096;
/// Longest input line read.
pub const MAX_LINE: usize = 64 << 20;

/// Progress hooks (the binary draws a bar; bytes are of the file on disk,
/// compressed or not, so the ETA is honest).
pub trait ImportProgress: Sync {
    fn start(&self, _label: &str, _total_bytes: u64) {}
    fn advance(&self, _bytes_read: u64, _lines: u64) {}
    /// The input is read; what is being done now (building indexes).
    fn phase(&self, _what: &str) {}
    fn finish(&self) {}
}

pub struct NoProgress;
impl ImportProgress for NoProgress {}

#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub import_id: i64,
    pub source: String,
    pub kind: String,
    pub path: String,
    /// Input lines (or records) read, in all runs of this import.
    pub lines: u64,
    /// Lines this run started after (non-zero when it resumed).
    pub resumed_after: u64,
    pub rows: u64,
    pub rejects: u64,
    pub seconds: f64,
    pub lines_per_second: f64,
    /// The file was already imported in full, unchanged: nothing was done.
    pub unchanged: bool,
}

/// One produced item: its line number, the parsed value or why not, and
/// the raw line for a reject.
struct Produced<T> {
    line: u64,
    item: Result<T, String>,
    raw: Option<String>,
}

/// A reader that counts the bytes taken from the file underneath.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn io_err(path: &Path, source: std::io::Error) -> CatalogError {
    CatalogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Open `path` for reading, counting the bytes taken from it (for the
/// progress bar's ETA).
fn open_counted(
    path: &Path,
    count: Arc<AtomicU64>,
) -> Result<BufReader<Counting<File>>, CatalogError> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    Ok(BufReader::with_capacity(
        1 << 20,
        Counting { inner: file, count },
    ))
}

/// A CSV reader over `reader` and its header row.
fn csv_with_header<R: Read>(
    reader: R,
    path: &Path,
) -> Result<(csv::Reader<R>, csv::StringRecord), CatalogError> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| CatalogError::Input {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .clone();
    Ok((csv, header))
}

/// Column name → position, built once per input (not once per field of
/// every row).
fn column_index<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    names.enumerate().map(|(i, n)| (n, i)).collect()
}

/// Read one line of at most `MAX_LINE` bytes into `buf` (without the
/// newline). `Ok(None)` at the end; `Ok(Some(false))` for an over-long line
/// (skipped to its end).
fn read_line_bounded(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if any { Some(!too_long) } else { None });
        }
        any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_LINE {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take + usize::from(done));
        if done {
            return Ok(Some(!too_long));
        }
    }
}

/// Run `f` on a line reader for the MusicBrainz `entity` in `path`: a plain
/// JSON Lines file, or the `mbdump/<entity>` member of a `.tar.xz` dump
/// (streamed: the archive is never unpacked).
fn with_mb_reader<T>(
    path: &Path,
    entity: &str,
    count: Arc<AtomicU64>,
    f: impl FnOnce(&mut dyn BufRead) -> T,
) -> Result<T, CatalogError> {
    let counted = open_counted(path, count)?;
    if is_tar_xz(path) {
        let xz = xz2::read::XzDecoder::new_multi_decoder(counted);
        let mut archive = tar::Archive::new(xz);
        let wanted = format!("mbdump/{entity}");
        let entries = archive.entries().map_err(|e| io_err(path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_err(path, e))?;
            let p = entry
                .path()
                .map_err(|e| io_err(path, e))?
                .to_string_lossy()
                .into_owned();
            if p == wanted || p.ends_with(&format!("/{wanted}")) {
                let mut reader = BufReader::with_capacity(1 << 20, entry);
                return Ok(f(&mut reader));
            }
        }
        return Err(CatalogError::Input {
            path: path.to_path_buf(),
            message: format!("no {wanted} in this archive"),
        });
    }
    let mut reader = counted;
    Ok(f(&mut reader))
}

fn is_tar_xz(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".tar.xz") || name.ends_with(".txz")
}

/// The MusicBrainz entity a path holds, from its name (`recording`,
/// `mbdump/recording`, `recording.tar.xz`, `recording.jsonl`).
pub fn mb_entity(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let stem = name.split('.').next().unwrap_or("");
    ["artist", "release", "recording"]
        .into_iter()
        .find(|e| *e == stem)
}

struct ImportRow {
    import_id: i64,
    resume_after: u64,
    /// The same file (size and mtime) was imported to the end before.
    done_before: bool,
    /// A first load: rows appended without secondary indexes.
    bulk: bool,
}

/// The secondary indexes a bulk load goes without, and how to build them.
const BULK_INDEXES: &[&str] = &[
    "CREATE UNIQUE INDEX IF NOT EXISTS recordings_mbid ON recordings(mbid)",
    "CREATE UNIQUE INDEX IF NOT EXISTS isrcs_pk ON isrcs(isrc, recording_id)",
    "CREATE INDEX IF NOT EXISTS isrcs_recording ON isrcs(recording_id)",
    "CREATE INDEX IF NOT EXISTS recording_artists_artist ON recording_artists(artist_id)",
];

/// Build the indexes a bulk load left out. A dump that repeats a recording
/// makes a unique index refuse: then the duplicates are dropped (the last
/// copy of a recording wins) and the build is tried again. Cheap when they
/// exist.
/// Returns whether rows were dropped.
fn ensure_indexes(conn: &musicark_store::sql::Tx<'_>) -> musicark_store::sql::Result<bool> {
    let present = conn.indexes_present(&[
        "recordings_mbid",
        "isrcs_pk",
        "isrcs_recording",
        "recording_artists_artist",
    ])?;
    if present == BULK_INDEXES.len() {
        return Ok(false);
    }
    conn.sort_in_runs()?;
    let build = || -> musicark_store::sql::Result<()> {
        for sql in BULK_INDEXES {
            conn.execute(sql, [])?;
        }
        Ok(())
    };
    match build() {
        Err(e) if musicark_store::sql::is_constraint_violation(&e) => {
            // Temporary tables: named without a schema (SQLite looks in
            // `temp` first, PostgreSQL in `pg_temp`).
            conn.execute_batch(
                "CREATE TEMP TABLE dup AS SELECT recording_id FROM recordings WHERE mbid IS NOT NULL \
                   AND recording_id NOT IN (SELECT max(recording_id) FROM recordings WHERE mbid IS NOT NULL GROUP BY mbid);
                 DELETE FROM isrcs WHERE recording_id IN (SELECT recording_id FROM dup);
                 DELETE FROM recording_artists WHERE recording_id IN (SELECT recording_id FROM dup);
                 DELETE FROM tracks WHERE recording_id IN (SELECT recording_id FROM dup);
                 DELETE FROM recordings WHERE recording_id IN (SELECT recording_id FROM dup);
                 INSERT INTO search_outbox (key) SELECT recording_id FROM dup WHERE true ON CONFLICT (key) DO NOTHING;
                 DROP TABLE dup;
                 CREATE TEMP TABLE isrcs_once AS SELECT DISTINCT isrc, recording_id FROM isrcs;
                 DELETE FROM isrcs;
                 INSERT INTO isrcs (isrc, recording_id) SELECT isrc, recording_id FROM isrcs_once;
                 DROP TABLE isrcs_once;",
            )?;
            build().map(|()| true)
        }
        other => other.map(|()| false),
    }
}

/// Check, before a first load's end commits, that each credit and ISRC
/// it wrote points at its recording and artist (and each reject at its
/// import): SQLite wrote them without a look-up per row ([`musicark_store::Db::foreign_keys_per_row`]).
///
/// Not by SQLite's `foreign_key_check`, which takes a look-up per row as
/// well (24 s at 10 M recordings, a fifth of the load: the credits'
/// artists, looked up at random, read pages the recordings had pushed
/// out of the cache), but from what a first load is, each bound one step
/// down an index:
/// - it began on an empty catalogue and counts its ids from the last one
///   stored, so its recordings are exactly `1..=top` when there are
///   `top` of them: then a child whose recording lies in `1..=top` has it;
/// - likewise artists, when their ids are `1..=count` (no artist is ever
///   deleted), for the credits' artists.
///
/// When a bound does not hold (rows dropped as a dump's repeats, another
/// import between a killed load and its rerun), every row is checked by
/// SQLite after all. A row that points at nothing is an error, and the
/// load stays unfinished.
fn check_first_load_keys(
    t: &musicark_store::sql::Tx<'_>,
    dropped: bool,
) -> Result<(), CatalogError> {
    let one = |sql: &str| -> musicark_store::sql::Result<Option<i64>> {
        t.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
    };
    // Whether `column`'s values in `table` (none, or each step down an
    // index: its least and its greatest) lie in `1..=top`.
    let within =
        |table: &str, column: &str, top: Option<i64>| -> musicark_store::sql::Result<bool> {
            let least = one(&format!("SELECT min({column}) FROM {table}"))?;
            let greatest = one(&format!("SELECT max({column}) FROM {table}"))?;
            Ok(match (least, greatest, top) {
                (None, _, _) => true,
                (Some(least), Some(greatest), Some(top)) => least >= 1 && greatest <= top,
                _ => false,
            })
        };
    let top = one("SELECT max(recording_id) FROM recordings")?;
    let last_artist = one("SELECT max(artist_id) FROM artists")?;
    let bounded = !dropped
        && one("SELECT count(*) FROM recordings")? == Some(top.unwrap_or(0))
        && one("SELECT count(*) FROM artists")? == Some(last_artist.unwrap_or(0))
        && within("recording_artists", "recording_id", top)?
        && within("isrcs", "recording_id", top)?
        && within("recording_artists", "artist_id", last_artist)?;
    // The rejects point at their import: few rows, each a look-up in a
    // table of a few: checked row by row.
    let mut tables = vec!["rejects"];
    if !bounded {
        t.cache_mib(256)?;
        tables.extend(CHILDREN);
    }
    for table in tables {
        if let Some((broken, parent)) = t.broken_foreign_keys(table)? {
            return Err(CatalogError::Invariant(format!(
                "{broken} rows of {table} point at no row of {parent}"
            )));
        }
    }
    Ok(())
}

/// Find an unfinished import of the same file (same size and mtime) to
/// resume, a finished one (nothing to do), or start a new one.
fn begin(
    db: &musicark_store::Db,
    source: &str,
    kind: &str,
    path: &Path,
) -> Result<ImportRow, CatalogError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let display = std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string();
    let previous: Option<(i64, i64, bool, bool)> = db
        .query_row(
            "SELECT import_id, lines_done, finished_at IS NOT NULL, bulk FROM imports \
             WHERE source = ?1 AND kind = ?2 AND path = ?3 AND size = ?4 AND mtime_ns = ?5 \
             ORDER BY import_id DESC LIMIT 1",
            params![source, kind, display, meta.len() as i64, mtime],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    if let Some((import_id, done, finished, bulk)) = previous {
        let bulk = bulk && !finished;
        if !bulk {
            let t = db.unchecked_transaction()?;
            ensure_indexes(&t)?;
            t.commit()?;
        }
        return Ok(ImportRow {
            import_id,
            resume_after: done as u64,
            done_before: finished,
            bulk,
        });
    }
    // A first load of recordings appends without indexes; anything else
    // needs them (the indexes of an earlier bulk load that died are built).
    let t = db.unchecked_transaction()?;
    ensure_indexes(&t)?;
    t.commit()?;
    let empty: bool = db.query_row("SELECT NOT EXISTS (SELECT 1 FROM recordings)", [], |r| {
        r.get(0)
    })?;
    let bulk = empty && source == "musicbrainz" && kind == "recording";
    let fts_from: i64 = db.query_row(
        "SELECT coalesce(max(recording_id), 0) FROM recordings",
        [],
        |r| r.get(0),
    )?;
    let import_id: i64 = db.query_row(
        "INSERT INTO imports (source, kind, path, size, mtime_ns, started_at, fts_from, bulk) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?8, ?6, ?7) RETURNING import_id",
        params![
            source,
            kind,
            display,
            meta.len() as i64,
            mtime,
            fts_from,
            bulk,
            musicark_store::clock::now()
        ],
        |r| r.get(0),
    )?;
    Ok(ImportRow {
        import_id,
        resume_after: 0,
        done_before: false,
        bulk,
    })
}

/// The tables a first load writes whose keys point at its recordings.
const CHILDREN: [&str; 2] = ["recording_artists", "isrcs"];

/// Run one import: `produce` (on its own thread) reads and parses, calling
/// `emit` per line; `prefetch` looks up what a batch's items need before
/// they are written (see [`W::prefetch_releases`]); `write` stores one
/// item, returning how many rows.
#[allow(clippy::too_many_arguments)]
fn drive<T: Send>(
    cat: &mut Catalog,
    source: &str,
    kind: &str,
    path: &Path,
    progress: &dyn ImportProgress,
    bytes_read: Arc<AtomicU64>,
    produce: impl FnOnce(u64, &mut dyn FnMut(Produced<T>) -> bool) -> Result<(), CatalogError> + Send,
    prefetch: impl FnMut(&W<'_>, &[&T]) -> musicark_store::sql::Result<()>,
    write: impl FnMut(&W<'_>, T, &mut Vec<FieldReject>) -> musicark_store::sql::Result<u64>,
) -> Result<ImportSummary, CatalogError> {
    let loaded = load(
        cat, source, kind, path, progress, bytes_read, produce, prefetch, write,
    );
    // A first load stops checking keys row by row on SQLite; whatever
    // became of it, the connection checks them again from here.
    let checking = cat.db.foreign_keys_per_row(true);
    let summary = loaded?;
    checking?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn load<T: Send>(
    cat: &mut Catalog,
    source: &str,
    kind: &str,
    path: &Path,
    progress: &dyn ImportProgress,
    bytes_read: Arc<AtomicU64>,
    produce: impl FnOnce(u64, &mut dyn FnMut(Produced<T>) -> bool) -> Result<(), CatalogError> + Send,
    mut prefetch: impl FnMut(&W<'_>, &[&T]) -> musicark_store::sql::Result<()>,
    mut write: impl FnMut(&W<'_>, T, &mut Vec<FieldReject>) -> musicark_store::sql::Result<u64>,
) -> Result<ImportSummary, CatalogError> {
    let started = Instant::now();
    let Catalog { db, search } = cat;
    // A large page cache (random-key index inserts, MBIDs and ISRCs,
    // otherwise go to the OS for every page), index builds sorted in
    // temporary files with a helper thread (10 s instead of 17 s for the
    // MBID index of 10 M recordings), and one checkpoint at the end
    // instead of one every 4 MiB of WAL.
    db.bulk_load(true)?;
    let import = begin(db, source, kind, path)?;
    if import.done_before {
        // Unchanged since it was imported in full: nothing to do (a changed
        // file, or a touched one, is imported again and updates) but the
        // search documents an interrupted run may have left behind.
        crate::textindex::sync(db, search)?;
        return Ok(ImportSummary {
            import_id: import.import_id,
            source: source.to_string(),
            kind: kind.to_string(),
            path: path.display().to_string(),
            lines: import.resume_after,
            resumed_after: import.resume_after,
            rows: 0,
            rejects: 0,
            seconds: started.elapsed().as_secs_f64(),
            lines_per_second: 0.0,
            unchanged: true,
        });
    }
    if import.bulk {
        let t = db.transaction()?;
        t.execute_batch(
            "DROP INDEX IF EXISTS recordings_mbid; DROP INDEX IF EXISTS isrcs_pk; \
             DROP INDEX IF EXISTS recording_artists_artist;",
        )?;
        t.suspend_foreign_keys(&CHILDREN)?;
        t.commit()?;
    }
    // The children point at recordings this load writes itself: SQLite
    // checks them at its end, not by a look-up per row.
    let per_row_off = import.bulk && db.engine_name() == "sqlite";
    if per_row_off {
        db.foreign_keys_per_row(false)?;
    }
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    progress.start(&format!("{source} {kind}"), total);
    let skip = import.resume_after;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Produced<T>>>(4);
    let mut lines = skip;
    let mut rows_total = 0u64;
    let mut rejects_total = 0u64;
    let artists = std::cell::RefCell::new(std::collections::HashMap::new());
    let pending = std::cell::RefCell::new(crate::write::Pending::default());
    // A first load indexes its recordings for search as it writes them.
    let early = match import.bulk {
        true => crate::textindex::Early::start(db, search)?.map(std::cell::RefCell::new),
        false => None,
    };
    if import.bulk {
        // A first load credits most artists of the artist dump: read them
        // in one pass instead of one look-up each (a round trip each on
        // PostgreSQL: 125 000 of them for a million recordings).
        let mut known = artists.borrow_mut();
        db.scan(
            "SELECT mbid, artist_id FROM artists WHERE mbid IS NOT NULL",
            [],
            |r| {
                if known.len() < crate::write::ARTIST_CACHE
                    && let Some(key) = r.text(0)?.and_then(crate::ids::mbid_key)
                {
                    known.insert(key, r.get::<_, i64>(1)?);
                }
                Ok(())
            },
        )?;
    }
    // A bulk load counts recording ids itself, on from the last one stored
    // (a resumed load goes on after what its last commit kept).
    let bulk = crate::write::Bulk::new(db.query_row(
        "SELECT coalesce(max(recording_id), 0) + 1 FROM recordings",
        [],
        |r| r.get::<_, i64>(0),
    )?);
    let produced = std::thread::scope(|s| -> Result<Result<(), CatalogError>, CatalogError> {
        let producer = s.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut alive = true;
            let result = produce(skip, &mut |p| {
                batch.push(p);
                if batch.len() >= BATCH {
                    alive = tx
                        .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .is_ok();
                }
                alive
            });
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            result
        });
        for batch in rx.iter() {
            let t = db.transaction()?;
            let w = W {
                tx: &t,
                import_id: import.import_id,
                source: source.to_string(),
                today: musicark_store::clock::today(),
                artists: &artists,
                bulk: import.bulk.then_some(&bulk),
                pending: &pending,
                search: early.as_ref(),
            };
            let mut rows = 0u64;
            let mut rejects = 0u64;
            let mut last = lines;
            let items: Vec<&T> = batch.iter().filter_map(|p| p.item.as_ref().ok()).collect();
            prefetch(&w, &items)?;
            for p in batch {
                last = p.line;
                match p.item {
                    Ok(item) => {
                        let mut field_rejects = Vec::new();
                        rows += write(&w, item, &mut field_rejects)?;
                        for r in field_rejects {
                            w.reject(p.line, Some(r.field), Some(&r.value), &r.reason, None)?;
                            rejects += 1;
                        }
                    }
                    Err(reason) => {
                        w.reject(p.line, None, None, &reason, p.raw.as_deref())?;
                        rejects += 1;
                    }
                }
            }
            w.flush()?;
            t.execute(
                "UPDATE imports SET lines_done = ?2, rows = rows + ?3, rejects = rejects + ?4 WHERE import_id = ?1",
                params![import.import_id, last as i64, rows as i64, rejects as i64],
            )?;
            t.commit()?;
            lines = last;
            rows_total += rows;
            rejects_total += rejects;
            progress.advance(bytes_read.load(Ordering::Relaxed), lines);
        }
        producer.join().map_err(|_| CatalogError::Input {
            path: path.to_path_buf(),
            message: "the reader thread panicked".into(),
        })
    })?;
    if let Err(e) = produced {
        // The input itself failed (a truncated archive, a read error): what
        // was read is kept, the failure is a reject at the line where the
        // input stopped, and the import counts as done.
        let t = db.transaction()?;
        let w = W {
            tx: &t,
            import_id: import.import_id,
            source: source.to_string(),
            today: musicark_store::clock::today(),
            artists: &artists,
            bulk: import.bulk.then_some(&bulk),
            pending: &pending,
            search: early.as_ref(),
        };
        w.reject(
            lines + 1,
            None,
            None,
            &format!("input ends early: {e}"),
            None,
        )?;
        w.flush()?;
        t.execute(
            "UPDATE imports SET rejects = rejects + 1 WHERE import_id = ?1",
            [import.import_id],
        )?;
        t.commit()?;
        rejects_total += 1;
    }
    progress.phase("all lines read; building the indexes and the search index");
    // The SQLite indexes a bulk load left out are built while the search
    // documents of what this import added or changed (and of anything an
    // earlier run left unindexed) are read through a second connection.
    crate::textindex::sync_while(
        db,
        search,
        early.map(std::cell::RefCell::into_inner),
        |db| {
            let t = db.transaction()?;
            let dropped = ensure_indexes(&t)?;
            t.restore_foreign_keys()?;
            if per_row_off {
                check_first_load_keys(&t, dropped)?;
            }
            t.execute(
                "UPDATE imports SET finished_at = ?2 WHERE import_id = ?1",
                musicark_store::params![import.import_id, musicark_store::clock::now()],
            )?;
            t.commit()?;
            Ok(dropped)
        },
    )?;
    progress.phase("checkpointing the database");
    db.checkpoint()?;
    db.analyze(&[
        "artists",
        "recordings",
        "recording_artists",
        "isrcs",
        "release_groups",
        "releases",
        "tracks",
        "popularity",
        "external_ids",
    ])?;
    db.bulk_load(false)?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    Ok(ImportSummary {
        import_id: import.import_id,
        source: source.to_string(),
        kind: kind.to_string(),
        path: path.display().to_string(),
        lines,
        resumed_after: skip,
        rows: rows_total,
        rejects: rejects_total,
        seconds,
        lines_per_second: (lines - skip) as f64 / seconds.max(1e-9),
        unchanged: false,
    })
}

/// Produce parsed JSON lines from `reader`, skipping the first `skip`.
fn json_lines<T: serde::de::DeserializeOwned>(
    reader: &mut dyn BufRead,
    skip: u64,
    emit: &mut dyn FnMut(Produced<T>) -> bool,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    while let Some(fits) = read_line_bounded(reader, &mut buf)? {
        line += 1;
        if line <= skip {
            continue;
        }
        let produced = if !fits {
            Produced {
                line,
                item: Err(format!("line longer than {MAX_LINE} bytes")),
                raw: None,
            }
        } else if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        } else {
            match serde_json::from_slice::<T>(&buf) {
                Ok(v) => Produced {
                    line,
                    item: Ok(v),
                    raw: None,
                },
                Err(e) => Produced {
                    line,
                    item: Err(format!("bad JSON: {e}")),
                    raw: Some(String::from_utf8_lossy(&buf).into_owned()),
                },
            }
        };
        if !emit(produced) {
            break;
        }
    }
    Ok(())
}

/// One MusicBrainz dump file of records `T`, each stored by `write`
/// (which returns the row's id, or `None` when the record was rejected).
fn mb_import<T: serde::de::DeserializeOwned + Send>(
    cat: &mut Catalog,
    file: &Path,
    entity: &'static str,
    progress: &dyn ImportProgress,
    prefetch: impl FnMut(&W<'_>, &[&T]) -> musicark_store::sql::Result<()>,
    mut write: impl FnMut(&W<'_>, T, &mut Vec<FieldReject>) -> musicark_store::sql::Result<Option<i64>>,
) -> Result<ImportSummary, CatalogError> {
    let count = Arc::new(AtomicU64::new(0));
    let c2 = count.clone();
    let f2 = file.to_path_buf();
    drive(
        cat,
        "musicbrainz",
        entity,
        file,
        progress,
        count,
        move |skip, emit| {
            with_mb_reader(&f2, entity, c2, |r| json_lines::<T>(r, skip, emit))?
                .map_err(|e| io_err(&f2, e))
        },
        prefetch,
        |w, item, rej| Ok(write(w, item, rej)?.map_or(0, |_| 1)),
    )
}

/// Import a MusicBrainz JSON dump: a file (`recording`, `release.jsonl`,
/// `artist.tar.xz`…) or a directory holding several (imported artists,
/// then recordings, then releases).
pub fn import_musicbrainz(
    cat: &mut Catalog,
    path: &Path,
    progress: &dyn ImportProgress,
) -> Result<Vec<ImportSummary>, CatalogError> {
    let mut files: Vec<(PathBuf, &'static str)> = Vec::new();
    if path.is_dir() {
        let mut found: Vec<(PathBuf, &'static str)> = Vec::new();
        for dir in [path.to_path_buf(), path.join("mbdump")] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                if let Some(entity) = mb_entity(&e.path()) {
                    found.push((e.path(), entity));
                }
            }
        }
        for entity in ["artist", "recording", "release"] {
            files.extend(found.iter().filter(|f| f.1 == entity).cloned());
        }
        if files.is_empty() {
            return Err(CatalogError::Input {
                path: path.to_path_buf(),
                message: "no artist, recording or release dump in this directory".into(),
            });
        }
    } else {
        let entity = mb_entity(path).ok_or_else(|| CatalogError::Input {
            path: path.to_path_buf(),
            message: "cannot tell the entity from the name: expected artist, recording or release (plain, .jsonl or .tar.xz)".into(),
        })?;
        files.push((path.to_path_buf(), entity));
    }
    let mut out = Vec::new();
    for (file, entity) in files {
        let summary = match entity {
            "artist" => mb_import::<mb::Artist>(
                cat,
                &file,
                entity,
                progress,
                |w, batch| w.prefetch_artists(batch.iter().copied()),
                |w, a, rej| w.mb_artist(&a, rej),
            )?,
            "recording" => mb_import::<mb::Recording>(
                cat,
                &file,
                entity,
                progress,
                |_, _| Ok(()),
                |w, r, rej| w.mb_recording(&r, false, rej),
            )?,
            _ => mb_import::<mb::Release>(
                cat,
                &file,
                entity,
                progress,
                |w, batch| w.prefetch_releases(batch.iter().copied()),
                |w, r, rej| w.mb_release(&r, rej),
            )?,
        };
        out.push(summary);
    }
    Ok(out)
}

/// Produce the records of a CSV file (after its header), skipping the first
/// `skip`; line numbers count the header, as an editor shows them.
fn csv_records<R: Read, T>(
    csv: &mut csv::Reader<R>,
    skip: u64,
    emit: &mut dyn FnMut(Produced<T>) -> bool,
    parse: impl Fn(&csv::StringRecord) -> Result<T, String>,
) {
    let mut record = csv::StringRecord::new();
    let mut n = 0u64;
    loop {
        let item = match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => parse(&record),
            Err(e) => Err(format!("bad CSV: {e}")),
        };
        n += 1;
        if n <= skip {
            continue;
        }
        let raw = item
            .is_err()
            .then(|| record.iter().collect::<Vec<_>>().join(","));
        if !emit(Produced {
            line: n + 1,
            item,
            raw,
        }) {
            break;
        }
    }
}

#[derive(serde::Deserialize)]
struct LbRow {
    recording_mbid: String,
    total_listen_count: Option<i64>,
    total_user_count: Option<i64>,
}

fn looks_like_json(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    matches!(ext.as_str(), "json" | "jsonl" | "ndjson")
}

/// Import ListenBrainz popularity: CSV with a header, or JSON Lines, of
/// `recording_mbid, total_listen_count, total_user_count`.
pub fn import_listenbrainz(
    cat: &mut Catalog,
    path: &Path,
    progress: &dyn ImportProgress,
) -> Result<ImportSummary, CatalogError> {
    let count = Arc::new(AtomicU64::new(0));
    let c2 = count.clone();
    let p2 = path.to_path_buf();
    let json = looks_like_json(path);
    drive(
        cat,
        "listenbrainz",
        "popularity",
        path,
        progress,
        count,
        move |skip, emit| {
            let mut reader = open_counted(&p2, c2)?;
            if json {
                return json_lines::<LbRow>(&mut reader, skip, emit).map_err(|e| io_err(&p2, e));
            }
            let (mut csv, headers) = csv_with_header(reader, &p2)?;
            let col = |name: &str| headers.iter().position(|h| h.trim() == name);
            let (Some(mi), li, ui) = (
                col("recording_mbid"),
                col("total_listen_count"),
                col("total_user_count"),
            ) else {
                return Err(CatalogError::Input {
                    path: p2.clone(),
                    message: "no recording_mbid column in the header".into(),
                });
            };
            csv_records(&mut csv, skip, emit, |record| {
                let num = |i: Option<usize>| -> Result<Option<i64>, String> {
                    match i
                        .and_then(|i| record.get(i))
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                    {
                        None => Ok(None),
                        Some(s) => s
                            .parse()
                            .map(Some)
                            .map_err(|_| format!("not a number: {s:?}")),
                    }
                };
                Ok(LbRow {
                    recording_mbid: record.get(mi).unwrap_or("").to_string(),
                    total_listen_count: num(li)?,
                    total_user_count: num(ui)?,
                })
            });
            Ok(())
        },
        |_, _| Ok(()),
        |w, row: LbRow, rej| match ids::mbid(&row.recording_mbid) {
            Ok(m) => {
                w.popularity(&m, row.total_listen_count, row.total_user_count, None)?;
                Ok(1)
            }
            Err(e) => {
                rej.push(FieldReject {
                    field: "recording_mbid",
                    value: row.recording_mbid,
                    reason: e.to_string(),
                });
                Ok(0)
            }
        },
    )
}

/// A value from a mapped source, as text.
fn cell_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        other => Some(other.to_string()),
    }
}

fn mapped_row(m: &Mapping, get: &dyn Fn(&str) -> Option<String>) -> Result<MappedRow, String> {
    let field = |f: &str| m.column(f).and_then(get);
    let int = |f: &str| -> Result<Option<i64>, String> {
        match field(f) {
            None => Ok(None),
            Some(s) => s
                .parse::<f64>()
                .map(|v| Some(v.round() as i64))
                .map_err(|_| format!("{f}: not a number: {s:?}")),
        }
    };
    let id = field("id").ok_or("the id column is empty")?;
    let title = field("title").ok_or("the title column is empty")?;
    let length_ms = match int("length_ms")? {
        Some(ms) => Some(ms),
        None => match field("length_s") {
            Some(s) => Some(
                (s.parse::<f64>()
                    .map_err(|_| format!("length_s: not a number: {s:?}"))?
                    * 1000.0)
                    .round() as i64,
            ),
            None => None,
        },
    };
    Ok(MappedRow {
        id,
        title,
        artist: field("artist"),
        isrc: field("isrc"),
        mbid: field("mbid"),
        length_ms,
        release: field("release"),
        barcode: field("barcode"),
        date: field("date"),
        license: field("license"),
        listen_count: int("listen_count")?,
        disc: int("disc")?,
        track: int("track")?,
    })
}

/// Import any CSV, JSON Lines or SQLite table through a mapping.
pub fn import_mapped(
    cat: &mut Catalog,
    path: &Path,
    mapping: &Mapping,
    progress: &dyn ImportProgress,
) -> Result<ImportSummary, CatalogError> {
    let count = Arc::new(AtomicU64::new(0));
    let c2 = count.clone();
    let p2 = path.to_path_buf();
    let m = mapping.clone();
    drive(
        cat,
        &mapping.source,
        "mapped",
        path,
        progress,
        count,
        move |skip, emit| match m.format {
            Format::Jsonl => {
                let mut reader = open_counted(&p2, c2)?;
                let mut inner = |p: Produced<serde_json::Value>| {
                    let Produced { line, item, raw } = p;
                    let item = item.and_then(|v| mapped_row(&m, &|c| v.get(c).and_then(cell_text)));
                    emit(Produced { line, item, raw })
                };
                json_lines::<serde_json::Value>(&mut reader, skip, &mut inner)
                    .map_err(|e| io_err(&p2, e))
            }
            Format::Csv => {
                let reader = open_counted(&p2, c2)?;
                let (mut csv, headers) = csv_with_header(reader, &p2)?;
                for needed in m.columns.values() {
                    if !headers.iter().any(|h| h == needed) {
                        return Err(CatalogError::Input {
                            path: p2.clone(),
                            message: format!(
                                "the mapping names column {needed:?}, which the CSV header lacks"
                            ),
                        });
                    }
                }
                let index = column_index(headers.iter());
                csv_records(&mut csv, skip, emit, |record| {
                    mapped_row(&m, &|c| {
                        index
                            .get(c)
                            .and_then(|&i| record.get(i))
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                    })
                });
                Ok(())
            }
            Format::Sqlite => {
                let conn = rusqlite::Connection::open_with_flags(
                    &p2,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )?;
                let sql = match (&m.query, &m.table) {
                    (Some(q), _) => q.clone(),
                    (None, Some(t)) => format!("SELECT * FROM \"{}\"", t.replace('"', "\"\"")),
                    // `Mapping::load` refuses this; a mapping built in code may not.
                    (None, None) => {
                        return Err(CatalogError::Input {
                            path: p2.clone(),
                            message: "an sqlite mapping needs `table` or `query`".into(),
                        });
                    }
                };
                let mut stmt = conn.prepare(&sql)?;
                let names: Vec<String> = stmt.column_names().map(String::from).collect();
                for needed in m.columns.values() {
                    if !names.contains(needed) {
                        return Err(CatalogError::Input {
                            path: p2.clone(),
                            message: format!(
                                "the mapping names column {needed:?}, which the table lacks"
                            ),
                        });
                    }
                }
                let index = column_index(names.iter().map(String::as_str));
                let mut rows = stmt.query([])?;
                let mut n = 0u64;
                while let Some(row) = rows.next()? {
                    n += 1;
                    if n <= skip {
                        continue;
                    }
                    let get = |c: &str| -> Option<String> {
                        let i = *index.get(c)?;
                        match row.get_ref(i).ok()? {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                            rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                            rusqlite::types::ValueRef::Text(t) => {
                                Some(String::from_utf8_lossy(t).trim().to_string())
                                    .filter(|s| !s.is_empty())
                            }
                            rusqlite::types::ValueRef::Blob(_) => None,
                        }
                    };
                    let item = mapped_row(&m, &get);
                    if !emit(Produced {
                        line: n,
                        item,
                        raw: None,
                    }) {
                        break;
                    }
                }
                Ok(())
            }
        },
        |_, _| Ok(()),
        |w, row: MappedRow, rej| {
            w.mapped_recording(&row, rej)?;
            Ok(1)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An archive's catalogue with recordings `ids`, one artist, and a
    /// credit and an ISRC for each recording, written as a first load
    /// writes them: SQLite's per-row key checks off.
    fn catalogue(dir: &Path, ids: &[i64]) -> musicark_store::Db {
        let home = musicark_store::Home::init(&dir.join("archive")).expect("init");
        let db = Catalog::open(&home).expect("catalogue").db;
        db.foreign_keys_per_row(false).expect("keys off");
        db.execute("INSERT INTO artists (artist_id, name) VALUES (1, 'A')", [])
            .expect("artist");
        for id in ids {
            db.execute(
                "INSERT INTO recordings (recording_id, mbid, title) VALUES (?1, ?2, 't')",
                params![id, format!("00000000-0000-4000-8000-{id:012}")],
            )
            .expect("recording");
            db.execute(
                "INSERT INTO recording_artists (recording_id, position, artist_id, credited_name, join_phrase) \
                 VALUES (?1, 0, 1, 'A', '')",
                [id],
            )
            .expect("credit");
            db.execute(
                "INSERT INTO isrcs (isrc, recording_id) VALUES (?1, ?2)",
                params![format!("USRC1{id:07}"), id],
            )
            .expect("isrc");
        }
        db
    }

    fn check(db: &mut musicark_store::Db, dropped: bool) -> Result<(), CatalogError> {
        let t = db.transaction().expect("transaction");
        check_first_load_keys(&t, dropped)
    }

    #[test]
    fn a_first_loads_keys_hold_by_their_bounds_or_by_every_row() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // Ids 1..=3: the bounds prove it.
        let mut db = catalogue(&tmp.path().join("dense"), &[1, 2, 3]);
        check(&mut db, false).expect("dense ids");
        // Rows dropped, or ids with a hole: every row is looked up, and
        // every row has its parent.
        check(&mut db, true).expect("after repeats dropped");
        let mut db = catalogue(&tmp.path().join("holes"), &[1, 3, 4]);
        check(&mut db, false).expect("ids with a hole");
    }

    #[test]
    fn a_row_that_points_at_nothing_fails_the_load_whichever_way_it_is_checked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for (name, ids, orphan) in [
            // Past the last recording: the bounds see it.
            ("past", &[1i64, 2][..], 7i64),
            // Inside a hole: only the row-by-row check sees it.
            ("hole", &[1, 3][..], 2),
        ] {
            let mut db = catalogue(&tmp.path().join(name), ids);
            db.execute(
                "INSERT INTO isrcs (isrc, recording_id) VALUES ('GBAHS1400099', ?1)",
                [orphan],
            )
            .expect("orphan written with the checks off");
            let err = check(&mut db, false).expect_err(name);
            assert!(
                matches!(&err, CatalogError::Invariant(m) if m.contains("1 rows of isrcs point at no row of recordings")),
                "{name}: {err}"
            );
        }
        // A reject of an import nobody recorded.
        let mut db = catalogue(&tmp.path().join("reject"), &[1]);
        db.execute(
            "INSERT INTO rejects (import_id, line, reason) VALUES (42, 1, 'bad')",
            [],
        )
        .expect("reject");
        let err = check(&mut db, false).expect_err("reject");
        assert!(
            matches!(&err, CatalogError::Invariant(m) if m.contains("rows of rejects point at no row of imports")),
            "{err}"
        );
        // A credit of an artist nobody stored.
        let mut db = catalogue(&tmp.path().join("artist"), &[1]);
        db.execute(
            "INSERT INTO recording_artists (recording_id, position, artist_id, credited_name, join_phrase) \
             VALUES (1, 1, 9, 'B', '')",
            [],
        )
        .expect("credit");
        let err = check(&mut db, false).expect_err("artist");
        assert!(
            matches!(&err, CatalogError::Invariant(m) if m.contains("of artists")),
            "{err}"
        );
    }
}
