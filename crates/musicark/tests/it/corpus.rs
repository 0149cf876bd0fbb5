//! End to end on real music: the freely licensed game soundtracks fetched
//! by `../shared/scripts/fetch-music-corpus.sh` (Ogg Vorbis and MP3),
//! compared with ffprobe/ffmpeg, vorbiscomment and ogginfo.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{corpus, file_row, files_with, init_and_ingest, peer};

/// ffmpeg's decoded length in seconds (sample count / rate).
fn ffmpeg_decoded_seconds(ffmpeg: &Path, ffprobe: &Path, f: &Path) -> f64 {
    let rate = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=sample_rate",
            "-of",
            "csv=p=0",
        ])
        .arg(f)
        .output()
        .expect("ffprobe");
    let rate: f64 = String::from_utf8_lossy(&rate.stdout)
        .trim()
        .parse()
        .expect("rate");
    let pcm = Command::new(ffmpeg)
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(f)
        .args(["-f", "s16le", "-ac", "1", "-"])
        .output()
        .expect("ffmpeg");
    (pcm.stdout.len() / 2) as f64 / rate
}

fn ffprobe_seconds(ffprobe: &Path, f: &Path) -> f64 {
    let out = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(f)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("duration")
}

/// Whether ogginfo reports real corruption (not its header-framing nits).
fn ogginfo_says_corrupt(ogginfo: &Path, f: &Path) -> bool {
    let out = Command::new(ogginfo).arg(f).output().expect("ogginfo");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    [
        "corrupt",
        "sequence number gap",
        "hole in data",
        "illegally placed",
        "crc",
    ]
    .iter()
    .any(|s| text.contains(s))
}

fn vorbis_comments(vorbiscomment: &Path, f: &Path) -> Vec<(String, String)> {
    let out = Command::new(vorbiscomment)
        .arg("-l")
        .arg(f)
        .output()
        .expect("vorbiscomment");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_uppercase(), v.to_string()))
        })
        .collect()
}

fn check_tag(tags: &Value, key: &str, value: &str, file: &Path) {
    let has = |field: &str| tags[field].as_str() == Some(value);
    let list_has = |field: &str| {
        tags[field]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(value)))
    };
    let ok = match key {
        "TITLE" => has("title"),
        "ARTIST" => list_has("artists"),
        "ALBUM" => has("album"),
        "ALBUMARTIST" => list_has("album_artists"),
        "DATE" => has("date"),
        "GENRE" => list_has("genres"),
        "COPYRIGHT" => has("copyright"),
        "LICENSE" => has("license"),
        "TRACKNUMBER" => {
            tags["track_number"].as_u64().map(|n| n.to_string())
                == value
                    .split('/')
                    .next()
                    .map(|s| s.trim().trim_start_matches('0').to_string())
        }
        _ => return,
    };
    assert!(
        ok,
        "{}: vorbiscomment says {key}={value}, we recorded {tags}",
        file.display()
    );
}

#[test]
fn real_corpus_durations_tags_and_structure_agree_with_the_reference_tools() {
    let Some(corpus) = corpus() else { return };
    let (Some(ffmpeg), Some(ffprobe), Some(vorbiscomment), Some(ogginfo)) = (
        peer("ffmpeg"),
        peer("ffprobe"),
        peer("vorbiscomment"),
        peer("ogginfo"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("a");
    let summary = init_and_ingest(&archive, &[&corpus], &["--reference"]);
    let files = files_with(&corpus, &["ogg", "mp3"]);
    assert!(files.len() >= 50, "corpus too small: {}", files.len());
    assert_eq!(summary["errors"], 0, "{summary}");

    let mut checked_tags = 0;
    for f in &files {
        let (status, reason, tags, duration, _) =
            file_row(&archive, f).unwrap_or_else(|| panic!("{} not recorded", f.display()));
        let is_ogg = f.extension().is_some_and(|e| e == "ogg");
        if is_ogg {
            let corrupt = ogginfo_says_corrupt(&ogginfo, f);
            assert_eq!(
                status == "damaged",
                corrupt,
                "{}: we say {status} ({reason:?}), ogginfo corrupt={corrupt}",
                f.display()
            );
        } else {
            assert_eq!(status, "ok", "{}: {reason:?}", f.display());
        }
        if status != "ok" {
            continue;
        }
        let ours = duration.expect("duration");
        let theirs = if is_ogg {
            ffprobe_seconds(&ffprobe, f)
        } else {
            ffmpeg_decoded_seconds(&ffmpeg, &ffprobe, f)
        };
        assert!(
            (ours - theirs).abs() <= 0.030,
            "{}: duration {ours} vs {theirs}",
            f.display()
        );
        if is_ogg {
            let tags: Value = serde_json::from_str(&tags.expect("tags")).expect("json");
            for (k, v) in vorbis_comments(&vorbiscomment, f) {
                check_tag(&tags, &k, v.trim(), f);
            }
            checked_tags += 1;
        }
    }
    assert!(
        checked_tags >= 40,
        "only {checked_tags} files had their tags compared"
    );
}

#[test]
fn crafted_damage_on_real_music_is_always_reported() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let coll = tmp.path().join("damaged");
    std::fs::create_dir_all(&coll).expect("mkdir");
    let ogg = files_with(&corpus, &["ogg"])
        .into_iter()
        .find(|f| f.ends_with("wanderer.ogg"))
        .expect("wanderer.ogg");
    let mp3 = files_with(&corpus, &["mp3"])
        .into_iter()
        .next()
        .expect("an mp3");
    let mut cases = Vec::new();
    for (src, ext) in [(&ogg, "ogg"), (&mp3, "mp3")] {
        let bytes = std::fs::read(src).expect("read");
        let mid = bytes.len() / 2;
        let mut write = |name: &str, b: &[u8]| {
            let p = coll.join(format!("{name}.{ext}"));
            std::fs::write(&p, b).expect("write");
            cases.push(p);
        };
        write("truncated", &bytes[..mid]);
        write("truncated-tiny", &bytes[..bytes.len() - 100]);
        let mut z = bytes.clone();
        z[mid..mid + 65536].fill(0);
        write("zero-filled", &z);
        let mut tail = bytes.clone();
        let n = tail.len();
        tail[n - 200_000..].fill(0);
        write("zero-tail", &tail);
        let mut rng = musicark_sample::Rng::new(ext.len() as u64);
        let noise: Vec<u8> = (0..bytes.len().min(300_000))
            .map(|_| rng.next_u64() as u8)
            .collect();
        write("random", &noise);
    }
    // An ID3v2 header that claims 200 MB of tag before the audio.
    let mut hostile = b"ID3\x04\x00\x00".to_vec();
    let size = 200_000_000u32;
    hostile.extend_from_slice(&[
        (size >> 21 & 0x7f) as u8,
        (size >> 14 & 0x7f) as u8,
        (size >> 7 & 0x7f) as u8,
        (size & 0x7f) as u8,
    ]);
    hostile.extend_from_slice(&std::fs::read(&mp3).expect("read"));
    let p = coll.join("hostile-id3.mp3");
    std::fs::write(&p, hostile).expect("write");
    cases.push(p);

    let archive = tmp.path().join("a");
    init_and_ingest(&archive, &[&coll], &[]);
    for case in &cases {
        let (status, reason, ..) = file_row(&archive, case).expect("recorded");
        assert_eq!(status, "damaged", "{}: {reason:?}", case.display());
        assert!(
            reason.is_some_and(|r| !r.is_empty()),
            "{}: no reason",
            case.display()
        );
    }
}
