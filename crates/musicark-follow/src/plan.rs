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
use std::path::Path;

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
    /// The verified .torrent, relative to the archive: `torrents/NAME`
    /// (ours, the whole file) or a publisher's pack
    /// (`follows/NAME/torrents.….pack`) from `torrent_offset`,
    /// `torrent_length` bytes.
    pub torrent: String,
    pub torrent_offset: Option<u64>,
    pub torrent_length: Option<u64>,
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

/// What the planner is given: the federated view, the planner's view of
/// each active torrent (and which torrent of the union it is), and the
/// weights of its items.
pub struct Candidates {
    pub federation: crate::view::Federation,
    pub planner: Vec<Torrent>,
    /// `planner[i]` is `federation.torrents[union[i]]`.
    pub union: Vec<u32>,
    /// Catalogue recordings `planner[i]` holds (0: not known).
    pub known: Vec<u64>,
    pub weights: Vec<f64>,
}

/// Every active torrent of the union with what the planner needs.
pub fn candidates(home: &Home, db: &Db) -> Result<Candidates, FollowError> {
    let fed = federation(home, db)?;
    // Listens rank of every held recording: the tail weighs more.
    let listens = musicark_publish::listens_by_recording(db)?;
    let mut held: Vec<(i64, i64)> = fed
        .held()
        .map(|(id, _)| (listens.get(&id).copied().unwrap_or(0), id))
        .collect();
    drop(listens);
    held.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let n = held.len().max(1) as f64;
    let mut weight_of: HashMap<i64, f64> = HashMap::with_capacity(held.len());
    for (rank, (_, id)) in held.iter().enumerate() {
        weight_of.insert(*id, 1.0 + rank as f64 / n);
    }
    drop(held);
    let mut weights: Vec<f64> = Vec::new();
    let mut by_torrent: Vec<Vec<u32>> = vec![Vec::new(); fed.torrents.len()];
    for (id, holders) in fed.held() {
        let item = weights.len() as u32;
        weights.push(weight_of.get(&id).copied().unwrap_or(1.0));
        for &(_, t) in holders {
            by_torrent[t as usize].push(item);
        }
    }
    drop(weight_of);
    let mut planner = Vec::new();
    let mut union = Vec::new();
    let mut known = Vec::new();
    for (i, t) in fed.torrents.iter().enumerate() {
        if t.withdrawn {
            continue;
        }
        let mut recs = std::mem::take(&mut by_torrent[i]);
        known.push(recs.len() as u64);
        if recs.is_empty() {
            // Content not known at recording level: one item of its own,
            // weighed as a whole album of the tail.
            recs.push(weights.len() as u32);
            weights.push(2.0);
        }
        planner.push(Torrent {
            size: t.data_size.max(1),
            seeders: t.seeders.min(u64::from(u32::MAX)) as u32,
            leechers: t.leechers.min(u64::from(u32::MAX)) as u32,
            recordings: recs,
            key: u64::from_str_radix(&t.btih[..t.btih.len().min(16)], 16).unwrap_or(0),
        });
        union.push(i as u32);
    }
    Ok(Candidates {
        federation: fed,
        planner,
        union,
        known,
        weights,
    })
}

/// What a plan needs of another publisher's torrent.
struct TheirTorrent {
    magnet: String,
    manifest: Option<String>,
    offset: Option<i64>,
    len: Option<i64>,
    list_sha256: String,
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
        federation: fed,
        planner,
        union,
        known,
        weights,
    } = candidates(home, db)?;
    let c = copies(&planner, weights.len());
    let chosen = plan(
        &planner,
        &weights,
        &c,
        budget,
        donor_key(donor),
        &Model::federated(),
    );
    // What a donor needs of the chosen ones only: magnet, .torrent,
    // manifest.
    let ours: HashMap<String, ListEntry> = musicark_publish::list::entries(home, db)?
        .into_iter()
        .map(|e| (e.btih.to_ascii_lowercase(), e))
        .collect();
    let mut theirs = db.prepare_cached(
        "SELECT t.magnet_link, t.manifest_sha256, t.pack_offset, t.torrent_size, p.list_sha256 \
         FROM publisher_torrents t JOIN publishers p ON p.publisher_id = t.publisher_id \
         WHERE t.publisher_id = ?1 AND t.btih = ?2",
    )?;
    let mut picked = Vec::with_capacity(chosen.len());
    for &k in &chosen {
        let t = &fed.torrents[union[k] as usize];
        let (magnet, file, range, manifest) = match ours.get(&t.btih) {
            Some(e) if t.publishers.contains(&0) => (
                e.magnet_link.clone(),
                format!("torrents/{}", e.display_name),
                None,
                Some(e.manifest_sha256.clone()).filter(|m| !m.is_empty()),
            ),
            _ => {
                let p = *t.publishers.iter().find(|&&p| p != 0).unwrap_or(&0) as usize;
                let row = theirs.query_row(
                    musicark_store::params![fed.publisher_ids[p], t.btih],
                    |r| {
                        Ok(TheirTorrent {
                            magnet: r.get(0)?,
                            manifest: r.get(1)?,
                            offset: r.get(2)?,
                            len: r.get(3)?,
                            list_sha256: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                        })
                    },
                )?;
                let pack = crate::sync::torrent_pack(Path::new(""), &row.list_sha256);
                (
                    row.magnet,
                    format!("follows/{}/{}", fed.publishers[p], pack.display()),
                    row.offset.zip(row.len).map(|(o, l)| (o as u64, l as u64)),
                    row.manifest,
                )
            }
        };
        picked.push(PlannedTorrent {
            btih: t.btih.clone(),
            name: t.name.clone(),
            publishers: t
                .publishers
                .iter()
                .map(|&p| fed.publishers[p as usize].clone())
                .collect(),
            data_size: t.data_size,
            seeders: t.seeders,
            recordings: known[k],
            magnet_link: magnet,
            torrent: file,
            torrent_offset: range.map(|r| r.0),
            torrent_length: range.map(|r| r.1),
            manifest_sha256: manifest,
        });
    }
    Ok(FederatedPlan {
        donor: donor.to_string(),
        budget,
        used: picked.iter().map(|t| t.data_size).sum(),
        candidates: planner.len(),
        torrents: picked,
    })
}

/// The bytes of a planned torrent's verified .torrent.
pub fn torrent_bytes(home: &Home, t: &PlannedTorrent) -> Result<Vec<u8>, FollowError> {
    let mut path = home.root().to_path_buf();
    path.extend(t.torrent.split('/'));
    let bytes = match (t.torrent_offset, t.torrent_length) {
        (Some(offset), Some(len)) => crate::sync::read_packed(&path, offset, len)?,
        _ => std::fs::read(&path).map_err(crate::io(&path))?,
    };
    // Handed out only as what the list and the plan say it is.
    match musicark_torrent::Metainfo::parse(&bytes) {
        Ok(m) if m.has_info_hashes(Some(&t.btih), None) => Ok(bytes),
        _ => Err(FollowError::List(format!(
            "{}: the .torrent held for {} does not match its info-hash (damaged at rest: run `musicark follow sync`)",
            path.display(),
            t.name
        ))),
    }
}

/// Write a plan's .torrent files into `dir` (`NAME.torrent` each, names
/// checked to be plain); their sizes.
pub fn write_torrents(
    home: &Home,
    plan: &FederatedPlan,
    dir: &Path,
) -> Result<Vec<u64>, FollowError> {
    std::fs::create_dir_all(dir).map_err(crate::io(dir))?;
    let mut sizes = Vec::with_capacity(plan.torrents.len());
    for t in &plan.torrents {
        let name = musicark_publish::list::confined_name(&t.name).map_err(FollowError::List)?;
        let bytes = torrent_bytes(home, t)?;
        musicark_store::atomic_write(&dir.join(name), &bytes)?;
        sizes.push(bytes.len() as u64);
    }
    Ok(sizes)
}

/// [`write_torrents`] into `dir/torrents/`, and the plan's torrents as
/// list entries whose URLs point at them: what a mirror reads.
pub fn materialize(
    home: &Home,
    plan: &FederatedPlan,
    dir: &Path,
) -> Result<Vec<ListEntry>, FollowError> {
    let sizes = write_torrents(home, plan, &dir.join("torrents"))?;
    let mut out = Vec::with_capacity(plan.torrents.len());
    for (t, size) in plan.torrents.iter().zip(sizes) {
        let name = &t.name;
        out.push(ListEntry {
            url: format!("torrents/{name}"),
            group_name: t.publishers.join(","),
            display_name: name.to_string(),
            btih: t.btih.clone(),
            magnet_link: t.magnet_link.clone(),
            torrent_size: size,
            data_size: t.data_size,
            seeders: t.seeders,
            tracks: t.recordings,
            manifest_sha256: t.manifest_sha256.clone().unwrap_or_default(),
            ..ListEntry::default()
        });
    }
    Ok(out)
}
