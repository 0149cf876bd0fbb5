//! Fuzz the MusicBrainz importer's line parser (web-service v2 JSON, one
//! entity per line; every field nullable) on arbitrary lines of each
//! entity: never panic; a bad line is a reject, and the import goes on.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use musicark_catalog::{Catalog, NoProgress, import_musicbrainz};

struct State {
    dir: std::path::PathBuf,
    cat: Catalog,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("musicark-fuzz-mb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = musicark_store::Home::init(&dir.join("archive")).expect("archive");
        let cat = Catalog::open(&home).expect("catalog");
        Mutex::new(State { dir, cat })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let entity = ["artist", "recording", "release"][pick as usize % 3];
    let mut s = state().lock().unwrap_or_else(|e| e.into_inner());
    let State { dir, cat } = &mut *s;
    let path = dir.join(format!("{entity}.jsonl"));
    std::fs::write(&path, bytes).expect("input");
    let _ = import_musicbrainz(cat, &path, &NoProgress);
});
