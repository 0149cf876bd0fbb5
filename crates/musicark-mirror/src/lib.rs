//! `musicark mirror`: become one of the copies.
//!
//! 1. Check the list's signature by the operator's key (`--pubkey`, or
//!    the one pinned in `DIR/trusted.pub`); only then fetch (bounded,
//!    with timeouts) the torrents it names into `DIR/list/`, every name
//!    confined there, and verify schema and every torrent.
//! 2. Plan what fits the budget with the seed planner (fewest seeders per
//!    byte first, by the list's scraped counts; obsolete and embargoed
//!    torrents never).
//! 3. Download with librqbit into `DIR/data/<name>/` (existing data is
//!    checked and kept: a restart resumes), within the bandwidth limits.
//!    librqbit speaks no BEP 19, so a torrent's HTTP web seeds are read
//!    here first ([`from_web_seeds`]): each missing file fetched whole from
//!    `BASE/NAME/PATH`, after which the engine checks every piece as it
//!    does any data it finds, and takes from peers what a web seed did not
//!    give right. A pack nobody seeds still mirrors.
//! 4. Verify every piece with musicark's own checker and every file
//!    against the pack's manifest (BLAKE3), then keep seeding.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use librqbit::{AddTorrent, AddTorrentOptions, ListenerOptions, Session, SessionOptions};
use minisign::PublicKey;
pub use musicark_follow::fetch;
pub use musicark_follow::fetch::FetchLimits;
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
    #[error("{url}: {what}")]
    Fetch { url: String, what: String },
    #[error(
        "{}: no space left on device: the plan needs {needed} more bytes, {free} are free; lower --budget or free some space",
        path.display()
    )]
    NoSpace {
        path: PathBuf,
        needed: u64,
        free: u64,
    },
    /// The list is not signed by the key the operator trusts (or no key
    /// is trusted yet).
    #[error("{0}")]
    Untrusted(String),
}

impl From<musicark_follow::FollowError> for MirrorError {
    fn from(e: musicark_follow::FollowError) -> MirrorError {
        use musicark_follow::FollowError as F;
        match e {
            F::Io { path, source } => MirrorError::Io { path, source },
            F::Fetch { url, what } => MirrorError::Fetch { url, what },
            F::Untrusted(w) | F::Rollback(w) => MirrorError::Untrusted(w),
            other => MirrorError::List(other.to_string()),
        }
    }
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MirrorError + '_ {
    move |source| MirrorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// A list file, or an http(s) URL of one.
    pub list: String,
    /// The publisher's key: a `.pub` file or the base64 key. Pinned in
    /// `DIR/trusted.pub`; never taken from beside the list unless
    /// `trust_on_first_use`.
    pub pubkey: Option<String>,
    /// With no key given or pinned, pin the one served beside the list.
    pub trust_on_first_use: bool,
    /// Timeouts and size bounds of every fetch.
    pub limits: FetchLimits,
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
    /// While seeding, verify every held torrent's data this often (pieces
    /// and manifest BLAKE3s); damaged data is checked again by the engine
    /// and its bad pieces fetched again, then verified.
    pub scrub: Option<Duration>,
    /// Also speak µTP (BEP 29), listening and connecting.
    pub utp: bool,
    /// Fetch what is missing from the torrents' BEP 19 web seeds before
    /// the swarm.
    pub web_seeds: bool,
    /// Plan over every list the archive at this folder follows and its
    /// own (`mirror --federated`) instead of `list`: the .torrent files
    /// verified by `follow sync`, copies counted worldwide.
    pub federated: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mirrored {
    pub name: String,
    pub data_size: u64,
    pub seconds: f64,
    pub files_verified: usize,
    /// Bytes fetched from the torrent's web seeds (the rest came from
    /// peers, or was here already).
    pub from_web_seeds: u64,
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
    /// A scrub of `name`: its data was intact, or was damaged and has
    /// been fetched again and verified.
    fn scrubbed(&self, _name: &str, _repaired: bool) {}
    /// A web seed did not give a file (the swarm is asked for it).
    fn web_seed_failed(&self, _url: &str, _why: &str) {}
}

pub struct Quiet;
impl Events for Quiet {}

/// Where the operator's trusted key is pinned in a mirror's folder.
pub const PINNED_KEY: &str = "trusted.pub";

/// The key the mirror trusts, pinned at `DIR/trusted.pub`: the one given
/// with `--pubkey` (pinned, replacing an older pin: the operator's word),
/// else the pinned one, else — only with `--trust-on-first-use` — the one
/// served beside the list, pinned now and required from then on. A key
/// fetched beside the list is never trusted otherwise.
fn trusted_key(options: &MirrorOptions) -> Result<PublicKey, MirrorError> {
    let pinned = options.dir.join(PINNED_KEY);
    let pin = |pk: &PublicKey| -> Result<(), MirrorError> {
        std::fs::create_dir_all(&options.dir).map_err(io(&options.dir))?;
        let text = pk
            .to_box()
            .map_err(|e| MirrorError::List(e.to_string()))?
            .to_string();
        let tmp = pinned.with_extension("pub.tmp");
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &pinned).map_err(io(&pinned))
    };
    if let Some(arg) = &options.pubkey {
        let pk = musicark_publish::list::load_public_key(arg)
            .map_err(|e| MirrorError::Untrusted(e.to_string()))?;
        pin(&pk)?;
        return Ok(pk);
    }
    if pinned.is_file() {
        let text = std::fs::read_to_string(&pinned).map_err(io(&pinned))?;
        let pk = musicark_publish::list::parse_public_key(&text)
            .map_err(|e| MirrorError::Untrusted(format!("{}: {e}", pinned.display())))?;
        return Ok(pk);
    }
    if !options.trust_on_first_use {
        return Err(MirrorError::Untrusted(format!(
            "no trusted key for this list: give the publisher's key with --pubkey FILE|KEY \
             (from a source you trust), or pass --trust-on-first-use to pin the key served \
             beside the list now (it is then required at {})",
            pinned.display()
        )));
    }
    let pk = if is_url(&options.list) {
        fetch::fetch_key_beside(&options.list, &options.limits, &options.dir)?
    } else {
        let beside = format!("{}.pub", options.list);
        let text = std::fs::read_to_string(&beside).map_err(io(Path::new(&beside)))?;
        musicark_publish::list::parse_public_key(&text)
            .map_err(|e| MirrorError::Untrusted(format!("{beside}: {e}")))?
    };
    pin(&pk)?;
    Ok(pk)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The list in `DIR/list/`, fetched and verified when it is a URL; its
/// local path.
fn local_list(options: &MirrorOptions, key: &PublicKey) -> Result<PathBuf, MirrorError> {
    if !is_url(&options.list) {
        return Ok(PathBuf::from(&options.list));
    }
    fetch::fetch_verified_list(
        &options.list,
        key,
        &options.dir.join("list"),
        &options.limits,
    )
    .map_err(MirrorError::from)
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
    if entry.manifest_sha256.is_empty() {
        // A list without manifests (torrents.json form): the pieces are
        // what can be checked.
        return Ok(report.files.len());
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
        if m.path
            .split('/')
            .any(|c| musicark_publish::list::confined_name(c).is_err())
        {
            return Err(MirrorError::List(format!(
                "{}: manifest path {:?} leads out of the pack",
                entry.display_name, m.path
            )));
        }
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

/// The verified list: its path and entries. Verified by the trusted key
/// only; every name in it confined to the mirror's folders.
fn load_list(options: &MirrorOptions) -> Result<(PathBuf, Vec<ListEntry>), MirrorError> {
    let key = trusted_key(options)?;
    let list = local_list(options, &key)?;
    let (verified, entries) = musicark_publish::list::verify_and_read(&list, Some(&key))
        .map_err(|e| MirrorError::List(e.to_string()))?;
    if !verified.signature_ok {
        return Err(MirrorError::Untrusted(format!(
            "{}: not signed by the trusted key {} ({})",
            list.display(),
            musicark_publish::list::public_key_id(&key),
            verified.problems.join("; ")
        )));
    }
    if !verified.ok() {
        return Err(MirrorError::List(format!(
            "{} does not verify: {}",
            list.display(),
            verified.problems.join("; ")
        )));
    }
    Ok((list, entries))
}

/// What to mirror: the folder relative URLs resolve in, the entries, and
/// the planned ones (indices into the entries, in the order chosen).
fn load(options: &MirrorOptions) -> Result<(PathBuf, Vec<ListEntry>, Vec<usize>), MirrorError> {
    if let Some(root) = &options.federated {
        let home =
            musicark_store::Home::open(root).map_err(|e| MirrorError::List(e.to_string()))?;
        let db = home
            .db_read_only()
            .map_err(|e| MirrorError::List(e.to_string()))?;
        let plan = musicark_follow::plan::federated(&home, &db, options.budget, &options.donor)?;
        let list_dir = options.dir.join("list");
        // One folder per info-hash, .torrent files included.
        let mut entries = Vec::with_capacity(plan.torrents.len());
        for t in &plan.torrents {
            let one = musicark_follow::plan::FederatedPlan {
                torrents: vec![t.clone()],
                ..plan.clone()
            };
            let key = t.btih.get(..16).unwrap_or(&t.btih).to_string();
            let mut e = musicark_follow::plan::materialize(&home, &one, &list_dir.join(&key))?
                .pop()
                .ok_or_else(|| MirrorError::List("empty plan entry".into()))?;
            e.url = format!("{key}/{}", e.url);
            e.top_level_group_name = FEDERATED.to_string();
            entries.push(e);
        }
        let chosen = (0..entries.len()).collect();
        return Ok((list_dir, entries, chosen));
    }
    let (list, entries) = load_list(options)?;
    let chosen = plan(&entries, options.budget, &options.donor);
    let list_dir = list
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok((list_dir, entries, chosen))
}

/// The group name of the entries of a federated plan: their data goes
/// to `DIR/data/<info-hash>/<name>/`, since two publishers may use one
/// name for different torrents.
const FEDERATED: &str = "(federated)";

/// Where an entry's data lives below `DIR/data/`: its key there (the
/// folder removed when it leaves the plan) and the save path the
/// torrent's name is below.
fn slot(data_dir: &Path, e: &ListEntry) -> Result<(String, PathBuf), MirrorError> {
    if e.top_level_group_name == FEDERATED {
        let key = e.btih.get(..16).unwrap_or(&e.btih).to_ascii_lowercase();
        if key.len() != 16 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MirrorError::List(format!("{}: not an info-hash", e.btih)));
        }
        let save = data_dir.join(&key);
        return Ok((key, save));
    }
    Ok((data_name(e)?, data_dir.to_path_buf()))
}

/// The folder name of an entry's data below `DIR/data/`: its display name
/// without `.torrent`, confined (checked again here, whatever verified it).
fn data_name(e: &ListEntry) -> Result<String, MirrorError> {
    let name = e.display_name.trim_end_matches(".torrent");
    musicark_publish::list::confined_name(name)
        .map(str::to_string)
        .map_err(MirrorError::List)
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
        .map(|&i| slot(data_dir, &entries[i]).map(|s| s.0))
        .collect::<Result<_, _>>()?;
    let mut kept = Vec::new();
    for h in held.drain(..) {
        if wanted.contains(&h.name) {
            kept.push(h);
        } else {
            session
                .delete(h.handle.id().into(), true)
                .await
                .map_err(|e| MirrorError::Engine(format!("{e:#}")))?;
            // `h.name` passed `slot`: a plain name below DIR/data.
            let _ = std::fs::remove_dir_all(data_dir.join(&h.name));
        }
    }
    *held = kept;
    let mut added = Vec::new();
    for &i in chosen {
        let e = &entries[i];
        let (name, save) = slot(data_dir, e)?;
        if held.iter().any(|h| h.name == name) {
            continue;
        }
        let torrent =
            musicark_publish::list::torrent_path(list_dir, e).map_err(MirrorError::List)?;
        let bytes =
            musicark_publish::list::read_bounded(&torrent, options.limits.max_torrent_bytes)
                .map_err(io(&torrent))?;
        // The engine writes a torrent's files into this folder; our
        // checker reads them below `save`, in the torrent's name.
        let folder = if save == data_dir {
            data_dir.join(&name)
        } else {
            let meta = musicark_torrent::Metainfo::parse(&bytes)
                .map_err(|err| MirrorError::List(format!("{}: {err}", torrent.display())))?;
            save.join(musicark_publish::list::confined_name(&meta.name).map_err(MirrorError::List)?)
        };
        let from_web = if options.web_seeds {
            // Blocking fetches, off the engine's async threads.
            tokio::task::block_in_place(|| from_web_seeds(&bytes, &folder, &options.limits, events))
        } else {
            0
        };
        let handle = session
            .add_torrent(
                AddTorrent::from_bytes(bytes),
                Some(AddTorrentOptions {
                    overwrite: true,
                    output_folder: Some(folder.display().to_string()),
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| MirrorError::Engine(format!("{e:#}")))?
            .into_handle()
            .ok_or_else(|| MirrorError::Engine("torrent not added".into()))?;
        added.push((i, torrent, save, Instant::now(), from_web));
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
    for (i, torrent, save, started, from_web_seeds) in added {
        // The engine wrote DIR/data/<name>/… (a federated plan's
        // DIR/data/<info-hash>/<name>/…); our checker reads the torrent's
        // files below the save path.
        let files = verify_data(&torrent, &save, &entries[i])?;
        let name = entries[i]
            .display_name
            .trim_end_matches(".torrent")
            .to_string();
        events.verified(&name);
        mirrored.push(Mirrored {
            name,
            data_size: entries[i].data_size,
            seconds: started.elapsed().as_secs_f64(),
            files_verified: files,
            from_web_seeds,
        });
    }
    Ok(mirrored)
}

/// BEP 19: fill `folder` (where the engine keeps the torrent's files)
/// from the torrent's HTTP web seeds. Each file not already there at its
/// length is fetched whole from `BASE/NAME/PATH` (bounded by its length,
/// with the fetch timeouts, written as `.part` and renamed); the first
/// web seed that answers wins. Nothing here is trusted: the engine checks
/// every piece before it counts it, and fetches from peers what is wrong.
/// The bytes fetched.
fn from_web_seeds(torrent: &[u8], folder: &Path, limits: &FetchLimits, events: &dyn Events) -> u64 {
    let Ok(meta) = musicark_torrent::Metainfo::parse(torrent) else {
        return 0;
    };
    let seeds: Vec<&String> = meta
        .web_seeds
        .iter()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .collect();
    if seeds.is_empty() {
        return 0;
    }
    let agent = fetch::agent(limits);
    let mut fetched = 0u64;
    for f in meta.files.iter().filter(|f| !f.pad) {
        // Sanitised components (the parser's): never `..`, never absolute.
        let dest = f.path.iter().fold(folder.to_path_buf(), |p, c| p.join(c));
        if std::fs::metadata(&dest).is_ok_and(|m| m.len() == f.length) {
            continue;
        }
        if let Some(parent) = dest.parent()
            && std::fs::create_dir_all(parent).is_err()
        {
            return fetched;
        }
        for base in &seeds {
            // BEP 19: a single-file torrent's web seed names the file
            // unless it ends in `/`; a directory's, the folder above it.
            let url = if meta.single_file && !base.ends_with('/') {
                base.to_string()
            } else {
                let mut url = base.to_string();
                if !url.ends_with('/') {
                    url.push('/');
                }
                url.push_str(&musicark_torrent::url_encode(&meta.name));
                if !meta.single_file {
                    for c in &f.path {
                        url.push('/');
                        url.push_str(&musicark_torrent::url_encode(c));
                    }
                }
                url
            };
            match fetch::fetch_to(&agent, &url, &dest, f.length) {
                Ok(n) => {
                    fetched += n;
                    break;
                }
                Err(e) => events.web_seed_failed(&url, &e.to_string()),
            }
        }
    }
    fetched
}

/// Refuse a plan the disk cannot hold before anything is fetched: the
/// engine would otherwise stall on a full disk with no clear word. Data
/// already there (a resumed mirror) counts as held.
fn ensure_room(
    data_dir: &Path,
    entries: &[ListEntry],
    chosen: &[usize],
) -> Result<(), MirrorError> {
    let Some(free) = musicark_store::free_bytes(data_dir) else {
        return Ok(());
    };
    let mut needed = 0u64;
    for &i in chosen {
        let have = slot(data_dir, &entries[i])
            .ok()
            .map(|(n, _)| dir_bytes(&data_dir.join(n)))
            .unwrap_or(0);
        needed += entries[i].data_size.saturating_sub(have);
    }
    if needed > free {
        return Err(MirrorError::NoSpace {
            path: data_dir.to_path_buf(),
            needed,
            free,
        });
    }
    Ok(())
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// Verify every held torrent's data as after a download; the names of
/// those that are damaged (the others are reported intact).
async fn scrub(
    held: &[Held],
    entries: &[ListEntry],
    list_dir: &Path,
    data_dir: &Path,
    events: &dyn Events,
) -> Result<Vec<String>, MirrorError> {
    let mut damaged = Vec::new();
    for h in held {
        let Some((entry, save)) = entries.iter().find_map(|e| {
            slot(data_dir, e)
                .ok()
                .filter(|(n, _)| *n == h.name)
                .map(|(_, save)| (e, save))
        }) else {
            continue;
        };
        let torrent =
            musicark_publish::list::torrent_path(list_dir, entry).map_err(MirrorError::List)?;
        let (entry, data) = (entry.clone(), save);
        let ok = tokio::task::spawn_blocking(move || verify_data(&torrent, &data, &entry).is_ok())
            .await
            .map_err(|e| MirrorError::Engine(e.to_string()))?;
        if ok {
            events.scrubbed(&h.name, false);
        } else {
            damaged.push(h.name.clone());
        }
    }
    Ok(damaged)
}

/// Mirror: verify, plan, download, verify, seed; every `replan`, read the
/// list again (fetch it again when it is a URL) and follow a changed plan
/// (torrents now well seeded give their place to those at risk). Blocks
/// until seeding ends (`seed_for`), or forever.
pub fn mirror(options: &MirrorOptions, events: &dyn Events) -> Result<MirrorReport, MirrorError> {
    let (list_dir, entries, chosen) = load(options)?;
    let planned: Vec<String> = chosen
        .iter()
        .map(|&i| entries[i].display_name.clone())
        .collect();
    let total: u64 = chosen.iter().map(|&i| entries[i].data_size).sum();
    events.planned(&planned, total);
    let data_dir = options.dir.join("data");
    std::fs::create_dir_all(&data_dir).map_err(io(&data_dir))?;
    ensure_room(&data_dir, &entries, &chosen)?;
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
                    // µTP beside TCP (librqbit calls its µTP experimental):
                    // clients that try µTP first (qBittorrent, libtorrent)
                    // then reach the mirror without waiting for their µTP
                    // attempt to time out (scripts/bench-qbittorrent.sh).
                    mode: if options.utp {
                        librqbit::ListenerMode::TcpAndUtp
                    } else {
                        librqbit::ListenerMode::TcpOnly
                    },
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
        let (mut entries, mut chosen) = (entries, chosen);
        let started = Instant::now();
        let mut next_replan = options.replan.map(|r| started + r);
        let mut next_scrub = options.scrub.map(|r| started + r);
        loop {
            let end = options.seed_for.map(|d| started + d);
            let wake = [end, next_replan, next_scrub]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::time::sleep_until(wake.into()).await;
            let now = Instant::now();
            if end.is_some_and(|e| now >= e) {
                break;
            }
            if next_scrub.is_some_and(|t| now >= t) {
                next_scrub = options.scrub.map(|r| Instant::now() + r);
                let damaged = scrub(&held, &entries, &list_dir, &data_dir, events).await?;
                if !damaged.is_empty() {
                    // Let the engine check the data again: keep the files,
                    // forget the torrents, add them back (bad pieces are
                    // fetched again), then verify as after a download.
                    let mut kept = Vec::new();
                    for h in held.drain(..) {
                        if damaged.contains(&h.name) {
                            session
                                .delete(h.handle.id().into(), false)
                                .await
                                .map_err(|e| MirrorError::Engine(format!("{e:#}")))?;
                        } else {
                            kept.push(h);
                        }
                    }
                    held = kept;
                    mirrored.extend(
                        converge(
                            &session, &mut held, &entries, &chosen, &list_dir, &data_dir, options,
                            events,
                        )
                        .await?,
                    );
                    for name in &damaged {
                        events.scrubbed(name, true);
                    }
                    events.seeding(port);
                }
            }
            if next_replan.is_none_or(|t| now < t) {
                continue;
            }
            next_replan = options.replan.map(|r| Instant::now() + r);
            // A list that no longer verifies is reported and ignored: the
            // mirror keeps what it has.
            let Ok((_, new_entries, new_chosen)) = load(options) else {
                events.replan_failed();
                continue;
            };
            let names: Vec<String> = new_chosen
                .iter()
                .map(|&i| new_entries[i].display_name.clone())
                .collect();
            if names != planned {
                events.planned(
                    &names,
                    new_chosen.iter().map(|&i| new_entries[i].data_size).sum(),
                );
                mirrored.extend(
                    converge(
                        &session,
                        &mut held,
                        &new_entries,
                        &new_chosen,
                        &list_dir,
                        &data_dir,
                        options,
                        events,
                    )
                    .await?,
                );
                total = new_chosen.iter().map(|&i| new_entries[i].data_size).sum();
                planned = names;
                count = new_entries.len();
                events.seeding(port);
            }
            entries = new_entries;
            chosen = new_chosen;
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

/// Fetch one file of a torrent from its swarm (its trackers, and `peers`
/// given beside them) into `dir`, waiting at most `timeout` without
/// progress: how `fsck --repair` restores a copy that has no other source.
/// Returns the file's path under `dir`; the caller verifies its bytes
/// before trusting them.
pub fn fetch_file(
    torrent: &[u8],
    file_index: usize,
    peers: &[std::net::SocketAddr],
    dir: &Path,
    timeout: Duration,
) -> Result<PathBuf, MirrorError> {
    let meta = musicark_torrent::Metainfo::parse(torrent)
        .map_err(|e| MirrorError::List(format!("torrent: {e}")))?;
    // The index counts pad files, as the engine's and `pack_files` do.
    let entry = meta
        .files
        .get(file_index)
        .ok_or_else(|| MirrorError::List(format!("the torrent has no file {file_index}")))?;
    // Every component was sanitised by the parser: plain names.
    let path = entry.path.iter().fold(dir.to_path_buf(), |p, c| p.join(c));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io(dir))?;
    runtime.block_on(async {
        let session = Session::new_with_opts(
            dir.to_path_buf(),
            SessionOptions {
                dht: None,
                disable_local_service_discovery: true,
                listen: None,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| MirrorError::Engine(format!("{e:#}")))?;
        let handle = session
            .add_torrent(
                AddTorrent::from_bytes(torrent.to_vec()),
                Some(AddTorrentOptions {
                    overwrite: true,
                    only_files: Some(vec![file_index]),
                    output_folder: Some(dir.display().to_string()),
                    initial_peers: (!peers.is_empty()).then(|| peers.to_vec()),
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| MirrorError::Engine(format!("{e:#}")))?
            .into_handle()
            .ok_or_else(|| MirrorError::Engine("torrent not added".into()))?;
        let mut last = (0u64, Instant::now());
        loop {
            let s = handle.stats();
            if s.finished {
                break;
            }
            if s.progress_bytes > last.0 {
                last = (s.progress_bytes, Instant::now());
            } else if last.1.elapsed() > timeout {
                return Err(MirrorError::Timeout(format!(
                    "{} of {}",
                    entry.path.join("/"),
                    meta.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = session.delete(handle.id().into(), false).await;
        Ok::<_, MirrorError>(())
    })?;
    Ok(path)
}
