//! Transcode ("fake lossless") detection, evaluated on a labelled set built
//! here: full-band pieces from the synthesiser (genuine lossless), and the
//! same pieces through lame, oggenc and opusenc at several bitrates, decoded
//! back to FLAC by ffmpeg (transcodes). Precision and recall are printed
//! per encoder setting and must reach 0.95 and 0.9.

use std::path::{Path, PathBuf};
use std::process::Command;

use musicark_audio::{Bandwidth, analyze_file};

use crate::support::{corpus, files_with, peer};

/// 16-bit PCM WAV.
fn write_wav(path: &Path, rate: u32, interleaved_stereo: &[f32]) {
    let data: Vec<u8> = interleaved_stereo
        .iter()
        .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())
        .collect();
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 4).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    std::fs::write(path, out).expect("write wav");
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn to_flac(ffmpeg: &Path, input: &Path, output: &Path) {
    run(Command::new(ffmpeg)
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-c:a", "flac"])
        .arg(output));
}

#[test]
fn transcodes_are_told_from_full_band_audio() {
    let (Some(ffmpeg), Some(lame), Some(oggenc), Some(opusenc)) = (
        peer("ffmpeg"),
        peer("lame"),
        peer("oggenc"),
        peer("opusenc"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // (label, path, is a transcode)
    let mut set: Vec<(String, PathBuf, bool)> = Vec::new();
    let mut sources = Vec::new();
    for (seed, rate) in [
        (1, 44_100),
        (2, 44_100),
        (3, 44_100),
        (4, 44_100),
        (5, 48_000),
        (6, 48_000),
    ] {
        let wav = dir.join(format!("src{seed}.wav"));
        write_wav(&wav, rate, &musicark_sample::render(seed, rate, 20.0));
        let flac = dir.join(format!("genuine{seed}.flac"));
        to_flac(&ffmpeg, &wav, &flac);
        set.push(("genuine".into(), flac, false));
        sources.push(wav);
    }
    let encoders: Vec<(&str, Vec<&str>, &str)> = vec![
        ("lame -b 128", vec!["-b", "128"], "mp3"),
        ("lame -b 192", vec!["-b", "192"], "mp3"),
        ("lame -b 320", vec!["-b", "320"], "mp3"),
        ("lame -V 2", vec!["-V", "2"], "mp3"),
        ("oggenc -q 3", vec!["-q", "3"], "ogg"),
        ("oggenc -q 4", vec!["-q", "4"], "ogg"),
        // libvorbis applies no low-pass from -q 5 up: no cut to find.
        ("oggenc -q 6 (no low-pass)", vec!["-q", "6"], "ogg"),
        ("opusenc 64", vec!["--bitrate", "64"], "opus"),
        ("opusenc 128", vec!["--bitrate", "128"], "opus"),
    ];
    for (i, src) in sources.iter().enumerate() {
        for (label, args, ext) in &encoders {
            let lossy = dir.join(format!("{i}-{}.{ext}", label.replace(' ', "_")));
            match *ext {
                "mp3" => run(Command::new(&lame)
                    .args(["--quiet"])
                    .args(args)
                    .arg(src)
                    .arg(&lossy)),
                "ogg" => run(Command::new(&oggenc)
                    .args(["--quiet"])
                    .args(args)
                    .arg(src)
                    .arg("-o")
                    .arg(&lossy)),
                _ => run(Command::new(&opusenc)
                    .args(["--quiet"])
                    .args(args)
                    .arg(src)
                    .arg(&lossy)),
            }
            let flac = dir.join(format!("{i}-{}.flac", label.replace(' ', "_")));
            to_flac(&ffmpeg, &lossy, &flac);
            set.push((label.to_string(), flac, true));
        }
    }
    // Settings whose encoder cuts nothing are reported, not counted: a
    // spectral cut detector cannot see them by construction.
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    let (mut uncut, mut uncut_found) = (0, 0);
    let mut per_label: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
    for (label, path, transcode) in &set {
        let a = analyze_file(path);
        let s = a.spectrum.expect("a spectrum check");
        let said = s.verdict == Bandwidth::Transcode;
        eprintln!(
            "{label:12} {:?} cutoff {:?} drop {:?} stable {:?} confidence {:.2}",
            s.verdict,
            s.cutoff_hz.map(|c| c.round()),
            s.drop_db.map(|d| d.round()),
            s.stable_share,
            s.confidence
        );
        let e = per_label.entry(label.clone()).or_default();
        e.1 += 1;
        if said == *transcode {
            e.0 += 1;
        }
        if label.contains("no low-pass") {
            uncut += 1;
            uncut_found += usize::from(said);
            continue;
        }
        match (said, transcode) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            _ => {}
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    for (label, (right, n)) in &per_label {
        eprintln!("{label:12} {right}/{n} right");
    }
    eprintln!(
        "transcode detection: precision {precision:.3}, recall {recall:.3} ({tp} TP, {fp} FP, {fn_} FN); \
         encodes without a low-pass: {uncut_found} of {uncut} found"
    );
    assert!(precision >= 0.95, "precision {precision:.3}");
    assert!(recall >= 0.9, "recall {recall:.3}");
}

/// Real music that went through Vorbis: the detector looks at decoded
/// audio, so the Ogg file and the FLAC decoded from it get the same answer
/// (what that answer is depends on the corpus's unknown encoder settings:
/// printed, and in BENCHMARKS.md).
#[test]
fn the_verdict_is_the_same_for_a_lossy_file_and_its_lossless_decode() {
    let Some(corpus) = corpus() else { return };
    let Some(ffmpeg) = peer("ffmpeg") else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut found = 0;
    let files: Vec<PathBuf> = files_with(&corpus, &["ogg"]).into_iter().take(6).collect();
    for (i, f) in files.iter().enumerate() {
        let flac = tmp.path().join(format!("{i}.flac"));
        to_flac(&ffmpeg, f, &flac);
        let lossy = analyze_file(f).spectrum.expect("spectrum");
        let lossless = analyze_file(&flac).spectrum.expect("spectrum");
        assert_eq!(lossy.verdict, lossless.verdict, "{}", f.display());
        if let (Some(a), Some(b)) = (lossy.cutoff_hz, lossless.cutoff_hz) {
            assert!((a - b).abs() < 200.0, "{}: {a} vs {b}", f.display());
        }
        found += usize::from(lossless.verdict == Bandwidth::Transcode);
        eprintln!(
            "{}: {:?} at {:?} Hz",
            f.display(),
            lossless.verdict,
            lossless.cutoff_hz.map(|c| c.round())
        );
    }
    eprintln!(
        "{found} of {} decoded Vorbis files called transcodes",
        files.len()
    );
}

#[test]
fn ingest_records_the_verdict_and_the_report_lists_fake_lossless_files() {
    let (Some(ffmpeg), Some(lame)) = (peer("ffmpeg"), peer("lame")) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let music = tmp.path().join("music");
    std::fs::create_dir_all(&music).expect("mkdir");
    let wav = tmp.path().join("src.wav");
    write_wav(&wav, 44_100, &musicark_sample::render(11, 44_100, 15.0));
    to_flac(&ffmpeg, &wav, &music.join("genuine.flac"));
    let mp3 = tmp.path().join("x.mp3");
    run(Command::new(&lame)
        .args(["--quiet", "-b", "128"])
        .arg(&wav)
        .arg(&mp3));
    to_flac(&ffmpeg, &mp3, &music.join("fake.flac"));
    let archive = tmp.path().join("archive");
    crate::support::init_and_ingest(&archive, &[&music], &[]);
    let report = crate::support::json(&archive, &["report", "transcodes"]);
    let entries = report.as_array().expect("a list");
    assert_eq!(entries.len(), 1, "{report}");
    assert!(
        entries[0]["path"]
            .as_str()
            .expect("path")
            .ends_with("fake.flac")
    );
    let cutoff = entries[0]["cutoff_hz"].as_f64().expect("cutoff");
    assert!((15_500.0..18_000.0).contains(&cutoff), "{cutoff}");
    assert!(entries[0]["confidence"].as_f64().expect("confidence") > 0.5);
}
