//! The one door to the archive's database. Domain crates run their own
//! tables' SQL through these types — [`Db`]'s methods, [`Tx`], [`Stmt`],
//! [`Row`], [`Rows`] — and never hold a connection: the store keeps it
//! private, so that a second engine can stand behind the same door (each
//! statement is prepared, bound and read here, in one place).
//!
//! Nothing of the engine shows through: parameters are [`Param`]s bound
//! with [`params!`], an array or [`params_from_iter`]; columns are read as
//! [`Column`]s with [`Row::get`] (or borrowed with [`Row::text`]); errors
//! are [`Error`]. The method names follow rusqlite's, which the domain
//! code was first written against. SQL is written in the dialect both
//! SQLite (3.44+) and PostgreSQL (15+) run, with `?N` placeholders (the
//! tidy test keeps SQLite-only forms out of the domain crates).

use rusqlite::types::{FromSql, FromSqlError, ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection, Statement, Transaction};

use crate::db::Db;

/// What a database operation failed with.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] rusqlite::Error);

impl Error {
    /// A column's text that is not what the reader expected.
    pub fn conversion(column: usize, message: String) -> Error {
        Error(rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            message.into(),
        ))
    }

    /// The engine's own error, for the store's diagnosis (full disk).
    pub(crate) fn sqlite(&self) -> &rusqlite::Error {
        &self.0
    }
}

impl From<Error> for crate::StoreError {
    fn from(e: Error) -> Self {
        crate::StoreError::from(e.0)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `query_row`'s "no row" as `None`.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A value bound to a placeholder.
pub trait Param {
    /// The value as SQLite stores it.
    fn sqlite(&self) -> rusqlite::Result<ToSqlOutput<'_>>;
}

macro_rules! param_via_rusqlite {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn sqlite(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                rusqlite::ToSql::to_sql(self)
            }
        }
    )*};
}
param_via_rusqlite!(
    i64,
    i32,
    i16,
    i8,
    u32,
    u16,
    u8,
    f64,
    f32,
    bool,
    str,
    String,
    [u8],
    Vec<u8>
);

impl<T: Param> Param for Option<T> {
    fn sqlite(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Some(v) => v.sqlite(),
            None => Ok(ToSqlOutput::Owned(rusqlite::types::Value::Null)),
        }
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn sqlite(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        (**self).sqlite()
    }
}

/// Adapts a [`Param`] to the SQLite driver.
struct ToSqlite<'a>(&'a dyn Param);

impl rusqlite::ToSql for ToSqlite<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        self.0.sqlite()
    }
}

/// The parameters of one statement, by position.
pub trait Params {
    /// Call `bind(position, value)` for each, from 1.
    fn each(
        self,
        bind: &mut dyn FnMut(usize, &dyn Param) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()>;
}

impl Params for &[&dyn Param] {
    fn each(
        self,
        bind: &mut dyn FnMut(usize, &dyn Param) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        for (i, p) in self.iter().enumerate() {
            bind(i + 1, *p)?;
        }
        Ok(())
    }
}

macro_rules! params_for_arrays {
    ($($n:literal)*) => {$(
        impl<T: Param> Params for [T; $n] {
            fn each(
                self,
                bind: &mut dyn FnMut(usize, &dyn Param) -> rusqlite::Result<()>,
            ) -> rusqlite::Result<()> {
                for (i, p) in self.iter().enumerate() {
                    bind(i + 1, p)?;
                }
                Ok(())
            }
        }
    )*};
}
params_for_arrays!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);

/// No parameters: `[]`.
impl Params for [&dyn Param; 0] {
    fn each(
        self,
        _: &mut dyn FnMut(usize, &dyn Param) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        Ok(())
    }
}

/// Parameters from an iterator (a list whose length is known only at
/// run time).
pub struct ParamsFromIter<I>(I);

pub fn params_from_iter<I>(iter: I) -> ParamsFromIter<I::IntoIter>
where
    I: IntoIterator,
    I::Item: Param,
{
    ParamsFromIter(iter.into_iter())
}

impl<I> Params for ParamsFromIter<I>
where
    I: Iterator,
    I::Item: Param,
{
    fn each(
        self,
        bind: &mut dyn FnMut(usize, &dyn Param) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        for (i, p) in self.0.enumerate() {
            bind(i + 1, &p)?;
        }
        Ok(())
    }
}

/// Bind `p` to `stmt`'s placeholders, checking that each is given.
fn bind<P: Params>(stmt: &mut Statement<'_>, p: P) -> rusqlite::Result<()> {
    // Every placeholder is bound (the count is checked below), so what a
    // cached statement's previous run bound is always overwritten.
    let mut given = 0;
    p.each(&mut |i, v| {
        given = given.max(i);
        stmt.raw_bind_parameter(i, ToSqlite(v))
    })?;
    if given != stmt.parameter_count() {
        return Err(rusqlite::Error::InvalidParameterCount(
            given,
            stmt.parameter_count(),
        ));
    }
    Ok(())
}

/// A value read from a column.
pub trait Column: Sized {
    /// From SQLite's stored value.
    fn sqlite(v: ValueRef<'_>) -> Result<Self, FromSqlError>;
}

macro_rules! column_via_rusqlite {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn sqlite(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
                <$t as FromSql>::column_result(v)
            }
        }
    )*};
}
column_via_rusqlite!(i64, i32, u32, f64, bool, String, Vec<u8>, Value);

impl<T: Column> Column for Option<T> {
    fn sqlite(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::sqlite(v).map(Some),
        }
    }
}

/// Any value, for copying rows whose types vary.
pub use rusqlite::types::Value;

/// Adapts a [`Column`] to the SQLite driver.
struct FromSqlite<T>(T);

impl<T: Column> FromSql for FromSqlite<T> {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        T::sqlite(v).map(FromSqlite)
    }
}

/// Bind parameters by position: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    ($($p:expr),* $(,)?) => {
        &[$(&$p as &dyn $crate::sql::Param),*] as &[&dyn $crate::sql::Param]
    };
}
pub use crate::params;

/// Which column of a row: its position, from 0.
pub trait ColumnIndex {
    fn index(self) -> usize;
}

impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One row of an answer.
pub struct Row<'a, 'b>(&'a rusqlite::Row<'b>);

impl Row<'_, '_> {
    /// Column `i` (from 0), converted to `T` (an integer, a float, text,
    /// bytes, a bool from an integer, or an `Option` of them for NULL).
    /// The index is generic only so that `get::<_, T>(i)` reads as it did.
    pub fn get<I: ColumnIndex, T: Column>(&self, i: I) -> Result<T> {
        Ok(self.0.get::<usize, FromSqlite<T>>(i.index())?.0)
    }

    /// Column `i` as borrowed text, without copying (NULL: `None`).
    pub fn text(&self, i: usize) -> Result<Option<&str>> {
        match self.0.get_ref(i)? {
            ValueRef::Null => Ok(None),
            v => Ok(Some(v.as_str().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(i, v.data_type(), Box::new(e))
            })?)),
        }
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
    s.parse()
        .map_err(|e: T::Err| Error::conversion(i, format!("column {i}: {e}")))
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
        let s = self.raw();
        bind(s, p)?;
        Ok(s.raw_execute()?)
    }

    /// The first row, mapped (no row: an error that
    /// [`OptionalExtension::optional`] turns into `None`).
    pub fn query_row<T, P: Params, F>(&mut self, p: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_, '_>) -> Result<T>,
    {
        let s = self.raw();
        bind(s, p)?;
        let mut rows = s.raw_query();
        match rows.next()? {
            Some(r) => f(&Row(r)),
            None => Err(Error(rusqlite::Error::QueryReturnedNoRows)),
        }
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
        let mut rows = self.query(p)?;
        Ok(std::iter::from_fn(move || match rows.next() {
            Ok(Some(r)) => Some(f(&r)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }))
    }

    /// Whether it answers any row.
    pub fn exists<P: Params>(&mut self, p: P) -> Result<bool> {
        Ok(self.query(p)?.next()?.is_some())
    }

    /// The rows, read one at a time with [`Rows::next`].
    pub fn query<P: Params>(&mut self, p: P) -> Result<Rows<'_>> {
        let s = self.raw();
        bind(s, p)?;
        Ok(Rows(s.raw_query()))
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
            self.prepare_cached(sql)?.execute(p)
        }

        /// Run statements separated by `;` (schema changes, bulk work).
        pub fn execute_batch(&self, sql: &str) -> $crate::sql::Result<()> {
            Ok(self.connection().execute_batch(sql)?)
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
            self.prepare_cached(sql)?.query_row(p, f)
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
pub struct Tx<'c>(Transaction<'c>);

impl Tx<'_> {
    fn connection(&self) -> &Connection {
        &self.0
    }

    sql_methods!();

    pub fn commit(self) -> Result<()> {
        Ok(self.0.commit()?)
    }
}

impl Db {
    fn connection(&self) -> &Connection {
        &self.conn
    }

    sql_methods!();

    /// Begin a transaction.
    pub fn transaction(&mut self) -> Result<Tx<'_>> {
        Ok(Tx(self.conn.transaction()?))
    }

    /// Begin a transaction through a shared borrow; the caller makes sure
    /// no other transaction is open on this `Db`.
    pub fn unchecked_transaction(&self) -> Result<Tx<'_>> {
        Ok(Tx(self.conn.unchecked_transaction()?))
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
        Ok(self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?)
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
    matches!(&e.0, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}
