//! `musicark fsck`: look for silent damage and repair it from a good copy.
//!
//! What is checked, one *object* at a time:
//! - **blob**: every stored blob (ingested originals, preserved copies)
//!   hashes to its name (BLAKE3);
//! - **pack**: every active pack directory against its .torrent (v1
//!   pieces, v2 roots) and its manifest against the SHA-256 the list
//!   states;
//! - **torrent**: every published .torrent carries the info-hashes and
//!   size the archive recorded;
//! - **database**: SQLite's own `quick_check`;
//! - **search**: the search index holds one document per recording and
//!   release.
//!
//! `fsck_checks` remembers when each object was last checked; a run takes
//! the oldest first and, with a time limit, stops starting new ones when
//! it is spent, so a nightly slice (`--max-duration 1h`) walks the whole
//! archive over the nights, like git-annex's incremental fsck.
//!
//! Repair (`--repair`) never overwrites good data with unverified bytes:
//! a bad blob is restored only from bytes that hash to its name (an
//! ingested file still on disk, of the same content), the bad one moved to
//! `quarantine/`; a pack file is relinked to its (whole) blob; a .torrent
//! is rebuilt from the pack and kept only if it carries the recorded
//! info-hashes. Every repair is written to the append-only `repair_log`.
//!
//! Must never: delete data (bad bytes are quarantined), or trust a
//! source it has not hashed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use musicark_store::params;
use musicark_store::{ContentId, Db, Home, StoreError, clock};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsckError {
    #[error(transparent)]
    Store(#[from] musicark_store::StoreError),
    #[error("catalogue database: {0}")]
    Sqlite(#[from] musicark_store::sql::Error),
    #[error(transparent)]
    Publish(#[from] musicark_publish::PublishError),
    #[error(transparent)]
    Catalog(#[from] musicark_catalog::CatalogError),
}

/// What kind of object a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Blob,
    Pack,
    Torrent,
    Database,
    Search,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Blob => "blob",
            Kind::Pack => "pack",
            Kind::Torrent => "torrent",
            Kind::Database => "database",
            Kind::Search => "search",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "blob" => Kind::Blob,
            "pack" => Kind::Pack,
            "torrent" => Kind::Torrent,
            "database" => Kind::Database,
            "search" => Kind::Search,
            _ => return None,
        })
    }
}

/// One piece of damage found, and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    pub kind: Kind,
    pub key: String,
    pub problem: String,
    /// Where the good bytes came from, when repaired.
    pub repaired_from: Option<String>,
    /// Why it could not be repaired (with `--repair`).
    pub unrepaired: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FsckOptions {
    /// Start no new check once this much time has passed.
    pub max_duration: Option<Duration>,
    /// Check at most this many objects (the oldest).
    pub max_objects: Option<u64>,
    pub repair: bool,
    /// Peers to fetch a published file from when no local copy is good
    /// (beside the torrent's own trackers).
    pub peers: Vec<std::net::SocketAddr>,
    /// Give up on the swarm after this long without progress.
    pub swarm_timeout: Duration,
}

impl Default for FsckOptions {
    fn default() -> FsckOptions {
        FsckOptions {
            max_duration: None,
            max_objects: None,
            repair: false,
            peers: Vec::new(),
            swarm_timeout: Duration::from_secs(60),
        }
    }
}

/// The outcome of one run (`fsck --json`, and the last one in `status`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FsckReport {
    pub started_at: String,
    pub finished_at: String,
    /// Objects checked, by kind.
    pub checked: std::collections::BTreeMap<String, u64>,
    pub bytes_checked: u64,
    pub problems: Vec<Finding>,
    pub repaired: u64,
    /// Objects not checked by this run (time limit): the next run starts
    /// with them.
    pub left_for_next_run: u64,
    /// Every object was checked by this run.
    pub complete: bool,
    pub seconds: f64,
}

/// What `progress` hears.
pub trait Progress {
    fn checked(&self, _done: u64, _total: u64, _bytes: u64) {}
}

pub struct Quiet;
impl Progress for Quiet {}

/// The next objects to check (see [`Db::fixity_due`]).
fn next_objects(db: &Db, since: &str, limit: usize) -> Result<Vec<(Kind, String)>, FsckError> {
    Ok(db
        .fixity_due(since, limit)?
        .into_iter()
        .filter_map(|(kind, key)| Kind::parse(&kind).map(|k| (k, key)))
        .collect())
}

fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut h = blake3::Hasher::new();
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    h.update_reader(f)?;
    Ok((h.finalize().to_hex().to_string(), len))
}

/// Check one object: `Ok(None)` when whole, `Ok(Some(problem))` when
/// damaged; bytes read.
fn check(home: &Home, db: &Db, kind: Kind, key: &str) -> Result<(Option<String>, u64), FsckError> {
    match kind {
        Kind::Blob => {
            let Some(id) = ContentId::parse(key) else {
                return Ok((Some(format!("{key:?} is not a content id")), 0));
            };
            let read = home
                .blobs()?
                .open(&id)
                .and_then(musicark_store::hash_reader);
            match read {
                Ok((h, len)) if h == id => Ok((None, len)),
                Ok((h, len)) => Ok((Some(format!("its bytes hash to {h}")), len)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Ok((Some("missing from the blob store".into()), 0))
                }
                Err(e) => Ok((Some(format!("unreadable: {e}")), 0)),
            }
        }
        Kind::Torrent => {
            let musicark_publish::packs::PublishedHashes {
                btih,
                btmh,
                torrent_size: size,
                ..
            } = musicark_publish::packs::published_hashes(db, key)?.unwrap_or_default();
            let path = home.torrents_dir().join(format!("{key}.torrent"));
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => return Ok((Some(format!("{}: {e}", path.display())), 0)),
            };
            let len = bytes.len() as u64;
            let problem = match musicark_torrent::Metainfo::parse(&bytes) {
                Err(e) => Some(format!("unreadable: {e}")),
                Ok(m) if !m.has_info_hashes(btih.as_deref(), btmh.as_deref()) => {
                    Some("its info-hash is not the one published".into())
                }
                Ok(_) if len as i64 != size => {
                    Some(format!("{len} bytes where {size} were published"))
                }
                Ok(_) => None,
            };
            Ok((problem, len))
        }
        Kind::Pack => check_pack(home, db, key),
        Kind::Database => Ok((db.integrity_problem()?, 0)),
        Kind::Search => {
            let musicark_catalog::textindex::Due {
                expected,
                unindexed: pending,
            } = musicark_catalog::textindex::due(db)?;
            let index = musicark_catalog::SearchIndex::open(&home.search_dir());
            let problem = match index {
                Err(e) => Some(format!("unreadable: {e}")),
                Ok(i) => {
                    let docs = i.len() as i64;
                    // Recordings past the outbox's mark are indexed by the
                    // next import; only a shortfall beyond them is damage.
                    (docs + pending < expected || docs > expected)
                        .then(|| format!("{docs} documents for {expected} recordings and releases"))
                }
            };
            Ok((problem, 0))
        }
    }
}

/// The files of a pack that are not intact — by its .torrent (v1 pieces,
/// v2 roots) when that carries the published info-hash, else by each
/// file's BLAKE3 as recorded — and a manifest that is not the one listed.
fn check_pack(home: &Home, db: &Db, name: &str) -> Result<(Option<String>, u64), FsckError> {
    let published = musicark_publish::packs::published_hashes(db, name)?.unwrap_or_default();
    let (btih, btmh) = (published.btih, published.btmh);
    let path = home.torrents_dir().join(format!("{name}.torrent"));
    let meta = std::fs::read(&path)
        .ok()
        .and_then(|b| musicark_torrent::Metainfo::parse(&b).ok())
        .filter(|m| m.has_info_hashes(btih.as_deref(), btmh.as_deref()));
    let blobs = home.blobs()?;
    let (bad, bytes) = match meta {
        // A pack streamed from object storage has its files laid out in
        // the bucket, not here: each is read there and hashed.
        Some(_) if !blobs.is_local() => bad_by_blake3(home, db, name)?,
        Some(meta) => {
            let report = musicark_torrent::verify(
                &meta,
                &home.packs_dir(),
                musicark_torrent::HashOptions::default(),
            );
            (bad_files(&report), report.bytes)
        }
        None => bad_by_blake3(home, db, name)?,
    };
    let manifest = home
        .packs_dir()
        .join(name)
        .join(musicark_publish::pack::MANIFEST);
    let stated = published.manifest_sha256;
    let manifest_ok = std::fs::read(&manifest).is_ok_and(|b| {
        use sha2::Digest;
        Some(hex::encode(sha2::Sha256::digest(&b))) == stated
    });
    let mut problems = Vec::new();
    if !bad.is_empty() {
        problems.push(format!("not intact: {}", bad.join(", ")));
    }
    if !manifest_ok {
        problems.push("its manifest does not match the list's manifest_sha256".into());
    }
    Ok(((!problems.is_empty()).then(|| problems.join("; ")), bytes))
}

/// A pack's files whose BLAKE3 is not the recorded one (when its .torrent
/// cannot be trusted to check them); bytes read.
fn bad_by_blake3(home: &Home, db: &Db, name: &str) -> Result<(Vec<String>, u64), FsckError> {
    let root = home.packs_dir().join(name);
    let (mut bad, mut bytes) = (Vec::new(), 0);
    let blobs = home.blobs()?;
    for (path, id) in musicark_publish::packs::file_blake3s(db, name)? {
        match hash_pack_file(&*blobs, &root, name, &path) {
            Ok((h, len)) => {
                bytes += len;
                if h != id {
                    bad.push(path);
                }
            }
            Err(_) => bad.push(path),
        }
    }
    Ok((bad, bytes))
}

/// BLAKE3 and length of a pack's file: in the pack's folder, or laid out
/// in the bucket for a pack streamed from object storage.
fn hash_pack_file(
    blobs: &dyn musicark_store::BlobStore,
    root: &Path,
    name: &str,
    path: &str,
) -> std::io::Result<(String, u64)> {
    let placed = path.split('/').fold(root.to_path_buf(), |p, c| p.join(c));
    if placed.exists() || blobs.is_local() {
        return hash_file(&placed);
    }
    blobs
        .open_laid_out(&format!("{name}/{path}"), 0)
        .and_then(musicark_store::hash_reader)
        .map(|(h, len)| (h.to_string(), len))
}

fn bad_files(report: &musicark_torrent::VerifyReport) -> Vec<String> {
    report
        .files
        .iter()
        .filter(|f| !matches!(f.verdict, musicark_torrent::FileVerdict::Ok))
        .map(|f| f.path.clone())
        .collect()
}

fn log_repair(
    db: &Db,
    kind: Kind,
    key: &str,
    problem: &str,
    source: &str,
    quarantined: Option<&Path>,
) -> Result<(), FsckError> {
    db.execute(
        "INSERT INTO repair_log (at, kind, key, problem, source, quarantined) \
         VALUES (?6, ?1, ?2, ?3, ?4, ?5)",
        params![
            kind.as_str(),
            key,
            problem,
            source,
            quarantined.map(|q| q.display().to_string()),
            clock::now()
        ],
    )?;
    Ok(())
}

/// Restore blob `id` from the first ingested file that hashes to it,
/// else from its pack's swarm; the source used, or why none would do.
/// The store checks every source's bytes before it quarantines the bad
/// blob and keeps them (`musicark_store::repair_from`).
fn repair_blob(
    home: &Home,
    db: &Db,
    id: &str,
    problem: &str,
    options: &FsckOptions,
) -> Result<Result<String, String>, FsckError> {
    let Some(cid) = ContentId::parse(id) else {
        return Ok(Err("not a content id".into()));
    };
    let blobs = home.blobs()?;
    // Ok(Ok(())) restored, Ok(Err(actual)) the source's bytes hash to
    // `actual`, Err(why) the source could not be read.
    let restore = |src: &Path, from: &str| -> Result<Result<(), String>, FsckError> {
        match musicark_store::repair_from(&*blobs, &cid, src) {
            Ok(repair) => {
                if let musicark_store::Repair::Replaced { quarantined } = &repair {
                    log_repair(
                        db,
                        Kind::Blob,
                        id,
                        problem,
                        from,
                        Some(Path::new(quarantined)),
                    )?;
                } else if repair == musicark_store::Repair::Restored {
                    log_repair(db, Kind::Blob, id, problem, from, None)?;
                }
                relink_packs(home, db, id)?;
                Ok(Ok(()))
            }
            Err(StoreError::BlobMismatch { actual, .. }) => Ok(Err(actual)),
            Err(StoreError::Io { path, source }) if path == src => {
                Ok(Err(format!("unreadable ({source})")))
            }
            Err(e) => Err(e.into()),
        }
    };
    let mut tried = Vec::new();
    // Paths of ingested files of the content (originals or references),
    // to restore its blob from.
    for src in db.paths_of(id)? {
        let from = format!("the original file {}", src.display());
        match restore(&src, &from)? {
            Ok(()) => return Ok(Ok(from)),
            Err(_) => tried.push(format!("{} has changed", src.display())),
        }
    }
    if tried.is_empty() {
        tried.push("no ingested file of these bytes".into());
    }
    for (url, src, dir) in from_web_seeds(home, db, &cid, &mut tried)? {
        let from = format!("the web seed {url}");
        let restored = restore(&src, &from);
        let _ = std::fs::remove_dir_all(&dir);
        match restored? {
            Ok(()) => return Ok(Ok(from)),
            Err(actual) => tried.push(format!("{url} sent bytes hashing to {actual}")),
        }
    }
    match from_swarm(home, db, &cid, options)? {
        Ok((src, dir, pack)) => {
            let from = format!("the published swarm (pack {pack})");
            let restored = restore(&src, &from);
            let _ = std::fs::remove_dir_all(&dir);
            match restored? {
                Ok(()) => return Ok(Ok(from)),
                Err(actual) => tried.push(format!(
                    "the swarm of {pack} sent bytes hashing to {actual}"
                )),
            }
        }
        Err(why) => tried.push(why),
    }
    Ok(Err(format!(
        "no good copy found ({}); a preserved copy can be made again with `musicark preserve`, \
         or fetched from the published swarm with `musicark mirror`",
        tried.join("; ")
    )))
}

/// An active pack's copy of a blob: the pack, the file's index and path
/// in it, its size, and the pack's .torrent (checked against the
/// info-hashes recorded for the pack).
struct Published {
    pack: String,
    index: i64,
    path: String,
    size: i64,
    torrent: Vec<u8>,
    meta: musicark_torrent::Metainfo,
}

/// Where blob `id` is published, or why it cannot be fetched from there.
fn published_in(
    home: &Home,
    db: &Db,
    id: &ContentId,
) -> Result<Result<Published, String>, FsckError> {
    let Some(place) = musicark_publish::packs::newest_place_of(db, id.as_str())? else {
        return Ok(Err("not in any published pack".into()));
    };
    let musicark_publish::packs::Place {
        pack,
        btih,
        btmh,
        file_index: index,
        path,
        size,
    } = place;
    let torrent_path = home.torrents_dir().join(format!("{pack}.torrent"));
    let Ok(torrent) = std::fs::read(&torrent_path) else {
        return Ok(Err(format!("{}: unreadable", torrent_path.display())));
    };
    match musicark_torrent::Metainfo::parse(&torrent) {
        Ok(meta) if meta.has_info_hashes(btih.as_deref(), btmh.as_deref()) => Ok(Ok(Published {
            pack,
            index,
            path,
            size,
            torrent,
            meta,
        })),
        _ => Ok(Err(format!("{}: damaged", torrent_path.display()))),
    }
}

/// Fetch blob `id`'s file from the BEP 19 web seeds of an active pack that
/// holds it (the pack's .torrent, checked against its recorded
/// info-hashes, names them: `BASE/NAME/PATH`; packs name one or two):
/// (url, downloaded file, folder to remove) for each that answered, at
/// most the file's size. Failures are added to `tried`. The bytes are not
/// trusted yet: the caller's store checks them, and the first good one
/// is kept.
fn from_web_seeds(
    home: &Home,
    db: &Db,
    id: &ContentId,
    tried: &mut Vec<String>,
) -> Result<Vec<(String, PathBuf, PathBuf)>, FsckError> {
    let Ok(Published {
        path, size, meta, ..
    }) = published_in(home, db, id)?
    else {
        return Ok(Vec::new());
    };
    let limits = musicark_follow::FetchLimits::default();
    let agent = musicark_follow::fetch::agent(&limits);
    let mut out = Vec::new();
    for (k, base) in meta.web_seeds.iter().enumerate() {
        if !base.starts_with("http://") && !base.starts_with("https://") {
            continue;
        }
        // BEP 19, a multi-file torrent: BASE/NAME/PATH, each part encoded.
        let mut url = base.clone();
        if !url.ends_with('/') {
            url.push('/');
        }
        url.push_str(&musicark_torrent::url_encode(&meta.name));
        for part in path.split('/') {
            url.push('/');
            url.push_str(&musicark_torrent::url_encode(part));
        }
        let dir = home.root().join("tmp").join(format!(
            "fsck-web-{}-{}-{k}",
            std::process::id(),
            &id.as_str()[..16]
        ));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tried.push(format!("{}: {e}", dir.display()));
            continue;
        }
        let file = dir.join("file");
        match musicark_follow::fetch::fetch_to(&agent, &url, &file, size.max(0) as u64) {
            Ok(_) => out.push((url, file, dir)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                tried.push(format!("from the web seed: {e}"));
            }
        }
    }
    Ok(out)
}

/// Fetch blob `id`'s file from the swarm of an active pack that holds it
/// (the pack's .torrent, checked against its recorded info-hashes, names
/// the file; its trackers and `options.peers` the peers): the downloaded
/// file, the folder to remove afterwards, and the pack; or why not. The
/// bytes are not trusted yet: the caller's store checks them.
fn from_swarm(
    home: &Home,
    db: &Db,
    id: &ContentId,
    options: &FsckOptions,
) -> Result<Result<(PathBuf, PathBuf, String), String>, FsckError> {
    let Published {
        pack,
        index,
        torrent: bytes,
        meta,
        ..
    } = match published_in(home, db, id)? {
        Ok(p) => p,
        Err(why) => return Ok(Err(why)),
    };
    if meta.trackers.is_empty() && options.peers.is_empty() {
        return Ok(Err(format!(
            "pack {pack} names no tracker and no peer was given (--peer ADDR)"
        )));
    }
    let dir = home.root().join("tmp").join(format!(
        "fsck-{}-{}",
        std::process::id(),
        &id.as_str()[..16]
    ));
    let _ = std::fs::remove_dir_all(&dir);
    match musicark_mirror::fetch_file(
        &bytes,
        index as usize,
        &options.peers,
        &dir,
        options.swarm_timeout,
    ) {
        Ok(path) => Ok(Ok((path, dir, pack))),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Ok(Err(format!("from the swarm of {pack}: {e}")))
        }
    }
}

/// Point every active pack's file of blob `id` at the (whole) blob again:
/// pack files are hard links, so a rotten blob rotted them too.
fn relink_packs(home: &Home, db: &Db, id: &str) -> Result<usize, FsckError> {
    let Some(cid) = ContentId::parse(id) else {
        return Ok(0);
    };
    let blobs = home.blobs()?;
    let rows = musicark_publish::packs::active_places_of(db, id)?;
    if rows.is_empty() {
        return Ok(0);
    }
    if !blobs.is_local() {
        for (pack, path) in &rows {
            blobs.lay_out(&cid, &format!("{pack}/{path}"))?;
        }
        return Ok(rows.len());
    }
    let blob = blobs.local_copy(&cid)?;
    let relinked = rows.iter().try_for_each(|(pack, path)| {
        musicark_publish::pack::relink_pack_file(home, pack, path, &blob).map(|_| ())
    });
    blobs.release_local(&cid);
    relinked?;
    Ok(rows.len())
}

/// Repair a pack's bad files: each from its blob, once that blob hashes
/// right (restored first from an original when it does not).
fn repair_pack(
    home: &Home,
    db: &Db,
    name: &str,
    problem: &str,
    options: &FsckOptions,
) -> Result<Result<String, String>, FsckError> {
    let root = home.packs_dir().join(name);
    let mut fixed = Vec::new();
    let blobs = home.blobs()?;
    for (path, id) in musicark_publish::packs::file_blake3s(db, name)? {
        if hash_pack_file(&*blobs, &root, name, &path).is_ok_and(|(h, _)| h == id) {
            continue;
        }
        let Some(cid) = ContentId::parse(&id) else {
            continue;
        };
        if !musicark_store::blob_is_intact(&*blobs, &cid).unwrap_or(false) {
            if path == musicark_publish::pack::MANIFEST {
                return Ok(Err("its manifest is damaged and has no other copy".into()));
            }
            if let Err(why) = repair_blob(home, db, &id, "found through its pack", options)? {
                return Ok(Err(format!("{path}: {why}")));
            }
        }
        if !blobs.is_local() {
            blobs.lay_out(&cid, &format!("{name}/{path}"))?;
            fixed.push(path);
            continue;
        }
        let blob = blobs.local_copy(&cid)?;
        let relinked = musicark_publish::pack::relink_pack_file(home, name, &path, &blob);
        blobs.release_local(&cid);
        relinked?;
        fixed.push(path);
    }
    if fixed.is_empty() {
        return Ok(Err(
            "no file of it differs from its blob; check its .torrent".into(),
        ));
    }
    let from = format!("the blob store ({})", fixed.join(", "));
    log_repair(db, Kind::Pack, name, problem, &from, None)?;
    Ok(Ok(from))
}

fn repair(
    home: &Home,
    db: &Db,
    kind: Kind,
    key: &str,
    problem: &str,
    options: &FsckOptions,
) -> Result<Result<String, String>, FsckError> {
    match kind {
        Kind::Blob => repair_blob(home, db, key, problem, options),
        Kind::Pack => repair_pack(home, db, key, problem, options),
        Kind::Torrent => match musicark_publish::pack::rebuild_torrent(home, db, key)? {
            Some(bytes) => {
                let path = home.torrents_dir().join(format!("{key}.torrent"));
                let quarantine = home.root().join("quarantine");
                std::fs::create_dir_all(&quarantine)
                    .map_err(|e| musicark_store::StoreError::io(&quarantine, e))?;
                let q = quarantine.join(format!("{key}.torrent"));
                let _ = std::fs::rename(&path, &q);
                musicark_store::atomic_write(&path, &bytes)?;
                let from = "rebuilt from its pack (same info-hash)".to_string();
                log_repair(db, Kind::Torrent, key, problem, &from, Some(&q))?;
                Ok(Ok(from))
            }
            None => Ok(Err(
                "rebuilt from its pack, it does not carry the published info-hash (repair the pack first)"
                    .into(),
            )),
        },
        Kind::Database => Ok(Err(
            "SQLite's own damage: restore the archive's catalog.sqlite from a backup".into(),
        )),
        Kind::Search => {
            // Derived data: rebuilt whole from the database.
            let dir = home.search_dir();
            let _ = std::fs::remove_dir_all(&dir);
            let rebuilt = musicark_catalog::Catalog::open(home).and_then(|mut cat| {
                musicark_catalog::textindex::sync(&mut cat.db, &cat.search)
            });
            match rebuilt {
                Ok(_) => {
                    let from = "rebuilt from the database".to_string();
                    log_repair(db, Kind::Search, key, problem, &from, None)?;
                    Ok(Ok(from))
                }
                Err(e) => Ok(Err(format!("rebuild failed: {e}"))),
            }
        }
    }
}

/// Check the oldest objects first until all are checked or the time is
/// spent; repair what has a good copy when asked. Call with the writer
/// lock held when repairing.
pub fn fsck(
    home: &Home,
    db: &Db,
    options: &FsckOptions,
    progress: &dyn Progress,
) -> Result<FsckReport, FsckError> {
    let started = Instant::now();
    let run_started = clock::now();
    let run_id: i64 = db.query_row(
        "INSERT INTO fsck_runs (started_at) VALUES (?1) RETURNING run_id",
        [&run_started],
        |r| r.get(0),
    )?;
    let total = db.fixity_objects()?;
    let mut report = FsckReport {
        started_at: run_started.clone(),
        ..Default::default()
    };
    let mut done = 0u64;
    // Objects a repair fixed are checked again at once (a second pass)
    // only through the next run; those found bad stay oldest-first.
    let mut out_of_time = false;
    'outer: loop {
        let batch = next_objects(db, &run_started, 256)?;
        if batch.is_empty() {
            break;
        }
        for (kind, key) in batch {
            if options.max_duration.is_some_and(|d| started.elapsed() >= d)
                || options.max_objects.is_some_and(|n| done >= n)
            {
                out_of_time = true;
                break 'outer;
            }
            let (problem, bytes) = check(home, db, kind, &key)?;
            report.bytes_checked += bytes;
            *report.checked.entry(kind.as_str().to_string()).or_default() += 1;
            let mut ok = problem.is_none();
            if let Some(problem) = problem {
                let mut finding = Finding {
                    kind,
                    key: key.clone(),
                    problem: problem.clone(),
                    repaired_from: None,
                    unrepaired: None,
                };
                if options.repair {
                    match repair(home, db, kind, &key, &problem, options)? {
                        Ok(from) => {
                            finding.repaired_from = Some(from);
                            report.repaired += 1;
                            ok = true;
                        }
                        Err(why) => finding.unrepaired = Some(why),
                    }
                }
                report.problems.push(finding);
            }
            let problem_text = report
                .problems
                .last()
                .filter(|f| f.key == key && f.kind == kind && !ok)
                .map(|f| f.problem.clone());
            db.execute(
                "INSERT INTO fsck_checks (kind, key, checked_at, ok, problem) \
                 VALUES (?1, ?2, ?5, ?3, ?4) \
                 ON CONFLICT (kind, key) DO UPDATE SET checked_at = excluded.checked_at, \
                   ok = excluded.ok, problem = excluded.problem",
                params![kind.as_str(), key, ok, problem_text, clock::now()],
            )?;
            done += 1;
            progress.checked(done, total, report.bytes_checked);
        }
    }
    report.complete = !out_of_time;
    report.left_for_next_run = if out_of_time {
        total.saturating_sub(done)
    } else {
        0
    };
    report.finished_at = clock::now();
    report.seconds = started.elapsed().as_secs_f64();
    let summary = serde_json::to_string(&report).unwrap_or_default();
    db.execute(
        "UPDATE fsck_runs SET finished_at = ?1, summary = ?2 WHERE run_id = ?3",
        params![report.finished_at, summary, run_id],
    )?;
    Ok(report)
}

/// One entry of the repair log.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RepairEntry {
    pub at: String,
    pub kind: String,
    pub key: String,
    pub problem: String,
    pub source: String,
    pub quarantined: Option<String>,
}

pub fn repair_log(db: &Db) -> Result<Vec<RepairEntry>, FsckError> {
    let mut stmt = db.prepare(
        "SELECT at, kind, key, problem, source, quarantined FROM repair_log ORDER BY entry_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(RepairEntry {
            at: r.get(0)?,
            kind: r.get(1)?,
            key: r.get(2)?,
            problem: r.get(3)?,
            source: r.get(4)?,
            quarantined: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
