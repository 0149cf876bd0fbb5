//! The one door to the archive's database. Domain crates run their own
//! tables' SQL through these types — [`Db`]'s methods, [`Tx`], [`Stmt`],
//! [`Row`], [`Rows`] — and never hold a connection: the store keeps it
//! private, so that a second engine can stand behind the same door (each
//! statement is prepared, bound and read here, in one place).
//!
//! The method names follow rusqlite's, which the domain code was written
//! against; parameters are bound with this module's [`params!`] and
//! [`params_from_iter`], and columns read with [`Row::get`] (any
//! [`Column`] type) or [`Row::text`] (a borrowed string, for hot loops).

use rusqlite::{CachedStatement, Connection, Statement, Transaction};

use crate::db::Db;

pub use rusqlite::types::{FromSql as Column, ToSql as Param, Value};
pub use rusqlite::{Error, OptionalExtension, Params, Result, RowIndex, params_from_iter};

/// Bind parameters by position: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    ($($p:expr),* $(,)?) => {
        &[$(&$p as &dyn $crate::sql::Param),*] as &[&dyn $crate::sql::Param]
    };
}
pub use crate::params;

/// One row of an answer.
pub struct Row<'a, 'b>(&'a rusqlite::Row<'b>);

impl Row<'_, '_> {
    /// Column `i`, converted to `T` (an integer, a float, text, bytes, a
    /// bool from an integer, or an `Option` of them for NULL).
    pub fn get<I: RowIndex, T: Column>(&self, i: I) -> Result<T> {
        self.0.get(i)
    }

    /// Column `i` as borrowed text, without copying (NULL: `None`).
    pub fn text(&self, i: usize) -> Result<Option<&str>> {
        match self.0.get_ref(i)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            v => v
                .as_str()
                .map(Some)
                .map_err(|e| Error::FromSqlConversionFailure(i, v.data_type(), Box::new(e))),
        }
    }

    /// Column `i` as any value (for copying rows whose types vary).
    pub fn value(&self, i: usize) -> Result<Value> {
        self.0.get(i)
    }
}

/// A text column that holds one of an enum's names, parsed (a row whose
/// text is not one of them is an error naming the column).
pub fn parse_column<T>(r: &Row<'_, '_>, i: usize) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let s: String = r.get(i)?;
    s.parse().map_err(|e: T::Err| {
        Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("column {i}: {e}").into(),
        )
    })
}

/// The rows of an answer, read one at a time.
pub struct Rows<'s>(rusqlite::Rows<'s>);

impl<'s> Rows<'s> {
    #[allow(clippy::should_implement_trait)] // rows borrow from the cursor: not an Iterator
    pub fn next(&mut self) -> Result<Option<Row<'_, 's>>> {
        Ok(self.0.next()?.map(Row))
    }
}

/// A prepared statement.
pub struct Stmt<'c>(StmtInner<'c>);

enum StmtInner<'c> {
    Cached(CachedStatement<'c>),
    Plain(Statement<'c>),
}

impl<'c> Stmt<'c> {
    fn raw(&mut self) -> &mut Statement<'c> {
        match &mut self.0 {
            StmtInner::Cached(s) => s,
            StmtInner::Plain(s) => s,
        }
    }

    /// Run it for its effect; the number of rows changed.
    pub fn execute<P: Params>(&mut self, p: P) -> Result<usize> {
        self.raw().execute(p)
    }

    /// The first row, mapped (no row: `Error::QueryReturnedNoRows`; with
    /// [`OptionalExtension::optional`], `None`).
    pub fn query_row<T, P: Params, F>(&mut self, p: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_, '_>) -> Result<T>,
    {
        self.raw().query_row(p, |r| f(&Row(r)))
    }

    /// Every row, mapped, as they are read.
    pub fn query_map<'a, T, P: Params, F>(
        &'a mut self,
        p: P,
        mut f: F,
    ) -> Result<impl Iterator<Item = Result<T>> + 'a>
    where
        F: FnMut(&Row<'_, '_>) -> Result<T> + 'a,
    {
        self.raw().query_map(p, move |r| f(&Row(r)))
    }

    /// The rows, read one at a time with [`Rows::next`].
    pub fn query<P: Params>(&mut self, p: P) -> Result<Rows<'_>> {
        Ok(Rows(self.raw().query(p)?))
    }

    /// The names of the answer's columns.
    pub fn column_names(&mut self) -> Vec<String> {
        self.raw().column_names().map(String::from).collect()
    }
}

/// The operations [`Db`] and [`Tx`] share: implemented once over the
/// connection each holds.
macro_rules! sql_methods {
    () => {
        /// Prepare `sql`, reusing the statement the connection keeps for
        /// the same text.
        pub fn prepare_cached(&self, sql: &str) -> $crate::sql::Result<$crate::sql::Stmt<'_>> {
            $crate::sql::cached(self.connection(), sql)
        }

        /// Prepare `sql` once (text built at run time).
        pub fn prepare(&self, sql: &str) -> $crate::sql::Result<$crate::sql::Stmt<'_>> {
            $crate::sql::plain(self.connection(), sql)
        }

        /// Run one statement for its effect; the number of rows changed.
        pub fn execute<P: $crate::sql::Params>(
            &self,
            sql: &str,
            p: P,
        ) -> $crate::sql::Result<usize> {
            self.connection().execute(sql, p)
        }

        /// Run statements separated by `;` (schema changes, bulk work).
        pub fn execute_batch(&self, sql: &str) -> $crate::sql::Result<()> {
            self.connection().execute_batch(sql)
        }

        /// The first row of one statement, mapped.
        pub fn query_row<T, P: $crate::sql::Params, F>(
            &self,
            sql: &str,
            p: P,
            f: F,
        ) -> $crate::sql::Result<T>
        where
            F: FnOnce(&$crate::sql::Row<'_, '_>) -> $crate::sql::Result<T>,
        {
            self.connection()
                .query_row(sql, p, |r| f(&$crate::sql::Row(r)))
        }

        /// The id the last insert gave its row.
        pub fn last_insert_rowid(&self) -> i64 {
            self.connection().last_insert_rowid()
        }
    };
}

pub(crate) fn cached<'c>(conn: &'c Connection, sql: &str) -> Result<Stmt<'c>> {
    Ok(Stmt(StmtInner::Cached(conn.prepare_cached(sql)?)))
}

pub(crate) fn plain<'c>(conn: &'c Connection, sql: &str) -> Result<Stmt<'c>> {
    Ok(Stmt(StmtInner::Plain(conn.prepare(sql)?)))
}

/// A transaction: what it writes is seen by others, whole, at
/// [`Tx::commit`]; dropped without it, nothing was written.
pub struct Tx<'c>(TxInner<'c>);

enum TxInner<'c> {
    Owned(Transaction<'c>),
    /// A transaction begun on a shared borrow (a connection behind a
    /// mutex, a read-write pair): the caller guarantees no other one is
    /// open on the connection.
    Unchecked(Transaction<'c>),
}

impl<'c> Tx<'c> {
    fn connection(&self) -> &Connection {
        match &self.0 {
            TxInner::Owned(t) | TxInner::Unchecked(t) => t,
        }
    }

    sql_methods!();

    pub fn commit(self) -> Result<()> {
        match self.0 {
            TxInner::Owned(t) | TxInner::Unchecked(t) => t.commit(),
        }
    }

    pub fn rollback(self) -> Result<()> {
        match self.0 {
            TxInner::Owned(t) | TxInner::Unchecked(t) => t.rollback(),
        }
    }
}

impl Db {
    fn connection(&self) -> &Connection {
        &self.conn
    }

    sql_methods!();

    /// Begin a transaction.
    pub fn transaction(&mut self) -> Result<Tx<'_>> {
        Ok(Tx(TxInner::Owned(self.conn.transaction()?)))
    }

    /// Begin a transaction through a shared borrow; the caller makes sure
    /// no other transaction is open on this `Db`.
    pub fn unchecked_transaction(&self) -> Result<Tx<'_>> {
        Ok(Tx(TxInner::Unchecked(self.conn.unchecked_transaction()?)))
    }

    /// The engine's own check of the database's structure (SQLite's
    /// `quick_check`): `None` when sound, else what it found.
    pub fn integrity_problem(&self) -> Result<Option<String>> {
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        Ok((result != "ok").then_some(result))
    }

    /// The database file (none for one in memory).
    pub fn path(&self) -> Option<&str> {
        self.conn.path()
    }

    /// Write the WAL back into the database file and truncate it (after a
    /// large load, before readers open it).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    }

    /// Tune the connection for one large load into empty or growing
    /// tables (more cache, temporary sorts on disk, two sorter threads,
    /// no automatic WAL checkpoints: an index build's pages would be
    /// copied twice). `false` restores the defaults.
    pub fn bulk_load(&self, on: bool) -> Result<()> {
        if on {
            self.conn.pragma_update(None, "cache_size", -262_144i64)?;
            self.conn.pragma_update(None, "temp_store", "FILE")?;
            self.conn.pragma_update(None, "threads", 2i64)?;
            self.conn.pragma_update(None, "wal_autocheckpoint", 0i64)?;
        } else {
            self.conn
                .pragma_update(None, "wal_autocheckpoint", 1000i64)?;
        }
        Ok(())
    }
}

/// Whether an error is a uniqueness or other constraint failing (a
/// duplicate key, say), as opposed to the database failing.
pub fn is_constraint_violation(e: &Error) -> bool {
    matches!(e, Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}
