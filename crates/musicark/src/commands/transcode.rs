//! `musicark transcode IN OUT [--bitrate KBPS]`: one file to Ogg Opus at
//! 48 kHz with its tags and cover art, through the archive's own pipeline.

use std::path::Path;

use anyhow::{Context, bail};
use musicark_audio::transcode::{TranscodeOptions, transcode_file};

use crate::cli::Global;
use crate::output::print_json;

pub fn run(g: &Global, input: &Path, output: &Path, kbps: u32) -> anyhow::Result<()> {
    if !(6..=510).contains(&kbps) {
        bail!("--bitrate {kbps}: Opus takes 6 to 510 kbit/s");
    }
    if input == output {
        bail!("the output would overwrite the input");
    }
    let options = TranscodeOptions {
        bitrate: kbps * 1000,
        extra_tags: Vec::new(),
    };
    let report = transcode_file(input, output, &options)
        .with_context(|| format!("transcoding {}", input.display()))?;
    if g.json {
        return print_json(&report);
    }
    println!(
        "{} -> {}: {:.2} s, {} ch from {} Hz, {} kbit/s target, {} bytes ({:.0} kbit/s)",
        report.input,
        report.output,
        report.duration,
        report.channels,
        report.source_rate,
        kbps,
        report.bytes,
        report.bytes as f64 * 8.0 / report.duration.max(1e-9) / 1000.0
    );
    if let Some(d) = &report.source_damage {
        eprintln!("warning: the source is damaged ({d}); the copy holds what decoded");
    }
    Ok(())
}
