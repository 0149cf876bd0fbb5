//! `musicark where`: which torrent, path and byte range hold a recording
//! (or a file, by its BLAKE3 or the BLAKE3 of its source).

use serde::Serialize;

use musicark_store::{Db, Home};

use crate::PublishError;

/// One place a recording's copy is published.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Location {
    pub recording_id: Option<i64>,
    pub torrent: String,
    pub btih: Option<String>,
    pub btmh: Option<String>,
    /// A magnet that selects only this file (BEP 53 `so=`).
    pub magnet: String,
    /// The file's path in a client's download directory: the torrent's name,
    /// then its path inside it.
    pub path: String,
    /// Index in the torrent's v1 file list (pad files counted).
    pub file_index: i64,
    /// First byte of the file in the torrent's data, and one past its last.
    pub byte_start: u64,
    pub byte_end: u64,
    pub size: u64,
    pub blake3: String,
    pub obsolete: bool,
}

const SELECT: &str = "SELECT f.recording_id, p.name, p.btih, p.btmh, f.path, f.file_index, f.byte_offset, f.size, \
                             f.output_id, p.obsolete \
                      FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id";

fn collect(
    home: &Home,
    db: &Db,
    sql: &str,
    arg: &dyn musicark_store::sql::Param,
) -> Result<Vec<Location>, PublishError> {
    let mut stmt = db.prepare_cached(sql)?;
    let mut rows = stmt.query([arg])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let name: String = r.get(1)?;
        let btih: Option<String> = r.get(2)?;
        let btmh: Option<String> = r.get(3)?;
        let index: i64 = r.get(5)?;
        let start = r.get::<_, i64>(6)? as u64;
        let size = r.get::<_, i64>(7)? as u64;
        let magnet = musicark_torrent::magnet_link(&musicark_torrent::MagnetParts {
            btih: btih.as_deref(),
            btmh: btmh.as_deref(),
            name: &name,
            trackers: &home.config.publish.trackers,
            select: Some(index),
            ..Default::default()
        });
        out.push(Location {
            recording_id: r.get(0)?,
            path: format!("{name}/{}", r.get::<_, String>(4)?),
            torrent: name,
            btih,
            btmh,
            magnet,
            file_index: index,
            byte_start: start,
            byte_end: start + size,
            size,
            blake3: r.get(8)?,
            obsolete: r.get(9)?,
        });
    }
    Ok(out)
}

/// Where the copies of these recordings are, active torrents first.
pub fn recordings(home: &Home, db: &Db, ids: &[i64]) -> Result<Vec<Location>, PublishError> {
    let sql = format!(
        "{SELECT} WHERE f.recording_id = ?1 AND p.kind = 'audio' ORDER BY p.obsolete, p.pack_id, f.file_index"
    );
    let mut out = Vec::new();
    for id in ids {
        out.extend(collect(home, db, &sql, id)?);
    }
    Ok(out)
}

/// Where a file is, by its BLAKE3 or its source's (64 hex digits).
pub fn content(home: &Home, db: &Db, blake3: &str) -> Result<Vec<Location>, PublishError> {
    let sql = format!(
        "{SELECT} WHERE (f.output_id = ?1 OR f.source_id = ?1) ORDER BY p.obsolete, p.pack_id, f.file_index"
    );
    collect(home, db, &sql, &blake3.to_ascii_lowercase())
}
