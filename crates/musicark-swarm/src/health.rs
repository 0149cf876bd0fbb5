//! Seeding health: scrape every active pack's trackers, keep the history
//! (`scrapes`), and sum it up as the anchor does — red below 4 seeders,
//! amber 4 to 10, green above — with the headline share of the data held
//! in at least 4 copies.

use std::collections::BTreeMap;
use std::path::Path;

use musicark_store::params;
use musicark_store::{Db, Home};
use serde::Serialize;

use crate::scrape::{Counts, ScrapeOptions, scrape};

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("catalogue database: {0}")]
    Sqlite(#[from] musicark_store::sql::Error),
    #[error(transparent)]
    Store(#[from] musicark_store::StoreError),
}

/// Health class of a torrent by its seeders, with the anchor's
/// thresholds. Its thresholds, names, colours and legend live here only:
/// the CLI, the pages, the charts and the API's filter all read them from
/// this type.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// 0 to [`Health::RED_MAX`] seeders, or never scraped.
    Red,
    /// Up to [`Health::AMBER_MAX`] seeders.
    Amber,
    /// More than [`Health::AMBER_MAX`] seeders.
    Green,
}

impl Health {
    /// The most seeders a red torrent has.
    pub const RED_MAX: u64 = 3;
    /// The most seeders an amber torrent has.
    pub const AMBER_MAX: u64 = 10;
    /// Worst first.
    pub const ALL: [Health; 3] = [Health::Red, Health::Amber, Health::Green];

    /// The class of a torrent with `seeders` seeders (never scraped: pass 0).
    pub fn of(seeders: u64) -> Health {
        if seeders <= Self::RED_MAX {
            Health::Red
        } else if seeders <= Self::AMBER_MAX {
            Health::Amber
        } else {
            Health::Green
        }
    }

    /// Its colour in charts (the anchor's palette).
    pub fn colour(self) -> &'static str {
        match self {
            Health::Red => "#c62828",
            Health::Amber => "#ef8f00",
            Health::Green => "#2e7d32",
        }
    }

    /// What it means, for legends and help.
    pub fn legend(self) -> String {
        match self {
            Health::Red => format!("red: {} seeders or fewer, or never scraped", Self::RED_MAX),
            Health::Amber => format!("amber: {} to {}", Self::RED_MAX + 1, Self::AMBER_MAX),
            Health::Green => format!("green: more than {}", Self::AMBER_MAX),
        }
    }
}

musicark_store::text_enum!(Health, "health class", Red => "red", Amber => "amber", Green => "green");

/// One tracker's outcome.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TrackerReport {
    pub tracker: String,
    pub hashes: usize,
    pub answered: usize,
    pub error: Option<String>,
    pub seconds: f64,
}

/// One pack's health (the best any tracker reports, over its v1 and v2
/// hashes).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PackHealth {
    pub name: String,
    pub data_size: u64,
    pub seeders: Option<u64>,
    pub leechers: Option<u64>,
    pub completed: Option<u64>,
    pub scraped_at: Option<String>,
    pub class: Health,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    let now = musicark_store::clock::now();
    let packs: Vec<(String, Option<String>, Option<String>)> = db
        .prepare("SELECT name, btih, btmh FROM packs WHERE obsolete = 0 ORDER BY pack_id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    // Tracker → the hashes to ask it.
    let mut plan: BTreeMap<String, Vec<[u8; 20]>> = BTreeMap::new();
    for (name, btih, btmh) in &packs {
        let hashes = pack_hashes(btih.as_deref(), btmh.as_deref());
        let own: Vec<String> = if trackers.is_empty() {
            let mut t = torrent_trackers(&home.torrents_dir().join(format!("{name}.torrent")));
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
    let tx = db.unchecked_transaction()?;
    {
        let mut ins = tx.prepare(
            "INSERT INTO scrapes (info_hash, tracker, scraped_at, seeders, leechers, completed, error) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (info_hash, tracker, scraped_at) DO UPDATE SET \
               seeders = excluded.seeders, leechers = excluded.leechers, \
               completed = excluded.completed, error = excluded.error",
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

/// Every active pack's health and the summary (`health show --json`,
/// `GET /api/health`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HealthReport {
    pub packs: Vec<PackHealth>,
    pub summary: Summary,
}

/// [`current`] as one value.
pub fn report(db: &Db) -> Result<HealthReport, HealthError> {
    let (packs, summary) = current(db)?;
    Ok(HealthReport { packs, summary })
}

/// What the archive holds and how well its torrents are seeded
/// (`status --json`, `GET /api/status`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StatusReport {
    #[serde(flatten)]
    pub status: musicark_store::Status,
    pub health: Summary,
}

/// The archive's status with its health summary.
pub fn status(home: &musicark_store::Home, db: &Db) -> Result<StatusReport, HealthError> {
    Ok(StatusReport {
        status: home.status(db)?,
        health: current(db)?.1,
    })
}

/// The latest health of every active pack, and the summary.
pub fn current(db: &Db) -> Result<(Vec<PackHealth>, Summary), HealthError> {
    let mut stmt = db.prepare(
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
                class: Health::of(seeders.unwrap_or(0).max(0) as u64),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut s = Summary {
        torrents: packs.len(),
        ..Default::default()
    };
    for p in &packs {
        match p.class {
            Health::Red => s.red += 1,
            Health::Amber => s.amber += 1,
            Health::Green => s.green += 1,
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

/// A pack as the planner reads it: id, name, btih, btmh, data size.
type PackRow = (i64, String, Option<String>, Option<String>, i64);

/// One torrent of a donor's plan.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PlannedTorrent {
    pub name: String,
    pub btih: Option<String>,
    pub data_size: u64,
    pub seeders: Option<u64>,
    pub magnet: String,
    /// Recordings it holds that nobody seeds now.
    pub unseeded_recordings: usize,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SeedPlan {
    pub donor: String,
    pub budget: u64,
    pub used: u64,
    pub torrents: Vec<PlannedTorrent>,
}

/// A donor's plan over the archive's active packs, from their latest
/// health (never scraped: 0 seeders) and what they hold (recordings, or
/// for files not linked to one, the file). A recording's weight is
/// 1 + the share of the catalogue's recordings more listened than it:
/// the long tail, which has fewer copies elsewhere in the world, counts
/// up to twice.
/// `trackers` go into the plan's magnet links.
pub fn seed_plan(
    db: &Db,
    budget: u64,
    donor: &str,
    trackers: &[String],
) -> Result<SeedPlan, HealthError> {
    use crate::seedplan::{Model, Torrent, copies, donor_key, plan};
    let (health, _) = current(db)?;
    let seeders: std::collections::HashMap<String, Option<u64>> =
        health.into_iter().map(|h| (h.name, h.seeders)).collect();
    let packs: Vec<PackRow> = db
        .prepare("SELECT pack_id, name, btih, btmh, data_size FROM packs WHERE obsolete = 0 ORDER BY pack_id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<Result<_, _>>()?;
    let metadata: std::collections::HashSet<i64> = db
        .prepare("SELECT pack_id FROM packs WHERE kind = 'metadata'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // Listens rank of each recording.
    let mut listens: Vec<(i64, i64)> = db
        .prepare(
            "SELECT r.recording_id, coalesce(max(p.listen_count), 0) FROM recordings r \
             LEFT JOIN popularity p ON p.recording_key = coalesce(r.mbid, 'rec:' || r.recording_id) \
             WHERE r.recording_id IN (SELECT recording_id FROM pack_files) GROUP BY r.recording_id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    listens.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let n = listens.len().max(1) as f64;
    let tail: std::collections::HashMap<i64, f64> = listens
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, 1.0 + i as f64 / n))
        .collect();
    let mut index: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut weights: Vec<f64> = Vec::new();
    let mut torrents = Vec::with_capacity(packs.len());
    let mut stmt = db.prepare(
        "SELECT recording_id, output_id FROM pack_files WHERE pack_id = ?1 AND source_id IS NOT NULL",
    )?;
    for (id, name, btih, _, size) in &packs {
        let mut recs = Vec::new();
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()?.filter(|_| !metadata.contains(id)) {
            let rec: Option<i64> = r.get(0)?;
            let key = rec.map_or_else(
                || format!("c:{}", r.get::<_, String>(1).unwrap_or_default()),
                |id| format!("r:{id}"),
            );
            let next = index.len() as u32;
            let i = *index.entry(key).or_insert_with(|| {
                weights.push(rec.and_then(|id| tail.get(&id).copied()).unwrap_or(2.0));
                next
            });
            recs.push(i);
        }
        if recs.is_empty() {
            // The metadata release: one item of its own, weighed as a
            // whole album of the tail.
            let next = index.len() as u32;
            index.insert(format!("p:{name}"), next);
            weights.push(20.0);
            recs.push(next);
        }
        let key = btih
            .as_deref()
            .and_then(|h| u64::from_str_radix(&h[..h.len().min(16)], 16).ok())
            .unwrap_or(*id as u64);
        torrents.push(Torrent {
            size: (*size).max(1) as u64,
            seeders: seeders.get(name).copied().flatten().unwrap_or(0) as u32,
            leechers: 0,
            recordings: recs,
            key,
        });
    }
    let c = copies(&torrents, weights.len());
    let chosen = plan(
        &torrents,
        &weights,
        &c,
        budget,
        donor_key(donor),
        &Model::default(),
    );
    let mut used = 0;
    let out = chosen
        .into_iter()
        .map(|i| {
            let (_, name, btih, btmh, size) = &packs[i];
            used += *size as u64;
            let magnet = musicark_torrent::magnet_link(&musicark_torrent::MagnetParts {
                btih: btih.as_deref(),
                btmh: btmh.as_deref(),
                name,
                trackers,
                ..Default::default()
            });
            PlannedTorrent {
                name: name.clone(),
                btih: btih.clone(),
                data_size: *size as u64,
                seeders: seeders.get(name).copied().flatten(),
                magnet,
                unseeded_recordings: torrents[i]
                    .recordings
                    .iter()
                    .filter(|&&r| c[r as usize] == 0)
                    .count(),
            }
        })
        .collect();
    Ok(SeedPlan {
        donor: donor.to_string(),
        budget,
        used,
        torrents: out,
    })
}

/// The seeders the latest answers report for the active pack named
/// `name`: the most any tracker reports over its v1 and v2 hashes (none:
/// never scraped).
pub fn latest_seeders(db: &Db, name: &str) -> Result<Option<u64>, HealthError> {
    let v: Option<i64> = db
        .prepare_cached(
            "SELECT max(s.seeders) FROM packs p JOIN scrapes s \
               ON (s.info_hash = p.btih OR s.info_hash = substr(p.btmh, 1, 40)) \
             WHERE p.name = ?1 AND s.error IS NULL AND s.scraped_at = ( \
               SELECT max(t.scraped_at) FROM scrapes t WHERE t.info_hash = s.info_hash \
                 AND t.tracker = s.tracker AND t.error IS NULL)",
        )?
        .query_row([name], |r| r.get(0))?;
    Ok(v.map(|v| v.max(0) as u64))
}

/// Scrapes, newest first: one line per scrape run.
pub fn activity(db: &Db, limit: usize) -> Result<Vec<musicark_store::Activity>, HealthError> {
    Ok(db.activity(
        "SELECT scraped_at, 'scrape', 'scrape of ' || count(DISTINCT info_hash) || ' hashes at ' \
           || count(DISTINCT tracker) || ' trackers' \
           || CASE WHEN count(error) > 0 THEN ', ' || count(error) || ' errors' ELSE '' END \
         FROM scrapes GROUP BY scraped_at ORDER BY scraped_at DESC LIMIT ?1",
        limit,
    )?)
}

#[cfg(test)]
mod tests {
    use super::Health;

    #[test]
    fn classes_follow_the_thresholds_and_the_legend_says_them() {
        let classes: Vec<Health> = [0, 3, 4, 10, 11, 1000].map(Health::of).to_vec();
        assert_eq!(
            classes,
            [
                Health::Red,
                Health::Red,
                Health::Amber,
                Health::Amber,
                Health::Green,
                Health::Green
            ]
        );
        assert_eq!(
            Health::Red.legend(),
            "red: 3 seeders or fewer, or never scraped"
        );
        assert_eq!(Health::Amber.legend(), "amber: 4 to 10");
        assert_eq!(Health::Green.legend(), "green: more than 10");
        for h in Health::ALL {
            assert_eq!(h.as_str().parse::<Health>(), Ok(h));
        }
        assert!("blue".parse::<Health>().is_err());
    }
}
