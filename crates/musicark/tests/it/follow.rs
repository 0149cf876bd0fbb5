//! Following other publishers: three archives built apart from
//! overlapping parts of the real corpus, each serving its published
//! folder over loopback HTTP; a fourth follows all three. Its federated
//! coverage and wanted list equal what the test computes by hand from the
//! three archives; a tampered list, a rollback, a key change, a hostile
//! name, an unreachable publisher and an oversized answer are each
//! refused with the previous copy kept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{bin, corpus, db, files_with, ingest, json, ok, ok_env, server, with_suffix};

const EPOCH: &str = "1767225600";

/// A recording's MBID in the test catalogue.
fn mbid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

/// A catalogue CSV, its listens and its mapping.
type Catalogue = (PathBuf, PathBuf, PathBuf);

/// The catalogue: one row per corpus file (from its tags), then `extra`
/// recordings nobody holds; and their listens (the first most listened).
fn catalogue(dir: &Path, files: &[PathBuf], extra: usize) -> Catalogue {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut csv = String::from("id,mbid,title,artist,seconds\n");
    let mut listens = String::from("recording_mbid,total_listen_count,total_user_count\n");
    for (i, f) in files.iter().enumerate() {
        let (title, artist, secs) = crate::support::tags_of(f);
        csv.push_str(&format!(
            "c{i},{},{},{},{secs:.3}\n",
            mbid(i),
            quote(&title),
            quote(&artist)
        ));
    }
    for j in 0..extra {
        let i = files.len() + j;
        csv.push_str(&format!(
            "c{i},{},Nobody Holds This {j},Lost Band,{}.000\n",
            mbid(i),
            200 + j
        ));
    }
    for i in 0..files.len() + extra {
        listens.push_str(&format!("{},{},1\n", mbid(i), 10_000 - i * 100));
    }
    std::fs::create_dir_all(dir).expect("mkdir");
    let (c, l, m) = (
        dir.join("catalogue.csv"),
        dir.join("listens.csv"),
        dir.join("mapping.toml"),
    );
    std::fs::write(&c, csv).expect("csv");
    std::fs::write(&l, listens).expect("listens");
    std::fs::write(
        &m,
        "source = \"corpus\"\nformat = \"csv\"\n[columns]\nid = \"id\"\nmbid = \"mbid\"\ntitle = \"title\"\nartist = \"artist\"\nlength_s = \"seconds\"\n",
    )
    .expect("mapping");
    (c, l, m)
}

fn import_catalogue(archive: &Path, (c, l, m): &Catalogue) {
    ok(
        archive,
        &[
            "catalog",
            "import",
            "mapped",
            &c.to_string_lossy(),
            "--mapping",
            &m.to_string_lossy(),
        ],
    );
    ok(
        archive,
        &["catalog", "import", "listenbrainz", &l.to_string_lossy()],
    );
}

/// A publisher built from `files`: ingested, catalogued, matched,
/// preserved, packed; its list and wanted list exported to `DIR/pub/`.
fn publisher(dir: &Path, files: &[&PathBuf], cat: &Catalogue) -> PathBuf {
    let music = dir.join("music");
    std::fs::create_dir_all(&music).expect("mkdir");
    for f in files {
        std::fs::copy(f, music.join(f.file_name().expect("name"))).expect("copy");
    }
    let archive = dir.join("archive");
    ok(&archive, &["init"]);
    ingest(&archive, &[&music], &["--rights", "GPL-2.0-or-later"]);
    import_catalogue(&archive, cat);
    ok(&archive, &["match"]);
    ok(&archive, &["preserve"]);
    let env = [("SOURCE_DATE_EPOCH", EPOCH)];
    ok_env(&archive, &["pack"], &env);
    let out = dir.join("pub");
    let list = out.join("torrents.json");
    ok_env(
        &archive,
        &["list", "export", "--out", list.to_str().expect("utf-8")],
        &env,
    );
    ok_env(
        &archive,
        &[
            "wanted",
            "export",
            "--out",
            out.join("wanted.json").to_str().expect("utf-8"),
        ],
        &env,
    );
    archive
}

/// The MBIDs an archive's active audio torrents hold, from its own
/// database: the truth the federated view must agree with.
fn held_by(archive: &Path) -> BTreeSet<String> {
    let db = db(archive).expect("db");
    db.prepare(
        "SELECT DISTINCT r.mbid FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
         JOIN recordings r ON r.recording_id = f.recording_id \
         WHERE p.obsolete = 0 AND p.kind = 'audio'",
    )
    .expect("sql")
    .query_map([], |r| r.get(0))
    .expect("rows")
    .map(|r| r.expect("row"))
    .collect()
}

/// `follow sync` on `archive`: its exit status and its JSON outcomes by
/// publisher.
fn sync(archive: &Path, names: &[&str]) -> (bool, BTreeMap<String, Value>) {
    let out = bin()
        .arg("--archive")
        .arg(archive)
        .args(["follow", "sync", "--json", "--http-timeout", "5"])
        .args(names)
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sync's JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let by = v
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| (o["name"].as_str().expect("name").to_string(), o.clone()))
        .collect();
    (out.status.success(), by)
}

fn status(o: &BTreeMap<String, Value>, name: &str) -> String {
    o[name]["status"].as_str().expect("status").to_string()
}

/// Sign `data` as a publisher would, with a chosen trusted timestamp.
fn sign_at(sk: &minisign::SecretKey, pk: &minisign::PublicKey, data: &[u8], at: u64) -> String {
    minisign::sign(
        Some(pk),
        sk,
        std::io::Cursor::new(data),
        Some(&format!("timestamp:{at}\tfile:torrents.json\thashed")),
        Some("test"),
    )
    .expect("sign")
    .to_string()
}

fn key_of(archive: &Path) -> (minisign::SecretKey, minisign::PublicKey) {
    let home = musicark_store::Home::open(archive).expect("home");
    musicark_publish::list::archive_key(&home).expect("key")
}

#[test]
fn a_publisher_following_three_others_sees_their_union_and_what_nobody_holds() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    // The smallest fifteen files keep the test short; their parts overlap.
    let mut files = files_with(&corpus, &["ogg", "mp3"]);
    files.sort_by_key(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(u64::MAX));
    files.truncate(15);
    files.sort();
    let extra = 4;
    let cat = catalogue(&tmp.path().join("cat"), &files, extra);
    // C's catalogue has one more recording (nobody holds it): D's
    // catalogue does not, yet C's wants reach D's wanted list.
    let mut c_cat_rows = std::fs::read_to_string(&cat.0).expect("csv");
    let c_only = mbid(files.len() + extra);
    c_cat_rows.push_str(&format!("c-only,{c_only},Only In C,Far Band,321.000\n"));
    let c_cat_dir = tmp.path().join("cat-c");
    std::fs::create_dir_all(&c_cat_dir).expect("mkdir");
    std::fs::write(c_cat_dir.join("catalogue.csv"), c_cat_rows).expect("csv");
    let c_cat = (
        c_cat_dir.join("catalogue.csv"),
        cat.1.clone(),
        cat.2.clone(),
    );

    let parts: [(&str, Vec<&PathBuf>, &Catalogue); 3] = [
        ("a", files[0..7].iter().collect(), &cat),
        ("b", files[5..11].iter().collect(), &cat),
        (
            "c",
            files[9..15].iter().chain(&files[0..1]).collect(),
            &c_cat,
        ),
    ];
    let mut archives = BTreeMap::new();
    let mut servers = BTreeMap::new();
    for (name, part, cat) in &parts {
        let dir = tmp.path().join(name);
        let archive = publisher(&dir, part, cat);
        let held = held_by(&archive);
        assert!(
            held.len() >= part.len() - 1,
            "{name}: its files are matched and published: {held:?}"
        );
        servers.insert(*name, server(dir.join("pub"), "files"));
        archives.insert(*name, archive);
    }

    // D follows all three, each with the key it got from them.
    let d = tmp.path().join("d").join("archive");
    ok(&d, &["init"]);
    import_catalogue(&d, &cat);
    for name in ["a", "b", "c"] {
        let list_url = format!("{}/torrents.json", servers[name].url);
        let key = with_suffix(&tmp.path().join(name).join("pub/torrents.json"), ".pub");
        ok(
            &d,
            &[
                "follow",
                "add",
                &list_url,
                "--key",
                key.to_str().expect("utf-8"),
                "--name",
                name,
            ],
        );
    }
    let (good, outcomes) = sync(&d, &[]);
    assert!(good, "{outcomes:#?}");
    for name in ["a", "b", "c"] {
        assert_eq!(status(&outcomes, name), "synced", "{outcomes:#?}");
        assert_eq!(outcomes[name]["format"], "musicark");
        assert!(outcomes[name]["holdings"].as_u64().expect("n") > 0);
    }
    // A second sync fetches nothing new.
    let (good, again) = sync(&d, &[]);
    assert!(good);
    assert!(
        again.values().all(|o| o["status"] == "unchanged"),
        "{again:#?}"
    );

    // The union, by hand, against the federated view.
    let union: BTreeSet<String> = archives.values().flat_map(|a| held_by(a)).collect();
    let catalogue_ids: BTreeSet<String> = (0..files.len() + extra).map(mbid).collect();
    let c = json(&d, &["report", "coverage", "--federated"]);
    assert_eq!(c["recordings"].as_u64(), Some(catalogue_ids.len() as u64));
    assert_eq!(
        c["anyone"]["recordings"].as_u64(),
        Some(union.len() as u64),
        "{c:#}"
    );
    assert_eq!(c["only_elsewhere"]["recordings"], c["anyone"]["recordings"]);
    assert_eq!(c["ours"]["recordings"].as_u64(), Some(0));
    assert_eq!(
        c["nobody"]["recordings"].as_u64(),
        Some((catalogue_ids.len() - union.len()) as u64)
    );
    let listens_of = |m: &str| -> i64 {
        let i = i64::from_str_radix(&m[24..], 16).expect("hex");
        10_000 - i * 100
    };
    let union_listens: i64 = union.iter().map(|m| listens_of(m)).sum();
    assert_eq!(c["anyone"]["listens"].as_i64(), Some(union_listens));
    // Torrents published by the three, one per info-hash.
    let mut btihs = BTreeSet::new();
    for name in ["a", "b", "c"] {
        let list: Vec<Value> = serde_json::from_slice(
            &std::fs::read(tmp.path().join(name).join("pub/torrents.json")).expect("list"),
        )
        .expect("json");
        btihs.extend(
            list.iter()
                .filter(|e| e["obsolete"] == false)
                .map(|e| e["btih"].as_str().expect("btih").to_string()),
        );
    }
    assert_eq!(c["torrents_union"].as_u64(), Some(btihs.len() as u64));
    // The page draws the same figures.
    let html = tmp.path().join("federated.html");
    ok(
        &d,
        &[
            "report",
            "coverage",
            "--federated",
            "--html",
            html.to_str().expect("utf-8"),
        ],
    );
    let page = std::fs::read_to_string(&html).expect("page");
    assert!(page.contains("held elsewhere only") && page.contains("<svg"));

    // The wanted list: the catalogue minus the union, plus C's own want.
    let wanted = json(&d, &["wanted", "list", "--limit", "0"]);
    let got: BTreeSet<String> = wanted
        .as_array()
        .expect("wants")
        .iter()
        .map(|w| w["recording_mbid"].as_str().expect("mbid").to_string())
        .collect();
    let mut expect: BTreeSet<String> = catalogue_ids.difference(&union).cloned().collect();
    expect.insert(c_only.clone());
    assert_eq!(got, expect);
    let c_want = wanted
        .as_array()
        .expect("wants")
        .iter()
        .find(|w| w["recording_mbid"] == c_only.as_str())
        .expect("C's want");
    assert_eq!(c_want["wanted_by"], serde_json::json!(["c"]));
    let first = &wanted[0];
    assert!(first["listens"].as_i64() >= wanted[1]["listens"].as_i64());
    // Exported signed: minisign's format, by D's key.
    let wpath = tmp.path().join("d/pub/wanted.json");
    ok(
        &d,
        &["wanted", "export", "--out", wpath.to_str().expect("utf-8")],
    );
    let (_, dpk) = key_of(&d);
    let data = std::fs::read(&wpath).expect("wanted");
    let sig = std::fs::read_to_string(with_suffix(&wpath, ".minisig")).expect("sig");
    musicark_publish::list::check_signature(&dpk, &sig, std::io::Cursor::new(&data))
        .expect("signed by D");
    assert!(wpath.with_extension("csv").exists());

    // Per recording: who holds it, its copies, seeders summed.
    let shared = crate::support::db(&d)
        .expect("db")
        .query_row(
            "SELECT recording_id FROM recordings WHERE mbid = ?1",
            [&mbid(0)],
            |r| r.get::<_, i64>(0),
        )
        .expect("the first file's recording");
    let held_by_all: Value = json(&d, &["where", "--federated", &format!("rec:{shared}")]);
    let who: BTreeSet<String> = held_by_all[0]["publishers"]
        .as_array()
        .expect("publishers")
        .iter()
        .map(|p| p.as_str().expect("name").to_string())
        .collect();
    let expect_who: BTreeSet<String> = archives
        .iter()
        .filter(|(_, a)| held_by(a).contains(&mbid(0)))
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(who, expect_who, "{held_by_all:#}");
    // Its copies: one per info-hash, whoever publishes it (two archives
    // packing the same files alike publish one torrent), each named by
    // the publishers that list it.
    let copies = held_by_all[0]["torrents"].as_array().expect("torrents");
    assert!(!copies.is_empty());
    let listed: BTreeSet<String> = copies
        .iter()
        .flat_map(|t| t["publishers"].as_array().expect("publishers").iter())
        .map(|p| p.as_str().expect("name").to_string())
        .collect();
    assert_eq!(listed, expect_who);
    let btihs: BTreeSet<&str> = copies
        .iter()
        .map(|t| t["btih"].as_str().expect("btih"))
        .collect();
    assert_eq!(btihs.len(), copies.len(), "one copy per info-hash");
    let nobody: Value = json(&d, &["where", "--federated", &mbid(files.len())]);
    assert_eq!(nobody[0]["torrents"], serde_json::json!([]));
    // The web UI and the API show the same.
    {
        let app = musicark_web::App::open(&d).expect("open");
        let mut api = crate::web::get_json(&app, "/api/federation");
        let mut cli = json(&d, &["report", "coverage", "--federated"]);
        for v in [&mut api, &mut cli] {
            v["generated_at"] = Value::Null;
        }
        assert_eq!(api, cli);
        let page = crate::web::get(&app, "/federation").text();
        assert!(
            page.contains("held elsewhere only") && page.contains("<svg"),
            "{page}"
        );
        let wanted_api = crate::web::get_json(&app, "/api/wanted?limit=1000");
        assert_eq!(wanted_api["total"].as_u64(), Some(expect.len() as u64));
        let page = crate::web::get(&app, "/wanted?q=nobody+holds+this+2").text();
        assert!(page.contains("Nobody Holds This 2"), "{page}");
        assert!(
            !page.contains("Nobody Holds This 1<"),
            "the search filters: {page}"
        );
        assert_eq!(
            crate::web::get_json(&app, &format!("/api/recordings/{shared}/holders")),
            held_by_all[0]
        );
        let page = crate::web::get(&app, &format!("/recordings/{shared}")).text();
        assert!(page.contains("Who holds it"), "{page}");
        let dash = crate::web::get(&app, "/").text();
        assert!(
            dash.contains("Federation") && dash.contains("held by nobody"),
            "{dash}"
        );
    }

    // --- Trust and bad input. The copy held is what each check keeps.
    let held = |name: &str| std::fs::read(d.join("follows").join(name).join("torrents.json"));
    let a_list = tmp.path().join("a/pub/torrents.json");
    let a_sig = with_suffix(&a_list, ".minisig");
    let (a_sk, a_pk) = key_of(&archives["a"]);
    let a_before = held("a").expect("held");
    let original = std::fs::read(&a_list).expect("list");
    let original_sig = std::fs::read(&a_sig).expect("sig");

    // Tampered: one byte changed, signature left.
    let mut tampered = original.clone();
    let at = tampered
        .windows(10)
        .position(|w| w == b"\"seeders\":")
        .expect("a seeders field")
        + 10;
    tampered[at] = if tampered[at] == b'7' { b'8' } else { b'7' };
    std::fs::write(&a_list, &tampered).expect("write");
    let (good, o) = sync(&d, &[]);
    assert!(!good, "a tampered list makes the exit code say so");
    assert_eq!(status(&o, "a"), "refused");
    assert!(
        o["a"]["problem"]
            .as_str()
            .expect("why")
            .contains("signature")
    );
    assert_eq!(status(&o, "b"), "unchanged");
    assert_eq!(
        held("a").expect("held"),
        a_before,
        "the previous copy is kept"
    );

    // A newer list (re-signed later) is taken; the older one then is a
    // rollback.
    let mut newer: Vec<Value> = serde_json::from_slice(&original).expect("json");
    newer[0]["seeders"] = serde_json::json!(42);
    let newer = serde_json::to_vec(&newer).expect("json");
    std::fs::write(&a_list, &newer).expect("write");
    std::fs::write(&a_sig, sign_at(&a_sk, &a_pk, &newer, 1_900_000_000)).expect("sig");
    let (good, o) = sync(&d, &["a"]);
    assert!(good, "{o:#?}");
    assert_eq!(status(&o, "a"), "synced");
    std::fs::write(&a_list, &original).expect("write");
    std::fs::write(&a_sig, &original_sig).expect("sig");
    let (good, o) = sync(&d, &["a"]);
    assert!(!good);
    assert_eq!(status(&o, "a"), "refused");
    assert!(
        o["a"]["problem"]
            .as_str()
            .expect("why")
            .contains("rollback"),
        "{o:#?}"
    );
    assert_eq!(held("a").expect("held"), newer);

    // Another key: refused until the operator confirms it.
    let other = minisign::KeyPair::generate_unencrypted_keypair().expect("keypair");
    std::fs::write(&a_list, &newer).expect("write");
    std::fs::write(&a_sig, sign_at(&other.sk, &other.pk, &newer, 1_900_000_100)).expect("sig");
    let (good, o) = sync(&d, &["a"]);
    assert!(!good);
    assert!(
        o["a"]["problem"]
            .as_str()
            .expect("why")
            .contains("follow rekey"),
        "{o:#?}"
    );
    assert_eq!(held("a").expect("held"), newer);
    ok(
        &d,
        &["follow", "rekey", "a", "--key", &other.pk.to_base64()],
    );
    let (good, o) = sync(&d, &["a"]);
    assert!(good, "{o:#?}");
    assert_eq!(
        status(&o, "a"),
        "unchanged",
        "the same bytes, now by the new key"
    );

    // A hostile name, signed by the trusted key: refused, nothing written
    // outside the follow folder.
    let mut hostile: Vec<Value> = serde_json::from_slice(&newer).expect("json");
    hostile[0]["display_name"] = serde_json::json!("../../escaped.torrent");
    hostile[0]["url"] = serde_json::json!("torrents/../../escaped.torrent");
    let hostile = serde_json::to_vec(&hostile).expect("json");
    std::fs::write(&a_list, &hostile).expect("write");
    std::fs::write(
        &a_sig,
        sign_at(&other.sk, &other.pk, &hostile, 1_900_000_200),
    )
    .expect("sig");
    let (good, o) = sync(&d, &["a"]);
    assert!(!good);
    assert_eq!(status(&o, "a"), "refused", "{o:#?}");
    for p in [
        d.join("escaped.torrent"),
        d.parent().expect("dir").join("escaped.torrent"),
    ] {
        assert!(!p.exists(), "{} written", p.display());
    }
    assert_eq!(held("a").expect("held"), newer);

    // Unreachable: C's server gone; the others sync, C's copy stays.
    let c_before = held("c").expect("held");
    {
        let db = db(&d).expect("db");
        db.execute(
            "UPDATE publishers SET url = 'http://127.0.0.1:9/torrents.json' WHERE name = 'c'",
            [],
        )
        .expect("point c at a closed port");
    }
    let (good, o) = sync(&d, &[]);
    assert!(!good);
    assert_eq!(status(&o, "c"), "failed", "{o:#?}");
    assert_eq!(status(&o, "b"), "unchanged");
    assert_eq!(held("c").expect("held"), c_before);
    // Its last good copy still counts.
    let c2 = json(&d, &["report", "coverage", "--federated"]);
    assert_eq!(c2["anyone"]["recordings"], c["anyone"]["recordings"]);
    assert!(
        c2["notes"].as_array().expect("notes").iter().any(|n| n
            .as_str()
            .expect("note")
            .starts_with("c: the last sync failed")),
        "{c2:#}"
    );

    // Oversized: a server announcing a terabyte is refused before reading.
    let huge = server(tmp.path().join("nothing"), "huge");
    let e = ok(
        &d,
        &[
            "follow",
            "add",
            &format!("{}/torrents.json", huge.url),
            "--key",
            &a_pk.to_base64(),
            "--name",
            "huge",
        ],
    );
    assert!(e.status.success());
    let (good, o) = sync(&d, &["huge"]);
    assert!(!good);
    assert_eq!(status(&o, "huge"), "failed");
    assert!(
        o["huge"]["problem"]
            .as_str()
            .expect("why")
            .contains("bytes allowed"),
        "{o:#?}"
    );
    ok(&d, &["follow", "remove", "huge"]);
    let listed = json(&d, &["follow", "list"]);
    assert_eq!(listed.as_array().expect("publishers").len(), 3);

    // B takes a recording down: its torrents holding it are obsolete in
    // its next list, replaced by packs without it. Followers never plan
    // an obsolete torrent, and it no longer counts as a copy.
    let b = &archives["b"];
    let victim = held_by(b).into_iter().next().expect("b holds something");
    ok_env(b, &["takedown", &victim, "--reason", "test"], &env_epoch());
    let b_list = tmp.path().join("b/pub/torrents.json");
    ok_env(
        b,
        &["list", "export", "--out", b_list.to_str().expect("utf-8")],
        &env_epoch(),
    );
    let (good, o) = sync(&d, &["b"]);
    assert!(good, "{o:#?}");
    assert_eq!(status(&o, "b"), "synced");
    let b_entries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&b_list).expect("list")).expect("json");
    let obsolete: BTreeSet<&str> = b_entries
        .iter()
        .filter(|e| e["obsolete"] == true)
        .map(|e| e["btih"].as_str().expect("btih"))
        .collect();
    assert!(!obsolete.is_empty(), "the takedown obsoleted a torrent");
    let plan = json(&d, &["seedplan", "--federated", "--budget", "100TB"]);
    let planned: Vec<&str> = plan["torrents"]
        .as_array()
        .expect("torrents")
        .iter()
        .map(|t| t["btih"].as_str().expect("btih"))
        .collect();
    assert!(!planned.is_empty());
    assert!(
        planned.iter().all(|b| !obsolete.contains(b)),
        "an obsolete torrent planned: {plan:#}"
    );
    // C embargoes one of its published recordings: its list shows the
    // torrent under embargo, with no magnet; nobody plans it either.
    let c_arch = &archives["c"];
    let c_victim = held_by(c_arch)
        .into_iter()
        .find(|m| !held_by(b).contains(m) && !held_by(&archives["a"]).contains(m))
        .expect("c holds a recording of its own");
    ok_env(
        c_arch,
        &["embargo", &c_victim, "--reason", "label window"],
        &env_epoch(),
    );
    let c_list = tmp.path().join("c/pub/torrents.json");
    ok_env(
        c_arch,
        &["list", "export", "--out", c_list.to_str().expect("utf-8")],
        &env_epoch(),
    );
    let c_url = format!(
        "{}/torrents.json",
        server(tmp.path().join("c/pub"), "files").url
    );
    {
        let db = db(&d).expect("db");
        db.execute("UPDATE publishers SET url = ?1 WHERE name = 'c'", [&c_url])
            .expect("c is back, at a new address");
    }
    let (good, o) = sync(&d, &["c"]);
    assert!(good, "{o:#?}");
    let c_entries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&c_list).expect("list")).expect("json");
    let embargoed: BTreeSet<&str> = c_entries
        .iter()
        .filter(|e| e["embargo"] == true)
        .map(|e| e["btih"].as_str().expect("btih"))
        .collect();
    assert!(!embargoed.is_empty(), "the embargo marks a listed torrent");
    let plan = json(&d, &["seedplan", "--federated", "--budget", "100TB"]);
    assert!(
        plan["torrents"]
            .as_array()
            .expect("torrents")
            .iter()
            .all(|t| !embargoed.contains(t["btih"].as_str().expect("btih"))),
        "an embargoed torrent planned: {plan:#}"
    );
    let union_after: BTreeSet<String> = archives.values().flat_map(|a| held_by(a)).collect();
    assert!(!held_by(b).contains(&victim));
    let c3 = json(&d, &["report", "coverage", "--federated"]);
    assert_eq!(
        c3["anyone"]["recordings"].as_u64(),
        Some(union_after.len() as u64),
        "{c3:#}"
    );
}

fn env_epoch() -> [(&'static str, &'static str); 1] {
    [("SOURCE_DATE_EPOCH", EPOCH)]
}

/// A list in Anna's Archive's torrents.json form (none of our fields):
/// its torrents join the union, its recordings are not known, and the
/// report says so.
#[test]
fn a_torrents_json_list_counts_its_torrents_without_recording_knowledge() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = musicark_sample::SampleSpec::with_tracks(3, 2.0, 11);
    let music = tmp.path().join("music");
    musicark_sample::generate(&music, &spec).expect("sample");
    let open = musicark_sample::write_open_data(&tmp.path().join("open"), &spec).expect("open");
    let a = tmp.path().join("a");
    crate::publish::build(&a, &music, &open, &[]);
    let list = tmp.path().join("pub/torrents.json");
    ok(
        &a,
        &["list", "export", "--out", list.to_str().expect("utf-8")],
    );
    // Keep only Anna's Archive's fields, and sign it again.
    let ours: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&list).expect("list")).expect("json");
    // Anna's Archive's fields: the list's columns up to musicark's own.
    let cols = musicark_publish::list::CSV_COLUMNS;
    let aa_fields = &cols[..=cols
        .iter()
        .position(|c| *c == "partially_broken")
        .expect("AA's last field")];
    let aa: Vec<Value> = ours
        .iter()
        .map(|e| {
            let mut m = serde_json::Map::new();
            for &f in aa_fields {
                m.insert(f.into(), e[f].clone());
            }
            m.insert("aa_currently_seeding".into(), Value::Bool(true));
            Value::Object(m)
        })
        .collect();
    let bytes = serde_json::to_vec(&aa).expect("json");
    std::fs::write(&list, &bytes).expect("write");
    let (sk, pk) = key_of(&a);
    std::fs::write(
        with_suffix(&list, ".minisig"),
        sign_at(&sk, &pk, &bytes, 1_800_000_000),
    )
    .expect("sig");

    let d = tmp.path().join("d");
    ok(&d, &["init"]);
    crate::support::import_open_data(&d, &open.0, &open.1);
    ok(
        &d,
        &[
            "follow",
            "add",
            list.to_str().expect("utf-8"),
            "--key",
            &pk.to_base64(),
            "--name",
            "aa-style",
        ],
    );
    let (good, o) = sync(&d, &[]);
    assert!(good, "{o:#?}");
    assert_eq!(o["aa-style"]["format"], "torrents.json");
    assert_eq!(o["aa-style"]["holdings"], 0);
    let c = json(&d, &["report", "coverage", "--federated"]);
    let active = ours.iter().filter(|e| e["obsolete"] == false).count();
    assert_eq!(c["torrents_union"].as_u64(), Some(active as u64));
    assert_eq!(c["anyone"]["recordings"], 0);
    assert!(
        c["notes"][0]
            .as_str()
            .expect("note")
            .contains("without recording-level knowledge")
            || c["notes"][0].as_str().expect("note").contains("not known"),
        "{c:#}"
    );
    // Every listed .torrent was fetched and verified into the follow
    // folder's pack, nowhere else.
    let packs: Vec<PathBuf> = std::fs::read_dir(d.join("follows/aa-style"))
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .collect();
    assert_eq!(packs.len(), 1, "one pack, of the list held: {packs:?}");
    let pack = std::fs::metadata(&packs[0]).expect("pack");
    let listed: u64 = ours
        .iter()
        .filter(|e| e["embargo"] == false)
        .map(|e| e["torrent_size"].as_u64().expect("size"))
        .sum();
    assert_eq!(pack.len(), listed);
    let followed = json(&d, &["follow", "list"]);
    assert_eq!(followed[0]["torrents"].as_u64(), Some(ours.len() as u64));
    // What a sync killed midway leaves (its staging folder, a pack whose
    // rows never committed) is cleared by the next one, which keeps
    // exactly the pack its rows point into.
    let folder = d.join("follows/aa-style");
    std::fs::create_dir_all(d.join("follows/.aa-style.incoming")).expect("staging");
    std::fs::write(d.join("follows/.aa-style.incoming/torrents.pack"), b"half").expect("half");
    std::fs::write(folder.join("torrents.deadbeefdeadbeef.pack"), b"orphan").expect("orphan");
    let mut newer = aa.clone();
    newer[0]["seeders"] = serde_json::json!(7);
    let bytes = serde_json::to_vec(&newer).expect("json");
    std::fs::write(&list, &bytes).expect("write");
    std::fs::write(
        with_suffix(&list, ".minisig"),
        sign_at(&sk, &pk, &bytes, 1_800_000_100),
    )
    .expect("sig");
    let (good, o) = sync(&d, &[]);
    assert!(good, "{o:#?}");
    assert_eq!(status(&o, "aa-style"), "synced");
    assert_eq!(
        o["aa-style"]["reused"].as_u64(),
        Some(
            o["aa-style"]["torrents"].as_u64().expect("n")
                - ours.iter().filter(|e| e["embargo"] == true).count() as u64
        ),
        "held .torrent files are kept, not fetched again: {o:#?}"
    );
    assert!(!d.join("follows/.aa-style.incoming").exists());
    let packs: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .collect();
    assert_eq!(packs.len(), 1, "{packs:?}");
    assert_eq!(std::fs::metadata(&packs[0]).expect("pack").len(), listed);
    // A federated plan hands out the verified bytes.
    let out = d.join("plan-torrents");
    ok(
        &d,
        &[
            "seedplan",
            "--federated",
            "--budget",
            "1TB",
            "--format",
            "torrents",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    for e in ours.iter().filter(|e| e["obsolete"] == false) {
        let name = e["display_name"].as_str().expect("name");
        let mine = std::fs::read(tmp.path().join("pub/torrents").join(name)).expect("ours");
        assert_eq!(
            std::fs::read(out.join(name)).expect("planned"),
            mine,
            "{name}"
        );
    }
}

/// A donor's federated mirror: two publishers, each seeded on loopback
/// (opentracker, a libtorrent seeder per torrent); the donor follows both
/// and mirrors with half of what all their torrents need. It fetches
/// exactly the torrents the federated plan names, and verifies each
/// (every piece, every file against its manifest).
#[test]
fn a_donors_federated_mirror_fetches_only_what_the_plan_says_and_verifies_it() {
    use crate::health::{free_port, opentracker, seed};
    let Some(ot) = crate::support::peer("opentracker") else {
        return;
    };
    let Some((python, helper)) = crate::support::lt_helper() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let tracker = format!("http://127.0.0.1:{port}/announce");
    let d = tmp.path().join("donor");
    ok(&d, &["init"]);
    let mut lists = Vec::new();
    for (name, n) in [("p", 3), ("q", 5)] {
        let root = tmp.path().join(name);
        let (archive, open) = crate::support::preserved_sample(&root, 3, 4.0, n);
        crate::support::publish_setting(&archive, &format!("trackers = [\"{tracker}\"]"));
        ok(&archive, &["pack"]);
        let list = root.join("pub/torrents.json");
        ok(
            &archive,
            &["list", "export", "--out", list.to_str().expect("utf-8")],
        );
        crate::support::import_open_data(&d, &open.0, &open.1);
        ok(
            &d,
            &[
                "follow",
                "add",
                list.to_str().expect("utf-8"),
                "--key",
                with_suffix(&list, ".pub").to_str().expect("utf-8"),
                "--name",
                name,
            ],
        );
        lists.push((archive, list));
    }
    let (good, o) = sync(&d, &[]);
    assert!(good, "{o:#?}");
    // Everything both publish, tracked and seeded.
    let mut hashes = Vec::new();
    let mut seeders = Vec::new();
    for (i, (archive, list)) in lists.iter().enumerate() {
        let entries: Vec<Value> =
            serde_json::from_slice(&std::fs::read(list).expect("list")).expect("json");
        for (j, e) in entries.iter().enumerate() {
            hashes.push(e["btih"].as_str().expect("btih").to_string());
            let torrent = list
                .parent()
                .expect("dir")
                .join(e["url"].as_str().expect("url"));
            seeders.push((
                torrent,
                archive.join("packs"),
                tmp.path().join(format!("ports-{i}-{j}")),
            ));
        }
    }
    let _tracker = opentracker(&ot, port, &hashes);
    let _seeders: Vec<_> = seeders
        .iter()
        .map(|(t, save, ports)| seed(&python, &helper, t, save, ports))
        .collect();

    let all = json(
        &d,
        &[
            "seedplan",
            "--federated",
            "--budget",
            "100GB",
            "--donor",
            "test",
        ],
    );
    let every: u64 = all["used"].as_u64().expect("used");
    assert_eq!(
        all["torrents"].as_array().expect("torrents").len(),
        hashes.len(),
        "everything fits a large budget: {all:#}"
    );
    let budget = (every / 2).to_string();
    let plan = json(
        &d,
        &[
            "seedplan",
            "--federated",
            "--budget",
            &budget,
            "--donor",
            "test",
        ],
    );
    let planned: BTreeSet<String> = plan["torrents"]
        .as_array()
        .expect("torrents")
        .iter()
        .map(|t| {
            t["name"]
                .as_str()
                .expect("name")
                .trim_end_matches(".torrent")
                .to_string()
        })
        .collect();
    assert!(
        !planned.is_empty() && planned.len() < hashes.len(),
        "{plan:#}"
    );
    let mirror = tmp.path().join("mirror");
    let out = bin()
        .arg("--archive")
        .arg(&d)
        .args(["mirror", "--federated", "--budget", &budget, "--dir"])
        .arg(&mirror)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--stall-secs",
            "60",
            "--seed-secs",
            "0",
            "--replan-secs",
            "0",
            "--donor",
            "test",
        ])
        .output()
        .expect("mirror");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    for name in &planned {
        assert!(log.contains(&format!("verified: {name}")), "{name}: {log}");
    }
    // One folder per info-hash (two publishers may name two torrents
    // alike: both archives here are called "archive").
    let fetched: BTreeSet<String> = std::fs::read_dir(mirror.join("data"))
        .expect("data")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let planned_hashes: BTreeSet<String> = plan["torrents"]
        .as_array()
        .expect("torrents")
        .iter()
        .map(|t| t["btih"].as_str().expect("btih")[..16].to_string())
        .collect();
    assert_eq!(fetched, planned_hashes, "only what the plan says");
}
