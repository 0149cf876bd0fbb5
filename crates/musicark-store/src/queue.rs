//! The work queue (`jobs`): work a command hands to `musicark worker`
//! processes, on this machine or others, through the archive's database.
//!
//! A job is one unit of work on one key (a source's content id, a pack's
//! name), unique per (kind, key): enqueueing again is a no-op unless the
//! job failed or its payload changed. A worker *claims* the oldest ready
//! job — queued, or running under an expired lease — in one statement
//! (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so workers never wait on
//! each other), keeps its lease alive with heartbeats, and finishes it.
//! Every claim bumps `attempts`, which fences a worker whose lease ran
//! out: its heartbeat and its finish name the attempt they hold, and are
//! refused once another worker has claimed the job again. The work itself
//! writes its results idempotently (content-addressed blobs, rows keyed
//! by content id), so a job done twice, after a lease expired under a
//! slow worker, writes the same results twice.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::{Db, Result, params};

/// Claims a job is given before it counts as failed for good.
pub const MAX_ATTEMPTS: i64 = 3;

/// A job a worker holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub job_id: i64,
    pub kind: String,
    pub key: String,
    pub payload: String,
    /// Which claim of the job this is (1 for the first): the fence.
    pub attempt: i64,
}

/// One job as its enqueuer sees it (see [`Db::job_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Queued, or running.
    Pending,
    /// Done: the payload it was done for, and what it handed back.
    Done { payload: String, result: String },
    /// Failed for good, with the reason.
    Failed(String),
}

/// Jobs by state, for `status` and the dashboard.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct QueueCounts {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
}

impl QueueCounts {
    pub fn total(&self) -> u64 {
        self.queued + self.running + self.done + self.failed
    }
}

/// Queue one job, or queue it again when it failed or its payload changed.
const ENQUEUE: &str = "INSERT INTO jobs (kind, key, payload, state, enqueued_at) VALUES (?1, ?2, ?3, 'queued', ?4) \
     ON CONFLICT (kind, key) DO UPDATE SET payload = excluded.payload, state = 'queued', \
       attempts = 0, worker = NULL, lease_until = NULL, error = NULL, \
       enqueued_at = excluded.enqueued_at, finished_at = NULL \
     WHERE jobs.state = 'failed' OR jobs.payload <> excluded.payload";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Db {
    /// Queue `kind` work on `key`; `true` when it is (again) to be done.
    /// A job already queued, running or done with the same payload stays
    /// as it is; a failed one, or one whose payload changed, is queued
    /// afresh.
    pub fn enqueue(&self, kind: &str, key: &str, payload: &str) -> Result<bool> {
        let n = self.execute(ENQUEUE, params![kind, key, payload, crate::clock::now()])?;
        Ok(n > 0)
    }

    /// Queue `kind` work on many `(key, payload)`s in one transaction (see
    /// [`Db::enqueue`]); how many are (again) to be done.
    pub fn enqueue_all(
        &mut self,
        kind: &str,
        items: impl IntoIterator<Item = (String, String)>,
    ) -> Result<u64> {
        let now = crate::clock::now();
        let tx = self.transaction()?;
        let mut n = 0u64;
        {
            let mut stmt = tx.prepare_cached(ENQUEUE)?;
            for (key, payload) in items {
                n += stmt.execute(params![kind, key, payload, now])? as u64;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Claim the oldest ready job of one of `kinds` for `worker`, leased
    /// for `lease`: a queued job, or a running one whose lease expired
    /// (its worker died or stalled).
    pub fn claim(&self, worker: &str, kinds: &[&str], lease: Duration) -> Result<Option<Claimed>> {
        let now = now_ms();
        let kinds = kinds.join(",");
        // The kinds as one text: `kind` must be one of its comma-separated
        // names (the same SQL on both engines).
        let skip_locked = if self.engine_name() == "postgres" {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        // Queued jobs first, straight from the (state, job_id) index; then
        // running ones whose lease ran out.
        let sql = format!(
            "UPDATE jobs SET state = 'running', worker = ?1, lease_until = ?2, attempts = attempts + 1 \
             WHERE job_id = (SELECT job_id FROM jobs \
                 WHERE state = ?6 AND (?6 = 'queued' OR lease_until < ?3) \
                   AND attempts < ?4 \
                   AND (',' || ?5 || ',') LIKE ('%,' || kind || ',%') \
                 ORDER BY job_id LIMIT 1{skip_locked}) \
             RETURNING job_id, kind, key, payload, attempts"
        );
        let mut claimed = None;
        for state in ["queued", "running"] {
            claimed = self
                .prepare_cached(&sql)?
                .query_map(
                    params![
                        worker,
                        now + lease.as_millis() as i64,
                        now,
                        MAX_ATTEMPTS,
                        kinds,
                        state
                    ],
                    |r| {
                        Ok(Claimed {
                            job_id: r.get(0)?,
                            kind: r.get(1)?,
                            key: r.get(2)?,
                            payload: r.get(3)?,
                            attempt: r.get(4)?,
                        })
                    },
                )?
                .next()
                .transpose()?;
            if claimed.is_some() {
                break;
            }
        }
        if claimed.is_none() {
            // Jobs whose every attempt died with their worker: failed.
            self.execute(
                "UPDATE jobs SET state = 'failed', finished_at = ?3, \
                   error = 'every worker that took it died or stalled (' || attempts || ' attempts)' \
                 WHERE state = 'running' AND lease_until < ?1 AND attempts >= ?2",
                params![now, MAX_ATTEMPTS, crate::clock::now()],
            )?;
        }
        Ok(claimed)
    }

    /// Whether a job of one of `kinds` is ready to claim (queued, or
    /// running under an expired lease): a worker asks before it takes the
    /// locks that kind of work needs.
    pub fn jobs_ready(&self, kinds: &[&str]) -> Result<bool> {
        let kinds = kinds.join(",");
        let mut stmt = self.prepare_cached(
            "SELECT 1 FROM jobs WHERE (state = 'queued' OR (state = 'running' AND lease_until < ?2)) \
               AND attempts < ?3 AND (',' || ?1 || ',') LIKE ('%,' || kind || ',%') LIMIT 1",
        )?;
        Ok(stmt
            .query_map(params![kinds, now_ms(), MAX_ATTEMPTS], |r| {
                r.get::<_, i64>(0)
            })?
            .next()
            .is_some())
    }

    /// Keep `job`'s lease alive for `lease` more; `false` when the worker
    /// no longer holds it (another claimed it after the lease ran out).
    pub fn heartbeat(&self, job: &Claimed, worker: &str, lease: Duration) -> Result<bool> {
        let n = self.execute(
            "UPDATE jobs SET lease_until = ?1 \
             WHERE job_id = ?2 AND worker = ?3 AND attempts = ?4 AND state = 'running'",
            params![
                now_ms() + lease.as_millis() as i64,
                job.job_id,
                worker,
                job.attempt
            ],
        )?;
        Ok(n > 0)
    }

    /// Finish `job`: done (with the `result` it hands back, if any), or
    /// failed with `error` (the item's reason). `false` when the worker no
    /// longer held it: its result was already someone else's to record.
    pub fn finish(
        &self,
        job: &Claimed,
        worker: &str,
        outcome: std::result::Result<Option<&str>, &str>,
    ) -> Result<bool> {
        let (state, result, error) = match outcome {
            Ok(result) => ("done", result, None),
            Err(error) => ("failed", None, Some(error)),
        };
        let n = self.execute(
            "UPDATE jobs SET state = ?1, error = ?2, finished_at = ?3, lease_until = NULL, result = ?7 \
             WHERE job_id = ?4 AND worker = ?5 AND attempts = ?6 AND state = 'running'",
            params![
                state,
                error,
                crate::clock::now(),
                job.job_id,
                worker,
                job.attempt,
                result
            ],
        )?;
        Ok(n > 0)
    }

    /// Where one job stands: its state, and its result once done or its
    /// error once failed (`None` when there is no such job).
    pub fn job_state(&self, kind: &str, key: &str) -> Result<Option<JobState>> {
        let mut stmt = self.prepare_cached(
            "SELECT state, result, error, payload FROM jobs WHERE kind = ?1 AND key = ?2",
        )?;
        Ok(stmt
            .query_map(params![kind, key], |r| {
                let state: String = r.get(0)?;
                let result: Option<String> = r.get(1)?;
                let error: Option<String> = r.get(2)?;
                let payload: String = r.get(3)?;
                Ok(match state.as_str() {
                    "done" => JobState::Done {
                        payload,
                        result: result.unwrap_or_default(),
                    },
                    "failed" => JobState::Failed(error.unwrap_or_default()),
                    _ => JobState::Pending,
                })
            })?
            .next()
            .transpose()?)
    }

    /// Jobs by state, of `kind` (all kinds when `None`).
    pub fn queue_counts(&self, kind: Option<&str>) -> Result<QueueCounts> {
        let mut counts = QueueCounts::default();
        let mut stmt = self.prepare_cached(
            "SELECT state, count(*) FROM jobs WHERE kind = coalesce(?1, kind) GROUP BY state",
        )?;
        let rows = stmt.query_map(params![kind], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (state, n) = row?;
            let n = n as u64;
            match state.as_str() {
                "queued" => counts.queued = n,
                "running" => counts.running = n,
                "done" => counts.done = n,
                _ => counts.failed += n,
            }
        }
        Ok(counts)
    }

    /// The failed jobs of `kind`: (key, error), oldest first.
    pub fn failed_jobs(&self, kind: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.prepare_cached(
            "SELECT key, coalesce(error, '') FROM jobs WHERE kind = ?1 AND state = 'failed' ORDER BY job_id",
        )?;
        let rows = stmt.query_map(params![kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<crate::sql::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_claimed_once_fenced_by_its_attempt_and_taken_over_when_its_lease_expires() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("q.sqlite")).expect("db");
        assert!(db.enqueue("noop", "a", "{}").expect("enqueue"));
        assert!(!db.enqueue("noop", "a", "{}").expect("again: nothing new"));
        assert!(db.enqueue("noop", "b", "{}").expect("enqueue"));
        let lease = Duration::from_millis(200);
        let one = db
            .claim("w1", &["noop"], lease)
            .expect("claim")
            .expect("a job");
        assert_eq!((one.key.as_str(), one.attempt), ("a", 1));
        let two = db
            .claim("w2", &["noop"], lease)
            .expect("claim")
            .expect("a job");
        assert_eq!(two.key, "b");
        assert!(db.claim("w2", &["noop"], lease).expect("claim").is_none());
        assert!(db.claim("w3", &["other"], lease).expect("claim").is_none());
        assert!(db.finish(&two, "w2", Ok(Some("42"))).expect("finish"));
        assert_eq!(
            db.job_state("noop", "b").expect("state"),
            Some(JobState::Done {
                payload: "{}".into(),
                result: "42".into()
            })
        );
        // w1 stalls: its lease runs out and w3 takes the job over.
        std::thread::sleep(Duration::from_millis(250));
        let again = db
            .claim("w3", &["noop"], lease)
            .expect("claim")
            .expect("taken over");
        assert_eq!((again.key.as_str(), again.attempt), ("a", 2));
        assert!(!db.heartbeat(&one, "w1", lease).expect("fenced"));
        assert!(!db.finish(&one, "w1", Ok(None)).expect("fenced"));
        assert!(db.heartbeat(&again, "w3", lease).expect("held"));
        assert!(db.finish(&again, "w3", Err("unreadable")).expect("finish"));
        let counts = db.queue_counts(Some("noop")).expect("counts");
        assert_eq!((counts.done, counts.failed, counts.total()), (1, 1, 2));
        assert_eq!(
            db.failed_jobs("noop").expect("failed"),
            vec![("a".to_string(), "unreadable".to_string())]
        );
        // A failed job queued again starts afresh.
        assert!(db.enqueue("noop", "a", "{}").expect("requeue"));
        assert_eq!(db.queue_counts(None).expect("counts").queued, 1);
    }
}
