//! The torrent list: every pack the archive ever published, in JSON with
//! the field names of Anna's Archive's `torrents.json` (so existing tooling
//! reads it) plus musicark's own, and as CSV; signed with ed25519 in
//! minisign's format (`minisign -V -p FILE.pub -m FILE` verifies it).
//!
//! The list is a pure function of the `packs` table, the catalogue's
//! popularity and rights, and the publish time (`SOURCE_DATE_EPOCH`): two
//! archives built from the same inputs export the same bytes. The
//! signature differs (keys are the archive's own; ed25519 in minisign is
//! hedged with random nonces).

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};
use musicark_store::{Db, Home, atomic_write};
use serde::{Deserialize, Serialize};

use crate::PublishError;
use crate::pack::{slug, withheld_recordings};

/// One torrent of the list. The first block of fields is Anna's Archive's
/// `torrents.json`; the second is musicark's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEntry {
    pub url: String,
    pub top_level_group_name: String,
    pub group_name: String,
    pub display_name: String,
    pub added_to_torrents_list_at: String,
    pub is_metadata: bool,
    pub btih: String,
    pub magnet_link: String,
    pub torrent_size: u64,
    pub num_files: u64,
    pub data_size: u64,
    pub obsolete: bool,
    pub embargo: bool,
    pub seeders: u64,
    pub leechers: u64,
    pub completed: u64,
    pub stats_scraped_at: Option<String>,
    pub partially_broken: bool,
    /// The v2 info-hash (hybrid packs), hex; null for v1.
    pub btmh: Option<String>,
    pub popularity_band: String,
    pub tier: String,
    /// Audio files in the torrent.
    pub tracks: u64,
    /// Of them, recordings held by no other active torrent.
    pub unique_tracks: u64,
    /// Share of the catalogue's listens whose recordings the torrent holds.
    pub listen_share: f64,
    pub manifest_sha256: String,
}

/// The columns of the CSV, in order (the JSON's fields).
pub const CSV_COLUMNS: &[&str] = &[
    "url",
    "top_level_group_name",
    "group_name",
    "display_name",
    "added_to_torrents_list_at",
    "is_metadata",
    "btih",
    "magnet_link",
    "torrent_size",
    "num_files",
    "data_size",
    "obsolete",
    "embargo",
    "seeders",
    "leechers",
    "completed",
    "stats_scraped_at",
    "partially_broken",
    "btmh",
    "popularity_band",
    "tier",
    "tracks",
    "unique_tracks",
    "listen_share",
    "manifest_sha256",
];

/// Build the list from the archive.
pub fn entries(home: &Home, db: &Db) -> Result<Vec<ListEntry>, PublishError> {
    let now = musicark_store::clock::now_seconds();
    let withheld = withheld_recordings(db, &now)?;
    let group = slug(&home.config.archive.name);
    let base = &home.config.publish.base_url;
    let listens = crate::listens_by_recording(db)?;
    let total_listens: i64 = listens.values().sum();
    // The latest scrape of each active pack (`health scrape`).
    let health: HashMap<String, musicark_swarm::health::PackHealth> =
        musicark_swarm::health::current(db)
            .map_err(|e| PublishError::Invalid(e.to_string()))?
            .0
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
    // Recordings (or, unlinked, copies) of each pack, and in how many
    // active packs each is.
    let mut held: HashMap<i64, Vec<(Option<i64>, String)>> = HashMap::new();
    let mut copies: HashMap<String, usize> = HashMap::new();
    {
        let mut stmt = db.prepare(
            "SELECT f.pack_id, f.recording_id, f.output_id, p.obsolete FROM pack_files f \
             JOIN packs p ON p.pack_id = f.pack_id \
             WHERE p.kind = 'audio' AND f.source_id IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let pack: i64 = r.get(0)?;
            let rec: Option<i64> = r.get(1)?;
            let out: String = r.get(2)?;
            let obsolete: bool = r.get(3)?;
            let key = rec.map_or_else(|| format!("c:{out}"), |id| format!("r:{id}"));
            if !obsolete {
                *copies.entry(key.clone()).or_default() += 1;
            }
            held.entry(pack).or_default().push((rec, key));
        }
    }
    let mut stmt = db.prepare(
        "SELECT pack_id, name, kind, band, tier, btih, btmh, torrent_size, num_files, data_size, \
                manifest_sha256, substr(created_at, 1, 10), obsolete \
         FROM packs ORDER BY pack_id",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let pack_id: i64 = r.get(0)?;
        let name: String = r.get(1)?;
        let kind: String = r.get(2)?;
        let btih: Option<String> = r.get(5)?;
        let btmh: Option<String> = r.get(6)?;
        let obsolete: bool = r.get(12)?;
        let files = held.get(&pack_id).map(Vec::as_slice).unwrap_or(&[]);
        let recordings: HashSet<i64> = files.iter().filter_map(|f| f.0).collect();
        let pack_listens: i64 = recordings.iter().filter_map(|id| listens.get(id)).sum();
        let unique: HashSet<&String> = files
            .iter()
            .filter(|f| !obsolete && copies.get(&f.1) == Some(&1))
            .map(|f| &f.1)
            .collect();
        let display_name = format!("{name}.torrent");
        // Holding a recording under embargo (after it was published): by
        // policy, listed flagged and without a way to fetch it, or not at
        // all. Taken-down recordings made their packs obsolete instead.
        let embargo = recordings
            .iter()
            .any(|id| withheld.get(id) == Some(&"embargo"));
        if embargo && home.config.publish.embargoed == musicark_store::EmbargoListing::Omit {
            continue;
        }
        let magnet = musicark_torrent::magnet_link(&musicark_torrent::MagnetParts {
            btih: btih.as_deref(),
            btmh: btmh.as_deref(),
            name: &name,
            trackers: &home.config.publish.trackers,
            ..Default::default()
        });
        out.push(ListEntry {
            url: format!("{base}torrents/{display_name}"),
            top_level_group_name: group.clone(),
            group_name: if kind == "metadata" {
                "metadata".into()
            } else {
                format!("{group}-{}", r.get::<_, String>(3)?)
            },
            display_name,
            added_to_torrents_list_at: r.get(11)?,
            is_metadata: kind == "metadata",
            btih: btih.unwrap_or_default(),
            magnet_link: if embargo { String::new() } else { magnet },
            torrent_size: r.get::<_, i64>(7)? as u64,
            num_files: r.get::<_, i64>(8)? as u64,
            data_size: r.get::<_, i64>(9)? as u64,
            obsolete,
            embargo,
            seeders: health.get(&name).and_then(|h| h.seeders).unwrap_or(0),
            leechers: health.get(&name).and_then(|h| h.leechers).unwrap_or(0),
            completed: health.get(&name).and_then(|h| h.completed).unwrap_or(0),
            stats_scraped_at: health.get(&name).and_then(|h| h.scraped_at.clone()),
            partially_broken: false,
            btmh,
            popularity_band: r.get(3)?,
            tier: r.get(4)?,
            tracks: files.len() as u64,
            unique_tracks: unique.len() as u64,
            listen_share: if total_listens > 0 {
                round6(pack_listens as f64 / total_listens as f64)
            } else {
                0.0
            },
            manifest_sha256: r.get(10)?,
        });
    }
    Ok(out)
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The list as JSON bytes (one entry per line inside the array, so that
/// diffs between releases read well).
pub fn to_json(entries: &[ListEntry]) -> Result<Vec<u8>, PublishError> {
    Ok(json_lines_array(entries)?)
}

/// A JSON array with one item per line (the list's form, and the wanted
/// list's).
pub fn json_lines_array<T: Serialize>(items: &[T]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = b"[\n".to_vec();
    for (i, e) in items.iter().enumerate() {
        serde_json::to_writer(&mut out, e)?;
        out.extend_from_slice(if i + 1 < items.len() { b",\n" } else { b"\n" });
    }
    out.extend_from_slice(b"]\n");
    Ok(out)
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a
/// line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The list as CSV (RFC 4180), the JSON's columns in order.
pub fn to_csv(entries: &[ListEntry]) -> Result<Vec<u8>, PublishError> {
    let mut out = CSV_COLUMNS.join(",").into_bytes();
    out.extend_from_slice(b"\r\n");
    for e in entries {
        let v = serde_json::to_value(e)?;
        let row: Vec<String> = CSV_COLUMNS
            .iter()
            .map(|c| match &v[*c] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => csv_field(s),
                other => other.to_string(),
            })
            .collect();
        out.extend_from_slice(row.join(",").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

/// The archive's signing key (`ARCHIVE/keys/minisign.key`, unencrypted,
/// mode 0600, with `minisign.pub` beside it), made on first use.
pub fn archive_key(home: &Home) -> Result<(SecretKey, PublicKey), PublishError> {
    let dir = home.root().join("keys");
    let sk_path = dir.join("minisign.key");
    let pk_path = dir.join("minisign.pub");
    if sk_path.exists() {
        let text = std::fs::read_to_string(&sk_path).map_err(|e| PublishError::io(&sk_path, e))?;
        let sk = SecretKeyBox::from_string(&text)
            .and_then(SecretKeyBox::into_unencrypted_secret_key)
            .map_err(|e| PublishError::Signature(format!("{}: {e}", sk_path.display())))?;
        let pk =
            PublicKey::from_secret_key(&sk).map_err(|e| PublishError::Signature(e.to_string()))?;
        return Ok((sk, pk));
    }
    std::fs::create_dir_all(&dir).map_err(|e| PublishError::io(&dir, e))?;
    let kp = KeyPair::generate_unencrypted_keypair()
        .map_err(|e| PublishError::Signature(e.to_string()))?;
    let sk_box = kp
        .sk
        .to_box(Some("musicark archive secret key"))
        .map_err(|e| PublishError::Signature(e.to_string()))?;
    let pk_box = kp
        .pk
        .to_box()
        .map_err(|e| PublishError::Signature(e.to_string()))?;
    atomic_write(&pk_path, pk_box.to_string().as_bytes())?;
    atomic_write(&sk_path, sk_box.to_string().as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sk_path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| PublishError::io(&sk_path, e))?;
    Ok((kp.sk, kp.pk))
}

/// A minisign signature of `data`, with minisign's own trusted comment.
pub fn sign(
    sk: &SecretKey,
    pk: &PublicKey,
    data: &[u8],
    file_name: &str,
) -> Result<String, PublishError> {
    let trusted = format!(
        "timestamp:{}\tfile:{file_name}\thashed",
        musicark_store::clock::epoch_seconds()
    );
    let sig = minisign::sign(
        Some(pk),
        sk,
        Cursor::new(data),
        Some(&trusted),
        Some("signature from musicark secret key"),
    )
    .map_err(|e| PublishError::Signature(e.to_string()))?;
    Ok(sig.to_string())
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub list: PathBuf,
    pub signature: PathBuf,
    pub public_key: PathBuf,
    pub csv: PathBuf,
    pub torrents: usize,
    pub key_id: String,
    /// What the publisher should know (torrents nobody can find, say).
    pub warnings: Vec<String>,
}

/// Write the list to `out` with `out.minisig`, `out.pub`, the CSV beside it
/// (`.csv`, signed too) and every listed .torrent under `torrents/` next to
/// it, so that the relative URLs resolve.
pub fn export(home: &Home, db: &Db, out: &Path) -> Result<ExportReport, PublishError> {
    let list = entries(home, db)?;
    let json = to_json(&list)?;
    let csv = to_csv(&list)?;
    let (sk, pk) = archive_key(home)?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tdir = dir.join("torrents");
    std::fs::create_dir_all(&tdir).map_err(|e| PublishError::io(&tdir, e))?;
    // Every .torrent is checked against the info-hashes the archive
    // recorded before anything is signed: a damaged file is never vouched
    // for.
    let mut bad = Vec::new();
    for e in list.iter().filter(|e| !e.embargo) {
        let src = home.torrents_dir().join(&e.display_name);
        let bytes =
            read_bounded(&src, MAX_TORRENT_BYTES).map_err(|err| PublishError::io(&src, err))?;
        let matches = bytes.len() as u64 == e.torrent_size
            && musicark_torrent::Metainfo::parse(&bytes)
                .is_ok_and(|m| m.has_info_hashes(Some(&e.btih), e.btmh.as_deref()));
        if !matches {
            bad.push(src.display().to_string());
            continue;
        }
        atomic_write(&tdir.join(&e.display_name), &bytes)?;
    }
    if !bad.is_empty() {
        return Err(PublishError::Invalid(format!(
            "refusing to sign a list whose torrents do not match the archive's info-hashes: {} (damaged at rest; `musicark fsck --repair` rebuilds them)",
            bad.join(", ")
        )));
    }
    publish_metadata_release(home, &list, &dir)?;
    let name = out
        .file_name()
        .map_or("torrents.json".into(), |n| n.to_string_lossy().into_owned());
    let csv_path = out.with_extension("csv");
    let csv_name = csv_path
        .file_name()
        .map_or("torrents.csv".into(), |n| n.to_string_lossy().into_owned());
    let with = |p: &Path, ext: &str| {
        let mut s = p.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let pub_text = pk
        .to_box()
        .map_err(|e| PublishError::Signature(e.to_string()))?
        .to_string();
    // Every file is staged whole (written, fsynced) before any published
    // one is replaced: a failure while writing (a full disk) leaves the
    // published set as it was, each file still matching its signature.
    // Then the renames, signatures just before the files they sign.
    let staged: Vec<(PathBuf, Vec<u8>)> = vec![
        (with(out, ".pub"), pub_text.into_bytes()),
        (
            with(&csv_path, ".minisig"),
            sign(&sk, &pk, &csv, &csv_name)?.into_bytes(),
        ),
        (csv_path.clone(), csv),
        (
            with(out, ".minisig"),
            sign(&sk, &pk, &json, &name)?.into_bytes(),
        ),
        (out.to_path_buf(), json),
    ];
    replace_together(&staged, &dir)?;
    Ok(ExportReport {
        list: out.to_path_buf(),
        signature: with(out, ".minisig"),
        public_key: with(out, ".pub"),
        csv: csv_path,
        torrents: list.len(),
        key_id: key_id(&pk),
        warnings: if home.config.publish.trackers.is_empty()
            && home.config.publish.webseeds.is_empty()
            && list.iter().any(|e| !e.obsolete)
        {
            vec![crate::pack::NO_TRACKER_WARNING.to_string()]
        } else {
            Vec::new()
        },
    })
}

/// The active metadata release's files beside the list, where a web seed
/// serves a torrent's data (`packs/NAME/PATH`): so that a follower fetches
/// the where-index over HTTP and checks it by the signed list's
/// `manifest_sha256`. Hard links where the filesystem allows (no second
/// copy of the bytes); earlier releases' folders are removed.
fn publish_metadata_release(
    home: &Home,
    list: &[ListEntry],
    dir: &Path,
) -> Result<(), PublishError> {
    let pdir = dir.join("packs");
    for e in list.iter().filter(|e| e.is_metadata) {
        let name = e.display_name.trim_end_matches(".torrent");
        let to = pdir.join(confined_name(name).map_err(PublishError::Invalid)?);
        if e.obsolete || e.embargo {
            if to.exists() {
                std::fs::remove_dir_all(&to).map_err(|err| PublishError::io(&to, err))?;
            }
            continue;
        }
        let from = home.packs_dir().join(name);
        for file in [
            crate::pack::MANIFEST,
            crate::metadata::CATALOG_FILE,
            crate::metadata::WHERE_INDEX,
        ] {
            let (src, dst) = (from.join(file), to.join(file));
            if !src.exists() {
                continue;
            }
            // Never copy a file onto a link to itself (that empties it).
            let _ = std::fs::remove_file(&dst);
            crate::pack::link_or_copy(&src, &dst).map_err(|err| PublishError::io(&dst, err))?;
        }
    }
    Ok(())
}

/// Write files that must change together (a list and its signature):
/// every one staged whole (written, fsynced) before any is replaced, so
/// a failure while writing (a full disk) leaves the published set as it
/// was; then the renames in the order given (a signature just before the
/// file it signs) and the folder synced.
pub fn replace_together(staged: &[(PathBuf, Vec<u8>)], dir: &Path) -> Result<(), PublishError> {
    let with = |p: &Path, ext: &str| {
        let mut s = p.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let mut temps = Vec::new();
    for (path, bytes) in staged {
        let tmp = with(path, ".staged");
        if let Err(e) = musicark_store::write_synced(&tmp, bytes) {
            for t in &temps {
                let _ = std::fs::remove_file(t);
            }
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        temps.push(tmp);
    }
    for ((path, _), tmp) in staged.iter().zip(&temps) {
        std::fs::rename(tmp, path).map_err(|e| PublishError::io(path, e))?;
    }
    musicark_store::fsync_dir(dir)?;
    Ok(())
}

/// The archive key's signature of `data` as `FILE.minisig` beside `path`,
/// then the file: the pair [`replace_together`] takes.
pub fn signed_pair(
    home: &Home,
    path: &Path,
    data: Vec<u8>,
) -> Result<[(PathBuf, Vec<u8>); 2], PublishError> {
    let (sk, pk) = archive_key(home)?;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut sig = path.as_os_str().to_owned();
    sig.push(".minisig");
    Ok([
        (
            PathBuf::from(sig),
            sign(&sk, &pk, &data, &name)?.into_bytes(),
        ),
        (path.to_path_buf(), data),
    ])
}

fn key_id(pk: &PublicKey) -> String {
    keynum_id(pk.keynum())
}

/// A key number (of a key or of a signature) as minisign prints it.
pub fn keynum_id(keynum: &[u8]) -> String {
    keynum.iter().rev().map(|b| format!("{b:02X}")).collect()
}

/// A name from a list, checked to be one plain file name: not empty, no
/// separator, no NUL or control character, not starting with a dot (so
/// neither `..` nor a hidden file), at most 255 bytes. Lists are
/// untrusted until verified, and even a signed one must not lead a
/// mirror's writes out of its folder.
pub fn confined_name(name: &str) -> Result<&str, String> {
    if name.is_empty()
        || name.len() > 255
        || name.starts_with('.')
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(format!(
            "refusing the name {name:?}: a list's names must be plain file names"
        ));
    }
    Ok(name)
}

/// Where a list entry's .torrent is, for a list in `list_dir`: its URL
/// when relative (plain names below the list's folder, never `..`, never
/// absolute), else `torrents/NAME.torrent` beside the list (where
/// `export` writes them and `mirror` fetches them). `Err` says why a
/// name or URL would lead out of `list_dir`.
pub fn torrent_path(list_dir: &Path, entry: &ListEntry) -> Result<PathBuf, String> {
    if entry.url.contains("://") {
        return Ok(list_dir
            .join("torrents")
            .join(confined_name(&entry.display_name)?));
    }
    let mut path = list_dir.to_path_buf();
    if entry.url.is_empty() || entry.url.starts_with('/') {
        return Err(format!(
            "refusing the url {:?}: a relative url must name a file below the list",
            entry.url
        ));
    }
    for part in entry.url.split('/') {
        path.push(confined_name(part).map_err(|e| format!("url {:?}: {e}", entry.url))?);
    }
    Ok(path)
}

/// Read a minisign public key: a `.pub` file's text, or the bare base64
/// key (as `minisign -P` takes it).
pub fn parse_public_key(text: &str) -> Result<PublicKey, PublishError> {
    PublicKeyBox::from_string(text)
        .and_then(PublicKeyBox::into_public_key)
        .or_else(|_| PublicKey::from_base64(text.trim()))
        .map_err(|e| PublishError::Signature(format!("not a minisign public key: {e}")))
}

/// A public key given on the command line: a file holding one, or the
/// base64 key itself.
pub fn load_public_key(arg: &str) -> Result<PublicKey, PublishError> {
    let path = Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| PublishError::io(path, e))?;
        return parse_public_key(&text)
            .map_err(|e| PublishError::Signature(format!("{}: {e}", path.display())));
    }
    parse_public_key(arg)
}

/// The key id minisign prints (upper-case hex).
pub fn public_key_id(pk: &PublicKey) -> String {
    key_id(pk)
}

/// Check the bytes read from `data` against the minisign signature text
/// `sig` by `pk` (streamed: prehashed signatures need no copy in memory):
/// the trusted comment when it holds.
pub fn check_signature(
    pk: &PublicKey,
    sig: &str,
    data: impl std::io::Read + std::io::Seek,
) -> Result<String, String> {
    let sig = SignatureBox::from_string(sig).map_err(|e| format!("signature: {e}"))?;
    minisign::verify(pk, &sig, data, true, false, false).map_err(|e| format!("signature: {e}"))?;
    Ok(sig.trusted_comment().unwrap_or_default())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub signature_ok: bool,
    pub key_id: Option<String>,
    /// Whether the key was one the operator gave (`--pubkey`). A key read
    /// from beside the list proves only that list and signature belong
    /// together, not who published them.
    pub key_given: bool,
    pub trusted_comment: Option<String>,
    pub entries: usize,
    pub torrents_checked: usize,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.signature_ok && self.problems.is_empty()
    }
}

/// The largest list `verify` reads (a list of a million torrents is
/// ~700 MB; the anchor's is ~30 MB).
pub const MAX_LIST_BYTES: u64 = 1 << 30;
/// The largest .torrent it reads (a 10 000-file pack's is ~1 MB).
pub const MAX_TORRENT_BYTES: u64 = 64 << 20;

/// Read a file of at most `max` bytes; a larger one is refused before it
/// is read.
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Err(std::io::Error::other(format!(
            "{len} bytes, more than the {max} bytes allowed"
        )));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "more than the {max} bytes allowed"
        )));
    }
    Ok(out)
}

/// What a list says of a torrent, to check its .torrent file against.
pub struct Expected<'a> {
    pub btih: &'a str,
    /// `Some(None)`: the list says v1 only; `None`: the list does not say.
    pub btmh: Option<Option<&'a str>>,
    pub torrent_size: u64,
    /// `None`: the list does not say (or counts files its own way).
    pub num_files: Option<u64>,
    pub data_size: u64,
}

/// What is wrong with a .torrent's `bytes` for what a list says of it:
/// info-hashes, the file's size, the number of files and the data's
/// size. Empty when it matches.
pub fn torrent_problems(bytes: &[u8], e: &Expected<'_>) -> Vec<String> {
    let meta = match musicark_torrent::Metainfo::parse(bytes) {
        Ok(m) => m,
        Err(err) => return vec![format!("torrent: {err}")],
    };
    let mut out = Vec::new();
    if meta.info_hash_v1.map(hex::encode).as_deref() != Some(e.btih) {
        out.push("btih does not match the .torrent".to_string());
    }
    if let Some(btmh) = e.btmh
        && meta.info_hash_v2.map(hex::encode).as_deref() != btmh
    {
        out.push("btmh does not match the .torrent".into());
    }
    if bytes.len() as u64 != e.torrent_size {
        out.push(format!(
            "torrent_size {} but the file has {}",
            e.torrent_size,
            bytes.len()
        ));
    }
    let files = meta.data_files().len() as u64;
    if let Some(n) = e.num_files
        && n != files
    {
        out.push(format!("num_files {n} but the torrent has {files}"));
    }
    if meta.total_length() != e.data_size {
        out.push(format!(
            "data_size {} but the torrent has {}",
            e.data_size,
            meta.total_length()
        ));
    }
    out
}

/// Check a list: its minisign signature (`FILE.minisig`, by `pubkey` or
/// `FILE.pub`), its schema, and every listed torrent against the .torrent
/// its URL points at (relative URLs beside the list; absolute ones looked
/// up under `torrents/` beside it).
pub fn verify(list: &Path, pubkey: Option<&PublicKey>) -> Result<VerifyReport, PublishError> {
    Ok(verify_and_read(list, pubkey)?.0)
}

/// [`verify`], also handing back the list's entries (empty when its
/// schema fails), so that a caller reads and parses the list once.
pub fn verify_and_read(
    list: &Path,
    pubkey: Option<&PublicKey>,
) -> Result<(VerifyReport, Vec<ListEntry>), PublishError> {
    let mut report = VerifyReport::default();
    let data = read_bounded(list, MAX_LIST_BYTES).map_err(|e| PublishError::io(list, e))?;
    let mut sig_path = list.as_os_str().to_owned();
    sig_path.push(".minisig");
    let sig_path = PathBuf::from(sig_path);
    report.key_given = pubkey.is_some();
    let key = match pubkey {
        Some(pk) => Ok(pk.clone()),
        None => {
            let mut pub_path = list.as_os_str().to_owned();
            pub_path.push(".pub");
            let pub_path = PathBuf::from(pub_path);
            std::fs::read_to_string(&pub_path)
                .map_err(|e| PublishError::io(&pub_path, e))
                .and_then(|t| {
                    parse_public_key(&t).map_err(|e| {
                        PublishError::Signature(format!("{}: {e}", pub_path.display()))
                    })
                })
        }
    };
    let sig = std::fs::read_to_string(&sig_path)
        .map_err(|e| PublishError::io(&sig_path, e))
        .and_then(|t| {
            SignatureBox::from_string(&t)
                .map_err(|e| PublishError::Signature(format!("{}: {e}", sig_path.display())))
        });
    match (key, sig) {
        (Ok(pk), Ok(sig)) => {
            report.key_id = Some(key_id(&pk));
            report.trusted_comment = sig.trusted_comment().ok();
            match minisign::verify(&pk, &sig, Cursor::new(&data), true, false, false) {
                Ok(()) => report.signature_ok = true,
                Err(e) => report.problems.push(format!("signature: {e}")),
            }
        }
        (Err(e), _) | (_, Err(e)) => report.problems.push(e.to_string()),
    }
    let entries: Vec<ListEntry> = match serde_json::from_slice(&data) {
        Ok(e) => e,
        Err(e) => {
            report.problems.push(format!("schema: {e}"));
            return Ok((report, Vec::new()));
        }
    };
    report.entries = entries.len();
    let dir = list
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    for e in &entries {
        let problems_before = report.problems.len();
        let mut problem =
            |what: String| report.problems.push(format!("{}: {what}", e.display_name));
        if e.btih.len() != 40 || !e.btih.bytes().all(|b| b.is_ascii_hexdigit()) {
            problem(format!("btih {:?} is not 40 hex digits", e.btih));
        }
        if let Err(why) = confined_name(&e.display_name) {
            problem(why);
            continue;
        }
        if e.embargo {
            // Listed without its magnet or .torrent: nothing to check.
            if !e.magnet_link.is_empty() {
                problem("an embargoed torrent carries a magnet_link".into());
            }
            continue;
        }
        if !e.magnet_link.contains(&format!("urn:btih:{}", e.btih)) {
            problem("magnet_link does not carry the btih".into());
        }
        let local = match torrent_path(&dir, e) {
            Ok(p) => p,
            Err(err) => {
                problem(err);
                continue;
            }
        };
        let bytes = match read_bounded(&local, MAX_TORRENT_BYTES) {
            Ok(b) => b,
            Err(err) => {
                problem(format!("torrent {}: {err}", local.display()));
                continue;
            }
        };
        for p in torrent_problems(
            &bytes,
            &Expected {
                btih: &e.btih,
                btmh: Some(e.btmh.as_deref()),
                torrent_size: e.torrent_size,
                num_files: Some(e.num_files),
                data_size: e.data_size,
            },
        ) {
            problem(format!("{p} ({})", local.display()));
        }
        if report.problems.len() == problems_before {
            report.torrents_checked += 1;
        }
    }
    Ok((report, entries))
}
