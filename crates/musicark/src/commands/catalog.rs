//! `musicark catalog import|search|show|rejects`

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use musicark_catalog::{ImportProgress, ImportSummary, Mapping};

use crate::cli::{Global, ImportSource};
use crate::commands::open_home;
use crate::output::print_json;

/// An import progress bar over the input file's bytes, with lines/s.
struct Bar {
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl ImportProgress for Bar {
    fn start(&self, label: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} ETA {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b.set_prefix(label.to_string());
        b.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut g) = self.bar.lock() {
            *g = Some(b);
        }
    }
    fn advance(&self, bytes: u64, lines: u64) {
        if let Ok(g) = self.bar.lock()
            && let Some(b) = g.as_ref()
        {
            b.set_position(bytes);
            let secs = b.elapsed().as_secs_f64().max(1e-3);
            b.set_message(format!("{lines} lines, {:.0} lines/s", lines as f64 / secs));
        }
    }
    fn phase(&self, what: &str) {
        if let Ok(g) = self.bar.lock()
            && let Some(b) = g.as_ref()
        {
            b.set_message(what.to_string());
        }
    }
    fn finish(&self) {
        if let Ok(mut g) = self.bar.lock()
            && let Some(b) = g.take()
        {
            b.finish_and_clear();
        }
    }
}

pub fn import(
    g: &Global,
    source: ImportSource,
    path: &Path,
    mapping: Option<&Path>,
) -> anyhow::Result<()> {
    let home = open_home(g)?;
    // One catalogue import at a time; on PostgreSQL beside ingests.
    let _lock = home.lock(musicark_store::Writers::Catalog)?;
    let mut cat = musicark_catalog::Catalog::open(&home)?;
    let bar = Bar {
        bar: Mutex::new(None),
        enabled: !g.json && !g.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let summaries: Vec<ImportSummary> = match source {
        ImportSource::Musicbrainz => musicark_catalog::import_musicbrainz(&mut cat, path, &bar)?,
        ImportSource::Listenbrainz => {
            vec![musicark_catalog::import_listenbrainz(&mut cat, path, &bar)?]
        }
        ImportSource::Mapped => {
            let Some(m) = mapping else {
                bail!("`catalog import mapped` needs --mapping FILE")
            };
            let mapping = Mapping::load(m)?;
            vec![musicark_catalog::import_mapped(
                &mut cat, path, &mapping, &bar,
            )?]
        }
    };
    if g.json {
        return print_json(&summaries);
    }
    for s in &summaries {
        if s.unchanged {
            println!(
                "{} {}: {} is unchanged since import {} ({} lines); nothing to do (touch it to import it again)",
                s.source, s.kind, s.path, s.import_id, s.lines
            );
            continue;
        }
        let resumed = if s.resumed_after > 0 {
            format!(" (resumed after line {})", s.resumed_after)
        } else {
            String::new()
        };
        println!(
            "{} {}: {} lines, {} rows, {} rejects in {:.1} s ({:.0} lines/s){resumed}",
            s.source, s.kind, s.lines, s.rows, s.rejects, s.seconds, s.lines_per_second
        );
    }
    if summaries.iter().any(|s| s.rejects > 0) {
        println!("See what was rejected and why: musicark catalog rejects");
    }
    Ok(())
}

pub fn search(g: &Global, query: &str, limit: usize) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let cat = musicark_catalog::Catalog::open_read_only(&home)?;
    let hits = musicark_catalog::search(&cat, query, limit).context("searching the catalogue")?;
    if g.json {
        return print_json(&hits);
    }
    if hits.is_empty() {
        println!("No match for {query:?}.");
    }
    for h in hits {
        let len = h
            .length_ms
            .map(|ms| format!(" ({}:{:02})", ms / 60_000, ms / 1000 % 60))
            .unwrap_or_default();
        println!(
            "{:9} {:>8}  {} — {}{len}",
            h.kind,
            if h.kind == "recording" {
                format!("rec:{}", h.id)
            } else {
                format!("rel:{}", h.id)
            },
            h.artist.unwrap_or_default(),
            h.title
        );
    }
    Ok(())
}

pub fn show(g: &Global, id: &str) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db()?;
    let found = musicark_catalog::lookup(&db, id).context("looking up")?;
    if found.is_empty() {
        bail!(
            "nothing in the catalogue for {id:?} (try an MBID, an ISRC, a barcode, rec:ID, or `catalog search`)"
        );
    }
    if g.json {
        return print_json(&found);
    }
    for r in found {
        println!(
            "rec:{}  {} — {}",
            r.recording_id,
            r.artist_credit.as_deref().unwrap_or(""),
            r.title
        );
        if let Some(m) = &r.mbid {
            println!("  MBID     {m}");
        }
        if !r.isrcs.is_empty() {
            println!("  ISRC     {}", r.isrcs.join(", "));
        }
        if let Some(ms) = r.length_ms {
            println!("  Length   {}:{:02}", ms / 60_000, ms / 1000 % 60);
        }
        for p in &r.popularity {
            println!(
                "  Listens  {} ({} users) per {}",
                p.listen_count.unwrap_or(0),
                p.user_count.unwrap_or(0),
                p.source
            );
        }
        if let Some(l) = &r.license {
            println!("  Licence  {l}");
        }
        for t in r.releases.iter().take(10) {
            println!(
                "  On       {} ({}{}) disc {} track {}",
                t.release_title,
                t.date.as_deref().unwrap_or("?"),
                t.country
                    .as_deref()
                    .map(|c| format!(", {c}"))
                    .unwrap_or_default(),
                t.disc,
                t.position
            );
        }
        for e in &r.external_ids {
            println!("  Id       {}: {}", e.source, e.id);
        }
    }
    Ok(())
}

pub fn rejects(g: &Global, limit: usize) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db()?;
    let rows = musicark_catalog::query::rejects(&db, limit)?;
    if g.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("No rejects.");
    }
    for r in rows {
        let what = match (&r.field, &r.value) {
            (Some(f), Some(v)) => format!("{f}={v:?}: "),
            _ => String::new(),
        };
        println!("{}:{}: {what}{}", r.path, r.line, r.reason);
    }
    Ok(())
}
