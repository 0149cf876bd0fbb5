//! Seeding plans across publishers (`seedplan --federated`,
//! `mirror --federated`): a donor's budget goes where recordings have the
//! fewest copies worldwide, counting every followed publisher's torrents
//! and seeders, not only the archive's own.
//!
//! The planner is the archive's own (`musicark_swarm::seedplan`): items
//! are catalogue recordings, each weighed by its place in the long tail;
//! a torrent whose content is not known at recording level (a
//! `torrents.json` list, a metadata release) is one item of its own.
//! Obsolete and embargoed torrents of any publisher are never planned.

use std::collections::HashMap;
use std::path::PathBuf;

use musicark_publish::list::ListEntry;
use musicark_store::{Db, Home};
use musicark_swarm::seedplan::{Model, Torrent, copies, donor_key, plan};
use serde::Serialize;

use crate::FollowError;
use crate::view::federation;

/// One torrent of a federated plan.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PlannedTorrent {
    pub btih: String,
    /// Its file name (`NAME.torrent`).
    pub name: String,
    pub publishers: Vec<String>,
    pub data_size: u64,
    pub seeders: u64,
    /// Catalogue recordings it holds (0 when its list does not say).
    pub recordings: u64,
    pub magnet_link: String,
    /// The verified .torrent, relative to the archive (below `torrents/`
    /// or `follows/NAME/torrents/`).
    pub torrent: String,
    /// The manifest's SHA-256 when its list gives it (musicark lists).
    pub manifest_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FederatedPlan {
    pub donor: String,
    pub budget: u64,
    pub used: u64,
    /// Active torrents over every list.
    pub candidates: usize,
    pub torrents: Vec<PlannedTorrent>,
}

/// What the planner is given: every active torrent of the union, the
/// planner's view of each, and the weights of its items.
pub struct Candidates {
    pub torrents: Vec<PlannedTorrent>,
    pub planner: Vec<Torrent>,
    pub weights: Vec<f64>,
}

/// Every active torrent of the union with what the planner needs.
pub fn candidates(home: &Home, db: &Db) -> Result<Candidates, FollowError> {
    let fed = federation(home, db)?;
    // Where each torrent's verified .torrent is, and its manifest.
    let mut files: HashMap<String, (String, Option<String>)> = HashMap::new();
    for e in musicark_publish::list::entries(home, db)? {
        files.insert(
            e.btih.to_ascii_lowercase(),
            (
                format!("torrents/{}", e.display_name),
                Some(e.manifest_sha256).filter(|m| !m.is_empty()),
            ),
        );
    }
    {
        let mut stmt = db.prepare(
            "SELECT t.btih, p.name, t.name, t.manifest_sha256 FROM publisher_torrents t \
             JOIN publishers p ON p.publisher_id = t.publisher_id ORDER BY p.name",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let btih: String = r.get(0)?;
            let publisher: String = r.get(1)?;
            let name: String = r.get(2)?;
            files
                .entry(btih)
                .or_insert((format!("follows/{publisher}/torrents/{name}"), r.get(3)?));
        }
    }
    // Listens rank of every held recording: the tail weighs more.
    let listens = musicark_publish::listens_by_recording(db)?;
    let mut held: Vec<(i64, i64)> = fed
        .held
        .keys()
        .map(|id| (listens.get(id).copied().unwrap_or(0), *id))
        .collect();
    held.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let n = held.len().max(1) as f64;
    let mut item: HashMap<i64, u32> = HashMap::new();
    let mut weights: Vec<f64> = Vec::new();
    for (rank, (_, id)) in held.iter().enumerate() {
        item.insert(*id, weights.len() as u32);
        weights.push(1.0 + rank as f64 / n);
    }
    let mut by_torrent: HashMap<&str, Vec<u32>> = HashMap::new();
    for (id, h) in &fed.held {
        for b in &h.torrents {
            by_torrent.entry(b.as_str()).or_default().push(item[id]);
        }
    }
    let mut out = Vec::new();
    let mut torrents = Vec::new();
    for t in fed.torrents.iter().filter(|t| !t.withdrawn) {
        let Some((file, manifest)) = files.get(&t.btih) else {
            continue;
        };
        let mut recs = by_torrent.get(t.btih.as_str()).cloned().unwrap_or_default();
        recs.sort_unstable();
        let known = recs.len() as u64;
        if recs.is_empty() {
            // Content not known at recording level: one item of its own,
            // weighed as a whole album of the tail.
            recs.push(weights.len() as u32);
            weights.push(2.0);
        }
        torrents.push(Torrent {
            size: t.data_size.max(1),
            seeders: t.seeders.min(u64::from(u32::MAX)) as u32,
            leechers: t.leechers.min(u64::from(u32::MAX)) as u32,
            recordings: recs,
            key: u64::from_str_radix(&t.btih[..t.btih.len().min(16)], 16).unwrap_or(0),
        });
        out.push(PlannedTorrent {
            btih: t.btih.clone(),
            name: t.name.clone(),
            publishers: t.publishers.clone(),
            data_size: t.data_size,
            seeders: t.seeders,
            recordings: known,
            magnet_link: t.magnet_link.clone(),
            torrent: file.clone(),
            manifest_sha256: manifest.clone(),
        });
    }
    Ok(Candidates {
        torrents: out,
        planner: torrents,
        weights,
    })
}

/// The plan of `donor` with `budget` bytes over every followed list and
/// our own: the torrents in the order chosen.
pub fn federated(
    home: &Home,
    db: &Db,
    budget: u64,
    donor: &str,
) -> Result<FederatedPlan, FollowError> {
    let Candidates {
        torrents: all,
        planner: torrents,
        weights,
    } = candidates(home, db)?;
    let c = copies(&torrents, weights.len());
    let chosen = plan(
        &torrents,
        &weights,
        &c,
        budget,
        donor_key(donor),
        &Model::federated(),
    );
    let picked: Vec<PlannedTorrent> = chosen.iter().map(|&i| all[i].clone()).collect();
    Ok(FederatedPlan {
        donor: donor.to_string(),
        budget,
        used: picked.iter().map(|t| t.data_size).sum(),
        candidates: all.len(),
        torrents: picked,
    })
}

/// A plan's torrents as list entries a mirror reads: the URL of each is
/// its verified .torrent, relative to the archive's folder.
pub fn as_list_entries(plan: &FederatedPlan) -> Vec<ListEntry> {
    plan.torrents
        .iter()
        .map(|t| ListEntry {
            url: t.torrent.clone(),
            top_level_group_name: String::new(),
            group_name: t.publishers.join(","),
            display_name: t.name.clone(),
            added_to_torrents_list_at: String::new(),
            is_metadata: false,
            btih: t.btih.clone(),
            magnet_link: t.magnet_link.clone(),
            torrent_size: 0,
            num_files: 0,
            data_size: t.data_size,
            obsolete: false,
            embargo: false,
            seeders: t.seeders,
            leechers: 0,
            completed: 0,
            stats_scraped_at: None,
            partially_broken: false,
            btmh: None,
            popularity_band: String::new(),
            tier: String::new(),
            tracks: t.recordings,
            unique_tracks: 0,
            listen_share: 0.0,
            manifest_sha256: t.manifest_sha256.clone().unwrap_or_default(),
        })
        .collect()
}

/// Where a planned torrent's .torrent is.
pub fn torrent_file(home: &Home, t: &PlannedTorrent) -> PathBuf {
    let mut p = home.root().to_path_buf();
    p.extend(t.torrent.split('/'));
    p
}
