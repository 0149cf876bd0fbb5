//! `musicark preserve` on an ingested, catalogued and matched collection:
//! small lossy originals kept, the rest re-encoded to Opus by popularity
//! band into the blob store, tagged with where they came from; a rerun
//! does nothing again.

use musicark_sample::{SampleSpec, generate, write_open_data};
use serde_json::Value;

use crate::support::{init_and_ingest, json, ok};

#[test]
fn copies_follow_the_policy_carry_their_provenance_and_a_rerun_resumes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(3, 8.0, 42);
    let music = tmp.path().join("music");
    let report = generate(&music, &spec).expect("sample");
    let (recordings, listens) =
        write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let archive = tmp.path().join("archive");
    init_and_ingest(&archive, &[&music], &[]);
    crate::support::import_open_data(&archive, &recordings, &listens);
    ok(&archive, &["match"]);

    let plan: Value = json(&archive, &["preserve", "--dry-run"]);
    let plan = plan.as_array().expect("jobs");
    // One job per piece of music: the sample's byte duplicate is not one.
    assert_eq!(plan.len(), report.audio.len(), "{plan:#?}");
    let s: Value = json(&archive, &["preserve"]);
    assert_eq!(s["failed"].as_array().map(Vec::len), Some(0), "{s:#}");
    let opus_sources = report
        .audio
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "opus"))
        .count();
    assert_eq!(
        s["kept_original"].as_u64(),
        Some(opus_sources as u64),
        "{s:#}"
    );
    assert_eq!(
        s["made"].as_u64(),
        Some((report.audio.len() - opus_sources) as u64),
        "{s:#}"
    );

    let home = musicark_store::Home::open(&archive).expect("home");
    let db = home.db().expect("db");
    let rows: Vec<(String, String, String, Option<i64>)> = db
        .prepare(
            "SELECT source_id, tier, output_id, recording_id FROM preserved ORDER BY source_id",
        )
        .expect("sql")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    for (source, tier, output, recording) in &rows {
        assert!(recording.is_some(), "every sample track is linked");
        if tier != "opus" {
            assert_eq!(source, output);
            continue;
        }
        let blob = home.blobs().expect("blobs");
        let path = blob.local_path(&musicark_store::ContentId::parse(output).expect("id"));
        let a = musicark_audio::analyze_file(&path);
        assert_eq!(
            a.verdict,
            musicark_audio::Verdict::Audio,
            "{}",
            path.display()
        );
        assert_eq!(a.tech.as_ref().map(|t| t.codec.as_str()), Some("opus"));
        assert!((a.tech.expect("tech").duration_seconds - 8.0).abs() < 0.03);
        let bytes = std::fs::read(&path).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains(&format!("MUSICARK_SOURCE_BLAKE3={source}")),
            "provenance tag"
        );
        assert!(
            a.tags.and_then(|t| t.musicbrainz_recording_id).is_some(),
            "the recording's MBID"
        );
    }
    // A rerun finds everything done.
    let again: Value = json(&archive, &["preserve"]);
    assert_eq!(
        again["already_done"].as_u64(),
        Some(report.audio.len() as u64),
        "{again:#}"
    );
    assert_eq!(again["made"].as_u64(), Some(0));
}

/// The preserved rows of an archive, in a stable order.
fn preserved(archive: &std::path::Path) -> Vec<String> {
    let home = musicark_store::Home::open(archive).expect("home");
    let db = home.db().expect("db");
    db
        .prepare("SELECT source_id || '|' || tier || '|' || coalesce(CAST(kbps AS TEXT), '') || '|' || output_id || '|' || bytes FROM preserved ORDER BY source_id")
        .expect("sql")
        .query_map([], |r| r.get::<_, String>(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn kill_9_during_preserve_then_rerun_equals_a_clean_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(8, 20.0, 7);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let (recordings, listens) =
        write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let prepare = |name: &str| {
        let archive = tmp.path().join(name);
        init_and_ingest(&archive, &[&music], &[]);
        crate::support::import_open_data(&archive, &recordings, &listens);
        ok(&archive, &["match"]);
        archive
    };
    let clean = prepare("clean");
    let started = std::time::Instant::now();
    ok(&clean, &["preserve", "--jobs", "1"]);
    let clean_time = started.elapsed();
    let expected = preserved(&clean);
    assert!(expected.len() >= 8, "{expected:?}");

    let crashed = prepare("crashed");
    let mut interrupted = 0;
    for fraction in [0.2, 0.5, 0.8] {
        let mut child = crate::support::bin()
            .arg("--archive")
            .arg(&crashed)
            .args(["preserve", "--jobs", "1", "--quiet"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(clean_time.mul_f64(fraction));
        if child.try_wait().expect("try_wait").is_none() {
            interrupted += 1;
        }
        child.kill().expect("kill -9");
        child.wait().expect("wait");
    }
    assert!(
        interrupted >= 2,
        "only {interrupted} kills hit a running preserve"
    );
    let s: Value = json(&crashed, &["preserve", "--jobs", "1"]);
    assert!(
        s["already_done"].as_u64().unwrap_or(0) > 0,
        "the rerun resumes: {s:#}"
    );
    assert_eq!(preserved(&crashed), expected, "same copies, bit for bit");
    crate::support::check_blobs(&crashed);
}

#[test]
fn the_lossless_tier_keeps_genuine_lossless_originals_of_popular_recordings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(3, 6.0, 42);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let (recordings, listens) =
        write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let archive = tmp.path().join("archive");
    init_and_ingest(&archive, &[&music], &[]);
    crate::support::import_open_data(&archive, &recordings, &listens);
    ok(&archive, &["match"]);
    // Every recording is in the top 100 %: every genuine lossless file
    // is kept as it is.
    let config = archive.join("musicark.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace("keep_lossless_top = 0.0", "keep_lossless_top = 1.0");
    assert!(text.contains("keep_lossless_top = 1.0"), "{text}");
    std::fs::write(&config, text).expect("write config");
    let plan: Value = json(&archive, &["preserve", "--dry-run"]);
    let plan = plan.as_array().expect("jobs");
    let lossless_kept = plan
        .iter()
        .filter(|j| {
            j["why"]
                .as_str()
                .is_some_and(|w| w.contains("genuine lossless kept"))
        })
        .count();
    let lossless_sources = plan
        .iter()
        .filter(|j| {
            j["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(".flac") || p.ends_with(".wav"))
        })
        .count();
    assert!(lossless_sources >= 1, "{plan:#?}");
    assert_eq!(lossless_kept, lossless_sources, "{plan:#?}");
    for j in plan {
        assert_eq!(j["decision"]["tier"], "original", "{j:#}");
    }
}
