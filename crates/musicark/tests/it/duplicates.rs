//! Duplicate groups on an ingested collection: identical bytes, and the same
//! music re-encoded (Opus by musicark, MP3 by lame, a "lossless" FLAC made
//! from that MP3), with the genuine lossless original chosen to keep.

use std::process::Command;

use serde_json::Value;

use crate::support::{bin, init_and_ingest, json, peer, sample};

#[test]
fn re_encodes_group_with_their_source_and_the_genuine_lossless_copy_is_kept() {
    let (Some(ffmpeg), Some(lame)) = (peer("ffmpeg"), peer("lame")) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let music = tmp.path().join("music");
    let report = sample(&music, 3, 12.0);
    let flacs: Vec<_> = report
        .audio
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "flac"))
        .cloned()
        .collect();
    assert!(!flacs.is_empty(), "{:?}", report.audio);
    let original = &flacs[0];
    let copies = music.join("copies");
    std::fs::create_dir_all(&copies).expect("mkdir");
    // musicark's own Opus copy.
    let st = bin()
        .arg("transcode")
        .arg(original)
        .arg(copies.join("copy.opus"))
        .output()
        .expect("transcode");
    assert!(st.status.success());
    // An MP3, and a FLAC made from that MP3 (fake lossless).
    let wav = tmp.path().join("x.wav");
    assert!(
        Command::new(&ffmpeg)
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(original)
            .arg(&wav)
            .status()
            .expect("ffmpeg")
            .success()
    );
    let mp3 = copies.join("copy.mp3");
    assert!(
        Command::new(&lame)
            .args(["--quiet", "-b", "128"])
            .arg(&wav)
            .arg(&mp3)
            .status()
            .expect("lame")
            .success()
    );
    assert!(
        Command::new(&ffmpeg)
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(&mp3)
            .args(["-c:a", "flac"])
            .arg(copies.join("fake.flac"))
            .status()
            .expect("ffmpeg")
            .success()
    );

    let archive = tmp.path().join("archive");
    init_and_ingest(&archive, &[&music], &[]);
    let r: Value = json(&archive, &["report", "duplicates"]);
    let groups = r["groups"].as_array().expect("groups");
    let name = |v: &Value| v["paths"][0].as_str().unwrap_or("").to_string();
    let holds_original = |g: &&Value| {
        g["best"]["paths"].as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p.as_str() == Some(&*original.to_string_lossy()))
        })
    };
    let ours = groups
        .iter()
        .find(holds_original)
        .unwrap_or_else(|| panic!("a group kept around the original: {r:#}"));
    let others: Vec<String> = ours["others"]
        .as_array()
        .expect("others")
        .iter()
        .map(name)
        .collect();
    for want in ["copy.opus", "copy.mp3", "fake.flac"] {
        assert!(
            others.iter().any(|o| o.ends_with(want)),
            "{want} in {others:?}"
        );
    }
    assert_eq!(others.len(), 3, "nothing else joins: {others:?}");
    for o in ours["others"].as_array().expect("others") {
        assert!(o["similarity"].as_f64().expect("similarity") >= 0.85, "{o}");
    }
    // The other pieces of the sample are different music: not in it; the
    // sample's byte-identical copy of the original is kept with it (same
    // content, two paths), so the group holds five files.
    for other_piece in report.audio.iter().filter(|p| *p != original) {
        let n = other_piece
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            !others.iter().any(|o| o.ends_with(&n)),
            "{n} is other music"
        );
    }
    let dup = &report.duplicates[0];
    let best_paths: Vec<&str> = ours["best"]["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        best_paths.contains(&&*dup.to_string_lossy()),
        "{best_paths:?}"
    );
    assert_eq!(ours["files"].as_u64(), Some(5));
    assert_eq!(r["redundant_files"].as_u64(), Some(4), "{r:#}");
}
