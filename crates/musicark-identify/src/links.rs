//! Typed reads of `matches`, the table `match` owns: a recording's
//! linked contents and the review queue.

use musicark_store::params;
use serde::Serialize;

use crate::IdentifyError;
use musicark_store::Db;

/// A content's link to a recording as `match` recorded it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Link {
    pub content_id: String,
    pub recording_id: Option<i64>,
    /// linked | review | unmatched
    pub status: String,
    /// mbid | isrc | fingerprint | text
    pub method: Option<String>,
    pub confidence: Option<f64>,
    /// What agreed (and, for review, the candidates).
    pub evidence: Option<String>,
}

fn link(r: &musicark_store::sql::Row<'_, '_>) -> musicark_store::sql::Result<Link> {
    Ok(Link {
        content_id: r.get(0)?,
        recording_id: r.get(1)?,
        status: r.get(2)?,
        method: r.get(3)?,
        confidence: r.get(4)?,
        evidence: r.get(5)?,
    })
}

/// The contents linked (or proposed) to a recording, by content id.
pub fn of_recording(db: &Db, recording_id: i64, limit: usize) -> Result<Vec<Link>, IdentifyError> {
    Ok(db
        .prepare_cached(
            "SELECT content_id, recording_id, status, method, confidence, evidence FROM matches \
             WHERE recording_id = ?1 ORDER BY content_id LIMIT ?2",
        )?
        .query_map(params![recording_id, limit as i64], link)?
        .collect::<musicark_store::sql::Result<_>>()?)
}

/// Contents waiting for a person's decision, by content id.
pub fn review_queue(db: &Db, limit: usize) -> Result<Vec<Link>, IdentifyError> {
    Ok(db
        .prepare_cached(
            "SELECT content_id, recording_id, status, method, confidence, evidence FROM matches \
             WHERE status = 'review' ORDER BY content_id LIMIT ?1",
        )?
        .query_map([limit as i64], link)?
        .collect::<musicark_store::sql::Result<_>>()?)
}

/// The candidates `match` appends to a review's evidence:
/// `… (candidates: [3, 7])`.
pub fn candidate_ids(evidence: &str) -> Vec<i64> {
    evidence
        .rsplit_once("(candidates: [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| {
            list.split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
