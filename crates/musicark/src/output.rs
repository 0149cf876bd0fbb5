//! Human formatting helpers and the progress display.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Print `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h} h {m:02} min {s:02} s")
    } else if m > 0 {
        format!("{m} min {s:02} s")
    } else {
        format!("{seconds:.1} s")
    }
}

/// Progress bars on a terminal, nothing otherwise.
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    files_total: AtomicU64,
    files_done: AtomicU64,
    enabled: bool,
}

impl Bars {
    pub fn new(enabled: bool) -> Bars {
        Bars {
            bar: Mutex::new(None),
            files_total: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            enabled: enabled && std::io::stderr().is_terminal(),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Ok(guard) = self.bar.lock()
            && let Some(bar) = guard.as_ref()
        {
            f(bar);
        }
    }

    pub fn finish(&self) {
        self.with_bar(|b| b.finish_and_clear());
    }
}

impl musicark_ingest::Progress for Bars {
    fn walking(&self, seen: u64) {
        if !self.enabled {
            return;
        }
        if let Ok(mut guard) = self.bar.lock() {
            let bar = guard.get_or_insert_with(|| {
                let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                b.set_style(
                    ProgressStyle::with_template("{spinner} walking: {msg}")
                        .expect("valid template"),
                );
                b.enable_steady_tick(Duration::from_millis(120));
                b
            });
            bar.set_message(format!("{seen} files found"));
        }
    }

    fn start(&self, files: u64, bytes: u64) {
        self.files_total.store(files, Ordering::Relaxed);
        if !self.enabled {
            return;
        }
        if let Ok(mut guard) = self.bar.lock() {
            if let Some(old) = guard.take() {
                old.finish_and_clear();
            }
            let b = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} ingest [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b.set_message(format!("0/{files} files"));
            *guard = Some(b);
        }
    }

    fn file_done(&self, bytes: u64, _display_path: &str) {
        let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.files_total.load(Ordering::Relaxed);
        self.with_bar(|b| {
            b.inc(bytes);
            b.set_message(format!("{done}/{total} files"));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(duration(5.25), "5.2 s");
        assert_eq!(duration(125.0), "2 min 05 s");
        assert_eq!(duration(3725.0), "1 h 02 min 05 s");
    }
}
