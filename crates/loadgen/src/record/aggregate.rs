//! Everything a run recorded, in a form that adds up exactly: counts keyed by
//! [`Outcome`], HDR histograms, grouped error messages, and a timeline of fixed-width
//! buckets. Shards, threads and machines each produce an [`Aggregate`]; `+=` merges them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::{AddAssign, Index, IndexMut};

use super::hist::{self, CompactHist, Hist};
use crate::outcome::Outcome;

/// At most this many distinct (outcome, message) groups are kept; the rest are counted
/// under [`OTHER_MESSAGE`].
pub const MAX_ERROR_GROUPS: usize = 50;
/// The message under which errors beyond [`MAX_ERROR_GROUPS`] are counted.
pub const OTHER_MESSAGE: &str = "other";

/// Loads per outcome, indexed by [`Outcome`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerOutcome(pub [u64; 8]);

impl Index<Outcome> for PerOutcome {
    type Output = u64;
    fn index(&self, o: Outcome) -> &u64 {
        &self.0[o.index()]
    }
}

impl IndexMut<Outcome> for PerOutcome {
    fn index_mut(&mut self, o: Outcome) -> &mut u64 {
        &mut self.0[o.index()]
    }
}

impl PerOutcome {
    /// The sum over every outcome.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl AddAssign<&PerOutcome> for PerOutcome {
    fn add_assign(&mut self, other: &PerOutcome) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

/// Loads scheduled, and loads per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Loads whose intended start fell inside the run.
    pub scheduled: u64,
    /// Loads per outcome.
    pub outcomes: PerOutcome,
}

impl Counts {
    /// Loads of one outcome.
    pub fn get(&self, o: Outcome) -> u64 {
        self.outcomes[o]
    }
    /// Sum over every outcome.
    pub fn accounted(&self) -> u64 {
        self.outcomes.total()
    }
    /// The accounting invariant: every scheduled load has exactly one outcome.
    pub fn invariant_holds(&self) -> bool {
        self.scheduled == self.accounted()
    }
    /// Loads that completed (every outcome but `dropped`).
    pub fn completed(&self) -> u64 {
        self.accounted() - self.get(Outcome::Dropped)
    }
}

impl Index<Outcome> for Counts {
    type Output = u64;
    fn index(&self, o: Outcome) -> &u64 {
        &self.outcomes[o]
    }
}

impl AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, other: &Counts) {
        self.scheduled += other.scheduled;
        self.outcomes += &other.outcomes;
    }
}

/// Distinct error messages per outcome, bounded to [`MAX_ERROR_GROUPS`] groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorGroups {
    groups: HashMap<(Outcome, Cow<'static, str>), u64>,
}

impl ErrorGroups {
    /// Counts `n` errors of `outcome` with `message`.
    pub fn add(&mut self, outcome: Outcome, message: Cow<'static, str>, n: u64) {
        if let Some(c) = self.groups.get_mut(&(outcome, message.clone())) {
            *c += n;
            return;
        }
        let key = if self.groups.len() < MAX_ERROR_GROUPS {
            (outcome, message)
        } else {
            (outcome, Cow::Borrowed(OTHER_MESSAGE))
        };
        *self.groups.entry(key).or_insert(0) += n;
    }

    /// The groups, most frequent first (ties by outcome, then message).
    pub fn sorted(&self) -> Vec<(Outcome, Cow<'static, str>, u64)> {
        let mut v: Vec<_> = self
            .groups
            .iter()
            .map(|((o, m), n)| (*o, m.clone(), *n))
            .collect();
        v.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        v
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when no error was counted.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl AddAssign<&ErrorGroups> for ErrorGroups {
    fn add_assign(&mut self, other: &ErrorGroups) {
        for (o, m, n) in other.sorted() {
            self.add(o, m, n);
        }
    }
}

/// One bucket of the timeline. Loads are counted in the bucket of their intended start
/// (`scheduled`), of their send (`sent`) and of their outcome (`outcomes`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucket {
    /// Loads whose intended start fell in this bucket.
    pub scheduled: u64,
    /// Loads sent in this bucket.
    pub sent: u64,
    /// Outcomes recorded in this bucket.
    pub outcomes: PerOutcome,
    /// Latency (µs) of the answered loads (success, `response_error`, `callee_error`)
    /// that completed in this bucket.
    pub latency: CompactHist,
}

impl AddAssign<&Bucket> for Bucket {
    fn add_assign(&mut self, other: &Bucket) {
        self.scheduled += other.scheduled;
        self.sent += other.sent;
        self.outcomes += &other.outcomes;
        self.latency += &other.latency;
    }
}

/// Counts and latency of one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetAgg {
    /// Loads and outcomes of this target.
    pub counts: Counts,
    /// Latency (µs) of this target's answered loads (1 % precision, kept compressed).
    pub latency: CompactHist,
    /// Latency (µs) of this target's successes.
    pub latency_ok: CompactHist,
}

/// Everything a run recorded, in a form that adds up exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Loads scheduled and per outcome.
    pub counts: Counts,
    /// Loads actually sent.
    pub sent: u64,
    /// Completion − intended start of every answered load (success, `response_error`,
    /// `callee_error`), µs: the headline latency.
    pub latency: Hist,
    /// Completion − intended start, successes only, µs.
    pub latency_ok: Hist,
    /// Completion − actual send, answered loads, µs.
    pub service: Hist,
    /// Actual send − intended start, every sent load, µs.
    pub lag: Hist,
    /// Per target, in target order.
    pub targets: Vec<TargetAgg>,
    /// Grouped error messages.
    pub errors: ErrorGroups,
    /// One bucket per bucket width from t0.
    pub timeline: Vec<Bucket>,
    /// What the steps of journeys did (runs of scenarios only).
    pub journeys: Option<super::JourneyAgg>,
    /// How long the connections the run opened took to open (TCP, TLS, a protocol's
    /// handshake), µs; `None` when the caller does not say (made only then: a histogram
    /// is a few hundred KiB, and aggregates are many).
    pub connects: Option<Hist>,
}

impl Aggregate {
    /// An empty aggregate for `targets` targets.
    pub fn new(targets: usize) -> Self {
        Aggregate {
            counts: Counts::default(),
            sent: 0,
            latency: hist::new_hist(),
            latency_ok: hist::new_hist(),
            service: hist::new_hist(),
            lag: hist::new_hist(),
            targets: (0..targets.max(1)).map(|_| TargetAgg::default()).collect(),
            errors: ErrorGroups::default(),
            timeline: Vec::new(),
            journeys: None,
            connects: None,
        }
    }

    /// Adds `other` with its bucket 0 at this aggregate's bucket `offset` (for runs that
    /// started `offset` buckets later).
    pub fn add_shifted(&mut self, other: &Aggregate, offset: usize) {
        self.counts += &other.counts;
        self.sent += other.sent;
        hist::add(&mut self.latency, &other.latency);
        hist::add(&mut self.latency_ok, &other.latency_ok);
        hist::add(&mut self.service, &other.service);
        hist::add(&mut self.lag, &other.lag);
        match (&mut self.connects, &other.connects) {
            (Some(a), Some(b)) => hist::add(a, b),
            (None, Some(b)) => self.connects = Some(b.clone()),
            _ => {}
        }
        if self.targets.len() < other.targets.len() {
            self.targets
                .resize_with(other.targets.len(), TargetAgg::default);
        }
        for (a, b) in self.targets.iter_mut().zip(&other.targets) {
            a.counts += &b.counts;
            a.latency += &b.latency;
            a.latency_ok += &b.latency_ok;
        }
        self.errors += &other.errors;
        let need = other.timeline.len() + offset;
        if self.timeline.len() < need {
            self.timeline.resize_with(need, Bucket::default);
        }
        for (a, b) in self.timeline[offset..].iter_mut().zip(&other.timeline) {
            *a += b;
        }
        match (&mut self.journeys, &other.journeys) {
            (Some(a), Some(b)) => *a += b,
            (None, Some(b)) => self.journeys = Some(b.clone()),
            _ => {}
        }
    }
}

impl AddAssign<&Aggregate> for Aggregate {
    /// Adds `other` exactly: counts and histograms, the timeline bucket by bucket.
    fn add_assign(&mut self, other: &Aggregate) {
        self.add_shifted(other, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_groups_are_bounded() {
        let mut g = ErrorGroups::default();
        for i in 0..(MAX_ERROR_GROUPS + 10) {
            g.add(Outcome::CallError, format!("e{i}").into(), 1);
        }
        g.add(Outcome::CallError, "e0".into(), 5);
        let s = g.sorted();
        assert_eq!(s.len(), MAX_ERROR_GROUPS + 1);
        assert_eq!(s[0], (Outcome::CallError, "other".into(), 10));
        assert_eq!(s[1], (Outcome::CallError, "e0".into(), 6));
        assert_eq!(
            s.iter().map(|x| x.2).sum::<u64>(),
            MAX_ERROR_GROUPS as u64 + 15
        );
    }

    #[test]
    fn counts_are_keyed_by_outcome() {
        let mut c = Counts {
            scheduled: 3,
            ..Counts::default()
        };
        c.outcomes[Outcome::Success] = 2;
        c.outcomes[Outcome::Dropped] = 1;
        assert!(c.invariant_holds());
        assert_eq!(c.completed(), 2);
        let mut d = c;
        d += &c;
        assert_eq!((d.scheduled, d.get(Outcome::Success)), (6, 4));
    }
}
