//! Integrity under attack and fault: the mirror trusts only the
//! operator's key and never writes outside its folder, rotten bytes are
//! never published and a good copy repairs them, a full disk is named as
//! such and a rerun completes, hostile audio headers cost nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use musicark_sample::{SampleSpec, generate, write_open_data};
use serde_json::Value;

use crate::publish::{build, run, run_json};
use crate::support::{bin, ok, server, skip_or_fail, with_suffix};

/// A published archive of a small sample, its list exported to
/// `DIR/pub/torrents.json`; (archive, list).
fn published(dir: &Path, seed: u64) -> (PathBuf, PathBuf) {
    let spec = SampleSpec::with_tracks(4, 3.0, seed);
    let music = dir.join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&dir.join("open"), &spec).expect("open data");
    let archive = dir.join("archive");
    build(&archive, &music, &open, &[]);
    let list = dir.join("pub").join("torrents.json");
    run(
        &archive,
        &["list", "export", "--out", list.to_str().expect("utf-8")],
    );
    (archive, list)
}

/// Run `musicark ARGS`, expecting failure; its stderr.
fn fails(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("run musicark");
    assert!(
        !out.status.success(),
        "musicark {args:?} should fail:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run `musicark --archive ARCHIVE ARGS` with `envs`, expecting failure;
/// its output.
fn fails_in(archive: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let out = bin()
        .arg("--archive")
        .arg(archive)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run musicark");
    assert!(
        !out.status.success(),
        "musicark {args:?} should fail:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Re-sign `list` with its archive's own key, after `edit` changed its
/// entries: a list that verifies, whatever it says.
fn resign(archive: &Path, list: &Path, edit: impl FnOnce(&mut Vec<Value>)) {
    let mut entries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(list).expect("list")).expect("json");
    edit(&mut entries);
    let bytes = serde_json::to_vec(&entries).expect("json");
    std::fs::write(list, &bytes).expect("write");
    let home = musicark_store::Home::open(archive).expect("home");
    let (sk, pk) = musicark_publish::list::archive_key(&home).expect("key");
    let sig = musicark_publish::list::sign(&sk, &pk, &bytes, "torrents.json").expect("sign");
    std::fs::write(with_suffix(list, ".minisig"), sig).expect("sig");
}

fn mirror_args<'a>(list: &'a str, dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "mirror",
        "--list",
        list,
        "--budget",
        "1GB",
        "--dir",
        dir,
        "--listen",
        "127.0.0.1:0",
        "--stall-secs",
        "5",
        "--seed-secs",
        "0",
        "--replan-secs",
        "0",
    ];
    a.extend_from_slice(extra);
    a
}

/// Regression: `mirror --list URL` accepted a list signed by any key
/// whose .pub was served beside it, fetched every torrent before checking
/// the signature, and followed `../` in names and relative URLs.
#[test]
fn the_mirror_trusts_only_the_operators_key_and_stays_in_its_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, list) = published(&tmp.path().join("a"), 7);
    let (other, other_list) = published(&tmp.path().join("b"), 8);
    let real_key = with_suffix(&list, ".pub");
    let mirror = tmp.path().join("mirror");
    let m = mirror.to_str().expect("utf-8");
    let l = list.to_str().expect("utf-8");

    // No key given and none pinned: refused, whatever lies beside it.
    let err = fails(&mirror_args(l, m, &[]));
    assert!(err.contains("no trusted key"), "{err}");

    // An impostor's list, signed by the impostor, its key served beside:
    // refused by the operator's key, over HTTP, before any torrent.
    let site = tmp.path().join("site");
    std::fs::create_dir_all(site.join("torrents")).expect("site");
    for suffix in ["", ".minisig", ".pub"] {
        std::fs::copy(
            with_suffix(&other_list, suffix),
            with_suffix(&site.join("torrents.json"), suffix),
        )
        .expect("copy");
    }
    let s = server(site.clone(), "serve");
    let url = format!("{}/torrents.json", s.url);
    let key = real_key.to_str().expect("utf-8");
    let err = fails(&mirror_args(&url, m, &["--pubkey", key]));
    assert!(err.contains("signature"), "{err}");
    let asked = s.asked.lock().expect("log").clone();
    assert!(
        asked.iter().all(|p| !p.ends_with(".torrent")),
        "fetched before verifying: {asked:?}"
    );
    assert!(!mirror.join("data").exists(), "nothing downloaded");
    // The key is now pinned: a later run without --pubkey still refuses
    // the impostor (no --trust-on-first-use needed, none accepted).
    assert!(mirror.join("trusted.pub").is_file());
    let err = fails(&mirror_args(&url, m, &["--trust-on-first-use"]));
    assert!(err.contains("signature"), "{err}");
    drop(other);

    // A signed list whose names lead out of the folder: refused, nothing
    // written outside (a local list, checked like a fetched one).
    let evil = tmp.path().join("evil");
    std::fs::create_dir_all(&evil).expect("evil");
    let evil_list = evil.join("torrents.json");
    std::fs::copy(&list, &evil_list).expect("copy");
    resign(&archive, &evil_list, |entries| {
        entries[0]["display_name"] = Value::String("../../escaped.torrent".into());
    });
    let el = evil_list.to_str().expect("utf-8");
    let err = fails(&mirror_args(el, m, &["--pubkey", key]));
    assert!(err.contains("refusing the name"), "{err}");
    resign(&archive, &evil_list, |entries| {
        entries[0]["url"] = Value::String("../../../etc/passwd".into());
    });
    let err = fails(&mirror_args(el, m, &["--pubkey", key]));
    assert!(
        err.contains("refusing the name") || err.contains("url"),
        "{err}"
    );
    assert!(!tmp.path().join("escaped").exists());
    assert!(
        !mirror
            .parent()
            .expect("parent")
            .join("escaped.torrent")
            .exists()
    );

    // `list verify URL` follows the same rules: a key is required, and
    // the impostor's list fails it.
    let err = fails(&["list", "verify", &url]);
    assert!(err.contains("--pubkey"), "{err}");
    let err = fails(&["list", "verify", &url, "--pubkey", key]);
    assert!(err.contains("signature"), "{err}");
}

/// Regression: an answer could be a gigabyte in memory, and a server
/// that accepts and never answers hung the mirror for ever.
#[test]
fn fetches_are_bounded_in_size_and_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = tmp.path().join("k.pub");
    // Any well-formed key: these fail before a signature is checked.
    let (_, list) = published(&tmp.path().join("a"), 9);
    std::fs::copy(with_suffix(&list, ".pub"), &key).expect("key");
    let k = key.to_str().expect("utf-8");
    let m = tmp.path().join("m");
    let m = m.to_str().expect("utf-8");

    let huge = server(tmp.path().to_path_buf(), "huge");
    let url = format!("{}/torrents.json", huge.url);
    let started = Instant::now();
    let err = fails(&mirror_args(&url, m, &["--pubkey", k]));
    assert!(err.contains("more than"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));

    let hang = server(tmp.path().to_path_buf(), "hang");
    let url = format!("{}/torrents.json", hang.url);
    let started = Instant::now();
    let err = fails(&mirror_args(
        &url,
        m,
        &["--pubkey", k, "--http-timeout", "2"],
    ));
    assert!(started.elapsed() < Duration::from_secs(20), "{err}");
    assert!(
        err.to_lowercase().contains("timeout") || err.contains("timed out"),
        "{err}"
    );
}

/// The blob behind a preserved copy: (blob path, BLAKE3 id, the source
/// file's path) of a copy kept as the original (its blob is the ingested
/// file's own bytes).
fn an_original_copy(archive: &Path) -> (PathBuf, String, PathBuf) {
    let db = crate::support::db(archive).expect("db");
    let (id, path): (String, String) = db
        .query_row(
            "SELECT p.output_id, f.display_path FROM preserved p \
             JOIN files f ON f.content_id = p.source_id \
             WHERE p.tier = 'original' ORDER BY p.output_id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("an original-tier copy");
    let blob = archive
        .join("blobs")
        .join(&id[0..2])
        .join(&id[2..4])
        .join(&id);
    (blob, id, PathBuf::from(path))
}

/// Flip one bit inside the info dictionary of the archive's first
/// .torrent; its path.
fn damage_a_torrent(archive: &Path) -> PathBuf {
    let torrent = crate::support::files_with(&archive.join("torrents"), &["torrent"])
        .into_iter()
        .next()
        .expect("a torrent");
    let mut bytes = std::fs::read(&torrent).expect("torrent");
    let at = bytes.len() - 8;
    bytes[at] ^= 0x01;
    std::fs::write(&torrent, &bytes).expect("damage");
    torrent
}

fn rot(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut bytes = std::fs::read(path).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(path, &bytes).expect("rot");
}

/// Regression: a blob whose bytes no longer matched their BLAKE3 was
/// packed and exported under the catalogue's hash, and ingesting a good
/// copy did not repair it ("already known").
#[test]
fn rotten_bytes_are_never_published_and_a_good_copy_repairs_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(6, 3.0, 11);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let archive = tmp.path().join("archive");
    crate::support::init_and_ingest(&archive, &[&music], &[]);
    crate::support::import_open_data(&archive, &open.0, &open.1);
    ok(&archive, &["match"]);
    ok(&archive, &["preserve"]);
    let (blob, id, source) = an_original_copy(&archive);
    rot(&blob);

    // Export: refused for that copy, the rest exported.
    let out = tmp.path().join("export");
    let exported = run_json(
        &archive,
        &[
            "export",
            "--license",
            "CC-BY-4.0,CC-BY-SA-4.0,CC0-1.0",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    let failed = exported["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{exported:#}");
    assert!(failed[0][1].as_str().expect("why").contains("damaged"));
    let metadata = std::fs::read_to_string(out.join("metadata.jsonl")).expect("metadata");
    assert!(!metadata.contains(&id), "the rotten copy is not exported");
    // Quarantined: out of the store, kept aside.
    assert!(!blob.exists());
    let quarantine: Vec<_> = std::fs::read_dir(archive.join("quarantine"))
        .expect("quarantine")
        .collect();
    assert_eq!(quarantine.len(), 1);

    // Pack: the copy is missing now; reported, the rest packed.
    let packed = run_json(&archive, &["pack"]);
    assert!(
        packed["failed"].as_array().is_some_and(|f| f
            .iter()
            .any(|x| x[0].as_str().is_some_and(|p| p.contains(&id)))),
        "{packed:#}"
    );
    for m in crate::support::files_with(&archive.join("torrents"), &["jsonl"]) {
        let text = std::fs::read_to_string(&m).expect("manifest");
        assert!(
            !text.contains(&id),
            "{} states the rotten copy",
            m.display()
        );
    }

    // A good copy of the same file, ingested from elsewhere, restores it.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("dir");
    let name = source.file_name().expect("name");
    std::fs::copy(&source, elsewhere.join(name)).expect("copy");
    let summary = crate::support::ingest(&archive, &[&elsewhere], &[]);
    assert_eq!(summary["blobs_repaired"], 1, "{summary:#}");
    assert_eq!(
        blake3::hash(&std::fs::read(&blob).expect("restored"))
            .to_hex()
            .as_str(),
        id
    );
    let packed = run_json(&archive, &["pack"]);
    assert!(
        packed["failed"].as_array().is_some_and(Vec::is_empty),
        "{packed:#}"
    );
    let all: String = crate::support::files_with(&archive.join("torrents"), &["jsonl"])
        .iter()
        .map(|m| std::fs::read_to_string(m).expect("manifest"))
        .collect();
    assert!(all.contains(&id), "published once whole again");
}

/// Regression: a corrupted .torrent was signed by `list export`, and the
/// signature was written before the list, so a failure in between left a
/// published pair that failed its own check.
#[test]
fn a_damaged_torrent_is_not_signed_and_the_published_pair_stays_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, list) = published(tmp.path(), 12);
    let l = list.to_str().expect("utf-8");
    let key = with_suffix(&list, ".pub");
    let k = key.to_str().expect("utf-8");
    let before = std::fs::read(&list).expect("list");
    damage_a_torrent(&archive);
    let out = fails_in(&archive, &["list", "export", "--out", l], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("do not match"), "{err}");
    assert_eq!(std::fs::read(&list).expect("list"), before, "untouched");
    ok(&archive, &["list", "verify", l, "--pubkey", k]);
}

/// A small filesystem of `size` (tmpfs), or `None` (skipped) where this
/// process may not mount.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn new(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).expect("mount point");
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status();
        if !st.is_ok_and(|s| s.success()) {
            skip_or_fail("cannot mount a small tmpfs (needs root)");
            return None;
        }
        Some(SmallDisk(at.to_path_buf()))
    }

    /// Take all but `leave` bytes of what is free, in the file `name`.
    fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let free = musicark_store::free_bytes(&self.0).expect("statvfs");
        let filler = self.0.join(name);
        let f = std::fs::File::create(&filler).expect("filler");
        let mut f = std::io::BufWriter::new(f);
        let chunk = vec![0xAAu8; 64 << 10];
        let mut left = free.saturating_sub(leave);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if f.write_all(&chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = f.flush();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Regression: ingest onto a filesystem that filled up exited 0 and
/// recorded the files as "changed while being stored"; SQLite's full disk
/// reached users as "disk I/O error … 4874".
#[test]
fn a_full_disk_is_named_and_a_rerun_after_freeing_space_completes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let music = tmp.path().join("music");
    generate(&music, &SampleSpec::with_tracks(8, 6.0, 13)).expect("sample");
    let Some(disk) = SmallDisk::new(&tmp.path().join("disk"), "24m") else {
        return;
    };
    let archive = disk.0.join("archive");
    ok(&archive, &["init"]);
    // Room for the catalogue but not for the blobs.
    let filler = disk.fill("filler", 1 << 20);
    // A full disk is a failure of the command.
    let m = music.to_str().expect("utf-8");
    let out = fails_in(&archive, &["ingest", m], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no space left on device"), "{err}");
    let db = crate::support::db_read_only(&archive).expect("db");
    let changed: i64 = db
        .query_row(
            "SELECT count(*) FROM files WHERE reason LIKE '%changed while%'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(changed, 0, "no file blamed for the disk");
    drop(db);

    // Completely full: SQLite's own error, named as a full disk.
    let more = disk.fill("more", 0);
    let out = fails_in(&archive, &["ingest", m], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no space left on device"), "{err}");

    // Space freed: the rerun ends as one clean run would.
    std::fs::remove_file(&filler).expect("free");
    std::fs::remove_file(&more).expect("free");
    ok(&archive, &["ingest", m]);
    let clean = tmp.path().join("clean");
    ok(&clean, &["init"]);
    ok(&clean, &["ingest", music.to_str().expect("utf-8")]);
    assert_eq!(
        crate::support::catalogue_rows(&archive),
        crate::support::catalogue_rows(&clean)
    );
    crate::support::check_blobs(&archive);
}

/// A published list on a disk that fills: `list export` fails, saying
/// so, and the published pair still verifies.
#[test]
fn list_export_on_a_full_disk_keeps_the_published_pair() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, _) = published(&tmp.path().join("a"), 14);
    let Some(disk) = SmallDisk::new(&tmp.path().join("disk"), "4m") else {
        return;
    };
    let list = disk.0.join("torrents.json");
    let l = list.to_str().expect("utf-8");
    run(&archive, &["list", "export", "--out", l]);
    let key = with_suffix(&list, ".pub");
    let k = key.to_str().expect("utf-8");
    // A new scrape time changes the list; the disk has no room for it.
    let _filler = disk.fill("filler", 0);
    let out = fails_in(
        &archive,
        &["list", "export", "--out", l],
        &[("SOURCE_DATE_EPOCH", "1790000999")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no space left on device"), "{err}");
    ok(&archive, &["list", "verify", l, "--pubkey", k]);
}

/// A WAV header: PCM, `channels`, `rate`, 16 bits, then `frames` of
/// silence.
fn wav(rate: u32, channels: u16, frames: u32) -> Vec<u8> {
    let data = frames * u32::from(channels) * 2;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&channels.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate.wrapping_mul(u32::from(channels) * 2)).to_le_bytes());
    w.extend_from_slice(&(channels * 2).to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data.to_le_bytes());
    w.resize(w.len() + data as usize, 0);
    w
}

/// Regression: a WAV stating an absurd sample rate made the resampler
/// build a filter bank proportional to it (past 1.4 GB, and recorded as
/// good audio); a zero rate printed a panic backtrace.
#[test]
fn hostile_audio_headers_are_refused_before_they_cost_anything() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("hostile");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("huge-rate.wav"), wav(4_000_000_000, 2, 4096)).expect("write");
    std::fs::write(dir.join("zero-rate.wav"), wav(0, 2, 4096)).expect("write");
    std::fs::write(dir.join("tiny-rate.wav"), wav(3, 1, 64)).expect("write");
    std::fs::write(dir.join("fine.wav"), wav(44_100, 2, 44_100)).expect("write");
    let archive = tmp.path().join("archive");
    ok(&archive, &["init"]);
    let started = Instant::now();
    let out = bin()
        .arg("--archive")
        .arg(&archive)
        .args(["ingest", "--json"])
        .arg(&dir)
        .output()
        .expect("ingest");
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(summary["ok"], 1, "only the real one is audio: {summary:#}");
    let report = crate::support::json(&archive, &["report", "damaged"]);
    let damaged = report["damaged"].as_array().expect("damaged");
    for name in ["huge-rate.wav", "zero-rate.wav", "tiny-rate.wav"] {
        let e = damaged
            .iter()
            .find(|e| e["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} not reported: {report:#}"));
        let why = e["reason"].as_str().unwrap_or("");
        if name != "zero-rate.wav" {
            assert!(why.contains("sample rate"), "{name}: {why}");
        }
    }
}

/// fsck finds every kind of damage, repairs what has a good copy
/// (quarantining the bad bytes, logging each repair), reports what has
/// none, and checks the oldest first in slices.
#[test]
fn fsck_finds_damage_repairs_from_good_copies_and_walks_oldest_first() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, list) = published(tmp.path(), 21);
    let clean = crate::support::json(&archive, &["fsck"]);
    assert!(clean["complete"].as_bool().expect("complete"), "{clean:#}");
    assert!(
        clean["problems"].as_array().is_some_and(Vec::is_empty),
        "{clean:#}"
    );
    for kind in ["blob", "pack", "torrent", "database", "search"] {
        assert!(
            clean["checked"][kind].as_u64().unwrap_or(0) > 0,
            "{kind}: {clean:#}"
        );
    }
    let status = crate::support::json(&archive, &["status"]);
    assert_eq!(status["fixity"]["damaged"], 0);
    assert_eq!(status["fixity"]["never_checked"], 0);

    // Damage of every kind.
    let (blob, id, _) = an_original_copy(&archive);
    rot(&blob); // the blob, and so the pack file linked to it
    let torrent = damage_a_torrent(&archive);
    std::fs::remove_dir_all(archive.join("search")).expect("lose the index");
    // An Opus copy has no other copy on this machine.
    let opus: String = {
        let db = crate::support::db(&archive).expect("db");
        db.query_row(
            "SELECT output_id FROM preserved WHERE tier = 'opus' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("an opus copy")
    };
    let opus_blob = archive
        .join("blobs")
        .join(&opus[0..2])
        .join(&opus[2..4])
        .join(&opus);
    rot(&opus_blob);

    // Damage found: exit 1.
    let out = fails_in(&archive, &["fsck", "--json"], &[]);
    let found: Value = serde_json::from_slice(&out.stdout).expect("json");
    let problems = found["problems"].as_array().expect("problems");
    let has = |kind: &str, key: &str| {
        problems
            .iter()
            .any(|p| p["kind"] == kind && p["key"].as_str().is_some_and(|k| k.contains(key)))
    };
    let torrent_name = torrent
        .file_stem()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_string();
    assert!(has("blob", &id), "{found:#}");
    assert!(has("blob", &opus), "{found:#}");
    assert!(has("torrent", &torrent_name), "{found:#}");
    assert!(has("search", "search"), "{found:#}");
    assert!(problems.iter().any(|p| p["kind"] == "pack"), "{found:#}");

    // Repair: all but the Opus copy have a good copy.
    // The Opus copy remains: exit 1.
    let out = fails_in(&archive, &["fsck", "--repair", "--json"], &[]);
    let repaired: Value = serde_json::from_slice(&out.stdout).expect("json");
    let left: Vec<&Value> = repaired["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter(|p| p["repaired_from"].is_null())
        .collect();
    // The Opus copy, and the pack that holds it.
    assert_eq!(left.len(), 2, "{repaired:#}");
    assert!(
        left.iter()
            .any(|p| p["kind"] == "blob" && p["key"] == opus.as_str())
    );
    assert!(left.iter().any(|p| p["kind"] == "pack"));
    for p in &left {
        assert!(
            p["unrepaired"]
                .as_str()
                .is_some_and(|w| w.contains("no good copy")),
            "{p}"
        );
    }
    assert_eq!(
        blake3::hash(&std::fs::read(&blob).expect("blob"))
            .to_hex()
            .as_str(),
        id
    );
    let key = with_suffix(&list, ".pub");
    ok(
        &archive,
        &["list", "export", "--out", list.to_str().expect("utf-8")],
    );
    ok(
        &archive,
        &[
            "list",
            "verify",
            list.to_str().expect("utf-8"),
            "--pubkey",
            key.to_str().expect("utf-8"),
        ],
    );
    // Every pack verifies again (our own checker), but the one holding
    // the Opus copy that has no good copy.
    let still_bad: Vec<String> = left
        .iter()
        .filter(|p| p["kind"] == "pack")
        .filter_map(|p| p["key"].as_str().map(str::to_string))
        .collect();
    for t in crate::support::files_with(&archive.join("torrents"), &["torrent"]) {
        if t.file_stem()
            .and_then(|n| n.to_str())
            .is_some_and(|n| still_bad.iter().any(|b| b == n))
        {
            continue;
        }
        let v = crate::support::json(
            &archive,
            &[
                "torrent",
                "verify",
                t.to_str().expect("utf-8"),
                archive.join("packs").to_str().expect("utf-8"),
            ],
        );
        assert_eq!(v["ok"], true, "{}: {v:#}", t.display());
    }
    let log = crate::support::json(&archive, &["fsck", "--log"]);
    let log = log.as_array().expect("log");
    assert!(log.len() >= 3, "{log:#?}");
    assert!(
        log.iter()
            .any(|e| e["kind"] == "blob" && e["quarantined"].is_string())
    );
    let db = crate::support::db(&archive).expect("db");
    assert!(
        db.execute("DELETE FROM repair_log", []).is_err(),
        "the repair log is append-only"
    );

    // Slices walk the oldest first: two slices of 3 check 6 different
    // objects, the 6 oldest of before.
    let order = |db: &musicark_store::Db| -> Vec<(String, String)> {
        let mut s = db
            .prepare(
                "SELECT kind, key FROM fsck_checks ORDER BY checked_at, \
                 CASE kind WHEN 'database' THEN 0 WHEN 'torrent' THEN 1 WHEN 'blob' THEN 2 \
                           WHEN 'pack' THEN 3 ELSE 4 END, key",
            )
            .expect("prepare");
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let before = order(&db);
    let _ = bin()
        .arg("--archive")
        .arg(&archive)
        .args(["fsck", "--max-objects", "3"])
        .output();
    let _ = bin()
        .arg("--archive")
        .arg(&archive)
        .args(["fsck", "--max-objects", "3"])
        .output();
    let after = order(&db);
    let newest: std::collections::HashSet<_> = after[after.len() - 6..].iter().cloned().collect();
    let oldest: std::collections::HashSet<_> = before[..6].iter().cloned().collect();
    assert_eq!(newest, oldest);
}

/// A mirror whose disk cannot hold its plan says so before it fetches
/// anything, naming the folder.
#[test]
fn a_mirror_on_a_full_disk_says_so_before_fetching() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, list) = published(&tmp.path().join("a"), 17);
    let Some(disk) = SmallDisk::new(&tmp.path().join("disk"), "4m") else {
        return;
    };
    let _filler = disk.fill("filler", 64 << 10);
    let m = disk.0.join("mirror");
    let key = with_suffix(&list, ".pub");
    let err = fails(&mirror_args(
        list.to_str().expect("utf-8"),
        m.to_str().expect("utf-8"),
        &["--pubkey", key.to_str().expect("utf-8")],
    ));
    assert!(err.contains("no space left on device"), "{err}");
    assert!(err.contains("mirror/data"), "{err}");
}
