//! The archive's one clock. Every time the archive records — when a run
//! started, when a copy was made, when a torrent was published — comes
//! from here, never from SQL's `now`, so that one variable makes a run
//! reproducible: `SOURCE_DATE_EPOCH` (the reproducible-builds convention),
//! when set, is the time for the whole process.

use time::OffsetDateTime;
use time::macros::format_description;

/// Seconds since the Unix epoch: `SOURCE_DATE_EPOCH` when set, else the
/// system clock.
pub fn epoch_seconds() -> i64 {
    fixed_epoch().unwrap_or_else(|| now_utc().unix_timestamp())
}

fn fixed_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn now_utc() -> OffsetDateTime {
    match fixed_epoch() {
        Some(s) => OffsetDateTime::from_unix_timestamp(s).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        None => OffsetDateTime::now_utc(),
    }
}

/// Now, to the millisecond, as recorded in the database:
/// `2026-11-29T23:45:12.345Z` (sorts as text).
pub fn now() -> String {
    let f =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    now_utc().format(f).unwrap_or_default()
}

/// Now, to the second, as published (lists, manifests, reports):
/// `2026-11-29T23:45:12Z`.
pub fn now_seconds() -> String {
    at_seconds(epoch_seconds())
}

/// A Unix time, to the second, as published.
pub fn at_seconds(epoch: i64) -> String {
    let f = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(epoch)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(f)
        .unwrap_or_default()
}

/// Today's date, `YYYY-MM-DD` (embargo ends are days).
pub fn today() -> String {
    let f = format_description!("[year]-[month]-[day]");
    now_utc().format(f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_sort_as_text_and_match_what_sqlite_wrote() {
        assert_eq!(super::at_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::at_seconds(1_790_000_999), "2026-09-21T14:29:59Z");
        let now = super::now();
        assert_eq!(now.len(), "2026-11-29T23:45:12.345Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T');
        assert_eq!(super::today().len(), 10);
    }
}
