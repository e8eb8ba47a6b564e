//! WHAT happened, mergeable: counts per outcome, HDR histograms, grouped error messages
//! and a timeline of fixed-width buckets ([`aggregate`]), recorded per generator thread by
//! a [`Recorder`] (no lock, no atomic per call); and the optional per-call stream
//! ([`results`]).
//!
//! Memory is constant in the run's length: the timeline's bucket width grows with the
//! planned duration ([`bucket_width`]), so a run has at most about 1,200 buckets, each a
//! few counters and one compressed histogram.

pub mod aggregate;
pub mod hist;
pub mod journeys;
pub mod live;
pub mod results;

use std::borrow::Cow;
use std::time::{Duration, Instant};

pub use aggregate::{Aggregate, Bucket, Counts, ErrorGroups, PerOutcome, TargetAgg};
use hist::{CompactHist, Hist};
pub use journeys::{JourneyAgg, StepAgg, StepInfo, StepKind};

use crate::outcome::Outcome;

/// The timeline's bucket widths, smallest first; a run takes the smallest that keeps its
/// planned duration within [`MAX_BUCKETS`] buckets.
const WIDTHS_MS: [u64; 9] = [
    100, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 3_600_000,
];
/// About how many buckets a run's timeline has at most.
pub const MAX_BUCKETS: u64 = 1_200;

/// The timeline bucket width for a run planned to last `duration`: 100 ms up to two
/// minutes (so a short run's charts show its shape), 1 s up to 20 minutes, and so on up to
/// an hour per bucket.
pub fn bucket_width(duration: Duration) -> Duration {
    let ms = duration.as_millis();
    let w = WIDTHS_MS
        .iter()
        .copied()
        .find(|&w| ms <= u128::from(w) * u128::from(MAX_BUCKETS))
        .unwrap_or(WIDTHS_MS[WIDTHS_MS.len() - 1]);
    Duration::from_millis(w)
}

/// The recorder of one generator thread. Every method is plain arithmetic.
#[derive(Debug)]
pub struct Recorder {
    t0: Instant,
    width_ns: u64,
    agg: Aggregate,
    /// Latency of each target's answered loads, and of its successes (compacted into the
    /// aggregate at the end).
    target_latency: Vec<(Hist, Hist)>,
    /// Bucket whose answered loads `cur_hist` holds.
    cur: usize,
    cur_hist: Hist,
    last_p99_us: u64,
    /// Answers per target by status class (1xx..5xx), for the live view.
    status: Vec<[u64; 5]>,
}

impl Recorder {
    /// A recorder whose timeline starts at `t0`, in buckets of `width`.
    pub fn new(t0: Instant, width: Duration, targets: usize) -> Self {
        Recorder {
            t0,
            width_ns: (width.as_nanos() as u64).max(1),
            agg: Aggregate::new(targets),
            target_latency: (0..targets.max(1))
                .map(|_| (hist::new_interval_hist(), hist::new_interval_hist()))
                .collect(),
            cur: 0,
            cur_hist: hist::new_interval_hist(),
            last_p99_us: 0,
            status: Vec::new(),
        }
    }

    /// The bucket of instant `at`.
    pub fn bucket_of(&self, at: Instant) -> usize {
        (at.saturating_duration_since(self.t0).as_nanos() as u64 / self.width_ns) as usize
    }

    fn bucket(&mut self, i: usize) -> &mut Bucket {
        if self.agg.timeline.len() <= i {
            self.agg.timeline.resize_with(i + 1, Bucket::default);
        }
        &mut self.agg.timeline[i]
    }

    /// A load of `target` became due at `intended`.
    pub fn scheduled(&mut self, target: usize, intended: Instant) {
        let b = self.bucket_of(intended);
        self.scheduled_n(target, b, 1);
    }

    /// `n` loads of `target` became due in bucket `b`.
    pub fn scheduled_n(&mut self, target: usize, b: usize, n: u64) {
        self.agg.counts.scheduled += n;
        self.agg.targets[target].counts.scheduled += n;
        self.bucket(b).scheduled += n;
    }

    /// A load scheduled for target `from` is reported as `to`: its scheduled count moves.
    pub fn retarget(&mut self, from: usize, to: usize) {
        let t = &mut self.agg.targets;
        t[from].counts.scheduled = t[from].counts.scheduled.saturating_sub(1);
        t[to].counts.scheduled += 1;
    }

    /// A load was sent at `sent`, `lag` after its intended start.
    pub fn sent(&mut self, sent: Instant, lag: Duration) {
        self.agg.sent += 1;
        hist::record(&mut self.agg.lag, lag);
        let b = self.bucket_of(sent);
        self.bucket(b).sent += 1;
    }

    /// A load succeeded at `end`.
    pub fn success(&mut self, target: usize, end: Instant, latency: Duration, service: Duration) {
        self.count(target, Outcome::Success, end, 1);
        hist::record(&mut self.agg.latency_ok, latency);
        hist::record(&mut self.target_latency[target].1, latency);
        self.timed(target, end, latency, service);
    }

    /// A load failed at `end` with `outcome` and `message`; one that got an answer
    /// ([`Outcome::answered`]) has its latency and service time counted with the
    /// successes'.
    pub fn failure_timed(
        &mut self,
        target: usize,
        end: Instant,
        outcome: Outcome,
        message: Cow<'static, str>,
        latency: Duration,
        service: Duration,
    ) {
        self.failures(target, end, outcome, message, 1);
        if outcome.answered() {
            self.timed(target, end, latency, service);
        }
    }

    /// Records an answered load's latency and service time.
    fn timed(&mut self, target: usize, end: Instant, latency: Duration, service: Duration) {
        hist::record(&mut self.agg.latency, latency);
        hist::record(&mut self.agg.service, service);
        hist::record(&mut self.target_latency[target].0, latency);
        let b = self.bucket_of(end);
        if b != self.cur {
            self.flush_bucket();
            self.cur = b;
        }
        hist::record(&mut self.cur_hist, latency);
    }

    /// A load failed at `end` with `outcome` and `message` (no latency: it got no answer,
    /// or none that is timed).
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
        self.agg.counts.outcomes[outcome] += n;
        self.agg.targets[target].counts.outcomes[outcome] += n;
        let b = self.bucket_of(end);
        self.bucket(b).outcomes[outcome] += n;
    }

    /// Moves the current bucket's answered loads into the timeline.
    fn flush_bucket(&mut self) {
        if self.cur_hist.is_empty() {
            return;
        }
        self.last_p99_us = self.cur_hist.value_at_quantile(0.99);
        let compact = CompactHist::of(&self.cur_hist);
        self.cur_hist.reset();
        // += also covers a late answer landing in a bucket already flushed
        let cur = self.cur;
        self.bucket(cur).latency += &compact;
    }

    /// The median service time so far, if any load was answered.
    pub fn service_p50(&self) -> Option<Duration> {
        let h = &self.agg.service;
        (!h.is_empty()).then(|| Duration::from_micros(h.value_at_quantile(0.5)))
    }

    /// Counts so far (for progress).
    pub fn counts(&self) -> &Counts {
        &self.agg.counts
    }

    /// p99 latency (µs) of the last bucket with answered loads.
    pub fn last_p99_us(&self) -> u64 {
        self.last_p99_us
    }

    /// Copies what a live view shows: counts per target, the latency and send-lag
    /// histograms so far, the most frequent errors.
    pub fn live_into(&self, l: &mut live::LiveShard) {
        l.targets.clear();
        l.targets.extend(self.agg.targets.iter().map(|t| t.counts));
        l.status.clone_from(&self.status);
        l.latency.reset();
        let _ = l.latency.add(&self.agg.latency);
        l.lag.reset();
        let _ = l.lag.add(&self.agg.lag);
        l.errors.clear();
        l.errors.extend(
            self.agg
                .errors
                .sorted()
                .into_iter()
                .take(live::TOP_ERRORS)
                .map(|(o, m, n)| (o, m.into_owned(), n)),
        );
    }

    /// An answer of `target` with status class `class` (1..=5; others are not counted).
    pub fn status_class(&mut self, target: usize, class: u8) {
        if !(1..=5).contains(&class) {
            return;
        }
        if self.status.len() <= target {
            self.status.resize(target + 1, [0; 5]);
        }
        self.status[target][usize::from(class - 1)] += 1;
    }

    /// Loads sent so far.
    pub fn sent_count(&self) -> u64 {
        self.agg.sent
    }

    /// Closes the current bucket and returns everything recorded.
    pub fn finish(mut self) -> Aggregate {
        self.flush_bucket();
        for (t, (all, ok)) in self.agg.targets.iter_mut().zip(&self.target_latency) {
            t.latency = CompactHist::of(all);
            t.latency_ok = CompactHist::of(ok);
        }
        self.agg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_widths_follow_the_duration() {
        let s = Duration::from_secs;
        for (d, w) in [
            (s(5), 100),
            (s(120), 100),
            (s(121), 1_000),
            (s(1200), 1_000),
            (s(3600), 5_000),
            (s(86_400), 300_000),
            (s(400 * 86_400), 3_600_000),
        ] {
            assert_eq!(bucket_width(d), Duration::from_millis(w), "{d:?}");
        }
    }

    #[test]
    fn recorder_counts_and_timeline() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, Duration::from_secs(1), 2);
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
        assert_eq!(a.timeline[2].outcomes[Outcome::Dropped], 1);
        assert_eq!(a.timeline[1].latency.decode().unwrap().len(), 1);
        assert_eq!(a.latency.len(), 2);
    }

    #[test]
    fn a_late_success_lands_in_its_bucket() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, Duration::from_millis(100), 1);
        let ms = Duration::from_millis;
        r.success(0, t0 + ms(250), ms(5), ms(5));
        r.success(0, t0 + ms(320), ms(6), ms(6));
        r.success(0, t0 + ms(260), ms(7), ms(7)); // bucket 2 again, after bucket 3
        let a = r.finish();
        assert_eq!(a.timeline[2].latency.decode().unwrap().len(), 2);
        assert_eq!(a.timeline[3].latency.decode().unwrap().len(), 1);
    }

    #[test]
    fn aggregates_add_exactly() {
        let t0 = Instant::now();
        let mk = |lat: u64| {
            let mut r = Recorder::new(t0, Duration::from_secs(1), 1);
            r.scheduled(0, t0);
            r.sent(t0, Duration::ZERO);
            let d = Duration::from_micros(lat);
            r.success(0, t0 + d, d, d);
            r.finish()
        };
        let (a, b) = (mk(100), mk(2000));
        let mut m = a.clone();
        m += &b;
        assert_eq!(m.counts.scheduled, 2);
        assert_eq!(m.latency.len(), 2);
        assert_eq!(m.timeline[0].latency.decode().unwrap().len(), 2);
        let mut m2 = b.clone();
        m2 += &a;
        assert_eq!(m.counts, m2.counts);
        assert_eq!(m.latency, m2.latency);
    }
}
