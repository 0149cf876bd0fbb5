//! The full-text search index: tantivy, beside the SQLite catalogue, in
//! `<archive>/search/`. Chosen over SQLite FTS5 by measurement (BENCHMARKS.md):
//! FTS5 walks the whole doclist of every query word to rank, so two common
//! words at 10 M recordings cost hundreds of milliseconds; tantivy's
//! compressed postings with skip lists and a top-k collector stay in
//! milliseconds.
//!
//! A document is a recording (key = its `recording_id`) or a release (key =
//! minus its `release_id`), with three folded text fields: title, artist,
//! release. The SQLite catalogue is the truth; this index is derived from
//! it and can always be rebuilt ([`SearchIndex::rebuild`]).

use std::ops::Bound;
use std::path::Path;

use musicark_store::Db;

use crate::CatalogError;

use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, InvertedIndexRangeQuery, Occur, PhrasePrefixQuery, Query, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenStream,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// The tokenizer: words of letters and digits, lower case, diacritics
/// folded to ASCII (as FTS5's `unicode61 remove_diacritics 2`).
const FOLD: &str = "fold";

/// Field weights, as the former bm25 weights: title, artist, release.
const WEIGHTS: [f32; 3] = [10.0, 5.0, 3.0];

#[derive(Debug, thiserror::Error)]
#[error("search index: {0}")]
pub struct SearchError(#[from] tantivy::TantivyError);

impl From<tantivy::directory::error::OpenDirectoryError> for SearchError {
    fn from(e: tantivy::directory::error::OpenDirectoryError) -> Self {
        SearchError(e.into())
    }
}

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    text: [Field; 3],
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let key = b.add_i64_field("key", INDEXED | FAST | STORED);
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(FOLD)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let title = b.add_text_field("title", text.clone());
    let artist = b.add_text_field("artist", text.clone());
    let release = b.add_text_field("release", text);
    (
        b.build(),
        Fields {
            key,
            text: [title, artist, release],
        },
    )
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The words of a query as the index holds them.
pub fn terms(text: &str) -> Vec<String> {
    let mut a = analyzer();
    let mut stream = a.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// The first byte string after every string that starts with `prefix`
/// (`None`: no such bound, the prefix is all 0xFF).
fn prefix_end(prefix: &str) -> Option<Vec<u8>> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A search document.
pub struct Doc<'a> {
    pub key: i64,
    pub title: &'a str,
    pub artist: &'a str,
    pub release: &'a str,
}

impl SearchIndex {
    /// Open the index in `dir`, creating it (and `dir`) when missing.
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| SearchError(e.into()))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)?;
        let mut index = Index::open_or_create(directory, schema)?;
        // A search runs over the index's segments on every core: at 10 M
        // recordings (5 segments) the slowest searches, pairs of the
        // most common words, took 45–62 ms on one thread.
        index.set_default_multithread_executor()?;
        index.tokenizers().register(FOLD, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            fields,
        })
    }

    /// A writer with `heap` bytes of indexing memory on `threads` threads.
    pub fn writer(&self, threads: usize, heap: usize) -> Result<SearchWriter, SearchError> {
        let w = self
            .index
            .writer_with_num_threads(threads.max(1), heap.max(15 << 20) * threads.max(1))?;
        Ok(SearchWriter {
            w,
            fields: self.fields,
        })
    }

    /// Documents in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key of every live document, sorted (duplicates kept: a check
    /// that the index holds each catalogue entry exactly once).
    pub fn keys(&self) -> Result<Vec<i64>, SearchError> {
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(searcher.num_docs() as usize);
        for segment in searcher.segment_readers() {
            let column = segment.fast_fields().i64("key")?;
            out.extend(segment.doc_ids_alive().filter_map(|d| column.first(d)));
        }
        out.sort_unstable();
        Ok(out)
    }

    /// See changes committed since the index was opened.
    pub fn reload(&self) -> Result<(), SearchError> {
        Ok(self.reader.reload()?)
    }

    /// The keys of the best `limit` documents for `query`, with scores:
    /// documents holding the words as a phrase (the last word a prefix)
    /// first, then those holding every word in any field. Case and
    /// diacritics folded.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<(i64, f32)>, SearchError> {
        let words = terms(query);
        if words.is_empty() || limit == 0 {
            return Ok(vec![]);
        }
        let searcher = self.reader.searcher();
        let mut out: Vec<(i64, f32)> = Vec::with_capacity(limit);
        let mut seen = std::collections::HashSet::new();
        let mut run = |q: &dyn Query, out: &mut Vec<(i64, f32)>| -> Result<(), SearchError> {
            let want = limit - out.len();
            if want == 0 {
                return Ok(());
            }
            let top =
                searcher.search(q, &TopDocs::with_limit(want + out.len()).order_by_score())?;
            for (score, addr) in top {
                let column = searcher
                    .segment_reader(addr.segment_ord)
                    .fast_fields()
                    .i64("key")?;
                if let Some(key) = column.first(addr.doc_id)
                    && seen.insert(key)
                    && out.len() < limit
                {
                    out.push((key, score));
                }
            }
            Ok(())
        };
        if words.len() >= 2 {
            run(&self.phrase(&words), &mut out)?;
        }
        run(&self.all_words(&words)?, &mut out)?;
        Ok(out)
    }

    fn phrase(&self, words: &[String]) -> BooleanQuery {
        let clauses = self
            .fields
            .text
            .iter()
            .zip(WEIGHTS)
            .map(|(&f, w)| {
                // The last word a prefix (it matches itself too).
                let terms: Vec<Term> = words.iter().map(|t| Term::from_field_text(f, t)).collect();
                let q: Box<dyn Query> = Box::new(PhrasePrefixQuery::new(terms));
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(q, w)) as Box<dyn Query>,
                )
            })
            .collect();
        BooleanQuery::new(clauses)
    }

    fn all_words(&self, words: &[String]) -> Result<BooleanQuery, SearchError> {
        let last = words.len() - 1;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(words.len());
        for (i, word) in words.iter().enumerate() {
            let mut any_field: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (&f, w) in self.fields.text.iter().zip(WEIGHTS) {
                let term: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(f, word),
                    IndexRecordOption::WithFreqs,
                ));
                any_field.push((Occur::Should, Box::new(BoostQuery::new(term, w))));
                if i == last {
                    // Search as you type: the last word may be a prefix.
                    // The terms that start with it (the word itself
                    // excluded: its term query scores it), read as a
                    // range of the term dictionary: a regular expression
                    // compiled a DFA per search, a quarter of a search's
                    // CPU (scripts/bench-web.sh, perf).
                    let upper = prefix_end(word).map_or(Bound::Unbounded, |end| {
                        let mut t = Term::from_field_text(f, "");
                        t.append_bytes(&end);
                        Bound::Excluded(t)
                    });
                    let prefix = InvertedIndexRangeQuery::new(
                        Bound::Excluded(Term::from_field_text(f, word)),
                        upper,
                    );
                    any_field.push((Occur::Should, Box::new(prefix)));
                }
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(any_field))));
        }
        Ok(BooleanQuery::new(must))
    }
}

/// Adds and replaces documents; nothing is visible until [`commit`].
///
/// [`commit`]: SearchWriter::commit
pub struct SearchWriter {
    w: IndexWriter,
    fields: Fields,
}

impl SearchWriter {
    pub fn add(&mut self, d: &Doc<'_>) -> Result<(), SearchError> {
        let mut doc = TantivyDocument::default();
        doc.add_i64(self.fields.key, d.key);
        for (f, text) in self.fields.text.iter().zip([d.title, d.artist, d.release]) {
            if !text.is_empty() {
                doc.add_text(*f, text);
            }
        }
        self.w.add_document(doc)?;
        Ok(())
    }

    /// Replace the document of `d.key` (or add it).
    pub fn replace(&mut self, d: &Doc<'_>) -> Result<(), SearchError> {
        self.delete(d.key);
        self.add(d)
    }

    pub fn delete(&mut self, key: i64) {
        self.w
            .delete_term(Term::from_field_i64(self.fields.key, key));
    }

    /// Delete every document whose key is greater than `key` (recordings
    /// added by an import that died before its search commit).
    pub fn delete_keys_above(&mut self, key: i64) -> Result<(), SearchError> {
        let q = tantivy::query::RangeQuery::new(
            std::ops::Bound::Excluded(Term::from_field_i64(self.fields.key, key)),
            std::ops::Bound::Unbounded,
        );
        self.w.delete_query(Box::new(q))?;
        Ok(())
    }

    pub fn delete_all(&mut self) -> Result<(), SearchError> {
        self.w.delete_all_documents()?;
        Ok(())
    }

    /// Make everything written so far durable and visible to new readers.
    pub fn commit(&mut self) -> Result<(), SearchError> {
        self.w.commit()?;
        Ok(())
    }

    /// Commit and wait for background merges to finish.
    pub fn finish(mut self) -> Result<(), SearchError> {
        self.w.commit()?;
        self.w.wait_merging_threads()?;
        Ok(())
    }
}

/// What one [`sync`] did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct SyncStats {
    /// New recordings indexed (above the high-water mark).
    pub added: u64,
    /// Documents replaced or removed from the outbox.
    pub changed: u64,
}

/// Bring the search index up to the catalogue: index every recording above
/// the high-water mark and every key in the outbox, commit the index, then
/// (in one SQLite transaction) raise the mark and empty the outbox. A crash
/// anywhere repeats the work: documents above the mark are deleted first
/// and outbox keys are replaced, so the repeat never duplicates. An index
/// that was lost (empty while the mark says otherwise) is rebuilt whole.
pub fn sync(db: &mut Db, index: &SearchIndex) -> Result<SyncStats, CatalogError> {
    sync_while(db, index, None, |_| Ok(false))
}

/// A search writer fed by a first load as it writes its recordings: their
/// documents are in hand then, and indexing them beside the load (on the
/// core the database leaves free) saves reading them back at its end.
pub(crate) struct Early {
    w: SearchWriter,
    upto: i64,
    added: u64,
    failed: bool,
}

impl Early {
    /// A writer when every stored recording is indexed (the load's are then
    /// exactly those above the mark); `None` otherwise (a resumed load, a
    /// lost index), and the documents are read back at the end as before.
    pub(crate) fn start(db: &Db, index: &SearchIndex) -> Result<Option<Early>, CatalogError> {
        let upto = mark(db)?;
        index.reload()?;
        if top(db)? > upto || lost(index, upto) {
            return Ok(None);
        }
        let mut w = writer(index)?;
        w.delete_keys_above(upto)?;
        Ok(Some(Early {
            w,
            upto,
            added: 0,
            failed: false,
        }))
    }

    /// Index a recording the load wrote. A refusal is not an import's
    /// failure: the documents are then read back at the end.
    pub(crate) fn add(&mut self, key: i64, title: &str, artist: &str) {
        if self.failed {
            return;
        }
        let doc = Doc {
            key,
            title,
            artist,
            release: "",
        };
        match self.w.add(&doc) {
            Ok(()) => self.added += 1,
            Err(_) => self.failed = true,
        }
    }
}

/// The high-water mark: recordings above it are not indexed yet.
fn mark(db: &Db) -> Result<i64, CatalogError> {
    Ok(db.query_row("SELECT indexed_upto FROM search_state", [], |r| r.get(0))?)
}

/// The largest recording id (0 when there is none).
fn top(db: &Db) -> Result<i64, CatalogError> {
    Ok(db.query_row(
        "SELECT coalesce(max(recording_id), 0) FROM recordings",
        [],
        |r| r.get(0),
    )?)
}

/// What the search index should hold: a document per recording and per
/// release (`expected`), of which the recordings past the mark
/// (`unindexed`) wait for the next import to index them.
#[derive(Debug, Clone, Copy)]
pub struct Due {
    pub expected: i64,
    pub unindexed: i64,
}

/// The documents the search index should hold (see [`Due`]), for a check
/// of the index against the catalogue.
pub fn due(db: &Db) -> Result<Due, CatalogError> {
    Ok(Due {
        expected: db.query_row(
            "SELECT (SELECT count(*) FROM recordings) + (SELECT count(*) FROM releases)",
            [],
            |r| r.get(0),
        )?,
        unindexed: db.query_row(
            "SELECT count(*) FROM recordings WHERE recording_id > \
               (SELECT coalesce(max(indexed_upto), 0) FROM search_state)",
            [],
            |r| r.get(0),
        )?,
    })
}

/// Whether the index was lost: empty while the mark says it holds
/// something (it is then rebuilt whole).
fn lost(index: &SearchIndex, upto: i64) -> bool {
    upto > 0 && index.is_empty()
}

/// The writer of a sync: both cores, 128 MiB each.
fn writer(index: &SearchIndex) -> Result<SearchWriter, SearchError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    index.writer(threads, 128 << 20)
}

/// [`sync`], with `meanwhile` run on the writing connection while the
/// documents are read through a second one and indexed (an import builds
/// its SQLite indexes in that time). `meanwhile` returns whether it changed
/// rows; then the documents read beside it are thrown away and read again.
pub(crate) fn sync_while(
    db: &mut Db,
    index: &SearchIndex,
    early: Option<Early>,
    meanwhile: impl FnOnce(&mut Db) -> Result<bool, CatalogError>,
) -> Result<SyncStats, CatalogError> {
    if let Some(early) = early.filter(|e| !e.failed) {
        // The load's documents are in the writer: build the database's
        // indexes while its threads finish, then the outbox.
        if meanwhile(db)? {
            // Rows were changed (a dump's repeats dropped): read all back.
            drop(early);
            return sync(db, index);
        }
        let Early {
            mut w, upto, added, ..
        } = early;
        let top: i64 = top(db)?;
        let mut stats = SyncStats { added, changed: 0 };
        outbox(db, &mut w, upto, &mut stats)?;
        return commit(db, index, w, top, stats);
    }
    let mut upto = mark(db)?;
    index.reload()?;
    if lost(index, upto) {
        upto = 0;
        db.execute(
            "INSERT INTO search_outbox SELECT -release_id FROM releases WHERE true ON CONFLICT DO NOTHING",
            [],
        )?;
    }
    let top: i64 = top(db)?;
    let pending: i64 = db.query_row("SELECT count(*) FROM search_outbox", [], |r| r.get(0))?;
    if top <= upto && pending == 0 {
        meanwhile(db)?;
        return Ok(SyncStats::default());
    }
    let path = db
        .path()
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from);
    let (changed, built) = match path {
        Some(path) => std::thread::scope(|s| {
            let job = s.spawn(|| -> Result<_, CatalogError> {
                let reader = Db::open_read_only(&path)?;
                build(&reader, index, upto)
            });
            let changed = meanwhile(db);
            let built = job.join().unwrap_or_else(|_| {
                Err(CatalogError::Input {
                    path: path.clone(),
                    message: "the search indexing thread panicked".into(),
                })
            });
            (changed, built)
        }),
        // An in-memory database has no second connection: one after the
        // other.
        None => {
            let built = build(db, index, upto);
            (meanwhile(db), built)
        }
    };
    let (w, stats) = built?;
    if changed? {
        // Uncommitted: dropping the writer discards it (and frees the
        // index lock for the next one).
        drop(w);
        return sync(db, index);
    }
    commit(db, index, w, top, stats)
}

/// Commit the index, then raise the mark to `top` and empty the outbox.
fn commit(
    db: &mut Db,
    index: &SearchIndex,
    w: SearchWriter,
    top: i64,
    stats: SyncStats,
) -> Result<SyncStats, CatalogError> {
    w.finish()?;
    let t = db.transaction()?;
    t.execute("UPDATE search_state SET indexed_upto = ?1", [top])?;
    t.execute("DELETE FROM search_outbox", [])?;
    t.commit()?;
    index.reload()?;
    Ok(stats)
}

/// Write (uncommitted) the documents above `upto` and those of the outbox
/// keys, read through `db`.
fn build(
    db: &Db,
    index: &SearchIndex,
    upto: i64,
) -> Result<(SearchWriter, SyncStats), CatalogError> {
    let mut stats = SyncStats::default();
    let mut w = writer(index)?;
    w.delete_keys_above(upto)?;
    outbox(db, &mut w, upto, &mut stats)?;
    // New recordings, in id order.
    stats.added = add_rows(
        db,
        &mut w,
        "SELECT recording_id, title, coalesce(artist_credit, ''), '' FROM recordings \
         WHERE recording_id > ?1 ORDER BY recording_id",
        upto,
    )?;
    Ok((w, stats))
}

/// The outbox's documents below the mark: delete each, then add what the
/// catalogue holds now (nothing when the row is gone). Every answer
/// streamed (`scan`): a first load's million new recordings are never
/// held in memory, on either engine.
fn outbox(
    db: &Db,
    w: &mut SearchWriter,
    upto: i64,
    stats: &mut SyncStats,
) -> Result<(), CatalogError> {
    db.scan(
        "SELECT key FROM search_outbox WHERE key <= ?1",
        [upto],
        |r| {
            w.delete(r.get(0)?);
            stats.changed += 1;
            Ok(())
        },
    )?;
    add_rows(
        db,
        w,
        "SELECT o.key, r.title, coalesce(r.artist_credit, ''), '' FROM search_outbox o \
           JOIN recordings r ON r.recording_id = o.key WHERE o.key > 0 AND o.key <= ?1 \
         UNION ALL \
         SELECT o.key, '', coalesce(l.artist_credit, ''), l.title FROM search_outbox o \
           JOIN releases l ON l.release_id = -o.key WHERE o.key < 0",
        upto,
    )?;
    Ok(())
}

/// Add the documents `sql` answers (key, title, artist, release).
fn add_rows(db: &Db, w: &mut SearchWriter, sql: &str, upto: i64) -> Result<u64, CatalogError> {
    let mut n = 0;
    let mut failed: Option<SearchError> = None;
    db.scan(sql, [upto], |r| {
        let title = r.text(1)?.unwrap_or("");
        let artist = r.text(2)?.unwrap_or("");
        let release = r.text(3)?.unwrap_or("");
        if let Err(e) = w.add(&Doc {
            key: r.get(0)?,
            title,
            artist,
            release,
        }) {
            failed = Some(e);
            return Err(musicark_store::sql::Error::conversion(
                0,
                "the search index refused a document".into(),
            ));
        }
        n += 1;
        Ok(())
    })
    .map_err(|e| -> CatalogError {
        match failed.take() {
            Some(index_error) => index_error.into(),
            None => e.into(),
        }
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_every_continuation() {
        assert_eq!(prefix_end("bo"), Some(b"bp".to_vec()));
        assert_eq!(prefix_end(""), None);
        // é is C3 A9: the bound is C3 AA, still above every "é…".
        assert_eq!(prefix_end("é"), Some(vec![0xC3, 0xAA]));
    }

    /// The last word is a prefix: it matches longer words, folded, and the
    /// word itself still ranks by its own term.
    #[test]
    fn last_word_is_a_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = SearchIndex::open(dir.path()).expect("open");
        let mut w = index.writer(1, 15 << 20).expect("writer");
        for (key, title) in [
            (1, "Bohemian Rhapsody"),
            (2, "La Bohème"),
            (3, "Bo Diddley"),
            (4, "Boat Song"),
            (5, "Rhapsody in Blue"),
        ] {
            w.add(&Doc {
                key,
                title,
                artist: "",
                release: "",
            })
            .expect("add");
        }
        w.finish().expect("commit");
        index.reload().expect("reload");
        let keys = |q: &str| {
            let mut k: Vec<i64> = index
                .search(q, 10)
                .expect("search")
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            k.sort_unstable();
            k
        };
        assert_eq!(keys("bohe"), vec![1, 2]);
        assert_eq!(keys("BOHÈ"), vec![1, 2]);
        assert_eq!(keys("bo"), vec![1, 2, 3, 4]);
        assert_eq!(keys("rhapsody bl"), vec![5]);
        assert_eq!(keys("zz"), Vec::<i64>::new());
        // The exact word first among equals: "bo" itself is a term of 3.
        assert_eq!(index.search("bo", 10).expect("search")[0].0, 3);
    }
}
