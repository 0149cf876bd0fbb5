//! One module per command; each takes parsed arguments and does the work
//! through the library crates.

mod catalog;
mod demo;
mod fingerprint;
mod follow;
mod fsck;
mod health;
mod ingest;
mod init;
mod matching;
mod migrate;
pub(crate) mod pack;
mod plan;
mod preserve;
mod report;
mod rights;
pub(crate) mod serve;
mod status;
mod torrent;
mod transcode;
mod worker;

use anyhow::Context;
use musicark_store::Home;

use crate::cli::{
    CatalogCommand, Cli, Command, FollowCommand, Global, HealthCommand, ListCommand, ReportCommand,
    RightsCommand, TorrentCommand, WantedCommand,
};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Init(args) => init::run(g, &args),
        Command::Migrate(args) => migrate::run(g, &args),
        Command::Ingest(args) => ingest::run(g, &args),
        Command::Status => status::run(g),
        Command::Fsck {
            repair,
            max_duration,
            max_objects,
            peers,
            swarm_timeout,
            log,
        } => fsck::run(
            g,
            musicark_fsck::FsckOptions {
                max_duration,
                max_objects,
                repair,
                peers,
                swarm_timeout: std::time::Duration::from_secs(swarm_timeout),
            },
            log,
        ),
        Command::Report(ReportCommand::Damaged) => report::damaged(g),
        Command::Report(ReportCommand::Transcodes) => report::transcodes(g),
        Command::Report(ReportCommand::Duplicates) => report::duplicates(g),
        Command::Report(ReportCommand::Coverage { html, federated }) => {
            if federated {
                follow::coverage(g, html.as_deref())
            } else {
                pack::coverage(g, html.as_deref())
            }
        }
        Command::Follow(FollowCommand::Add { url, key, name }) => {
            follow::add(g, &url, &key, name.as_deref())
        }
        Command::Follow(FollowCommand::List) => follow::list(g),
        Command::Follow(FollowCommand::Remove { name }) => follow::remove(g, &name),
        Command::Follow(FollowCommand::Rekey { name, key }) => follow::rekey(g, &name, &key),
        Command::Follow(FollowCommand::Sync {
            names,
            http_timeout,
            max_list,
            max_index,
        }) => follow::sync(g, &names, http_timeout, max_list, max_index),
        Command::Wanted(WantedCommand::List { query, limit }) => {
            follow::wanted_list(g, query.as_deref(), limit)
        }
        Command::Wanted(WantedCommand::Export { out, limit }) => {
            follow::wanted_export(g, &out, limit)
        }
        Command::Pack {
            target_size,
            max_files,
            hybrid,
            no_metadata,
            queue,
            detach,
        } => pack::pack(
            g,
            musicark_publish::pack::PackOptions {
                target_size,
                max_files,
                hybrid,
                metadata: !no_metadata,
                queue,
                detach,
                ..Default::default()
            },
        ),
        Command::List(ListCommand::Export { out }) => pack::list_export(g, out.as_deref()),
        Command::List(ListCommand::Verify {
            file,
            pubkey,
            http_timeout,
        }) => pack::list_verify(g, &file, pubkey.as_deref(), http_timeout),
        Command::Where { query, federated } => {
            if federated {
                follow::holders(g, &query)
            } else {
                pack::locate(g, &query)
            }
        }
        Command::Health(HealthCommand::Scrape {
            trackers,
            timeout_ms,
        }) => health::scrape(g, &trackers, timeout_ms),
        Command::Health(HealthCommand::Show) => health::show(g),
        Command::Mirror {
            list,
            federated,
            budget,
            dir,
            pubkey,
            trust_on_first_use,
            http_timeout,
            donor,
            download_limit,
            upload_limit,
            listen,
            stall_secs,
            seed_secs,
            replan_secs,
            scrub_every,
            utp,
            no_web_seeds,
        } => health::mirror(
            g,
            musicark_mirror::MirrorOptions {
                list: list.unwrap_or_default(),
                federated: federated.then(|| g.archive.clone()),
                pubkey,
                trust_on_first_use,
                limits: musicark_mirror::FetchLimits {
                    read: std::time::Duration::from_secs(http_timeout),
                    ..Default::default()
                },
                budget,
                dir,
                donor: donor.unwrap_or_else(health::host_name),
                download_bps: download_limit,
                upload_bps: upload_limit,
                listen,
                stall: std::time::Duration::from_secs(stall_secs),
                seed_for: seed_secs.map(std::time::Duration::from_secs),
                replan: (replan_secs > 0).then(|| std::time::Duration::from_secs(replan_secs)),
                scrub: scrub_every,
                utp,
                web_seeds: !no_web_seeds,
            },
        ),
        Command::Seedplan {
            budget,
            federated,
            format,
            donor,
            out,
        } => {
            if federated {
                follow::seedplan(g, budget, format, donor.as_deref(), &out)
            } else {
                health::seedplan(g, budget, format, donor.as_deref(), &out)
            }
        }
        Command::Demo(args) => demo::run(g, &args),
        Command::Serve { bind } => serve::run(g, bind, false),
        Command::Takedown { command, request } => {
            rights::takedown(g, command.as_ref(), request.as_ref())
        }
        Command::Embargo { command, request } => {
            rights::embargo(g, command.as_ref(), request.as_ref())
        }
        Command::Rights(RightsCommand::Report) => rights::report(g),
        Command::Rights(RightsCommand::Log) => rights::log(g),
        Command::Export {
            license,
            out,
            format,
        } => rights::export(g, &license, &out, format),
        Command::Torrent(TorrentCommand::Create(args)) => torrent::create(g, &args),
        Command::Torrent(TorrentCommand::Show { file }) => torrent::show(g, &file),
        Command::Torrent(TorrentCommand::Verify { file, dir, jobs }) => {
            torrent::verify(g, &file, &dir, jobs)
        }
        Command::Catalog(CatalogCommand::Import {
            source,
            path,
            mapping,
        }) => catalog::import(g, source, &path, mapping.as_deref()),
        Command::Catalog(CatalogCommand::Search { query, limit }) => {
            catalog::search(g, &query, limit)
        }
        Command::Catalog(CatalogCommand::Show { id }) => catalog::show(g, &id),
        Command::Catalog(CatalogCommand::Rejects { limit }) => catalog::rejects(g, limit),
        Command::Fingerprint { files, jobs } => fingerprint::run(g, &files, jobs),
        Command::Match { review } => matching::run(g, review),
        Command::Preserve {
            jobs,
            dry_run,
            queue,
            detach,
        } => {
            if queue {
                preserve::queued(g, detach)
            } else {
                preserve::run(g, jobs, dry_run)
            }
        }
        Command::Worker { once, lease, name } => worker::run(g, once, lease, name),
        Command::Plan {
            budget,
            tiers,
            lossless,
        } => plan::run(g, budget, &tiers, lossless),
        Command::Transcode {
            input,
            output,
            bitrate,
        } => transcode::run(g, &input, &output, bitrate),
    }
}

/// Open the archive named by `--archive`, with a hint when there is none.
pub(crate) fn open_home(g: &Global) -> anyhow::Result<Home> {
    Home::open(&g.archive).with_context(|| {
        format!(
            "cannot open the archive at {} (set --archive or MUSICARK_ARCHIVE)",
            g.archive.display()
        )
    })
}
