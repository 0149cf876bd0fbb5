//! The federated view: the archive's own list and every followed
//! publisher's last good copy, as one.
//!
//! - Torrents are one by info-hash: the same torrent published by two
//!   publishers is one copy, its seeders counted once (the most any of
//!   them reports).
//! - A catalogue recording is held by a publisher when one of its active
//!   torrents (neither obsolete nor embargoed) holds it: ours by the
//!   archive's own packs, others' by their metadata release (matched on
//!   the recording's MBID). Its copies are the distinct torrents holding
//!   it, its seeders the sum of theirs.
//! - Lists in `torrents.json` form say which torrents exist, not what
//!   they hold: they count in the union and its health, not in recording
//!   coverage (the report says so).

use std::collections::HashMap;

use musicark_publish::coverage::{share, tail_ranks};
use musicark_store::{Db, Home};
use serde::Serialize;

use crate::{FollowError, ListFormat};

/// The name the archive itself goes by in the federated view.
pub const OURS: &str = "(this archive)";

/// One torrent of the union.
#[derive(Debug, Clone)]
pub struct UnionTorrent {
    pub btih: String,
    /// Its file name (`NAME.torrent`), as the first publisher lists it.
    pub name: String,
    pub data_size: u64,
    /// The most any publisher (or our own scrape) reports.
    pub seeders: u64,
    pub leechers: u64,
    /// Who publishes it: indices into [`Federation::publishers`] (0 is
    /// the archive itself).
    pub publishers: Vec<u16>,
    pub is_metadata: bool,
    /// Obsolete or embargoed by any publisher that lists it: never
    /// planned, not counted as a copy.
    pub withdrawn: bool,
}

/// The federated state of the catalogue: every torrent of the union, and
/// which catalogue recordings the active ones hold. Compact by design (a
/// hundred lists of ten thousand torrents, millions of holdings):
/// publishers and torrents are numbered, holdings are (recording,
/// torrent) pairs in one sorted array.
pub struct Federation {
    /// Publisher names, [`OURS`] first; and their row ids (0 for ours).
    pub publishers: Vec<String>,
    pub publisher_ids: Vec<i64>,
    pub torrents: Vec<UnionTorrent>,
    /// (catalogue recording id, torrent index), sorted, no repeats; only
    /// active torrents.
    pairs: Vec<(i64, u32)>,
}

impl Federation {
    /// The active torrents holding a recording (empty: nobody holds it).
    pub fn holders(&self, recording: i64) -> &[(i64, u32)] {
        let start = self.pairs.partition_point(|p| p.0 < recording);
        let end = start + self.pairs[start..].partition_point(|p| p.0 == recording);
        &self.pairs[start..end]
    }

    pub fn is_held(&self, recording: i64) -> bool {
        !self.holders(recording).is_empty()
    }

    /// Every held recording with its holders, by recording id.
    pub fn held(&self) -> impl Iterator<Item = (i64, &[(i64, u32)])> {
        self.pairs
            .chunk_by(|a, b| a.0 == b.0)
            .map(|group| (group[0].0, group))
    }

    /// The publishers (indices) whose active torrents hold these.
    pub fn publishers_of(&self, holders: &[(i64, u32)]) -> Vec<u16> {
        let mut out: Vec<u16> = holders
            .iter()
            .flat_map(|&(_, t)| self.torrents[t as usize].publishers.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Seeders of the torrents holding a recording, summed.
    pub fn seeders(&self, holders: &[(i64, u32)]) -> u64 {
        holders
            .iter()
            .map(|&(_, t)| self.torrents[t as usize].seeders)
            .sum()
    }
}

/// Build the federated view: our list and every copy held, one torrent
/// per info-hash; ours held by `pack_files`, others' by MBID.
pub fn federation(home: &Home, db: &Db) -> Result<Federation, FollowError> {
    let mut publishers = vec![OURS.to_string()];
    let mut publisher_ids = vec![0i64];
    let rows: Vec<(i64, String)> = db
        .prepare("SELECT publisher_id, name FROM publishers ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, name) in rows {
        publisher_ids.push(id);
        publishers.push(name);
    }
    let slot: HashMap<i64, u16> = publisher_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i as u16))
        .collect();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut torrents: Vec<UnionTorrent> = Vec::new();
    let mut add = |btih: String,
                   name: &str,
                   size: u64,
                   seeders: u64,
                   leechers: u64,
                   who: u16,
                   is_metadata: bool,
                   withdrawn: bool| {
        let i = *index.entry(btih.clone()).or_insert_with(|| {
            torrents.push(UnionTorrent {
                btih,
                name: name.to_string(),
                data_size: size,
                seeders: 0,
                leechers: 0,
                publishers: Vec::new(),
                is_metadata,
                withdrawn: false,
            });
            (torrents.len() - 1) as u32
        });
        let t = &mut torrents[i as usize];
        t.seeders = t.seeders.max(seeders);
        t.leechers = t.leechers.max(leechers);
        if !t.publishers.contains(&who) {
            t.publishers.push(who);
        }
        t.withdrawn |= withdrawn;
    };
    for e in musicark_publish::list::entries(home, db)? {
        if e.btih.is_empty() {
            continue;
        }
        add(
            e.btih.to_ascii_lowercase(),
            &e.display_name,
            e.data_size,
            e.seeders,
            e.leechers,
            0,
            e.is_metadata,
            e.obsolete || e.embargo,
        );
    }
    db.scan(
        "SELECT btih, name, data_size, seeders, leechers, publisher_id, is_metadata, obsolete, embargo \
         FROM publisher_torrents ORDER BY publisher_id, btih",
        [],
        |r| {
            let who = slot.get(&r.get::<_, i64>(5)?).copied().unwrap_or(0);
            add(
                r.get(0)?,
                r.text(1)?.unwrap_or(""),
                r.get::<_, i64>(2)? as u64,
                r.get::<_, i64>(3)? as u64,
                r.get::<_, i64>(4)? as u64,
                who,
                r.get(6)?,
                r.get::<_, bool>(7)? || r.get::<_, bool>(8)?,
            );
            Ok(())
        },
    )?;
    let active = |i: Option<&u32>| -> Option<u32> {
        let i = *i?;
        let t = &torrents[i as usize];
        (!t.withdrawn && !t.is_metadata).then_some(i)
    };
    let mut pairs: Vec<(i64, u32)> = Vec::new();
    musicark_publish::packs::published_recordings(db, |recording, btih| {
        if let Some(t) = active(index.get(&btih.to_ascii_lowercase())) {
            pairs.push((recording, t));
        }
    })?;
    // Others' holdings, by the catalogue's id: the one read of another
    // owner's table left here, as a join in the database (at 256 M
    // recordings their MBIDs do not belong in memory).
    db.scan(
        "SELECT r.recording_id, h.btih FROM publisher_holdings h \
         JOIN recordings r ON r.mbid = h.recording_mbid",
        [],
        |r| {
            if let Some(t) = active(index.get(r.text(1)?.unwrap_or(""))) {
                pairs.push((r.get(0)?, t));
            }
            Ok(())
        },
    )?;
    drop(index);
    pairs.sort_unstable();
    pairs.dedup();
    pairs.shrink_to_fit();
    Ok(Federation {
        publishers,
        publisher_ids,
        torrents,
        pairs,
    })
}

/// One active torrent holding a recording, whoever publishes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HoldingTorrent {
    pub btih: String,
    pub name: String,
    pub publishers: Vec<String>,
    /// The most any publisher (or our own scrape) reports.
    pub seeders: u64,
}

/// Who holds one catalogue recording, over every followed list and ours.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RecordingHolders {
    pub recording_id: i64,
    /// Publishers whose active torrents hold it ([`OURS`] for the archive).
    pub publishers: Vec<String>,
    /// Its copies: the distinct active torrents holding it.
    pub torrents: Vec<HoldingTorrent>,
    /// Seeders summed over those torrents.
    pub seeders: u64,
}

/// Who holds recording `id`: the archive's own active, unembargoed
/// packs, and followed publishers' active torrents whose metadata release
/// names its MBID; one torrent per info-hash.
pub fn holders(home: &Home, db: &Db, id: i64) -> Result<RecordingHolders, FollowError> {
    let ours = musicark_publish::list::entries(home, db)?;
    holders_with(db, id, ours.iter())
}

/// [`holders`] with the archive's own list given (a server keeps it
/// cached: building it reads every pack, more work per page the larger
/// the archive).
pub fn holders_with<'a>(
    db: &Db,
    id: i64,
    ours: impl Iterator<Item = &'a musicark_publish::list::ListEntry>,
) -> Result<RecordingHolders, FollowError> {
    let mut by: std::collections::BTreeMap<String, HoldingTorrent> = Default::default();
    let mut add = |btih: String, name: String, who: String, seeders: u64| {
        let t = by.entry(btih.clone()).or_insert_with(|| HoldingTorrent {
            btih,
            name,
            publishers: Vec::new(),
            seeders: 0,
        });
        t.seeders = t.seeders.max(seeders);
        if !t.publishers.contains(&who) {
            t.publishers.push(who);
        }
    };
    let mine = musicark_publish::packs::audio_packs_of(db, id)?;
    if !mine.is_empty() {
        for e in ours {
            let name = e.display_name.trim_end_matches(".torrent");
            if !e.obsolete && !e.embargo && mine.iter().any(|m| m == name) {
                add(
                    e.btih.to_ascii_lowercase(),
                    e.display_name.clone(),
                    OURS.into(),
                    e.seeders,
                );
            }
        }
    }
    // Others' holdings name the recording by its MBID.
    if let Some(mbid) = musicark_catalog::browse::recording_brief(db, id)?.and_then(|b| b.mbid) {
        let mut stmt = db.prepare_cached(
            "SELECT t.btih, t.name, p.name, t.seeders FROM publisher_holdings h \
             JOIN publisher_torrents t ON t.publisher_id = h.publisher_id AND t.btih = h.btih \
             JOIN publishers p ON p.publisher_id = h.publisher_id \
             WHERE h.recording_mbid = ?1 AND t.obsolete = 0 AND t.embargo = 0 ORDER BY p.name",
        )?;
        let mut rows = stmt.query([mbid.as_str()])?;
        while let Some(r) = rows.next()? {
            add(r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64);
        }
    }
    let torrents: Vec<HoldingTorrent> = by.into_values().collect();
    let mut publishers: Vec<String> = torrents
        .iter()
        .flat_map(|t| t.publishers.iter().cloned())
        .collect();
    publishers.sort();
    publishers.dedup();
    Ok(RecordingHolders {
        recording_id: id,
        publishers,
        seeders: torrents.iter().map(|t| t.seeders).sum(),
        torrents,
    })
}

/// Recordings and listens of one part of the catalogue.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Part {
    pub recordings: u64,
    pub listens: i64,
    pub share_recordings: f64,
    pub share_listens: f64,
}

/// What one publisher brings.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PublisherCoverage {
    pub name: String,
    pub format: Option<ListFormat>,
    /// Whether its list says which recordings its torrents hold.
    pub recording_level: bool,
    pub torrents_active: u64,
    pub bytes_active: u64,
    /// Catalogue recordings its active torrents hold.
    pub recordings: u64,
    /// Of them, held by no one else (the archive included).
    pub recordings_only_here: u64,
    pub synced_at: Option<String>,
    pub problem: Option<String>,
}

/// A point of the federated long tail: the share of all listens held by
/// the top `rank` recordings, and of them, the part the archive holds and
/// the part only others hold.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FederatedTailPoint {
    pub rank: u64,
    pub listens_share: f64,
    pub ours_share: f64,
    pub elsewhere_share: f64,
}

/// `report coverage --federated`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FederatedCoverage {
    pub archive: String,
    pub generated_at: String,
    pub recordings: u64,
    pub listens: i64,
    /// Held by anyone: the archive or a followed publisher.
    pub anyone: Part,
    /// Held by the archive (whoever else holds them too).
    pub ours: Part,
    /// Held by followed publishers only.
    pub only_elsewhere: Part,
    /// Held by nobody: the wanted list.
    pub nobody: Part,
    /// Distinct active torrents over all lists, and their bytes.
    pub torrents_union: u64,
    pub bytes_union: u64,
    /// Active torrents listed by two publishers or more (counted once).
    pub torrents_shared: u64,
    /// Publishers whose list is followed, then the archive itself.
    pub publishers: Vec<PublisherCoverage>,
    pub long_tail: Vec<FederatedTailPoint>,
    /// What the figures cannot say (lists without recording-level
    /// knowledge, publishers whose last sync failed).
    pub notes: Vec<String>,
}

/// The federated coverage of the catalogue.
pub fn coverage(home: &Home, db: &Db) -> Result<FederatedCoverage, FollowError> {
    let fed = federation(home, db)?;
    let listens = musicark_publish::listens_by_recording(db)?;
    let mut all: Vec<(i64, i64)> = Vec::new();
    musicark_catalog::browse::scan_recordings(db, |id, _| {
        all.push((listens.get(&id).copied().unwrap_or(0), id));
    })?;
    drop(listens);
    all.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let n = all.len() as u64;
    let total: i64 = all.iter().map(|a| a.0).sum();
    let (mut anyone, mut ours, mut elsewhere) = (Part::default(), Part::default(), Part::default());
    // Per publisher: recordings held, and held by it alone.
    let mut per = vec![(0u64, 0u64); fed.publishers.len()];
    let mut long_tail = Vec::new();
    let ranks = tail_ranks(n);
    let mut next = ranks.iter().peekable();
    let (mut cum, mut cum_ours, mut cum_else) = (0i64, 0i64, 0i64);
    for (i, (l, id)) in all.iter().enumerate() {
        cum += l;
        let holders = fed.holders(*id);
        if !holders.is_empty() {
            let who = fed.publishers_of(holders);
            anyone.recordings += 1;
            anyone.listens += l;
            if who.first() == Some(&0) {
                ours.recordings += 1;
                ours.listens += l;
                cum_ours += l;
            } else {
                elsewhere.recordings += 1;
                elsewhere.listens += l;
                cum_else += l;
            }
            for &p in &who {
                per[p as usize].0 += 1;
                per[p as usize].1 += u64::from(who.len() == 1);
            }
        }
        if next.peek().is_some_and(|&&r| r == i as u64 + 1) {
            next.next();
            long_tail.push(FederatedTailPoint {
                rank: i as u64 + 1,
                listens_share: share(cum as f64, total as f64),
                ours_share: share(cum_ours as f64, total as f64),
                elsewhere_share: share(cum_else as f64, total as f64),
            });
        }
    }
    let nobody = Part {
        recordings: n - anyone.recordings,
        listens: total - anyone.listens,
        ..Part::default()
    };
    let fill = |mut p: Part| {
        p.share_recordings = share(p.recordings as f64, n as f64);
        p.share_listens = share(p.listens as f64, total as f64);
        p
    };
    // Active torrents and bytes of each publisher.
    let mut active = vec![(0u64, 0u64); fed.publishers.len()];
    let (mut union_n, mut union_bytes, mut shared) = (0u64, 0u64, 0u64);
    for t in fed.torrents.iter().filter(|t| !t.withdrawn) {
        union_n += 1;
        union_bytes += t.data_size;
        shared += u64::from(t.publishers.len() > 1);
        for &p in &t.publishers {
            active[p as usize].0 += 1;
            active[p as usize].1 += t.data_size;
        }
    }
    let mut publishers = Vec::new();
    let mut notes = Vec::new();
    for p in crate::publishers(db)? {
        let Some(slot) = fed.publishers.iter().position(|n| n == &p.name) else {
            continue;
        };
        let recording_level = p.format == Some(ListFormat::Musicark) && p.holdings > 0;
        if p.format == Some(ListFormat::TorrentsJson) {
            notes.push(format!(
                "{}: a torrents.json list; its {} torrents count in the union and health, but what they hold is not known, so its recordings count as held by nobody",
                p.name, active[slot].0
            ));
        } else if p.format == Some(ListFormat::Musicark) && p.holdings == 0 {
            notes.push(format!(
                "{}: its list has no metadata release: what its torrents hold is not known",
                p.name
            ));
        }
        if let Some(problem) = &p.problem
            && p.format.is_some()
        {
            notes.push(format!(
                "{}: the last sync failed ({problem}); its previous good copy counts",
                p.name
            ));
        } else if p.format.is_none() {
            notes.push(format!(
                "{}: never synced{}",
                p.name,
                p.problem
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            ));
        }
        publishers.push(PublisherCoverage {
            name: p.name.clone(),
            format: p.format,
            recording_level,
            torrents_active: active[slot].0,
            bytes_active: active[slot].1,
            recordings: per[slot].0,
            recordings_only_here: per[slot].1,
            synced_at: p.synced_at,
            problem: p.problem,
        });
    }
    publishers.push(PublisherCoverage {
        name: OURS.into(),
        format: Some(ListFormat::Musicark),
        recording_level: true,
        torrents_active: active[0].0,
        bytes_active: active[0].1,
        recordings: per[0].0,
        recordings_only_here: per[0].1,
        synced_at: None,
        problem: None,
    });
    Ok(FederatedCoverage {
        archive: home.config.archive.name.clone(),
        generated_at: musicark_store::clock::now_seconds(),
        recordings: n,
        listens: total,
        anyone: fill(anyone),
        ours: fill(ours),
        only_elsewhere: fill(elsewhere),
        nobody: fill(nobody),
        torrents_union: union_n,
        bytes_union: union_bytes,
        torrents_shared: shared,
        publishers,
        long_tail,
        notes,
    })
}
