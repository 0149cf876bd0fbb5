//! `follow sync`: fetch every followed publisher's signed list, verify it
//! whole, and keep it as that publisher's new copy; any failure keeps the
//! previous good copy.
//!
//! For each publisher, in order:
//!
//! 1. The list and its signature (bounded, with timeouts). The signature
//!    must be by the pinned key: a signature by another key is refused
//!    until the operator confirms the new key (`follow rekey`).
//! 2. The signed timestamp must not be older than the copy held (a
//!    rollback is refused).
//! 3. The schema: musicark's list, or Anna's Archive's `torrents.json`
//!    fields alone.
//! 4. Every listed .torrent (but embargoed ones, listed without), each
//!    against the list's info-hashes and sizes. A .torrent already held
//!    under the same info-hash is kept, not fetched again.
//! 5. For a musicark list, its metadata release's manifest (by the list's
//!    `manifest_sha256`) and where-index (by the manifest's SHA-256 and
//!    BLAKE3): which recordings each torrent holds, by MBID.
//! 6. Its wanted list, when it publishes one (`wanted.json` beside the
//!    list, signed by the same key).
//!
//! Everything lands in `follows/.NAME.incoming/` and replaces
//! `follows/NAME/` by a rename once verified; then the rows, in one
//! transaction. Names a list carries are checked to be plain file names;
//! nothing is written outside the publisher's folder.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Cursor};
use std::path::{Path, PathBuf};
use std::time::Instant;

use minisign::{PublicKey, SignatureBox};
use musicark_publish::list::{self, ListEntry};
use musicark_publish::pack::ManifestEntry;
use musicark_store::sql::Value;
use musicark_store::{Db, Home};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::fetch::{self, FetchLimits};
use crate::{FollowError, ListFormat, Publisher, publisher_dir};

/// The largest signature accepted.
const MAX_SIGNATURE_BYTES: u64 = 16 << 10;
/// The largest metadata-release manifest accepted (it names two files).
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
use musicark_publish::metadata::WHERE_INDEX;
/// The wanted list, beside the list.
pub const WANTED_FILE: &str = "wanted.json";

/// Bounds of a sync: the HTTP ones, and the largest where-index.
#[derive(Debug, Clone, Copy)]
pub struct SyncLimits {
    pub fetch: FetchLimits,
    /// Largest where-index (compressed) accepted.
    pub max_index_bytes: u64,
    /// Publishers fetched at once.
    pub threads: usize,
}

impl Default for SyncLimits {
    fn default() -> SyncLimits {
        SyncLimits {
            fetch: FetchLimits::default(),
            max_index_bytes: 8 << 30,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// How a publisher's sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// A new copy verified and kept.
    Synced,
    /// The list is the one held.
    Unchanged,
    /// Refused on trust: another key, a rollback, a list or torrent that
    /// does not verify. The previous copy is kept.
    Refused,
    /// Could not be fetched (unreachable, too large, I/O). The previous
    /// copy is kept.
    Failed,
}

/// One publisher's sync.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Outcome {
    pub name: String,
    pub status: SyncStatus,
    pub format: Option<ListFormat>,
    /// Torrents listed.
    pub torrents: usize,
    /// .torrent files fetched, and kept from the copy held.
    pub fetched: usize,
    pub reused: usize,
    /// (torrent, recording MBID) pairs of the metadata release.
    pub holdings: usize,
    pub wants: usize,
    pub signed_at: Option<i64>,
    /// Why it was refused or failed; notes (no metadata release) else.
    pub problem: Option<String>,
    pub seconds: f64,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self.status, SyncStatus::Synced | SyncStatus::Unchanged)
    }
}

/// One torrent of a followed list, whichever its form.
#[derive(Debug, Clone)]
pub struct Listed {
    pub url: String,
    pub display_name: String,
    pub group_name: String,
    pub is_metadata: bool,
    pub btih: String,
    pub btmh: Option<String>,
    pub magnet_link: String,
    pub torrent_size: u64,
    pub num_files: u64,
    pub data_size: u64,
    pub obsolete: bool,
    pub embargo: bool,
    pub seeders: u64,
    pub leechers: u64,
    /// musicark lists only.
    pub manifest_sha256: Option<String>,
}

/// Anna's Archive's `torrents.json` entry: its fields, others ignored.
#[derive(Debug, Deserialize)]
struct AaEntry {
    url: String,
    #[serde(default)]
    group_name: String,
    display_name: String,
    #[serde(default)]
    is_metadata: bool,
    btih: String,
    #[serde(default)]
    magnet_link: String,
    torrent_size: u64,
    #[serde(default)]
    num_files: u64,
    data_size: u64,
    #[serde(default)]
    obsolete: bool,
    #[serde(default)]
    embargo: bool,
    #[serde(default)]
    seeders: u64,
    #[serde(default)]
    leechers: u64,
}

impl From<ListEntry> for Listed {
    fn from(e: ListEntry) -> Listed {
        Listed {
            url: e.url,
            display_name: e.display_name,
            group_name: e.group_name,
            is_metadata: e.is_metadata,
            btih: e.btih,
            btmh: e.btmh,
            magnet_link: e.magnet_link,
            torrent_size: e.torrent_size,
            num_files: e.num_files,
            data_size: e.data_size,
            obsolete: e.obsolete,
            embargo: e.embargo,
            seeders: e.seeders,
            leechers: e.leechers,
            manifest_sha256: Some(e.manifest_sha256),
        }
    }
}

impl From<AaEntry> for Listed {
    fn from(e: AaEntry) -> Listed {
        Listed {
            url: e.url,
            display_name: e.display_name,
            group_name: e.group_name,
            is_metadata: e.is_metadata,
            btih: e.btih,
            btmh: None,
            magnet_link: e.magnet_link,
            torrent_size: e.torrent_size,
            num_files: e.num_files,
            data_size: e.data_size,
            obsolete: e.obsolete,
            embargo: e.embargo,
            seeders: e.seeders,
            leechers: e.leechers,
            manifest_sha256: None,
        }
    }
}

/// A list's entries and its form: musicark's schema when every entry has
/// it, else Anna's Archive's fields.
pub fn parse_list(bytes: &[u8]) -> Result<(ListFormat, Vec<Listed>), String> {
    match serde_json::from_slice::<Vec<ListEntry>>(bytes) {
        Ok(v) => Ok((
            ListFormat::Musicark,
            v.into_iter().map(Listed::from).collect(),
        )),
        Err(ours) => match serde_json::from_slice::<Vec<AaEntry>>(bytes) {
            Ok(v) => Ok((
                ListFormat::TorrentsJson,
                v.into_iter().map(Listed::from).collect(),
            )),
            Err(theirs) => Err(format!(
                "schema: neither a musicark list ({ours}) nor a torrents.json list ({theirs})"
            )),
        },
    }
}

/// One entry of a wanted list (`musicark wanted export`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WantedEntry {
    pub recording_mbid: Option<String>,
    pub isrc: Option<String>,
    pub artist: Option<String>,
    pub title: String,
    pub listens: i64,
}

/// The signed timestamp minisign writes in a trusted comment
/// (`timestamp:N\t…`).
pub fn signed_timestamp(trusted_comment: &str) -> Option<i64> {
    trusted_comment
        .split(['\t', ' '])
        .find_map(|part| part.strip_prefix("timestamp:"))
        .and_then(|n| n.parse().ok())
}

/// Check `data` against the minisign signature text `sig` by the pinned
/// key: a signature by another key says so (the operator must confirm a
/// new key); the signed timestamp when it holds.
fn check_signed(
    name: &str,
    what: &str,
    key: &PublicKey,
    sig: &[u8],
    data: &[u8],
) -> Result<Option<i64>, FollowError> {
    let text = std::str::from_utf8(sig)
        .map_err(|_| FollowError::Untrusted(format!("{what}.minisig is not text")))?;
    let sig_box = SignatureBox::from_string(text)
        .map_err(|e| FollowError::Untrusted(format!("{what}.minisig: {e}")))?;
    if sig_box.keynum() != key.keynum() {
        return Err(FollowError::Untrusted(format!(
            "{what} is signed by key {}, not by {} which you follow {name} with; if the publisher changed its key, check the new one with them and run `musicark follow rekey {name} --key KEY`",
            list::keynum_id(sig_box.keynum()),
            list::keynum_id(key.keynum())
        )));
    }
    let trusted = list::check_signature(key, text, Cursor::new(data))
        .map_err(|e| FollowError::Untrusted(format!("{what}: {e}")))?;
    Ok(signed_timestamp(&trusted))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// What one publisher's fetch verified, staged and waiting to be kept.
struct Fetched {
    staging: PathBuf,
    format: ListFormat,
    list_sha256: String,
    signed_at: Option<i64>,
    entries: Vec<Listed>,
    /// Where each entry's .torrent is in the pack (none when embargoed).
    placed: Vec<Option<(u64, u64)>>,
    holdings: Vec<(String, String)>,
    wants: Vec<WantedEntry>,
    fetched: usize,
    reused: usize,
    note: Option<String>,
}

/// A publisher's verified .torrent files, one after another in one file
/// (where each is: `publisher_torrents`): a hundred lists of ten thousand
/// torrents would otherwise be a million files to create, and to sync
/// one by one. Named by the list it was verified with
/// (`follows/NAME/torrents.<first 16 hex digits of its SHA-256>.pack`),
/// so that the rows and the pack they point into change together: the
/// new pack is in place before the rows name it, and the old one stays
/// until they no longer do (a kill between the two leaves the archive
/// reading the old rows from the old pack).
pub fn torrent_pack(dir: &Path, list_sha256: &str) -> PathBuf {
    dir.join(format!(
        "torrents.{}.pack",
        list_sha256.get(..16).unwrap_or(list_sha256)
    ))
}

/// A publisher bringing more holdings than this makes the sync build the
/// holdings' MBID index again at its end rather than keep it up row by row.
const BULK_HOLDINGS: usize = 20_000;

/// What a sync stages its pack as.
const STAGED_PACK: &str = "torrents.pack";

/// The .torrent files of the copy held, by info-hash: (offset, length)
/// in its pack.
pub type HeldTorrents = HashMap<String, (u64, u64)>;

/// Read `len` bytes at `offset` of a publisher's pack.
pub fn read_packed(pack: &Path, offset: u64, len: u64) -> Result<Vec<u8>, FollowError> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(pack).map_err(crate::io(pack))?;
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, offset).map_err(crate::io(pack))?;
    Ok(buf)
}

enum Fetch {
    Unchanged,
    New(Box<Fetched>),
}

/// The folder a relative name in a list resolves against: the list's URL
/// up to its last `/`.
fn base_of(url: &str) -> &str {
    &url[..url.rfind('/').map_or(0, |i| i + 1)]
}

fn fetch_publisher(
    home: &Home,
    p: &Publisher,
    held: &HeldTorrents,
    limits: &SyncLimits,
) -> Result<Fetch, FollowError> {
    let agent = fetch::agent(&limits.fetch);
    let key = list::parse_public_key(&p.public_key)?;
    let data = fetch::get(&agent, &p.url, limits.fetch.max_list_bytes)?;
    let sha = sha256_hex(&data);
    let sig = fetch::get(&agent, &format!("{}.minisig", p.url), MAX_SIGNATURE_BYTES)?;
    let signed_at = check_signed(&p.name, &p.url, &key, &sig, &data)?;
    if p.list_sha256.as_deref() == Some(sha.as_str()) {
        return Ok(Fetch::Unchanged);
    }
    if let (Some(held), Some(now)) = (p.list_signed_at, signed_at)
        && now < held
    {
        return Err(FollowError::Rollback(format!(
            "{}: the list was signed at {now}, before the copy held (signed at {held}): refused as a rollback",
            p.url
        )));
    }
    if p.list_signed_at.is_some() && signed_at.is_none() {
        return Err(FollowError::Rollback(format!(
            "{}: the signature carries no timestamp, the copy held does: refused",
            p.url
        )));
    }
    let (format, entries) =
        parse_list(&data).map_err(|e| FollowError::List(format!("{}: {e}", p.url)))?;

    let dir = publisher_dir(home, &p.name);
    let staging = home.follows_dir().join(format!(".{}.incoming", p.name));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(crate::io(&staging))?;
    let result = (|| {
        use std::io::Write;
        let base = base_of(&p.url);
        let mut problems: Vec<String> = Vec::new();
        let mut names = HashSet::new();
        let mut fetched = 0;
        let mut reused = 0;
        let pack_path = staging.join(STAGED_PACK);
        let mut pack = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(&pack_path).map_err(crate::io(&pack_path))?,
        );
        let old = p
            .list_sha256
            .as_deref()
            .and_then(|sha| std::fs::File::open(torrent_pack(&dir, sha)).ok());
        let mut at = 0u64;
        let mut placed: Vec<Option<(u64, u64)>> = Vec::with_capacity(entries.len());
        for e in &entries {
            placed.push(None);
            let mut problem = |what: String| problems.push(format!("{}: {what}", e.display_name));
            if e.btih.len() != 40 || !e.btih.bytes().all(|b| b.is_ascii_hexdigit()) {
                problem(format!("btih {:?} is not 40 hex digits", e.btih));
                continue;
            }
            if let Err(why) = list::confined_name(&e.display_name) {
                problem(why);
                continue;
            }
            if !names.insert(e.display_name.as_str()) {
                problem("listed twice".into());
                continue;
            }
            if e.embargo {
                continue;
            }
            let expected = list::Expected {
                btih: &e.btih.to_ascii_lowercase(),
                btmh: match format {
                    ListFormat::Musicark => Some(e.btmh.as_deref()),
                    ListFormat::TorrentsJson => None,
                },
                torrent_size: e.torrent_size,
                num_files: match format {
                    ListFormat::Musicark => Some(e.num_files),
                    ListFormat::TorrentsJson => None,
                },
                data_size: e.data_size,
            };
            let mut keep = |bytes: &[u8]| -> Result<(), FollowError> {
                pack.write_all(bytes).map_err(crate::io(&pack_path))?;
                *placed.last_mut().expect("pushed") = Some((at, bytes.len() as u64));
                at += bytes.len() as u64;
                Ok(())
            };
            // Held already under this info-hash: kept, not fetched again.
            if let (Some(f), Some(&(offset, len))) = (&old, held.get(&e.btih.to_ascii_lowercase()))
                && len <= limits.fetch.max_torrent_bytes
            {
                use std::os::unix::fs::FileExt;
                let mut bytes = vec![0u8; len as usize];
                if f.read_exact_at(&mut bytes, offset).is_ok()
                    && list::torrent_problems(&bytes, &expected).is_empty()
                {
                    keep(&bytes)?;
                    reused += 1;
                    continue;
                }
            }
            let mut sources = Vec::new();
            if e.url.contains("://") {
                sources.push(e.url.clone());
                sources.push(format!("{base}torrents/{}", e.display_name));
            } else {
                // A relative URL: plain names below the list's folder.
                match list::torrent_path(Path::new(""), &list_entry_for_path(e)) {
                    Ok(rel) => sources.push(format!("{base}{}", rel.display())),
                    Err(why) => {
                        problem(why);
                        continue;
                    }
                }
            }
            let mut last = String::new();
            let mut got = None;
            for from in &sources {
                match fetch::get(&agent, from, limits.fetch.max_torrent_bytes) {
                    Ok(b) => {
                        got = Some(b);
                        break;
                    }
                    Err(err) => last = err.to_string(),
                }
            }
            let Some(bytes) = got else {
                problem(format!("torrent: {last}"));
                continue;
            };
            let wrong = list::torrent_problems(&bytes, &expected);
            if !wrong.is_empty() {
                problem(wrong.join("; "));
                continue;
            }
            keep(&bytes)?;
            fetched += 1;
        }
        let pack = pack.into_inner().map_err(|e| FollowError::Io {
            path: pack_path.clone(),
            source: e.into_error(),
        })?;
        pack.sync_all().map_err(crate::io(&pack_path))?;
        if !problems.is_empty() {
            let n = problems.len();
            problems.truncate(5);
            return Err(FollowError::List(format!(
                "{} does not verify ({n} problems): {}",
                p.url,
                problems.join("; ")
            )));
        }
        let mut note = None;
        let holdings = match format {
            ListFormat::Musicark => match entries.iter().rfind(|e| e.is_metadata && !e.obsolete) {
                Some(meta) => metadata_holdings(&agent, base, meta, &entries, &staging, limits)?,
                None => {
                    note = Some("the list has no metadata release: its torrents count, its recordings are not known".into());
                    Vec::new()
                }
            },
            ListFormat::TorrentsJson => {
                note = Some("a torrents.json list: its torrents count in the union and health, without recording-level knowledge".into());
                Vec::new()
            }
        };
        let wants = match fetch::get_optional(
            &agent,
            &format!("{base}{WANTED_FILE}"),
            limits.fetch.max_list_bytes,
        )? {
            None => Vec::new(),
            Some(w) => {
                let wsig = fetch::get(
                    &agent,
                    &format!("{base}{WANTED_FILE}.minisig"),
                    MAX_SIGNATURE_BYTES,
                )?;
                check_signed(&p.name, &format!("{base}{WANTED_FILE}"), &key, &wsig, &w)?;
                let list: Vec<WantedEntry> = serde_json::from_slice(&w)
                    .map_err(|e| FollowError::List(format!("{base}{WANTED_FILE}: schema: {e}")))?;
                list
            }
        };
        let list_name = "torrents.json";
        musicark_store::write_synced(&staging.join(list_name), &data)?;
        musicark_store::write_synced(&staging.join(format!("{list_name}.minisig")), &sig)?;
        Ok(Fetched {
            staging: staging.clone(),
            format,
            list_sha256: sha,
            signed_at,
            entries,
            placed,
            holdings,
            wants,
            fetched,
            reused,
            note,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result.map(|f| Fetch::New(Box::new(f)))
}

/// A `ListEntry` with only what [`list::torrent_path`] reads.
fn list_entry_for_path(e: &Listed) -> ListEntry {
    ListEntry {
        url: e.url.clone(),
        display_name: e.display_name.clone(),
        ..ListEntry::default()
    }
}

/// One line of a where-index, the fields read.
#[derive(Deserialize)]
struct IndexLine {
    recording_mbid: Option<String>,
    btih: Option<String>,
}

/// The metadata release's manifest (by the list's `manifest_sha256`),
/// then its where-index (by the manifest's SHA-256 and BLAKE3), served
/// as a web seed would: `BASE/packs/NAME/PATH`. The (torrent, recording
/// MBID) pairs of the listed torrents.
fn metadata_holdings(
    agent: &ureq::Agent,
    base: &str,
    meta: &Listed,
    entries: &[Listed],
    staging: &Path,
    limits: &SyncLimits,
) -> Result<Vec<(String, String)>, FollowError> {
    let name = meta
        .display_name
        .strip_suffix(".torrent")
        .unwrap_or(&meta.display_name);
    list::confined_name(name).map_err(FollowError::List)?;
    let at = format!("{base}packs/{name}/");
    let manifest = fetch::get(
        agent,
        &format!("{at}{}", musicark_publish::pack::MANIFEST),
        MAX_MANIFEST_BYTES,
    )?;
    if Some(sha256_hex(&manifest)) != meta.manifest_sha256 {
        return Err(FollowError::List(format!(
            "{at}{}: does not match the list's manifest_sha256",
            musicark_publish::pack::MANIFEST
        )));
    }
    let mut index_entry = None;
    for line in manifest.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let m: ManifestEntry = serde_json::from_slice(line)
            .map_err(|e| FollowError::List(format!("{at}manifest: {e}")))?;
        if m.path == WHERE_INDEX {
            index_entry = Some(m);
        }
    }
    let index_entry = index_entry.ok_or_else(|| {
        FollowError::List(format!("{at}: the metadata release has no {WHERE_INDEX}"))
    })?;
    let local = staging.join("metadata").join(WHERE_INDEX);
    std::fs::create_dir_all(local.parent().expect("has a parent")).map_err(crate::io(staging))?;
    let max = index_entry.size.min(limits.max_index_bytes);
    if index_entry.size > limits.max_index_bytes {
        return Err(FollowError::Fetch {
            url: format!("{at}{WHERE_INDEX}"),
            what: format!(
                "{} bytes, more than the {} bytes allowed",
                index_entry.size, limits.max_index_bytes
            ),
        });
    }
    fetch::fetch_to(agent, &format!("{at}{WHERE_INDEX}"), &local, max)?;
    let (sha, b3, _) = musicark_publish::pack::hash_file_both(&local, &mut vec![0u8; 1 << 16])
        .map_err(crate::io(&local))?;
    if sha != index_entry.sha256 || b3 != index_entry.blake3 {
        return Err(FollowError::List(format!(
            "{at}{WHERE_INDEX}: does not match the metadata release's manifest"
        )));
    }
    let listed: HashSet<String> = entries
        .iter()
        .filter(|e| !e.is_metadata)
        .map(|e| e.btih.to_ascii_lowercase())
        .collect();
    let file = std::fs::File::open(&local).map_err(crate::io(&local))?;
    let reader =
        std::io::BufReader::new(zstd::stream::read::Decoder::new(file).map_err(crate::io(&local))?);
    let mut out = HashSet::new();
    for line in reader.lines() {
        let line = line.map_err(crate::io(&local))?;
        if line.is_empty() {
            continue;
        }
        let l: IndexLine = serde_json::from_str(&line)
            .map_err(|e| FollowError::List(format!("{at}{WHERE_INDEX}: {e}")))?;
        if let (Some(mbid), Some(btih)) = (l.recording_mbid, l.btih) {
            let btih = btih.to_ascii_lowercase();
            if listed.contains(&btih) {
                out.insert((btih, mbid.to_ascii_lowercase()));
            }
        }
    }
    let mut out: Vec<_> = out.into_iter().collect();
    out.sort_unstable();
    Ok(out)
}

/// Put a verified copy in place: the folder by rename (the old one gone
/// after), then the rows in one transaction.
fn keep(home: &Home, db: &mut Db, p: &Publisher, f: &Fetched) -> Result<(), FollowError> {
    // The new pack beside the old one, then the list, its signature and
    // the where-index over theirs (each a rename); the rows switch to the
    // new pack when they commit, and only then does the old pack go.
    let dir = publisher_dir(home, &p.name);
    std::fs::create_dir_all(&dir).map_err(crate::io(&dir))?;
    let pack = torrent_pack(&dir, &f.list_sha256);
    std::fs::rename(f.staging.join(STAGED_PACK), &pack).map_err(crate::io(&pack))?;
    for name in ["torrents.json", "torrents.json.minisig"] {
        let to = dir.join(name);
        std::fs::rename(f.staging.join(name), &to).map_err(crate::io(&to))?;
    }
    let index = f.staging.join("metadata").join(WHERE_INDEX);
    if index.exists() {
        let to = dir.join(WHERE_INDEX);
        std::fs::rename(&index, &to).map_err(crate::io(&to))?;
    }
    musicark_store::fsync_dir(&dir)?;
    let _ = std::fs::remove_dir_all(&f.staging);

    let tx = db.transaction()?;
    let id: i64 = tx.query_row(
        "SELECT publisher_id FROM publishers WHERE name = ?1",
        [&p.name],
        |r| r.get(0),
    )?;
    for table in [
        "publisher_torrents",
        "publisher_holdings",
        "publisher_wants",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE publisher_id = ?1"),
            [id],
        )?;
    }
    // In key order: each publisher's rows are appended, not scattered.
    let mut order: Vec<(&Listed, &Option<(u64, u64)>)> = f.entries.iter().zip(&f.placed).collect();
    order.sort_by(|a, b| {
        a.0.btih
            .to_ascii_lowercase()
            .cmp(&b.0.btih.to_ascii_lowercase())
    });
    let torrents: Vec<[Value; 15]> = order
        .iter()
        .map(|&(e, placed)| {
            [
                Value::Integer(id),
                Value::Text(e.btih.to_ascii_lowercase()),
                Value::Text(e.display_name.clone()),
                Value::Text(e.group_name.clone()),
                Value::Integer(e.is_metadata as i64),
                Value::Integer(e.obsolete as i64),
                Value::Integer(e.embargo as i64),
                Value::Integer(e.data_size as i64),
                Value::Integer(e.num_files as i64),
                Value::Integer(e.seeders.min(i64::MAX as u64) as i64),
                Value::Integer(e.leechers.min(i64::MAX as u64) as i64),
                Value::Text(e.magnet_link.clone()),
                e.manifest_sha256
                    .clone()
                    .filter(|m| !m.is_empty())
                    .map_or(Value::Null, Value::Text),
                placed.map_or(Value::Null, |p| Value::Integer(p.0 as i64)),
                placed.map_or(Value::Null, |p| Value::Integer(p.1 as i64)),
            ]
        })
        .collect();
    // A torrent listed twice under one info-hash is one.
    tx.insert_many(
        "publisher_torrents (publisher_id, btih, name, group_name, is_metadata, obsolete, embargo, data_size, num_files, seeders, leechers, magnet_link, manifest_sha256, pack_offset, torrent_size)",
        15,
        &torrents,
        "ON CONFLICT (publisher_id, btih) DO NOTHING",
    )?;
    let holdings: Vec<[Value; 3]> = f
        .holdings
        .iter()
        .map(|(btih, mbid)| {
            [
                Value::Integer(id),
                Value::Text(btih.clone()),
                Value::Text(mbid.clone()),
            ]
        })
        .collect();
    tx.insert_many(
        "publisher_holdings (publisher_id, btih, recording_mbid)",
        3,
        &holdings,
        "ON CONFLICT DO NOTHING",
    )?;
    let mut seen = HashSet::new();
    let wants: Vec<[Value; 6]> = f
        .wants
        .iter()
        .filter_map(|w| {
            let mbid = w.recording_mbid.as_ref()?.to_ascii_lowercase();
            seen.insert(mbid.clone()).then(|| {
                [
                    Value::Integer(id),
                    Value::Text(mbid),
                    w.isrc.clone().map_or(Value::Null, Value::Text),
                    w.artist.clone().map_or(Value::Null, Value::Text),
                    Value::Text(w.title.clone()),
                    Value::Integer(w.listens),
                ]
            })
        })
        .collect();
    tx.insert_many(
        "publisher_wants (publisher_id, recording_mbid, isrc, artist, title, listens)",
        6,
        &wants,
        "ON CONFLICT DO NOTHING",
    )?;
    tx.execute(
        "UPDATE publishers SET format = ?2, list_sha256 = ?3, list_signed_at = ?4, synced_at = ?5, \
         tried_at = ?5, problem = NULL WHERE publisher_id = ?1",
        musicark_store::params![
            id,
            f.format.as_str(),
            f.list_sha256,
            f.signed_at,
            musicark_store::clock::now_seconds()
        ],
    )?;
    tx.commit()?;
    // Packs of lists no longer held.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("torrents.") && name.ends_with(".pack") && e.path() != pack {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

fn record_attempt(db: &mut Db, name: &str, problem: Option<&str>) -> Result<(), FollowError> {
    db.execute(
        "UPDATE publishers SET tried_at = ?2, problem = ?3 WHERE name = ?1",
        musicark_store::params![name, musicark_store::clock::now_seconds(), problem],
    )?;
    Ok(())
}

/// Sync the publishers named (all when `names` is empty), several at once;
/// `done` hears of each as it ends. A publisher's failure is its outcome,
/// not an error: the others go on. `Err` only when the archive itself
/// cannot be read or written.
pub fn sync(
    home: &Home,
    db: &mut Db,
    names: &[String],
    limits: &SyncLimits,
    mut done: impl FnMut(&Outcome),
) -> Result<Vec<Outcome>, FollowError> {
    let all = crate::publishers(db)?;
    for n in names {
        if !all.iter().any(|p| &p.name == n) {
            return Err(FollowError::NotFound(format!(
                "no followed publisher named {n:?} (see `musicark follow list`)"
            )));
        }
    }
    let chosen: Vec<Publisher> = all
        .into_iter()
        .filter(|p| names.is_empty() || names.contains(&p.name))
        .collect();
    std::fs::create_dir_all(home.follows_dir()).map_err(crate::io(&home.follows_dir()))?;
    // A list of 10 000 torrents is some 60 000 rows.
    db.cache_mib(64)?;
    // Where the .torrent files of each copy held are.
    let mut held: Vec<HeldTorrents> = Vec::with_capacity(chosen.len());
    for p in &chosen {
        let mut m = HeldTorrents::new();
        db.scan(
            "SELECT t.btih, t.pack_offset, t.torrent_size FROM publisher_torrents t \
             JOIN publishers p ON p.publisher_id = t.publisher_id \
             WHERE p.name = ?1 AND t.pack_offset IS NOT NULL",
            [&p.name],
            |r| {
                m.insert(
                    r.get(0)?,
                    (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64),
                );
                Ok(())
            },
        )?;
        held.push(m);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    let mut kept: Result<(), FollowError> = Ok(());
    let mut index_dropped = false;
    std::thread::scope(|s| {
        for _ in 0..limits.threads.clamp(1, chosen.len().max(1)) {
            let tx = tx.clone();
            let (chosen, next, held) = (&chosen, &next, &held);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = chosen.get(i) else { break };
                    let started = Instant::now();
                    let r = fetch_publisher(home, p, &held[i], limits);
                    if tx.send((i, r, started)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, r, started) in rx {
            let p = &chosen[i];
            let mut o = Outcome {
                name: p.name.clone(),
                status: SyncStatus::Unchanged,
                format: p.format,
                torrents: p.torrents as usize,
                fetched: 0,
                reused: 0,
                holdings: p.holdings as usize,
                wants: p.wants as usize,
                signed_at: p.list_signed_at,
                problem: None,
                seconds: 0.0,
            };
            let stored = match r {
                Ok(Fetch::Unchanged) => record_attempt(db, &p.name, None),
                Ok(Fetch::New(f)) => {
                    // Many holdings at once: the MBID index is built again
                    // in one sorted pass at the end instead of taking them
                    // one random key at a time (a first sync of 100 lists
                    // of 50 000 holdings: 111 s with it kept, 27 s without).
                    let mut k = Ok(());
                    if !index_dropped && f.holdings.len() > BULK_HOLDINGS {
                        k = db
                            .execute_batch("DROP INDEX IF EXISTS publisher_holdings_mbid")
                            .map_err(FollowError::from);
                        index_dropped = k.is_ok();
                    }
                    let k = k.and_then(|()| keep(home, db, p, &f));
                    if k.is_ok() {
                        o.status = SyncStatus::Synced;
                        o.format = Some(f.format);
                        o.torrents = f.entries.len();
                        o.fetched = f.fetched;
                        o.reused = f.reused;
                        o.holdings = f.holdings.len();
                        o.wants = f.wants.len();
                        o.signed_at = f.signed_at;
                        o.problem = f.note.clone();
                    } else {
                        let _ = std::fs::remove_dir_all(&f.staging);
                    }
                    k
                }
                Err(e) => {
                    o.status = match e {
                        FollowError::Untrusted(_)
                        | FollowError::Rollback(_)
                        | FollowError::List(_)
                        | FollowError::Invalid(_)
                        | FollowError::Publish(_) => SyncStatus::Refused,
                        _ => SyncStatus::Failed,
                    };
                    let why = e.to_string();
                    o.problem = Some(why.clone());
                    record_attempt(db, &p.name, Some(&why))
                }
            };
            o.seconds = started.elapsed().as_secs_f64();
            if let Err(e) = stored {
                kept = Err(e);
            }
            done(&o);
            outcomes.insert(p.name.clone(), o);
        }
    });
    // Always: it comes back after a sync that dropped it was killed.
    if index_dropped {
        db.sort_in_runs()?;
    }
    db.execute_batch(
        "CREATE INDEX IF NOT EXISTS publisher_holdings_mbid ON publisher_holdings(recording_mbid)",
    )?;
    kept?;
    Ok(chosen
        .iter()
        .filter_map(|p| outcomes.remove(&p.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_comment_gives_its_timestamp() {
        assert_eq!(
            signed_timestamp("timestamp:1700000000\tfile:torrents.json\thashed"),
            Some(1_700_000_000)
        );
        assert_eq!(signed_timestamp("no time here"), None);
    }

    #[test]
    fn a_torrents_json_list_without_our_fields_is_read_as_such() {
        let aa = br#"[{"url":"https://example.org/t/a.torrent","top_level_group_name":"x","group_name":"y","display_name":"a.torrent","added_to_torrents_list_at":"2024-01-01","is_metadata":false,"btih":"0123456789abcdef0123456789abcdef01234567","magnet_link":"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567","torrent_size":300,"num_files":2,"data_size":1000,"aa_currently_seeding":true,"obsolete":false,"embargo":false,"seeders":3,"leechers":0,"completed":9,"stats_scraped_at":"2024-01-02","partially_broken":false,"random":"abc"}]"#;
        let (format, entries) = parse_list(aa).expect("reads");
        assert_eq!(format, ListFormat::TorrentsJson);
        assert_eq!(entries[0].seeders, 3);
        assert!(entries[0].manifest_sha256.is_none());
        assert!(parse_list(b"{\"not\": \"a list\"}").is_err());
        assert!(parse_list(b"[{\"url\": 1}]").is_err());
    }
}
