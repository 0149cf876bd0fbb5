//! BEP 19 web seeds: packs name `[publish] webseeds`, `musicark serve`
//! answers their files under `/packs/NAME/PATH` with `Range`, and a pack
//! downloads bit for bit from the web seed alone — no tracker, no peer —
//! with aria2c, with libtorrent and with `musicark mirror` (librqbit, which
//! has no BEP 19: the mirror fetches from web seeds itself). A pack
//! withdrawn by a takedown is no longer served.

use std::io::{Read, Write};
use std::path::Path;

use serde_json::Value;

use crate::support::{aria2c, files_with_any, lt_helper, ok, peer, serve};

/// GET `path` from `host_port` with extra `headers`: status line, headers
/// and body.
fn http_get(host_port: &str, path: &str, headers: &str) -> (String, String, Vec<u8>) {
    let mut c = std::net::TcpStream::connect(host_port).expect("connect");
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {host_port}\r\n{headers}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut all = Vec::new();
    c.read_to_end(&mut all).expect("read");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let status = head.lines().next().unwrap_or("").to_string();
    (status, head, all[split + 4..].to_vec())
}

/// Every file below `a` equals the one at the same path below `b`.
fn same_tree(a: &Path, b: &Path) {
    let files = files_with_any(a);
    assert!(!files.is_empty(), "{} is empty", a.display());
    for f in files {
        let rel = f.strip_prefix(a).expect("below");
        let other = b.join(rel);
        assert_eq!(
            std::fs::read(&f).expect("read"),
            std::fs::read(&other).unwrap_or_else(|e| panic!("{}: {e}", other.display())),
            "{}",
            rel.display()
        );
    }
    assert_eq!(files_with_any(b).len(), files_with_any(a).len());
}

#[test]
fn a_pack_downloads_from_the_web_seed_alone_with_aria2c_and_libtorrent() {
    let Some(aria2) = peer("aria2c") else { return };
    let Some((python, helper)) = lt_helper() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, _) = crate::support::preserved_sample(tmp.path(), 3, 4.0, 21);
    // The server first: its address is the web seed.
    let (_server, url) = serve(&archive, &[]);
    crate::support::publish_setting(&archive, &format!("webseeds = [\"{url}packs/\"]"));
    ok(&archive, &["pack"]);
    let list_path = tmp.path().join("pub/torrents.json");
    let export: Value = serde_json::from_slice(
        &ok(
            &archive,
            &[
                "list",
                "export",
                "--out",
                list_path.to_str().expect("utf-8"),
                "--json",
            ],
        )
        .stdout,
    )
    .expect("json");
    assert_eq!(
        export["warnings"],
        serde_json::json!([]),
        "a web seed is a way to reach the torrents"
    );
    let list: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&list_path).expect("list")).expect("json");
    let host = crate::support::host_port(&url);
    for (i, e) in list.iter().enumerate() {
        let name = e["display_name"]
            .as_str()
            .expect("name")
            .trim_end_matches(".torrent");
        let torrent = tmp.path().join("pub").join(e["url"].as_str().expect("url"));
        let packed = archive.join("packs").join(name);
        // aria2c: the .torrent names no tracker; the web seed is all.
        let dir = tmp.path().join(format!("aria2-{i}"));
        let out = aria2c(&aria2, &torrent, &dir, None);
        assert!(
            out.status.success(),
            "aria2c: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        same_tree(&packed, &dir.join(name));
        // libtorrent, the same.
        let dir = tmp.path().join(format!("lt-{i}"));
        let out = std::process::Command::new(&python)
            .arg(&helper)
            .arg("download")
            .arg(&torrent)
            .arg(&dir)
            .output()
            .expect("libtorrent");
        let r: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(r["progress"], 1.0, "{r}");
        assert_eq!(r["web_seeds"], serde_json::json!([format!("{url}packs/")]));
        same_tree(&packed, &dir.join(name));
    }
    // Ranges, as web-seed clients ask for pieces.
    let audio = list
        .iter()
        .find(|e| e["is_metadata"] == false)
        .expect("an audio pack");
    let name = audio["display_name"]
        .as_str()
        .expect("name")
        .trim_end_matches(".torrent");
    let manifest =
        std::fs::read(archive.join("packs").join(name).join("manifest.jsonl")).expect("manifest");
    let (status, head, body) = http_get(
        &host,
        &format!("/packs/{name}/manifest.jsonl"),
        "Range: bytes=10-29\r\n",
    );
    assert!(status.contains("206"), "{head}");
    assert_eq!(body, manifest[10..30]);
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-range: bytes 10-29/{}", manifest.len())),
        "{head}"
    );
    // Nothing outside a pack, nothing of a pack the archive does not know.
    for bad in [
        "/packs/../musicark.toml".to_string(),
        format!("/packs/{name}/../../musicark.toml"),
        "/packs/not-a-pack/manifest.jsonl".to_string(),
    ] {
        let (status, head, _) = http_get(&host, &bad, "");
        assert!(
            status.contains("404") || status.contains("400"),
            "{bad}: {head}"
        );
    }
    // A takedown makes the pack obsolete: no longer served.
    let victim = std::fs::read_to_string(archive.join("packs").join(name).join("manifest.jsonl"))
        .expect("manifest")
        .lines()
        .find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            v["recording_mbid"].as_str().map(str::to_string)
        })
        .expect("a recording in the pack");
    ok(&archive, &["takedown", &victim, "--reason", "test"]);
    let (status, head, _) = http_get(&host, &format!("/packs/{name}/manifest.jsonl"), "");
    assert!(status.contains("404"), "an obsolete pack is served: {head}");
}

/// `fsck --repair` restores a copy that has no other local source (an
/// Opus re-encode) from its pack's web seed — here a static server over
/// another copy of the packs — with no tracker and no peer, and checks
/// the bytes before anything is replaced.
#[test]
fn fsck_repairs_a_copy_with_no_local_source_from_the_web_seed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, _) = crate::support::preserved_sample(tmp.path(), 3, 4.0, 3);
    // Another copy of the packs, served as they lie: the web seed.
    let donor = tmp.path().join("donor");
    let web = crate::support::server(donor.clone(), "files");
    crate::support::publish_setting(&archive, &format!("webseeds = [\"{}/\"]", web.url));
    ok(&archive, &["pack"]);
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(archive.join("packs"))
        .arg(&donor)
        .status()
        .expect("cp");
    assert!(st.success());
    let opus: String = {
        let db = crate::support::db(&archive).expect("db");
        db.query_row(
            "SELECT f.output_id FROM pack_files f JOIN packs p USING (pack_id) \
                 JOIN preserved v ON v.output_id = f.output_id WHERE v.tier = 'opus' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("an opus copy in a pack")
    };
    crate::support::rot_blob(&archive, &opus);
    // No tracker, no peer: the web seed is the only other copy.
    let from = crate::support::fsck_repaired_from(&archive, &opus, &[]);
    assert!(from.contains("web seed"), "{from}");
    assert!(
        web.asked
            .lock()
            .expect("log")
            .iter()
            .any(|p| p.ends_with(".opus")),
        "the file came from the web seed"
    );
}

/// `musicark mirror` (librqbit, which speaks no BEP 19) mirrors packs that
/// nobody seeds — no tracker, no peer — from their web seed: every file
/// fetched from `serve`, checked piece by piece by the engine and by the
/// pack's manifest, then seeded. With `--no-web-seeds` the same plan
/// stalls: the web seed is what carried it.
#[test]
fn mirror_takes_a_pack_nobody_seeds_from_its_web_seed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, _) = crate::support::preserved_sample(tmp.path(), 3, 4.0, 23);
    let (_server, url) = serve(&archive, &[]);
    crate::support::publish_setting(&archive, &format!("webseeds = [\"{url}packs/\"]"));
    ok(&archive, &["pack"]);
    let list_path = tmp.path().join("pub/torrents.json");
    ok(
        &archive,
        &[
            "list",
            "export",
            "--out",
            list_path.to_str().expect("utf-8"),
        ],
    );
    let mirror = |dir: &Path, extra: &[&str]| {
        crate::support::bin()
            .args(["mirror", "--list"])
            .arg(&list_path)
            .arg("--pubkey")
            .arg(crate::support::with_suffix(&list_path, ".pub"))
            .args(["--budget", "1GB", "--dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--stall-secs", "5"])
            .args(["--seed-secs", "1", "--donor", "test", "--json"])
            .args(extra)
            .output()
            .expect("mirror")
    };
    let dir = tmp.path().join("mirror");
    let out = mirror(&dir, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let mirrored = report["mirrored"].as_array().expect("mirrored");
    let list: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&list_path).expect("list")).expect("json");
    assert_eq!(mirrored.len(), list.len(), "{report:#}");
    for m in mirrored {
        let name = m["name"].as_str().expect("name");
        assert!(m["files_verified"].as_u64().unwrap_or(0) >= 1, "{m}");
        // Every byte of the pack came from the web seed.
        assert_eq!(m["from_web_seeds"], m["data_size"], "{m}");
        same_tree(
            &archive.join("packs").join(name),
            &dir.join("data").join(name),
        );
    }
    // Without the web seed there is nobody to download from.
    let out = mirror(&tmp.path().join("alone"), &["--no-web-seeds"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not finish"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
