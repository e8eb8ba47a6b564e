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
#[allow(missing_docs)]
pub struct PercentilesJson {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
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
    pub latency_ms: PercentilesJson,
    /// Latency histogram of this target's successes (µs, V2+DEFLATE, base64).
    #[serde(default)]
    pub latency_us: String,
}

/// One bucket of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TimelineJson {
    /// Start of the bucket, seconds from t0.
    pub t_s: f64,
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
    /// Latency histogram of this bucket's successes (µs, V2+DEFLATE, base64); empty if
    /// none.
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

/// The three run-long histograms (µs, V2+DEFLATE, base64).
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
    pub threads: usize,
    pub max_thread_busy: f64,
    pub wake_late_p99_ms: f64,
    pub precise_timer: bool,
    pub reasons: Vec<String>,
}

/// Whether the target could not keep up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct SaturationJson {
    pub target: bool,
    pub max_in_flight: u64,
    pub peak_in_flight: u64,
    #[serde(default)]
    pub capacity_bound: bool,
    pub saturated_s: f64,
    pub reasons: Vec<String>,
}

/// A threshold's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct VerdictJson {
    pub threshold: String,
    pub actual: f64,
    #[serde(default)]
    pub unit: String,
    pub ok: bool,
}

/// The JSON document of one run (or of several merged). `docs/summary.md` explains each
/// field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct SummaryJson {
    pub schema: String,
    pub targets: Vec<String>,
    pub protocol: String,
    #[serde(default)]
    pub protocol_details: BTreeMap<String, String>,
    pub rate: f64,
    #[serde(default)]
    pub arrival: String,
    pub duration_s: f64,
    pub timeout_ms: f64,
    pub concurrency: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    pub shard: ShardJson,
    #[serde(default)]
    pub shards: Vec<u64>,
    #[serde(default)]
    pub missing_shards: Vec<u64>,
    pub started_at: String,
    pub elapsed_s: f64,
    #[serde(default)]
    pub window_s: f64,
    #[serde(default)]
    pub interrupted: bool,
    pub counts: CountsJson,
    #[serde(default)]
    pub sent: u64,
    pub offered_rate: f64,
    pub throughput: f64,
    pub tps: f64,
    #[serde(default)]
    pub peak_tps: f64,
    #[serde(default)]
    pub saturation: SaturationJson,
    pub latency_ms: PercentilesJson,
    pub service_time_ms: PercentilesJson,
    pub lag_ms: PercentilesJson,
    pub generator_bound: bool,
    pub generator_cpu_s: f64,
    #[serde(default)]
    pub generator: GeneratorJson,
    pub errors: Vec<ErrorJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub thresholds: Vec<VerdictJson>,
    pub per_target: Vec<TargetJson>,
    /// Width of a timeline bucket, seconds (v1 files: 1).
    #[serde(default = "one_second")]
    pub timeline_bucket_s: f64,
    pub timeline: Vec<TimelineJson>,
    pub histograms: HistogramsJson,
}

pub(crate) fn one_second() -> f64 {
    1.0
}
