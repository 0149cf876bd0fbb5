//! `musicark status`

use musicark_store::Status;

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::{duration, print_json};
use musicark_store::units::size;

pub fn run(g: &Global) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db()?;
    let report = musicark_swarm::health::status(&home, &db)?;
    if g.json {
        print_json(&report)
    } else {
        let (status, health) = (report.status, report.health);
        print_status(&status);
        if health.torrents > 0 {
            crate::commands::health::print_summary(&health);
        }
        Ok(())
    }
}

pub(crate) fn print_status(s: &Status) {
    println!(
        "Archive   {} (schema {}, {}; blobs in {})",
        s.archive, s.schema_version, s.engine, s.blobs
    );
    if s.queue.total() > 0 {
        println!(
            "Queue     {} queued · {} running · {} done · {} failed (musicark worker)",
            s.queue.queued, s.queue.running, s.queue.done, s.queue.failed
        );
    }
    println!(
        "Files     {}: audio {} · damaged {} · unsupported {} · not audio {} · unreadable {}",
        s.files, s.audio_files, s.damaged, s.unsupported, s.skipped, s.errors
    );
    println!(
        "Bytes     {} in all; {} of clean audio; {} stored as {} unique contents",
        size(s.bytes),
        size(s.audio_bytes),
        size(s.stored_bytes),
        s.unique_contents
    );
    println!("Duration  {} of clean audio", duration(s.duration_seconds));
    let f = &s.fixity;
    match &f.last_run {
        None => println!("Fixity    never checked: run `musicark fsck`"),
        Some(at) => println!(
            "Fixity    last fsck {at}; {} damaged, {} never checked, oldest check {}{}",
            f.damaged,
            f.never_checked,
            f.oldest_check.as_deref().unwrap_or("none"),
            if f.repairs_logged > 0 {
                format!("; {} repairs logged", f.repairs_logged)
            } else {
                String::new()
            }
        ),
    }
    if !s.codecs.is_empty() {
        println!("Codecs");
        let width = s.codecs.iter().map(|c| c.codec.len()).max().unwrap_or(0);
        for c in &s.codecs {
            println!(
                "  {:width$}  {:>6} files  {:>10}  {}",
                c.codec,
                c.files,
                size(c.bytes),
                duration(c.duration_seconds)
            );
        }
    }
}
