//! Audio analysis for musicark: probe a file, decode every sample of it, check
//! the container's own structure, and read its tags.
//!
//! The one entry point is [`analyze_file`]. It never panics on hostile input
//! (decoder panics are caught and reported as damage), allocates within
//! bounds set by the decoders and by lofty's allocation limit, and never
//! touches the archive's database: it returns plain data ([`Analysis`]) that
//! the ingest pipeline records.
//!
//! A file is only called good audio ([`Verdict::Audio`]) when every packet
//! decoded without error, the decoded length matches what the container
//! declares, and the container's structure (Ogg pages and CRCs, MP3 frame
//! chain, FLAC MD5) holds to the last byte.

mod decode;
pub mod fingerprint;
mod integrity;
mod opus;
pub mod resample;
mod sniff;
pub mod spectrum;
mod tags;
pub mod transcode;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use fingerprint::{Fingerprint, similarity};
pub use sniff::{Container, is_audio_extension};
pub use spectrum::{Bandwidth, SpectrumCheck};
pub use tags::Tags;

/// Bumped whenever the analysis of the same bytes could give a different
/// answer; stored with each record so that older analyses can be redone.
/// (2: Chromaprint fingerprints; 3: the spectrum check.)
pub const ANALYZER_VERSION: u32 = 3;

/// Everything musicark learns about one file's bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub verdict: Verdict,
    /// Technical parameters of the audio stream, as far as decoding got.
    pub tech: Option<TechInfo>,
    pub tags: Option<Tags>,
    /// Problems that do not make the audio damaged (unreadable tags, say).
    pub warnings: Vec<String>,
    /// The Chromaprint fingerprint of what decoded (when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// What the spectrum says (a lossy encoder's cut?), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectrum: Option<SpectrumCheck>,
}

/// Where decoded audio goes besides validation: each consumer gets the mono
/// mix, computed once per packet.
/// A consumer of the decoded audio itself: rate, channels, interleaved
/// samples in [-1, 1].
pub type PcmSink<'a> = &'a mut dyn FnMut(u32, usize, &[f32]);

pub(crate) struct Sinks<'a> {
    fingerprint: Option<fingerprint::FingerprintSink>,
    spectrum: Option<spectrum::SpectrumSink>,
    pcm: Option<PcmSink<'a>>,
    mono: Vec<f32>,
}

impl<'a> Sinks<'a> {
    fn new(options: AnalyzeOptions, pcm: Option<PcmSink<'a>>) -> Sinks<'a> {
        Sinks {
            fingerprint: options.fingerprint.then(fingerprint::FingerprintSink::new),
            spectrum: options.spectrum.then(spectrum::SpectrumSink::new),
            pcm,
            mono: Vec::new(),
        }
    }

    /// Whether anyone needs the mono mix.
    pub(crate) fn wanted(&self) -> bool {
        self.fingerprint.is_some() || self.spectrum.is_some()
    }

    /// Whether anyone needs the interleaved audio itself.
    pub(crate) fn wants_pcm(&self) -> bool {
        self.pcm.is_some()
    }

    /// A zeroed buffer of `frames` samples for the caller's mono mix.
    pub(crate) fn mono_buffer(&mut self, frames: usize) -> &mut [f32] {
        self.mono.clear();
        self.mono.resize(frames, 0.0);
        &mut self.mono
    }

    /// Hand the mix written into [`Self::mono_buffer`] to every consumer.
    pub(crate) fn push_mono_buffer(&mut self, rate: u32) {
        if let Some(f) = self.fingerprint.as_mut() {
            f.push_mono(rate, &self.mono);
        }
        if let Some(s) = self.spectrum.as_mut() {
            s.push_mono(rate, &self.mono);
        }
    }

    /// Interleaved float samples (the Opus decoder's output, or any
    /// decoder's when the audio itself is wanted).
    pub(crate) fn push_interleaved_f32(&mut self, rate: u32, channels: usize, interleaved: &[f32]) {
        let channels = channels.max(1);
        if let Some(pcm) = self.pcm.as_mut() {
            pcm(rate, channels, interleaved);
        }
        if !self.wanted() {
            return;
        }
        let scale = 1.0 / channels as f32;
        let mono = self.mono_buffer(interleaved.len() / channels);
        for (m, frame) in mono.iter_mut().zip(interleaved.chunks_exact(channels)) {
            *m = frame.iter().sum::<f32>() * scale;
        }
        self.push_mono_buffer(rate);
    }

    fn finish(self, analysis: &mut Analysis) {
        analysis.fingerprint = self
            .fingerprint
            .and_then(fingerprint::FingerprintSink::finish);
        analysis.spectrum = self.spectrum.and_then(spectrum::SpectrumSink::finish);
    }
}

/// What [`analyze_file_with`] computes beyond the verdict, tags and
/// technical parameters.
#[derive(Debug, Clone, Copy)]
pub struct AnalyzeOptions {
    /// Fingerprint the decoded audio (Chromaprint, as `fpcalc`): about a
    /// third more work than decoding alone.
    pub fingerprint: bool,
    /// Walk the container's structure to the last byte (Ogg pages and
    /// CRCs, the MPEG frame chain); off, only what decoding finds counts.
    pub structure: bool,
    /// Read the tags.
    pub tags: bool,
    /// Look for a lossy encoder's cut in the spectrum (transcode detection).
    pub spectrum: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            fingerprint: true,
            structure: true,
            tags: true,
            spectrum: true,
        }
    }
}

impl AnalyzeOptions {
    /// Decode and fingerprint only (what `fpcalc` does).
    pub fn fingerprint_only() -> AnalyzeOptions {
        AnalyzeOptions {
            fingerprint: true,
            structure: false,
            tags: false,
            spectrum: false,
        }
    }
}

/// What the bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Audio that decoded completely and cleanly.
    Audio,
    /// Audio (or something claiming to be audio) that did not decode cleanly.
    Damaged(Damage),
    /// A recognised audio container or codec that musicark cannot decode yet.
    Unsupported { reason: String },
    /// Not audio at all (a text file, an image…): skipped, not an error.
    NotAudio { reason: String },
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Audio => "audio",
            Verdict::Damaged(_) => "damaged",
            Verdict::Unsupported { .. } => "unsupported",
            Verdict::NotAudio { .. } => "not_audio",
        }
    }

    /// The human reason, for anything but clean audio.
    pub fn reason(&self) -> Option<String> {
        match self {
            Verdict::Audio => None,
            Verdict::Damaged(d) => Some(d.to_string()),
            Verdict::Unsupported { reason } | Verdict::NotAudio { reason } => Some(reason.clone()),
        }
    }
}

/// Why a file is damaged, and where the first problem is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Damage {
    pub kind: DamageKind,
    /// The first problem found, in words.
    pub message: String,
    /// Where in the audio the first problem is, in seconds from the start.
    pub position_seconds: Option<f64>,
    /// Number of packets that failed to decode.
    pub decode_errors: u64,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)?;
        if let Some(p) = self.position_seconds {
            write!(f, " (at {p:.3} s)")?;
        }
        if self.decode_errors > 1 {
            write!(f, "; {} bad packets in all", self.decode_errors)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// Zero bytes.
    Empty,
    /// An audio file name, but no audio stream could be recognised.
    Unrecognized,
    /// The stream stops before its declared end, or its last unit is cut.
    Truncated,
    /// One or more packets failed to decode.
    DecodeError,
    /// The container's structure is broken (bad page CRC, lost sync…).
    Corrupt,
    /// The decoded audio does not match the checksum the file carries.
    ChecksumMismatch,
    /// A container without any audio track.
    NoAudioTrack,
    /// The decoder panicked: a decoder bug met a file it could not handle.
    DecoderPanic,
    /// The file could not be read to the end.
    Io,
    /// The header states a sample rate, channel count or frame size no
    /// real audio uses (see [`limits`]): refused before anything sized by
    /// it is allocated.
    OutOfRange,
}

/// What real audio uses; a header outside these bounds is refused as
/// damaged before any buffer or filter sized by it is made, so a crafted
/// header cannot make analysis allocate without bound.
pub mod limits {
    /// The lowest sample rate accepted (telephone speech is 8 kHz).
    pub const MIN_SAMPLE_RATE: u32 = 1_000;
    /// The highest (DXD and 8× rates top out at 705.6/768 kHz).
    pub const MAX_SAMPLE_RATE: u32 = 768_000;
    /// Channels (Symphonia's channel mask has 26 positions; Opus and
    /// Vorbis allow 255 but no real file uses more than a few dozen).
    pub const MAX_CHANNELS: u32 = 64;
    /// Frames in one packet (FLAC's largest block is 65 535; WAV packets
    /// are cut by the demuxer).
    pub const MAX_FRAMES_PER_PACKET: u64 = 1 << 20;

    /// Why a stream's parameters are refused, or `None` when they are
    /// plausible. Unknown values (0) are left to the decoder.
    pub fn refuse(rate: u32, channels: u32, frames_per_packet: u64) -> Option<String> {
        if rate != 0 && !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
            return Some(format!(
                "the header states a sample rate of {rate} Hz, outside what audio uses ({MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz)"
            ));
        }
        if channels > MAX_CHANNELS {
            return Some(format!(
                "the header states {channels} channels, more than audio uses (at most {MAX_CHANNELS})"
            ));
        }
        if frames_per_packet > MAX_FRAMES_PER_PACKET {
            return Some(format!(
                "the header states {frames_per_packet} frames per packet, more than audio uses (at most {MAX_FRAMES_PER_PACKET})"
            ));
        }
        None
    }
}

thread_local! {
    /// Set while this thread runs a decoder under `catch_unwind`: a panic
    /// there is caught and recorded as damage, so a panic hook should not
    /// print it (see [`in_guarded_decode`]).
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread is inside a decoder whose panics
/// [`analyze_file`] catches and records: a binary's panic hook stays
/// quiet then (the damage report says what happened).
pub fn in_guarded_decode() -> bool {
    GUARDED.with(std::cell::Cell::get)
}

impl DamageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DamageKind::Empty => "empty",
            DamageKind::Unrecognized => "unrecognized",
            DamageKind::Truncated => "truncated",
            DamageKind::DecodeError => "decode error",
            DamageKind::Corrupt => "corrupt",
            DamageKind::ChecksumMismatch => "checksum mismatch",
            DamageKind::NoAudioTrack => "no audio track",
            DamageKind::DecoderPanic => "decoder panic",
            DamageKind::Io => "read error",
            DamageKind::OutOfRange => "implausible header",
        }
    }
}

/// Technical parameters of the decoded stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TechInfo {
    pub container: String,
    pub codec: String,
    pub lossless: bool,
    /// The stream's sample rate (for Opus, the input rate in its header;
    /// decoding always runs at 48 kHz).
    pub sample_rate: u32,
    /// The rate `frames` is counted at.
    pub decode_rate: u32,
    pub bits_per_sample: Option<u32>,
    pub channels: u32,
    /// Decoded sample frames (per channel), after encoder delay and padding
    /// are trimmed.
    pub frames: u64,
    pub duration_seconds: f64,
    /// Average bitrate of the coded audio packets, in bits per second.
    pub bitrate: Option<u64>,
}

/// Analyse one file: probe, decode fully, check structure, read tags.
///
/// Never fails: every problem, including an unreadable file, becomes part of
/// the returned [`Analysis`].
pub fn analyze_file(path: &Path) -> Analysis {
    analyze_file_with(path, AnalyzeOptions::default())
}

/// [`analyze_file`], choosing what is computed.
pub fn analyze_file_with(path: &Path, options: AnalyzeOptions) -> Analysis {
    analyze_file_into(path, options, None)
}

/// [`analyze_file_with`], also handing the decoded audio to `pcm` as it is
/// decoded (after encoder delay and padding are trimmed).
pub fn analyze_file_into(
    path: &Path,
    options: AnalyzeOptions,
    pcm: Option<PcmSink<'_>>,
) -> Analysis {
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => return io_failure(format!("cannot read file metadata: {e}")),
    };
    let audio_ext = is_audio_extension(path);
    if size == 0 {
        let verdict = if audio_ext {
            Verdict::Damaged(Damage {
                kind: DamageKind::Empty,
                message: "file is empty (0 bytes)".into(),
                position_seconds: None,
                decode_errors: 0,
            })
        } else {
            Verdict::NotAudio {
                reason: "empty file".into(),
            }
        };
        return Analysis {
            verdict,
            tech: None,
            tags: None,
            warnings: vec![],
            fingerprint: None,
            spectrum: None,
        };
    }
    let head = match sniff::read_head(path) {
        Ok(h) => h,
        Err(e) => return io_failure(format!("cannot read file: {e}")),
    };
    let container = Container::sniff(&head);

    // Decoders are third-party code fed with untrusted bytes: a panic in one
    // must become a damage record, not the end of the batch.
    GUARDED.with(|g| g.set(true));
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_any(path, container, audio_ext, size, options, pcm)
    }));
    GUARDED.with(|g| g.set(false));
    let mut analysis = match decoded {
        Ok(a) => a,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Analysis {
                verdict: Verdict::Damaged(Damage {
                    kind: DamageKind::DecoderPanic,
                    message: format!("the decoder failed on this file: {msg}"),
                    position_seconds: None,
                    decode_errors: 1,
                }),
                tech: None,
                tags: None,
                warnings: vec![],
                fingerprint: None,
                spectrum: None,
            }
        }
    };

    if options.tags && matches!(analysis.verdict, Verdict::Audio | Verdict::Damaged(_)) {
        match tags::read_tags(path) {
            Ok(t) => analysis.tags = t,
            Err(e) => analysis.warnings.push(format!("tags unreadable: {e}")),
        }
    }
    analysis
}

fn decode_any(
    path: &Path,
    container: Container,
    audio_ext: bool,
    size: u64,
    options: AnalyzeOptions,
    pcm: Option<PcmSink<'_>>,
) -> Analysis {
    if let Some(reason) = container.unsupported_reason() {
        return Analysis {
            verdict: Verdict::Unsupported { reason },
            tech: None,
            tags: None,
            warnings: vec![],
            fingerprint: None,
            spectrum: None,
        };
    }
    let mut sinks = Sinks::new(options, pcm);
    let mut analysis = if container == Container::OggOpus {
        opus::decode_opus(path, &mut sinks)
    } else {
        decode::decode_symphonia(path, container, audio_ext, &mut sinks)
    };
    sinks.finish(&mut analysis);
    // Structural checks complement decoding: a demuxer treats a cut-off last
    // packet as a normal end of stream, the container's framing does not.
    // When decoding already failed, the structural finding (a cut page, a
    // bad CRC) is the more precise reason; the decoder's position stays.
    let decoder_damage = match &analysis.verdict {
        Verdict::Audio => None,
        Verdict::Damaged(d) if matches!(d.kind, DamageKind::Corrupt | DamageKind::DecodeError) => {
            Some(d.clone())
        }
        _ => return analysis,
    };
    if !options.structure {
        return analysis;
    }
    if let Some(mut damage) = integrity::check(path, container, size) {
        let end = analysis.tech.as_ref().map(|t| t.duration_seconds);
        damage.position_seconds = decoder_damage
            .as_ref()
            .and_then(|d| d.position_seconds)
            .or(damage.position_seconds)
            .or(end);
        damage.decode_errors = decoder_damage.map(|d| d.decode_errors).unwrap_or(0);
        analysis.verdict = Verdict::Damaged(damage);
    }
    analysis
}

impl Analysis {
    /// An analysis that found only damage (nothing decoded).
    pub(crate) fn damaged(
        kind: DamageKind,
        message: String,
        position_seconds: Option<f64>,
    ) -> Analysis {
        Analysis {
            verdict: Verdict::Damaged(Damage {
                kind,
                message,
                position_seconds,
                decode_errors: 0,
            }),
            tech: None,
            tags: None,
            warnings: vec![],
            fingerprint: None,
            spectrum: None,
        }
    }
}

fn io_failure(message: String) -> Analysis {
    Analysis::damaged(DamageKind::Io, message, None)
}
