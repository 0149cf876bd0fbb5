//! Stage 1: stream the trees into the work queue.
//!
//! Symlinks are followed (collections are often assembled with them); a
//! link back to an ancestor is reported as an error entry, not followed.
//! Paths are kept as raw bytes: names that are not UTF-8 are fine.

use std::path::Path;
use std::time::UNIX_EPOCH;

use musicark_store::Db;
use musicark_store::records::{FileKey, FileRecord, FileStatus, queue_pending};
use walkdir::WalkDir;

use crate::{IngestError, Progress, Writer};

/// Queue inserts per transaction during the walk.
const WALK_BATCH: usize = 1000;

#[derive(Debug, Default)]
pub(crate) struct Walked {
    pub seen: u64,
    pub unchanged: u64,
    pub errors: u64,
    pub skipped: u64,
}

pub(crate) fn path_bytes(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().as_bytes().to_vec()
    }
}

pub(crate) fn path_from_bytes(bytes: &[u8]) -> std::path::PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        std::path::PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

pub(crate) fn key_for(path: &Path, meta: &std::fs::Metadata) -> FileKey {
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0);
    FileKey {
        path: path_bytes(path),
        display_path: path.to_string_lossy().into_owned(),
        size: meta.len(),
        mtime_ns,
    }
}

fn problem(path: &Path, status: FileStatus, reason: String, reference: bool) -> FileRecord {
    FileRecord {
        key: FileKey {
            path: path_bytes(path),
            display_path: path.to_string_lossy().into_owned(),
            size: 0,
            mtime_ns: 0,
        },
        content_id: None,
        status,
        reason: Some(reason),
        reference,
    }
}

pub(crate) fn walk(
    db: &mut Db,
    roots: &[std::path::PathBuf],
    run_id: i64,
    reference: bool,
    progress: &dyn Progress,
) -> Result<Walked, IngestError> {
    let mut walked = Walked::default();
    let mut queue: Vec<FileKey> = Vec::with_capacity(WALK_BATCH);
    let mut problems: Vec<FileRecord> = Vec::new();
    let flush = |db: &mut Db,
                 queue: &mut Vec<FileKey>,
                 problems: &mut Vec<FileRecord>|
     -> Result<(), IngestError> {
        let tx = db.transaction().map_err(musicark_store::StoreError::from)?;
        for key in queue.drain(..) {
            queue_pending(&tx, run_id, &key)?;
        }
        tx.commit().map_err(musicark_store::StoreError::from)?;
        let mut writer = Writer::new(db, run_id);
        for p in problems.drain(..) {
            writer.push(p, None, false)?;
        }
        writer.flush()?;
        Ok(())
    };
    for root in roots {
        for entry in WalkDir::new(root).follow_links(true) {
            let entry = match entry {
                Ok(e) => e,
                Err(err) => {
                    let path = err.path().unwrap_or(root).to_path_buf();
                    let reason = match err.loop_ancestor() {
                        Some(anc) => format!("symlink loop: leads back to {}", anc.display()),
                        None => match err.io_error() {
                            Some(io) => format!("cannot read: {io}"),
                            None => format!("cannot walk: {err}"),
                        },
                    };
                    walked.errors += 1;
                    problems.push(problem(&path, FileStatus::Error, reason, reference));
                    continue;
                }
            };
            let ft = entry.file_type();
            if ft.is_dir() {
                continue;
            }
            walked.seen += 1;
            if walked.seen % 1024 == 0 {
                progress.walking(walked.seen);
            }
            if !ft.is_file() {
                walked.skipped += 1;
                problems.push(problem(
                    entry.path(),
                    FileStatus::Skipped,
                    "not a regular file (fifo, socket or device)".into(),
                    reference,
                ));
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(err) => {
                    walked.errors += 1;
                    problems.push(problem(
                        entry.path(),
                        FileStatus::Error,
                        format!("cannot read metadata: {err}"),
                        reference,
                    ));
                    continue;
                }
            };
            let key = key_for(entry.path(), &meta);
            if db.is_unchanged(&key)? {
                walked.unchanged += 1;
                continue;
            }
            queue.push(key);
            if queue.len() >= WALK_BATCH || problems.len() >= WALK_BATCH {
                flush(db, &mut queue, &mut problems)?;
            }
        }
    }
    flush(db, &mut queue, &mut problems)?;
    progress.walking(walked.seen);
    Ok(walked)
}
