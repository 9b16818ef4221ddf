//! Sizes in messages, and the one-line refusal of an upload over a
//! service's limit (made before a byte is sent).

use haul_core::Error;

const MIB: f64 = (1u64 << 20) as f64;

/// `n` bytes for a person: `512 bytes`, `10.0 KB`, `20.0 MB` (units of
/// 2^10 and 2^20 bytes, one decimal).
#[must_use]
pub fn human_size(n: u64) -> String {
    if n < 1 << 10 {
        format!("{n} bytes")
    } else if n < 1 << 20 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MB", n as f64 / MIB)
    }
}

/// A limit for a person: as [`human_size`], without the decimal when whole
/// (`15 MB`).
#[must_use]
pub fn human_limit(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MB", n >> 20),
        n if (1 << 10..1 << 20).contains(&n) && n % 1024 == 0 => format!("{} KB", n >> 10),
        n => human_size(n),
    }
}

/// `key: 20.0 MB exceeds NOS's 15 MB upload limit` — an
/// [`Error::InvalidInput`], for a body over `store`'s `limit` bytes. A
/// size that rounds to the limit is given in bytes.
#[must_use]
pub fn too_large(key: &str, size: u64, store: &str, limit: u64) -> Error {
    let mut shown = human_size(size);
    if shown == human_size(limit) {
        shown = format!("{size} bytes");
    }
    Error::invalid(
        key,
        format!(
            "{shown} exceeds {store}'s {} upload limit",
            human_limit(limit)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(10 << 10), "10.0 KB");
        assert_eq!(human_size(20 << 20), "20.0 MB");
        assert_eq!(human_limit(15 << 20), "15 MB");
        assert_eq!(human_limit(10 << 10), "10 KB");
        assert_eq!(human_limit(1_000), "1000 bytes");
        let e = too_large("photo.raw", 20 << 20, "NOS", 15 << 20);
        assert_eq!(
            e.to_string(),
            "photo.raw: 20.0 MB exceeds NOS's 15 MB upload limit"
        );
        let e = too_large("a", (15 << 20) + 1, "NOS", 15 << 20);
        assert_eq!(
            e.to_string(),
            "a: 15728641 bytes exceeds NOS's 15 MB upload limit"
        );
    }
}
