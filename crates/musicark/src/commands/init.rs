//! `musicark init`

use anyhow::Context;
use musicark_store::{Home, SCHEMA_VERSION};
use serde::Serialize;

use crate::cli::Global;
use crate::output::print_json;

#[derive(Serialize)]
struct Created {
    archive: String,
    name: String,
    schema_version: i64,
}

pub fn run(g: &Global) -> anyhow::Result<()> {
    let home = Home::init(&g.archive)
        .with_context(|| format!("cannot create an archive at {}", g.archive.display()))?;
    let created = Created {
        archive: home.root().display().to_string(),
        name: home.config.archive.name.clone(),
        schema_version: SCHEMA_VERSION,
    };
    if g.json {
        print_json(&created)
    } else {
        println!(
            "Created archive \"{}\" at {}",
            created.name, created.archive
        );
        println!(
            "Next: musicark --archive {} ingest PATH...",
            created.archive
        );
        Ok(())
    }
}
