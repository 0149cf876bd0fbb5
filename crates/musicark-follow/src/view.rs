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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use musicark_publish::coverage::{share, tail_ranks};
use musicark_store::{Db, Home};
use serde::Serialize;

use crate::{FollowError, ListFormat};

/// The name the archive itself goes by in the federated view.
pub const OURS: &str = "(this archive)";

/// One torrent of the union.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UnionTorrent {
    pub btih: String,
    pub name: String,
    pub data_size: u64,
    /// The most any publisher (or our own scrape) reports.
    pub seeders: u64,
    pub leechers: u64,
    /// Who publishes it ([`OURS`] for the archive itself).
    pub publishers: Vec<String>,
    pub is_metadata: bool,
    /// Obsolete or embargoed by any publisher that lists it: never
    /// planned, not counted as a copy.
    pub withdrawn: bool,
    pub magnet_link: String,
}

/// Every torrent any publisher lists (the archive's own included), one
/// per info-hash.
pub fn union(home: &Home, db: &Db) -> Result<Vec<UnionTorrent>, FollowError> {
    let mut by_btih: BTreeMap<String, UnionTorrent> = BTreeMap::new();
    let mut add = |btih: String,
                   name: String,
                   size: u64,
                   seeders: u64,
                   leechers: u64,
                   who: &str,
                   is_metadata: bool,
                   withdrawn: bool,
                   magnet: String| {
        let t = by_btih.entry(btih.clone()).or_insert_with(|| UnionTorrent {
            btih,
            name,
            data_size: size,
            seeders: 0,
            leechers: 0,
            publishers: Vec::new(),
            is_metadata,
            withdrawn: false,
            magnet_link: String::new(),
        });
        t.seeders = t.seeders.max(seeders);
        t.leechers = t.leechers.max(leechers);
        if !t.publishers.iter().any(|p| p == who) {
            t.publishers.push(who.to_string());
        }
        t.withdrawn |= withdrawn;
        if t.magnet_link.is_empty() {
            t.magnet_link = magnet;
        }
    };
    for e in musicark_publish::list::entries(home, db)? {
        if e.btih.is_empty() {
            continue;
        }
        add(
            e.btih.to_ascii_lowercase(),
            e.display_name,
            e.data_size,
            e.seeders,
            e.leechers,
            OURS,
            e.is_metadata,
            e.obsolete || e.embargo,
            e.magnet_link,
        );
    }
    let mut stmt = db.prepare(
        "SELECT t.btih, t.name, t.data_size, t.seeders, t.leechers, p.name, t.is_metadata, \
                t.obsolete, t.embargo, t.magnet_link \
         FROM publisher_torrents t JOIN publishers p ON p.publisher_id = t.publisher_id \
         ORDER BY p.name, t.btih",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let who: String = r.get(5)?;
        add(
            r.get(0)?,
            r.get(1)?,
            r.get::<_, i64>(2)? as u64,
            r.get::<_, i64>(3)? as u64,
            r.get::<_, i64>(4)? as u64,
            &who,
            r.get(6)?,
            r.get::<_, bool>(7)? || r.get::<_, bool>(8)?,
            r.get(9)?,
        );
    }
    Ok(by_btih.into_values().collect())
}

/// Who holds one catalogue recording.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Held {
    /// Publishers whose active torrents hold it ([`OURS`] included).
    pub publishers: BTreeSet<String>,
    /// The distinct active torrents holding it, whoever publishes them.
    pub torrents: BTreeSet<String>,
}

impl Held {
    pub fn ours(&self) -> bool {
        self.publishers.contains(OURS)
    }
}

/// The federated state of the catalogue: who holds which recording, and
/// the union's torrents by info-hash.
pub struct Federation {
    pub torrents: Vec<UnionTorrent>,
    /// By catalogue recording id; recordings nobody holds are absent.
    pub held: HashMap<i64, Held>,
    seeders_of: HashMap<String, u64>,
}

impl Federation {
    /// Seeders of the active torrents holding a recording, summed.
    pub fn seeders(&self, held: &Held) -> u64 {
        held.torrents
            .iter()
            .filter_map(|b| self.seeders_of.get(b))
            .sum()
    }
}

/// Build the federated view.
pub fn federation(home: &Home, db: &Db) -> Result<Federation, FollowError> {
    let torrents = union(home, db)?;
    let active: HashSet<&str> = torrents
        .iter()
        .filter(|t| !t.withdrawn && !t.is_metadata)
        .map(|t| t.btih.as_str())
        .collect();
    let mut held: HashMap<i64, Held> = HashMap::new();
    {
        let mut stmt = db.prepare(
            "SELECT DISTINCT f.recording_id, p.btih FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
             WHERE p.kind = 'audio' AND p.obsolete = 0 AND f.recording_id IS NOT NULL AND p.btih IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let btih = r.get::<_, String>(1)?.to_ascii_lowercase();
            if active.contains(btih.as_str()) {
                let h = held.entry(r.get(0)?).or_default();
                h.publishers.insert(OURS.to_string());
                h.torrents.insert(btih);
            }
        }
    }
    {
        let mut stmt = db.prepare(
            "SELECT r.recording_id, h.btih, p.name FROM publisher_holdings h \
             JOIN publishers p ON p.publisher_id = h.publisher_id \
             JOIN recordings r ON r.mbid = h.recording_mbid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let btih: String = r.get(1)?;
            if active.contains(btih.as_str()) {
                let h = held.entry(r.get(0)?).or_default();
                h.publishers.insert(r.get(2)?);
                h.torrents.insert(btih);
            }
        }
    }
    let seeders_of = torrents
        .iter()
        .map(|t| (t.btih.clone(), t.seeders))
        .collect();
    Ok(Federation {
        torrents,
        held,
        seeders_of,
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
    db.scan("SELECT recording_id FROM recordings", [], |r| {
        let id: i64 = r.get(0)?;
        all.push((listens.get(&id).copied().unwrap_or(0), id));
        Ok(())
    })?;
    all.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let n = all.len() as u64;
    let total: i64 = all.iter().map(|a| a.0).sum();
    let (mut anyone, mut ours, mut elsewhere) = (Part::default(), Part::default(), Part::default());
    let mut per: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut long_tail = Vec::new();
    let ranks = tail_ranks(n);
    let mut next = ranks.iter().peekable();
    let (mut cum, mut cum_ours, mut cum_else) = (0i64, 0i64, 0i64);
    for (i, (l, id)) in all.iter().enumerate() {
        cum += l;
        if let Some(h) = fed.held.get(id) {
            anyone.recordings += 1;
            anyone.listens += l;
            if h.ours() {
                ours.recordings += 1;
                ours.listens += l;
                cum_ours += l;
            } else {
                elsewhere.recordings += 1;
                elsewhere.listens += l;
                cum_else += l;
            }
            for p in &h.publishers {
                let e = per.entry(p.as_str()).or_default();
                e.0 += 1;
                e.1 += u64::from(h.publishers.len() == 1);
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
    let active: Vec<&UnionTorrent> = fed.torrents.iter().filter(|t| !t.withdrawn).collect();
    let mut publishers = Vec::new();
    let mut notes = Vec::new();
    for p in crate::publishers(db)? {
        let mine: Vec<&&UnionTorrent> = active
            .iter()
            .filter(|t| t.publishers.contains(&p.name))
            .collect();
        let recording_level = p.format == Some(ListFormat::Musicark) && p.holdings > 0;
        if p.format == Some(ListFormat::TorrentsJson) {
            notes.push(format!(
                "{}: a torrents.json list; its {} torrents count in the union and health, but what they hold is not known, so its recordings count as held by nobody",
                p.name,
                mine.len()
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
        let (recs, only) = per.get(p.name.as_str()).copied().unwrap_or_default();
        publishers.push(PublisherCoverage {
            name: p.name.clone(),
            format: p.format,
            recording_level,
            torrents_active: mine.len() as u64,
            bytes_active: mine.iter().map(|t| t.data_size).sum(),
            recordings: recs,
            recordings_only_here: only,
            synced_at: p.synced_at,
            problem: p.problem,
        });
    }
    let mine: Vec<&&UnionTorrent> = active
        .iter()
        .filter(|t| t.publishers.iter().any(|p| p == OURS))
        .collect();
    let (recs, only) = per.get(OURS).copied().unwrap_or_default();
    publishers.push(PublisherCoverage {
        name: OURS.into(),
        format: Some(ListFormat::Musicark),
        recording_level: true,
        torrents_active: mine.len() as u64,
        bytes_active: mine.iter().map(|t| t.data_size).sum(),
        recordings: recs,
        recordings_only_here: only,
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
        torrents_union: active.len() as u64,
        bytes_union: active.iter().map(|t| t.data_size).sum(),
        torrents_shared: active.iter().filter(|t| t.publishers.len() > 1).count() as u64,
        publishers,
        long_tail,
        notes,
    })
}
