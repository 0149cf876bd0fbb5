//! Seed plans: which torrents a donor with a disk budget should seed.
//! Pure functions: torrents, what they hold and who seeds them in; a plan
//! out.
//!
//! The risk model: each copy of a torrent may disappear (a seeder leaves)
//! with probability `p`, independently; a recording is lost when every
//! copy of every torrent holding it is gone, with probability
//! `p^copies`, where `copies` sums the seeders of all those torrents.
//! Seeding a torrent adds one copy to each of its recordings, which cuts
//! the expected loss by `Σ weight·p^copies·(1−p)`; the planner takes, by
//! that gain per byte, the best torrent that still fits, adds its copy,
//! and repeats (lazy greedy: gains only fall as copies grow). Copies past
//! the target (4) weigh a hundredth: protection first, then margin. So a
//! torrent whose recordings exist in other well-seeded torrents counts for
//! little, and the fewest copies count most.
//!
//! Torrents holding a recording that nobody seeds come first, whatever
//! their size (so no recording is left at zero copies while bytes go to
//! second copies elsewhere); gain per byte orders the rest.
//!
//! Coordination: donors who ask at the same time see the same counts and
//! would all pick the same torrents. Each donor's gains are therefore
//! scaled by a factor, log-uniform in [10^−spread, 10^spread], drawn from
//! a hash of the donor id and the torrent: different donors order similar
//! choices differently, deterministically (the same donor id gets the
//! same plan for the same state). Model constants were chosen on the
//! simulation's seeds 1–2 and are reported on seeds 11–15.
//!
//! The anchor's generator (for comparison): sort ascending by
//! `(seeders + 0.1·leechers)·(avg_size/size) + random(0..2)` and fill the
//! budget.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One torrent as the planner sees it.
#[derive(Debug, Clone)]
pub struct Torrent {
    pub size: u64,
    pub seeders: u32,
    pub leechers: u32,
    /// The recordings it holds (indices into the recordings' arrays).
    pub recordings: Vec<u32>,
    /// A stable key for the donor hash (its info-hash).
    pub key: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// Chance that one copy disappears before the next plan.
    pub p: f64,
    /// How much donors' choices are spread (0: none).
    pub spread: f64,
    /// Copies that count as safe (the anchor's and the list's 4): a copy
    /// beyond them weighs a hundredth, so bytes go where the protection
    /// is missing rather than to a small, already well-kept torrent.
    pub target: u32,
    /// Torrents holding a recording nobody seeds come first, whatever
    /// their size; gain per byte orders the rest (and each tier).
    pub zero_first: bool,
}

impl Default for Model {
    /// Chosen by the simulation (`cargo xtask simulate-seeding`, see
    /// BENCHMARKS.md).
    fn default() -> Self {
        Model {
            p: 0.75,
            spread: 1.0,
            target: 4,
            zero_first: true,
        }
    }
}

impl Model {
    /// For plans over every followed publisher's torrents: the same stale
    /// counts are seen by the donors of every publisher at once, so their
    /// choices are spread wider (chosen by `cargo xtask simulate-seeding
    /// --publishers K` on seeds 1–5: spread 1, 1.5, 2, 3 left 37 204,
    /// 36 492, 35 862 and 36 187 recordings below 4 copies at K = 4 and
    /// 10; see BENCHMARKS.md for held-out seeds).
    pub fn federated() -> Self {
        Model {
            spread: 2.0,
            ..Model::default()
        }
    }
}

/// The weight of the risk of a recording with `c` copies.
fn risk_of(c: u32, model: &Model, p: f64) -> f64 {
    let r = p.powi(c.min(1000) as i32);
    if c >= model.target { r * 0.01 } else { r }
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A donor id as a number (FNV-1a of its bytes).
pub fn donor_key(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The donor-specific factor for a torrent, log-uniform in
/// [10^−spread, 10^spread].
fn jitter(donor: u64, torrent: u64, spread: f64) -> f64 {
    let u = (mix(donor ^ mix(torrent)) >> 11) as f64 / (1u64 << 53) as f64;
    10f64.powf(spread * (2.0 * u - 1.0))
}

#[derive(PartialEq)]
struct Entry {
    /// 0 when it holds a recording nobody seeds (first, with `zero_first`).
    fewest: u32,
    gain: f64,
    torrent: usize,
    /// How many picks had been made when `gain` was computed.
    stamp: usize,
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .fewest
            .cmp(&self.fewest)
            .then_with(|| self.gain.total_cmp(&other.gain))
            .then_with(|| other.torrent.cmp(&self.torrent))
    }
}

/// Copies of each recording: the seeders of every torrent holding it.
pub fn copies(torrents: &[Torrent], recordings: usize) -> Vec<u32> {
    let mut c = vec![0u32; recordings];
    for t in torrents {
        for &r in &t.recordings {
            c[r as usize] += t.seeders;
        }
    }
    c
}

/// The plan of donor `donor` with `budget` bytes: torrent indices in the
/// order chosen. `weights[r]` is what losing recording `r` costs (e.g.
/// more for the long tail); `copies` as [`copies`] computes it.
pub fn plan(
    torrents: &[Torrent],
    weights: &[f64],
    copies: &[u32],
    budget: u64,
    donor: u64,
    model: &Model,
) -> Vec<usize> {
    let p = model.p.clamp(1e-6, 1.0 - 1e-6);
    let mut copies = copies.to_vec();
    // p^copies, kept per recording and updated as copies are added.
    let mut risk: Vec<f64> = copies.iter().map(|&c| risk_of(c, model, p)).collect();
    let gain = |t: &Torrent, risk: &[f64]| -> f64 {
        let loss: f64 = t
            .recordings
            .iter()
            .map(|&r| weights[r as usize] * risk[r as usize])
            .sum();
        loss * (1.0 - p) / t.size.max(1) as f64 * jitter(donor, t.key, model.spread)
    };
    // Tier 0: torrents holding a recording nobody seeds; tier 1: the rest.
    let fewest = |t: &Torrent, copies: &[u32]| -> u32 {
        if model.zero_first {
            u32::from(t.recordings.iter().all(|&r| copies[r as usize] > 0))
        } else {
            0
        }
    };
    let mut heap: BinaryHeap<Entry> = torrents
        .iter()
        .enumerate()
        .filter(|(_, t)| t.size <= budget)
        .map(|(i, t)| Entry {
            fewest: fewest(t, &copies),
            gain: gain(t, &risk),
            torrent: i,
            stamp: 0,
        })
        .collect();
    let mut left = budget;
    let mut chosen = Vec::new();
    while let Some(top) = heap.pop() {
        let t = &torrents[top.torrent];
        if t.size > left {
            continue;
        }
        if top.stamp != chosen.len() {
            // Stale: recompute, and take it only if it still leads.
            let g = gain(t, &risk);
            heap.push(Entry {
                fewest: fewest(t, &copies),
                gain: g,
                torrent: top.torrent,
                stamp: chosen.len(),
            });
            continue;
        }
        if top.gain <= 0.0 {
            break;
        }
        chosen.push(top.torrent);
        left -= t.size;
        for &r in &t.recordings {
            copies[r as usize] += 1;
            risk[r as usize] = risk_of(copies[r as usize], model, p);
        }
    }
    chosen
}

/// The anchor's generator: ascending by
/// `(seeders + 0.1·leechers)·(avg/size) + noise(i)`, where `noise(i)` is
/// in [0, 2) for torrent `i`; fill the budget, skipping what does not fit.
pub fn anchor_plan(
    torrents: &[Torrent],
    budget: u64,
    noise: &mut dyn FnMut(usize) -> f64,
) -> Vec<usize> {
    let avg = torrents.iter().map(|t| t.size as f64).sum::<f64>() / torrents.len().max(1) as f64;
    let mut keyed: Vec<(f64, usize)> = torrents
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let k =
                (f64::from(t.seeders) + 0.1 * f64::from(t.leechers)) * (avg / t.size.max(1) as f64);
            (k + noise(i), i)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut left = budget;
    let mut chosen = Vec::new();
    for (_, i) in keyed {
        if torrents[i].size <= left {
            left -= torrents[i].size;
            chosen.push(i);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(size: u64, seeders: u32, recordings: Vec<u32>, key: u64) -> Torrent {
        Torrent {
            size,
            seeders,
            leechers: 0,
            recordings,
            key,
        }
    }

    #[test]
    fn the_fewest_copies_come_first_and_duplicated_content_counts_little() {
        // 0: unseeded, its recordings nowhere else. 1: unseeded, but its
        // recordings are all in 2, which has 5 seeders. 3: 1 seeder.
        let torrents = vec![
            t(10, 0, vec![0, 1], 1),
            t(10, 0, vec![2, 3], 2),
            t(10, 5, vec![2, 3], 3),
            t(10, 1, vec![4, 5], 4),
        ];
        let w = vec![1.0; 6];
        let c = copies(&torrents, 6);
        let model = Model {
            p: 0.5,
            spread: 0.0,
            target: 4,
            zero_first: true,
        };
        assert_eq!(plan(&torrents, &w, &c, 20, 0, &model), vec![0, 3]);
        // The anchor's formula cannot tell 0 from 1.
        let anchor = anchor_plan(&torrents, 20, &mut |_| 0.0);
        assert_eq!(anchor, vec![0, 1]);
    }

    #[test]
    fn budgets_are_never_exceeded_and_plans_are_deterministic() {
        let torrents: Vec<Torrent> = (0..50)
            .map(|i| {
                t(
                    1 + (i * 7 % 13) as u64,
                    (i % 5) as u32,
                    vec![i as u32],
                    i as u64,
                )
            })
            .collect();
        let w = vec![1.0; 50];
        let c = copies(&torrents, 50);
        let model = Model::default();
        for budget in [0u64, 5, 37, 1000] {
            let p = plan(&torrents, &w, &c, budget, donor_key("alice"), &model);
            assert!(p.iter().map(|&i| torrents[i].size).sum::<u64>() <= budget);
            assert_eq!(
                p,
                plan(&torrents, &w, &c, budget, donor_key("alice"), &model)
            );
        }
        // Different donors, same state: different plans.
        let a = plan(&torrents, &w, &c, 40, donor_key("alice"), &model);
        let b = plan(&torrents, &w, &c, 40, donor_key("bob"), &model);
        assert_ne!(a, b);
    }
}
