//! qetag, the `hash` Kodo reports for every object (protocols §1.10).
//!
//! * v1: the data in 4 MiB blocks; one block (or none) gives
//!   `urlsafe_b64(0x16 ‖ SHA1(data))`, more give
//!   `urlsafe_b64(0x96 ‖ SHA1(SHA1(b1) ‖ SHA1(b2) ‖ …))`.
//! * v2, for objects assembled from resumable-v2 parts: when every part but
//!   the last is exactly 4 MiB it equals v1; otherwise
//!   `urlsafe_b64(0x9e ‖ SHA1(v1raw(p1)[1..] ‖ v1raw(p2)[1..] ‖ …))`.
//!
//! ```
//! use haul_qiniu::qetag::{qetag, qetag_v2};
//! assert_eq!(qetag(b"etag"), "FpLiADEaVoALPkdb8tJEJyRTXoe_");
//! assert_eq!(qetag_v2(&[&b"hello"[..], &b"world"[..]]), "ns56DcSIfBFUENXjdhsJTIvl3Rcu");
//! ```

use sha1::{Digest as _, Sha1};

use crate::auth::{urlsafe_b64, urlsafe_b64_decode};

pub use haul_core::qetag::{BLOCK_SIZE, QetagHasher};

const SINGLE: u8 = 0x16;
const MULTI: u8 = 0x96;
const V2: u8 = 0x9e;

/// The qetag (v1) of `data`.
#[must_use]
pub fn qetag(data: &[u8]) -> String {
    let mut h = QetagHasher::new();
    h.update(data);
    h.finish()
}

/// The qetag of an object assembled from `parts`, in order (v2, which is
/// v1 when every part but the last is exactly 4 MiB).
#[must_use]
pub fn qetag_v2<P: AsRef<[u8]>>(parts: &[P]) -> String {
    let all_blocks = parts
        .iter()
        .rev()
        .skip(1)
        .all(|p| p.as_ref().len() == BLOCK_SIZE);
    if all_blocks {
        let mut h = QetagHasher::new();
        for p in parts {
            h.update(p.as_ref());
        }
        return h.finish();
    }
    let mut h = Sha1::new();
    for p in parts {
        let mut part = QetagHasher::new();
        part.update(p.as_ref());
        h.update(&part.digest()[1..]);
    }
    let mut out = vec![V2];
    out.extend_from_slice(&h.finalize());
    urlsafe_b64(out)
}

/// The qetag Kodo should report for an object completed from parts whose
/// sizes and v1 qetags (the `etag` each part upload answered) are given in
/// order; `None` when an etag is not a v1 qetag, or when the answer is v1
/// of the whole and the last part spans several blocks (its block hashes
/// cannot be recovered from its etag).
#[must_use]
pub fn qetag_of_parts(parts: &[(u64, &str)]) -> Option<String> {
    let mut raws = Vec::with_capacity(parts.len());
    for (_, etag) in parts {
        let raw = urlsafe_b64_decode(etag)?;
        if raw.len() != 21 || (raw[0] != SINGLE && raw[0] != MULTI) {
            return None;
        }
        raws.push(raw);
    }
    let block = BLOCK_SIZE as u64;
    let all_blocks = parts.iter().rev().skip(1).all(|(size, _)| *size == block);
    if !all_blocks {
        let mut h = Sha1::new();
        for raw in &raws {
            h.update(&raw[1..]);
        }
        let mut out = vec![V2];
        out.extend_from_slice(&h.finalize());
        return Some(urlsafe_b64(out));
    }
    match raws.as_slice() {
        [] => None,
        [one] => Some(urlsafe_b64(one)),
        [many @ .., _] if parts.last().is_some_and(|p| p.0 == 0) => {
            // An empty last part adds no block to v1 of the whole.
            qetag_of_parts(&parts[..many.len()])
        }
        many => {
            // v1 of the whole: every part is one block, the last at most one.
            let last = parts.last().map_or(0, |p| p.0);
            if last > block || many.iter().any(|r| r[0] != SINGLE) {
                return None;
            }
            let mut h = Sha1::new();
            for raw in many {
                h.update(&raw[1..]);
            }
            let mut out = vec![MULTI];
            out.extend_from_slice(&h.finalize());
            Some(urlsafe_b64(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rust-sdk's test data: `'A' + 'b'×4093 + "\r\n"`, repeated.
    fn pattern(len: usize) -> Vec<u8> {
        let mut unit = vec![b'A'];
        unit.extend(std::iter::repeat_n(b'b', 4093));
        unit.extend_from_slice(b"\r\n");
        unit.iter().copied().cycle().take(len).collect()
    }

    /// The python SDK's test files: N−1 zero bytes then `'0'`.
    fn zeros_then_0(len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        if let Some(last) = v.last_mut() {
            *last = b'0';
        }
        v
    }

    const MIB: usize = 1 << 20;

    #[test]
    fn v1_official_vectors() {
        assert_eq!(qetag(b""), "Fto5o-5ea0sNMlW_75VgGJCv2AcJ");
        assert_eq!(qetag(&zeros_then_0(MIB)), "FnlAdmDasGTQOIgrU1QIZaGDv_1D");
        assert_eq!(
            qetag(&zeros_then_0(4 * MIB + 1)),
            "ljF323utglY3GI6AvLgawSJ4_dgk"
        );
        assert_eq!(qetag(b"etag"), "FpLiADEaVoALPkdb8tJEJyRTXoe_");
        for (size, want) in [
            (MIB, "Foyl8onxBLWeRLL5oItRJphv6i4b"),
            (4 * MIB, "FicHOveBNs5Kn9d74M3b9tI4D-8r"),
            (5 * MIB, "lg-Eb5KFCuZn-cUfj_oS2PPOU9xy"),
            (8 * MIB, "lkSKZOMToDp-EqLDVuT1pyjQssl-"),
            (9 * MIB, "ljgVjMtyMsOgIySv79U8Qz4TrUO4"),
        ] {
            assert_eq!(qetag(&pattern(size)), want, "{size} bytes");
        }
    }

    #[test]
    fn streaming_in_odd_pieces_agrees() {
        let data = pattern(9 * MIB);
        let mut h = QetagHasher::new();
        for piece in data.chunks(1_000_003) {
            h.update(piece);
        }
        assert_eq!(h.len(), data.len() as u64);
        assert_eq!(h.finish(), "ljgVjMtyMsOgIySv79U8Qz4TrUO4");
    }

    #[test]
    fn v2_official_vectors() {
        assert_eq!(
            qetag_v2(&[&b"hello"[..], &b"world"[..]]),
            "ns56DcSIfBFUENXjdhsJTIvl3Rcu"
        );
        let half = pattern(512 * 1024);
        assert_eq!(qetag_v2(&[&half, &half]), "nlF4JinKEDBChmFGYbEIsZt6Gxnw");
        assert_eq!(
            qetag_v2(&[half.clone(), pattern(8 * MIB)]),
            "nt82yvMNHlNgZ4H8_A_4de84mr2f"
        );
        // Every part but the last 4 MiB: v1 of the whole.
        let whole = pattern(9 * MIB);
        let parts = [
            &whole[..4 * MIB],
            &whole[4 * MIB..8 * MIB],
            &whole[8 * MIB..],
        ];
        assert_eq!(qetag_v2(&parts), qetag(&whole));
    }

    #[test]
    fn from_part_etags() {
        let half = pattern(512 * 1024);
        let tags = [qetag(&half), qetag(&half)];
        let parts = [
            (half.len() as u64, tags[0].as_str()),
            (half.len() as u64, tags[1].as_str()),
        ];
        assert_eq!(
            qetag_of_parts(&parts).as_deref(),
            Some("nlF4JinKEDBChmFGYbEIsZt6Gxnw")
        );
        let whole = pattern(9 * MIB);
        let chunks = [
            &whole[..4 * MIB],
            &whole[4 * MIB..8 * MIB],
            &whole[8 * MIB..],
        ];
        let tags: Vec<String> = chunks.iter().map(|c| qetag(c)).collect();
        let parts: Vec<(u64, &str)> = chunks
            .iter()
            .zip(&tags)
            .map(|(c, t)| (c.len() as u64, t.as_str()))
            .collect();
        assert_eq!(qetag_of_parts(&parts), Some(qetag(&whole)));
        let single = [(5, "FpLiADEaVoALPkdb8tJEJyRTXoe_")];
        assert_eq!(
            qetag_of_parts(&single).as_deref(),
            Some("FpLiADEaVoALPkdb8tJEJyRTXoe_")
        );
        assert_eq!(qetag_of_parts(&[(5, "not-a-qetag")]), None);
        // A last part over 4 MiB after 4 MiB parts: v1 of the whole, which
        // its etag cannot give.
        let tail = &whole[4 * MIB..];
        let tags = [qetag(&whole[..4 * MIB]), qetag(tail)];
        let parts = [
            (4 * MIB as u64, tags[0].as_str()),
            (tail.len() as u64, tags[1].as_str()),
        ];
        assert_eq!(qetag_of_parts(&parts), None);
    }
}
