//! A tiny deterministic synthesiser: enough musical structure (harmony,
//! rhythm, timbre, full-band percussion) for decoders, fingerprints and
//! spectral checks to have something real to chew on.

use std::f32::consts::TAU;

/// SplitMix64: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A random (version 4) UUID.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

fn midi_hz(note: f32) -> f32 {
    440.0 * 2f32.powf((note - 69.0) / 12.0)
}

/// Render `seconds` of stereo music at `rate`, interleaved, in [-1, 1].
pub fn render(seed: u64, rate: u32, seconds: f64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let n = (seconds * rate as f64).round() as usize;
    let sr = rate as f32;
    let bpm = 96.0 + rng.below(40) as f32;
    let beat = 60.0 / bpm;
    let key = 45.0 + rng.below(12) as f32; // A2..G#3
    // I–V–vi–IV, or a minor-ish i–VI–III–VII, chosen per piece.
    let progressions: [[f32; 4]; 2] = [[0.0, 7.0, 9.0, 5.0], [0.0, 8.0, 3.0, 10.0]];
    let prog = progressions[rng.below(2) as usize];
    let minor = prog[1] == 8.0;
    let scale: [f32; 7] = if minor {
        [0., 2., 3., 5., 7., 8., 10.]
    } else {
        [0., 2., 4., 5., 7., 9., 11.]
    };
    // A melody of eighth notes, one bar (8 notes) repeated with variation.
    let melody: Vec<f32> = (0..32)
        .map(|_| scale[rng.below(7) as usize] + 12.0 * rng.below(2) as f32)
        .collect();
    let pan = 0.3 + 0.4 * rng.unit();
    let mut noise = Rng::new(seed ^ 0x5eed);
    let mut hp_prev_in = 0.0f32;
    let mut hp_prev_out = 0.0f32;
    let mut out = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f32 / sr;
        let beat_pos = t / beat;
        let bar = (beat_pos / 4.0) as usize;
        let root = key + prog[bar % 4];
        let in_beat = beat_pos.fract();

        // Bass: root, on the beat, plucked.
        let bass_env = (-in_beat * 4.0).exp();
        let f_bass = midi_hz(root - 12.0);
        let bass =
            ((TAU * f_bass * t).sin() + 0.3 * (2.0 * TAU * f_bass * t).sin()) * bass_env * 0.35;

        // Pad: the triad, soft saw from a few harmonics.
        let third = if minor { 3.0 } else { 4.0 };
        let mut pad = 0.0;
        for interval in [0.0, third, 7.0] {
            let f = midi_hz(root + 12.0 + interval);
            for h in 1..=4 {
                pad += (TAU * f * h as f32 * t).sin() / h as f32;
            }
        }
        pad *= 0.04;

        // Melody: eighth notes with vibrato and a decaying envelope.
        let eighth = (beat_pos * 2.0) as usize;
        let in_eighth = (beat_pos * 2.0).fract();
        let note = key + 24.0 + melody[eighth % melody.len()];
        let vib = 1.0 + 0.004 * (TAU * 5.5 * t).sin();
        let f_mel = midi_hz(note) * vib;
        let tri = 2.0 / std::f32::consts::PI * (TAU * f_mel * t).sin().asin();
        let mel = tri * (-in_eighth * 3.0).exp() * 0.22;

        // Kick on 1 and 3, hi-hat on every eighth (high-passed noise).
        let kick = if (beat_pos as usize).is_multiple_of(2) {
            let f = 50.0 + 90.0 * (-in_beat * 30.0).exp();
            (TAU * f * in_beat * beat).sin() * (-in_beat * 8.0).exp() * 0.5
        } else {
            0.0
        };
        let white = noise.unit() * 2.0 - 1.0;
        let hp = 0.9 * (hp_prev_out + white - hp_prev_in);
        hp_prev_in = white;
        hp_prev_out = hp;
        let hat = hp * (-in_eighth * 40.0).exp() * 0.12;

        // Fade in and out.
        let fade = (t / 0.05).min(1.0) * (((n - i) as f32 / sr) / 0.5).min(1.0);
        let mono = bass + kick;
        let left = (mono + pad * (1.0 - pan) + mel * pan + hat * 0.7) * fade;
        let right = (mono + pad * pan + mel * (1.0 - pan) + hat) * fade;
        out.push((left * 0.8).clamp(-1.0, 1.0));
        out.push((right * 0.8).clamp(-1.0, 1.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_is_deterministic_bounded_and_not_silent() {
        let a = render(1, 8000, 1.0);
        assert_eq!(a, render(1, 8000, 1.0));
        assert_eq!(a.len(), 16000);
        assert!(a.iter().all(|x| x.abs() <= 1.0));
        let rms = (a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32).sqrt();
        assert!(rms > 0.02, "rms {rms}");
        assert_ne!(a, render(2, 8000, 1.0));
    }

    #[test]
    fn uuids_look_like_uuids() {
        let u = Rng::new(3).uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
    }
}
