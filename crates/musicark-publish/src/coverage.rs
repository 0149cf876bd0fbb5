//! `musicark report coverage`: how much of the catalogue — and of what
//! people listen to — the archive holds, where the bytes go, and the long
//! tail; as plain data (`--json`) and as a self-contained HTML page with
//! SVG charts (`--html`), readable offline and printable.
//!
//! A recording is *preserved* when the archive holds a copy of it (the
//! `preserved` table), *published* when that copy is in an active pack.
//! Listens are the most any popularity source reports for a recording.

use std::collections::{BTreeMap, HashMap, HashSet};

use musicark_store::{Db, Home};
use serde::Serialize;

use crate::PublishError;

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct TierBytes {
    pub tier: String,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct BandCoverage {
    pub band: String,
    /// For people: `top 1 %`, `1–10 %`, `not linked`.
    pub label: String,
    /// The band's share of recordings (by listens rank), from the policy.
    pub top: f64,
    pub recordings: u64,
    pub preserved: u64,
    pub listens: i64,
    pub listens_preserved: i64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct GroupCoverage {
    pub key: String,
    pub recordings: u64,
    pub preserved: u64,
}

/// A point of the long-tail curve: the top `rank` recordings by listens
/// hold `listens_share` of all listens, of which the archive preserves
/// `preserved_share` (both shares of all listens).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct TailPoint {
    pub rank: u64,
    pub listens_share: f64,
    pub preserved_share: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Coverage {
    pub archive: String,
    pub generated_at: String,
    pub recordings: u64,
    pub recordings_preserved: u64,
    pub recordings_published: u64,
    pub share_recordings_preserved: f64,
    pub share_recordings_published: f64,
    pub listens: i64,
    pub listens_preserved: i64,
    pub listens_published: i64,
    pub share_listens_preserved: f64,
    pub share_listens_published: f64,
    /// Preserved files, those not linked to a recording included.
    pub files_preserved: u64,
    pub bytes_preserved: u64,
    pub torrents_active: u64,
    pub bytes_published: u64,
    pub by_tier: Vec<TierBytes>,
    pub by_band: Vec<BandCoverage>,
    pub long_tail: Vec<TailPoint>,
    /// By the decade of first release, where known.
    pub by_decade: Vec<GroupCoverage>,
    /// By the country of the first credited artist, where known (most
    /// recordings first; the rest summed as `other`).
    pub by_country: Vec<GroupCoverage>,
    /// What the archive may publish: `musicark rights report`.
    pub rights: crate::rights::RightsReport,
}

/// `a / b`, or 0 when there is nothing to share.
pub fn share(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Ranks for the curve: 1, 2, 5, 10, 20, 50… up to `n`, and `n`.
pub fn tail_ranks(n: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut decade = 1u64;
    'outer: loop {
        for m in [1, 2, 5] {
            let r = decade.saturating_mul(m);
            if r >= n {
                break 'outer;
            }
            out.push(r);
        }
        decade = decade.saturating_mul(10);
    }
    if n > 0 {
        out.push(n);
    }
    out
}

/// Compute the report.
pub fn coverage(home: &Home, db: &Db) -> Result<Coverage, PublishError> {
    let generated_at = musicark_store::clock::now_seconds();
    let preserved: HashSet<i64> = db
        .prepare("SELECT DISTINCT recording_id FROM preserved WHERE recording_id IS NOT NULL")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let published: HashSet<i64> = db
        .prepare(
            "SELECT DISTINCT f.recording_id FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
             WHERE p.obsolete = 0 AND p.kind = 'audio' AND f.recording_id IS NOT NULL",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let listens_of = crate::listens_by_recording(db)?;
    // Every recording: (listens, id, decade, country).
    let mut all: Vec<(i64, i64)> = Vec::new();
    let mut decades: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut countries: HashMap<String, (u64, u64)> = HashMap::new();
    {
        let mut stmt = db.prepare(
            "SELECT r.recording_id, substr(coalesce(r.first_release_date, \
                    (SELECT min(rl.date) FROM tracks t JOIN releases rl ON rl.release_id = t.release_id \
                      WHERE t.recording_id = r.recording_id)), 1, 3), \
                    (SELECT a.country FROM recording_artists ra JOIN artists a ON a.artist_id = ra.artist_id \
                      WHERE ra.recording_id = r.recording_id ORDER BY ra.position LIMIT 1) \
             FROM recordings r",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let decade: Option<String> = r.get(1)?;
            let country: Option<String> = r.get(2)?;
            let kept = u64::from(preserved.contains(&id));
            all.push((listens_of.get(&id).copied().unwrap_or(0), id));
            if let Some(d) =
                decade.filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
            {
                let e = decades.entry(format!("{d}0s")).or_default();
                e.0 += 1;
                e.1 += kept;
            }
            if let Some(c) = country.filter(|c| !c.is_empty()) {
                let e = countries.entry(c).or_default();
                e.0 += 1;
                e.1 += kept;
            }
        }
    }
    all.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let n = all.len() as u64;
    let total_listens: i64 = all.iter().map(|a| a.0).sum();
    let listens_preserved: i64 = all
        .iter()
        .filter(|a| preserved.contains(&a.1))
        .map(|a| a.0)
        .sum();
    let listens_published: i64 = all
        .iter()
        .filter(|a| published.contains(&a.1))
        .map(|a| a.0)
        .sum();
    // The long tail.
    let mut long_tail = Vec::new();
    {
        let ranks = tail_ranks(n);
        let (mut cum, mut cum_kept) = (0i64, 0i64);
        let mut next = ranks.iter().peekable();
        for (i, (l, id)) in all.iter().enumerate() {
            cum += l;
            if preserved.contains(id) {
                cum_kept += l;
            }
            if next.peek().is_some_and(|&&r| r == i as u64 + 1) {
                next.next();
                long_tail.push(TailPoint {
                    rank: i as u64 + 1,
                    listens_share: share(cum as f64, total_listens as f64),
                    preserved_share: share(cum_kept as f64, total_listens as f64),
                });
            }
        }
    }
    // Bands, as the preserve policy cuts them.
    let bands = &home.config.preserve.bands;
    let mut by_band: Vec<BandCoverage> = bands
        .iter()
        .enumerate()
        .map(|(i, b)| BandCoverage {
            band: musicark_preserve::band_name(bands, Some(i)),
            label: match i {
                0 => format!("top {}", short_pct(b.top)),
                _ => format!(
                    "{}–{}",
                    short_pct(bands[i - 1].top).trim_end_matches(" %"),
                    short_pct(b.top)
                ),
            },
            top: b.top,
            recordings: 0,
            preserved: 0,
            listens: 0,
            listens_preserved: 0,
            bytes: 0,
        })
        .collect();
    let popularity = musicark_preserve::Popularity::load(db)?;
    let mut band_of: HashMap<i64, usize> = HashMap::new();
    for (l, id) in &all {
        if let (Some(b), _) = popularity.band(bands, *l) {
            let e = &mut by_band[b];
            e.recordings += 1;
            e.listens += l;
            if preserved.contains(id) {
                e.preserved += 1;
                e.listens_preserved += l;
            }
            band_of.insert(*id, b);
        }
    }
    // Bytes by tier and band.
    let mut tiers: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut files_preserved, mut bytes_preserved) = (0u64, 0u64);
    let mut unlinked = BandCoverage {
        band: "unlinked".into(),
        label: "not linked".into(),
        top: 0.0,
        recordings: 0,
        preserved: 0,
        listens: 0,
        listens_preserved: 0,
        bytes: 0,
    };
    {
        let mut stmt = db.prepare("SELECT tier, kbps, bytes, recording_id FROM preserved")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let tier: String = r.get(0)?;
            let kbps: Option<i64> = r.get(1)?;
            let bytes = r.get::<_, i64>(2)? as u64;
            let rec: Option<i64> = r.get(3)?;
            let label = match kbps {
                Some(k) if tier == musicark_preserve::Tier::Opus.as_str() => {
                    format!("opus {k} kbit/s")
                }
                _ => tier,
            };
            let e = tiers.entry(label).or_default();
            e.0 += 1;
            e.1 += bytes;
            files_preserved += 1;
            bytes_preserved += bytes;
            match rec.and_then(|id| band_of.get(&id)) {
                Some(&b) => by_band[b].bytes += bytes,
                None => {
                    unlinked.preserved += 1;
                    unlinked.bytes += bytes;
                }
            }
        }
    }
    if unlinked.preserved > 0 {
        by_band.push(unlinked);
    }
    let (torrents_active, bytes_published): (i64, i64) = db.query_row(
        "SELECT count(*), coalesce(sum(data_size), 0) FROM packs WHERE obsolete = 0",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut by_country: Vec<GroupCoverage> = countries
        .into_iter()
        .map(|(key, (recordings, preserved))| GroupCoverage {
            key,
            recordings,
            preserved,
        })
        .collect();
    by_country.sort_by(|a, b| b.recordings.cmp(&a.recordings).then(a.key.cmp(&b.key)));
    if by_country.len() > 15 {
        let rest = by_country.split_off(15);
        by_country.push(GroupCoverage {
            key: "other".into(),
            recordings: rest.iter().map(|g| g.recordings).sum(),
            preserved: rest.iter().map(|g| g.preserved).sum(),
        });
    }
    Ok(Coverage {
        archive: home.config.archive.name.clone(),
        generated_at,
        recordings: n,
        recordings_preserved: all.iter().filter(|a| preserved.contains(&a.1)).count() as u64,
        recordings_published: all.iter().filter(|a| published.contains(&a.1)).count() as u64,
        share_recordings_preserved: share(
            all.iter().filter(|a| preserved.contains(&a.1)).count() as f64,
            n as f64,
        ),
        share_recordings_published: share(
            all.iter().filter(|a| published.contains(&a.1)).count() as f64,
            n as f64,
        ),
        listens: total_listens,
        listens_preserved,
        listens_published,
        share_listens_preserved: share(listens_preserved as f64, total_listens as f64),
        share_listens_published: share(listens_published as f64, total_listens as f64),
        files_preserved,
        bytes_preserved,
        torrents_active: torrents_active as u64,
        bytes_published: bytes_published as u64,
        by_tier: tiers
            .into_iter()
            .map(|(tier, (files, bytes))| TierBytes { tier, files, bytes })
            .collect(),
        by_band,
        long_tail,
        by_decade: decades
            .into_iter()
            .map(|(key, (recordings, preserved))| GroupCoverage {
                key,
                recordings,
                preserved,
            })
            .collect(),
        by_country,
        rights: crate::rights::report(home, db)?,
    })
}

/// `1 %`, `0.1 %`, `12.5 %`: a policy's band edge.
fn short_pct(x: f64) -> String {
    let v = (x * 100.0 * 1e4).round() / 1e4;
    format!("{v} %")
}

#[cfg(test)]
mod tests {
    use super::*;

    use musicark_store::Home;

    /// A small archive whose figures are computed by hand below.
    fn small_archive(dir: &std::path::Path) -> (Home, Db) {
        let home = Home::init(&dir.join("archive")).expect("init");
        let db = home.db().expect("db");
        db
            .execute_batch(
                "INSERT INTO artists (artist_id, name, country) VALUES (1, 'A', 'GB'), (2, 'B', 'JP');
                 INSERT INTO recordings (recording_id, mbid, title, first_release_date) VALUES
                   (1, 'm1', 'one', '1995-01-01'), (2, 'm2', 'two', '1999'),
                   (3, 'm3', 'three', '2003-05'), (4, 'm4', 'four', NULL);
                 INSERT INTO recording_artists (recording_id, position, artist_id, credited_name) VALUES
                   (1, 0, 1, 'A'), (2, 0, 1, 'A'), (3, 0, 2, 'B');
                 INSERT INTO popularity (recording_key, source, listen_count) VALUES
                   ('m1', 'lb', 100), ('m2', 'lb', 50), ('m3', 'lb', 30), ('m4', 'lb', 20),
                   ('m3', 'other', 10);
                 INSERT INTO contents (content_id, sha256, size, verdict, analyzer_version, analyzed_at) VALUES
                   ('c1', 's', 5000, 'audio', 3, 'now'), ('c3', 's', 500, 'audio', 3, 'now'),
                   ('cx', 's', 200, 'audio', 3, 'now');
                 INSERT INTO preserved (source_id, tier, kbps, output_id, bytes, recording_id, made_at) VALUES
                   ('c1', 'opus', 96, 'o1', 1000, 1, 'now'), ('c3', 'original', NULL, 'c3', 500, 3, 'now'),
                   ('cx', 'original', NULL, 'cx', 200, NULL, 'now');
                 INSERT INTO packs (pack_id, name, kind, band, tier, btih, torrent_size, num_files, data_size,
                                    manifest_sha256, created_at) VALUES
                   (1, 'p1', 'audio', 'top1', 'opus-96', 'x', 1, 2, 1100, 'x', 'now'),
                   (2, 'p2', 'audio', 'top100', 'original', 'y', 1, 2, 600, 'y', 'now');
                 UPDATE packs SET obsolete = 1 WHERE pack_id = 2;
                 INSERT INTO pack_files (pack_id, file_index, path, byte_offset, size, output_id, source_id, recording_id)
                   VALUES (1, 0, 'a.opus', 0, 1000, 'o1', 'c1', 1), (2, 0, 'b.ogg', 0, 500, 'c3', 'c3', 3);",
            )
            .expect("rows");
        (home, db)
    }

    #[test]
    fn figures_match_a_hand_computed_case() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (home, db) = small_archive(tmp.path());
        let c = coverage(&home, &db).expect("coverage");
        // Listens: 100, 50, 30 (the most any source reports), 20 = 200.
        assert_eq!(c.recordings, 4);
        assert_eq!(c.listens, 200);
        // Preserved: recordings 1 and 3 (the unlinked copy counts as a file).
        assert_eq!(
            (c.recordings_preserved, c.share_recordings_preserved),
            (2, 0.5)
        );
        assert_eq!(
            (c.listens_preserved, c.share_listens_preserved),
            (130, 0.65)
        );
        // Published: only recording 1 (pack 2 is obsolete).
        assert_eq!(
            (c.recordings_published, c.share_recordings_published),
            (1, 0.25)
        );
        assert_eq!((c.listens_published, c.share_listens_published), (100, 0.5));
        assert_eq!((c.files_preserved, c.bytes_preserved), (3, 1700));
        assert_eq!((c.torrents_active, c.bytes_published), (1, 1100));
        let tiers: Vec<(&str, u64, u64)> = c
            .by_tier
            .iter()
            .map(|t| (t.tier.as_str(), t.files, t.bytes))
            .collect();
        assert_eq!(tiers, [("opus 96 kbit/s", 1, 1000), ("original", 2, 700)]);
        // The long tail at ranks 1, 2 and 4.
        let tail: Vec<(u64, f64, f64)> = c
            .long_tail
            .iter()
            .map(|p| (p.rank, p.listens_share, p.preserved_share))
            .collect();
        assert_eq!(tail, [(1, 0.5, 0.5), (2, 0.75, 0.5), (4, 1.0, 0.65)]);
        // Bands (default policy: top 1 %, 1–10 %, 10–100 %): recording 1
        // has nobody above it; the others are at 25, 50 and 75 %.
        let bands: Vec<(&str, u64, u64, i64, i64, u64)> = c
            .by_band
            .iter()
            .map(|b| {
                (
                    b.label.as_str(),
                    b.recordings,
                    b.preserved,
                    b.listens,
                    b.listens_preserved,
                    b.bytes,
                )
            })
            .collect();
        assert_eq!(
            bands,
            [
                ("top 1 %", 1, 1, 100, 100, 1000),
                ("1–10 %", 0, 0, 0, 0, 0),
                ("10–100 %", 3, 1, 100, 30, 500),
                ("not linked", 0, 1, 0, 0, 200),
            ]
        );
        let decades: Vec<(&str, u64, u64)> = c
            .by_decade
            .iter()
            .map(|g| (g.key.as_str(), g.recordings, g.preserved))
            .collect();
        assert_eq!(decades, [("1990s", 2, 1), ("2000s", 1, 1)]);
        let countries: Vec<(&str, u64, u64)> = c
            .by_country
            .iter()
            .map(|g| (g.key.as_str(), g.recordings, g.preserved))
            .collect();
        assert_eq!(countries, [("GB", 2, 1), ("JP", 1, 1)]);
    }

    #[test]
    fn tail_ranks_are_log_spaced() {
        assert_eq!(tail_ranks(0), Vec::<u64>::new());
        assert_eq!(tail_ranks(1), vec![1]);
        assert_eq!(tail_ranks(4), vec![1, 2, 4]);
        assert_eq!(tail_ranks(120), vec![1, 2, 5, 10, 20, 50, 100, 120]);
    }
}
