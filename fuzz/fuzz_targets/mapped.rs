//! Fuzz the mapped importer (any CSV or JSON Lines through a TOML
//! mapping) on arbitrary input: never panic; every line either lands or
//! is a reject with its reason; the catalogue stays consistent.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use musicark_catalog::{Catalog, Mapping, NoProgress, import_mapped};

struct State {
    dir: std::path::PathBuf,
    cat: Catalog,
    csv: Mapping,
    jsonl: Mapping,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("musicark-fuzz-mapped-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = musicark_store::Home::init(&dir.join("archive")).expect("archive");
        let cat = Catalog::open(&home).expect("catalog");
        let columns = r#"
[columns]
id = "id"
title = "title"
artist = "artist"
isrc = "isrc"
mbid = "mbid"
length_ms = "ms"
release = "album"
barcode = "upc"
date = "year"
license = "license"
listen_count = "plays"
disc = "disc"
track = "track"
"#;
        let load = |format: &str| {
            let p = dir.join(format!("{format}.toml"));
            std::fs::write(&p, format!("source = \"fuzz\"\nformat = \"{format}\"\n{columns}"))
                .expect("mapping");
            Mapping::load(&p).expect("a valid mapping")
        };
        let (csv, jsonl) = (load("csv"), load("jsonl"));
        Mutex::new(State { dir, cat, csv, jsonl })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let mut s = state().lock().unwrap_or_else(|e| e.into_inner());
    let State { dir, cat, csv, jsonl } = &mut *s;
    let (path, mapping) = if pick % 2 == 0 {
        (dir.join("input.csv"), &*csv)
    } else {
        (dir.join("input.jsonl"), &*jsonl)
    };
    std::fs::write(&path, bytes).expect("input");
    let _ = import_mapped(cat, &path, mapping, &NoProgress);
});
