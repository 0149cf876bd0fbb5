//! Fingerprints against the reference: `fpcalc -raw -length 0` (Chromaprint
//! with ffmpeg's decoder and resampler) on the real corpus and on Ogg Opus,
//! compared by aligned bit similarity.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{bin, corpus, files_with, peer};

/// fpcalc's fingerprint of `f` (Debian's build may exit 3 after printing a
/// valid fingerprint: the output decides, not the exit code).
fn fpcalc(fpcalc: &Path, f: &Path) -> (f64, Vec<u32>) {
    let out = Command::new(fpcalc)
        .args(["-raw", "-length", "0", "-json"])
        .arg(f)
        .output()
        .expect("fpcalc");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("fpcalc on {}: {e}", f.display()));
    let fp = v["fingerprint"]
        .as_array()
        .expect("fingerprint")
        .iter()
        .map(|x| x.as_u64().expect("u32") as u32)
        .collect();
    (v["duration"].as_f64().expect("duration"), fp)
}

/// Ours, for many files at once (one JSON object per line, in order).
fn ours(files: &[PathBuf]) -> Vec<Value> {
    let out = bin()
        .args(["fingerprint", "--json"])
        .args(files)
        .output()
        .expect("musicark fingerprint");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), files.len());
    lines
}

fn items(v: &Value) -> Vec<u32> {
    v["fingerprint"]
        .as_array()
        .expect("fingerprint")
        .iter()
        .map(|x| x.as_u64().expect("u32") as u32)
        .collect()
}

#[test]
fn fingerprints_agree_with_fpcalc_on_the_real_corpus() {
    let Some(corpus) = corpus() else { return };
    let Some(fpcalc_bin) = peer("fpcalc") else {
        return;
    };
    let files = files_with(&corpus, &["ogg", "mp3"]);
    assert!(files.len() >= 10, "corpus too small: {}", files.len());
    let got = ours(&files);
    let mut sims = Vec::new();
    for (f, g) in files.iter().zip(&got) {
        assert_eq!(g["path"].as_str(), Some(f.to_string_lossy().as_ref()));
        let (ref_duration, reference) = fpcalc(&fpcalc_bin, f);
        let mine = items(g);
        let duration = g["duration"].as_f64().expect("duration");
        assert!(
            (duration - ref_duration).abs() < 1.0,
            "{}: duration {duration} vs fpcalc {ref_duration}",
            f.display()
        );
        let s = musicark_audio::similarity(&mine, &reference, 8);
        assert!(
            s >= 0.9,
            "{}: similarity {s:.4} with fpcalc ({} vs {} items)",
            f.display(),
            mine.len(),
            reference.len()
        );
        sims.push(s);
    }
    let mean = sims.iter().sum::<f64>() / sims.len() as f64;
    let min = sims.iter().copied().fold(1.0, f64::min);
    eprintln!(
        "fingerprint similarity with fpcalc over {} files: mean {mean:.4}, min {min:.4}",
        sims.len()
    );
    assert!(mean >= 0.98, "mean similarity {mean:.4} < 0.98");
}

#[test]
fn opus_files_are_fingerprinted_like_fpcalc_does_and_like_their_source() {
    let Some(corpus) = corpus() else { return };
    let (Some(fpcalc_bin), Some(ffmpeg)) = (peer("fpcalc"), peer("ffmpeg")) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let sources: Vec<PathBuf> = files_with(&corpus, &["ogg"]).into_iter().take(3).collect();
    let mut opus = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let out = tmp.path().join(format!("{i}.opus"));
        let st = Command::new(&ffmpeg)
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(src)
            .args(["-map", "0:a", "-c:a", "libopus", "-b:a", "96k"])
            .arg(&out)
            .status()
            .expect("ffmpeg");
        assert!(st.success());
        opus.push(out);
    }
    let got = ours(&opus);
    let from_sources = ours(&sources);
    for ((f, g), s) in opus.iter().zip(&got).zip(&from_sources) {
        let (_, reference) = fpcalc(&fpcalc_bin, f);
        let mine = items(g);
        let with_fpcalc = musicark_audio::similarity(&mine, &reference, 8);
        let with_source = musicark_audio::similarity(&mine, &items(s), 8);
        assert!(with_fpcalc >= 0.95, "{}: {with_fpcalc:.4}", f.display());
        assert!(with_source >= 0.9, "{}: {with_source:.4}", f.display());
    }
}

#[test]
fn a_file_without_audio_is_reported_and_the_others_still_printed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = crate::support::sample(tmp.path(), 1, 10.0);
    let good = report.audio[0].clone();
    let bad = tmp.path().join("notes.flac");
    std::fs::write(&bad, b"not audio at all").expect("write");
    let out = bin()
        .args(["fingerprint", "--json"])
        .arg(&bad)
        .arg(&good)
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "a file without a fingerprint fails the command"
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(lines[0]["fingerprint"].is_null());
    // ~8 items a second, less the ~2 s the first item needs.
    assert!(items(&lines[1]).len() > 50, "10 s of audio");
}

#[test]
fn ingest_stores_the_fingerprint_of_every_audio_content() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = crate::support::sample(&tmp.path().join("music"), 3, 8.0);
    let archive = tmp.path().join("archive");
    crate::support::init_and_ingest(&archive, &[&tmp.path().join("music")], &[]);
    let home = musicark_store::Home::open(&archive).expect("open");
    let db = home.db().expect("db");
    let (audio, printed): (i64, i64) = db
        .query_row(
            "SELECT count(*), count(f.content_id) FROM contents c \
             LEFT JOIN fingerprints f USING (content_id) WHERE c.verdict = 'audio'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    assert!(audio >= 3);
    assert_eq!(
        printed, audio,
        "every clean audio content has a fingerprint"
    );
    // The stored one is what `musicark fingerprint` prints for the file.
    let file = &report.audio[0];
    let (duration, data, encoding): (f64, Vec<u8>, String) = db
        .query_row(
            "SELECT f.duration, f.data, f.encoding FROM files JOIN fingerprints f USING (content_id) \
             WHERE files.display_path = ?1",
            [file.to_string_lossy().into_owned()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("stored fingerprint");
    // Stored compactly: Chromaprint's compression, under the raw 4 bytes
    // per item (0.69 of it on real music, see the corpus test).
    assert_eq!(encoding, "chromaprint");
    let stored =
        musicark_audio::Fingerprint::from_stored(&encoding, duration, &data).expect("decodes");
    assert!(
        data.len() < stored.fingerprint.len() * 4,
        "{} bytes for {} items",
        data.len(),
        stored.fingerprint.len()
    );
    let printed = ours(std::slice::from_ref(file));
    assert_eq!(stored.fingerprint, items(&printed[0]));
    assert!((stored.duration - 8.0).abs() < 0.05, "{}", stored.duration);
}

/// The compact form in pack manifests is Chromaprint's own: fpcalc's raw
/// fingerprint compressed by us equals what fpcalc prints without `-raw`.
#[test]
fn compressed_fingerprints_are_chromaprints_encoding() {
    let Some(corpus) = corpus() else { return };
    let Some(fpcalc_bin) = peer("fpcalc") else {
        return;
    };
    let files = files_with(&corpus, &["ogg", "mp3"]);
    let (mut raw_bytes, mut packed_bytes) = (0usize, 0usize);
    for f in files.iter().take(8) {
        let (duration, raw) = fpcalc(&fpcalc_bin, f);
        let out = Command::new(&fpcalc_bin)
            .args(["-length", "0", "-json"])
            .arg(f)
            .output()
            .expect("fpcalc");
        let v: Value = serde_json::from_slice(&out.stdout).expect("fpcalc JSON");
        let theirs = v["fingerprint"].as_str().expect("compressed fingerprint");
        let ours = musicark_audio::Fingerprint {
            duration,
            fingerprint: raw,
        }
        .to_compressed_base64();
        assert_eq!(ours, theirs, "{}", f.display());
        let items: Vec<u32> = fpcalc(&fpcalc_bin, f).1;
        raw_bytes += items.len() * 4;
        packed_bytes += musicark_audio::fingerprint::compress(&items).len();
    }
    // What the archive stores per fingerprint, against the raw items.
    let ratio = packed_bytes as f64 / raw_bytes as f64;
    eprintln!("compressed fingerprints: {ratio:.3} of raw on real music");
    assert!(ratio < 0.8, "{ratio:.3}");
}
