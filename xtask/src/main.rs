//! Project automation: `cargo xtask <task>`. Never shipped in the binary.
//!
//!   cargo xtask gen-catalog --recordings N [--out DIR] [--seed S] [--invalid SHARE]
//!   cargo xtask bench-catalog --archive DIR [--queries N]
//!   cargo xtask bench-search --archive DIR [--queries N]
//!   cargo xtask gen-packbench --archive DIR --files N [--kib K]
//!   cargo xtask simulate-seeding [--seeds 1,2,3] [--torrents N] [--donors D] [--publishers K]
//!   cargo xtask gen-lists --lists L --torrents T --mbids FILE --out DIR [--per R]
//!   cargo xtask bench-blobs --archive DIR --files DIR [--threads N]
//!   cargo xtask bench-queue --archive DIR --jobs N --workers W

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen-catalog") => gen_catalog(&args[1..]),
        Some("bench-catalog") => bench_catalog(&args[1..]),
        Some("bench-search") => bench_search(&args[1..]),
        Some("gen-packbench") => gen_packbench(&args[1..]),
        Some("simulate-seeding") => simulate_seeding(&args[1..]),
        Some("gen-lists") => gen_lists(&args[1..]),
        Some("bench-blobs") => bench_blobs(&args[1..]),
        Some("bench-queue") => bench_queue(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask gen-catalog --recordings N [--out DIR] [--seed S] [--invalid SHARE]"
            );
            ExitCode::from(2)
        }
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn gen_catalog(args: &[String]) -> ExitCode {
    let Some(n) = flag(args, "--recordings").and_then(|s| s.replace('_', "").parse::<u64>().ok())
    else {
        eprintln!("--recordings N is required");
        return ExitCode::from(2);
    };
    let out = PathBuf::from(flag(args, "--out").unwrap_or_else(|| format!("target/catalog-{n}")));
    let spec = musicark_synth::CatalogSpec {
        recordings: n,
        seed: flag(args, "--seed")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1),
        invalid_share: flag(args, "--invalid")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.01),
    };
    let started = std::time::Instant::now();
    match musicark_synth::write_catalog(&out, &spec) {
        Ok(stats) => {
            println!(
                "{} in {:.1} s: {stats:?}",
                out.display(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Lookup and search latency over random real keys of an archive's
/// catalogue: ISRC, MBID, and searches of two words of random titles.
fn bench_catalog(args: &[String]) -> ExitCode {
    let Some(archive) = flag(args, "--archive") else {
        eprintln!("--archive DIR is required");
        return ExitCode::from(2);
    };
    let n: usize = flag(args, "--queries")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let home = musicark_store::Home::open(std::path::Path::new(&archive))?;
        let cat = musicark_catalog::Catalog::open(&home)?;
        let db = &cat.db;
        let sample = |sql: &str| -> Result<Vec<String>, musicark_store::sql::Error> {
            db.prepare(sql)?
                .query_map([n as i64], |r| r.get(0))?
                .collect()
        };
        let isrcs = sample("SELECT isrc FROM isrcs ORDER BY random() LIMIT ?1")?;
        let mbids = sample(
            "SELECT mbid FROM recordings WHERE mbid IS NOT NULL ORDER BY random() LIMIT ?1",
        )?;
        let titles = sample("SELECT title FROM recordings ORDER BY random() LIMIT ?1")?;
        let time = |keys: &[String], f: &dyn Fn(&str) -> usize| -> (f64, f64, usize) {
            let mut t: Vec<f64> = Vec::with_capacity(keys.len());
            let mut found = 0;
            for k in keys {
                let s = std::time::Instant::now();
                found += (f(k) > 0) as usize;
                t.push(s.elapsed().as_secs_f64() * 1e3);
            }
            t.sort_by(|a, b| a.total_cmp(b));
            (percentile(&t, 0.5), percentile(&t, 0.99), found)
        };
        let lookup = |k: &str| {
            musicark_catalog::lookup(db, k)
                .map(|v| v.len())
                .unwrap_or(0)
        };
        let search = |k: &str| {
            let q: Vec<&str> = k.split_whitespace().take(2).collect();
            musicark_catalog::search(&cat, &q.join(" "), 20)
                .map(|v| v.len())
                .unwrap_or(0)
        };
        // Warm the caches once, as a server's are: lookups and searches
        // of *other* keys (the measured ones are met for the first time,
        // each kind alike), 100 searches for the search index's pages.
        let _ = time(
            &sample("SELECT isrc FROM isrcs ORDER BY random() LIMIT ?1")?,
            &lookup,
        );
        let _ = time(
            &sample(
                "SELECT mbid FROM recordings WHERE mbid IS NOT NULL ORDER BY random() LIMIT ?1",
            )?,
            &lookup,
        );
        let warm = sample("SELECT title FROM recordings ORDER BY random() LIMIT ?1")?;
        let _ = time(&warm[..warm.len().min(100)], &search);
        let recordings: i64 = db.query_row("SELECT count(*) FROM recordings", [], |r| r.get(0))?;
        let bytes = db.size_bytes()?;
        let search_bytes: u64 = std::fs::read_dir(home.search_dir())?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        println!(
            "recordings: {recordings}, database ({}): {bytes} bytes, {:.0} bytes per recording; search index: {search_bytes} bytes, {:.0} per recording",
            db.engine_name(),
            bytes as f64 / recordings.max(1) as f64,
            search_bytes as f64 / recordings.max(1) as f64
        );
        for (what, keys, f) in [
            ("ISRC lookup", &isrcs, &lookup as &dyn Fn(&str) -> usize),
            ("MBID lookup", &mbids, &lookup),
            ("search", &titles, &search),
        ] {
            let (p50, p99, found) = time(keys, f);
            println!(
                "{what}: {} queries, p50 {p50:.3} ms, p99 {p99:.3} ms, {found} with results",
                keys.len()
            );
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Search latency on an archive's catalogue: the search index is brought
/// up to date first (timed: on a catalogue never indexed, a full build),
/// then 1000 searches of two words of random titles (phrase first, then
/// every word; top 20), with the slowest listed.
fn bench_search(args: &[String]) -> ExitCode {
    let Some(archive) = flag(args, "--archive") else {
        eprintln!("--archive DIR is required");
        return ExitCode::from(2);
    };
    let n: usize = flag(args, "--queries")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let home = musicark_store::Home::open(std::path::Path::new(&archive))?;
        let mut cat = musicark_catalog::Catalog::open(&home)?;
        let started = std::time::Instant::now();
        let stats = musicark_catalog::textindex::sync(&mut cat.db, &cat.search)?;
        let secs = started.elapsed().as_secs_f64();
        let bytes: u64 = std::fs::read_dir(home.search_dir())?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        let docs = cat.search.len();
        println!(
            "index sync: {} added, {} changed in {secs:.1} s ({:.0}/s); {docs} documents, {bytes} bytes ({:.0} per document)",
            stats.added,
            stats.changed,
            (stats.added + stats.changed) as f64 / secs.max(1e-9),
            bytes as f64 / docs.max(1) as f64
        );
        let titles: Vec<String> = cat
            .db
            .prepare("SELECT title FROM recordings ORDER BY random() LIMIT ?1")?
            .query_map([n as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let queries: Vec<String> = titles
            .iter()
            .map(|t| t.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect();
        for q in queries.iter().take(100) {
            let _ = musicark_catalog::search(&cat, q, 20);
        }
        let mut t: Vec<(f64, &str)> = Vec::with_capacity(n);
        let mut found = 0;
        for q in &queries {
            let s = std::time::Instant::now();
            found += (!musicark_catalog::search(&cat, q, 20)?.is_empty()) as usize;
            t.push((s.elapsed().as_secs_f64() * 1e3, q));
        }
        t.sort_by(|a, b| a.0.total_cmp(&b.0));
        let ms: Vec<f64> = t.iter().map(|x| x.0).collect();
        println!(
            "search: {} queries, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, {found} with results",
            queries.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            ms.last().copied().unwrap_or(0.0)
        );
        let slowest: Vec<String> = t
            .iter()
            .rev()
            .take(8)
            .map(|(ms, q)| format!("{q:?} {ms:.1} ms"))
            .collect();
        println!("slowest: {}", slowest.join(", "));
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A synthetic archive for `pack` benchmarks: N preserved copies (random
/// bytes of 1–2×K KiB each, written straight into the blob store), each
/// linked to a recording with a Zipf-like listen count, an artist, a
/// release with track numbers and a 3-minute fingerprint; as if ingest,
/// match and preserve had run.
/// Every file of `--files` put into the archive's blob store, then read
/// back whole (hashed as read) and fetched as local copies, on `--threads`
/// threads: the store's own throughput, without ingest's analysis. JSON
/// on stdout: bytes and seconds of each step.
fn bench_blobs(args: &[String]) -> ExitCode {
    let (Some(archive), Some(files)) = (
        flag(args, "--archive").map(PathBuf::from),
        flag(args, "--files").map(PathBuf::from),
    ) else {
        eprintln!("--archive DIR and --files DIR are required");
        return ExitCode::from(2);
    };
    let threads: usize = flag(args, "--threads")
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    print_json_or_fail(run_bench_blobs(&archive, &files, threads))
}

/// A benchmark's JSON on stdout, or its error on stderr and a failure.
fn print_json_or_fail(result: Result<serde_json::Value, Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_bench_blobs(
    archive: &std::path::Path,
    files: &std::path::Path,
    threads: usize,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    use musicark_store::ContentId;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let home = musicark_store::Home::open(archive)?;
    let store = home.blobs()?;
    let mut items = Vec::new();
    for entry in std::fs::read_dir(files)? {
        let path = entry?.path();
        let (id, len) = musicark_store::hash_reader(std::fs::File::open(&path)?)?;
        items.push((path, id, len));
    }
    let bytes: u64 = items.iter().map(|i| i.2).sum();
    let step = |f: &(dyn Fn(&std::path::Path, &ContentId) -> Result<(), String> + Sync)| {
        let next = AtomicUsize::new(0);
        let started = std::time::Instant::now();
        let failed: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|_| {
                    s.spawn(|| {
                        let mut failed = Vec::new();
                        while let Some((path, id, _)) =
                            items.get(next.fetch_add(1, Ordering::Relaxed))
                        {
                            if let Err(e) = f(path, id) {
                                failed.push(e);
                            }
                        }
                        failed
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        (started.elapsed().as_secs_f64(), failed)
    };
    let (put_s, put_failed) = step(&|path, id| {
        store
            .put_file(id, path)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let (get_s, get_failed) = step(&|_, id| {
        let reader = store.open(id).map_err(|e| e.to_string())?;
        let (got, _) = musicark_store::hash_reader(reader).map_err(|e| e.to_string())?;
        (got == *id)
            .then_some(())
            .ok_or_else(|| format!("{id}: read back {got}"))
    });
    let (copy_s, copy_failed) = step(&|_, id| {
        store.local_copy(id).map_err(|e| e.to_string())?;
        store.release_local(id);
        Ok(())
    });
    let failed: Vec<String> = put_failed
        .into_iter()
        .chain(get_failed)
        .chain(copy_failed)
        .collect();
    if !failed.is_empty() {
        return Err(failed.join("; ").into());
    }
    Ok(serde_json::json!({
        "store": store.location(),
        "files": items.len(),
        "bytes": bytes,
        "threads": threads,
        "put_seconds": put_s,
        "get_seconds": get_s,
        "local_copy_seconds": copy_s,
    }))
}

/// The work queue's own cost: `--jobs` no-op jobs queued (one by one) in the archive's
/// database, then claimed and finished by `--workers` threads, each with
/// its own connection (as separate worker processes would be). JSON on
/// stdout.
fn bench_queue(args: &[String]) -> ExitCode {
    let (Some(archive), Some(n), Some(workers)) = (
        flag(args, "--archive").map(PathBuf::from),
        flag(args, "--jobs").and_then(|s| s.parse::<u64>().ok()),
        flag(args, "--workers").and_then(|s| s.parse::<usize>().ok()),
    ) else {
        eprintln!("--archive DIR, --jobs N and --workers W are required");
        return ExitCode::from(2);
    };
    let run = || -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let home = musicark_store::Home::open(&archive)?;
        let db = home.db()?;
        let kind = format!("noop{workers}");
        let started = std::time::Instant::now();
        for i in 0..n {
            db.enqueue(&kind, &i.to_string(), "{}")?;
        }
        let enqueue_s = started.elapsed().as_secs_f64();
        let lease = std::time::Duration::from_secs(60);
        let started = std::time::Instant::now();
        let done: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let (home, kind) = (&home, &kind);
                    s.spawn(move || -> Result<u64, String> {
                        let db = home.db().map_err(|e| e.to_string())?;
                        let name = format!("bench-{w}");
                        let mut done = 0;
                        while let Some(job) =
                            db.claim(&name, &[kind], lease).map_err(|e| e.to_string())?
                        {
                            db.finish(&job, &name, Ok(None))
                                .map_err(|e| e.to_string())?;
                            done += 1;
                        }
                        Ok(done)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| "a worker panicked".to_string())?)
                .sum::<Result<u64, String>>()
        })?;
        let work_s = started.elapsed().as_secs_f64();
        let counts = db.queue_counts(Some(&kind))?;
        if done != n || counts.done != n {
            return Err(format!("{done} jobs done, {} recorded done, of {n}", counts.done).into());
        }
        Ok(serde_json::json!({
            "engine": db.engine_name(),
            "jobs": n,
            "workers": workers,
            "enqueue_seconds": enqueue_s,
            "work_seconds": work_s,
            "jobs_per_second": n as f64 / work_s,
        }))
    };
    print_json_or_fail(run())
}

fn gen_packbench(args: &[String]) -> ExitCode {
    let (Some(dir), Some(n)) = (
        flag(args, "--archive").map(PathBuf::from),
        flag(args, "--files").and_then(|s| s.replace('_', "").parse::<u64>().ok()),
    ) else {
        eprintln!("--archive DIR and --files N are required");
        return ExitCode::from(2);
    };
    let kib: u64 = flag(args, "--kib")
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    match write_packbench(&dir, n, kib) {
        Ok(bytes) => {
            println!("{}: {n} preserved files, {bytes} bytes", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_packbench(
    dir: &std::path::Path,
    n: u64,
    kib: u64,
) -> Result<u64, Box<dyn std::error::Error>> {
    use musicark_store::params;
    let home = musicark_store::Home::init(dir)?;
    let mut db = home.db()?;
    let mut rng = musicark_sample::Rng::new(7);
    let tx = db.transaction()?;
    let mut total = 0u64;
    let artists = (n / 50).max(1);
    for a in 0..artists {
        tx.execute(
            "INSERT INTO artists (artist_id, name, country) VALUES (?1, ?2, ?3)",
            params![
                a as i64 + 1,
                format!("Artist {a:06}"),
                ["GB", "US", "JP", "DE", "FR", "BR"][(a % 6) as usize]
            ],
        )?;
    }
    let releases = (n / 10).max(1);
    for r in 0..releases {
        tx.execute(
            "INSERT INTO releases (release_id, mbid, title, artist_credit, date) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                r as i64 + 1,
                format!("00000000-0000-4000-8000-{:012x}", r),
                format!("Release {r:07}"),
                format!("Artist {:06}", r % artists),
                format!("{}-01-01", 1960 + (r % 64))
            ],
        )?;
    }
    let blobs = dir.join("blobs");
    let items = 1500usize; // 3 minutes of fingerprint
    for i in 0..n {
        let id = i as i64 + 1;
        let mbid = format!("11111111-0000-4000-8000-{:012x}", i);
        let size = (kib * 1024) + rng.below(kib * 1024);
        let mut bytes = vec![0u8; size as usize];
        for chunk in bytes.chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        let b3 = blake3::hash(&bytes).to_hex().to_string();
        let path = blobs.join(&b3[0..2]).join(&b3[2..4]);
        std::fs::create_dir_all(&path)?;
        std::fs::write(path.join(&b3), &bytes)?;
        total += size;
        let release = (i / 10) % releases;
        tx.execute(
            "INSERT INTO recordings (recording_id, mbid, title, artist_credit, length_ms) VALUES (?1, ?2, ?3, ?4, 180000)",
            params![id, mbid, format!("Track {i:07}"), format!("Artist {:06}", release % artists)],
        )?;
        tx.execute(
            "INSERT INTO recording_artists (recording_id, position, artist_id, credited_name) VALUES (?1, 0, ?2, 'x')",
            params![id, (release % artists) as i64 + 1],
        )?;
        tx.execute(
            "INSERT INTO tracks (release_id, disc, position, recording_id) VALUES (?1, 1, ?2, ?3)",
            params![release as i64 + 1, (i % 10) as i64 + 1, id],
        )?;
        tx.execute(
            "INSERT INTO popularity (recording_key, source, listen_count) VALUES (?1, 'listenbrainz', ?2)",
            params![mbid, (1_000_000 / (i + 1)) as i64],
        )?;
        tx.execute(
            "INSERT INTO contents (content_id, sha256, size, stored, verdict, codec, bitrate, duration_seconds, analyzer_version, analyzed_at) \
             VALUES (?1, ?2, ?3, 1, 'audio', 'opus', 64000, 180.0, 3, 'bench')",
            params![b3, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)), size as i64],
        )?;
        let fp: Vec<u8> = (0..items)
            .flat_map(|_| (rng.next_u64() as u32).to_le_bytes())
            .collect();
        tx.execute(
            "INSERT INTO fingerprints (content_id, algorithm, duration, data) VALUES (?1, 2, 180.0, ?2)",
            params![b3, fp],
        )?;
        tx.execute(
            "INSERT INTO files (path, display_path, size, mtime_ns, content_id, status, mode, first_seen, last_seen) \
             VALUES (?1, ?2, ?3, 0, ?4, 'ok', 'copy', 'bench', 'bench')",
            params![format!("/collection/{i}.opus").into_bytes(), format!("/collection/{i}.opus"), size as i64, b3],
        )?;
        tx.execute(
            "INSERT INTO preserved (source_id, tier, output_id, bytes, duration, recording_id, made_at) \
             VALUES (?1, 'original', ?1, ?2, 180.0, ?3, 'bench')",
            params![b3, size as i64, id],
        )?;
    }
    tx.commit()?;
    Ok(total)
}

// ------------------------------------------------------------ seeding

/// One simulated world: torrents, what they hold, who seeds them, and the
/// donors who will come (their budgets), all from one seed.
struct World {
    torrents: Vec<musicark_swarm::seedplan::Torrent>,
    recordings: usize,
    budgets: Vec<u64>,
}

fn normal(rng: &mut musicark_sample::Rng) -> f64 {
    let u1 = f64::from(rng.unit()).max(1e-7);
    let u2 = f64::from(rng.unit());
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Torrents: sizes log-normal (median 40 GB); 50 recordings each, a
/// quarter of the torrents mostly re-publishing recordings found in
/// others (80 %); seeders long-tailed (35 % none, 20 % one, 15 % two,
/// 10 % three, the rest 4 to ~100). Donors: budgets log-normal (median
/// 200 GB, from 20 GB to 8 TB).
fn world(seed: u64, n: usize, donors: usize) -> World {
    let mut rng = musicark_sample::Rng::new(seed);
    let per = 50u32;
    let mut torrents = Vec::with_capacity(n);
    let mut next_recording = 0u32;
    for i in 0..n {
        let size = (40e9 * (0.7 * normal(&mut rng)).exp()) as u64;
        let repack = i > 10 && rng.unit() < 0.25;
        let recordings: Vec<u32> = (0..per)
            .map(|_| {
                if repack && rng.unit() < 0.8 {
                    rng.below(u64::from(next_recording)) as u32
                } else {
                    next_recording += 1;
                    next_recording - 1
                }
            })
            .collect();
        let u = rng.unit();
        let seeders = match u {
            u if u < 0.35 => 0,
            u if u < 0.55 => 1,
            u if u < 0.70 => 2,
            u if u < 0.80 => 3,
            _ => 4 + (8.0 / f64::from(rng.unit()).max(0.08)) as u32 - 8,
        };
        let leechers = rng.below(3) as u32;
        torrents.push(musicark_swarm::seedplan::Torrent {
            size: size.max(1_000_000_000),
            seeders,
            leechers,
            recordings,
            key: rng.next_u64(),
        });
    }
    let budgets = (0..donors)
        .map(|_| ((200e9 * normal(&mut rng).exp()) as u64).clamp(20_000_000_000, 8_000_000_000_000))
        .collect();
    World {
        torrents,
        recordings: next_recording as usize,
        budgets,
    }
}

#[derive(Default, Clone, Copy)]
struct Outcome {
    below4: usize,
    min_copies: u32,
    share4: f64,
    donated: u64,
}

fn measure(copies: &[u32], donated: u64) -> Outcome {
    let below4 = copies.iter().filter(|&&c| c < 4).count();
    Outcome {
        below4,
        min_copies: copies.iter().copied().min().unwrap_or(0),
        share4: 1.0 - below4 as f64 / copies.len().max(1) as f64,
        donated,
    }
}

/// Donors arrive one after another; those within one scrape epoch
/// (`epoch` donors) see the same, stale seeder counts. Returns the state
/// after the first `first` donors, and the bytes donated until every
/// recording had 4 copies (or the donors ran out: `None`).
fn run_strategy(
    w: &World,
    ours: bool,
    first: usize,
    epoch: usize,
    seed: u64,
    model: &musicark_swarm::seedplan::Model,
) -> (Outcome, Option<u64>) {
    let mut live: Vec<musicark_swarm::seedplan::Torrent> = w.torrents.clone();
    let mut seen = live.clone();
    let weights = vec![1.0; w.recordings];
    let mut noise_rng = musicark_sample::Rng::new(seed ^ 0xA17C_0A17);
    let mut donated = 0u64;
    let mut at_first = None;
    for (d, &budget) in w.budgets.iter().enumerate() {
        if d % epoch == 0 {
            seen = live.clone();
        }
        if d == first {
            let c = musicark_swarm::seedplan::copies(&live, w.recordings);
            at_first = Some(measure(&c, donated));
        }
        let c = musicark_swarm::seedplan::copies(&live, w.recordings);
        if c.iter().all(|&x| x >= 4) {
            let done = donated;
            return (at_first.unwrap_or_else(|| measure(&c, donated)), Some(done));
        }
        let chosen = if ours {
            let seen_copies = musicark_swarm::seedplan::copies(&seen, w.recordings);
            musicark_swarm::seedplan::plan(
                &seen,
                &weights,
                &seen_copies,
                budget,
                musicark_swarm::seedplan::donor_key(&format!("donor-{d}")),
                model,
            )
        } else {
            musicark_swarm::seedplan::anchor_plan(&seen, budget, &mut |_| {
                f64::from(noise_rng.unit()) * 2.0
            })
        };
        for i in chosen {
            live[i].seeders += 1;
            donated += live[i].size;
        }
    }
    let c = musicark_swarm::seedplan::copies(&live, w.recordings);
    (at_first.unwrap_or_else(|| measure(&c, donated)), None)
}

/// Several publishers: torrent `i` is published by publisher `i % k`
/// (the repacks re-publish recordings any of them holds), and each donor
/// follows one publisher, publisher `p` drawing a share of donors in
/// proportion to 1/(p+1) (a few large publishers, a long tail of small
/// ones, as with torrents). Alone, a donor plans over its publisher's
/// torrents, seeing copies counted over them only; federated, over every
/// publisher's, with copies counted worldwide. The state after `first`
/// donors, copies counted worldwide.
fn run_publishers(
    w: &World,
    k: usize,
    federated: bool,
    first: usize,
    epoch: usize,
    (model, federated_model): (
        &musicark_swarm::seedplan::Model,
        &musicark_swarm::seedplan::Model,
    ),
) -> Outcome {
    use musicark_swarm::seedplan::{copies, donor_key, plan};
    let mut live: Vec<musicark_swarm::seedplan::Torrent> = w.torrents.clone();
    let mut seen = live.clone();
    let weights = vec![1.0; w.recordings];
    let owned: Vec<Vec<usize>> = (0..k)
        .map(|p| (0..live.len()).filter(|i| i % k == p).collect())
        .collect();
    let mut donated = 0u64;
    let zipf: Vec<f64> = (0..k).map(|p| 1.0 / (p + 1) as f64).collect();
    let total: f64 = zipf.iter().sum();
    let mut pick = musicark_sample::Rng::new(0x5EED ^ k as u64);
    for (d, &budget) in w.budgets.iter().take(first).enumerate() {
        if d % epoch == 0 {
            seen = live.clone();
        }
        let donor = donor_key(&format!("donor-{d}"));
        let mut u = f64::from(pick.unit()) * total;
        let mut follows = k - 1;
        for (p, z) in zipf.iter().enumerate() {
            if u < *z {
                follows = p;
                break;
            }
            u -= z;
        }
        let chosen: Vec<usize> = if federated {
            let c = copies(&seen, w.recordings);
            plan(&seen, &weights, &c, budget, donor, federated_model)
        } else {
            let mine = &owned[follows];
            let sub: Vec<musicark_swarm::seedplan::Torrent> =
                mine.iter().map(|&i| seen[i].clone()).collect();
            let c = copies(&sub, w.recordings);
            plan(&sub, &weights, &c, budget, donor, model)
                .into_iter()
                .map(|j| mine[j])
                .collect()
        };
        for i in chosen {
            live[i].seeders += 1;
            donated += live[i].size;
        }
    }
    measure(&copies(&live, w.recordings), donated)
}

fn simulate_publishers(
    seeds: &[u64],
    n: usize,
    k: usize,
    first: usize,
    epoch: usize,
    models: (
        &musicark_swarm::seedplan::Model,
        &musicark_swarm::seedplan::Model,
    ),
) {
    println!(
        "{k} publishers over {n} torrents (torrent i published by i mod {k}; a quarter re-publish recordings any of them holds); each donor follows one publisher, publisher p drawing donors in proportion to 1/(p+1); after {first} donors, copies counted worldwide."
    );
    println!();
    println!("| seed | plans | recordings < 4 copies | min copies | share ≥ 4 | TB donated |");
    println!("|---|---|---|---|---|---|");
    let mut sum = [0f64; 2];
    for &seed in seeds {
        let w = world(seed, n, first);
        for (j, federated) in [(0, false), (1, true)] {
            let o = run_publishers(&w, k, federated, first, epoch, models);
            sum[j] += o.below4 as f64;
            println!(
                "| {seed} | {} | {} | {} | {:.1} % | {:.1} |",
                if federated {
                    "federated"
                } else {
                    "each publisher alone"
                },
                o.below4,
                o.min_copies,
                o.share4 * 100.0,
                o.donated as f64 / 1e12
            );
        }
    }
    println!();
    println!(
        "Mean over seeds: recordings below 4 copies — federated {:.0}, each alone {:.0} ({:.0} % fewer with federated plans).",
        sum[1] / seeds.len() as f64,
        sum[0] / seeds.len() as f64,
        (1.0 - sum[1] / sum[0].max(1e-9)) * 100.0
    );
}

fn simulate_seeding(args: &[String]) -> ExitCode {
    let seeds: Vec<u64> = flag(args, "--seeds")
        .unwrap_or_else(|| "1,2,3,4,5".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let n: usize = flag(args, "--torrents")
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let first: usize = flag(args, "--donors")
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let epoch: usize = flag(args, "--epoch")
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let cap = 20_000;
    let mut model = musicark_swarm::seedplan::Model::default();
    if let Some(p) = flag(args, "--p").and_then(|s| s.parse().ok()) {
        model.p = p;
    }
    if let Some(s) = flag(args, "--spread").and_then(|s| s.parse().ok()) {
        model.spread = s;
    }
    if let Some(t) = flag(args, "--target").and_then(|s| s.parse().ok()) {
        model.target = t;
    }
    if args.iter().any(|a| a == "--no-zero-first") {
        model.zero_first = false;
    }
    if let Some(k) = flag(args, "--publishers").and_then(|s| s.parse::<usize>().ok()) {
        // Alone: the archive's own model; federated: the one federated
        // plans use (`--spread` sets both).
        let mut federated = musicark_swarm::seedplan::Model::federated();
        if let Some(s) = flag(args, "--spread").and_then(|s| s.parse().ok()) {
            federated.spread = s;
        }
        simulate_publishers(&seeds, n, k.max(1), first, epoch, (&model, &federated));
        return ExitCode::SUCCESS;
    }
    println!(
        "Torrents {n} (median 40 GB, 50 recordings each, a quarter re-publishing others' recordings), donors arriving {epoch} per scrape; after {first} donors, and until every recording has 4 copies (at most {cap} donors)."
    );
    println!();
    println!(
        "| seed | strategy | recordings < 4 copies after {first} donors | min copies | share ≥ 4 | TB donated by then | TB until all ≥ 4 |"
    );
    println!("|---|---|---|---|---|---|---|");
    let (mut sum_below, mut sum_bytes) = ([0f64; 2], [0f64; 2]);
    for &seed in &seeds {
        let w = world(seed, n, cap);
        for (k, ours) in [(0, false), (1, true)] {
            let (o, all) = run_strategy(&w, ours, first, epoch, seed, &model);
            sum_below[k] += o.below4 as f64;
            sum_bytes[k] += all.map_or(f64::NAN, |b| b as f64);
            println!(
                "| {seed} | {} | {} | {} | {:.1} % | {:.1} | {} |",
                if ours { "musicark" } else { "anchor formula" },
                o.below4,
                o.min_copies,
                o.share4 * 100.0,
                o.donated as f64 / 1e12,
                all.map_or("not reached".to_string(), |b| format!(
                    "{:.1}",
                    b as f64 / 1e12
                ))
            );
        }
    }
    println!();
    println!(
        "Mean over seeds: recordings below 4 copies after {first} donors — musicark {:.0}, anchor {:.0} ({:.0} % fewer); bytes until every recording has 4 copies — musicark {:.1} TB, anchor {:.1} TB ({:.0} % fewer).",
        sum_below[1] / seeds.len() as f64,
        sum_below[0] / seeds.len() as f64,
        (1.0 - sum_below[1] / sum_below[0].max(1e-9)) * 100.0,
        sum_bytes[1] / seeds.len() as f64 / 1e12,
        sum_bytes[0] / seeds.len() as f64 / 1e12,
        (1.0 - sum_bytes[1] / sum_bytes[0]) * 100.0
    );
    ExitCode::SUCCESS
}

// ------------------------------------------------------------ lists

/// A minimal single-file .torrent (v1): its bytes and its info-hash.
/// The piece hashes are made up (the data does not exist).
fn tiny_torrent(name: &str, length: u64, seed: u64) -> (Vec<u8>, String) {
    use sha1::Digest;
    // Sixteen pieces at most: a million of these stay ~0.5 GB on disk.
    let piece = length.div_ceil(16).next_power_of_two().max(1 << 20);
    let pieces = length.div_ceil(piece).max(1);
    let mut hashes = Vec::with_capacity(pieces as usize * 20);
    for i in 0..pieces {
        let mut h = sha1::Sha1::new();
        h.update(seed.to_le_bytes());
        h.update(i.to_le_bytes());
        hashes.extend_from_slice(&h.finalize());
    }
    let mut info = format!(
        "d6:lengthi{length}e4:name{}:{name}12:piece lengthi{piece}e6:pieces{}:",
        name.len(),
        hashes.len()
    )
    .into_bytes();
    info.extend_from_slice(&hashes);
    info.push(b'e');
    let btih = hex::encode(sha1::Sha1::digest(&info));
    let mut out = b"d4:info".to_vec();
    out.extend_from_slice(&info);
    out.push(b'e');
    (out, btih)
}

/// Synthetic published lists for the federation benchmark: `--lists` L
/// folders, each a musicark list of `--torrents` T torrents signed by one
/// key (`DIR/key.pub`), its .torrent files, and a metadata release whose
/// where-index says each torrent holds `--per` R recordings drawn from
/// the MBIDs of `--mbids` (a MusicBrainz recording dump, JSON lines).
fn gen_lists(args: &[String]) -> ExitCode {
    let get = |name: &str, default: usize| {
        flag(args, name)
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let (lists, torrents, per) = (
        get("--lists", 100),
        get("--torrents", 10_000),
        get("--per", 5),
    );
    let (Some(mbids), Some(out)) = (flag(args, "--mbids"), flag(args, "--out")) else {
        eprintln!("--mbids FILE and --out DIR are required");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        use sha2::Digest;
        use std::io::{BufRead, Write};
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out)?;
        let pool: Vec<String> = std::io::BufReader::new(std::fs::File::open(&mbids)?)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| {
                let v: serde_json::Value = serde_json::from_str(&l).ok()?;
                v["id"].as_str().map(str::to_string)
            })
            .collect();
        if pool.is_empty() {
            return Err("no MBIDs in --mbids".into());
        }
        let kp = minisign::KeyPair::generate_unencrypted_keypair()?;
        std::fs::write(out.join("key.pub"), kp.pk.to_box()?.to_string())?;
        let mut rng = musicark_sample::Rng::new(7);
        for l in 0..lists {
            let dir = out.join(format!("{l:03}"));
            let tdir = dir.join("torrents");
            std::fs::create_dir_all(&tdir)?;
            let mut entries = Vec::with_capacity(torrents + 1);
            let mut index = Vec::new();
            let entry = |name: &str,
                         bytes: &[u8],
                         btih: &str,
                         size: u64,
                         meta: bool,
                         manifest: &str,
                         seeders: u64| {
                serde_json::json!({
                    "url": format!("torrents/{name}.torrent"),
                    "top_level_group_name": format!("bench-{l:03}"),
                    "group_name": if meta { "metadata".to_string() } else { format!("bench-{l:03}-tail") },
                    "display_name": format!("{name}.torrent"),
                    "added_to_torrents_list_at": "2026-11-30",
                    "is_metadata": meta,
                    "btih": btih,
                    "magnet_link": format!("magnet:?xt=urn:btih:{btih}&dn={name}"),
                    "torrent_size": bytes.len(),
                    "num_files": 1,
                    "data_size": size,
                    "obsolete": false,
                    "embargo": false,
                    "seeders": seeders,
                    "leechers": 0,
                    "completed": 0,
                    "stats_scraped_at": null,
                    "partially_broken": false,
                    "btmh": null,
                    "popularity_band": "tail",
                    "tier": "opus",
                    "tracks": per,
                    "unique_tracks": per,
                    "listen_share": 0.0,
                    "manifest_sha256": manifest,
                })
            };
            for t in 0..torrents {
                let name = format!("bench-{l:03}-{t:05}");
                // One torrent in fifty is published by every list: the
                // same name, size and pieces, so the same info-hash.
                let shared = t % 50 == 0;
                let size = if shared {
                    100_000_000 + t as u64 * 1000
                } else {
                    100_000_000 + rng.below(4_000_000_000)
                };
                let seed = if shared {
                    t as u64
                } else {
                    (l * torrents + t) as u64 + 1_000_000
                };
                let name = if shared {
                    format!("bench-shared-{t:05}")
                } else {
                    name
                };
                let (bytes, btih) = tiny_torrent(&name, size, seed);
                std::fs::write(tdir.join(format!("{name}.torrent")), &bytes)?;
                for _ in 0..per {
                    let m = &pool[rng.below(pool.len() as u64) as usize];
                    index.push(format!(
                        "{{\"recording_mbid\":\"{m}\",\"btih\":\"{btih}\"}}"
                    ));
                }
                entries.push(entry(
                    &name,
                    &bytes,
                    &btih,
                    size,
                    false,
                    &"0".repeat(64),
                    rng.below(6),
                ));
            }
            // The metadata release: manifest and where-index, served as a
            // web seed would.
            let meta = format!("bench-{l:03}-metadata-00001");
            let mdir = dir.join("packs").join(&meta);
            std::fs::create_dir_all(&mdir)?;
            let mut z = zstd::stream::write::Encoder::new(Vec::new(), 3)?;
            for line in &index {
                z.write_all(line.as_bytes())?;
                z.write_all(b"\n")?;
            }
            let zbytes = z.finish()?;
            std::fs::write(mdir.join("index.jsonl.zst"), &zbytes)?;
            let manifest = format!(
                "{}\n",
                serde_json::json!({
                    "path": "index.jsonl.zst", "size": zbytes.len(),
                    "sha256": hex::encode(sha2::Sha256::digest(&zbytes)),
                    "blake3": blake3::hash(&zbytes).to_hex().to_string(),
                    "codec": null, "bitrate": null, "duration": null, "tier": "metadata",
                    "fingerprint": null, "recording_id": null, "recording_mbid": null, "isrcs": [],
                    "release_id": null, "release_mbid": null, "title": null, "artist": null,
                    "source_blake3": blake3::hash(&zbytes).to_hex().to_string(),
                })
            );
            std::fs::write(mdir.join("manifest.jsonl"), &manifest)?;
            let (bytes, btih) = tiny_torrent(&meta, zbytes.len() as u64, 9_000_000 + l as u64);
            std::fs::write(tdir.join(format!("{meta}.torrent")), &bytes)?;
            entries.push(entry(
                &meta,
                &bytes,
                &btih,
                zbytes.len() as u64,
                true,
                &hex::encode(sha2::Sha256::digest(manifest.as_bytes())),
                1,
            ));
            let mut json = b"[\n".to_vec();
            for (i, e) in entries.iter().enumerate() {
                serde_json::to_writer(&mut json, e)?;
                json.extend_from_slice(if i + 1 < entries.len() { b",\n" } else { b"\n" });
            }
            json.extend_from_slice(b"]\n");
            std::fs::write(dir.join("torrents.json"), &json)?;
            let sig = musicark_publish::list::sign(&kp.sk, &kp.pk, &json, "torrents.json")?;
            std::fs::write(dir.join("torrents.json.minisig"), sig)?;
        }
        println!(
            "{lists} lists of {torrents} torrents (+ a metadata release each, {per} recordings per torrent) in {}",
            out.display()
        );
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
