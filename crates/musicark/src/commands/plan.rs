//! `musicark plan --budget SIZE`: which tier for which popularity band fits
//! the budget and keeps the most listening.

use std::time::Instant;

use musicark_catalog::plan::{Tier, load_items, plan};

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::print_json;
use musicark_store::units::size;

pub fn run(g: &Global, budget: u64, kbps: &[u32], lossless: bool) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let started = Instant::now();
    let (items, unknown) = load_items(&db)?;
    let mut tiers: Vec<Tier> = kbps.iter().map(|k| Tier::opus(*k)).collect();
    if lossless {
        tiers.push(Tier::lossless());
    }
    if tiers.is_empty() {
        anyhow::bail!("no tiers: give --tiers (kbit/s) or --lossless");
    }
    let p = plan(items, &tiers, budget, unknown);
    let seconds = started.elapsed().as_secs_f64();
    if g.json {
        let mut v = serde_json::to_value(&p)?;
        v["seconds"] = serde_json::json!(seconds);
        return print_json(&v);
    }
    if p.recordings == 0 {
        println!("The catalogue is empty: import one first (musicark catalog import …).");
        return Ok(());
    }
    println!(
        "Budget {:.1} TB ({}) for {} recordings ({} with listens, {} listens in all{}):",
        p.budget_bytes as f64 / 1e12,
        size(p.budget_bytes),
        p.recordings,
        p.recordings_with_listens,
        p.total_listens,
        if p.unknown_lengths > 0 {
            format!(
                "; {} without a length, counted at the median",
                p.unknown_lengths
            )
        } else {
            String::new()
        }
    );
    println!();
    println!(
        "{:<10} {:>11} {:>9} {:>7}  {:<20} {:>9} {:>11}",
        "band", "recordings", "hours", "listens", "", "tier", "size"
    );
    for b in &p.bands {
        let bar = "█".repeat((b.listen_share * 20.0).round() as usize);
        let tier = match (&b.tier, b.kept < b.recordings) {
            (Some(t), true) => format!("{t} ({} kept)", b.kept),
            (Some(t), false) => t.clone(),
            (None, _) => "not kept".into(),
        };
        println!(
            "{:<10} {:>11} {:>9.0} {:>6.1}%  {:<20} {:>9} {:>11}",
            b.band,
            b.recordings,
            b.hours,
            b.listen_share * 100.0,
            bar,
            tier,
            size(b.bytes)
        );
    }
    println!();
    println!(
        "Uses {} of {}: {:.1} % of recordings, {:.1} % of listens kept.",
        size(p.used_bytes),
        size(p.budget_bytes),
        p.track_share * 100.0,
        p.listen_share * 100.0
    );
    let costs: Vec<String> = p
        .catalogue_cost
        .iter()
        .map(|c| format!("{} {}", c.tier, size(c.bytes)))
        .collect();
    println!("The whole catalogue at each tier: {}.", costs.join(", "));
    println!("Planned in {seconds:.1} s.");
    Ok(())
}
