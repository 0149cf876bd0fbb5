//! The preservation planner: given a size budget, which quality tier for
//! which popularity band keeps the largest share of listening, at the best
//! quality that fits.
//!
//! Recordings are ranked by listens (most first) and cut into bands by rank
//! (top 0.1 %, 1 %, 10 %, 50 %, all). First every band, most popular first,
//! is covered at the cheapest tier while the budget lasts (the last one
//! partly, its most popular recordings first): coverage of listens comes
//! before quality. Then bands are upgraded one tier at a time, always the
//! upgrade that buys the most listens per extra byte, never leaving a less
//! popular band above a more popular one, while the budget lasts.
//!
//! Sizes are estimates from lengths: `seconds × kbit/s / 8 × 1.01` (Ogg
//! overhead), a lossless tier at an assumed average bitrate. Recordings
//! without a known length count at the catalogue's median length.

use serde::Serialize;

use crate::CatalogError;

/// One quality a band can be kept at.
#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    pub name: String,
    /// Average bitrate, kbit/s.
    pub kbps: f64,
}

impl Tier {
    pub fn opus(kbps: u32) -> Tier {
        Tier {
            name: format!("opus-{kbps}"),
            kbps: kbps as f64,
        }
    }

    /// Original lossless (FLAC of CD audio averages ~900 kbit/s).
    pub fn lossless() -> Tier {
        Tier {
            name: "lossless".into(),
            kbps: 900.0,
        }
    }

    fn bytes(&self, seconds: f64) -> f64 {
        seconds * self.kbps * 1000.0 / 8.0 * 1.01
    }
}

/// Band edges as shares of recordings by popularity rank.
pub const BAND_EDGES: [f64; 5] = [0.001, 0.01, 0.1, 0.5, 1.0];

#[derive(Debug, Clone, Serialize)]
pub struct BandPlan {
    /// "top 0.1 %", …
    pub band: String,
    pub recordings: u64,
    pub hours: f64,
    pub listens: u64,
    pub listen_share: f64,
    /// The tier chosen, or none (not kept).
    pub tier: Option<String>,
    /// Recordings of the band kept (all, or the most popular part).
    pub kept: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierCost {
    pub tier: String,
    /// The whole catalogue at this tier.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub budget_bytes: u64,
    pub used_bytes: u64,
    pub recordings: u64,
    pub recordings_with_listens: u64,
    pub total_listens: u64,
    pub unknown_lengths: u64,
    /// Share of recordings kept at any tier.
    pub track_share: f64,
    /// Share of all listens whose recording is kept.
    pub listen_share: f64,
    pub bands: Vec<BandPlan>,
    pub catalogue_cost: Vec<TierCost>,
}

/// One recording: seconds and listens.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub seconds: f32,
    pub listens: u64,
}

/// Read every recording's length and listens (the most any source gives).
pub fn load_items(db: &musicark_store::Db) -> Result<(Vec<Item>, u64), CatalogError> {
    // Popularity first, in its own key order (one sequential pass), into
    // compact maps; then the recordings in storage order. Probing the
    // popularity index once per recording in recording order was 25 s at
    // 10 M recordings; this is a few.
    let mut by_mbid: std::collections::HashMap<u128, u64> = std::collections::HashMap::new();
    let mut by_id: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    {
        let mut stmt = db.prepare(
            "SELECT recording_key, max(listen_count) FROM popularity GROUP BY recording_key",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let key = r.text(0)?.unwrap_or("");
            let listens = r.get::<_, Option<i64>>(1)?.unwrap_or(0).max(0) as u64;
            if let Some(id) = key.strip_prefix("rec:").and_then(|s| s.parse().ok()) {
                by_id.insert(id, listens);
            } else if let Some(k) = crate::ids::mbid_key(key) {
                by_mbid.insert(k, listens);
            }
        }
    }
    let mut stmt = db.prepare("SELECT recording_id, mbid, length_ms FROM recordings")?;
    let mut rows = stmt.query([])?;
    let mut items = Vec::new();
    let mut unknown = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let listens = match r.text(1).ok().flatten().and_then(crate::ids::mbid_key) {
            Some(k) => by_mbid.get(&k).copied(),
            None => by_id.get(&id).copied(),
        }
        .unwrap_or(0);
        let ms: Option<i64> = r.get(2)?;
        match ms.filter(|m| *m > 0) {
            Some(ms) => items.push(Item {
                seconds: ms as f32 / 1000.0,
                listens,
            }),
            None => unknown.push(listens),
        }
    }
    // Unknown lengths count at the median known length.
    let median = if items.is_empty() {
        240.0
    } else {
        let mut s: Vec<f32> = items.iter().map(|i| i.seconds).collect();
        let mid = s.len() / 2;
        *s.select_nth_unstable_by(mid, f32::total_cmp).1
    };
    let n_unknown = unknown.len() as u64;
    items.extend(unknown.into_iter().map(|listens| Item {
        seconds: median,
        listens,
    }));
    Ok((items, n_unknown))
}

/// Plan `items` into `budget` bytes with `tiers` (cheapest first).
pub fn plan(mut items: Vec<Item>, tiers: &[Tier], budget: u64, unknown_lengths: u64) -> Plan {
    let mut tiers: Vec<Tier> = tiers.to_vec();
    tiers.sort_by(|a, b| a.kbps.total_cmp(&b.kbps));
    items.sort_unstable_by_key(|i| std::cmp::Reverse(i.listens));
    let n = items.len();
    let total_listens: u64 = items.iter().map(|i| i.listens).sum();
    let total_seconds: f64 = items.iter().map(|i| i.seconds as f64).sum();
    // Bands by rank.
    let mut bands: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for edge in BAND_EDGES {
        let end = ((n as f64 * edge).ceil() as usize).clamp(start, n);
        if end > start {
            bands.push((start, end));
        }
        start = end;
    }
    let secs: Vec<f64> = bands
        .iter()
        .map(|&(a, b)| items[a..b].iter().map(|i| i.seconds as f64).sum())
        .collect();
    let listens: Vec<u64> = bands
        .iter()
        .map(|&(a, b)| items[a..b].iter().map(|i| i.listens).sum())
        .collect();
    let budget_f = budget as f64;
    // level[b]: 0 = not kept, t + 1 = tiers[t]; kept[b]: recordings kept.
    let mut level = vec![0usize; bands.len()];
    let mut kept = vec![0usize; bands.len()];
    let mut used = 0.0f64;
    if let Some(cheapest) = tiers.first() {
        'cover: for (b, &(a, e)) in bands.iter().enumerate() {
            let whole = cheapest.bytes(secs[b]);
            if used + whole <= budget_f {
                used += whole;
                level[b] = 1;
                kept[b] = e - a;
                continue;
            }
            // Part of the band, its most popular recordings first.
            for item in &items[a..e] {
                let cost = cheapest.bytes(item.seconds as f64);
                if used + cost > budget_f {
                    break 'cover;
                }
                used += cost;
                kept[b] += 1;
            }
            if kept[b] > 0 {
                level[b] = 1;
            }
            break;
        }
        // Upgrades: best listens per extra byte, whole bands only, never
        // above a more popular band.
        loop {
            let mut best: Option<(usize, f64, f64)> = None;
            for b in 0..bands.len() {
                let full = kept[b] == bands[b].1 - bands[b].0;
                if level[b] == 0 || level[b] >= tiers.len() || !full {
                    continue;
                }
                if b > 0 && level[b - 1] <= level[b] {
                    continue;
                }
                let extra = tiers[level[b]].bytes(secs[b]) - tiers[level[b] - 1].bytes(secs[b]);
                if used + extra > budget_f {
                    continue;
                }
                let gain = listens[b] as f64 / extra.max(1.0);
                if best.is_none_or(|(_, g, _)| gain > g) {
                    best = Some((b, gain, extra));
                }
            }
            // The most popular band may always rise first.
            let Some((b, _, extra)) = best else { break };
            used += extra;
            level[b] += 1;
        }
    }
    let band_names = ["top 0.1 %", "0.1–1 %", "1–10 %", "10–50 %", "50–100 %"];
    let mut out_bands = Vec::new();
    let mut kept_tracks = 0u64;
    let mut kept_listens = 0u64;
    for (b, &(a, e)) in bands.iter().enumerate() {
        let tier = (level[b] > 0).then(|| tiers[level[b] - 1].clone());
        let kept_items = &items[a..a + kept[b]];
        let kept_secs: f64 = kept_items.iter().map(|i| i.seconds as f64).sum();
        let bytes = tier.as_ref().map_or(0.0, |t| t.bytes(kept_secs));
        kept_tracks += kept[b] as u64;
        kept_listens += kept_items.iter().map(|i| i.listens).sum::<u64>();
        out_bands.push(BandPlan {
            band: band_names.get(b).copied().unwrap_or("rest").to_string(),
            recordings: (e - a) as u64,
            hours: secs[b] / 3600.0,
            listens: listens[b],
            listen_share: listens[b] as f64 / total_listens.max(1) as f64,
            tier: tier.map(|t| t.name),
            kept: kept[b] as u64,
            bytes: bytes as u64,
        });
    }
    Plan {
        budget_bytes: budget,
        used_bytes: out_bands.iter().map(|b| b.bytes).sum(),
        recordings: n as u64,
        recordings_with_listens: items.iter().filter(|i| i.listens > 0).count() as u64,
        total_listens,
        unknown_lengths,
        track_share: kept_tracks as f64 / n.max(1) as f64,
        listen_share: if total_listens == 0 {
            kept_tracks as f64 / n.max(1) as f64
        } else {
            kept_listens as f64 / total_listens as f64
        },
        bands: out_bands,
        catalogue_cost: tiers
            .iter()
            .map(|t| TierCost {
                tier: t.name.clone(),
                bytes: t.bytes(total_seconds) as u64,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Vec<Item> {
        // 10 000 recordings of 200 s; listens fall off as 1/rank.
        (0..10_000u64)
            .map(|r| Item {
                seconds: 200.0,
                listens: 1_000_000 / (r + 1),
            })
            .collect()
    }

    fn tiers() -> Vec<Tier> {
        vec![Tier::opus(64), Tier::opus(96), Tier::opus(128)]
    }

    #[test]
    fn everything_fits_at_the_best_tier_with_a_large_budget() {
        let p = plan(catalogue(), &tiers(), u64::MAX / 4, 0);
        assert!(
            p.bands
                .iter()
                .all(|b| b.tier.as_deref() == Some("opus-128"))
        );
        assert_eq!(p.track_share, 1.0);
        assert_eq!(p.listen_share, 1.0);
        let at128 = p
            .catalogue_cost
            .iter()
            .find(|c| c.tier == "opus-128")
            .expect("cost");
        assert_eq!(p.used_bytes, at128.bytes);
    }

    #[test]
    fn a_small_budget_covers_the_most_popular_first() {
        // Room for a tenth of the catalogue at 64 kbit/s.
        let budget = (Tier::opus(64).bytes(200.0 * 1_000.0)) as u64;
        let p = plan(catalogue(), &tiers(), budget, 0);
        assert!(p.used_bytes <= budget);
        assert!((p.track_share - 0.1).abs() < 0.002, "{}", p.track_share);
        // A tenth of the tracks, by popularity, hold most of the listens.
        assert!(p.listen_share > 0.7, "{}", p.listen_share);
        assert_eq!(p.bands[0].tier.as_deref(), Some("opus-64"));
        assert!(p.bands.last().and_then(|b| b.tier.as_ref()).is_none());
    }

    #[test]
    fn spare_budget_upgrades_popular_bands_first_and_never_inverts() {
        // Everything at 64 plus a little.
        let budget = (Tier::opus(64).bytes(200.0 * 10_000.0) * 1.1) as u64;
        let p = plan(catalogue(), &tiers(), budget, 0);
        assert_eq!(p.track_share, 1.0);
        assert!(p.used_bytes <= budget);
        let rank = |t: &Option<String>| match t.as_deref() {
            Some("opus-128") => 3,
            Some("opus-96") => 2,
            Some("opus-64") => 1,
            _ => 0,
        };
        assert!(rank(&p.bands[0].tier) > 1, "{:?}", p.bands);
        for w in p.bands.windows(2) {
            assert!(rank(&w[0].tier) >= rank(&w[1].tier), "{:?}", p.bands);
        }
    }

    #[test]
    fn nothing_to_plan_is_an_empty_plan() {
        let p = plan(vec![], &tiers(), 1 << 40, 0);
        assert_eq!(p.recordings, 0);
        assert!(p.bands.is_empty());
        assert_eq!(p.used_bytes, 0);
    }
}
