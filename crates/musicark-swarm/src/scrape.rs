//! Tracker scrapes: how many peers a tracker knows for each info-hash.
//!
//! HTTP(S) trackers: BEP 48 — the announce URL's last path segment
//! `announce` becomes `scrape`, info-hashes go as repeated `info_hash`
//! parameters (at most [`HTTP_BATCH`] per request, opentracker's limit),
//! the answer is a bencoded `files` dictionary.
//! UDP trackers: BEP 15 — a connect exchange gives a connection id (valid
//! for a minute), then scrape requests of at most [`UDP_BATCH`] hashes;
//! every exchange is retried with a doubling timeout, and an answer must
//! carry the transaction id it was asked with.
//!
//! The parsers are pure functions over bytes (fuzzable, tested on hostile
//! input); the I/O around them is small and bounded (timeouts, response
//! size limits).

use std::net::{ToSocketAddrs, UdpSocket};
use std::time::Duration;

use serde::Serialize;

/// Most info-hashes per HTTP scrape (opentracker answers at most 64).
pub const HTTP_BATCH: usize = 64;
/// Most info-hashes per UDP scrape: 74 fill one 900-byte answer, what
/// opentracker sends at most.
pub const UDP_BATCH: usize = 74;
/// Largest HTTP answer read (64 hashes need under 8 KiB).
const MAX_HTTP_BODY: u64 = 1 << 20;
const UDP_PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// What a tracker says of one info-hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Peers with the whole torrent (`complete`).
    pub seeders: u64,
    /// Peers still downloading (`incomplete`).
    pub leechers: u64,
    /// Completed downloads ever (`downloaded`).
    pub completed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    #[error("{0}: not a tracker URL this client speaks (http, https or udp)")]
    Unsupported(String),
    #[error("{0}: the announce URL does not end in `announce`, so it has no scrape URL (BEP 48)")]
    NoScrape(String),
    #[error("cannot reach the tracker: {0}")]
    Network(String),
    #[error("no answer after {tries} tries (last timeout {timeout_ms} ms)")]
    Timeout { tries: u32, timeout_ms: u64 },
    #[error("the tracker refused: {0}")]
    Failure(String),
    #[error("not a scrape answer: {0}")]
    Garbage(String),
}

/// Timeouts and retries of one scrape.
#[derive(Debug, Clone, Copy)]
pub struct ScrapeOptions {
    /// First timeout of a UDP exchange (doubled on each retry), and the
    /// whole-request timeout of an HTTP scrape.
    pub timeout: Duration,
    /// UDP tries per exchange.
    pub tries: u32,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        ScrapeOptions {
            timeout: Duration::from_secs(3),
            tries: 3,
        }
    }
}

/// The BEP 48 scrape URL of an HTTP announce URL.
pub fn scrape_url(announce: &str) -> Result<String, ScrapeError> {
    let (base, query) = match announce.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (announce, None),
    };
    let slash = base
        .rfind('/')
        .ok_or_else(|| ScrapeError::NoScrape(announce.into()))?;
    let last = &base[slash + 1..];
    let Some(rest) = last.strip_prefix("announce") else {
        return Err(ScrapeError::NoScrape(announce.into()));
    };
    let mut url = format!("{}/scrape{rest}", &base[..slash]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

/// Parse an HTTP scrape answer: the counts of each asked hash the tracker
/// knows (a hash it does not know is simply absent).
pub fn parse_http_scrape(body: &[u8]) -> Result<Vec<([u8; 20], Counts)>, ScrapeError> {
    let value = musicark_bencode::decode(body).map_err(|e| ScrapeError::Garbage(e.to_string()))?;
    let musicark_bencode::Value::Dict(d) = value else {
        return Err(ScrapeError::Garbage("not a dictionary".into()));
    };
    if let Some(reason) = d.get("failure reason") {
        let text = reason
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| "(no reason given)".into());
        return Err(ScrapeError::Failure(text));
    }
    let Some(musicark_bencode::Value::Dict(files)) = d.get("files") else {
        return Err(ScrapeError::Garbage("no `files` dictionary".into()));
    };
    let mut out = Vec::with_capacity(files.entries.len());
    for (key, v) in &files.entries {
        let Ok(hash) = <[u8; 20]>::try_from(*key) else {
            return Err(ScrapeError::Garbage(format!(
                "a key of {} bytes, not an info-hash",
                key.len()
            )));
        };
        let musicark_bencode::Value::Dict(c) = v else {
            return Err(ScrapeError::Garbage("an entry is not a dictionary".into()));
        };
        let count = |k: &str| {
            c.get(k)
                .and_then(musicark_bencode::Value::as_int)
                .map(|n| n.max(0) as u64)
        };
        out.push((
            hash,
            Counts {
                seeders: count("complete")
                    .ok_or_else(|| ScrapeError::Garbage("no `complete`".into()))?,
                leechers: count("incomplete")
                    .ok_or_else(|| ScrapeError::Garbage("no `incomplete`".into()))?,
                completed: count("downloaded").unwrap_or(0),
            },
        ));
    }
    Ok(out)
}

/// Scrape an HTTP(S) tracker, [`HTTP_BATCH`] hashes per request.
pub fn scrape_http(
    announce: &str,
    hashes: &[[u8; 20]],
    options: &ScrapeOptions,
) -> Result<Vec<([u8; 20], Counts)>, ScrapeError> {
    use std::io::Read;
    let url = scrape_url(announce)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(options.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut out = Vec::with_capacity(hashes.len());
    for batch in hashes.chunks(HTTP_BATCH) {
        let sep = if url.contains('?') { '&' } else { '?' };
        let params: Vec<String> = batch
            .iter()
            .map(|h| format!("info_hash={}", musicark_torrent::url_encode(h)))
            .collect();
        let full = format!("{url}{sep}{}", params.join("&"));
        let mut response = agent.get(&full).call().map_err(|e| match e {
            ureq::Error::Timeout(_) => ScrapeError::Timeout {
                tries: 1,
                timeout_ms: options.timeout.as_millis() as u64,
            },
            other => ScrapeError::Network(other.to_string()),
        })?;
        let status = response.status();
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_HTTP_BODY)
            .read_to_end(&mut body)
            .map_err(|e| ScrapeError::Network(e.to_string()))?;
        if !status.is_success() {
            return Err(ScrapeError::Failure(format!("HTTP {status}")));
        }
        out.extend(parse_http_scrape(&body)?);
    }
    Ok(out)
}

/// Parse a UDP connect answer for `transaction`: the connection id.
pub fn parse_udp_connect(answer: &[u8], transaction: u32) -> Result<u64, ScrapeError> {
    check_udp_header(answer, 0, transaction)?;
    answer
        .get(8..16)
        .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
        .ok_or_else(|| ScrapeError::Garbage(format!("a connect answer of {} bytes", answer.len())))
}

/// Parse a UDP scrape answer for `transaction` and the `asked` hashes (the
/// counts come in the order asked).
pub fn parse_udp_scrape(
    answer: &[u8],
    transaction: u32,
    asked: &[[u8; 20]],
) -> Result<Vec<([u8; 20], Counts)>, ScrapeError> {
    check_udp_header(answer, 2, transaction)?;
    let body = &answer[8..];
    if body.len() < asked.len() * 12 {
        return Err(ScrapeError::Garbage(format!(
            "{} bytes of counts for {} hashes",
            body.len(),
            asked.len()
        )));
    }
    Ok(asked
        .iter()
        .zip(body.chunks_exact(12))
        .map(|(h, c)| {
            let n = |i: usize| u64::from(u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]));
            (
                *h,
                Counts {
                    seeders: n(0),
                    completed: n(4),
                    leechers: n(8),
                },
            )
        })
        .collect())
}

fn check_udp_header(answer: &[u8], action: u32, transaction: u32) -> Result<(), ScrapeError> {
    if answer.len() < 8 {
        return Err(ScrapeError::Garbage(format!(
            "an answer of {} bytes",
            answer.len()
        )));
    }
    let got_action = u32::from_be_bytes([answer[0], answer[1], answer[2], answer[3]]);
    let got_tx = u32::from_be_bytes([answer[4], answer[5], answer[6], answer[7]]);
    if got_tx != transaction {
        return Err(ScrapeError::Garbage("an answer to another request".into()));
    }
    if got_action == 3 {
        return Err(ScrapeError::Failure(
            String::from_utf8_lossy(&answer[8..]).into_owned(),
        ));
    }
    if got_action != action {
        return Err(ScrapeError::Garbage(format!(
            "action {got_action}, expected {action}"
        )));
    }
    Ok(())
}

/// A transaction id that differs between requests (no randomness crate:
/// the clock's nanoseconds, mixed).
fn transaction_id(salt: u64) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id());
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

/// Send `request` and wait for an answer `parse` accepts, retrying with a
/// doubling timeout. Answers it rejects as another request's are skipped.
fn exchange<T>(
    socket: &UdpSocket,
    request: &[u8],
    options: &ScrapeOptions,
    parse: impl Fn(&[u8]) -> Result<T, ScrapeError>,
) -> Result<T, ScrapeError> {
    let mut timeout = options.timeout;
    let mut buf = [0u8; 2048];
    for _ in 0..options.tries.max(1) {
        socket
            .send(request)
            .map_err(|e| ScrapeError::Network(e.to_string()))?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            socket
                .set_read_timeout(Some(left))
                .map_err(|e| ScrapeError::Network(e.to_string()))?;
            match socket.recv(&mut buf) {
                Ok(n) => match parse(&buf[..n]) {
                    Err(ScrapeError::Garbage(why)) if why == "an answer to another request" => {
                        continue;
                    }
                    other => return other,
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) => return Err(ScrapeError::Network(e.to_string())),
            }
        }
        timeout *= 2;
    }
    Err(ScrapeError::Timeout {
        tries: options.tries.max(1),
        timeout_ms: (timeout / 2).as_millis() as u64,
    })
}

/// Scrape a UDP tracker (`udp://host:port[/...]`), [`UDP_BATCH`] hashes
/// per request.
pub fn scrape_udp(
    url: &str,
    hashes: &[[u8; 20]],
    options: &ScrapeOptions,
) -> Result<Vec<([u8; 20], Counts)>, ScrapeError> {
    let rest = url
        .strip_prefix("udp://")
        .ok_or_else(|| ScrapeError::Unsupported(url.into()))?;
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| ScrapeError::Network(format!("{authority}: {e}")))?
        .next()
        .ok_or_else(|| ScrapeError::Network(format!("{authority}: no address")))?;
    let local = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(local).map_err(|e| ScrapeError::Network(e.to_string()))?;
    socket
        .connect(addr)
        .map_err(|e| ScrapeError::Network(e.to_string()))?;
    let mut out = Vec::with_capacity(hashes.len());
    let mut connection: Option<(u64, std::time::Instant)> = None;
    for (n, batch) in hashes.chunks(UDP_BATCH).enumerate() {
        // A connection id lasts a minute (BEP 15); renew before then.
        let id = match connection {
            Some((id, at)) if at.elapsed() < Duration::from_secs(50) => id,
            _ => {
                let tx = transaction_id(n as u64);
                let mut req = Vec::with_capacity(16);
                req.extend_from_slice(&UDP_PROTOCOL_ID.to_be_bytes());
                req.extend_from_slice(&0u32.to_be_bytes());
                req.extend_from_slice(&tx.to_be_bytes());
                let id = exchange(&socket, &req, options, |a| parse_udp_connect(a, tx))?;
                connection = Some((id, std::time::Instant::now()));
                id
            }
        };
        let tx = transaction_id(n as u64 + 1_000_003);
        let mut req = Vec::with_capacity(16 + 20 * batch.len());
        req.extend_from_slice(&id.to_be_bytes());
        req.extend_from_slice(&2u32.to_be_bytes());
        req.extend_from_slice(&tx.to_be_bytes());
        for h in batch {
            req.extend_from_slice(h);
        }
        out.extend(exchange(&socket, &req, options, |a| {
            parse_udp_scrape(a, tx, batch)
        })?);
    }
    Ok(out)
}

/// Scrape any tracker this client speaks.
pub fn scrape(
    tracker: &str,
    hashes: &[[u8; 20]],
    options: &ScrapeOptions,
) -> Result<Vec<([u8; 20], Counts)>, ScrapeError> {
    if tracker.starts_with("udp://") {
        scrape_udp(tracker, hashes, options)
    } else if tracker.starts_with("http://") || tracker.starts_with("https://") {
        scrape_http(tracker, hashes, options)
    } else {
        Err(ScrapeError::Unsupported(tracker.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_urls_follow_bep_48() {
        let cases = [
            ("http://t.example/announce", Ok("http://t.example/scrape")),
            (
                "http://t.example/x/announce",
                Ok("http://t.example/x/scrape"),
            ),
            (
                "http://t.example/announce.php",
                Ok("http://t.example/scrape.php"),
            ),
            (
                "http://t.example/announce?passkey=1",
                Ok("http://t.example/scrape?passkey=1"),
            ),
            ("http://t.example/a", Err(())),
            ("http://t.example/announce/x", Err(())),
        ];
        for (input, want) in cases {
            let got = scrape_url(input).map_err(|_| ());
            assert_eq!(got.as_deref().map_err(|_| ()), want, "{input}");
        }
    }

    #[test]
    fn http_answers_parse_and_hostile_ones_are_refused() {
        let good =
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei5e10:downloadedi7e10:incompletei2eeee";
        assert_eq!(
            parse_http_scrape(good),
            Ok(vec![(
                *b"aaaaaaaaaaaaaaaaaaaa",
                Counts {
                    seeders: 5,
                    leechers: 2,
                    completed: 7
                }
            )])
        );
        assert_eq!(parse_http_scrape(b"d5:filesdee"), Ok(vec![]));
        assert!(matches!(
            parse_http_scrape(b"d14:failure reason6:deniede"),
            Err(ScrapeError::Failure(r)) if r == "denied"
        ));
        for bad in [
            &b""[..],
            b"<html>",
            b"i5e",
            b"d5:filesi1ee",
            b"d5:filesd3:abcd8:completei1eeee",
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaai1eee",
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad10:incompletei1eeee",
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei1e",
        ] {
            assert!(
                matches!(parse_http_scrape(bad), Err(ScrapeError::Garbage(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn udp_answers_parse_and_hostile_ones_are_refused() {
        let mut connect = vec![0, 0, 0, 0, 0, 0, 0, 9];
        connect.extend_from_slice(&77u64.to_be_bytes());
        assert_eq!(parse_udp_connect(&connect, 9), Ok(77));
        assert!(
            parse_udp_connect(&connect, 8).is_err(),
            "another transaction"
        );
        assert!(parse_udp_connect(&connect[..12], 9).is_err(), "short");
        let hashes = [[1u8; 20], [2u8; 20]];
        let mut scrape = vec![0, 0, 0, 2, 0, 0, 0, 5];
        for v in [3u32, 10, 1, 0, 0, 0] {
            scrape.extend_from_slice(&v.to_be_bytes());
        }
        let got = parse_udp_scrape(&scrape, 5, &hashes).expect("parses");
        assert_eq!(
            got[0].1,
            Counts {
                seeders: 3,
                completed: 10,
                leechers: 1
            }
        );
        assert_eq!(got[1].1.seeders, 0);
        assert!(
            parse_udp_scrape(&scrape[..20], 5, &hashes).is_err(),
            "counts cut short"
        );
        let mut error = vec![0, 0, 0, 3, 0, 0, 0, 5];
        error.extend_from_slice(b"not whitelisted");
        assert!(matches!(
            parse_udp_scrape(&error, 5, &hashes),
            Err(ScrapeError::Failure(m)) if m == "not whitelisted"
        ));
        assert!(parse_udp_scrape(&[0, 0, 0, 2], 5, &hashes).is_err());
    }

    #[test]
    fn a_silent_udp_tracker_times_out_with_retries() {
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let url = format!("udp://{}", silent.local_addr().expect("addr"));
        let options = ScrapeOptions {
            timeout: Duration::from_millis(50),
            tries: 3,
        };
        let started = std::time::Instant::now();
        let got = scrape(&url, &[[0u8; 20]], &options);
        assert!(
            matches!(got, Err(ScrapeError::Timeout { tries: 3, .. })),
            "{got:?}"
        );
        // 50 + 100 + 200 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(340),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_tracker_that_is_down_or_talks_nonsense_gives_a_clear_error() {
        // Nothing listening.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let options = ScrapeOptions {
            timeout: Duration::from_millis(500),
            tries: 1,
        };
        let down = scrape(
            &format!("http://127.0.0.1:{port}/announce"),
            &[[0u8; 20]],
            &options,
        );
        assert!(matches!(down, Err(ScrapeError::Network(_))), "{down:?}");
        // A server answering HTML.
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = server.local_addr().expect("addr");
        let handle = std::thread::spawn(move || {
            use std::io::{Read, Write};
            if let Ok((mut s, _)) = server.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n<html>",
                );
            }
        });
        let garbage = scrape(&format!("http://{addr}/announce"), &[[0u8; 20]], &options);
        assert!(
            matches!(garbage, Err(ScrapeError::Garbage(_))),
            "{garbage:?}"
        );
        handle.join().expect("server");
        assert!(matches!(
            scrape("wss://x/announce", &[], &options),
            Err(ScrapeError::Unsupported(_))
        ));
    }
}
