//! The JSON document of a summary, field by field: the contract scripts read
//! (`docs/summary.md` explains each field). Plain data; [`super`] converts it to and from
//! the typed model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;
use crate::record::PerOutcome;
use crate::summary::Percentiles;

/// Loads scheduled and per outcome, by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountsJson {
    /// Loads whose intended start fell in the run (or in this bucket).
    pub scheduled: u64,
    /// Successes.
    pub success: u64,
    /// Timeouts.
    pub timeout: u64,
    /// Loads never sent.
    pub dropped: u64,
    /// Loads in flight when the grace period ran out.
    pub cancelled: u64,
    /// Connect, send or receive failures.
    pub call_error: u64,
    /// Malformed or wrong responses.
    pub response_error: u64,
    /// Errors of the target itself.
    pub callee_error: u64,
    /// Caller failures (panics).
    pub fatal: u64,
}

impl CountsJson {
    fn fields(&mut self) -> [(Outcome, &mut u64); 8] {
        [
            (Outcome::Success, &mut self.success),
            (Outcome::Timeout, &mut self.timeout),
            (Outcome::Dropped, &mut self.dropped),
            (Outcome::Cancelled, &mut self.cancelled),
            (Outcome::CallError, &mut self.call_error),
            (Outcome::ResponseError, &mut self.response_error),
            (Outcome::CalleeError, &mut self.callee_error),
            (Outcome::Fatal, &mut self.fatal),
        ]
    }

    pub(crate) fn of(scheduled: u64, per: &PerOutcome) -> CountsJson {
        let mut c = CountsJson {
            scheduled,
            ..CountsJson::default()
        };
        for (o, v) in c.fields() {
            *v = per[o];
        }
        c
    }

    pub(crate) fn outcomes(mut self) -> PerOutcome {
        let mut per = PerOutcome::default();
        for (o, v) in self.fields() {
            per[o] = *v;
        }
        per
    }

    /// Loads of one outcome.
    pub fn get(&self, o: Outcome) -> u64 {
        self.outcomes()[o]
    }

    /// The accounting invariant.
    pub fn invariant_holds(&self) -> bool {
        let per = self.outcomes();
        per.0.iter().try_fold(0u64, |a, &b| a.checked_add(b)) == Some(self.scheduled)
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PercentilesJson {
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

impl From<Percentiles> for PercentilesJson {
    fn from(p: Percentiles) -> Self {
        PercentilesJson {
            min: p.min,
            mean: p.mean,
            p50: p.p50,
            p90: p.p90,
            p99: p.p99,
            p999: p.p999,
            max: p.max,
        }
    }
}

/// One group of identical error messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorJson {
    /// The outcome name.
    pub outcome: String,
    /// The outcome code.
    pub code: u16,
    /// The message.
    pub message: String,
    /// How many loads.
    pub count: u64,
}

/// The per-target breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetJson {
    /// The target URL.
    pub target: String,
    /// Its weight.
    pub weight: u32,
    /// Loads scheduled and per outcome.
    pub counts: CountsJson,
    /// Latency percentiles of the answered loads (success, `response_error`,
    /// `callee_error`); before v4, of the successes.
    pub latency_ms: PercentilesJson,
    /// Latency percentiles of the successes (v4).
    #[serde(default)]
    pub latency_ok_ms: PercentilesJson,
    /// Latency histogram of this target's answered loads (µs, V2+DEFLATE, base64).
    #[serde(default)]
    pub latency_us: String,
    /// Latency histogram of this target's successes (v4).
    #[serde(default)]
    pub latency_ok_us: String,
}

/// One step (or group) of the journeys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepJson {
    /// The scenario it belongs to.
    pub scenario: String,
    /// Its name.
    pub step: String,
    /// `request` or `group`.
    pub kind: String,
    /// Runs (as `scheduled`) and per outcome.
    pub counts: CountsJson,
    /// Response time from when the step was ready, of the answered runs.
    pub response_ms: PercentilesJson,
    /// Service time from the send, of the answered runs.
    pub service_ms: PercentilesJson,
    /// Checks evaluated.
    #[serde(default)]
    pub checks: u64,
    /// Checks that failed.
    #[serde(default)]
    pub checks_failed: u64,
    /// Failed checks and captures, by name.
    #[serde(default)]
    pub failed: BTreeMap<String, u64>,
    /// Response-time histogram (µs, V2+DEFLATE, base64); empty if none.
    #[serde(default)]
    pub response_us: String,
    /// Service-time histogram (µs, V2+DEFLATE, base64); empty if none.
    #[serde(default)]
    pub service_us: String,
}

/// Journeys as a whole (beside the counts, which count journeys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneysJson {
    /// Active time of completed journeys (without think time).
    pub active_ms: PercentilesJson,
    /// Its histogram (µs, V2+DEFLATE, base64); empty if none.
    #[serde(default)]
    pub active_us: String,
}

/// One bucket of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineJson {
    /// Start of the bucket, seconds from t0.
    pub t_s: f64,
    /// Loads whose intended start fell in the run (or in this bucket).
    pub scheduled: u64,
    /// Loads sent.
    pub sent: u64,
    /// Successes.
    pub success: u64,
    /// Timeouts.
    pub timeout: u64,
    /// Loads never sent.
    pub dropped: u64,
    /// Loads in flight when the grace period ran out.
    #[serde(default)]
    pub cancelled: u64,
    /// Connect, send or receive failures.
    pub call_error: u64,
    /// Malformed or wrong responses.
    pub response_error: u64,
    /// Errors of the target itself.
    pub callee_error: u64,
    /// Caller failures (panics).
    #[serde(default)]
    pub fatal: u64,
    /// Median latency of the answered loads, ms (before v4, of the successes).
    pub p50_ms: f64,
    /// p99 latency of the answered loads, ms.
    pub p99_ms: f64,
    /// Latency histogram of this bucket's answered loads (µs, V2+DEFLATE, base64); empty
    /// if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub latency_us: String,
}

/// A line of `--live`: a timeline bucket, and the journeys' steps in that second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveLineJson {
    /// The fields of a timeline bucket.
    #[serde(flatten)]
    pub bucket: TimelineJson,
    /// Per step of the journeys (absent for single calls).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<LiveStepJson>,
}

/// One step of the journeys in one second of `--live`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveStepJson {
    /// Its scenario.
    pub scenario: String,
    /// Its name.
    pub step: String,
    /// Runs that ended in the second (as `scheduled`), per outcome.
    pub counts: CountsJson,
    /// Median response time of the second's answered runs, ms.
    pub p50_ms: f64,
    /// p99 response time of the second's answered runs, ms.
    pub p99_ms: f64,
}

/// Shard index and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardJson {
    /// Shard index.
    pub index: u64,
    /// How many loads.
    pub count: u64,
}

/// The three run-long histograms (µs, V2+DEFLATE, base64).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramsJson {
    /// Latency histogram of the answered loads (µs, V2+DEFLATE, base64); before v4, of
    /// the successes.
    pub latency_us: String,
    /// Latency histogram of the successes (v4).
    #[serde(default)]
    pub latency_ok_us: String,
    /// Service-time histogram.
    pub service_time_us: String,
    /// Send-lag histogram.
    pub lag_us: String,
    /// Connect-time histogram (the connections opened; absent when the caller does not
    /// time its connects).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub connect_us: String,
}

/// How the generator itself fared (self-diagnosis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GeneratorJson {
    /// Generator threads.
    pub threads: usize,
    /// The busiest thread's CPU over its wall time, 0..1.
    pub max_thread_busy: f64,
    /// Dispatcher wake-up lateness p99, ms.
    pub wake_late_p99_ms: f64,
    /// Whether the microsecond timer paced the run.
    pub precise_timer: bool,
    /// The pacing quantum at the end of the run, ms (auto: where it settled; the largest
    /// of the threads' and shards'; 0: a closed loop, or not recorded).
    #[serde(default)]
    pub quantum_ms: f64,
    /// Whether the quantum followed the run (`--pacing-quantum auto`).
    #[serde(default)]
    pub quantum_auto: bool,
    /// The longest the dispatcher woke late at once, ms (a stopped or starved process).
    #[serde(default)]
    pub stall_max_ms: f64,
    /// Why (empty when not).
    pub reasons: Vec<String>,
}

/// Whether the target could not keep up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SaturationJson {
    /// The target URL.
    pub target: bool,
    /// Calls allowed at once.
    pub max_in_flight: u64,
    /// The most calls that ran at once.
    pub peak_in_flight: u64,
    /// True when the connections, not the slots, set `max_in_flight`.
    #[serde(default)]
    pub capacity_bound: bool,
    /// Seconds every allowed call was busy while loads waited.
    pub saturated_s: f64,
    /// Why (empty when not).
    pub reasons: Vec<String>,
}

/// A threshold's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictJson {
    /// The expression.
    pub threshold: String,
    /// The measured value.
    pub actual: f64,
    /// Its unit: `ms`, `%`, `count`, `per_second`.
    #[serde(default)]
    pub unit: String,
    /// Whether it held.
    pub ok: bool,
}

/// The JSON document of one run (or of several merged). `docs/summary.md` explains each
/// field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryJson {
    /// `loadgen.summary/v4`.
    pub schema: String,
    /// The target URLs.
    pub targets: Vec<String>,
    /// The protocol name.
    pub protocol: String,
    /// Protocol specifics (client, method, tls, ...).
    #[serde(default)]
    pub protocol_details: BTreeMap<String, String>,
    /// Requested LPS; 0 in closed loop.
    pub rate: f64,
    /// `constant`, `stages`, `poisson` or `closed`.
    #[serde(default)]
    pub arrival: String,
    /// Requested length, s.
    pub duration_s: f64,
    /// Per-call timeout, ms.
    pub timeout_ms: f64,
    /// Slots.
    pub concurrency: u64,
    /// Connections per target, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    /// This process's shard.
    pub shard: ShardJson,
    /// Shards covered.
    #[serde(default)]
    pub shards: Vec<u64>,
    /// Shards not covered.
    #[serde(default)]
    pub missing_shards: Vec<u64>,
    /// RFC 3339 time of t0.
    pub started_at: String,
    /// t0 to the last outcome, s.
    pub elapsed_s: f64,
    /// The scheduling window, s.
    #[serde(default)]
    pub window_s: f64,
    /// True when a stop cut the schedule short.
    #[serde(default)]
    pub interrupted: bool,
    /// Loads scheduled and per outcome.
    pub counts: CountsJson,
    /// Loads sent.
    #[serde(default)]
    pub sent: u64,
    /// Scheduled per second.
    pub offered_rate: f64,
    /// Completed per second.
    pub throughput: f64,
    /// Successes per second.
    pub tps: f64,
    /// The most successes in one second.
    #[serde(default)]
    pub peak_tps: f64,
    /// Whether the target saturated.
    #[serde(default)]
    pub saturation: SaturationJson,
    /// Latency percentiles of every answered load (success, `response_error`,
    /// `callee_error`); before v4, of the successes.
    pub latency_ms: PercentilesJson,
    /// Latency percentiles of the successes (v4).
    #[serde(default)]
    pub latency_ok_ms: PercentilesJson,
    /// Service-time percentiles (answered loads).
    pub service_time_ms: PercentilesJson,
    /// Send-lag percentiles.
    pub lag_ms: PercentilesJson,
    /// How long the connections took to open (TCP, TLS, a protocol's handshake), apart
    /// from the loads; absent when the caller does not time its connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<PercentilesJson>,
    /// True when the generator limited the run.
    pub generator_bound: bool,
    /// Generator CPU, s.
    pub generator_cpu_s: f64,
    /// How the generator fared.
    #[serde(default)]
    pub generator: GeneratorJson,
    /// Error groups.
    pub errors: Vec<ErrorJson>,
    /// Warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Threshold verdicts.
    #[serde(default)]
    pub thresholds: Vec<VerdictJson>,
    /// Per-target breakdown (per scenario, for journeys).
    pub per_target: Vec<TargetJson>,
    /// Per step of the journeys (absent for single calls).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_step: Vec<StepJson>,
    /// Journeys as a whole (absent for single calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journeys: Option<JourneysJson>,
    /// Width of a timeline bucket, seconds (v1 files: 1).
    #[serde(default = "one_second")]
    pub timeline_bucket_s: f64,
    /// The timeline.
    pub timeline: Vec<TimelineJson>,
    /// The run-long histograms.
    pub histograms: HistogramsJson,
}

pub(crate) fn one_second() -> f64 {
    1.0
}
