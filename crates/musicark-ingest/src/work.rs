//! Stages 2 and 3: hash, analyse and store every queued file on `jobs`
//! threads, largest first; record outcomes on the calling thread.

use std::io::Read;
use std::path::Path;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_channel::{Receiver, Sender, bounded};
use musicark_audio::{ANALYZER_VERSION, Analysis, Verdict, analyze_file};
use musicark_store::records::{ContentRecord, FileKey, FileRecord, FileStatus, StoredFingerprint};
use musicark_store::{BlobStore, ContentId, Db, Home, RunSummary, StoreError};
use sha2::Digest;

use crate::walk::{key_for, path_from_bytes};
use crate::{IngestError, Progress, Writer};

/// Keys fetched from `pending` per query.
const PAGE: usize = 256;

/// A worker's result for one file.
pub(crate) struct Outcome {
    pub(crate) file: FileRecord,
    /// The analysis, when the bytes were new (or analysed by an older
    /// version of musicark).
    pub(crate) content: Option<ContentRecord>,
    /// The blob was written by this run for already-known content.
    pub(crate) stored_now: bool,
    blob_written: bool,
    /// A stored blob of these bytes had rotted and was restored from
    /// this file (the bad one is in the quarantine).
    blob_repaired: bool,
    known: bool,
    audio_seconds: f64,
}

enum Message {
    Done(Box<Outcome>),
    /// A failure of the archive itself (disk full, database gone): stop.
    Fatal(StoreError),
}

pub(crate) fn run(
    home: &Home,
    db: &mut Db,
    run_id: i64,
    reference: bool,
    jobs: usize,
    progress: &dyn Progress,
    summary: &mut RunSummary,
) -> Result<(), IngestError> {
    let (key_tx, key_rx) = bounded::<FileKey>(jobs * 2);
    let (out_tx, out_rx) = bounded::<Message>(jobs * 4);
    let feeder_db = home.db_read_only()?;
    let inflight = InFlight::default();
    std::thread::scope(|s| -> Result<(), IngestError> {
        let feeder = s.spawn(move || feed(&feeder_db, run_id, key_tx));
        let mut workers = Vec::with_capacity(jobs);
        for _ in 0..jobs {
            let key_rx = key_rx.clone();
            let out_tx = out_tx.clone();
            let worker_db = home.db_read_only()?;
            let blobs = home.blobs()?;
            let inflight = &inflight;
            workers.push(
                s.spawn(move || work(&worker_db, &*blobs, reference, inflight, key_rx, out_tx)),
            );
        }
        drop(key_rx);
        drop(out_tx);

        let mut writer = Writer::new(db, run_id);
        let mut fatal: Option<StoreError> = None;
        for message in out_rx.iter() {
            match message {
                Message::Done(o) => {
                    if fatal.is_some() {
                        continue;
                    }
                    tally(summary, &o);
                    let bytes = o.file.key.size;
                    let display = o.file.key.display_path.clone();
                    if let Err(e) = writer.push(o.file, o.content, o.stored_now) {
                        fatal = Some(e);
                        continue;
                    }
                    progress.file_done(bytes, &display);
                }
                Message::Fatal(e) => {
                    fatal.get_or_insert(e);
                }
            }
            if fatal.is_some() {
                // Dropping the receiver is not possible inside the loop;
                // workers stop once the feeder sees the closed channel.
                break;
            }
        }
        drop(out_rx);
        let flushed = writer.flush();
        for w in workers {
            w.join()
                .map_err(|_| IngestError::Worker("a worker panicked".into()))?;
        }
        feeder
            .join()
            .map_err(|_| IngestError::Worker("the feeder panicked".into()))?
            .or_else(|e| if fatal.is_some() { Ok(()) } else { Err(e) })?;
        if let Some(e) = fatal {
            return Err(e.into());
        }
        flushed?;
        Ok(())
    })
}

fn tally(summary: &mut RunSummary, o: &Outcome) {
    summary.processed += 1;
    summary.bytes_processed += o.file.key.size;
    match o.file.status {
        FileStatus::Ok => summary.ok += 1,
        FileStatus::Damaged => summary.damaged += 1,
        FileStatus::Unsupported => summary.unsupported += 1,
        FileStatus::Skipped => summary.skipped += 1,
        FileStatus::Error => summary.errors += 1,
    }
    if o.known {
        summary.known_content += 1;
    }
    if o.blob_repaired {
        summary.blobs_repaired += 1;
    }
    if o.blob_written {
        summary.blobs_stored += 1;
    }
    if o.file.status == FileStatus::Ok {
        summary.audio_seconds += o.audio_seconds;
    }
}

/// Page through the queue, largest first, until it is empty or the workers
/// are gone.
fn feed(db: &Db, run_id: i64, tx: Sender<FileKey>) -> Result<(), IngestError> {
    let mut last: Option<FileKey> = None;
    loop {
        let page = db.pending_page(run_id, last.as_ref(), PAGE)?;
        let Some(tail) = page.last().cloned() else {
            return Ok(());
        };
        for key in page {
            if tx.send(key).is_err() {
                return Ok(());
            }
        }
        last = Some(tail);
    }
}

fn work(
    db: &Db,
    blobs: &dyn BlobStore,
    reference: bool,
    inflight: &InFlight,
    rx: Receiver<FileKey>,
    tx: Sender<Message>,
) {
    for key in rx.iter() {
        let (message, completion) = match process(db, blobs, reference, inflight, key) {
            Ok((o, completion)) => (Message::Done(Box::new(o)), completion),
            Err(e) => (Message::Fatal(e), None),
        };
        let sent = tx.send(message);
        // Only now, with the content's row ahead of theirs in the writer's
        // queue, may workers holding the same bytes record them.
        if let Some((claim, known)) = completion {
            claim.complete(known);
        }
        if sent.is_err() {
            return;
        }
    }
}

/// What a worker learnt about some bytes, for others holding the same.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    verdict: String,
    duration: Option<f64>,
    /// Whether the verdict holds for any file with these bytes (see
    /// [`reusable`]).
    reusable: bool,
}

/// Whether a verdict on some bytes holds for every file that has them.
/// Not so for empty or unrecognisable bytes: whether those are damaged
/// audio or just some other file depends on the file's name.
fn reusable(verdict: &str, damage_kind: Option<&str>) -> bool {
    match verdict {
        "audio" | "unsupported" => true,
        "damaged" => !matches!(damage_kind, Some("empty" | "unrecognized")),
        _ => false,
    }
}

/// Content ids being analysed right now, and the last few analysed.
/// Identical files sit next to each other in the largest-first queue, so
/// without this two workers would decode the same bytes at the same time;
/// the second waits for the first instead. A verdict stays at hand for a
/// while after its analysis (the writer commits it up to 250 ms later, and
/// until then the catalogue does not know it). Memory is bounded: the
/// workers' claims plus [`RECENT`] verdicts.
#[derive(Default)]
pub(crate) struct InFlight {
    map: Mutex<HashMap<String, Arc<Pending>>>,
    recent: Mutex<std::collections::VecDeque<(String, Known)>>,
}

/// Verdicts kept after their analysis, for duplicates that come just after.
const RECENT: usize = 1024;

#[derive(Default)]
struct Pending {
    /// `Some(None)`: the owner failed, and a waiter does the work itself.
    state: Mutex<Option<Option<Known>>>,
    ready: Condvar,
}

impl Pending {
    fn wait(&self) -> Option<Known> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.is_none() {
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.clone().flatten()
    }
}

enum Claimed<'a> {
    Owner(Claim<'a>),
    Wait(Arc<Pending>),
    Done(Known),
}

impl InFlight {
    fn claim(&self, id: &str) -> Claimed<'_> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, k)) = recent.iter().find(|(r, _)| r == id) {
            return Claimed::Done(k.clone());
        }
        drop(recent);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = map.get(id) {
            return Claimed::Wait(p.clone());
        }
        let pending = Arc::new(Pending::default());
        map.insert(id.to_string(), pending.clone());
        Claimed::Owner(Claim {
            inflight: self,
            id: id.to_string(),
            pending,
            done: false,
        })
    }
}

/// The right to analyse some bytes; dropping it unfinished (an error) lets
/// the waiters do the work themselves.
pub(crate) struct Claim<'a> {
    inflight: &'a InFlight,
    id: String,
    pending: Arc<Pending>,
    done: bool,
}

impl Claim<'_> {
    fn complete(mut self, known: Option<Known>) {
        self.finish(known);
    }

    fn finish(&mut self, known: Option<Known>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        if let Some(k) = &known {
            let mut recent = self
                .inflight
                .recent
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if recent.len() >= RECENT {
                recent.pop_front();
            }
            recent.push_back((self.id.clone(), k.clone()));
        }
        self.inflight
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        *self.pending.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(known);
        self.pending.ready.notify_all();
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.finish(None);
    }
}

const CHANGED_WHILE_STORED: &str = "the file changed while it was being stored";

/// `process`'s answer for a file that could not be read or stored whole:
/// an error row, retried by the next ingest.
fn not_recorded<'a>(
    key: FileKey,
    reference: bool,
    reason: String,
) -> Result<(Outcome, Completion<'a>), StoreError> {
    Ok((error_outcome(key, reference, reason), None))
}

fn error_outcome(key: FileKey, reference: bool, reason: String) -> Outcome {
    Outcome {
        file: FileRecord {
            key,
            content_id: None,
            status: FileStatus::Error,
            reason: Some(reason),
            reference,
        },
        content: None,
        stored_now: false,
        blob_written: false,
        blob_repaired: false,
        known: false,
        audio_seconds: 0.0,
    }
}

struct Hashes {
    blake3: blake3::Hash,
    sha256: String,
    len: u64,
}

fn hash_file(path: &Path) -> std::io::Result<Hashes> {
    let mut f = std::fs::File::open(path)?;
    let mut b3 = blake3::Hasher::new();
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        b3.update(&buf[..n]);
        sha.update(&buf[..n]);
        len += n as u64;
    }
    Ok(Hashes {
        blake3: b3.finalize(),
        sha256: hex::encode(sha.finalize()),
        len,
    })
}

fn status_of(verdict: &str) -> FileStatus {
    match verdict {
        "audio" => FileStatus::Ok,
        "damaged" => FileStatus::Damaged,
        "unsupported" => FileStatus::Unsupported,
        _ => FileStatus::Skipped,
    }
}

/// One file, start to end. `Err` only for failures of the archive itself;
/// everything wrong with the file becomes its record.
/// What `process` hands back beside the outcome when it owned the analysis.
pub(crate) type Completion<'a> = Option<(Claim<'a>, Option<Known>)>;

pub(crate) fn process<'a>(
    db: &Db,
    blobs: &dyn BlobStore,
    reference: bool,
    inflight: &'a InFlight,
    queued: FileKey,
) -> Result<(Outcome, Completion<'a>), StoreError> {
    let path = path_from_bytes(&queued.path);
    // The file may have changed or vanished since the walk.
    let key = match std::fs::metadata(&path) {
        Ok(meta) => FileKey {
            display_path: queued.display_path.clone(),
            ..key_for(&path, &meta)
        },
        Err(e) => {
            return not_recorded(queued, reference, format!("cannot read: {e}"));
        }
    };
    let hashes = match hash_file(&path) {
        Ok(h) => h,
        Err(e) => {
            return not_recorded(key, reference, format!("cannot read: {e}"));
        }
    };
    if hashes.len != key.size {
        return not_recorded(
            key,
            reference,
            "the file changed while it was being read".into(),
        );
    }
    let id = ContentId::from_hash(&hashes.blake3);
    let copy = !reference;
    // Bytes another worker is analysing, or analysed a moment ago, are not
    // analysed again (unless the verdict depends on the file's name).
    let mut claim = None;
    let shared = match inflight.claim(id.as_str()) {
        Claimed::Owner(c) => {
            claim = Some(c);
            None
        }
        Claimed::Wait(pending) => pending.wait(),
        Claimed::Done(k) => Some(k),
    };
    if let Some(k) = shared.filter(|k| k.reusable) {
        let outcome = Outcome {
            file: FileRecord {
                key,
                content_id: Some(id.to_string()),
                status: status_of(&k.verdict),
                reason: None,
                reference,
            },
            content: None,
            stored_now: false,
            blob_written: false,
            blob_repaired: false,
            known: true,
            audio_seconds: k.duration.unwrap_or(0.0),
        };
        return Ok((outcome, None));
    }

    let put = |verdict: &str| -> Result<Option<bool>, StoreError> {
        if !copy || verdict == "not_audio" {
            return Ok(Some(false));
        }
        match blobs.put_file(&id, &path) {
            Ok(outcome) => Ok(Some(outcome == musicark_store::PutOutcome::Stored)),
            Err(StoreError::BlobMismatch { .. }) => Ok(None),
            // The source vanished or became unreadable mid-copy.
            Err(StoreError::Io { path: p, .. }) if p == path => Ok(None),
            Err(e) => Err(e),
        }
    };

    if let Some(known) = db.known_content(id.as_str())?
        && known.analyzer_version >= ANALYZER_VERSION
        && reusable(&known.verdict, known.damage_kind.as_deref())
    {
        let status = status_of(&known.verdict);
        let mut blob_written = false;
        let mut stored_now = false;
        let mut blob_repaired = false;
        if copy && known.stored {
            // These bytes hash right; if the stored copy has rotted (or
            // gone), they are what restores it.
            match musicark_store::repair_from(blobs, &id, &path) {
                Ok(musicark_store::Repair::Intact) => {}
                Ok(_) => blob_repaired = true,
                Err(StoreError::BlobMismatch { .. }) => {
                    return not_recorded(key, reference, CHANGED_WHILE_STORED.into());
                }
                Err(StoreError::Io { path: p, .. }) if p == path => {
                    return not_recorded(key, reference, CHANGED_WHILE_STORED.into());
                }
                Err(e) => return Err(e),
            }
        }
        if copy && !known.stored {
            match put(&known.verdict)? {
                Some(written) => {
                    blob_written = written;
                    stored_now = known.verdict != "not_audio";
                }
                None => {
                    return not_recorded(key, reference, CHANGED_WHILE_STORED.into());
                }
            }
        }
        let learnt = Known {
            verdict: known.verdict.clone(),
            duration: known.duration_seconds,
            reusable: true,
        };
        let outcome = Outcome {
            file: FileRecord {
                key,
                content_id: Some(id.to_string()),
                status,
                reason: None,
                reference,
            },
            content: None,
            stored_now,
            blob_written,
            blob_repaired,
            known: true,
            audio_seconds: known.duration_seconds.unwrap_or(0.0),
        };
        return Ok((outcome, claim.map(|c| (c, Some(learnt)))));
    }

    let analysis = analyze_file(&path);
    let verdict = analysis.verdict.label();
    let blob_written = match put(verdict)? {
        Some(w) => w,
        None => {
            return not_recorded(key, reference, CHANGED_WHILE_STORED.into());
        }
    };
    let stored = copy && verdict != "not_audio";
    let audio_seconds = analysis
        .tech
        .as_ref()
        .map(|t| t.duration_seconds)
        .unwrap_or(0.0);
    let content = content_record(&id, &hashes, stored, &analysis);
    let shared = reusable(verdict, content.damage_kind.as_deref());
    let learnt = Known {
        verdict: verdict.to_string(),
        duration: content.duration_seconds,
        reusable: shared,
    };
    let outcome = Outcome {
        file: FileRecord {
            key,
            content_id: Some(id.to_string()),
            status: status_of(verdict),
            reason: (!shared).then(|| content.reason.clone()).flatten(),
            reference,
        },
        content: Some(content),
        stored_now: false,
        blob_written,
        blob_repaired: false,
        known: false,
        audio_seconds,
    };
    Ok((outcome, claim.map(|c| (c, Some(learnt)))))
}

fn content_record(id: &ContentId, h: &Hashes, stored: bool, a: &Analysis) -> ContentRecord {
    let (damage_kind, damage_position, decode_errors) = match &a.verdict {
        Verdict::Damaged(d) => (
            Some(d.kind.as_str().to_string()),
            d.position_seconds,
            d.decode_errors,
        ),
        _ => (None, None, 0),
    };
    let t = a.tech.as_ref();
    ContentRecord {
        content_id: id.to_string(),
        sha256: h.sha256.clone(),
        size: h.len,
        stored,
        verdict: a.verdict.label().to_string(),
        reason: a.verdict.reason(),
        damage_kind,
        damage_position,
        decode_errors,
        container: t.map(|t| t.container.clone()),
        codec: t.map(|t| t.codec.clone()),
        lossless: t.map(|t| t.lossless),
        sample_rate: t.map(|t| t.sample_rate),
        decode_rate: t.map(|t| t.decode_rate),
        bits_per_sample: t.and_then(|t| t.bits_per_sample),
        channels: t.map(|t| t.channels),
        frames: t.map(|t| t.frames),
        duration_seconds: t.map(|t| t.duration_seconds),
        bitrate: t.and_then(|t| t.bitrate),
        tags_json: a.tags.as_ref().and_then(|t| serde_json::to_string(t).ok()),
        warnings_json: (!a.warnings.is_empty())
            .then(|| serde_json::to_string(&a.warnings).unwrap_or_default()),
        analyzer_version: ANALYZER_VERSION,
        fingerprint: a.fingerprint.as_ref().map(|f| StoredFingerprint {
            algorithm: musicark_audio::fingerprint::ALGORITHM,
            duration: f.duration,
            data: musicark_audio::fingerprint::compress(&f.fingerprint),
            encoding: "chromaprint",
        }),
        bandwidth: a.spectrum.as_ref().map(|s| {
            let label = serde_json::to_value(s.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            (label, s.confidence, s.cutoff_hz)
        }),
    }
}
