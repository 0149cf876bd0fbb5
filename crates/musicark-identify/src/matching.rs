//! Link ingested contents to catalogue recordings, each link with its
//! evidence and a confidence; ambiguity goes to review, never guessed.
//!
//! In order, each step only for what the previous ones left:
//! 1. **Identifiers in the tags**: a MusicBrainz recording id the
//!    catalogue has (confidence 1.0), else ISRCs that name exactly one
//!    recording (0.97; several → review). A length that disagrees with the
//!    catalogue's by more than 10 s sends the link to review instead.
//! 2. **Artist and title** from the tags, folded (case, diacritics,
//!    punctuation): candidates from the search index whose folded title
//!    equals, whose credit holds every artist word, and whose length is
//!    within 3 s when both are known — exactly one links (0.8), several go
//!    to review; a title without an artist goes to review.
//! 3. **Fingerprint against what is linked or in review by now**: the same
//!    audio (similarity ≥ [`LINK_SIMILARITY`], durations within 2 s or
//!    2 %) as linked contents of exactly one recording (confidence =
//!    similarity); as several recordings, or as a file in review → review.
//! 4. **The file name**, for files with nothing else: the words after a
//!    leading track number as a title, with the length — review only.
//!
//! Whatever is left is unmatched. A rerun recomputes every match.

use std::collections::{BTreeSet, HashMap};

use musicark_audio::Tags;
use musicark_audio::fingerprint::Fingerprint;
use musicark_catalog::Catalog;
use musicark_catalog::textindex::terms;
use musicark_store::sql::OptionalExtension;
use serde::Serialize;

use crate::{CandidateIndex, IdentifyError, MAX_OFFSET, durations_agree};

/// Fingerprint similarity from which a content is the same recording as
/// one already linked.
pub const LINK_SIMILARITY: f64 = 0.9;

#[derive(Debug, Clone, Serialize)]
pub struct MatchEntry {
    pub content_id: String,
    pub path: String,
    pub status: &'static str,
    pub method: Option<&'static str>,
    pub recording_id: Option<i64>,
    pub confidence: Option<f64>,
    pub evidence: String,
    /// For review: the recordings it could be.
    pub candidates: Vec<i64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MatchReport {
    pub contents: usize,
    pub linked: usize,
    pub by_mbid: usize,
    pub by_isrc: usize,
    pub by_fingerprint: usize,
    pub by_text: usize,
    pub review: usize,
    pub unmatched: usize,
    pub entries: Vec<MatchEntry>,
}

struct Content {
    id: String,
    path: String,
    duration: Option<f64>,
    tags: Tags,
    fingerprint: Option<Fingerprint>,
}

#[allow(clippy::too_many_arguments)]
fn entry(
    c: &Content,
    status: &'static str,
    method: Option<&'static str>,
    rec: Option<i64>,
    conf: Option<f64>,
    evidence: String,
    candidates: Vec<i64>,
) -> MatchEntry {
    MatchEntry {
        content_id: c.id.clone(),
        path: c.path.clone(),
        status,
        method,
        recording_id: rec,
        confidence: conf,
        evidence,
        candidates,
    }
}

fn folded(s: &str) -> String {
    terms(s).join(" ")
}

fn catalogue_length(cat: &Catalog, recording: i64) -> Result<Option<f64>, IdentifyError> {
    Ok(cat
        .db
        .prepare_cached("SELECT length_ms FROM recordings WHERE recording_id = ?1")?
        .query_row([recording], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten()
        .map(|ms| ms as f64 / 1000.0))
}

/// Match every analysed content and store the result (replacing any
/// earlier one).
pub fn match_all(cat: &mut Catalog) -> Result<MatchReport, IdentifyError> {
    let mut contents = Vec::new();
    {
        let mut stmt = cat.db.prepare(
            "SELECT c.content_id, (SELECT min(display_path) FROM files WHERE files.content_id = c.content_id), \
                    c.duration_seconds, c.tags, f.duration, f.data, f.encoding \
             FROM contents c LEFT JOIN fingerprints f USING (content_id) \
             WHERE c.verdict IN ('audio', 'damaged') ORDER BY c.content_id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let Some(path) = r.get::<_, Option<String>>(1)? else {
                continue;
            };
            let tags: Tags = r
                .get::<_, Option<String>>(3)?
                .and_then(|t| serde_json_from(&t))
                .unwrap_or_default();
            let fingerprint = match (r.get::<_, Option<f64>>(4)?, r.get::<_, Option<Vec<u8>>>(5)?) {
                (Some(d), Some(data)) => Fingerprint::from_stored(
                    &r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                    d,
                    &data,
                ),
                _ => None,
            };
            contents.push(Content {
                id: r.get(0)?,
                path,
                duration: r.get(2)?,
                tags,
                fingerprint,
            });
        }
    }
    let mut entries: Vec<Option<MatchEntry>> = vec![None; contents.len()];
    // 1. Identifiers.
    for (i, c) in contents.iter().enumerate() {
        let mbid = c
            .tags
            .musicbrainz_recording_id
            .as_deref()
            .or(c.tags.musicbrainz_track_id.as_deref())
            .map(str::to_ascii_lowercase);
        let mut found: Option<(i64, &'static str, f64, String)> = None;
        if let Some(m) = &mbid {
            let rec: Option<i64> = cat
                .db
                .prepare_cached("SELECT recording_id FROM recordings WHERE mbid = ?1")?
                .query_row([m], |r| r.get(0))
                .optional()?;
            if let Some(rec) = rec {
                found = Some((
                    rec,
                    "mbid",
                    1.0,
                    format!("MusicBrainz recording id {m} in the tags"),
                ));
            }
        }
        if found.is_none() && !c.tags.isrcs.is_empty() {
            let mut recs = BTreeSet::new();
            for isrc in &c.tags.isrcs {
                let norm: String = isrc
                    .chars()
                    .filter(|ch| ch.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_ascii_uppercase();
                let mut stmt = cat
                    .db
                    .prepare_cached("SELECT recording_id FROM isrcs WHERE isrc = ?1")?;
                let ids = stmt.query_map([&norm], |r| r.get::<_, i64>(0))?;
                for id in ids {
                    recs.insert(id?);
                }
            }
            match recs.len() {
                0 => {}
                1 => {
                    let rec = *recs.iter().next().unwrap_or(&0);
                    found = Some((
                        rec,
                        "isrc",
                        0.97,
                        format!("ISRC {} in the tags", c.tags.isrcs.join(", ")),
                    ));
                }
                _ => {
                    entries[i] = Some(entry(
                        c,
                        "review",
                        Some("isrc"),
                        None,
                        None,
                        format!(
                            "ISRC {} names {} recordings",
                            c.tags.isrcs.join(", "),
                            recs.len()
                        ),
                        recs.into_iter().collect(),
                    ));
                    continue;
                }
            }
        }
        if let Some((rec, method, conf, evidence)) = found {
            let length = catalogue_length(cat, rec)?;
            match (length, c.duration) {
                (Some(l), Some(d)) if (l - d).abs() > 10.0 => {
                    entries[i] = Some(entry(
                        c,
                        "review",
                        Some(method),
                        None,
                        None,
                        format!(
                            "{evidence}, but the file lasts {d:.1} s and the recording {l:.1} s"
                        ),
                        vec![rec],
                    ));
                }
                _ => {
                    entries[i] = Some(entry(
                        c,
                        "linked",
                        Some(method),
                        Some(rec),
                        Some(conf),
                        evidence,
                        vec![],
                    ))
                }
            }
        }
    }
    // 2. Artist and title from the tags.
    for (i, c) in contents.iter().enumerate() {
        if entries[i].is_some() {
            continue;
        }
        let Some(title) = c.tags.title.as_deref() else {
            continue;
        };
        let artist = c.tags.artists.join(" ");
        let want_title = folded(title);
        let want_artist: Vec<String> = terms(&artist);
        let hits = musicark_catalog::search(cat, &format!("{artist} {title}"), 20)
            .map_err(|e| IdentifyError::Catalog(e.to_string()))?;
        let mut cands = Vec::new();
        for h in hits.iter().filter(|h| h.kind == "recording") {
            let credit = terms(h.artist.as_deref().unwrap_or(""));
            let length_ok = match (h.length_ms, c.duration) {
                (Some(ms), Some(d)) => (ms as f64 / 1000.0 - d).abs() <= 3.0,
                _ => true,
            };
            if folded(&h.title) == want_title
                && want_artist.iter().all(|w| credit.contains(w))
                && length_ok
            {
                cands.push(h.id);
            }
        }
        entries[i] = Some(match cands.len() {
            0 => continue,
            // Without an artist, title and length are a hint, not a link.
            1 if want_artist.is_empty() => entry(
                c,
                "review",
                Some("text"),
                None,
                None,
                format!(
                    "title {title:?} and the length match one recording, but the file names no artist"
                ),
                cands,
            ),
            1 => entry(
                c,
                "linked",
                Some("text"),
                Some(cands[0]),
                Some(0.8),
                format!("artist {artist:?} and title {title:?} match, and the length"),
                vec![],
            ),
            _ => entry(
                c,
                "review",
                Some("text"),
                None,
                None,
                format!("{} recordings titled {title:?} by {artist:?}", cands.len()),
                cands,
            ),
        });
    }
    // 3. Fingerprints against what is linked (or in review) by now.
    propagate(&contents, &mut entries);
    // 4. The file name, for what has no tags: a title and the length
    // point to a recording for review, never a link.
    for (i, c) in contents.iter().enumerate() {
        if entries[i].is_some() {
            continue;
        }
        let stem = std::path::Path::new(&c.path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // "03 - Title", "03. Title", "3-Title": the words after a leading
        // track number.
        let words = terms(&stem);
        let skip = usize::from(
            words
                .first()
                .is_some_and(|w| w.chars().all(|ch| ch.is_ascii_digit())),
        );
        let guess = words[skip.min(words.len())..].join(" ");
        let mut cands = Vec::new();
        if !guess.is_empty() {
            let hits = musicark_catalog::search(cat, &guess, 20)
                .map_err(|e| IdentifyError::Catalog(e.to_string()))?;
            for h in hits.iter().filter(|h| h.kind == "recording") {
                let length_ok = match (h.length_ms, c.duration) {
                    (Some(ms), Some(d)) => (ms as f64 / 1000.0 - d).abs() <= 3.0,
                    _ => false,
                };
                if folded(&h.title) == guess && length_ok {
                    cands.push(h.id);
                }
            }
        }
        if cands.is_empty() {
            continue;
        }
        entries[i] = Some({
            entry(
                c,
                "review",
                Some("file name"),
                None,
                None,
                format!(
                    "the file name {stem:?} and the length match {} recording(s)",
                    cands.len()
                ),
                cands,
            )
        });
    }
    // 5. Once more by fingerprint: copies of what the file name sent to
    // review go there too; what is left is unmatched.
    propagate(&contents, &mut entries);
    for (i, c) in contents.iter().enumerate() {
        if entries[i].is_none() {
            entries[i] = Some(entry(c, "unmatched", None, None, None, "no identifier or artist and title in the tags, no fingerprint match, nothing in the file name".into(), vec![]));
        }
    }
    let entries: Vec<MatchEntry> = entries.into_iter().flatten().collect();
    // Store: every match recomputed, in one transaction.
    let t = cat.db.transaction()?;
    t.execute("DELETE FROM matches", [])?;
    {
        let mut ins = t.prepare(
            "INSERT INTO matches (content_id, recording_id, status, method, confidence, evidence) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for e in &entries {
            let evidence = if e.candidates.is_empty() {
                e.evidence.clone()
            } else {
                format!("{} (candidates: {:?})", e.evidence, e.candidates)
            };
            ins.execute(musicark_store::params![
                e.content_id,
                e.recording_id,
                e.status,
                e.method,
                e.confidence,
                evidence
            ])?;
        }
    }
    t.commit()?;
    let count = |f: &dyn Fn(&MatchEntry) -> bool| entries.iter().filter(|e| f(e)).count();
    Ok(MatchReport {
        contents: entries.len(),
        linked: count(&|e| e.status == "linked"),
        by_mbid: count(&|e| e.status == "linked" && e.method == Some("mbid")),
        by_isrc: count(&|e| e.status == "linked" && e.method == Some("isrc")),
        by_fingerprint: count(&|e| e.status == "linked" && e.method == Some("fingerprint")),
        by_text: count(&|e| e.status == "linked" && e.method == Some("text")),
        review: count(&|e| e.status == "review"),
        unmatched: count(&|e| e.status == "unmatched"),
        entries,
    })
}

/// Link (or send to review) the contents not yet decided that sound like
/// contents already linked or in review.
fn propagate(contents: &[Content], entries: &mut [Option<MatchEntry>]) {
    let mut index = CandidateIndex::default();
    for (i, c) in contents.iter().enumerate() {
        let known = entries[i]
            .as_ref()
            .is_some_and(|e| e.status == "linked" || e.status == "review");
        if let (true, Some(fp)) = (known, &c.fingerprint) {
            index.add(i, &fp.fingerprint);
        }
    }
    let mut by_fingerprint: Vec<(usize, MatchEntry)> = Vec::new();
    for (i, c) in contents.iter().enumerate() {
        if entries[i].is_some() {
            continue;
        }
        let Some(fp) = &c.fingerprint else { continue };
        let mut recs: HashMap<i64, f64> = HashMap::new();
        let mut reviewed: BTreeSet<i64> = BTreeSet::new();
        for j in index.candidates(&fp.fingerprint) {
            let other = &contents[j];
            let Some(ofp) = &other.fingerprint else {
                continue;
            };
            if !durations_agree(c.duration, other.duration) {
                continue;
            }
            let s = musicark_audio::similarity(&fp.fingerprint, &ofp.fingerprint, MAX_OFFSET);
            if s < LINK_SIMILARITY {
                continue;
            }
            match entries[j].as_ref() {
                Some(e) if e.status == "linked" => {
                    if let Some(rec) = e.recording_id {
                        let best = recs.entry(rec).or_insert(0.0);
                        *best = best.max(s);
                    }
                }
                Some(e) => {
                    // The same audio as a file in review: so is this one.
                    for &rec in &e.candidates {
                        reviewed.insert(rec);
                    }
                }
                None => {}
            }
        }
        // One linked recording and nothing else: a link. Anything more (or
        // only files in review): review, with every recording it could be.
        let from_review = !reviewed.is_empty();
        let mut cands: BTreeSet<i64> = reviewed;
        cands.extend(recs.keys().copied());
        let decided = match (recs.len(), cands.len()) {
            (_, 0) => continue,
            (1, 1) => {
                let (rec, s) = recs.into_iter().next().unwrap_or((0, 0.0));
                entry(
                    c,
                    "linked",
                    Some("fingerprint"),
                    Some(rec),
                    Some(s),
                    format!("the same audio as a linked copy (fingerprint similarity {s:.3})"),
                    vec![],
                )
            }
            (linked, n) => entry(
                c,
                "review",
                Some("fingerprint"),
                None,
                None,
                match (linked, from_review) {
                    (0, _) => "the same audio as a file in review".to_string(),
                    (_, true) => "sounds like a linked copy and like a file in review".to_string(),
                    _ => format!("sounds like linked copies of {n} recordings"),
                },
                cands.into_iter().collect(),
            ),
        };
        by_fingerprint.push((i, decided));
    }
    for (i, e) in by_fingerprint {
        entries[i] = Some(e);
    }
}

fn serde_json_from(s: &str) -> Option<Tags> {
    serde_json::from_str(s).ok()
}
