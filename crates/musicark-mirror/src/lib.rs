//! `musicark mirror`: become one of the copies.
//!
//! 1. Fetch the list (a file, or a URL with its `.minisig`, `.pub` and
//!    torrents beside it) into `DIR/list/` and verify it: signature,
//!    schema, every torrent against its listed hashes.
//! 2. Plan what fits the budget with the seed planner (fewest seeders per
//!    byte first, by the list's scraped counts; obsolete and embargoed
//!    torrents never).
//! 3. Download with librqbit into `DIR/data/<name>/` (existing data is
//!    checked and kept: a restart resumes), within the bandwidth limits.
//! 4. Verify every piece with musicark's own checker and every file
//!    against the pack's manifest (BLAKE3), then keep seeding.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use librqbit::{AddTorrent, AddTorrentOptions, ListenerOptions, Session, SessionOptions};
use musicark_publish::list::ListEntry;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{0}")]
    List(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("BitTorrent engine: {0}")]
    Engine(String),
    #[error("download of {0} did not finish in time")]
    Timeout(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MirrorError + '_ {
    move |source| MirrorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// A list file, or an http(s) URL of one.
    pub list: String,
    /// The publisher's key (default: the list's `.pub` beside it).
    pub pubkey: Option<PathBuf>,
    pub budget: u64,
    pub dir: PathBuf,
    pub donor: String,
    pub download_bps: Option<u32>,
    pub upload_bps: Option<u32>,
    /// Address to listen on for peers (default 0.0.0.0, any port).
    pub listen: std::net::SocketAddr,
    /// Give up on a torrent that makes no progress for this long.
    pub stall: Duration,
    /// Seed for this long once everything is verified (None: until the
    /// process is stopped).
    pub seed_for: Option<Duration>,
    /// Read the list again this often and follow a changed plan.
    pub replan: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mirrored {
    pub name: String,
    pub data_size: u64,
    pub seconds: f64,
    pub files_verified: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct MirrorReport {
    pub list_entries: usize,
    pub planned: Vec<String>,
    pub mirrored: Vec<Mirrored>,
    pub bytes: u64,
    pub listen_port: Option<u16>,
}

/// What happens, for a progress display.
pub trait Events: Sync {
    fn planned(&self, _names: &[String], _bytes: u64) {}
    fn progress(&self, _done: u64, _total: u64) {}
    fn verified(&self, _name: &str) {}
    fn seeding(&self, _port: Option<u16>) {}
    fn replan_failed(&self) {}
}

pub struct Quiet;
impl Events for Quiet {}

fn fetch(url: &str, to: &Path) -> Result<(), MirrorError> {
    let mut response = ureq::get(url)
        .call()
        .map_err(|e| MirrorError::List(format!("{url}: {e}")))?;
    let mut body = Vec::new();
    use std::io::Read;
    response
        .body_mut()
        .as_reader()
        .take(1 << 30)
        .read_to_end(&mut body)
        .map_err(io(to))?;
    std::fs::write(to, body).map_err(io(to))
}

/// The list in `DIR/list/`, fetched when it is a URL; its local path.
fn local_list(options: &MirrorOptions) -> Result<PathBuf, MirrorError> {
    if !(options.list.starts_with("http://") || options.list.starts_with("https://")) {
        return Ok(PathBuf::from(&options.list));
    }
    let dir = options.dir.join("list");
    std::fs::create_dir_all(dir.join("torrents")).map_err(io(&dir))?;
    let name = options
        .list
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("torrents.json");
    let path = dir.join(name);
    fetch(&options.list, &path)?;
    fetch(
        &format!("{}.minisig", options.list),
        &dir.join(format!("{name}.minisig")),
    )?;
    if options.pubkey.is_none() {
        fetch(
            &format!("{}.pub", options.list),
            &dir.join(format!("{name}.pub")),
        )?;
    }
    let entries: Vec<ListEntry> = serde_json::from_slice(&std::fs::read(&path).map_err(io(&path))?)
        .map_err(|e| MirrorError::List(format!("{}: {e}", options.list)))?;
    let base = &options.list[..options.list.rfind('/').map_or(0, |i| i + 1)];
    // Embargoed torrents are listed without their .torrent: nothing to fetch.
    for e in entries.iter().filter(|e| !e.embargo) {
        // Not yet verified: a name must not lead out of DIR/list/torrents.
        if e.display_name.contains(['/', '\\']) || e.display_name.starts_with('.') {
            return Err(MirrorError::List(format!(
                "{}: refusing torrent name {:?}",
                options.list, e.display_name
            )));
        }
        let url = if e.url.contains("://") {
            e.url.clone()
        } else {
            format!("{base}{}", e.url)
        };
        fetch(&url, &dir.join("torrents").join(&e.display_name))?;
    }
    Ok(path)
}

/// The plan: list entries that fit the budget, fewest seeders per byte
/// first (the seed planner, one item per torrent weighed by its unique
/// tracks).
pub fn plan(entries: &[ListEntry], budget: u64, donor: &str) -> Vec<usize> {
    use musicark_swarm::seedplan::{Model, Torrent, copies, donor_key, plan};
    let usable: Vec<usize> = (0..entries.len())
        .filter(|&i| !entries[i].obsolete && !entries[i].embargo)
        .collect();
    let torrents: Vec<Torrent> = usable
        .iter()
        .enumerate()
        .map(|(k, &i)| Torrent {
            size: entries[i].data_size.max(1),
            seeders: entries[i].seeders.min(u64::from(u32::MAX)) as u32,
            leechers: entries[i].leechers.min(u64::from(u32::MAX)) as u32,
            recordings: vec![k as u32],
            key: u64::from_str_radix(&entries[i].btih[..entries[i].btih.len().min(16)], 16)
                .unwrap_or(k as u64),
        })
        .collect();
    let weights: Vec<f64> = usable
        .iter()
        .map(|&i| {
            (entries[i].unique_tracks.max(1)) as f64
                + if entries[i].is_metadata { 20.0 } else { 0.0 }
        })
        .collect();
    let c = copies(&torrents, weights.len());
    plan(
        &torrents,
        &weights,
        &c,
        budget,
        donor_key(donor),
        &Model::default(),
    )
    .into_iter()
    .map(|k| usable[k])
    .collect()
}

/// Check downloaded data: every piece (musicark's checker) and every file
/// of the manifest (BLAKE3). Returns the files checked.
fn verify_data(torrent: &Path, data: &Path, entry: &ListEntry) -> Result<usize, MirrorError> {
    let bytes = std::fs::read(torrent).map_err(io(torrent))?;
    let meta = musicark_torrent::Metainfo::parse(&bytes)
        .map_err(|e| MirrorError::List(format!("{}: {e}", torrent.display())))?;
    let report = musicark_torrent::verify(&meta, data, musicark_torrent::HashOptions::default());
    if !report.ok {
        return Err(MirrorError::List(format!(
            "{}: the downloaded data does not verify ({} of {} files intact)",
            entry.display_name,
            report
                .files
                .iter()
                .filter(|f| matches!(f.verdict, musicark_torrent::FileVerdict::Ok))
                .count(),
            report.files.len()
        )));
    }
    let root = data.join(&meta.name);
    let manifest_path = root.join(musicark_publish::pack::MANIFEST);
    let manifest = std::fs::read(&manifest_path).map_err(io(&manifest_path))?;
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&manifest))
    };
    if sha != entry.manifest_sha256 {
        return Err(MirrorError::List(format!(
            "{}: manifest does not match the list",
            entry.display_name
        )));
    }
    let mut checked = 0;
    for line in String::from_utf8_lossy(&manifest).lines() {
        let m: musicark_publish::pack::ManifestEntry =
            serde_json::from_str(line).map_err(|e| MirrorError::List(format!("manifest: {e}")))?;
        let path = root.join(&m.path);
        let file = std::fs::File::open(&path).map_err(io(&path))?;
        let mut h = blake3::Hasher::new();
        h.update_reader(file).map_err(io(&path))?;
        if h.finalize().to_hex().as_str() != m.blake3 {
            return Err(MirrorError::List(format!(
                "{}: BLAKE3 differs from the manifest",
                path.display()
            )));
        }
        checked += 1;
    }
    Ok(checked)
}

/// The verified list: its path and entries.
fn load_list(options: &MirrorOptions) -> Result<(PathBuf, Vec<ListEntry>), MirrorError> {
    let list = local_list(options)?;
    let verified = musicark_publish::list::verify(&list, options.pubkey.as_deref())
        .map_err(|e| MirrorError::List(e.to_string()))?;
    if !verified.ok() {
        return Err(MirrorError::List(format!(
            "{} does not verify: {}",
            list.display(),
            verified.problems.join("; ")
        )));
    }
    let entries: Vec<ListEntry> = serde_json::from_slice(&std::fs::read(&list).map_err(io(&list))?)
        .map_err(|e| MirrorError::List(e.to_string()))?;
    Ok((list, entries))
}

/// A torrent the session holds.
struct Held {
    name: String,
    handle: std::sync::Arc<librqbit::ManagedTorrent>,
}

/// Bring the session to `chosen`: drop (with their data) what is no
/// longer planned, add what is new, wait for it, verify it.
#[allow(clippy::too_many_arguments)]
async fn converge(
    session: &std::sync::Arc<Session>,
    held: &mut Vec<Held>,
    entries: &[ListEntry],
    chosen: &[usize],
    list_dir: &Path,
    data_dir: &Path,
    options: &MirrorOptions,
    events: &dyn Events,
) -> Result<Vec<Mirrored>, MirrorError> {
    let wanted: Vec<String> = chosen
        .iter()
        .map(|&i| {
            entries[i]
                .display_name
                .trim_end_matches(".torrent")
                .to_string()
        })
        .collect();
    let mut kept = Vec::new();
    for h in held.drain(..) {
        if wanted.contains(&h.name) {
            kept.push(h);
        } else {
            session
                .delete(h.handle.id().into(), true)
                .await
                .map_err(|e| MirrorError::Engine(format!("{e:#}")))?;
            let _ = std::fs::remove_dir_all(data_dir.join(&h.name));
        }
    }
    *held = kept;
    let mut added = Vec::new();
    for &i in chosen {
        let e = &entries[i];
        let name = e.display_name.trim_end_matches(".torrent").to_string();
        if held.iter().any(|h| h.name == name) {
            continue;
        }
        let torrent = musicark_publish::list::torrent_path(list_dir, e);
        let bytes = std::fs::read(&torrent).map_err(io(&torrent))?;
        let handle = session
            .add_torrent(
                AddTorrent::from_bytes(bytes),
                Some(AddTorrentOptions {
                    overwrite: true,
                    output_folder: Some(data_dir.join(&name).display().to_string()),
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| MirrorError::Engine(format!("{e:#}")))?
            .into_handle()
            .ok_or_else(|| MirrorError::Engine("torrent not added".into()))?;
        added.push((i, torrent, name.clone(), Instant::now()));
        held.push(Held { name, handle });
    }
    // Wait for every download, reporting progress; no progress for
    // `stall` gives up.
    let mut last = (0u64, Instant::now());
    loop {
        let (mut done, mut all, mut finished) = (0u64, 0u64, true);
        for h in held.iter() {
            let s = h.handle.stats();
            done += s.progress_bytes;
            all += s.total_bytes;
            finished &= s.finished;
        }
        events.progress(done, all);
        if finished {
            break;
        }
        if done > last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() > options.stall {
            return Err(MirrorError::Timeout(
                held.iter()
                    .filter(|h| !h.handle.stats().finished)
                    .map(|h| h.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut mirrored = Vec::new();
    for (i, torrent, name, started) in added {
        // The engine wrote DIR/data/<name>/…; our checker reads the
        // torrent's files below DIR/data.
        let files = verify_data(&torrent, data_dir, &entries[i])?;
        events.verified(&name);
        mirrored.push(Mirrored {
            name,
            data_size: entries[i].data_size,
            seconds: started.elapsed().as_secs_f64(),
            files_verified: files,
        });
    }
    Ok(mirrored)
}

/// Mirror: verify, plan, download, verify, seed; every `replan`, read the
/// list again (fetch it again when it is a URL) and follow a changed plan
/// (torrents now well seeded give their place to those at risk). Blocks
/// until seeding ends (`seed_for`), or forever.
pub fn mirror(options: &MirrorOptions, events: &dyn Events) -> Result<MirrorReport, MirrorError> {
    let (list, entries) = load_list(options)?;
    let chosen = plan(&entries, options.budget, &options.donor);
    let planned: Vec<String> = chosen
        .iter()
        .map(|&i| entries[i].display_name.clone())
        .collect();
    let total: u64 = chosen.iter().map(|&i| entries[i].data_size).sum();
    events.planned(&planned, total);
    let data_dir = options.dir.join("data");
    std::fs::create_dir_all(&data_dir).map_err(io(&data_dir))?;
    let list_dir = list
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io(&data_dir))?;
    // A concrete port: librqbit announces only one it is told.
    let listen = if options.listen.port() == 0 {
        let probe = std::net::TcpListener::bind(options.listen).map_err(io(&data_dir))?;
        probe.local_addr().map_err(io(&data_dir))?
    } else {
        options.listen
    };
    runtime.block_on(async {
        let limits = librqbit::limits::LimitsConfig {
            upload_bps: options.upload_bps.and_then(std::num::NonZeroU32::new),
            download_bps: options.download_bps.and_then(std::num::NonZeroU32::new),
        };
        let session = Session::new_with_opts(
            data_dir.clone(),
            SessionOptions {
                dht: None,
                disable_local_service_discovery: true,
                listen: Some(ListenerOptions {
                    listen_addr: listen,
                    announce_port: Some(listen.port()),
                    ..Default::default()
                }),
                ratelimits: limits,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| MirrorError::Engine(format!("{e:#}")))?;
        let port = session.announce_port().or(Some(listen.port()));
        let mut held = Vec::new();
        let mut mirrored = converge(
            &session, &mut held, &entries, &chosen, &list_dir, &data_dir, options, events,
        )
        .await?;
        events.seeding(port);
        let (mut planned, mut total, mut count) = (planned, total, entries.len());
        let started = Instant::now();
        loop {
            let left = options
                .seed_for
                .map(|d| d.saturating_sub(started.elapsed()));
            if left.is_some_and(|l| l.is_zero()) {
                break;
            }
            let nap = match (left, options.replan) {
                (Some(l), Some(r)) => l.min(r),
                (Some(l), None) => l,
                (None, Some(r)) => r,
                (None, None) => Duration::from_secs(3600),
            };
            tokio::time::sleep(nap).await;
            if options.replan.is_none() {
                continue;
            }
            // A list that no longer verifies is reported and ignored: the
            // mirror keeps what it has.
            let Ok((_, entries)) = load_list(options) else {
                events.replan_failed();
                continue;
            };
            let chosen = plan(&entries, options.budget, &options.donor);
            let names: Vec<String> = chosen
                .iter()
                .map(|&i| entries[i].display_name.clone())
                .collect();
            if names != planned {
                events.planned(&names, chosen.iter().map(|&i| entries[i].data_size).sum());
                mirrored.extend(
                    converge(
                        &session, &mut held, &entries, &chosen, &list_dir, &data_dir, options,
                        events,
                    )
                    .await?,
                );
                total = chosen.iter().map(|&i| entries[i].data_size).sum();
                planned = names;
                count = entries.len();
                events.seeding(port);
            }
        }
        Ok::<_, MirrorError>(MirrorReport {
            list_entries: count,
            planned,
            bytes: total,
            mirrored,
            listen_port: port,
        })
    })
}
