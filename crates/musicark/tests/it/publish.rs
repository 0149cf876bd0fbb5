//! Publishing: packs, manifests, the metadata release, the signed list,
//! `where` and the coverage report — against the reference tools
//! (libtorrent, aria2c, minisign, Chromium).

use std::path::{Path, PathBuf};
use std::process::Command;

use musicark_sample::{SampleSpec, generate, write_open_data};
use serde_json::Value;

use crate::support::{bin, files_with_any, init_and_ingest, json, lt_helper, ok, peer};

/// A fixed publish time, as a reproducible build would set it.
const EPOCH: &str = "1790000000";

/// `support::ok` at the fixed publish time.
pub(crate) fn run(archive: &Path, args: &[&str]) -> std::process::Output {
    crate::support::ok_env(archive, args, &[("SOURCE_DATE_EPOCH", EPOCH)])
}

pub(crate) fn run_json(archive: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_slice(&run(archive, &all).stdout).expect("JSON")
}

/// Build a whole archive from `music` and its open data: ingest, catalogue,
/// match, preserve, pack, list.
pub(crate) fn build(
    archive: &Path,
    music: &Path,
    open: &(PathBuf, PathBuf),
    pack_args: &[&str],
) -> Value {
    init_and_ingest(archive, &[music], &[]);
    crate::support::import_open_data(archive, &open.0, &open.1);
    ok(archive, &["match"]);
    ok(archive, &["preserve"]);
    let mut args = vec!["pack"];
    args.extend_from_slice(pack_args);
    run_json(archive, &args)
}

/// Export `archive`'s list to `ARCHIVE/../pub/torrents.json`, then every
/// .torrent, manifest and list file, by path under the archive's parent
/// (signatures and keys left out: each archive signs with its own key).
pub(crate) fn published_files(archive: &Path) -> Vec<(String, Vec<u8>)> {
    let parent = archive.parent().expect("parent");
    export(archive, &parent.join("pub").join("torrents.json"));
    let mut files: Vec<(String, Vec<u8>)> = files_with_any(&archive.join("torrents"))
        .into_iter()
        .chain(files_with_any(&parent.join("pub")))
        .map(|p| {
            let rel = p
                .strip_prefix(parent)
                .expect("under")
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(&p).expect("read"))
        })
        .filter(|(rel, _)| !rel.ends_with(".minisig") && !rel.ends_with(".pub"))
        .collect();
    files.sort();
    files
}

/// Two archives published the same list, torrents and manifests, byte
/// for byte.
pub(crate) fn assert_same_published(a: &Path, b: &Path) {
    let (x, y) = (published_files(a), published_files(b));
    assert_eq!(
        x.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        y.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for ((name, p), (_, q)) in x.iter().zip(&y) {
        assert!(p == q, "{name} differs between the two archives");
    }
}

fn export(archive: &Path, out: &Path) -> Value {
    run_json(
        archive,
        &["list", "export", "--out", out.to_str().expect("utf-8")],
    )
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = files_with_any(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).expect("under dir").to_path_buf())
        .collect();
    v.sort();
    v
}

pub(crate) struct Seeder(pub std::process::Child);

impl Drop for Seeder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn archives_built_apart_publish_the_same_bytes_and_real_clients_use_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(5, 6.0, 42);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");

    // Two archives, built apart from the same inputs (same archive name:
    // it prefixes the packs' names).
    let a = tmp.path().join("a").join("archive");
    let b = tmp.path().join("b").join("archive");
    let pa = build(&a, &music, &open, &[]);
    let pb = build(&b, &music, &open, &[]);
    let strip = |v: &Value| {
        let mut v = v["packs"].clone();
        for p in v.as_array_mut().expect("packs") {
            p["torrent"] = Value::Null; // where on this machine
        }
        v
    };
    assert_eq!(strip(&pa), strip(&pb), "{pa:#}\n{pb:#}");
    let packs = pa["packs"].as_array().expect("packs");
    assert!(
        packs.len() >= 2,
        "audio packs and a metadata release: {pa:#}"
    );
    assert!(packs.iter().any(|p| p["band"] == "metadata"), "{pa:#}");
    let la = tmp.path().join("a").join("pub").join("torrents.json");
    let lb = tmp.path().join("b").join("pub").join("torrents.json");
    export(&a, &la);
    export(&b, &lb);
    // Byte-identical .torrent files and manifests, list and CSV.
    let ta = sorted_files(&a.join("torrents"));
    assert_eq!(ta, sorted_files(&b.join("torrents")));
    for f in &ta {
        assert_eq!(
            std::fs::read(a.join("torrents").join(f)).expect("read"),
            std::fs::read(b.join("torrents").join(f)).expect("read"),
            "{} differs between the two archives",
            f.display()
        );
    }
    for (x, y) in [
        (&la, &lb),
        (&la.with_extension("csv"), &lb.with_extension("csv")),
    ] {
        assert_eq!(
            std::fs::read(x).expect("read"),
            std::fs::read(y).expect("read"),
            "{} differs",
            x.display()
        );
    }
    // The data of every pack is what its manifest says, file by file.
    let list: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&la).expect("list")).expect("json");
    for entry in &list {
        let name = entry["display_name"]
            .as_str()
            .expect("name")
            .trim_end_matches(".torrent");
        let manifest =
            std::fs::read_to_string(a.join("torrents").join(format!("{name}.manifest.jsonl")))
                .expect("manifest");
        assert_eq!(
            entry["manifest_sha256"].as_str(),
            Some(hex_sha256(manifest.as_bytes()).as_str())
        );
        let inside = std::fs::read_to_string(a.join("packs").join(name).join("manifest.jsonl"))
            .expect("manifest inside the pack");
        assert_eq!(inside, manifest);
        for line in manifest.lines() {
            let m: Value = serde_json::from_str(line).expect("manifest line");
            let path = a
                .join("packs")
                .join(name)
                .join(m["path"].as_str().expect("path"));
            let bytes = std::fs::read(&path).expect("packed file");
            assert_eq!(bytes.len() as u64, m["size"].as_u64().expect("size"));
            assert_eq!(
                blake3::hash(&bytes).to_hex().as_str(),
                m["blake3"].as_str().expect("b3")
            );
            assert_eq!(hex_sha256(&bytes), m["sha256"].as_str().expect("sha"));
            if entry["is_metadata"] == false {
                for key in [
                    "recording_id",
                    "recording_mbid",
                    "codec",
                    "bitrate",
                    "duration",
                    "fingerprint",
                    "tier",
                    "source_blake3",
                ] {
                    assert!(!m[key].is_null(), "{key} missing in {line}");
                }
                let p = m["path"].as_str().expect("path");
                assert!(p.contains(" [") && p.contains("]."), "readable name: {p}");
            }
        }
    }
    // `list verify` accepts it; one changed byte is rejected.
    ok(&a, &["list", "verify", la.to_str().expect("utf-8")]);
    if let Some(minisign) = peer("minisign") {
        let out = Command::new(&minisign)
            .args(["-V", "-p"])
            .arg(la.with_extension("json.pub"))
            .arg("-m")
            .arg(&la)
            .output()
            .expect("minisign");
        assert!(
            out.status.success(),
            "minisign -V: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut bytes = std::fs::read(&la).expect("list");
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&la, &bytes).expect("tamper");
    let out = bin()
        .args(["--archive"])
        .arg(&a)
        .args(["list", "verify"])
        .arg(&la)
        .output()
        .expect("verify");
    assert!(!out.status.success(), "a changed byte must be rejected");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("BAD"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // `where` finds a recording by its ISRC: the path and byte range in its pack.
    let isrc = &spec.tracks[0].isrc;
    let found = run_json(&a, &["where", isrc]);
    let first = &found[0];
    let path = a.join("packs").join(first["path"].as_str().expect("path"));
    assert!(path.is_file(), "{found:#}");
    assert_eq!(
        first["byte_end"].as_u64().expect("end") - first["byte_start"].as_u64().expect("start"),
        std::fs::metadata(&path).expect("meta").len()
    );

    // libtorrent loads every pack and finds the archive's data complete.
    let Some((python, helper)) = lt_helper() else {
        return;
    };
    for entry in &list {
        let torrent = la
            .parent()
            .expect("dir")
            .join(entry["url"].as_str().expect("url"));
        let out = Command::new(&python)
            .arg(&helper)
            .arg("check")
            .arg(&torrent)
            .arg(a.join("packs"))
            .output()
            .expect("lt check");
        let check: Value = serde_json::from_slice(&out.stdout).expect("lt JSON");
        assert_eq!(check["progress"], 1.0, "{}: {check}", torrent.display());
    }
    // A v1 pack downloads completely over loopback from a libtorrent
    // seeder into aria2c.
    let Some(aria2c) = peer("aria2c") else {
        return;
    };
    let audio = list
        .iter()
        .find(|e| e["is_metadata"] == false)
        .expect("an audio pack");
    let name = audio["display_name"]
        .as_str()
        .expect("name")
        .trim_end_matches(".torrent");
    let torrent = a.join("torrents").join(format!("{name}.torrent"));
    let ports = tmp.path().join("ports");
    let _seeder = Seeder(
        Command::new(&python)
            .arg(&helper)
            .arg("seed")
            .arg(&torrent)
            .arg(a.join("packs"))
            .arg(&ports)
            .spawn()
            .expect("seeder"),
    );
    let started = std::time::Instant::now();
    while !ports.exists() {
        assert!(started.elapsed().as_secs() < 60, "seeder did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&ports).expect("ports");
    let tracker_port = text.split_whitespace().nth(1).expect("tracker port");
    let dl = tmp.path().join("download");
    let out = crate::support::aria2c(
        &aria2c,
        &torrent,
        &dl,
        Some(&format!("http://127.0.0.1:{tracker_port}/announce")),
    );
    assert!(
        out.status.success(),
        "aria2c: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let got = sorted_files(&dl.join(name));
    assert_eq!(got, sorted_files(&a.join("packs").join(name)));
    for f in &got {
        assert_eq!(
            std::fs::read(dl.join(name).join(f)).expect("downloaded"),
            std::fs::read(a.join("packs").join(name).join(f)).expect("packed"),
            "{}",
            f.display()
        );
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn limits_cut_packs_and_a_takedown_obsoletes_without_rewriting() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(6, 4.0, 7);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let archive = tmp.path().join("archive");
    let first = build(&archive, &music, &open, &["--max-files", "2"]);
    let audio: Vec<&Value> = first["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .filter(|p| p["band"] != "metadata")
        .collect();
    // Two copies per pack at most, plus its manifest.
    assert!(audio.len() >= 3, "{first:#}");
    for p in &audio {
        assert!(p["files"].as_u64().expect("files") <= 3, "{p}");
    }
    // Nothing new: nothing packed again.
    let again = run_json(&archive, &["pack", "--max-files", "2"]);
    assert_eq!(
        again["packs"].as_array().map(Vec::len),
        Some(0),
        "{again:#}"
    );

    // Take one recording down.
    let isrc = &spec.tracks[0].isrc;
    let loc = run_json(&archive, &["where", isrc]);
    let old_torrent = loc[0]["torrent"].as_str().expect("torrent").to_string();
    let old_bytes = std::fs::read(
        archive
            .join("torrents")
            .join(format!("{old_torrent}.torrent")),
    )
    .expect("torrent");
    let recording = loc[0]["recording_id"].as_i64().expect("recording id");
    {
        let home = musicark_store::Home::open(&archive).expect("home");
        let db = home.db().expect("db");
        db
            .execute(
                "INSERT INTO rights (entity, entity_id, takedown, source) VALUES ('recording', ?1, 1, 'test')",
                [recording],
            )
            .expect("takedown");
    }
    let after = run_json(&archive, &["pack", "--max-files", "2"]);
    let obsoleted = after["obsoleted"].as_array().expect("obsoleted");
    assert_eq!(obsoleted.len(), 1, "{after:#}");
    assert_eq!(obsoleted[0][0], old_torrent.as_str());
    // The replaced pack's torrent is untouched; the rest of its copies are
    // in a new pack, the taken-down one nowhere active.
    assert_eq!(
        std::fs::read(
            archive
                .join("torrents")
                .join(format!("{old_torrent}.torrent"))
        )
        .expect("torrent"),
        old_bytes
    );
    let loc = run_json(&archive, &["where", isrc]);
    assert!(
        loc.as_array()
            .expect("array")
            .iter()
            .all(|l| l["obsolete"] == true),
        "{loc:#}"
    );
    let list: Vec<Value> =
        serde_json::from_slice(&run(&archive, &["list", "export"]).stdout).expect("list");
    let old = list
        .iter()
        .find(|e| e["display_name"] == format!("{old_torrent}.torrent").as_str())
        .expect("the old pack is still listed");
    assert_eq!(old["obsolete"], true);
    assert_eq!(
        list.iter()
            .filter(|e| e["is_metadata"] == true && e["obsolete"] == false)
            .count(),
        1,
        "one current metadata release"
    );
}

#[test]
fn coverage_report_renders_in_chromium() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(4, 4.0, 11);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let archive = tmp.path().join("archive");
    build(&archive, &music, &open, &[]);
    let html = tmp.path().join("coverage.html");
    let c = json(
        &archive,
        &[
            "report",
            "coverage",
            "--html",
            html.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(c["recordings"], c["recordings_preserved"], "{c:#}");
    assert_eq!(c["share_listens_preserved"], 1.0, "{c:#}");
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(
        page.contains("<svg") && page.contains("The long tail"),
        "charts in the page"
    );
    let Some(chromium) = peer("chromium") else {
        return;
    };
    let artefacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artefacts");
    std::fs::create_dir_all(&artefacts).expect("artefacts dir");
    let shot = artefacts.join("coverage.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=900,2200",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a real picture: {} bytes",
        png.len()
    );
    eprintln!("coverage screenshot: {}", shot.display());
}

/// The published state of an archive: pack rows and torrent bytes.
fn published(archive: &Path) -> (Vec<String>, Vec<(PathBuf, Vec<u8>)>) {
    let home = musicark_store::Home::open(archive).expect("home");
    let db = home.db().expect("db");
    let rows = db
        .prepare(
            "SELECT pack_id || '|' || name || '|' || coalesce(btih, '') || '|' || obsolete || '|' || num_files \
             FROM packs ORDER BY pack_id",
        )
        .expect("sql")
        .query_map([], |r| r.get::<_, String>(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    let files = sorted_files(&archive.join("torrents"))
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(archive.join("torrents").join(&f)).expect("read");
            (f, bytes)
        })
        .collect();
    (rows, files)
}

#[test]
fn kill_9_during_pack_then_rerun_equals_a_clean_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(8, 4.0, 5);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let prepare = |name: &str| {
        let archive = tmp.path().join(name).join("archive");
        init_and_ingest(&archive, &[&music], &[]);
        crate::support::import_open_data(&archive, &open.0, &open.1);
        ok(&archive, &["match"]);
        ok(&archive, &["preserve"]);
        archive
    };
    let clean = prepare("clean");
    let started = std::time::Instant::now();
    run(&clean, &["pack", "--max-files", "1"]);
    let clean_time = started.elapsed();
    let expected = published(&clean);
    assert!(expected.0.len() >= 8, "{:?}", expected.0);

    let crashed = prepare("crashed");
    let mut interrupted = 0;
    for step in 1..=12 {
        let mut child = bin()
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .arg("--archive")
            .arg(&crashed)
            .args(["pack", "--max-files", "1", "--quiet"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(clean_time.mul_f64(step as f64 / 16.0));
        if child.try_wait().expect("try_wait").is_none() {
            interrupted += 1;
        }
        child.kill().expect("kill -9");
        child.wait().expect("wait");
    }
    assert!(interrupted >= 1, "no kill hit a running pack");
    run(&crashed, &["pack", "--max-files", "1"]);
    let got = published(&crashed);
    assert_eq!(got.0, expected.0, "same packs");
    assert_eq!(
        got.1, expected.1,
        "same torrents and manifests, bit for bit"
    );
    let leftovers: Vec<_> = std::fs::read_dir(crashed.join("packs"))
        .expect("packs dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Regression: `pack` and `list export` with no `[publish] trackers`
/// (the default) published torrents only DHT could find, and said
/// nothing.
#[test]
fn packs_without_a_tracker_or_web_seed_are_warned_about() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(3, 2.0, 5);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let archive = tmp.path().join("archive");
    let summary = build(&archive, &music, &open, &[]);
    let warnings = summary["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("no tracker"))),
        "{summary:#}"
    );
    let list = tmp.path().join("pub/torrents.json");
    let out = run(
        &archive,
        &["list", "export", "--out", list.to_str().expect("utf-8")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("[publish] trackers"),
        "{err}"
    );
    // With a tracker, no warning.
    let config = archive.join("musicark.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replacen(
        "[publish]",
        "[publish]\ntrackers = [\"udp://127.0.0.1:6969/announce\"]",
        1,
    );
    std::fs::write(&config, text).expect("config");
    let out = run(
        &archive,
        &["list", "export", "--out", list.to_str().expect("utf-8")],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning:"));
}
