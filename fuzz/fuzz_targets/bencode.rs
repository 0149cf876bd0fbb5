//! Fuzz the bencode decoder: never panic, and whatever decodes re-encodes
//! to bytes that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use musicark_bencode::{Out, decode};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = decode(data) {
        let again = Out::from(&v).encode();
        let v2 = decode(&again).expect("canonical output decodes");
        assert_eq!(Out::from(&v2).encode(), again, "encoding is stable");
    }
});
