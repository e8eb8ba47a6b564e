//! WHAT happened, mergeable: counts per outcome, HDR histograms, grouped error messages
//! and a one-second timeline.
//!
//! Each shard owns a [`Recorder`] (no lock, no atomic per call) and hands its
//! [`Aggregate`] over at the end; aggregates of shards, or of result files of several
//! machines, add up exactly with [`Aggregate::merge`]. Memory is constant in the run's
//! length except for the timeline, which keeps a few compact counters and one compressed
//! histogram per second.

pub mod hist;

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::outcome::Outcome;
use hist::Hist;

/// At most this many distinct (outcome, message) groups are kept; the rest are counted
/// under [`OTHER_MESSAGE`].
pub const MAX_ERROR_GROUPS: usize = 50;
/// The message under which errors beyond [`MAX_ERROR_GROUPS`] are counted.
pub const OTHER_MESSAGE: &str = "other";

/// Loads scheduled, and loads per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Loads whose intended start fell inside the run.
    pub scheduled: u64,
    /// Loads per outcome, indexed by [`Outcome::index`].
    pub outcomes: [u64; 8],
}

impl Counts {
    /// Loads of one outcome.
    pub fn get(&self, o: Outcome) -> u64 {
        self.outcomes[o.index()]
    }
    /// Sum over every outcome.
    pub fn accounted(&self) -> u64 {
        self.outcomes.iter().sum()
    }
    /// The accounting invariant: every scheduled load has exactly one outcome.
    pub fn invariant_holds(&self) -> bool {
        self.scheduled == self.accounted()
    }
    /// Loads that completed (every outcome but `dropped`).
    pub fn completed(&self) -> u64 {
        self.accounted() - self.get(Outcome::Dropped)
    }
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counts) {
        self.scheduled += other.scheduled;
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a += b;
        }
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

    /// Adds every group of `other`.
    pub fn merge(&mut self, other: &ErrorGroups) {
        for (o, m, n) in other.sorted() {
            self.add(o, m, n);
        }
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
}

/// One second of the timeline. Loads are counted in the second of their intended start
/// (`scheduled`), of their send (`sent`) and of their outcome (`outcomes`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucket {
    /// Loads whose intended start fell in this second.
    pub scheduled: u64,
    /// Loads sent in this second.
    pub sent: u64,
    /// Outcomes recorded in this second.
    pub outcomes: [u64; 8],
    /// Latency (µs) of the successes that completed in this second, V2+DEFLATE bytes.
    pub latency: Option<Vec<u8>>,
}

/// Counts and latency of one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetAgg {
    /// Loads and outcomes of this target.
    pub counts: Counts,
    /// Latency (µs) of this target's successes.
    pub latency: Hist,
}

impl TargetAgg {
    fn new() -> Self {
        TargetAgg {
            counts: Counts::default(),
            latency: hist::new_hist(),
        }
    }
}

/// Everything a run recorded, in a form that adds up exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Loads scheduled and per outcome.
    pub counts: Counts,
    /// Loads actually sent.
    pub sent: u64,
    /// Completion − intended start, successes, µs.
    pub latency: Hist,
    /// Completion − actual send, successes, µs.
    pub service: Hist,
    /// Actual send − intended start, every sent load, µs.
    pub lag: Hist,
    /// Per target, in target order.
    pub targets: Vec<TargetAgg>,
    /// Grouped error messages.
    pub errors: ErrorGroups,
    /// One bucket per second from t0.
    pub timeline: Vec<Bucket>,
}

impl Aggregate {
    /// An empty aggregate for `targets` targets.
    pub fn new(targets: usize) -> Self {
        Aggregate {
            counts: Counts::default(),
            sent: 0,
            latency: hist::new_hist(),
            service: hist::new_hist(),
            lag: hist::new_hist(),
            targets: (0..targets.max(1)).map(|_| TargetAgg::new()).collect(),
            errors: ErrorGroups::default(),
            timeline: Vec::new(),
        }
    }

    /// Adds `other` into `self`: counts and histograms exactly, timeline by second.
    pub fn merge(&mut self, other: &Aggregate) -> Result<(), String> {
        self.counts.add(&other.counts);
        self.sent += other.sent;
        hist::add(&mut self.latency, &other.latency);
        hist::add(&mut self.service, &other.service);
        hist::add(&mut self.lag, &other.lag);
        while self.targets.len() < other.targets.len() {
            self.targets.push(TargetAgg::new());
        }
        for (a, b) in self.targets.iter_mut().zip(&other.targets) {
            a.counts.add(&b.counts);
            hist::add(&mut a.latency, &b.latency);
        }
        self.errors.merge(&other.errors);
        merge_timelines(&mut self.timeline, &other.timeline, 0)
    }
}

/// Adds `other` into `into`, with `other`'s second 0 at `into`'s second `offset`.
pub fn merge_timelines(
    into: &mut Vec<Bucket>,
    other: &[Bucket],
    offset: usize,
) -> Result<(), String> {
    if into.len() < other.len() + offset {
        into.resize(other.len() + offset, Bucket::default());
    }
    for (a, b) in into[offset..].iter_mut().zip(other) {
        a.scheduled += b.scheduled;
        a.sent += b.sent;
        for (x, y) in a.outcomes.iter_mut().zip(b.outcomes) {
            *x += y;
        }
        a.latency = match (a.latency.take(), &b.latency) {
            (None, None) => None,
            (Some(x), None) => Some(x),
            (None, Some(y)) => Some(y.clone()),
            (Some(x), Some(y)) => {
                let mut hx = hist::from_bytes(&x)?;
                hist::add(&mut hx, &hist::from_bytes(y)?);
                Some(hist::to_bytes(&hx))
            }
        };
    }
    Ok(())
}

/// The per-shard recorder. Owned by one thread; every method is plain arithmetic.
#[derive(Debug)]
pub struct Recorder {
    t0: Instant,
    agg: Aggregate,
    cur_sec: usize,
    cur_hist: Hist,
    last_p99_us: u64,
}

impl Recorder {
    /// A recorder whose timeline starts at `t0`.
    pub fn new(t0: Instant, targets: usize) -> Self {
        Recorder {
            t0,
            agg: Aggregate::new(targets),
            cur_sec: 0,
            cur_hist: hist::new_interval_hist(),
            last_p99_us: 0,
        }
    }

    fn sec(&self, at: Instant) -> usize {
        (at.saturating_duration_since(self.t0).as_secs()) as usize
    }

    fn bucket(&mut self, sec: usize) -> &mut Bucket {
        if self.agg.timeline.len() <= sec {
            self.agg.timeline.resize(sec + 1, Bucket::default());
        }
        &mut self.agg.timeline[sec]
    }

    /// A load of `target` became due at `intended`.
    pub fn scheduled(&mut self, target: usize, intended: Instant) {
        let s = self.sec(intended);
        self.scheduled_n(target, s, 1);
    }

    /// `n` loads of `target` became due in second `sec` of the run.
    pub fn scheduled_n(&mut self, target: usize, sec: usize, n: u64) {
        self.agg.counts.scheduled += n;
        self.agg.targets[target].counts.scheduled += n;
        self.bucket(sec).scheduled += n;
    }

    /// A load was sent at `sent`, `lag` after its intended start.
    pub fn sent(&mut self, sent: Instant, lag: Duration) {
        self.agg.sent += 1;
        hist::record(&mut self.agg.lag, lag);
        let s = self.sec(sent);
        self.bucket(s).sent += 1;
    }

    /// A load succeeded at `end`.
    pub fn success(&mut self, target: usize, end: Instant, latency: Duration, service: Duration) {
        self.count(target, Outcome::Success, end, 1);
        hist::record(&mut self.agg.latency, latency);
        hist::record(&mut self.agg.service, service);
        hist::record(&mut self.agg.targets[target].latency, latency);
        let s = self.sec(end);
        if s > self.cur_sec {
            self.flush_interval();
            self.cur_sec = s;
        }
        hist::record(&mut self.cur_hist, latency);
    }

    /// A load failed at `end` with `outcome` and `message`.
    pub fn failure(
        &mut self,
        target: usize,
        end: Instant,
        outcome: Outcome,
        message: Cow<'static, str>,
    ) {
        self.failures(target, end, outcome, message, 1);
    }

    /// `n` loads of `target` failed at `end` with `outcome` and `message`.
    pub fn failures(
        &mut self,
        target: usize,
        end: Instant,
        outcome: Outcome,
        message: Cow<'static, str>,
        n: u64,
    ) {
        self.count(target, outcome, end, n);
        self.agg.errors.add(outcome, message, n);
    }

    fn count(&mut self, target: usize, outcome: Outcome, end: Instant, n: u64) {
        self.agg.counts.outcomes[outcome.index()] += n;
        self.agg.targets[target].counts.outcomes[outcome.index()] += n;
        let s = self.sec(end);
        self.bucket(s).outcomes[outcome.index()] += n;
    }

    fn flush_interval(&mut self) {
        if self.cur_hist.is_empty() {
            return;
        }
        let bytes = hist::to_bytes(&self.cur_hist);
        self.last_p99_us = self.cur_hist.value_at_quantile(0.99);
        self.cur_hist.reset();
        let sec = self.cur_sec;
        let b = self.bucket(sec);
        b.latency = Some(match b.latency.take() {
            None => bytes,
            Some(old) => {
                // only when a late success landed in an already flushed second
                let mut h = hist::from_bytes(&old).expect("own histogram bytes");
                hist::add(
                    &mut h,
                    &hist::from_bytes(&bytes).expect("own histogram bytes"),
                );
                hist::to_bytes(&h)
            }
        });
    }

    /// Counts so far (for progress).
    pub fn counts(&self) -> &Counts {
        &self.agg.counts
    }

    /// p99 latency (µs) of the last whole second with successes.
    pub fn last_p99_us(&self) -> u64 {
        self.last_p99_us
    }

    /// Loads sent so far.
    pub fn sent_count(&self) -> u64 {
        self.agg.sent
    }

    /// Closes the current second and returns everything recorded.
    pub fn finish(mut self) -> Aggregate {
        self.flush_interval();
        self.agg
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
    fn recorder_counts_and_timeline() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, 2);
        let ms = Duration::from_millis;
        r.scheduled(0, t0);
        r.scheduled(1, t0 + ms(1500));
        r.scheduled(1, t0 + ms(1600));
        r.sent(t0 + ms(1), ms(1));
        r.success(0, t0 + ms(3), ms(3), ms(2));
        r.sent(t0 + ms(1501), ms(1));
        r.success(1, t0 + ms(1510), ms(10), ms(9));
        r.failure(1, t0 + ms(2700), Outcome::Dropped, "no free slot".into());
        let a = r.finish();
        assert!(a.counts.invariant_holds());
        assert_eq!(a.counts.get(Outcome::Success), 2);
        assert_eq!(a.targets[1].counts.scheduled, 2);
        assert_eq!(a.targets[1].counts.get(Outcome::Dropped), 1);
        assert_eq!(a.timeline.len(), 3);
        assert_eq!(a.timeline[1].scheduled, 2);
        assert_eq!(a.timeline[2].outcomes[Outcome::Dropped.index()], 1);
        let h1 = hist::from_bytes(a.timeline[1].latency.as_ref().unwrap()).unwrap();
        assert_eq!(h1.len(), 1);
        assert_eq!(a.latency.len(), 2);
    }

    #[test]
    fn aggregates_merge_exactly() {
        let t0 = Instant::now();
        let mk = |lat: u64| {
            let mut r = Recorder::new(t0, 1);
            r.scheduled(0, t0);
            r.sent(t0, Duration::ZERO);
            r.success(
                0,
                t0 + Duration::from_micros(lat),
                Duration::from_micros(lat),
                Duration::from_micros(lat),
            );
            r.finish()
        };
        let (a, b) = (mk(100), mk(2000));
        let mut m = a.clone();
        m.merge(&b).unwrap();
        assert_eq!(m.counts.scheduled, 2);
        assert_eq!(m.latency.len(), 2);
        let h = hist::from_bytes(m.timeline[0].latency.as_ref().unwrap()).unwrap();
        assert_eq!(h.len(), 2);
        let mut m2 = b.clone();
        m2.merge(&a).unwrap();
        assert_eq!(m.counts, m2.counts);
        assert_eq!(m.latency, m2.latency);
    }
}
