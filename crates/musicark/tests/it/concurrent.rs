//! Many writers on one PostgreSQL archive: two ingests over overlapping
//! trees, a catalogue import and a running server at once, one ingest
//! killed (-9) midway and run again, give the archive one clean run after
//! another gives: every file recorded once, no content or recording twice.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use musicark_sample::{SampleSpec, generate};

use crate::support::{bin, fresh_database, init_on, ok, postgres_server};

fn command(archive: &Path, args: &[&str]) -> Command {
    let mut c = bin();
    c.arg("--archive")
        .arg(archive)
        .args(args)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn finish(mut child: Child, what: &str) {
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "{what} failed: {err}");
}

/// What the archive holds, without clocks or run ids: files with their
/// contents, and the catalogue's recordings.
fn state(archive: &Path) -> (Vec<String>, Vec<String>, i64, i64) {
    let db = crate::support::db(archive).expect("db");
    let files = db.catalogue_fingerprint_rows().expect("files");
    let mut recordings = Vec::new();
    db.scan(
        "SELECT recording_id, coalesce(mbid, ''), title FROM recordings ORDER BY recording_id",
        [],
        |r| {
            recordings.push(format!(
                "{}|{}|{}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?
            ));
            Ok(())
        },
    )
    .expect("recordings");
    let contents: i64 = db
        .query_row("SELECT count(*) FROM contents", [], |r| r.get(0))
        .expect("contents");
    let distinct: i64 = db
        .query_row(
            "SELECT count(*) - count(DISTINCT mbid) FROM recordings WHERE mbid IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("duplicates");
    (files, recordings, contents, distinct)
}

#[test]
fn on_postgres_two_ingests_an_import_and_a_server_run_at_once() {
    if !postgres_server() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let music = tmp.path().join("music");
    generate(&music.join("a"), &SampleSpec::with_tracks(24, 12.0, 42)).expect("a");
    generate(&music.join("b"), &SampleSpec::with_tracks(12, 12.0, 7)).expect("b");
    let dump = tmp.path().join("dump");
    musicark_synth::write_catalog(
        &dump,
        &musicark_synth::CatalogSpec {
            recordings: 20_000,
            seed: 3,
            invalid_share: 0.01,
        },
    )
    .expect("catalogue");
    let recordings = dump.join("mbdump/recording").display().to_string();
    let a = music.join("a").display().to_string();
    let all = music.display().to_string();

    // One after another: the reference.
    let clean = tmp.path().join("clean");
    init_on(&clean, Some(&fresh_database()));
    let started = Instant::now();
    ok(&clean, &["ingest", &all, "--quiet"]);
    let ingest_time = started.elapsed();
    ok(&clean, &["ingest", &a, "--quiet"]);
    ok(
        &clean,
        &["catalog", "import", "musicbrainz", &recordings, "--quiet"],
    );
    let expected = state(&clean);
    assert!(
        expected.0.len() >= 36 && expected.1.len() > 19_000,
        "{}",
        expected.0.len()
    );
    assert_eq!(expected.3, 0);

    // All at once, a server answering throughout.
    let busy = tmp.path().join("busy");
    init_on(&busy, Some(&fresh_database()));
    let (_server, url) = crate::support::serve(&busy, &[]);
    let addr = crate::support::host_port(&url);
    let status = || -> String {
        let mut c = std::net::TcpStream::connect(&addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        write!(
            c,
            "GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = String::new();
        c.read_to_string(&mut answer).expect("answer");
        answer
    };

    let first = command(&busy, &["ingest", &all]).spawn().expect("ingest 1");
    let second = command(&busy, &["ingest", &a]).spawn().expect("ingest 2");
    let import = command(&busy, &["catalog", "import", "musicbrainz", &recordings])
        .spawn()
        .expect("import");
    // A third ingest of the whole tree, killed -9 midway.
    let mut victim = command(&busy, &["ingest", &all]).spawn().expect("ingest 3");
    let deadline = Instant::now() + ingest_time / 3;
    let mut answers = 0;
    while Instant::now() < deadline {
        assert!(
            status().starts_with("HTTP/1.1 200"),
            "the server during the writes"
        );
        answers += 1;
    }
    let was_running = victim.try_wait().expect("try_wait").is_none();
    victim.kill().expect("kill -9");
    let victim_status = victim.wait().expect("wait");
    if !was_running {
        let mut err = String::new();
        if let Some(mut e) = victim.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(
            victim_status.success(),
            "ingest 3 failed before its kill: {err}"
        );
    }
    finish(first, "ingest of the whole tree");
    finish(second, "ingest of the overlapping subtree");
    finish(import, "catalogue import");
    // The killed one, again, alone.
    ok(&busy, &["ingest", &all, "--quiet"]);
    assert!(status().starts_with("HTTP/1.1 200"));
    eprintln!(
        "server answered {answers} times during the writes; ingest 3 killed while running: {was_running}"
    );

    let got = state(&busy);
    assert_eq!(got.3, 0, "a recording twice");
    assert_eq!(got.2, expected.2, "contents");
    assert_eq!(got.0, expected.0, "files and their contents");
    assert_eq!(got.1.len(), expected.1.len(), "recordings");
    assert_eq!(got.1, expected.1, "recordings and their ids");
}

/// On SQLite the engine takes one writer at a time: a second writer is
/// told so at once, and nothing is written by it.
#[test]
fn on_sqlite_a_second_writer_is_refused_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("archive");
    init_on(&archive, None);
    let home = musicark_store::Home::open(&archive).expect("home");
    let _held = home
        .lock(musicark_store::Writers::Ingest)
        .expect("first writer");
    let music = tmp.path().join("music");
    generate(&music, &SampleSpec::with_tracks(2, 1.0, 1)).expect("music");
    let out = bin()
        .arg("--archive")
        .arg(&archive)
        .arg("ingest")
        .arg(&music)
        .output()
        .expect("ingest");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another musicark process is writing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An ingest that starts while another runs leaves the other's queue of
/// files alone: every file the first one walked is recorded by it. (The
/// walk's queue, `pending`, is one table; a starting run used to empty
/// it, and a run past its first page of 256 files then ended early,
/// leaving the rest for some later run.)
#[test]
fn on_postgres_an_ingest_starting_beside_another_leaves_its_files_alone() {
    if !postgres_server() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // Audio first (largest first: it holds the workers), then many
    // small files, more than one page of the queue.
    let first_tree = tmp.path().join("first");
    generate(
        &first_tree.join("music"),
        &SampleSpec::with_tracks(16, 45.0, 5),
    )
    .expect("sample");
    for i in 0..700 {
        std::fs::write(
            first_tree.join(format!("note-{i:03}.txt")),
            format!("liner note {i}\n"),
        )
        .expect("note");
    }
    let on_disk = crate::support::files_with_any(&first_tree).len() as i64;
    let second_tree = tmp.path().join("second");
    generate(&second_tree, &SampleSpec::with_tracks(2, 4.0, 6)).expect("sample");

    let archive = tmp.path().join("archive");
    init_on(&archive, Some(&fresh_database()));
    let first = command(&archive, &["ingest", first_tree.to_str().expect("utf-8")])
        .spawn()
        .expect("ingest 1");
    // Once the first run's walk has queued its files, a second run starts.
    let db = crate::support::db(&archive).expect("db");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let queued: i64 = db
            .query_row("SELECT count(*) FROM pending", [], |r| r.get(0))
            .expect("pending");
        if queued >= 700 {
            break;
        }
        assert!(Instant::now() < deadline, "the first walk never queued");
        std::thread::sleep(Duration::from_millis(20));
    }
    ok(
        &archive,
        &["ingest", second_tree.to_str().expect("utf-8"), "--quiet"],
    );
    finish(first, "the first ingest");
    let recorded: i64 = db
        .query_row(
            "SELECT count(*) FROM files WHERE display_path LIKE ?1",
            [format!("{}%", first_tree.display())],
            |r| r.get(0),
        )
        .expect("files");
    assert_eq!(recorded, on_disk, "every file the first run walked");
}
