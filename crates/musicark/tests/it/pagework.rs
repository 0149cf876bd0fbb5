//! The web pages' work, counted, not timed: a change that makes a page do
//! several times more work fails here, wherever the work comes from (a
//! query that scans the archive, SQL parsed per request, a search that
//! compiles an automaton, rendering).
//!
//! How: valgrind's cachegrind counts the instructions this test binary
//! executes while it answers a fixed set of requests, through the router
//! without a socket, on fixed archives (synthetic catalogues of 2 000 and
//! 20 000 recordings with the rows of `scripts/bench-web-rows.sql`). Instruction
//! counts repeat on this machine kind to well under 1 % from run to run;
//! times on a shared 2-core CI machine do not repeat to 2×. A page's
//! work is the count of a run that asks for it, less the count of a run
//! that only starts and warms up (the same in both), divided by the pages
//! asked. SQLite's VM-step counter was the other candidate; it misses the
//! search index (tantivy) and the rendering, where half the search page's
//! regression was.
//!
//! The bounds are about twice what each page costs at the commit that set
//! them (debug build, as `cargo test` builds; a release build does less).
//! A change that legitimately makes a page do more raises its bound in the
//! same commit and says why.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use crate::support::{import_open_data, ok, peer};

/// The child's orders, in an environment variable: the archive, the
/// warm-up paths, the measured paths.
const CHILD: &str = "MUSICARK_PAGE_WORK_CHILD";

/// Instructions per page at most (debug build). Measured at the commit
/// that set them: see the test's output for today's figures.
const BOUNDS: &[(&str, u64)] = &[
    // 2.44 M at 20 000 recordings when set.
    ("recording", 5_000_000),
    // 2.40 M
    ("search", 5_000_000),
    // 1.83 M
    ("release", 4_000_000),
    // 2.30 M
    ("artist", 5_000_000),
    // 714 M: the coverage report over the whole archive, cached 30 s.
    ("dashboard (cold)", 1_400_000_000),
    // 169 M: the list over the whole archive, cached 30 s.
    ("torrents (cold)", 340_000_000),
];

#[derive(serde::Serialize, serde::Deserialize)]
struct Orders {
    archive: PathBuf,
    warm: Vec<String>,
    measured: Vec<String>,
}

/// How much more a page may cost on an archive ten times larger. The
/// pages that show one entity must not do work that grows with the
/// archive (a scan per request); a search's posting lists grow with the
/// catalogue, and the cached pages summarise the whole archive.
const GROWTH: &[(&str, f64)] = &[("recording", 1.5), ("release", 1.5), ("artist", 1.5)];

#[test]
fn each_page_does_a_bounded_amount_of_work() {
    if crate::support::on_postgres() {
        // The instructions counted are this process's: on PostgreSQL the
        // server does the query work, out of the count. The bound is
        // SQLite's (the embedded default).
        eprintln!("SKIPPED on PostgreSQL: page work is counted in-process, on SQLite");
        return;
    }
    if let Ok(orders) = std::env::var(CHILD) {
        let orders: Orders = serde_json::from_str(&orders).expect("orders");
        answer(&orders);
        return;
    }
    let Some(valgrind) = peer("valgrind") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let small = measure(&valgrind, &build_archive(&dir.path().join("small"), 2_000));
    let large = measure(&valgrind, &build_archive(&dir.path().join("large"), 20_000));
    let mut over = Vec::new();
    eprintln!("instructions per page (cachegrind; 2 000 and 20 000 recordings):");
    for ((kind, per_small), (_, per)) in small.iter().zip(&large) {
        let bound = BOUNDS
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, b)| *b)
            .expect("a bound for every kind");
        let growth = *per as f64 / *per_small as f64;
        eprintln!(
            "  {kind:<18} {per_small:>12} {per:>12}  bound {bound} ({:.0} % of it), x{growth:.2} for 10x the archive",
            *per as f64 / bound as f64 * 100.0
        );
        if *per > bound {
            over.push(format!("{kind}: {per} instructions per page > {bound}"));
        }
        if let Some((_, limit)) = GROWTH.iter().find(|(k, _)| k == kind)
            && growth > *limit
        {
            over.push(format!(
                "{kind}: x{growth:.2} the work on 10x the archive (at most x{limit}): \
                 work per request that grows with the archive"
            ));
        }
    }
    assert!(
        over.is_empty(),
        "pages do more work than their bound: {over:?}"
    );
}

/// Instructions per page of each kind on `archive`.
fn measure(valgrind: &Path, archive: &Path) -> Vec<(&'static str, u64)> {
    let kinds = paths(archive);
    // Warm-up: one page of each kind that is not cached (the cached ones
    // are measured cold, their first request after the server starts).
    let warm: Vec<String> = kinds
        .iter()
        .filter(|(k, _)| !k.ends_with("(cold)"))
        .map(|(_, p)| p[0].clone())
        .collect();
    let count = |measured: &[String]| {
        instructions(
            valgrind,
            &Orders {
                archive: archive.to_path_buf(),
                warm: warm.clone(),
                measured: measured.to_vec(),
            },
        )
    };
    let base = count(&[]);
    kinds
        .iter()
        .map(|(kind, ps)| {
            let per = count(ps).saturating_sub(base) / ps.len() as u64;
            // A page that costs nothing measured nothing: the run did not
            // ask for it.
            assert!(per > 10_000, "{kind}: {per} instructions: nothing measured");
            (*kind, per)
        })
        .collect()
}

/// The child: open the archive as `serve` does, answer the warm-up paths,
/// then the measured ones; every answer must be 200.
fn answer(orders: &Orders) {
    let app = musicark_web::App::open(&orders.archive).expect("open archive");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for path in orders.warm.iter().chain(&orders.measured) {
            let res = musicark_web::router(app.clone())
                .oneshot(Request::get(path).body(Body::empty()).expect("request"))
                .await
                .expect("infallible");
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 64 << 20)
                .await
                .expect("body");
            assert_eq!(
                status,
                StatusCode::OK,
                "{path}: {}",
                String::from_utf8_lossy(&body)
            );
            assert!(body.len() > 500, "{path}: a page of {} bytes", body.len());
        }
    });
}

/// Instructions this binary executes under cachegrind to carry out
/// `orders`.
fn instructions(valgrind: &Path, orders: &Orders) -> u64 {
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(valgrind)
        .args([
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
        ])
        .arg(&exe)
        .args([
            "pagework::each_page_does_a_bounded_amount_of_work",
            "--exact",
            "--test-threads=1",
        ])
        .env(CHILD, serde_json::to_string(orders).expect("orders"))
        .output()
        .expect("run valgrind");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child failed under valgrind: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr
    );
    let refs = stderr
        .lines()
        .find_map(|l| {
            l.split_once("I   refs:")
                .map(|(_, n)| n.trim().replace(',', ""))
        })
        .unwrap_or_else(|| panic!("no instruction count in valgrind's output: {stderr}"));
    refs.parse().expect("a count")
}

/// A catalogue of `recordings` with half of them preserved and published
/// (`scripts/bench-web-rows.sql`, which keeps a tenth, asked for half: a
/// query that scans the copies per request then costs more than the page).
fn build_archive(dir: &Path, recordings: u64) -> PathBuf {
    let dumps = dir.join("dumps");
    musicark_synth::write_catalog(
        &dumps,
        &musicark_synth::CatalogSpec {
            recordings,
            seed: 1,
            invalid_share: 0.01,
        },
    )
    .expect("synthetic catalogue");
    let archive = dir.join("archive");
    ok(&archive, &["init", "-q"]);
    import_open_data(
        &archive,
        &dumps.join("mbdump"),
        &dumps.join("listenbrainz.csv"),
    );
    let rows = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench-web-rows.sql"),
    )
    .expect("bench-web-rows.sql");
    let half = "WHERE recording_id % 10 = 0";
    assert!(rows.contains(half), "bench-web-rows.sql keeps a tenth");
    let rows = rows.replace(half, "WHERE recording_id % 2 = 0");
    let conn = rusqlite::Connection::open(archive.join("catalog.sqlite")).expect("open db");
    conn.execute_batch(&rows).expect("bench rows");
    archive
}

/// The measured paths of each kind, chosen by a fixed rule (so every run
/// asks for the same pages): recordings half with a copy, searches of two
/// words of titles as people type them.
fn paths(archive: &Path) -> Vec<(&'static str, Vec<String>)> {
    let conn = rusqlite::Connection::open(archive.join("catalog.sqlite")).expect("open db");
    let ids = |sql: &str| -> Vec<i64> {
        conn.prepare(sql)
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .expect("ids")
    };
    let recordings = ids(
        "SELECT recording_id FROM recordings WHERE recording_id % 10 IN (0, 3) \
         ORDER BY recording_id LIMIT 20 OFFSET 100",
    );
    let releases = ids("SELECT release_id FROM releases ORDER BY release_id LIMIT 10 OFFSET 100");
    let artists = ids("SELECT artist_id FROM artists ORDER BY artist_id LIMIT 10 OFFSET 100");
    let titles: Vec<String> = conn
        .prepare("SELECT title FROM recordings ORDER BY recording_id LIMIT 20 OFFSET 1000")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .expect("titles");
    let searches: Vec<String> = titles
        .iter()
        .map(|t| {
            let words: Vec<&str> = t.split_whitespace().take(2).collect();
            format!(
                "/search?q={}",
                musicark_torrent::url_encode(words.join(" "))
            )
        })
        .collect();
    assert_eq!(recordings.len(), 20);
    assert_eq!(searches.len(), 20);
    vec![
        (
            "recording",
            recordings
                .iter()
                .map(|i| format!("/recordings/{i}"))
                .collect(),
        ),
        ("search", searches),
        (
            "release",
            releases.iter().map(|i| format!("/releases/{i}")).collect(),
        ),
        (
            "artist",
            artists.iter().map(|i| format!("/artists/{i}")).collect(),
        ),
        ("dashboard (cold)", vec!["/".to_string()]),
        ("torrents (cold)", vec!["/torrents".to_string()]),
    ]
}
