//! Lookups by any identifier and ranked full-text search: the plain data
//! behind `catalog show`, `catalog search` and the API.

use serde::Serialize;

use crate::ids::{self, Lookup};
use crate::{Catalog, CatalogError};
use musicark_store::Db;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ArtistCredit {
    pub artist_mbid: Option<String>,
    pub name: String,
    pub credited_as: String,
    pub join_phrase: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TrackOn {
    pub release_id: i64,
    pub release_mbid: Option<String>,
    pub release_title: String,
    pub date: Option<String>,
    pub country: Option<String>,
    pub barcode: Option<String>,
    pub disc: i64,
    pub position: i64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ExternalId {
    pub source: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Popularity {
    pub source: String,
    pub listen_count: Option<i64>,
    pub user_count: Option<i64>,
    pub as_of: Option<String>,
}

/// One recording, with everything the catalogue knows of it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RecordingView {
    pub recording_id: i64,
    pub mbid: Option<String>,
    pub title: String,
    pub artist_credit: Option<String>,
    pub length_ms: Option<i64>,
    pub video: bool,
    pub first_release_date: Option<String>,
    pub artists: Vec<ArtistCredit>,
    pub isrcs: Vec<String>,
    pub releases: Vec<TrackOn>,
    pub external_ids: Vec<ExternalId>,
    pub popularity: Vec<Popularity>,
    pub license: Option<String>,
}

/// One recording by internal id, with everything the catalogue knows.
///
/// One statement (a round trip on PostgreSQL, where eight took most of a
/// millisecond): each part of the view is a branch of a `UNION ALL`,
/// tagged by its first column; each part is put in order here (ordering
/// the whole answer in SQL made SQLite sort it in temporary b-trees).
pub fn recording(db: &Db, id: i64) -> Result<Option<RecordingView>, CatalogError> {
    static BY_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = BY_ID.get_or_init(|| view_sql("?1", "NULL"));
    Ok(view(db, sql, &id)?.0)
}

/// The recording whose MBID is `mbid`, read in one statement (its id is
/// found inside it: one round trip on PostgreSQL instead of two).
fn recording_by_mbid(db: &Db, mbid: &str) -> Result<Option<RecordingView>, CatalogError> {
    static BY_MBID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    // Found once (a materialised CTE), not once for each part.
    let sql = BY_MBID.get_or_init(|| {
        format!(
            "WITH k AS MATERIALIZED (SELECT recording_id AS id FROM recordings WHERE mbid = ?1) {}",
            view_sql("(SELECT id FROM k)", "NULL")
        )
    });
    Ok(view(db, sql, &mbid)?.0)
}

/// The first recording (by id) holding the ISRC `isrc`, read in one
/// statement as [`recording_by_mbid`], and how many recordings hold it
/// (most ISRCs name one).
fn recording_by_isrc(db: &Db, isrc: &str) -> Result<(Option<RecordingView>, i64), CatalogError> {
    static BY_ISRC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = BY_ISRC.get_or_init(|| {
        format!(
            "WITH k AS MATERIALIZED (SELECT min(recording_id) AS id, count(*) AS n FROM isrcs WHERE isrc = ?1) {}",
            view_sql("(SELECT id FROM k)", "CAST((SELECT n FROM k) AS TEXT)")
        )
    });
    view(db, sql, &isrc)
}

/// The view's one statement, every part of it about the recording `key`
/// (`?1`, or a statement finding it); `holders` is the recording's row's
/// last column (`NULL`, or how many recordings the key found, as text).
fn view_sql(key: &str, holders: &str) -> String {
    "\
        SELECT 0, NULL, recording_id, length_ms, video, mbid, title, artist_credit, first_release_date, HOLDERS \
          FROM recordings WHERE recording_id = ?1 \
        UNION ALL \
        SELECT 1, ra.position, NULL, NULL, NULL, a.mbid, a.name, ra.credited_name, ra.join_phrase, NULL \
          FROM recording_artists ra JOIN artists a USING (artist_id) WHERE ra.recording_id = ?1 \
        UNION ALL \
        SELECT 2, NULL, NULL, NULL, NULL, isrc, NULL, NULL, NULL, NULL FROM isrcs WHERE recording_id = ?1 \
        UNION ALL \
        SELECT 3, NULL, x.release_id, x.disc, x.position, x.mbid, x.title, x.date, x.country, x.barcode FROM ( \
          SELECT r.release_id, t.disc, t.position, r.mbid, r.title, r.date, r.country, r.barcode \
            FROM tracks t JOIN releases r USING (release_id) WHERE t.recording_id = ?1 \
            ORDER BY r.date IS NULL, r.date, r.release_id LIMIT 100) x \
        UNION ALL \
        SELECT 4, NULL, NULL, NULL, NULL, source, external_id, NULL, NULL, NULL \
          FROM external_ids WHERE entity = 'recording' AND entity_id = ?1 \
        UNION ALL \
        SELECT 5, NULL, listen_count, user_count, NULL, source, as_of, NULL, NULL, NULL FROM popularity \
          WHERE recording_key = (SELECT coalesce(mbid, 'rec:' || recording_id) FROM recordings WHERE recording_id = ?1) \
        UNION ALL \
        SELECT 6, NULL, NULL, NULL, NULL, license, NULL, NULL, NULL, NULL \
          FROM rights WHERE entity = 'recording' AND entity_id = ?1"
    .replace("= ?1", &format!("= {key}"))
    .replace("HOLDERS", holders)
}

/// Run a view's statement: the recording, and its row's last column
/// (see [`view_sql`]; 1 when `NULL`).
fn view(
    db: &Db,
    sql: &str,
    key: &dyn musicark_store::sql::Param,
) -> Result<(Option<RecordingView>, i64), CatalogError> {
    let mut view: Option<RecordingView> = None;
    let mut holders = 1;
    let mut credits: Vec<(i64, ArtistCredit)> = Vec::new();
    let mut stmt = db.prepare_cached(sql)?;
    let mut rows = stmt.query([key])?;
    while let Some(r) = rows.next()? {
        let part: i64 = r.get(0)?;
        if part == 0 {
            // Text: the column holds releases' barcodes in another part.
            holders = r
                .get::<_, Option<String>>(9)?
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            view = Some(RecordingView {
                recording_id: r.get(2)?,
                mbid: r.get(5)?,
                title: r.get(6)?,
                artist_credit: r.get(7)?,
                length_ms: r.get(3)?,
                video: r.get::<_, i64>(4)? != 0,
                first_release_date: r.get(8)?,
                artists: vec![],
                isrcs: vec![],
                releases: vec![],
                external_ids: vec![],
                popularity: vec![],
                license: None,
            });
            continue;
        }
        let Some(v) = view.as_mut() else {
            return Ok((None, 0)); // no such recording: its branch comes first
        };
        match part {
            1 => credits.push((
                r.get(1)?,
                ArtistCredit {
                    artist_mbid: r.get(5)?,
                    name: r.get(6)?,
                    credited_as: r.get(7)?,
                    join_phrase: r.get(8)?,
                },
            )),
            2 => v.isrcs.push(r.get(5)?),
            3 => v.releases.push(TrackOn {
                release_id: r.get(2)?,
                release_mbid: r.get(5)?,
                release_title: r.get(6)?,
                date: r.get(7)?,
                country: r.get(8)?,
                barcode: r.get(9)?,
                disc: r.get(3)?,
                position: r.get(4)?,
            }),
            4 => v.external_ids.push(ExternalId {
                source: r.get(5)?,
                id: r.get(6)?,
            }),
            5 => v.popularity.push(Popularity {
                source: r.get(5)?,
                listen_count: r.get(2)?,
                user_count: r.get(3)?,
                as_of: r.get(6)?,
            }),
            _ => v.license = r.get(5)?,
        }
    }
    if let Some(v) = view.as_mut() {
        credits.sort_by_key(|c| c.0);
        v.artists = credits.into_iter().map(|c| c.1).collect();
        v.isrcs.sort();
        v.releases.sort_by(|a, b| {
            (a.date.is_none(), &a.date, a.release_id).cmp(&(
                b.date.is_none(),
                &b.date,
                b.release_id,
            ))
        });
        v.external_ids
            .sort_by(|a, b| (&a.source, &a.id).cmp(&(&b.source, &b.id)));
        v.popularity.sort_by(|a, b| a.source.cmp(&b.source));
    }
    Ok((view, holders))
}

/// Look a recording up by MBID, ISRC, barcode (its release's tracks) or
/// internal id. Several recordings may share an ISRC or a barcode.
pub fn lookup(db: &Db, query: &str) -> Result<Vec<RecordingView>, CatalogError> {
    let ids: Vec<i64> = match ids::classify(query) {
        None => vec![],
        Some(Lookup::Internal(id)) => vec![id],
        Some(Lookup::Mbid(m)) => {
            if let Some(v) = recording_by_mbid(db, &m)? {
                return Ok(vec![v]);
            }
            // A release MBID: its tracks.
            db
                .prepare_cached("SELECT t.recording_id FROM tracks t JOIN releases r USING (release_id) WHERE r.mbid = ?1 ORDER BY t.disc, t.position")?
                .query_map([&m], |r| r.get(0))?
                .collect::<musicark_store::sql::Result<_>>()?
        }
        Some(Lookup::Isrc(i)) => {
            let (first, holders) = recording_by_isrc(db, &i)?;
            if holders <= 1 {
                return Ok(first.into_iter().collect());
            }
            db.prepare_cached("SELECT recording_id FROM isrcs WHERE isrc = ?1 ORDER BY recording_id")?
                .query_map([&i], |r| r.get(0))?
                .collect::<musicark_store::sql::Result<_>>()?
        }
        Some(Lookup::Barcode(b)) => db
            .prepare_cached("SELECT t.recording_id FROM tracks t JOIN releases r USING (release_id) WHERE r.barcode = ?1 ORDER BY t.disc, t.position LIMIT 500")?
            .query_map([&b], |r| r.get(0))?
            .collect::<musicark_store::sql::Result<_>>()?,
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(v) = recording(db, id)? {
            out.push(v);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SearchHit {
    /// `recording` or `release`.
    pub kind: &'static str,
    pub id: i64,
    pub mbid: Option<String>,
    pub title: String,
    pub artist: Option<String>,
    pub length_ms: Option<i64>,
    /// Relevance (bm25, weighted by field; higher is better).
    pub score: f64,
}

/// Ranked full-text search over recording titles and credits and release
/// titles; case and diacritics folded. Documents holding the words as a
/// phrase come first, then those holding every word (the last may be a
/// prefix); bm25 within each, title weighed above artist above release.
pub fn search(cat: &Catalog, query: &str, limit: usize) -> Result<Vec<SearchHit>, CatalogError> {
    search_in(&cat.db, &cat.search, query, limit)
}

/// [`search`] over a database connection and an index opened apart (a
/// server keeps one index and a pool of connections).
pub fn search_in(
    db: &Db,
    index: &crate::SearchIndex,
    query: &str,
    limit: usize,
) -> Result<Vec<SearchHit>, CatalogError> {
    let rows = index.search(query, limit.clamp(1, 1000))?;
    // The hits' rows read a chunk of keys per statement (a round trip
    // each on PostgreSQL: one per hit was 20 of them for a page of hits).
    let recordings: Vec<i64> = rows.iter().map(|&(k, _)| k).filter(|&k| k > 0).collect();
    let releases: Vec<i64> = rows.iter().map(|&(k, _)| -k).filter(|&k| k > 0).collect();
    let mut found: std::collections::HashMap<i64, SearchHit> =
        std::collections::HashMap::with_capacity(rows.len());
    // A release's key in the index is minus its id.
    for (kind, sign, select, keys) in [
        (
            "recording",
            1,
            "SELECT recording_id, mbid, title, artist_credit, length_ms FROM recordings WHERE recording_id",
            &recordings,
        ),
        (
            "release",
            -1,
            "SELECT release_id, mbid, title, artist_credit, CAST(NULL AS BIGINT) FROM releases WHERE release_id",
            &releases,
        ),
    ] {
        for_keys(db, select, keys, |r| {
            let id: i64 = r.get(0)?;
            found.insert(
                sign * id,
                SearchHit {
                    kind,
                    id,
                    mbid: r.get(1)?,
                    title: r.get(2)?,
                    artist: r.get(3)?,
                    length_ms: r.get(4)?,
                    score: 0.0,
                },
            );
            Ok(())
        })?;
    }
    // In the index's order; a key whose row is gone is left out.
    Ok(rows
        .into_iter()
        .filter_map(|(key, rank)| {
            found.remove(&key).map(|hit| SearchHit {
                score: f64::from(rank),
                ..hit
            })
        })
        .collect())
}

/// Keys read per statement by [`for_keys`].
const HIT_KEYS: usize = 32;

/// Each row of `{select} IN (…)` for `keys`, [`HIT_KEYS`] at a time (the
/// last chunk padded with its first key, so that one prepared statement
/// serves every chunk).
fn for_keys(
    db: &Db,
    select: &str,
    keys: &[i64],
    mut f: impl FnMut(&musicark_store::sql::Row<'_, '_>) -> musicark_store::sql::Result<()>,
) -> Result<(), CatalogError> {
    if keys.is_empty() {
        return Ok(());
    }
    let sql = format!("{select} IN ({})", musicark_store::sql::marks(1, HIT_KEYS));
    for chunk in keys.chunks(HIT_KEYS) {
        let padded = chunk
            .iter()
            .chain(std::iter::repeat(&chunk[0]))
            .take(HIT_KEYS);
        db.scan(&sql, musicark_store::sql::params_from_iter(padded), &mut f)?;
    }
    Ok(())
}

/// One rejected input: where, what and why.
#[derive(Debug, Clone, Serialize)]
pub struct RejectView {
    pub import_id: i64,
    pub source: String,
    pub path: String,
    pub line: i64,
    pub field: Option<String>,
    pub value: Option<String>,
    pub reason: String,
}

/// The most recent rejects, newest import first, by line.
pub fn rejects(db: &Db, limit: usize) -> Result<Vec<RejectView>, CatalogError> {
    Ok(db
        .prepare_cached(
            "SELECT r.import_id, i.source, i.path, r.line, r.field, r.value, r.reason FROM rejects r \
             JOIN imports i USING (import_id) ORDER BY r.import_id DESC, r.line LIMIT ?1",
        )?
        .query_map([limit as i64], |r| {
            Ok(RejectView {
                import_id: r.get(0)?,
                source: r.get(1)?,
                path: r.get(2)?,
                line: r.get(3)?,
                field: r.get(4)?,
                value: r.get(5)?,
                reason: r.get(6)?,
            })
        })?
        .collect::<musicark_store::sql::Result<_>>()?)
}
