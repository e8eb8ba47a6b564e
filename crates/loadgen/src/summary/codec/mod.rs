//! The JSON form of a [`Summary`]: the contract that scripts, `merge` and `report` read
//! (documented field by field in `docs/summary.md`).
//!
//! Writing adds every derived figure (rates, percentiles, verdicts, reasons) for readers
//! that do not want to recompute them; reading takes back only what the model holds and
//! recomputes the rest. A file is data from a stranger: every count, time, length and
//! histogram header is checked before anything is allocated from it, and a summary whose
//! counts break the accounting invariant is refused.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
mod document;

pub use document::*;

use super::{
    GeneratorFacts, LoadFacts, Percentiles, RunFacts, RunInfo, ShardId, Summary, Unit, Verdict,
    round3,
};
use crate::caller::Target;
use crate::outcome::Outcome;
use crate::record::hist::{self, CompactHist, Hist, HistError};
use crate::record::{
    Aggregate, Bucket, Counts, JourneyAgg, StepAgg, StepInfo, StepKind, TargetAgg,
};
use crate::schedule::ArrivalKind;

/// The schema written.
pub const SCHEMA: &str = "loadgen.summary/v4";
/// The schema before latency over every answered load (its latency is the successes'),
/// still read.
pub const SCHEMA_V3: &str = "loadgen.summary/v3";
/// The schema before journeys (no `per_step`), still read.
pub const SCHEMA_V2: &str = "loadgen.summary/v2";
/// The first schema (one-second buckets, whole-second `t_s`), still read.
pub const SCHEMA_V1: &str = "loadgen.summary/v1";

/// The most timeline buckets a file may bring (a run keeps about 1,200).
pub const MAX_FILE_BUCKETS: usize = 100_000;
/// The most targets a file may bring.
pub const MAX_FILE_TARGETS: usize = 10_000;
/// The most error groups a file may bring.
pub const MAX_FILE_ERRORS: usize = 10_000;
/// The most journey steps a file may bring.
pub const MAX_FILE_STEPS: usize = 10_000;
/// The longest duration or window a file may state: ten years, in seconds.
const MAX_FILE_SECONDS: f64 = 10.0 * 366.0 * 86_400.0;

/// Why a JSON summary was refused.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Not JSON, or not the shape of a summary.
    #[error("not a loadgen summary: {0}")]
    Json(#[from] serde_json::Error),
    /// Another schema.
    #[error("schema {0:?} is not {SCHEMA:?} (or {SCHEMA_V3:?}, {SCHEMA_V2:?}, {SCHEMA_V1:?})")]
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

fn b64(h: &CompactHist) -> String {
    STANDARD.encode(h.bytes())
}

fn b64_hist(h: &Hist) -> String {
    STANDARD.encode(hist::to_bytes(h))
}

/// The document of `s`.
pub fn to_document(s: &Summary) -> SummaryJson {
    let (run, facts, agg) = (&s.run, &s.facts, &s.agg);
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
        saturation: saturation_json(s),
        latency_ms: s.latency().into(),
        latency_ok_ms: s.latency_ok().into(),
        service_time_ms: s.service_time().into(),
        lag_ms: s.lag().into(),
        connect_ms: s.connect().map(|(p, _)| p.into()),
        generator_bound: s.generator_bound(),
        generator_cpu_s: round3(facts.generator.cpu.as_secs_f64()),
        generator: generator_json(s),
        errors: errors_json(s),
        warnings: s.warnings.clone(),
        thresholds: s.thresholds.iter().map(verdict_json).collect(),
        per_target: targets_json(s),
        per_step: steps_json(s),
        journeys: agg.journeys.as_ref().map(|j| JourneysJson {
            active_ms: Percentiles::of(&j.active).into(),
            active_us: b64(&CompactHist::of(&j.active)),
        }),
        timeline_bucket_s: run.bucket.as_secs_f64(),
        timeline: agg
            .timeline
            .iter()
            .enumerate()
            .map(|(i, b)| bucket_json(i, run.bucket.as_secs_f64(), b))
            .collect(),
        histograms: HistogramsJson {
            latency_us: b64_hist(&agg.latency),
            latency_ok_us: b64_hist(&agg.latency_ok),
            service_time_us: b64_hist(&agg.service),
            lag_us: b64_hist(&agg.lag),
            connect_us: agg
                .connects
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(b64_hist)
                .unwrap_or_default(),
        },
    }
}

fn saturation_json(s: &Summary) -> SaturationJson {
    let l = &s.facts.load;
    let reasons = s.saturation_reasons();
    SaturationJson {
        target: !reasons.is_empty(),
        max_in_flight: l.max_in_flight,
        peak_in_flight: l.peak_in_flight,
        capacity_bound: l.capacity_bound,
        saturated_s: round3(l.saturated.as_secs_f64()),
        reasons,
    }
}

fn generator_json(s: &Summary) -> GeneratorJson {
    let g = &s.facts.generator;
    GeneratorJson {
        threads: g.threads,
        max_thread_busy: round3(g.max_busy),
        wake_late_p99_ms: g.wake_late_p99.as_secs_f64() * 1000.0,
        precise_timer: g.precise_timer,
        quantum_ms: g.quantum.as_secs_f64() * 1000.0,
        quantum_auto: g.quantum_auto,
        stall_max_ms: g.stall_max.as_secs_f64() * 1000.0,
        reasons: s.generator_reasons(),
    }
}

fn errors_json(s: &Summary) -> Vec<ErrorJson> {
    s.agg
        .errors
        .sorted()
        .into_iter()
        .map(|(o, m, n)| ErrorJson {
            outcome: o.name().into(),
            code: o.code(),
            message: m.into_owned(),
            count: n,
        })
        .collect()
}

/// The JSON form of a verdict.
pub fn verdict_json(v: &Verdict) -> VerdictJson {
    VerdictJson {
        threshold: v.threshold.clone(),
        actual: v.actual,
        unit: v.unit.name().into(),
        ok: v.ok,
    }
}

fn targets_json(s: &Summary) -> Vec<TargetJson> {
    s.run
        .targets
        .iter()
        .zip(&s.agg.targets)
        .map(|(t, a)| TargetJson {
            target: t.name.clone(),
            weight: t.weight,
            counts: CountsJson::of(a.counts.scheduled, &a.counts.outcomes),
            latency_ms: Percentiles::of_compact(&a.latency).into(),
            latency_ok_ms: Percentiles::of_compact(&a.latency_ok).into(),
            latency_us: b64(&a.latency),
            latency_ok_us: b64(&a.latency_ok),
        })
        .collect()
}

fn steps_json(s: &Summary) -> Vec<StepJson> {
    let Some(j) = &s.agg.journeys else {
        return Vec::new();
    };
    s.run
        .steps
        .iter()
        .zip(&j.steps)
        .map(|(info, a)| StepJson {
            scenario: info.scenario.clone(),
            step: info.name.clone(),
            kind: info.kind.name().into(),
            counts: CountsJson::of(a.runs(), &a.outcomes),
            response_ms: Percentiles::of(&a.response).into(),
            service_ms: Percentiles::of(&a.service).into(),
            checks: a.checks,
            checks_failed: a.checks_failed,
            failed: a.failed.iter().cloned().collect(),
            response_us: b64(&CompactHist::of(&a.response)),
            service_us: b64(&CompactHist::of(&a.service)),
        })
        .collect()
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

/// One line of `--live`: a second of a running run, with the fields of a timeline bucket
/// (`t_s` its start, seconds from t0), and for journeys `steps`: per step (named by
/// `steps`), its runs by outcome and response-time p50 and p99 in that second.
pub fn live_line(second: &crate::record::live::Second, steps: &[StepInfo]) -> String {
    let start = second.at.saturating_sub(second.span).as_secs_f64();
    let mut b = bucket_json(0, 0.0, &second.bucket);
    b.t_s = round3(start);
    let line = LiveLineJson {
        bucket: b,
        steps: steps
            .iter()
            .zip(&second.steps)
            .map(|(info, (runs, p))| LiveStepJson {
                scenario: info.scenario.clone(),
                step: info.name.clone(),
                counts: CountsJson::of(runs.total(), runs),
                p50_ms: p[0] as f64 / 1000.0,
                p99_ms: p[1] as f64 / 1000.0,
            })
            .collect(),
    };
    serde_json::to_string(&line).expect("a live line always serializes")
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
    if ![SCHEMA, SCHEMA_V3, SCHEMA_V2, SCHEMA_V1].contains(&d.schema.as_str()) {
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
        steps: d
            .per_step
            .iter()
            .enumerate()
            .map(|(i, st)| {
                Ok(StepInfo {
                    scenario: st.scenario.clone(),
                    name: st.step.clone(),
                    kind: StepKind::from_name(&st.kind).ok_or_else(|| {
                        bad(format!("per_step[{i}].kind"), format!("{:?}", st.kind))
                    })?,
                })
            })
            .collect::<Result<_, CodecError>>()?,
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
        elapsed: super::whole_micros(seconds("elapsed_s", d.elapsed_s)?),
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
            quantum: seconds("generator.quantum_ms", d.generator.quantum_ms / 1000.0)?,
            quantum_auto: d.generator.quantum_auto,
            stall_max: seconds("generator.stall_max_ms", d.generator.stall_max_ms / 1000.0)?,
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
    // before v4 the latency was the successes': the answered row is all there is of it
    let v4 = d.schema == SCHEMA;
    agg.latency_ok = if v4 {
        full_hist("histograms.latency_ok_us", &d.histograms.latency_ok_us)?
    } else {
        agg.latency.clone()
    };
    agg.service = full_hist("histograms.service_time_us", &d.histograms.service_time_us)?;
    agg.lag = full_hist("histograms.lag_us", &d.histograms.lag_us)?;
    if !d.histograms.connect_us.is_empty() {
        agg.connects = Some(full_hist(
            "histograms.connect_us",
            &d.histograms.connect_us,
        )?);
    }
    for (i, t) in d.per_target.iter().enumerate() {
        let compact = |f: &str, b64: &str| {
            if b64.is_empty() {
                Ok(CompactHist::default())
            } else {
                hist_field(&format!("per_target[{i}].{f}"), b64)
            }
        };
        let latency = compact("latency_us", &t.latency_us)?;
        agg.targets[i] = TargetAgg {
            counts: counts(&format!("per_target[{i}].counts"), &t.counts)?,
            latency_ok: if v4 {
                compact("latency_ok_us", &t.latency_ok_us)?
            } else {
                latency.clone()
            },
            latency,
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
    agg.journeys = journeys(d)?;
    Ok(agg)
}

fn journeys(d: &SummaryJson) -> Result<Option<JourneyAgg>, CodecError> {
    if d.per_step.is_empty() && d.journeys.is_none() {
        return Ok(None);
    }
    if d.per_step.len() > MAX_FILE_STEPS {
        return Err(bad("per_step", format!("{} steps", d.per_step.len())));
    }
    let mut j = JourneyAgg::new(0);
    if let Some(js) = &d.journeys
        && !js.active_us.is_empty()
    {
        j.active = decoded("journeys.active_us", &js.active_us)?;
    }
    for (i, st) in d.per_step.iter().enumerate() {
        let field = |f: &str| format!("per_step[{i}].{f}");
        let c = counts(&field("counts"), &st.counts)?;
        if st.checks_failed > st.checks {
            return Err(bad(field("checks_failed"), "more than the checks"));
        }
        if st.failed.len() > crate::record::journeys::MAX_FAILED_NAMES + 1 {
            return Err(bad(field("failed"), format!("{} names", st.failed.len())));
        }
        let mut a = StepAgg {
            outcomes: c.outcomes,
            checks: st.checks,
            checks_failed: st.checks_failed,
            failed: st.failed.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            ..StepAgg::default()
        };
        if !st.response_us.is_empty() {
            a.response = decoded(&field("response_us"), &st.response_us)?;
        }
        if !st.service_us.is_empty() {
            a.service = decoded(&field("service_us"), &st.service_us)?;
        }
        j.steps.push(a);
    }
    Ok(Some(j))
}

/// A histogram of a file, added into a 2-digit one (the precision steps keep).
fn decoded(field: &str, b64: &str) -> Result<Hist, CodecError> {
    let mut h = hist::new_interval_hist();
    if let Some(x) = hist_field(field, b64)?.decode() {
        hist::add(&mut h, &x);
    }
    Ok(h)
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
