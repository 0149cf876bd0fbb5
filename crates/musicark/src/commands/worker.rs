//! `musicark worker [--once] [--lease D] [--name N]`: take queued work
//! from the archive's database and do it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

pub fn run(g: &Global, once: bool, lease: Duration, name: Option<String>) -> anyhow::Result<()> {
    let home = open_home(g)?;
    if !matches!(home.database(), musicark_store::Location::Postgres(_)) {
        anyhow::bail!(
            "workers take their jobs from an archive on PostgreSQL (musicark init --database); this archive is on SQLite"
        );
    }
    // Workers write beside each other and beside ingests; never beside a
    // pack or a repair.
    let _lock = home.lock(musicark_store::Writers::Ingest)?;
    let worker = name.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        format!("{host}:{}", std::process::id())
    });
    let lease = lease.max(Duration::from_secs(1));
    let db = home.db()?;
    let mut cache = musicark_preserve::PlanCache::default();
    let mut summary = WorkerSummary {
        worker: worker.clone(),
        ..Default::default()
    };
    loop {
        let Some(job) = db.claim(&worker, &[musicark_preserve::JOB_KIND], lease)? else {
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
        let outcome = std::thread::scope(|s| {
            s.spawn(|| {
                let Ok(beat) = home.db() else {
                    return;
                };
                let every = lease / 3;
                let mut waited = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    waited += Duration::from_millis(50);
                    if waited >= every {
                        waited = Duration::ZERO;
                        if !beat.heartbeat(&job, &worker, lease).unwrap_or(false) {
                            return; // another worker holds it now
                        }
                    }
                }
            });
            let outcome = musicark_preserve::work_queued(&home, &mut cache, &job.key, &job.payload);
            stop.store(true, Ordering::Relaxed);
            outcome
        });
        let error = outcome?.err();
        if db.finish(&job, &worker, error.as_deref())? {
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
