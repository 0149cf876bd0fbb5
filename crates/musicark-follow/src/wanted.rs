//! The wanted list: what nobody holds yet, most listened first, so that
//! collectors know what to ingest next.
//!
//! It is the union of the archive's own wants (catalogue recordings no
//! active torrent of anyone holds) and the wants of followed publishers
//! (their signed `wanted.json`, matched by MBID: their catalogue may hold
//! recordings ours does not), minus every recording anyone holds.
//! Exported signed, as JSON (the form followers read) and CSV.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use musicark_store::{Db, Home};
use serde::Serialize;

use crate::FollowError;
use crate::sync::WantedEntry;
use crate::view::{OURS, federation};

/// One wanted recording.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Want {
    /// In this archive's catalogue, when it is there.
    pub recording_id: Option<i64>,
    pub recording_mbid: Option<String>,
    pub isrc: Option<String>,
    pub artist: Option<String>,
    pub title: String,
    pub listens: i64,
    /// Who wants it: [`OURS`], followed publishers by name.
    pub wanted_by: Vec<String>,
}

impl Want {
    fn matches(&self, q: &str) -> bool {
        let has = |s: &Option<String>| s.as_deref().is_some_and(|s| s.to_lowercase().contains(q));
        self.title.to_lowercase().contains(q)
            || has(&self.artist)
            || has(&self.recording_mbid)
            || has(&self.isrc)
    }

    pub fn entry(&self) -> WantedEntry {
        WantedEntry {
            recording_mbid: self.recording_mbid.clone(),
            isrc: self.isrc.clone(),
            artist: self.artist.clone(),
            title: self.title.clone(),
            listens: self.listens,
        }
    }
}

/// The wanted list: at most `limit` recordings (0: all), most listened
/// first, those matching `query` (case-insensitive, in title, artist,
/// MBID or ISRC) when one is given; and how many there are in all.
pub fn wanted(
    home: &Home,
    db: &Db,
    query: Option<&str>,
    limit: usize,
) -> Result<(Vec<Want>, u64), FollowError> {
    let fed = federation(home, db)?;
    let q = query
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    // Others' wants, by MBID (their catalogues may differ from ours).
    let mut theirs: HashMap<String, Want> = HashMap::new();
    {
        let mut stmt = db.prepare(
            "SELECT w.recording_mbid, w.isrc, w.artist, w.title, w.listens, p.name FROM publisher_wants w \
             JOIN publishers p ON p.publisher_id = w.publisher_id ORDER BY p.name, w.recording_mbid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let mbid: String = r.get::<_, String>(0)?.to_ascii_lowercase();
            let who: String = r.get(5)?;
            let l: i64 = r.get(4)?;
            let w = theirs.entry(mbid.clone()).or_insert_with(|| Want {
                recording_id: None,
                recording_mbid: Some(mbid),
                isrc: None,
                artist: None,
                title: String::new(),
                listens: 0,
                wanted_by: Vec::new(),
            });
            if w.title.is_empty() {
                w.isrc = r.get(1)?;
                w.artist = r.get(2)?;
                w.title = r.get(3)?;
            }
            w.listens = w.listens.max(l);
            w.wanted_by.push(who);
        }
    }
    // Of those, what a followed publisher's active torrent holds (in our
    // catalogue or not): one pass over the holdings, keeping nothing but
    // the wants.
    if !theirs.is_empty() {
        let active: HashSet<&str> = fed
            .torrents
            .iter()
            .filter(|t| !t.withdrawn)
            .map(|t| t.btih.as_str())
            .collect();
        db.scan(
            "SELECT btih, recording_mbid FROM publisher_holdings",
            [],
            |r| {
                if active.contains(r.text(0)?.unwrap_or(""))
                    && let Some(m) = r.text(1)?
                {
                    theirs.remove(&m.to_ascii_lowercase());
                }
                Ok(())
            },
        )?;
    }
    // Ours: catalogue recordings nobody holds, most listened first (the
    // text of each read only for those shown). A recording we hold drops
    // out of others' wants too.
    let listens = musicark_publish::listens_by_recording(db)?;
    let mut ids: Vec<(i64, i64)> = Vec::new();
    let mut also: HashMap<i64, Want> = HashMap::new();
    musicark_catalog::browse::scan_recordings(db, |id, mbid| {
        let mbid = mbid.map(str::to_ascii_lowercase);
        // Held through our catalogue: ours, or another publisher's
        // by this recording's MBID.
        let held = fed.is_held(id);
        let theirs_too = mbid.as_ref().and_then(|m| theirs.remove(m));
        if !held {
            ids.push((listens.get(&id).copied().unwrap_or(0), id));
            if let Some(w) = theirs_too {
                also.insert(id, w);
            }
        }
    })?;
    ids.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let total = (ids.len() + theirs.len()) as u64;
    let mut out: Vec<Want> = Vec::new();
    // Enough of ours to fill `limit` whatever others add (without a
    // query; with one, every candidate is read).
    let enough = if q.is_none() && limit > 0 {
        limit
    } else {
        usize::MAX
    };
    for (l, id) in ids.iter().take(enough) {
        let Some(brief) = musicark_catalog::browse::recording_brief(db, *id)? else {
            continue;
        };
        let mut w = Want {
            recording_id: Some(*id),
            recording_mbid: brief.mbid.map(|m| m.to_ascii_lowercase()),
            isrc: musicark_catalog::browse::first_isrc(db, *id)?,
            artist: brief.artist_credit,
            title: brief.title,
            listens: *l,
            wanted_by: vec![OURS.to_string()],
        };
        if let Some(t) = also.remove(id) {
            w.listens = w.listens.max(t.listens);
            w.wanted_by.extend(t.wanted_by);
        }
        out.push(w);
    }
    out.extend(theirs.into_values());
    out.sort_by(|a, b| {
        b.listens
            .cmp(&a.listens)
            .then_with(|| a.recording_mbid.cmp(&b.recording_mbid))
            .then_with(|| a.recording_id.cmp(&b.recording_id))
    });
    if let Some(q) = &q {
        out.retain(|w| w.matches(q));
    }
    let total = if q.is_some() { out.len() as u64 } else { total };
    if limit > 0 {
        out.truncate(limit);
    }
    Ok((out, total))
}

/// The wanted list as JSON bytes: one entry per line inside the array.
pub fn to_json(wants: &[Want]) -> Result<Vec<u8>, FollowError> {
    let entries: Vec<WantedEntry> = wants.iter().map(Want::entry).collect();
    Ok(musicark_publish::list::json_lines_array(&entries)?)
}

/// The wanted list as CSV (RFC 4180).
pub fn to_csv(wants: &[Want]) -> Vec<u8> {
    use musicark_publish::list::csv_field as field;
    let mut out = b"recording_mbid,isrc,artist,title,listens,wanted_by\r\n".to_vec();
    for w in wants {
        let row = [
            field(w.recording_mbid.as_deref().unwrap_or("")),
            field(w.isrc.as_deref().unwrap_or("")),
            field(w.artist.as_deref().unwrap_or("")),
            field(&w.title),
            w.listens.to_string(),
            field(&w.wanted_by.join(";")),
        ];
        out.extend_from_slice(row.join(",").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ExportReport {
    pub json: PathBuf,
    pub csv: PathBuf,
    pub entries: usize,
    /// All wanted recordings, before `--limit`.
    pub total: u64,
}

/// Write the wanted list to `out` (JSON), `out.minisig`, the CSV beside
/// it and its signature, all signed by the archive's key, replaced
/// together.
pub fn export(home: &Home, db: &Db, out: &Path, limit: usize) -> Result<ExportReport, FollowError> {
    let (wants, total) = wanted(home, db, None, limit)?;
    let csv_path = out.with_extension("csv");
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(crate::io(&dir))?;
    let mut staged = Vec::new();
    staged.extend(musicark_publish::list::signed_pair(
        home,
        &csv_path,
        to_csv(&wants),
    )?);
    staged.extend(musicark_publish::list::signed_pair(
        home,
        out,
        to_json(&wants)?,
    )?);
    musicark_publish::list::replace_together(&staged, &dir)?;
    Ok(ExportReport {
        json: out.to_path_buf(),
        csv: csv_path,
        entries: wants.len(),
        total,
    })
}
