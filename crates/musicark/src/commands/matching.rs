//! `musicark match [--review]`: link ingested files to catalogue recordings.

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::print_json;

pub fn run(g: &Global, review: bool) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let _lock = home.lock_for_writing()?;
    let mut cat = musicark_catalog::Catalog::open(&home)?;
    let report = musicark_identify::matching::match_all(&mut cat)?;
    if g.json {
        return print_json(&report);
    }
    println!(
        "{} contents: {} linked ({} by MusicBrainz id, {} by ISRC, {} by fingerprint, {} by artist and title), {} to review, {} unmatched.",
        report.contents,
        report.linked,
        report.by_mbid,
        report.by_isrc,
        report.by_fingerprint,
        report.by_text,
        report.review,
        report.unmatched
    );
    if review {
        for e in report.entries.iter().filter(|e| e.status == "review") {
            println!("\nreview  {}", e.path);
            println!("        {}", e.evidence);
            for c in &e.candidates {
                println!("        candidate: musicark catalog show rec:{c}");
            }
        }
    } else if report.review > 0 {
        println!("See what needs a decision: musicark match --review");
    }
    Ok(())
}
