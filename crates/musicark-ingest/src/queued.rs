//! Ingest through the work queue (`ingest --queue`, archives on
//! PostgreSQL): this host walks the roots and queues one job per new or
//! changed file; `musicark worker` processes, on this machine or others,
//! hash, analyse, store and record each file exactly as `ingest` does.
//!
//! A job carries its file's key (path bytes, size, mtime), so a worker
//! needs only the file's path to be reachable (a shared mount): one it
//! cannot read becomes the file's error row, and the run goes on. Its
//! results are written idempotently: the blob is content-addressed, the
//! content row is keyed by its id, the file row by its path, so a job
//! done twice (a lease that ran out under a slow worker) writes the same
//! rows twice.

use std::time::Instant;

use musicark_store::records::FileKey;
use musicark_store::{Home, RunSummary};
use serde::{Deserialize, Serialize};

use crate::work::{InFlight, process};
use crate::{IngestError, IngestOptions, Progress, Writer};

/// The queue's name for "hash, analyse, store and record one file".
pub const JOB_KIND: &str = "ingest";

/// What a job needs besides the archive.
#[derive(Debug, Serialize, Deserialize)]
struct FileJob {
    run: i64,
    reference: bool,
    /// The path's raw bytes, hex (paths need not be UTF-8).
    path: String,
    display: String,
    size: u64,
    mtime_ns: i64,
}

/// A job's key: the path itself when it is UTF-8 (what `status` and the
/// failed-job list show), else its bytes in hex.
fn job_key(key: &FileKey) -> String {
    match std::str::from_utf8(&key.path) {
        Ok(p) if !p.starts_with("hex:") => p.to_string(),
        _ => format!("hex:{}", hex::encode(&key.path)),
    }
}

/// What `enqueue` did: the run it began, what its walk found, and how many
/// files it queued.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub walk: RunSummary,
    pub queued: u64,
    pub started: Instant,
}

/// Walk `options.roots` and queue every new or changed file for the
/// workers. Files the walk could not read are recorded at once, as
/// `ingest` does.
pub fn enqueue(
    home: &Home,
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<Enqueued, IngestError> {
    let started = Instant::now();
    let roots = crate::absolute_roots(&options.roots)?;
    let _lock = home.lock(musicark_store::Writers::Ingest)?;
    let mut db = home.db()?;
    let mut summary = crate::begin_and_walk(&mut db, &roots, options, progress)?;
    let run_id = summary.run_id;
    summary.wall_seconds = started.elapsed().as_secs_f64();
    // Page through what the walk left to do, queueing it in short
    // transactions.
    let mut queued = 0u64;
    let mut last: Option<FileKey> = None;
    loop {
        let page = db.pending_page(run_id, last.as_ref(), 512)?;
        let Some(tail) = page.last().cloned() else {
            break;
        };
        let jobs = page.iter().map(|key| {
            let job = FileJob {
                run: run_id,
                reference: options.reference,
                path: hex::encode(&key.path),
                display: key.display_path.clone(),
                size: key.size,
                mtime_ns: key.mtime_ns,
            };
            (
                job_key(key),
                serde_json::to_string(&job).unwrap_or_default(),
            )
        });
        db.enqueue_all(JOB_KIND, jobs.collect::<Vec<_>>())?;
        queued += page.len() as u64;
        last = Some(tail);
    }
    Ok(Enqueued {
        walk: summary,
        queued,
        started,
    })
}

/// Carry out one queued file: the same work and the same records as
/// `ingest` gives it. `Ok(Err(reason))` is a job that failed for a reason
/// of its own (a payload this version cannot read); everything wrong with
/// the file itself becomes its record, and the job succeeds.
pub fn work_queued(
    home: &Home,
    db: &mut musicark_store::Db,
    payload: &str,
) -> Result<Result<(), String>, IngestError> {
    let job: FileJob = match serde_json::from_str(payload) {
        Ok(j) => j,
        Err(e) => return Ok(Err(format!("unreadable ingest job: {e}"))),
    };
    let Ok(path) = hex::decode(&job.path) else {
        return Ok(Err("unreadable ingest job: bad path".into()));
    };
    let key = FileKey {
        path,
        display_path: job.display,
        size: job.size,
        mtime_ns: job.mtime_ns,
    };
    let blobs = home.blobs()?;
    let inflight = InFlight::default();
    let (outcome, completion) = process(db, &*blobs, job.reference, &inflight, key)?;
    let mut writer = Writer::new(db, job.run);
    writer.push(outcome.file, outcome.content, outcome.stored_now)?;
    writer.flush()?;
    drop(completion);
    Ok(Ok(()))
}

/// The summary of a queued run once its jobs are done: the walk's
/// figures, and the files the workers recorded for it.
pub fn summarize(home: &Home, enqueued: &Enqueued) -> Result<RunSummary, IngestError> {
    let db = home.db()?;
    let run_id = enqueued.walk.run_id;
    let tally = db.run_tally(run_id)?;
    let walk = &enqueued.walk;
    let summary = RunSummary {
        processed: tally
            .files
            .saturating_sub(walk.errors)
            .saturating_sub(walk.skipped),
        ok: tally.ok,
        damaged: tally.damaged,
        unsupported: tally.unsupported,
        skipped: tally.skipped,
        errors: tally.errors,
        bytes_processed: tally.bytes,
        audio_seconds: tally.audio_seconds,
        wall_seconds: enqueued.started.elapsed().as_secs_f64(),
        ..walk.clone()
    };
    let json = serde_json::to_string(&summary).unwrap_or_default();
    db.finish_run(run_id, &json)?;
    Ok(summary)
}
