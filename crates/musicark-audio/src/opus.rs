//! Ogg Opus decoding (symphonia has no Opus decoder): the pure-Rust
//! `opus-pure` codec with its Ogg demuxer, trimmed by pre-skip and end-trim
//! exactly as RFC 7845 says a player must.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use opus_pure::{MAX_PACKET_SAMPLES, OggOpusReader, Trim};

use crate::{Analysis, Damage, DamageKind, Sinks, TechInfo, Verdict};

/// Opus always decodes at 48 kHz here: every Opus stream's native rate.
const DECODE_RATE: i32 = 48_000;

pub(crate) fn decode_opus(path: &Path, sinks: &mut Sinks<'_>) -> Analysis {
    let fail = Analysis::damaged;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return fail(DamageKind::Io, format!("cannot open: {e}"), None),
    };
    let mut reader = match OggOpusReader::new(BufReader::new(file)) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                DamageKind::Corrupt,
                format!("bad Ogg Opus headers: {e}"),
                Some(0.0),
            );
        }
    };
    let head = reader.head().clone();
    if head.mapping_family != 0 {
        return Analysis {
            verdict: Verdict::Unsupported {
                reason: format!(
                    "multichannel Opus (channel mapping family {}) is not decoded yet",
                    head.mapping_family
                ),
            },
            tech: None,
            tags: None,
            warnings: vec![],
            fingerprint: None,
            spectrum: None,
        };
    }
    let channels = head.channel_count as usize;
    let mut decoder = match head.decoder(DECODE_RATE) {
        Ok(d) => d,
        Err(e) => {
            return fail(
                DamageKind::Corrupt,
                format!("unusable OpusHead: {e}"),
                Some(0.0),
            );
        }
    };
    let mut trim = match Trim::new(&head, DECODE_RATE, channels) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                DamageKind::Corrupt,
                format!("unusable OpusHead: {e}"),
                Some(0.0),
            );
        }
    };
    let mut block = vec![0.0f32; MAX_PACKET_SAMPLES * channels.max(1)];
    let mut frames: u64 = 0;
    let mut packet_bytes: u64 = 0;
    let mut errors: u64 = 0;
    let mut first: Option<Damage> = None;
    let mut saw_eos = false;
    let position = |frames: u64| Some(frames as f64 / DECODE_RATE as f64);
    loop {
        let packet = match reader.read_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                errors += 1;
                first.get_or_insert(Damage {
                    kind: DamageKind::Corrupt,
                    message: format!("Ogg demuxer error: {e}"),
                    position_seconds: position(frames),
                    decode_errors: 0,
                });
                break;
            }
        };
        saw_eos |= packet.end_of_stream;
        packet_bytes += packet.data.len() as u64;
        match decoder.decode(&packet.data, MAX_PACKET_SAMPLES, &mut block) {
            Ok(n) => {
                let kept = trim.keep(&packet, &block[..n * channels]);
                frames += (kept.len() / channels.max(1)) as u64;
                if sinks.wanted() || sinks.wants_pcm() {
                    sinks.push_interleaved_f32(DECODE_RATE as u32, channels, kept);
                }
            }
            Err(e) => {
                errors += 1;
                first.get_or_insert(Damage {
                    kind: DamageKind::DecodeError,
                    message: format!("Opus packet does not decode: {e}"),
                    position_seconds: position(frames),
                    decode_errors: 0,
                });
            }
        }
    }
    if first.is_none() && !saw_eos {
        first = Some(Damage {
            kind: DamageKind::Truncated,
            message: "the Opus stream ends without its end-of-stream page".into(),
            position_seconds: position(frames),
            decode_errors: 0,
        });
    }
    if first.is_none() && frames == 0 {
        first = Some(Damage {
            kind: DamageKind::Truncated,
            message: "no audio could be decoded".into(),
            position_seconds: Some(0.0),
            decode_errors: 0,
        });
    }
    let duration_seconds = frames as f64 / DECODE_RATE as f64;
    let tech = TechInfo {
        container: "ogg".into(),
        codec: "opus".into(),
        lossless: false,
        sample_rate: if head.input_sample_rate > 0 {
            head.input_sample_rate
        } else {
            48_000
        },
        decode_rate: DECODE_RATE as u32,
        bits_per_sample: None,
        channels: channels as u32,
        frames,
        duration_seconds,
        bitrate: (duration_seconds > 0.0)
            .then(|| (packet_bytes as f64 * 8.0 / duration_seconds).round() as u64),
    };
    Analysis {
        verdict: first
            .map(|mut d| {
                d.decode_errors = errors;
                Verdict::Damaged(d)
            })
            .unwrap_or(Verdict::Audio),
        tech: Some(tech),
        tags: None,
        warnings: vec![],
        fingerprint: None,
        spectrum: None,
    }
}
