//! The JSON form of a [`Summary`]: the contract that scripts, `merge` and `report` read
//! (documented field by field in `docs/summary.md`).
//!
//! Writing adds every derived figure (rates, percentiles, verdicts, reasons) for readers
//! that do not want to recompute them; reading takes back only what the model holds and
//! recomputes the rest. A file is data from a stranger: every count, time, length and
//! histogram header is checked before anything is allocated from it, and a summary whose
//! counts break the accounting invariant is refused.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{
    GeneratorFacts, LoadFacts, Percentiles, RunFacts, RunInfo, ShardId, Summary, Unit, Verdict,
    round3,
};
use crate::caller::Target;
use crate::outcome::Outcome;
use crate::record::hist::{self, CompactHist, Hist, HistError};
use crate::record::{Aggregate, Bucket, Counts, TargetAgg};
use crate::schedule::ArrivalKind;

/// The schema written.
pub const SCHEMA: &str = "loadgen.summary/v2";
/// The first schema (one-second buckets, whole-second `t_s`), still read.
pub const SCHEMA_V1: &str = "loadgen.summary/v1";

/// The most timeline buckets a file may bring (a run keeps about 1,200).
pub const MAX_FILE_BUCKETS: usize = 100_000;
/// The most targets a file may bring.
pub const MAX_FILE_TARGETS: usize = 10_000;
/// The most error groups a file may bring.
pub const MAX_FILE_ERRORS: usize = 10_000;
/// The longest duration or window a file may state: ten years, in seconds.
const MAX_FILE_SECONDS: f64 = 10.0 * 366.0 * 86_400.0;

/// Why a JSON summary was refused.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Not JSON, or not the shape of a summary.
    #[error("not a loadgen summary: {0}")]
    Json(#[from] serde_json::Error),
    /// Another schema.
    #[error("schema {0:?} is not {SCHEMA:?} (or {SCHEMA_V1:?})")]
    Schema(String),
    /// A value out of range, named by its field.
    #[error("{field}: {why}")]
    Value {
        /// The JSON field.
        field: String,
        /// What is wrong with it.
        why: String,
    },
    /// Counts whose outcomes do not add up to the scheduled loads.
    #[error(
        "{field}: counts break the accounting invariant: {scheduled} scheduled, {accounted} accounted"
    )]
    Invariant {
        /// The JSON field.
        field: String,
        /// Loads scheduled.
        scheduled: u64,
        /// Loads with an outcome.
        accounted: u64,
    },
    /// A histogram that does not decode.
    #[error("{field}: {source}")]
    Histogram {
        /// The JSON field.
        field: String,
        /// Why.
        source: HistError,
    },
}

fn bad(field: impl Into<String>, why: impl Into<String>) -> CodecError {
    CodecError::Value {
        field: field.into(),
        why: why.into(),
    }
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

    fn of(scheduled: u64, per: &crate::record::PerOutcome) -> CountsJson {
        let mut c = CountsJson {
            scheduled,
            ..CountsJson::default()
        };
        for (o, v) in c.fields() {
            *v = per[o];
        }
        c
    }

    fn outcomes(mut self) -> crate::record::PerOutcome {
        let mut per = crate::record::PerOutcome::default();
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

fn one_second() -> f64 {
    1.0
}

fn b64(h: &CompactHist) -> String {
    STANDARD.encode(h.bytes())
}

fn b64_hist(h: &Hist) -> String {
    STANDARD.encode(hist::to_bytes(h))
}

/// The document of `s`.
pub fn to_document(s: &Summary) -> SummaryJson {
    let (run, facts, agg) = (&s.run, &s.facts, &s.agg);
    let bucket_s = run.bucket.as_secs_f64();
    let sat = s.saturation_reasons();
    SummaryJson {
        schema: SCHEMA.into(),
        targets: run.targets.iter().map(|t| t.name.clone()).collect(),
        protocol: run.protocol.clone(),
        protocol_details: run.details.iter().cloned().collect(),
        rate: run.rate,
        arrival: run.arrival.name().into(),
        duration_s: run.duration.as_secs_f64(),
        timeout_ms: run.timeout.as_secs_f64() * 1000.0,
        concurrency: run.concurrency,
        connections: run.connections,
        shard: ShardJson {
            index: run.shard.index,
            count: run.shard.count,
        },
        shards: run.shards.clone(),
        missing_shards: s.missing_shards(),
        started_at: humantime::format_rfc3339_millis(run.started_at).to_string(),
        elapsed_s: (facts.elapsed.as_secs_f64() * 1e6).round() / 1e6,
        window_s: facts.window.as_secs_f64(),
        interrupted: facts.interrupted,
        counts: CountsJson::of(agg.counts.scheduled, &agg.counts.outcomes),
        sent: agg.sent,
        offered_rate: s.offered_rate(),
        throughput: s.throughput(),
        tps: s.tps(),
        peak_tps: s.peak_tps(),
        saturation: SaturationJson {
            target: !sat.is_empty(),
            max_in_flight: facts.load.max_in_flight,
            peak_in_flight: facts.load.peak_in_flight,
            capacity_bound: facts.load.capacity_bound,
            saturated_s: round3(facts.load.saturated.as_secs_f64()),
            reasons: sat,
        },
        latency_ms: s.latency().into(),
        service_time_ms: s.service_time().into(),
        lag_ms: s.lag().into(),
        generator_bound: s.generator_bound(),
        generator_cpu_s: round3(facts.generator.cpu.as_secs_f64()),
        generator: GeneratorJson {
            threads: facts.generator.threads,
            max_thread_busy: round3(facts.generator.max_busy),
            wake_late_p99_ms: facts.generator.wake_late_p99.as_secs_f64() * 1000.0,
            precise_timer: facts.generator.precise_timer,
            reasons: s.generator_reasons(),
        },
        errors: agg
            .errors
            .sorted()
            .into_iter()
            .map(|(o, m, n)| ErrorJson {
                outcome: o.name().into(),
                code: o.code(),
                message: m.into_owned(),
                count: n,
            })
            .collect(),
        warnings: s.warnings.clone(),
        thresholds: s
            .thresholds
            .iter()
            .map(|v| VerdictJson {
                threshold: v.threshold.clone(),
                actual: v.actual,
                unit: v.unit.name().into(),
                ok: v.ok,
            })
            .collect(),
        per_target: run
            .targets
            .iter()
            .zip(&agg.targets)
            .map(|(t, a)| TargetJson {
                target: t.name.clone(),
                weight: t.weight,
                counts: CountsJson::of(a.counts.scheduled, &a.counts.outcomes),
                latency_ms: Percentiles::of_compact(&a.latency).into(),
                latency_us: b64(&a.latency),
            })
            .collect(),
        timeline_bucket_s: bucket_s,
        timeline: agg
            .timeline
            .iter()
            .enumerate()
            .map(|(i, b)| bucket_json(i, bucket_s, b))
            .collect(),
        histograms: HistogramsJson {
            latency_us: b64_hist(&agg.latency),
            service_time_us: b64_hist(&agg.service),
            lag_us: b64_hist(&agg.lag),
        },
    }
}

fn bucket_json(i: usize, width_s: f64, b: &Bucket) -> TimelineJson {
    let p = Percentiles::of_compact(&b.latency);
    let c = CountsJson::of(0, &b.outcomes);
    TimelineJson {
        t_s: round3(i as f64 * width_s),
        scheduled: b.scheduled,
        sent: b.sent,
        success: c.success,
        timeout: c.timeout,
        dropped: c.dropped,
        cancelled: c.cancelled,
        call_error: c.call_error,
        response_error: c.response_error,
        callee_error: c.callee_error,
        fatal: c.fatal,
        p50_ms: p.p50,
        p99_ms: p.p99,
        latency_us: b64(&b.latency),
    }
}

/// Pretty JSON text of `s`.
pub fn to_json(s: &Summary) -> String {
    serde_json::to_string_pretty(&to_document(s)).expect("a summary always serializes")
}

/// Reads a summary from JSON text, checking its schema and every value it brings.
pub fn from_json(text: &str) -> Result<Summary, CodecError> {
    let doc: SummaryJson = serde_json::from_str(text)?;
    from_document(doc)
}

fn seconds(field: &str, v: f64) -> Result<Duration, CodecError> {
    if !v.is_finite() || !(0.0..=MAX_FILE_SECONDS).contains(&v) {
        return Err(bad(field, format!("{v} is not a duration in seconds")));
    }
    Ok(Duration::from_secs_f64(v))
}

fn hist_field(field: &str, b64: &str) -> Result<CompactHist, CodecError> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| CodecError::Histogram {
            field: field.into(),
            source: HistError::Base64,
        })?;
    CompactHist::from_bytes(bytes).map_err(|source| CodecError::Histogram {
        field: field.into(),
        source,
    })
}

fn full_hist(field: &str, b64: &str) -> Result<Hist, CodecError> {
    Ok(hist_field(field, b64)?
        .decode()
        .unwrap_or_else(hist::new_hist))
}

fn counts(field: &str, c: &CountsJson) -> Result<Counts, CodecError> {
    if !c.invariant_holds() {
        let sum = c
            .outcomes()
            .0
            .iter()
            .fold(0u64, |a, &b| a.saturating_add(b));
        return Err(CodecError::Invariant {
            field: field.into(),
            scheduled: c.scheduled,
            accounted: sum,
        });
    }
    Ok(Counts {
        scheduled: c.scheduled,
        outcomes: c.outcomes(),
    })
}

/// The model of a parsed document, every value checked.
pub fn from_document(d: SummaryJson) -> Result<Summary, CodecError> {
    if d.schema != SCHEMA && d.schema != SCHEMA_V1 {
        return Err(CodecError::Schema(d.schema));
    }
    let run = run_info(&d)?;
    let facts = run_facts(&d)?;
    let agg = aggregate(&d, run.bucket, facts.elapsed)?;
    let thresholds = d
        .thresholds
        .iter()
        .map(|v| Verdict {
            threshold: v.threshold.clone(),
            actual: v.actual,
            unit: Unit::from_name(&v.unit).unwrap_or(Unit::Count),
            ok: v.ok,
        })
        .collect();
    Ok(Summary {
        run,
        facts,
        agg,
        thresholds,
        warnings: d.warnings,
    })
}

fn run_info(d: &SummaryJson) -> Result<RunInfo, CodecError> {
    if d.targets.is_empty() || d.targets.len() > MAX_FILE_TARGETS {
        return Err(bad("targets", format!("{} targets", d.targets.len())));
    }
    if d.per_target.len() != d.targets.len() {
        return Err(bad(
            "per_target",
            format!(
                "{} rows for {} targets",
                d.per_target.len(),
                d.targets.len()
            ),
        ));
    }
    if d.shard.count == 0 || d.shard.index >= d.shard.count {
        return Err(bad("shard", format!("{}/{}", d.shard.index, d.shard.count)));
    }
    let shards = if d.shards.is_empty() {
        vec![d.shard.index]
    } else {
        d.shards.clone()
    };
    if shards.len() as u64 > d.shard.count || shards.iter().any(|&i| i >= d.shard.count) {
        return Err(bad("shards", "indexes not below the shard count"));
    }
    if !d.rate.is_finite() || !(0.0..=1e9).contains(&d.rate) {
        return Err(bad("rate", format!("{}", d.rate)));
    }
    let bucket = seconds("timeline_bucket_s", d.timeline_bucket_s)?;
    if bucket < Duration::from_millis(1) {
        return Err(bad("timeline_bucket_s", "below a millisecond"));
    }
    let started_at = humantime::parse_rfc3339_weak(&d.started_at)
        .map_err(|e| bad("started_at", format!("{:?}: {e}", d.started_at)))?;
    Ok(RunInfo {
        targets: d
            .per_target
            .iter()
            .map(|t| Target {
                name: t.target.clone(),
                weight: t.weight.max(1),
            })
            .collect(),
        protocol: d.protocol.clone(),
        details: d.protocol_details.clone().into_iter().collect(),
        arrival: ArrivalKind::from_name(&d.arrival).unwrap_or(if d.rate == 0.0 {
            ArrivalKind::Closed
        } else {
            ArrivalKind::Constant
        }),
        rate: d.rate,
        duration: seconds("duration_s", d.duration_s)?,
        timeout: seconds("timeout_ms", d.timeout_ms / 1000.0)?,
        concurrency: d.concurrency,
        connections: d.connections,
        shard: ShardId {
            index: d.shard.index,
            count: d.shard.count,
        },
        shards,
        started_at,
        bucket,
    })
}

fn run_facts(d: &SummaryJson) -> Result<RunFacts, CodecError> {
    let busy = d.generator.max_thread_busy;
    if !busy.is_finite() || !(0.0..=1000.0).contains(&busy) {
        return Err(bad("generator.max_thread_busy", format!("{busy}")));
    }
    let window = if d.window_s > 0.0 {
        d.window_s
    } else {
        d.duration_s
    };
    Ok(RunFacts {
        elapsed: seconds("elapsed_s", d.elapsed_s)?,
        window: seconds("window_s", window)?,
        interrupted: d.interrupted,
        generator: GeneratorFacts {
            threads: d.generator.threads,
            cpu: seconds("generator_cpu_s", d.generator_cpu_s)?,
            max_busy: busy,
            wake_late_p99: seconds(
                "generator.wake_late_p99_ms",
                d.generator.wake_late_p99_ms / 1000.0,
            )?,
            precise_timer: d.generator.precise_timer,
        },
        load: LoadFacts {
            max_in_flight: d.saturation.max_in_flight,
            peak_in_flight: d.saturation.peak_in_flight,
            capacity_bound: d.saturation.capacity_bound,
            saturated: seconds("saturation.saturated_s", d.saturation.saturated_s)?,
        },
    })
}

fn aggregate(
    d: &SummaryJson,
    bucket: Duration,
    elapsed: Duration,
) -> Result<Aggregate, CodecError> {
    let mut agg = Aggregate::new(d.targets.len());
    agg.counts = counts("counts", &d.counts)?;
    agg.sent = d.sent;
    agg.latency = full_hist("histograms.latency_us", &d.histograms.latency_us)?;
    agg.service = full_hist("histograms.service_time_us", &d.histograms.service_time_us)?;
    agg.lag = full_hist("histograms.lag_us", &d.histograms.lag_us)?;
    for (i, t) in d.per_target.iter().enumerate() {
        agg.targets[i] = TargetAgg {
            counts: counts(&format!("per_target[{i}].counts"), &t.counts)?,
            latency: if t.latency_us.is_empty() {
                CompactHist::default()
            } else {
                hist_field(&format!("per_target[{i}].latency_us"), &t.latency_us)?
            },
        };
    }
    if d.errors.len() > MAX_FILE_ERRORS {
        return Err(bad("errors", format!("{} groups", d.errors.len())));
    }
    for (i, e) in d.errors.iter().enumerate() {
        let o = Outcome::from_name(&e.outcome)
            .ok_or_else(|| bad(format!("errors[{i}].outcome"), format!("{:?}", e.outcome)))?;
        agg.errors.add(o, e.message.clone().into(), e.count);
    }
    agg.timeline = timeline(d, bucket, elapsed)?;
    Ok(agg)
}

fn timeline(
    d: &SummaryJson,
    bucket: Duration,
    elapsed: Duration,
) -> Result<Vec<Bucket>, CodecError> {
    let width = bucket.as_secs_f64();
    // buckets run from t0 to the last outcome: no index beyond the elapsed time
    let last = ((elapsed.as_secs_f64() / width).ceil() as usize).saturating_add(1);
    if last > MAX_FILE_BUCKETS || d.timeline.len() > MAX_FILE_BUCKETS {
        return Err(bad(
            "timeline",
            format!("more than {MAX_FILE_BUCKETS} buckets"),
        ));
    }
    let mut out: Vec<Bucket> = Vec::new();
    for (n, b) in d.timeline.iter().enumerate() {
        let field = |f: &str| format!("timeline[{n}].{f}");
        let x = b.t_s / width;
        if !x.is_finite() || x < 0.0 || (x - x.round()).abs() > 1e-3 || x.round() as usize > last {
            return Err(bad(
                field("t_s"),
                format!("{} is not a bucket start within the run", b.t_s),
            ));
        }
        let i = x.round() as usize;
        if out.len() <= i {
            out.resize_with(i + 1, Bucket::default);
        }
        let per = CountsJson {
            scheduled: 0,
            success: b.success,
            timeout: b.timeout,
            dropped: b.dropped,
            cancelled: b.cancelled,
            call_error: b.call_error,
            response_error: b.response_error,
            callee_error: b.callee_error,
            fatal: b.fatal,
        };
        let add = Bucket {
            scheduled: b.scheduled,
            sent: b.sent,
            outcomes: per.outcomes(),
            latency: hist_field(&field("latency_us"), &b.latency_us)?,
        };
        out[i] += &add;
    }
    Ok(out)
}
