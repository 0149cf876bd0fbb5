//! `musicark fingerprint FILE...`: Chromaprint fingerprints of whole files,
//! printed as `fpcalc -raw -length 0` does (text, or one JSON object per
//! line with `--json`), computed on every core, printed in input order.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::bail;
use musicark_audio::{AnalyzeOptions, Verdict, analyze_file_with};
use serde::Serialize;

use crate::cli::Global;

#[derive(Serialize)]
struct Printed<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<&'a [u32]>,
    /// Why the file has no fingerprint, or what was wrong with the audio
    /// that did decode.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

type Outcome = (Option<musicark_audio::Fingerprint>, Option<String>);

fn one(path: &Path) -> Outcome {
    let a = analyze_file_with(path, AnalyzeOptions::fingerprint_only());
    let problem = match &a.verdict {
        Verdict::Audio => None,
        v => v.reason(),
    };
    (a.fingerprint, problem)
}

pub fn run(g: &Global, files: &[PathBuf], jobs: Option<usize>) -> anyhow::Result<()> {
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, files.len().max(1));
    // Largest first, so no core idles at the end on one long file; printed
    // in the order given all the same.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(std::fs::metadata(&files[i]).map_or(0, |m| m.len())));
    let order = &order;
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Outcome)>();
    let mut failed = 0usize;
    let mut reader_gone = false;
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if tx.send((i, one(&files[i]))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Print in input order as results arrive.
        let mut waiting: BTreeMap<usize, Outcome> = BTreeMap::new();
        let mut printed = 0usize;
        let mut out = std::io::stdout().lock();
        for (i, outcome) in rx {
            waiting.insert(i, outcome);
            while let Some((fp, problem)) = waiting.remove(&printed) {
                failed += usize::from(fp.is_none());
                if print_one(&mut out, g, &files[printed], fp.as_ref(), problem).is_err() {
                    // The reader went away (`| head`): stop quietly; the
                    // workers end when their next send fails.
                    reader_gone = true;
                    next.store(files.len(), Ordering::Relaxed);
                    return;
                }
                printed += 1;
            }
        }
    });
    if failed > 0 && !reader_gone {
        bail!(
            "{failed} of {} files could not be fingerprinted",
            files.len()
        );
    }
    Ok(())
}

fn print_one(
    out: &mut impl Write,
    g: &Global,
    path: &Path,
    fp: Option<&musicark_audio::Fingerprint>,
    problem: Option<String>,
) -> std::io::Result<()> {
    let shown = path.to_string_lossy();
    if g.json {
        let p = Printed {
            path: &shown,
            duration: fp.map(|f| (f.duration * 100.0).round() / 100.0),
            fingerprint: fp.map(|f| f.fingerprint.as_slice()),
            error: problem,
        };
        serde_json::to_writer(&mut *out, &p)?;
        return writeln!(out);
    }
    match fp {
        Some(f) => {
            writeln!(out, "FILE={shown}")?;
            writeln!(out, "DURATION={}", f.duration.round() as u64)?;
            let items: Vec<String> = f.fingerprint.iter().map(u32::to_string).collect();
            writeln!(out, "FINGERPRINT={}", items.join(","))?;
            if let Some(p) = problem {
                eprintln!("warning: {shown}: {p}");
            }
            writeln!(out)
        }
        None => {
            eprintln!(
                "error: {shown}: {}",
                problem.unwrap_or_else(|| "no audio could be decoded".into())
            );
            Ok(())
        }
    }
}
