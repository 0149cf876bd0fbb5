//! Command-line definitions (clap). No logic here: see `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// musicark: build and keep a preservation archive of music.
///
/// Every command works on one archive home (`--archive`). Human output goes
/// to the terminal, with progress bars on long work; `--json` prints
/// machine-readable output instead. The exit code is 0 when the command did
/// its job, also when some inputs were bad (they are reported), and
/// non-zero only when the command itself could not run.
#[derive(Debug, Parser)]
#[command(
    name = "musicark",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The archive home.
    #[arg(
        long,
        global = true,
        env = "MUSICARK_ARCHIVE",
        default_value = "musicark-archive",
        value_name = "DIR"
    )]
    pub archive: PathBuf,
    /// Print machine-readable JSON instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new archive home: config, catalogue, blob store.
    Init,
    /// Ingest audio files and folders: decode-validate, read tags, hash, store.
    ///
    /// Reruns skip files already recorded unchanged (same path, size and
    /// modification time), so an interrupted ingest resumes where it stopped.
    Ingest(IngestArgs),
    /// What the archive holds: files, audio, damage, bytes, duration, codecs.
    Status,
    /// Reports over the archive.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Run the whole flow on a generated sample collection (no network).
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or folders to ingest.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Leave files where they are and only record them (no copy into the
    /// blob store).
    #[arg(long)]
    pub reference: bool,
    /// Worker threads [default: the archive's config, else one per core].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Damaged, unsupported and unreadable files, with reasons.
    Damaged,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to build the demo archive (with its sample collection inside).
    #[arg(long, default_value = "musicark-demo", value_name = "DIR")]
    pub dir: PathBuf,
    /// Do not start the web server at the end (the server arrives with the
    /// web UI; today the demo always stops after its report).
    #[arg(long)]
    pub no_serve: bool,
}
