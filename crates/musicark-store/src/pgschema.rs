//! The archive's schema for PostgreSQL, derived from the one list of
//! migrations (`db::MIGRATIONS`), so that both engines' migrations are
//! numbered alike and cannot drift: migration N on PostgreSQL is
//! migration N's SQLite text with SQLite's own forms rewritten.
//!
//! The rewrite knows exactly the forms the migrations use (the test below
//! fails on any other): SQLite's type names, `INTEGER PRIMARY KEY` (a row
//! id: an identity column), `STRICT` and `WITHOUT ROWID` (PostgreSQL is
//! always both), the FTS5 table of schemas 2–3 (nothing on PostgreSQL:
//! search is tantivy's since schema 4), and the append-only triggers
//! (`RAISE(ABORT, …)`: one PL/pgSQL function raising the message).
//!
//! `crate::pg` applies it when it opens an archive on PostgreSQL. A test
//! applies every migration to a real server when `MUSICARK_TEST_POSTGRES`
//! names one (`.ci/run` starts one; under `MUSICARK_REQUIRE_PEERS=1` it
//! must).

/// SQLite's `json_extract(doc, '$.key')` for the one form the domain SQL
/// uses (a top-level key of a JSON object stored as text), so that the
/// statement is the same on both engines. Made with the first migration.
const JSON_EXTRACT: &str = "CREATE OR REPLACE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS TEXT \
LANGUAGE sql IMMUTABLE AS $$ SELECT (doc::jsonb) #>> string_to_array(substr(path, 3), '.') $$";

/// The function the append-only triggers call on PostgreSQL.
const APPEND_ONLY: &str = "CREATE OR REPLACE FUNCTION musicark_append_only() RETURNS trigger \
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$";

/// Migration `sqlite`'s text as PostgreSQL runs it: its statements in
/// order (empty statements dropped).
pub fn postgres_migration(sqlite: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stmt in statements(sqlite) {
        let upper = stmt.to_ascii_uppercase();
        if upper.starts_with("CREATE VIRTUAL TABLE") {
            continue; // FTS5: search lives in tantivy since schema 4
        }
        if let Some(rest) = upper.strip_prefix("DROP TABLE ")
            && !rest.starts_with("IF EXISTS")
        {
            out.push(format!(
                "DROP TABLE IF EXISTS {}",
                &stmt["DROP TABLE ".len()..]
            ));
            continue;
        }
        if upper.starts_with("CREATE TRIGGER") {
            out.push(APPEND_ONLY.to_string());
            out.push(trigger(&stmt));
            continue;
        }
        out.push(types(&stmt));
        if let Some((table, column)) = row_id(&stmt) {
            out.push(row_id_trigger(&table, &column));
            out.push(format!(
                "CREATE TRIGGER {table}_row_id BEFORE INSERT ON {table} FOR EACH ROW \
                 WHEN (NEW.{column} IS NULL) EXECUTE FUNCTION {table}_row_id()"
            ));
        }
    }
    out
}

/// The table and column of a `CREATE TABLE` whose key is SQLite's row id
/// (a single `INTEGER PRIMARY KEY` column).
fn row_id(stmt: &str) -> Option<(String, String)> {
    let rest = stmt.strip_prefix("CREATE TABLE ")?;
    let table: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let at = stmt.find(" INTEGER PRIMARY KEY")?;
    let column = stmt[..at]
        .rsplit(|c: char| c == '(' || c == ',' || c.is_whitespace())
        .find(|w| !w.is_empty())?
        .to_string();
    Some((table, column))
}

/// SQLite gives a row without an id the largest id plus one, inside the
/// writing transaction: no gaps when a transaction rolls back, and the
/// same ids for the same writes (a kill -9 and a rerun give the ids of a
/// clean run; the metadata release holds them). A sequence would give
/// neither, so PostgreSQL does the same in a trigger, under a lock per
/// table held to the end of the transaction (writers that add rows to the
/// same table take turns, as on SQLite; readers never wait). The trigger
/// fires only for a row without its id (`WHEN`): a bulk load that counts
/// its ids itself calls no function per row.
fn row_id_trigger(table: &str, column: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {table}_row_id() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.{column} IS NULL THEN \
           PERFORM pg_advisory_xact_lock({ROW_ID_LOCK}, hashtext('{table}')); \
           NEW.{column} := (SELECT coalesce(max({column}), 0) + 1 FROM {table}); \
         END IF; RETURN NEW; END $$"
    )
}

/// The first key of the row-id locks (the second is the table's hash).
const ROW_ID_LOCK: i32 = 0x6d75_7369;

/// Every migration, in order, for PostgreSQL.
pub fn postgres_migrations() -> Vec<Vec<String>> {
    let mut all: Vec<Vec<String>> = crate::db::MIGRATIONS
        .iter()
        .map(|m| postgres_migration(m))
        .collect();
    if let Some(first) = all.first_mut() {
        first.insert(0, JSON_EXTRACT.to_string());
    }
    all
}

/// The statements of a migration: split at `;` outside quotes, comments
/// and trigger bodies (`BEGIN … END`), without `--` comments.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut depth = 0usize; // inside a trigger's BEGIN … END
    for line in sql.lines() {
        let line = match (line.find("--"), in_quote) {
            (Some(i), false) if line[..i].matches('\'').count() % 2 == 0 => &line[..i],
            _ => line,
        };
        let mut word = String::new();
        for c in line.chars().chain(std::iter::once('\n')) {
            if c == '\'' {
                in_quote = !in_quote;
            }
            if !in_quote && (c.is_ascii_alphanumeric() || c == '_') {
                word.push(c);
            } else {
                match word.to_ascii_uppercase().as_str() {
                    "BEGIN" => depth += 1,
                    "END" => depth = depth.saturating_sub(1),
                    _ => {}
                }
                word.clear();
            }
            if c == ';' && !in_quote && depth == 0 {
                let s = cur.trim().to_string();
                if !s.is_empty() {
                    out.push(s);
                }
                cur.clear();
            } else {
                cur.push(c);
            }
        }
    }
    let s = cur.trim().to_string();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// SQLite's column types and table options in PostgreSQL's words. Text
/// compares and sorts by code point, as SQLite's does (`COLLATE "C"`),
/// whatever the server's locale: the same archive lists in the same
/// order on both engines.
fn types(stmt: &str) -> String {
    let mut s = stmt
        .replace(") STRICT, WITHOUT ROWID", ")")
        .replace(") STRICT", ")");
    // A single-column INTEGER PRIMARY KEY is SQLite's row id: given, or
    // made by the trigger of `row_id_trigger`.
    s = s.replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY");
    replace_word(
        &replace_word(
            &replace_word(
                &replace_word(&s, "TEXT", "TEXT COLLATE \"C\""),
                "INTEGER",
                "BIGINT",
            ),
            "REAL",
            "DOUBLE PRECISION",
        ),
        "BLOB",
        "BYTEA",
    )
}

/// `from` as a whole word (not inside another name) replaced by `to`.
fn replace_word(s: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + from.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..i]);
        out.push_str(if word(before) || word(after) {
            from
        } else {
            to
        });
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// `CREATE TRIGGER name BEFORE UPDATE ON t BEGIN SELECT RAISE(ABORT,
/// 'message'); END` as a PostgreSQL trigger calling
/// [`APPEND_ONLY`]'s function with the message.
fn trigger(stmt: &str) -> String {
    let words: Vec<&str> = stmt.split_whitespace().collect();
    let name = words.get(2).copied().unwrap_or("");
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let on = upper.iter().position(|w| w == "ON").unwrap_or(0);
    let timing = words[3..on].join(" ");
    let table = words.get(on + 1).copied().unwrap_or("");
    let message = stmt
        .split('\'')
        .nth(1)
        .unwrap_or("append-only")
        .replace('\'', "''");
    format!(
        "CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW EXECUTE FUNCTION musicark_append_only('{message}')"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_is_rewritten_without_sqlite_forms() {
        let all = postgres_migrations();
        assert_eq!(all.len() as i64, crate::SCHEMA_VERSION, "numbered alike");
        for (i, m) in all.iter().enumerate() {
            for stmt in m {
                let u = stmt.to_ascii_uppercase();
                for sqlite_only in [
                    "STRICT",
                    "WITHOUT ROWID",
                    "VIRTUAL",
                    "RAISE(ABORT",
                    " BLOB",
                    " REAL",
                    "INTEGER",
                ] {
                    assert!(
                        !u.contains(sqlite_only),
                        "migration {}: {sqlite_only} left in {stmt}",
                        i + 1
                    );
                }
            }
        }
        let flat: Vec<&String> = all.iter().flatten().collect();
        assert!(
            flat.iter()
                .any(|s| s.contains("artist_id  BIGINT PRIMARY KEY")),
            "row ids are plain keys"
        );
        assert!(
            flat.iter().any(|s| *s
                == "CREATE TRIGGER artists_row_id BEFORE INSERT ON artists FOR EACH ROW \
                   WHEN (NEW.artist_id IS NULL) EXECUTE FUNCTION artists_row_id()"),
            "row ids are made as SQLite makes them"
        );
        assert_eq!(
            row_id("CREATE TABLE t (\n  a_id INTEGER PRIMARY KEY,\n b TEXT)"),
            Some(("t".to_string(), "a_id".to_string()))
        );
        assert_eq!(
            row_id("CREATE TABLE t (a INTEGER NOT NULL, PRIMARY KEY (a))"),
            None
        );
        assert!(
            flat.iter().any(|s| s.starts_with("CREATE TRIGGER rights_log_no_update BEFORE UPDATE ON rights_log FOR EACH ROW EXECUTE FUNCTION musicark_append_only('rights_log is append-only')")),
            "{flat:#?}"
        );
        assert!(
            flat.iter()
                .any(|s| s == &"DROP TABLE IF EXISTS catalog_fts")
        );
    }

    #[test]
    fn words_not_names_are_rewritten() {
        assert_eq!(
            types("CREATE TABLE t (a INTEGER, realm TEXT, b REAL, c BLOB) STRICT"),
            "CREATE TABLE t (a BIGINT, realm TEXT COLLATE \"C\", b DOUBLE PRECISION, c BYTEA)"
        );
        assert_eq!(
            statements("CREATE TABLE a (x TEXT); -- a ';' here\nINSERT INTO a VALUES ('x;y');"),
            ["CREATE TABLE a (x TEXT)", "INSERT INTO a VALUES ('x;y')"]
        );
    }

    /// Every migration applied, in order, to a real PostgreSQL (psql, in a
    /// schema of its own that is dropped after), when
    /// `MUSICARK_TEST_POSTGRES` names one: the rewrite is checked by the
    /// server itself, and each table has the columns SQLite gives it.
    #[test]
    fn a_real_postgres_accepts_every_migration() {
        let Ok(url) = std::env::var("MUSICARK_TEST_POSTGRES") else {
            assert!(
                std::env::var_os("MUSICARK_REQUIRE_PEERS").is_none(),
                "MUSICARK_REQUIRE_PEERS=1 but MUSICARK_TEST_POSTGRES names no server (.ci/run starts one)"
            );
            eprintln!("SKIPPED: MUSICARK_TEST_POSTGRES is not set");
            return;
        };
        let schema = format!("musicark_schema_test_{}", std::process::id());
        let mut script = format!(
            "SET client_min_messages = warning; CREATE SCHEMA {schema}; SET search_path = {schema};\n"
        );
        for m in postgres_migrations() {
            for s in m {
                script.push_str(&s);
                script.push_str(";\n");
            }
        }
        let sqlite = crate::SqliteSchema::new().expect("schema");
        let tables: Vec<String> = sqlite.tables().expect("tables");
        for t in &tables {
            script.push_str(&format!(
                "SELECT '{t}:' || string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = '{t}';\n"
            ));
        }
        script.push_str(&format!("DROP SCHEMA {schema} CASCADE;\n"));
        let out = std::process::Command::new("psql")
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", &url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .expect("stdin")
                    .write_all(script.as_bytes())?;
                c.wait_with_output()
            })
            .expect("run psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for t in &tables {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{t}:")))
                .unwrap_or_else(|| panic!("no {t} on PostgreSQL: {text}"));
            assert_eq!(
                line,
                format!("{t}:{}", {
                    let mut columns = sqlite.columns(t).expect("columns");
                    columns.sort();
                    columns.join(",")
                }),
                "columns of {t}"
            );
        }
    }
}
