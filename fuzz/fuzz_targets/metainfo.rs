//! Fuzz the metainfo parser: never panic, and a parsed torrent's summary
//! (magnet, paths) is always safe to use.
#![no_main]

use libfuzzer_sys::fuzz_target;
use musicark_torrent::Metainfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Metainfo::parse(data) {
        let s = m.summary();
        assert!(s.magnet.starts_with("magnet:?"));
        for f in &m.files {
            for c in &f.path {
                assert!(!c.is_empty() && c != "." && c != ".." && !c.contains('/'), "unsafe path component {c:?}");
            }
        }
        let _ = m.total_length();
    }
});
