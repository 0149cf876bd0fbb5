//! Conventions the code keeps (rust-analyzer's tidy test): every Rust file
//! says what it is for in a `//!` header, no test expects a panic (the
//! should-panic attribute), and library code never unwraps. And the
//! architecture's rules, held by a test rather than by review:
//!
//! - Every table has one owning crate, and only its owner writes it.
//! - The front ends (the `musicark` binary and `musicark-web`) hold no
//!   SQL and cannot reach a connection: they compose the domain crates'
//!   typed functions, so the CLI and the web cannot behave differently.
//! - Only the store reaches the archive's database (rusqlite elsewhere
//!   only for SQLite files that are a format).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_has_a_header_and_no_hidden_panics() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "fuzz/fuzz_targets"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 40, "found only {} files", files.len());
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let name = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        if !text.starts_with("//!") {
            problems.push(format!("{name}: does not start with a //! header"));
        }
        if text.contains(concat!("#[should", "_panic")) {
            problems.push(format!("{name}: a should-panic test"));
        }
        let library = name.contains("/src/") && !name.starts_with("xtask");
        if library {
            // Test modules at the end of a file may unwrap; library code not.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            if code.contains(concat!(".unwrap", "()")) {
                problems.push(format!("{name}: .unwrap() in library code"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Which crate owns which table: the one place a table is written from.
/// ARCHITECTURE.md shows the same map; keep them together.
const OWNERS: &[(&str, &str)] = &[
    // ingest records (the store's `records` module: what bytes we hold)
    ("contents", "musicark-store"),
    ("files", "musicark-store"),
    ("fingerprints", "musicark-store"),
    ("ingest_runs", "musicark-store"),
    ("pending", "musicark-store"),
    // the work queue (the store's `queue` module)
    ("jobs", "musicark-store"),
    // the catalogue
    ("artists", "musicark-catalog"),
    ("external_ids", "musicark-catalog"),
    ("imports", "musicark-catalog"),
    ("isrcs", "musicark-catalog"),
    ("popularity", "musicark-catalog"),
    ("recording_artists", "musicark-catalog"),
    ("recordings", "musicark-catalog"),
    ("rejects", "musicark-catalog"),
    ("release_groups", "musicark-catalog"),
    ("releases", "musicark-catalog"),
    ("tracks", "musicark-catalog"),
    ("search_outbox", "musicark-catalog"),
    ("search_state", "musicark-catalog"),
    ("catalog_fts", "musicark-catalog"),
    // identify
    ("matches", "musicark-identify"),
    // preserve
    ("preserved", "musicark-preserve"),
    // publish and rights
    ("packs", "musicark-publish"),
    ("pack_files", "musicark-publish"),
    ("rights", "musicark-publish"),
    ("rights_log", "musicark-publish"),
    // swarm
    ("scrapes", "musicark-swarm"),
    // following other publishers
    ("publishers", "musicark-follow"),
    ("publisher_torrents", "musicark-follow"),
    ("publisher_holdings", "musicark-follow"),
    ("publisher_wants", "musicark-follow"),
    // fsck
    ("fsck_checks", "musicark-fsck"),
    ("fsck_runs", "musicark-fsck"),
    ("repair_log", "musicark-fsck"),
];

/// Writes by a crate that does not own the table, each with why it is
/// still there. The list only shrinks: a new entry needs a reason an
/// owner's function cannot serve.
const KNOWN_EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "rights",
    "musicark-catalog",
    "an import records the licence its source gives a recording in the same transaction as the \
     recording; musicark-publish (the owner) depends on the catalogue through preserve, so the \
     catalogue cannot call it",
)];

/// Crates that may depend on rusqlite, and why. The archive's database
/// is reached only through `musicark_store::sql` (its connection is
/// private to the store); these others read or write SQLite *files* that
/// are a format, not the archive.
const RUSQLITE_USERS: &[(&str, &str)] = &[
    ("musicark-store", "the archive's database"),
    (
        "musicark-catalog",
        "imports SQLite files a mapping names as a source",
    ),
    (
        "musicark-publish",
        "writes the metadata release, an SQLite file",
    ),
];

/// Crates that must hold no SQL: the front ends.
const FRONT_ENDS: &[&str] = &["musicark", "musicark-web"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if dir.is_dir() {
        rust_files(dir, &mut out);
    }
    out.sort();
    out
}

/// A file's text without its unit-test module (tests set up rows of any
/// table, as a fixture would).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// The tables the migrations create.
fn tables() -> Vec<String> {
    let db = std::fs::read_to_string(root().join("crates/musicark-store/src/db.rs"))
        .expect("read the migrations");
    let mut out = Vec::new();
    for marker in ["CREATE TABLE ", "CREATE VIRTUAL TABLE "] {
        for (i, _) in db.match_indices(marker) {
            let name: String = db[i + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

/// Whether `text` writes `table` (INSERT, UPDATE, DELETE or REPLACE).
fn writes(text: &str, table: &str) -> bool {
    let heads = [
        "INSERT INTO ",
        "INSERT OR IGNORE INTO ",
        "INSERT OR REPLACE INTO ",
        "REPLACE INTO ",
        "UPDATE ",
        "DELETE FROM ",
    ];
    heads.iter().any(|h| {
        text.match_indices(&format!("{h}{table}")).any(|(i, m)| {
            let next = text[i + m.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    })
}

#[test]
fn every_table_has_one_owner_and_only_it_writes_the_table() {
    let owners: BTreeMap<&str, &str> = OWNERS.iter().copied().collect();
    let tables = tables();
    assert!(tables.len() > 20, "migrations not found: {tables:?}");
    let unowned: Vec<&String> = tables
        .iter()
        .filter(|t| !owners.contains_key(t.as_str()))
        .collect();
    assert!(
        unowned.is_empty(),
        "tables without an owner (add them to OWNERS and to ARCHITECTURE.md): {unowned:?}"
    );
    let mut violations = Vec::new();
    let crates = root().join("crates");
    for krate in std::fs::read_dir(&crates).expect("crates/").flatten() {
        let name = krate.file_name().to_string_lossy().into_owned();
        for file in sources(&krate.path().join("src")) {
            if name == "musicark-store" && file.ends_with("db.rs") {
                continue; // the migrations create and seed every table
            }
            let text = std::fs::read_to_string(&file).expect("read a source file");
            let text = without_tests(&text);
            for table in &tables {
                let owner = owners[table.as_str()];
                let excepted = KNOWN_EXCEPTIONS
                    .iter()
                    .any(|(t, c, _)| t == table && *c == name);
                if owner != name && !excepted && writes(text, table) {
                    violations.push(format!(
                        "{} writes {table}, owned by {owner}",
                        file.strip_prefix(root()).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "call the owner's typed function instead:\n{}",
        violations.join("\n")
    );
}

#[test]
fn front_ends_hold_no_sql_and_no_connection() {
    let mut found = Vec::new();
    for fe in FRONT_ENDS {
        let dir = root().join("crates").join(fe);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
        let deps = manifest
            .split("\n[")
            .find(|s| s.starts_with("dependencies]"))
            .unwrap_or("");
        if deps.lines().any(|l| l.starts_with("rusqlite")) {
            found.push(format!("{fe} depends on rusqlite"));
        }
        for file in sources(&dir.join("src")) {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for needle in [
                "SELECT ",
                "INSERT INTO",
                "UPDATE ",
                "DELETE FROM",
                ".conn.",
                ".conn\n",
            ] {
                for (i, _) in text.match_indices(needle) {
                    let line = text[..i].lines().count() + 1;
                    found.push(format!(
                        "{}:{line}: {needle:?}",
                        file.strip_prefix(root()).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "front ends compose the domain crates' typed functions; move this into the table's owner:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_store_reaches_the_archive_database() {
    let mut found = Vec::new();
    for krate in std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
    {
        let name = krate.file_name().to_string_lossy().into_owned();
        let manifest =
            std::fs::read_to_string(krate.path().join("Cargo.toml")).expect("Cargo.toml");
        let deps = manifest
            .split("\n[")
            .find(|s| s.starts_with("dependencies]"))
            .unwrap_or("");
        let uses = deps.lines().any(|l| l.starts_with("rusqlite"));
        if uses && !RUSQLITE_USERS.iter().any(|(c, _)| *c == name) {
            found.push(format!(
                "{name} depends on rusqlite: reach the archive through musicark_store::sql"
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// SQL that only SQLite understands, with what to write instead: domain
/// crates write SQL both engines run (SQLite 3.44+ and PostgreSQL 15+
/// share upserts, `RETURNING`, `string_agg`), and what only one engine has
/// lives in `musicark_store::sql` behind a named operation.
const SQLITE_ONLY: &[(&str, &str)] = &[
    (
        "INSERT OR ",
        "INSERT … ON CONFLICT … DO NOTHING / DO UPDATE",
    ),
    ("last_insert_rowid", "INSERT … RETURNING id"),
    ("group_concat", "string_agg(x, sep ORDER BY …)"),
    ("strftime(", "musicark_store::clock"),
    ("PRAGMA", "a named operation in musicark_store::sql"),
    ("sqlite_master", "a named operation in musicark_store::sql"),
    (" rowid", "the table's key column"),
];

/// Files that may hold SQLite-only SQL, and why.
const SQLITE_ONLY_FILES: &[(&str, &str)] = &[(
    "crates/musicark-publish/src/metadata.rs",
    "the metadata release is an SQLite file, built with SQLite's own statements",
)];

/// The string literals of Rust source (where SQL lives), with where each
/// starts: comments, char literals and raw strings are told apart.
fn string_literals(text: &str) -> Vec<(usize, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 3,
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'r' if matches!(b.get(i + 1), Some(b'#' | b'"')) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let end = text[open + 1..]
                    .find(&close)
                    .map_or(b.len(), |e| open + 1 + e);
                out.push((open + 1, &text[open + 1..end]));
                i = end + close.len();
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                out.push((start, &text[start..i.min(b.len())]));
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

#[test]
fn domain_sql_runs_on_both_engines() {
    let mut found = Vec::new();
    for krate in std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
    {
        if krate.file_name() == "musicark-store" {
            continue;
        }
        for file in sources(&krate.path().join("src")) {
            let rel = file
                .strip_prefix(root())
                .unwrap_or(&file)
                .display()
                .to_string();
            if SQLITE_ONLY_FILES.iter().any(|(f, _)| *f == rel) {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("read a source file");
            let text = without_tests(&text);
            for (start, literal) in string_literals(text) {
                for (needle, instead) in SQLITE_ONLY {
                    for (i, _) in literal.match_indices(needle) {
                        let line = text[..start + i].lines().count().max(1);
                        found.push(format!("{rel}:{line}: {needle:?} (write {instead})"));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQLite-only SQL in a domain crate:\n{}",
        found.join("\n")
    );
}

#[test]
fn string_literals_are_found_and_comments_are_not() {
    let src = "// \"INSERT OR in a comment\"\nlet a = '\"'; let s = \"one \\\" two\"; let r = r#\"raw \"x\" y\"#;";
    let found: Vec<&str> = string_literals(src).into_iter().map(|(_, s)| s).collect();
    assert_eq!(found, ["one \\\" two", "raw \"x\" y"]);
}

#[test]
fn the_checks_see_a_write_when_there_is_one() {
    assert!(writes("\"INSERT INTO rights (entity)", "rights"));
    assert!(writes("UPDATE packs SET", "packs"));
    assert!(!writes("UPDATE packs_old SET", "packs"));
    assert!(!writes("SELECT * FROM rights_log", "rights"));
    assert!(writes("INSERT OR REPLACE INTO preserved (", "preserved"));
}
