//! Ingest: turn the files under some roots into archive records.
//!
//! Three stages, each bounded in memory whatever the collection's size:
//!
//! 1. **Walk** ([`walk`]): stream the trees; every file that is new or
//!    changed since the last run (path, size, mtime) goes into the
//!    catalogue's `pending` table, on disk, not in memory.
//! 2. **Work**: a feeder pages through `pending` largest first; `jobs`
//!    workers hash each file (BLAKE3 and SHA-256 in one read), skip analysis
//!    when the bytes are already known, else decode and check it fully
//!    ([`musicark_audio::analyze_file`]) and copy it into the blob store.
//! 3. **Record**: one writer commits outcomes in small transactions; each
//!    file's row and the removal of its `pending` row commit together.
//!
//! *Invariant*: a `kill -9` at any moment followed by a rerun ends with the
//! same catalogue as one clean run: blobs are durable before the row that
//! names them, rows commit atomically, and a rerun walks again and finds
//! exactly the files that are not yet recorded.
//!
//! *Boundary*: ingest records what files are; it decides no tiers and
//! matches nothing to the catalogue.

mod queued;
mod walk;
mod work;

pub use queued::{Enqueued, JOB_KIND, enqueue, summarize, work_queued};

use std::path::PathBuf;
use std::time::{Duration, Instant};

use musicark_store::records::{FileRecord, record_file};
use musicark_store::{Home, RunSummary, StoreError};

/// What to ingest, and how.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub roots: Vec<PathBuf>,
    /// Record files where they are instead of copying them into the store.
    pub reference: bool,
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// The operator's rights statement for files under these roots whose
    /// own tags name no licence (an SPDX id or RightsStatements.org URI).
    pub rights: Option<String>,
}

/// Hooks for progress display; the binary draws bars, tests ignore them.
pub trait Progress: Sync {
    /// The walk has found `seen` files so far.
    fn walking(&self, _seen: u64) {}
    /// The work queue is known: `files` files of `bytes` bytes to process.
    fn start(&self, _files: u64, _bytes: u64) {}
    /// One file is recorded.
    fn file_done(&self, _bytes: u64, _display_path: &str) {}
}

/// Progress that shows nothing.
pub struct Quiet;
impl Progress for Quiet {}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: no such file or directory", .0.display())]
    RootMissing(PathBuf),
    #[error("a worker thread failed: {0}")]
    Worker(String),
}

/// Commit the writer's transaction after this many records …
const COMMIT_EVERY: usize = 64;
/// … or after this long, whichever comes first.
const COMMIT_INTERVAL: Duration = Duration::from_millis(250);

/// Ingest `options.roots` into the archive at `home`.
pub fn ingest(
    home: &Home,
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<RunSummary, IngestError> {
    let started = Instant::now();
    let roots = absolute_roots(&options.roots)?;
    // On PostgreSQL other ingests and a catalogue import may run too.
    let _lock = home.lock(musicark_store::Writers::Ingest)?;
    home.blobs()?.clean_staging()?;
    let mut db = home.db()?;
    let mut summary = begin_and_walk(&mut db, &roots, options, progress)?;
    let run_id = summary.run_id;

    // Stages 2 and 3.
    let (files, bytes) = db.pending_totals(run_id)?;
    progress.start(files, bytes);
    let jobs = options.jobs.max(1);
    work::run(
        home,
        &mut db,
        run_id,
        options.reference,
        jobs,
        progress,
        &mut summary,
    )?;

    summary.wall_seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_string(&summary).unwrap_or_default();
    db.finish_run(run_id, &json)?;
    Ok(summary)
}

/// The roots as absolute paths; a missing one is an error before anything
/// is written.
fn absolute_roots(roots: &[PathBuf]) -> Result<Vec<PathBuf>, IngestError> {
    let mut out = Vec::with_capacity(roots.len());
    for root in roots {
        if std::fs::symlink_metadata(root).is_err() {
            return Err(IngestError::RootMissing(root.clone()));
        }
        out.push(std::path::absolute(root).map_err(|e| StoreError::io(root, e))?);
    }
    Ok(out)
}

/// Stage 1, whether the files are then worked here or by workers: begin a
/// run over `roots` and walk them. Unreadable entries are recorded right
/// away. The run's summary so far.
fn begin_and_walk(
    db: &mut musicark_store::Db,
    roots: &[PathBuf],
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<RunSummary, IngestError> {
    let display_roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    let run_id = db.begin_run(&display_roots, options.reference, options.rights.as_deref())?;
    let walked = walk::walk(db, roots, run_id, options.reference, progress)?;
    Ok(RunSummary {
        run_id,
        seen: walked.seen,
        unchanged: walked.unchanged,
        errors: walked.errors,
        skipped: walked.skipped,
        ..Default::default()
    })
}

/// Batches writes into short transactions.
pub(crate) struct Writer<'a> {
    db: &'a mut musicark_store::Db,
    run_id: i64,
    batch: Vec<(
        FileRecord,
        Option<musicark_store::records::ContentRecord>,
        bool,
    )>,
    last_commit: Instant,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(db: &'a mut musicark_store::Db, run_id: i64) -> Writer<'a> {
        Writer {
            db,
            run_id,
            batch: Vec::new(),
            last_commit: Instant::now(),
        }
    }

    pub(crate) fn push(
        &mut self,
        file: FileRecord,
        content: Option<musicark_store::records::ContentRecord>,
        stored_now: bool,
    ) -> Result<(), StoreError> {
        self.batch.push((file, content, stored_now));
        if self.batch.len() >= COMMIT_EVERY || self.last_commit.elapsed() >= COMMIT_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        // Writers running together (PostgreSQL) may deadlock on the same
        // rows: the server aborts one transaction, which is run again.
        let mut tries = 0;
        while !self.batch.is_empty() {
            let written = (|| -> Result<(), StoreError> {
                let tx = self.db.transaction()?;
                for (file, content, stored_now) in &self.batch {
                    record_file(&tx, self.run_id, file, content.as_ref(), *stored_now)?;
                }
                Ok(tx.commit()?)
            })();
            match written {
                Ok(()) => self.batch.clear(),
                Err(StoreError::Database(e))
                    if musicark_store::sql::is_retryable(&e) && tries < 10 =>
                {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10 << tries.min(5)));
                }
                Err(e) => return Err(e),
            }
        }
        self.last_commit = Instant::now();
        Ok(())
    }
}
