//! The live view of a run, for a dashboard, a metrics endpoint or a file of per-second
//! lines: what the shards publish a few times a second ([`LiveShard`]), their sum at one
//! moment ([`Live`]), and one second of the run from two of those ([`Second`]).
//!
//! Shards publish it only when asked ([`crate::engine::LoadGen::enable_live`]); it is read from
//! another thread and never touches a call.

use std::time::Duration;

use crate::outcome::Outcome;
use crate::record::JourneyAgg;
use crate::record::aggregate::{Bucket, Counts, PerOutcome};
use crate::record::hist::{self, CompactHist, Hist};

/// Live totals of a running generator, published by the shards a few times a second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    /// Time since t0 (zero before the start).
    pub elapsed: Duration,
    /// Loads scheduled so far.
    pub scheduled: u64,
    /// Loads sent so far.
    pub sent: u64,
    /// Loads with an outcome other than `dropped` so far.
    pub completed: u64,
    /// Successes so far.
    pub success: u64,
    /// Loads with any other outcome so far (`dropped` included).
    pub failed: u64,
    /// Calls in flight.
    pub in_flight: u64,
    /// p99 latency of the last whole second (the highest over shards), µs.
    pub p99_last_us: u64,
}

/// Errors a live view lists, the most frequent first.
pub const TOP_ERRORS: usize = 5;

/// What one shard publishes, all of it at one moment.
#[derive(Debug, Clone)]
pub struct LiveShard {
    /// Its totals at that moment (`elapsed`: when it published).
    pub snapshot: Snapshot,
    /// CPU time of its thread then.
    pub cpu: Duration,
    /// Counts per target.
    pub targets: Vec<Counts>,
    /// Latency of the answered loads so far, µs.
    pub latency: Hist,
    /// Send lag of the loads sent so far, µs.
    pub lag: Hist,
    /// The most frequent errors: outcome, message, count.
    pub errors: Vec<(Outcome, String, u64)>,
    /// What the steps of journeys did so far (runs of scenario files).
    pub journeys: Option<JourneyAgg>,
    /// Connections its caller holds open now (`None`: the caller does not say).
    pub connections: Option<u64>,
    /// How long the connections opened so far took to open, µs (`None`: not timed).
    pub connects: Option<Hist>,
    /// Answers per target by status class, 1xx..5xx (empty: none has one).
    pub status: Vec<[u64; 5]>,
}

impl Default for LiveShard {
    fn default() -> Self {
        LiveShard {
            snapshot: Snapshot::default(),
            cpu: Duration::ZERO,
            targets: Vec::new(),
            latency: hist::new_hist(),
            lag: hist::new_hist(),
            errors: Vec::new(),
            journeys: None,
            connections: None,
            connects: None,
            status: Vec::new(),
        }
    }
}

/// The whole run: totals since the start, each shard's as it last published them (one
/// snapshot per shard, so counts and details agree).
#[derive(Debug, Clone)]
pub struct Live {
    /// The totals the progress display reads.
    pub snapshot: Snapshot,
    /// Counts of every target together.
    pub counts: Counts,
    /// Counts per target.
    pub targets: Vec<Counts>,
    /// Latency of the answered loads, µs.
    pub latency: Hist,
    /// Send lag, µs.
    pub lag: Hist,
    /// The most frequent errors over every shard.
    pub errors: Vec<(Outcome, String, u64)>,
    /// CPU time of the generator threads together.
    pub cpu: Duration,
    /// What the steps of journeys did so far, every shard together.
    pub journeys: Option<JourneyAgg>,
    /// Connections held open now, every shard together (`None`: the caller does not say).
    pub connections: Option<u64>,
    /// How long the connections opened so far took to open, µs (`None`: not timed).
    pub connects: Option<Hist>,
    /// Answers per target by status class, 1xx..5xx, every shard together.
    pub status: Vec<[u64; 5]>,
}

impl Live {
    pub(crate) fn new(snapshot: Snapshot) -> Live {
        Live {
            snapshot,
            counts: Counts::default(),
            targets: Vec::new(),
            latency: hist::new_hist(),
            lag: hist::new_hist(),
            errors: Vec::new(),
            cpu: Duration::ZERO,
            journeys: None,
            connections: None,
            connects: None,
            status: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, s: &LiveShard) {
        let (a, b) = (&mut self.snapshot, &s.snapshot);
        a.elapsed = a.elapsed.max(b.elapsed);
        a.scheduled += b.scheduled;
        a.sent += b.sent;
        a.completed += b.completed;
        a.success += b.success;
        a.failed += b.failed;
        a.in_flight += b.in_flight;
        a.p99_last_us = a.p99_last_us.max(b.p99_last_us);
        self.cpu += s.cpu;
        if self.targets.len() < s.targets.len() {
            self.targets.resize(s.targets.len(), Counts::default());
        }
        for (t, c) in self.targets.iter_mut().zip(&s.targets) {
            *t += c;
        }
        hist::add(&mut self.latency, &s.latency);
        hist::add(&mut self.lag, &s.lag);
        match (&mut self.journeys, &s.journeys) {
            (Some(a), Some(b)) => *a += b,
            (None, Some(b)) => self.journeys = Some(b.clone()),
            _ => {}
        }
        if self.status.len() < s.status.len() {
            self.status.resize(s.status.len(), [0; 5]);
        }
        for (a, b) in self.status.iter_mut().zip(&s.status) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        if let Some(n) = s.connections {
            *self.connections.get_or_insert(0) += n;
        }
        match (&mut self.connects, &s.connects) {
            (Some(a), Some(b)) => hist::add(a, b),
            (None, Some(b)) => self.connects = Some(b.clone()),
            _ => {}
        }
        for (o, m, n) in &s.errors {
            match self.errors.iter_mut().find(|(a, b, _)| a == o && b == m) {
                Some(e) => e.2 += n,
                None => self.errors.push((*o, m.clone(), *n)),
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        for t in &self.targets {
            self.counts += t;
        }
        self.errors
            .sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
        self.errors.truncate(TOP_ERRORS);
    }
}

/// One stretch of the run (a second, usually) between two live views.
#[derive(Debug, Clone)]
pub struct Second {
    /// When it ended, from the start.
    pub at: Duration,
    /// How long it was.
    pub span: Duration,
    /// What happened in it, as a bucket of the summary's timeline.
    pub bucket: Bucket,
    /// p50, p99 and max latency of its answered loads, µs (0 when none): worked out once here,
    /// so the history keeps three numbers a second rather than a histogram.
    pub latency_us: [u64; 3],
    /// p99 send lag of its loads, µs.
    pub lag_p99_us: u64,
    /// Generator CPU over its wall time (1.0: one thread busy throughout).
    pub busy: f64,
    /// Per step of the journeys (in row order): its runs by outcome, and the p50 and p99
    /// of its response time, µs (0 when none).
    pub steps: Vec<(PerOutcome, [u64; 2])>,
}

impl Second {
    /// What happened between `prev` and `now` (`None`: since the start).
    pub fn between(prev: Option<&Live>, now: &Live) -> Second {
        let mut latency = now.latency.clone();
        let mut lag = now.lag.clone();
        let mut outcomes = now.counts.outcomes;
        let (mut scheduled, mut sent) = (now.snapshot.scheduled, now.snapshot.sent);
        let (mut from, mut cpu) = (Duration::ZERO, now.cpu);
        if let Some(p) = prev {
            let _ = latency.subtract(&p.latency);
            let _ = lag.subtract(&p.lag);
            for o in Outcome::ALL {
                outcomes[o] = outcomes[o].saturating_sub(p.counts.get(o));
            }
            scheduled = scheduled.saturating_sub(p.snapshot.scheduled);
            sent = sent.saturating_sub(p.snapshot.sent);
            from = p.snapshot.elapsed;
            cpu = cpu.saturating_sub(p.cpu);
        }
        let span = now.snapshot.elapsed.saturating_sub(from);
        let steps = match &now.journeys {
            None => Vec::new(),
            Some(j) => j
                .steps
                .iter()
                .enumerate()
                .map(|(i, st)| {
                    let before = prev
                        .and_then(|p| p.journeys.as_ref())
                        .and_then(|p| p.steps.get(i));
                    let mut runs = st.outcomes;
                    let mut h = st.response.clone();
                    if let Some(b) = before {
                        for o in Outcome::ALL {
                            runs[o] = runs[o].saturating_sub(b.outcomes[o]);
                        }
                        let _ = h.subtract(&b.response);
                    }
                    (runs, [quantile(&h, 0.5), quantile(&h, 0.99)])
                })
                .collect(),
        };
        Second {
            at: now.snapshot.elapsed,
            span,
            bucket: Bucket {
                scheduled,
                sent,
                outcomes,
                latency: CompactHist::of(&latency),
            },
            latency_us: [0.5, 0.99, 1.0].map(|q| quantile(&latency, q)),
            lag_p99_us: quantile(&lag, 0.99),
            busy: cpu.as_secs_f64() / span.as_secs_f64().max(1e-3),
            steps,
        }
    }

    /// Per second: loads scheduled, completed, succeeded.
    pub fn rates(&self) -> (f64, f64, f64) {
        let s = self.span.as_secs_f64().max(1e-3);
        let done: u64 = self.bucket.outcomes.total() - self.bucket.outcomes[Outcome::Dropped];
        (
            self.bucket.scheduled as f64 / s,
            done as f64 / s,
            self.bucket.outcomes[Outcome::Success] as f64 / s,
        )
    }
}

/// Quantile `q` of `h` (0 when empty).
fn quantile(h: &Hist, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}
