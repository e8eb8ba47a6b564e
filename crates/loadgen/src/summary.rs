//! The JSON summary of a run (DESIGN.md, "The JSON summary"): the one result type that
//! reports render, files store and `merge` reads back.
//!
//! Field names are a contract. Histograms travel as HdrHistogram V2 + DEFLATE in base64,
//! so a summary read back can be merged exactly with others.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::engine::Plan;
use crate::outcome::Outcome;
use crate::record::hist::{self, Hist};
use crate::record::{Aggregate, Bucket, Counts, TargetAgg};

/// The schema name written in every summary.
pub const SCHEMA: &str = "loadgen.summary/v1";

/// Facts about a finished run that the engine measured besides the aggregate.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// Wall-clock time of t0 (the intended start of load 0).
    pub t0_wall: SystemTime,
    /// First scheduled load to last outcome.
    pub elapsed: Duration,
    /// The scheduling window: the duration, or the time until the stop.
    pub window: Duration,
    /// True when a stop cut the schedule short.
    pub interrupted: bool,
    /// Slots used.
    pub slots: u64,
    /// Shards (threads) used.
    pub shards: usize,
    /// CPU time of the shard threads.
    pub cpu: Duration,
    /// The busiest shard's CPU time / its wall time.
    pub max_shard_busy: f64,
    /// How late the dispatcher woke, per wake-up, µs.
    pub wake_late: Hist,
    /// Whether the microsecond timer paced the run.
    pub precise_timer: bool,
    /// Calls allowed at once over every shard: the slots, or fewer when the callers'
    /// capacity (connections × streams) is smaller.
    pub max_workers: u64,
    /// The most calls that ever ran at once (summed over shards).
    pub peak_workers: u64,
    /// True when the callers' capacity, not the slots, set `max_workers`.
    pub capacity_bound: bool,
    /// The longest time any shard had every allowed call busy while loads waited.
    pub saturated: std::time::Duration,
}

/// Loads scheduled and per outcome, by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CountsJson {
    pub scheduled: u64,
    pub success: u64,
    pub timeout: u64,
    pub dropped: u64,
    pub cancelled: u64,
    pub call_error: u64,
    pub response_error: u64,
    pub callee_error: u64,
    pub fatal: u64,
}

impl From<&Counts> for CountsJson {
    fn from(c: &Counts) -> Self {
        let g = |o| c.get(o);
        CountsJson {
            scheduled: c.scheduled,
            success: g(Outcome::Success),
            timeout: g(Outcome::Timeout),
            dropped: g(Outcome::Dropped),
            cancelled: g(Outcome::Cancelled),
            call_error: g(Outcome::CallError),
            response_error: g(Outcome::ResponseError),
            callee_error: g(Outcome::CalleeError),
            fatal: g(Outcome::Fatal),
        }
    }
}

impl From<&CountsJson> for Counts {
    fn from(c: &CountsJson) -> Self {
        Counts {
            scheduled: c.scheduled,
            outcomes: [
                c.success,
                c.timeout,
                c.dropped,
                c.cancelled,
                c.call_error,
                c.response_error,
                c.callee_error,
                c.fatal,
            ],
        }
    }
}

impl CountsJson {
    /// The accounting invariant of DESIGN.md.
    pub fn invariant_holds(&self) -> bool {
        Counts::from(self).invariant_holds()
    }
    /// Loads of one outcome.
    pub fn get(&self, o: Outcome) -> u64 {
        Counts::from(self).get(o)
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Percentiles {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// Percentiles of a µs histogram, in ms (zeros when it is empty).
    pub fn of(h: &Hist) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |v: u64| v as f64 / 1000.0;
        Percentiles {
            min: ms(h.min()),
            mean: round3(h.mean() / 1000.0),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One group of identical error messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ErrorJson {
    pub outcome: String,
    pub code: u16,
    pub message: String,
    pub count: u64,
}

/// The per-target breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TargetJson {
    pub target: String,
    pub weight: u32,
    pub counts: CountsJson,
    pub latency_ms: Percentiles,
    /// Latency histogram of this target's successes (µs, V2+DEFLATE, base64).
    #[serde(default)]
    pub latency_us: String,
}

/// One second of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TimelineJson {
    pub t_s: u64,
    pub scheduled: u64,
    pub sent: u64,
    pub success: u64,
    pub timeout: u64,
    pub dropped: u64,
    #[serde(default)]
    pub cancelled: u64,
    pub call_error: u64,
    pub response_error: u64,
    pub callee_error: u64,
    #[serde(default)]
    pub fatal: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Latency histogram of this second's successes (µs, V2+DEFLATE, base64); empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub latency_us: String,
}

/// Shard index and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ShardJson {
    pub index: u64,
    pub count: u64,
}

/// The three run-long histograms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct HistogramsJson {
    pub latency_us: String,
    pub service_time_us: String,
    pub lag_us: String,
}

/// How the generator itself fared (self-diagnosis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct GeneratorJson {
    /// Shards (threads) that generated load.
    pub threads: usize,
    /// The busiest shard's CPU use, 0..1.
    pub max_thread_busy: f64,
    /// Dispatcher wake-up lateness p99 (ms).
    pub wake_late_p99_ms: f64,
    /// Whether the microsecond timer paced the run.
    pub precise_timer: bool,
    /// Why the run was flagged as generator-bound (empty when it was not).
    pub reasons: Vec<String>,
}

/// Whether the target could not keep up (as distinct from the generator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SaturationJson {
    /// True when every allowed call was busy while loads waited and were dropped, and the
    /// generator itself was not the bottleneck.
    pub target: bool,
    /// Calls allowed at once (connections × streams, or the slots if fewer).
    pub max_in_flight: u64,
    /// The most calls that ran at once.
    pub peak_in_flight: u64,
    /// Seconds during which every allowed call was busy while loads waited.
    pub saturated_s: f64,
    /// What was seen, in words (empty when nothing saturated).
    pub reasons: Vec<String>,
}

/// The JSON summary of one run (or of several merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Summary {
    pub schema: String,
    pub targets: Vec<String>,
    pub protocol: String,
    /// Requested LPS (the peak of a ramp, the mean of Poisson); 0 = closed loop.
    pub rate: f64,
    /// `constant`, `stages`, `poisson` or `closed`.
    #[serde(default)]
    pub arrival: String,
    pub duration_s: f64,
    pub timeout_ms: f64,
    pub concurrency: u64,
    /// Connections per target the callers could open (absent when not known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    pub shard: ShardJson,
    /// Shard indexes this summary covers (one, or several after `merge`).
    #[serde(default)]
    pub shards: Vec<u64>,
    pub started_at: String,
    pub elapsed_s: f64,
    /// Seconds of scheduling: the duration, or up to the stop.
    #[serde(default)]
    pub window_s: f64,
    /// True when a stop (signal, `stop()`) cut the schedule short.
    #[serde(default)]
    pub interrupted: bool,
    pub counts: CountsJson,
    #[serde(default)]
    pub sent: u64,
    pub offered_rate: f64,
    pub throughput: f64,
    pub tps: f64,
    /// The most successes in any one second of the timeline.
    #[serde(default)]
    pub peak_tps: f64,
    /// Whether the target saturated: every allowed call busy, loads waiting and dropped.
    #[serde(default)]
    pub saturation: SaturationJson,
    pub latency_ms: Percentiles,
    pub service_time_ms: Percentiles,
    pub lag_ms: Percentiles,
    pub generator_bound: bool,
    pub generator_cpu_s: f64,
    #[serde(default)]
    pub generator: GeneratorJson,
    pub errors: Vec<ErrorJson>,
    /// Problems around the run that did not stop it (e.g. the results file could not be
    /// written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Thresholds given for the run and how they fared.
    #[serde(default)]
    pub thresholds: Vec<crate::threshold::Verdict>,
    pub per_target: Vec<TargetJson>,
    pub timeline: Vec<TimelineJson>,
    pub histograms: HistogramsJson,
}

fn per_sec(n: u64, d: f64) -> f64 {
    if d > 0.0 { round3(n as f64 / d) } else { 0.0 }
}

/// When the generator, not the target, limited the run: the reasons (empty if it did not).
///
/// A generator thread that was busy ≥ 90 % of the run could not have gone faster; late
/// dispatcher wake-ups count only when the thread was also busy (≥ 50 %), since on an idle
/// thread they point at the machine (a noisy neighbour), not at loadgen.
pub fn generator_bound_reasons(
    busy: f64,
    wake_late_p99_ms: f64,
    lag: &Percentiles,
    closed: bool,
) -> Vec<String> {
    let mut r = Vec::new();
    if busy >= 0.9 {
        r.push(format!(
            "a generator thread was {:.0}% busy: add --threads or machines",
            busy * 100.0
        ));
    }
    if !closed && wake_late_p99_ms > 2.0 && busy >= 0.5 {
        r.push(format!(
            "the dispatcher woke {wake_late_p99_ms:.1} ms late at p99 while {:.0}% busy: the generator could not keep the schedule",
            busy * 100.0
        ));
    }
    if !closed && !r.is_empty() && lag.p99 > 1.0 {
        r.push(format!("send lag p99 {:.1} ms", lag.p99));
    }
    r
}

/// Why the target (not the generator) limited the run: every allowed call busy for a
/// good part of the run while loads waited, and loads dropped for want of a slot. Empty
/// when the target kept up, or when the generator was the bottleneck.
fn saturation_reasons(s: &Summary, capacity_bound: bool) -> Vec<String> {
    let sat = &s.saturation;
    let dropped = s.counts.dropped;
    if s.generator_bound || dropped == 0 || sat.saturated_s < 0.1 * s.window_s.max(0.001) {
        return Vec::new();
    }
    let what = if capacity_bound {
        "connections (× streams)"
    } else {
        "slots"
    };
    let mut r = vec![format!(
        "the target could not keep up: all {} {what} were busy for {:.1} s of the {:.1} s run while loads waited; {dropped} loads were dropped; at most {:.0} successes in one second",
        sat.max_in_flight, sat.saturated_s, s.window_s, s.peak_tps
    )];
    r.push(if capacity_bound {
        "if the target can take more calls at once, raise --connections (or --streams)".into()
    } else {
        "if the target can take more calls at once, raise --concurrency".into()
    });
    r
}

impl Summary {
    /// Builds the summary of a finished run.
    pub fn build(plan: &Plan, facts: &RunFacts, agg: &Aggregate) -> Summary {
        let lag = Percentiles::of(&agg.lag);
        let wake_p99 = if facts.wake_late.is_empty() {
            0.0
        } else {
            facts.wake_late.value_at_quantile(0.99) as f64 / 1000.0
        };
        let reasons = generator_bound_reasons(
            facts.max_shard_busy,
            wake_p99,
            &lag,
            plan.schedule.is_closed(),
        );
        let mut s = Summary {
            schema: SCHEMA.to_string(),
            targets: plan.targets.iter().map(|t| t.name.clone()).collect(),
            protocol: plan.protocol.clone(),
            rate: plan.schedule.rate(),
            arrival: plan.schedule.arrival_name().to_string(),
            duration_s: plan.schedule.duration().as_secs_f64(),
            timeout_ms: plan.timeout.as_secs_f64() * 1000.0,
            concurrency: facts.slots,
            connections: plan.connections,
            shard: ShardJson {
                index: plan.process_shard.0,
                count: plan.process_shard.1,
            },
            shards: vec![plan.process_shard.0],
            started_at: humantime::format_rfc3339_millis(facts.t0_wall).to_string(),
            elapsed_s: (facts.elapsed.as_secs_f64() * 1e6).round() / 1e6,
            window_s: facts.window.as_secs_f64(),
            interrupted: facts.interrupted,
            counts: CountsJson::default(),
            sent: 0,
            offered_rate: 0.0,
            throughput: 0.0,
            tps: 0.0,
            peak_tps: 0.0,
            saturation: SaturationJson {
                target: false,
                max_in_flight: facts.max_workers,
                peak_in_flight: facts.peak_workers,
                saturated_s: round3(facts.saturated.as_secs_f64()),
                reasons: Vec::new(),
            },
            latency_ms: Percentiles::default(),
            service_time_ms: Percentiles::default(),
            lag_ms: lag,
            generator_bound: !reasons.is_empty(),
            generator_cpu_s: round3(facts.cpu.as_secs_f64()),
            generator: GeneratorJson {
                threads: facts.shards,
                max_thread_busy: round3(facts.max_shard_busy),
                wake_late_p99_ms: wake_p99,
                precise_timer: facts.precise_timer,
                reasons,
            },
            errors: Vec::new(),
            warnings: Vec::new(),
            thresholds: Vec::new(),
            per_target: Vec::new(),
            timeline: Vec::new(),
            histograms: HistogramsJson {
                latency_us: String::new(),
                service_time_us: String::new(),
                lag_us: String::new(),
            },
        };
        let weights: Vec<u32> = plan.targets.iter().map(|t| t.weight).collect();
        s.fill(agg, &weights);
        s.saturation.reasons = saturation_reasons(&s, facts.capacity_bound);
        s.saturation.target = !s.saturation.reasons.is_empty();
        s
    }

    /// Recomputes every derived field (counts, rates, percentiles, errors, per-target,
    /// timeline, histograms) from `agg`, keeping the run parameters.
    pub fn fill(&mut self, agg: &Aggregate, weights: &[u32]) {
        self.counts = CountsJson::from(&agg.counts);
        self.sent = agg.sent;
        self.offered_rate = per_sec(agg.counts.scheduled, self.window_s);
        self.throughput = per_sec(agg.counts.completed(), self.elapsed_s);
        self.tps = per_sec(agg.counts.get(Outcome::Success), self.elapsed_s);
        self.peak_tps = agg
            .timeline
            .iter()
            .map(|b| b.outcomes[Outcome::Success.index()])
            .max()
            .unwrap_or(0) as f64;
        self.latency_ms = Percentiles::of(&agg.latency);
        self.service_time_ms = Percentiles::of(&agg.service);
        self.lag_ms = Percentiles::of(&agg.lag);
        self.errors = agg
            .errors
            .sorted()
            .into_iter()
            .map(|(o, m, n)| ErrorJson {
                outcome: o.name().to_string(),
                code: o.code(),
                message: m.into_owned(),
                count: n,
            })
            .collect();
        self.per_target = self
            .targets
            .iter()
            .zip(&agg.targets)
            .enumerate()
            .map(|(i, (name, t))| TargetJson {
                target: name.clone(),
                weight: weights.get(i).copied().unwrap_or(1),
                counts: CountsJson::from(&t.counts),
                latency_ms: Percentiles::of(&t.latency),
                latency_us: hist::encode(&t.latency),
            })
            .collect();
        self.timeline = agg
            .timeline
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let h = b.latency.as_deref().and_then(|x| hist::from_bytes(x).ok());
                let q = |p| {
                    h.as_ref()
                        .map_or(0.0, |h| h.value_at_quantile(p) as f64 / 1000.0)
                };
                let o = |x: Outcome| b.outcomes[x.index()];
                TimelineJson {
                    t_s: i as u64,
                    scheduled: b.scheduled,
                    sent: b.sent,
                    success: o(Outcome::Success),
                    timeout: o(Outcome::Timeout),
                    dropped: o(Outcome::Dropped),
                    cancelled: o(Outcome::Cancelled),
                    call_error: o(Outcome::CallError),
                    response_error: o(Outcome::ResponseError),
                    callee_error: o(Outcome::CalleeError),
                    fatal: o(Outcome::Fatal),
                    p50_ms: q(0.5),
                    p99_ms: q(0.99),
                    latency_us: b.latency.as_deref().map(hist::b64).unwrap_or_default(),
                }
            })
            .collect();
        self.histograms = HistogramsJson {
            latency_us: hist::encode(&agg.latency),
            service_time_us: hist::encode(&agg.service),
            lag_us: hist::encode(&agg.lag),
        };
    }

    /// The exact, mergeable content of this summary (counts, histograms, timeline).
    pub fn to_aggregate(&self) -> Result<Aggregate, String> {
        let mut agg = Aggregate::new(self.per_target.len());
        agg.counts = Counts::from(&self.counts);
        agg.sent = self.sent;
        agg.latency = hist::decode(&self.histograms.latency_us)?;
        agg.service = hist::decode(&self.histograms.service_time_us)?;
        agg.lag = hist::decode(&self.histograms.lag_us)?;
        agg.targets = self
            .per_target
            .iter()
            .map(|t| {
                Ok(TargetAgg {
                    counts: Counts::from(&t.counts),
                    latency: if t.latency_us.is_empty() {
                        hist::new_hist()
                    } else {
                        hist::decode(&t.latency_us)?
                    },
                })
            })
            .collect::<Result<_, String>>()?;
        for e in &self.errors {
            let o = Outcome::from_name(&e.outcome)
                .ok_or_else(|| format!("unknown outcome {:?} in errors", e.outcome))?;
            agg.errors.add(o, e.message.clone().into(), e.count);
        }
        let len = self
            .timeline
            .iter()
            .map(|b| b.t_s as usize + 1)
            .max()
            .unwrap_or(0);
        agg.timeline = vec![Bucket::default(); len];
        for b in &self.timeline {
            let slot = &mut agg.timeline[b.t_s as usize];
            slot.scheduled += b.scheduled;
            slot.sent += b.sent;
            let add = [
                b.success,
                b.timeout,
                b.dropped,
                b.cancelled,
                b.call_error,
                b.response_error,
                b.callee_error,
                b.fatal,
            ];
            for (x, y) in slot.outcomes.iter_mut().zip(add) {
                *x += y;
            }
            if !b.latency_us.is_empty() {
                slot.latency = Some(hist::unb64(&b.latency_us)?);
            }
        }
        Ok(agg)
    }

    /// Evaluates `thresholds`, records the verdicts, and returns true if all held.
    pub fn apply_thresholds(&mut self, thresholds: &[crate::threshold::Threshold]) -> bool {
        self.thresholds = thresholds.iter().map(|t| t.check(self)).collect();
        self.thresholds.iter().all(|v| v.ok)
    }

    /// Parses a summary from JSON text, checking its schema.
    pub fn from_json(text: &str) -> Result<Summary, String> {
        let s: Summary =
            serde_json::from_str(text).map_err(|e| format!("not a loadgen summary: {e}"))?;
        if s.schema != SCHEMA {
            return Err(format!("schema {:?} is not {SCHEMA:?}", s.schema));
        }
        Ok(s)
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary always serializes")
    }
}
