//! `musicark preserve [--jobs N] [--dry-run]`: make the archive copies by the
//! tier policy in `musicark.toml` (`[preserve]`).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::print_json;
use musicark_store::units::size;

pub fn run(g: &Global, jobs: Option<usize>, dry_run: bool) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let _lock = home.lock_for_writing()?;
    let db = home.db()?;
    let work = musicark_preserve::plan(&home, &db, &home.config.preserve)?;
    drop(db);
    if dry_run {
        if g.json {
            return print_json(&work);
        }
        for j in &work {
            let what = match j.decision {
                musicark_preserve::Decision::Original => "keep original".to_string(),
                musicark_preserve::Decision::Opus { kbps } => format!("opus {kbps} kbit/s"),
            };
            println!("{what:<16} {}\n                 {}", j.path, j.why);
        }
        println!(
            "{} files would be preserved (dry run: nothing written).",
            work.len()
        );
        return Ok(());
    }
    let threads =
        jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bar = (!g.json && !g.quiet && std::io::stderr().is_terminal()).then(|| {
        let b =
            ProgressBar::with_draw_target(Some(work.len() as u64), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} preserve [{bar:30}] {pos}/{len} files ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let progress = |done: usize, _total: usize| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    };
    let summary = musicark_preserve::run(&home, &work, threads, &progress)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if g.json {
        return print_json(&summary);
    }
    println!(
        "{} files: {} re-encoded to Opus, {} kept as original, {} already done; {} → {} in {:.1} s ({:.0}× realtime).",
        summary.sources,
        summary.made,
        summary.kept_original,
        summary.already_done,
        size(summary.bytes_in),
        size(summary.bytes_out),
        summary.seconds,
        summary.realtime
    );
    for (path, why) in &summary.failed {
        eprintln!("failed: {path}: {why}");
    }
    if !summary.failed.is_empty() {
        anyhow::bail!(
            "{} files could not be preserved (see above); a rerun retries them",
            summary.failed.len()
        );
    }
    Ok(())
}

/// `preserve --queue [--detach]`: plan, record the originals, queue the
/// re-encodes for `musicark worker`, then (unless detached) wait for them
/// with a progress bar.
pub fn queued(g: &Global, detach: bool) -> anyhow::Result<()> {
    let home = open_home(g)?;
    crate::commands::worker::require_postgres(&home, "preserve --queue")?;
    let (queued, originals) = {
        // Beside running workers (and ingests), as they are.
        let _lock = home.lock(musicark_store::Writers::Ingest)?;
        let db = home.db()?;
        let work = musicark_preserve::plan(&home, &db, &home.config.preserve)?;
        drop(db);
        musicark_preserve::enqueue(&home, &work)?
    };
    let db = home.db()?;
    if !detach {
        crate::commands::worker::wait_for_jobs(g, &db, musicark_preserve::JOB_KIND, "preserve")?;
    }
    let c = db.queue_counts(Some(musicark_preserve::JOB_KIND))?;
    let failed = db.failed_jobs(musicark_preserve::JOB_KIND)?;
    #[derive(serde::Serialize)]
    struct Queued {
        queued: usize,
        kept_original: usize,
        queue: musicark_store::queue::QueueCounts,
        failed: Vec<(String, String)>,
        detached: bool,
    }
    let out = Queued {
        queued,
        kept_original: originals.kept_original,
        queue: c.clone(),
        failed: failed.clone(),
        detached: detach,
    };
    if g.json {
        print_json(&out)?;
    } else {
        println!(
            "{} originals kept; {} re-encodes queued. Queue: {} queued, {} running, {} done, {} failed.",
            out.kept_original, out.queued, c.queued, c.running, c.done, c.failed
        );
        if detach {
            println!("Start workers with `musicark worker` (here or on other machines).");
        }
        for (source, why) in &failed {
            eprintln!("failed: {source}: {why}");
        }
    }
    if !detach && !failed.is_empty() {
        anyhow::bail!(
            "{} re-encodes failed (see above); `musicark preserve --queue` queues them again",
            failed.len()
        );
    }
    Ok(())
}
