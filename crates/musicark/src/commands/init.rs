//! `musicark init`

use anyhow::Context;
use musicark_store::{Home, SCHEMA_VERSION};
use serde::Serialize;

use crate::cli::{Global, InitArgs};
use crate::output::print_json;

#[derive(Serialize)]
struct Created {
    archive: String,
    name: String,
    /// `sqlite` or `postgres`.
    engine: &'static str,
    /// The SQLite file, or the PostgreSQL URL without its password.
    database: String,
    schema_version: i64,
}

pub fn run(g: &Global, args: &InitArgs) -> anyhow::Result<()> {
    let home = Home::init_with(&g.archive, args.database.as_deref())
        .with_context(|| format!("cannot create an archive at {}", g.archive.display()))?;
    let created = Created {
        archive: home.root().display().to_string(),
        name: home.config.archive.name.clone(),
        engine: home.db()?.engine_name(),
        database: home.database().display(),
        schema_version: SCHEMA_VERSION,
    };
    if g.json {
        print_json(&created)
    } else {
        println!(
            "Created archive \"{}\" at {} (catalogue: {} {})",
            created.name, created.archive, created.engine, created.database
        );
        println!(
            "Next: musicark --archive {} ingest PATH...",
            created.archive
        );
        Ok(())
    }
}
