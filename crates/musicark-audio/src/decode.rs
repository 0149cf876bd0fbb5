//! Full decode of everything symphonia reads: MP3, FLAC, Vorbis, WAV/AIFF,
//! ALAC, AAC/M4A, Matroska/WebM audio, CAF.

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use symphonia::core::audio::{AudioBuffer, AudioBufferRef, SampleBuffer, Signal};
use symphonia::core::conv::IntoSample;
use symphonia::core::sample::Sample;

use crate::{Analysis, Container, Damage, DamageKind, Sinks, TechInfo, Verdict};

/// After this many demuxer errors in a row the stream is given up on: a
/// demuxer that cannot resynchronise must not spin forever.
const MAX_CONSECUTIVE_DEMUX_ERRORS: u32 = 64;

pub(crate) fn decode_symphonia(
    path: &Path,
    container: Container,
    audio_ext: bool,
    sinks: &mut Sinks<'_>,
) -> Analysis {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return damaged_only(DamageKind::Io, format!("cannot open: {e}")),
    };
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format_opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = match symphonia::default::get_probe().format(
        &hint,
        mss,
        &format_opts,
        &MetadataOptions::default(),
    ) {
        Ok(p) => p,
        Err(e) => {
            let what = describe(&e);
            return if audio_ext || container != Container::Unknown {
                damaged_only(
                    DamageKind::Unrecognized,
                    format!(
                        "no readable audio stream ({} container): {what}",
                        container.name()
                    ),
                )
            } else {
                Analysis {
                    verdict: Verdict::NotAudio {
                        reason: format!("not audio: {what}"),
                    },
                    tech: None,
                    tags: None,
                    warnings: vec![],
                    fingerprint: None,
                    spectrum: None,
                }
            };
        }
    };
    let mut format = probed.format;
    let Some(track) = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
    else {
        return damaged_only(
            DamageKind::NoAudioTrack,
            "the container holds no audio track".into(),
        );
    };
    let track_id = track.id;
    let params = track.codec_params.clone();
    let codecs = symphonia::default::get_codecs();
    let codec_name = codecs
        .get_codec(params.codec)
        .map(|d| d.short_name.to_string())
        .unwrap_or_else(|| format!("{}", params.codec));
    if let Some(reason) = crate::limits::refuse(
        params.sample_rate.unwrap_or(0),
        params.channels.map_or(0, |c| c.count() as u32),
        params.max_frames_per_packet.unwrap_or(0),
    ) {
        return damaged_only(DamageKind::OutOfRange, reason);
    }
    let mut decoder = match codecs.make(&params, &DecoderOptions { verify: true }) {
        Ok(d) => d,
        Err(SymError::Unsupported(what)) => {
            return Analysis {
                verdict: Verdict::Unsupported {
                    reason: format!("codec {codec_name} is not supported: {what}"),
                },
                tech: None,
                tags: None,
                warnings: vec![],
                fingerprint: None,
                spectrum: None,
            };
        }
        Err(e) => {
            return damaged_only(
                DamageKind::DecodeError,
                format!("cannot start decoder: {}", describe(&e)),
            );
        }
    };

    let lossless = matches!(codec_name.as_str(), "flac" | "alac") || codec_name.starts_with("pcm_");
    let mut sample_rate = params.sample_rate.unwrap_or(0);
    let mut channels = params.channels.map(|c| c.count() as u32).unwrap_or(0);
    let mut frames: u64 = 0;
    let mut packet_bytes: u64 = 0;
    let mut max_packet_frames: u64 = 0;
    let mut first: Option<Damage> = None;
    let mut errors: u64 = 0;
    let mut consecutive_demux_errors = 0;
    let position = |frames: u64, rate: u32| (rate > 0).then(|| frames as f64 / rate as f64);
    let mut interleaved: Option<SampleBuffer<f32>> = None;

    loop {
        let packet = match format.next_packet() {
            Ok(p) => {
                consecutive_demux_errors = 0;
                p
            }
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => {
                // A chained stream (a new logical stream follows). Decoding
                // the first link fully is what matters for validation.
                break;
            }
            Err(e) => {
                errors += 1;
                consecutive_demux_errors += 1;
                first.get_or_insert(Damage {
                    kind: DamageKind::Corrupt,
                    message: format!("demuxer error: {}", describe(&e)),
                    position_seconds: position(frames, sample_rate),
                    decode_errors: 0,
                });
                if consecutive_demux_errors >= MAX_CONSECUTIVE_DEMUX_ERRORS
                    || matches!(e, SymError::IoError(_))
                {
                    break;
                }
                continue;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        packet_bytes += packet.data.len() as u64;
        match decoder.decode(&packet) {
            Ok(buf) => {
                let spec = buf.spec();
                if let Some(reason) =
                    crate::limits::refuse(spec.rate, spec.channels.count() as u32, 0)
                {
                    errors += 1;
                    first.get_or_insert(Damage {
                        kind: DamageKind::OutOfRange,
                        message: reason,
                        position_seconds: position(frames, sample_rate),
                        decode_errors: 0,
                    });
                    break;
                }
                if sample_rate == 0 {
                    sample_rate = spec.rate;
                }
                if channels == 0 {
                    channels = spec.channels.count() as u32;
                }
                let n = buf.frames() as u64;
                max_packet_frames =
                    max_packet_frames.max(n + packet.trim_start as u64 + packet.trim_end as u64);
                frames += n;
                if sinks.wants_pcm() {
                    let spec = *spec;
                    let fits = interleaved
                        .as_ref()
                        .is_some_and(|p| p.capacity() >= buf.capacity() * spec.channels.count());
                    if !fits {
                        interleaved = Some(SampleBuffer::new(buf.capacity() as u64, spec));
                    }
                    if let Some(p) = interleaved.as_mut() {
                        p.copy_interleaved_ref(buf);
                        sinks.push_interleaved_f32(spec.rate, spec.channels.count(), p.samples());
                    }
                } else if sinks.wanted() {
                    let rate = spec.rate;
                    mix_to_mono(&buf, sinks.mono_buffer(n as usize));
                    sinks.push_mono_buffer(rate);
                }
            }
            Err(e @ (SymError::DecodeError(_) | SymError::IoError(_))) => {
                errors += 1;
                first.get_or_insert(Damage {
                    kind: DamageKind::DecodeError,
                    message: describe(&e),
                    position_seconds: position(frames, sample_rate),
                    decode_errors: 0,
                });
            }
            Err(e) => {
                errors += 1;
                first.get_or_insert(Damage {
                    kind: DamageKind::DecodeError,
                    message: format!("decoder stopped: {}", describe(&e)),
                    position_seconds: position(frames, sample_rate),
                    decode_errors: 0,
                });
                break;
            }
        }
    }
    let finalized = decoder.finalize();

    let duration_seconds = if sample_rate > 0 {
        frames as f64 / sample_rate as f64
    } else {
        0.0
    };
    let bitrate = (duration_seconds > 0.0)
        .then(|| (packet_bytes as f64 * 8.0 / duration_seconds).round() as u64);
    let tech = TechInfo {
        container: container_name(container, &codec_name),
        codec: codec_name.clone(),
        lossless,
        sample_rate,
        decode_rate: sample_rate,
        bits_per_sample: params.bits_per_sample,
        channels,
        frames,
        duration_seconds,
        bitrate,
    };

    let mut damage = first.map(|mut d| {
        d.decode_errors = errors;
        d
    });
    if damage.is_none() && frames == 0 {
        damage = Some(Damage {
            kind: DamageKind::Truncated,
            message: "no audio could be decoded".into(),
            position_seconds: Some(0.0),
            decode_errors: 0,
        });
    }
    if damage.is_none()
        && let Some(declared) = params.n_frames
    {
        // Lossy streams may legitimately differ by part of a packet
        // (encoder delay and padding); lossless ones must match exactly.
        let tolerance = if lossless {
            0
        } else {
            max_packet_frames.max(1152)
        };
        if frames + tolerance < declared {
            damage = Some(Damage {
                kind: DamageKind::Truncated,
                message: format!(
                    "stream ends early: decoded {frames} of {declared} declared sample frames"
                ),
                position_seconds: position(frames, sample_rate),
                decode_errors: 0,
            });
        }
    }
    if damage.is_none() && finalized.verify_ok == Some(false) {
        damage = Some(Damage {
            kind: DamageKind::ChecksumMismatch,
            message: "decoded audio does not match the MD5 stored in the stream".into(),
            position_seconds: None,
            decode_errors: 0,
        });
    }
    Analysis {
        verdict: damage.map(Verdict::Damaged).unwrap_or(Verdict::Audio),
        tech: Some(tech),
        tags: None,
        warnings: vec![],
        fingerprint: None,
        spectrum: None,
    }
}

/// Average the channels of `buf` into `mono` (as floats in [-1, 1]).
fn mix_to_mono(buf: &AudioBufferRef<'_>, mono: &mut [f32]) {
    fn mix<S: Sample + IntoSample<f32>>(b: &AudioBuffer<S>, mono: &mut [f32]) {
        let channels = b.spec().channels.count().max(1);
        for c in 0..channels {
            for (m, s) in mono.iter_mut().zip(b.chan(c)) {
                *m += (*s).into_sample();
            }
        }
        if channels > 1 {
            let k = 1.0 / channels as f32;
            mono.iter_mut().for_each(|m| *m *= k);
        }
    }
    match buf {
        AudioBufferRef::U8(b) => mix(b, mono),
        AudioBufferRef::U16(b) => mix(b, mono),
        AudioBufferRef::U24(b) => mix(b, mono),
        AudioBufferRef::U32(b) => mix(b, mono),
        AudioBufferRef::S8(b) => mix(b, mono),
        AudioBufferRef::S16(b) => mix(b, mono),
        AudioBufferRef::S24(b) => mix(b, mono),
        AudioBufferRef::S32(b) => mix(b, mono),
        AudioBufferRef::F32(b) => mix(b, mono),
        AudioBufferRef::F64(b) => mix(b, mono),
    }
}

/// The container's name; for Ogg, which codec it carries is in `codec`.
fn container_name(container: Container, codec: &str) -> String {
    match container {
        Container::Unknown if codec.starts_with("mp") => "mpeg".into(),
        Container::Unknown => "unknown".into(),
        c => c.name().into(),
    }
}

fn describe(e: &SymError) -> String {
    match e {
        SymError::IoError(io) => format!("read error: {io}"),
        SymError::DecodeError(m) => format!("malformed data: {m}"),
        SymError::SeekError(k) => format!("seek error: {k:?}"),
        SymError::Unsupported(m) => format!("unsupported feature: {m}"),
        SymError::LimitError(m) => format!("limit reached: {m}"),
        SymError::ResetRequired => "decoder reset required".into(),
    }
}

fn damaged_only(kind: DamageKind, message: String) -> Analysis {
    Analysis::damaged(kind, message, None)
}
