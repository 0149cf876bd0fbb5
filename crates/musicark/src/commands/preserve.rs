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
