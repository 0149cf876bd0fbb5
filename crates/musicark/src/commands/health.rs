//! `musicark health scrape|show`: seeding health through musicark-swarm.

use std::time::Duration;

use anyhow::bail;
use musicark_swarm::health::{PackHealth, Summary};
use musicark_swarm::scrape::ScrapeOptions;

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::print_json;
use musicark_store::units::size;

pub fn scrape(g: &Global, trackers: &[String], timeout_ms: u64) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db()?;
    let options = ScrapeOptions {
        timeout: Duration::from_millis(timeout_ms.max(1)),
        ..Default::default()
    };
    let report = musicark_swarm::health::scrape_archive(&home, &db, trackers, &options)?;
    let all_failed =
        !report.trackers.is_empty() && report.trackers.iter().all(|t| t.error.is_some());
    if g.json {
        print_json(&report)?;
        if all_failed {
            bail!("no tracker answered");
        }
        return Ok(());
    }
    if report.trackers.is_empty() {
        println!(
            "No tracker to ask: the packs have none. Give --tracker URL, or set [publish].trackers in musicark.toml."
        );
    }
    for t in &report.trackers {
        match &t.error {
            None => println!(
                "{}: {} of {} hashes answered ({:.2} s)",
                t.tracker, t.answered, t.hashes, t.seconds
            ),
            Some(e) => println!("{}: FAILED: {e}", t.tracker),
        }
    }
    print_packs(&report.packs);
    print_summary(&report.summary);
    if all_failed {
        bail!("no tracker answered");
    }
    Ok(())
}

pub fn seedplan(
    g: &Global,
    budget: u64,
    format: crate::cli::SeedFormat,
    donor: Option<&str>,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::cli::SeedFormat;
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let donor = donor.map(str::to_string).unwrap_or_else(host_name);
    let plan =
        musicark_swarm::health::seed_plan(&db, budget, &donor, &home.config.publish.trackers)?;
    match format {
        _ if g.json => print_json(&plan)?,
        SeedFormat::Json => print_json(&plan)?,
        SeedFormat::Magnet => {
            for t in &plan.torrents {
                println!("{}", t.magnet);
            }
        }
        SeedFormat::Torrents => {
            std::fs::create_dir_all(out)?;
            for t in &plan.torrents {
                let src = home.torrents_dir().join(format!("{}.torrent", t.name));
                std::fs::copy(&src, out.join(format!("{}.torrent", t.name)))?;
            }
            println!(
                "{} torrents ({} of {}) copied to {}",
                plan.torrents.len(),
                size(plan.used),
                size(plan.budget),
                out.display()
            );
        }
    }
    Ok(())
}

/// The default donor id: this machine's name.
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "donor".into())
}

/// Progress of a mirror on stderr: one line per step, a bar on a terminal.
struct MirrorEvents {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl musicark_mirror::Events for MirrorEvents {
    fn planned(&self, names: &[String], total: u64) {
        if !self.quiet {
            eprintln!("plan: {} torrents, {}", names.len(), size(total));
        }
    }
    fn progress(&self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done);
        }
    }
    fn verified(&self, name: &str) {
        if !self.quiet {
            eprintln!("verified: {name}");
        }
    }
    fn replan_failed(&self) {
        if !self.quiet {
            eprintln!(
                "re-plan: the list could not be read or does not verify; keeping what is seeded"
            );
        }
    }
    fn web_seed_failed(&self, url: &str, why: &str) {
        if !self.quiet {
            eprintln!("web seed: {url}: {why} (asking the swarm)");
        }
    }
    fn scrubbed(&self, name: &str, repaired: bool) {
        if !self.quiet {
            if repaired {
                eprintln!("scrub: {name} was damaged; fetched again and verified");
            } else {
                eprintln!("scrub: {name} intact");
            }
        }
    }
    fn seeding(&self, port: Option<u16>) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if !self.quiet {
            eprintln!(
                "seeding on port {}",
                port.map_or("?".to_string(), |p| p.to_string())
            );
        }
    }
}

pub fn mirror(g: &Global, options: musicark_mirror::MirrorOptions) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let bar = (!g.json && !g.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} mirror [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    });
    let events = MirrorEvents {
        bar,
        quiet: g.quiet || g.json,
    };
    let report = musicark_mirror::mirror(&options, &events)?;
    if g.json {
        return print_json(&report);
    }
    println!(
        "{} torrents mirrored ({}), verified, seeded.",
        report.mirrored.len(),
        size(report.bytes)
    );
    Ok(())
}

pub fn show(g: &Global) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let report = musicark_swarm::health::report(&db)?;
    if g.json {
        return print_json(&report);
    }
    print_packs(&report.packs);
    print_summary(&report.summary);
    Ok(())
}

fn print_packs(packs: &[PackHealth]) {
    for p in packs {
        let counts = match (p.seeders, p.leechers) {
            (Some(s), Some(l)) => format!("{s:>4} seeders {l:>4} leechers"),
            _ => "   never scraped".to_string(),
        };
        println!(
            "  {:<6} {:<36} {counts}  {:>10}",
            p.class,
            p.name,
            size(p.data_size)
        );
    }
}

pub(crate) fn print_summary(s: &Summary) {
    println!(
        "Health    {:.1} % of the data in ≥ 4 copies ({} of {}); torrents: {} green, {} amber, {} red ({} never scraped)",
        s.share_data_4_copies * 100.0,
        size(s.bytes_in_4_copies),
        size(s.bytes),
        s.green,
        s.amber,
        s.red,
        s.unknown
    );
}
