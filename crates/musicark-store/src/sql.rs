//! The one door to the archive's database. Domain crates run their own
//! tables' SQL through these types — [`Db`]'s methods, [`Tx`], [`Stmt`],
//! [`Row`], [`Rows`] — and never hold a connection: the store keeps it
//! private, and two engines stand behind the same door: SQLite, embedded
//! (the default), and PostgreSQL (`musicark init --database postgres://…`).
//!
//! Nothing of either engine shows through: parameters are [`Param`]s bound
//! with [`params!`], an array or [`params_from_iter`]; columns are read as
//! [`Column`]s with [`Row::get`] (or borrowed with [`Row::text`]); values
//! of any type are [`Value`]s; errors are [`Error`]. The method names
//! follow rusqlite's, which the domain code was first written against. SQL
//! is written in the dialect both SQLite (3.44+) and PostgreSQL (15+) run,
//! with `?N` placeholders (rewritten to `$N` for PostgreSQL; the tidy test
//! keeps SQLite-only forms out of the domain crates). Values follow
//! SQLite's loose typing on both: an integer column reads as a bool, a
//! PostgreSQL `sum` (NUMERIC) as an integer, a boolean expression as 0/1.

use std::fmt;

use rusqlite::types::ToSqlOutput;
use rusqlite::{CachedStatement, Connection, Statement, Transaction};

use crate::db::{Db, Engine};
use crate::pg::{PgConn, PgValue};

/// What a database operation failed with.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    context: Option<String>,
}

#[derive(Debug)]
enum Kind {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    NoRows,
    /// A use of the connection it cannot serve now (see `PgConn::scan`).
    Busy(&'static str),
    Conversion {
        column: usize,
        message: String,
    },
    ParameterCount {
        given: usize,
        expected: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Sqlite(e) => write!(f, "{e}")?,
            Kind::Postgres(e) => {
                write!(f, "PostgreSQL: {e}")?;
                if let Some(source) = std::error::Error::source(e) {
                    write!(f, ": {source}")?;
                }
            }
            Kind::NoRows => f.write_str("query returned no rows")?,
            Kind::Busy(what) => f.write_str(what)?,
            Kind::Conversion { message, .. } => f.write_str(message)?,
            Kind::ParameterCount { given, expected } => write!(
                f,
                "{given} parameters given to a statement that has {expected}"
            )?,
        }
        if let Some(c) = &self.context {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Sqlite(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        let kind = match e {
            rusqlite::Error::QueryReturnedNoRows => Kind::NoRows,
            e => Kind::Sqlite(e),
        };
        Error {
            kind,
            context: None,
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error {
            kind: Kind::Postgres(e),
            context: None,
        }
    }
}

impl Error {
    /// A column's value that is not what the reader expected.
    pub fn conversion(column: usize, message: String) -> Error {
        Error {
            kind: Kind::Conversion { column, message },
            context: None,
        }
    }

    pub(crate) fn busy(what: &'static str) -> Error {
        Error {
            kind: Kind::Busy(what),
            context: None,
        }
    }

    /// Where it happened (a statement, a migration), for the message.
    pub(crate) fn context(mut self, c: String) -> Error {
        self.context = Some(c);
        self
    }

    /// SQLite's own error, for the store's diagnosis (full disk).
    pub(crate) fn sqlite(&self) -> Option<&rusqlite::Error> {
        match &self.kind {
            Kind::Sqlite(e) => Some(e),
            _ => None,
        }
    }

    /// The column a conversion failed on.
    pub fn column(&self) -> Option<usize> {
        match self.kind {
            Kind::Conversion { column, .. } => Some(column),
            _ => None,
        }
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
            Err(Error {
                kind: Kind::NoRows, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A value of any type, borrowed: what a parameter binds and a column
/// holds, in SQLite's five storage classes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A value of any type, owned (for copying rows whose types vary).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(t) => ValueRef::Text(t),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Integer(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Real(f)
    }
}

impl From<String> for Value {
    fn from(t: String) -> Value {
        Value::Text(t)
    }
}

impl From<&str> for Value {
    fn from(t: &str) -> Value {
        Value::Text(t.to_string())
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Blob(b)
    }
}

impl ValueRef<'_> {
    pub fn to_owned(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(t.to_string()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }

    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> ValueRef<'_> {
        use rusqlite::types::ValueRef as V;
        match v {
            V::Null => ValueRef::Null,
            V::Integer(i) => ValueRef::Integer(i),
            V::Real(f) => ValueRef::Real(f),
            // Text that is not UTF-8 (never written by musicark) reads as
            // bytes: a `String` column refuses it, `Vec<u8>` takes it.
            V::Text(t) => std::str::from_utf8(t).map_or(ValueRef::Blob(t), ValueRef::Text),
            V::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl<'a> ValueRef<'a> {
    fn sqlite(self) -> rusqlite::types::ValueRef<'a> {
        use rusqlite::types::ValueRef as V;
        match self {
            ValueRef::Null => V::Null,
            ValueRef::Integer(i) => V::Integer(i),
            ValueRef::Real(f) => V::Real(f),
            ValueRef::Text(t) => V::Text(t.as_bytes()),
            ValueRef::Blob(b) => V::Blob(b),
        }
    }
}

/// A [`Value`] written into an SQLite file of the caller's own (the
/// metadata release copies rows with it).
impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(self.as_ref().sqlite()))
    }
}

/// A value bound to a placeholder.
pub trait Param {
    fn value(&self) -> ValueRef<'_>;
}

macro_rules! integer_params {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> ValueRef<'_> {
                ValueRef::Integer(i64::from(*self))
            }
        }
    )*};
}
integer_params!(i64, i32, i16, i8, u32, u16, u8, bool);

impl Param for f64 {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl Param for f32 {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Real(f64::from(*self))
    }
}

impl Param for str {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl Param for Value {
    fn value(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}

impl Param for ValueRef<'_> {
    fn value(&self) -> ValueRef<'_> {
        *self
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.value(),
            None => ValueRef::Null,
        }
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> ValueRef<'_> {
        (**self).value()
    }
}

/// Adapts a [`Param`]'s value to the SQLite driver.
struct ToSqlite<'a>(ValueRef<'a>);

impl rusqlite::ToSql for ToSqlite<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(self.0.sqlite()))
    }
}

/// The callback [`Params::each`] calls.
pub type Bind<'b> = dyn FnMut(usize, &dyn Param) -> Result<()> + 'b;

/// The parameters of one statement, by position.
pub trait Params {
    /// Call `bind(position, value)` for each, from 1.
    fn each(self, bind: &mut Bind<'_>) -> Result<()>;
}

impl Params for &[&dyn Param] {
    fn each(self, bind: &mut Bind<'_>) -> Result<()> {
        for (i, p) in self.iter().enumerate() {
            bind(i + 1, *p)?;
        }
        Ok(())
    }
}

macro_rules! params_for_arrays {
    ($($n:literal)*) => {$(
        impl<T: Param> Params for [T; $n] {
            fn each(self, bind: &mut Bind<'_>) -> Result<()> {
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
    fn each(self, _: &mut Bind<'_>) -> Result<()> {
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
    fn each(self, bind: &mut Bind<'_>) -> Result<()> {
        for (i, p) in self.0.enumerate() {
            bind(i + 1, &p)?;
        }
        Ok(())
    }
}

/// Bind `p` to an SQLite statement's placeholders, checking that each is
/// given.
fn bind_sqlite<P: Params>(stmt: &mut Statement<'_>, p: P) -> Result<()> {
    // Every placeholder is bound (the count is checked below), so what a
    // cached statement's previous run bound is always overwritten.
    let mut given = 0;
    p.each(&mut |i, v| {
        given = given.max(i);
        Ok(stmt.raw_bind_parameter(i, ToSqlite(v.value()))?)
    })?;
    check_count(given, stmt.parameter_count())
}

/// `p`'s values, in order, for a PostgreSQL statement with `expected`
/// parameters.
fn values<P: Params>(p: P, expected: usize) -> Result<Vec<Value>> {
    let out = owned_values(p)?;
    check_count(out.len(), expected)?;
    Ok(out)
}

/// `p`'s values, in order, owned (PostgreSQL takes them all at once).
fn owned_values<P: Params>(p: P) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    p.each(&mut |i, v| {
        if out.len() < i {
            out.resize(i, Value::Null);
        }
        out[i - 1] = v.value().to_owned();
        Ok(())
    })?;
    Ok(out)
}

fn check_count(given: usize, expected: usize) -> Result<()> {
    if given != expected {
        return Err(Error {
            kind: Kind::ParameterCount { given, expected },
            context: None,
        });
    }
    Ok(())
}

/// A value read from a column.
pub trait Column: Sized {
    /// From the value stored (the error says what it was).
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String>;
}

fn wrong_type<T>(v: ValueRef<'_>) -> std::result::Result<T, String> {
    Err(type_message::<T>(v))
}

fn type_message<T>(v: ValueRef<'_>) -> String {
    format!(
        "a {} where a {} was expected",
        match v {
            ValueRef::Null => "NULL",
            ValueRef::Integer(_) => "integer",
            ValueRef::Real(_) => "real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "blob",
        },
        std::any::type_name::<T>()
    )
}

impl Column for i64 {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i),
            v => wrong_type(v),
        }
    }
}

macro_rules! narrow_integer_columns {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
                match v {
                    ValueRef::Integer(i) => <$t>::try_from(i)
                        .map_err(|_| format!("{i} is out of range for {}", stringify!($t))),
                    v => wrong_type(v),
                }
            }
        }
    )*};
}
narrow_integer_columns!(i32, u32);

impl Column for bool {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            v => wrong_type(v),
        }
    }
}

impl Column for f64 {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Integer(i) => Ok(i as f64),
            v => wrong_type(v),
        }
    }
}

impl Column for String {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Text(t) => Ok(t.to_string()),
            v => wrong_type(v),
        }
    }
}

impl Column for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(t) => Ok(t.as_bytes().to_vec()),
            v => wrong_type(v),
        }
    }
}

impl Column for Value {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        Ok(v.to_owned())
    }
}

impl<T: Column> Column for Option<T> {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
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
pub struct Row<'a, 'b>(RowInner<'a, 'b>);

enum RowInner<'a, 'b> {
    Sqlite(&'a rusqlite::Row<'b>),
    Postgres(&'a postgres::Row),
}

impl Row<'_, '_> {
    /// Column `i` (from 0), converted to `T` (an integer, a float, text,
    /// bytes, a bool from an integer, or an `Option` of them for NULL).
    /// The index is generic only so that `get::<_, T>(i)` reads as it did.
    pub fn get<I: ColumnIndex, T: Column>(&self, i: I) -> Result<T> {
        let i = i.index();
        let converted = match &self.0 {
            RowInner::Sqlite(r) => T::from_value(ValueRef::from_sqlite(r.get_ref(i)?)),
            RowInner::Postgres(r) => {
                let v: PgValue = r.try_get(i)?;
                T::from_value(v.0.as_ref())
            }
        };
        converted.map_err(|m| Error::conversion(i, format!("column {i}: {m}")))
    }

    /// Column `i` as borrowed text, without copying (NULL: `None`).
    pub fn text(&self, i: usize) -> Result<Option<&str>> {
        match &self.0 {
            RowInner::Sqlite(r) => match ValueRef::from_sqlite(r.get_ref(i)?) {
                ValueRef::Null => Ok(None),
                ValueRef::Text(t) => Ok(Some(t)),
                v => Err(Error::conversion(
                    i,
                    format!("column {i}: {}", type_message::<&str>(v)),
                )),
            },
            RowInner::Postgres(r) => Ok(r.try_get::<_, Option<&str>>(i)?),
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
pub struct Rows<'s>(RowsInner<'s>);

enum RowsInner<'s> {
    Sqlite(rusqlite::Rows<'s>),
    /// PostgreSQL's answer, read whole: the connection is free again for
    /// statements run while the rows are walked, as SQLite allows.
    Postgres {
        rows: std::vec::IntoIter<postgres::Row>,
        current: Option<postgres::Row>,
    },
}

impl<'s> Rows<'s> {
    #[allow(clippy::should_implement_trait)] // rows borrow from the cursor: not an Iterator
    pub fn next(&mut self) -> Result<Option<Row<'_, 's>>> {
        match &mut self.0 {
            RowsInner::Sqlite(rows) => Ok(rows.next()?.map(|r| Row(RowInner::Sqlite(r)))),
            RowsInner::Postgres { rows, current } => {
                *current = rows.next();
                Ok(current.as_ref().map(|r| Row(RowInner::Postgres(r))))
            }
        }
    }
}

/// A prepared statement.
pub struct Stmt<'c>(StmtInner<'c>);

enum StmtInner<'c> {
    Cached(CachedStatement<'c>),
    Plain(Statement<'c>),
    Postgres {
        conn: &'c PgConn,
        stmt: postgres::Statement,
    },
}

impl<'c> Stmt<'c> {
    /// Run it for its effect; the number of rows changed.
    pub fn execute<P: Params>(&mut self, p: P) -> Result<usize> {
        match &mut self.0 {
            StmtInner::Cached(s) => run_sqlite(s, p),
            StmtInner::Plain(s) => run_sqlite(s, p),
            StmtInner::Postgres { conn, stmt } => {
                let values = values(p, stmt.params().len())?;
                Ok(conn.execute(stmt, &values)? as usize)
            }
        }
    }

    /// The first row, mapped (no row: an error that
    /// [`OptionalExtension::optional`] turns into `None`).
    pub fn query_row<T, P: Params, F>(&mut self, p: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_, '_>) -> Result<T>,
    {
        let mut rows = self.query(p)?;
        match rows.next()? {
            Some(r) => f(&r),
            None => Err(Error {
                kind: Kind::NoRows,
                context: None,
            }),
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
        match &mut self.0 {
            StmtInner::Cached(s) => {
                bind_sqlite(s, p)?;
                Ok(Rows(RowsInner::Sqlite(s.raw_query())))
            }
            StmtInner::Plain(s) => {
                bind_sqlite(s, p)?;
                Ok(Rows(RowsInner::Sqlite(s.raw_query())))
            }
            StmtInner::Postgres { conn, stmt } => {
                let values = values(p, stmt.params().len())?;
                Ok(Rows(RowsInner::Postgres {
                    rows: conn.query(stmt, &values)?.into_iter(),
                    current: None,
                }))
            }
        }
    }
}

/// Where [`Db::copy_in`]'s feeder writes each row.
pub type RowSink<'a> = dyn FnMut(&[Value]) -> Result<()> + 'a;

/// [`Db::scan`] on PostgreSQL.
pub(crate) fn pg_scan<P: Params>(
    c: &PgConn,
    sql: &str,
    p: P,
    f: &mut dyn FnMut(&Row<'_, '_>) -> Result<()>,
) -> Result<()> {
    let given = owned_values(p)?;
    c.scan(sql, &given, &mut |r| f(&Row(RowInner::Postgres(r))))
}

fn run_sqlite<P: Params>(s: &mut Statement<'_>, p: P) -> Result<usize> {
    bind_sqlite(s, p)?;
    Ok(s.raw_execute()?)
}

/// Most rows one statement of [`Tx::insert_many`] carries (at 11 values
/// a row, 2 816 parameters: far below both engines' limits).
pub const MANY_ROWS: usize = 256;

/// `INSERT INTO {into} VALUES (?1, ?2), (?3, ?4) {tail}` for `rows` rows of
/// `width` values.
pub fn many_rows_sql(into: &str, width: usize, rows: usize, tail: &str) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| format!("({})", marks(r * width + 1, width)))
        .collect();
    let sql = format!("INSERT INTO {into} VALUES {} {tail}", values.join(", "));
    sql.trim_end().to_string()
}

/// `?{from}, ?{from+1}, …` for `n` placeholders: the list of an `IN (…)`
/// that looks up a batch's keys in one statement.
pub fn marks(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A connection of either engine, borrowed.
#[derive(Clone, Copy)]
pub(crate) enum Conn<'c> {
    Sqlite(&'c Connection),
    Postgres(&'c PgConn),
}

impl<'c> Conn<'c> {
    pub(crate) fn cached(self, sql: &str) -> Result<Stmt<'c>> {
        Ok(Stmt(match self {
            Conn::Sqlite(c) => StmtInner::Cached(c.prepare_cached(sql)?),
            Conn::Postgres(conn) => StmtInner::Postgres {
                conn,
                stmt: conn.prepare_cached(sql)?,
            },
        }))
    }

    pub(crate) fn plain(self, sql: &str) -> Result<Stmt<'c>> {
        Ok(Stmt(match self {
            Conn::Sqlite(c) => StmtInner::Plain(c.prepare(sql)?),
            Conn::Postgres(conn) => StmtInner::Postgres {
                conn,
                stmt: conn.prepare(sql)?,
            },
        }))
    }

    pub(crate) fn batch(self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => c.batch(sql),
        }
    }
}

/// The operations [`Db`] and [`Tx`] share: implemented once over the
/// connection each holds.
macro_rules! sql_methods {
    () => {
        /// Prepare `sql`, reusing the statement the connection keeps for
        /// the same text.
        pub fn prepare_cached(&self, sql: &str) -> $crate::sql::Result<$crate::sql::Stmt<'_>> {
            self.conn().cached(sql)
        }

        /// Prepare `sql` once (text built at run time).
        pub fn prepare(&self, sql: &str) -> $crate::sql::Result<$crate::sql::Stmt<'_>> {
            self.conn().plain(sql)
        }

        /// Run one statement for its effect; the number of rows changed.
        pub fn execute<P: $crate::sql::Params>(
            &self,
            sql: &str,
            p: P,
        ) -> $crate::sql::Result<usize> {
            self.prepare_cached(sql)?.execute(p)
        }

        /// Run statements separated by `;`, without parameters (schema
        /// changes, bulk work).
        pub fn execute_batch(&self, sql: &str) -> $crate::sql::Result<()> {
            self.conn().batch(sql)
        }

        /// Every row of `sql`, each given to `f` as it is read: memory
        /// stays bounded whatever the answer's size, on either engine
        /// (PostgreSQL streams it; `query` reads its answer whole). `f`
        /// must not use this connection.
        pub fn scan<P: $crate::sql::Params>(
            &self,
            sql: &str,
            p: P,
            mut f: impl FnMut(&$crate::sql::Row<'_, '_>) -> $crate::sql::Result<()>,
        ) -> $crate::sql::Result<()> {
            match self.conn() {
                $crate::sql::Conn::Sqlite(_) => {
                    let mut stmt = self.prepare_cached(sql)?;
                    let mut rows = stmt.query(p)?;
                    while let Some(r) = rows.next()? {
                        f(&r)?;
                    }
                    Ok(())
                }
                $crate::sql::Conn::Postgres(c) => $crate::sql::pg_scan(c, sql, p, &mut f),
            }
        }

        /// Write rows (values in `columns`' order) into `table` as fast
        /// as the engine takes them: PostgreSQL's binary COPY, SQLite's
        /// one prepared INSERT. `feed` is handed the sink and writes each
        /// row into it (it may read them from another connection as it
        /// goes: nothing is held in memory). In the caller's transaction,
        /// if any. The number of rows written.
        pub fn copy_in(
            &self,
            table: &str,
            columns: &[&str],
            mut feed: impl FnMut(&mut $crate::sql::RowSink<'_>) -> $crate::sql::Result<()>,
        ) -> $crate::sql::Result<u64> {
            match self.conn() {
                $crate::sql::Conn::Sqlite(_) => {
                    let mut ins = self.prepare(&format!(
                        "INSERT INTO {table} ({}) VALUES ({})",
                        columns.join(", "),
                        $crate::sql::marks(1, columns.len())
                    ))?;
                    let mut n = 0;
                    feed(&mut |row: &[$crate::sql::Value]| {
                        ins.execute($crate::sql::params_from_iter(row))?;
                        n += 1;
                        Ok(())
                    })?;
                    Ok(n)
                }
                $crate::sql::Conn::Postgres(c) => c.copy_in(table, columns, &mut feed),
            }
        }

        /// Write `rows` (each `width` values) by `INSERT INTO {into}
        /// VALUES (…), (…) {tail}` with up to [`MANY_ROWS`] rows a
        /// statement on PostgreSQL: a batch's upserts in a few round trips
        /// instead of one each (`tail` is an `ON CONFLICT` clause, say);
        /// on SQLite a row a statement, one prepared. Rows with the
        /// same key must be merged first: PostgreSQL refuses to update a
        /// row twice in one statement. The number of rows changed.
        pub fn insert_many<R: AsRef<[$crate::sql::Value]>>(
            &self,
            into: &str,
            width: usize,
            rows: &[R],
            tail: &str,
        ) -> $crate::sql::Result<usize> {
            let mut changed = 0;
            if let $crate::sql::Conn::Sqlite(_) = self.conn() {
                // In-process: no round trip to save, and one prepared
                // row is faster than parsing many-row statements.
                let mut stmt = self.prepare_cached(&$crate::sql::many_rows_sql(into, width, 1, tail))?;
                for r in rows {
                    changed += stmt.execute($crate::sql::params_from_iter(r.as_ref().iter()))?;
                }
                return Ok(changed);
            }
            for chunk in rows.chunks($crate::sql::MANY_ROWS) {
                let sql = $crate::sql::many_rows_sql(into, width, chunk.len(), tail);
                // Whole chunks share one text (kept prepared); the last,
                // shorter one of a batch is prepared once.
                let mut stmt = if chunk.len() == $crate::sql::MANY_ROWS {
                    self.prepare_cached(&sql)?
                } else {
                    self.prepare(&sql)?
                };
                changed += stmt.execute($crate::sql::params_from_iter(
                    chunk.iter().flat_map(|r| r.as_ref().iter()),
                ))?;
            }
            Ok(changed)
        }

        /// Drop the foreign keys of `tables` until
        /// [`Self::restore_foreign_keys`]: PostgreSQL checks a key with a
        /// query per row written, a bulk load's slowest part, where adding
        /// it back afterwards checks every row in one join (the way its
        /// manual advises to populate a database). Each key's definition is
        /// kept in `musicark_suspended_keys` first, so a load killed midway
        /// leaves what a rerun restores. SQLite checks a key in-process,
        /// row by row: there [`Db::foreign_keys_per_row`] turns that off.
        pub fn suspend_foreign_keys(&self, tables: &[&str]) -> $crate::sql::Result<()> {
            if !matches!(self.conn(), $crate::sql::Conn::Postgres(_)) {
                return Ok(());
            }
            self.execute_batch(
                "CREATE TABLE IF NOT EXISTS musicark_suspended_keys (\
                   tbl TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL, PRIMARY KEY (tbl, name))",
            )?;
            for table in tables {
                let mut keys: Vec<(String, String)> = Vec::new();
                self.scan(
                    "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
                     WHERE contype = 'f' AND conrelid = to_regclass(?1) ORDER BY conname",
                    [table],
                    |r| {
                        keys.push((r.get(0)?, r.get(1)?));
                        Ok(())
                    },
                )?;
                for (name, definition) in keys {
                    self.execute(
                        "INSERT INTO musicark_suspended_keys (tbl, name, definition) VALUES (?1, ?2, ?3) \
                         ON CONFLICT DO NOTHING",
                        $crate::params![table, name, definition],
                    )?;
                    self.execute_batch(&format!("ALTER TABLE {table} DROP CONSTRAINT \"{name}\""))?;
                }
            }
            Ok(())
        }

        /// The rows of `table` whose foreign keys point at nothing: how
        /// many, and the table the first points into. SQLite's own check
        /// of every row (`foreign_key_check`), for writes made with its
        /// per-row checks off ([`Db::foreign_keys_per_row`]); nothing on
        /// PostgreSQL, whose keys are always enforced or dropped whole.
        pub fn broken_foreign_keys(
            &self,
            table: &str,
        ) -> $crate::sql::Result<Option<(u64, String)>> {
            let $crate::sql::Conn::Sqlite(c) = self.conn() else {
                return Ok(None);
            };
            let mut stmt = c.prepare(&format!("PRAGMA foreign_key_check({table})"))?;
            let mut rows = stmt.query([])?;
            let mut broken: Option<(u64, String)> = None;
            while let Some(r) = rows.next()? {
                match &mut broken {
                    Some((n, _)) => *n += 1,
                    None => broken = Some((1, r.get(2)?)),
                }
            }
            Ok(broken)
        }

        /// Add back the foreign keys [`Self::suspend_foreign_keys`]
        /// dropped (each checked against every row); nothing when none was.
        pub fn restore_foreign_keys(&self) -> $crate::sql::Result<()> {
            if !matches!(self.conn(), $crate::sql::Conn::Postgres(_)) {
                return Ok(());
            }
            let kept: bool = self.query_row(
                "SELECT to_regclass('musicark_suspended_keys') IS NOT NULL",
                [],
                |r| r.get(0),
            )?;
            if !kept {
                return Ok(());
            }
            let mut keys: Vec<(String, String, String)> = Vec::new();
            self.scan(
                "SELECT tbl, name, definition FROM musicark_suspended_keys ORDER BY tbl, name",
                [],
                |r| {
                    keys.push((r.get(0)?, r.get(1)?, r.get(2)?));
                    Ok(())
                },
            )?;
            for (table, name, definition) in keys {
                let present: bool = self.query_row(
                    "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(?1) AND conname = ?2)",
                    [&table, &name],
                    |r| r.get(0),
                )?;
                if !present {
                    self.execute_batch(&format!(
                        "ALTER TABLE {table} ADD CONSTRAINT \"{name}\" {definition}"
                    ))?;
                }
                self.execute(
                    "DELETE FROM musicark_suspended_keys WHERE tbl = ?1 AND name = ?2",
                    [&table, &name],
                )?;
            }
            Ok(())
        }

        /// Before building indexes over a large table. SQLite sorts an
        /// index's keys in memory, on one thread, when they fit its page
        /// cache (a bulk load's is 256 MiB); in runs of 4 MiB its helper
        /// thread (`PRAGMA threads`) sorts each run while the next is
        /// read, then merges them: the MBID index of 10 M recordings in
        /// 7.2 s instead of 13.0 s, a first load's three at 1 M in
        /// 1.6–2.0 s instead of 3.4–3.7 s. PostgreSQL sorts in
        /// `maintenance_work_mem` ([`Db::bulk_load`]): nothing to do.
        pub fn sort_in_runs(&self) -> $crate::sql::Result<()> {
            match self.conn() {
                $crate::sql::Conn::Sqlite(_) => self.execute_batch("PRAGMA cache_size = -4096"),
                $crate::sql::Conn::Postgres(_) => Ok(()),
            }
        }

        /// Keep up to `mib` MiB of pages in this connection's cache, for
        /// a write of many rows (the default 2 MiB reads the same
        /// b-tree pages again and again). PostgreSQL's cache is the
        /// server's: nothing to do.
        pub fn cache_mib(&self, mib: u32) -> $crate::sql::Result<()> {
            match self.conn() {
                $crate::sql::Conn::Sqlite(_) => {
                    self.execute_batch(&format!("PRAGMA cache_size = -{}", u64::from(mib) * 1024))
                }
                $crate::sql::Conn::Postgres(_) => Ok(()),
            }
        }

        /// How many of the indexes `names` exist (a bulk load drops
        /// some and builds them at its end).
        pub fn indexes_present(&self, names: &[&str]) -> $crate::sql::Result<usize> {
            let list = serde_json::to_string(names).unwrap_or_default();
            let sql = match self.conn() {
                $crate::sql::Conn::Sqlite(_) => {
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' \
                     AND name IN (SELECT value FROM json_each(?1))"
                }
                $crate::sql::Conn::Postgres(_) => {
                    "SELECT count(*) FROM pg_class WHERE relkind = 'i' AND pg_table_is_visible(oid) \
                     AND relname IN (SELECT jsonb_array_elements_text(CAST(?1 AS jsonb)))"
                }
            };
            let n: i64 = self.query_row(sql, [list], |r| r.get(0))?;
            Ok(n as usize)
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

/// A transaction: what it writes is seen by others, whole, at
/// [`Tx::commit`]; dropped without it, nothing was written.
pub struct Tx<'c>(TxInner<'c>);

enum TxInner<'c> {
    Sqlite(Transaction<'c>),
    Postgres(PgTx<'c>),
}

/// A PostgreSQL transaction: BEGIN at the start, ROLLBACK when dropped
/// without COMMIT.
struct PgTx<'c> {
    conn: &'c PgConn,
    open: bool,
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback leaves the connection in a failed
            // transaction: its next statement fails, nothing is written.
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

impl Tx<'_> {
    fn conn(&self) -> Conn<'_> {
        match &self.0 {
            TxInner::Sqlite(t) => Conn::Sqlite(t),
            TxInner::Postgres(t) => Conn::Postgres(t.conn),
        }
    }

    sql_methods!();

    pub fn commit(self) -> Result<()> {
        match self.0 {
            TxInner::Sqlite(t) => Ok(t.commit()?),
            TxInner::Postgres(mut t) => {
                t.open = false;
                t.conn.batch("COMMIT")
            }
        }
    }
}

impl Db {
    pub(crate) fn conn(&self) -> Conn<'_> {
        match &self.engine {
            Engine::Sqlite(c) => Conn::Sqlite(c),
            Engine::Postgres(c) => Conn::Postgres(c),
        }
    }

    sql_methods!();

    /// Begin a transaction.
    pub fn transaction(&mut self) -> Result<Tx<'_>> {
        match &mut self.engine {
            Engine::Sqlite(c) => Ok(Tx(TxInner::Sqlite(c.transaction()?))),
            Engine::Postgres(c) => pg_begin(c),
        }
    }

    /// Begin a transaction through a shared borrow; the caller makes sure
    /// no other transaction is open on this `Db`.
    pub fn unchecked_transaction(&self) -> Result<Tx<'_>> {
        match &self.engine {
            Engine::Sqlite(c) => Ok(Tx(TxInner::Sqlite(c.unchecked_transaction()?))),
            Engine::Postgres(c) => pg_begin(c),
        }
    }

    /// Whether this connection checks foreign keys as each row is
    /// written (SQLite; on by default). Off, a write that points at
    /// nothing is not refused: only for a load whose rows point at rows
    /// it wrote itself, which then checks them before its end commits,
    /// and turns this back on whatever its outcome. A check per row is a
    /// look-up from the parent's root each: a sixth of a first load of
    /// 1 M recordings. Nothing on PostgreSQL, where
    /// [`Tx::suspend_foreign_keys`] drops the keys instead (a kept
    /// state, not a connection's).
    pub fn foreign_keys_per_row(&self, on: bool) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c) => Ok(c.pragma_update(None, "foreign_keys", on)?),
            Engine::Postgres(_) => Ok(()),
        }
    }

    /// Which engine holds the archive: `"sqlite"` or `"postgres"`.
    pub fn engine_name(&self) -> &'static str {
        match &self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// The engine's own check of the database's structure (SQLite's
    /// `quick_check`): `None` when sound, else what it found. PostgreSQL
    /// keeps its own pages' checksums and reports damage on every read;
    /// there it checks that the server answers.
    pub fn integrity_problem(&self) -> Result<Option<String>> {
        match &self.engine {
            Engine::Sqlite(c) => {
                let result: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
                Ok((result != "ok").then_some(result))
            }
            Engine::Postgres(_) => {
                self.query_row("SELECT 1", [], |_| Ok(()))?;
                Ok(None)
            }
        }
    }

    /// Bytes the database takes: its file (and WAL), or what PostgreSQL
    /// reports for the whole database.
    pub fn size_bytes(&self) -> Result<u64> {
        match &self.engine {
            Engine::Sqlite(c) => {
                let file = c.path().map_or(0, |p| {
                    let size = |p: &str| std::fs::metadata(p).map_or(0, |m| m.len());
                    size(p) + size(&format!("{p}-wal"))
                });
                Ok(file)
            }
            Engine::Postgres(_) => {
                let n: i64 =
                    self.query_row("SELECT pg_database_size(current_database())", [], |r| {
                        r.get(0)
                    })?;
                Ok(n as u64)
            }
        }
    }

    /// The database file (none for one in memory or on a server).
    pub fn path(&self) -> Option<&str> {
        match &self.engine {
            Engine::Sqlite(c) => c.path(),
            Engine::Postgres(_) => None,
        }
    }

    /// Write the WAL back into the database file and truncate it (after a
    /// large load, before readers open it). Nothing on PostgreSQL.
    pub fn checkpoint(&self) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c) => {
                Ok(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?)
            }
            Engine::Postgres(_) => Ok(()),
        }
    }

    /// Tune the connection for one large load into empty or growing
    /// tables. SQLite: more cache, temporary sorts on disk, two sorter
    /// threads, no automatic WAL checkpoints (an index build's pages would
    /// be copied twice). PostgreSQL: more memory for index builds and
    /// commits that do not wait for the WAL flush (a crash loses the last
    /// commits, never consistency: the import resumes from what it
    /// recorded). `false` restores the defaults.
    /// Bring the planner's statistics of `tables` up to date after a
    /// load: PostgreSQL plans from samples its autovacuum takes only some
    /// time later (its manual: run ANALYZE after populating a table);
    /// SQLite plans without them. An empty table is left unsampled: known
    /// as empty, the next load's look-ups into it would be planned as
    /// scans while it grows (a release import took 4× as long).
    pub fn analyze(&self, tables: &[&str]) -> Result<()> {
        let Engine::Postgres(c) = &self.engine else {
            return Ok(());
        };
        let mut filled = Vec::new();
        for t in tables {
            let rows: bool =
                self.query_row(&format!("SELECT EXISTS (SELECT 1 FROM {t})"), [], |r| {
                    r.get(0)
                })?;
            if rows {
                filled.push(*t);
            }
        }
        if filled.is_empty() {
            return Ok(());
        }
        c.batch(&format!("ANALYZE {}", filled.join(", ")))
    }

    pub fn bulk_load(&self, on: bool) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c) => {
                if on {
                    c.pragma_update(None, "cache_size", -262_144i64)?;
                    c.pragma_update(None, "temp_store", "FILE")?;
                    c.pragma_update(None, "threads", 2i64)?;
                    c.pragma_update(None, "wal_autocheckpoint", 0i64)?;
                } else {
                    c.pragma_update(None, "wal_autocheckpoint", 1000i64)?;
                }
                Ok(())
            }
            Engine::Postgres(c) => c.batch(if on {
                "SET maintenance_work_mem = '256MB'; SET synchronous_commit = off"
            } else {
                "RESET maintenance_work_mem; RESET synchronous_commit"
            }),
        }
    }
}

fn pg_begin(c: &PgConn) -> Result<Tx<'_>> {
    c.batch("BEGIN")?;
    Ok(Tx(TxInner::Postgres(PgTx {
        conn: c,
        open: true,
    })))
}

/// Whether the transaction failed only because it ran beside another
/// (a deadlock, a serialization failure): running it again succeeds.
pub fn is_retryable(e: &Error) -> bool {
    match &e.kind {
        Kind::Postgres(p) => p
            .code()
            .is_some_and(|c| matches!(c.code(), "40P01" | "40001")),
        Kind::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            f.code == rusqlite::ErrorCode::DatabaseBusy
        }
        _ => false,
    }
}

/// Whether an error is a uniqueness or other constraint failing (a
/// duplicate key, say), as opposed to the database failing.
pub fn is_constraint_violation(e: &Error) -> bool {
    match &e.kind {
        Kind::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            f.code == rusqlite::ErrorCode::ConstraintViolation
        }
        // Class 23: integrity constraint violation.
        Kind::Postgres(p) => p.code().is_some_and(|c| c.code().starts_with("23")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_rows_number_every_value_once() {
        assert_eq!(
            many_rows_sql("t (a, b)", 2, 2, "ON CONFLICT DO NOTHING"),
            "INSERT INTO t (a, b) VALUES (?1, ?2), (?3, ?4) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            many_rows_sql("t (a)", 1, 1, ""),
            "INSERT INTO t (a) VALUES (?1)"
        );
        assert_eq!(marks(3, 2), "?3, ?4");
    }
}
