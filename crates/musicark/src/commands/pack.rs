//! `musicark pack`, `list export|verify`, `where` and `report coverage`:
//! publishing, through musicark-publish.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use musicark_publish::pack::PackOptions;

use crate::cli::Global;
use crate::commands::open_home;
use crate::output::print_json;
use musicark_store::units::size;

/// What rights kept out of the packs, and why (a few lines; `--json` has
/// them all).
pub(crate) fn print_left_out(summary: &musicark_publish::pack::PackSummary) {
    if summary.withheld == 0 {
        return;
    }
    let by: Vec<String> = summary
        .withheld_by
        .iter()
        .map(|(k, n)| format!("{n} for {k}"))
        .collect();
    println!("left out by rights: {}", by.join(", "));
    for l in summary.left_out.iter().take(10) {
        println!("  {}: {}", l.path, l.reason);
    }
    if summary.left_out.len() > 10 {
        println!(
            "  … and {} more (musicark pack --json lists them)",
            summary.withheld - 10
        );
    }
}

/// `musicark pack`: the command line's choices over the archive's own
/// (`[publish]` trackers and web seeds).
pub fn pack(g: &Global, choices: PackOptions) -> anyhow::Result<()> {
    let home = open_home(g)?;
    if choices.queue {
        crate::commands::worker::require_postgres(&home, "pack --queue")?;
        if home.blobs()?.is_local() {
            bail!(
                "pack --queue hands workers the blobs to stream from object storage; this archive keeps its blobs on this host's disk (musicark init --blobs s3://…)"
            );
        }
    }
    let _lock = home.lock_for_writing()?;
    let mut db = home.db()?;
    let archive = PackOptions::for_archive(&home);
    let options = PackOptions {
        trackers: archive.trackers,
        web_seeds: archive.web_seeds,
        ..choices
    };
    let bar = (!g.json && !g.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{spinner} pack [{bar:30}] {pos}/{len} packs ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let summary = musicark_publish::pack::pack(&home, &mut db, &options, &progress)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    if g.json {
        return print_json(&summary);
    }
    if summary.detached {
        println!(
            "{} packs' hashing queued; once the workers are done (musicark status), `musicark pack --queue` records them.",
            summary.queued
        );
        return Ok(());
    }
    for (name, why) in &summary.obsoleted {
        println!("obsolete   {name}: {why}");
    }
    for p in &summary.packs {
        println!(
            "{:<40} {:>6} files {:>10}  {}",
            p.name,
            p.files,
            size(p.data_size),
            p.btih
        );
    }
    println!(
        "{} new torrents, {} obsoleted; {} copies already packed, {} withheld by rights; {:.1} s. Torrents in {}.",
        summary.packs.len(),
        summary.obsoleted.len(),
        summary.already_packed,
        summary.withheld,
        summary.seconds,
        home.torrents_dir().display()
    );
    print_left_out(&summary);
    for (path, why) in &summary.failed {
        eprintln!("failed: {path}: {why}");
    }
    if !summary.failed.is_empty() {
        bail!(
            "{} packs could not be made (see above); a rerun retries them",
            summary.failed.len()
        );
    }
    Ok(())
}

pub fn list_export(g: &Global, out: Option<&Path>) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let Some(out) = out else {
        let entries = musicark_publish::list::entries(&home, &db)?;
        use std::io::Write;
        std::io::stdout().write_all(&musicark_publish::list::to_json(&entries)?)?;
        return Ok(());
    };
    let _lock = home.lock_for_writing()?;
    let report = musicark_publish::list::export(&home, &db, out)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if g.json {
        return print_json(&report);
    }
    println!(
        "{} torrents listed in {} (CSV: {}), signed by key {}.\nVerify with: minisign -V -p {} -m {}",
        report.torrents,
        report.list.display(),
        report.csv.display(),
        report.key_id,
        report.public_key.display(),
        report.list.display()
    );
    Ok(())
}

pub fn list_verify(
    g: &Global,
    file: &str,
    pubkey: Option<&str>,
    http_timeout: u64,
) -> anyhow::Result<()> {
    let remote = file.starts_with("http://") || file.starts_with("https://");
    let key = pubkey
        .map(musicark_publish::list::load_public_key)
        .transpose()?;
    // A URL's list lands in a temporary folder, and only after its
    // signature verified by the key given.
    let scratch = tempfile::tempdir().context("cannot make a temporary folder")?;
    let local = match (&key, remote) {
        (None, true) => bail!(
            "{file}: give the publisher's key with --pubkey FILE|KEY: a key served beside a list proves nothing about who published it"
        ),
        (Some(key), true) => {
            let limits = musicark_mirror::FetchLimits {
                read: std::time::Duration::from_secs(http_timeout),
                ..Default::default()
            };
            musicark_mirror::fetch::fetch_verified_list(
                file,
                key,
                &scratch.path().join("list"),
                &limits,
            )?
        }
        (_, false) => std::path::PathBuf::from(file),
    };
    let report = musicark_publish::list::verify(&local, key.as_ref())
        .with_context(|| format!("cannot verify {file}"))?;
    if g.json {
        print_json(&report)?;
    } else {
        println!(
            "signature: {}{}",
            if report.signature_ok { "good" } else { "BAD" },
            report
                .key_id
                .as_deref()
                .map(|k| format!(" (key {k})"))
                .unwrap_or_default()
        );
        if let Some(c) = &report.trusted_comment {
            println!("trusted comment: {c}");
        }
        if !report.key_given {
            println!(
                "note: checked with the key beside the list; pass --pubkey with the publisher's key to know who signed it"
            );
        }
        println!(
            "{} entries, {} torrents checked against their files",
            report.entries, report.torrents_checked
        );
        for p in &report.problems {
            println!("problem: {p}");
        }
    }
    if !report.ok() {
        bail!("{file} does not verify");
    }
    Ok(())
}

pub fn locate(g: &Global, query: &str) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let catalog = musicark_catalog::Catalog::open_read_only(&home)?;
    let db = &catalog.db;
    let q = query.trim();
    let mut found = if q.len() == 64 && q.bytes().all(|b| b.is_ascii_hexdigit()) {
        musicark_publish::locate::content(&home, db, q)?
    } else {
        Vec::new()
    };
    let mut searched = None;
    if found.is_empty() {
        let mut ids: Vec<i64> = musicark_catalog::query::lookup(db, q)?
            .into_iter()
            .map(|r| r.recording_id)
            .collect();
        if ids.is_empty() {
            let hits = musicark_catalog::query::search(&catalog, q, 10)?;
            ids = hits
                .iter()
                .filter(|h| h.kind == "recording")
                .map(|h| h.id)
                .collect();
            searched = Some(hits);
        }
        found = musicark_publish::locate::recordings(&home, db, &ids)?;
    }
    if g.json {
        return print_json(&found);
    }
    if found.is_empty() {
        match searched {
            Some(h) if !h.is_empty() => bail!(
                "{} recordings match {query:?}, but none is in a published torrent",
                h.len()
            ),
            _ => bail!("no published recording matches {query:?}"),
        }
    }
    for l in &found {
        println!(
            "{}{}\n  torrent {} ({})\n  bytes {}..{} ({}), file #{}\n  {}",
            l.path,
            if l.obsolete {
                "  [obsolete torrent]"
            } else {
                ""
            },
            l.torrent,
            l.btih.as_deref().unwrap_or("-"),
            l.byte_start,
            l.byte_end,
            size(l.size),
            l.file_index,
            l.magnet
        );
    }
    Ok(())
}

pub fn coverage(g: &Global, html: Option<&Path>) -> anyhow::Result<()> {
    let home = open_home(g)?;
    let db = home.db_read_only()?;
    let c = musicark_publish::coverage::coverage(&home, &db)?;
    if let Some(path) = html {
        musicark_store::atomic_write(path, musicark_web::charts::coverage_page(&c).as_bytes())?;
        if !g.json {
            eprintln!("coverage report written to {}", path.display());
        }
    }
    if g.json {
        return print_json(&c);
    }
    println!(
        "{} of listens preserved ({:.1} % published); {} of {} recordings preserved ({:.1} %), {} published.",
        format_args!("{:.1} %", c.share_listens_preserved * 100.0),
        c.share_listens_published * 100.0,
        c.recordings_preserved,
        c.recordings,
        c.share_recordings_preserved * 100.0,
        c.recordings_published
    );
    println!(
        "{} preserved in {} files; {} in {} active torrents.",
        size(c.bytes_preserved),
        c.files_preserved,
        size(c.bytes_published),
        c.torrents_active
    );
    for t in &c.by_tier {
        println!(
            "  {:<18} {:>8} files {:>12}",
            t.tier,
            t.files,
            size(t.bytes)
        );
    }
    Ok(())
}
