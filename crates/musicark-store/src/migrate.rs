//! Copying an archive's whole database from one engine to the other
//! (`musicark migrate`), and the check that the copy is equal: every
//! table's rows counted and hashed, in key order, on both sides.
//!
//! The copy streams (`Db::scan` → `Db::copy_in`: binary COPY into
//! PostgreSQL), so memory stays bounded at any size; the whole copy is
//! one transaction on the target, so a failure or a kill leaves nothing
//! half-copied (the target holds the empty schema; a rerun starts over).

use crate::sql::{Value, ValueRef};
use crate::{Db, Result, SqliteSchema};

/// One table copied or checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableSum {
    pub table: String,
    pub rows: u64,
    /// BLAKE3 of the rows in key order, each value tagged by type.
    pub checksum: String,
}

/// A table, its columns, and the columns that order its rows.
type TableShape = (String, Vec<String>, Vec<String>);

/// The archive's tables in creation order (a table's references come
/// before it), with their columns and the columns that order their rows.
fn tables() -> Result<Vec<TableShape>> {
    let schema = SqliteSchema::new()?;
    let mut out = Vec::new();
    for table in schema.tables()? {
        let columns = schema.columns(&table)?;
        let mut key = schema.key_columns(&table)?;
        if key.is_empty() {
            key = columns.clone();
        }
        out.push((table, columns, key));
    }
    Ok(out)
}

/// Copy every row of `from` into `to`, which holds the schema and no
/// rows but those its migrations made; then check both sides equal.
/// `progress(table, rows)` is told as each table is done.
pub fn copy_database(
    from: &Db,
    to: &mut Db,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Vec<TableSum>> {
    let tables = tables()?;
    let tx = to.transaction()?;
    // Rows the migrations made (the search high-water mark) give way to
    // the source's.
    for (table, _, _) in tables.iter().rev() {
        let n: i64 = tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        if n > 0 {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
    }
    for (table, columns, key) in &tables {
        let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
        let select = format!(
            "SELECT {} FROM {table} ORDER BY {}",
            cols.join(", "),
            key.join(", ")
        );
        // Each row written as it is read: two connections, one thread,
        // nothing held in memory.
        let width = cols.len();
        let n = tx.copy_in(table, &cols, |sink| {
            from.scan(&select, [], |r| {
                let row = (0..width)
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<crate::sql::Result<Vec<Value>>>()?;
                sink(&row)
            })
        })?;
        progress(table, n);
    }
    tx.commit()?;
    let source = checksums(from)?;
    let target = checksums(to)?;
    if source != target {
        let differ: Vec<String> = source
            .iter()
            .zip(&target)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("{} ({} rows vs {})", a.table, a.rows, b.rows))
            .collect();
        return Err(crate::StoreError::CopyDiffers {
            tables: differ.join(", "),
        });
    }
    Ok(source)
}

/// Whether `db` holds no archive's rows: only what its migrations made
/// (what a `migrate` killed before its commit leaves behind).
pub fn is_empty(db: &Db) -> Result<bool> {
    for (table, _, _) in tables()? {
        if table == "search_state" {
            continue;
        }
        let any: bool =
            db.query_row(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), [], |r| {
                r.get(0)
            })?;
        if any {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Each table's rows counted and hashed in key order. The same rows give
/// the same sums on either engine.
pub fn checksums(db: &Db) -> Result<Vec<TableSum>> {
    let mut out = Vec::new();
    for (table, columns, key) in tables()? {
        let select = format!(
            "SELECT {} FROM {table} ORDER BY {}",
            columns.join(", "),
            key.join(", ")
        );
        let mut hasher = blake3::Hasher::new();
        let mut rows = 0u64;
        db.scan(&select, [], |r| {
            for i in 0..columns.len() {
                let v: Value = r.get(i)?;
                hash_value(&mut hasher, v.as_ref());
            }
            rows += 1;
            Ok(())
        })?;
        out.push(TableSum {
            table,
            rows,
            checksum: hasher.finalize().to_hex().to_string(),
        });
    }
    Ok(out)
}

fn hash_value(h: &mut blake3::Hasher, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => {
            h.update(&[0]);
        }
        ValueRef::Integer(i) => {
            h.update(&[1]);
            h.update(&i.to_le_bytes());
        }
        ValueRef::Real(f) => {
            h.update(&[2]);
            h.update(&f.to_bits().to_le_bytes());
        }
        ValueRef::Text(t) => {
            h.update(&[3]);
            h.update(&(t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
        }
        ValueRef::Blob(b) => {
            h.update(&[4]);
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SQLite archive copied into another SQLite file (the PostgreSQL
    /// direction is tested end to end by `musicark migrate` in the
    /// binary's suite, against a real server).
    #[test]
    fn a_copy_has_the_same_rows_and_sums() {
        let dir = tempfile::tempdir().expect("tempdir");
        let from = Db::open(&dir.path().join("a.sqlite")).expect("a");
        from.execute_batch(
            "INSERT INTO artists (artist_id, name) VALUES (1, 'A'), (7, 'B ü');
             INSERT INTO recordings (recording_id, mbid, title, length_ms) VALUES (3, 'm', 't', NULL);
             INSERT INTO files (path, display_path, size, mtime_ns, status, mode, first_seen, last_seen)
               VALUES (x'ff00', '?', 1, 2, 'ok', 'copy', 'a', 'b');
             UPDATE search_state SET indexed_upto = 3;",
        )
        .expect("rows");
        let mut to = Db::open(&dir.path().join("b.sqlite")).expect("b");
        let mut seen = Vec::new();
        let sums =
            copy_database(&from, &mut to, &mut |t, n| seen.push((t.to_string(), n))).expect("copy");
        assert!(seen.contains(&("artists".to_string(), 2)), "{seen:?}");
        assert_eq!(sums, checksums(&to).expect("sums"));
        let upto: i64 = to
            .query_row("SELECT indexed_upto FROM search_state", [], |r| r.get(0))
            .expect("state");
        assert_eq!(upto, 3);
        // A row changed on one side changes that table's sum only.
        to.execute("UPDATE artists SET name = 'C' WHERE artist_id = 1", [])
            .expect("update");
        let after = checksums(&to).expect("sums");
        let differ: Vec<&str> = sums
            .iter()
            .zip(&after)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.table.as_str())
            .collect();
        assert_eq!(differ, ["artists"]);
    }
}
