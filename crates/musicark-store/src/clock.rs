//! The archive's one clock. Every time the archive records comes from
//! here, bound as a parameter, never from SQL's `now` (which a second
//! engine would read from another machine's clock). It has two readings:
//!
//! - [`now`]: when something happened (a run started, a copy was made, a
//!   tracker answered, a check ran). Always the system clock: a history
//!   whose events all carry one fixed time would lose its order, and
//!   "the latest scrape" would mix old answers with new.
//! - [`now_seconds`], [`epoch_seconds`], [`today`]: the time stamped on
//!   what is published (lists, torrents, manifests, reports, the rights
//!   log). `SOURCE_DATE_EPOCH` (the reproducible-builds convention), when
//!   set, fixes it, so two runs publish the same bytes.

use time::OffsetDateTime;
use time::macros::format_description;

/// Seconds since the Unix epoch: `SOURCE_DATE_EPOCH` when set, else the
/// system clock.
pub fn epoch_seconds() -> i64 {
    fixed_epoch().unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp())
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

/// When something happened, to the millisecond, as recorded in the
/// database: `2026-11-29T23:45:12.345Z` (sorts as text). The system
/// clock, whatever `SOURCE_DATE_EPOCH` says.
pub fn now() -> String {
    let f =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::now_utc().format(f).unwrap_or_default()
}

/// The publication time, to the second (lists, manifests, reports):
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

/// The publication day, `YYYY-MM-DD` (popularity's "as of").
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
