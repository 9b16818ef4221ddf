//! The conditions of `GetObject` and `HeadObject` — `If-Match`,
//! `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` — evaluated
//! as S3 does (s3s-fs ignores them): a failed `If-Match` or
//! `If-Unmodified-Since` is `412`, a matching `If-None-Match` or an
//! unmodified `If-Modified-Since` is `304`; `If-Match` outranks
//! `If-Unmodified-Since` and `If-None-Match` outranks `If-Modified-Since`.

use std::time::SystemTime;

use s3s::dto::{ETag, ETagCondition, Timestamp, TimestampFormat};
use s3s::{S3Result, s3_error};

use crate::files::etag_matches;

/// The conditions a read carried.
#[derive(Debug, Default)]
#[allow(clippy::struct_field_names)] // S3's header names
pub(super) struct Conditions<'a> {
    pub(super) if_match: Option<&'a ETagCondition>,
    pub(super) if_none_match: Option<&'a ETagCondition>,
    pub(super) if_modified_since: Option<&'a Timestamp>,
    pub(super) if_unmodified_since: Option<&'a Timestamp>,
}

/// Seconds since the epoch (HTTP dates have whole seconds).
fn secs_of_timestamp(t: &Timestamp) -> i64 {
    let mut buf = Vec::new();
    if t.format(TimestampFormat::EpochSeconds, &mut buf).is_err() {
        return 0;
    }
    let text = String::from_utf8_lossy(&buf);
    let whole = text.split('.').next().unwrap_or("0");
    whole.parse().unwrap_or(0)
}

fn secs_of(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

impl Conditions<'_> {
    /// Whether any condition was sent.
    pub(super) fn any(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_modified_since.is_some()
            || self.if_unmodified_since.is_some()
    }

    /// Checks the conditions against the object's current ETag and
    /// modification time.
    pub(super) fn check(&self, etag: &ETag, modified_at: SystemTime) -> S3Result<()> {
        let modified = secs_of(modified_at);
        match self.if_match {
            Some(cond) if !etag_matches(cond, etag) => {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold (If-Match: the ETag is {})",
                    etag.value()
                ));
            }
            Some(_) => {}
            None => {
                if let Some(t) = self.if_unmodified_since
                    && modified > secs_of_timestamp(t)
                {
                    return Err(s3_error!(
                        PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold (If-Unmodified-Since)"
                    ));
                }
            }
        }
        let unchanged = match self.if_none_match {
            Some(cond) => etag_matches(cond, etag),
            None => self
                .if_modified_since
                .is_some_and(|t| modified <= secs_of_timestamp(t)),
        };
        if unchanged {
            // A 304 names the ETag and time the client's copy matches.
            let mut e = s3_error!(NotModified);
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", etag.value())) {
                headers.insert(http::header::ETAG, v);
            }
            let mut date = Vec::new();
            if Timestamp::from(modified_at)
                .format(TimestampFormat::HttpDate, &mut date)
                .is_ok()
                && let Ok(v) = http::HeaderValue::from_bytes(&date)
            {
                headers.insert(http::header::LAST_MODIFIED, v);
            }
            e.set_headers(headers);
            return Err(e);
        }
        Ok(())
    }
}
