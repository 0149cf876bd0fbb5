//! `musicark ingest PATH... [--reference] [--jobs N]`

use musicark_ingest::{IngestOptions, ingest};
use musicark_store::{Home, RunSummary};

use crate::cli::{Global, IngestArgs};
use crate::commands::open_home;
use crate::output::{Bars, duration, print_json};
use musicark_store::units::size;

pub fn run(g: &Global, args: &IngestArgs) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let summary = run_on(&home, g, args)?;
    if g.json {
        print_json(&summary)
    } else {
        print_summary(&summary);
        Ok(())
    }
}

pub(crate) fn run_on(home: &Home, g: &Global, args: &IngestArgs) -> anyhow::Result<RunSummary> {
    let jobs = args.jobs.or(home.config.ingest.jobs).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let rights = match args.rights.as_deref() {
        None => None,
        Some(r) => Some(musicark_publish::rights::canonical(r).ok_or_else(|| {
            anyhow::anyhow!(
                "--rights {r:?} is not a known SPDX licence id (CC-BY-4.0, CC0-1.0, GPL-2.0-or-later…) \
                 or RightsStatements.org statement (InC, NoC-US, http://rightsstatements.org/vocab/…)"
            )
        })?),
    };
    let options = IngestOptions {
        roots: args.paths.clone(),
        reference: args.reference || !home.config.ingest.copy,
        jobs,
        rights,
    };
    if args.queue {
        crate::commands::worker::require_postgres(home, "ingest --queue")?;
        let bars = Bars::new(!g.json && !g.quiet);
        let enqueued = musicark_ingest::enqueue(home, &options, &bars);
        bars.finish();
        let enqueued = enqueued?;
        if !g.json && !g.quiet {
            eprintln!(
                "{} files queued for the workers ({} unchanged skipped).",
                enqueued.queued, enqueued.walk.unchanged
            );
        }
        if args.detach {
            if !g.json && !g.quiet {
                eprintln!(
                    "Start workers with `musicark worker` (here or on machines that reach the same paths); `musicark status` shows the queue."
                );
            }
            return Ok(enqueued.walk);
        }
        let db = home.db()?;
        crate::commands::worker::wait_for_jobs(g, &db, musicark_ingest::JOB_KIND, "ingest")?;
        return Ok(musicark_ingest::summarize(home, &enqueued)?);
    }
    let bars = Bars::new(!g.json && !g.quiet);
    let result = ingest(home, &options, &bars);
    bars.finish();
    let mut summary = result?;
    if options.rights.is_some() {
        // The file's own tag wins over the default, by design; say so.
        let db = home.db_read_only()?;
        summary.kept_own_licence =
            musicark_publish::rights::own_licences_of_run(&db, summary.run_id)?;
    }
    Ok(summary)
}

pub(crate) fn print_summary(s: &RunSummary) {
    let speed = if s.wall_seconds > 0.0 {
        s.audio_seconds / s.wall_seconds
    } else {
        0.0
    };
    println!(
        "Ingested {} new or changed files ({}) in {:.1} s; {} unchanged skipped",
        s.processed,
        size(s.bytes_processed),
        s.wall_seconds,
        s.unchanged
    );
    println!(
        "  audio {} · damaged {} · unsupported {} · not audio {} · unreadable {}",
        s.ok, s.damaged, s.unsupported, s.skipped, s.errors
    );
    println!(
        "  {} of audio validated ({speed:.0}× realtime); {} already-known contents, {} new blobs stored",
        duration(s.audio_seconds),
        s.known_content,
        s.blobs_stored
    );
    if !s.kept_own_licence.is_empty() {
        let n: u64 = s.kept_own_licence.values().sum();
        println!(
            "  {n} files kept the licence their own tags name over --rights: {}",
            s.kept_own_licence
                .iter()
                .map(|(l, k)| format!("{l} ({k})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if s.blobs_repaired > 0 {
        println!(
            "  {} stored blobs had rotted and were restored from these files (bad copies kept in ARCHIVE/quarantine/)",
            s.blobs_repaired
        );
    }
    if s.damaged + s.unsupported + s.errors > 0 {
        println!("  See the problems with: musicark report damaged");
    }
}
