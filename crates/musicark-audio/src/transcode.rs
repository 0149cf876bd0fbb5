//! The archive's re-encode: decode anything musicark reads, resample to
//! 48 kHz, encode Opus (opus-pure, a pure-Rust port of libopus), mux into
//! Ogg with a correct `OpusHead` (pre-skip from the encoder's real delay),
//! `OpusTags` (the source's tags and cover art, plus the caller's archive
//! identifiers), granule positions and an end-trim so the copy decodes to
//! exactly the source's length. Streaming: memory does not grow with the
//! file. Written to a temporary file beside the output, synced, renamed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use opus_pure::{Application, MAX_PACKET_BYTES, OggOpusWriter, OpusEncoder, OpusHead, OpusTags};
use serde::Serialize;

use crate::resample::Resampler;
use crate::{AnalyzeOptions, Verdict};

/// Opus runs at 48 kHz here.
const RATE: u32 = 48_000;
/// 20 ms frames.
const FRAME: usize = 960;

#[derive(Debug, Clone)]
pub struct TranscodeOptions {
    /// Target bitrate, bits per second (all channels).
    pub bitrate: u32,
    /// Extra `NAME=value` comments (archive identifiers: ISRC, MBID, the
    /// source's content hash…).
    pub extra_tags: Vec<(String, String)>,
}

impl Default for TranscodeOptions {
    fn default() -> Self {
        TranscodeOptions {
            bitrate: 96_000,
            extra_tags: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TranscodeReport {
    pub input: String,
    pub output: String,
    pub bitrate: u32,
    pub channels: u32,
    pub source_rate: u32,
    /// Seconds of audio written.
    pub duration: f64,
    pub bytes: u64,
    /// Problems the source's decode ran into (the copy holds what decoded).
    pub source_damage: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("{}: {message}", path.display())]
    Source { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Opus encoder: {0}")]
    Opus(#[from] opus_pure::Error),
}

/// The encoder side, started when the first decoded audio arrives (its
/// rate and channel count are known then).
struct Encoder {
    channels: usize,
    source_rate: u32,
    resamplers: Vec<Resampler>,
    encoder: OpusEncoder,
    writer: OggOpusWriter<BufWriter<File>>,
    pre_skip: u64,
    /// Planar 48 kHz audio not yet encoded.
    planes: Vec<Vec<f32>>,
    scratch: Vec<f32>,
    block: Vec<f32>,
    packet: Vec<u8>,
    /// Source sample frames taken.
    frames_in: u64,
}

impl Encoder {
    fn start(
        tmp: &Path,
        rate: u32,
        channels: usize,
        options: &TranscodeOptions,
        tags: OpusTags,
    ) -> Result<Encoder, TranscodeError> {
        let mut encoder = OpusEncoder::new(RATE as i32, channels, Application::Audio)?;
        encoder.bitrate_bps = options.bitrate as i32;
        let head = OpusHead::for_encoder(&encoder, rate);
        let pre_skip = u64::from(head.pre_skip);
        let file = File::create(tmp).map_err(|e| TranscodeError::Io {
            path: tmp.to_path_buf(),
            source: e,
        })?;
        let writer = OggOpusWriter::with_tags(BufWriter::new(file), head, tags)?;
        Ok(Encoder {
            channels,
            source_rate: rate,
            resamplers: (0..channels)
                .map(|_| Resampler::with_phases(rate, RATE, 32, 0.97, 4096))
                .collect(),
            encoder,
            writer,
            pre_skip,
            planes: vec![Vec::new(); channels],
            scratch: Vec::new(),
            block: vec![0.0; FRAME * channels],
            packet: vec![0u8; MAX_PACKET_BYTES],
            frames_in: 0,
        })
    }

    fn push(&mut self, interleaved: &[f32]) -> Result<(), TranscodeError> {
        self.frames_in += (interleaved.len() / self.channels) as u64;
        for c in 0..self.channels {
            self.scratch.clear();
            self.scratch
                .extend(interleaved.iter().skip(c).step_by(self.channels).copied());
            if self.source_rate == RATE {
                self.planes[c].extend_from_slice(&self.scratch);
            } else {
                self.resamplers[c].process(&self.scratch, &mut self.planes[c]);
            }
        }
        self.encode_ready(false)
    }

    /// Encode every whole frame buffered (at the end, pad the last).
    fn encode_ready(&mut self, end: bool) -> Result<(), TranscodeError> {
        let ready = self.planes.iter().map(Vec::len).min().unwrap_or(0);
        let frames = if end {
            ready.div_ceil(FRAME)
        } else {
            ready / FRAME
        };
        for f in 0..frames {
            let start = f * FRAME;
            for i in 0..FRAME {
                for c in 0..self.channels {
                    self.block[i * self.channels + c] =
                        self.planes[c].get(start + i).copied().unwrap_or(0.0);
                }
            }
            let n = self.encoder.encode(&self.block, FRAME, &mut self.packet)?;
            if end && f + 1 == frames {
                // The final granule says where the audio stops (RFC 7845
                // §4.4): pre-skip plus the source's length at 48 kHz.
                let total = self.frames_in * u64::from(RATE) / u64::from(self.source_rate);
                let final_granule = self.pre_skip + total;
                let duration = final_granule.saturating_sub(self.writer.granule().max(0) as u64);
                self.writer.write_packet_with_duration(
                    &self.packet[..n],
                    duration.min(FRAME as u64) as u32,
                )?;
            } else {
                self.writer.write_packet(&self.packet[..n])?;
            }
        }
        let used = (frames * FRAME).min(ready);
        for p in &mut self.planes {
            p.drain(..used.min(p.len()));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(File, u64, f64), TranscodeError> {
        // The resamplers' look-ahead, then the encoder's delay as silence,
        // so the last real samples leave the encoder.
        if self.source_rate != RATE {
            for (c, r) in self.resamplers.iter_mut().enumerate() {
                r.finish(&mut self.planes[c]);
            }
        }
        // What is left to feed: the rest of the audio, then pre-skip worth
        // of silence (the resamplers' own padding past the end is cut).
        let total = self.frames_in * u64::from(RATE) / u64::from(self.source_rate);
        let written = self.writer.granule().max(0) as u64;
        let want = (self.pre_skip + total).saturating_sub(written) as usize;
        for p in &mut self.planes {
            p.resize(want, 0.0);
        }
        self.encode_ready(true)?;
        let duration = total as f64 / f64::from(RATE);
        let sink = self.writer.finish()?;
        let file = sink.into_inner().map_err(|e| TranscodeError::Io {
            path: PathBuf::from("(output)"),
            source: e.into_error(),
        })?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok((file, bytes, duration))
    }
}

fn tags_for(input: &Path, options: &TranscodeOptions) -> OpusTags {
    let mut tags = OpusTags::new();
    let mut push = |k: &str, v: &str| {
        if !v.is_empty() {
            let _ = tags.push(k, v);
        }
    };
    if let Ok(Some(t)) = crate::tags::read_tags(input) {
        if let Some(v) = &t.title {
            push("TITLE", v);
        }
        for a in &t.artists {
            push("ARTIST", a);
        }
        if let Some(v) = &t.album {
            push("ALBUM", v);
        }
        for a in &t.album_artists {
            push("ALBUMARTIST", a);
        }
        if let Some(n) = t.track_number {
            push("TRACKNUMBER", &n.to_string());
        }
        if let Some(n) = t.track_total {
            push("TRACKTOTAL", &n.to_string());
        }
        if let Some(n) = t.disc_number {
            push("DISCNUMBER", &n.to_string());
        }
        if let Some(v) = &t.date {
            push("DATE", v);
        }
        for v in &t.isrcs {
            push("ISRC", v);
        }
        if let Some(v) = &t.musicbrainz_recording_id {
            push("MUSICBRAINZ_TRACKID", v);
        }
        if let Some(v) = &t.musicbrainz_release_id {
            push("MUSICBRAINZ_ALBUMID", v);
        }
        for v in &t.musicbrainz_artist_ids {
            push("MUSICBRAINZ_ARTISTID", v);
        }
        if let Some(v) = &t.barcode {
            push("BARCODE", v);
        }
        if let Some(v) = &t.label {
            push("LABEL", v);
        }
        for v in &t.genres {
            push("GENRE", v);
        }
        if let Some(v) = &t.copyright {
            push("COPYRIGHT", v);
        }
        if let Some(v) = &t.license {
            push("LICENSE", v);
        }
    }
    for picture in crate::tags::pictures_as_flac_blocks(input) {
        push("METADATA_BLOCK_PICTURE", &picture);
    }
    for (k, v) in &options.extra_tags {
        push(k, v);
    }
    tags
}

/// Re-encode `input` to Ogg Opus at `output`.
pub fn transcode_file(
    input: &Path,
    output: &Path,
    options: &TranscodeOptions,
) -> Result<TranscodeReport, TranscodeError> {
    let tmp = output.with_file_name(format!(
        ".{}.partial",
        output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out.opus".into())
    ));
    let tags = tags_for(input, options);
    let mut encoder: Option<Encoder> = None;
    let mut failure: Option<TranscodeError> = None;
    let mut tags = Some(tags);
    let mut pcm = |rate: u32, channels: usize, interleaved: &[f32]| {
        if failure.is_some() {
            return;
        }
        if encoder.is_none() {
            if channels == 0 || channels > 2 {
                failure = Some(TranscodeError::Source {
                    path: input.to_path_buf(),
                    message: format!(
                        "{channels} channels: only mono and stereo are re-encoded yet"
                    ),
                });
                return;
            }
            match Encoder::start(
                &tmp,
                rate,
                channels,
                options,
                tags.take().unwrap_or_default(),
            ) {
                Ok(e) => encoder = Some(e),
                Err(e) => {
                    failure = Some(e);
                    return;
                }
            }
        }
        if let Some(e) = encoder.as_mut()
            && (e.channels != channels || e.source_rate != rate)
        {
            failure = Some(TranscodeError::Source {
                path: input.to_path_buf(),
                message: "the stream changes its rate or channels midway".into(),
            });
            return;
        }
        if let Some(e) = encoder.as_mut()
            && let Err(err) = e.push(interleaved)
        {
            failure = Some(err);
        }
    };
    let analysis = crate::analyze_file_into(
        input,
        AnalyzeOptions {
            fingerprint: false,
            structure: false,
            tags: false,
            spectrum: false,
        },
        Some(&mut pcm),
    );
    let cleanup = |e: TranscodeError| {
        let _ = std::fs::remove_file(&tmp);
        Err(e)
    };
    if let Some(e) = failure {
        return cleanup(e);
    }
    let source_damage = match &analysis.verdict {
        Verdict::Audio => None,
        Verdict::Damaged(d) => Some(d.to_string()),
        v => {
            return cleanup(TranscodeError::Source {
                path: input.to_path_buf(),
                message: v.reason().unwrap_or_else(|| "not audio".into()),
            });
        }
    };
    let Some(enc) = encoder else {
        return cleanup(TranscodeError::Source {
            path: input.to_path_buf(),
            message: source_damage.unwrap_or_else(|| "no audio decoded".into()),
        });
    };
    let channels = enc.channels as u32;
    let source_rate = enc.source_rate;
    let (mut file, bytes, duration) = match enc.finish() {
        Ok(x) => x,
        Err(e) => return cleanup(e),
    };
    let io = |e: std::io::Error| TranscodeError::Io {
        path: output.to_path_buf(),
        source: e,
    };
    if let Err(e) = file.flush().and_then(|()| file.sync_all()) {
        return cleanup(io(e));
    }
    drop(file);
    std::fs::rename(&tmp, output).map_err(io)?;
    Ok(TranscodeReport {
        input: input.display().to_string(),
        output: output.display().to_string(),
        bitrate: options.bitrate,
        channels,
        source_rate,
        duration,
        bytes,
        source_damage,
    })
}
