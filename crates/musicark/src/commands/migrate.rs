//! `musicark migrate --to postgres://…|sqlite:PATH`

use anyhow::{Context, bail};
use musicark_store::migrate::{TableSum, copy_database};
use musicark_store::{Db, Home, Location};
use serde::Serialize;

use crate::cli::{Global, MigrateArgs};
use crate::output::print_json;

#[derive(Serialize)]
struct Migrated {
    from: String,
    to: String,
    tables: Vec<TableSum>,
    rows: u64,
    /// The signed list's JSON and CSV rendered from both databases are
    /// the same bytes.
    list_identical: bool,
    list_entries: usize,
    /// Whether the archive now uses the new database.
    switched: bool,
}

pub fn run(g: &Global, args: &MigrateArgs) -> anyhow::Result<()> {
    let mut home = Home::open(&g.archive)?;
    let _lock = home.lock_for_writing()?;
    let target = Location::parse(&args.to, home.root())?;
    let source = home.database();
    if target == source {
        bail!("the archive already uses {}", target.display());
    }
    // A new file, an empty database, or what a killed migrate left (the
    // schema without rows: the copy is one transaction).
    let empty = |db: musicark_store::Result<Db>| {
        db.and_then(|db| musicark_store::migrate::is_empty(&db))
            .unwrap_or(false)
    };
    let occupied = match &target {
        Location::Sqlite(p) => p.exists() && !empty(Db::open_read_only(p)),
        Location::Postgres(_) => target.holds_archive()? && !empty(Db::open_read_only_at(&target)),
    };
    if occupied {
        bail!(
            "{} already holds an archive's catalogue; give an empty database or a new file",
            target.display()
        );
    }
    let from = home.db()?;
    let mut to =
        Db::open_at(&target).with_context(|| format!("cannot open {}", target.display()))?;
    let quiet = g.json || !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let tables = copy_database(&from, &mut to, &mut |table, rows| {
        if !quiet {
            eprintln!("  {table}: {rows} rows");
        }
    })?;
    // The published list, rendered from each side: what mirrors see must
    // not change with the engine.
    let render = |db: &Db| -> anyhow::Result<(Vec<u8>, Vec<u8>, usize)> {
        let entries = musicark_publish::list::entries(&home, db)?;
        Ok((
            musicark_publish::list::to_json(&entries)?,
            musicark_publish::list::to_csv(&entries)?,
            entries.len(),
        ))
    };
    let (a, b) = (render(&from)?, render(&to)?);
    let list_identical = a == b;
    if !list_identical {
        bail!(
            "the list rendered from {} differs from the one rendered from {}; the archive still uses {}",
            target.display(),
            source.display(),
            source.display()
        );
    }
    drop((from, to));
    let switched = !args.copy_only;
    if switched {
        home.use_database(&target)?;
    }
    let report = Migrated {
        from: source.display(),
        to: target.display(),
        rows: tables.iter().map(|t| t.rows).sum(),
        tables,
        list_identical,
        list_entries: a.2,
        switched,
    };
    if g.json {
        return print_json(&report);
    }
    println!(
        "Copied {} rows in {} tables from {} to {}; every table's checksum and the list ({} entries) are equal.",
        report.rows,
        report.tables.len(),
        report.from,
        report.to,
        report.list_entries
    );
    if switched {
        println!(
            "The archive now uses {}. {} is left as it was (delete it when you no longer want it).",
            report.to, report.from
        );
    } else {
        println!("The archive still uses {} (--copy-only).", report.from);
    }
    Ok(())
}
