//! Fuzz the torrent list parser and `list verify` on arbitrary list
//! bytes: never panic, never read outside the list's folder, and a list
//! without a valid signature never verifies.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use musicark_publish::list::{ListEntry, torrent_path, verify};

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("musicark-fuzz-list-{}", std::process::id()));
        std::fs::create_dir_all(d.join("torrents")).expect("scratch dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = serde_json::from_slice::<Vec<ListEntry>>(data) {
        for e in &entries {
            if let Ok(p) = torrent_path(dir(), e) {
                assert!(p.starts_with(dir()), "{p:?} leaves the list's folder");
                assert!(!p.components().any(|c| matches!(c, std::path::Component::ParentDir)));
            }
        }
    }
    let list = dir().join("torrents.json");
    std::fs::write(&list, data).expect("write");
    if let Ok(report) = verify(&list, None) {
        assert!(!report.ok(), "an unsigned list never verifies");
    }
});
