//! Seeding health: scrape every active pack's trackers, keep the history
//! (`scrapes`), and sum it up as the anchor does — red below 4 seeders,
//! amber 4 to 10, green above — with the headline share of the data held
//! in at least 4 copies.

use std::collections::BTreeMap;
use std::path::Path;

use musicark_store::{Db, Home};
use rusqlite::params;
use serde::Serialize;

use crate::scrape::{Counts, ScrapeOptions, scrape};

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("catalogue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] musicark_store::StoreError),
}

/// Health class of a torrent by its seeders (the anchor's thresholds).
pub fn class(seeders: u64) -> &'static str {
    match seeders {
        0..=3 => "red",
        4..=10 => "amber",
        _ => "green",
    }
}

/// One tracker's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TrackerReport {
    pub tracker: String,
    pub hashes: usize,
    pub answered: usize,
    pub error: Option<String>,
    pub seconds: f64,
}

/// One pack's health (the best any tracker reports, over its v1 and v2
/// hashes).
#[derive(Debug, Clone, Serialize)]
pub struct PackHealth {
    pub name: String,
    pub data_size: u64,
    pub seeders: Option<u64>,
    pub leechers: Option<u64>,
    pub completed: Option<u64>,
    pub scraped_at: Option<String>,
    pub class: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub torrents: usize,
    pub red: usize,
    pub amber: usize,
    pub green: usize,
    /// Never scraped (counted red too: nobody is known to seed them).
    pub unknown: usize,
    pub bytes: u64,
    pub bytes_in_4_copies: u64,
    /// The headline: share of the published data in at least 4 copies.
    pub share_data_4_copies: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScrapeReport {
    pub scraped_at: String,
    pub trackers: Vec<TrackerReport>,
    pub packs: Vec<PackHealth>,
    pub summary: Summary,
}

/// The hashes a tracker knows a pack by: the v1 info-hash and, for hybrid
/// and v2 packs, the v2 info-hash cut to 20 bytes.
fn pack_hashes(btih: Option<&str>, btmh: Option<&str>) -> Vec<[u8; 20]> {
    let mut out = Vec::new();
    for h in [btih, btmh.map(|m| &m[..m.len().min(40)])]
        .into_iter()
        .flatten()
    {
        if let Ok(bytes) = hex::decode(h)
            && let Ok(a) = <[u8; 20]>::try_from(bytes.as_slice())
        {
            out.push(a);
        }
    }
    out
}

/// The trackers in a .torrent (announce-list, else announce).
fn torrent_trackers(path: &Path) -> Vec<String> {
    std::fs::read(path)
        .ok()
        .and_then(|b| musicark_torrent::Metainfo::parse(&b).ok())
        .map(|m| m.trackers.into_iter().flatten().collect())
        .unwrap_or_default()
}

/// One tracker's answer: its URL, hashes asked, counts or error, seconds.
type Answer = (String, usize, Result<Vec<([u8; 20], Counts)>, String>, f64);

/// Scrape the active packs. `trackers`, when not empty, replaces each
/// torrent's own trackers and the archive's (`[publish].trackers`).
pub fn scrape_archive(
    home: &Home,
    db: &Db,
    trackers: &[String],
    options: &ScrapeOptions,
) -> Result<ScrapeReport, HealthError> {
    let now: String =
        db.conn
            .query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |r| {
                r.get(0)
            })?;
    let packs: Vec<(String, Option<String>, Option<String>)> = db
        .conn
        .prepare("SELECT name, btih, btmh FROM packs WHERE obsolete = 0 ORDER BY pack_id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    // Tracker → the hashes to ask it.
    let mut plan: BTreeMap<String, Vec<[u8; 20]>> = BTreeMap::new();
    for (name, btih, btmh) in &packs {
        let hashes = pack_hashes(btih.as_deref(), btmh.as_deref());
        let own: Vec<String> = if trackers.is_empty() {
            let mut t =
                torrent_trackers(&home.root().join("torrents").join(format!("{name}.torrent")));
            t.extend(home.config.publish.trackers.iter().cloned());
            t
        } else {
            trackers.to_vec()
        };
        for t in own {
            let list = plan.entry(t).or_default();
            for h in &hashes {
                if !list.contains(h) {
                    list.push(*h);
                }
            }
        }
    }
    // Every tracker at once, each on its own thread: a slow one does not
    // hold up the others.
    let results: Vec<Answer> = std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .iter()
            .map(|(tracker, hashes)| {
                s.spawn(move || {
                    let started = std::time::Instant::now();
                    let r = scrape(tracker, hashes, options).map_err(|e| e.to_string());
                    (
                        tracker.clone(),
                        hashes.len(),
                        r,
                        started.elapsed().as_secs_f64(),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    (String::new(), 0, Err("scrape thread panicked".into()), 0.0)
                })
            })
            .collect()
    });
    let mut reports = Vec::new();
    let tx = db.conn.unchecked_transaction()?;
    {
        let mut ins = tx.prepare(
            "INSERT OR REPLACE INTO scrapes (info_hash, tracker, scraped_at, seeders, leechers, completed, error) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (tracker, asked, result, seconds) in results {
            match result {
                Ok(counts) => {
                    for (h, c) in &counts {
                        ins.execute(params![
                            hex::encode(h),
                            tracker,
                            now,
                            c.seeders as i64,
                            c.leechers as i64,
                            c.completed as i64,
                            Option::<String>::None
                        ])?;
                    }
                    reports.push(TrackerReport {
                        tracker,
                        hashes: asked,
                        answered: counts.len(),
                        error: None,
                        seconds,
                    });
                }
                Err(e) => {
                    for h in plan.get(&tracker).into_iter().flatten() {
                        ins.execute(params![
                            hex::encode(h),
                            tracker,
                            now,
                            Option::<i64>::None,
                            Option::<i64>::None,
                            Option::<i64>::None,
                            e
                        ])?;
                    }
                    reports.push(TrackerReport {
                        tracker,
                        hashes: asked,
                        answered: 0,
                        error: Some(e),
                        seconds,
                    });
                }
            }
        }
    }
    tx.commit()?;
    let (packs, summary) = current(db)?;
    Ok(ScrapeReport {
        scraped_at: now,
        trackers: reports,
        packs,
        summary,
    })
}

/// The latest health of every active pack, and the summary.
pub fn current(db: &Db) -> Result<(Vec<PackHealth>, Summary), HealthError> {
    let mut stmt = db.conn.prepare(
        "WITH latest AS ( \
           SELECT s.info_hash, s.tracker, s.seeders, s.leechers, s.completed, s.scraped_at FROM scrapes s \
           WHERE s.error IS NULL AND s.scraped_at = (SELECT max(scraped_at) FROM scrapes t \
                 WHERE t.info_hash = s.info_hash AND t.tracker = s.tracker AND t.error IS NULL)) \
         SELECT p.name, p.data_size, max(l.seeders), max(l.leechers), max(l.completed), max(l.scraped_at) \
         FROM packs p LEFT JOIN latest l ON l.info_hash = p.btih OR l.info_hash = substr(p.btmh, 1, 40) \
         WHERE p.obsolete = 0 GROUP BY p.pack_id ORDER BY p.pack_id",
    )?;
    let packs: Vec<PackHealth> = stmt
        .query_map([], |r| {
            let seeders: Option<i64> = r.get(2)?;
            Ok(PackHealth {
                name: r.get(0)?,
                data_size: r.get::<_, i64>(1)? as u64,
                seeders: seeders.map(|s| s as u64),
                leechers: r.get::<_, Option<i64>>(3)?.map(|s| s as u64),
                completed: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
                scraped_at: r.get(5)?,
                class: class(seeders.unwrap_or(0).max(0) as u64),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut s = Summary {
        torrents: packs.len(),
        ..Default::default()
    };
    for p in &packs {
        match p.class {
            "red" => s.red += 1,
            "amber" => s.amber += 1,
            _ => s.green += 1,
        }
        s.unknown += usize::from(p.seeders.is_none());
        s.bytes += p.data_size;
        if p.seeders.unwrap_or(0) >= 4 {
            s.bytes_in_4_copies += p.data_size;
        }
    }
    s.share_data_4_copies = if s.bytes > 0 {
        s.bytes_in_4_copies as f64 / s.bytes as f64
    } else {
        0.0
    };
    Ok((packs, s))
}
