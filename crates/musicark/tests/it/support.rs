//! Shared helpers: run the binary, make collections, find peers and the
//! real-music corpus.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use musicark_sample::{SampleSpec, generate};
use serde_json::Value;

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_musicark"));
    c.env_remove("MUSICARK_ARCHIVE");
    c
}

/// What makes a new archive's database under the engine the tests run
/// on: nothing for SQLite (the default); with `MUSICARK_TEST_ENGINE=postgres`,
/// `--database URL` of a fresh database on the server
/// `MUSICARK_TEST_POSTGRES` names (its admin URL), so that the same tests
/// check both engines. Added by [`ok_env`] to `init` and `demo`.
pub fn database_args() -> Vec<String> {
    match std::env::var("MUSICARK_TEST_ENGINE").as_deref() {
        Ok("postgres") => vec!["--database".to_string(), fresh_database()],
        Ok("sqlite") | Err(_) => Vec::new(),
        Ok(other) => panic!("MUSICARK_TEST_ENGINE={other}: sqlite or postgres"),
    }
}

/// Whether a PostgreSQL server is there for the tests that need one
/// (`MUSICARK_TEST_POSTGRES`); under `MUSICARK_REQUIRE_PEERS=1` its absence
/// fails the test instead of skipping it.
pub fn postgres_server() -> bool {
    if std::env::var_os("MUSICARK_TEST_POSTGRES").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("MUSICARK_REQUIRE_PEERS").is_none(),
        "MUSICARK_REQUIRE_PEERS=1 but MUSICARK_TEST_POSTGRES names no server (.ci/run starts one)"
    );
    eprintln!("SKIPPED: MUSICARK_TEST_POSTGRES is not set");
    false
}

/// Whether the tests run archives on PostgreSQL (see [`database_args`]).
pub fn on_postgres() -> bool {
    std::env::var("MUSICARK_TEST_ENGINE").as_deref() == Ok("postgres")
}

/// A new, empty database on the test server; its URL.
pub fn fresh_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let admin = std::env::var("MUSICARK_TEST_POSTGRES").expect(
        "MUSICARK_TEST_ENGINE=postgres needs MUSICARK_TEST_POSTGRES (.ci/run starts a server)",
    );
    let name = format!(
        "musicark_t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &admin, "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "CREATE DATABASE {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The admin URL with its database replaced (and its query kept).
    let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let host_end = base
        .find("://")
        .map(|i| i + 3 + base[i + 3..].find('/').unwrap_or(base.len() - i - 3))
        .expect("a postgres:// URL");
    let mut url = format!("{}/{name}", &base[..host_end]);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// A connection to `archive`'s database, on whichever engine holds it.
pub fn db(archive: &Path) -> musicark_store::Result<musicark_store::Db> {
    musicark_store::Home::open(archive)?.db()
}

/// A read-only connection to `archive`'s database.
pub fn db_read_only(archive: &Path) -> musicark_store::Result<musicark_store::Db> {
    musicark_store::Home::open(archive)?.db_read_only()
}

/// `musicark init` of `archive` on the PostgreSQL database `database`
/// names, or on SQLite when `None` — whatever engine the suite runs on.
pub fn init_on(archive: &Path, database: Option<&str>) {
    let mut cmd = bin();
    cmd.arg("--archive").arg(archive).arg("init");
    if let Some(url) = database {
        cmd.args(["--database", url]);
    }
    let out = cmd.output().expect("init");
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `musicark demo --no-serve --json --dir DIR` with `envs` set and
/// `database` (from [`database_args`], or none for SQLite), expecting
/// success.
pub fn demo(dir: &Path, envs: &[(&str, &str)], database: Vec<String>) -> Output {
    let out = bin()
        .envs(envs.iter().copied())
        .args(["demo", "--no-serve", "--json", "--dir"])
        .arg(dir)
        .args(database)
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run `musicark --archive ARCHIVE ARGS...`, expecting success.
pub fn ok(archive: &Path, args: &[&str]) -> Output {
    ok_env(archive, args, &[])
}

/// [`ok`] with environment variables set.
pub fn ok_env(archive: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = bin();
    cmd.envs(envs.iter().copied())
        .arg("--archive")
        .arg(archive)
        .args(args);
    if matches!(args.first(), Some(&"init" | &"demo")) {
        cmd.args(database_args());
    }
    let out = cmd.output().expect("run musicark");
    assert!(
        out.status.success(),
        "musicark {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run with `--json` and parse stdout.
pub fn json(archive: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(archive, &all);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of {args:?} is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Ingest `paths` into a new archive at `archive`; returns the run summary.
pub fn init_and_ingest(archive: &Path, paths: &[&Path], extra: &[&str]) -> Value {
    ok(archive, &["init"]);
    ingest(archive, paths, extra)
}

pub fn ingest(archive: &Path, paths: &[&Path], extra: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["ingest".into()];
    args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    json(archive, &refs)
}

/// A small generated collection: `n` tracks of `seconds` each, plus a
/// duplicate, two damaged files and liner notes.
pub fn sample(dir: &Path, n: u32, seconds: f64) -> musicark_sample::SampleReport {
    generate(dir, &SampleSpec::with_tracks(n, seconds, 42)).expect("generate sample")
}

/// Peers (ffmpeg, vorbiscomment…) are installed by `.ci/run`; a plain
/// `cargo test` on a bare machine skips the tests that need them, loudly.
/// With `MUSICARK_REQUIRE_PEERS=1` (CI) a missing peer fails the test.
pub fn peer(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip_or_fail(&format!("peer `{name}` is not installed"));
    }
    found
}

/// Debian's python3 with libtorrent, and `lt_helper.py` (libtorrent as a
/// reference peer: create, info, check, seed).
pub fn lt_helper() -> Option<(PathBuf, PathBuf)> {
    let python = PathBuf::from("/usr/bin/python3");
    let ok = python.is_file()
        && Command::new(&python)
            .args(["-c", "import libtorrent"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        skip_or_fail("python3-libtorrent is not installed");
        return None;
    }
    Some((
        python,
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/lt_helper.py"),
    ))
}

/// aria2c downloads `torrent` into `dir` on loopback only (no DHT, LSD or
/// PEX), then stops; with `tracker`, from that tracker alone (the
/// torrent's own are dropped).
pub fn aria2c(bin: &Path, torrent: &Path, dir: &Path, tracker: Option<&str>) -> Output {
    let mut c = Command::new(bin);
    c.arg(format!("--dir={}", dir.display())).args([
        "--seed-time=0",
        "--enable-dht=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--console-log-level=warn",
        "--summary-interval=0",
        "--bt-stop-timeout=60",
    ]);
    if let Some(t) = tracker {
        c.arg("--bt-exclude-tracker=*")
            .arg(format!("--bt-tracker={t}"));
    }
    c.arg(torrent).output().expect("run aria2c")
}

/// A one-answer HTTP tracker on loopback: every announce gets the single
/// peer 127.0.0.1:`peer_port`. Its announce URL.
pub fn tracker_for(peer_port: u16) -> String {
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/announce", server.local_addr().expect("addr"));
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in server.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let mut body = b"d8:intervali30e5:peers6:".to_vec();
            body.extend_from_slice(&[127, 0, 0, 1]);
            body.extend_from_slice(&peer_port.to_be_bytes());
            body.push(b'e');
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    url
}

pub fn skip_or_fail(why: &str) {
    if std::env::var_os("MUSICARK_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("{why}, and MUSICARK_REQUIRE_PEERS=1");
    }
    eprintln!("SKIPPED: {why} (run .ci/run, or scripts/fetch-music-corpus.sh, to include it)");
}

/// The real-music corpus fetched by `../shared/scripts/fetch-music-corpus.sh`.
pub fn corpus() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("MUSICARK_CORPUS").map(|d| PathBuf::from(d).join("audio")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/musicark-corpus/audio")),
    ];
    let found = candidates.into_iter().flatten().find(|d| {
        std::fs::read_dir(d)
            .map(|mut e| e.next().is_some())
            .unwrap_or(false)
    });
    if found.is_none() {
        skip_or_fail("the real-music corpus is not fetched");
    }
    found
}

/// All files under `dir` with one of `exts`, sorted.
pub fn files_with(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The catalogue's rows, in a stable order without timestamps.
pub fn catalogue_rows(archive: &Path) -> Vec<String> {
    let home = musicark_store::Home::open(archive).expect("open archive");
    home.db()
        .expect("db")
        .catalogue_fingerprint_rows()
        .expect("rows")
}

/// One file's row: (status, reason, tags JSON, duration, content id).
pub type FileRow = (
    String,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<String>,
);

/// Look up one file's row by its path.
pub fn file_row(archive: &Path, path: &Path) -> Option<FileRow> {
    let home = musicark_store::Home::open(archive).expect("open archive");
    let db = home.db().expect("db");
    let abs = std::path::absolute(path).expect("absolute");
    db.query_row(
        "SELECT f.status, coalesce(f.reason, c.reason), c.tags, c.duration_seconds, f.content_id \
             FROM files f LEFT JOIN contents c USING (content_id) WHERE f.display_path = ?1",
        [abs.to_string_lossy().as_ref()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )
    .ok()
}

/// Every blob is named by the BLAKE3 of its bytes; returns how many there are.
pub fn check_blobs(archive: &Path) -> usize {
    let blobs = files_with_any(&archive.join("blobs"));
    for b in &blobs {
        let bytes = std::fs::read(b).expect("read blob");
        let name = b.file_name().and_then(|n| n.to_str()).expect("blob name");
        assert_eq!(
            blake3::hash(&bytes).to_hex().as_str(),
            name,
            "blob {} lies about its name",
            b.display()
        );
    }
    let tmp: Vec<_> = std::fs::read_dir(archive.join("tmp"))
        .expect("tmp")
        .collect();
    assert!(tmp.is_empty(), "staging files left behind: {tmp:?}");
    blobs.len()
}

pub fn files_with_any(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out
}

/// Import MusicBrainz-shaped recordings and ListenBrainz-shaped listens
/// into the catalogue of `archive`.
pub fn import_open_data(archive: &Path, recordings: &Path, listens: &Path) {
    ok(
        archive,
        &[
            "catalog",
            "import",
            "musicbrainz",
            &recordings.to_string_lossy(),
        ],
    );
    ok(
        archive,
        &[
            "catalog",
            "import",
            "listenbrainz",
            &listens.to_string_lossy(),
        ],
    );
}

/// `path` with `suffix` appended to its name (`list.json` → `list.json.pub`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A child process, killed and reaped when dropped (a server a test
/// started, whatever the test's outcome).
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `musicark serve --json` on a free port with `envs` set: the server
/// (killed when dropped) and its URL (`http://HOST:PORT/`).
pub fn serve(archive: &Path, envs: &[(&str, &str)]) -> (Killed, String) {
    use std::io::BufRead;
    let child = bin()
        .envs(envs.iter().copied())
        .arg("--archive")
        .arg(archive)
        .args(["serve", "--json", "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("serve");
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let mut text = String::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("line");
        text.push_str(&line);
        if line == "}" {
            break;
        }
    }
    let v: Value = serde_json::from_str(&text).expect("serve's JSON");
    (child, v["url"].as_str().expect("url").to_string())
}

/// `HOST:PORT` of a server's URL, to connect to.
pub fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// A static HTTP server over `root` on loopback that logs every path
/// asked; `mode` "hang" accepts and never answers, "huge" announces a
/// body of a terabyte. Its thread lives as long as the test process.
pub struct Server {
    pub url: String,
    pub asked: Arc<Mutex<Vec<String>>>,
}

pub fn server(root: PathBuf, mode: &'static str) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(100_000) {
            let Ok(mut stream) = stream else { continue };
            if mode == "hang" {
                held.push(stream);
                continue;
            }
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_string();
            log.lock().expect("log").push(path.clone());
            if mode == "huge" {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\nConnection: close\r\n\r\n",
                );
                let _ = stream.write_all(&[b'['; 4096]);
                continue;
            }
            let file = root.join(percent_decode(path.trim_start_matches('/')));
            let _ = match std::fs::read(&file) {
                Ok(body) => stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|()| stream.write_all(&body)),
                Err(_) => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    Server { url, asked }
}

/// `%XX` escapes of a URL path decoded (the test server's files have
/// spaces and brackets in their names).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A generated collection of `tracks` tracks of `seconds` each (from
/// `seed`), ingested into a new archive at `root/archive`, catalogued from
/// its open data, matched and preserved (not packed); the archive and the
/// open data.
pub fn preserved_sample(
    root: &Path,
    tracks: u32,
    seconds: f64,
    seed: u64,
) -> (PathBuf, (PathBuf, PathBuf)) {
    let spec = SampleSpec::with_tracks(tracks, seconds, seed);
    let music = root.join("music");
    generate(&music, &spec).expect("sample");
    let open = musicark_sample::write_open_data(&root.join("open"), &spec).expect("open data");
    let archive = root.join("archive");
    init_and_ingest(&archive, &[&music], &[]);
    import_open_data(&archive, &open.0, &open.1);
    ok(&archive, &["match"]);
    ok(&archive, &["preserve"]);
    (archive, open)
}

/// Add `line` (`key = value`) to the `[publish]` table of `archive`'s
/// musicark.toml.
pub fn publish_setting(archive: &Path, line: &str) {
    let config = archive.join("musicark.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("\n[publish]\n"), "{text}");
    std::fs::write(
        &config,
        text.replacen("\n[publish]\n", &format!("\n[publish]\n{line}\n"), 1),
    )
    .expect("config");
}

/// The blob of content `id` in `archive`, one byte of it flipped (bit
/// rot, which reaches the pack files linked to it too); its path.
pub fn rot_blob(archive: &Path, id: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let blob = archive
        .join("blobs")
        .join(&id[0..2])
        .join(&id[2..4])
        .join(id);
    std::fs::set_permissions(&blob, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut bytes = std::fs::read(&blob).expect("read");
    let at = bytes.len() / 3;
    bytes[at] ^= 0x08;
    std::fs::write(&blob, &bytes).expect("rot");
    blob
}

/// `fsck --repair` on `archive` with `extra` arguments, expected to end
/// well: where the copy of `id` was repaired from, once its blob hashes
/// right again.
pub fn fsck_repaired_from(archive: &Path, id: &str, extra: &[&str]) -> String {
    let out = bin()
        .arg("--archive")
        .arg(archive)
        .args(["fsck", "--repair", "--json"])
        .args(extra)
        .output()
        .expect("fsck");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        out.status.success(),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fixed = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .find(|p| p["key"] == id)
        .unwrap_or_else(|| panic!("the rotten copy was not found: {report:#}"));
    let blob = archive
        .join("blobs")
        .join(&id[0..2])
        .join(&id[2..4])
        .join(id);
    assert_eq!(
        blake3::hash(&std::fs::read(&blob).expect("blob"))
            .to_hex()
            .as_str(),
        id
    );
    fixed["repaired_from"]
        .as_str()
        .unwrap_or_else(|| panic!("not repaired: {fixed:#}"))
        .to_string()
}

/// Title, first artist and length in seconds of an audio file, from its
/// own tags (the file name's stem when it has no title).
pub fn tags_of(f: &Path) -> (String, String, f64) {
    let a = musicark_audio::analyze_file(f);
    let tags = a.tags.clone().unwrap_or_default();
    let title = tags
        .title
        .clone()
        .unwrap_or_else(|| f.file_stem().expect("stem").to_string_lossy().into_owned());
    let artist = tags.artists.first().cloned().unwrap_or_default();
    let secs = a.tech.map(|t| t.duration_seconds).unwrap_or(0.0);
    (title, artist, secs)
}

/// Start `musicark --archive ARCHIVE ARGS...`, `kill -9` it after
/// `delay`; whether it was still running when killed.
pub fn kill_9_after(archive: &Path, args: &[&str], delay: std::time::Duration) -> bool {
    let mut child = bin()
        .arg("--archive")
        .arg(archive)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn musicark");
    std::thread::sleep(delay);
    let running = child.try_wait().expect("try_wait").is_none();
    child.kill().expect("kill -9"); // SIGKILL on Unix
    child.wait().expect("wait");
    running
}

/// The S3-compatible object store the tests use (Garage, started by
/// `.ci/run` through `scripts/garage.sh`): `MUSICARK_TEST_S3` (its
/// endpoint), `MUSICARK_TEST_S3_BUCKET`, and the standard AWS credential
/// variables. `None` (the test skips, or fails under
/// `MUSICARK_REQUIRE_PEERS=1`) when they are not set.
pub fn s3() -> Option<S3> {
    let (Some(endpoint), Some(bucket)) = (
        std::env::var("MUSICARK_TEST_S3").ok(),
        std::env::var("MUSICARK_TEST_S3_BUCKET").ok(),
    ) else {
        skip_or_fail("no object store (MUSICARK_TEST_S3; scripts/garage.sh start DIR)");
        return None;
    };
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let client = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&bucket)
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_region(std::env::var("AWS_REGION").unwrap_or_else(|_| "garage".into()))
        .build()
        .expect("S3 client");
    Some(S3 {
        endpoint,
        bucket,
        client,
        rt: tokio::runtime::Runtime::new().expect("runtime"),
        stem: format!(
            "t{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
    })
}

pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    client: object_store::aws::AmazonS3,
    rt: tokio::runtime::Runtime,
    /// This test's own part of the bucket.
    stem: String,
}

impl S3 {
    /// A prefix no other test (or run) uses.
    pub fn prefix(&self, name: &str) -> String {
        format!("{}/{name}", self.stem)
    }

    /// `musicark init` of `archive` with its blobs under `prefix`.
    pub fn init(&self, archive: &Path, prefix: &str) {
        let url = format!("s3://{}/{prefix}", self.bucket);
        ok(
            archive,
            &[
                "init",
                "--blobs",
                &url,
                "--s3-endpoint",
                &self.endpoint,
                "--s3-region",
                "garage",
            ],
        );
    }

    /// `musicark init` of `archive` on a fresh PostgreSQL database with
    /// its blobs under `prefix`; the database's URL.
    pub fn init_on_postgres(&self, archive: &Path, prefix: &str) -> String {
        let database = fresh_database();
        let url = format!("s3://{}/{prefix}", self.bucket);
        // `bin` rather than `ok`: `ok` adds the PostgreSQL pass's own
        // --database.
        let made = bin()
            .arg("--archive")
            .arg(archive)
            .args(["init", "--quiet", "--database", &database, "--blobs", &url])
            .args(["--s3-endpoint", &self.endpoint, "--s3-region", "garage"])
            .output()
            .expect("init");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        database
    }

    /// Every object under `prefix/dir/`: its name (the last component)
    /// and bytes.
    pub fn objects(&self, prefix: &str, dir: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        use futures_util::TryStreamExt;
        use object_store::{ObjectStore, ObjectStoreExt};
        let under = object_store::path::Path::from(format!("{prefix}/{dir}"));
        self.rt.block_on(async {
            let metas: Vec<_> = self
                .client
                .list(Some(&under))
                .try_collect()
                .await
                .expect("list");
            let mut out = std::collections::BTreeMap::new();
            for m in metas {
                let bytes = self
                    .client
                    .get(&m.location)
                    .await
                    .expect("get")
                    .bytes()
                    .await
                    .expect("bytes");
                let name = m.location.filename().expect("name").to_string();
                out.insert(name, bytes.to_vec());
            }
            out
        })
    }

    /// The keys under `prefix/dir/`, relative to it, sorted.
    pub fn keys(&self, prefix: &str, dir: &str) -> Vec<String> {
        use futures_util::TryStreamExt;
        use object_store::ObjectStore;
        let under = format!("{prefix}/{dir}/");
        let metas: Vec<_> = self.rt.block_on(async {
            self.client
                .list(Some(&object_store::path::Path::from(format!(
                    "{prefix}/{dir}"
                ))))
                .try_collect()
                .await
                .expect("list")
        });
        let mut keys: Vec<String> = metas
            .iter()
            .filter_map(|m| m.location.as_ref().strip_prefix(&under).map(String::from))
            .collect();
        keys.sort();
        keys
    }

    /// The object at `key`, if there is one.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStoreExt;
        self.rt.block_on(async {
            let got = self
                .client
                .get(&object_store::path::Path::parse(key).expect("a key"))
                .await
                .ok()?;
            got.bytes().await.ok().map(|b| b.to_vec())
        })
    }

    /// Overwrite the object at `key` behind the archive's back.
    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        use object_store::ObjectStoreExt;
        self.rt
            .block_on(self.client.put(
                &object_store::path::Path::parse(key).expect("a key"),
                bytes.into(),
            ))
            .expect("put");
    }
}
