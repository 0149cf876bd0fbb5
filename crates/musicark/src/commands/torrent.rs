//! `musicark torrent create|show|verify`

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use musicark_torrent::{
    BuildOptions, HashOptions, Layout, Metainfo, Mode, build_torrent, hash_layout, scan_path,
};
use serde::Serialize;

use crate::cli::{Global, TorrentCreateArgs};
use crate::output::print_json;
use musicark_store::units::size;

fn split_urls(values: &[String]) -> Vec<Vec<String>> {
    values
        .iter()
        .map(|v| {
            v.split(',')
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|t: &Vec<String>| !t.is_empty())
        .collect()
}

fn threads(jobs: Option<usize>) -> HashOptions {
    match jobs {
        Some(n) => HashOptions { threads: n.max(1) },
        None => HashOptions::default(),
    }
}

#[derive(Serialize)]
struct Created {
    output: String,
    #[serde(flatten)]
    torrent: musicark_torrent::TorrentSummary,
    padding_bytes: u64,
    seconds: f64,
    bytes_per_second: f64,
}

pub fn create(g: &Global, a: &TorrentCreateArgs) -> anyhow::Result<()> {
    let mode = if a.v2 {
        Mode::V2
    } else if a.hybrid {
        Mode::Hybrid
    } else {
        Mode::V1
    };
    if let Some(ps) = a.piece_size
        && (!ps.is_power_of_two() || ps < 16 * 1024)
    {
        bail!("--piece-size {ps}: the piece size must be a power of two of at least 16 KiB");
    }
    let started = Instant::now();
    let (name, files, sources, single) =
        scan_path(&a.path).with_context(|| format!("cannot read {}", a.path.display()))?;
    if files.iter().all(|f| f.length == 0) {
        bail!(
            "{}: nothing to share (no data in any file)",
            a.path.display()
        );
    }
    let layout = Layout::plan(name, files, single, mode, a.piece_size, a.align);
    let hashes = hash_layout(&layout, &sources, threads(a.jobs))
        .with_context(|| format!("hashing {}", a.path.display()))?;
    let options = BuildOptions {
        trackers: split_urls(&a.trackers),
        web_seeds: split_urls(&a.webseeds).into_iter().flatten().collect(),
        comment: a.comment.clone(),
        created_by: Some(format!("musicark {}", env!("CARGO_PKG_VERSION"))),
        creation_date: a.date.then(musicark_store::clock::epoch_seconds),
        private: a.private,
        source: a.source.clone(),
    };
    let torrent = build_torrent(&layout, &hashes, &options);
    musicark_store::atomic_write(&a.output, &torrent)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let meta = Metainfo::parse(&torrent).context("the torrent just made does not parse (a bug)")?;
    let created = Created {
        output: a.output.display().to_string(),
        torrent: meta.summary(),
        padding_bytes: layout.padding_bytes(),
        seconds,
        bytes_per_second: layout.total_length() as f64 / seconds.max(1e-9),
    };
    if g.json {
        return print_json(&created);
    }
    println!(
        "Wrote {} ({} files, {}, {} pieces of {})",
        created.output,
        layout.files.len(),
        size(layout.total_length()),
        created.torrent.pieces,
        size(layout.piece_length)
    );
    if let Some(h) = &created.torrent.info_hash_v1 {
        println!("  info-hash v1  {h}");
    }
    if let Some(h) = &created.torrent.info_hash_v2 {
        println!("  info-hash v2  {h}");
    }
    if created.padding_bytes > 0 {
        println!(
            "  padding       {} hashed as zeros",
            size(created.padding_bytes)
        );
    }
    println!(
        "  hashed in {seconds:.2} s ({}/s)",
        size(created.bytes_per_second as u64)
    );
    Ok(())
}

fn load(file: &Path) -> anyhow::Result<Metainfo> {
    let len = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if len > musicark_torrent::metainfo::MAX_TORRENT_BYTES as u64 {
        bail!(
            "{}: {len} bytes is too large for a .torrent file",
            file.display()
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Metainfo::parse(&bytes).with_context(|| format!("{}: not a valid torrent", file.display()))
}

pub fn show(g: &Global, file: &Path) -> anyhow::Result<()> {
    let s = load(file)?.summary();
    if g.json {
        return print_json(&s);
    }
    println!("Name          {}", s.name);
    println!("Version       {:?}", s.version);
    println!("Info-hash v1  {}", s.info_hash_v1.as_deref().unwrap_or("-"));
    println!("Info-hash v2  {}", s.info_hash_v2.as_deref().unwrap_or("-"));
    println!(
        "Size          {} in {} pieces of {}",
        size(s.total_length),
        s.pieces,
        size(s.piece_length)
    );
    for (i, tier) in s.trackers.iter().enumerate() {
        println!("Tracker {i}     {}", tier.join(", "));
    }
    for w in &s.web_seeds {
        println!("Web seed      {w}");
    }
    if let Some(c) = &s.comment {
        println!("Comment       {c}");
    }
    println!("Magnet        {}", s.magnet);
    println!("Files");
    for f in &s.files {
        println!(
            "  {:>12}  {}{}",
            f.length,
            f.path,
            if f.pad { "  (pad)" } else { "" }
        );
    }
    Ok(())
}

pub fn verify(g: &Global, file: &Path, dir: &Path, jobs: Option<usize>) -> anyhow::Result<()> {
    let meta = load(file)?;
    // DIR is the save path, or the content folder itself.
    let save = if dir.join(&meta.name).exists() || !dir.exists() {
        dir.to_path_buf()
    } else if dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy() == meta.name)
    {
        dir.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.to_path_buf())
    } else {
        dir.to_path_buf()
    };
    let started = Instant::now();
    let report = musicark_torrent::verify(&meta, &save, threads(jobs));
    let seconds = started.elapsed().as_secs_f64();
    if g.json {
        print_json(&report)?;
    } else {
        for f in &report.files {
            let what = match &f.verdict {
                musicark_torrent::FileVerdict::Ok => "ok".to_string(),
                musicark_torrent::FileVerdict::Missing => "MISSING".into(),
                musicark_torrent::FileVerdict::WrongSize { actual } => {
                    format!("WRONG SIZE ({actual} bytes, expected {})", f.length)
                }
                musicark_torrent::FileVerdict::Unreadable { error } => {
                    format!("UNREADABLE ({error})")
                }
                musicark_torrent::FileVerdict::Corrupt { first_bad_piece } => match first_bad_piece
                {
                    Some(p) => format!("CORRUPT (first bad piece {p})"),
                    None => "CORRUPT".into(),
                },
            };
            println!("{what:>10}  {}", f.path);
        }
        println!(
            "{} of {} pieces bad; {} checked in {seconds:.2} s",
            report.pieces_bad,
            report.pieces_checked,
            size(report.bytes)
        );
    }
    if !report.ok {
        bail!(
            "verification failed: {} of {} files are not intact",
            report
                .files
                .iter()
                .filter(|f| f.verdict != musicark_torrent::FileVerdict::Ok)
                .count(),
            report.files.len()
        );
    }
    Ok(())
}
