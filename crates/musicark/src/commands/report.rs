//! `musicark report damaged|transcodes|duplicates`

use musicark_store::DamagedEntry;

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::print_json;

pub fn damaged(g: &Global) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let report = home.db()?.damaged_report()?;
    if g.json {
        return print_json(&report);
    }
    let section = |title: &str, entries: &[DamagedEntry]| {
        if entries.is_empty() {
            return;
        }
        println!("{title} ({})", entries.len());
        for e in entries {
            println!("  {}", e.path);
            if let Some(r) = &e.reason {
                println!("      {r}");
            }
        }
    };
    section("Damaged", &report.damaged);
    section("Unsupported", &report.unsupported);
    section("Unreadable (retried by the next ingest)", &report.errors);
    section("Clean audio with warnings", &report.warnings);
    if report.damaged.is_empty()
        && report.unsupported.is_empty()
        && report.errors.is_empty()
        && report.warnings.is_empty()
    {
        println!("No damaged, unsupported or unreadable files.");
    }
    Ok(())
}

pub fn transcodes(g: &Global) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let report = home.db()?.transcode_report()?;
    if g.json {
        return print_json(&report);
    }
    if report.is_empty() {
        println!("No lossless file shows a lossy encoder's cut.");
        return Ok(());
    }
    println!(
        "Lossless files that look transcoded from a lossy source ({})",
        report.len()
    );
    for e in &report {
        println!(
            "  {}\n      {} {} Hz, cut at {:.1} kHz, confidence {:.2}",
            e.path,
            e.codec.as_deref().unwrap_or("?"),
            e.sample_rate.unwrap_or(0),
            e.cutoff_hz.unwrap_or(0.0) / 1000.0,
            e.confidence.unwrap_or(0.0)
        );
    }
    Ok(())
}

pub fn duplicates(g: &Global) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let report = musicark_identify::duplicates(&home.db_read_only()?)?;
    if g.json {
        return print_json(&report);
    }
    if report.groups.is_empty() {
        println!(
            "No duplicates among {} analysed contents.",
            report.contents_compared
        );
        return Ok(());
    }
    println!(
        "{} groups; {} files are redundant copies ({} contents, {} fingerprint comparisons).",
        report.groups.len(),
        report.redundant_files,
        report.contents_compared,
        report.fingerprint_comparisons
    );
    for grp in &report.groups {
        println!();
        println!("keep  {}", grp.best.paths.join("\n      "));
        println!("      {}", grp.reason);
        for o in &grp.others {
            for p in &o.paths {
                println!(
                    "  dup {p}  ({}{}, similarity {:.3})",
                    o.codec.as_deref().unwrap_or("?"),
                    if o.verdict == "damaged" {
                        ", damaged"
                    } else {
                        ""
                    },
                    o.similarity
                );
            }
        }
    }
    Ok(())
}
