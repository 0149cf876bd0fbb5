//! The work queue on PostgreSQL: `preserve --queue` hands the re-encodes
//! to `musicark worker` processes; what they record equals what one
//! `preserve` records, and a worker killed mid-job loses nothing: its
//! lease runs out, another worker finishes the job, each job is done.

use std::path::Path;
use std::time::{Duration, Instant};

use musicark_sample::{SampleSpec, generate, write_open_data};
use serde_json::Value;

use crate::support::{bin, fresh_database, import_open_data, ingest, init_on, json, ok};

/// An archive on a fresh PostgreSQL database, ingested and matched.
fn matched(
    root: &Path,
    name: &str,
    music: &Path,
    open: &(std::path::PathBuf, std::path::PathBuf),
) -> std::path::PathBuf {
    let archive = root.join(name);
    init_on(&archive, Some(&fresh_database()));
    ingest(&archive, &[music], &[]);
    import_open_data(&archive, &open.0, &open.1);
    ok(&archive, &["match"]);
    archive
}

/// What preserve recorded: (source, tier, kbps, output, bytes), sorted.
fn preserved(archive: &Path) -> Vec<String> {
    let home = musicark_store::Home::open(archive).expect("home");
    let db = home.db().expect("db");
    db.prepare(
        "SELECT source_id || '|' || tier || '|' || coalesce(kbps, 0) || '|' || output_id || '|' || bytes \
         FROM preserved ORDER BY source_id",
    )
    .expect("sql")
    .query_map([], |r| r.get::<_, String>(0))
    .expect("rows")
    .map(|r| r.expect("row"))
    .collect()
}

/// Each job's (key, state, attempts).
fn jobs(archive: &Path) -> Vec<(String, String, i64)> {
    let home = musicark_store::Home::open(archive).expect("home");
    let db = home.db().expect("db");
    db.prepare("SELECT key, state, attempts FROM jobs ORDER BY key")
        .expect("sql")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

/// The policy set to re-encode everything, so that there is work to hand
/// out.
fn reencode_everything(archive: &Path) {
    let config = archive.join("musicark.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("keep_lossy_up_to_kbps = 160"), "{text}");
    std::fs::write(
        &config,
        text.replace("keep_lossy_up_to_kbps = 160", "keep_lossy_up_to_kbps = 0"),
    )
    .expect("config");
}

fn worker(archive: &Path, extra: &[&str]) -> std::process::Child {
    bin()
        .arg("--archive")
        .arg(archive)
        .args(["worker", "--once", "--json"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn worker")
}

#[test]
fn workers_preserve_what_one_preserve_does_and_a_killed_worker_loses_nothing() {
    if !crate::support::postgres_server() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // Longer tracks: a re-encode lasts long enough to be killed in.
    let spec = SampleSpec::with_tracks(6, 30.0, 9);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let policy = reencode_everything;

    let clean = matched(tmp.path(), "clean", &music, &open);
    policy(&clean);
    ok(&clean, &["preserve"]);
    let expected = preserved(&clean);
    assert!(
        expected.iter().any(|r| r.contains("|opus|")),
        "{expected:?}"
    );

    // Two workers beside each other.
    let two = matched(tmp.path(), "two", &music, &open);
    policy(&two);
    let queued = json(&two, &["preserve", "--queue", "--detach"]);
    assert!(queued["queued"].as_u64().unwrap_or(0) >= 2, "{queued:#}");
    let (a, b) = (worker(&two, &[]), worker(&two, &[]));
    let mut done = 0;
    for w in [a, b] {
        let out = w.wait_with_output().expect("worker");
        assert!(out.status.success());
        let s: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(s["failed"], serde_json::json!([]), "{s:#}");
        done += s["done"].as_u64().expect("done");
    }
    assert_eq!(
        done,
        queued["queued"].as_u64().expect("queued"),
        "each job done once"
    );
    assert_eq!(preserved(&two), expected);
    assert!(
        jobs(&two)
            .iter()
            .all(|(_, state, attempts)| state == "done" && *attempts == 1)
    );
    // The queue is empty of work: preserve --queue again queues nothing.
    let again = json(&two, &["preserve", "--queue"]);
    assert_eq!(again["queued"], 0, "{again:#}");

    // A worker killed with a job in hand: its lease runs out, the next
    // worker takes the job over and finishes it.
    let killed = matched(tmp.path(), "killed", &music, &open);
    policy(&killed);
    json(&killed, &["preserve", "--queue", "--detach"]);
    let mut victim = worker(&killed, &["--lease", "2s", "--name", "victim"]);
    let started = Instant::now();
    while !jobs(&killed).iter().any(|(_, state, _)| state == "running") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no job ever ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    victim.kill().expect("kill -9");
    victim.wait().expect("wait");
    let out = worker(&killed, &["--lease", "2s", "--name", "heir"])
        .wait_with_output()
        .expect("worker");
    assert!(out.status.success());
    let all = jobs(&killed);
    assert!(all.iter().all(|(_, state, _)| state == "done"), "{all:?}");
    assert!(
        all.iter().any(|(_, _, attempts)| *attempts == 2),
        "the killed worker's job was taken over: {all:?}"
    );
    assert_eq!(preserved(&killed), expected);
    // status shows the queue.
    let status = json(&killed, &["status"]);
    assert_eq!(status["queue"]["done"], all.len(), "{status:#}");
}

#[test]
fn a_worker_with_only_a_copy_of_the_config_works_from_the_database_and_the_bucket() {
    if !crate::support::postgres_server() {
        return;
    }
    let Some(s3) = crate::support::s3() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(4, 10.0, 13);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    // The archive host: PostgreSQL and a bucket.
    let archive = tmp.path().join("host");
    s3.init_on_postgres(&archive, &s3.prefix("queue"));
    ingest(&archive, &[&music], &[]);
    import_open_data(&archive, &open.0, &open.1);
    ok(&archive, &["match"]);
    reencode_everything(&archive);
    let config = archive.join("musicark.toml");
    let queued = json(&archive, &["preserve", "--queue", "--detach"]);
    let n = queued["queued"].as_u64().expect("queued");
    assert!(n >= 2, "{queued:#}");
    // Another machine: a directory with nothing but the config.
    let elsewhere = tmp.path().join("worker-host");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::copy(&config, elsewhere.join("musicark.toml")).expect("copy config");
    let out = worker(&elsewhere, &[]).wait_with_output().expect("worker");
    assert!(out.status.success());
    let s: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(s["done"], n, "{s:#}");
    // The archive host sees every copy, in the bucket, and packs them.
    let home = musicark_store::Home::open(&archive).expect("home");
    let db = home.db().expect("db");
    let copies: Vec<String> = db
        .prepare("SELECT output_id FROM preserved WHERE tier = 'opus' ORDER BY 1")
        .expect("sql")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(copies.len() as u64, n);
    let blobs = home.blobs().expect("blobs");
    for id in &copies {
        let id = musicark_store::ContentId::parse(id).expect("id");
        assert!(
            musicark_store::blob_is_intact(&*blobs, &id).expect("read"),
            "{id}"
        );
    }
    assert!(
        !elsewhere.join("blobs").exists(),
        "the worker kept no blobs"
    );
    ok(&archive, &["pack"]);
}

#[test]
fn a_queued_file_no_worker_can_reach_is_its_error_row_and_the_run_goes_on() {
    if !crate::support::postgres_server() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(4, 4.0, 21);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let alone = tmp.path().join("alone");
    init_on(&alone, Some(&fresh_database()));
    ingest(&alone, &[&music], &[]);
    let expected = crate::support::catalogue_rows(&alone);

    let archive = tmp.path().join("queued");
    init_on(&archive, Some(&fresh_database()));
    let music_arg = music.to_str().expect("utf-8");
    let walked = json(&archive, &["ingest", "--queue", "--detach", music_arg]);
    let seen = walked["seen"].as_u64().expect("seen");
    // One file goes out of reach after the walk queued it (a share
    // unmounted, a file moved away) …
    let mut files = crate::support::files_with(&music, &["flac", "ogg", "mp3", "wav"]);
    files.sort();
    let gone = files.first().expect("a track").clone();
    let kept = tmp.path().join("kept");
    std::fs::rename(&gone, &kept).expect("move away");
    let out = worker(&archive, &[]).wait_with_output().expect("worker");
    assert!(out.status.success());
    let s: Value = serde_json::from_slice(&out.stdout).expect("json");
    // … the worker records that file's error, and does every other job.
    assert_eq!(s["done"].as_u64(), Some(seen), "{s:#}");
    assert_eq!(s["failed"], serde_json::json!([]), "{s:#}");
    let (status, reason, ..) = crate::support::file_row(&archive, &gone).expect("its row");
    assert_eq!(status, "error");
    assert!(
        reason.as_deref().unwrap_or("").contains("cannot read"),
        "{reason:?}"
    );
    let damaged = json(&archive, &["report", "damaged"]);
    assert!(
        damaged.to_string().contains(gone.to_str().expect("utf-8")),
        "{damaged:#}"
    );

    // Back in reach, the next queued ingest (waiting for its worker this
    // time) records it, and the archive is the one a lone ingest makes.
    std::fs::rename(&kept, &gone).expect("move back");
    let w = bin()
        .arg("--archive")
        .arg(&archive)
        .args(["worker", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("worker");
    let again = json(&archive, &["ingest", "--queue", music_arg]);
    let mut w = w;
    w.kill().expect("stop the worker");
    w.wait().expect("wait");
    assert_eq!(again["processed"].as_u64(), Some(1), "{again:#}");
    assert_eq!(again["errors"].as_u64(), Some(0), "{again:#}");
    assert_eq!(crate::support::catalogue_rows(&archive), expected);
}
