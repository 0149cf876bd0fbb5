//! musicark-torrent against libtorrent's own test torrents
//! (`../shared/testdata/libtorrent-torrents/`): every file libtorrent loads
//! loads here, every file it rejects is rejected with an error naming the
//! same problem, and nothing panics.

use std::path::PathBuf;

use musicark_torrent::{Metainfo, ParseError};

fn testdata() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/libtorrent-torrents");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("MUSICARK_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("../shared/testdata/libtorrent-torrents is missing");
    }
    eprintln!("SKIPPED: ../shared/testdata/libtorrent-torrents is missing");
    None
}

/// Which of our errors stands for each libtorrent error code.
fn matches(code: &str, err: &ParseError) -> bool {
    use ParseError::*;
    match code {
        "errors::torrent_missing_piece_length" => matches!(err, MissingPieceLength),
        "errors::torrent_missing_name" => matches!(err, MissingName),
        "errors::torrent_missing_info" => matches!(err, MissingInfo),
        "errors::torrent_is_no_dict" => matches!(err, NotADict),
        "errors::torrent_invalid_length" => matches!(err, InvalidLength(_)),
        "errors::torrent_invalid_name" => matches!(err, InvalidName(_)),
        "errors::torrent_missing_pieces" => matches!(err, MissingPieces),
        "errors::torrent_invalid_hashes" => {
            matches!(err, InvalidHashes | PieceCountMismatch { .. })
        }
        "errors::too_many_pieces_in_torrent" => matches!(err, TooManyPieces(_)),
        "errors::no_files_in_torrent" => matches!(err, NoFiles),
        "errors::torrent_inconsistent_files" => matches!(err, InconsistentFiles(_)),
        "errors::torrent_file_parse_failed" => matches!(err, FileTree(_)),
        "bdecode_errors::depth_exceeded" => {
            matches!(err, Bencode(e) if matches!(e.kind, musicark_bencode::ErrorKind::TooDeep(_)))
        }
        "errors::torrent_invalid_piece_layer" => matches!(err, InvalidPieceLayer(_)),
        "errors::invalid_bencoding" => matches!(err, Bencode(_) | FileTree(_)),
        "errors::torrent_missing_pieces_root" => matches!(err, MissingPiecesRoot(_)),
        "errors::torrent_invalid_pad_file" => matches!(err, InvalidPadFile(_)),
        "errors::too_many_duplicate_filenames" => matches!(err, TooManyDuplicates),
        _ => false,
    }
}

#[test]
fn libtorrent_valid_torrents_load_and_invalid_ones_are_rejected_for_the_same_reason() {
    let Some(dir) = testdata() else { return };
    let mut failures = Vec::new();
    let valid = std::fs::read_to_string(dir.join("valid.txt")).expect("valid.txt");
    for name in valid.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bytes = std::fs::read(dir.join(name)).expect("read");
        match Metainfo::parse(&bytes) {
            Ok(m) => {
                for f in &m.files {
                    for c in &f.path {
                        assert!(
                            !c.is_empty() && c != "." && c != ".." && !c.contains('/'),
                            "{name}: unsafe component {c:?}"
                        );
                    }
                }
            }
            Err(e) => failures.push(format!("{name}: rejected ({e}), libtorrent loads it")),
        }
    }
    let invalid = std::fs::read_to_string(dir.join("invalid.txt")).expect("invalid.txt");
    for line in invalid.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, code) = line.split_once(' ').unwrap_or((line, ""));
        let bytes = std::fs::read(dir.join(name)).expect("read");
        match Metainfo::parse(&bytes) {
            Ok(_) => failures.push(format!(
                "{name}: accepted, libtorrent rejects it with {code}"
            )),
            Err(e) if !matches(code, &e) => failures.push(format!(
                "{name}: rejected with \"{e}\", libtorrent says {code}"
            )),
            Err(_) => {}
        }
    }
    // Files in neither list must simply not panic.
    for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
        if entry.path().extension().is_some_and(|e| e == "torrent") {
            let _ = Metainfo::parse(&std::fs::read(entry.path()).expect("read"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements with libtorrent:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn truncations_and_bit_flips_of_every_test_torrent_never_panic() {
    let Some(dir) = testdata() else { return };
    for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
        if entry.path().extension().is_none_or(|e| e != "torrent") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("read");
        for cut in (0..bytes.len()).step_by(13) {
            let _ = Metainfo::parse(&bytes[..cut]);
        }
        for i in (0..bytes.len()).step_by(11) {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = Metainfo::parse(&b);
        }
    }
}
