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

use crate::MirrorError;

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

fn agent(limits: &FetchLimits) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(limits.connect))
        .timeout_resolve(Some(limits.connect))
        .timeout_recv_response(Some(limits.read))
        .timeout_per_read(Some(limits.read))
        .max_redirects(5)
        .build()
        .new_agent()
}

/// GET `url` into `to` (a temporary file beside it, fsynced, renamed), at
/// most `max` bytes: a larger declared length is refused before the body
/// is read, a longer body when it passes the bound.
pub fn fetch_to(agent: &ureq::Agent, url: &str, to: &Path, max: u64) -> Result<u64, MirrorError> {
    let fail = |what: String| MirrorError::Fetch {
        url: url.to_string(),
        what,
    };
    let mut response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    if let Some(len) = response.body().content_length()
        && len > max
    {
        return Err(fail(format!(
            "the answer is {len} bytes, more than the {max} bytes allowed"
        )));
    }
    let tmp = to.with_extension("part");
    let mut file = std::fs::File::create(&tmp).map_err(crate::io(&tmp))?;
    let mut reader = response.body_mut().as_reader().take(max + 1);
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    let result = (|| {
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
            file.write_all(&buf[..n]).map_err(crate::io(&tmp))?;
        }
        file.sync_all().map_err(crate::io(&tmp))?;
        std::fs::rename(&tmp, to).map_err(crate::io(to))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| total)
}

/// The `.pub` served beside a list, for `--trust-on-first-use` only: the
/// one time a key is taken from the publisher's server, on the operator's
/// explicit word, and then pinned. Fetched into `dir` (the mirror's
/// folder) and removed once read.
pub fn fetch_key_beside(
    url: &str,
    limits: &FetchLimits,
    dir: &Path,
) -> Result<PublicKey, MirrorError> {
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
    list::parse_public_key(&fetched?).map_err(|e| MirrorError::List(format!("{url}.pub: {e}")))
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
) -> Result<PathBuf, MirrorError> {
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
            MirrorError::Untrusted(format!(
                "{url}: {e} (by the key you gave, {})",
                list::public_key_id(key)
            ))
        })?;
        let file = std::fs::File::open(&path).map_err(crate::io(&path))?;
        let entries: Vec<ListEntry> = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| MirrorError::List(format!("{url}: schema: {e}")))?;
        let base = &url[..url.rfind('/').map_or(0, |i| i + 1)];
        // Embargoed torrents are listed without their .torrent.
        for e in entries.iter().filter(|e| !e.embargo) {
            let local = list::torrent_path(&staging, e)
                .map_err(|why| MirrorError::List(format!("{url}: {why}")))?;
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
            list::verify(&path, Some(key)).map_err(|e| MirrorError::List(e.to_string()))?;
        if !report.ok() {
            return Err(MirrorError::List(format!(
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
