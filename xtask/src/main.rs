//! Project automation: `cargo xtask <task>`. Never shipped in the binary.
//!
//!   cargo xtask gen-catalog --recordings N [--out DIR] [--seed S] [--invalid SHARE]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen-catalog") => gen_catalog(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask gen-catalog --recordings N [--out DIR] [--seed S] [--invalid SHARE]"
            );
            ExitCode::from(2)
        }
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn gen_catalog(args: &[String]) -> ExitCode {
    let Some(n) = flag(args, "--recordings").and_then(|s| s.replace('_', "").parse::<u64>().ok())
    else {
        eprintln!("--recordings N is required");
        return ExitCode::from(2);
    };
    let out = PathBuf::from(flag(args, "--out").unwrap_or_else(|| format!("target/catalog-{n}")));
    let spec = musicark_synth::CatalogSpec {
        recordings: n,
        seed: flag(args, "--seed")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1),
        invalid_share: flag(args, "--invalid")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.01),
    };
    let started = std::time::Instant::now();
    match musicark_synth::write_catalog(&out, &spec) {
        Ok(stats) => {
            println!(
                "{} in {:.1} s: {stats:?}",
                out.display(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}
