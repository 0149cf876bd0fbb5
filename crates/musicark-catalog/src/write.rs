//! Writing catalogue rows inside an import's transaction: upserts keyed by
//! MBID or by a source's own id, so a re-import updates and never
//! duplicates.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use musicark_store::params;
use musicark_store::sql::{OptionalExtension, Value, params_from_iter};

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
    /// What this batch writes at its end, many rows a statement.
    pub pending: &'t std::cell::RefCell<Pending>,
    /// A first load's search writer, fed its recordings as they come.
    pub search: Option<&'t std::cell::RefCell<crate::textindex::Early>>,
}

/// Rows a batch writes at its end, many to a statement ([`W::flush`]):
/// a statement per row costs a round trip each on PostgreSQL (a release
/// of 12 tracks took 26). Their ids are known before they are written:
/// looked up for the whole batch at its start ([`W::prefetch_releases`])
/// or counted on from the largest stored, as the engines count them
/// (one catalogue import writes these tables at a time).
#[derive(Default)]
pub struct Pending {
    release_groups: Keyed<String, 4>,
    releases: Keyed<String, 11>,
    /// Each release written in this batch: its tracks by (disc, position).
    tracks: BTreeMap<i64, BTreeMap<(i64, i64), [Value; 6]>>,
    /// Releases stored before this batch: their old tracks go first.
    old_tracks: BTreeSet<i64>,
    outbox: BTreeSet<i64>,
    popularity: Keyed<String, 6>,
    artists: Keyed<String, 6>,
    rejects: Vec<[Value; 6]>,
    /// MBID → id, of rows stored before this batch (looked up at its
    /// start) and of rows this batch adds.
    rg_ids: HashMap<String, i64>,
    artist_ids: HashMap<String, i64>,
    release_ids: HashMap<String, i64>,
    /// Releases stored before this batch (their old tracks go first).
    stored_releases: HashSet<i64>,
    /// MBID → (id, length unknown, credit unknown) of stored recordings.
    recordings: HashMap<String, (i64, bool, bool)>,
    next_rg: Option<i64>,
    next_release: Option<i64>,
    next_artist: Option<i64>,
}

/// Rows by key, in the order first put; a later row for the same key
/// replaces the earlier one (as a second upsert would).
struct Keyed<K, const N: usize> {
    at: HashMap<K, usize>,
    rows: Vec<[Value; N]>,
}

impl<K, const N: usize> Default for Keyed<K, N> {
    fn default() -> Self {
        Keyed {
            at: HashMap::new(),
            rows: Vec::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq, const N: usize> Keyed<K, N> {
    fn put(&mut self, key: K, row: [Value; N]) {
        match self.at.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => self.rows[*e.get()] = row,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(self.rows.len());
                self.rows.push(row);
            }
        }
    }

    fn take(&mut self) -> Vec<[Value; N]> {
        self.at.clear();
        std::mem::take(&mut self.rows)
    }
}

/// Keys an `IN (…)` of a batch holds; a shorter chunk is padded with its
/// first key, so every chunk is one prepared statement.
const KEYS: usize = 512;

/// `{head} IN (?1, …, ?512)`.
fn in_keys(head: &str) -> String {
    format!("{head} IN ({})", musicark_store::sql::marks(1, KEYS))
}

/// `keys` in chunks of [`KEYS`], each padded to [`KEYS`] with its first.
fn padded_chunks<T>(keys: &[T]) -> impl Iterator<Item = impl Iterator<Item = &T>> {
    keys.chunks(KEYS)
        .map(|c| c.iter().chain(std::iter::repeat(&c[0])).take(KEYS))
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

    /// Write what this batch left for its end (recordings before what
    /// refers to them); call before the batch commits.
    pub fn flush(&self) -> musicark_store::sql::Result<()> {
        self.flush_bulk()?;
        let mut p = self.pending.borrow_mut();
        let p = &mut *p;
        self.tx.insert_many(
            "artists (artist_id, mbid, name, sort_name, country, type)",
            6,
            &p.artists.take(),
            "ON CONFLICT(mbid) DO UPDATE SET name = excluded.name, \
               sort_name = coalesce(excluded.sort_name, artists.sort_name), \
               country = coalesce(excluded.country, artists.country), type = coalesce(excluded.type, artists.type)",
        )?;
        self.tx.insert_many(
            "release_groups (rg_id, mbid, title, primary_type)",
            4,
            &p.release_groups.take(),
            "ON CONFLICT(mbid) DO UPDATE SET title = excluded.title, primary_type = excluded.primary_type",
        )?;
        self.tx.insert_many(
            "releases (release_id, mbid, title, artist_credit, rg_id, date, country, barcode, label, catalog_number, status)",
            11,
            &p.releases.take(),
            "ON CONFLICT(mbid) DO UPDATE SET title = excluded.title, artist_credit = excluded.artist_credit, \
               rg_id = excluded.rg_id, date = excluded.date, country = excluded.country, barcode = excluded.barcode, \
               label = excluded.label, catalog_number = excluded.catalog_number, status = excluded.status",
        )?;
        let old: Vec<i64> = std::mem::take(&mut p.old_tracks).into_iter().collect();
        let delete = in_keys("DELETE FROM tracks WHERE release_id");
        for chunk in padded_chunks(&old) {
            self.tx.execute(&delete, params_from_iter(chunk))?;
        }
        // Old tracks are gone and a release's tracks are one per (disc,
        // position): nothing left to conflict with.
        let tracks = std::mem::take(&mut p.tracks);
        self.tx.copy_in(
            "tracks",
            &[
                "release_id",
                "disc",
                "position",
                "recording_id",
                "title",
                "length_ms",
            ],
            |sink| {
                tracks
                    .values()
                    .flat_map(|t| t.values())
                    .try_for_each(|r| sink(r))
            },
        )?;
        let outbox: Vec<[Value; 1]> = std::mem::take(&mut p.outbox)
            .into_iter()
            .map(|k| [Value::Integer(k)])
            .collect();
        self.tx
            .insert_many("search_outbox (key)", 1, &outbox, "ON CONFLICT DO NOTHING")?;
        self.tx.insert_many(
            "popularity (recording_key, source, listen_count, user_count, score, as_of)",
            6,
            &p.popularity.take(),
            "ON CONFLICT(recording_key, source) DO UPDATE SET listen_count = excluded.listen_count, \
               user_count = excluded.user_count, score = excluded.score, as_of = excluded.as_of",
        )?;
        self.tx.insert_many(
            "rejects (import_id, line, field, value, reason, raw)",
            6,
            &std::mem::take(&mut p.rejects),
            "",
        )?;
        // What this batch looked up or counted is not kept past it (the
        // next batch reads what this one stored).
        *p = Pending::default();
        Ok(())
    }

    /// Each row of `select … IN (…)` for `keys`, looked up [`KEYS`] at a
    /// time.
    fn each_known(
        &self,
        select: &str,
        mut keys: Vec<String>,
        mut f: impl FnMut(&musicark_store::sql::Row<'_, '_>) -> musicark_store::sql::Result<()>,
    ) -> musicark_store::sql::Result<()> {
        keys.sort_unstable();
        keys.dedup();
        let sql = in_keys(select);
        for chunk in padded_chunks(&keys) {
            self.tx.scan(&sql, params_from_iter(chunk), &mut f)?;
        }
        Ok(())
    }

    /// Look up, for a batch of releases, the stored ids of the releases,
    /// release groups and track recordings it names: a few statements
    /// instead of several per release.
    pub fn prefetch_releases<'r>(
        &self,
        releases: impl Iterator<Item = &'r mb::Release>,
    ) -> musicark_store::sql::Result<()> {
        let valid = |raw: Option<&str>| raw.and_then(|s| ids::mbid(s).ok());
        let (mut rels, mut rgs, mut recs) = (Vec::new(), Vec::new(), Vec::new());
        for r in releases {
            rels.extend(valid(r.id.as_deref()));
            rgs.extend(valid(
                r.release_group.as_ref().and_then(|g| g.id.as_deref()),
            ));
            for m in &r.media {
                for t in m.pregap.iter().chain(&m.tracks) {
                    recs.extend(valid(t.recording.as_ref().and_then(|x| x.id.as_deref())));
                }
            }
        }
        let mut p = self.pending.borrow_mut();
        self.each_known(
            "SELECT mbid, release_id FROM releases WHERE mbid",
            rels,
            |r| {
                let id: i64 = r.get(1)?;
                p.release_ids.insert(r.get(0)?, id);
                p.stored_releases.insert(id);
                Ok(())
            },
        )?;
        self.each_known(
            "SELECT mbid, rg_id FROM release_groups WHERE mbid",
            rgs,
            |r| {
                p.rg_ids.insert(r.get(0)?, r.get(1)?);
                Ok(())
            },
        )?;
        // A first load has no MBID index on recordings yet: its track
        // recordings are looked up one by one, as they are written.
        if self.bulk.is_none() {
            self.each_known(
                "SELECT mbid, recording_id, length_ms IS NULL, coalesce(artist_credit, '') = '' \
                 FROM recordings WHERE mbid",
                recs,
                |r| {
                    p.recordings
                        .insert(r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?));
                    Ok(())
                },
            )?;
        }
        Ok(())
    }

    /// The next id of `table`: one more than the largest stored, then
    /// counted on in this batch.
    fn next_id(
        &self,
        next: &mut Option<i64>,
        table: &str,
        column: &str,
    ) -> musicark_store::sql::Result<i64> {
        let id = match *next {
            Some(id) => id,
            None => self.tx.query_row(
                &format!("SELECT coalesce(max({column}), 0) + 1 FROM {table}"),
                [],
                |r| r.get(0),
            )?,
        };
        *next = Some(id + 1);
        Ok(id)
    }

    /// The id of `mbid` in `table`: as stored or given earlier in this
    /// batch (`ids`), else the next one counted.
    fn id_of(
        &self,
        ids: &mut HashMap<String, i64>,
        next: &mut Option<i64>,
        table: &str,
        column: &str,
        mbid: &str,
    ) -> musicark_store::sql::Result<i64> {
        if let Some(&id) = ids.get(mbid) {
            return Ok(id);
        }
        let id = self.next_id(next, table, column)?;
        ids.insert(mbid.to_string(), id);
        Ok(id)
    }

    /// Write the rows a first load buffered in this batch.
    fn flush_bulk(&self) -> musicark_store::sql::Result<()> {
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
            if let Some(search) = self.search {
                search.borrow_mut().add(id, title, &credit);
            }
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

    /// An artist of an artist dump, its row written at the batch's end
    /// (fields absent keep their value, as in [`W::artist`]).
    pub fn mb_artist(
        &self,
        a: &mb::Artist,
        rejects: &mut Vec<FieldReject>,
    ) -> musicark_store::sql::Result<Option<i64>> {
        let Some(mbid) = record_mbid(a.id.as_deref(), rejects) else {
            return Ok(None);
        };
        let mut p = self.pending.borrow_mut();
        let p = &mut *p;
        let id = self.id_of(
            &mut p.artist_ids,
            &mut p.next_artist,
            "artists",
            "artist_id",
            &mbid,
        )?;
        let mut row = [
            Value::Integer(id),
            text(&mbid),
            text(a.name.as_deref().unwrap_or("")),
            opt(opt_text(&a.sort_name).map(text)),
            opt(opt_text(&a.country).map(text)),
            opt(opt_text(&a.kind).map(text)),
        ];
        if let Some(&i) = p.artists.at.get(&mbid) {
            // Twice in one batch: what the second leaves out, the first
            // gave (as two upserts in turn would keep).
            for (new, old) in row.iter_mut().zip(&p.artists.rows[i]).skip(3) {
                if *new == Value::Null {
                    *new = old.clone();
                }
            }
        }
        p.artists.put(mbid, row);
        Ok(Some(id))
    }

    /// Look up, for a batch of artists, the ids of those stored.
    pub fn prefetch_artists<'a>(
        &self,
        artists: impl Iterator<Item = &'a mb::Artist>,
    ) -> musicark_store::sql::Result<()> {
        let keys = artists
            .filter_map(|a| a.id.as_deref().and_then(|s| ids::mbid(s).ok()))
            .collect();
        let mut p = self.pending.borrow_mut();
        self.each_known(
            "SELECT mbid, artist_id FROM artists WHERE mbid",
            keys,
            |r| {
                p.artist_ids.insert(r.get(0)?, r.get(1)?);
                Ok(())
            },
        )
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
                Ok(rg_mbid) => Some(self.release_group(
                    rg_mbid,
                    rg.title.as_deref().unwrap_or(""),
                    opt_text(&rg.primary_type),
                )?),
                Err(e) => {
                    rejects.push(FieldReject {
                        field: "release-group.id",
                        value: rg.id.clone().unwrap_or_default(),
                        reason: e.to_string(),
                    });
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
        let (id, stored) = {
            let mut p = self.pending.borrow_mut();
            let p = &mut *p;
            let id = self.id_of(
                &mut p.release_ids,
                &mut p.next_release,
                "releases",
                "release_id",
                &mbid,
            )?;
            (id, p.stored_releases.contains(&id))
        };
        let mut tracks = BTreeMap::new();
        for (mi, medium) in r.media.iter().enumerate() {
            let disc = medium.position.unwrap_or(mi as i64 + 1);
            let numbered = medium.pregap.iter().map(|t| (0i64, t)).chain(
                medium
                    .tracks
                    .iter()
                    .enumerate()
                    .map(|(ti, t)| (t.position.unwrap_or(ti as i64 + 1), t)),
            );
            for (pos, t) in numbered {
                let Some(rec) = &t.recording else { continue };
                let Some(rec_id) = self.track_recording(rec, rejects)? else {
                    continue;
                };
                tracks.insert(
                    (disc, pos),
                    [
                        Value::Integer(id),
                        Value::Integer(disc),
                        Value::Integer(pos),
                        Value::Integer(rec_id),
                        opt(t.title.as_deref().map(text)),
                        opt(t.length),
                    ],
                );
            }
        }
        let mut p = self.pending.borrow_mut();
        p.releases.put(
            mbid.clone(),
            [
                Value::Integer(id),
                text(&mbid),
                text(r.title.as_deref().unwrap_or("")),
                text(&credit_string(&r.artist_credit)),
                opt(rg_id),
                opt(opt_text(&r.date).map(text)),
                opt(opt_text(&r.country).map(text)),
                opt(barcode),
                opt(label),
                opt(catno),
                opt(opt_text(&r.status).map(text)),
            ],
        );
        p.outbox.insert(-id);
        if stored {
            p.old_tracks.insert(id);
        }
        // A release twice in one batch keeps the tracks of its last copy.
        p.tracks.insert(id, tracks);
        Ok(Some(id))
    }

    /// A release group's id, its row written at the batch's end.
    fn release_group(
        &self,
        mbid: String,
        title: &str,
        kind: Option<&str>,
    ) -> musicark_store::sql::Result<i64> {
        let mut p = self.pending.borrow_mut();
        let p = &mut *p;
        let id = self.id_of(
            &mut p.rg_ids,
            &mut p.next_rg,
            "release_groups",
            "rg_id",
            &mbid,
        )?;
        p.release_groups.put(
            mbid.clone(),
            [
                Value::Integer(id),
                text(&mbid),
                text(title),
                opt(kind.map(text)),
            ],
        );
        Ok(id)
    }

    /// The recording a release's track names: as looked up for the batch
    /// when it is stored and complete, else written (or its gaps filled)
    /// by [`W::mb_recording`].
    fn track_recording(
        &self,
        rec: &mb::Recording,
        rejects: &mut Vec<FieldReject>,
    ) -> musicark_store::sql::Result<Option<i64>> {
        let mbid = rec.id.as_deref().and_then(|s| ids::mbid(s).ok());
        if let Some(m) = &mbid {
            let known = self.pending.borrow().recordings.get(m).copied();
            if let Some((id, no_length, no_credit)) = known {
                let gap = (no_length && rec.length.is_some())
                    || (no_credit && !credit_string(&rec.artist_credit).is_empty());
                if !gap {
                    return Ok(Some(id));
                }
            }
        }
        let id = self.mb_recording(rec, true, rejects)?;
        if let (Some(m), Some(id)) = (mbid, id)
            && self.bulk.is_none()
        {
            // Its gaps are filled now, or it was just written complete.
            self.pending
                .borrow_mut()
                .recordings
                .insert(m, (id, false, false));
        }
        Ok(id)
    }

    /// A recording's popularity from this import's source, written at
    /// the batch's end (a later row for the same recording replaces it).
    pub fn popularity(
        &self,
        key: &str,
        listens: Option<i64>,
        users: Option<i64>,
        score: Option<f64>,
    ) -> musicark_store::sql::Result<()> {
        self.pending.borrow_mut().popularity.put(
            key.to_string(),
            [
                text(key),
                text(&self.source),
                opt(listens),
                opt(users),
                opt(score),
                text(&self.today),
            ],
        );
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
        self.pending.borrow_mut().rejects.push([
            Value::Integer(self.import_id),
            Value::Integer(line as i64),
            opt(field.map(text)),
            opt(value.map(text)),
            text(reason),
            opt(raw.map(text)),
        ]);
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
