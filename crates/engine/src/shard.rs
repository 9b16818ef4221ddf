//! Shards without a database: `--shard I/N` plans only the keys whose
//! stable hash falls in shard `I` of `N`, so N machines, each with its own
//! journal, split one listing between them without talking to each other.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (from 0): the keys it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u32,
    /// How many shards split the listing.
    pub count: u32,
}

/// FNV-1a, 64 bits: fixed forever (a key must land in the same shard on
/// every machine and every version), cheap, and spreads keys that share
/// long prefixes.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Shard {
    /// Shard `index` of `count`; `None` unless `index < count`.
    #[must_use]
    pub fn new(index: u32, count: u32) -> Option<Self> {
        (index < count).then_some(Self { index, count })
    }

    /// Whether the key `rel` (relative to the job's source prefix) is this
    /// shard's.
    #[must_use]
    pub fn holds(&self, rel: &str) -> bool {
        fnv1a(rel.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N` with `0 <= I < N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?}: a shard is I/N with 0 <= I < N (e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Self::new(i, n).ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert!("4/4".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert_eq!(Shard { index: 1, count: 3 }.to_string(), "1/3");
    }

    #[test]
    fn the_hash_is_fixed() {
        // Changing it would move keys between shards of a running migration.
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    /// For N = 1..8 and random listings, every key is in exactly one
    /// shard: the shards are disjoint and together the whole listing.
    #[test]
    fn shards_partition_every_listing() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand::rngs::StdRng::seed_from_u64(18);
        for round in 0..50 {
            let n_keys = rng.random_range(0..400);
            let keys: Vec<String> = (0..n_keys)
                .map(|i| {
                    let len = rng.random_range(0..24);
                    let tail: String = (0..len)
                        .map(|_| char::from(rng.random_range(b' '..=b'~')))
                        .collect();
                    format!("r{round}/{i}/{tail}")
                })
                .collect();
            for count in 1..=8 {
                let shards: Vec<Shard> =
                    (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
                let mut seen = 0;
                for k in &keys {
                    let owners = shards.iter().filter(|s| s.holds(k)).count();
                    assert_eq!(owners, 1, "{k} in {owners} of {count} shards");
                    seen += owners;
                }
                assert_eq!(seen, keys.len());
                if count > 1 && keys.len() >= 200 {
                    // And spread: no shard takes nothing of a large listing.
                    assert!(shards.iter().all(|s| keys.iter().any(|k| s.holds(k))));
                }
            }
        }
    }
}
