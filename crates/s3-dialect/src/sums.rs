//! Checksums on the wire: the headers requests carry, the ones answers
//! report, and the comparison where the client is the one to check.

use haul_core::{Checksum, ChecksumKind, Error, Result};
use haul_http::response::header;
use http::HeaderMap;

use haul_http::send::Call;

use crate::spec::{Checksums, Spec, Verify};

impl Checksums {
    /// The header of the native checksum.
    #[must_use]
    pub fn native_header(&self) -> &'static str {
        self.headers
            .iter()
            .find(|(kind, _)| *kind == self.native)
            .map_or("", |(_, name)| name)
    }

    /// A checksum of `kind` as the service writes it. Composite values
    /// (`xxxx-N`) are checksums of part checksums, not of the bytes: none.
    #[must_use]
    pub fn parse(&self, kind: ChecksumKind, text: &str) -> Option<Checksum> {
        if self.decimal {
            Checksum::from_decimal(kind, text).ok()
        } else if text.contains('-') {
            None
        } else {
            Checksum::from_base64(kind, text).ok()
        }
    }

    /// A checksum as the service writes it.
    #[must_use]
    pub fn text(&self, c: &Checksum) -> String {
        if self.decimal {
            c.to_decimal()
        } else {
            c.to_base64()
        }
    }

    /// The native checksum an answer reports, if any.
    #[must_use]
    pub fn native_from(&self, h: &HeaderMap) -> Option<Checksum> {
        header(h, self.native_header()).and_then(|v| self.parse(self.native, v))
    }

    /// The first native checksum among `sums`.
    #[must_use]
    pub fn native_of<'a>(&self, sums: &[&'a Checksum]) -> Option<&'a Checksum> {
        sums.iter().copied().find(|c| c.kind() == self.native)
    }
}

impl Spec {
    /// Whole-object checksums an answer reports. With
    /// `<prefix>checksum-type: COMPOSITE` they are checksums of part
    /// checksums, not of the bytes, and are left out.
    #[must_use]
    pub fn checksums_from_headers(&self, h: &HeaderMap) -> Vec<Checksum> {
        let composite = format!("{}checksum-type", self.prefix);
        if header(h, &composite).is_some_and(|t| t.eq_ignore_ascii_case("COMPOSITE")) {
            return Vec::new();
        }
        let sums = &self.checksums;
        sums.headers
            .iter()
            .filter_map(|(kind, name)| sums.parse(*kind, header(h, name)?))
            .collect()
    }
}

/// Adds `Content-MD5` and, where the service checks them, one checksum
/// header from the checksums at hand: S3 accepts a single checksum header
/// per request, so the first in the spec's order wins. `only` limits the
/// choice (a multipart upload announced its algorithm at creation).
pub(crate) fn add_checksum_headers<'a>(
    sums_spec: &Checksums,
    mut call: Call<'a>,
    sums: &[&Checksum],
    only: Option<ChecksumKind>,
) -> Call<'a> {
    if let Some(md5) = sums.iter().find(|c| c.kind() == ChecksumKind::Md5) {
        call = call.header("content-md5", md5.to_base64());
    }
    if sums_spec.verify == Verify::Client {
        return call;
    }
    let chosen = sums_spec.headers.iter().find_map(|(kind, name)| {
        if only.is_some_and(|o| o != *kind) {
            return None;
        }
        sums.iter().find(|c| c.kind() == *kind).map(|c| (*name, c))
    });
    if let Some((name, c)) = chosen {
        call = call.header(name, c.to_base64());
    }
    call
}

/// Fails with [`Error::Integrity`] when the store reported a checksum
/// that differs from the one computed while reading the bytes; `what`
/// names the object (or the part).
pub fn check_checksum(
    sums: &Checksums,
    what: &str,
    computed: Option<&Checksum>,
    reported: Option<&Checksum>,
) -> Result<()> {
    match (computed, reported) {
        (Some(ours), Some(theirs)) if ours != theirs => Err(Error::Integrity {
            key: what.to_owned(),
            expected: format!("{} {}", sums.native_header(), sums.text(ours)),
            actual: format!("{} {}", sums.native_header(), sums.text(theirs)),
        }),
        _ => Ok(()),
    }
}
