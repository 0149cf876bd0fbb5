//! Writing catalogue rows inside an import's transaction: upserts keyed by
//! MBID or by a source's own id, so a re-import updates and never
//! duplicates.

use musicark_store::params;
use musicark_store::sql::{OptionalExtension, Value};

use crate::ids;
use crate::mb::{self, credit_string};

/// A problem with one field of an otherwise good line.
pub struct FieldReject {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

pub struct W<'t> {
    pub tx: &'t musicark_store::sql::Tx<'t>,
    pub import_id: i64,
    pub source: String,
    /// The day popularity is recorded as of (the archive's clock).
    pub today: String,
    /// Artists already seen by this import (MBID as a number → id):
    /// credits repeat the same artists endlessly, and each look-up is a
    /// random index probe.
    pub artists: &'t std::cell::RefCell<std::collections::HashMap<u128, i64>>,
    /// A first load into an empty recordings table: plain appends with
    /// ids counted here (its indexes are built when it ends).
    pub bulk: Option<&'t Bulk>,
}

/// A first load's state: the next recording id, and the rows of the
/// current batch, written together by [`W::flush_bulk`] (binary COPY on
/// PostgreSQL: a statement per row would cost a round trip each).
pub struct Bulk {
    pub next_id: std::cell::Cell<i64>,
    rows: std::cell::RefCell<BulkRows>,
}

#[derive(Default)]
struct BulkRows {
    recordings: Vec<[Value; 7]>,
    credits: Vec<[Value; 5]>,
    isrcs: Vec<[Value; 2]>,
}

impl Bulk {
    pub fn new(next_id: i64) -> Bulk {
        Bulk {
            next_id: std::cell::Cell::new(next_id),
            rows: Default::default(),
        }
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn opt(v: Option<impl Into<Value>>) -> Value {
    v.map_or(Value::Null, Into::into)
}

/// Most artists remembered by an import before the memory is cleared
/// (about 40 bytes each: 4 M is ~160 MiB, more artists than MusicBrainz
/// has, so a full dump never clears it).
pub const ARTIST_CACHE: usize = 4 << 20;

fn opt_text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl W<'_> {
    pub fn external_id(
        &self,
        entity: &str,
        external: &str,
        entity_id: i64,
    ) -> musicark_store::sql::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO external_ids (source, external_id, entity, entity_id, import_id) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(source, entity, external_id) DO UPDATE SET entity_id = excluded.entity_id",
            )?
            .execute(params![self.source, external, entity, entity_id, self.import_id])?;
        Ok(())
    }

    /// Write the rows a first load buffered in this batch (recordings
    /// before what refers to them); call before the batch commits.
    pub fn flush_bulk(&self) -> musicark_store::sql::Result<()> {
        let Some(bulk) = self.bulk else {
            return Ok(());
        };
        let rows = std::mem::take(&mut *bulk.rows.borrow_mut());
        self.tx.copy_in(
            "recordings",
            &[
                "recording_id",
                "mbid",
                "title",
                "artist_credit",
                "length_ms",
                "video",
                "first_release_date",
            ],
            |sink| rows.recordings.iter().try_for_each(|r| sink(r)),
        )?;
        self.tx.copy_in(
            "recording_artists",
            &[
                "recording_id",
                "position",
                "artist_id",
                "credited_name",
                "join_phrase",
            ],
            |sink| rows.credits.iter().try_for_each(|r| sink(r)),
        )?;
        self.tx
            .copy_in("isrcs", &["isrc", "recording_id"], |sink| {
                rows.isrcs.iter().try_for_each(|r| sink(r))
            })?;
        Ok(())
    }

    /// Upsert an artist by MBID. Fields that are absent keep their value.
    pub fn artist(
        &self,
        mbid: &str,
        name: &str,
        sort_name: Option<&str>,
        country: Option<&str>,
        kind: Option<&str>,
    ) -> musicark_store::sql::Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO artists (mbid, name, sort_name, country, type) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(mbid) DO UPDATE SET name = excluded.name, \
                   sort_name = coalesce(excluded.sort_name, artists.sort_name), \
                   country = coalesce(excluded.country, artists.country), type = coalesce(excluded.type, artists.type) \
                 RETURNING artist_id",
            )?
            .query_row(params![mbid, name, sort_name, country, kind], |r| r.get(0))
    }

    /// Write a recording's credits; `replace` drops the old ones first (a
    /// new recording has none).
    fn credits(
        &self,
        recording_id: i64,
        credits: &[mb::Credit],
        replace: bool,
        rejects: &mut Vec<FieldReject>,
    ) -> musicark_store::sql::Result<()> {
        if replace {
            self.tx
                .prepare_cached("DELETE FROM recording_artists WHERE recording_id = ?1")?
                .execute([recording_id])?;
        }
        for (pos, c) in credits.iter().enumerate() {
            let Some(a) = &c.artist else { continue };
            let raw = a.id.as_deref().unwrap_or("");
            let Ok(mbid) = ids::mbid(raw) else {
                rejects.push(FieldReject {
                    field: "artist-credit.artist.id",
                    value: raw.to_string(),
                    reason: ids::IdError::Mbid.to_string(),
                });
                continue;
            };
            let name = a.name.as_deref().or(c.name.as_deref()).unwrap_or("");
            let key = ids::mbid_key(&mbid);
            let cached = key.and_then(|k| self.artists.borrow().get(&k).copied());
            let artist_id = match cached {
                Some(id) => id,
                None => {
                    // A credited artist is usually known (from the artist
                    // dump): read it; write only a new one, never rewrite.
                    let known: Option<i64> = self
                        .tx
                        .prepare_cached("SELECT artist_id FROM artists WHERE mbid = ?1")?
                        .query_row([&mbid], |r| r.get(0))
                        .optional()?;
                    let id = match known {
                        Some(id) => id,
                        None => self.artist(
                            &mbid,
                            name,
                            opt_text(&a.sort_name),
                            opt_text(&a.country),
                            opt_text(&a.kind),
                        )?,
                    };
                    if let Some(k) = key {
                        let mut cache = self.artists.borrow_mut();
                        if cache.len() >= ARTIST_CACHE {
                            cache.clear();
                        }
                        cache.insert(k, id);
                    }
                    id
                }
            };
            let credited = c.name.as_deref().unwrap_or(name);
            if let Some(bulk) = self.bulk {
                bulk.rows.borrow_mut().credits.push([
                    Value::Integer(recording_id),
                    Value::Integer(pos as i64),
                    Value::Integer(artist_id),
                    text(credited),
                    text(&c.joinphrase),
                ]);
                continue;
            }
            self.tx
                .prepare_cached(
                    "INSERT INTO recording_artists (recording_id, position, artist_id, credited_name, join_phrase) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (recording_id, position) DO UPDATE SET \
                       artist_id = excluded.artist_id, credited_name = excluded.credited_name, \
                       join_phrase = excluded.join_phrase",
                )?
                .execute(params![recording_id, pos as i64, artist_id, credited, c.joinphrase])?;
        }
        Ok(())
    }

    /// Mark the search document of `key` (a recording id, or minus a
    /// release id) as changed: the index is brought up to date when the
    /// import ends ([`crate::textindex::sync`]).
    fn search_changed(&self, key: i64) -> musicark_store::sql::Result<()> {
        self.tx
            .prepare_cached("INSERT INTO search_outbox (key) VALUES (?1) ON CONFLICT DO NOTHING")?
            .execute([key])?;
        Ok(())
    }

    /// Link a normalised ISRC to a recording (once).
    fn link_isrc(&self, recording_id: i64, isrc: &str) -> musicark_store::sql::Result<()> {
        if let Some(bulk) = self.bulk {
            // Its unique index is built at the end, repeats dropped then.
            bulk.rows
                .borrow_mut()
                .isrcs
                .push([text(isrc), Value::Integer(recording_id)]);
            return Ok(());
        }
        self.tx
            .prepare_cached(
                "INSERT INTO isrcs (isrc, recording_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![isrc, recording_id])?;
        Ok(())
    }

    /// Validate and link an ISRC as written in a source.
    pub fn isrc(
        &self,
        recording_id: i64,
        raw: &str,
        rejects: &mut Vec<FieldReject>,
    ) -> musicark_store::sql::Result<()> {
        match checked("isrc", Some(raw), ids::isrc, rejects) {
            Some(isrc) => self.link_isrc(recording_id, &isrc),
            None => Ok(()),
        }
    }

    /// Upsert a MusicBrainz recording (a full record from a recording dump,
    /// or `partial` when nested in a release: then fields are only filled,
    /// never overwritten).
    pub fn mb_recording(
        &self,
        r: &mb::Recording,
        partial: bool,
        rejects: &mut Vec<FieldReject>,
    ) -> musicark_store::sql::Result<Option<i64>> {
        let Some(mbid) = record_mbid(r.id.as_deref(), rejects) else {
            return Ok(None);
        };
        let title = r.title.as_deref().unwrap_or("");
        let credit = credit_string(&r.artist_credit);
        if partial {
            // Nested in a release: usually known already. Fill gaps, never
            // overwrite, and write only when there is a gap to fill.
            let known: Option<(i64, bool, bool)> = self
                .tx
                .prepare_cached(
                    "SELECT recording_id, length_ms IS NULL, coalesce(artist_credit, '') = '' \
                     FROM recordings WHERE mbid = ?1",
                )?
                .query_row([&mbid], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .optional()?;
            if let Some((id, no_length, no_credit)) = known {
                if (no_length && r.length.is_some()) || (no_credit && !credit.is_empty()) {
                    self.tx
                        .prepare_cached(
                            "UPDATE recordings SET length_ms = coalesce(length_ms, ?2), \
                               artist_credit = coalesce(nullif(artist_credit, ''), ?3) WHERE recording_id = ?1",
                        )?
                        .execute(params![id, r.length, credit])?;
                    self.search_changed(id)?;
                }
                return Ok(Some(id));
            }
        }
        // New recordings (the common case of a first import) cost one
        // statement; an existing one is found on conflict. A bulk load
        // appends with ids it counts itself (no index to consult).
        let inserted: Option<i64> = if let Some(bulk) = self.bulk {
            let id = bulk.next_id.get();
            bulk.rows.borrow_mut().recordings.push([
                Value::Integer(id),
                text(&mbid),
                text(title),
                text(&credit),
                opt(r.length),
                Value::Integer(r.video as i64),
                opt(opt_text(&r.first_release_date).map(text)),
            ]);
            bulk.next_id.set(id + 1);
            Some(id)
        } else {
            self.tx
                .prepare_cached(
                    "INSERT INTO recordings (mbid, title, artist_credit, length_ms, video, first_release_date) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(mbid) DO NOTHING RETURNING recording_id",
                )?
                .query_row(
                    params![mbid, title, credit, r.length, r.video as i64, opt_text(&r.first_release_date)],
                    |row| row.get(0),
                )
                .optional()?
        };
        let id = match inserted {
            // Its search document is built at the end of the import.
            Some(id) => id,
            None => {
                let id: i64 = self
                    .tx
                    .prepare_cached("SELECT recording_id FROM recordings WHERE mbid = ?1")?
                    .query_row([&mbid], |row| row.get(0))?;
                self.tx
                    .prepare_cached(
                        "UPDATE recordings SET title = ?2, artist_credit = ?3, length_ms = ?4, video = ?5, \
                           first_release_date = ?6 WHERE recording_id = ?1",
                    )?
                    .execute(params![id, title, credit, r.length, r.video as i64, opt_text(&r.first_release_date)])?;
                self.search_changed(id)?;
                id
            }
        };
        if !r.artist_credit.is_empty() {
            self.credits(id, &r.artist_credit, inserted.is_none(), rejects)?;
        }
        for raw in r.isrcs.iter().flatten() {
            self.isrc(id, raw, rejects)?;
        }
        Ok(Some(id))
    }

    pub fn mb_artist(
        &self,
        a: &mb::Artist,
        rejects: &mut Vec<FieldReject>,
    ) -> musicark_store::sql::Result<Option<i64>> {
        let Some(mbid) = record_mbid(a.id.as_deref(), rejects) else {
            return Ok(None);
        };
        let id = self.artist(
            &mbid,
            a.name.as_deref().unwrap_or(""),
            opt_text(&a.sort_name),
            opt_text(&a.country),
            opt_text(&a.kind),
        )?;
        Ok(Some(id))
    }

    pub fn mb_release(
        &self,
        r: &mb::Release,
        rejects: &mut Vec<FieldReject>,
    ) -> musicark_store::sql::Result<Option<i64>> {
        let Some(mbid) = record_mbid(r.id.as_deref(), rejects) else {
            return Ok(None);
        };
        let rg_id: Option<i64> = match &r.release_group {
            Some(rg) => match ids::mbid(rg.id.as_deref().unwrap_or("")) {
                Ok(rg_mbid) => Some(
                    self.tx
                        .prepare_cached(
                            "INSERT INTO release_groups (mbid, title, primary_type) VALUES (?1, ?2, ?3) \
                             ON CONFLICT(mbid) DO UPDATE SET title = excluded.title, primary_type = excluded.primary_type \
                             RETURNING rg_id",
                        )?
                        .query_row(params![rg_mbid, rg.title.as_deref().unwrap_or(""), opt_text(&rg.primary_type)], |row| row.get(0))?,
                ),
                Err(e) => {
                    rejects.push(FieldReject { field: "release-group.id", value: rg.id.clone().unwrap_or_default(), reason: e.to_string() });
                    None
                }
            },
            None => None,
        };
        let barcode = checked("barcode", opt_text(&r.barcode), ids::barcode, rejects);
        let label = r
            .label_info
            .iter()
            .find_map(|l| l.label.as_ref().and_then(|l| l.name.clone()));
        let catno = r.label_info.iter().find_map(|l| l.catalog_number.clone());
        let title = r.title.as_deref().unwrap_or("");
        let credit = credit_string(&r.artist_credit);
        let existing: Option<i64> = self
            .tx
            .prepare_cached("SELECT release_id FROM releases WHERE mbid = ?1")?
            .query_row([&mbid], |row| row.get(0))
            .optional()?;
        let id: i64 = self
            .tx
            .prepare_cached(
                "INSERT INTO releases (mbid, title, artist_credit, rg_id, date, country, barcode, label, catalog_number, status) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT(mbid) DO UPDATE SET title = excluded.title, artist_credit = excluded.artist_credit, \
                   rg_id = excluded.rg_id, date = excluded.date, country = excluded.country, barcode = excluded.barcode, \
                   label = excluded.label, catalog_number = excluded.catalog_number, status = excluded.status \
                 RETURNING release_id",
            )?
            .query_row(
                params![mbid, title, credit, rg_id, opt_text(&r.date), opt_text(&r.country), barcode, label, catno, opt_text(&r.status)],
                |row| row.get(0),
            )?;
        self.search_changed(-id)?;
        if existing.is_some() {
            self.tx
                .prepare_cached("DELETE FROM tracks WHERE release_id = ?1")?
                .execute([id])?;
        }
        for (mi, medium) in r.media.iter().enumerate() {
            let disc = medium.position.unwrap_or(mi as i64 + 1);
            let tracks = medium.pregap.iter().map(|t| (0i64, t)).chain(
                medium
                    .tracks
                    .iter()
                    .enumerate()
                    .map(|(ti, t)| (t.position.unwrap_or(ti as i64 + 1), t)),
            );
            for (pos, t) in tracks {
                let Some(rec) = &t.recording else { continue };
                let Some(rec_id) = self.mb_recording(rec, true, rejects)? else {
                    continue;
                };
                self.tx
                    .prepare_cached(
                        "INSERT INTO tracks (release_id, disc, position, recording_id, title, length_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (release_id, disc, position) DO UPDATE SET \
                           recording_id = excluded.recording_id, title = excluded.title, length_ms = excluded.length_ms",
                    )?
                    .execute(params![id, disc, pos, rec_id, t.title, t.length])?;
            }
        }
        Ok(Some(id))
    }

    pub fn popularity(
        &self,
        key: &str,
        listens: Option<i64>,
        users: Option<i64>,
        score: Option<f64>,
    ) -> musicark_store::sql::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO popularity (recording_key, source, listen_count, user_count, score, as_of) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT(recording_key, source) DO UPDATE SET listen_count = excluded.listen_count, \
                   user_count = excluded.user_count, score = excluded.score, as_of = excluded.as_of",
            )?
            .execute(params![key, self.source, listens, users, score, self.today])?;
        Ok(())
    }

    pub fn reject(
        &self,
        line: u64,
        field: Option<&str>,
        value: Option<&str>,
        reason: &str,
        raw: Option<&str>,
    ) -> musicark_store::sql::Result<()> {
        let raw = raw.map(|r| {
            let mut cut = r.len().min(1024);
            while !r.is_char_boundary(cut) {
                cut -= 1;
            }
            &r[..cut]
        });
        self.tx
            .prepare_cached("INSERT INTO rejects (import_id, line, field, value, reason, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![self.import_id, line as i64, field, value, reason, raw])?;
        Ok(())
    }

    /// A mapped row: find the recording by MBID, then by a unique ISRC, then
    /// by this source's id; otherwise create it. Returns the recording id.
    pub fn mapped_recording(
        &self,
        row: &MappedRow,
        rejects: &mut Vec<FieldReject>,
    ) -> musicark_store::sql::Result<i64> {
        let mbid = checked("mbid", row.mbid.as_deref(), ids::mbid, rejects);
        let isrc = checked("isrc", row.isrc.as_deref(), ids::isrc, rejects);
        let by_mbid: Option<i64> = match &mbid {
            Some(m) => self
                .tx
                .prepare_cached("SELECT recording_id FROM recordings WHERE mbid = ?1")?
                .query_row([m], |r| r.get(0))
                .optional()?,
            None => None,
        };
        let by_isrc: Option<i64> = match (&by_mbid, &isrc) {
            (None, Some(i)) => {
                let ids: Vec<i64> = self
                    .tx
                    .prepare_cached("SELECT recording_id FROM isrcs WHERE isrc = ?1 LIMIT 2")?
                    .query_map([i], |r| r.get(0))?
                    .collect::<musicark_store::sql::Result<_>>()?;
                (ids.len() == 1).then(|| ids[0])
            }
            _ => None,
        };
        let by_own: Option<i64> = self
            .tx
            .prepare_cached("SELECT entity_id FROM external_ids WHERE source = ?1 AND entity = 'recording' AND external_id = ?2")?
            .query_row(params![self.source, row.id], |r| r.get(0))
            .optional()?;
        let id = match by_mbid.or(by_isrc).or(by_own) {
            Some(id) => {
                // Another source's record: fill gaps, never overwrite.
                self.tx
                    .prepare_cached(
                        "UPDATE recordings SET length_ms = coalesce(length_ms, ?2), \
                           artist_credit = coalesce(nullif(artist_credit, ''), ?3), mbid = coalesce(mbid, ?4) \
                         WHERE recording_id = ?1",
                    )?
                    .execute(params![id, row.length_ms, row.artist, mbid])?;
                self.search_changed(id)?;
                id
            }
            None => {
                let id: i64 = self
                    .tx
                    .prepare_cached(
                        "INSERT INTO recordings (mbid, title, artist_credit, length_ms, first_release_date) \
                         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING recording_id",
                    )?
                    .query_row(params![mbid, row.title, row.artist, row.length_ms, row.date], |r| r.get(0))?;
                id
            }
        };
        self.external_id("recording", &row.id, id)?;
        if let Some(i) = &isrc {
            self.link_isrc(id, i)?;
        }
        if let Some(l) = row.license.as_deref() {
            self.tx
                .prepare_cached(
                    "INSERT INTO rights (entity, entity_id, license, source) VALUES ('recording', ?1, ?2, ?3) \
                     ON CONFLICT(entity, entity_id) DO UPDATE SET license = excluded.license, source = excluded.source",
                )?
                .execute(params![id, l, self.source])?;
        }
        if let Some(n) = row.listen_count {
            let key = match &mbid {
                Some(m) => m.clone(),
                None => format!("rec:{id}"),
            };
            self.popularity(&key, Some(n), None, None)?;
        }
        if let Some(title) = row.release.as_deref() {
            let barcode = checked("barcode", row.barcode.as_deref(), ids::barcode, rejects);
            let key = format!("release:{}", barcode.as_deref().unwrap_or(title));
            let existing: Option<i64> = self
                .tx
                .prepare_cached("SELECT entity_id FROM external_ids WHERE source = ?1 AND entity = 'release' AND external_id = ?2")?
                .query_row(params![self.source, key], |r| r.get(0))
                .optional()?;
            let release_id = match existing {
                Some(r) => r,
                None => {
                    let r: i64 = self
                        .tx
                        .prepare_cached("INSERT INTO releases (title, artist_credit, date, barcode) VALUES (?1, ?2, ?3, ?4) RETURNING release_id")?
                        .query_row(params![title, row.artist, row.date, barcode], |r| r.get(0))?;
                    self.external_id("release", &key, r)?;
                    self.search_changed(-r)?;
                    r
                }
            };
            if let Some(pos) = row.track {
                self.tx
                    .prepare_cached(
                        "INSERT INTO tracks (release_id, disc, position, recording_id, title, length_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                         ON CONFLICT (release_id, disc, position) DO UPDATE SET recording_id = excluded.recording_id, \
                           title = excluded.title, length_ms = excluded.length_ms",
                    )?
                    .execute(params![release_id, row.disc.unwrap_or(1), pos, id, row.title, row.length_ms])?;
            }
        }
        Ok(id)
    }
}

/// Validate an optional identifier with `check`; an invalid one becomes a
/// reject of `field` (and `None`), never a guess.
fn checked(
    field: &'static str,
    raw: Option<&str>,
    check: fn(&str) -> Result<String, ids::IdError>,
    rejects: &mut Vec<FieldReject>,
) -> Option<String> {
    let raw = raw?;
    match check(raw) {
        Ok(v) => Some(v),
        Err(e) => {
            rejects.push(FieldReject {
                field,
                value: raw.to_string(),
                reason: e.to_string(),
            });
            None
        }
    }
}

/// A record's own MBID, or a reject saying why there is none.
fn record_mbid(raw: Option<&str>, rejects: &mut Vec<FieldReject>) -> Option<String> {
    match raw {
        None => {
            rejects.push(FieldReject {
                field: "id",
                value: String::new(),
                reason: "the record has no id".into(),
            });
            None
        }
        Some(raw) => match ids::mbid(raw) {
            Ok(m) => Some(m),
            Err(e) => {
                rejects.push(FieldReject {
                    field: "id",
                    value: raw.to_string(),
                    reason: e.to_string(),
                });
                None
            }
        },
    }
}

/// One row of a mapped source, in our fields.
#[derive(Debug, Clone, Default)]
pub struct MappedRow {
    pub id: String,
    pub title: String,
    pub artist: Option<String>,
    pub isrc: Option<String>,
    pub mbid: Option<String>,
    pub length_ms: Option<i64>,
    pub release: Option<String>,
    pub barcode: Option<String>,
    pub date: Option<String>,
    pub license: Option<String>,
    pub listen_count: Option<i64>,
    pub disc: Option<i64>,
    pub track: Option<i64>,
}
