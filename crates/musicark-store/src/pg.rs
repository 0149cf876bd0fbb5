//! The PostgreSQL engine behind [`crate::sql`]: one connection (the
//! synchronous `postgres` client, chosen by measurement: BENCHMARKS.md),
//! its prepared statements, SQLite's `?N` placeholders as `$N`, and values
//! converted both ways the way SQLite's loose typing lets the domain code
//! expect (a BIGINT read as a bool, a NUMERIC `sum` as an integer, an
//! integer bound where the server wants text).
//!
//! The schema is [`crate::pgschema`]'s rewrite of the one list of
//! migrations; the version applied is kept in `musicark_schema`, and
//! migrating holds a transaction-scoped advisory lock, so two processes
//! opening one database at once apply each migration once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use crate::sql::{Error, Value, ValueRef};
use crate::{Result, SCHEMA_VERSION, StoreError};

/// The advisory lock key migrations hold (any constant; "musicark").
const MIGRATION_LOCK: i64 = 0x6d75_7369_6361_726b;
/// Writers of the archive: shared by those that run together, taken
/// alone by the others (`Home::lock`).
const ARCHIVE_LOCK: i64 = MIGRATION_LOCK + 1;
/// One catalogue import at a time.
const CATALOG_LOCK: i64 = MIGRATION_LOCK + 2;

/// One connection and the statements prepared on it.
pub(crate) struct PgConn {
    client: RefCell<Client>,
    cache: RefCell<HashMap<String, Statement>>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgConn")
    }
}

impl PgConn {
    /// Connect to `url` and bring its schema to this build's version.
    pub(crate) fn open(url: &str) -> Result<PgConn> {
        let conn = PgConn::connect(url)?;
        conn.migrate()?;
        Ok(conn)
    }

    /// Connect for reading only: the server refuses writes on it. An
    /// older schema is migrated first on a connection of its own.
    pub(crate) fn open_read_only(url: &str) -> Result<PgConn> {
        let conn = PgConn::connect(url)?;
        let version = conn.version()?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            PgConn::open(url)?;
        }
        conn.batch("SET default_transaction_read_only = on")?;
        Ok(conn)
    }

    /// A connection holding the advisory locks `kind` needs, or `None`
    /// when another process holds one that excludes them.
    pub(crate) fn lock(url: &str, kind: crate::Writers) -> Result<Option<PgConn>> {
        let conn = PgConn::connect(url)?;
        let try_lock = |sql: &str, key: i64| -> Result<bool> {
            let row = conn
                .client()?
                .query_one(sql, &[&key])
                .map_err(Error::from)?;
            Ok(row.get(0))
        };
        let archive = match kind {
            crate::Writers::Alone => try_lock("SELECT pg_try_advisory_lock($1)", ARCHIVE_LOCK)?,
            crate::Writers::Ingest | crate::Writers::Catalog => {
                try_lock("SELECT pg_try_advisory_lock_shared($1)", ARCHIVE_LOCK)?
            }
        };
        if !archive {
            return Ok(None);
        }
        if kind == crate::Writers::Catalog
            && !try_lock("SELECT pg_try_advisory_lock($1)", CATALOG_LOCK)?
        {
            return Ok(None);
        }
        Ok(Some(conn))
    }

    /// Whether the database at `url` already holds an archive's schema.
    pub(crate) fn holds_archive(url: &str) -> Result<bool> {
        Ok(PgConn::connect(url)?.version()? > 0)
    }

    fn connect(url: &str) -> Result<PgConn> {
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            StoreError::Database(Error::from(e).context(redact(url)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("musicark");
        }
        let client = config
            .connect(NoTls)
            .map_err(|e| StoreError::Database(Error::from(e).context(redact(url))))?;
        let conn = PgConn {
            client: RefCell::new(client),
            cache: RefCell::new(HashMap::new()),
        };
        // Messages in the server's words, but no chatter on stderr.
        conn.batch("SET client_min_messages = warning")?;
        Ok(conn)
    }

    fn version(&self) -> Result<i64> {
        let exists = self
            .client
            .borrow_mut()
            .query_one("SELECT to_regclass('musicark_schema') IS NOT NULL", &[]);
        let exists: bool = exists.map_err(Error::from)?.get(0);
        if !exists {
            return Ok(0);
        }
        let row = self
            .client
            .borrow_mut()
            .query_one("SELECT coalesce(max(version), 0) FROM musicark_schema", &[])
            .map_err(Error::from)?;
        Ok(row.get(0))
    }

    fn migrate(&self) -> Result<()> {
        let migrations = crate::pgschema::postgres_migrations();
        loop {
            let mut client = self.client.borrow_mut();
            let mut tx = client.transaction().map_err(Error::from)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .map_err(Error::from)?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS musicark_schema (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
            )
            .map_err(Error::from)?;
            let version: i64 = tx
                .query_one("SELECT coalesce(max(version), 0) FROM musicark_schema", &[])
                .map_err(Error::from)?
                .get(0);
            if version > SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    found: version,
                    supported: SCHEMA_VERSION,
                });
            }
            if version == SCHEMA_VERSION {
                tx.commit().map_err(Error::from)?;
                return Ok(());
            }
            let next = version as usize;
            for stmt in &migrations[next] {
                tx.batch_execute(stmt).map_err(|e| {
                    Error::from(e).context(format!("migration {} on PostgreSQL", next + 1))
                })?;
            }
            tx.execute(
                "INSERT INTO musicark_schema (version, applied_at) VALUES ($1, $2)",
                &[&(next as i64 + 1), &crate::clock::now()],
            )
            .map_err(Error::from)?;
            tx.commit().map_err(Error::from)?;
        }
    }

    /// The client, or an error while a [`PgConn::scan`] holds it (a
    /// caller that runs statements on the connection it is scanning).
    fn client(&self) -> std::result::Result<std::cell::RefMut<'_, Client>, Error> {
        self.client
            .try_borrow_mut()
            .map_err(|_| Error::busy("the connection is being scanned"))
    }

    /// Statements without parameters, separated by `;`.
    pub(crate) fn batch(&self, sql: &str) -> std::result::Result<(), Error> {
        Ok(self.client()?.batch_execute(sql)?)
    }

    /// Every row of `sql`, streamed from the server (memory bounded
    /// whatever the answer's size), each given to `f`, which must not use
    /// this connection.
    pub(crate) fn scan(
        &self,
        sql: &str,
        values: &[Value],
        f: &mut dyn FnMut(&postgres::Row) -> std::result::Result<(), Error>,
    ) -> std::result::Result<(), Error> {
        use postgres::fallible_iterator::FallibleIterator;
        let stmt = self.prepare_cached(sql)?;
        let mut client = self.client()?;
        let mut rows = client.query_raw(&stmt, bound(values))?;
        while let Some(row) = rows.next()? {
            f(&row)?;
        }
        Ok(())
    }

    /// Write rows into `table`'s `columns` by binary COPY, as `feed`
    /// hands them to its sink; the number written.
    pub(crate) fn copy_in(
        &self,
        table: &str,
        columns: &[&str],
        feed: &mut dyn FnMut(&mut crate::sql::RowSink<'_>) -> std::result::Result<(), Error>,
    ) -> std::result::Result<u64, Error> {
        let list = columns.join(", ");
        let probe = self.prepare_cached(&format!("SELECT {list} FROM {table} LIMIT 0"))?;
        let types: Vec<Type> = probe.columns().iter().map(|c| c.type_().clone()).collect();
        let mut client = self.client()?;
        let sink = client.copy_in(&format!("COPY {table} ({list}) FROM STDIN (FORMAT binary)"))?;
        let mut writer = postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
        feed(&mut |row: &[Value]| {
            if row.len() != types.len() {
                return Err(Error::busy("a row of the wrong width for COPY"));
            }
            Ok(writer.write_raw(bound(row))?)
        })?;
        Ok(writer.finish()?)
    }

    /// `sql` prepared (placeholders rewritten), from the cache when the
    /// same text was prepared before.
    pub(crate) fn prepare_cached(&self, sql: &str) -> std::result::Result<Statement, Error> {
        if let Some(s) = self.cache.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.prepare(sql)?;
        self.cache
            .borrow_mut()
            .insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    pub(crate) fn prepare(&self, sql: &str) -> std::result::Result<Statement, Error> {
        let text = placeholders(sql);
        self.client()?
            .prepare(&text)
            .map_err(|e| Error::from(e).context(format!("in {}", one_line(sql))))
    }

    pub(crate) fn execute(
        &self,
        stmt: &Statement,
        values: &[Value],
    ) -> std::result::Result<u64, Error> {
        let params: Vec<PgParam<'_>> = values.iter().map(|v| PgParam(v.as_ref())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.client()?.execute(stmt, &refs)?)
    }

    pub(crate) fn query(
        &self,
        stmt: &Statement,
        values: &[Value],
    ) -> std::result::Result<Vec<postgres::Row>, Error> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut client = self.client()?;
        let rows = client.query_raw(stmt, bound(values))?;
        Ok(rows.collect()?)
    }
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = &url[s + 3..at];
            match user.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &user[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SQLite's placeholders (`?N`, and a bare `?`: one more than the largest
/// so far) as PostgreSQL's `$N`, outside quotes and comments.
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    let mut highest = 0usize;
    while let Some((_, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break; // a doubled quote reopens at once: same result
                    }
                }
            }
            '-' if chars.peek().is_some_and(|&(_, d)| d == '-') => {
                out.push('-');
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut n = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    n.push(d);
                    chars.next();
                }
                let k = n.parse().unwrap_or(highest + 1);
                highest = highest.max(k);
                out.push('$');
                out.push_str(&k.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// `values` as parameters of any type (see [`PgParam`]).
fn bound(values: &[Value]) -> impl ExactSizeIterator<Item = PgParam<'_>> {
    values.iter().map(|v| PgParam(v.as_ref()))
}

/// A value bound to a parameter of whatever type the server inferred.
#[derive(Debug)]
struct PgParam<'a>(ValueRef<'a>);

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        let v = self.0;
        if let ValueRef::Null = v {
            return Ok(IsNull::Yes);
        }
        let int = || -> std::result::Result<i64, BoxError> {
            match v {
                ValueRef::Integer(i) => Ok(i),
                ValueRef::Real(f) if f.fract() == 0.0 => Ok(f as i64),
                ValueRef::Text(t) => t.trim().parse().map_err(|_| mismatch(ty, v)),
                _ => Err(mismatch(ty, v)),
            }
        };
        match *ty {
            Type::INT8 => int()?.to_sql(ty, out),
            Type::INT4 => i32::try_from(int()?)?.to_sql(ty, out),
            Type::INT2 => i16::try_from(int()?)?.to_sql(ty, out),
            Type::BOOL => (int()? != 0).to_sql(ty, out),
            Type::FLOAT8 | Type::FLOAT4 => {
                let f = match v {
                    ValueRef::Integer(i) => i as f64,
                    ValueRef::Real(f) => f,
                    ValueRef::Text(t) => t.trim().parse().map_err(|_| mismatch(ty, v))?,
                    _ => return Err(mismatch(ty, v)),
                };
                if *ty == Type::FLOAT4 {
                    (f as f32).to_sql(ty, out)
                } else {
                    f.to_sql(ty, out)
                }
            }
            Type::BYTEA => match v {
                ValueRef::Blob(b) => b.to_sql(ty, out),
                ValueRef::Text(t) => t.as_bytes().to_sql(ty, out),
                _ => Err(mismatch(ty, v)),
            },
            // JSON stored as text (SQLite has no JSON type): JSONB's
            // binary form is a version byte and the text.
            Type::JSON | Type::JSONB => match v {
                ValueRef::Text(t) => {
                    if *ty == Type::JSONB {
                        out.extend_from_slice(&[1]);
                    }
                    out.extend_from_slice(t.as_bytes());
                    Ok(IsNull::No)
                }
                _ => Err(mismatch(ty, v)),
            },
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => match v {
                ValueRef::Text(t) => t.to_sql(ty, out),
                ValueRef::Integer(i) => i.to_string().as_str().to_sql(ty, out),
                ValueRef::Real(f) => f.to_string().as_str().to_sql(ty, out),
                ValueRef::Blob(_) | ValueRef::Null => Err(mismatch(ty, v)),
            },
            _ => Err(mismatch(ty, v)),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn mismatch(ty: &Type, v: ValueRef<'_>) -> BoxError {
    format!("cannot bind {v:?} to a parameter of type {ty}").into()
}

/// A column of any type, as the value SQLite would have given.
pub(crate) struct PgValue(pub(crate) Value);

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(PgValue(match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
            Type::OID => Value::Integer(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Integer(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Value::Text(<&str>::from_sql(ty, raw)?.to_string())
            }
            _ => return Err(format!("a column of type {ty} (musicark reads none)").into()),
        }))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// NUMERIC's binary form (what `sum` and `avg` of integers answer): an
/// integer when it has no fraction and fits, else a float.
fn numeric(raw: &[u8]) -> std::result::Result<Value, BoxError> {
    let word = |i: usize| -> std::result::Result<u16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "short NUMERIC".into())
    };
    let ndigits = word(0)? as usize;
    let weight = word(1)? as i16 as i32;
    let sign = word(2)?;
    let dscale = word(3)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let negative = sign == 0x4000;
    let mut int: Option<i128> = Some(0);
    let mut float = 0f64;
    for i in 0..ndigits {
        let d = word(4 + i)? as i32;
        let exp = weight - i as i32;
        float += d as f64 * 10000f64.powi(exp);
        int = match (int, exp >= 0) {
            (Some(acc), true) => 10000i128
                .checked_pow(exp as u32)
                .and_then(|p| p.checked_mul(d as i128))
                .and_then(|x| acc.checked_add(x)),
            (acc, false) if d == 0 => acc,
            _ => None,
        };
    }
    if dscale == 0
        && let Some(i) = int.and_then(|i| i64::try_from(if negative { -i } else { i }).ok())
    {
        return Ok(Value::Integer(i));
    }
    Ok(Value::Real(if negative { -float } else { float }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_quotes_become_dollars() {
        assert_eq!(
            placeholders("SELECT ?1, '?2', \"a?\" FROM t WHERE x = ?12 AND y = ?"),
            "SELECT $1, '?2', \"a?\" FROM t WHERE x = $12 AND y = $13"
        );
        assert_eq!(
            placeholders("SELECT 1 -- what ?1\n, ?1"),
            "SELECT 1 -- what ?1\n, $1"
        );
        assert_eq!(placeholders("a = 'it''s ?1' OR ?2"), "a = 'it''s ?1' OR $2");
    }

    #[test]
    fn numerics_read_as_sqlite_would() {
        // 123456789 = [1, 2345, 6789] weight 2; -1.5 = [1, 5000] weight 0, scale 1.
        let enc = |digits: &[u16], weight: i16, sign: u16, scale: u16| {
            let mut v = Vec::new();
            for w in [digits.len() as u16, weight as u16, sign, scale]
                .iter()
                .chain(digits)
            {
                v.extend_from_slice(&w.to_be_bytes());
            }
            v
        };
        assert_eq!(
            numeric(&enc(&[1, 2345, 6789], 2, 0, 0)).expect("int"),
            Value::Integer(123_456_789)
        );
        assert_eq!(
            numeric(&enc(&[1, 5000], 0, 0x4000, 1)).expect("float"),
            Value::Real(-1.5)
        );
        assert_eq!(
            numeric(&enc(&[], 0, 0, 0)).expect("zero"),
            Value::Integer(0)
        );
        assert_eq!(
            numeric(&enc(&[5], 1, 0, 0)).expect("50000"),
            Value::Integer(50_000)
        );
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://ark:secret@db.example/ark"),
            "postgres://ark:***@db.example/ark"
        );
        assert_eq!(redact("postgres://ark@db/ark"), "postgres://ark@db/ark");
    }
}
