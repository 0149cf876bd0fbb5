//! `musicark follow …` and `musicark wanted …`: other publishers' lists
//! and what nobody holds, through musicark-follow.

use std::path::Path;

use anyhow::bail;
use musicark_follow::sync::{Outcome, SyncLimits, SyncStatus};
use musicark_store::Writers;
use musicark_store::units::size;

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::print_json;

pub fn add(g: &Global, url: &str, key: &str, name: Option<&str>) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let _lock = home.lock(Writers::Alone)?;
    let mut db = home.db()?;
    let key = musicark_publish::list::load_public_key(key)?;
    let p = musicark_follow::add(&mut db, url, &key, name)?;
    if g.json {
        return print_json(&p);
    }
    println!(
        "Following {} at {} (key {}). Next: musicark follow sync",
        p.name, p.url, p.key_id
    );
    Ok(())
}

pub fn rekey(g: &Global, name: &str, key: &str) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let _lock = home.lock(Writers::Alone)?;
    let mut db = home.db()?;
    let key = musicark_publish::list::load_public_key(key)?;
    let p = musicark_follow::rekey(&mut db, name, &key)?;
    if g.json {
        return print_json(&p);
    }
    println!(
        "{} is now trusted with key {}; its copy is kept until the next sync verifies by it.",
        p.name, p.key_id
    );
    Ok(())
}

pub fn remove(g: &Global, name: &str) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let _lock = home.lock(Writers::Alone)?;
    let mut db = home.db()?;
    let p = musicark_follow::remove(&home, &mut db, name)?;
    if g.json {
        return print_json(&p);
    }
    println!("No longer following {} ({}).", p.name, p.url);
    Ok(())
}

pub fn list(g: &Global) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let all = musicark_follow::publishers(&db)?;
    if g.json {
        return print_json(&all);
    }
    if all.is_empty() {
        println!("Following nobody. Add a publisher: musicark follow add URL --key PUBKEY");
        return Ok(());
    }
    println!(
        "{:<28} {:>9} {:>10} {:>7}  {:<20} url",
        "name", "torrents", "holdings", "wants", "synced"
    );
    for p in &all {
        println!(
            "{:<28} {:>9} {:>10} {:>7}  {:<20} {}",
            p.name,
            p.torrents,
            p.holdings,
            p.wants,
            p.synced_at.as_deref().unwrap_or("never"),
            p.url
        );
        if let Some(problem) = &p.problem {
            println!("    last sync: {problem}");
        }
    }
    Ok(())
}

pub fn sync(
    g: &Global,
    names: &[String],
    http_timeout: u64,
    max_list_bytes: u64,
    max_index_bytes: u64,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let home = open_home(g)?;
    let _lock = home.lock(Writers::Alone)?;
    let mut db = home.db()?;
    let total = if names.is_empty() {
        musicark_follow::publishers(&db)?.len()
    } else {
        names.len()
    };
    let bar = (!g.json && !g.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} follow sync [{bar:30}] {pos}/{len} publishers ETA {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    });
    let mut limits = SyncLimits {
        max_index_bytes,
        ..Default::default()
    };
    limits.fetch.read = std::time::Duration::from_secs(http_timeout.max(1));
    limits.fetch.max_list_bytes = max_list_bytes;
    let outcomes = musicark_follow::sync::sync(&home, &mut db, names, &limits, |o| {
        if let Some(b) = &bar {
            b.inc(1);
            b.set_message(o.name.clone());
        }
    })?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let bad: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
    if g.json {
        print_json(&outcomes)?;
    } else {
        if outcomes.is_empty() {
            println!("Following nobody. Add a publisher: musicark follow add URL --key PUBKEY");
        }
        for o in &outcomes {
            let what = match o.status {
                SyncStatus::Synced => format!(
                    "synced: {} torrents ({} fetched, {} kept), {} holdings, {} wants",
                    o.torrents, o.fetched, o.reused, o.holdings, o.wants
                ),
                SyncStatus::Unchanged => "unchanged".to_string(),
                SyncStatus::Refused => "REFUSED, previous copy kept".to_string(),
                SyncStatus::Failed => "FAILED, previous copy kept".to_string(),
            };
            println!("{}: {what} ({:.1} s)", o.name, o.seconds);
            if let Some(p) = &o.problem {
                println!("    {p}");
            }
        }
    }
    if !bad.is_empty() {
        bail!(
            "{} of {} publishers did not sync: {}",
            bad.len(),
            outcomes.len(),
            bad.iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

pub fn coverage(g: &Global, html: Option<&Path>) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let c = musicark_follow::view::coverage(&home, &db)?;
    if let Some(path) = html {
        musicark_store::atomic_write(path, musicark_web::charts::federated_page(&c).as_bytes())?;
        if !g.json {
            eprintln!("federated coverage report written to {}", path.display());
        }
    }
    if g.json {
        return print_json(&c);
    }
    let line = |what: &str, p: &musicark_follow::view::Part| {
        println!(
            "  {what:<26} {:>10} recordings ({:>5.1} %)  {:>14} listens ({:>5.1} %)",
            p.recordings,
            p.share_recordings * 100.0,
            p.listens,
            p.share_listens * 100.0
        );
    };
    println!(
        "{} recordings, {} listens; {} torrents in the union of {} lists ({} listed by two or more), {}.",
        c.recordings,
        c.listens,
        c.torrents_union,
        c.publishers.len(),
        c.torrents_shared,
        size(c.bytes_union)
    );
    line("held by anyone", &c.anyone);
    line("held by this archive", &c.ours);
    line("held only by others", &c.only_elsewhere);
    line("held by nobody", &c.nobody);
    for p in &c.publishers {
        println!(
            "  {:<28} {:>7} torrents {:>10}  {:>8} recordings, {:>8} held by it alone",
            p.name,
            p.torrents_active,
            size(p.bytes_active),
            p.recordings,
            p.recordings_only_here
        );
    }
    for n in &c.notes {
        println!("note: {n}");
    }
    Ok(())
}

pub fn wanted_list(g: &Global, query: Option<&str>, limit: usize) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let (wants, total) = musicark_follow::wanted::wanted(&home, &db, query, limit)?;
    if g.json {
        return print_json(&wants);
    }
    println!("{total} recordings nobody holds; the most listened:");
    for w in &wants {
        println!(
            "{:>12}  {:<36}  {:<12}  {} — {}  [{}]",
            w.listens,
            w.recording_mbid.as_deref().unwrap_or("-"),
            w.isrc.as_deref().unwrap_or("-"),
            w.artist.as_deref().unwrap_or("?"),
            w.title,
            w.wanted_by.join(", ")
        );
    }
    Ok(())
}

pub fn wanted_export(g: &Global, out: &Path, limit: usize) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let r = musicark_follow::wanted::export(&home, &db, out, limit)?;
    if g.json {
        return print_json(&r);
    }
    println!(
        "Wrote {} wanted recordings (of {}) to {} and {}, each signed (.minisig).",
        r.entries,
        r.total,
        r.json.display(),
        r.csv.display()
    );
    Ok(())
}

pub fn seedplan(
    g: &Global,
    budget: u64,
    format: crate::cli::SeedFormat,
    donor: Option<&str>,
    out: &Path,
) -> anyhow::Result<()> {
    use crate::cli::SeedFormat;
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let donor = donor
        .map(str::to_string)
        .unwrap_or_else(crate::commands::health::host_name);
    let plan = musicark_follow::plan::federated(&home, &db, budget, &donor)?;
    match format {
        _ if g.json => print_json(&plan)?,
        SeedFormat::Json => print_json(&plan)?,
        SeedFormat::Magnet => {
            for t in &plan.torrents {
                println!("{}", t.magnet_link);
            }
        }
        SeedFormat::Torrents => {
            musicark_follow::plan::write_torrents(&home, &plan, out)?;
            println!(
                "{} torrents ({} of {}, from {} candidates over every followed list) written to {}",
                plan.torrents.len(),
                size(plan.used),
                size(plan.budget),
                plan.candidates,
                out.display()
            );
        }
    }
    Ok(())
}

/// `where --federated`: who holds a recording over every followed list.
pub fn holders(g: &Global, query: &str) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let ids: Vec<i64> = musicark_catalog::query::lookup(&db, query.trim())?
        .into_iter()
        .map(|r| r.recording_id)
        .collect();
    if ids.is_empty() {
        bail!("{query}: no recording by that id, MBID or ISRC in the catalogue");
    }
    let all: Vec<musicark_follow::view::RecordingHolders> = ids
        .iter()
        .map(|&id| musicark_follow::view::holders(&home, &db, id))
        .collect::<Result<_, _>>()?;
    if g.json {
        return print_json(&all);
    }
    for h in &all {
        if h.torrents.is_empty() {
            println!(
                "rec:{}: held by nobody (see `musicark wanted list`)",
                h.recording_id
            );
            continue;
        }
        println!(
            "rec:{}: {} copies, {} seeders, held by {}",
            h.recording_id,
            h.torrents.len(),
            h.seeders,
            h.publishers.join(", ")
        );
        for t in &h.torrents {
            println!(
                "  {}  {:>4} seeders  {}  [{}]",
                t.btih,
                t.seeders,
                t.name,
                t.publishers.join(", ")
            );
        }
    }
    Ok(())
}
