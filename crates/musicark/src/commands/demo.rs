//! `musicark demo`: the whole flow on a generated sample collection.
//!
//! The flow: generate the sample → init an archive → ingest → import open
//! data about the sample into the catalogue → status, damage report and a
//! lookup → duplicates, matching, a budget plan, preservation → packs, the
//! signed list and the coverage report.

use anyhow::{Context, bail};
use musicark_catalog::NoProgress;
use musicark_sample::{SampleSpec, generate, write_open_data};
use musicark_store::Home;

use crate::cli::{DemoArgs, Global, IngestArgs};
use crate::commands::{ingest, status};
use crate::output::print_json;
use musicark_store::units::size;

/// Marks a directory as made by `demo`, so a rerun may replace it.
const MARKER: &str = ".musicark-demo";

pub fn run(g: &Global, args: &DemoArgs) -> anyhow::Result<()> {
    let dir = &args.dir;
    if dir.exists() {
        if dir.join(MARKER).exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot replace the earlier demo at {}", dir.display()))?;
        } else if std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
        {
            bail!(
                "{} exists and was not made by `musicark demo`; choose another --dir",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "made by musicark demo; safe to delete\n")?;

    let say = |line: &str| {
        if !g.json {
            println!("{line}");
        }
    };
    let collection = dir.join("sample-collection");
    say(&format!(
        "1. Generating a sample collection in {} …",
        collection.display()
    ));
    let spec = SampleSpec::demo();
    let report = generate(&collection, &spec).context("generating the sample collection")?;
    say(&format!(
        "   {} tagged tracks (FLAC, Ogg Opus, WAV), a duplicate, {} damaged files, liner notes",
        report.audio.len(),
        report.damaged.len()
    ));

    say("2. Creating the archive …");
    let home = Home::init_with(dir, args.database.as_deref())
        .with_context(|| format!("cannot create an archive at {}", dir.display()))?;

    say("3. Ingesting: decode-validate, tags, BLAKE3 + SHA-256, blob store …");
    let ingest_args = IngestArgs {
        paths: vec![collection.clone()],
        reference: false,
        jobs: None,
        rights: None,
        queue: false,
        detach: false,
    };
    let summary = ingest::run_on(&home, g, &ingest_args)?;
    if !g.json {
        ingest::print_summary(&summary);
    }

    say("4. Importing open data about it (MusicBrainz-shaped recordings, ListenBrainz listens) …");
    let (recordings, listens) =
        write_open_data(&dir.join("open-data"), &spec).context("writing the sample's open data")?;
    let mut cat = musicark_catalog::Catalog::open(&home)?;
    let mut imports = musicark_catalog::import_musicbrainz(&mut cat, &recordings, &NoProgress)?;
    imports.push(musicark_catalog::import_listenbrainz(
        &mut cat,
        &listens,
        &NoProgress,
    )?);
    for i in &imports {
        say(&format!(
            "   {} {}: {} rows, {} rejected (see `catalog rejects`)",
            i.source, i.kind, i.rows, i.rejects
        ));
    }
    let first_isrc = spec
        .tracks
        .first()
        .map(|t| t.isrc.clone())
        .unwrap_or_default();
    let looked_up = musicark_catalog::lookup(&cat.db, &first_isrc)?;
    let db = cat.db;

    let st = home.status(&db)?;
    let damaged = db.damaged_report()?;
    drop(db);

    say("8. Identifying: duplicates, links to the catalogue, a preservation plan and copies …");
    let duplicates = musicark_identify::duplicates(&home.db_read_only()?)?;
    let mut cat = musicark_catalog::Catalog::open(&home)?;
    let matches = musicark_identify::matching::match_all(&mut cat)?;
    drop(cat);
    let work = {
        let db = home.db()?;
        musicark_preserve::plan(&home, &db, &home.config.preserve)?
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let preserved = musicark_preserve::run(&home, &work, threads, &|_, _| {})?;
    // A plan for a small budget: what the tier choice looks like when not
    // everything fits.
    let budget_plan = {
        let db = home.db_read_only()?;
        let (items, unknown) = musicark_catalog::plan::load_items(&db)?;
        let tiers = [64, 96, 128].map(musicark_catalog::plan::Tier::opus);
        musicark_catalog::plan::plan(items, &tiers, 4_000_000, unknown)
    };

    say("9. Publishing: packs with manifests, the metadata release, the signed list, coverage …");
    let mut db = home.db()?;
    let options = musicark_publish::pack::PackOptions::for_archive(&home);
    let packs = musicark_publish::pack::pack(&home, &mut db, &options, &|_, _| {})?;
    let list_path = dir.join("published").join("torrents.json");
    let list = musicark_publish::list::export(&home, &db, &list_path)?;
    let coverage = musicark_publish::coverage::coverage(&home, &db)?;
    let coverage_path = dir.join("coverage.html");
    musicark_store::atomic_write(
        &coverage_path,
        musicark_web::charts::coverage_page(&coverage).as_bytes(),
    )?;
    drop(db);
    let serve = |g: &Global| -> anyhow::Result<()> {
        if args.no_serve {
            return Ok(());
        }
        let g = Global {
            archive: dir.clone(),
            json: g.json,
            quiet: g.quiet,
        };
        crate::commands::serve::run(&g, args.bind, true)
    };
    if g.json {
        print_json(&serde_json::json!({
            "archive": home.root().display().to_string(),
            "ingest": summary,
            "status": st,
            "damaged": damaged,
            "catalog_imports": imports,
            "lookup": looked_up,
            "duplicates": duplicates,
            "matches": matches,
            "preserve": preserved,
            "plan": budget_plan,
            "pack": packs,
            "list": list,
            "coverage": coverage,
        }))?;
        return serve(g);
    }
    println!();
    println!("5. Status");
    status::print_status(&st);
    println!();
    println!("6. Damage report");
    for e in damaged.damaged.iter().chain(&damaged.errors) {
        println!("  {}: {}", e.path, e.reason.as_deref().unwrap_or("?"));
    }
    println!();
    println!("7. Catalogue lookup of ISRC {first_isrc}");
    for r in &looked_up {
        let listens: i64 = r.popularity.iter().filter_map(|p| p.listen_count).sum();
        println!(
            "  {} — {} (MBID {}, {} listens)",
            r.artist_credit.as_deref().unwrap_or(""),
            r.title,
            r.mbid.as_deref().unwrap_or("-"),
            listens
        );
    }
    println!();
    println!(
        "8. {} duplicate groups ({} redundant files); {} of {} contents linked to recordings \
         ({} by MusicBrainz id, {} by fingerprint), {} to review, {} unmatched",
        duplicates.groups.len(),
        duplicates.redundant_files,
        matches.linked,
        matches.contents,
        matches.by_mbid,
        matches.by_fingerprint,
        matches.review,
        matches.unmatched
    );
    println!(
        "   preserved {} files: {} re-encoded to Opus by popularity band, {} small lossy originals kept; {} → {}",
        preserved.sources,
        preserved.made,
        preserved.kept_original,
        size(preserved.bytes_in),
        size(preserved.bytes_out)
    );
    println!(
        "   a 4 MB budget would keep {:.0} % of listens ({:.0} % of recordings): `musicark plan --budget 4MB`",
        budget_plan.listen_share * 100.0,
        budget_plan.track_share * 100.0
    );
    println!();
    println!("9. Published");
    for p in &packs.packs {
        println!(
            "   {:<28} {:>3} files {:>10}  btih {}",
            p.name,
            p.files,
            size(p.data_size),
            p.btih
        );
    }
    println!(
        "   list of {} torrents: {} (signed: {}; minisign -V -p {} -m {})",
        list.torrents,
        list.list.display(),
        list.signature.display(),
        list.public_key.display(),
        list.list.display()
    );
    println!(
        "   coverage: {:.0} % of listens and {:.0} % of recordings preserved; report with charts: {}",
        coverage.share_listens_preserved * 100.0,
        coverage.share_recordings_preserved * 100.0,
        coverage_path.display()
    );
    println!(
        "   rights: {} preserved files publishable by their licence tags (CC BY, CC BY-SA, CC0), {} withheld: `musicark rights report`",
        coverage.rights.files_publishable, coverage.rights.files_withheld
    );
    println!();
    println!(
        "The demo archive is in {} ({} stored). Look around with:",
        dir.display(),
        size(st.stored_bytes)
    );
    println!("  musicark --archive {} status", dir.display());
    println!("  musicark --archive {} report damaged", dir.display());
    println!("  musicark --archive {} report duplicates", dir.display());
    println!("  musicark --archive {} match --review", dir.display());
    println!("  musicark --archive {} preserve --dry-run", dir.display());
    println!("  musicark --archive {} rights report", dir.display());
    println!(
        "  musicark --archive {} catalog search \"dawn chorus\"",
        dir.display()
    );
    println!(
        "  musicark --archive {} where \"dawn chorus\"",
        dir.display()
    );
    println!(
        "  musicark --archive {} list verify {}",
        dir.display(),
        list.list.display()
    );
    if !args.no_serve {
        println!();
        println!(
            "10. The web UI: search, recordings and where they are, torrents and their health,"
        );
        println!("    coverage charts and a seeding-plan form (`musicark serve` on any archive).");
    }
    serve(g)
}
