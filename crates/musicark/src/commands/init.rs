//! `musicark init`

use anyhow::Context;
use musicark_store::{Home, InitOptions, S3Config, SCHEMA_VERSION};
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
    /// Where blobs live: the archive's `blobs/` or `s3://bucket/prefix`.
    blobs: String,
}

pub fn run(g: &Global, args: &InitArgs) -> anyhow::Result<()> {
    let options = InitOptions {
        database: args.database.clone(),
        blobs: args.blobs.clone(),
        s3: (args.s3_endpoint.is_some() || args.s3_region.is_some()).then(|| S3Config {
            endpoint: args.s3_endpoint.clone(),
            region: args.s3_region.clone(),
        }),
    };
    let home = Home::init_options(&g.archive, &options)
        .with_context(|| format!("cannot create an archive at {}", g.archive.display()))?;
    let created = Created {
        archive: home.root().display().to_string(),
        name: home.config.archive.name.clone(),
        engine: home.db()?.engine_name(),
        database: home.database().display(),
        schema_version: SCHEMA_VERSION,
        blobs: home.blobs()?.location(),
    };
    if g.json {
        print_json(&created)
    } else {
        println!(
            "Created archive \"{}\" at {} (catalogue: {} {}; blobs: {})",
            created.name, created.archive, created.engine, created.database, created.blobs
        );
        println!(
            "Next: musicark --archive {} ingest PATH...",
            created.archive
        );
        Ok(())
    }
}
