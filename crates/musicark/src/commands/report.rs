//! `musicark report damaged`

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
