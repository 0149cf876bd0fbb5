//! `musicark preserve`: the archive's copies, by the tier policy
//! (`[preserve]` in `musicark.toml`).
//!
//! For each piece of music held (the best copy of each duplicate group, see
//! `musicark-identify`): an original lossy file at or under
//! `keep_lossy_up_to_kbps` is kept as it is; anything else is re-encoded to
//! Opus at the bitrate of its recording's popularity band (files not linked
//! to a recording: `unmatched_kbps`) — never above what the source holds:
//! a lossy source caps the bitrate at its own, and a lossless file that is
//! a transcode of lossy audio at 96 kbit/s. Copies carry the source's tags
//! plus `MUSICARK_SOURCE_BLAKE3`, and the recording's MBID and ISRC when
//! linked; they go into the blob store (verified, synced, renamed) and the
//! `preserved` table. Largest first, on every core; a rerun skips what is
//! done with the same decision, so a killed run resumes.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use musicark_audio::transcode::{TranscodeOptions, transcode_file};
pub mod copies;

use musicark_store::{ContentId, Db, Home, PreserveConfig};
use musicark_store::{params, sql::OptionalExtension};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum PreserveError {
    #[error(transparent)]
    Store(#[from] musicark_store::StoreError),
    #[error("catalogue database: {0}")]
    Sqlite(#[from] musicark_store::sql::Error),
    #[error(transparent)]
    Identify(#[from] musicark_identify::IdentifyError),
    /// The archive's filesystem is full: the run stops (copies made so
    /// far are recorded; a rerun after freeing space makes the rest).
    #[error(
        "{}: no space left on device; free some space and run `musicark preserve` again: it resumes",
        path.display()
    )]
    NoSpace { path: std::path::PathBuf },
    /// A queued job's payload that this musicark cannot read.
    #[error("a queued job: {0}")]
    Invalid(String),
}

/// Why one job failed: its own fault (reported, the batch goes on) or a
/// full disk (the run stops).
enum JobError {
    Item(String),
    NoSpace(std::path::PathBuf),
}

/// A reader that makes the SHA-256 of what passes through it.
struct Sha256Reader<R> {
    inner: R,
    sha: sha2::Sha256,
}

impl<R: std::io::Read> Sha256Reader<R> {
    fn new(inner: R) -> Self {
        Sha256Reader {
            inner,
            sha: <sha2::Sha256 as sha2::Digest>::new(),
        }
    }

    fn finish(self) -> String {
        hex::encode(sha2::Digest::finalize(self.sha))
    }
}

impl<R: std::io::Read> std::io::Read for Sha256Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.sha, &buf[..n]);
        Ok(n)
    }
}

/// A blob's local copy, given back to its store when dropped.
impl<E: std::fmt::Display> From<E> for JobError {
    fn from(e: E) -> JobError {
        JobError::Item(e.to_string())
    }
}

/// What kind of copy the archive keeps of a source: the `tier` of a
/// `preserved` row and of a manifest entry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The source's own bytes.
    Original,
    /// An Opus re-encode.
    Opus,
}

musicark_store::text_enum!(Tier, "tier", Original => "original", Opus => "opus");

/// What to do with one source.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "tier", rename_all = "snake_case")]
pub enum Decision {
    /// Keep the original bytes.
    Original,
    /// Re-encode to Opus at this many kbit/s.
    Opus { kbps: u32 },
}

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub source_id: String,
    pub path: String,
    #[serde(skip)]
    pub local: PathBuf,
    pub size: u64,
    pub duration: f64,
    pub recording_id: Option<i64>,
    pub decision: Decision,
    pub why: String,
    #[serde(skip)]
    tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PreserveSummary {
    pub sources: usize,
    pub made: usize,
    pub kept_original: usize,
    pub already_done: usize,
    pub failed: Vec<(String, String)>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub audio_seconds: f64,
    pub seconds: f64,
    pub realtime: f64,
}

/// The catalogue's listens, to place a recording in a popularity band: a
/// recording's rank is the share of the catalogue's recordings with more
/// listens. One rule for `preserve` (which bitrate) and `pack` (which
/// torrents).
pub struct Popularity {
    /// Listens of every recording with any, most first.
    listens: Vec<i64>,
    /// Recordings in the catalogue.
    recordings: i64,
}

impl Popularity {
    pub fn load(db: &Db) -> Result<Popularity, musicark_store::sql::Error> {
        let recordings: i64 = db.query_row("SELECT count(*) FROM recordings", [], |r| r.get(0))?;
        let mut listens: Vec<i64> = db
            .prepare("SELECT max(listen_count) FROM popularity GROUP BY recording_key")?
            .query_map([], |r| r.get::<_, Option<i64>>(0))?
            .filter_map(|r| r.ok().flatten())
            .collect();
        listens.sort_unstable_by(|a, b| b.cmp(a));
        Ok(Popularity {
            listens,
            recordings,
        })
    }

    /// The share of the catalogue's recordings with more than `listens`.
    pub fn share_above(&self, listens: i64) -> f64 {
        let above = self.listens.partition_point(|&l| l > listens);
        above as f64 / self.recordings.max(1) as f64
    }

    /// The index in `bands` of a recording with `listens`, and its share.
    pub fn band(&self, bands: &[musicark_store::Band], listens: i64) -> (Option<usize>, f64) {
        let share = self.share_above(listens);
        let band = bands
            .iter()
            .position(|b| share < b.top)
            .or(bands.len().checked_sub(1));
        (band, share)
    }
}

/// A short name for band `i` of `bands` (`top1`, `top10`, `top100`), or
/// `unlinked` for files not linked to a recording. Used in pack names.
pub fn band_name(bands: &[musicark_store::Band], band: Option<usize>) -> String {
    match band.and_then(|i| bands.get(i)) {
        Some(b) => format!("top{}", (b.top * 1e6).round().max(0.0) / 1e4),
        None => "unlinked".into(),
    }
}

/// Decide, for every best copy, what the policy keeps.
pub fn plan(home: &Home, db: &Db, policy: &PreserveConfig) -> Result<Vec<Job>, PreserveError> {
    let dups = musicark_identify::duplicates(db)?;
    let redundant: std::collections::HashSet<String> = dups
        .groups
        .iter()
        .flat_map(|g| g.others.iter().map(|o| o.content_id.clone()))
        .collect();
    let popularity = Popularity::load(db)?;
    let blobs = home.blobs()?;
    let mut stmt = db.prepare(
        "SELECT c.content_id, c.size, c.stored, coalesce(c.lossless, 0), c.bitrate, c.bandwidth, \
                coalesce(c.duration_seconds, 0), m.recording_id, r.mbid, \
                (SELECT max(listen_count) FROM popularity p WHERE p.recording_key = coalesce(r.mbid, 'rec:' || r.recording_id)), \
                (SELECT string_agg(isrc, ',' ORDER BY isrc) FROM isrcs i WHERE i.recording_id = r.recording_id), \
                (SELECT path FROM files f WHERE f.content_id = c.content_id ORDER BY display_path LIMIT 1), \
                (SELECT display_path FROM files f WHERE f.content_id = c.content_id ORDER BY display_path LIMIT 1) \
         FROM contents c LEFT JOIN matches m ON m.content_id = c.content_id AND m.status = 'linked' \
           LEFT JOIN recordings r ON r.recording_id = m.recording_id \
         WHERE c.verdict = 'audio'",
    )?;
    let mut rows = stmt.query([])?;
    let mut jobs = Vec::new();
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        if redundant.contains(&id) {
            continue;
        }
        let Some(raw): Option<Vec<u8>> = r.get(11)? else {
            continue;
        };
        let stored: bool = r.get(2)?;
        let local = match ContentId::parse(&id) {
            Some(cid) if stored => blobs.local_path(&cid),
            _ => PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&raw)),
        };
        let lossless: bool = r.get::<_, i64>(3)? != 0;
        let bitrate: Option<i64> = r.get(4)?;
        let source_kbps = bitrate.map(|b| (b / 1000) as u32);
        let bandwidth: Option<String> = r.get(5)?;
        let recording_id: Option<i64> = r.get(7)?;
        let mbid: Option<String> = r.get(8)?;
        let recording_listens: Option<i64> = r.get(9)?;
        let isrcs: Option<String> = r.get(10)?;
        let (mut kbps, mut why, share) = match recording_id {
            None => (
                policy.unmatched_kbps,
                "not linked to a recording".to_string(),
                None,
            ),
            Some(_) => {
                let n = recording_listens.unwrap_or(0);
                let (band, share) = popularity.band(&policy.bands, n);
                (
                    band.map_or(policy.unmatched_kbps, |b| policy.bands[b].kbps),
                    format!("{n} listens: top {:.2} % of the catalogue", share * 100.0),
                    Some(share),
                )
            }
        };
        let genuine_lossless = lossless && bandwidth.as_deref() != Some("transcode");
        let decision = if genuine_lossless && share.is_some_and(|s| s < policy.keep_lossless_top) {
            why = format!(
                "{why}; genuine lossless kept (lossless tier: top {:.2} %)",
                policy.keep_lossless_top * 100.0
            );
            Decision::Original
        } else if !lossless && source_kbps.is_some_and(|k| k <= policy.keep_lossy_up_to_kbps) {
            why = format!(
                "{why}; original lossy at {} kbit/s kept",
                source_kbps.unwrap_or(0)
            );
            Decision::Original
        } else {
            if lossless && bandwidth.as_deref() == Some("transcode") && kbps > 96 {
                kbps = 96;
                why = format!("{why}; a lossless transcode of lossy audio: at most 96 kbit/s");
            }
            if let Some(k) = source_kbps.filter(|_| !lossless)
                && k < kbps
            {
                kbps = k.max(6);
                why = format!("{why}; never above the source's {k} kbit/s");
            }
            Decision::Opus { kbps }
        };
        let mut tags = vec![("MUSICARK_SOURCE_BLAKE3".to_string(), id.clone())];
        if let Some(m) = mbid {
            tags.push(("MUSICBRAINZ_TRACKID".into(), m));
        }
        for i in isrcs.iter().flat_map(|s| s.split(',')) {
            tags.push(("ISRC".into(), i.to_string()));
        }
        jobs.push(Job {
            source_id: id,
            path: r.get(12)?,
            local,
            size: r.get::<_, i64>(1)? as u64,
            duration: r.get(6)?,
            recording_id,
            decision,
            why,
            tags,
        });
    }
    jobs.sort_by(|a, b| b.size.cmp(&a.size).then(a.source_id.cmp(&b.source_id)));
    Ok(jobs)
}

fn done_already(db: &Db, job: &Job) -> Result<bool, PreserveError> {
    let row: Option<(String, Option<i64>)> = db
        .query_row(
            "SELECT tier, kbps FROM preserved WHERE source_id = ?1",
            [&job.source_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match (row, job.decision) {
        (Some((t, None)), Decision::Original) => t == Tier::Original.as_str(),
        (Some((t, Some(k))), Decision::Opus { kbps }) => {
            t == Tier::Opus.as_str() && k == i64::from(kbps)
        }
        _ => false,
    })
}

/// Carry out `jobs` on `threads` workers; `progress(done, total)` after each.
pub fn run(
    home: &Home,
    jobs: &[Job],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<PreserveSummary, PreserveError> {
    let started = Instant::now();
    let db = Mutex::new(home.db()?);
    let blobs = home.blobs()?;
    // What a killed run left in staging (the caller holds the writer lock).
    blobs.clean_staging()?;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let summary = Mutex::new(PreserveSummary {
        sources: jobs.len(),
        ..Default::default()
    });
    let tmp_dir = home.root().join("tmp");
    // A worker's archive directory may hold only its musicark.toml.
    std::fs::create_dir_all(&tmp_dir).map_err(|e| musicark_store::StoreError::io(&tmp_dir, e))?;
    let record = |job: &Job,
                  tier: Tier,
                  kbps: Option<u32>,
                  output: &str,
                  bytes: u64,
                  sha256: Option<&str>|
     -> Result<(), PreserveError> {
        let db = db.lock().unwrap_or_else(|e| e.into_inner());
        db.execute(
            "INSERT INTO preserved (source_id, tier, kbps, output_id, bytes, duration, recording_id, made_at, sha256) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (source_id) DO UPDATE SET \
               tier = excluded.tier, kbps = excluded.kbps, output_id = excluded.output_id, \
               bytes = excluded.bytes, duration = excluded.duration, \
               recording_id = excluded.recording_id, made_at = excluded.made_at, \
               sha256 = excluded.sha256",
            params![
                job.source_id,
                tier.as_str(),
                kbps,
                output,
                bytes as i64,
                job.duration,
                job.recording_id,
                musicark_store::clock::now(),
                sha256
            ],
        )?;
        Ok(())
    };
    let work = |job: &Job| -> Result<(), JobError> {
        let already = {
            let db = db.lock().unwrap_or_else(|e| e.into_inner());
            done_already(&db, job)?
        };
        let mut s = summary.lock().unwrap_or_else(|e| e.into_inner());
        s.bytes_in += job.size;
        s.audio_seconds += job.duration;
        if already {
            s.already_done += 1;
            return Ok(());
        }
        drop(s);
        match job.decision {
            Decision::Original => {
                record(job, Tier::Original, None, &job.source_id, job.size, None)?;
                let mut s = summary.lock().unwrap_or_else(|e| e.into_inner());
                s.kept_original += 1;
                s.bytes_out += job.size;
            }
            Decision::Opus { kbps } => {
                // A stored source on object storage is fetched for the
                // encoder, and its local copy dropped once used.
                let blob =
                    ContentId::parse(&job.source_id).filter(|id| blobs.local_path(id) == job.local);
                let _local = match &blob {
                    Some(id) => match musicark_store::LocalCopy::new(&*blobs, id) {
                        Ok(copy) => Some(copy),
                        Err(musicark_store::StoreError::NoSpace { path }) => {
                            return Err(JobError::NoSpace(path));
                        }
                        Err(e @ musicark_store::StoreError::Rotten { .. }) => {
                            let mut why = format!("{e}; no copy made");
                            if let Some(id) = &blob
                                && let Ok(Some(q)) = blobs.quarantine(id)
                            {
                                why.push_str(&format!(" (moved to {q})"));
                            }
                            return Err(JobError::Item(why));
                        }
                        Err(e) => return Err(e.into()),
                    },
                    None => None,
                };
                // The copy states where it came from: the source's bytes
                // must be the ones its hash names.
                let mut source = blake3::Hasher::new();
                source.update_reader(std::fs::File::open(&job.local)?)?;
                if source.finalize().to_hex().as_str() != job.source_id {
                    let mut why = format!(
                        "{}: its bytes no longer hash to {} (damaged at rest); no copy made",
                        job.local.display(),
                        job.source_id
                    );
                    if let Some(id) = &blob
                        && let Ok(Some(q)) = blobs.quarantine(id)
                    {
                        why.push_str(&format!(" (moved to {q})"));
                    }
                    return Err(JobError::Item(why));
                }
                // Named like the blob store's staging files (id, then the writer's
                // pid): another process's clean-up leaves it alone.
                let out = tmp_dir.join(format!(
                    "{}.{}.preserve.opus",
                    job.source_id,
                    std::process::id()
                ));
                let options = TranscodeOptions {
                    bitrate: kbps * 1000,
                    extra_tags: job.tags.clone(),
                };
                if let Err(e) = transcode_file(&job.local, &out, &options) {
                    let _ = std::fs::remove_file(&out);
                    if let musicark_audio::transcode::TranscodeError::Io { source, .. } = &e
                        && musicark_store::is_no_space(source)
                    {
                        return Err(JobError::NoSpace(out));
                    }
                    return Err(e.into());
                }
                // The copy's BLAKE3 (its name) and SHA-256 (for the
                // manifests of packs), in one read.
                let file = std::fs::File::open(&out)?;
                let len = file.metadata()?.len();
                let mut tee = Sha256Reader::new(file);
                let (id, _) = musicark_store::hash_reader(&mut tee)?;
                let sha256 = tee.finish();
                let put = blobs.put_file(&id, &out);
                let _ = std::fs::remove_file(&out);
                match put {
                    Ok(_) => {}
                    Err(musicark_store::StoreError::NoSpace { path }) => {
                        return Err(JobError::NoSpace(path));
                    }
                    Err(e) => return Err(e.into()),
                }
                record(job, Tier::Opus, Some(kbps), id.as_str(), len, Some(&sha256))?;
                let mut s = summary.lock().unwrap_or_else(|e| e.into_inner());
                s.made += 1;
                s.bytes_out += len;
            }
        }
        Ok(())
    };
    let full: Mutex<Option<std::path::PathBuf>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if full.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                        return;
                    }
                    match work(job) {
                        Ok(()) => {}
                        Err(JobError::Item(e)) => {
                            let mut s = summary.lock().unwrap_or_else(|e| e.into_inner());
                            s.failed.push((job.path.clone(), e));
                        }
                        Err(JobError::NoSpace(path)) => {
                            *full.lock().unwrap_or_else(|e| e.into_inner()) = Some(path);
                            return;
                        }
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, jobs.len());
                }
            });
        }
    });
    if let Some(path) = full.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(PreserveError::NoSpace { path });
    }
    let mut s = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    s.seconds = started.elapsed().as_secs_f64();
    s.realtime = s.audio_seconds / s.seconds.max(1e-9);
    Ok(s)
}

/// The work queue's kind for one source's re-encode (`musicark worker`).
pub const JOB_KIND: &str = "preserve";

/// What a queued re-encode carries: its bitrate, as planned.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
struct JobPayload {
    kbps: u32,
}

/// Hand `jobs` to the work queue: each re-encode becomes a job on its
/// source (done already: left out); originals, which cost no CPU, are
/// recorded here at once. Returns the re-encodes queued (anew or still
/// pending) and the summary of the originals recorded.
pub fn enqueue(home: &Home, jobs: &[Job]) -> Result<(usize, PreserveSummary), PreserveError> {
    let originals: Vec<Job> = jobs
        .iter()
        .filter(|j| j.decision == Decision::Original)
        .cloned()
        .collect();
    let summary = run(home, &originals, 1, &|_, _| {})?;
    let db = home.db()?;
    let mut queued = 0;
    for job in jobs {
        if let Decision::Opus { kbps } = job.decision
            && !done_already(&db, job)?
        {
            let payload = serde_json::to_string(&JobPayload { kbps })
                .map_err(|e| PreserveError::Invalid(e.to_string()))?;
            db.enqueue(JOB_KIND, &job.source_id, &payload)?;
            queued += 1;
        }
    }
    Ok((queued, summary))
}

/// A worker's plan, made once and kept: the jobs of every source by
/// content id (planned again when a queued source is not in it).
#[derive(Default)]
pub struct PlanCache(Option<std::collections::HashMap<String, Job>>);

/// Carry out one queued re-encode (`source`, as `payload` says): the same
/// work as `run` does for that source, its results recorded the same way.
/// `Err` is the item's reason (the job fails with it).
pub fn work_queued(
    home: &Home,
    cache: &mut PlanCache,
    source: &str,
    payload: &str,
) -> Result<Result<(), String>, PreserveError> {
    let JobPayload { kbps } =
        serde_json::from_str(payload).map_err(|e| PreserveError::Invalid(e.to_string()))?;
    let find = |cache: &PlanCache| cache.0.as_ref().and_then(|m| m.get(source).cloned());
    let job = match find(cache) {
        Some(job) => Some(job),
        None => {
            let db = home.db()?;
            let plan = plan(home, &db, &home.config.preserve)?;
            cache.0 = Some(plan.into_iter().map(|j| (j.source_id.clone(), j)).collect());
            find(cache)
        }
    };
    let Some(mut job) = job else {
        return Ok(Err(format!(
            "{source}: no longer to be preserved (not clean audio, or a duplicate)"
        )));
    };
    job.decision = Decision::Opus { kbps };
    let summary = run(home, std::slice::from_ref(&job), 1, &|_, _| {})?;
    Ok(match summary.failed.into_iter().next() {
        Some((path, why)) => Err(format!("{path}: {why}")),
        None => Ok(()),
    })
}
