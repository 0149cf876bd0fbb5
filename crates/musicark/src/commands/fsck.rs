//! `musicark fsck`: find silent damage, repair what has a good copy.

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::print_json;
use musicark_store::units::size;

struct Bar(Option<ProgressBar>);

impl musicark_fsck::Progress for Bar {
    fn checked(&self, done: u64, total: u64, _bytes: u64) {
        if let Some(b) = &self.0 {
            b.set_length(total);
            b.set_position(done);
        }
    }
}

pub fn run(g: &Global, options: musicark_fsck::FsckOptions, log: bool) -> anyhow::Result<()> {
    let repair = options.repair;
    let home = open_home(g)?;
    if log {
        let db = home.db_read_only()?;
        let entries = musicark_fsck::repair_log(&db)?;
        if g.json {
            return print_json(&entries);
        }
        if entries.is_empty() {
            println!("No repairs logged.");
        }
        for e in &entries {
            println!(
                "{}  {} {}: {} — restored from {}{}",
                e.at,
                e.kind,
                e.key,
                e.problem,
                e.source,
                e.quarantined
                    .as_deref()
                    .map(|q| format!("; bad copy kept at {q}"))
                    .unwrap_or_default()
            );
        }
        return Ok(());
    }
    // Checks record their time; repairs change the archive: one writer.
    let _lock = home.lock_for_writing()?;
    let db = home.db()?;
    let bar = (!g.json && !g.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{spinner} fsck [{bar:30}] {pos}/{len} objects ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b
    });
    let report = musicark_fsck::fsck(&home, &db, &options, &Bar(bar.clone()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let remaining = report
        .problems
        .iter()
        .filter(|p| p.repaired_from.is_none())
        .count();
    if g.json {
        print_json(&report)?;
    } else {
        let checked: u64 = report.checked.values().sum();
        println!(
            "Checked {checked} objects ({} read) in {:.1} s: {}",
            size(report.bytes_checked),
            report.seconds,
            report
                .checked
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !report.complete {
            println!(
                "Stopped at the limit; {} objects wait for the next run (oldest first).",
                report.left_for_next_run
            );
        }
        for p in &report.problems {
            match (&p.repaired_from, &p.unrepaired) {
                (Some(from), _) => {
                    println!(
                        "repaired  {} {}: {} (from {from})",
                        p.kind.as_str(),
                        p.key,
                        p.problem
                    )
                }
                (None, Some(why)) => println!(
                    "DAMAGED   {} {}: {} — not repaired: {why}",
                    p.kind.as_str(),
                    p.key,
                    p.problem
                ),
                (None, None) => println!("DAMAGED   {} {}: {}", p.kind.as_str(), p.key, p.problem),
            }
        }
        if report.problems.is_empty() {
            println!("No damage found.");
        } else if !repair && remaining > 0 {
            println!("Run `musicark fsck --repair` to restore what has a good copy.");
        }
    }
    if remaining > 0 {
        bail!("{remaining} damaged objects remain");
    }
    Ok(())
}
