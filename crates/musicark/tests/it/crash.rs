//! `kill -9` in the middle of an ingest, at many points, then a rerun: the
//! catalogue must equal that of one clean run, and the blob store must hold
//! no partial or mislabelled blob.

use std::time::{Duration, Instant};

use crate::support::{bin, catalogue_rows, check_blobs, ingest, init_and_ingest, ok, sample};

#[test]
fn kill_9_at_many_points_then_rerun_equals_a_clean_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coll = tmp.path().join("collection");
    sample(&coll, 48, 6.0);

    let clean = tmp.path().join("clean");
    let started = Instant::now();
    init_and_ingest(&clean, &[&coll], &["--jobs", "2"]);
    let clean_time = started.elapsed();
    let expected = catalogue_rows(&clean);
    let expected_blobs = check_blobs(&clean);

    let crashed = tmp.path().join("crashed");
    ok(&crashed, &["init"]);
    let mut interrupted = 0;
    let coll_arg = coll.to_str().expect("utf-8");
    for fraction in [0.02, 0.08, 0.15, 0.25, 0.35, 0.5, 0.65, 0.8, 0.95] {
        let delay = clean_time.mul_f64(fraction).max(Duration::from_millis(5));
        let args = ["ingest", "--jobs", "2", "--quiet", "--json", coll_arg];
        interrupted += usize::from(crate::support::kill_9_after(&crashed, &args, delay));
    }
    assert!(
        interrupted >= 4,
        "only {interrupted} of the kills hit a running ingest"
    );
    ingest(&crashed, &[&coll], &["--jobs", "2"]);

    let got = catalogue_rows(&crashed);
    assert_eq!(got.len(), expected.len(), "row counts differ");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
    assert_eq!(check_blobs(&crashed), expected_blobs);
}

/// Everything a catalogue import writes, in a stable order, without clocks.
fn catalogue_dump(archive: &std::path::Path) -> Vec<String> {
    let home = musicark_store::Home::open(archive).expect("open");
    let db = home.db().expect("db");
    let mut out = Vec::new();
    for sql in [
        "SELECT recording_id || '|' || coalesce(mbid,'') || '|' || title || '|' || coalesce(artist_credit,'') || '|' || coalesce(CAST(length_ms AS TEXT),'') FROM recordings ORDER BY recording_id",
        "SELECT isrc || '|' || recording_id FROM isrcs ORDER BY isrc, recording_id",
        "SELECT recording_id || '|' || position || '|' || artist_id || '|' || join_phrase FROM recording_artists ORDER BY 1",
        "SELECT artist_id || '|' || mbid || '|' || name FROM artists ORDER BY artist_id",
        "SELECT line || '|' || coalesce(field,'') || '|' || reason FROM rejects ORDER BY line, reason",
    ] {
        let mut stmt = db.prepare(sql).expect(sql);
        let rows = stmt
            .query_map([], |r| {
                r.get::<_, String>(0)
                    .or_else(|_| r.get::<_, i64>(0).map(|i| i.to_string()))
            })
            .expect("query");
        out.extend(rows.map(|r| r.expect("row")));
    }
    // The search index holds every recording and release exactly once.
    let keys = musicark_catalog::SearchIndex::open(&home.search_dir())
        .expect("search index")
        .keys()
        .expect("keys");
    let mut want: Vec<i64> = db
        .prepare("SELECT recording_id FROM recordings UNION ALL SELECT -release_id FROM releases")
        .expect("keys")
        .query_map([], |r| r.get(0))
        .expect("keys")
        .map(|r| r.expect("key"))
        .collect();
    want.sort_unstable();
    assert_eq!(keys, want, "search index keys");
    out.push(format!("{} search documents", keys.len()));
    out
}

#[test]
fn kill_9_during_a_catalogue_import_then_rerun_equals_a_clean_import() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dump = tmp.path().join("dump");
    musicark_synth::write_catalog(
        &dump,
        &musicark_synth::CatalogSpec {
            recordings: 40_000,
            seed: 5,
            invalid_share: 0.02,
        },
    )
    .expect("generate");
    let recording = dump.join("mbdump/recording");

    let clean = tmp.path().join("clean");
    ok(&clean, &["init"]);
    let started = Instant::now();
    ok(
        &clean,
        &[
            "catalog",
            "import",
            "musicbrainz",
            &recording.display().to_string(),
        ],
    );
    let clean_time = started.elapsed();
    let expected = catalogue_dump(&clean);
    assert!(expected.len() > 40_000);

    let crashed = tmp.path().join("crashed");
    ok(&crashed, &["init"]);
    let mut interrupted = 0;
    // Kill each run right after it commits progress of its own (read from
    // the archive as it goes): a run killed by the clock alone either died
    // before its first commit (so the next began from zero again) or, being
    // shorter than the clean run once resumed, was already done.
    let progress = || -> i64 {
        crate::support::db_read_only(&crashed)
            .and_then(|db| {
                Ok(db.query_row(
                    "SELECT coalesce(max(lines_done), 0) FROM imports",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap_or(0)
    };
    for _ in 0..5 {
        let before = progress();
        let mut child = bin()
            .arg("--archive")
            .arg(&crashed)
            .args(["catalog", "import", "musicbrainz", "--quiet"])
            .arg(&recording)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn import");
        let deadline = Instant::now() + clean_time * 20 + Duration::from_secs(10);
        while progress() <= before
            && child.try_wait().expect("try_wait").is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().expect("try_wait").is_none() {
            interrupted += 1;
        }
        child.kill().expect("kill -9");
        child.wait().expect("wait");
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} kills hit a running import"
    );
    let out = ok(
        &crashed,
        &[
            "catalog",
            "import",
            "musicbrainz",
            "--json",
            &recording.display().to_string(),
        ],
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        summary[0]["resumed_after"].as_u64().unwrap_or(0) > 0,
        "the rerun resumes: {summary}"
    );
    let got = catalogue_dump(&crashed);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
    if crate::support::on_postgres() {
        // The bulk load dropped the credits' and ISRCs' foreign keys while
        // it ran; killed or not, they are back at its end.
        for archive in [&clean, &crashed] {
            let db = crate::support::db(archive).expect("db");
            let keys: i64 = db
                .query_row(
                    "SELECT count(*) FROM pg_constraint WHERE contype = 'f' \
                     AND conrelid IN (to_regclass('recording_artists'), to_regclass('isrcs'))",
                    [],
                    |r| r.get(0),
                )
                .expect("foreign keys");
            assert_eq!(
                keys, 3,
                "recording_artists → recordings, artists; isrcs → recordings"
            );
            let suspended: i64 = db
                .query_row("SELECT count(*) FROM musicark_suspended_keys", [], |r| {
                    r.get(0)
                })
                .expect("suspended keys");
            assert_eq!(suspended, 0);
        }
    }
}
