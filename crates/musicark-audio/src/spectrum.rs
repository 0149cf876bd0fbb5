//! Transcode ("fake lossless") detection from the spectrum: lossy encoders
//! low-pass the audio (MP3 at 128 kbit/s near 16–17 kHz, at 320 near
//! 19.5–20 kHz, Opus at 20 kHz, Vorbis by quality), and that cut survives
//! decoding into a lossless file. Genuine full-band material rolls off
//! gradually instead.
//!
//! The detector, computed during the ordinary decode (one 4096-point FFT
//! every 4096 samples of the mono mix):
//! - the long-term average spectrum, in dB;
//! - a *cliff*: the highest frequency where the level over the next 500 Hz
//!   is at least [`CLIFF_DB`] below the 500 Hz before it, and nothing above
//!   rises again (adaptive to the noise floor: the drop is measured against
//!   what is there, dither or digital silence alike);
//! - its stability: the share of loud frames that show the same cut.
//!
//! The verdict is `transcode` with a confidence from the drop and the
//! stability, `full_band` when content reaches close to the Nyquist
//! frequency without a cliff, and `undetermined` otherwise (quiet or
//! naturally band-limited material, too little audio).

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

const N: usize = 4096;
/// A cut must drop at least this much (dB) across it.
pub const CLIFF_DB: f64 = 20.0;
/// Width (Hz) of the bands compared on either side of a candidate cut.
const BAND_HZ: f64 = 500.0;
/// Frames quieter than this (dBFS RMS) are not looked at.
const SILENT_DB: f64 = -55.0;
/// No verdict from less loud audio than this (frames of 4096 samples).
const MIN_FRAMES: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bandwidth {
    /// Content reaches close to the Nyquist frequency, with no cut.
    FullBand,
    /// A lossy encoder's low-pass cut: the audio went through lossy coding.
    Transcode,
    /// Neither can be said (quiet, naturally band-limited, too short).
    Undetermined,
}

/// What the spectrum says about a file's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectrumCheck {
    pub verdict: Bandwidth,
    /// 0–1: how sure (for `transcode`: the size of the drop and how many
    /// loud frames share the cut).
    pub confidence: f64,
    /// Where the cut is (for `transcode`), or the highest frequency with
    /// content (otherwise), in Hz.
    pub cutoff_hz: Option<f64>,
    /// The drop across the cut, dB.
    pub drop_db: Option<f64>,
    /// The share of loud frames showing the cut.
    pub stable_share: Option<f64>,
    /// Loud frames analysed.
    pub frames: u32,
}

pub(crate) struct SpectrumSink {
    rate: u32,
    fft: Option<Arc<dyn Fft<f32>>>,
    window: Vec<f32>,
    pending: Vec<f32>,
    scratch: Vec<Complex<f32>>,
    /// Sum of power per bin over loud frames.
    sum: Vec<f64>,
    /// Per loud frame, the power per bin in 1/16-octave-ish coarse bands
    /// is too much to keep; instead the frame's spectrum in dB is kept at
    /// 100 Hz resolution (at most 240 numbers per frame).
    frames_db: Vec<Vec<f32>>,
    loud: u32,
    failed: bool,
}

/// Coarse bands for the per-frame record.
const COARSE_HZ: f64 = 100.0;
/// At most this many frames are kept for the stability measure (evenly
/// spread: every k-th loud frame).
const KEEP_FRAMES: usize = 2048;

impl SpectrumSink {
    pub(crate) fn new() -> SpectrumSink {
        let window = (0..N)
            .map(|i| {
                let x = std::f32::consts::TAU * i as f32 / N as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        SpectrumSink {
            rate: 0,
            fft: None,
            window,
            pending: Vec::with_capacity(N),
            scratch: vec![Complex::default(); N],
            sum: vec![0.0; N / 2 + 1],
            frames_db: Vec::new(),
            loud: 0,
            failed: false,
        }
    }

    pub(crate) fn push_mono(&mut self, rate: u32, mono: &[f32]) {
        if self.fft.is_none() && !self.failed {
            self.rate = rate;
            self.failed = rate < 8_000;
            self.fft = Some(FftPlanner::new().plan_fft_forward(N));
        }
        if self.failed || rate != self.rate {
            return;
        }
        let mut rest = mono;
        while !rest.is_empty() {
            let take = (N - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == N {
                self.frame();
                self.pending.clear();
            }
        }
    }

    fn frame(&mut self) {
        let energy: f64 = self
            .pending
            .iter()
            .map(|s| (*s as f64).powi(2))
            .sum::<f64>()
            / N as f64;
        if 10.0 * energy.max(1e-20).log10() < SILENT_DB {
            return;
        }
        let Some(fft) = self.fft.as_ref() else { return };
        for ((c, s), w) in self.scratch.iter_mut().zip(&self.pending).zip(&self.window) {
            *c = Complex::new(s * w, 0.0);
        }
        fft.process(&mut self.scratch);
        let bin_hz = self.rate as f64 / N as f64;
        let coarse_n = ((self.rate as f64 / 2.0) / COARSE_HZ).floor() as usize;
        let mut coarse = vec![0f64; coarse_n];
        let mut counts = vec![0u32; coarse_n];
        for (k, c) in self.scratch[..=N / 2].iter().enumerate() {
            let p = (c.norm_sqr() as f64).max(1e-30);
            self.sum[k] += p;
            let b = ((k as f64 * bin_hz) / COARSE_HZ) as usize;
            if b < coarse_n {
                coarse[b] += p;
                counts[b] += 1;
            }
        }
        self.loud += 1;
        let keep_every = (self.loud as usize / KEEP_FRAMES) + 1;
        if self.frames_db.len() < KEEP_FRAMES && (self.loud as usize).is_multiple_of(keep_every) {
            self.frames_db.push(
                coarse
                    .iter()
                    .zip(&counts)
                    .map(|(p, n)| (10.0 * (p / (*n).max(1) as f64).log10()) as f32)
                    .collect(),
            );
        }
    }

    pub(crate) fn finish(self) -> Option<SpectrumCheck> {
        if self.failed || self.fft.is_none() {
            return None;
        }
        let undetermined = |frames| SpectrumCheck {
            verdict: Bandwidth::Undetermined,
            confidence: 0.0,
            cutoff_hz: None,
            drop_db: None,
            stable_share: None,
            frames,
        };
        if self.loud < MIN_FRAMES {
            return Some(undetermined(self.loud));
        }
        let bin_hz = self.rate as f64 / N as f64;
        let nyquist = self.rate as f64 / 2.0;
        // Long-term level per bin, dB, smoothed over ±2 bins.
        let raw: Vec<f64> = self
            .sum
            .iter()
            .map(|p| 10.0 * (p / self.loud as f64).log10())
            .collect();
        let level: Vec<f64> = (0..raw.len())
            .map(|k| {
                let lo = k.saturating_sub(2);
                let hi = (k + 3).min(raw.len());
                raw[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
            })
            .collect();
        let band = (BAND_HZ / bin_hz).round() as usize;
        let mean =
            |lo: usize, hi: usize| level[lo..hi].iter().sum::<f64>() / (hi - lo).max(1) as f64;
        let top = ((nyquist * 0.99) / bin_hz) as usize;
        let lowest = (8_000.0 / bin_hz) as usize;
        // The highest cliff with nothing rising again above it.
        let mut cliff: Option<(usize, f64, f64)> = None;
        let mut k = top.saturating_sub(band);
        while k > lowest {
            let below = mean(k - band, k);
            let above = mean(k, k + band);
            let drop = below - above;
            if drop >= CLIFF_DB {
                let beyond = level[k + band / 2..top]
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max);
                if beyond <= above + 10.0 {
                    // Refine to the bin of steepest descent nearby.
                    let lo = k.saturating_sub(band / 2).max(1);
                    let hi = (k + band / 2).min(level.len() - 1);
                    let steepest = (lo..hi)
                        .max_by(|a, b| {
                            (level[*a - 1] - level[*a + 1])
                                .total_cmp(&(level[*b - 1] - level[*b + 1]))
                        })
                        .unwrap_or(k);
                    cliff = Some((steepest, drop, above));
                    break;
                }
            }
            k -= 1;
        }
        match cliff {
            Some((k, drop, floor)) => {
                let cutoff = k as f64 * bin_hz;
                // Stability over time: of the frames with content just
                // below the cut (clear of the long-term level above it),
                // the share where the 500 Hz above the cut is empty too.
                // Frames with nothing near the cut say nothing either way.
                let c = (cutoff / COARSE_HZ) as usize;
                let w = (BAND_HZ / COARSE_HZ) as usize;
                let bands = |f: &Vec<f32>| {
                    let below =
                        f[c - w - 1..c - 1].iter().map(|v| *v as f64).sum::<f64>() / w as f64;
                    let above =
                        f[c + 1..c + 1 + w].iter().map(|v| *v as f64).sum::<f64>() / w as f64;
                    (below, above)
                };
                let considered: Vec<(f64, f64)> = self
                    .frames_db
                    .iter()
                    .filter(|f| c > w && c + w < f.len())
                    .map(bands)
                    .filter(|(below, _)| *below >= floor + CLIFF_DB / 2.0)
                    .collect();
                let agree = considered
                    .iter()
                    .filter(|(below, above)| below - above >= CLIFF_DB / 2.0)
                    .count();
                let stable = agree as f64 / considered.len().max(1) as f64;
                let strength = ((drop - CLIFF_DB) / 20.0 + 0.5).clamp(0.0, 1.0);
                let confidence = (0.5 * strength + 0.5 * stable).clamp(0.0, 1.0);
                let verdict = if stable >= 0.5 {
                    Bandwidth::Transcode
                } else {
                    Bandwidth::Undetermined
                };
                Some(SpectrumCheck {
                    verdict,
                    confidence: if verdict == Bandwidth::Transcode {
                        confidence
                    } else {
                        0.0
                    },
                    cutoff_hz: Some(cutoff),
                    drop_db: Some(drop),
                    stable_share: Some(stable),
                    frames: self.loud,
                })
            }
            None => {
                // No cut: full band if content is there near the top (within
                // 40 dB of the level at 2–4 kHz), else undetermined.
                let reference = mean((2_000.0 / bin_hz) as usize, (4_000.0 / bin_hz) as usize);
                let highest = (lowest..top)
                    .rev()
                    .find(|&k| level[k] > reference - 60.0)
                    .map(|k| k as f64 * bin_hz);
                let near_top = mean(top - band, top);
                let full = near_top > reference - 60.0;
                Some(SpectrumCheck {
                    verdict: if full {
                        Bandwidth::FullBand
                    } else {
                        Bandwidth::Undetermined
                    },
                    confidence: if full { 0.8 } else { 0.0 },
                    cutoff_hz: highest,
                    drop_db: None,
                    stable_share: None,
                    frames: self.loud,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many random sines up to `top` Hz, with amplitude falling with
    /// frequency as music's does.
    fn partials(rate: u32, seconds: f64, top: f64, seed: u64) -> Vec<f32> {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let tones: Vec<(f64, f64, f64)> = (0..400)
            .map(|_| {
                let f = 40.0 + next() * (top - 40.0);
                (
                    f,
                    0.02 * (1000.0 / f.max(1000.0)).sqrt(),
                    next() * std::f64::consts::TAU,
                )
            })
            .collect();
        (0..(rate as f64 * seconds) as usize)
            .map(|n| {
                let t = n as f64 / rate as f64;
                tones
                    .iter()
                    .map(|(f, a, p)| a * (std::f64::consts::TAU * f * t + p).sin())
                    .sum::<f64>() as f32
            })
            .collect()
    }

    fn check(samples: &[f32], rate: u32) -> SpectrumCheck {
        let mut s = SpectrumSink::new();
        for chunk in samples.chunks(1_000) {
            s.push_mono(rate, chunk);
        }
        s.finish().expect("a check")
    }

    #[test]
    fn a_cut_is_found_where_it_is_and_full_band_audio_has_none() {
        let full = check(&partials(44_100, 6.0, 21_800.0, 1), 44_100);
        assert_eq!(full.verdict, Bandwidth::FullBand, "{full:?}");
        let cut = check(&partials(44_100, 6.0, 16_000.0, 2), 44_100);
        assert_eq!(cut.verdict, Bandwidth::Transcode, "{cut:?}");
        let at = cut.cutoff_hz.expect("cutoff");
        assert!((15_500.0..16_500.0).contains(&at), "{at}");
        assert!(cut.confidence > 0.5, "{cut:?}");
    }

    #[test]
    fn silence_and_short_audio_say_nothing() {
        let quiet = check(&vec![0.0; 44_100 * 5], 44_100);
        assert_eq!(quiet.verdict, Bandwidth::Undetermined);
        assert_eq!(quiet.frames, 0);
        let short = check(&partials(44_100, 0.5, 16_000.0, 3), 44_100);
        assert_eq!(short.verdict, Bandwidth::Undetermined);
    }
}
