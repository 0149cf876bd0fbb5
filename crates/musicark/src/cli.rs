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
    ///
    /// The catalogue and all archive state go in an embedded SQLite file
    /// (no server, no setup) unless --database names a PostgreSQL database.
    Init(InitArgs),
    /// Move the archive's catalogue and state to another database: copy
    /// every table (streamed; PostgreSQL by COPY), check the copy equal
    /// (rows and a checksum per table, the signed list's bytes from both),
    /// then use it. The old database is left as it was.
    ///
    /// `--to postgres://USER@HOST/DB` (an empty database) when an archive
    /// outgrows one machine; `--to sqlite:PATH` (a new file) to come back.
    Migrate(MigrateArgs),
    /// Ingest audio files and folders: decode-validate, read tags, hash, store.
    ///
    /// Reruns skip files already recorded unchanged (same path, size and
    /// modification time), so an interrupted ingest resumes where it stopped.
    Ingest(IngestArgs),
    /// What the archive holds: files, audio, damage, bytes, duration, codecs.
    Status,
    /// Look for silent damage: blobs against their BLAKE3, packs against
    /// their torrents and manifests, .torrent files against the archive,
    /// the database's own check and the search index. Oldest checked
    /// first; with --max-duration, a slice per run (nightly, say).
    ///
    /// With --repair, restores what has a good copy: a blob from an
    /// ingested file that still hashes right, else just that file fetched
    /// from its pack's swarm (trackers, --peer) and verified; a pack file
    /// from its blob,
    /// a .torrent rebuilt from its pack, the search index from the
    /// database. Bad bytes are moved to ARCHIVE/quarantine/, never
    /// deleted; every repair is logged (`fsck --log`). Exits 1 while
    /// damage remains.
    Fsck {
        /// Restore what has a good copy.
        #[arg(long)]
        repair: bool,
        /// Start no new check after this long (90s, 30m, 1h, 2h30m).
        #[arg(long, value_parser = musicark_store::units::parse_duration, value_name = "DURATION")]
        max_duration: Option<std::time::Duration>,
        /// Check at most this many objects (the oldest).
        #[arg(long, value_name = "N")]
        max_objects: Option<u64>,
        /// A peer to fetch a published file from when no local copy is
        /// good (beside the pack's own trackers); repeatable.
        #[arg(long = "peer", value_name = "ADDR")]
        peers: Vec<std::net::SocketAddr>,
        /// Give up on the swarm after this many seconds without progress.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        swarm_timeout: u64,
        /// Print the repair log instead.
        #[arg(long)]
        log: bool,
    },
    /// Reports over the archive.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Follow other publishers' signed lists: their torrents join the
    /// federated view, coverage, the wanted list and plans.
    #[command(subcommand)]
    Follow(FollowCommand),
    /// What nobody holds yet (this archive or anyone it follows), most
    /// listened first: what collectors should ingest next.
    #[command(subcommand)]
    Wanted(WantedCommand),
    /// Run the whole flow on a generated sample collection (no network).
    Demo(DemoArgs),
    /// Create, inspect and verify torrents (v1, v2, hybrid).
    #[command(subcommand)]
    Torrent(TorrentCommand),
    /// The catalogue of recorded music: import open data, look up, search.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Chromaprint fingerprints of whole files, as `fpcalc -raw -length 0`.
    ///
    /// Any format musicark decodes, Ogg Opus included. With --json, one JSON
    /// object per line: path, duration (seconds) and fingerprint (unsigned
    /// 32-bit integers). Files are fingerprinted in parallel and printed in
    /// the order given. Exits non-zero when a file gave no fingerprint
    /// (after printing all the others).
    Fingerprint {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Files fingerprinted at once (default: one per core).
        #[arg(long, short)]
        jobs: Option<usize>,
    },
    /// Link ingested files to catalogue recordings, with evidence.
    ///
    /// Identifiers in the tags first (MusicBrainz recording id, ISRC), then
    /// the fingerprint against files already linked, then artist, title
    /// and length. Anything ambiguous goes to review, never guessed.
    Match {
        /// List what needs a decision, with the candidates.
        #[arg(long)]
        review: bool,
    },
    /// Make the archive copies by the tier policy (`[preserve]` in
    /// musicark.toml).
    ///
    /// For the best copy of each piece of music: small lossy originals are
    /// kept; the rest is re-encoded to Opus at its popularity band's
    /// bitrate (never above the source's own quality), tagged with its
    /// source's hash and recording ids, into the blob store. Largest first,
    /// on every core; a rerun resumes.
    Preserve {
        /// Files re-encoded at once (default: one per core).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Show each file's decision and why; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Hand the re-encodes to `musicark worker` processes (on this
        /// machine or others) through the work queue in the archive's
        /// PostgreSQL database, then wait for them with a progress bar.
        #[arg(long, conflicts_with = "dry_run")]
        queue: bool,
        /// With --queue: return once the work is queued.
        #[arg(long, requires = "queue")]
        detach: bool,
    },
    /// Take queued work from the archive's database and do it: the files
    /// `ingest --queue`, the re-encodes `preserve --queue` and the pack
    /// hashing `pack --queue` hand out. Run as many as you like,
    /// on any machine that reaches the database and the blobs (a copy of
    /// `musicark.toml` and the same credentials). Each job is held under a
    /// lease kept alive while it runs; a worker that dies lets its lease
    /// run out and another takes the job over. Results are written by
    /// content id, so nothing is recorded twice.
    Worker {
        /// Stop once nothing is queued or running (default: wait for work).
        #[arg(long)]
        once: bool,
        /// How long a job stays held without a heartbeat (30s, 2m…).
        #[arg(long, default_value = "60s", value_parser = musicark_store::units::parse_duration, value_name = "DURATION")]
        lease: std::time::Duration,
        /// This worker's name in the queue (default: host name and pid).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Plan what fits a size budget: a quality tier per popularity band.
    ///
    /// From the catalogue's lengths and listens: bands by popularity rank
    /// (top 0.1 %, 1 %, 10 %, 50 %, all) are covered most popular first at
    /// the cheapest tier, then upgraded where a byte buys the most listens.
    /// Prints bytes, the share of recordings and of listens kept, and what
    /// the whole catalogue costs at each tier.
    Plan {
        /// The size budget: 300TB, 2TiB, 500GB…
        #[arg(long, value_parser = parse_budget, value_name = "SIZE")]
        budget: u64,
        /// Opus tiers to choose from, kbit/s.
        #[arg(long, value_delimiter = ',', default_values_t = [64, 96, 128], value_name = "KBPS,...")]
        tiers: Vec<u32>,
        /// Also offer original lossless (estimated at 900 kbit/s).
        #[arg(long)]
        lossless: bool,
    },
    /// Group preserved copies into torrents ("packs") with manifests.
    ///
    /// By popularity band (most popular first), then by path, cut at
    /// --target-size bytes or --max-files files. Paths read
    /// `Artist/Year - Release/NN Title [id].opus`; every file is loose (no
    /// tar), so a client can fetch any one. Each pack holds a
    /// manifest.jsonl (ids, ISRC, MBID, size, SHA-256, BLAKE3, codec,
    /// bitrate, duration, fingerprint, tier, source hash). Packs are v1, no
    /// creation date: the same archive gives the same .torrent bytes.
    /// Published packs are never rewritten: new copies make new packs, and
    /// a pack whose copy was replaced or taken down is marked obsolete.
    /// Also makes a new metadata release (catalogue snapshot and where
    /// each recording is, zstd) when the packs changed.
    Pack {
        /// Most bytes per pack: 32GB by default (a small donor's spare disk).
        #[arg(long, value_parser = parse_budget, default_value = "32GB", value_name = "SIZE")]
        target_size: u64,
        /// Most files per pack: 10 000 by default (clients' file lists stay
        /// responsive; the anchor's 30 000-file torrents hung them).
        #[arg(long, default_value_t = musicark_publish::pack::DEFAULT_MAX_FILES, value_name = "N")]
        max_files: usize,
        /// v1+v2 hybrid packs (BEP 52 + BEP 47 pad files) instead of v1.
        #[arg(long)]
        hybrid: bool,
        /// Skip the metadata release.
        #[arg(long)]
        no_metadata: bool,
        /// Hand each pack's hashing to `musicark worker` processes, which
        /// stream its blobs from the bucket (an archive on PostgreSQL with
        /// blobs in object storage); then record the packs in order.
        #[arg(long)]
        queue: bool,
        /// With --queue: return once the hashing is queued; a later
        /// `pack --queue` records what the workers hashed.
        #[arg(long, requires = "queue")]
        detach: bool,
    },
    /// What a donor with SIZE of disk should seed: the torrents that most
    /// cut the risk of losing recordings per byte.
    ///
    /// Torrents holding a recording nobody seeds come first; then, per
    /// byte, those whose recordings have the fewest copies (counting every
    /// torrent that holds them, from the last `health scrape`), the long
    /// tail weighing up to twice. Donors with different --donor ids spread
    /// over different torrents; the same id gets the same plan for the
    /// same health. See BENCHMARKS.md for the simulation against the
    /// anchor's formula.
    Seedplan {
        #[arg(long, value_parser = parse_budget, value_name = "SIZE")]
        budget: u64,
        /// Plan over every followed list and our own: copies counted
        /// worldwide, any publisher's torrents planned (`follow sync`
        /// first).
        #[arg(long)]
        federated: bool,
        #[arg(long, value_enum, default_value = "json")]
        format: SeedFormat,
        /// A stable id for this donor (default: the host name).
        #[arg(long, value_name = "ID")]
        donor: Option<String>,
        /// With --format torrents: where to copy the .torrent files.
        #[arg(long, default_value = "seedplan-torrents", value_name = "DIR")]
        out: PathBuf,
    },
    /// Become one of the copies: verify a signed list, choose what fits
    /// the budget (fewest seeders per byte first), download it with a real
    /// BitTorrent engine (librqbit), verify every piece and every file
    /// against its manifest, then seed.
    ///
    /// Needs no archive. Data goes to DIR/data/NAME/, the list (when given
    /// as a URL) to DIR/list/. Rerunning resumes: data already there is
    /// checked, not fetched again.
    Mirror {
        /// The list: a file, or an http(s) URL (its .minisig is fetched
        /// beside it and checked first; then the torrents it names).
        #[arg(long, value_name = "FILE|URL", required_unless_present = "federated")]
        list: Option<String>,
        /// Plan over every list the archive (--archive) follows and its
        /// own instead of one list: the budget goes where recordings have
        /// the fewest copies worldwide (`musicark follow sync` first).
        #[arg(long, conflicts_with_all = ["list", "pubkey", "trust_on_first_use"])]
        federated: bool,
        #[arg(long, value_parser = parse_budget, value_name = "SIZE")]
        budget: u64,
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The publisher's public key, from a source you trust: a .pub
        /// file or the base64 key. Pinned in DIR/trusted.pub; later runs
        /// need it no more and refuse lists signed by any other key.
        #[arg(long, value_name = "FILE|KEY")]
        pubkey: Option<String>,
        /// With no key given or pinned, trust the key served beside the
        /// list this once, and pin it.
        #[arg(long)]
        trust_on_first_use: bool,
        /// Give up on a server that sends nothing for this many seconds.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        http_timeout: u64,
        /// A stable id for this donor (default: the host name).
        #[arg(long, value_name = "ID")]
        donor: Option<String>,
        /// Download limit, bytes per second.
        #[arg(long, value_name = "BPS")]
        download_limit: Option<u32>,
        /// Upload limit, bytes per second.
        #[arg(long, value_name = "BPS")]
        upload_limit: Option<u32>,
        /// Where to listen for peers.
        #[arg(long, default_value = "0.0.0.0:0", value_name = "ADDR")]
        listen: std::net::SocketAddr,
        /// Give up when a download makes no progress for this many seconds.
        #[arg(long, default_value_t = 600, value_name = "SECS")]
        stall_secs: u64,
        /// Seed for this many seconds, then stop (default: until stopped).
        #[arg(long, value_name = "SECS")]
        seed_secs: Option<u64>,
        /// While seeding, read the list again this often and follow a
        /// changed plan: torrents now well seeded make room for those at
        /// risk (their data is deleted). 0: never.
        #[arg(long, default_value_t = 3600, value_name = "SECS")]
        replan_secs: u64,
        /// While seeding, verify the data this often (every piece, every
        /// file's BLAKE3) and fetch damaged pieces again: 6h, 1d, 90m.
        #[arg(long, value_parser = musicark_store::units::parse_duration, value_name = "DURATION")]
        scrub_every: Option<std::time::Duration>,
        /// Also speak µTP (librqbit's, marked experimental): clients that
        /// try µTP first, such as qBittorrent, then connect without
        /// waiting for that attempt to time out.
        #[arg(long)]
        utp: bool,
        /// Do not fetch from the torrents' BEP 19 web seeds (by default
        /// what is missing is fetched from them first, then checked piece
        /// by piece; the swarm gives the rest).
        #[arg(long)]
        no_web_seeds: bool,
    },
    /// The web UI and JSON API: search, recordings and where they are,
    /// torrents and their health, coverage, a seeding-plan form.
    ///
    /// Read-only unless `[serve] token` is set in musicark.toml; then
    /// actions (`POST /api/actions/...`: scrape now, embargo, takedown)
    /// need `Authorization: Bearer TOKEN`. The API is described at
    /// /openapi.json. Needs no network.
    Serve {
        /// Address and port to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        bind: std::net::SocketAddr,
    },
    /// Take a recording, artist or release down: record the request (when,
    /// why, its reference) in the append-only rights log, mark every
    /// published torrent holding it obsolete and build replacement packs
    /// without it. Run `list export` afterwards to publish the new list.
    ///
    /// ID: rec:N, a recording MBID or ISRC; artist:N or an artist MBID;
    /// release:N or a release MBID. `takedown list` shows what is down;
    /// `takedown reverse ID --reason TEXT` reverses one, with its own entry.
    #[command(args_conflicts_with_subcommands = true)]
    Takedown {
        #[command(subcommand)]
        command: Option<TakedownCommand>,
        #[command(flatten)]
        request: Option<TakedownRequest>,
    },
    /// Withhold a recording, artist or release until a date (or until
    /// lifted): never packed before it; torrents already holding it are
    /// replaced without it. `embargo lift ID` ends one early.
    #[command(args_conflicts_with_subcommands = true)]
    Embargo {
        #[command(subcommand)]
        command: Option<EmbargoCommand>,
        #[command(flatten)]
        request: Option<EmbargoRequest>,
    },
    /// Rights as data: what the archive may publish and why.
    #[command(subcommand)]
    Rights(RightsCommand),
    /// Copy (or list) preserved audio with its metadata, restricted to the
    /// given licences: the honest way to build a research or training
    /// dataset. Taken-down and embargoed recordings are never exported.
    Export {
        /// Licences to export (SPDX ids, comma-separated): CC-BY-SA-4.0,CC0-1.0.
        #[arg(long, value_delimiter = ',', required = true, value_name = "ID,...")]
        license: Vec<String>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// `files`: the audio and metadata.jsonl; `jsonl`: metadata only.
        #[arg(long, value_enum, default_value = "files")]
        format: ExportFormat,
    },
    /// Seeding health: what trackers say of the published torrents.
    #[command(subcommand)]
    Health(HealthCommand),
    /// The signed list of every torrent the archive published.
    #[command(subcommand)]
    List(ListCommand),
    /// Which torrent, path and byte range hold a recording.
    ///
    /// QUERY: an ISRC, a recording or release MBID, an internal id, a
    /// BLAKE3 of a file (or of its source), or words to search for.
    Where {
        query: String,
        /// Who holds it over every followed list and ours: publishers,
        /// copies (distinct torrents) and seeders summed.
        #[arg(long)]
        federated: bool,
    },

    ///
    /// The archive's own pipeline: any format musicark decodes, resampled
    /// to 48 kHz, Opus (pure Rust, libopus's algorithms), Ogg with exact
    /// pre-skip and end trim so the copy is as long as the source. Written
    /// beside OUT and renamed into place when complete.
    Transcode {
        input: PathBuf,
        output: PathBuf,
        /// Target bitrate in kbit/s.
        #[arg(long, default_value_t = 96, value_name = "KBPS")]
        bitrate: u32,
    },
}

#[derive(Debug, Args)]
pub struct TakedownRequest {
    /// What to take down (see `musicark takedown --help`).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Why (kept in the rights log).
    #[arg(long, required = true, value_name = "TEXT")]
    pub reason: String,
    /// The request's reference: a ticket, a letter, a URL.
    #[arg(long, value_name = "TEXT")]
    pub reference: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TakedownCommand {
    /// What is taken down now.
    List,
    /// Reverse a takedown (logged as `reinstate`); the next `pack` and
    /// list publish it again.
    Reverse {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, required = true, value_name = "TEXT")]
        reason: String,
        #[arg(long, value_name = "TEXT")]
        reference: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct EmbargoRequest {
    #[arg(value_name = "ID")]
    pub id: String,
    /// The first day it may be published, YYYY-MM-DD (none: until lifted).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    #[arg(long, required = true, value_name = "TEXT")]
    pub reason: String,
    #[arg(long, value_name = "TEXT")]
    pub reference: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum EmbargoCommand {
    /// End an embargo now (logged as `lift`).
    Lift {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, required = true, value_name = "TEXT")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RightsCommand {
    /// Preserved copies by licence and class, what the policy publishes,
    /// unmapped licence tags, takedowns and embargoes in force.
    Report,
    /// The append-only log of takedowns, embargoes and their reversals
    /// (JSON with --json: the export of the audit trail).
    Log,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Files,
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Import a dump. Resumable (a rerun continues after the last committed
    /// line) and idempotent (a re-import updates, never duplicates). Invalid
    /// identifiers and malformed lines go to the rejects, with their line.
    Import {
        #[arg(value_enum)]
        source: ImportSource,
        /// musicbrainz: `recording`, `release`, `artist` JSON Lines (plain or
        /// `.tar.xz`), or a directory of them; listenbrainz: CSV or JSON
        /// Lines of recording_mbid, total_listen_count, total_user_count;
        /// mapped: a CSV, JSON Lines or SQLite file.
        path: PathBuf,
        /// The TOML mapping for `mapped` (see `musicark-catalog`'s mapping docs).
        #[arg(long, value_name = "FILE")]
        mapping: Option<PathBuf>,
    },
    /// Ranked full-text search over titles, artists and releases.
    Search {
        query: String,
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
    },
    /// Show recordings by MBID (recording or release), ISRC, UPC/EAN or
    /// internal id (`rec:123`).
    Show { id: String },
    /// Rejected input of the last imports: line, field, value and reason.
    Rejects {
        #[arg(long, short = 'n', default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ImportSource {
    Musicbrainz,
    Listenbrainz,
    Mapped,
}

#[derive(Debug, Subcommand)]
pub enum TorrentCommand {
    /// Make a reproducible .torrent from a file or directory.
    ///
    /// Deterministic by default: files in canonical order, no creation date.
    /// v1 torrents are identical to `mktorrent -d` (apart from `created by`);
    /// v2 and hybrid ones to libtorrent's `create_torrent`.
    Create(TorrentCreateArgs),
    /// Show a torrent: info-hashes, files, trackers, web seeds, magnet.
    Show {
        /// The .torrent file.
        file: PathBuf,
    },
    /// Check data against a torrent's v1 pieces and v2 merkle roots.
    ///
    /// DIR is the directory that holds the torrent's top-level file or
    /// folder (libtorrent's save path), or that folder itself. Exits 1 when
    /// any file is missing, of the wrong size or corrupt.
    Verify {
        /// The .torrent file.
        file: PathBuf,
        /// Where the data is.
        dir: PathBuf,
        /// Hashing threads [default: one per core].
        #[arg(long, short)]
        jobs: Option<usize>,
    },
}

#[derive(Debug, Args)]
pub struct TorrentCreateArgs {
    /// The file or directory to share.
    pub path: PathBuf,
    /// Where to write the .torrent.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// BitTorrent v1 (BEP 3) only [the default].
    #[arg(long, group = "meta_version")]
    pub v1: bool,
    /// BitTorrent v2 (BEP 52) only.
    #[arg(long, group = "meta_version")]
    pub v2: bool,
    /// v1 and v2 together, files aligned to pieces with BEP 47 pad files.
    #[arg(long, group = "meta_version")]
    pub hybrid: bool,
    /// Piece size in bytes, a power of two ≥ 16 KiB (suffixes K, M: 256K,
    /// 4M) [default: about 1500 pieces; less padding when aligned].
    #[arg(long, value_name = "N", value_parser = parse_size)]
    pub piece_size: Option<u64>,
    /// Tracker URL; repeat for more tiers, separate with commas for more
    /// trackers in one tier (as mktorrent's -a).
    #[arg(long = "tracker", short = 'a', value_name = "URL")]
    pub trackers: Vec<String>,
    /// Web seed URL (BEP 19); repeat or separate with commas.
    #[arg(long = "webseed", short = 'w', value_name = "URL")]
    pub webseeds: Vec<String>,
    /// Align files to pieces with pad files in a v1 torrent (BEP 47).
    #[arg(long)]
    pub align: bool,
    /// Set the private flag.
    #[arg(long)]
    pub private: bool,
    #[arg(long)]
    pub comment: Option<String>,
    /// A source string inside the info dictionary (changes the info-hash).
    #[arg(long)]
    pub source: Option<String>,
    /// Record the creation date (makes the file depend on the clock).
    #[arg(long)]
    pub date: bool,
    /// Hashing threads [default: one per core].
    #[arg(long, short)]
    pub jobs: Option<usize>,
}

pub use musicark_store::units::parse_budget;

/// Parse "262144", "256K", "256KiB", "4M", "1G".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().map_err(|_| format!("not a size: {s}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {s}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s}"))
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
    /// The rights of these files when their own tags name no licence: an
    /// SPDX id (CC-BY-SA-4.0, CC0-1.0, GPL-2.0-or-later…) or a
    /// RightsStatements.org statement (InC, NoC-US…). A file's own
    /// unambiguous LICENSE tag still wins.
    #[arg(long, value_name = "ID")]
    pub rights: Option<String>,
    /// Walk here, and hand each new or changed file's hashing, analysis
    /// and storing to `musicark worker` processes (on this machine or
    /// others that reach the same paths) through the work queue in the
    /// archive's PostgreSQL database; then wait for them.
    #[arg(long)]
    pub queue: bool,
    /// With --queue: return once the files are queued.
    #[arg(long, requires = "queue")]
    pub detach: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SeedFormat {
    /// The plan as JSON (also with --json).
    Json,
    /// One magnet link per line.
    Magnet,
    /// The .torrent files, copied into --out.
    Torrents,
}

#[derive(Debug, Subcommand)]
pub enum HealthCommand {
    /// Ask trackers how many peers seed and download each active torrent
    /// (HTTP scrape, BEP 48; UDP, BEP 15; both hashes of hybrids), keep
    /// the answers, and show red (< 4 seeders), amber (4–10) and green
    /// (> 10) torrents and the share of the data in at least 4 copies.
    ///
    /// Default: each torrent's own trackers plus `[publish].trackers`;
    /// --tracker replaces them. A tracker that is down, slow or talks
    /// nonsense is reported with its reason; the others go on.
    Scrape {
        #[arg(long = "tracker", value_name = "URL")]
        trackers: Vec<String>,
        /// First timeout of each exchange, doubled on each of 3 tries (UDP).
        #[arg(long, default_value_t = 3000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// The latest known health of every active torrent.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// Write the list: JSON (Anna's Archive's torrents.json field names
    /// plus musicark's), CSV, and a minisign signature of each.
    ///
    /// With --out FILE: FILE, FILE.minisig, FILE.pub (the archive's public
    /// key), the CSV beside FILE, and the listed .torrent files under
    /// torrents/ beside it. `minisign -V -p FILE.pub -m FILE` verifies it.
    /// Without --out: the JSON on stdout, unsigned.
    Export {
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check a list: its signature, its schema, and that every listed
    /// torrent's hashes and sizes match its .torrent file. Exits 1 if not.
    Verify {
        /// The list: a file, or an http(s) URL (then --pubkey is needed).
        #[arg(value_name = "FILE|URL")]
        file: String,
        /// The publisher's public key, a .pub file or the base64 key
        /// (default for a local file: FILE.pub beside it, which proves
        /// only that list and signature belong together, not who made
        /// them).
        #[arg(long, value_name = "FILE|KEY")]
        pubkey: Option<String>,
        /// Give up on a server that sends nothing for this many seconds.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        http_timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Damaged, unsupported and unreadable files, with reasons.
    Damaged,
    /// Lossless files ("fake lossless") whose spectrum shows a lossy
    /// encoder's low-pass cut, with where and how sure.
    Transcodes,
    /// Groups of files that are the same music — identical bytes, or the
    /// same audio by fingerprint and duration — and the copy to keep.
    ///
    /// Ranking: clean over damaged; genuine lossless over lossy over
    /// lossless transcoded from lossy; then sample rate × bit depth
    /// (lossless) or bitrate and cut-off (lossy); then tags.
    Duplicates,
    /// How much of the catalogue and of its listens is preserved and
    /// published, bytes by tier and band, the long tail, coverage by decade
    /// and country; --html writes a page with charts.
    Coverage {
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Over every followed list and our own: the share of recordings
        /// and listens held by anyone, by this archive, only by others,
        /// and by nobody (`musicark follow sync` first).
        #[arg(long)]
        federated: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum FollowCommand {
    /// Follow a publisher's signed list (its torrents.json URL; http(s),
    /// file:// or a path), pinned to the key you got from the publisher.
    Add {
        #[arg(value_name = "URL")]
        url: String,
        /// The publisher's minisign public key: a .pub file or the base64
        /// key. A key served beside the list proves nothing, so it is
        /// never taken from there.
        #[arg(long, value_name = "FILE|KEY")]
        key: String,
        /// What to call it (default: the URL's host and folder).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// The publishers followed, with what their copies hold.
    List,
    /// Stop following a publisher; its copy is deleted.
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Trust a publisher's new key, after its list was refused for being
    /// signed by another one and you checked the new key with them.
    Rekey {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(long, value_name = "FILE|KEY")]
        key: String,
    },
    /// Fetch and verify every followed list (signature by the pinned key,
    /// no rollback, schema, every .torrent, the metadata release and the
    /// wanted list), keeping each publisher's last good copy. Exits 1 when
    /// any publisher did not sync; the others are kept.
    Sync {
        /// Only these publishers (default: all).
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Give up on a server that sends nothing for this many seconds.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        http_timeout: u64,
        /// The largest list accepted from a publisher (refused before it
        /// is read when the server says its size).
        #[arg(long, default_value = "1GiB", value_parser = parse_budget, value_name = "SIZE")]
        max_list: u64,
        /// The largest where-index (compressed) accepted from a publisher.
        #[arg(long, default_value = "8GiB", value_parser = parse_budget, value_name = "SIZE")]
        max_index: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum WantedCommand {
    /// Show the wanted list (most listened first).
    List {
        /// Only recordings whose title, artist, MBID or ISRC holds this.
        #[arg(long, value_name = "TEXT")]
        query: Option<String>,
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
    },
    /// Write the wanted list as JSON (what followers read, beside your
    /// torrents.json) and CSV, each signed with the archive's key.
    Export {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// At most this many recordings, the most listened (0: all).
        #[arg(long, default_value_t = 0, value_name = "N")]
        limit: usize,
    },
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where to: `postgres://USER@HOST/DB` or `sqlite:PATH`.
    #[arg(long, value_name = "postgres://…|sqlite:PATH")]
    pub to: String,
    /// Copy and check only; the archive keeps using its database.
    #[arg(long)]
    pub copy_only: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Keep the catalogue and all archive state in this PostgreSQL (15 or
    /// later) database instead of the embedded SQLite file: for archives
    /// that outgrow one machine. The database must exist; the schema is
    /// made in it. Blobs, packs and the search index stay in the archive
    /// directory.
    #[arg(long, value_name = "postgres://USER@HOST/DB")]
    pub database: Option<String>,
    /// Keep blobs in this S3-compatible bucket (Garage, Ceph RGW, AWS…)
    /// instead of `blobs/` in the archive directory. Credentials come
    /// from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the bucket must
    /// exist and is checked reachable before anything is written.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub blobs: Option<String>,
    /// The object store's address, for a self-hosted one (written to
    /// `[s3] endpoint`; default: AWS_ENDPOINT_URL, else AWS).
    #[arg(long, value_name = "URL", requires = "blobs")]
    pub s3_endpoint: Option<String>,
    /// The object store's region (written to `[s3] region`; Garage's
    /// default is `garage`; default: AWS_REGION, else us-east-1).
    #[arg(long, value_name = "NAME", requires = "blobs")]
    pub s3_region: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Build the demo archive on this PostgreSQL database (see `init
    /// --database`) instead of the embedded SQLite file.
    #[arg(long, value_name = "postgres://USER@HOST/DB")]
    pub database: Option<String>,
    /// Where to build the demo archive (with its sample collection inside).
    #[arg(long, default_value = "musicark-demo", value_name = "DIR")]
    pub dir: PathBuf,
    /// Do not serve the demo archive's web UI at the end.
    #[arg(long)]
    pub no_serve: bool,
    /// Where the web UI listens (another free port when this one is taken).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub bind: std::net::SocketAddr,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(super::parse_size("262144"), Ok(262144));
        assert_eq!(super::parse_budget("300TB"), Ok(300_000_000_000_000));
        assert_eq!(super::parse_budget("2TiB"), Ok(2 << 40));
        assert_eq!(super::parse_budget("1.5 GB"), Ok(1_500_000_000));
        assert!(super::parse_budget("12 parsecs").is_err());
        assert!(super::parse_budget("0").is_err());
        assert_eq!(super::parse_size("256K"), Ok(262144));
        assert_eq!(super::parse_size("4MiB"), Ok(4 << 20));
        assert!(super::parse_size("4X").is_err());
        assert!(super::parse_size("").is_err());
    }
}
