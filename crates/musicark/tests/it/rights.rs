//! Rights as data: licence tags of the real corpus, the publication
//! policy, takedown and reversal through to the list (checked by
//! libtorrent), embargo with an injected clock, licence-filtered export.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use musicark_sample::{SampleSpec, generate, write_open_data};
use serde_json::Value;

use crate::publish::build;
use crate::support::{corpus, files_with, json, lt_helper, ok, ok_env, peer};

fn list_export(archive: &Path, out: &Path) -> Vec<Value> {
    json(
        archive,
        &["list", "export", "--out", out.to_str().expect("utf-8")],
    );
    serde_json::from_slice(&std::fs::read(out).expect("list")).expect("list JSON")
}

/// The recordings in the active (non-obsolete) audio torrents of a list,
/// read from their manifests in the archive.
fn published_recordings(archive: &Path, list: &[Value]) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    for e in list
        .iter()
        .filter(|e| e["obsolete"] == false && e["is_metadata"] == false)
    {
        let name = e["display_name"]
            .as_str()
            .expect("name")
            .trim_end_matches(".torrent");
        let manifest = std::fs::read_to_string(
            archive
                .join("torrents")
                .join(format!("{name}.manifest.jsonl")),
        )
        .expect("manifest");
        for line in manifest.lines() {
            let v: Value = serde_json::from_str(line).expect("manifest line");
            if let Some(id) = v["recording_id"].as_i64() {
                out.insert(id);
            }
        }
    }
    out
}

#[test]
fn the_real_corpus_licence_tags_are_mapped_or_kept_verbatim() {
    let Some(dir) = corpus() else {
        return;
    };
    let Some(ffprobe) = peer("ffprobe") else {
        return;
    };
    // What the files' own tags say, read by ffprobe.
    let files = files_with(&dir, &["ogg", "mp3"]);
    assert!(!files.is_empty());
    let mut tags: Vec<Option<String>> = Vec::new();
    for f in &files {
        let out = Command::new(&ffprobe)
            .args([
                "-v",
                "quiet",
                "-of",
                "json",
                "-show_entries",
                "format_tags:stream_tags",
            ])
            .arg(f)
            .output()
            .expect("ffprobe");
        let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
        let mut found = None;
        for scope in [&v["format"]["tags"], &v["streams"][0]["tags"]] {
            if let Some(map) = scope.as_object() {
                for (k, val) in map {
                    if k.eq_ignore_ascii_case("license") {
                        found = val.as_str().map(str::to_string);
                    }
                }
            }
        }
        tags.push(found);
    }
    let distinct: BTreeSet<&str> = tags.iter().flatten().map(String::as_str).collect();
    assert!(!distinct.is_empty(), "the corpus carries LICENSE tags");

    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("archive");
    crate::support::init_and_ingest(&archive, &[&dir], &[]);
    let r = json(&archive, &["rights", "report"]);
    // Every distinct tag value is either mapped to an id or listed,
    // verbatim, as unmapped; on this corpus ("GPL": no version) none maps.
    let unmapped: BTreeSet<&str> = r["unmapped_tags"]
        .as_array()
        .expect("unmapped")
        .iter()
        .map(|u| u["key"].as_str().expect("key"))
        .collect();
    for t in &distinct {
        let mapped = musicark_publish::rights::map_license(t);
        if mapped.is_none() {
            assert!(unmapped.contains(t), "{t:?} reported unmapped: {r:#}");
        }
    }
    assert!(unmapped.contains("GPL"), "{r:#}");
    let unmapped_files: u64 = r["unmapped_tags"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|u| u["files"].as_u64().expect("files"))
        .sum();
    assert!(unmapped_files > 0);
    // Files with only a COPYRIGHT notice are In Copyright; nothing is
    // publishable under the default policy.
    let classes: BTreeSet<&str> = r["ingested_by_license"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["class"].as_str().expect("class"))
        .collect();
    assert!(!classes.contains("open"), "{r:#}");

    // The operator knows better (Debian's copyright files: GPL-2+ for
    // Wesnoth and ASC, GPL-3+ for Planet Blupi): a default at ingest.
    let wesnoth = dir.join("wesnoth-1.16-music");
    if wesnoth.is_dir() {
        ok(
            &archive,
            &[
                "ingest",
                wesnoth.to_str().expect("utf-8"),
                "--rights",
                "GPL-2+",
            ],
        );
        let r = json(&archive, &["rights", "report"]);
        let gpl2 = r["ingested_by_license"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|row| row["key"] == "GPL-2.0-or-later")
            .unwrap_or_else(|| panic!("operator default applied: {r:#}"));
        assert_eq!(gpl2["class"], "open");
        let contents: i64 = crate::support::db(&archive)
            .expect("db")
            .query_row(
                "SELECT count(DISTINCT content_id) FROM files WHERE status = 'ok' AND display_path LIKE ?1",
                [format!("{}/%", wesnoth.display())],
                |r| r.get(0),
            )
            .expect("count");
        assert!(contents > 0);
        assert_eq!(
            gpl2["files"].as_i64(),
            Some(contents),
            "every clean Wesnoth file (distinct contents), whose own tag says only GPL"
        );
    }
    // A default that names no licence is refused.
    let out = crate::support::bin()
        .arg("--archive")
        .arg(&archive)
        .args(["ingest", dir.to_str().expect("utf-8"), "--rights", "GPL"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a known SPDX"));
}

fn sample_archive(
    root: &Path,
    tracks: u32,
    pack_args: &[&str],
) -> (std::path::PathBuf, SampleSpec) {
    let spec = SampleSpec::with_tracks(tracks, 4.0, 77);
    let music = root.join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&root.join("open"), &spec).expect("open data");
    let archive = root.join("archive");
    build(&archive, &music, &open, pack_args);
    (archive, spec)
}

#[test]
fn a_takedown_reaches_the_list_and_its_reversal_restores_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, _) = sample_archive(tmp.path(), 6, &[]);
    let before = list_export(&archive, &tmp.path().join("pub1/torrents.json"));
    let published = published_recordings(&archive, &before);
    let victim = *published.iter().next().expect("a published recording");
    let holding: Vec<String> = before
        .iter()
        .filter(|e| e["obsolete"] == false && e["is_metadata"] == false)
        .map(|e| e["display_name"].as_str().expect("name").to_string())
        .collect();

    let t = json(
        &archive,
        &[
            "takedown",
            &format!("rec:{victim}"),
            "--reason",
            "rights holder's request",
            "--reference",
            "letter 2026-117",
        ],
    );
    assert_eq!(t["log"]["action"], "takedown");
    assert!(
        !t["pack"]["obsoleted"]
            .as_array()
            .expect("obsoleted")
            .is_empty()
    );
    let after = list_export(&archive, &tmp.path().join("pub2/torrents.json"));
    let now_published = published_recordings(&archive, &after);
    assert!(!now_published.contains(&victim), "in no active torrent");
    assert_eq!(
        now_published.len(),
        published.len() - 1,
        "the others are republished in replacement packs"
    );
    for name in &holding {
        let e = after
            .iter()
            .find(|e| e["display_name"] == name.as_str())
            .expect("the old torrent is still listed");
        if published_recordings(&archive, std::slice::from_ref(e)).is_empty() {
            // Obsolete now: published_recordings skips obsolete entries.
            assert_eq!(e["obsolete"], true, "{e:#}");
        }
    }
    assert!(
        after.iter().any(|e| e["obsolete"] == true),
        "the old torrent is listed obsolete"
    );
    let verify = json(
        &archive,
        &[
            "list",
            "verify",
            tmp.path()
                .join("pub2/torrents.json")
                .to_str()
                .expect("utf-8"),
        ],
    );
    assert_eq!(verify["signature_ok"], true, "{verify:#}");
    // The replacement torrents hold exactly their data (libtorrent).
    if let Some((python, helper)) = lt_helper() {
        for e in after
            .iter()
            .filter(|e| e["obsolete"] == false && e["is_metadata"] == false)
        {
            let torrent = tmp
                .path()
                .join("pub2")
                .join(e["url"].as_str().expect("url"));
            let out = Command::new(&python)
                .arg(&helper)
                .arg("check")
                .arg(&torrent)
                .arg(archive.join("packs"))
                .output()
                .expect("lt check");
            let check: Value = serde_json::from_slice(&out.stdout).expect("lt JSON");
            assert_eq!(check["progress"], 1.0, "{}: {check}", torrent.display());
        }
    }
    let log = json(&archive, &["rights", "log"]);
    assert_eq!(log.as_array().expect("log").len(), 1);
    assert_eq!(log[0]["reference"], "letter 2026-117");
    assert_eq!(log[0]["entity_id"], victim);
    let down = json(&archive, &["takedown", "list"]);
    assert_eq!(down[0]["entity_id"], victim);

    // The log is append-only, even for someone with the database.
    {
        let db = crate::support::db(&archive).expect("db");
        assert!(db.execute("DELETE FROM rights_log", []).is_err());
        assert!(
            db.execute("UPDATE rights_log SET reason = 'x'", [])
                .is_err()
        );
    }

    // Reversal: published again, with its own entry.
    json(
        &archive,
        &[
            "takedown",
            "reverse",
            &format!("rec:{victim}"),
            "--reason",
            "counter-notice",
        ],
    );
    let again = list_export(&archive, &tmp.path().join("pub3/torrents.json"));
    assert!(published_recordings(&archive, &again).contains(&victim));
    let log = json(&archive, &["rights", "log"]);
    let actions: Vec<&str> = log
        .as_array()
        .expect("log")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["takedown", "reinstate"]);
    assert!(
        json(&archive, &["takedown", "list"])
            .as_array()
            .expect("list")
            .is_empty()
    );
}

#[test]
fn an_embargo_holds_until_its_date_on_the_archives_clock() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(4, 4.0, 91);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let open = write_open_data(&tmp.path().join("open"), &spec).expect("open data");
    let archive = tmp.path().join("archive");
    crate::support::init_and_ingest(&archive, &[&music], &[]);
    crate::support::import_open_data(&archive, &open.0, &open.1);
    ok(&archive, &["match"]);
    ok(&archive, &["preserve"]);
    // 2029-06-01 and 2030-01-02, in seconds (the injected clock).
    let before = [("SOURCE_DATE_EPOCH", "1780272000")];
    let after = [("SOURCE_DATE_EPOCH", "1893542400")];
    ok_env(
        &archive,
        &[
            "embargo",
            "rec:2",
            "--until",
            "2030-01-01",
            "--reason",
            "label release window",
        ],
        &before,
    );
    ok_env(&archive, &["pack"], &before);
    let list = tmp.path().join("pub/torrents.json");
    let out = ok_env(
        &archive,
        &[
            "list",
            "export",
            "--out",
            list.to_str().expect("utf-8"),
            "--json",
        ],
        &before,
    );
    assert!(out.status.success());
    let entries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&list).expect("list")).expect("json");
    let published = published_recordings(&archive, &entries);
    assert!(!published.is_empty());
    assert!(!published.contains(&2), "embargoed before its date");
    let report: Value =
        serde_json::from_slice(&ok_env(&archive, &["rights", "report", "--json"], &before).stdout)
            .expect("report");
    assert_eq!(report["embargoes"][0]["embargo_until"], "2030-01-01");

    // The first pack after the date publishes it.
    ok_env(&archive, &["pack"], &after);
    ok_env(
        &archive,
        &["list", "export", "--out", list.to_str().expect("utf-8")],
        &after,
    );
    let entries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&list).expect("list")).expect("json");
    assert!(published_recordings(&archive, &entries).contains(&2));
    let log = json(&archive, &["rights", "log"]);
    assert_eq!(log[0]["action"], "embargo");
    assert_eq!(log[0]["until"], "2030-01-01");

    // Embargoed after publication: the torrent holding it is withdrawn and
    // listed with `embargo: true`, without magnet or .torrent…
    ok_env(
        &archive,
        &[
            "embargo",
            "rec:3",
            "--until",
            "2031-01-01",
            "--reason",
            "dispute",
        ],
        &after,
    );
    let list2 = tmp.path().join("pub2/torrents.json");
    ok_env(
        &archive,
        &["list", "export", "--out", list2.to_str().expect("utf-8")],
        &after,
    );
    let entries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&list2).expect("list")).expect("json");
    assert!(!published_recordings(&archive, &entries).contains(&3));
    let flagged: Vec<&Value> = entries.iter().filter(|e| e["embargo"] == true).collect();
    assert!(!flagged.is_empty(), "the withdrawn torrent is flagged");
    for e in &flagged {
        assert_eq!(e["magnet_link"], "", "{e:#}");
        let name = e["display_name"].as_str().expect("name");
        assert!(
            !tmp.path().join("pub2/torrents").join(name).exists(),
            "no .torrent for {name}"
        );
    }
    let verify = json(
        &archive,
        &["list", "verify", list2.to_str().expect("utf-8")],
    );
    assert_eq!(verify["signature_ok"], true, "{verify:#}");
    assert!(
        verify["problems"].as_array().expect("problems").is_empty(),
        "{verify:#}"
    );
    // …or left out, by policy.
    let config = archive.join("musicark.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("embargoed = \"flag\"", "embargoed = \"omit\""),
    )
    .expect("write");
    let list3 = tmp.path().join("pub3/torrents.json");
    ok_env(
        &archive,
        &["list", "export", "--out", list3.to_str().expect("utf-8")],
        &after,
    );
    let entries3: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&list3).expect("list")).expect("json");
    assert_eq!(entries3.len(), entries.len() - flagged.len());
    assert!(entries3.iter().all(|e| e["embargo"] == false));
}

#[test]
fn export_holds_exactly_the_items_under_the_asked_licence() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (archive, spec) = sample_archive(tmp.path(), 9, &[]);
    let want: BTreeSet<String> = spec
        .tracks
        .iter()
        .filter(|t| {
            musicark_publish::rights::map_license(&t.license).as_deref() == Some("CC-BY-SA-4.0")
        })
        .map(|t| t.isrc.clone())
        .collect();
    assert!(!want.is_empty() && want.len() < spec.tracks.len());
    let out = tmp.path().join("dataset");
    let r = json(
        &archive,
        &[
            "export",
            "--license",
            "cc-by-sa-4.0",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(r["items"].as_u64(), Some(want.len() as u64), "{r:#}");
    let metadata = std::fs::read_to_string(out.join("metadata.jsonl")).expect("metadata");
    let mut got = BTreeSet::new();
    for line in metadata.lines() {
        let v: Value = serde_json::from_str(line).expect("line");
        assert_eq!(v["license"], "CC-BY-SA-4.0");
        assert_eq!(v["license_source"], "tag");
        assert_eq!(v["license_tag"], "CC BY-SA 4.0");
        assert!(v["title"].is_string() && v["recording_mbid"].is_string());
        let file = out.join(v["path"].as_str().expect("path"));
        let bytes = std::fs::read(&file).expect("exported file");
        assert_eq!(
            blake3::hash(&bytes).to_hex().as_str(),
            v["blake3"].as_str().expect("b3")
        );
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            v["sha256"].as_str().expect("sha256")
        );
        for isrc in v["isrcs"].as_array().expect("isrcs") {
            got.insert(isrc.as_str().expect("isrc").to_string());
        }
    }
    assert_eq!(got, want);
    let files = crate::support::files_with_any(&out);
    assert_eq!(files.len(), want.len() + 1, "the audio and metadata.jsonl");

    // Metadata only.
    let out2 = tmp.path().join("dataset-jsonl");
    let r2 = json(
        &archive,
        &[
            "export",
            "--license",
            "CC-BY-SA-4.0",
            "--out",
            out2.to_str().expect("utf-8"),
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(r2["items"], r["items"]);
    assert_eq!(crate::support::files_with_any(&out2).len(), 1);

    // A taken-down recording is never exported, whatever its licence.
    let first = metadata.lines().next().expect("a line");
    let first: Value = serde_json::from_str(first).expect("json");
    let id = first["recording_id"].as_i64().expect("recording");
    json(
        &archive,
        &["takedown", &format!("rec:{id}"), "--reason", "request"],
    );
    let out3 = tmp.path().join("dataset-after");
    let r3 = json(
        &archive,
        &[
            "export",
            "--license",
            "CC-BY-SA-4.0",
            "--out",
            out3.to_str().expect("utf-8"),
        ],
    );
    assert!(r3["items"].as_u64() < r["items"].as_u64(), "{r3:#}");
    assert!(r3["withheld"].as_u64() >= Some(1));
    // An unknown licence id is refused.
    let bad = crate::support::bin()
        .arg("--archive")
        .arg(&archive)
        .args(["export", "--license", "some-licence", "--out"])
        .arg(tmp.path().join("x"))
        .output()
        .expect("run");
    assert!(!bad.status.success());
}

/// Regression: `export --license` said "Exported 0 items" on an archive
/// that had ingested files under that licence but preserved none, and
/// `ingest --rights` never said when files' own tags won over it.
#[test]
fn export_explains_unpreserved_files_and_ingest_names_licences_kept_over_rights() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = SampleSpec::with_tracks(6, 2.0, 31);
    let music = tmp.path().join("music");
    generate(&music, &spec).expect("sample");
    let archive = tmp.path().join("archive");
    ok(&archive, &["init"]);
    // Every sample album names its licence in its tags: the default given
    // here is overridden for all of them, and the operator is told.
    let summary = json(
        &archive,
        &[
            "ingest",
            music.to_str().expect("utf-8"),
            "--rights",
            "CC0-1.0",
        ],
    );
    let kept = summary["kept_own_licence"]
        .as_object()
        .expect("kept_own_licence");
    let total: u64 = kept.values().map(|v| v.as_u64().expect("count")).sum();
    assert!(total >= 6, "{summary:#}");
    assert!(kept.contains_key("CC-BY-4.0"), "{summary:#}");
    let human = ok(
        &archive,
        &[
            "ingest",
            music.to_str().expect("utf-8"),
            "--rights",
            "CC0-1.0",
        ],
    );
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("kept the licence their own tags name"),
        "{text}"
    );

    let out = tmp.path().join("export");
    let report = json(
        &archive,
        &[
            "export",
            "--license",
            "CC-BY-4.0",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(report["items"], 0);
    assert!(
        report["not_preserved"].as_u64().expect("not_preserved") > 0,
        "{report:#}"
    );
    let human = ok(
        &archive,
        &[
            "export",
            "--license",
            "CC-BY-4.0",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("musicark preserve"), "{text}");
}
