//! Parsing and validating .torrent files (v1, v2, hybrid), strictly.
//!
//! Hostile input never panics and never allocates without bound (the
//! bencode limits, piece-count limits, checked arithmetic). File paths are
//! sanitised like libtorrent does — absolute paths, `..`, empty and
//! reserved components, separators inside components, duplicates — so a
//! torrent that libtorrent loads loads here too, and no path ever escapes
//! the download directory. What libtorrent rejects is rejected with an
//! error naming the problem.

use std::collections::{BTreeMap, HashSet};

use musicark_bencode::{Dict, Limits, Value};
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::BLOCK;
use crate::layout::MAX_PIECES;
use crate::merkle::{H256, root_from_piece_layer};

/// Largest .torrent file read at all.
pub const MAX_TORRENT_BYTES: usize = 64 << 20;
/// Largest file a torrent may describe (libtorrent's limit, 2^62 - 1).
const MAX_FILE_SIZE: u64 = (1 << 62) - 1;
/// Most files, and most renames of duplicates.
const MAX_FILES: usize = 1 << 20;
/// Rename attempts for duplicate paths, for the whole torrent (libtorrent's
/// limit; it also keeps a list of identical names from going quadratic).
const MAX_DUPLICATES: usize = 1000;
/// Largest v2 file, in 16 KiB blocks (just under 16 TiB): libtorrent's
/// limit, which keeps a file's merkle tree addressable by 32-bit indexes.
const MAX_V2_BLOCKS: u64 = (1 << 30) - 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("the torrent is larger than {MAX_TORRENT_BYTES} bytes")]
    TooLarge,
    #[error(transparent)]
    Bencode(#[from] musicark_bencode::Error),
    #[error("the torrent is not a dictionary")]
    NotADict,
    #[error("missing or invalid info dictionary")]
    MissingInfo,
    #[error("missing or invalid piece length")]
    MissingPieceLength,
    #[error("missing or invalid name")]
    MissingName,
    #[error("missing or invalid pieces")]
    MissingPieces,
    #[error("pieces is not a multiple of 20 bytes")]
    InvalidHashes,
    #[error("invalid file length: {0}")]
    InvalidLength(String),
    #[error("invalid file path: {0}")]
    InvalidName(String),
    #[error("the torrent has no files")]
    NoFiles,
    #[error("too many pieces ({0})")]
    TooManyPieces(u64),
    #[error(
        "the number of piece hashes ({found}) does not match the total size ({expected} pieces)"
    )]
    PieceCountMismatch { found: u64, expected: u64 },
    #[error("invalid v2 file tree: {0}")]
    FileTree(String),
    #[error("missing or invalid pieces root: {0}")]
    MissingPiecesRoot(String),
    #[error("invalid piece layer: {0}")]
    InvalidPieceLayer(String),
    #[error("v1 and v2 metadata disagree: {0}")]
    InconsistentFiles(String),
    #[error("invalid pad file: {0}")]
    InvalidPadFile(String),
    #[error("unsupported meta version {0}")]
    UnsupportedVersion(i64),
    #[error("too many files with the same name")]
    TooManyDuplicates,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
    Hybrid,
}

/// One file of the torrent, as it is laid out on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Sanitised path components, relative to the torrent's root directory
    /// (for a single-file torrent: just the name).
    pub path: Vec<String>,
    pub length: u64,
    /// BEP 47 pad file (v1 list only; never on disk).
    pub pad: bool,
    pub executable: bool,
    pub hidden: bool,
    pub symlink: Option<Vec<String>>,
    #[serde(skip)]
    pub pieces_root: Option<H256>,
}

/// A parsed, validated torrent.
#[derive(Debug, Clone)]
pub struct Metainfo {
    pub version: Version,
    pub info_hash_v1: Option<[u8; 20]>,
    pub info_hash_v2: Option<[u8; 32]>,
    pub name: String,
    pub piece_length: u64,
    /// Single-file (v1 `length` mode) torrent.
    pub single_file: bool,
    /// The v1 file list (pad files included) for v1 and hybrid torrents;
    /// the v2 file list for v2-only ones.
    pub files: Vec<FileEntry>,
    /// The v2 files (no pads), in file-tree order, for v2 and hybrid.
    pub v2_files: Vec<FileEntry>,
    pub pieces: Vec<[u8; 20]>,
    /// Piece layers by pieces root.
    pub piece_layers: BTreeMap<H256, Vec<H256>>,
    pub trackers: Vec<Vec<String>>,
    pub web_seeds: Vec<String>,
    pub private: bool,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
    pub source: Option<String>,
    /// The info dictionary exactly as read.
    pub info_bytes: Vec<u8>,
}

fn int(d: &Dict<'_>, key: &str) -> Option<i64> {
    d.get(key).and_then(Value::as_int)
}

fn text(v: &Value<'_>) -> Option<String> {
    v.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Sanitise one path component like libtorrent: control characters are
/// removed, separators become `_`, `.`/`..`/empty components are dropped, Windows
/// device names get a `_` suffix, and the result is at most 255 bytes.
pub fn sanitize_component(raw: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(raw);
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    out = out.trim_end_matches([' ', '.']).to_string();
    if out.is_empty() || out == "." || out == ".." {
        return None;
    }
    let stem = out.split('.').next().unwrap_or("").to_ascii_uppercase();
    const RESERVED: &[&str] = &[
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    if RESERVED.contains(&stem.as_str()) {
        out.push('_');
    }
    if out.len() > 255 {
        let mut cut = 255;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    Some(out)
}

fn sanitize_path(components: &[Value<'_>]) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    for c in components {
        let b = c
            .as_bytes()
            .ok_or_else(|| ParseError::InvalidName("a path component is not a string".into()))?;
        if let Some(s) = sanitize_component(b) {
            out.push(s);
        }
    }
    if out.is_empty() {
        out.push("_".into());
    }
    Ok(out)
}

impl Metainfo {
    /// Parse and validate a .torrent file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Metainfo, ParseError> {
        if bytes.len() > MAX_TORRENT_BYTES {
            return Err(ParseError::TooLarge);
        }
        // Like libtorrent, bytes after the torrent's dictionary (a trailing
        // newline, say) are ignored.
        let (root, _) = musicark_bencode::decode_prefix(bytes, Limits::default())?;
        let top = root.as_dict().ok_or(ParseError::NotADict)?;
        let info = top
            .get("info")
            .and_then(Value::as_dict)
            .ok_or(ParseError::MissingInfo)?;

        let piece_length = match int(info, "piece length") {
            Some(p) if p > 0 => p as u64,
            _ => return Err(ParseError::MissingPieceLength),
        };
        let name_raw = info.get("name.utf-8").or_else(|| info.get("name"));
        let name_bytes = name_raw
            .and_then(Value::as_bytes)
            .ok_or(ParseError::MissingName)?;
        let name = match sanitize_component(name_bytes) {
            Some(n) => n,
            // A name of dots is replaced (libtorrent loads it); a name with
            // nothing printable in it is no name.
            None if !name_bytes.is_empty() && name_bytes.iter().all(|&b| b == b'.') => "_".into(),
            None => return Err(ParseError::MissingName),
        };

        let meta_version = int(info, "meta version");
        let has_v2 = match meta_version {
            None => false,
            Some(2) => true,
            Some(v) => return Err(ParseError::UnsupportedVersion(v)),
        };
        let has_v1 = ["pieces", "files", "length"]
            .iter()
            .any(|k| info.get(k).is_some())
            || !has_v2;

        // v2 part.
        let mut v2_files = Vec::new();
        if has_v2 {
            if !piece_length.is_power_of_two() || piece_length < BLOCK {
                return Err(ParseError::MissingPieceLength);
            }
            let tree = info
                .get("file tree")
                .ok_or_else(|| ParseError::FileTree("missing".into()))?;
            let mut path = Vec::new();
            walk_tree(tree, &mut path, &mut v2_files, 0)?;
            if v2_files.is_empty() {
                return Err(ParseError::NoFiles);
            }
        }

        // v1 part.
        let mut files = Vec::new();
        let mut single_file = false;
        let mut pieces = Vec::new();
        if has_v1 {
            if let Some(list) = info.get("files") {
                let list = list
                    .as_list()
                    .ok_or_else(|| ParseError::InvalidName("files is not a list".into()))?;
                if list.len() > MAX_FILES {
                    return Err(ParseError::InvalidName("too many files".into()));
                }
                for entry in list {
                    files.push(v1_file(entry)?);
                }
                if files.is_empty() {
                    return Err(ParseError::NoFiles);
                }
            } else {
                let length = match int(info, "length") {
                    Some(l) if l >= 0 => l as u64,
                    Some(l) => return Err(ParseError::InvalidLength(l.to_string())),
                    None => return Err(ParseError::InvalidLength("missing".into())),
                };
                single_file = true;
                let attr = info.get("attr").and_then(Value::as_bytes).unwrap_or(b"");
                files.push(FileEntry {
                    path: vec![name.clone()],
                    length,
                    pad: attr.contains(&b'p'),
                    executable: attr.contains(&b'x'),
                    hidden: attr.contains(&b'h'),
                    symlink: None,
                    pieces_root: None,
                });
            }
            if has_v2 {
                check_hybrid(&files, &v2_files, piece_length, single_file, &name)?;
            }
            let raw = info
                .get("pieces")
                .and_then(Value::as_bytes)
                .ok_or(ParseError::MissingPieces)?;
            if raw.len() % 20 != 0 {
                return Err(ParseError::InvalidHashes);
            }
            let mut total: u64 = 0;
            for f in &files {
                total = total
                    .checked_add(f.length)
                    .filter(|t| *t <= MAX_FILE_SIZE)
                    .ok_or_else(|| ParseError::InvalidLength("total size overflows".into()))?;
            }
            if total == 0 {
                return Err(ParseError::InvalidLength(
                    "the torrent holds no data".into(),
                ));
            }
            let expected = total.div_ceil(piece_length);
            if expected > MAX_PIECES {
                return Err(ParseError::TooManyPieces(expected));
            }
            let found = (raw.len() / 20) as u64;
            if found != expected {
                return Err(ParseError::PieceCountMismatch { found, expected });
            }
            pieces = raw
                .chunks_exact(20)
                .map(|c| c.try_into().unwrap_or([0; 20]))
                .collect();
        } else {
            let mut total: u64 = 0;
            for f in &v2_files {
                let n = f.length.div_ceil(piece_length);
                total = total.saturating_add(n);
            }
            if total > MAX_PIECES {
                return Err(ParseError::TooManyPieces(total));
            }
        }

        // Piece layers (v2).
        let mut piece_layers = BTreeMap::new();
        if has_v2 && let Some(layers) = top.get("piece layers") {
            let layers = layers.as_dict().ok_or_else(|| {
                ParseError::InvalidPieceLayer("piece layers is not a dictionary".into())
            })?;
            piece_layers = check_piece_layers(layers, &v2_files, piece_length)?;
        }

        dedupe_paths(if has_v1 { &mut files } else { &mut v2_files })?;
        if has_v1 && has_v2 {
            // Keep the v2 list's names in step with the (sanitised) v1 list.
            let real: Vec<&FileEntry> = files.iter().filter(|f| !f.pad).collect();
            for (v2, v1) in v2_files.iter_mut().zip(real) {
                v2.path = v1.path.clone();
            }
        }

        let info_hash_v1 = has_v1.then(|| Sha1::digest(info.raw).into());
        let info_hash_v2 = has_v2.then(|| Sha256::digest(info.raw).into());
        let version = match (has_v1, has_v2) {
            (true, true) => Version::Hybrid,
            (false, true) => Version::V2,
            _ => Version::V1,
        };

        let mut trackers: Vec<Vec<String>> = Vec::new();
        if let Some(tiers) = top.get("announce-list").and_then(Value::as_list) {
            for tier in tiers {
                let urls: Vec<String> = tier
                    .as_list()
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(text)
                    .map(|u| u.trim().to_string())
                    .filter(|u| !u.is_empty())
                    .collect();
                if !urls.is_empty() {
                    trackers.push(urls);
                }
            }
        }
        if trackers.is_empty()
            && let Some(a) = top
                .get("announce")
                .and_then(text)
                .map(|u| u.trim().to_string())
            && !a.is_empty()
        {
            trackers.push(vec![a]);
        }
        let mut web_seeds: Vec<String> = Vec::new();
        match top.get("url-list") {
            Some(Value::Bytes(b)) => web_seeds.push(String::from_utf8_lossy(b).trim().to_string()),
            Some(Value::List(l)) => {
                web_seeds.extend(l.iter().filter_map(text).map(|u| u.trim().to_string()))
            }
            _ => {}
        }
        web_seeds.retain(|u| !u.is_empty());
        let mut seen = HashSet::new();
        web_seeds.retain(|u| seen.insert(u.clone()));

        Ok(Metainfo {
            version,
            info_hash_v1,
            info_hash_v2,
            name,
            piece_length,
            single_file,
            files: if has_v1 { files } else { v2_files.clone() },
            v2_files,
            pieces,
            piece_layers,
            trackers,
            web_seeds,
            private: int(info, "private") == Some(1),
            comment: top.get("comment").and_then(text),
            created_by: top.get("created by").and_then(text),
            creation_date: int(top, "creation date"),
            source: info.get("source").and_then(text),
            info_bytes: info.raw.to_vec(),
        })
    }

    /// The real files (pad files left out), in layout order.
    pub fn data_files(&self) -> Vec<&FileEntry> {
        self.files
            .iter()
            .filter(|f| !f.pad && f.symlink.is_none())
            .collect()
    }

    pub fn total_length(&self) -> u64 {
        self.data_files().iter().map(|f| f.length).sum()
    }

    /// The v2 info-hash truncated to 20 bytes, as trackers and the DHT see it.
    pub fn info_hash_v2_truncated(&self) -> Option<[u8; 20]> {
        self.info_hash_v2
            .map(|h| h[..20].try_into().unwrap_or([0; 20]))
    }

    pub fn magnet(&self) -> String {
        magnet_link(&MagnetParts {
            btih: self.info_hash_v1.map(hex::encode).as_deref(),
            btmh: self.info_hash_v2.map(hex::encode).as_deref(),
            name: &self.name,
            trackers: &self.trackers.iter().flatten().cloned().collect::<Vec<_>>(),
            web_seeds: &self.web_seeds,
            select: None,
        })
    }

    /// Whether this torrent carries exactly these info-hashes (lower-case
    /// hex; `None` where the torrent has no such version): how a stored
    /// .torrent is checked against the hashes recorded when it was made.
    pub fn has_info_hashes(&self, v1: Option<&str>, v2: Option<&str>) -> bool {
        self.info_hash_v1.map(hex::encode).as_deref() == v1
            && self.info_hash_v2.map(hex::encode).as_deref() == v2
    }

    /// The plain data behind `torrent show --json`.
    pub fn summary(&self) -> TorrentSummary {
        TorrentSummary {
            name: self.name.clone(),
            version: self.version,
            info_hash_v1: self.info_hash_v1.map(hex::encode),
            info_hash_v2: self.info_hash_v2.map(hex::encode),
            info_hash_v2_truncated: self.info_hash_v2_truncated().map(hex::encode),
            piece_length: self.piece_length,
            pieces: if self.pieces.is_empty() {
                self.v2_files
                    .iter()
                    .map(|f| f.length.div_ceil(self.piece_length))
                    .sum()
            } else {
                self.pieces.len() as u64
            },
            total_length: self.total_length(),
            files: self
                .files
                .iter()
                .map(|f| SummaryFile {
                    path: f.path.join("/"),
                    length: f.length,
                    pad: f.pad,
                })
                .collect(),
            trackers: self.trackers.clone(),
            web_seeds: self.web_seeds.clone(),
            private: self.private,
            comment: self.comment.clone(),
            created_by: self.created_by.clone(),
            creation_date: self.creation_date,
            source: self.source.clone(),
            magnet: self.magnet(),
        }
    }
}

/// What `torrent show --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct TorrentSummary {
    pub name: String,
    pub version: Version,
    pub info_hash_v1: Option<String>,
    pub info_hash_v2: Option<String>,
    pub info_hash_v2_truncated: Option<String>,
    pub piece_length: u64,
    pub pieces: u64,
    pub total_length: u64,
    pub files: Vec<SummaryFile>,
    pub trackers: Vec<Vec<String>>,
    pub web_seeds: Vec<String>,
    pub private: bool,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
    pub source: Option<String>,
    pub magnet: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SummaryFile {
    pub path: String,
    pub length: u64,
    pub pad: bool,
}

/// What a magnet link is made of.
#[derive(Debug, Clone, Copy, Default)]
pub struct MagnetParts<'a> {
    /// v1 info-hash, hex.
    pub btih: Option<&'a str>,
    /// v2 info-hash, hex (written as a multihash, `1220…`).
    pub btmh: Option<&'a str>,
    pub name: &'a str,
    pub trackers: &'a [String],
    pub web_seeds: &'a [String],
    /// Select one file by its index (BEP 53 `so=`).
    pub select: Option<i64>,
}

/// A magnet link (BEP 9, BEP 52's `btmh`, BEP 53's `so`).
pub fn magnet_link(m: &MagnetParts<'_>) -> String {
    let mut parts = Vec::new();
    if let Some(h) = m.btih {
        parts.push(format!("xt=urn:btih:{h}"));
    }
    if let Some(h) = m.btmh {
        parts.push(format!("xt=urn:btmh:1220{h}"));
    }
    parts.push(format!("dn={}", url_encode(m.name)));
    for t in m.trackers {
        parts.push(format!("tr={}", url_encode(t)));
    }
    for w in m.web_seeds {
        parts.push(format!("ws={}", url_encode(w)));
    }
    if let Some(i) = m.select {
        parts.push(format!("so={i}"));
    }
    format!("magnet:?{}", parts.join("&"))
}

/// What a URL component keeps as it is: RFC 3986's unreserved
/// characters. Everything else is percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encode `bytes` as one URL component (a query value, a magnet
/// field, a raw info-hash): the one encoder of magnets, tracker queries
/// and the web pages' links.
pub fn url_encode(bytes: impl AsRef<[u8]>) -> String {
    percent_encoding::percent_encode(bytes.as_ref(), UNRESERVED).to_string()
}

fn v1_file(entry: &Value<'_>) -> Result<FileEntry, ParseError> {
    let d = entry
        .as_dict()
        .ok_or_else(|| ParseError::InvalidName("a file entry is not a dictionary".into()))?;
    let attr = d.get("attr").and_then(Value::as_bytes).unwrap_or(b"");
    let length = match int(d, "length") {
        Some(l) if l >= 0 && (l as u64) <= MAX_FILE_SIZE => l as u64,
        Some(l) => return Err(ParseError::InvalidLength(l.to_string())),
        None if attr.contains(&b'l') => 0,
        None => return Err(ParseError::InvalidLength("a file has no length".into())),
    };
    let pad = attr.contains(&b'p');
    let path = match d.get("path.utf-8").or_else(|| d.get("path")) {
        Some(Value::List(l)) => sanitize_path(l)?,
        Some(_) => return Err(ParseError::InvalidName("path is not a list".into())),
        None if pad => vec![".pad".into(), length.to_string()],
        None => return Err(ParseError::MissingName),
    };
    let symlink = if attr.contains(&b'l') {
        match d.get("symlink path") {
            Some(Value::List(l)) => Some(sanitize_path(l)?),
            _ => return Err(ParseError::InvalidName("a symlink without a target".into())),
        }
    } else {
        None
    };
    Ok(FileEntry {
        path,
        length: if symlink.is_some() { 0 } else { length },
        pad,
        executable: attr.contains(&b'x'),
        hidden: attr.contains(&b'h'),
        symlink,
        pieces_root: None,
    })
}

fn walk_tree(
    node: &Value<'_>,
    path: &mut Vec<String>,
    out: &mut Vec<FileEntry>,
    depth: usize,
) -> Result<(), ParseError> {
    let d = node
        .as_dict()
        .ok_or_else(|| ParseError::FileTree("a node is not a dictionary".into()))?;
    if !node.keys_sorted() {
        return Err(ParseError::FileTree("keys are not in sorted order".into()));
    }
    if depth > 64 {
        return Err(ParseError::FileTree("nested too deep".into()));
    }
    for (key, child) in &d.entries {
        if key.is_empty() {
            // A file: only valid as the sole entry below a named node.
            if d.entries.len() != 1 || path.is_empty() {
                return Err(ParseError::FileTree(
                    "a file entry beside other entries".into(),
                ));
            }
            let f = child
                .as_dict()
                .ok_or_else(|| ParseError::FileTree("a file entry is not a dictionary".into()))?;
            let length = match int(f, "length") {
                Some(l) if l >= 0 && (l as u64) <= MAX_FILE_SIZE => l as u64,
                Some(l) => return Err(ParseError::InvalidLength(l.to_string())),
                None => return Err(ParseError::FileTree("a file without a length".into())),
            };
            if length.div_ceil(BLOCK) > MAX_V2_BLOCKS {
                return Err(ParseError::InvalidLength(format!(
                    "{}: {length} bytes is too large for a v2 merkle tree",
                    path.join("/")
                )));
            }
            let attr = f.get("attr").and_then(Value::as_bytes).unwrap_or(b"");
            if attr.contains(&b'p') {
                return Err(ParseError::InvalidPadFile(format!(
                    "{}: pad files have no place in a v2 file tree",
                    path.join("/")
                )));
            }
            let symlink = if attr.contains(&b'l') {
                match f.get("symlink path") {
                    Some(Value::List(l)) => Some(sanitize_path(l)?),
                    _ => {
                        return Err(ParseError::MissingPiecesRoot(
                            "a symlink without a target".into(),
                        ));
                    }
                }
            } else {
                None
            };
            let pieces_root = if length > 0 && symlink.is_none() {
                let r = f
                    .get("pieces root")
                    .and_then(Value::as_bytes)
                    .filter(|r| r.len() == 32)
                    .ok_or_else(|| ParseError::MissingPiecesRoot(path.join("/")))?;
                if r.iter().all(|&b| b == 0) {
                    return Err(ParseError::MissingPiecesRoot(format!(
                        "{}: all zeros",
                        path.join("/")
                    )));
                }
                let mut h = [0u8; 32];
                h.copy_from_slice(r);
                Some(h)
            } else {
                None
            };
            if out.len() >= MAX_FILES {
                return Err(ParseError::FileTree("too many files".into()));
            }
            out.push(FileEntry {
                path: path.clone(),
                length: if symlink.is_some() { 0 } else { length },
                pad: false,
                executable: attr.contains(&b'x'),
                hidden: attr.contains(&b'h'),
                symlink,
                pieces_root,
            });
            continue;
        }
        let component = sanitize_component(key).unwrap_or_else(|| "_".into());
        let child_dict = child
            .as_dict()
            .ok_or_else(|| ParseError::FileTree("a node is not a dictionary".into()))?;
        if child_dict.entries.is_empty() {
            return Err(ParseError::FileTree(format!(
                "{component}: an empty directory"
            )));
        }
        path.push(component);
        walk_tree(child, path, out, depth + 1)?;
        path.pop();
    }
    Ok(())
}

/// Hybrid torrents: the v1 files (pads aside) must be the v2 files, in the
/// same order, and every file must start on a piece boundary.
fn check_hybrid(
    v1: &[FileEntry],
    v2: &[FileEntry],
    pl: u64,
    single_file: bool,
    name: &str,
) -> Result<(), ParseError> {
    let real: Vec<&FileEntry> = v1.iter().filter(|f| !f.pad).collect();
    if real.len() != v2.len() {
        return Err(ParseError::InconsistentFiles(format!(
            "{} v1 files, {} v2 files",
            real.len(),
            v2.len()
        )));
    }
    for (a, b) in real.iter().zip(v2) {
        let same_path = if single_file {
            b.path == [name]
        } else {
            a.path == b.path
        };
        if a.length != b.length || !same_path {
            return Err(ParseError::InconsistentFiles(format!(
                "{} differs from {}",
                a.path.join("/"),
                b.path.join("/")
            )));
        }
    }
    let mut offset: u64 = 0;
    let mut prev_pad = true;
    for f in v1 {
        if f.pad {
            if prev_pad
                || f.length == 0
                || f.length >= pl
                || !(offset + f.length).is_multiple_of(pl)
            {
                return Err(ParseError::InconsistentFiles(format!(
                    "a misplaced pad file of {} bytes at offset {offset}",
                    f.length
                )));
            }
            prev_pad = true;
        } else {
            if f.length > 0 && !offset.is_multiple_of(pl) {
                return Err(ParseError::InconsistentFiles(format!(
                    "{} is not aligned to a piece",
                    f.path.join("/")
                )));
            }
            prev_pad = false;
        }
        offset += f.length;
    }
    Ok(())
}

fn check_piece_layers(
    layers: &Dict<'_>,
    files: &[FileEntry],
    pl: u64,
) -> Result<BTreeMap<H256, Vec<H256>>, ParseError> {
    let mut out = BTreeMap::new();
    for (key, value) in &layers.entries {
        let file = files
            .iter()
            .find(|f| f.pieces_root.as_ref().map(|r| r.as_slice()) == Some(*key))
            .ok_or_else(|| {
                ParseError::InvalidPieceLayer("an entry for no file of the torrent".into())
            })?;
        let bytes = value
            .as_bytes()
            .ok_or_else(|| ParseError::InvalidPieceLayer("not a string".into()))?;
        if bytes.len() % 32 != 0 {
            return Err(ParseError::InvalidPieceLayer(
                "not a multiple of 32 bytes".into(),
            ));
        }
        let expected = file.length.div_ceil(pl);
        if file.length <= pl || bytes.len() as u64 / 32 != expected {
            return Err(ParseError::InvalidPieceLayer(format!(
                "{}: {} hashes for {expected} pieces",
                file.path.join("/"),
                bytes.len() / 32
            )));
        }
        let hashes: Vec<H256> = bytes
            .chunks_exact(32)
            .map(|c| c.try_into().unwrap_or([0; 32]))
            .collect();
        let root = root_from_piece_layer(&hashes, pl / BLOCK);
        if Some(root) != file.pieces_root {
            return Err(ParseError::InvalidPieceLayer(format!(
                "{}: the layer does not hash to the pieces root",
                file.path.join("/")
            )));
        }
        let mut key32 = [0u8; 32];
        key32.copy_from_slice(key);
        out.insert(key32, hashes);
    }
    Ok(out)
}

/// Rename duplicate paths like libtorrent ("name.1.ext"), pad files aside.
fn dedupe_paths(files: &mut [FileEntry]) -> Result<(), ParseError> {
    let mut seen: HashSet<Vec<String>> = HashSet::new();
    let mut attempts = 0usize;
    // A file may not also be a directory of another file.
    let mut dirs: HashSet<Vec<String>> = HashSet::new();
    for f in files.iter() {
        if f.pad {
            continue;
        }
        for i in 1..f.path.len() {
            dirs.insert(f.path[..i].to_vec());
        }
    }
    for f in files.iter_mut() {
        if f.pad {
            continue;
        }
        if seen.contains(&f.path) || dirs.contains(&f.path) {
            let last = f.path.len() - 1;
            let original = f.path[last].clone();
            let (stem, ext) = match original.rfind('.') {
                Some(i) if i > 0 => (&original[..i], &original[i..]),
                _ => (original.as_str(), ""),
            };
            let mut renamed = false;
            for n in 1.. {
                attempts += 1;
                if attempts > MAX_DUPLICATES {
                    return Err(ParseError::TooManyDuplicates);
                }
                let mut candidate = f.path.clone();
                candidate[last] = format!("{stem}.{n}{ext}");
                if !seen.contains(&candidate) && !dirs.contains(&candidate) {
                    f.path = candidate;
                    renamed = true;
                    break;
                }
            }
            if !renamed {
                return Err(ParseError::TooManyDuplicates);
            }
        }
        seen.insert(f.path.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    /// RFC 3986's unreserved characters stay, every other byte is %XX in
    /// upper case (as the hand-written encoders it replaced did).
    #[test]
    fn url_encode_keeps_only_unreserved() {
        assert_eq!(url_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(url_encode("a b/c?d=e&f"), "a%20b%2Fc%3Fd%3De%26f");
        assert_eq!(url_encode("é"), "%C3%A9");
        assert_eq!(url_encode([0u8, 0xff, b'+']), "%00%FF%2B");
    }

    use super::*;

    #[test]
    fn components_are_sanitised() {
        assert_eq!(sanitize_component(b".."), None);
        assert_eq!(sanitize_component(b""), None);
        assert_eq!(sanitize_component(b"a/b"), Some("a_b".into()));
        assert_eq!(sanitize_component(b"con.txt"), Some("con.txt_".into()));
        assert_eq!(sanitize_component(b"x\x00y"), Some("xy".into()));
        assert_eq!(sanitize_component(b"\x00\x00"), None);
        assert_eq!(sanitize_component(&[b'a'; 300]).map(|s| s.len()), Some(255));
    }
}
