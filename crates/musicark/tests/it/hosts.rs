//! Several machines on one archive: three worker hosts, each in its own
//! network namespace (made here with `ip netns` and veth pairs on a
//! bridge), reach the archive's PostgreSQL server and object store only
//! over their links. They ingest, preserve and pack the real corpus for
//! the archive host (`ingest|preserve|pack --queue`), and the signed list
//! that host exports equals, byte for byte, the list of one machine that
//! did it all alone on SQLite and a disk.
//!
//! The servers stay on loopback: the host relays the bridge's address to
//! them (a TCP relay of whole connections, nothing in between understood
//! or changed), so a worker's only way to the database and the bucket is
//! its veth link.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::publish::run_json;
use crate::support::{bin, catalogue_rows, corpus, files_with_any, json, skip_or_fail};

/// Worker hosts on one bridge, removed when dropped.
struct Hosts {
    bridge: String,
    namespaces: Vec<String>,
    /// The archive host's address on the bridge.
    gateway: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Hosts {
    /// `n` hosts, 10.213.X.11… on a bridge whose host side is 10.213.X.1.
    fn make(n: usize) -> Result<Hosts, String> {
        let tag = std::process::id() % 100_000;
        let subnet = 20 + std::process::id() % 200;
        let gateway = format!("10.213.{subnet}.1");
        let mut hosts = Hosts {
            bridge: format!("mabr{tag}"),
            namespaces: Vec::new(),
            gateway: gateway.clone(),
        };
        ip(&["link", "add", &hosts.bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{gateway}/24"),
            "dev",
            &hosts.bridge,
        ])?;
        ip(&["link", "set", &hosts.bridge, "up"])?;
        for i in 1..=n {
            let ns = format!("musicark-w{tag}-{i}");
            let (outside, inside) = (format!("mah{tag}-{i}"), format!("maw{tag}-{i}"));
            ip(&["netns", "add", &ns])?;
            hosts.namespaces.push(ns.clone());
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", &inside, "netns", &ns,
            ])?;
            ip(&["link", "set", &outside, "master", &hosts.bridge])?;
            ip(&["link", "set", &outside, "up"])?;
            let addr = format!("10.213.{subnet}.{}/24", 10 + i);
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &inside])?;
            ip(&["-n", &ns, "link", "set", &inside, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(hosts)
    }

    /// `musicark` on host `i`.
    fn musicark(&self, i: usize) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.namespaces[i]])
            .arg(env!("CARGO_BIN_EXE_musicark"))
            .env_remove("MUSICARK_ARCHIVE");
        c
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // A namespace takes its end of the veth pair, and the pair, along.
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}

/// Relay connections to `listen`'s address on `to`; the bound address.
/// Its threads live as long as the test process.
fn relay(listen: &str, to: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind((listen, 0)).expect("bind the relay");
    let at = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for inbound in listener.incoming() {
            let Ok(inbound) = inbound else { return };
            let Ok(outbound) = TcpStream::connect(to) else {
                continue;
            };
            let pipe = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(
                inbound.try_clone().expect("clone"),
                outbound.try_clone().expect("clone"),
            );
            pipe(outbound, inbound);
        }
    });
    at
}

/// `HOST:PORT` of a URL (`scheme://[user@]HOST:PORT/…`).
fn authority(url: &str) -> String {
    let rest = url.split("://").nth(1).expect("scheme");
    let rest = rest.split('/').next().expect("authority");
    rest.rsplit('@').next().expect("host").to_string()
}

/// What every archive here is told: the corpus's licences published
/// (GPL tags this build does not map; files without one are GPL too).
fn policy(archive: &Path) {
    let config = archive.join("musicark.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("\nallow = [\"open\"]\n"), "{text}");
    std::fs::write(
        &config,
        text.replace(
            "\nallow = [\"open\"]\n",
            "\nallow = [\"open\", \"unmapped\"]\n",
        ),
    )
    .expect("config");
}

fn worker(hosts: &Hosts, i: usize, dir: &Path) -> Child {
    hosts
        .musicark(i)
        .arg("--archive")
        .arg(dir)
        .args(["worker", "--json", "--lease", "6s", "--name"])
        .arg(format!("host{}", i + 1))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a worker")
}

#[test]
fn three_worker_hosts_ingest_preserve_and_pack_the_corpus_into_the_list_one_machine_makes() {
    if crate::support::on_postgres() {
        // It chooses its engines itself (one machine on SQLite, the hosts
        // on PostgreSQL): the default pass runs it.
        eprintln!("SKIPPED in the PostgreSQL pass: the default pass runs it");
        return;
    }
    if !crate::support::postgres_server() {
        return;
    }
    let Some(s3) = crate::support::s3() else {
        return;
    };
    let Some(corpus) = corpus() else { return };
    let hosts = match Hosts::make(3) {
        Ok(h) => h,
        Err(why) => {
            skip_or_fail(&format!(
                "cannot make network namespaces (root and iproute2 needed): {why}"
            ));
            return;
        }
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let rights = ["--rights", "GPL-2.0-or-later"];

    // One machine alone: SQLite and its own disk.
    let alone = tmp.path().join("alone").join("archive");
    let made = bin()
        .arg("--archive")
        .arg(&alone)
        .args(["init", "--quiet"])
        .output()
        .expect("init");
    assert!(made.status.success());
    policy(&alone);
    let mut args = vec!["ingest", corpus.to_str().expect("utf-8")];
    args.extend(rights);
    json(&alone, &args);
    json(&alone, &["preserve"]);
    let packed_alone = run_json(&alone, &["pack"]);

    // The archive host: PostgreSQL and a bucket, both on loopback.
    let archive = tmp.path().join("many").join("archive");
    let database = s3.init_on_postgres(&archive, &s3.prefix("hosts"));
    policy(&archive);

    // Each worker host: a folder with a copy of musicark.toml whose
    // servers are the bridge's relays, and nothing else.
    let pg = authority(&database);
    let store = authority(&s3.endpoint);
    let resolve = |a: &str| -> SocketAddr {
        std::net::ToSocketAddrs::to_socket_addrs(a)
            .expect("resolve")
            .next()
            .expect("an address")
    };
    let pg_relay = relay(&hosts.gateway, resolve(&pg));
    let store_relay = relay(&hosts.gateway, resolve(&store));
    let config = std::fs::read_to_string(archive.join("musicark.toml")).expect("config");
    assert!(config.contains(&pg) && config.contains(&store), "{config}");
    let remote = config
        .replace(&pg, &pg_relay.to_string())
        .replace(&store, &store_relay.to_string());
    let mut workers = Vec::new();
    for i in 0..3 {
        let dir = tmp.path().join(format!("host{}", i + 1));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("musicark.toml"), &remote).expect("config");
        workers.push((dir.clone(), worker(&hosts, i, &dir)));
    }

    // The archive host walks, queues and waits; the workers do the work.
    // Host 3 dies (kill -9) in the middle: its lease runs out, the others
    // take its job over, and a new worker starts there afterwards.
    let (dir3, w3) = workers.pop().expect("host 3");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(4));
        let mut w3 = w3;
        w3.kill().expect("kill -9");
        w3.wait().expect("wait");
    });
    let mut args = vec!["ingest", "--queue", corpus.to_str().expect("utf-8")];
    args.extend(rights);
    let ingested = json(&archive, &args);
    killer.join().expect("killer");
    workers.push((dir3.clone(), worker(&hosts, 2, &dir3)));
    assert_eq!(
        ingested["processed"].as_u64(),
        Some(files_with_any(&corpus).len() as u64),
        "{ingested:#}"
    );
    assert_eq!(catalogue_rows(&alone), catalogue_rows(&archive));
    let preserved = json(&archive, &["preserve", "--queue"]);
    assert_eq!(preserved["failed"], serde_json::json!([]), "{preserved:#}");
    let packed = run_json(&archive, &["pack", "--queue"]);
    assert!(
        packed["queued"].as_u64().unwrap_or(0) >= 1,
        "the workers hashed the packs: {packed:#}"
    );
    let names = |v: &Value| -> Vec<Value> {
        v["packs"]
            .as_array()
            .expect("packs")
            .iter()
            .map(|p| p["btih"].clone())
            .collect()
    };
    assert_eq!(names(&packed_alone), names(&packed));

    // Every worker did some of it, over its link only.
    let mut done = 0;
    for (dir, mut w) in workers {
        let _ = w.kill();
        let out = w.wait_with_output().expect("worker");
        let mut err = String::new();
        let _ = out.stderr.as_slice().read_to_string(&mut err);
        assert!(!err.contains("error"), "{}: {err}", dir.display());
        let left: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| !p.ends_with("musicark.toml") && !p.ends_with("lock"))
            .filter(|p| !files_with_any(p).is_empty())
            .collect();
        assert!(left.is_empty(), "a worker kept files: {left:?}");
        done += 1;
    }
    assert_eq!(done, 3);
    let db = musicark_store::Home::open(&archive)
        .expect("home")
        .db()
        .expect("db");
    let mut by_worker: Vec<(String, String, i64)> = Vec::new();
    db.scan(
        "SELECT kind, worker, count(*) FROM jobs WHERE state = 'done' GROUP BY kind, worker ORDER BY 1, 2",
        [],
        |r| {
            by_worker.push((r.get(0)?, r.get(1)?, r.get(2)?));
            Ok(())
        },
    )
    .expect("jobs");
    let workers_seen: std::collections::BTreeSet<&str> =
        by_worker.iter().map(|(_, w, _)| w.as_str()).collect();
    assert_eq!(
        workers_seen.into_iter().collect::<Vec<_>>(),
        ["host1", "host2", "host3"],
        "{by_worker:?}"
    );
    let unfinished: i64 = db
        .query_row("SELECT count(*) FROM jobs WHERE state <> 'done'", [], |r| {
            r.get(0)
        })
        .expect("jobs");
    assert_eq!(unfinished, 0, "every job done, the killed worker's too");
    let taken_over: i64 = db
        .query_row("SELECT count(*) FROM jobs WHERE attempts > 1", [], |r| {
            r.get(0)
        })
        .expect("jobs");
    eprintln!("jobs taken over from the killed worker: {taken_over}");
    for kind in ["ingest", "preserve", "pack"] {
        assert!(
            by_worker.iter().any(|(k, _, _)| k == kind),
            "no {kind} job was done by a worker: {by_worker:?}"
        );
    }

    // The list, torrents and manifests: byte for byte one machine's.
    crate::publish::assert_same_published(&alone, &archive);
}
