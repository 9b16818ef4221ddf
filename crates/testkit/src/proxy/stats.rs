//! What the proxy saw and did.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A kind of fault the proxy injects, as counted in [`ProxyStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProxyFaultKind {
    /// A connection reset before forwarding.
    ResetBefore,
    /// A connection reset after the server answered.
    ResetAfter,
    /// A `503 SlowDown` answer.
    SlowDown,
    /// A `500 InternalError` answer.
    InternalError,
    /// A body cut short under its announced length.
    TruncateBody,
    /// A pause in the middle of a body.
    StallBody,
    /// A delay before forwarding.
    Delay,
    /// A request body forwarded with one byte inverted.
    CorruptRequest,
}

impl ProxyFaultKind {
    /// Every kind, in order.
    pub const ALL: [Self; 8] = [
        Self::ResetBefore,
        Self::ResetAfter,
        Self::SlowDown,
        Self::InternalError,
        Self::TruncateBody,
        Self::StallBody,
        Self::Delay,
        Self::CorruptRequest,
    ];

    /// A short snake_case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ResetBefore => "reset_before",
            Self::ResetAfter => "reset_after",
            Self::SlowDown => "slow_down",
            Self::InternalError => "internal_error",
            Self::TruncateBody => "truncate_body",
            Self::StallBody => "stall_body",
            Self::Delay => "delay",
            Self::CorruptRequest => "corrupt_request",
        }
    }
}

impl fmt::Display for ProxyFaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A snapshot of what a [`FaultProxy`](super::FaultProxy) saw since it
/// started or its stats were [reset](super::FaultProxy::reset_stats).
///
/// A fault is counted when it is injected: a body fault whose answer turned
/// out to have no body is not (its rule still counts as fired).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub connections: u64,
    /// Requests received, faulted ones too.
    pub requests: u64,
    /// Requests per HTTP method.
    pub requests_by_method: BTreeMap<String, u64>,
    /// Requests forwarded to the server (all but `ResetBefore`, `SlowDown`
    /// and `InternalError` ones, and those the server could not be reached for).
    pub forwarded: u64,
    /// Faults injected per kind (every kind present, zeros included).
    pub injected: BTreeMap<ProxyFaultKind, u64>,
    /// How many times each installed rule fired, in order (since the rules
    /// were set; not zeroed by a stats reset).
    pub fired_by_rule: Vec<u64>,
    /// Every request the server answered, in the order the answers came.
    pub answered: Vec<Answered>,
    /// Every request received (`METHOD path?query`), in order, answered
    /// or not.
    pub received: Vec<String>,
}

/// A request the server answered, as the proxy forwarded it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answered {
    /// The method (uppercase).
    pub method: String,
    /// The path and query.
    pub target: String,
    /// The request body's data length: `x-amz-decoded-content-length` for an
    /// `aws-chunked` body, else `Content-Length` (0 without one).
    pub len: u64,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `x-amz-copy-source-range` header, if any.
    pub copy_range: Option<String>,
    /// The answer's status code.
    pub status: u16,
}

impl Answered {
    /// The value of query parameter `name`, if present.
    #[must_use]
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, q) = self.target.split_once('?')?;
        q.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// The bytes of an inclusive `bytes=a-b` range (this request's
    /// `x-amz-copy-source-range`, else its `Range`), if it has one.
    #[must_use]
    pub fn range_len(&self) -> Option<u64> {
        let r = self.copy_range.as_deref().or(self.range.as_deref())?;
        let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
        let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
        Some(b + 1 - a)
    }
}

impl ProxyStats {
    /// Faults of `kind` injected.
    #[must_use]
    pub fn injected(&self, kind: ProxyFaultKind) -> u64 {
        self.injected.get(&kind).copied().unwrap_or(0)
    }

    /// Faults injected, delays left out.
    #[must_use]
    pub fn faults_injected(&self) -> u64 {
        self.injected
            .iter()
            .filter(|(k, _)| **k != ProxyFaultKind::Delay)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests of `method` received.
    #[must_use]
    pub fn requests_of(&self, method: &str) -> u64 {
        self.requests_by_method
            .get(&method.to_ascii_uppercase())
            .copied()
            .unwrap_or(0)
    }
}

impl fmt::Display for ProxyStats {
    /// One line: `N requests on C connections, F forwarded; kind=n ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests on {} connections, {} forwarded;",
            self.requests, self.connections, self.forwarded
        )?;
        for (k, n) in &self.injected {
            write!(f, " {k}={n}")?;
        }
        Ok(())
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters(Mutex<ProxyStats>);

impl Counters {
    fn lock(&self) -> MutexGuard<'_, ProxyStats> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn connection(&self) {
        self.lock().connections += 1;
    }

    pub(crate) fn request(&self, method: &str, target: &str) {
        let mut s = self.lock();
        s.received
            .push(format!("{} {target}", method.to_ascii_uppercase()));
        s.requests += 1;
        *s.requests_by_method
            .entry(method.to_ascii_uppercase())
            .or_default() += 1;
    }

    pub(crate) fn forwarded(&self, answered: Answered) {
        let mut s = self.lock();
        s.forwarded += 1;
        s.answered.push(answered);
    }

    pub(crate) fn injected(&self, kind: ProxyFaultKind) {
        *self.lock().injected.entry(kind).or_default() += 1;
    }

    pub(crate) fn snapshot(&self, fired_by_rule: Vec<u64>) -> ProxyStats {
        let mut s = self.lock().clone();
        for k in ProxyFaultKind::ALL {
            s.injected.entry(k).or_default();
        }
        s.fired_by_rule = fired_by_rule;
        s
    }

    pub(crate) fn reset(&self) {
        *self.lock() = ProxyStats::default();
    }
}
