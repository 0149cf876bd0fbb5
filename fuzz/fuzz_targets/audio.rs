//! Fuzz the audio analysis (probe, full decode, the container structure
//! walkers for Ogg, MPEG, FLAC and WAV, tags) on arbitrary bytes: never
//! panic past the decoder guard, never allocate without bound (libFuzzer's
//! -rss_limit_mb), and every verdict carries its reason.
#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use musicark_audio::{AnalyzeOptions, Verdict, analyze_file_with};

/// One scratch file per fuzzing process; the first byte picks the name
/// (the extension steers the probe like a real file's would).
fn scratch(ext: &str) -> std::path::PathBuf {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("musicark-fuzz-audio-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    });
    dir.join(format!("input.{ext}"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let ext = ["wav", "flac", "ogg", "opus", "mp3", "m4a", "aiff", "bin"][pick as usize % 8];
    let path = scratch(ext);
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(bytes).expect("write");
    drop(f);
    // Decoding, the structure walk and tags: what parses the bytes. The
    // fingerprint and spectrum only see decoded samples (and cost most of
    // the time), so they are left to the tests.
    let options = AnalyzeOptions {
        fingerprint: false,
        spectrum: false,
        ..AnalyzeOptions::default()
    };
    let a = analyze_file_with(&path, options);
    match &a.verdict {
        Verdict::Damaged(d) => assert!(!d.message.is_empty()),
        Verdict::Unsupported { reason } | Verdict::NotAudio { reason } => {
            assert!(!reason.is_empty())
        }
        Verdict::Audio => {
            let t = a.tech.as_ref().expect("audio has technical facts");
            assert!(t.duration_seconds.is_finite());
        }
    }
});
