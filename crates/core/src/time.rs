//! Times as text, in the forms the protocols use, through the `time` crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// `t` as a UTC date-time; times before 1970 are the epoch.
fn utc(t: SystemTime) -> OffsetDateTime {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    OffsetDateTime::UNIX_EPOCH + since
}

fn system(t: OffsetDateTime) -> Option<SystemTime> {
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, t.nanosecond()))
}

/// RFC 3339 UTC time of `t` to the second (`2026-11-21T06:19:33Z`); times
/// before 1970 print as the epoch.
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    let f = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    utc(t).format(&f).unwrap_or_default()
}

/// RFC 3339 UTC time of `t` with milliseconds (`2026-11-21T06:19:33.120Z`),
/// as S3-style listings give times.
#[must_use]
pub fn rfc3339_millis(t: SystemTime) -> String {
    let f =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    utc(t).format(&f).unwrap_or_default()
}

/// The compact ISO 8601 UTC form `20261121T061933Z` (`X-Qiniu-Date`,
/// `X-Amz-Date`).
#[must_use]
pub fn compact(t: SystemTime) -> String {
    let f = format_description!("[year][month][day]T[hour][minute][second]Z");
    utc(t).format(&f).unwrap_or_default()
}

/// Parses an RFC 3339 time (`2026-11-21T06:19:33Z`, with or without a
/// fraction, any offset); `None` when it is not one or is before 1970.
#[must_use]
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    system(OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?)
}

/// Parses the compact form [`compact`] writes.
#[must_use]
pub fn parse_compact(text: &str) -> Option<SystemTime> {
    let f = format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(text, &f).ok()?;
    system(t.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_241_973)), "2026-11-21T06:19:33Z");
        assert_eq!(compact(at(1_795_241_973)), "20261121T061933Z");
        let t = at(1_795_241_973) + Duration::from_millis(120);
        assert_eq!(rfc3339_millis(t), "2026-11-21T06:19:33.120Z");
        assert_eq!(rfc3339(t), "2026-11-21T06:19:33Z");
    }

    #[test]
    fn parses_what_it_writes_and_the_forms_servers_send() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_241_973);
        assert_eq!(parse_rfc3339("2026-11-21T06:19:33Z"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-21T06:19:33.000Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2026-11-21T06:19:33.5Z"),
            Some(t + Duration::from_millis(500))
        );
        assert_eq!(parse_compact("20261121T061933Z"), Some(t));
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_compact("2026-11-21"), None);
    }
}
