//! Which ingested files are the same music, and which copy to keep.
//!
//! - Identical bytes: files sharing a content id (BLAKE3).
//! - Same audio: contents whose Chromaprint fingerprints agree (aligned bit
//!   similarity ≥ [`SAME_AUDIO`]) and whose durations agree (within 2 s or
//!   2 %). Candidates come from an inverted index of fingerprint items
//!   sampled through each track, so the work grows with the collection,
//!   not with its square.
//! - The best copy of a group, by a documented ranking ([`rank`]): clean
//!   audio over damaged; genuine lossless over lossy over lossless that
//!   is a transcode (its spectrum shows a lossy cut); then more effective
//!   quality (for lossless, sample rate × bit depth; for lossy, bitrate,
//!   and the higher cut-off); then tags; then the content id, for a
//!   stable answer.
//!
//! [`matching`] links contents to catalogue recordings (`musicark match`).
//!
//! *Boundary*: reads the catalogue; writes only the `matches` table.

pub mod links;
pub mod matching;

use std::collections::{BTreeMap, HashMap};

use musicark_audio::fingerprint::Fingerprint;
use musicark_store::Db;
use serde::Serialize;

/// Aligned bit similarity from which two fingerprints are the same audio
/// (re-encodes of one master score 0.95–1.0; different recordings ~0.5–0.7).
pub const SAME_AUDIO: f64 = 0.85;
/// Items sampled from each fingerprint for the candidate index.
const PROBES: usize = 48;
/// Alignment searched when comparing, in items (~0.124 s each): ±10 s.
pub(crate) const MAX_OFFSET: usize = 80;

#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    #[error("catalogue database: {0}")]
    Sqlite(#[from] musicark_store::sql::Error),
    #[error("catalogue: {0}")]
    Catalog(String),
}

/// One analysed content and what ranks it.
#[derive(Debug, Clone, Serialize)]
pub struct Copy {
    pub content_id: String,
    /// Every path holding these bytes.
    pub paths: Vec<String>,
    pub verdict: String,
    pub codec: Option<String>,
    pub lossless: bool,
    pub sample_rate: Option<u32>,
    pub bits_per_sample: Option<u32>,
    pub bitrate: Option<u64>,
    pub duration: Option<f64>,
    /// `full_band`, `transcode`, `undetermined`.
    pub bandwidth: Option<String>,
    pub cutoff_hz: Option<f64>,
    pub has_tags: bool,
    /// Fingerprint similarity with the group's best copy (1.0 for it).
    pub similarity: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The copy to keep.
    pub best: Copy,
    /// Why it ranks first.
    pub reason: String,
    pub others: Vec<Copy>,
    /// Files in the group (a content held at several paths counts each).
    pub files: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DuplicateReport {
    pub groups: Vec<Group>,
    /// Files that are not the best copy of their group.
    pub redundant_files: usize,
    pub contents_compared: usize,
    pub fingerprint_comparisons: u64,
}

/// The quality class of a copy: higher is better.
fn class(c: &Copy) -> (u8, &'static str) {
    let clean = c.verdict == "audio";
    let fake = c.lossless && c.bandwidth.as_deref() == Some("transcode");
    let kind = match (c.lossless, fake) {
        (true, false) => 3,
        (false, _) => 2,
        (true, true) => 1,
    };
    let label = match (clean, kind) {
        (false, _) => "damaged",
        (true, 3) => "clean lossless",
        (true, 2) => "clean lossy",
        _ => "lossless transcoded from lossy",
    };
    (u8::from(clean) * 4 + kind, label)
}

/// The ranking key of a copy (greater is better).
pub fn rank(c: &Copy) -> (u8, u64, u64, bool, std::cmp::Reverse<String>) {
    let (cls, _) = class(c);
    let quality = if c.lossless && c.bandwidth.as_deref() != Some("transcode") {
        u64::from(c.sample_rate.unwrap_or(0)) * u64::from(c.bits_per_sample.unwrap_or(16))
    } else {
        c.bitrate.unwrap_or(0)
    };
    let cutoff = c.cutoff_hz.unwrap_or(0.0).max(0.0) as u64;
    (
        cls,
        quality,
        cutoff,
        c.has_tags,
        std::cmp::Reverse(c.content_id.clone()),
    )
}

struct Union(Vec<usize>);

impl Union {
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// Sampled fingerprint items → the entries holding them: the candidates
/// for the same audio, found without comparing every pair.
#[derive(Default)]
pub(crate) struct CandidateIndex(HashMap<u32, Vec<usize>>);

impl CandidateIndex {
    /// Index entry `i` by [`PROBES`] items sampled through its fingerprint.
    pub(crate) fn add(&mut self, i: usize, items: &[u32]) {
        let step = (items.len() / PROBES).max(1);
        for v in items.iter().step_by(step) {
            let list = self.0.entry(*v).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }

    /// The entries sharing at least two sampled items with `items`; items
    /// most entries hold (silence) say nothing and are skipped.
    pub(crate) fn candidates(&self, items: &[u32]) -> Vec<usize> {
        let mut shared: HashMap<usize, u32> = HashMap::new();
        for v in items {
            if let Some(list) = self.0.get(v).filter(|l| l.len() <= 64) {
                for &j in list {
                    *shared.entry(j).or_default() += 1;
                }
            }
        }
        let mut out: Vec<usize> = shared
            .into_iter()
            .filter(|&(_, hits)| hits >= 2)
            .map(|(j, _)| j)
            .collect();
        out.sort_unstable();
        out
    }
}

pub(crate) fn durations_agree(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 2.0_f64.max(0.02 * a.max(b)),
        _ => false,
    }
}

/// Find the duplicate groups among the archive's analysed contents.
pub fn duplicates(db: &Db) -> Result<DuplicateReport, IdentifyError> {
    let mut copies: Vec<Copy> = Vec::new();
    let mut prints: Vec<Option<Fingerprint>> = Vec::new();
    {
        let mut stmt = db.prepare(
            "SELECT c.content_id, c.verdict, c.codec, coalesce(c.lossless, 0), c.sample_rate, \
                    c.bits_per_sample, c.bitrate, c.duration_seconds, c.bandwidth, c.cutoff_hz, \
                    c.tags IS NOT NULL AND c.tags != 'null', f.duration, f.data, f.encoding, \
                    (SELECT string_agg(display_path, '\n' ORDER BY display_path) FROM files WHERE files.content_id = c.content_id) \
             FROM contents c LEFT JOIN fingerprints f USING (content_id) \
             WHERE c.verdict IN ('audio', 'damaged') ORDER BY c.content_id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let paths: Option<String> = r.get(14)?;
            let paths: Vec<String> = paths
                .map(|p| p.split('\n').map(str::to_string).collect())
                .unwrap_or_default();
            if paths.is_empty() {
                continue;
            }
            copies.push(Copy {
                content_id: r.get(0)?,
                paths,
                verdict: r.get(1)?,
                codec: r.get(2)?,
                lossless: r.get::<_, i64>(3)? != 0,
                sample_rate: r.get(4)?,
                bits_per_sample: r.get(5)?,
                bitrate: r.get::<_, Option<i64>>(6)?.map(|b| b.max(0) as u64),
                duration: r.get(7)?,
                bandwidth: r.get(8)?,
                cutoff_hz: r.get(9)?,
                has_tags: r.get(10)?,
                similarity: 1.0,
            });
            let fp = match (
                r.get::<_, Option<f64>>(11)?,
                r.get::<_, Option<Vec<u8>>>(12)?,
            ) {
                (Some(d), Some(data)) => Fingerprint::from_stored(
                    &r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                    d,
                    &data,
                ),
                _ => None,
            };
            prints.push(fp);
        }
    }
    let n = copies.len();
    let mut union = Union((0..n).collect());
    let mut index = CandidateIndex::default();
    for (i, fp) in prints.iter().enumerate() {
        if let Some(fp) = fp.as_ref().filter(|fp| fp.fingerprint.len() >= 16) {
            index.add(i, &fp.fingerprint);
        }
    }
    let mut comparisons = 0u64;
    let mut pair_similarity: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for (i, fp) in prints.iter().enumerate() {
        let Some(fp) = fp else { continue };
        for j in index.candidates(&fp.fingerprint) {
            if j <= i || !durations_agree(copies[i].duration, copies[j].duration) {
                continue;
            }
            let Some(other) = &prints[j] else { continue };
            comparisons += 1;
            let s = musicark_audio::similarity(&fp.fingerprint, &other.fingerprint, MAX_OFFSET);
            if s >= SAME_AUDIO {
                union.join(i, j);
                pair_similarity.insert((i, j), s);
            }
        }
    }
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let root = union.find(i);
        members.entry(root).or_default().push(i);
    }
    let mut groups = Vec::new();
    let mut redundant = 0;
    for (_, idx) in members {
        let files: usize = idx.iter().map(|&i| copies[i].paths.len()).sum();
        if files < 2 {
            continue;
        }
        let best_i = *idx
            .iter()
            .max_by_key(|&&i| rank(&copies[i]))
            .unwrap_or(&idx[0]);
        let mut best = copies[best_i].clone();
        let (_, label) = class(&best);
        let mut others = Vec::new();
        for &i in &idx {
            if i == best_i {
                continue;
            }
            let mut c = copies[i].clone();
            c.similarity = match (&prints[best_i], &prints[i]) {
                (Some(a), Some(b)) => {
                    musicark_audio::similarity(&a.fingerprint, &b.fingerprint, MAX_OFFSET)
                }
                _ => pair_similarity
                    .get(&(best_i.min(i), best_i.max(i)))
                    .copied()
                    .unwrap_or(0.0),
            };
            others.push(c);
        }
        redundant += files - 1;
        let reason = if others.is_empty() {
            format!("identical bytes at {} paths; keep one", best.paths.len())
        } else {
            format!(
                "{label}, {} — ranked above {} other cop{}",
                describe(&best),
                others.len(),
                if others.len() == 1 { "y" } else { "ies" }
            )
        };
        best.paths.sort();
        groups.push(Group {
            best,
            reason,
            others,
            files,
        });
    }
    groups.sort_by(|a, b| b.files.cmp(&a.files).then(a.best.paths.cmp(&b.best.paths)));
    Ok(DuplicateReport {
        groups,
        redundant_files: redundant,
        contents_compared: n,
        fingerprint_comparisons: comparisons,
    })
}

fn describe(c: &Copy) -> String {
    let codec = c.codec.as_deref().unwrap_or("?");
    if c.lossless {
        format!(
            "{codec} {} Hz / {} bit",
            c.sample_rate.unwrap_or(0),
            c.bits_per_sample.unwrap_or(0)
        )
    } else {
        format!("{codec} {} kbit/s", c.bitrate.unwrap_or(0) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(id: &str, lossless: bool, verdict: &str, bitrate: u64, bandwidth: &str) -> Copy {
        Copy {
            content_id: id.into(),
            paths: vec![format!("/{id}")],
            verdict: verdict.into(),
            codec: Some(if lossless { "flac" } else { "mp3" }.into()),
            lossless,
            sample_rate: Some(44_100),
            bits_per_sample: lossless.then_some(16),
            bitrate: Some(bitrate),
            duration: Some(200.0),
            bandwidth: Some(bandwidth.into()),
            cutoff_hz: Some(if bandwidth == "transcode" {
                16_000.0
            } else {
                21_000.0
            }),
            has_tags: true,
            similarity: 1.0,
        }
    }

    #[test]
    fn the_ranking_prefers_clean_genuine_lossless_then_quality() {
        let genuine = copy("a", true, "audio", 900_000, "full_band");
        let fake = copy("b", true, "audio", 900_000, "transcode");
        let mp3_320 = copy("c", false, "audio", 320_000, "transcode");
        let mp3_128 = copy("d", false, "audio", 128_000, "transcode");
        let broken = copy("e", true, "damaged", 900_000, "full_band");
        let mut all = [&broken, &mp3_128, &fake, &mp3_320, &genuine];
        all.sort_by_key(|c| std::cmp::Reverse(rank(c)));
        let order: Vec<&str> = all.iter().map(|c| c.content_id.as_str()).collect();
        assert_eq!(order, ["a", "c", "d", "b", "e"]);
    }

    #[test]
    fn durations_agree_within_two_seconds_or_two_percent() {
        assert!(durations_agree(Some(200.0), Some(201.9)));
        assert!(!durations_agree(Some(200.0), Some(204.5)));
        assert!(durations_agree(Some(600.0), Some(611.0)));
        assert!(!durations_agree(None, Some(1.0)));
    }
}
