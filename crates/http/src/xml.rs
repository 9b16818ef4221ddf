//! XML helpers every XML provider (S3, COS) shares: parsing an answer into
//! a serde struct, escaping text for a request document, ETags and the ISO
//! 8601 times listings carry.

use std::time::{Duration, SystemTime};

use haul_core::{Error, Result};
use serde::de::DeserializeOwned;

/// Parses an answer body as `T`, naming `key` and the operation (`what`)
/// when it is not one.
pub fn parse<T: DeserializeOwned>(body: &[u8], key: &str, what: &str) -> Result<T> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::transient(key, format!("{what} answer is not UTF-8: {e}")))?;
    quick_xml::de::from_str(text.trim_start()).map_err(|e| Error::Provider {
        key: key.to_owned(),
        code: "MalformedAnswer".to_owned(),
        message: format!("cannot parse the {what} answer: {e}"),
        retryable: false,
    })
}

/// Escapes text for an XML element. `\r` becomes a character reference so
/// the parser does not fold it into `\n`.
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether XML 1.0 can carry `s` at all (no control characters but tab,
/// newline and carriage return).
#[must_use]
pub fn xml_safe(s: &str) -> bool {
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r') || u32::from(c) >= 0x7f)
        && !s.contains(['\u{fffe}', '\u{ffff}'])
}

/// An ETag without its quotes (and without a weak `W/` prefix).
#[must_use]
pub fn unquote(etag: &str) -> String {
    let t = etag.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.trim_matches('"').to_owned()
}

/// Parses an ISO 8601 UTC time as listings give it (`2009-10-12T17:50:30.000Z`).
#[must_use]
pub fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let (date, time) = text.trim().split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let time = time.strip_suffix('Z').unwrap_or(time);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (clock.next()??, clock.next()??, clock.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3_600 + mm * 60 + ss;
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_iso8601("2009-10-12T17:50:30.000Z").expect("time");
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .expect("after")
                .as_secs(),
            1_255_369_830
        );
        let t = parse_iso8601("2024-02-29T00:00:00.5Z").expect("leap day");
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .expect("after")
                .as_millis(),
            1_709_164_800_500
        );
        assert!(parse_iso8601("garbage").is_none());
    }

    #[test]
    fn text() {
        assert_eq!(escape("a&b<c>\r"), "a&amp;b&lt;c&gt;&#13;");
        assert!(xml_safe("a b\tc日") && !xml_safe("bell\u{7}"));
        assert_eq!(unquote("\"abc-2\""), "abc-2");
        assert_eq!(unquote("W/\"x\""), "x");
    }

    #[test]
    fn parse_names_the_operation() {
        #[derive(Debug, serde::Deserialize)]
        struct Doc {
            #[serde(rename = "A")]
            a: u32,
        }
        let d: Doc = parse(b"  <Doc><A>7</A></Doc>", "k", "test").expect("parses");
        assert_eq!(d.a, 7);
        let e = parse::<Doc>(b"<Doc><A>x</A></Doc>", "k", "test").expect_err("bad");
        assert!(e.to_string().contains("test answer"), "{e}");
    }
}
