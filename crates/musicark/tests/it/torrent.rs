//! Torrents against the reference tools: byte-identical v1 torrents with
//! mktorrent, identical v1 and v2 info-hashes with libtorrent, libtorrent
//! loading and checking our torrents, and `torrent verify` on damaged data.

use std::path::{Path, PathBuf};
use std::process::Command;

use musicark_bencode::{Out, Value};
use serde_json::Value as Json;

use crate::support::{bin, lt_helper, peer};

fn lt(args: &[&str]) -> Option<Json> {
    let (python, helper) = lt_helper()?;
    let out = Command::new(python)
        .arg(helper)
        .args(args)
        .output()
        .expect("run lt_helper");
    assert!(
        out.status.success(),
        "lt_helper {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("lt_helper JSON"))
}

/// A small deterministic tree: nested folders, an empty file, non-ASCII
/// names, sizes around piece and block boundaries.
fn make_tree(root: &Path) -> PathBuf {
    let dir = root.join("Sigur Rós — Ágætis byrjun");
    let mut rng = musicark_sample::Rng::new(99);
    let files: &[(&str, usize)] = &[
        ("01 Intro.flac", 100_000),
        ("02 Svefn-g-englar.flac", 1_048_579),
        ("cover.jpg", 16_384),
        ("empty.txt", 0),
        ("Disc 2/01 Starálfur.flac", 333_333),
        ("Disc 2/02 Flugufrelsarinn.flac", 1),
        ("Disc 2/Bonus/notes.txt", 5_000),
    ];
    for (name, size) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let bytes: Vec<u8> = (0..*size).map(|_| rng.next_u64() as u8).collect();
        std::fs::write(&p, bytes).expect("write");
    }
    dir
}

fn musicark(args: &[&str]) -> Json {
    let out = bin()
        .args(args)
        .arg("--json")
        .output()
        .expect("run musicark");
    assert!(
        out.status.success(),
        "musicark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn without_created_by(bytes: &[u8]) -> Vec<u8> {
    let v = musicark_bencode::decode(bytes).expect("bencode");
    let Value::Dict(d) = &v else {
        panic!("not a dict")
    };
    let kept: Vec<(Vec<u8>, Out)> = d
        .entries
        .iter()
        .filter(|(k, _)| *k != b"created by")
        .map(|(k, v)| (k.to_vec(), Out::from(v)))
        .collect();
    Out::Dict(kept).encode()
}

#[test]
fn v1_torrents_are_byte_identical_to_mktorrent_apart_from_created_by() {
    let Some(mktorrent) = peer("mktorrent") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = make_tree(tmp.path());
    let single = dir.join("02 Svefn-g-englar.flac");
    let cases: Vec<(&Path, u32, Vec<&str>, Vec<&str>)> = vec![
        (&single, 15, vec!["http://tracker.example/announce"], vec![]),
        (
            &dir,
            18,
            vec!["http://a.example/announce"],
            vec!["http://seed.example/files/"],
        ),
        (
            &dir,
            16,
            vec![
                "http://a.example/announce,udp://b.example:6969",
                "http://c.example/announce",
            ],
            vec!["http://s1.example/", "http://s2.example/"],
        ),
        (&dir, 20, vec![], vec![]),
    ];
    for (i, (input, log2, trackers, seeds)) in cases.iter().enumerate() {
        let theirs = tmp.path().join(format!("m{i}.torrent"));
        let ours = tmp.path().join(format!("o{i}.torrent"));
        let mut m = Command::new(&mktorrent);
        m.arg("-d")
            .arg("-l")
            .arg(log2.to_string())
            .arg("-o")
            .arg(&theirs);
        for t in trackers {
            m.arg("-a").arg(t);
        }
        for w in seeds {
            m.arg("-w").arg(w);
        }
        if trackers.is_empty() {
            // mktorrent insists on an announce URL unless given none at all.
        }
        let status = m.arg(input).output().expect("mktorrent");
        assert!(
            status.status.success(),
            "mktorrent: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let mut args: Vec<String> = vec![
            "torrent".into(),
            "create".into(),
            input.display().to_string(),
            "-o".into(),
            ours.display().to_string(),
            "--piece-size".into(),
            (1u64 << log2).to_string(),
        ];
        for t in trackers {
            args.extend(["--tracker".to_string(), t.to_string()]);
        }
        for w in seeds {
            args.extend(["--webseed".to_string(), w.to_string()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        musicark(&refs);
        let a = without_created_by(&std::fs::read(&ours).expect("ours"));
        let b = without_created_by(&std::fs::read(&theirs).expect("theirs"));
        assert!(
            a == b,
            "case {i}: our torrent differs from mktorrent's\nours:   {}\ntheirs: {}",
            String::from_utf8_lossy(&a[..a.len().min(400)]),
            String::from_utf8_lossy(&b[..b.len().min(400)])
        );
        // And the raw bytes differ at most in `created by`.
        let raw = std::fs::read(&ours).expect("ours");
        assert_eq!(without_created_by(&raw), a);
    }
}

#[test]
fn v2_and_hybrid_info_hashes_equal_libtorrents_and_libtorrent_checks_our_data_complete() {
    if lt_helper().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = make_tree(tmp.path());
    let single = dir.join("02 Svefn-g-englar.flac");
    for input in [&dir, &single] {
        for (mode, flag) in [("hybrid", "--hybrid"), ("v2", "--v2")] {
            for piece in [16384u64, 65536, 1 << 20] {
                let theirs = tmp.path().join("lt.torrent");
                let ours = tmp.path().join("ours.torrent");
                let lt_info = lt(&[
                    "create",
                    &input.display().to_string(),
                    &theirs.display().to_string(),
                    mode,
                    &piece.to_string(),
                ])
                .expect("lt");
                let created = musicark(&[
                    "torrent",
                    "create",
                    &input.display().to_string(),
                    "-o",
                    &ours.display().to_string(),
                    flag,
                    "--piece-size",
                    &piece.to_string(),
                ]);
                let what = format!("{mode}, {piece}, {}", input.display());
                assert_eq!(created["info_hash_v2"], lt_info["v2"], "v2 hash: {what}");
                assert_eq!(created["info_hash_v1"], lt_info["v1"], "v1 hash: {what}");
                // libtorrent loads ours, and its own check of the data finds every piece.
                let check = lt(&[
                    "check",
                    &ours.display().to_string(),
                    &input.parent().expect("parent").display().to_string(),
                ])
                .expect("lt");
                assert_eq!(
                    check["progress"], 1.0,
                    "libtorrent check of our {what}: {check}"
                );
                // Ours loads libtorrent's, with the same hashes.
                let shown = musicark(&["torrent", "show", &theirs.display().to_string()]);
                assert_eq!(shown["info_hash_v2"], lt_info["v2"], "{what}");
                assert_eq!(shown["info_hash_v1"], lt_info["v1"], "{what}");
            }
        }
    }
    // And a v1 torrent of ours is complete for libtorrent too.
    let ours = tmp.path().join("v1.torrent");
    musicark(&[
        "torrent",
        "create",
        &dir.display().to_string(),
        "-o",
        &ours.display().to_string(),
    ]);
    let check = lt(&[
        "check",
        &ours.display().to_string(),
        &tmp.path().display().to_string(),
    ])
    .expect("lt");
    assert_eq!(check["progress"], 1.0, "{check}");
}

#[test]
fn verify_reports_ok_then_corrupt_missing_and_wrong_size_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = make_tree(tmp.path());
    for flag in ["--v1", "--v2", "--hybrid"] {
        let t = tmp.path().join(format!("t{flag}.torrent"));
        musicark(&[
            "torrent",
            "create",
            &dir.display().to_string(),
            "-o",
            &t.display().to_string(),
            flag,
            "--piece-size",
            "16384",
        ]);
        let report = musicark(&[
            "torrent",
            "verify",
            &t.display().to_string(),
            &tmp.path().display().to_string(),
        ]);
        assert_eq!(report["ok"], true, "{flag}: {report}");
        // The content folder itself works as DIR too.
        let again = musicark(&[
            "torrent",
            "verify",
            &t.display().to_string(),
            &dir.display().to_string(),
        ]);
        assert_eq!(again["ok"], true, "{flag}: {again}");
    }

    let t = tmp.path().join("h.torrent");
    musicark(&[
        "torrent",
        "create",
        &dir.display().to_string(),
        "-o",
        &t.display().to_string(),
        "--hybrid",
        "--piece-size",
        "16384",
    ]);
    let flip = dir.join("02 Svefn-g-englar.flac");
    let mut bytes = std::fs::read(&flip).expect("read");
    bytes[500_000] ^= 1;
    std::fs::write(&flip, &bytes).expect("write");
    std::fs::remove_file(dir.join("cover.jpg")).expect("rm");
    let cut = dir.join("Disc 2/01 Starálfur.flac");
    let len = std::fs::metadata(&cut).expect("meta").len();
    std::fs::File::options()
        .write(true)
        .open(&cut)
        .expect("open")
        .set_len(len - 10)
        .expect("truncate");

    let out = bin()
        .args(["torrent", "verify"])
        .arg(&t)
        .arg(tmp.path())
        .arg("--json")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "a failed verification exits 1");
    let report: Json = serde_json::from_slice(&out.stdout).expect("json");
    let status = |name: &str| -> Json {
        report["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing in {report}"))
    };
    let corrupt = status("02 Svefn-g-englar.flac");
    assert_eq!(corrupt["status"], "corrupt");
    // Byte 500 000 of the file lies in its piece 30; the file starts at piece 7
    // (01 Intro: 7 pieces, in file-tree order Disc 2 comes first: 21 + 1 + 1 pieces).
    assert!(corrupt["first_bad_piece"].as_u64().is_some(), "{corrupt}");
    assert_eq!(status("cover.jpg")["status"], "missing");
    assert_eq!(status("01 Starálfur.flac")["status"], "wrong_size");
    assert_eq!(status("01 Intro.flac")["status"], "ok");
    assert_eq!(status("notes.txt")["status"], "ok");
}

#[test]
fn hostile_torrents_are_refused_with_a_clear_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.torrent");
    std::fs::write(&bad, b"d4:infod4:name3:abc12:piece lengthi-5eee").expect("write");
    let out = bin()
        .args(["torrent", "show"])
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a valid torrent") && err.contains("piece length"),
        "{err}"
    );
    let deep = tmp.path().join("deep.torrent");
    std::fs::write(&deep, [vec![b'l'; 100_000], vec![b'e'; 100_000]].concat()).expect("write");
    let out = bin()
        .args(["torrent", "show"])
        .arg(&deep)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nesting deeper"));
}
