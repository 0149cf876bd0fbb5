//! `musicark migrate`: an SQLite archive moved into PostgreSQL and back,
//! checked equal at each step (rows, checksums, the published list), and
//! usable on the new engine; a kill -9 in the middle leaves the archive
//! on its old database and a rerun completes.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use serde_json::Value;

use crate::support::{bin, fresh_database, json, ok, postgres_server};

const EPOCH: &str = "1790000000";

fn demo_on_sqlite(dir: &Path) {
    crate::support::demo(dir, &[("SOURCE_DATE_EPOCH", EPOCH)], Vec::new());
}

fn list_bytes(archive: &Path, out: &Path) -> Vec<u8> {
    crate::support::ok_env(
        archive,
        &["list", "export", "--out", &out.display().to_string()],
        &[("SOURCE_DATE_EPOCH", EPOCH)],
    );
    std::fs::read(out).expect("list")
}

fn database(archive: &Path) -> Option<String> {
    musicark_store::Home::open(archive)
        .expect("home")
        .config
        .archive
        .database
}

#[test]
fn an_archive_moves_to_postgres_and_back_unchanged() {
    if !postgres_server() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("demo");
    demo_on_sqlite(&archive);
    assert_eq!(database(&archive), None, "the demo starts on SQLite");
    let before_list = list_bytes(&archive, &tmp.path().join("before/torrents.json"));
    let before_status = json(&archive, &["status"]);

    let url = fresh_database();
    let up = json(&archive, &["migrate", "--to", &url]);
    assert_eq!(up["switched"], true, "{up:#}");
    assert_eq!(up["list_identical"], true);
    assert_eq!(database(&archive).as_deref(), Some(url.as_str()));
    let tables = up["tables"].as_array().expect("tables");
    let rows = |name: &str| {
        tables
            .iter()
            .find(|t| t["table"] == name)
            .and_then(|t| t["rows"].as_u64())
            .unwrap_or_else(|| panic!("{name} in {up:#}"))
    };
    assert!(
        rows("recordings") >= 10 && rows("files") >= 14 && rows("packs") >= 3,
        "{up:#}"
    );

    // The archive works on PostgreSQL as it did: the same status, the same
    // list bytes, search, `where`, and a new pack run finds nothing to do.
    let mut after_status = json(&archive, &["status"]);
    assert_eq!(before_status["engine"], "sqlite");
    assert_eq!(after_status["engine"], "postgres");
    let mut before = before_status.clone();
    for s in [&mut before, &mut after_status] {
        s.as_object_mut().expect("object").remove("engine");
    }
    assert_eq!(before, after_status, "status after the move");
    assert_eq!(
        list_bytes(&archive, &tmp.path().join("on-pg/torrents.json")),
        before_list,
        "the list from PostgreSQL"
    );
    let found = json(&archive, &["catalog", "search", "dawn chorus"]);
    assert!(found.to_string().contains("Dawn Chorus"), "{found:#}");
    let w = json(&archive, &["where", "dawn chorus"]);
    assert!(w.to_string().contains("magnet:"), "{w:#}");

    // Back to an SQLite file of its own: every table's checksum is the one
    // the first copy had (the round trip changed nothing).
    let down = json(&archive, &["migrate", "--to", "sqlite:back.sqlite"]);
    assert_eq!(down["switched"], true, "{down:#}");
    assert_eq!(
        down["tables"], up["tables"],
        "checksums after the round trip"
    );
    assert_eq!(
        database(&archive).as_deref(),
        Some(format!("sqlite:{}", archive.join("back.sqlite").display()).as_str())
    );
    assert_eq!(
        list_bytes(&archive, &tmp.path().join("back/torrents.json")),
        before_list,
        "the list from the SQLite copy"
    );
    // Moving onto a database that holds an archive is refused.
    let refused = bin()
        .arg("--archive")
        .arg(&archive)
        .args(["migrate", "--to", &url])
        .output()
        .expect("run");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("already holds"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn a_migrate_killed_midway_leaves_the_archive_where_it_was_and_a_rerun_completes() {
    if !postgres_server() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // A catalogue big enough that the copy takes a while.
    let dump = tmp.path().join("dump");
    musicark_synth::write_catalog(
        &dump,
        &musicark_synth::CatalogSpec {
            recordings: 40_000,
            seed: 9,
            invalid_share: 0.01,
        },
    )
    .expect("generate");
    let archive = tmp.path().join("archive");
    crate::support::init_on(&archive, None);
    ok(
        &archive,
        &[
            "catalog",
            "import",
            "musicbrainz",
            &dump.join("mbdump/recording").display().to_string(),
        ],
    );

    // A clean copy, timed, to a first database (not switched to).
    let started = Instant::now();
    let clean = json(
        &archive,
        &["migrate", "--copy-only", "--to", &fresh_database()],
    );
    let clean_time = started.elapsed();
    assert_eq!(clean["switched"], false);
    assert_eq!(database(&archive), None);

    let url = fresh_database();
    let mut killed = 0;
    for _ in 0..3 {
        let mut child = bin()
            .arg("--archive")
            .arg(&archive)
            .args(["migrate", "--to", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(clean_time / 3);
        if child.try_wait().expect("try_wait").is_none() {
            killed += 1;
        }
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        if killed == 0 {
            continue;
        }
        // Killed before its commit: still on SQLite, the copy empty.
        assert_eq!(database(&archive), None, "a killed migrate switched");
        break;
    }
    assert!(
        killed >= 1,
        "no kill hit a running migrate ({clean_time:?})"
    );
    let rerun = json(&archive, &["migrate", "--to", &url]);
    assert_eq!(rerun["switched"], true);
    assert_eq!(
        rerun["tables"], clean["tables"],
        "the rerun's copy equals the clean one"
    );
    let shown: Value = json(&archive, &["catalog", "show", "rec:40000"]);
    assert!(shown.to_string().contains("40000"), "{shown:#}");
}
