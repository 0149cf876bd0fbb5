//! The `musicark` binary: parse the command line, run the command, map the
//! outcome to an exit code. All logic lives in the library crates.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: measured faster than glibc malloc on the catalogue import,
/// where one thread allocates parsed records and another frees them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = cli::Cli::parse();
    let archive = cli.global.archive.clone();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            match full_disk(&err, &archive) {
                Some(text) => eprintln!("error: {text}"),
                None => eprintln!("error: {}", message(&err)),
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, joined by ": ", without a cause whose text
/// the messages before it already hold (`catalogue database: {0}` over
/// the database's own error would say it twice).
fn message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

/// SQLite reports a full disk as "database or disk is full", or as an I/O
/// error while it grows the WAL ("disk I/O error", code 4874): say what
/// it is, on which file, and what to do.
fn full_disk(err: &anyhow::Error, archive: &std::path::Path) -> Option<String> {
    musicark_store::full_disk_message(err.chain(), archive)
}

/// A reader that goes away (`musicark … | head`) makes `println!` panic
/// with a broken pipe; end quietly instead, as C tools do on SIGPIPE
/// (exit status 141 = 128 + SIGPIPE). Every other panic is reported as
/// usual.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        // A decoder's panic on a hostile file is caught and recorded as
        // damage with its message: no backtrace on the terminal.
        if musicark_audio::in_guarded_decode() {
            return;
        }
        default(info);
    }));
}
