use std::fmt;
use std::time::Duration;

use haul_core::Error;
use rand::Rng;
use rand::rngs::StdRng;

/// An [`ObjectStore`](haul_core::ObjectStore) method, naming what a
/// [`FaultRule`] matches and what [`FaultStats`](crate::FaultStats) counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `head`.
    Head,
    /// `get` (the request and its body).
    Get,
    /// `put`.
    Put,
    /// `copy`.
    Copy,
    /// `delete`.
    Delete,
    /// `delete_many`.
    DeleteMany,
    /// `list` (one listing, however many pages).
    List,
    /// `create_multipart`.
    CreateMultipart,
    /// `upload_part`.
    UploadPart,
    /// `upload_part_copy`.
    UploadPartCopy,
    /// `list_parts`.
    ListParts,
    /// `complete_multipart`.
    CompleteMultipart,
    /// `abort_multipart`.
    AbortMultipart,
    /// Every method, in a rule; the total, in [`FaultStats::requests`](crate::FaultStats::requests).
    Any,
}

impl Op {
    /// Every method (without [`Op::Any`]), in declaration order.
    pub const ALL: [Self; 13] = [
        Self::Head,
        Self::Get,
        Self::Put,
        Self::Copy,
        Self::Delete,
        Self::DeleteMany,
        Self::List,
        Self::CreateMultipart,
        Self::UploadPart,
        Self::UploadPartCopy,
        Self::ListParts,
        Self::CompleteMultipart,
        Self::AbortMultipart,
    ];

    /// The method's name (`upload_part`), or `any`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Get => "get",
            Self::Put => "put",
            Self::Copy => "copy",
            Self::Delete => "delete",
            Self::DeleteMany => "delete_many",
            Self::List => "list",
            Self::CreateMultipart => "create_multipart",
            Self::UploadPart => "upload_part",
            Self::UploadPartCopy => "upload_part_copy",
            Self::ListParts => "list_parts",
            Self::CompleteMultipart => "complete_multipart",
            Self::AbortMultipart => "abort_multipart",
            Self::Any => "any",
        }
    }

    /// Whether the method writes to its key (counted in `max_keys_writing`).
    #[must_use]
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::Put
                | Self::Copy
                | Self::CreateMultipart
                | Self::UploadPart
                | Self::UploadPartCopy
                | Self::CompleteMultipart
        )
    }

    /// Index into per-method counters; `None` for [`Op::Any`].
    pub(crate) fn index(self) -> Option<usize> {
        Self::ALL.iter().position(|o| *o == self)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What goes wrong when a [`FaultRule`] fires.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// A retryable [`Error::Transient`] instead of the call: the request never
    /// reached the store.
    TransientBefore,
    /// The call reaches the inner store and succeeds there, then the answer is
    /// lost: the caller sees [`Error::Transient`]. An inner error is passed
    /// through. For `list`, the entries come, then the error.
    TransientAfter,
    /// Sleeps this long before the call (while it counts as in flight).
    /// Delays of several firing rules add up, and combine with one other fault.
    Delay(Duration),
    /// A `get` body that stops after half the bytes of its range, then yields
    /// [`Error::Transient`] (`error: true`) or just ends short (`error: false`).
    TruncateBody {
        /// Whether the short body ends with an error rather than silently.
        error: bool,
    },
    /// Flips one byte (at a seeded position) of the payload sent by `put` or
    /// `upload_part` — keeping the checksums the payload carries, as damage in
    /// transit would — or of the body `get` yields.
    CorruptBody,
    /// [`Error::RateLimited`] with this `retry_after`, instead of the call.
    RateLimited(Option<Duration>),
    /// A `delete_many` answer missing the result for its last key, as a
    /// store whose batch answer was cut short would give it.
    ShortAnswer,
    /// This error instead of the call, made from the key (or list prefix), e.g.
    /// `Fault::Error(|k| Error::not_found(k, "injected"))`.
    Error(fn(&str) -> Error),
}

impl Fault {
    /// Whether the fault means anything for `op`; a rule never fires where not.
    #[must_use]
    pub fn applies_to(&self, op: Op) -> bool {
        match self {
            Self::TruncateBody { .. } => op == Op::Get,
            Self::CorruptBody => matches!(op, Op::Get | Op::Put | Op::UploadPart),
            Self::ShortAnswer => op == Op::DeleteMany,
            _ => true,
        }
    }
}

/// When a [`FaultRule`] fires, among the calls it matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// Every matching call.
    Always,
    /// Each matching call with this probability (0.0–1.0), from the seeded rng.
    Probability(f64),
    /// Only the n-th matching call (1-based) since the rule was installed.
    Nth(u64),
    /// The first n matching calls since the rule was installed.
    FirstN(u64),
    /// Each matching call made while more than n calls (of any method,
    /// this one included) are in flight: a store that throttles above a
    /// concurrency.
    InFlightAbove(u64),
}

/// A rule: which calls, when, and what goes wrong.
///
/// A call matches when its method is `op` (or `op` is [`Op::Any`]), the fault
/// [applies to](Fault::applies_to) the method, and the key (the list prefix,
/// the destination of a copy, the first key of a batch delete) contains
/// `key_contains`.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// The method matched.
    pub op: Op,
    /// When it fires.
    pub trigger: Trigger,
    /// What goes wrong.
    pub fault: Fault,
    /// Only keys containing this text, if set.
    pub key_contains: Option<String>,
    /// Fires at most this many times in all, if set.
    pub max_times: Option<u64>,
}

impl FaultRule {
    /// Fires on each call of `op` with `probability`.
    #[must_use]
    pub fn new(op: Op, probability: f64, fault: Fault) -> Self {
        Self::with_trigger(op, Trigger::Probability(probability), fault)
    }

    /// Fires on the `n`-th call of `op` only (1-based).
    #[must_use]
    pub fn nth(op: Op, n: u64, fault: Fault) -> Self {
        Self::with_trigger(op, Trigger::Nth(n), fault)
    }

    /// Fires on the first `n` calls of `op`.
    #[must_use]
    pub fn first(op: Op, n: u64, fault: Fault) -> Self {
        Self::with_trigger(op, Trigger::FirstN(n), fault)
    }

    /// Fires on every call of `op`.
    #[must_use]
    pub fn always(op: Op, fault: Fault) -> Self {
        Self::with_trigger(op, Trigger::Always, fault)
    }

    /// A rule with any trigger.
    #[must_use]
    pub fn with_trigger(op: Op, trigger: Trigger, fault: Fault) -> Self {
        Self {
            op,
            trigger,
            fault,
            key_contains: None,
            max_times: None,
        }
    }

    /// Restricts the rule to keys containing `text`.
    #[must_use]
    pub fn keys_containing(mut self, text: impl Into<String>) -> Self {
        self.key_contains = Some(text.into());
        self
    }

    /// Lets the rule fire at most `times` times.
    #[must_use]
    pub fn at_most(mut self, times: u64) -> Self {
        self.max_times = Some(times);
        self
    }

    fn matches(&self, op: Op, key: &str) -> bool {
        (self.op == Op::Any || self.op == op)
            && self.fault.applies_to(op)
            && self.key_contains.as_deref().is_none_or(|k| key.contains(k))
    }
}

/// A rule and how often it matched and fired.
#[derive(Debug)]
struct Installed {
    rule: FaultRule,
    seen: u64,
    fired: u64,
}

/// The rules and the seeded rng, behind one lock.
#[derive(Debug)]
pub(crate) struct Rules {
    rules: Vec<Installed>,
    rng: StdRng,
}

/// What to do to one call.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Sleep this long first.
    pub(crate) delay: Duration,
    /// The fault, if one fired.
    pub(crate) fault: Option<Fault>,
    /// A seeded number choosing the byte to corrupt.
    pub(crate) pick: u64,
}

impl Rules {
    pub(crate) fn new(rng: StdRng) -> Self {
        Self {
            rules: Vec::new(),
            rng,
        }
    }

    pub(crate) fn set(&mut self, rules: Vec<FaultRule>) {
        self.rules = rules
            .into_iter()
            .map(|rule| Installed {
                rule,
                seen: 0,
                fired: 0,
            })
            .collect();
    }

    pub(crate) fn push(&mut self, rule: FaultRule) {
        self.rules.push(Installed {
            rule,
            seen: 0,
            fired: 0,
        });
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.rules.iter().map(|i| i.rule.clone()).collect()
    }

    /// Decides what happens to one call: rules are tried in order, delays add
    /// up, and the first other fault that fires wins (later non-delay rules are
    /// not consulted for this call).
    pub(crate) fn decide(&mut self, op: Op, key: &str, in_flight: u64) -> Plan {
        let mut plan = Plan::default();
        for inst in &mut self.rules {
            let is_delay = matches!(inst.rule.fault, Fault::Delay(_));
            if (!is_delay && plan.fault.is_some()) || !inst.rule.matches(op, key) {
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
                Fault::Delay(d) => plan.delay += d,
                other => {
                    if matches!(other, Fault::CorruptBody) {
                        plan.pick = self.rng.random();
                    }
                    plan.fault = Some(other);
                }
            }
        }
        plan
    }
}
