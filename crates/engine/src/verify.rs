//! Verification: compare what was computed while reading with what both
//! stores report. Success is never reported on a mismatch.

use haul_core::checksum::{ChecksumKind, combine_all};
use haul_core::{Checksum, Error, Key, ObjectMeta, PutOutcome, Result};
use md5::Digest as _;

/// What the engine knows about the bytes it sent (or had the store copy).
#[derive(Debug, Default)]
pub(crate) struct Expected {
    /// Whole-object checksums computed locally or reported by the source.
    pub(crate) checksums: Vec<Checksum>,
    /// The ETag the destination should report, when it can be predicted.
    pub(crate) etag: Option<String>,
    /// The object's size.
    pub(crate) size: u64,
}

fn mismatch(key: &Key, expected: &dyn std::fmt::Display, actual: &dyn std::fmt::Display) -> Error {
    Error::Integrity {
        key: key.to_string(),
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

/// What a verification compared with what the destination holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// The file's checksum as reported in events (CRC32C when computed).
    pub(crate) checksum: Option<Checksum>,
    /// Checksum kinds compared, joined by `+` (`crc32c`, `crc64xz+md5`),
    /// `etag-md5` for an ETag made of MD5s, `read-back:crc32c` for an object
    /// read back and hashed; `size` when only sizes could be compared.
    pub(crate) by: String,
}

impl Verified {
    /// Whether content, not just size, was compared.
    pub(crate) fn by_content(&self) -> bool {
        self.by != SIZE_ONLY
    }
}

/// [`Verified::by`] when only sizes were compared.
pub(crate) const SIZE_ONLY: &str = "size";

/// The kinds in `expected` that `reported` also has, each equal (else an
/// integrity error).
fn compare_all(key: &Key, expected: &[Checksum], reported: &[Checksum]) -> Result<Vec<String>> {
    let mut compared = Vec::new();
    for e in expected {
        if let Some(r) = reported.iter().find(|r| r.kind() == e.kind()) {
            if r != e {
                return Err(mismatch(key, e, r));
            }
            compared.push(e.kind().to_string());
        }
    }
    Ok(compared)
}

/// Checks a finished write. `src` is the source's metadata (its reported
/// checksums catch bytes corrupted on the way in); `outcome` is the
/// destination's answer. When the answer has nothing comparable, the
/// destination is asked with `head`; when that has nothing either, the
/// object is read back (with `verify_read_back`) or only its size is
/// compared — and the result says so.
pub(crate) async fn verify(
    shared: &crate::context::Shared,
    key: &Key,
    src: &ObjectMeta,
    expected: &Expected,
    outcome: &PutOutcome,
) -> Result<Verified> {
    compare_all(key, &expected.checksums, &src.checksums)?;
    // What was read of the source is its content, whatever the copy's fate.
    crate::sums::record(shared, &shared.src, src, &expected.checksums);
    let at = outcome.location.as_deref();
    let reported = Reported {
        checksums: &outcome.checksums,
        etag: outcome.etag.as_deref(),
    };
    let answer = compare_content(shared, key, at, expected, reported, false).await?;
    if answer.by_content() {
        if at.is_none() {
            record_written(shared, key, expected, outcome.etag.as_deref());
        }
        return Ok(answer);
    }
    let dst = &shared.dst.store;
    let head = dst.head(key).await?;
    if head.size != expected.size {
        return Err(mismatch(
            key,
            &format!("{} bytes", expected.size),
            &format!("{} bytes", head.size),
        ));
    }
    let reported = Reported {
        checksums: &head.checksums,
        etag: None,
    };
    let read_back = shared.config.verify_read_back;
    let answer = compare_content(shared, key, at, expected, reported, read_back).await?;
    if at.is_none() {
        // Where only the size could be compared here, the parts were still
        // sent with their checksums: the record is what haul wrote.
        record_written(shared, key, expected, head.etag.as_deref());
    }
    Ok(answer)
}

/// Records what haul wrote and verified (the sums of the bytes it sent),
/// as the version `etag` of `key`; a copy the store wrote at another
/// location is not recorded.
fn record_written(
    shared: &crate::context::Shared,
    key: &Key,
    expected: &Expected,
    etag: Option<&str>,
) {
    if let Some(etag) = etag {
        crate::sums::record_version(
            shared,
            &shared.dst,
            key.as_str(),
            expected.size,
            etag.trim_matches('"'),
            &expected.checksums,
        );
    }
}

/// What a destination reported of an object.
#[derive(Clone, Copy)]
pub(crate) struct Reported<'a> {
    /// Its checksums.
    pub(crate) checksums: &'a [Checksum],
    /// Its ETag, compared when `expected` predicts one.
    pub(crate) etag: Option<&'a str>,
}

/// Compares `expected` with what was `reported` of `key`: every checksum
/// kind both have, and the predicted ETag. When nothing is comparable and
/// `read_back`, the object is read back — from `location` where the store
/// chose one, else from `key` — and its CRC32C compared.
/// A difference is an integrity error; nothing comparable is
/// [`SIZE_ONLY`] (the caller compares sizes).
pub(crate) async fn compare_content(
    shared: &crate::context::Shared,
    key: &Key,
    location: Option<&str>,
    expected: &Expected,
    reported: Reported<'_>,
    read_back: bool,
) -> Result<Verified> {
    let judged = judge(key, expected, reported)?;
    if judged.by_content() || !read_back {
        return Ok(judged);
    }
    let Some(want) = judged
        .checksum
        .clone()
        .filter(|c| c.kind() == ChecksumKind::Crc32c)
    else {
        return Ok(judged);
    };
    let at = match location {
        Some(loc) => Key::new(loc)?,
        None => key.clone(),
    };
    let got = read_back_crc(shared, &at).await?;
    if got != want {
        return Err(mismatch(key, &want, &got));
    }
    Ok(Verified {
        checksum: Some(want),
        by: "read-back:crc32c".to_owned(),
    })
}

/// The comparison itself, with nothing to fetch: every checksum kind that
/// `expected` and `reported` both have must be equal, and the ETag when one
/// is predicted and reported. What was compared is the answer; nothing
/// comparable is [`SIZE_ONLY`]. A difference is an integrity error.
pub(crate) fn judge(key: &Key, expected: &Expected, reported: Reported<'_>) -> Result<Verified> {
    let mut compared = compare_all(key, &expected.checksums, reported.checksums)?;
    if let (Some(want), Some(got)) = (&expected.etag, reported.etag) {
        if !got.eq_ignore_ascii_case(want) {
            return Err(mismatch(
                key,
                &format!("etag {want}"),
                &format!("etag {got}"),
            ));
        }
        compared.push("etag-md5".to_owned());
    }
    let crc = expected
        .checksums
        .iter()
        .find(|c| c.kind() == ChecksumKind::Crc32c)
        .cloned();
    Ok(Verified {
        checksum: crc.or_else(|| expected.checksums.first().cloned()),
        by: if compared.is_empty() {
            SIZE_ONLY.to_owned()
        } else {
            compared.join("+")
        },
    })
}

/// Reads the object `key` back from the destination and returns its CRC32C.
async fn read_back_crc(shared: &crate::context::Shared, key: &Key) -> Result<Checksum> {
    use haul_core::ObjectStoreExt as _;
    let dst = &shared.dst.store;
    dst.hash_object(key, &[ChecksumKind::Crc32c])
        .await?
        .sums
        .pop()
        .ok_or_else(|| Error::transient(key.as_str(), "no checksum computed"))
}

/// The whole-object CRCs of parts given in order with their lengths.
pub(crate) fn combine_parts(
    kind: ChecksumKind,
    parts: &[(Option<Checksum>, u64)],
) -> Option<Checksum> {
    let mut v = Vec::with_capacity(parts.len());
    for (c, len) in parts {
        v.push((c.as_ref()?, *len));
    }
    combine_all(kind, v)
}

/// The S3-style multipart ETag `hex(md5(md5_1 ‖ … ‖ md5_n))-n`.
pub(crate) fn multipart_etag(md5s: &[Option<Checksum>]) -> Option<String> {
    let mut h = md5::Md5::new();
    for m in md5s {
        h.update(m.as_ref()?.as_bytes());
    }
    let all = Checksum::from_bytes(ChecksumKind::Md5, h.finalize().to_vec()).ok()?;
    Some(format!("{}-{}", all.to_hex(), md5s.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::checksum::compute;

    #[test]
    fn multipart_etag_matches_protocols_example() {
        let p1 = vec![b'a'; 5 << 20];
        let md5s = [
            Some(compute(ChecksumKind::Md5, &p1)),
            Some(compute(ChecksumKind::Md5, b"b")),
        ];
        assert_eq!(
            multipart_etag(&md5s).unwrap(),
            "e5a8c5272b26fc10581a21089559b006-2"
        );
        assert!(multipart_etag(&[None]).is_none());
    }

    fn k() -> Key {
        Key::new("k").unwrap()
    }

    #[test]
    fn judge_compares_the_kinds_both_sides_have() {
        let crc = compute(ChecksumKind::Crc32c, b"abc");
        let md5 = compute(ChecksumKind::Md5, b"abc");
        let expected = Expected {
            checksums: vec![crc.clone(), md5.clone()],
            etag: None,
            size: 3,
        };
        let only_md5 = [md5.clone()];
        let v = judge(
            &k(),
            &expected,
            Reported {
                checksums: &only_md5,
                etag: None,
            },
        )
        .unwrap();
        assert_eq!(v.by, "md5");
        assert_eq!(v.checksum, Some(crc.clone()));
        // Nothing in common: sizes only, and it says so.
        let v = judge(
            &k(),
            &expected,
            Reported {
                checksums: &[],
                etag: None,
            },
        )
        .unwrap();
        assert_eq!(v.by, SIZE_ONLY);
        assert!(!v.by_content());
        // A difference is an integrity error, never a pass.
        let other = [compute(ChecksumKind::Crc32c, b"abd")];
        let e = judge(
            &k(),
            &expected,
            Reported {
                checksums: &other,
                etag: None,
            },
        )
        .unwrap_err();
        assert!(matches!(e, Error::Integrity { .. }), "{e}");
    }

    #[test]
    fn judge_compares_a_predicted_etag() {
        let expected = Expected {
            checksums: Vec::new(),
            etag: Some("abc-2".into()),
            size: 3,
        };
        let ok = Reported {
            checksums: &[],
            etag: Some("ABC-2"),
        };
        assert_eq!(judge(&k(), &expected, ok).unwrap().by, "etag-md5");
        let bad = Reported {
            checksums: &[],
            etag: Some("abd-2"),
        };
        assert!(judge(&k(), &expected, bad).is_err());
        // An ETag not predicted is not compared.
        let none = Expected::default();
        assert_eq!(judge(&k(), &none, bad).unwrap().by, SIZE_ONLY);
    }
}
