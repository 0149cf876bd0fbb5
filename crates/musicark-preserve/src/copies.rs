//! Typed reads of `preserved`, the table `preserve` owns.

use musicark_store::params;
use serde::Serialize;

use crate::PreserveError;
use musicark_store::Db;

/// A preserved copy: what `preserve` made or kept.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Copy {
    pub source_id: String,
    pub tier: crate::Tier,
    pub kbps: Option<i64>,
    /// The copy's BLAKE3.
    pub output_id: String,
    pub bytes: u64,
    pub duration: Option<f64>,
    pub made_at: String,
}

/// The copies of a recording, oldest first.
pub fn of_recording(db: &Db, recording_id: i64, limit: usize) -> Result<Vec<Copy>, PreserveError> {
    Ok(db
        .prepare_cached(
            "SELECT source_id, tier, kbps, output_id, bytes, duration, made_at FROM preserved \
             WHERE recording_id = ?1 ORDER BY made_at LIMIT ?2",
        )?
        .query_map(params![recording_id, limit as i64], |r| {
            Ok(Copy {
                source_id: r.get(0)?,
                tier: musicark_store::sql::parse_column(r, 1)?,
                kbps: r.get(2)?,
                output_id: r.get(3)?,
                bytes: r.get::<_, i64>(4)?.max(0) as u64,
                duration: r.get(5)?,
                made_at: r.get(6)?,
            })
        })?
        .collect::<musicark_store::sql::Result<_>>()?)
}

/// Whether a copy of the recording is preserved.
pub fn recording_preserved(db: &Db, recording_id: i64) -> Result<bool, PreserveError> {
    Ok(db
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM preserved WHERE recording_id = ?1)")?
        .query_row([recording_id], |r| r.get(0))?)
}

/// Whether a copy of any track of the release is preserved.
pub fn release_preserved(db: &Db, release_id: i64) -> Result<bool, PreserveError> {
    Ok(db
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tracks t JOIN preserved p USING (recording_id) \
             WHERE t.release_id = ?1)",
        )?
        .query_row([release_id], |r| r.get(0))?)
}
