//! Blobs in S3-compatible object storage (a real Garage server, started
//! by `.ci/run`): an archive whose blobs live in a bucket publishes what a
//! disk archive publishes, byte for byte; its objects are whole and named
//! by their bytes; damage in the bucket is found and repaired; and a
//! killed upload leaves no object that a row names.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use musicark_sample::{SampleSpec, generate, write_open_data};
use serde_json::Value;

use crate::publish::run_json;
use crate::support::{S3, bin, catalogue_rows, files_with_any, import_open_data, ingest, json, ok};

/// Every `stored` content and every preserved copy: the blobs a row names.
fn named_blobs(archive: &Path) -> Vec<String> {
    let home = musicark_store::Home::open(archive).expect("home");
    let db = home.db().expect("db");
    let mut ids: Vec<String> = db
        .prepare(
            "SELECT content_id FROM contents WHERE stored = 1 \
             UNION SELECT output_id FROM preserved WHERE tier = 'opus' ORDER BY 1",
        )
        .expect("sql")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    ids.sort();
    ids
}

/// Every blob object is named by the BLAKE3 of its bytes, and every blob
/// a row names is there; the objects, by name.
fn check_bucket(s3: &S3, prefix: &str, archive: &Path) -> BTreeMap<String, Vec<u8>> {
    let objects = s3.objects(prefix, "blobs");
    for (name, bytes) in &objects {
        assert_eq!(
            blake3::hash(bytes).to_hex().as_str(),
            name,
            "object {name} lies about its name"
        );
    }
    for id in named_blobs(archive) {
        assert!(
            objects.contains_key(&id),
            "a row names blob {id}, which the bucket does not hold"
        );
    }
    objects
}

#[test]
fn an_archive_with_its_blobs_in_a_bucket_publishes_what_a_disk_archive_publishes() {
    let Some(s3) = crate::support::s3() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(5, 6.0, 42);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");

    // The same inputs, one archive on disk, one with its blobs in the
    // bucket (same archive name: it prefixes the packs' names).
    let disk = tmp.path().join("a").join("archive");
    let bucket = tmp.path().join("b").join("archive");
    let prefix = s3.prefix("archive");
    let on_disk = crate::publish::build(&disk, &music, &open, &[]);
    s3.init(&bucket, &prefix);
    ingest(&bucket, &[&music], &[]);
    import_open_data(&bucket, &open.0, &open.1);
    ok(&bucket, &["match"]);
    ok(&bucket, &["preserve"]);
    let in_bucket = run_json(&bucket, &["pack"]);
    let strip = |v: &Value| {
        let mut v = v["packs"].clone();
        for p in v.as_array_mut().expect("packs") {
            p["torrent"] = Value::Null;
        }
        v
    };
    assert_eq!(strip(&on_disk), strip(&in_bucket));

    // Nothing of the blobs on this machine: the bucket holds them all,
    // each named by its bytes, and the encoder's local copies are gone.
    assert_eq!(catalogue_rows(&disk), catalogue_rows(&bucket));
    assert!(!bucket.join("blobs").exists(), "no blobs/ folder here");
    assert!(files_with_any(&bucket.join("cache")).is_empty());
    let objects = check_bucket(&s3, &prefix, &bucket);
    assert_eq!(
        objects.keys().cloned().collect::<Vec<_>>(),
        named_blobs(&bucket)
    );
    let disk_blobs: Vec<String> = files_with_any(&disk.join("blobs"))
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(objects.keys().cloned().collect::<Vec<_>>(), disk_blobs);

    // The same .torrent files, manifests and signed list, byte for byte.
    crate::publish::assert_same_published(&disk, &bucket);

    // The packs were hashed from the bucket and laid out in it: each
    // file of the disk archive's packs is an object at the same path, and
    // this machine keeps only the manifests (and the metadata release,
    // which is made here).
    let disk_packs = disk.join("packs");
    let laid_out = s3.objects(&prefix, "packs");
    let mut audio_files = 0;
    for p in on_disk["packs"].as_array().expect("packs") {
        let name = p["name"].as_str().expect("name");
        for f in files_with_any(&disk_packs.join(name)) {
            let rel = f
                .strip_prefix(&disk_packs)
                .expect("below")
                .to_string_lossy()
                .into_owned();
            let object = s3.object(&format!("{prefix}/packs/{rel}"));
            assert!(
                object.as_deref() == Some(&std::fs::read(&f).expect("read")[..]),
                "{rel}: not laid out in the bucket as the disk archive packed it"
            );
            if p["band"] != "metadata" && !rel.ends_with("manifest.jsonl") {
                audio_files += 1;
                assert!(
                    !bucket.join("packs").join(&rel).exists(),
                    "{rel} kept here too"
                );
            }
        }
    }
    assert!(audio_files > 0 && !laid_out.is_empty());

    // fsck reads every blob back from the bucket: all whole.
    let report = json(&bucket, &["fsck"]);
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    assert!(
        report["checked"]["blob"].as_u64().unwrap_or(0) >= objects.len() as u64,
        "{report:#}"
    );

    // One byte of a stored original changes in the bucket: fsck finds it,
    // and --repair puts it back from the ingested file, keeping the bad
    // bytes in the bucket's quarantine.
    let home = musicark_store::Home::open(&bucket).expect("home");
    let original: String = home
        .db()
        .expect("db")
        .query_row(
            "SELECT content_id FROM contents WHERE stored = 1 AND verdict = 'audio' ORDER BY content_id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("an original");
    let mut rotten = objects[&original].clone();
    let mid = rotten.len() / 2;
    rotten[mid] ^= 0x20;
    let key = format!(
        "{prefix}/blobs/{}/{}/{original}",
        &original[0..2],
        &original[2..4]
    );
    s3.put(&key, rotten.clone());
    let out = bin()
        .arg("--archive")
        .arg(&bucket)
        .args(["fsck", "--json"])
        .output()
        .expect("fsck");
    assert!(
        !out.status.success(),
        "damage found, none repaired: a failure"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let damaged = report["problems"].as_array().expect("problems");
    assert!(
        damaged.iter().any(|d| d["key"] == original.as_str()
            && d["problem"].as_str().is_some_and(|p| p.contains("hash to"))),
        "{report:#}"
    );
    let repaired = json(&bucket, &["fsck", "--repair"]);
    let fixed = repaired["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .find(|p| p["key"] == original.as_str())
        .unwrap_or_else(|| panic!("{repaired:#}"));
    assert!(fixed["repaired_from"].is_string(), "{repaired:#}");
    let after = check_bucket(&s3, &prefix, &bucket);
    assert_eq!(after[&original], objects[&original]);
    let quarantine = s3.objects(&prefix, "quarantine");
    assert!(
        quarantine
            .iter()
            .any(|(name, bytes)| name.starts_with(&original) && *bytes == rotten),
        "the rotten bytes are kept in the quarantine: {:?}",
        quarantine.keys().collect::<Vec<_>>()
    );
}

/// A generated collection and its open data under `root`, ingested,
/// matched and preserved into a new archive whose blobs are in the
/// bucket; the archive and its prefix.
fn preserved_in_bucket(s3: &S3, root: &Path, spec: SampleSpec) -> (std::path::PathBuf, String) {
    let music = root.join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&root.join("open"), &spec).expect("open data");
    let archive = root.join("archive");
    let prefix = s3.prefix(&format!("preserved-{}", spec.seed));
    s3.init(&archive, &prefix);
    ingest(&archive, &[&music], &[]);
    import_open_data(&archive, &open.0, &open.1);
    ok(&archive, &["match"]);
    ok(&archive, &["preserve"]);
    (archive, prefix)
}

/// A WAV of `seconds` of noise (16-bit stereo, 44.1 kHz), large enough to
/// go up in several parts.
fn noise_wav(path: &Path, seconds: u32, seed: u32) {
    let frames = 44_100 * seconds;
    let data = frames * 4;
    let mut out = Vec::with_capacity(44 + data as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&44_100u32.to_le_bytes());
    out.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    for _ in 0..frames * 2 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(&((x >> 20) as i16 - 2048).to_le_bytes());
    }
    std::fs::write(path, out).expect("write wav");
}

#[test]
fn kill_9_during_uploads_leaves_no_object_a_row_names_and_a_rerun_equals_a_clean_run() {
    let Some(s3) = crate::support::s3() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let coll = tmp.path().join("collection");
    crate::support::sample(&coll, 6, 6.0);
    // Three files of ~42 MB: multipart uploads of three parts each.
    for i in 0..3 {
        noise_wav(&coll.join(format!("long-{i}.wav")), 240, i + 1);
    }

    let clean = tmp.path().join("clean");
    let clean_prefix = s3.prefix("clean");
    s3.init(&clean, &clean_prefix);
    let started = Instant::now();
    ingest(&clean, &[&coll], &["--jobs", "2"]);
    let clean_time = started.elapsed();
    let expected_rows = catalogue_rows(&clean);
    let expected_objects = check_bucket(&s3, &clean_prefix, &clean);

    let crashed = tmp.path().join("crashed");
    let prefix = s3.prefix("crashed");
    s3.init(&crashed, &prefix);
    let mut interrupted = 0;
    let coll_arg = coll.to_str().expect("utf-8");
    for fraction in [0.1, 0.3, 0.5, 0.7, 0.9] {
        let delay = clean_time.mul_f64(fraction).max(Duration::from_millis(20));
        let args = ["ingest", "--jobs", "2", "--quiet", "--json", coll_arg];
        interrupted += usize::from(crate::support::kill_9_after(&crashed, &args, delay));
        // Whatever the kill interrupted, every blob a row names is in
        // the bucket whole, and no object lies about its name.
        check_bucket(&s3, &prefix, &crashed);
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} of the kills hit a running ingest"
    );
    ingest(&crashed, &[&coll], &["--jobs", "2"]);
    assert_eq!(catalogue_rows(&crashed), expected_rows);
    let objects = check_bucket(&s3, &prefix, &crashed);
    assert_eq!(
        objects.keys().collect::<Vec<_>>(),
        expected_objects.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_pack_streamed_from_the_bucket_downloads_from_the_web_seed_alone() {
    let Some(s3) = crate::support::s3() else {
        return;
    };
    let Some(aria2) = crate::support::peer("aria2c") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, prefix) =
        preserved_in_bucket(&s3, tmp.path(), SampleSpec::with_tracks(3, 4.0, 21));
    let (_server, url) = crate::support::serve(&archive, &[]);
    crate::support::publish_setting(&archive, &format!("webseeds = [\"{url}packs/\"]"));
    let packed = run_json(&archive, &["pack"]);
    let audio: Vec<&Value> = packed["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .filter(|p| p["band"] != "metadata")
        .collect();
    assert!(!audio.is_empty(), "{packed:#}");
    for (i, p) in audio.iter().enumerate() {
        let name = p["name"].as_str().expect("name");
        let torrent = archive.join("torrents").join(format!("{name}.torrent"));
        // The server answers from the bucket: nothing of the audio is here.
        let dir = tmp.path().join(format!("aria2-{i}"));
        let out = crate::support::aria2c(&aria2, &torrent, &dir, None);
        assert!(
            out.status.success(),
            "aria2c: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let got = files_with_any(&dir.join(name));
        assert!(got.len() >= 2, "{got:?}");
        for f in got {
            let rel = f
                .strip_prefix(&dir)
                .expect("below")
                .to_string_lossy()
                .into_owned();
            assert_eq!(
                s3.object(&format!("{prefix}/packs/{rel}")).as_deref(),
                Some(&std::fs::read(&f).expect("read")[..]),
                "{rel}"
            );
        }
    }
    // A licence-filtered export reads its blobs from the bucket: the
    // same files, whole, as a web seed serves.
    let dataset = tmp.path().join("dataset");
    let exported = json(
        &archive,
        &[
            "export",
            "--license",
            "cc-by-sa-4.0",
            "--out",
            dataset.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(exported["failed"], serde_json::json!([]), "{exported:#}");
    let metadata = std::fs::read_to_string(dataset.join("metadata.jsonl")).expect("metadata");
    assert!(exported["items"].as_u64().unwrap_or(0) > 0, "{exported:#}");
    for line in metadata.lines() {
        let v: Value = serde_json::from_str(line).expect("line");
        let bytes = std::fs::read(dataset.join(v["path"].as_str().expect("path"))).expect("file");
        assert_eq!(
            blake3::hash(&bytes).to_hex().as_str(),
            v["blake3"].as_str().expect("b3")
        );
    }
    assert!(
        files_with_any(&archive.join("cache")).is_empty(),
        "local copies given back"
    );

    // A range of an audio file, as a web seed client asks for a piece.
    let name = audio[0]["name"].as_str().expect("name");
    let manifest = std::fs::read_to_string(archive.join("packs").join(name).join("manifest.jsonl"))
        .expect("manifest");
    let first: Value =
        serde_json::from_str(manifest.lines().next().expect("a line")).expect("json");
    let path = first["path"].as_str().expect("path");
    let whole = s3
        .object(&format!("{prefix}/packs/{name}/{path}"))
        .expect("object");
    let encoded: String = path
        .split('/')
        .map(|c| musicark_torrent::url_encode(c.as_bytes()))
        .collect::<Vec<_>>()
        .join("/");
    let host = crate::support::host_port(&url);
    let mut c = std::net::TcpStream::connect(&host).expect("connect");
    use std::io::{Read, Write};
    write!(
        c,
        "GET /packs/{name}/{encoded} HTTP/1.1\r\nHost: {host}\r\nRange: bytes=100-1099\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut all = Vec::new();
    c.read_to_end(&mut all).expect("read");
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(&all[split + 4..], &whole[100..1100]);

    // A takedown makes the pack obsolete, and its files leave the bucket:
    // a web seed pointing at the bucket serves nothing of it any more.
    let victim = first["recording_mbid"].as_str().expect("an MBID");
    assert!(!s3.objects(&prefix, &format!("packs/{name}")).is_empty());
    ok(&archive, &["takedown", victim, "--reason", "test"]);
    assert!(
        s3.objects(&prefix, &format!("packs/{name}")).is_empty(),
        "the withdrawn pack is still laid out in the bucket"
    );
}

#[test]
fn kill_9_during_a_pack_into_the_bucket_leaves_only_recorded_packs_laid_out() {
    let Some(s3) = crate::support::s3() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, prefix) =
        preserved_in_bucket(&s3, tmp.path(), SampleSpec::with_tracks(12, 4.0, 5));
    let laid_out_packs = || -> Vec<String> {
        let mut names: Vec<String> = s3
            .keys(&prefix, "packs")
            .iter()
            .filter_map(|k| k.split('/').next().map(String::from))
            .collect();
        names.dedup();
        names
    };
    let recorded = || -> Vec<String> {
        let home = musicark_store::Home::open(&archive).expect("home");
        let db = home.db().expect("db");
        let mut names: Vec<String> = db
            .prepare("SELECT name FROM packs WHERE obsolete = 0 ORDER BY name")
            .expect("sql")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect();
        names.sort();
        names
    };
    // Small packs, so that a kill lands between them too.
    let mut interrupted = 0;
    for delay_ms in [30, 80, 150, 250, 400] {
        let args = ["pack", "--max-files", "2", "--json"];
        let delay = Duration::from_millis(delay_ms);
        interrupted += usize::from(crate::support::kill_9_after(&archive, &args, delay));
    }
    assert!(interrupted >= 1, "no kill hit a running pack");
    // The rerun clears what the kills left: every pack laid out in the
    // bucket is one the archive recorded, and every recorded pack of
    // audio is laid out whole.
    run_json(&archive, &["pack", "--max-files", "2"]);
    let recorded = recorded();
    let laid_out = laid_out_packs();
    for name in &laid_out {
        assert!(
            recorded.contains(name),
            "{name} is laid out but not recorded"
        );
    }
    let report = json(&archive, &["fsck"]);
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    assert!(!laid_out.is_empty());
}
