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
    for fraction in [0.02, 0.08, 0.15, 0.25, 0.35, 0.5, 0.65, 0.8, 0.95] {
        let mut child = bin()
            .arg("--archive")
            .arg(&crashed)
            .args(["ingest", "--jobs", "2", "--quiet", "--json"])
            .arg(&coll)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ingest");
        std::thread::sleep(clean_time.mul_f64(fraction).max(Duration::from_millis(5)));
        if child.try_wait().expect("try_wait").is_none() {
            interrupted += 1;
        }
        child.kill().expect("kill -9"); // SIGKILL on Unix
        child.wait().expect("wait");
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
