//! The result of a run, as one typed model: what was asked ([`RunInfo`]), what the engine
//! measured besides the loads ([`RunFacts`]), and what the loads did (the [`Aggregate`]).
//! Reports, thresholds, search and merge read this model; rates, percentiles and verdicts
//! are computed from it on demand. JSON is only its codec, at the edge ([`codec`]), and
//! merging is addition on it ([`merge`]).

pub mod codec;
pub mod merge;

use std::time::{Duration, SystemTime};

use crate::caller::Target;
use crate::outcome::Outcome;
use crate::record::hist::{CompactHist, Hist};
use crate::record::{Aggregate, Counts};
use crate::schedule::ArrivalKind;

/// Shard `index` of `count`: the part of one schedule a process ran (`--shard I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardId {
    /// This process's shard, 0-based.
    pub index: u64,
    /// How many shards split the schedule.
    pub count: u64,
}

/// What a run was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// Where loads went, with their weights.
    pub targets: Vec<Target>,
    /// Protocol name (`calc`, `http`, ...).
    pub protocol: String,
    /// Protocol specifics for reports (`client`, `method`, `tls`, `streams`, ...).
    pub details: Vec<(String, String)>,
    /// How loads arrived.
    pub arrival: ArrivalKind,
    /// Requested LPS: the constant or mean rate, the peak of a ramp; 0 in closed loop.
    pub rate: f64,
    /// Requested length.
    pub duration: Duration,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Slots (calls in flight at most).
    pub concurrency: u64,
    /// Connections per target the callers could open, if known.
    pub connections: Option<u64>,
    /// The shard this process ran (or the first of a merge).
    pub shard: ShardId,
    /// Every shard this summary covers (one, or several after a merge).
    pub shards: Vec<u64>,
    /// Wall-clock time of t0, the intended start of load 0.
    pub started_at: SystemTime,
    /// Width of the timeline's buckets.
    pub bucket: Duration,
    /// The report rows of journeys' steps (empty for single calls).
    pub steps: Vec<crate::record::StepInfo>,
}

/// How hard the generator worked, to tell when it, not the target, was the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneratorFacts {
    /// Generator threads.
    pub threads: usize,
    /// CPU time (user + system) of the generator threads.
    pub cpu: Duration,
    /// The busiest thread's CPU time over its wall time, 0..1.
    pub max_busy: f64,
    /// How late the dispatcher woke, p99.
    pub wake_late_p99: Duration,
    /// Whether the microsecond timer paced the run.
    pub precise_timer: bool,
    /// The pacing quantum at the end of the run (auto: where it settled; the largest of the
    /// threads' and shards'; zero: unknown, or a closed loop).
    pub quantum: Duration,
    /// Whether the quantum followed the run (`--pacing-quantum auto`).
    pub quantum_auto: bool,
    /// The longest the dispatcher woke late at once (the process was stopped, SIGTSTP,
    /// or starved of CPU); zero in a closed loop.
    pub stall_max: Duration,
}

/// A dispatcher wake-up this late at once is a stall of the generator itself.
pub const STALL: Duration = Duration::from_millis(200);

/// How hard the calls were pressed, to tell when the target saturated.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadFacts {
    /// Calls allowed at once: the slots, or fewer when the callers' capacity
    /// (connections × streams) is smaller.
    pub max_in_flight: u64,
    /// The most calls that ran at once.
    pub peak_in_flight: u64,
    /// True when the callers' capacity, not the slots, set `max_in_flight`.
    pub capacity_bound: bool,
    /// How long every allowed call was busy while loads waited (the longest over
    /// threads).
    pub saturated: Duration,
}

/// What the engine measured besides the loads.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFacts {
    /// t0 to the last outcome.
    pub elapsed: Duration,
    /// The scheduling window: the duration, or until the stop.
    pub window: Duration,
    /// True when a stop cut the schedule short.
    pub interrupted: bool,
    /// The generator's own load.
    pub generator: GeneratorFacts,
    /// The calls' pressure.
    pub load: LoadFacts,
}

/// The unit of a threshold's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds (latency).
    Ms,
    /// Percent of scheduled loads.
    Percent,
    /// A number of loads.
    Count,
    /// Loads per second.
    PerSecond,
}

impl Unit {
    /// The unit as printed after a value.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Percent => "%",
            Unit::Count => "",
            Unit::PerSecond => "/s",
        }
    }

    /// The unit's name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Percent => "%",
            Unit::Count => "count",
            Unit::PerSecond => "per_second",
        }
    }

    /// Parses [`Unit::name`].
    pub fn from_name(s: &str) -> Option<Unit> {
        [Unit::Ms, Unit::Percent, Unit::Count, Unit::PerSecond]
            .into_iter()
            .find(|u| u.name() == s)
    }
}

/// How a threshold fared.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The expression as given.
    pub threshold: String,
    /// The measured value, in `unit`.
    pub actual: f64,
    /// The unit of `actual`.
    pub unit: Unit,
    /// Whether it held.
    pub ok: bool,
}

/// The result of a run (or of several merged).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// What was asked.
    pub run: RunInfo,
    /// What the engine measured besides the loads.
    pub facts: RunFacts,
    /// What the loads did.
    pub agg: Aggregate,
    /// Thresholds given for the run and how they fared.
    pub thresholds: Vec<Verdict>,
    /// Problems around the run that did not stop it (a results file that could not be
    /// written, shards missing from a merge).
    pub warnings: Vec<String>,
}

/// Percentiles of a latency histogram, in milliseconds (zeros when it is empty).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// How many values; 0 means the percentiles are not defined.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

impl Percentiles {
    /// Percentiles of a µs histogram, in ms.
    pub fn of(h: &Hist) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |v: u64| v as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            min: ms(h.min()),
            mean: round3(h.mean() / 1000.0),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }

    /// Percentiles of a compact histogram.
    pub fn of_compact(h: &CompactHist) -> Percentiles {
        h.decode()
            .map_or_else(Percentiles::default, |h| Percentiles::of(&h))
    }
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `d` rounded to whole microseconds (the precision of the JSON summary's `elapsed_s`).
pub fn whole_micros(d: Duration) -> Duration {
    Duration::from_micros((d.as_secs_f64() * 1e6).round() as u64)
}

fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { round3(n as f64 / s) } else { 0.0 }
}

impl Summary {
    /// Loads scheduled, and per outcome.
    pub fn counts(&self) -> &Counts {
        &self.agg.counts
    }

    /// Scheduled loads per second of the scheduling window.
    pub fn offered_rate(&self) -> f64 {
        per_sec(self.agg.counts.scheduled, self.facts.window)
    }

    /// Completed loads (every outcome but `dropped`) per second of the run.
    pub fn throughput(&self) -> f64 {
        per_sec(self.agg.counts.completed(), self.facts.elapsed)
    }

    /// Successes per second of the run.
    pub fn tps(&self) -> f64 {
        per_sec(self.agg.counts.get(Outcome::Success), self.facts.elapsed)
    }

    /// The most successes in one whole second of the timeline (a run shorter than a
    /// second: its TPS).
    pub fn peak_tps(&self) -> f64 {
        if self.facts.elapsed < Duration::from_secs(1) {
            // not one whole second: the run's own rate
            return self.tps();
        }
        let per = (Duration::from_secs(1).as_nanos() / self.run.bucket.as_nanos().max(1)).max(1);
        let mut best = 0u64;
        for chunk in self.agg.timeline.chunks(per as usize) {
            best = best.max(chunk.iter().map(|b| b.outcomes[Outcome::Success]).sum());
        }
        // buckets wider than a second: their average per second
        let wide = self.run.bucket.as_secs_f64().max(1.0);
        round3(best as f64 / wide)
    }

    /// Latency of every answered load (success, `response_error`, `callee_error`), from
    /// the intended start: the headline row.
    pub fn latency(&self) -> Percentiles {
        Percentiles::of(&self.agg.latency)
    }

    /// Latency of the successes only, from the intended start.
    pub fn latency_ok(&self) -> Percentiles {
        Percentiles::of(&self.agg.latency_ok)
    }

    /// Service time of the answered loads, from the actual send.
    pub fn service_time(&self) -> Percentiles {
        Percentiles::of(&self.agg.service)
    }

    /// Send lag of every sent load.
    pub fn lag(&self) -> Percentiles {
        Percentiles::of(&self.agg.lag)
    }

    /// How long the run's connections took to open (TCP, TLS, a protocol's handshake),
    /// and how many opened; `None` when the caller did not say.
    pub fn connect(&self) -> Option<(Percentiles, u64)> {
        let h = self.agg.connects.as_ref()?;
        (!h.is_empty()).then(|| (Percentiles::of(h), h.len()))
    }

    /// Why the generator, not the target, limited the run (empty if it did not).
    ///
    /// A generator thread busy ≥ 90 % of the run could not have gone faster; late
    /// dispatcher wake-ups count when the thread was also busy (≥ 50 %), since on an
    /// idle thread they point at the machine (a noisy neighbour), not at loadgen — unless
    /// loads were dropped while the target was not saturated: then the machine did not
    /// give the generator the CPU it needed, and the drops are the generator's side too.
    pub fn generator_reasons(&self) -> Vec<String> {
        let g = &self.facts.generator;
        let closed = self.run.arrival == ArrivalKind::Closed;
        let wake_ms = g.wake_late_p99.as_secs_f64() * 1000.0;
        let mut r = Vec::new();
        if g.max_busy >= 0.9 {
            r.push(format!(
                "a generator thread was {:.0}% busy: add --threads or machines",
                g.max_busy * 100.0
            ));
        }
        if !closed && wake_ms > 2.0 && g.max_busy >= 0.5 {
            r.push(format!(
                "the dispatcher woke {wake_ms:.1} ms late at p99 while {:.0}% busy: the generator could not keep the schedule",
                g.max_busy * 100.0
            ));
        }
        let dropped = self.agg.counts.get(Outcome::Dropped);
        let stall = g.stall_max.as_secs_f64();
        if !closed && stall >= STALL.as_secs_f64() && dropped > 0 {
            r.push(format!(
                "the generator stalled for {stall:.2} s at once (the process was stopped, or starved of CPU): loads due then were dropped by the generator, not the target"
            ));
        } else if !closed
            && wake_ms > 2.0
            && g.max_busy < 0.5
            && dropped > 0
            && !self.saturated_long()
        {
            r.push(format!(
                "the dispatcher woke {wake_ms:.1} ms late at p99 with the thread only {:.0}% busy, and {dropped} loads were dropped while the target kept up: the machine did not give the generator the CPU (other processes?)",
                g.max_busy * 100.0
            ));
        }
        let lag = self.lag();
        if !closed && !r.is_empty() && lag.p99 > 1.0 {
            r.push(format!("send lag p99 {:.1} ms", lag.p99));
        }
        r
    }

    /// True when the generator limited the run.
    pub fn generator_bound(&self) -> bool {
        !self.generator_reasons().is_empty()
    }

    /// Why the target (not the generator) limited the run: every allowed call busy for
    /// a good part of the run while loads waited, and loads dropped for want of a slot.
    /// Empty when the target kept up, or when the generator was the bottleneck.
    pub fn saturation_reasons(&self) -> Vec<String> {
        let l = &self.facts.load;
        let dropped = self.agg.counts.get(Outcome::Dropped);
        let window = self.facts.window.as_secs_f64();
        let busy = l.saturated.as_secs_f64();
        if dropped == 0 || !self.saturated_long() || self.generator_bound() {
            return Vec::new();
        }
        let what = if l.capacity_bound {
            "connections (× streams)"
        } else {
            "slots"
        };
        vec![
            format!(
                "the target could not keep up: all {} {what} were busy for {busy:.1} s of the {window:.1} s run while loads waited; {dropped} loads were dropped; at most {:.0} successes in one second",
                l.max_in_flight,
                self.peak_tps()
            ),
            if l.capacity_bound {
                "if the target can take more calls at once, raise --connections (or --streams)"
                    .into()
            } else {
                "if the target can take more calls at once, raise --concurrency".into()
            },
        ]
    }

    /// Every allowed call busy while loads waited for at least a tenth of the run.
    fn saturated_long(&self) -> bool {
        self.facts.load.saturated.as_secs_f64() >= 0.1 * self.facts.window.as_secs_f64().max(0.001)
    }

    /// True when the target saturated (see [`Summary::saturation_reasons`]).
    pub fn target_saturated(&self) -> bool {
        !self.saturation_reasons().is_empty()
    }

    /// Shards of the run that this summary does not cover.
    pub fn missing_shards(&self) -> Vec<u64> {
        (0..self.run.shard.count.min(1 << 16))
            .filter(|i| !self.run.shards.contains(i))
            .collect()
    }

    /// True when every threshold held.
    pub fn thresholds_held(&self) -> bool {
        self.thresholds.iter().all(|v| v.ok)
    }

    /// The JSON document (see [`codec`]).
    pub fn to_json(&self) -> String {
        codec::to_json(self)
    }

    /// Reads a JSON document (see [`codec`]), checking every number it brings.
    pub fn from_json(text: &str) -> Result<Summary, codec::CodecError> {
        codec::from_json(text)
    }
}

/// A summary of `agg` for tests: one target `t`, 1000 LPS for `window`.
#[cfg(test)]
pub(crate) fn sample(agg: Aggregate, window: Duration) -> Summary {
    Summary {
        run: RunInfo {
            targets: vec![Target {
                name: "t".into(),
                weight: 1,
            }],
            protocol: "test".into(),
            details: Vec::new(),
            arrival: ArrivalKind::Constant,
            rate: 1000.0,
            duration: window,
            timeout: Duration::from_millis(50),
            concurrency: 51,
            connections: None,
            shard: ShardId { index: 0, count: 1 },
            shards: vec![0],
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            bucket: crate::record::bucket_width(window),
            steps: Vec::new(),
        },
        facts: RunFacts {
            elapsed: window,
            window,
            interrupted: false,
            generator: GeneratorFacts {
                threads: 1,
                cpu: Duration::ZERO,
                max_busy: 0.0,
                wake_late_p99: Duration::ZERO,
                precise_timer: true,
                quantum: Duration::ZERO,
                quantum_auto: false,
                stall_max: Duration::ZERO,
            },
            load: LoadFacts::default(),
        },
        agg,
        thresholds: Vec::new(),
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Recorder;
    use std::time::Instant;

    /// 1000 loads over 1 s, `dropped` of them dropped, the rest fast successes; the
    /// generator woke `wake_ms` late at p99, `busy` of the run busy; every slot busy for
    /// `saturated` of the run.
    fn run(dropped: u64, wake_ms: u64, busy: f64, saturated: Duration) -> Summary {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, Duration::from_millis(100), 1);
        for i in 0..1000u64 {
            let at = t0 + Duration::from_millis(i);
            r.scheduled(0, at);
            if i < dropped {
                r.failure(0, at, Outcome::Dropped, "d".into());
            } else {
                let lat = Duration::from_micros(200);
                r.sent(at, Duration::ZERO);
                r.success(0, at + lat, lat, lat);
            }
        }
        let mut s = sample(r.finish(), Duration::from_secs(1));
        s.facts.generator.wake_late_p99 = Duration::from_millis(wake_ms);
        s.facts.generator.max_busy = busy;
        s.facts.load.saturated = saturated;
        s
    }

    #[test]
    fn a_starved_generator_that_dropped_loads_says_so() {
        // late wake-ups on a thread the machine starved, loads dropped, the target idle
        let s = run(800, 39, 0.49, Duration::ZERO);
        assert!(s.generator_bound());
        let r = s.generator_reasons();
        assert!(r[0].contains("did not give the generator the CPU"), "{r:?}");
        assert!(r[0].contains("800 loads were dropped"), "{r:?}");
        assert!(s.saturation_reasons().is_empty());
        // late wake-ups alone, with nothing dropped: a noisy neighbour, no harm done
        assert!(!run(0, 39, 0.49, Duration::ZERO).generator_bound());
        // drops while every slot was busy: the target's, not the generator's
        let target = run(800, 39, 0.49, Duration::from_millis(500));
        assert!(
            !target.generator_bound(),
            "{:?}",
            target.generator_reasons()
        );
        assert!(!target.saturation_reasons().is_empty());
        // on time: nothing to say
        assert!(!run(800, 1, 0.49, Duration::ZERO).generator_bound());
        // one stall explains the drops: said once, as the stall (and the send lag)
        let mut stalled = run(800, 39, 0.49, Duration::ZERO);
        stalled.facts.generator.stall_max = Duration::from_secs(1);
        let r = stalled.generator_reasons();
        assert!(r[0].contains("the generator stalled"), "{r:?}");
        assert!(!r.iter().any(|l| l.contains("did not give")), "{r:?}");
    }
}
