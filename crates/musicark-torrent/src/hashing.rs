//! The I/O layer: find files, hash a layout on every core, verify data.
//!
//! Pieces are handed out in batches of about 4 MiB through one atomic
//! counter, so both cores stay busy and each reads mostly sequentially.
//! Memory is one piece buffer per thread plus 52 bytes per piece. Pad
//! bytes are never read: they are fed from a static zero buffer, and for
//! v2 they are implied by the merkle tree's zero leaves.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::BLOCK;
use crate::build::file_root;
use crate::layout::{InputFile, Layout, Mode, Piece};
use crate::merkle::{H256, root_padded};
use crate::metainfo::{Metainfo, Version};

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

#[derive(Debug, Clone, Copy)]
pub struct HashOptions {
    pub threads: usize,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

/// The hashes of a layout.
#[derive(Debug, Clone, Default)]
pub struct Hashes {
    /// v1 piece hashes (empty for v2-only).
    pub v1: Vec<[u8; 20]>,
    /// Per layout file: the v2 pieces root (None for empty files or v1).
    pub roots: Vec<Option<H256>>,
    /// Per layout file: the piece layer, for files longer than a piece.
    pub layers: Vec<Option<Vec<H256>>>,
}

/// Files under `path` for a torrent: its name, the files (relative paths,
/// lengths, `source` indexing the returned paths) and whether it is a
/// single file.
pub fn scan_path(path: &Path) -> std::io::Result<(String, Vec<InputFile>, Vec<PathBuf>, bool)> {
    let meta = std::fs::metadata(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            std::fs::canonicalize(path)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "torrent".into());
    if meta.is_file() {
        let f = InputFile {
            path: vec![name.clone()],
            length: meta.len(),
            source: 0,
        };
        return Ok((name, vec![f], vec![path.to_path_buf()], true));
    }
    let mut files = Vec::new();
    let mut sources = Vec::new();
    let mut stack = vec![(path.to_path_buf(), Vec::<String>::new())];
    let mut seen_dirs = std::collections::HashSet::new();
    while let Some((dir, rel)) = stack.pop() {
        // Follow symlinks like mktorrent, but never around a loop.
        if let Ok(canon) = std::fs::canonicalize(&dir)
            && !seen_dirs.insert(canon)
        {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let p = entry.path();
            let m = std::fs::metadata(&p)?;
            let mut r = rel.clone();
            r.push(entry.file_name().to_string_lossy().into_owned());
            if m.is_dir() {
                stack.push((p, r));
            } else if m.is_file() {
                files.push(InputFile {
                    path: r,
                    length: m.len(),
                    source: sources.len(),
                });
                sources.push(p);
            }
        }
    }
    Ok((name, files, sources, false))
}

struct PieceOut {
    v1: [u8; 20],
    v2: H256,
    small: Option<H256>,
}

/// Where a layout file's bytes are read: a local file (read at offsets,
/// prefetched), or a stream opened at an offset (a blob in object
/// storage), read forward.
#[derive(Clone)]
pub enum Source {
    Path(PathBuf),
    Stream(std::sync::Arc<OpenAt>),
}

/// Opens a stream of a source's bytes from an offset to its end.
pub type OpenAt = dyn Fn(u64) -> std::io::Result<Box<dyn std::io::Read + Send>> + Send + Sync;

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Path(p) => write!(f, "Source::Path({})", p.display()),
            Source::Stream(_) => f.write_str("Source::Stream"),
        }
    }
}

/// A source being read by one thread.
enum Opened {
    File(File),
    /// A stream and the offset its next byte has.
    Stream(Box<dyn std::io::Read + Send>, u64),
}

impl Opened {
    fn open(source: &Source, offset: u64) -> std::io::Result<Opened> {
        Ok(match source {
            Source::Path(p) => Opened::File(File::open(p)?),
            Source::Stream(open) => Opened::Stream(open(offset)?, offset),
        })
    }

    /// Fill `buf` from `offset`; a stream not at `offset` is opened again.
    fn read_at(&mut self, source: &Source, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        if let Opened::Stream(_, at) = self
            && *at != offset
        {
            *self = Opened::open(source, offset)?;
        }
        match self {
            Opened::File(f) => f.read_exact_at(buf, offset),
            Opened::Stream(r, at) => {
                r.read_exact(buf)?;
                *at += buf.len() as u64;
                Ok(())
            }
        }
    }
}

struct Ctx<'a> {
    files: &'a [InputFile],
    sources: &'a [Source],
    piece_length: u64,
    want_v1: bool,
    want_v2: bool,
    pieces_in_file: Vec<u64>,
    /// Per layout file: whole-file digests to make on the way.
    wants: &'a [FileWant],
}

fn hash_one(
    piece: &Piece,
    ctx: &Ctx<'_>,
    buf: &mut [u8],
    cache: &mut Option<(usize, Opened)>,
    digests: &mut Digesting,
) -> std::io::Result<PieceOut> {
    let mut n = 0usize;
    for seg in &piece.segments {
        let len = seg.len as usize;
        match seg.file {
            None => buf[n..n + len].fill(0),
            Some(i) => {
                let src = ctx.files[i].source;
                if cache.as_ref().map(|c| c.0) != Some(src) {
                    *cache = Some((src, Opened::open(&ctx.sources[src], seg.offset)?));
                }
                if let Some((_, f)) = cache.as_mut() {
                    f.read_at(&ctx.sources[src], &mut buf[n..n + len], seg.offset)?;
                }
                digests.feed(ctx, i, seg.offset, &buf[n..n + len]);
            }
        }
        n += len;
    }
    let mut out = PieceOut {
        v1: [0; 20],
        v2: [0; 32],
        small: None,
    };
    if ctx.want_v1 {
        let mut h = Sha1::new();
        h.update(&buf[..n]);
        let mut pad = piece.pad;
        while pad > 0 {
            let k = pad.min(ZEROS.len() as u64) as usize;
            h.update(&ZEROS[..k]);
            pad -= k as u64;
        }
        out.v1 = h.finalize().into();
    }
    if ctx.want_v2
        && let Some((file, _)) = piece.file
    {
        let data = &buf[..piece.segments[0].len as usize];
        let leaves: Vec<H256> = data
            .chunks(BLOCK as usize)
            .map(|b| Sha256::digest(b).into())
            .collect();
        let bpp = (ctx.piece_length / BLOCK) as usize;
        out.v2 = root_padded(&leaves, bpp, [0; 32]);
        if ctx.pieces_in_file[file] == 1 {
            out.small = Some(root_padded(
                &leaves,
                leaves.len().next_power_of_two(),
                [0; 32],
            ));
        }
    }
    Ok(out)
}

/// How far ahead of the hashers the prefetcher asks the kernel to read.
const PREFETCH_AHEAD: u64 = 64 << 20;

/// Ask the kernel to start reading the pieces the hashers will take next
/// (`posix_fadvise(WILLNEED)`): on a cold cache, many small files are
/// otherwise read one synchronous request at a time. Costs next to nothing
/// when the data is already cached.
fn prefetch(pieces: &[Piece], ctx: &Ctx<'_>, next: &AtomicUsize, done: &AtomicBool) {
    // `next`: the first piece of the batch claimed last.
    let mut pos = 0usize;
    let mut cache: Option<(usize, File)> = None;
    let window = (PREFETCH_AHEAD / ctx.piece_length).max(2) as usize;
    while pos < pieces.len() && !done.load(Ordering::Relaxed) {
        let claimed = next.load(Ordering::Relaxed).min(pieces.len());
        pos = pos.max(claimed);
        if pos >= pieces.len() {
            break;
        }
        if pos - claimed >= window {
            std::thread::sleep(std::time::Duration::from_millis(1));
            continue;
        }
        for seg in &pieces[pos].segments {
            let (Some(i), Some(len)) = (seg.file, std::num::NonZeroU64::new(seg.len)) else {
                continue;
            };
            let src = ctx.files[i].source;
            let Source::Path(path) = &ctx.sources[src] else {
                continue;
            };
            if cache.as_ref().map(|c| c.0) != Some(src) {
                cache = File::open(path).ok().map(|f| (src, f));
            }
            if let Some((_, f)) = &cache {
                let _ = rustix::fs::fadvise(f, seg.offset, Some(len), rustix::fs::Advice::WillNeed);
            }
        }
        pos += 1;
    }
}

/// Hash `pieces` on `threads` threads; results in piece order. A piece whose
/// data cannot be read gives the error instead. Whole-file digests are
/// made on the way for the files `ctx.wants` names, each by the one thread
/// that reads it (batches never split such a file, up to [`SPLIT_ABOVE`]);
/// the digests of files that were split anyway come back missing.
fn hash_pieces(
    pieces: &[Piece],
    ctx: &Ctx<'_>,
    threads: usize,
) -> (Vec<std::io::Result<PieceOut>>, Vec<Option<FileDigests>>) {
    let batches = batches(pieces, ctx);
    let next = AtomicUsize::new(0);
    let claimed = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    type Out = (
        Vec<(usize, std::io::Result<PieceOut>)>,
        Vec<(usize, FileDigests)>,
    );
    let (mut results, files): Out = std::thread::scope(|s| {
        s.spawn(|| prefetch(pieces, ctx, &claimed, &done));
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut buf = vec![0u8; ctx.piece_length as usize];
                    let mut cache = None;
                    let mut out = Vec::new();
                    let mut digests = Digesting::default();
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        let Some(range) = batches.get(b) else {
                            break;
                        };
                        claimed.fetch_max(range.start, Ordering::Relaxed);
                        for i in range.clone() {
                            let piece =
                                hash_one(&pieces[i], ctx, &mut buf, &mut cache, &mut digests);
                            out.push((i, piece));
                        }
                        // A file still open here was split between batches.
                        digests.open.clear();
                    }
                    (out, digests.done)
                })
            })
            .collect();
        let mut all: Out = (Vec::new(), Vec::new());
        for w in workers {
            let (pieces, files) = w.join().unwrap_or_default();
            all.0.extend(pieces);
            all.1.extend(files);
        }
        done.store(true, Ordering::Relaxed);
        all
    });
    results.sort_by_key(|r| r.0);
    let mut digests = vec![None; ctx.files.len()];
    for (f, d) in files {
        digests[f] = Some(d);
    }
    (results.into_iter().map(|r| r.1).collect(), digests)
}

/// A file whose whole-file digests are wanted is split between batches
/// only when longer than this (its digests are then made by a read of
/// its own): both cores stay busy on packs of large files.
const SPLIT_ABOVE: u64 = 256 << 20;

/// The pieces cut into runs of about 4 MiB, handed out to the threads
/// in order; a run ends only where no wanted file goes on into the next
/// piece (or after [`SPLIT_ABOVE`] bytes).
fn batches(pieces: &[Piece], ctx: &Ctx<'_>) -> Vec<std::ops::Range<usize>> {
    let target = ((4u64 << 20) / ctx.piece_length).max(1) as usize;
    let cap = (SPLIT_ABOVE / ctx.piece_length).max(target as u64) as usize;
    let mut out = Vec::with_capacity(pieces.len() / target + 1);
    let mut start = 0;
    for (i, p) in pieces.iter().enumerate() {
        let len = i + 1 - start;
        let goes_on = p.segments.last().is_some_and(|seg| {
            seg.file.is_some_and(|f| {
                ctx.wants.get(f).is_some_and(FileWant::any)
                    && seg.offset + seg.len < ctx.files[f].length
            })
        });
        if len >= target && (!goes_on || len >= cap) {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < pieces.len() {
        out.push(start..pieces.len());
    }
    out
}

/// Whole-file digests to make while a file's pieces are hashed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileWant {
    pub blake3: bool,
    pub sha256: bool,
}

impl FileWant {
    fn any(&self) -> bool {
        self.blake3 || self.sha256
    }
}

/// A file's digests, as wanted: BLAKE3 and SHA-256 (hex), and its length
/// as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDigests {
    pub blake3: Option<String>,
    pub sha256: Option<String>,
    pub len: u64,
}

/// The digests one thread is making: files begun in its current batch,
/// and files finished.
#[derive(Default)]
struct Digesting {
    open: std::collections::HashMap<usize, (Option<blake3::Hasher>, Option<Sha256>, u64)>,
    done: Vec<(usize, FileDigests)>,
}

impl Digesting {
    fn feed(&mut self, ctx: &Ctx<'_>, f: usize, offset: u64, bytes: &[u8]) {
        let Some(want) = ctx.wants.get(f).filter(|w| w.any()) else {
            return;
        };
        let state = match self.open.get_mut(&f) {
            Some(s) if s.2 == offset => s,
            // Begun in another batch: made by a read of its own.
            Some(_) | None if offset != 0 => return,
            _ => self.open.entry(f).or_insert_with(|| {
                (
                    want.blake3.then(blake3::Hasher::new),
                    want.sha256.then(Sha256::new),
                    0,
                )
            }),
        };
        if let Some(h) = &mut state.0 {
            h.update(bytes);
        }
        if let Some(h) = &mut state.1 {
            h.update(bytes);
        }
        state.2 += bytes.len() as u64;
        if state.2 == ctx.files[f].length
            && let Some((b3, sha, len)) = self.open.remove(&f)
        {
            self.done.push((
                f,
                FileDigests {
                    blake3: b3.map(|h| h.finalize().to_hex().to_string()),
                    sha256: sha.map(|h| hex::encode(h.finalize())),
                    len,
                },
            ));
        }
    }
}

/// Digests of one whole file, read on its own.
fn digest_reader(mut f: impl std::io::Read, want: FileWant) -> std::io::Result<FileDigests> {
    let mut b3 = want.blake3.then(blake3::Hasher::new);
    let mut sha = want.sha256.then(Sha256::new);
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(h) = &mut b3 {
            h.update(&buf[..n]);
        }
        if let Some(h) = &mut sha {
            h.update(&buf[..n]);
        }
        len += n as u64;
    }
    Ok(FileDigests {
        blake3: b3.map(|h| h.finalize().to_hex().to_string()),
        sha256: sha.map(|h| hex::encode(h.finalize())),
        len,
    })
}

fn pieces_in_file(files: &[InputFile], pieces: &[Piece]) -> Vec<u64> {
    let mut counts = vec![0u64; files.len()];
    for p in pieces {
        if let Some((f, _)) = p.file {
            counts[f] += 1;
        }
    }
    counts
}

/// Per file, the v2 hashes of its pieces as they are hashed, and the root
/// of a file that fits in one piece (a smaller tree than a piece's).
struct FileTrees {
    pieces: Vec<Vec<H256>>,
    single: Vec<Option<H256>>,
}

impl FileTrees {
    fn new(files: usize) -> FileTrees {
        FileTrees {
            pieces: vec![Vec::new(); files],
            single: vec![None; files],
        }
    }

    fn add(&mut self, piece: &Piece, out: &PieceOut) {
        if let Some((f, _)) = piece.file {
            self.pieces[f].push(out.v2);
            if out.small.is_some() {
                self.single[f] = out.small;
            }
        }
    }

    /// File `f`'s pieces root and piece layer, once its pieces are in.
    fn root(&self, f: usize, blocks_per_piece: u64) -> Option<(H256, Option<Vec<H256>>)> {
        let pieces = &self.pieces[f];
        (!pieces.is_empty()).then(|| file_root(pieces, self.single[f], blocks_per_piece))
    }
}

/// Hash a planned layout; `sources[f.source]` is where file `f` is read.
pub fn hash_layout(
    layout: &Layout,
    sources: &[PathBuf],
    options: HashOptions,
) -> std::io::Result<Hashes> {
    let sources: Vec<Source> = sources.iter().cloned().map(Source::Path).collect();
    Ok(hash_layout_and_files(layout, &sources, options, &[])?.0)
}

/// Hash a planned layout and, in the same read, make the whole-file
/// digests `wants` asks of each layout file (`wants[i]` for
/// `layout.files[i]`; missing entries want nothing): a pack's files are
/// read once for their pieces, their BLAKE3 check and their SHA-256.
pub fn hash_layout_and_files(
    layout: &Layout,
    sources: &[Source],
    options: HashOptions,
    wants: &[FileWant],
) -> std::io::Result<(Hashes, Vec<Option<FileDigests>>)> {
    let ctx = Ctx {
        files: &layout.files,
        sources,
        piece_length: layout.piece_length,
        want_v1: layout.mode != Mode::V2,
        want_v2: layout.mode != Mode::V1,
        pieces_in_file: pieces_in_file(&layout.files, &layout.pieces),
        wants,
    };
    let (outs, mut digests) = hash_pieces(&layout.pieces, &ctx, options.threads);
    let mut hashes = Hashes {
        v1: Vec::with_capacity(if ctx.want_v1 { outs.len() } else { 0 }),
        roots: vec![None; layout.files.len()],
        layers: vec![None; layout.files.len()],
    };
    let mut trees = FileTrees::new(layout.files.len());
    for (p, out) in layout.pieces.iter().zip(outs) {
        let out = out?;
        if ctx.want_v1 {
            hashes.v1.push(out.v1);
        }
        if ctx.want_v2 {
            trees.add(p, &out);
        }
    }
    if ctx.want_v2 {
        let bpp = layout.piece_length / BLOCK;
        for i in 0..layout.files.len() {
            if let Some((root, layer)) = trees.root(i, bpp) {
                hashes.roots[i] = Some(root);
                hashes.layers[i] = layer;
            }
        }
    }
    // Files no piece read (empty ones) and files split between batches.
    for (i, want) in wants.iter().enumerate().take(layout.files.len()) {
        if want.any() && digests[i].is_none() {
            let file = &layout.files[i];
            digests[i] = Some(if file.length == 0 {
                digest_reader(std::io::empty(), *want)?
            } else {
                match &sources[file.source] {
                    Source::Path(p) => digest_reader(File::open(p)?, *want)?,
                    Source::Stream(open) => digest_reader(open(0)?, *want)?,
                }
            });
        }
    }
    Ok((hashes, digests))
}

/// One file's verification result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileVerdict {
    Ok,
    Missing,
    WrongSize {
        actual: u64,
    },
    Unreadable {
        error: String,
    },
    /// Data differs; `first_bad_piece` is the torrent's piece index (for v2
    /// without a piece layer only the root is known to differ).
    Corrupt {
        first_bad_piece: Option<u64>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub path: String,
    pub length: u64,
    #[serde(flatten)]
    pub verdict: FileVerdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub content: String,
    pub files: Vec<FileCheck>,
    pub pieces_checked: u64,
    pub pieces_bad: u64,
    pub bytes: u64,
}

/// Check the data under `save_path` (the directory that holds the
/// torrent's top-level name) against `meta`.
pub fn verify(meta: &Metainfo, save_path: &Path, options: HashOptions) -> VerifyReport {
    let content = save_path.join(&meta.name);
    let data: Vec<&crate::metainfo::FileEntry> = if meta.version == Version::V2 {
        meta.v2_files
            .iter()
            .filter(|f| f.symlink.is_none())
            .collect()
    } else {
        meta.data_files()
    };
    let sources: Vec<PathBuf> = data
        .iter()
        .map(|f| {
            if meta.single_file {
                content.clone()
            } else {
                f.path.iter().fold(content.clone(), |p, c| p.join(c))
            }
        })
        .collect();
    let files: Vec<InputFile> = data
        .iter()
        .enumerate()
        .map(|(i, f)| InputFile {
            path: f.path.clone(),
            length: f.length,
            source: i,
        })
        .collect();
    let mut verdicts: Vec<FileVerdict> = files
        .iter()
        .zip(&sources)
        .map(|(f, p)| match std::fs::metadata(p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileVerdict::Missing,
            Err(e) => FileVerdict::Unreadable {
                error: e.to_string(),
            },
            Ok(m) if !m.is_file() => FileVerdict::Unreadable {
                error: "not a regular file".into(),
            },
            Ok(m) if m.len() != f.length => FileVerdict::WrongSize { actual: m.len() },
            Ok(_) => FileVerdict::Ok,
        })
        .collect();

    let pl = meta.piece_length;
    let (pieces, want_v1, want_v2) = match meta.version {
        Version::V1 => {
            let mut idx = 0;
            let entries: Vec<(Option<usize>, u64)> = meta
                .files
                .iter()
                .filter(|f| f.symlink.is_none())
                .map(|f| {
                    if f.pad {
                        (None, f.length)
                    } else {
                        idx += 1;
                        (Some(idx - 1), f.length)
                    }
                })
                .collect();
            (Layout::stream_pieces(&entries, pl), true, false)
        }
        Version::Hybrid => {
            // Aligned: each real file's last piece is padded when a pad
            // file follows it in the v1 list (or it ends the torrent on a
            // boundary anyway).
            let mut pad_after = Vec::with_capacity(files.len());
            let list: Vec<&crate::metainfo::FileEntry> =
                meta.files.iter().filter(|f| f.symlink.is_none()).collect();
            for (i, f) in list.iter().enumerate() {
                if !f.pad {
                    pad_after.push(list.get(i + 1).is_some_and(|n| n.pad));
                }
            }
            (Layout::aligned_pieces(&files, pl, &pad_after), true, true)
        }
        Version::V2 => (Layout::aligned_pieces(&files, pl, &[]), false, true),
    };
    let read_from: Vec<Source> = sources.iter().cloned().map(Source::Path).collect();
    let ctx = Ctx {
        files: &files,
        sources: &read_from,
        piece_length: pl,
        want_v1,
        want_v2,
        pieces_in_file: pieces_in_file(&files, &pieces),
        wants: &[],
    };
    // Pieces of files already known to be missing or the wrong size are
    // not read.
    let skip: Vec<bool> = verdicts.iter().map(|v| *v != FileVerdict::Ok).collect();
    let readable: Vec<bool> = pieces
        .iter()
        .map(|p| p.segments.iter().all(|s| s.file.is_none_or(|f| !skip[f])))
        .collect();
    let to_hash: Vec<Piece> = pieces
        .iter()
        .zip(&readable)
        .filter(|(_, r)| **r)
        .map(|(p, _)| p.clone())
        .collect();
    let (outs, _) = hash_pieces(&to_hash, &ctx, options.threads);
    let mut outs = outs.into_iter();

    let mut bad_pieces = 0u64;
    let mut trees = FileTrees::new(files.len());
    let mut first_bad: Vec<Option<u64>> = vec![None; files.len()];
    let mut unreadable: Vec<Option<String>> = vec![None; files.len()];
    let mut bytes = 0u64;
    for (index, (piece, ok_to_read)) in pieces.iter().zip(&readable).enumerate() {
        let touched: Vec<usize> = piece.segments.iter().filter_map(|s| s.file).collect();
        let result = if *ok_to_read { outs.next() } else { None };
        let good = match result {
            Some(Ok(out)) => {
                bytes += piece.segments.iter().map(|s| s.len).sum::<u64>();
                if want_v2 {
                    trees.add(piece, &out);
                }
                !want_v1 || meta.pieces.get(index) == Some(&out.v1)
            }
            Some(Err(e)) => {
                for &f in &touched {
                    unreadable[f].get_or_insert_with(|| e.to_string());
                }
                false
            }
            None => false,
        };
        if !good {
            bad_pieces += 1;
            for &f in &touched {
                first_bad[f].get_or_insert(index as u64);
            }
        }
    }
    if want_v2 {
        let bpp = pl / BLOCK;
        let v2_meta: Vec<&crate::metainfo::FileEntry> = meta
            .v2_files
            .iter()
            .filter(|f| f.symlink.is_none())
            .collect();
        let mut piece_base = 0u64;
        for (i, f) in files.iter().enumerate() {
            let count = f.length.div_ceil(pl);
            let expected_root = v2_meta.get(i).and_then(|m| m.pieces_root);
            if verdicts[i] == FileVerdict::Ok
                && f.length > 0
                && trees.pieces[i].len() as u64 == count
                && let Some((root, _)) = trees.root(i, bpp)
                && Some(root) != expected_root
            {
                let layer = expected_root.and_then(|r| meta.piece_layers.get(&r));
                let at = layer
                    .and_then(|l| l.iter().zip(&trees.pieces[i]).position(|(a, b)| a != b))
                    .map(|k| piece_base + k as u64);
                if first_bad[i].is_none() {
                    bad_pieces += 1;
                }
                first_bad[i] = first_bad[i].or(at).or(Some(piece_base));
            }
            piece_base += count;
        }
    }
    for (i, v) in verdicts.iter_mut().enumerate() {
        if *v == FileVerdict::Ok {
            if let Some(e) = unreadable[i].take() {
                *v = FileVerdict::Unreadable { error: e };
            } else if let Some(p) = first_bad[i] {
                *v = FileVerdict::Corrupt {
                    first_bad_piece: Some(p),
                };
            }
        }
    }
    let checks: Vec<FileCheck> = files
        .iter()
        .zip(verdicts)
        .map(|(f, verdict)| FileCheck {
            path: f.path.join("/"),
            length: f.length,
            verdict,
        })
        .collect();
    VerifyReport {
        ok: checks.iter().all(|c| c.verdict == FileVerdict::Ok),
        content: content.display().to_string(),
        files: checks,
        pieces_checked: pieces.len() as u64,
        pieces_bad: bad_pieces,
        bytes,
    }
}
