//! `musicark export --license ID,…`: preserved audio and its metadata
//! restricted to the given licences — the honest way to build a research
//! or training dataset. Taken-down and embargoed recordings are never
//! exported, whatever their licence.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use musicark_store::{ContentId, Db, Home, atomic_write};

use crate::PublishError;
use crate::pack::{
    ManifestEntry, Withheld, fingerprint_of, hash_file_both, link_or_copy, reject_rotten,
    unpacked_items,
};
use crate::paths::Unique;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The audio files and `metadata.jsonl`.
    Files,
    /// `metadata.jsonl` only.
    Jsonl,
}

/// One exported item: its manifest line plus its rights.
#[derive(Debug, Clone, Serialize)]
pub struct ExportLine<'a> {
    #[serde(flatten)]
    pub entry: &'a ManifestEntry,
    pub license: &'a str,
    /// tag | operator | catalogue
    pub license_source: &'a str,
    pub license_tag: Option<&'a str>,
    pub copyright: Option<&'a str>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    pub out: PathBuf,
    pub licenses: Vec<String>,
    pub items: usize,
    pub bytes: u64,
    /// Items per licence.
    pub by_license: BTreeMap<String, usize>,
    /// Preserved copies under other licences (or none), not exported.
    pub other_licenses: usize,
    /// Copies under an asked licence left out by a takedown or embargo.
    pub withheld: usize,
    /// Ingested audio under an asked licence with no preserved copy yet
    /// (export writes preserved copies only: `musicark preserve` makes
    /// them).
    pub not_preserved: usize,
    /// Copies whose bytes no longer hash to their recorded BLAKE3: never
    /// exported, moved to the quarantine; (path, reason).
    pub failed: Vec<(String, String)>,
    pub metadata: PathBuf,
}

/// Export the preserved copies whose licence is one of `licenses`
/// (canonical ids) into `out`.
pub fn export(
    home: &Home,
    db: &Db,
    licenses: &[String],
    out: &Path,
    format: Format,
) -> Result<ExportReport, PublishError> {
    let wanted: BTreeSet<&str> = licenses.iter().map(String::as_str).collect();
    let now = musicark_store::clock::now_seconds();
    let mut withheld = Withheld::load(home, db, &now)?;
    withheld.allow = None;
    let rights = std::mem::take(&mut withheld.rights);
    let mut left_out = Vec::new();
    let mut left_out_by = BTreeMap::new();
    let (items, _, _) = unpacked_items(home, db, &withheld, &mut left_out, &mut left_out_by, true)?;
    let mut report = ExportReport {
        out: out.to_path_buf(),
        licenses: licenses.to_vec(),
        metadata: out.join("metadata.jsonl"),
        ..Default::default()
    };
    std::fs::create_dir_all(out).map_err(|e| PublishError::io(out, e))?;
    let mut unique = Unique::new(&["metadata.jsonl"]);
    let mut lines = Vec::new();
    let mut chosen = Vec::new();
    for item in &items {
        let Some(r) = rights.get(&item.entry.source_blake3) else {
            report.other_licenses += 1;
            continue;
        };
        let Some(license) = r.license.as_deref().filter(|l| wanted.contains(l)) else {
            report.other_licenses += 1;
            continue;
        };
        let path = unique.claim(item.path.clone());
        let mut entry = item.entry.clone();
        entry.path = path.join("/");
        chosen.push((item, entry, license, r));
    }
    chosen.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    let mut buf = vec![0u8; 1 << 20];
    let blobs = home.blobs()?;
    for (item, entry, license, r) in &mut chosen {
        // A blob in object storage is read from a verified local copy,
        // dropped once exported.
        let _copy = match ContentId::parse(&entry.blake3)
            .filter(|id| !blobs.is_local() && blobs.local_path(id) == item.local)
        {
            Some(id) => match musicark_store::LocalCopy::new(&*blobs, &id) {
                Ok(copy) => Some(copy),
                Err(musicark_store::StoreError::Rotten { actual, .. }) => {
                    let why = reject_rotten(home, &item.local, &entry.blake3, &actual);
                    report.failed.push((item.local.display().to_string(), why));
                    continue;
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let (sha, b3, len) =
            hash_file_both(&item.local, &mut buf).map_err(|e| PublishError::io(&item.local, e))?;
        if b3 != entry.blake3 || len != entry.size {
            let why = reject_rotten(home, &item.local, &entry.blake3, &b3);
            report.failed.push((item.local.display().to_string(), why));
            continue;
        }
        entry.sha256 = sha;
        entry.fingerprint = fingerprint_of(db, &entry.source_blake3)?;
        if format == Format::Files {
            let dst = out.join(&entry.path);
            let tmp = dst.with_extension("part");
            let _ = std::fs::remove_file(&tmp);
            link_or_copy(&item.local, &tmp).map_err(|e| PublishError::io(&item.local, e))?;
            std::fs::rename(&tmp, &dst).map_err(|e| PublishError::io(&dst, e))?;
        }
        let line = ExportLine {
            entry: &*entry,
            license,
            license_source: &r.source,
            license_tag: r.license_tag.as_deref(),
            copyright: r.copyright.as_deref(),
        };
        serde_json::to_writer(&mut lines, &line)?;
        lines
            .write_all(b"\n")
            .map_err(|e| PublishError::io(out, e))?;
        report.items += 1;
        report.bytes += entry.size;
        *report.by_license.entry((*license).to_string()).or_default() += 1;
    }
    // Those withheld are not in `items`: count the ones under an asked
    // licence (the first 1000 withheld are listed one by one).
    report.withheld = left_out
        .iter()
        .filter(|l| {
            rights
                .get(&l.source_id)
                .and_then(|r| r.license.as_deref())
                .is_some_and(|lic| wanted.contains(lic))
        })
        .count();
    // Ingested under an asked licence but never preserved: export holds
    // preserved copies only, so say how many wait for `preserve`.
    let preserved: std::collections::HashSet<String> = db
        .prepare("SELECT source_id FROM preserved")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    report.not_preserved = rights
        .iter()
        .filter(|(id, r)| {
            !preserved.contains(*id) && r.license.as_deref().is_some_and(|l| wanted.contains(l))
        })
        .count();
    atomic_write(&report.metadata, &lines)?;
    Ok(report)
}
