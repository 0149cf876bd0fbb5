//! `musicark match` on a collection whose catalogue is known: originals
//! with their identifiers, copies with tags stripped and renamed, Opus
//! re-encodes, byte duplicates, a copy that only has artist and title, and
//! music the catalogue does not have. Every file must be linked to the
//! right recording or left for review / unmatched — never to a wrong one.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use musicark_sample::{SampleSpec, generate, write_open_data};
use serde_json::Value;

use crate::support::{bin, init_and_ingest, json, ok, peer};

fn ffmpeg_copy(ffmpeg: &Path, input: &Path, output: &Path, metadata: &[&str]) {
    let st = Command::new(ffmpeg)
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-map", "0:a", "-map_metadata", "-1", "-c:a", "copy"])
        .args(metadata)
        .arg(output)
        .status()
        .expect("ffmpeg");
    assert!(st.success());
}

#[test]
fn every_file_is_linked_right_or_left_for_review_never_wrong() {
    let Some(ffmpeg) = peer("ffmpeg") else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(4, 10.0, 42);
    let originals = tmp.path().join("originals");
    let report = generate(&originals, &spec).expect("sample");
    let (recordings, listens) =
        write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    // Which recording each original is (the sample writes them in order).
    let truth: Vec<(std::path::PathBuf, String)> = report
        .audio
        .iter()
        .zip(&spec.tracks)
        .map(|(p, t)| {
            assert!(
                p.to_string_lossy().contains(&t.title),
                "{} is {}",
                p.display(),
                t.title
            );
            (p.clone(), t.recording_mbid.clone())
        })
        .collect();

    let music = tmp.path().join("music");
    let variants = music.join("variants");
    std::fs::create_dir_all(&variants).expect("mkdir");
    let mut expect: HashMap<String, Option<String>> = HashMap::new();
    let ext = |p: &Path| {
        p.extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // Originals 0–2 as they are; original 3 is NOT ingested.
    for (p, mbid) in truth.iter().take(3) {
        let to = music.join(p.file_name().expect("name"));
        std::fs::copy(p, &to).expect("copy");
        expect.insert(to.to_string_lossy().into_owned(), Some(mbid.clone()));
    }
    // 0: tags stripped and renamed; and a byte duplicate of that.
    let (p0, m0) = &truth[0];
    let stripped = variants.join(format!("track 01.{}", ext(p0)));
    ffmpeg_copy(&ffmpeg, p0, &stripped, &[]);
    let dup = variants.join(format!("track 01 (copy).{}", ext(p0)));
    std::fs::copy(&stripped, &dup).expect("dup");
    expect.insert(stripped.to_string_lossy().into_owned(), Some(m0.clone()));
    expect.insert(dup.to_string_lossy().into_owned(), Some(m0.clone()));
    // 1: re-encoded by musicark (tags kept), and re-encoded then stripped.
    let (p1, m1) = &truth[1];
    let reenc = variants.join("reencoded.opus");
    ok(
        tmp.path(),
        &[
            "transcode",
            &p1.to_string_lossy(),
            &reenc.to_string_lossy(),
            "--bitrate",
            "64",
        ],
    );
    expect.insert(reenc.to_string_lossy().into_owned(), Some(m1.clone()));
    let bare = variants.join("no name.opus");
    ffmpeg_copy(&ffmpeg, &reenc, &bare, &[]);
    expect.insert(bare.to_string_lossy().into_owned(), Some(m1.clone()));
    // 3: only artist and title (no ids), its original absent.
    let (p3, m3) = &truth[3];
    let t3 = &spec.tracks[3];
    let texty = variants.join(format!("texty.{}", ext(p3)));
    let title = format!("title={}", t3.title);
    let artist = format!("artist={}", t3.artist);
    ffmpeg_copy(
        &ffmpeg,
        p3,
        &texty,
        &["-metadata", &title, "-metadata", &artist],
    );
    expect.insert(texty.to_string_lossy().into_owned(), Some(m3.clone()));
    // Music the catalogue does not have, without tags.
    let stranger_dir = tmp.path().join("stranger");
    let other = generate(&stranger_dir, &SampleSpec::with_tracks(1, 10.0, 777)).expect("other");
    let stranger = variants.join(format!("stranger.{}", ext(&other.audio[0])));
    ffmpeg_copy(&ffmpeg, &other.audio[0], &stranger, &[]);
    expect.insert(stranger.to_string_lossy().into_owned(), None);

    let archive = tmp.path().join("archive");
    init_and_ingest(&archive, &[&music], &[]);
    crate::support::import_open_data(&archive, &recordings, &listens);
    let r: Value = json(&archive, &["match"]);
    // Recording id → MBID, to check links.
    let mbid_of = |id: i64| -> String {
        let v = json(&archive, &["catalog", "show", &format!("rec:{id}")]);
        v[0]["mbid"].as_str().unwrap_or("").to_string()
    };
    let entries = r["entries"].as_array().expect("entries");
    let mut seen = 0;
    for e in entries {
        let path = e["path"].as_str().expect("path");
        let Some(want) = expect.get(path) else {
            panic!("unexpected {path}");
        };
        seen += 1;
        match (e["status"].as_str(), want) {
            (Some("linked"), Some(m)) => {
                let got = mbid_of(e["recording_id"].as_i64().expect("id"));
                assert_eq!(&got, m, "{path} linked to the wrong recording: {e}");
            }
            (Some("linked"), None) => panic!("{path} is in no catalogue but was linked: {e}"),
            (Some("review" | "unmatched"), None) => {}
            (status, Some(_)) => panic!("{path}: expected a link, got {status:?}: {e}"),
            (status, None) => panic!("{path}: {status:?}"),
        }
    }
    // The stripped copy and its byte duplicate are one content (one entry).
    assert_eq!(seen, expect.len() - 1, "{r:#}");
    assert_eq!(r["by_fingerprint"].as_u64(), Some(2), "{r:#}");
    assert_eq!(r["by_text"].as_u64(), Some(1), "{r:#}");
    // Rerunning gives the same answer (matches are recomputed, not added).
    let again: Value = json(&archive, &["match"]);
    assert_eq!(again["linked"], r["linked"]);
    let text = bin()
        .args(["--archive", &archive.to_string_lossy(), "match", "--review"])
        .output()
        .expect("run");
    assert!(text.status.success());
}

/// The real corpus, catalogued from its own tags (a mapped CSV: title,
/// artist, length), then ingested with copies whose tags are stripped and
/// names changed, Opus re-encodes without tags, and byte duplicates: every
/// file linked to its own recording, or left for review — never another.
#[test]
fn on_the_real_corpus_stripped_renamed_and_re_encoded_copies_link_right() {
    let Some(corpus) = crate::support::corpus() else {
        return;
    };
    let Some(ffmpeg) = peer("ffmpeg") else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = crate::support::files_with(&corpus, &["ogg", "mp3"]);
    // The catalogue: one row per corpus file, from its tags.
    let mut csv = String::from("id,title,artist,seconds\n");
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut ids = HashMap::new();
    let music = tmp.path().join("music");
    std::fs::create_dir_all(&music).expect("mkdir");
    let mut expect: HashMap<String, String> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        let (title, artist, secs) = crate::support::tags_of(f);
        let id = format!("c{i}");
        csv.push_str(&format!(
            "{id},{},{},{secs:.3}\n",
            quote(&title),
            quote(&artist)
        ));
        ids.insert(f.clone(), id.clone());
        let original = music.join(format!(
            "{i}-{}",
            f.file_name().expect("name").to_string_lossy()
        ));
        std::fs::copy(f, &original).expect("copy");
        expect.insert(original.to_string_lossy().into_owned(), id.clone());
        // Every third: tags stripped and renamed; every fifth: re-encoded
        // to Opus without tags; every seventh: a byte duplicate.
        if i % 3 == 0 {
            let out = music.join(format!(
                "unknown {i}.{}",
                f.extension().expect("ext").to_string_lossy()
            ));
            ffmpeg_copy(&ffmpeg, f, &out, &[]);
            expect.insert(out.to_string_lossy().into_owned(), id.clone());
        }
        if i % 5 == 0 {
            let out = music.join(format!("reencode {i}.opus"));
            let st = Command::new(&ffmpeg)
                .args(["-nostdin", "-v", "error", "-i"])
                .arg(f)
                .args([
                    "-map",
                    "0:a",
                    "-map_metadata",
                    "-1",
                    "-c:a",
                    "libopus",
                    "-b:a",
                    "96k",
                ])
                .arg(&out)
                .status()
                .expect("ffmpeg");
            assert!(st.success());
            expect.insert(out.to_string_lossy().into_owned(), id.clone());
        }
        if i % 7 == 0 {
            let out = music.join(format!(
                "dup {i}-{}",
                f.file_name().expect("name").to_string_lossy()
            ));
            std::fs::copy(f, &out).expect("dup");
            expect.insert(out.to_string_lossy().into_owned(), id.clone());
        }
    }
    let csv_path = tmp.path().join("corpus.csv");
    std::fs::write(&csv_path, csv).expect("csv");
    let mapping = tmp.path().join("corpus.toml");
    std::fs::write(
        &mapping,
        "source = \"corpus\"\nformat = \"csv\"\n[columns]\nid = \"id\"\ntitle = \"title\"\nartist = \"artist\"\nlength_s = \"seconds\"\n",
    )
    .expect("mapping");
    let archive = tmp.path().join("archive");
    init_and_ingest(&archive, &[&music], &[]);
    ok(
        &archive,
        &[
            "catalog",
            "import",
            "mapped",
            &csv_path.to_string_lossy(),
            "--mapping",
            &mapping.to_string_lossy(),
        ],
    );
    let r: Value = json(&archive, &["match"]);
    // recording_id → the corpus row it came from.
    let home = musicark_store::Home::open(&archive).expect("home");
    let db = home.db().expect("db");
    let row_of: HashMap<i64, String> = db
        .prepare("SELECT entity_id, external_id FROM external_ids WHERE source = 'corpus' AND entity = 'recording'")
        .expect("sql")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    let (mut linked, mut review, mut unmatched) = (0, 0, 0);
    for e in r["entries"].as_array().expect("entries") {
        let path = e["path"].as_str().expect("path");
        let want = expect
            .get(path)
            .unwrap_or_else(|| panic!("unexpected {path}"));
        match e["status"].as_str() {
            Some("linked") => {
                let got = row_of
                    .get(&e["recording_id"].as_i64().expect("id"))
                    .expect("a corpus row");
                assert_eq!(got, want, "{path} linked to the wrong recording: {e}");
                linked += 1;
            }
            Some("review") => {
                let cands = e["candidates"].as_array().expect("candidates");
                assert!(
                    cands
                        .iter()
                        .any(|c| row_of.get(&c.as_i64().unwrap_or(0)) == Some(want)),
                    "{path}: review without its own recording among the candidates: {e}"
                );
                review += 1;
            }
            _ => {
                eprintln!("NOT LINKED {path}: {}", e["evidence"]);
                unmatched += 1;
            }
        }
    }
    eprintln!(
        "corpus matching: {} contents, {linked} linked right ({} by fingerprint, {} by artist and title), {review} to review, 0 wrong",
        r["contents"], r["by_fingerprint"], r["by_text"]
    );
    // Every corpus file has its row: none is left unmatched, and most are
    // linked outright (files whose tags name no artist can only be
    // proposed for review, and so can their stripped copies).
    assert_eq!(unmatched, 0, "{r:#}");
    assert!(
        linked * 2 >= r["contents"].as_u64().unwrap_or(0) as usize,
        "{r:#}"
    );
}
