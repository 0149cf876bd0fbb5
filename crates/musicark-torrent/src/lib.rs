//! BitTorrent metainfo for musicark: BEP 3 (v1), BEP 52 (v2) and hybrid
//! torrents, with BEP 47 pad files, BEP 12 announce lists and BEP 19 web
//! seeds.
//!
//! The core ([`metainfo`], [`layout`], [`merkle`], [`build`]) does no I/O:
//! it parses bytes, plans layouts and assembles torrents from hashes. The
//! thin I/O layer ([`hashing`]) reads files, hashes them on every core and
//! verifies data against a torrent.
//!
//! *Invariant*: creation is deterministic — the same files, piece length,
//! trackers and web seeds give the same bytes (no clock unless asked, paths
//! in canonical order).
//! *Boundary*: knows nothing about music or the catalogue.

pub mod build;
pub mod hashing;
pub mod layout;
pub mod merkle;
pub mod metainfo;

pub use build::{BuildOptions, build_torrent};
pub use hashing::{
    FileCheck, FileDigests, FileVerdict, FileWant, HashOptions, Hashes, OpenAt, Source,
    VerifyReport, hash_layout, hash_layout_and_files, scan_path, verify,
};
pub use layout::{InputFile, Layout, Mode, auto_piece_length};
pub use metainfo::{
    FileEntry, MagnetParts, Metainfo, ParseError, TorrentSummary, Version, magnet_link, url_encode,
};

/// The BitTorrent v2 block size: leaves of the merkle tree hash 16 KiB.
pub const BLOCK: u64 = 16 * 1024;
