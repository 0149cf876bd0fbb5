//! `musicark pack`: the archive's preserved copies as torrents.
//!
//! Copies are grouped by popularity band (most popular first, unlinked
//! files last), ordered by their in-torrent path within a band (so albums
//! stay together), and cut into packs at `target_size` bytes or
//! `max_files` files. Each pack is a directory of loose files under
//! `ARCHIVE/packs/<name>/` (hard links to the blob store: no second copy on
//! disk) with a `manifest.jsonl` inside, and a v1 torrent of it in
//! `ARCHIVE/torrents/` (no creation date, canonical order: the same inputs
//! give the same bytes on any machine).
//!
//! *Invariants*: a pack, once in the `packs` table, is never rewritten.
//! New copies make new packs. A pack holding a copy that is no longer the
//! archive's (re-made, or its recording taken down or embargoed) is marked
//! obsolete, and its other copies go into new packs. A pack appears in the
//! table only after its files, manifest and torrent are complete on disk; a
//! run killed half way leaves at most a `.tmp` directory that the next run
//! removes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use musicark_audio::fingerprint::Fingerprint;
use musicark_preserve::{Popularity, Tier, band_name};
use musicark_store::queue::JobState;
use musicark_store::{ContentId, Db, Home, atomic_write};
use musicark_store::{params, sql::OptionalExtension};
use musicark_torrent::{
    BuildOptions, FileWant, HashOptions, InputFile, Layout, Mode, Source, build_torrent,
    hash_layout_and_files,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::PublishError;
use crate::paths::{PathParts, Unique, path_for};

/// 32 GB: a pack fits a small donor's spare disk or the smallest USB
/// drive on sale, and at Opus 64–128 kbit/s holds ~10 000 tracks, so the
/// two limits bind at about the same point.
pub const DEFAULT_TARGET_SIZE: u64 = 32_000_000_000;

/// 10 000 files: a third of the 30 000 that hang clients' file lists in
/// the anchor release; the v1 file list stays under ~1.5 MB of .torrent.
pub const DEFAULT_MAX_FILES: usize = 10_000;

/// The manifest's name inside every pack.
pub const MANIFEST: &str = "manifest.jsonl";

#[derive(Debug, Clone)]
pub struct PackOptions {
    pub target_size: u64,
    pub max_files: usize,
    /// v1+v2 with BEP 47 alignment instead of v1 (see BENCHMARKS.md for
    /// its padding cost with many small files).
    pub hybrid: bool,
    pub trackers: Vec<String>,
    /// BEP 19 web seeds (`url-list`).
    pub web_seeds: Vec<String>,
    pub threads: usize,
    /// Also make a metadata release when packs changed.
    pub metadata: bool,
    /// Hand each pack's hashing to `musicark worker`s (an archive on
    /// PostgreSQL with blobs in object storage): see [`crate::packjob`].
    pub queue: bool,
    /// With `queue`: queue the hashing and return; a later `pack --queue`
    /// records the packs the workers hashed.
    pub detach: bool,
}

impl PackOptions {
    /// The defaults, with the archive's trackers and web seeds
    /// (`[publish]` in musicark.toml): what every front end packs with.
    pub fn for_archive(home: &Home) -> PackOptions {
        PackOptions {
            trackers: home.config.publish.trackers.clone(),
            web_seeds: home.config.publish.webseeds.clone(),
            ..PackOptions::default()
        }
    }
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            target_size: DEFAULT_TARGET_SIZE,
            max_files: DEFAULT_MAX_FILES,
            hybrid: false,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            metadata: true,
            queue: false,
            detach: false,
        }
    }
}

/// One line of a pack's manifest.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ManifestEntry {
    /// Inside the torrent, below its name, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub blake3: String,
    pub codec: Option<String>,
    /// Bits per second (the Opus target for re-encoded copies).
    pub bitrate: Option<u64>,
    /// Seconds.
    pub duration: Option<f64>,
    /// `original` (the source's bytes) or `opus`.
    pub tier: String,
    /// Chromaprint of the source, compressed as `fpcalc` prints it.
    pub fingerprint: Option<String>,
    pub recording_id: Option<i64>,
    pub recording_mbid: Option<String>,
    pub isrcs: Vec<String>,
    pub release_id: Option<i64>,
    pub release_mbid: Option<String>,
    pub title: Option<String>,
    pub artist: Option<String>,
    /// BLAKE3 of the file the copy was made from.
    pub source_blake3: String,
}

/// A preserved copy waiting for a pack.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    band_order: usize,
    band: String,
    pub(crate) path: Vec<String>,
    pub(crate) local: PathBuf,
    pub(crate) entry: ManifestEntry,
    tier_label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackReport {
    pub name: String,
    pub band: String,
    pub files: usize,
    pub data_size: u64,
    pub btih: String,
    pub torrent: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PackSummary {
    pub packs: Vec<PackReport>,
    pub obsoleted: Vec<(String, String)>,
    /// Copies left out by rights (takedown, embargo, licence policy).
    pub withheld: usize,
    /// Of them, how many for each kind: takedown, embargo, licence.
    pub withheld_by: BTreeMap<String, usize>,
    /// The copies left out and why (the first 1000).
    pub left_out: Vec<LeftOut>,
    /// Copies that could not be packed, with the reason.
    pub failed: Vec<(String, String)>,
    pub already_packed: usize,
    pub seconds: f64,
    /// What the operator should know (torrents nobody can find, say).
    pub warnings: Vec<String>,
    /// Packs whose hashing was handed to workers (`pack --queue`).
    pub queued: usize,
    /// Returned once the hashing was queued (`--detach`): nothing recorded
    /// yet.
    pub detached: bool,
}

/// The warning for torrents that name neither a tracker nor a web seed.
pub const NO_TRACKER_WARNING: &str = "these torrents name no tracker and no web seed: peers can find them only through DHT, \
which `musicark mirror` does not use. Add trackers to musicark.toml, e.g. \
[publish] trackers = [\"udp://tracker.example.org:6969/announce\"], then pack again";

/// The slug of the archive's name, the prefix of every pack name.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if s.is_empty() { "musicark".into() } else { s }
}

/// Recordings that must not be published now: taken down, or under an
/// embargo that has not ended (their own, or a credited artist's).
pub(crate) fn withheld_recordings(
    db: &Db,
    now: &str,
) -> Result<HashMap<i64, &'static str>, PublishError> {
    let mut stmt = db.prepare(
        "SELECT entity_id, takedown FROM rights WHERE entity = 'recording' \
           AND (takedown = 1 OR (embargo = 1 AND (embargo_until IS NULL OR embargo_until > ?1))) \
         UNION ALL SELECT ra.recording_id, r.takedown FROM rights r JOIN recording_artists ra ON ra.artist_id = r.entity_id \
          WHERE r.entity = 'artist' \
           AND (r.takedown = 1 OR (r.embargo = 1 AND (r.embargo_until IS NULL OR r.embargo_until > ?1))) \
         UNION ALL SELECT t.recording_id, r.takedown FROM rights r JOIN tracks t ON t.release_id = r.entity_id \
          WHERE r.entity = 'release' \
           AND (r.takedown = 1 OR (r.embargo = 1 AND (r.embargo_until IS NULL OR r.embargo_until > ?1)))",
    )?;
    let mut out: HashMap<i64, &'static str> = HashMap::new();
    let mut rows = stmt.query([now])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let kind = if r.get::<_, i64>(1)? != 0 {
            "takedown"
        } else {
            "embargo"
        };
        // A takedown outweighs an embargo.
        let e = out.entry(id).or_insert(kind);
        if kind == "takedown" {
            *e = kind;
        }
    }
    Ok(out)
}

/// What rights keep out of packs: recordings under takedown or embargo
/// (of themselves, their artist or their release), and files whose
/// licence the publication policy (`[publish] allow`) does not allow.
pub(crate) struct Withheld {
    pub recordings: HashMap<i64, &'static str>,
    pub rights: HashMap<String, crate::rights::ContentRights>,
    /// The publication policy; `None`: licences are not checked (exports
    /// filter by their own licences).
    pub allow: Option<Vec<String>>,
    /// The rights of a file nothing is known of.
    unknown: crate::rights::ContentRights,
}

impl Withheld {
    pub(crate) fn load(home: &Home, db: &Db, now: &str) -> Result<Withheld, PublishError> {
        Ok(Withheld {
            recordings: withheld_recordings(db, now)?,
            rights: crate::rights::content_rights(db)?,
            allow: Some(home.config.publish.allow.clone()),
            unknown: crate::rights::decide(None, None, None, None),
        })
    }

    /// Why a copy may not be published: (kind, reason), kind being
    /// `takedown`, `embargo` or `licence`.
    pub(crate) fn why(
        &self,
        recording: Option<i64>,
        source: &str,
    ) -> Option<(&'static str, String)> {
        if let Some(kind) = recording.and_then(|id| self.recordings.get(&id)) {
            return Some((kind, format!("recording under {kind}")));
        }
        let allow = self.allow.as_ref()?;
        let r = self.rights.get(source).unwrap_or(&self.unknown);
        if crate::rights::allowed(allow, r) {
            return None;
        }
        let what = match (&r.license, &r.license_tag) {
            (Some(l), _) => l.clone(),
            (None, Some(t)) => format!("unmapped licence tag {t:?}"),
            (None, None) => "no licence known".to_string(),
        };
        Some((
            "licence",
            format!(
                "{what} ({}) is not allowed by [publish] allow = {allow:?}",
                r.class.as_str(),
            ),
        ))
    }
}

/// Mark obsolete every active pack holding a copy that is no longer the
/// archive's current one, or is withheld. Returns (name, reason).
fn obsolete_stale(
    db: &Db,
    withheld: &Withheld,
    now: &str,
) -> Result<Vec<(String, String)>, PublishError> {
    let mut stale: BTreeMap<(i64, String), (String, Option<&'static str>)> = BTreeMap::new();
    {
        let mut stmt = db.prepare(
            "SELECT p.pack_id, p.name, f.path, f.output_id, f.recording_id, pr.output_id, f.source_id \
             FROM packs p JOIN pack_files f ON f.pack_id = p.pack_id \
             LEFT JOIN preserved pr ON pr.source_id = f.source_id \
             WHERE p.obsolete = 0 AND p.kind = 'audio' AND f.source_id IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let key = (r.get::<_, i64>(0)?, r.get::<_, String>(1)?);
            if stale.contains_key(&key) {
                continue;
            }
            let path: String = r.get(2)?;
            let output: String = r.get(3)?;
            let recording: Option<i64> = r.get(4)?;
            let current: Option<String> = r.get(5)?;
            let source: String = r.get(6)?;
            let reason = match current {
                None => Some((format!("{path}: no longer preserved"), None)),
                Some(c) if c != output => Some((format!("{path}: replaced by a new copy"), None)),
                _ => withheld
                    .why(recording, &source)
                    .map(|(kind, why)| (format!("{path}: withheld: {why}"), Some(kind))),
            };
            if let Some(reason) = reason {
                stale.insert(key, reason);
            }
        }
    }
    for ((id, _), (reason, kind)) in &stale {
        db.execute(
            "UPDATE packs SET obsolete = 1, obsoleted_at = ?2, obsolete_reason = ?3, withheld_for = ?4 \
             WHERE pack_id = ?1",
            params![id, now, reason, kind],
        )?;
    }
    Ok(stale.into_iter().map(|((_, n), (r, _))| (n, r)).collect())
}

/// The preserved copies not in an active pack, with what their paths and
/// manifest lines are made of.
/// Copies not packed, with their kind (`takedown`, `embargo`, `licence`)
/// and reason.
#[derive(Debug, Clone, Serialize)]
pub struct LeftOut {
    pub path: String,
    /// The ingested content the copy was made from.
    pub source_id: String,
    pub recording_id: Option<i64>,
    pub kind: &'static str,
    pub reason: String,
}

/// Server-side copies in flight at once while a pack is laid out in
/// object storage.
const LAYOUT_IN_FLIGHT: usize = 8;

/// At most this many copies left out are listed one by one (all are
/// counted).
const LEFT_OUT_LISTED: usize = 1000;

/// `include_packed`: also copies already in an active pack (exports).
pub(crate) fn unpacked_items(
    home: &Home,
    db: &Db,
    withheld: &Withheld,
    left_out: &mut Vec<LeftOut>,
    left_out_by: &mut BTreeMap<String, usize>,
    include_packed: bool,
) -> Result<(Vec<Item>, usize, usize), PublishError> {
    let policy = &home.config.preserve;
    let popularity = Popularity::load(db)?;
    let packed: HashSet<String> = db
        .prepare(
            "SELECT f.output_id FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
             WHERE p.obsolete = 0",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let blobs = home.blobs()?;
    let mut stmt = db.prepare(
        "SELECT pr.source_id, pr.tier, pr.kbps, pr.output_id, pr.bytes, pr.duration, pr.recording_id, \
                c.codec, c.bitrate, c.stored, c.tags, \
                r.mbid, r.title, r.artist_credit, \
                (SELECT max(listen_count) FROM popularity p WHERE p.recording_key = coalesce(r.mbid, 'rec:' || r.recording_id)), \
                (SELECT string_agg(isrc, ',' ORDER BY isrc) FROM isrcs i WHERE i.recording_id = r.recording_id), \
                (SELECT path FROM files f WHERE f.content_id = pr.source_id ORDER BY display_path LIMIT 1), \
                (SELECT display_path FROM files f WHERE f.content_id = pr.source_id ORDER BY display_path LIMIT 1), \
                coalesce(pr.sha256, (SELECT o.sha256 FROM contents o WHERE o.content_id = pr.output_id)) \
         FROM preserved pr JOIN contents c ON c.content_id = pr.source_id \
           LEFT JOIN recordings r ON r.recording_id = pr.recording_id \
         ORDER BY pr.output_id",
    )?;
    // The release a recording is placed on: its earliest (by date, then
    // MBID, so that independent archives agree).
    let mut placement = db.prepare(
        "SELECT rl.release_id, rl.mbid, rl.title, rl.artist_credit, substr(rl.date, 1, 4), t.disc, t.position, \
                (SELECT max(disc) FROM tracks t2 WHERE t2.release_id = rl.release_id) \
         FROM tracks t JOIN releases rl ON rl.release_id = t.release_id \
         WHERE t.recording_id = ?1 \
         ORDER BY rl.date IS NULL, rl.date, rl.mbid IS NULL, rl.mbid, rl.release_id, t.disc, t.position LIMIT 1",
    )?;
    let mut rows = stmt.query([])?;
    let mut items = Vec::new();
    let mut already = 0;
    let mut held = 0;
    while let Some(r) = rows.next()? {
        let source_id: String = r.get(0)?;
        let output_id: String = r.get(3)?;
        let recording_id: Option<i64> = r.get(6)?;
        if let Some((kind, reason)) = withheld.why(recording_id, &source_id) {
            held += 1;
            *left_out_by.entry(kind.to_string()).or_default() += 1;
            if left_out.len() < LEFT_OUT_LISTED {
                left_out.push(LeftOut {
                    path: r
                        .get::<_, Option<String>>(17)?
                        .unwrap_or_else(|| source_id.clone()),
                    source_id: source_id.clone(),
                    recording_id,
                    kind,
                    reason,
                });
            }
            continue;
        }
        if !include_packed && packed.contains(&output_id) {
            already += 1;
            continue;
        }
        let tier: Tier = r
            .get::<_, String>(1)?
            .parse()
            .map_err(|e: musicark_store::UnknownName| PublishError::Invalid(e.to_string()))?;
        let kbps: Option<i64> = r.get(2)?;
        let stored: bool = r.get(9)?;
        let is_copy = tier == Tier::Opus;
        let local = match ContentId::parse(&output_id) {
            Some(id) if is_copy || stored => blobs.local_path(&id),
            _ => match r.get::<_, Option<Vec<u8>>>(16)? {
                Some(raw) => PathBuf::from(
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&raw),
                ),
                None => continue,
            },
        };
        let tags: Option<musicark_audio::Tags> = r
            .get::<_, Option<String>>(10)?
            .and_then(|t| serde_json::from_str(&t).ok());
        let listens: Option<i64> = r.get(14)?;
        let (band, _) = match recording_id {
            Some(_) => popularity.band(&policy.bands, listens.unwrap_or(0)),
            None => (None, 1.0),
        };
        let display: Option<String> = r.get(17)?;
        let (codec, bitrate, ext) = if is_copy {
            (
                Some("opus".to_string()),
                kbps.map(|k| k as u64 * 1000),
                "opus".to_string(),
            )
        } else {
            let codec: Option<String> = r.get(7)?;
            let ext = display
                .as_deref()
                .and_then(|d| Path::new(d).extension())
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_else(|| "bin".into());
            (codec, r.get::<_, Option<i64>>(8)?.map(|b| b as u64), ext)
        };
        let mut parts = PathParts {
            id: output_id.clone(),
            ext,
            ..Default::default()
        };
        let mut entry = ManifestEntry {
            path: String::new(),
            size: r.get::<_, i64>(4)? as u64,
            // Recorded by ingest (originals) or preserve (copies), of the
            // bytes the BLAKE3 names; checked by that BLAKE3 when packed.
            sha256: r.get::<_, Option<String>>(18)?.unwrap_or_default(),
            blake3: output_id.clone(),
            codec,
            bitrate,
            duration: r.get(5)?,
            tier: tier.as_str().into(),
            // Read line by line as the manifest is written (see
            // `build_pack`): the largest field, never all in memory.
            fingerprint: None,
            recording_id,
            recording_mbid: r.get(11)?,
            isrcs: r
                .get::<_, Option<String>>(15)?
                .map(|s| s.split(',').map(String::from).collect())
                .unwrap_or_default(),
            release_id: None,
            release_mbid: None,
            title: r.get(12)?,
            artist: r.get(13)?,
            source_blake3: source_id.clone(),
        };
        match recording_id {
            Some(id) => {
                let placed = placement
                    .query_row([id], |p| {
                        Ok((
                            p.get::<_, i64>(0)?,
                            p.get::<_, Option<String>>(1)?,
                            p.get::<_, String>(2)?,
                            p.get::<_, Option<String>>(3)?,
                            p.get::<_, Option<String>>(4)?,
                            p.get::<_, i64>(5)?,
                            p.get::<_, i64>(6)?,
                            p.get::<_, Option<i64>>(7)?,
                        ))
                    })
                    .optional()?;
                parts.title = entry.title.clone();
                parts.artist = entry.artist.clone();
                if let Some((rid, rmbid, title, credit, year, disc, pos, discs)) = placed {
                    entry.release_id = Some(rid);
                    entry.release_mbid = rmbid;
                    parts.release = Some(title);
                    parts.artist = credit.or(parts.artist);
                    parts.year = year.filter(|y| y.len() == 4);
                    parts.disc = Some(disc as u32);
                    parts.discs = discs.map(|d| d as u32);
                    parts.track = Some(pos as u32);
                }
            }
            None => {
                parts.unlinked = true;
                let stem = display
                    .as_deref()
                    .and_then(|d| Path::new(d).file_stem())
                    .map(|s| s.to_string_lossy().into_owned());
                if let Some(t) = &tags {
                    parts.artist = t.album_artists.first().or(t.artists.first()).cloned();
                    parts.release = t.album.clone();
                    parts.track = t.track_number;
                    parts.title = t.title.clone();
                }
                if parts.title.is_none() {
                    parts.title = stem;
                    parts.track = None;
                }
                if parts.release.is_none() {
                    parts.release = Some(String::new());
                }
            }
        }
        let tier_label = match (is_copy, kbps) {
            (true, Some(k)) => format!("opus-{k}"),
            _ => Tier::Original.as_str().to_string(),
        };
        items.push(Item {
            band_order: band.unwrap_or(usize::MAX),
            band: band_name(&policy.bands, band),
            path: path_for(&parts),
            local,
            entry,
            tier_label,
        });
    }
    Ok((items, already, held))
}

/// A source's fingerprint in Chromaprint's compressed form.
pub(crate) fn fingerprint_of(db: &Db, source: &str) -> Result<Option<String>, PublishError> {
    let mut stmt = db.prepare_cached(
        "SELECT duration, data, encoding FROM fingerprints WHERE content_id = ?1",
    )?;
    Ok(stmt
        .query_row([source], |r| {
            Ok(Fingerprint::from_stored(
                &r.get::<_, String>(2)?,
                r.get(0)?,
                &r.get::<_, Vec<u8>>(1)?,
            ))
        })
        .optional()?
        .flatten()
        .map(|f| f.to_compressed_base64()))
}

/// Cut `items` (already sorted) into packs of at most `target` bytes and
/// `max_files` files, never mixing bands. A single file larger than
/// `target` gets a pack of its own. Pure.
pub fn assign(
    sizes_and_bands: &[(u64, usize)],
    target: u64,
    max_files: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut packs = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, &(size, band)) in sizes_and_bands.iter().enumerate() {
        let full = i > start
            && (sizes_and_bands[start].1 != band
                || bytes + size > target
                || i - start >= max_files.max(1));
        if full {
            packs.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes_and_bands.len() {
        packs.push(start..sizes_and_bands.len());
    }
    packs
}

/// Hard-link `src` to `dst`, or copy it when they are on different
/// filesystems (or links are refused).
pub(crate) fn link_or_copy(src: &Path, dst: &Path) -> std::io::Result<()> {
    if let Some(dir) = dst.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::hard_link(src, dst) {
        Ok(()) => Ok(()),
        Err(_) => std::fs::copy(src, dst).map(|_| ()),
    }
}

/// Where a pack's file at `path` (`/`-separated) sits under `dir`.
fn placed_path(dir: &Path, path: &str) -> PathBuf {
    path.split('/').fold(dir.to_path_buf(), |p, c| p.join(c))
}

/// SHA-256, BLAKE3 and length of a file in one read.
pub fn hash_file_both(path: &Path, buf: &mut [u8]) -> std::io::Result<(String, String, u64)> {
    hash_both(std::fs::File::open(path)?, buf)
}

/// SHA-256, BLAKE3 and length of what `f` gives, in one read.
fn hash_both(mut f: impl Read, buf: &mut [u8]) -> std::io::Result<(String, String, u64)> {
    let mut sha = Sha256::new();
    let mut b3 = blake3::Hasher::new();
    let mut len = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&buf[..n]);
        b3.update(&buf[..n]);
        len += n as u64;
    }
    Ok((
        hex::encode(sha.finalize()),
        b3.finalize().to_hex().to_string(),
        len,
    ))
}

/// Why a copy whose bytes hash to `actual` rather than to the `recorded`
/// BLAKE3 is not published. When `local` is the blob named `recorded`, it
/// is moved to the quarantine first (its bytes lie about its name).
pub(crate) fn reject_rotten(home: &Home, local: &Path, recorded: &str, actual: &str) -> String {
    let quarantined = home.blobs().ok().and_then(|blobs| {
        ContentId::parse(recorded)
            .filter(|id| blobs.local_path(id) == local)
            .and_then(|id| blobs.quarantine(&id).ok().flatten())
    });
    format!(
        "its bytes hash to {actual}, not to {recorded} as recorded: the stored copy is damaged{}; \
         restore it with `musicark fsck --repair` or by ingesting the original again",
        quarantined
            .map(|q| format!(" (moved to {q})"))
            .unwrap_or_default()
    )
}

/// A writer that counts and hashes (SHA-256 and BLAKE3) what passes.
struct HashingWriter<W: std::io::Write> {
    inner: W,
    len: u64,
    sha256: Sha256,
    blake3: blake3::Hasher,
}

impl<W: std::io::Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            len: 0,
            sha256: Sha256::new(),
            blake3: blake3::Hasher::new(),
        }
    }

    /// Flush; (bytes, SHA-256 hex, BLAKE3 hex) and the inner writer.
    fn finish(mut self) -> std::io::Result<(W, u64, String, String)> {
        self.inner.flush()?;
        Ok((
            self.inner,
            self.len,
            hex::encode(self.sha256.finalize()),
            self.blake3.finalize().to_hex().to_string(),
        ))
    }
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len += n as u64;
        self.sha256.update(&buf[..n]);
        self.blake3.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Put `src` (complete and synced) at `dst` atomically: a hard link (or,
/// across filesystems, a synced copy) beside `dst`, renamed over it, the
/// directory synced.
fn atomic_link(src: &Path, dst: &Path) -> Result<(), PublishError> {
    let dir = dst.parent().unwrap_or(Path::new("."));
    let name = dst
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let place = || -> std::io::Result<()> {
        if std::fs::hard_link(src, &tmp).is_err() {
            std::fs::copy(src, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
        }
        Ok(())
    };
    if let Err(e) = place() {
        let _ = std::fs::remove_file(&tmp);
        return Err(PublishError::io(&tmp, e));
    }
    std::fs::rename(&tmp, dst).map_err(|e| PublishError::io(dst, e))?;
    musicark_store::fsync_dir(dir)?;
    Ok(())
}

/// Put the blob `blob` back at `path` inside the published pack `pack`
/// (a hard link, or a copy across filesystems), replacing what is there
/// atomically: how fsck restores a pack file once its blob is whole.
pub fn relink_pack_file(
    home: &Home,
    pack: &str,
    path: &str,
    blob: &Path,
) -> Result<PathBuf, PublishError> {
    let mut dst = home
        .packs_dir()
        .join(crate::list::confined_name(pack).map_err(PublishError::Invalid)?);
    for c in path.split('/') {
        dst.push(crate::list::confined_name(c).map_err(PublishError::Invalid)?);
    }
    atomic_link(blob, &dst)?;
    Ok(dst)
}

/// Build a published pack's .torrent again from its directory, as `pack`
/// built it (the same layout, mode, trackers and creator): `Some(bytes)`
/// only when they carry the info-hashes and the size the archive
/// recorded, so that a damaged .torrent can be replaced bit for bit.
pub fn rebuild_torrent(home: &Home, db: &Db, pack: &str) -> Result<Option<Vec<u8>>, PublishError> {
    let row: Option<(i64, Option<String>, Option<String>, i64)> = db
        .query_row(
            "SELECT pack_id, btih, btmh, torrent_size FROM packs WHERE name = ?1",
            [pack],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((pack_id, btih, btmh, size)) = row else {
        return Ok(None);
    };
    let root = home
        .packs_dir()
        .join(crate::list::confined_name(pack).map_err(PublishError::Invalid)?);
    let mut files = Vec::new();
    let mut sources = Vec::new();
    let blobs = home.blobs()?;
    let mut stmt = db.prepare(
        "SELECT path, size, output_id FROM pack_files WHERE pack_id = ?1 ORDER BY file_index, path",
    )?;
    let mut rows = stmt.query([pack_id])?;
    while let Some(r) = rows.next()? {
        let path: String = r.get(0)?;
        let len: i64 = r.get(1)?;
        let output: Option<String> = r.get(2)?;
        files.push(InputFile {
            path: path.split('/').map(String::from).collect(),
            length: len as u64,
            source: sources.len(),
        });
        let placed = placed_path(&root, &path);
        // A file of a pack streamed from object storage has no local copy:
        // it is read from its blob.
        sources.push(match output.as_deref().and_then(ContentId::parse) {
            Some(id) if !placed.exists() && !blobs.is_local() => {
                let blobs = blobs.clone();
                Source::Stream(std::sync::Arc::new(move |offset| {
                    blobs.open_at(&id, offset)
                }))
            }
            _ => Source::Path(placed),
        });
    }
    let mode = if btmh.is_some() {
        Mode::Hybrid
    } else {
        Mode::V1
    };
    let layout = Layout::plan(pack.to_string(), files, false, mode, None, false);
    let hashes = hash_layout_and_files(&layout, &sources, HashOptions::default(), &[])
        .map_err(|e| PublishError::io(&root, e))?
        .0;
    let build = BuildOptions {
        trackers: home
            .config
            .publish
            .trackers
            .iter()
            .map(|t| vec![t.clone()])
            .collect(),
        web_seeds: home.config.publish.webseeds.clone(),
        created_by: Some("musicark".into()),
        ..Default::default()
    };
    let torrent = build_torrent(&layout, &hashes, &build);
    let Ok(meta) = musicark_torrent::Metainfo::parse(&torrent) else {
        return Ok(None);
    };
    let same =
        meta.has_info_hashes(btih.as_deref(), btmh.as_deref()) && torrent.len() as i64 == size;
    Ok(same.then_some(torrent))
}

/// Remove what a killed run left: `.tmp` pack directories, pack
/// directories the table does not know, and in `torrents/` half-written
/// temporary files and torrents or manifests of unknown packs.
fn clean_partial(home: &Home, db: &Db) -> Result<(), PublishError> {
    let known = |name: &str| -> Result<bool, PublishError> {
        Ok(db
            .query_row("SELECT 1 FROM packs WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some())
    };
    let blobs = home.blobs()?;
    if let Ok(entries) = std::fs::read_dir(home.packs_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !known(&name)? {
                // What a killed run laid out in the bucket for a pack it
                // never recorded goes too: nothing unlisted stays served.
                let pack = name.strip_suffix(".tmp").unwrap_or(&name);
                if !known(pack)? {
                    blobs.withdraw(pack)?;
                }
                std::fs::remove_dir_all(e.path())
                    .map_err(|err| PublishError::io(&e.path(), err))?;
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(home.torrents_dir()) {
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let pack = file
                .strip_suffix(".torrent")
                .or_else(|| file.strip_suffix(&format!(".{MANIFEST}")));
            let stale = match pack {
                _ if file.starts_with('.') && file.ends_with(".tmp") => true,
                Some(name) => !known(name)?,
                None => false,
            };
            if stale {
                std::fs::remove_file(e.path()).map_err(|err| PublishError::io(&e.path(), err))?;
            }
        }
    }
    Ok(())
}

/// Pack every preserved copy not yet in an active pack; `progress(done,
/// total)` after each pack. Call with the archive's writer lock held.
pub fn pack(
    home: &Home,
    db: &mut Db,
    options: &PackOptions,
    progress: &dyn Fn(usize, usize),
) -> Result<PackSummary, PublishError> {
    let started = std::time::Instant::now();
    let now = musicark_store::clock::now_seconds();
    clean_partial(home, db)?;
    let withheld = Withheld::load(home, db, &now)?;
    let obsoleted = obsolete_stale(db, &withheld, &now)?;
    // An obsolete pack laid out in object storage leaves the bucket too:
    // a web seed pointing there must not serve a withdrawn recording.
    let blobs = home.blobs()?;
    for (name, _) in &obsoleted {
        blobs.withdraw(name)?;
    }
    let mut left_out = Vec::new();
    let mut left_out_by = BTreeMap::new();
    let (mut items, already_packed, held) =
        unpacked_items(home, db, &withheld, &mut left_out, &mut left_out_by, false)?;
    items.sort_by(|a, b| {
        a.band_order.cmp(&b.band_order).then_with(|| {
            a.path
                .iter()
                .map(|c| c.as_bytes())
                .cmp(b.path.iter().map(|c| c.as_bytes()))
        })
    });
    let keys: Vec<(u64, usize)> = items.iter().map(|i| (i.entry.size, i.band_order)).collect();
    let ranges = assign(&keys, options.target_size, options.max_files);
    let mut summary = PackSummary {
        obsoleted,
        withheld: held,
        withheld_by: left_out_by,
        left_out,
        already_packed,
        ..Default::default()
    };
    let slug = slug(&home.config.archive.name);
    let torrents = home.torrents_dir();
    std::fs::create_dir_all(&torrents).map_err(|e| PublishError::io(&torrents, e))?;
    let groups: Vec<(String, String, Vec<PackFile>)> = ranges
        .iter()
        .map(|range| {
            let group = &items[range.clone()];
            let tiers: std::collections::BTreeSet<&str> =
                group.iter().map(|i| i.tier_label.as_str()).collect();
            let tier = match tiers.len() {
                1 => tiers.into_iter().next().unwrap_or("mixed"),
                _ => "mixed",
            };
            let files = group
                .iter()
                .map(|i| PackFile {
                    path: i.path.clone(),
                    local: i.local.clone(),
                    entry: i.entry.clone(),
                })
                .collect();
            (group[0].band.clone(), tier.to_string(), files)
        })
        .collect();
    drop(items);
    if options.queue && !blobs.is_local() {
        pack_queued(
            home,
            db,
            options,
            &slug,
            groups,
            &now,
            &mut summary,
            progress,
        )?;
        if summary.detached {
            summary.seconds = started.elapsed().as_secs_f64();
            return Ok(summary);
        }
    } else {
        let total = groups.len();
        for (n, (band, tier, files)) in groups.into_iter().enumerate() {
            let next: i64 =
                db.query_row("SELECT coalesce(max(pack_id), 0) + 1 FROM packs", [], |r| {
                    r.get(0)
                })?;
            let name = format!("{slug}-{band}-{next:05}");
            let what = PackMeta {
                kind: "audio",
                band: &band,
                tier: &tier,
            };
            match build_pack(
                home,
                db,
                options,
                &name,
                next,
                &what,
                files,
                &now,
                &mut summary.failed,
            ) {
                Ok(report) => summary.packs.push(report),
                Err(PublishError::Item { path, reason }) => summary.failed.push((path, reason)),
                Err(e) => return Err(e),
            }
            progress(n + 1, total);
        }
    }
    if options.metadata {
        let changed = !summary.packs.is_empty() || !summary.obsoleted.is_empty();
        if let Some(report) = crate::metadata::release(home, db, options, changed)? {
            summary.packs.push(report);
        }
    }
    if options.trackers.is_empty() && options.web_seeds.is_empty() && !summary.packs.is_empty() {
        summary.warnings.push(NO_TRACKER_WARNING.to_string());
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// `pack --queue`: plan every pack and queue its hashing, then (unless
/// detached) take each pack's hashes from its job, in order, and record it
/// as [`build_pack`] does. A pack whose job failed, or whose result is
/// for other bytes, is hashed here.
#[allow(clippy::too_many_arguments)]
fn pack_queued(
    home: &Home,
    db: &mut Db,
    options: &PackOptions,
    slug: &str,
    groups: Vec<(String, String, Vec<PackFile>)>,
    now: &str,
    summary: &mut PackSummary,
    progress: &dyn Fn(usize, usize),
) -> Result<(), PublishError> {
    let blobs = home.blobs()?;
    // Names are fixed before any pack is recorded (they are inside the
    // torrents the workers hash); packs are recorded in this order, so a
    // rerun after a kill names the rest as a clean run would.
    let first: i64 = db.query_row("SELECT coalesce(max(pack_id), 0) + 1 FROM packs", [], |r| {
        r.get(0)
    })?;
    let mut building = Vec::with_capacity(groups.len());
    for (n, (band, tier, files)) in groups.into_iter().enumerate() {
        let pack_id = first + n as i64;
        let name = format!("{slug}-{band}-{pack_id:05}");
        let what = PackMeta {
            kind: "audio",
            band: &band,
            tier: &tier,
        };
        let b = match prepare_pack(
            home,
            options,
            &name,
            pack_id,
            &what,
            files,
            &mut summary.failed,
        ) {
            Ok(b) => b,
            Err(PublishError::Item { path, reason }) => {
                summary.failed.push((path, reason));
                continue;
            }
            Err(e) => return Err(e),
        };
        let round = plan_round(home, db, options, &b)?;
        if let Some(payload) = crate::packjob::payload(
            &name,
            options.hybrid,
            &round.layout,
            &b.streamed,
            &round.manifest_blake3,
        ) {
            // The worker reads the manifest where the pack will be.
            blobs.lay_out_file(&format!("{name}/{MANIFEST}"), &round.manifest_path)?;
            db.enqueue(crate::packjob::JOB_KIND, &name, &payload)?;
            summary.queued += 1;
        }
        building.push(b);
    }
    if options.detach {
        summary.detached = true;
        return Ok(());
    }
    let total = building.len();
    for (n, b) in building.into_iter().enumerate() {
        let hashed = loop {
            match db.job_state(crate::packjob::JOB_KIND, &b.name)? {
                Some(JobState::Pending) => {
                    progress(n, total);
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Some(JobState::Done { payload, result }) => {
                    break crate::packjob::hashed(payload, &result);
                }
                Some(JobState::Failed(_)) | None => break None,
            }
        };
        match finish_pack(home, db, options, b, now, &mut summary.failed, hashed) {
            Ok(report) => summary.packs.push(report),
            Err(PublishError::Item { path, reason }) => summary.failed.push((path, reason)),
            Err(e) => return Err(e),
        }
        progress(n + 1, total);
    }
    Ok(())
}

/// What a pack is, beside its files.
pub(crate) struct PackMeta<'a> {
    pub kind: &'a str,
    pub band: &'a str,
    pub tier: &'a str,
}

/// One file to place in a pack.
pub(crate) struct PackFile {
    pub path: Vec<String>,
    pub local: PathBuf,
    pub entry: ManifestEntry,
}

/// A pack on its way: its files placed (or to be streamed from their
/// blobs), waiting for its manifest and hashes.
pub(crate) struct Building {
    name: String,
    pack_id: i64,
    kind: String,
    band: String,
    tier: String,
    tmp: PathBuf,
    entries: Vec<ManifestEntry>,
    locals: Vec<PathBuf>,
    /// Per entry: the blob it is streamed from (object storage), or none
    /// (a file placed in the pack's folder).
    streamed: Vec<Option<ContentId>>,
}

impl Building {
    /// Where entry `i` is read: its placed file, or its blob's stream.
    fn source(&self, blobs: &std::sync::Arc<dyn musicark_store::BlobStore>, i: usize) -> Source {
        match &self.streamed[i] {
            Some(id) => {
                let blobs = blobs.clone();
                let id = id.clone();
                Source::Stream(std::sync::Arc::new(move |offset| {
                    blobs.open_at(&id, offset)
                }))
            }
            None => Source::Path(placed_path(&self.tmp, &self.entries[i].path)),
        }
    }

    fn open(
        &self,
        blobs: &std::sync::Arc<dyn musicark_store::BlobStore>,
        i: usize,
    ) -> std::io::Result<Box<dyn Read + Send>> {
        match self.source(blobs, i) {
            Source::Stream(open) => open(0),
            Source::Path(p) => Ok(Box::new(std::fs::File::open(p)?)),
        }
    }

    fn remove(&mut self, i: usize) -> (ManifestEntry, PathBuf) {
        self.streamed.remove(i);
        (self.entries.remove(i), self.locals.remove(i))
    }
}

/// One round of a pack: its manifest written, its torrent's layout
/// planned, and where each of the layout's sources is read.
struct Round {
    layout: Layout,
    sources: Vec<Source>,
    wants: Vec<FileWant>,
    manifest_path: PathBuf,
    manifest_len: u64,
    manifest_sha256: String,
    manifest_blake3: String,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn build_pack(
    home: &Home,
    db: &mut Db,
    options: &PackOptions,
    name: &str,
    pack_id: i64,
    what: &PackMeta<'_>,
    group: Vec<PackFile>,
    now: &str,
    failed: &mut Vec<(String, String)>,
) -> Result<PackReport, PublishError> {
    let building = prepare_pack(home, options, name, pack_id, what, group, failed)?;
    finish_pack(home, db, options, building, now, failed, None)
}

/// Place a pack's files (or plan to stream them from their blobs) and
/// know every file's SHA-256.
pub(crate) fn prepare_pack(
    home: &Home,
    options: &PackOptions,
    name: &str,
    pack_id: i64,
    what: &PackMeta<'_>,
    group: Vec<PackFile>,
    failed: &mut Vec<(String, String)>,
) -> Result<Building, PublishError> {
    let root = home.packs_dir();
    let tmp = root.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| PublishError::io(&tmp, e))?;
    let mut unique = Unique::new(&[MANIFEST]);
    let mut entries: Vec<ManifestEntry> = Vec::with_capacity(group.len());
    let mut locals: Vec<PathBuf> = Vec::with_capacity(group.len());
    // Per entry: the blob it is streamed from (object storage), or none
    // (a file placed in the pack's folder).
    let mut streamed: Vec<Option<ContentId>> = Vec::with_capacity(group.len());
    let blobs = home.blobs()?;
    for item in group {
        let path = unique.claim(item.path);
        let mut entry = item.entry;
        entry.path = path.join("/");
        let dst = path.iter().fold(tmp.clone(), |p, c| p.join(c));
        // In object storage a blob is read where it is: streamed for the
        // pack's hashes, then laid out in the bucket by a server-side copy.
        if let Some(id) = ContentId::parse(&entry.blake3)
            .filter(|id| !blobs.is_local() && blobs.local_path(id) == item.local)
        {
            entries.push(entry);
            locals.push(item.local);
            streamed.push(Some(id));
            continue;
        }
        let placed = link_or_copy(&item.local, &dst);
        if let Err(e) = placed {
            if musicark_store::is_no_space(&e) {
                return Err(PublishError::io(&dst, e));
            }
            // One unreadable copy is reported; the pack goes on without it.
            failed.push((
                item.local.display().to_string(),
                format!("cannot place in pack: {e}"),
            ));
            continue;
        }
        entries.push(entry);
        locals.push(item.local);
        streamed.push(None);
    }
    let mut b = Building {
        name: name.to_string(),
        pack_id,
        kind: what.kind.to_string(),
        band: what.band.to_string(),
        tier: what.tier.to_string(),
        tmp,
        entries,
        locals,
        streamed,
    };
    // One read of every file: its pieces, its BLAKE3 (checked against the
    // record: rotten bytes are never published) and, where ingest or
    // preserve did not record it, its SHA-256. The manifest states the
    // SHA-256s, and the torrent holds the manifest, so a file whose
    // SHA-256 is unknown is read once before (older archives only), and
    // a rotten file found while hashing means the manifest and pieces are
    // made again without it.
    let unknown: Vec<usize> = (0..b.entries.len())
        .filter(|&i| b.entries[i].sha256.is_empty())
        .collect();
    if !unknown.is_empty() {
        let next = AtomicUsize::new(0);
        type Sums = std::io::Result<(String, String, u64)>;
        let sums: Vec<std::sync::Mutex<Option<Sums>>> = (0..unknown.len())
            .map(|_| std::sync::Mutex::new(None))
            .collect();
        std::thread::scope(|s| {
            for _ in 0..options.threads.max(1) {
                s.spawn(|| {
                    let mut buf = vec![0u8; 1 << 20];
                    while let Some(k) =
                        Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&k| k < unknown.len())
                    {
                        let i = unknown[k];
                        *sums[k].lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(b.open(&blobs, i).and_then(|r| hash_both(r, &mut buf)));
                    }
                });
            }
        });
        for (k, sum) in unknown.iter().zip(sums) {
            match sum.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(Ok((sha, _, _))) => b.entries[*k].sha256 = sha,
                Some(Err(e)) if musicark_store::is_no_space(&e) => {
                    return Err(PublishError::io(&b.tmp, e));
                }
                // Left unknown: the read below reports it.
                Some(Err(_)) | None => {}
            }
        }
    }
    Ok(b)
}

/// Write `b`'s manifest and plan its torrent's layout.
fn plan_round(
    home: &Home,
    db: &Db,
    options: &PackOptions,
    b: &Building,
) -> Result<Round, PublishError> {
    let blobs = home.blobs()?;
    let manifest_path = b.tmp.join(MANIFEST);
    let mode = if options.hybrid {
        Mode::Hybrid
    } else {
        Mode::V1
    };
    // The manifest, streamed to disk: each audio line gets its source's
    // fingerprint as it is written, so no pack holds them all in memory.
    let (manifest_len, manifest_sha256, manifest_blake3) = {
        let file = std::fs::File::create(&manifest_path)
            .map_err(|e| PublishError::io(&manifest_path, e))?;
        let mut out = HashingWriter::new(std::io::BufWriter::new(file));
        for e in &b.entries {
            if b.kind == "audio" && e.fingerprint.is_none() {
                let mut line = e.clone();
                line.fingerprint = fingerprint_of(db, &e.source_blake3)?;
                serde_json::to_writer(&mut out, &line)?;
            } else {
                serde_json::to_writer(&mut out, e)?;
            }
            out.write_all(b"\n")
                .map_err(|err| PublishError::io(&manifest_path, err))?;
        }
        let (file, len, sha, b3) = out
            .finish()
            .map_err(|err| PublishError::io(&manifest_path, err))?;
        // Durable before the pack is recorded: the torrent vouches for it.
        file.into_inner()
            .map_err(|err| PublishError::io(&manifest_path, err.into_error()))?
            .sync_all()
            .map_err(|err| PublishError::io(&manifest_path, err))?;
        (len, sha, b3)
    };
    // The torrent: every file, the manifest included.
    let mut files: Vec<InputFile> = b
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| InputFile {
            path: e.path.split('/').map(String::from).collect(),
            length: e.size,
            source: i,
        })
        .collect();
    let mut sources: Vec<Source> = (0..b.entries.len()).map(|i| b.source(&blobs, i)).collect();
    files.push(InputFile {
        path: vec![MANIFEST.into()],
        length: manifest_len,
        source: sources.len(),
    });
    sources.push(Source::Path(manifest_path.clone()));
    let layout = Layout::plan(b.name.clone(), files, false, mode, None, false);
    // The layout's own order; the manifest's digests are known.
    let wants: Vec<FileWant> = layout
        .files
        .iter()
        .map(|f| FileWant {
            blake3: f.source < b.entries.len(),
            sha256: false,
        })
        .collect();
    Ok(Round {
        layout,
        sources,
        wants,
        manifest_path,
        manifest_len,
        manifest_sha256,
        manifest_blake3,
    })
}

/// Hash `b` (or take the hashes a worker made, `queued`, when they are
/// for this very manifest and layout), leave out what cannot be read or
/// has rotted, and record the pack.
pub(crate) fn finish_pack(
    home: &Home,
    db: &mut Db,
    options: &PackOptions,
    mut b: Building,
    now: &str,
    failed: &mut Vec<(String, String)>,
    mut queued: Option<crate::packjob::Hashed>,
) -> Result<PackReport, PublishError> {
    let blobs = home.blobs()?;
    let name = b.name.clone();
    let name = name.as_str();
    let (round, hashes) = loop {
        if b.entries.is_empty() {
            let _ = std::fs::remove_dir_all(&b.tmp);
            return Err(PublishError::Item {
                path: name.to_string(),
                reason: "no file of this pack could be published (see the reasons above)".into(),
            });
        }
        let round = plan_round(home, db, options, &b)?;
        let from_worker = queued.take().filter(|q| {
            Some(&q.payload)
                == crate::packjob::payload(
                    &b.name,
                    options.hybrid,
                    &round.layout,
                    &b.streamed,
                    &round.manifest_blake3,
                )
                .as_ref()
        });
        let hashed = match from_worker {
            Some(q) => Ok((q.hashes, q.digests)),
            None => hash_layout_and_files(
                &round.layout,
                &round.sources,
                HashOptions {
                    // Streams from object storage wait on the network too:
                    // twice the readers keep the cores busy.
                    threads: options.threads.max(1)
                        * if b.streamed.iter().any(Option::is_some) {
                            2
                        } else {
                            1
                        },
                },
                &round.wants,
            ),
        };
        let (hashes, digests) = match hashed {
            Ok(h) => h,
            Err(e) if musicark_store::is_no_space(&e) => {
                return Err(PublishError::io(&b.tmp, e));
            }
            Err(_) => {
                // Some file could not be read: find which, leave it out,
                // and build again.
                let mut bad = Vec::new();
                for i in 0..b.entries.len() {
                    if let Err(err) = b
                        .open(&blobs, i)
                        .and_then(|mut f| std::io::copy(&mut f, &mut std::io::sink()))
                    {
                        bad.push((i, err.to_string()));
                    }
                }
                if bad.is_empty() {
                    return Err(PublishError::Item {
                        path: name.to_string(),
                        reason: "a file of this pack could not be read while hashing".into(),
                    });
                }
                for (i, why) in bad.into_iter().rev() {
                    let (e, _) = b.remove(i);
                    failed.push((e.path, why));
                }
                continue;
            }
        };
        let mut rotten = Vec::new();
        for (f, digest) in round.layout.files.iter().zip(&digests) {
            let Some(i) = Some(f.source).filter(|&i| i < b.entries.len()) else {
                continue;
            };
            let b3 = digest
                .as_ref()
                .and_then(|d| d.blake3.clone())
                .unwrap_or_default();
            let len = digest.as_ref().map_or(0, |d| d.len);
            if b3 != b.entries[i].blake3 || len != b.entries[i].size {
                rotten.push((i, b3));
            }
        }
        if rotten.is_empty() {
            break (round, hashes);
        }
        // Rotten bytes are never published: out of the pack, and out of
        // the blob store (kept in its quarantine); then the pack again.
        rotten.sort_by_key(|r| std::cmp::Reverse(r.0));
        for (i, b3) in rotten {
            let (entry, local) = b.remove(i);
            let _ = std::fs::remove_file(placed_path(&b.tmp, &entry.path));
            let why = reject_rotten(home, &local, &entry.blake3, &b3);
            failed.push((local.display().to_string(), why));
        }
    };
    let Round {
        layout,
        manifest_path,
        manifest_len,
        manifest_sha256,
        manifest_blake3,
        ..
    } = round;
    let Building {
        pack_id,
        tmp,
        entries,
        streamed,
        kind,
        band,
        tier,
        ..
    } = b;
    let root = home.packs_dir();
    let build = BuildOptions {
        trackers: options.trackers.iter().map(|t| vec![t.clone()]).collect(),
        web_seeds: options.web_seeds.clone(),
        created_by: Some("musicark".into()),
        ..Default::default()
    };
    let torrent = build_torrent(&layout, &hashes, &build);
    let meta = musicark_torrent::Metainfo::parse(&torrent).map_err(|e| PublishError::Item {
        path: name.to_string(),
        reason: format!("built an unreadable torrent: {e}"),
    })?;
    let torrent_path = home.torrents_dir().join(format!("{name}.torrent"));
    atomic_write(&torrent_path, &torrent)?;
    atomic_link(
        &manifest_path,
        &home.torrents_dir().join(format!("{name}.{MANIFEST}")),
    )?;
    // The pack's links and folders are durable before its row commits: a
    // power loss never leaves a recorded pack with missing entries.
    let mut dirs: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
    dirs.insert(tmp.clone());
    for (e, _) in entries.iter().zip(&streamed).filter(|(_, s)| s.is_none()) {
        let parts: Vec<&str> = e.path.split('/').collect();
        let mut d = tmp.clone();
        dirs.insert(d.clone());
        for c in &parts[..parts.len().saturating_sub(1)] {
            d = d.join(c);
            dirs.insert(d.clone());
        }
    }
    for d in dirs.iter().rev() {
        musicark_store::fsync_dir(d)?;
    }
    // In object storage, the pack is laid out in the bucket under its
    // paths before its row commits (a web seed can point there): blobs
    // by server-side copies, other files and the manifest uploaded. A
    // filesystem store has nothing to do.
    // Copies in flight together: each is one request the server answers
    // on its own.
    if !blobs.is_local() {
        let next = AtomicUsize::new(0);
        let errors: Vec<musicark_store::StoreError> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..LAYOUT_IN_FLIGHT)
                .map(|_| {
                    s.spawn(|| {
                        let mut errors = Vec::new();
                        while let Some(i) = Some(next.fetch_add(1, Ordering::Relaxed))
                            .filter(|&i| i < entries.len())
                        {
                            let e = &entries[i];
                            let at = format!("{name}/{}", e.path);
                            let done = match &streamed[i] {
                                Some(id) => blobs.lay_out(id, &at),
                                None => blobs.lay_out_file(&at, &placed_path(&tmp, &e.path)),
                            };
                            if let Err(e) = done {
                                errors.push(e);
                                break;
                            }
                        }
                        errors
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        if let Some(e) = errors.into_iter().next() {
            return Err(e.into());
        }
        blobs.lay_out_file(&format!("{name}/{MANIFEST}"), &manifest_path)?;
    }
    let final_dir = root.join(name);
    let _ = std::fs::remove_dir_all(&final_dir);
    std::fs::rename(&tmp, &final_dir).map_err(|e| PublishError::io(&final_dir, e))?;
    musicark_store::fsync_dir(&root)?;
    // Offsets of each file in the torrent's data (v1: pad files count).
    let mut offsets: HashMap<String, (usize, u64)> = HashMap::new();
    let mut offset = 0u64;
    for (i, f) in layout.v1_files().iter().enumerate() {
        if !f.pad {
            offsets.insert(f.path.join("/"), (i, offset));
        }
        offset += f.length;
    }
    let data_size: u64 = layout.files.iter().map(|f| f.length).sum();
    let tx = db.transaction()?;
    tx.execute(
        "INSERT INTO packs (pack_id, name, kind, band, tier, btih, btmh, torrent_size, num_files, data_size, \
                            manifest_sha256, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            pack_id,
            name,
            kind,
            band,
            tier,
            meta.info_hash_v1.map(hex::encode),
            meta.info_hash_v2.map(hex::encode),
            torrent.len() as i64,
            layout.files.len() as i64,
            data_size as i64,
            manifest_sha256,
            now
        ],
    )?;
    {
        let mut ins = tx.prepare(
            "INSERT INTO pack_files (pack_id, file_index, path, byte_offset, size, output_id, source_id, recording_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for e in &entries {
            let (index, offset) = offsets.get(&e.path).copied().unwrap_or((0, 0));
            ins.execute(params![
                pack_id,
                index as i64,
                e.path,
                offset as i64,
                e.size as i64,
                e.blake3,
                e.source_blake3,
                e.recording_id
            ])?;
        }
        let (index, offset) = offsets.get(MANIFEST).copied().unwrap_or((0, 0));
        ins.execute(params![
            pack_id,
            index as i64,
            MANIFEST,
            offset as i64,
            manifest_len as i64,
            manifest_blake3,
            Option::<String>::None,
            Option::<i64>::None
        ])?;
    }
    tx.commit()?;
    Ok(PackReport {
        name: name.to_string(),
        band: band.clone(),
        files: layout.files.len(),
        data_size,
        btih: meta.info_hash_v1.map(hex::encode).unwrap_or_default(),
        torrent: torrent_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assign_cuts_by_size_files_and_band() {
        // (size, band) → expected ranges
        type Case<'a> = (&'a [(u64, usize)], u64, usize, &'a [std::ops::Range<usize>]);
        #[allow(clippy::single_range_in_vec_init)]
        let cases: &[Case] = &[
            (&[], 10, 10, &[]),
            (&[(4, 0), (4, 0), (4, 0)], 10, 10, &[0..2, 2..3]),
            (&[(4, 0), (4, 0), (4, 0)], 12, 10, &[0..3]),
            (&[(4, 0), (4, 0), (4, 0)], 100, 2, &[0..2, 2..3]),
            (&[(4, 0), (4, 1), (4, 1)], 100, 10, &[0..1, 1..3]),
            // A file bigger than the target gets a pack of its own.
            (&[(1, 0), (50, 0), (1, 0)], 10, 10, &[0..1, 1..2, 2..3]),
        ];
        for (input, target, max, want) in cases {
            assert_eq!(assign(input, *target, *max), want.to_vec(), "{input:?}");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug("My Netlabel — Archive 2026"),
            "my-netlabel-archive-2026"
        );
        assert_eq!(slug("—"), "musicark");
    }
}
