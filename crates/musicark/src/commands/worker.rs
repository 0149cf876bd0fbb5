//! `musicark worker [--once] [--lease D] [--name N]`: take queued work
//! from the archive's database and do it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::print_json;

#[derive(serde::Serialize, Default)]
struct WorkerSummary {
    worker: String,
    done: u64,
    failed: Vec<(String, String)>,
    /// Jobs whose lease ran out under this worker (another took them).
    lost: u64,
}

/// The queue lives in the archive's PostgreSQL database; `what` names
/// the command asking.
pub(crate) fn require_postgres(home: &musicark_store::Home, what: &str) -> anyhow::Result<()> {
    if !matches!(home.database(), musicark_store::Location::Postgres(_)) {
        anyhow::bail!(
            "{what} needs an archive on PostgreSQL (musicark init --database, or musicark migrate --to postgres://…); this archive is on SQLite"
        );
    }
    Ok(())
}

/// Wait, with a progress bar, until no job of `kind` is queued or
/// running; the counts at the end.
pub(crate) fn wait_for_jobs(
    g: &Global,
    db: &musicark_store::Db,
    kind: &str,
    what: &str,
) -> anyhow::Result<musicark_store::queue::QueueCounts> {
    let counts = || db.queue_counts(Some(kind));
    let total = counts()?.total();
    let bar = (!g.json && !g.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {what} (workers) [{{bar:30}}] {{pos}}/{{len}} jobs ETA {{eta}} {{msg}}"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    // Nothing taken for this long, nothing running: say who is missing.
    const IDLE_HINT: Duration = Duration::from_secs(30);
    let mut last = (u64::MAX, std::time::Instant::now());
    let mut hinted = false;
    let c = loop {
        let c = counts()?;
        if let Some(b) = &bar {
            b.set_length(c.total());
            b.set_position(c.done + c.failed);
            b.set_message(format!("{} running", c.running));
        }
        if c.queued == 0 && c.running == 0 {
            break c;
        }
        if c.queued != last.0 || c.running > 0 {
            last = (c.queued, std::time::Instant::now());
        } else if !hinted && !g.quiet && last.1.elapsed() >= IDLE_HINT {
            hinted = true;
            let hint = format!(
                "no worker has taken any of the {what} jobs for {} s: start `musicark worker` (here, or on machines with a copy of musicark.toml)",
                IDLE_HINT.as_secs()
            );
            match &bar {
                Some(b) => b.println(hint),
                None => eprintln!("{hint}"),
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    Ok(c)
}

/// The work this build knows how to do, by job kind.
const KINDS: [&str; 3] = [
    musicark_ingest::JOB_KIND,
    musicark_preserve::JOB_KIND,
    musicark_publish::packjob::JOB_KIND,
];

/// Kinds that write the archive's records: taken only under the shared
/// writer lock.
const WRITING_KINDS: [&str; 2] = [musicark_ingest::JOB_KIND, musicark_preserve::JOB_KIND];

/// Kinds a worker may take without the archive's shared writer lock:
/// hashing a pack only reads (the `pack` waiting for it holds the archive
/// alone).
const READ_ONLY_KINDS: [&str; 1] = [musicark_publish::packjob::JOB_KIND];

pub fn run(g: &Global, once: bool, lease: Duration, name: Option<String>) -> anyhow::Result<()> {
    let home = open_home(g)?;
    require_postgres(&home, "a worker")?;
    // Ingests and re-encodes write beside each other and beside ingests,
    // never beside a pack or a repair: their jobs are taken only while
    // this worker holds the shared writer lock, which it lets go whenever
    // it is idle (so a `pack` or a takedown can start).
    let mut lock: Option<musicark_store::WriteLock> = None;
    let worker = name.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        format!("{host}:{}", std::process::id())
    });
    let lease = lease.max(Duration::from_secs(1));
    let mut db = home.db()?;
    // The heartbeats' own connection, kept for the worker's life (a job
    // holds `db`).
    let mut beat_db = home.db()?;
    let mut cache = musicark_preserve::PlanCache::default();
    let mut summary = WorkerSummary {
        worker: worker.clone(),
        ..Default::default()
    };
    loop {
        if lock.is_none() && db.jobs_ready(&WRITING_KINDS)? {
            lock = home.lock(musicark_store::Writers::Ingest).ok();
        }
        let kinds: &[&str] = if lock.is_some() {
            &KINDS
        } else {
            &READ_ONLY_KINDS
        };
        let Some(job) = db.claim(&worker, kinds, lease)? else {
            lock = None;
            let c = db.queue_counts(None)?;
            if once && c.queued == 0 && c.running == 0 {
                break;
            }
            // Nothing ready: new work, or a lease to run out.
            std::thread::sleep(Duration::from_millis(if once { 250 } else { 1000 }));
            continue;
        };
        // The lease is kept alive from another connection while the job
        // runs; a heartbeat refused means another worker holds it now.
        let stop = AtomicBool::new(false);
        let (beat, stop_ref, held, me) = (&mut beat_db, &stop, &job, &worker);
        // `true` when the heartbeats' connection failed (made anew below).
        let (outcome, beat_failed) = std::thread::scope(|s| {
            let beats = s.spawn(move || {
                let every = lease / 3;
                let mut waited = Duration::ZERO;
                while !stop_ref.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    waited += Duration::from_millis(50);
                    if waited >= every {
                        waited = Duration::ZERO;
                        match beat.heartbeat(held, me, lease) {
                            Ok(true) => {}
                            Ok(false) => return false, // another worker holds it now
                            Err(_) => return true,
                        }
                    }
                }
                false
            });
            let outcome = work(&home, &mut db, &mut cache, &job);
            stop.store(true, Ordering::Relaxed);
            (outcome, beats.join().unwrap_or(true))
        });
        if beat_failed {
            beat_db = home.db()?;
        }
        let outcome = outcome?;
        let error = outcome.as_ref().err().cloned();
        if db.finish(
            &job,
            &worker,
            outcome
                .as_ref()
                .map(|r| r.as_deref())
                .map_err(|e| e.as_str()),
        )? {
            match error {
                None => summary.done += 1,
                Some(why) => {
                    if !g.quiet && !g.json {
                        eprintln!("failed: {}: {why}", job.key);
                    }
                    summary.failed.push((job.key.clone(), why));
                }
            }
        } else {
            summary.lost += 1;
        }
        if !g.quiet && !g.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!(
                "{worker}: {} done, {} failed",
                summary.done,
                summary.failed.len()
            );
        }
    }
    if g.json {
        print_json(&summary)
    } else {
        println!(
            "{}: {} jobs done, {} failed, {} taken over by another worker.",
            summary.worker,
            summary.done,
            summary.failed.len(),
            summary.lost
        );
        Ok(())
    }
}

/// Do one job: `Ok(Ok(result))` done (with what it hands back, if
/// anything), `Ok(Err(reason))` failed for a reason of its own, `Err` a
/// failure of the archive itself (the worker stops; the lease runs out and
/// another worker takes the job).
fn work(
    home: &musicark_store::Home,
    db: &mut musicark_store::Db,
    cache: &mut musicark_preserve::PlanCache,
    job: &musicark_store::queue::Claimed,
) -> anyhow::Result<Result<Option<String>, String>> {
    Ok(match job.kind.as_str() {
        musicark_ingest::JOB_KIND => {
            musicark_ingest::work_queued(home, db, &job.payload)?.map(|()| None)
        }
        musicark_preserve::JOB_KIND => {
            musicark_preserve::work_queued(home, cache, &job.key, &job.payload)?.map(|()| None)
        }
        musicark_publish::packjob::JOB_KIND => {
            musicark_publish::packjob::hash_queued(home, &job.payload)?.map(Some)
        }
        other => Err(format!(
            "this musicark cannot do {other:?} jobs (a newer version queued them)"
        )),
    })
}
