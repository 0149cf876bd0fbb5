//! The catalogue on real MusicBrainz record shapes (`../shared/testdata/
//! musicbrainz-ws`), on malformed input, on re-imports, on ListenBrainz
//! popularity and on mapped sources.

use std::io::Write;
use std::path::{Path, PathBuf};

use musicark_catalog::{
    Catalog, Mapping, NoProgress, import_listenbrainz, import_mapped, import_musicbrainz, lookup,
    search,
};
use musicark_store::{Db, Home};

fn home(dir: &Path) -> (Home, Catalog) {
    let home = Home::init(&dir.join("archive")).expect("init");
    let cat = Catalog::open(&home).expect("catalogue");
    (home, cat)
}

fn count_text(db: &Db, sql: &str) -> String {
    db.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn count(db: &Db, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn testdata() -> Option<PathBuf> {
    let d =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/musicbrainz-ws");
    if d.is_dir() {
        return Some(d);
    }
    assert!(
        std::env::var_os("MUSICARK_REQUIRE_PEERS").is_none_or(|v| v != "1"),
        "shared testdata missing"
    );
    eprintln!("SKIPPED: ../shared/testdata/musicbrainz-ws is missing");
    None
}

/// Write the test records whose file names start with `prefix` (and not
/// `exclude`) as one JSON Lines dump.
fn dump(src: &Path, out: &Path, prefix: &str, exclude: &str) -> usize {
    let mut names: Vec<PathBuf> = std::fs::read_dir(src)
        .expect("read_dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with(prefix) && !n.starts_with(exclude) && n.ends_with(".json")
        })
        .collect();
    names.sort();
    let mut f = std::fs::File::create(out).expect("create");
    for n in &names {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(n).expect("read")).expect("json");
        writeln!(f, "{v}").expect("write");
    }
    names.len()
}

#[test]
fn real_musicbrainz_shapes_import_with_credits_isrcs_media_and_null_variants() {
    let Some(src) = testdata() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mb = tmp.path().join("mbdump");
    std::fs::create_dir_all(&mb).expect("mkdir");
    let n_rec = dump(
        &src,
        &mb.join("recording"),
        "recording",
        "recording_null_none",
    );
    let n_rel = dump(&src, &mb.join("release"), "release", "release_group");
    dump(&src, &mb.join("artist"), "artist", "none");
    let (_h, mut cat) = home(tmp.path());
    let summaries = import_musicbrainz(&mut cat, &mb, &NoProgress).expect("import");
    assert_eq!(summaries.len(), 3);
    let recording = summaries
        .iter()
        .find(|s| s.kind == "recording")
        .expect("recording import");
    assert_eq!(recording.lines as usize, n_rec);
    let release = summaries
        .iter()
        .find(|s| s.kind == "release")
        .expect("release import");
    assert_eq!(release.lines as usize, n_rel);

    // A plain recording: ISRC, length, credit.
    let hits = lookup(&cat.db, "GBAHS1400099").expect("lookup");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].title, "Thinking Out Loud");
    assert_eq!(hits[0].length_ms, Some(281_000));
    assert_eq!(hits[0].artists[0].name, "Ed Sheeran");
    // Join phrases make the printed credit.
    let multi: String = cat
        .db
        .query_row(
            "SELECT artist_credit FROM recordings WHERE artist_credit LIKE '%feat.%' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("a credit with feat.");
    assert!(multi.contains(" feat. "), "{multi}");
    // Multi-disc releases keep their disc numbers; tracks link recordings.
    assert!(count(&cat.db, "SELECT count(DISTINCT disc) FROM tracks") >= 2);
    assert_eq!(
        count(&cat.db, "SELECT count(*) FROM tracks"),
        17,
        "10 tracks of release.json, 4 + 3 of the multi-disc one"
    );
    // Records whose id is null are rejected with a reason, never dropped
    // silently, and the import went on.
    let no_id = count(
        &cat.db,
        "SELECT count(*) FROM rejects WHERE reason = 'the record has no id'",
    );
    assert!(no_id >= 2, "null variants must be rejected: {no_id}");
    assert!(count(&cat.db, "SELECT count(*) FROM recordings") >= (n_rec as i64 - no_id));
    // Search folds case and diacritics.
    let found = search(&cat, "thinking out", 5).expect("search");
    assert_eq!(
        found.first().map(|h| h.title.as_str()),
        Some("Thinking Out Loud")
    );
}

#[test]
fn malformed_lines_are_rejected_with_their_line_number_and_the_import_goes_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = tmp.path().join("recording");
    let good = |id: u32, title: &str, isrc: &str| {
        format!(
            r#"{{"id":"00000000-0000-4000-8000-{id:012}","title":"{title}","length":1000,"isrcs":["{isrc}"],"artist-credit":[]}}"#
        )
    };
    let lines = [
        good(1, "First", "USRC17607839"),
        "{not json".to_string(),
        r#"{"id":"00000000-0000-4000-8000-000000000003","title":"Typed","length":"long"}"#
            .to_string(),
        good(4, "Bad ISRC kept", "USRC1760783X"),
        r#"{"id":"not-a-uuid","title":"Bad id"}"#.to_string(),
        String::new(),
        good(7, "Last", "gb-ahs-14-00099"),
    ];
    std::fs::write(&f, lines.join("\n")).expect("write");
    let (_h, mut cat) = home(tmp.path());
    let s = &import_musicbrainz(&mut cat, &f, &NoProgress).expect("import")[0];
    assert_eq!(s.rows, 3, "{s:?}");
    assert_eq!(s.rejects, 4, "{s:?}");
    let rejects: Vec<(i64, Option<String>, String)> = cat
        .db
        .prepare("SELECT line, field, reason FROM rejects ORDER BY line")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        rejects.iter().map(|r| r.0).collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
    assert!(rejects[0].2.starts_with("bad JSON"));
    assert!(rejects[1].2.contains("invalid type"), "{:?}", rejects[1]);
    assert_eq!(rejects[2].1.as_deref(), Some("isrc"));
    assert_eq!(rejects[3].1.as_deref(), Some("id"));
    // The ISRC written with hyphens and in lower case is normalised.
    assert_eq!(
        lookup(&cat.db, "GBAHS1400099").expect("lookup")[0].title,
        "Last"
    );
    assert_eq!(
        count(
            &cat.db,
            "SELECT count(*) FROM recordings WHERE title = 'Bad ISRC kept'"
        ),
        1
    );
}

fn xz_tar(path: &Path, member: &str, data: &[u8]) {
    let file = std::fs::File::create(path).expect("create");
    let xz = xz2::write::XzEncoder::new(file, 6);
    let mut tar = tar::Builder::new(xz);
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, member, data).expect("append");
    tar.into_inner().expect("tar").finish().expect("xz");
}

#[test]
fn dumps_are_read_straight_from_tar_xz_and_a_truncated_archive_is_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut data = String::new();
    for i in 0..2000 {
        data.push_str(&format!(
            r#"{{"id":"00000000-0000-4000-8000-{i:012}","title":"Song {i}","length":1000,"isrcs":[],"artist-credit":[]}}"#
        ));
        data.push('\n');
    }
    let archive = tmp.path().join("recording.tar.xz");
    xz_tar(&archive, "mbdump/recording", data.as_bytes());
    let (_h, mut cat) = home(tmp.path());
    let s = &import_musicbrainz(&mut cat, &archive, &NoProgress).expect("import")[0];
    assert_eq!((s.lines, s.rows, s.rejects), (2000, 2000, 0));

    let bytes = std::fs::read(&archive).expect("read");
    let cut = tmp.path().join("cut").join("recording.tar.xz");
    std::fs::create_dir_all(cut.parent().expect("parent")).expect("mkdir");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    let (_h2, mut cat2) = home(&tmp.path().join("cut"));
    let s = &import_musicbrainz(&mut cat2, &cut, &NoProgress)
        .expect("a truncated archive is not a failed command")[0];
    assert!(s.rows < 2000, "{s:?}");
    let reason: String = cat2
        .db
        .query_row("SELECT reason FROM rejects", [], |r| r.get(0))
        .expect("a reject");
    assert!(reason.starts_with("input ends early"), "{reason}");
}

#[test]
fn a_reimport_updates_and_never_duplicates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = tmp.path().join("recording.jsonl");
    let line = |title: &str| {
        format!(
            r#"{{"id":"11111111-0000-4000-8000-000000000001","title":"{title}","length":1000,"isrcs":["USRC17607839","USRC17607839"],"artist-credit":[{{"name":"A","joinphrase":"","artist":{{"id":"22222222-0000-4000-8000-000000000002","name":"A"}}}}]}}"#
        )
    };
    std::fs::write(&f, line("Old title")).expect("write");
    let (_h, mut cat) = home(tmp.path());
    import_musicbrainz(&mut cat, &f, &NoProgress).expect("import");
    std::fs::write(&f, line("New title")).expect("write");
    import_musicbrainz(&mut cat, &f, &NoProgress).expect("import again");
    import_musicbrainz(&mut cat, &f, &NoProgress).expect("and again");
    assert_eq!(count(&cat.db, "SELECT count(*) FROM recordings"), 1);
    assert_eq!(count(&cat.db, "SELECT count(*) FROM isrcs"), 1);
    assert_eq!(count(&cat.db, "SELECT count(*) FROM artists"), 1);
    assert_eq!(count(&cat.db, "SELECT count(*) FROM recording_artists"), 1);
    assert_eq!(search(&cat, "new title", 5).expect("search").len(), 1);
    assert!(
        search(&cat, "old title", 5).expect("search").is_empty(),
        "the search index follows updates"
    );
}

#[test]
fn a_lost_search_index_is_rebuilt_by_the_next_import() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dump = tmp.path().join("dump");
    musicark_synth::write_catalog(
        &dump,
        &musicark_synth::CatalogSpec {
            recordings: 3_000,
            seed: 9,
            invalid_share: 0.0,
        },
    )
    .expect("dump");
    let (h, mut cat) = home(tmp.path());
    import_musicbrainz(&mut cat, &dump.join("mbdump"), &NoProgress).expect("import");
    let all = |cat: &Catalog| -> Vec<i64> {
        let mut v: Vec<i64> = cat
            .db
            .prepare(
                "SELECT recording_id FROM recordings UNION ALL SELECT -release_id FROM releases",
            )
            .expect("sql")
            .query_map([], |r| r.get(0))
            .expect("keys")
            .map(|r| r.expect("key"))
            .collect();
        v.sort_unstable();
        v
    };
    let want = all(&cat);
    assert!(want.iter().any(|k| *k < 0), "releases are searchable too");
    assert_eq!(cat.search.keys().expect("keys"), want);
    let title: String = count_text(&cat.db, "SELECT title FROM recordings LIMIT 1");

    drop(cat);
    std::fs::remove_dir_all(h.search_dir()).expect("lose the index");
    let mut cat = Catalog::open(&h).expect("reopen");
    assert!(search(&cat, &title, 5).expect("search").is_empty());
    // The dump is unchanged: nothing to import, but the index is rebuilt.
    let again = import_musicbrainz(&mut cat, &dump.join("mbdump"), &NoProgress).expect("again");
    assert!(again.iter().all(|s| s.unchanged), "{again:?}");
    assert_eq!(cat.search.keys().expect("keys"), want);
    assert!(!search(&cat, &title, 5).expect("search").is_empty());
}

#[test]
fn listenbrainz_popularity_from_csv_and_json_lines() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = tmp.path().join("pop.csv");
    std::fs::write(
        &csv,
        "recording_mbid,total_listen_count,total_user_count\n\
         cb2cc207-8125-445c-9ef9-6ea44eee959a,1000,50\n\
         not-an-mbid,5,1\n\
         89f35c6f-84f4-4b5d-8966-ef2572faf230,abc,1\n\
         89f35c6f-84f4-4b5d-8966-ef2572faf230,7,\n",
    )
    .expect("write");
    let (_h, mut cat) = home(tmp.path());
    let s = import_listenbrainz(&mut cat, &csv, &NoProgress).expect("import");
    assert_eq!((s.rows, s.rejects), (2, 2), "{s:?}");
    let lines: Vec<i64> = cat
        .db
        .prepare("SELECT line FROM rejects ORDER BY line")
        .expect("p")
        .query_map([], |r| r.get(0))
        .expect("q")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(lines, [3, 4], "line numbers count the header");
    let jsonl = tmp.path().join("pop.jsonl");
    std::fs::write(&jsonl, r#"{"recording_mbid":"CB2CC207-8125-445C-9EF9-6EA44EEE959A","total_listen_count":2000,"total_user_count":60}"#).expect("write");
    import_listenbrainz(&mut cat, &jsonl, &NoProgress).expect("import");
    let listens: i64 = cat
        .db
        .query_row("SELECT listen_count FROM popularity WHERE recording_key = 'cb2cc207-8125-445c-9ef9-6ea44eee959a'", [], |r| r.get(0))
        .expect("row");
    assert_eq!(listens, 2000, "the newer import updates");
}

#[test]
fn mapped_sources_merge_by_mbid_and_isrc_and_keep_their_own_ids() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_h, mut cat) = home(tmp.path());
    let mb = tmp.path().join("recording");
    std::fs::write(&mb, r#"{"id":"cb2cc207-8125-445c-9ef9-6ea44eee959a","title":"Thinking Out Loud","length":281000,"isrcs":["GBAHS1400099"],"artist-credit":[]}"#).expect("write");
    import_musicbrainz(&mut cat, &mb, &NoProgress).expect("import");

    let mapping = tmp.path().join("netlabel.toml");
    std::fs::write(
        &mapping,
        r#"source = "netlabel"
format = "csv"
[columns]
id = "track_id"
title = "name"
artist = "by"
isrc = "isrc"
length_s = "seconds"
release = "album"
barcode = "upc"
license = "licence"
listen_count = "plays"
track = "no"
"#,
    )
    .expect("write");
    let csv = tmp.path().join("tracks.csv");
    std::fs::write(
        &csv,
        "track_id,name,by,isrc,seconds,album,upc,licence,plays,no\n\
         nl-1,Thinking Out Loud (radio),Ed Sheeran,GB-AHS-14-00099,281,Hits,5099902895529,CC-BY-4.0,12,1\n\
         nl-2,Quiet Fields,Field Notes Trio,,190.4,Depot,5099902895528,CC-BY-SA-4.0,3,2\n\
         nl-3,,Nobody,,1,,,,,\n",
    )
    .expect("write");
    let m = Mapping::load(&mapping).expect("mapping");
    let s = import_mapped(&mut cat, &csv, &m, &NoProgress).expect("import");
    assert_eq!((s.rows, s.rejects), (2, 2), "{s:?}");
    // Merged with the MusicBrainz recording through the ISRC: one recording, two sources' ids.
    let merged = &lookup(&cat.db, "GBAHS1400099").expect("lookup")[0];
    assert_eq!(
        merged.title, "Thinking Out Loud",
        "another source never overwrites the title"
    );
    let sources: Vec<&str> = merged
        .external_ids
        .iter()
        .map(|e| e.source.as_str())
        .collect();
    assert!(sources.contains(&"netlabel"), "{sources:?}");
    assert_eq!(merged.license.as_deref(), Some("CC-BY-4.0"));
    // The new one, with its release, its barcode rejected for its check digit.
    let new = &search(&cat, "quiet fields", 5).expect("search")[0];
    let view = &lookup(&cat.db, &format!("rec:{}", new.id)).expect("lookup")[0];
    assert_eq!(view.length_ms, Some(190_400));
    assert_eq!(view.releases[0].release_title, "Depot");
    assert_eq!(view.popularity[0].listen_count, Some(3));
    let reasons: Vec<String> = cat
        .db
        .prepare("SELECT reason FROM rejects ORDER BY line")
        .expect("p")
        .query_map([], |r| r.get(0))
        .expect("q")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        reasons.iter().any(|r| r.contains("check digit")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("title")), "{reasons:?}");

    // The same source as JSON Lines and as an SQLite table.
    let jsonl = tmp.path().join("more.jsonl");
    std::fs::write(
        &jsonl,
        r#"{"track_id":"nl-9","name":"Night Bus","by":"Aurora Lane","seconds":200}"#,
    )
    .expect("write");
    let mut m2 = m.clone();
    m2.format = musicark_catalog::mapping::Format::Jsonl;
    let s = import_mapped(&mut cat, &jsonl, &m2, &NoProgress).expect("jsonl");
    assert_eq!(s.rows, 1);
    let sqlite = tmp.path().join("label.sqlite");
    let conn = rusqlite::Connection::open(&sqlite).expect("sqlite");
    conn.execute_batch("CREATE TABLE t (track_id TEXT, name TEXT, by TEXT, seconds REAL); INSERT INTO t VALUES ('nl-10', 'Árvore', 'Café Tacvba', 61.5);").expect("fill");
    drop(conn);
    let mut m3 = m.clone();
    m3.format = musicark_catalog::mapping::Format::Sqlite;
    m3.table = Some("t".into());
    m3.columns
        .retain(|k, _| ["id", "title", "artist", "length_s"].contains(&k.as_str()));
    let s = import_mapped(&mut cat, &sqlite, &m3, &NoProgress).expect("sqlite");
    assert_eq!(s.rows, 1);
    assert_eq!(
        search(&cat, "arvore cafe", 5).expect("search")[0].title,
        "Árvore",
        "diacritics fold"
    );
    // Re-importing the CSV changes nothing.
    let before = count(&cat.db, "SELECT count(*) FROM recordings");
    import_mapped(&mut cat, &csv, &m, &NoProgress).expect("again");
    assert_eq!(count(&cat.db, "SELECT count(*) FROM recordings"), before);
}

#[test]
fn bad_mappings_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = tmp.path().join("m.toml");
    for (text, needle) in [
        (
            "source = \"x\"\nformat = \"csv\"\n[columns]\ntitle = \"t\"\n",
            "\"id\"",
        ),
        (
            "source = \"x\"\nformat = \"csv\"\n[columns]\nid = \"i\"\ntitle = \"t\"\nflavour = \"f\"\n",
            "unknown field",
        ),
        (
            "source = \"x\"\nformat = \"sqlite\"\n[columns]\nid = \"i\"\ntitle = \"t\"\n",
            "table",
        ),
        (
            "source = \"musicbrainz\"\nformat = \"csv\"\n[columns]\nid = \"i\"\ntitle = \"t\"\n",
            "source",
        ),
    ] {
        std::fs::write(&p, text).expect("write");
        let err = Mapping::load(&p).expect_err(text).to_string();
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn a_first_load_with_the_same_mbid_twice_keeps_the_last_copy_and_builds_its_indexes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = tmp.path().join("recording");
    let line = |title: &str, isrc: &str| {
        format!(
            r#"{{"id":"33333333-0000-4000-8000-000000000003","title":"{title}","isrcs":["{isrc}","{isrc}"],"artist-credit":[]}}"#
        )
    };
    std::fs::write(
        &f,
        [
            line("First copy", "USRC17607839"),
            line("Second copy", "GBAHS1400099"),
        ]
        .join("\n"),
    )
    .expect("write");
    let (_h, mut cat) = home(tmp.path());
    import_musicbrainz(&mut cat, &f, &NoProgress).expect("import");
    assert_eq!(
        count(&cat.db, "SELECT bulk FROM imports"),
        1,
        "a first load is a bulk load"
    );
    assert_eq!(count(&cat.db, "SELECT count(*) FROM recordings"), 1);
    assert_eq!(count(&cat.db, "SELECT count(*) FROM isrcs"), 1);
    assert_eq!(
        lookup(&cat.db, "GBAHS1400099").expect("lookup")[0].title,
        "Second copy"
    );
    assert!(lookup(&cat.db, "USRC17607839").expect("lookup").is_empty());
    assert_eq!(
        count(
            &cat.db,
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('recordings_mbid', 'isrcs_pk', 'isrcs_recording', 'recording_artists_artist')"
        ),
        4
    );
    assert_eq!(search(&cat, "second copy", 5).expect("search").len(), 1);
    // The load wrote without SQLite's per-row key checks; its connection
    // checks them again afterwards.
    assert!(
        cat.db
            .execute(
                "INSERT INTO isrcs (isrc, recording_id) VALUES ('GBAHS1400098', 99)",
                []
            )
            .is_err(),
        "a row pointing at no recording is refused after the load"
    );
}

#[test]
fn releases_written_a_batch_at_a_time_keep_the_last_copy_and_fill_gaps() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mbid = |n: u32| format!("{n:08}-0000-4000-8000-000000000000");
    let rec = |n: u32, length: &str| {
        format!(
            r#"{{"id":"{}","title":"Song {n}","length":{length},"artist-credit":[]}}"#,
            mbid(n)
        )
    };
    let recordings = tmp.path().join("recording");
    std::fs::write(&recordings, [rec(1, "null"), rec(2, "2000")].join("\n")).expect("write");
    let release = |n: u32, title: &str, rg_title: &str, tracks: &[(u32, &str)]| {
        let tracks: Vec<String> = tracks
            .iter()
            .enumerate()
            .map(|(i, (r, length))| {
                format!(
                    r#"{{"position":{},"title":"T{r}","recording":{}}}"#,
                    i + 1,
                    rec(*r, length)
                )
            })
            .collect();
        format!(
            r#"{{"id":"{}","title":"{title}","release-group":{{"id":"{}","title":"{rg_title}"}},"media":[{{"position":1,"tracks":[{}]}}]}}"#,
            mbid(100 + n),
            mbid(900),
            tracks.join(",")
        )
    };
    let releases = tmp.path().join("release");
    std::fs::write(
        &releases,
        [
            release(1, "A", "G", &[(1, "1000"), (2, "2000"), (3, "3000")]),
            release(2, "B", "G new", &[(2, "2000")]),
            release(1, "A v2", "G new", &[(2, "2000")]),
        ]
        .join("\n"),
    )
    .expect("write");
    let (_h, mut cat) = home(tmp.path());
    import_musicbrainz(&mut cat, &recordings, &NoProgress).expect("recordings");
    import_musicbrainz(&mut cat, &releases, &NoProgress).expect("releases");
    let db = &cat.db;
    assert_eq!(count(db, "SELECT count(*) FROM releases"), 2);
    assert_eq!(count(db, "SELECT count(*) FROM release_groups"), 1);
    assert_eq!(count_text(db, "SELECT title FROM release_groups"), "G new");
    assert_eq!(
        count_text(
            db,
            &format!("SELECT title FROM releases WHERE mbid = '{}'", mbid(101))
        ),
        "A v2",
        "a release twice in a batch keeps its last copy"
    );
    assert_eq!(
        count(db, "SELECT count(*) FROM tracks"),
        2,
        "and the last copy's tracks only"
    );
    assert_eq!(
        count(
            db,
            "SELECT count(DISTINCT rg_id) FROM releases WHERE rg_id IS NOT NULL"
        ),
        1
    );
    // A track's recording unknown before is written; a known one's gap
    // (no length) is filled, never overwritten.
    assert_eq!(count(db, "SELECT count(*) FROM recordings"), 3);
    assert_eq!(
        count(
            db,
            &format!(
                "SELECT length_ms FROM recordings WHERE mbid = '{}'",
                mbid(1)
            )
        ),
        1000
    );
    assert_eq!(
        count(db, "SELECT count(*) FROM search_outbox"),
        0,
        "indexed at the end"
    );
    assert_eq!(search(&cat, "a v2", 5).expect("search").len(), 1);

    // A new version of the dump: A's tracks are replaced, B is kept.
    std::fs::write(
        &releases,
        release(1, "A v3", "G", &[(1, "1000"), (3, "3000")]),
    )
    .expect("write");
    import_musicbrainz(&mut cat, &releases, &NoProgress).expect("releases again");
    let db = &cat.db;
    assert_eq!(count(db, "SELECT count(*) FROM releases"), 2);
    assert_eq!(count(db, "SELECT count(*) FROM tracks"), 3);
    assert_eq!(
        count(
            db,
            &format!(
                "SELECT count(*) FROM tracks JOIN releases USING (release_id) WHERE releases.mbid = '{}'",
                mbid(101)
            )
        ),
        2
    );
    assert_eq!(count_text(db, "SELECT title FROM release_groups"), "G");
    // An MBID finds its recording (in one statement), or a release's
    // recordings in track order.
    let found = lookup(db, &mbid(1)).expect("lookup");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].title, "Song 1");
    assert_eq!(found[0].releases.len(), 1);
    let tracks: Vec<String> = lookup(db, &mbid(101))
        .expect("lookup")
        .into_iter()
        .map(|v| v.title)
        .collect();
    assert_eq!(tracks, ["Song 1", "Song 3"]);
    assert!(lookup(db, &mbid(555)).expect("lookup").is_empty());
}

#[test]
fn artists_twice_in_a_batch_keep_what_either_gave_and_a_reimport_updates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = tmp.path().join("artist");
    let id = "44444444-0000-4000-8000-000000000004";
    std::fs::write(
        &f,
        [
            format!(r#"{{"id":"{id}","name":"First","sort-name":"First, The","country":"GB"}}"#),
            format!(r#"{{"id":"{id}","name":"Second","country":null}}"#),
            r#"{"id":"55555555-0000-4000-8000-000000000005","name":"Other"}"#.to_string(),
        ]
        .join("\n"),
    )
    .expect("write");
    let (_h, mut cat) = home(tmp.path());
    import_musicbrainz(&mut cat, &f, &NoProgress).expect("import");
    let row = |db: &Db| -> (i64, String, String, String) {
        db.query_row(
            &format!("SELECT artist_id, name, sort_name, country FROM artists WHERE mbid = '{id}'"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("artist")
    };
    assert_eq!(count(&cat.db, "SELECT count(*) FROM artists"), 2);
    let (first_id, name, sort, country) = row(&cat.db);
    assert_eq!(
        (name.as_str(), sort.as_str(), country.as_str()),
        ("Second", "First, The", "GB")
    );
    std::fs::write(
        &f,
        format!(r#"{{"id":"{id}","name":"Third","country":"FR"}}"#),
    )
    .expect("write");
    import_musicbrainz(&mut cat, &f, &NoProgress).expect("import again");
    assert_eq!(count(&cat.db, "SELECT count(*) FROM artists"), 2);
    let (again_id, name, sort, country) = row(&cat.db);
    assert_eq!(again_id, first_id, "an artist keeps its id");
    assert_eq!(
        (name.as_str(), sort.as_str(), country.as_str()),
        ("Third", "First, The", "FR")
    );
}

#[test]
fn an_isrc_finds_every_recording_that_holds_it_in_id_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = tmp.path().join("recording");
    let line = |n: u8, title: &str, isrcs: &str| {
        format!(
            r#"{{"id":"44444444-0000-4000-8000-00000000000{n}","title":"{title}","isrcs":[{isrcs}],"artist-credit":[]}}"#
        )
    };
    std::fs::write(
        &f,
        [
            line(1, "Shared one", r#""USRC17607839""#),
            line(2, "Alone", r#""GBAHS1400099""#),
            line(3, "Shared two", r#""USRC17607839""#),
        ]
        .join("\n"),
    )
    .expect("write");
    let (_h, mut cat) = home(tmp.path());
    import_musicbrainz(&mut cat, &f, &NoProgress).expect("import");
    let titles = |q: &str| -> Vec<String> {
        lookup(&cat.db, q)
            .expect("lookup")
            .into_iter()
            .map(|v| v.title)
            .collect()
    };
    assert_eq!(titles("USRC17607839"), ["Shared one", "Shared two"]);
    let alone = lookup(&cat.db, "GB-AHS-14-00099").expect("lookup");
    assert_eq!(alone.len(), 1);
    assert_eq!(alone[0].title, "Alone");
    assert_eq!(alone[0].isrcs, ["GBAHS1400099"]);
    assert!(titles("FRZ039800212").is_empty(), "an ISRC nobody holds");
}
