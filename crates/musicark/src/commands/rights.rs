//! `musicark takedown|embargo|rights|export`: rights as data, through
//! musicark-publish's `rights` and `export`.

use anyhow::bail;
use musicark_catalog::browse::{self, Named};
use musicark_publish::rights::{self, Action, Decided, Decision, Entity};
use musicark_store::Home;

use crate::cli::{
    EmbargoCommand, EmbargoRequest, ExportFormat, Global, TakedownCommand, TakedownRequest,
};
use crate::commands::open_home;
use crate::output::print_json;
use musicark_store::units::size;

/// What an identifier names: (entity, id).
fn resolve(home: &Home, id: &str) -> anyhow::Result<(Entity, i64)> {
    match browse::resolve(&home.db_read_only()?, id)? {
        Some(Named::Recording(n)) => Ok((Entity::Recording, n)),
        Some(Named::Release(n)) => Ok((Entity::Release, n)),
        Some(Named::Artist(n)) => Ok((Entity::Artist, n)),
        None => bail!(
            "{}: no recording, release or artist by that id (rec:N, artist:N, release:N, an MBID or an ISRC)",
            id.trim()
        ),
    }
}

/// Record a decision and repack, through the use case the web's action
/// calls too ([`rights::apply`]).
fn decide_and_repack(
    g: &Global,
    home: &Home,
    id: &str,
    action: Action,
    until: Option<&str>,
    reason: &str,
    reference: Option<&str>,
) -> anyhow::Result<()> {
    let (entity, entity_id) = resolve(home, id)?;
    let Decided {
        log: entry,
        pack: summary,
    } = rights::apply(
        home,
        &Decision {
            action,
            entity,
            entity_id,
            until,
            reason: Some(reason),
            reference,
        },
    )?;
    if g.json {
        return print_json(&serde_json::json!({ "log": entry, "pack": summary }));
    }
    println!(
        "{} {} {} ({}) logged as entry {} at {}",
        entry.action,
        entry.entity,
        entry.entity_id,
        entry.name.as_deref().unwrap_or("?"),
        entry.entry_id,
        entry.at
    );
    for (name, why) in &summary.obsoleted {
        println!("obsolete   {name}: {why}");
    }
    for p in &summary.packs {
        println!(
            "new        {:<40} {:>6} files {:>10}",
            p.name,
            p.files,
            size(p.data_size)
        );
    }
    crate::commands::pack::print_left_out(&summary);
    println!("Publish the change: musicark list export --out DIR/torrents.json");
    Ok(())
}

pub fn takedown(
    g: &Global,
    command: Option<&TakedownCommand>,
    request: Option<&TakedownRequest>,
) -> anyhow::Result<()> {
    let home = open_home(g)?;
    match (command, request) {
        (Some(TakedownCommand::List), _) => {
            let report = rights::report(&home, &home.db_read_only()?)?;
            if g.json {
                return print_json(&report.takedowns);
            }
            if report.takedowns.is_empty() {
                println!("Nothing is taken down.");
            }
            for w in &report.takedowns {
                println!(
                    "{} {}  {}",
                    w.entity,
                    w.entity_id,
                    w.name.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        (
            Some(TakedownCommand::Reverse {
                id,
                reason,
                reference,
            }),
            _,
        ) => decide_and_repack(
            g,
            &home,
            id,
            Action::Reinstate,
            None,
            reason,
            reference.as_deref(),
        ),
        (None, Some(r)) => decide_and_repack(
            g,
            &home,
            &r.id,
            Action::Takedown,
            None,
            &r.reason,
            r.reference.as_deref(),
        ),
        (None, None) => {
            bail!("what to take down? musicark takedown ID --reason TEXT (or takedown list)")
        }
    }
}

pub fn embargo(
    g: &Global,
    command: Option<&EmbargoCommand>,
    request: Option<&EmbargoRequest>,
) -> anyhow::Result<()> {
    let home = open_home(g)?;
    match (command, request) {
        (Some(EmbargoCommand::Lift { id, reason }), _) => {
            decide_and_repack(g, &home, id, Action::Lift, None, reason, None)
        }
        (None, Some(r)) => decide_and_repack(
            g,
            &home,
            &r.id,
            Action::Embargo,
            r.until.as_deref(),
            &r.reason,
            r.reference.as_deref(),
        ),
        (None, None) => {
            bail!("what to embargo? musicark embargo ID --until YYYY-MM-DD --reason TEXT")
        }
    }
}

pub fn report(g: &Global) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let r = rights::report(&home, &home.db_read_only()?)?;
    if g.json {
        return print_json(&r);
    }
    println!(
        "Publication policy: [publish] allow = {:?}",
        r.policy_allows
    );
    println!(
        "Publishable: {} files, {}; withheld: {} files, {}",
        r.files_publishable,
        size(r.bytes_publishable),
        r.files_withheld,
        size(r.bytes_withheld)
    );
    println!("\nIngested audio by licence");
    for row in &r.ingested_by_license {
        println!(
            "  {:<46} {:<14} {:>7} files {:>10}",
            row.key,
            row.class.map_or("", |c| c.as_str()),
            row.files,
            size(row.bytes)
        );
    }
    println!("\nPreserved copies by licence");
    for row in &r.by_license {
        println!(
            "  {:<46} {:<14} {:>7} files {:>10}  {}",
            row.key,
            row.class.map_or("", |c| c.as_str()),
            row.files,
            size(row.bytes),
            if row.publishable {
                "published"
            } else {
                "not published"
            }
        );
    }
    if !r.unmapped_tags.is_empty() {
        println!(
            "\nLicence tags that name no single licence (kept verbatim; `ingest --rights ID` gives a default)"
        );
        for row in &r.unmapped_tags {
            println!("  {:<46} {:>7} files", format!("{:?}", row.key), row.files);
        }
    }
    println!("\nTakedowns in force: {}", r.takedowns.len());
    for w in &r.takedowns {
        println!(
            "  {} {}  {}",
            w.entity,
            w.entity_id,
            w.name.as_deref().unwrap_or("")
        );
    }
    println!("Embargoes in force: {}", r.embargoes.len());
    for w in &r.embargoes {
        println!(
            "  {} {}  {}  until {}",
            w.entity,
            w.entity_id,
            w.name.as_deref().unwrap_or(""),
            w.embargo_until.as_deref().unwrap_or("lifted")
        );
    }
    println!(
        "Rights log: {} entries (musicark rights log)",
        r.log_entries
    );
    Ok(())
}

pub fn log(g: &Global) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let entries = rights::log(&home.db_read_only()?)?;
    if g.json {
        return print_json(&entries);
    }
    for e in &entries {
        println!(
            "{:>4} {}  {:<9} {} {} ({}){}  reason: {}{}",
            e.entry_id,
            e.at,
            e.action,
            e.entity,
            e.entity_id,
            e.name.as_deref().unwrap_or("?"),
            e.until
                .as_deref()
                .map(|u| format!(" until {u}"))
                .unwrap_or_default(),
            e.reason.as_deref().unwrap_or(""),
            e.reference
                .as_deref()
                .map(|r| format!("; ref {r}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub fn export(
    g: &Global,
    licenses: &[String],
    out: &std::path::Path,
    format: ExportFormat,
) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let mut ids = Vec::new();
    for l in licenses {
        match rights::canonical(l) {
            Some(id) => ids.push(id),
            None => bail!("--license {l:?} is not a known SPDX id (CC-BY-SA-4.0, CC0-1.0, …)"),
        }
    }
    let db = home.db_read_only()?;
    let format = match format {
        ExportFormat::Files => musicark_publish::export::Format::Files,
        ExportFormat::Jsonl => musicark_publish::export::Format::Jsonl,
    };
    let r = musicark_publish::export::export(&home, &db, &ids, out, format)?;
    if g.json {
        return print_json(&r);
    }
    println!(
        "Exported {} items ({}) under {} to {}; metadata in {}",
        r.items,
        size(r.bytes),
        r.licenses.join(", "),
        r.out.display(),
        r.metadata.display()
    );
    println!(
        "Not exported: {} under other licences or none, {} withheld by takedown or embargo.",
        r.other_licenses, r.withheld
    );
    if r.not_preserved > 0 {
        println!(
            "Export writes preserved copies only: {} ingested files under {} have no preserved copy yet; run `musicark preserve`, then export again.",
            r.not_preserved,
            r.licenses.join(", ")
        );
    }
    for (path, why) in &r.failed {
        eprintln!("not exported: {path}: {why}");
    }
    Ok(())
}
