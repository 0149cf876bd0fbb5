//! Fuzz the tracker scrape parsers: HTTP (a bencoded dictionary) and UDP
//! (BEP 15 connect and scrape answers). Never panic; a UDP scrape never
//! yields more counts than hashes asked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use musicark_swarm::scrape::{parse_http_scrape, parse_udp_connect, parse_udp_scrape};

fuzz_target!(|data: &[u8]| {
    let _ = parse_http_scrape(data);
    let _ = parse_udp_connect(data, 0x1234_5678);
    let asked: Vec<[u8; 20]> = (0..(data.first().copied().unwrap_or(0) % 80))
        .map(|i| [i; 20])
        .collect();
    if let Ok(counts) = parse_udp_scrape(data, 0x1234_5678, &asked) {
        assert!(counts.len() <= asked.len());
    }
});
