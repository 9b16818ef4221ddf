//! Which requests the proxy breaks, and how.

use std::time::Duration;

use hyper::HeaderMap;
use rand::Rng;
use rand::rngs::StdRng;

use super::stats::ProxyFaultKind;
use crate::Trigger;

/// What the proxy does to a request when a [`ProxyRule`] fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyFault {
    /// Resets the client's connection (TCP RST) without forwarding the
    /// request: the server never sees it.
    ResetBefore,
    /// Forwards the request, waits for the server's answer, drops it and
    /// resets the client's connection: the server acted, the client cannot
    /// know.
    ResetAfter,
    /// Answers `503 SlowDown` with an S3 XML error body, without forwarding
    /// (the request body is read and discarded first), with a `Retry-After`
    /// header in whole seconds (rounded up) when set.
    SlowDown {
        /// The `Retry-After` to send.
        retry_after: Option<Duration>,
    },
    /// Answers `500 InternalError` with an S3 XML error body, without
    /// forwarding (the request body is read and discarded first).
    InternalError,
    /// Forwards, then sends the server's status and headers — the full
    /// `Content-Length` included — but only the first half of the body
    /// (the first chunk when the length is unknown), and closes the
    /// connection. Only for answers with a body; not for `HEAD`.
    TruncateBody,
    /// Waits this long before forwarding the request (so before any byte of
    /// the answer). Delays of several firing rules add up, and combine with
    /// one other fault. Longer than the client's stall timeout, the client
    /// gives up first (the request may still reach the server late).
    Delay(Duration),
    /// Forwards, sends the first half of the body, pauses this long, then
    /// sends the rest. Only for answers with a body; not for `HEAD`.
    StallBody(Duration),
    /// Forwards the request with one byte of its body inverted, halfway
    /// through its `Content-Length`: what a bad NIC or middlebox does, and
    /// what a declared checksum must catch. Only for requests with a body
    /// of known length; not for `GET`, `HEAD` or `DELETE`.
    CorruptRequest,
}

impl ProxyFault {
    /// The kind counted in [`ProxyStats`](super::ProxyStats).
    #[must_use]
    pub fn kind(&self) -> ProxyFaultKind {
        match self {
            Self::ResetBefore => ProxyFaultKind::ResetBefore,
            Self::ResetAfter => ProxyFaultKind::ResetAfter,
            Self::SlowDown { .. } => ProxyFaultKind::SlowDown,
            Self::InternalError => ProxyFaultKind::InternalError,
            Self::TruncateBody => ProxyFaultKind::TruncateBody,
            Self::Delay(_) => ProxyFaultKind::Delay,
            Self::StallBody(_) => ProxyFaultKind::StallBody,
            Self::CorruptRequest => ProxyFaultKind::CorruptRequest,
        }
    }

    /// Whether the fault means anything for a request of `method`; a rule
    /// never fires where not.
    #[must_use]
    pub fn applies_to(&self, method: &str) -> bool {
        match self {
            Self::TruncateBody | Self::StallBody(_) => !method.eq_ignore_ascii_case("HEAD"),
            Self::CorruptRequest => ["PUT", "POST"]
                .iter()
                .any(|m| method.eq_ignore_ascii_case(m)),
            _ => true,
        }
    }
}

/// A rule: which requests, when, and what goes wrong.
///
/// A request matches when its method is `method` (any when unset), the fault
/// [applies to](ProxyFault::applies_to) it, its target (path and query, as
/// sent: `/bucket/key?partNumber=2&uploadId=...`) contains `path_contains`
/// and it carries the header `header` (e.g. `x-amz-copy-source`, to pick
/// S3's copy calls), each when set.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyRule {
    /// The HTTP method matched (`GET`, `PUT`, ...); any when `None`.
    pub method: Option<String>,
    /// Only targets containing this text, if set.
    pub path_contains: Option<String>,
    /// Only requests with this header (any value), if set.
    pub header: Option<String>,
    /// When it fires.
    pub trigger: Trigger,
    /// What goes wrong.
    pub fault: ProxyFault,
    /// Fires at most this many times in all, if set.
    pub max_times: Option<u64>,
}

impl ProxyRule {
    /// Fires on each request with `probability` (0.0–1.0).
    #[must_use]
    pub fn new(probability: f64, fault: ProxyFault) -> Self {
        Self::with_trigger(Trigger::Probability(probability), fault)
    }

    /// Fires on the `n`-th matching request only (1-based).
    #[must_use]
    pub fn nth(n: u64, fault: ProxyFault) -> Self {
        Self::with_trigger(Trigger::Nth(n), fault)
    }

    /// Fires on the first `n` matching requests.
    #[must_use]
    pub fn first(n: u64, fault: ProxyFault) -> Self {
        Self::with_trigger(Trigger::FirstN(n), fault)
    }

    /// Fires on every matching request.
    #[must_use]
    pub fn always(fault: ProxyFault) -> Self {
        Self::with_trigger(Trigger::Always, fault)
    }

    /// A rule with any trigger, for every request.
    #[must_use]
    pub fn with_trigger(trigger: Trigger, fault: ProxyFault) -> Self {
        Self {
            method: None,
            path_contains: None,
            header: None,
            trigger,
            fault,
            max_times: None,
        }
    }

    /// Restricts the rule to requests of `method` (case-insensitive).
    #[must_use]
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Restricts the rule to targets (path and query) containing `text`.
    #[must_use]
    pub fn path_contains(mut self, text: impl Into<String>) -> Self {
        self.path_contains = Some(text.into());
        self
    }

    /// Restricts the rule to requests carrying header `name`.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>) -> Self {
        self.header = Some(name.into());
        self
    }

    /// Lets the rule fire at most `times` times.
    #[must_use]
    pub fn at_most(mut self, times: u64) -> Self {
        self.max_times = Some(times);
        self
    }

    fn matches(&self, method: &str, target: &str, headers: &HeaderMap) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.fault.applies_to(method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| target.contains(p))
            && self
                .header
                .as_deref()
                .is_none_or(|h| headers.contains_key(h))
    }
}

/// A rule and how often it matched and fired.
#[derive(Debug)]
struct Installed {
    rule: ProxyRule,
    seen: u64,
    fired: u64,
}

/// The rules and the seeded rng, behind one lock.
#[derive(Debug)]
pub(crate) struct Rules {
    rules: Vec<Installed>,
    rng: StdRng,
}

/// What to do to one request.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Plan {
    /// Wait this long before forwarding.
    pub(crate) delay: Duration,
    /// The fault, if one fired (never a `Delay`).
    pub(crate) fault: Option<ProxyFault>,
}

impl Rules {
    pub(crate) fn new(rng: StdRng) -> Self {
        Self {
            rules: Vec::new(),
            rng,
        }
    }

    pub(crate) fn set(&mut self, rules: Vec<ProxyRule>) {
        self.rules = rules.into_iter().map(installed).collect();
    }

    pub(crate) fn push(&mut self, rule: ProxyRule) {
        self.rules.push(installed(rule));
    }

    pub(crate) fn rules(&self) -> Vec<ProxyRule> {
        self.rules.iter().map(|i| i.rule.clone()).collect()
    }

    /// How many times each rule fired, in order.
    pub(crate) fn fired(&self) -> Vec<u64> {
        self.rules.iter().map(|i| i.fired).collect()
    }

    /// Decides what happens to one request: rules are tried in order, delays
    /// add up, and the first other fault that fires wins (later non-delay
    /// rules are not consulted for this request).
    pub(crate) fn decide(
        &mut self,
        method: &str,
        target: &str,
        headers: &HeaderMap,
        in_flight: u64,
    ) -> Plan {
        let mut plan = Plan::default();
        for inst in &mut self.rules {
            let is_delay = matches!(inst.rule.fault, ProxyFault::Delay(_));
            if (!is_delay && plan.fault.is_some()) || !inst.rule.matches(method, target, headers) {
                continue;
            }
            inst.seen += 1;
            let triggered = match inst.rule.trigger {
                Trigger::Always => true,
                Trigger::Probability(p) => self.rng.random::<f64>() < p,
                Trigger::Nth(n) => inst.seen == n,
                Trigger::FirstN(n) => inst.seen <= n,
                Trigger::InFlightAbove(n) => in_flight > n,
            };
            if !triggered || inst.rule.max_times.is_some_and(|m| inst.fired >= m) {
                continue;
            }
            inst.fired += 1;
            match inst.rule.fault {
                ProxyFault::Delay(d) => plan.delay += d,
                other => plan.fault = Some(other),
            }
        }
        plan
    }
}

fn installed(rule: ProxyRule) -> Installed {
    Installed {
        rule,
        seen: 0,
        fired: 0,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn decide_many(seed: u64, n: usize) -> Vec<Option<ProxyFaultKind>> {
        let mut rules = Rules::new(StdRng::seed_from_u64(seed));
        rules.set(vec![
            ProxyRule::new(0.3, ProxyFault::ResetBefore).method("PUT"),
            ProxyRule::new(0.3, ProxyFault::TruncateBody),
        ]);
        let h = HeaderMap::new();
        (0..n)
            .map(|i| {
                let m = if i % 2 == 0 { "PUT" } else { "HEAD" };
                rules.decide(m, "/b/k", &h, 1).fault.map(|f| f.kind())
            })
            .collect()
    }

    #[test]
    fn seeded_decisions_repeat() {
        let a = decide_many(9, 200);
        assert_eq!(a, decide_many(9, 200));
        assert!(a.iter().any(Option::is_some) && a.iter().any(Option::is_none));
        // HEAD never gets a body fault.
        assert!(
            a.iter()
                .skip(1)
                .step_by(2)
                .all(|f| f.is_none_or(|k| k != ProxyFaultKind::TruncateBody))
        );
    }

    #[test]
    fn filters_triggers_and_delays() {
        let mut rules = Rules::new(StdRng::seed_from_u64(1));
        rules.set(vec![
            ProxyRule::always(ProxyFault::Delay(Duration::from_millis(5))),
            ProxyRule::always(ProxyFault::Delay(Duration::from_millis(7))).path_contains("x"),
            ProxyRule::nth(2, ProxyFault::InternalError).with_header("x-amz-copy-source"),
            ProxyRule::first(1, ProxyFault::ResetAfter)
                .method("put")
                .at_most(1),
        ]);
        let mut copy = HeaderMap::new();
        copy.insert("x-amz-copy-source", "/a/b".parse().expect("value"));
        let none = HeaderMap::new();
        let p = rules.decide("PUT", "/b/x", &none, 1);
        assert_eq!(p.delay, Duration::from_millis(12));
        assert_eq!(p.fault, Some(ProxyFault::ResetAfter));
        assert_eq!(rules.decide("PUT", "/b/k", &copy, 1).fault, None);
        let p = rules.decide("PUT", "/b/k", &copy, 1);
        assert_eq!(p.fault, Some(ProxyFault::InternalError));
        assert_eq!(p.delay, Duration::from_millis(5));
        assert_eq!(rules.decide("PUT", "/b/k", &copy, 1).fault, None);
        assert_eq!(rules.fired(), vec![4, 1, 1, 1]);
    }
}
