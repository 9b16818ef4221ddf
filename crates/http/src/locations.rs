//! [`Locations`]: what a store that chooses its own addresses remembers of
//! the uploads it made — key written → address assigned — so that the key
//! reads back the object in the same process (the engine checks an upload
//! with `head(key)` right after it).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// A bounded map from the keys a store wrote to the addresses the service
/// gave them; the oldest entries are forgotten past the capacity. Another
/// process knows none of them: it reads by address.
#[derive(Debug)]
pub struct Locations {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, String>,
    order: VecDeque<String>,
}

impl Default for Locations {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl Locations {
    /// How many uploads a store remembers by default.
    pub const DEFAULT_CAPACITY: usize = 65_536;

    /// An empty map remembering at most `capacity` keys (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Records that `key` was written to `location` (replacing an earlier
    /// upload of the same key).
    pub fn remember(&self, key: &str, location: &str) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if g.map.insert(key.to_owned(), location.to_owned()).is_none() {
            g.order.push_back(key.to_owned());
        }
        while g.map.len() > self.capacity {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            g.map.remove(&old);
        }
    }

    /// Where `key` was last written, if this store wrote it.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<String> {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.map.get(key).cloned()
    }

    /// Forgets `key` (after a delete).
    pub fn forget(&self, key: &str) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if g.map.remove(key).is_some() {
            g.order.retain(|k| k != key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded() {
        let l = Locations::new(2);
        l.remember("a", "1");
        l.remember("b", "2");
        l.remember("a", "3");
        assert_eq!(l.get("a").as_deref(), Some("3"));
        l.remember("c", "4");
        assert_eq!(l.get("a"), None, "the oldest key goes first");
        assert_eq!(l.get("b").as_deref(), Some("2"));
        l.forget("b");
        assert_eq!(l.get("b"), None);
        assert_eq!(l.get("c").as_deref(), Some("4"));
    }
}
