//! A pack's hashing as a queued job (`pack --queue`, archives on
//! PostgreSQL with blobs in object storage).
//!
//! The host plans each pack as `pack` does, writes its manifest, lays the
//! manifest out in the bucket beside where the pack's files will be, and
//! queues one job per pack. A worker streams the pack's blobs and the
//! manifest from the bucket and hands back every piece hash and each
//! file's BLAKE3 ([`Hashed`], as the job's result). The host then checks
//! those digests against the records (rotten bytes are never published),
//! builds the torrent and records the pack exactly as `pack` does, in
//! order. A job's payload names everything its result depends on (the
//! blobs by content id, the manifest by its BLAKE3), so a result is used
//! only for the pack it was made for; any other way the host hashes the
//! pack itself.

use std::sync::Arc;

use musicark_store::{BlobStore, ContentId, Home};
use musicark_torrent::{
    FileDigests, FileWant, HashOptions, Hashes, InputFile, Layout, Mode, Source,
    hash_layout_and_files,
};
use serde::{Deserialize, Serialize};

use crate::PublishError;
use crate::pack::MANIFEST;

/// The queue's name for "hash one pack".
pub const JOB_KIND: &str = "pack";

#[derive(Debug, Serialize, Deserialize)]
struct HashJob {
    name: String,
    hybrid: bool,
    /// The layout's input files, by source index.
    files: Vec<JobFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JobFile {
    path: Vec<String>,
    length: u64,
    /// Read from this blob …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blob: Option<String>,
    /// … or from this path laid out in the bucket (the manifest), whose
    /// BLAKE3 this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    laid_out: Option<(String, String)>,
}

/// What a worker hands back: the torrent's hashes and each layout file's
/// digest, hex.
#[derive(Debug, Serialize, Deserialize)]
struct JobResult {
    v1: String,
    roots: Vec<Option<String>>,
    layers: Vec<Option<Vec<String>>>,
    digests: Vec<Option<(String, u64)>>,
}

/// A worker's hashes for a pack, with the payload they were made for.
pub(crate) struct Hashed {
    pub payload: String,
    pub hashes: Hashes,
    pub digests: Vec<Option<FileDigests>>,
}

/// The job for a pack whose every audio file streams from its blob (`None`
/// for a pack with files placed on this host: it is hashed here).
pub(crate) fn payload(
    name: &str,
    hybrid: bool,
    layout: &Layout,
    streamed: &[Option<ContentId>],
    manifest_blake3: &str,
) -> Option<String> {
    let mut files: Vec<&InputFile> = layout.files.iter().collect();
    files.sort_by_key(|f| f.source);
    let files = files
        .into_iter()
        .map(|f| {
            let (blob, laid_out) = if f.source < streamed.len() {
                (Some(streamed[f.source].as_ref()?.to_string()), None)
            } else {
                (
                    None,
                    Some((format!("{name}/{MANIFEST}"), manifest_blake3.to_string())),
                )
            };
            Some(JobFile {
                path: f.path.clone(),
                length: f.length,
                blob,
                laid_out,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    serde_json::to_string(&HashJob {
        name: name.to_string(),
        hybrid,
        files,
    })
    .ok()
}

/// A done job's result, read back (`None` when it cannot be read: the
/// host hashes the pack itself).
pub(crate) fn hashed(payload: String, result: &str) -> Option<Hashed> {
    let r: JobResult = serde_json::from_str(result).ok()?;
    let h256 = |s: &str| -> Option<[u8; 32]> { hex::decode(s).ok()?.try_into().ok() };
    let v1 = hex::decode(&r.v1).ok()?;
    if v1.len() % 20 != 0 {
        return None;
    }
    // A file with no root (or no layer) is `None`; a hash that does not
    // read is the whole result unreadable.
    let hashes = Hashes {
        v1: v1
            .chunks_exact(20)
            .map(|c| c.try_into().unwrap_or([0; 20]))
            .collect(),
        roots: r
            .roots
            .iter()
            .map(|root| match root {
                None => Some(None),
                Some(s) => h256(s).map(Some),
            })
            .collect::<Option<_>>()?,
        layers: r
            .layers
            .iter()
            .map(|layer| match layer {
                None => Some(None),
                Some(l) => l
                    .iter()
                    .map(|s| h256(s))
                    .collect::<Option<Vec<_>>>()
                    .map(Some),
            })
            .collect::<Option<_>>()?,
    };
    let digests = r
        .digests
        .into_iter()
        .map(|d| {
            d.map(|(blake3, len)| FileDigests {
                blake3: Some(blake3),
                sha256: None,
                len,
            })
        })
        .collect();
    Some(Hashed {
        payload,
        hashes,
        digests,
    })
}

/// Carry out one queued pack hashing on this worker: stream every file
/// from the bucket once, return the result (JSON) for the host.
/// `Ok(Err(reason))` fails the job (a blob that cannot be read, a
/// manifest that is not the one queued); the host then hashes the pack
/// itself and reports the file.
pub fn hash_queued(home: &Home, payload: &str) -> Result<Result<String, String>, PublishError> {
    let job: HashJob = match serde_json::from_str(payload) {
        Ok(j) => j,
        Err(e) => return Ok(Err(format!("unreadable pack job: {e}"))),
    };
    let blobs: Arc<dyn BlobStore> = home.blobs()?;
    let mut files = Vec::with_capacity(job.files.len());
    let mut sources = Vec::with_capacity(job.files.len());
    let mut expected = Vec::with_capacity(job.files.len());
    for (i, f) in job.files.iter().enumerate() {
        files.push(InputFile {
            path: f.path.clone(),
            length: f.length,
            source: i,
        });
        let source = match (&f.blob, &f.laid_out) {
            (Some(blob), _) => {
                let Some(id) = ContentId::parse(blob) else {
                    return Ok(Err(format!("unreadable pack job: blob {blob:?}")));
                };
                expected.push(blob.clone());
                let blobs = blobs.clone();
                Source::Stream(Arc::new(move |offset| blobs.open_at(&id, offset)))
            }
            (None, Some((at, blake3))) => {
                expected.push(blake3.clone());
                let blobs = blobs.clone();
                let at = at.clone();
                Source::Stream(Arc::new(move |offset| blobs.open_laid_out(&at, offset)))
            }
            (None, None) => return Ok(Err("unreadable pack job: a file with no source".into())),
        };
        sources.push(source);
    }
    let mode = if job.hybrid { Mode::Hybrid } else { Mode::V1 };
    let layout = Layout::plan(job.name.clone(), files, false, mode, None, false);
    let wants: Vec<FileWant> = layout
        .files
        .iter()
        .map(|_| FileWant {
            blake3: true,
            sha256: false,
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) * 2;
    let (hashes, digests) =
        match hash_layout_and_files(&layout, &sources, HashOptions { threads }, &wants) {
            Ok(h) => h,
            Err(e) => return Ok(Err(format!("{}: cannot read: {e}", job.name))),
        };
    // The manifest must be the one queued; the blobs are checked by the
    // host against its records.
    for (f, d) in layout.files.iter().zip(&digests) {
        if job.files[f.source].laid_out.is_none() {
            continue;
        }
        let got = d
            .as_ref()
            .and_then(|d| d.blake3.clone())
            .unwrap_or_default();
        if got != expected[f.source] {
            return Ok(Err(format!(
                "{}: the manifest in the bucket is not the one queued",
                job.name
            )));
        }
    }
    Ok(Ok(encode(&hashes, digests)))
}

/// A worker's hashes as its job's result, which [`hashed`] reads back.
fn encode(hashes: &Hashes, digests: Vec<Option<FileDigests>>) -> String {
    let result = JobResult {
        v1: hashes.v1.iter().map(hex::encode).collect(),
        roots: hashes.roots.iter().map(|r| r.map(hex::encode)).collect(),
        layers: hashes
            .layers
            .iter()
            .map(|l| l.as_ref().map(|l| l.iter().map(hex::encode).collect()))
            .collect(),
        digests: digests
            .into_iter()
            .map(|d| d.map(|d| (d.blake3.unwrap_or_default(), d.len)))
            .collect(),
    };
    serde_json::to_string(&result).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_reads_back_as_the_hashes_it_was_made_of_and_nothing_else() {
        let hashes = Hashes {
            v1: vec![[1; 20], [2; 20]],
            roots: vec![Some([3; 32]), None],
            layers: vec![Some(vec![[4; 32], [5; 32]]), None],
        };
        let digests = vec![
            Some(FileDigests {
                blake3: Some("ab".repeat(32)),
                sha256: None,
                len: 7,
            }),
            None,
        ];
        let text = encode(&hashes, digests.clone());
        let back = hashed("payload".into(), &text).expect("reads back");
        assert_eq!(back.payload, "payload");
        assert_eq!(
            (back.hashes.v1, back.hashes.roots, back.hashes.layers),
            (hashes.v1, hashes.roots, hashes.layers)
        );
        assert_eq!(back.digests, digests);
        // A piece list cut short, a root that is not 32 bytes: unreadable,
        // so the host hashes the pack itself.
        let cut = text.replacen(&hex::encode([2u8; 20]), "0202", 1);
        assert!(hashed(String::new(), &cut).is_none());
        let short = text.replacen(&hex::encode([3u8; 32]), "03", 1);
        assert!(hashed(String::new(), &short).is_none());
        assert!(hashed(String::new(), "not json").is_none());
    }
}
