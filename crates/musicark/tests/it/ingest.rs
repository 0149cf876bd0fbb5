//! Ingest on collections made at test time: counts, tags, dedup, reruns,
//! reference mode, hostile trees and crafted damage.

use serde_json::Value;

use crate::support::{
    check_blobs, file_row, files_with, files_with_any, ingest, init_and_ingest, json, ok, sample,
};

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
}

#[test]
fn sample_collection_is_ingested_with_status_tags_and_damage_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coll = tmp.path().join("collection");
    let report = sample(&coll, 6, 3.0);
    let archive = tmp.path().join("archive");
    let summary = init_and_ingest(&archive, &[&coll], &["--jobs", "2"]);
    assert_eq!(u(&summary, "processed"), 10, "{summary}");
    // The duplicate sits next to its twin in the largest-first queue: it is
    // recognised, not decoded a second time.
    assert_eq!(u(&summary, "known_content"), 1, "{summary}");

    let status = json(&archive, &["status"]);
    assert_eq!(u(&status, "files"), 10, "{status}");
    assert_eq!(
        u(&status, "audio_files"),
        7,
        "6 tracks and one duplicate: {status}"
    );
    assert_eq!(u(&status, "damaged"), 2, "{status}");
    assert_eq!(u(&status, "skipped"), 1, "the liner notes: {status}");
    assert_eq!(u(&status, "errors"), 0, "{status}");
    assert_eq!(
        u(&status, "unique_contents"),
        8,
        "the duplicate is stored once: {status}"
    );
    let duration = status["duration_seconds"]
        .as_f64()
        .expect("duration_seconds");
    assert!(
        (duration - 21.0).abs() < 0.01,
        "7 clean files of 3 s: {duration}"
    );
    let total: u64 = files_with_any(&coll)
        .iter()
        .map(|p| p.metadata().expect("meta").len())
        .sum();
    assert_eq!(u(&status, "bytes"), total);
    let codecs: Vec<&str> = status["codecs"]
        .as_array()
        .expect("codecs")
        .iter()
        .filter_map(|c| c["codec"].as_str())
        .collect();
    for c in ["flac", "opus", "pcm_s16le"] {
        assert!(codecs.contains(&c), "{c} missing from {codecs:?}");
    }
    assert_eq!(check_blobs(&archive), 8);

    // Tags and technical facts of a clean FLAC track.
    let first = &report.audio[0];
    let (st, _, tags, dur, _) = file_row(&archive, first).expect("first track recorded");
    assert_eq!(st, "ok");
    assert!(
        (dur.expect("duration") - 3.0).abs() < 1e-9,
        "FLAC duration is exact"
    );
    let tags: Value = serde_json::from_str(&tags.expect("tags")).expect("tags json");
    assert_eq!(tags["title"], "Dawn Chorus");
    assert_eq!(tags["artists"][0], "Aurora Lane");
    assert_eq!(tags["album"], "First Light");
    assert_eq!(tags["track_number"], 1);
    assert_eq!(tags["isrcs"][0], "QZMAK2400100");
    assert_eq!(
        tags["license"],
        "https://creativecommons.org/licenses/by/4.0/"
    );
    assert_eq!(tags["has_cover_art"], true);
    assert!(
        tags["musicbrainz_recording_id"]
            .as_str()
            .is_some_and(|s| s.len() == 36)
    );

    // The damage report names both damaged files, with reasons.
    let damaged = json(&archive, &["report", "damaged"]);
    let entries = damaged["damaged"].as_array().expect("damaged list");
    assert_eq!(entries.len(), 2, "{damaged}");
    for e in entries {
        let reason = e["reason"].as_str().unwrap_or("");
        assert!(!reason.is_empty(), "no reason: {e}");
    }
    let reasons: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("truncated")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("unrecognized")),
        "{reasons:?}"
    );
}

#[test]
fn rerun_skips_unchanged_files_and_rehashes_touched_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coll = tmp.path().join("c");
    let report = sample(&coll, 3, 2.0);
    let archive = tmp.path().join("a");
    init_and_ingest(&archive, &[&coll], &[]);
    let before = crate::support::catalogue_rows(&archive);

    let again = ingest(&archive, &[&coll], &[]);
    assert_eq!(u(&again, "processed"), 0, "{again}");
    assert_eq!(u(&again, "unchanged"), 7, "{again}");

    // A new mtime on the same bytes: hashed again, not decoded again.
    let f = std::fs::File::options()
        .write(true)
        .open(&report.audio[1])
        .expect("open");
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .expect("touch");
    drop(f);
    let touched = ingest(&archive, &[&coll], &[]);
    assert_eq!(u(&touched, "processed"), 1, "{touched}");
    assert_eq!(u(&touched, "known_content"), 1, "{touched}");
    assert_eq!(crate::support::catalogue_rows(&archive), before);
}

#[test]
fn reference_mode_records_without_copying() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coll = tmp.path().join("c");
    sample(&coll, 2, 1.0);
    let archive = tmp.path().join("a");
    let summary = init_and_ingest(&archive, &[&coll], &["--reference"]);
    assert_eq!(u(&summary, "blobs_stored"), 0);
    assert_eq!(check_blobs(&archive), 0);
    let status = json(&archive, &["status"]);
    assert_eq!(u(&status, "stored_bytes"), 0);
    assert_eq!(u(&status, "audio_files"), 3);
    // A later copy-mode ingest of the same files stores them.
    let touched = ingest(&archive, &[&coll], &[]);
    assert_eq!(
        u(&touched, "processed"),
        0,
        "unchanged files are not revisited: {touched}"
    );
}

#[cfg(unix)]
#[test]
fn hostile_trees_weird_names_loops_fifos_and_empty_files_are_reported_and_the_run_goes_on() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let tmp = tempfile::tempdir().expect("tempdir");
    let coll = tmp.path().join("c");
    let report = sample(&coll, 1, 1.0);
    let weird = coll.join(OsStr::from_bytes(b"caf\xe9 \xff\xfe.flac"));
    std::fs::copy(&report.audio[0], &weird).expect("copy");
    let odd = coll.join("new\nline ♫ \"quoted\".flac");
    std::fs::copy(&report.audio[0], &odd).expect("copy");
    std::os::unix::fs::symlink(&coll, coll.join("loop")).expect("symlink");
    std::os::unix::fs::symlink(coll.join("missing-target"), coll.join("dangling.flac"))
        .expect("symlink");
    let fifo = coll.join("pipe.flac");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    std::fs::write(coll.join("empty.flac"), b"").expect("write");
    std::fs::write(coll.join("empty.txt"), b"").expect("write");

    let archive = tmp.path().join("a");
    let summary = init_and_ingest(&archive, &[&coll], &[]);
    assert!(
        u(&summary, "errors") >= 2,
        "loop and dangling link: {summary}"
    );

    let (st, ..) = file_row(&archive, &weird).expect("non-UTF-8 name recorded");
    assert_eq!(st, "ok");
    let (st, ..) = file_row(&archive, &odd).expect("newline name recorded");
    assert_eq!(st, "ok");
    let (st, reason, ..) = file_row(&archive, &fifo).expect("fifo recorded");
    assert_eq!(st, "skipped");
    assert!(reason.unwrap_or_default().contains("not a regular file"));
    let (st, reason, ..) = file_row(&archive, &coll.join("empty.flac")).expect("empty recorded");
    assert_eq!(st, "damaged");
    assert!(reason.unwrap_or_default().contains("empty"));
    let (st, ..) = file_row(&archive, &coll.join("empty.txt")).expect("empty txt recorded");
    assert_eq!(st, "skipped");
    let (st, reason, ..) = file_row(&archive, &coll.join("loop")).expect("loop recorded");
    assert_eq!(st, "error");
    assert!(reason.unwrap_or_default().contains("symlink loop"));

    let report = json(&archive, &["report", "damaged"]);
    assert!(
        report["errors"].as_array().expect("errors").len() >= 2,
        "{report}"
    );

    // Raw path bytes round-trip: a rerun finds the odd names unchanged and
    // retries only the errors.
    let again = ingest(&archive, &[&coll], &[]);
    assert_eq!(u(&again, "processed"), 0, "{again}");
}

/// Rewrite a FLAC file with one VORBIS_COMMENT block holding `comment`.
fn with_vorbis_comment(flac: &[u8], comment: &[u8]) -> Vec<u8> {
    let mut blocks: Vec<(u8, &[u8])> = Vec::new();
    let mut pos = 4;
    loop {
        let hdr = flac[pos];
        let len = u32::from_be_bytes([0, flac[pos + 1], flac[pos + 2], flac[pos + 3]]) as usize;
        blocks.push((hdr & 0x7f, &flac[pos + 4..pos + 4 + len]));
        pos += 4 + len;
        if hdr & 0x80 != 0 {
            break;
        }
    }
    let mut vc = Vec::new();
    vc.extend_from_slice(&1u32.to_le_bytes());
    vc.push(b'x');
    vc.extend_from_slice(&1u32.to_le_bytes());
    vc.extend_from_slice(&(comment.len() as u32).to_le_bytes());
    vc.extend_from_slice(comment);
    let mut keep: Vec<(u8, Vec<u8>)> = vec![(0, blocks[0].1.to_vec()), (4, vc)];
    keep.extend(
        blocks
            .iter()
            .skip(1)
            .filter(|b| b.0 != 4 && b.0 != 6)
            .map(|b| (b.0, b.1.to_vec())),
    );
    let mut out = b"fLaC".to_vec();
    let n = keep.len();
    for (i, (t, data)) in keep.into_iter().enumerate() {
        let last = if i + 1 == n { 0x80 } else { 0 };
        out.push(t | last);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&data);
    }
    out.extend_from_slice(&flac[pos..]);
    out
}

#[test]
fn crafted_damage_is_reported_with_reasons_and_clean_files_stay_clean() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let report = sample(&src, 6, 4.0);
    let pick = |ext: &str| -> Vec<u8> {
        let p = report
            .audio
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .expect("sample has the format");
        std::fs::read(p).expect("read")
    };
    let (flac, opus, wav) = (pick("flac"), pick("opus"), pick("wav"));
    let coll = tmp.path().join("crafted");
    std::fs::create_dir_all(&coll).expect("mkdir");
    let write = |name: &str, bytes: &[u8]| std::fs::write(coll.join(name), bytes).expect("write");
    let mid = |b: &[u8]| b.len() / 2;

    write("clean.flac", &flac);
    write("clean.opus", &opus);
    write("clean.wav", &wav);
    write("truncated.flac", &flac[..flac.len() * 3 / 5]);
    let mut zeroed = flac.clone();
    zeroed[mid(&flac)..mid(&flac) + 16384].fill(0);
    write("zero-filled.flac", &zeroed);
    let mut flipped = flac.clone();
    for i in 0..8 {
        flipped[mid(&flac) + i * 97] ^= 0x5a;
    }
    write("bit-flipped.flac", &flipped);
    write("truncated.opus", &opus[..opus.len() / 2]);
    let mut opus_flip = opus.clone();
    opus_flip[mid(&opus)] ^= 0x01;
    write("bit-flipped.opus", &opus_flip);
    write("truncated.wav", &wav[..wav.len() / 2]);
    let mut rng = musicark_sample::Rng::new(7);
    let noise: Vec<u8> = (0..50_000).map(|_| rng.next_u64() as u8).collect();
    write("random.ogg", &noise);
    write("random.flac", &noise);
    write("random.m4a", &noise);
    // A 15 MiB tag value (FLAC's largest metadata block is 16 MiB).
    let mut big = b"COMMENT=".to_vec();
    big.resize(15 << 20, b'a');
    write("huge-tag.flac", &with_vorbis_comment(&flac, &big));

    let archive = tmp.path().join("a");
    let summary = init_and_ingest(&archive, &[&coll], &[]);
    assert_eq!(u(&summary, "processed"), 13, "{summary}");
    for name in ["clean.flac", "clean.opus", "clean.wav", "huge-tag.flac"] {
        let (st, reason, ..) = file_row(&archive, &coll.join(name)).expect("recorded");
        assert_eq!(st, "ok", "{name}: {reason:?}");
    }
    for (name, expect) in [
        ("truncated.flac", "truncated"),
        ("zero-filled.flac", ""),
        ("bit-flipped.flac", ""),
        ("truncated.opus", "truncated"),
        ("bit-flipped.opus", "corrupt"),
        ("truncated.wav", "truncated"),
        ("random.ogg", ""),
        ("random.flac", ""),
        ("random.m4a", ""),
    ] {
        let (st, reason, ..) = file_row(&archive, &coll.join(name)).expect("recorded");
        let reason = reason.unwrap_or_default();
        assert_eq!(st, "damaged", "{name} must be damaged, got {st}: {reason}");
        assert!(!reason.is_empty(), "{name}: damaged without a reason");
        assert!(
            reason.starts_with(expect),
            "{name}: expected a {expect} reason, got {reason}"
        );
    }
}

#[test]
fn commands_fail_clearly_without_an_archive_or_with_a_missing_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("nothing-here");
    let out = crate::support::bin()
        .arg("--archive")
        .arg(&archive)
        .arg("status")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a musicark archive") && err.contains("musicark init"),
        "{err}"
    );

    ok(&archive, &["init"]);
    let again = crate::support::bin()
        .arg("--archive")
        .arg(&archive)
        .arg("init")
        .output()
        .expect("run");
    assert!(!again.status.success(), "init twice must fail");

    let out = crate::support::bin()
        .arg("--archive")
        .arg(&archive)
        .args(["ingest", "/definitely/not/here"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/definitely/not/here"));
    let _ = files_with(tmp.path(), &["flac"]);
}

#[test]
fn demo_runs_the_whole_flow_and_leaves_a_complete_archive() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let out = crate::support::bin()
        .args(["demo", "--no-serve", "--json", "--dir"])
        .arg(&dir)
        .args(crate::support::database_args())
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["status"]["audio_files"], 11, "{v}");
    assert_eq!(v["status"]["damaged"], 2);
    assert_eq!(v["lookup"][0]["title"], "Dawn Chorus");
    assert_eq!(
        v["catalog_imports"][0]["rejects"], 1,
        "the broken line of the sample's open data"
    );
    // The whole flow: the sample's byte duplicate is found, every clean
    // track is linked by its MusicBrainz id, and the preserved copies are
    // smaller than what they preserve.
    assert_eq!(v["duplicates"]["redundant_files"], 1, "{}", v["duplicates"]);
    assert!(
        v["matches"]["by_mbid"].as_u64().unwrap_or(0) >= 10,
        "{}",
        v["matches"]
    );
    assert_eq!(
        v["matches"]["entries"]
            .as_array()
            .map(|e| e.iter().filter(|e| e["status"] == "linked").count()),
        v["matches"]["linked"].as_u64().map(|n| n as usize)
    );
    assert_eq!(
        v["preserve"]["failed"].as_array().map(Vec::len),
        Some(0),
        "{}",
        v["preserve"]
    );
    assert!(v["preserve"]["made"].as_u64().unwrap_or(0) >= 1);
    assert!(v["preserve"]["bytes_out"].as_u64() < v["preserve"]["bytes_in"].as_u64());
    // Then published: packs and a metadata release, a signed list that
    // verifies, and a coverage report with everything preserved.
    let packs = v["pack"]["packs"].as_array().expect("packs");
    assert!(
        packs.iter().any(|p| p["band"] == "metadata"),
        "{}",
        v["pack"]
    );
    assert!(packs.len() >= 2, "{}", v["pack"]);
    assert_eq!(v["list"]["torrents"].as_u64(), Some(packs.len() as u64));
    let list = dir.join("published").join("torrents.json");
    ok(&dir, &["list", "verify", list.to_str().expect("utf-8")]);
    assert_eq!(
        v["coverage"]["share_listens_preserved"], 1.0,
        "{}",
        v["coverage"]
    );
    assert!(dir.join("coverage.html").is_file());
    assert!(
        v["plan"]["listen_share"].as_f64().is_some(),
        "{}",
        v["plan"]
    );
    // The archive stays, usable by every command.
    let status = json(&dir, &["status"]);
    assert_eq!(u(&status, "audio_files"), 11);
    // A second run replaces its own earlier demo.
    let again = crate::support::bin()
        .args(["demo", "--no-serve", "--json", "--dir"])
        .arg(&dir)
        .args(crate::support::database_args())
        .output()
        .expect("run demo");
    assert!(again.status.success());
}
