//! Fetching a signed list over HTTP(S) without trusting its server.
//!
//! Order matters: the list and its signature are fetched (bounded,
//! streamed to disk, with connect and read timeouts), the signature is
//! checked against the key the operator gave, and only then is anything
//! the list names fetched. Every name is confined to the folder the list
//! lands in. A list that fails any step leaves the previous copy in place.
//!
//! Must never: trust a key served beside the list, hold an answer whole in
//! memory, or write outside the destination folder.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use minisign::PublicKey;
use musicark_publish::list::{self, ListEntry};

use crate::FollowError;

/// Bounds on every HTTP answer.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Time to open the connection.
    pub connect: Duration,
    /// Longest silence while waiting for the answer or its next bytes.
    pub read: Duration,
    /// Largest list (the JSON) accepted.
    pub max_list_bytes: u64,
    /// Largest .torrent accepted.
    pub max_torrent_bytes: u64,
}

impl Default for FetchLimits {
    fn default() -> FetchLimits {
        FetchLimits {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            max_list_bytes: list::MAX_LIST_BYTES,
            max_torrent_bytes: list::MAX_TORRENT_BYTES,
        }
    }
}

/// The largest signature or key file accepted.
const MAX_SMALL_BYTES: u64 = 16 << 10;

pub fn agent(limits: &FetchLimits) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(limits.connect))
        .timeout_resolve(Some(limits.connect))
        .timeout_recv_response(Some(limits.read))
        .timeout_per_read(Some(limits.read))
        .max_redirects(5)
        .build()
        .new_agent()
}

/// A local path named by `url`: `file://PATH`, or a URL with no scheme
/// (a plain path). `None` for http(s).
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    (!url.contains("://")).then(|| PathBuf::from(url))
}

/// A body to read, and its declared length when known.
type Opened = (Box<dyn Read + Send>, Option<u64>);

/// A reader over what `url` names, with its declared length when known:
/// a local file (`file://` or a plain path) or an HTTP(S) answer. `Ok(None)`
/// when it does not exist (a 404, a missing file).
fn open(agent: &ureq::Agent, url: &str) -> Result<Option<Opened>, FollowError> {
    let fail = |what: String| FollowError::Fetch {
        url: url.to_string(),
        what,
    };
    if let Some(path) = local_path(url) {
        return match std::fs::File::open(&path) {
            Ok(f) => {
                let len = f.metadata().map_err(crate::io(&path))?.len();
                Ok(Some((Box::new(f), Some(len))))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fail(e.to_string())),
        };
    }
    match agent.get(url).call() {
        Ok(response) => {
            let len = response.body().content_length();
            Ok(Some((Box::new(response.into_body().into_reader()), len)))
        }
        Err(ureq::Error::StatusCode(404)) => Ok(None),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Refuse an answer whose declared length passes `max`, before reading it.
fn refuse_declared(url: &str, declared: Option<u64>, max: u64) -> Result<(), FollowError> {
    match declared {
        Some(len) if len > max => Err(FollowError::Fetch {
            url: url.to_string(),
            what: format!("the answer is {len} bytes, more than the {max} bytes allowed"),
        }),
        _ => Ok(()),
    }
}

/// Copy at most `max` bytes of `reader` into `sink`: a larger declared
/// length is refused before anything is read, a longer body when it
/// passes the bound.
fn copy_bounded(
    url: &str,
    reader: Box<dyn Read + Send>,
    declared: Option<u64>,
    max: u64,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), FollowError>,
) -> Result<u64, FollowError> {
    let fail = |what: String| FollowError::Fetch {
        url: url.to_string(),
        what,
    };
    refuse_declared(url, declared, max)?;
    let mut reader = reader.take(max + 1);
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(format!("while reading the answer: {e}"))),
        };
        total += n as u64;
        if total > max {
            return Err(fail(format!(
                "the answer is longer than the {max} bytes allowed"
            )));
        }
        sink(&buf[..n])?;
    }
    Ok(total)
}

/// What `url` names, in memory, at most `max` bytes; `Ok(None)` when it
/// does not exist.
pub fn get_optional(
    agent: &ureq::Agent,
    url: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, FollowError> {
    let Some((reader, declared)) = open(agent, url)? else {
        return Ok(None);
    };
    let fail = |what: String| FollowError::Fetch {
        url: url.to_string(),
        what,
    };
    refuse_declared(url, declared, max)?;
    // Straight into the answer's own buffer (a million small .torrent
    // files are read this way: no staging buffer to clear each time).
    let mut out = Vec::with_capacity(declared.unwrap_or(0).min(max) as usize + 1);
    reader
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| fail(format!("while reading the answer: {e}")))?;
    if out.len() as u64 > max {
        return Err(fail(format!(
            "the answer is longer than the {max} bytes allowed"
        )));
    }
    Ok(Some(out))
}

/// What `url` names, in memory, at most `max` bytes.
pub fn get(agent: &ureq::Agent, url: &str, max: u64) -> Result<Vec<u8>, FollowError> {
    get_optional(agent, url, max)?.ok_or_else(|| FollowError::Fetch {
        url: url.to_string(),
        what: "not found".into(),
    })
}

/// GET `url` (or read it, when local) into `to` (a temporary file beside
/// it, fsynced, renamed), at most `max` bytes: a larger declared length is
/// refused before the body is read, a longer body when it passes the
/// bound.
pub fn fetch_to(agent: &ureq::Agent, url: &str, to: &Path, max: u64) -> Result<u64, FollowError> {
    let (reader, declared) = open(agent, url)?.ok_or_else(|| FollowError::Fetch {
        url: url.to_string(),
        what: "not found".into(),
    })?;
    let tmp = to.with_extension("part");
    let mut file = std::fs::File::create(&tmp).map_err(crate::io(&tmp))?;
    let result = copy_bounded(url, reader, declared, max, &mut |b| {
        file.write_all(b).map_err(crate::io(&tmp))
    })
    .and_then(|total| {
        file.sync_all().map_err(crate::io(&tmp))?;
        std::fs::rename(&tmp, to).map_err(crate::io(to))?;
        Ok(total)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The `.pub` served beside a list, for `--trust-on-first-use` only: the
/// one time a key is taken from the publisher's server, on the operator's
/// explicit word, and then pinned. Fetched into `dir` (the mirror's
/// folder) and removed once read.
pub fn fetch_key_beside(
    url: &str,
    limits: &FetchLimits,
    dir: &Path,
) -> Result<PublicKey, FollowError> {
    std::fs::create_dir_all(dir).map_err(crate::io(dir))?;
    let path = dir.join("served.pub");
    let fetched = fetch_to(
        &agent(limits),
        &format!("{url}.pub"),
        &path,
        MAX_SMALL_BYTES,
    )
    .and_then(|_| std::fs::read_to_string(&path).map_err(crate::io(&path)));
    let _ = std::fs::remove_file(&path);
    list::parse_public_key(&fetched?).map_err(|e| FollowError::List(format!("{url}.pub: {e}")))
}

/// The file name a list URL is saved under (its last segment, when that
/// is a plain name; else `torrents.json`).
pub fn list_file_name(url: &str) -> String {
    let last = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("");
    list::confined_name(last).map_or_else(|_| "torrents.json".to_string(), str::to_string)
}

/// Fetch the list at `url` into `dir` (replacing what is there only when
/// the new one verifies): list and signature first, signature checked by
/// `key`, then every .torrent it names (confined below `dir`), then the
/// whole list verified as `list verify` does. Returns the list's path.
pub fn fetch_verified_list(
    url: &str,
    key: &PublicKey,
    dir: &Path,
    limits: &FetchLimits,
) -> Result<PathBuf, FollowError> {
    let agent = agent(limits);
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(crate::io(parent))?;
    let staging = parent.join(format!(
        ".{}.incoming",
        dir.file_name()
            .map_or("list".into(), |n| n.to_string_lossy())
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("torrents")).map_err(crate::io(&staging))?;
    let result = (|| {
        let name = list_file_name(url);
        let path = staging.join(&name);
        fetch_to(&agent, url, &path, limits.max_list_bytes)?;
        let sig_path = staging.join(format!("{name}.minisig"));
        fetch_to(
            &agent,
            &format!("{url}.minisig"),
            &sig_path,
            MAX_SMALL_BYTES,
        )?;
        // The signature before anything else: an unsigned list names
        // nothing we fetch.
        let sig = std::fs::read_to_string(&sig_path).map_err(crate::io(&sig_path))?;
        let file = std::fs::File::open(&path).map_err(crate::io(&path))?;
        list::check_signature(key, &sig, std::io::BufReader::new(file)).map_err(|e| {
            FollowError::Untrusted(format!(
                "{url}: {e} (by the key you gave, {})",
                list::public_key_id(key)
            ))
        })?;
        let file = std::fs::File::open(&path).map_err(crate::io(&path))?;
        let entries: Vec<ListEntry> = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| FollowError::List(format!("{url}: schema: {e}")))?;
        let base = &url[..url.rfind('/').map_or(0, |i| i + 1)];
        // Embargoed torrents are listed without their .torrent.
        for e in entries.iter().filter(|e| !e.embargo) {
            let local = list::torrent_path(&staging, e)
                .map_err(|why| FollowError::List(format!("{url}: {why}")))?;
            if let Some(p) = local.parent() {
                std::fs::create_dir_all(p).map_err(crate::io(p))?;
            }
            let from = if e.url.contains("://") {
                e.url.clone()
            } else {
                format!("{base}{}", e.url)
            };
            fetch_to(&agent, &from, &local, limits.max_torrent_bytes)?;
        }
        let report =
            list::verify(&path, Some(key)).map_err(|e| FollowError::List(e.to_string()))?;
        if !report.ok() {
            return Err(FollowError::List(format!(
                "{url} does not verify: {}",
                report.problems.join("; ")
            )));
        }
        Ok(name)
    })();
    match result {
        Ok(name) => {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::rename(&staging, dir).map_err(crate::io(dir))?;
            Ok(dir.join(name))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}
