//! What every report of a run shows, computed once from the [`Summary`]: the parameters
//! in words, the rates, the percentile rows, the top errors, the per-target rows, the
//! threshold verdicts with their units, and the warnings. The text and HTML reports
//! render this; neither computes anything of its own.

use super::{fmt_ms, fmt_num, trim_num};
use crate::outcome::Outcome;
use crate::record::Counts;
use crate::schedule::ArrivalKind;
use crate::summary::{Percentiles, Summary, Unit, Verdict};

/// One group of identical error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRow {
    /// The outcome class.
    pub outcome: Outcome,
    /// The message.
    pub message: String,
    /// How many loads.
    pub count: u64,
}

/// One target's row.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRow {
    /// The target as given.
    pub name: String,
    /// Its weight.
    pub weight: u32,
    /// Its loads.
    pub counts: Counts,
    /// Its latency.
    pub latency: Percentiles,
}

/// One step (or group) of the journeys.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    /// Its scenario.
    pub scenario: String,
    /// Its name.
    pub name: String,
    /// `request` or `group`.
    pub kind: &'static str,
    /// Runs per outcome.
    pub outcomes: crate::record::PerOutcome,
    /// Response time from ready, answered runs.
    pub response: Percentiles,
    /// Service time from the send, answered runs.
    pub service: Percentiles,
    /// Checks evaluated and failed.
    pub checks: (u64, u64),
    /// Failed checks and captures by name.
    pub failed: Vec<(String, u64)>,
}

/// A titled list of things to say about the run (saturation, generator, warnings).
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// What it is about.
    pub title: String,
    /// The points.
    pub items: Vec<String>,
}

/// A threshold's verdict, its value in its unit.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictRow {
    /// The expression.
    pub threshold: String,
    /// The measured value with its unit.
    pub actual: String,
    /// Whether it held.
    pub ok: bool,
}

/// Everything a run's report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// `loadgen PROTOCOL → TARGETS`.
    pub title: String,
    /// Parameters in words, in order.
    pub params: Vec<(&'static str, String)>,
    /// Loads scheduled and per outcome.
    pub counts: Counts,
    /// Scheduled per second of the window.
    pub offered: f64,
    /// Completed per second.
    pub throughput: f64,
    /// Successes per second.
    pub tps: f64,
    /// The most successes in one second.
    pub peak_tps: f64,
    /// Latency (every answered load), latency of the successes when it differs, service
    /// time and send lag.
    pub percentiles: Vec<(&'static str, Percentiles)>,
    /// The footnote under the percentiles: which loads each row covers.
    pub populations: String,
    /// Error groups, most frequent first.
    pub errors: Vec<ErrorRow>,
    /// Per target (only when there are several).
    pub targets: Vec<TargetRow>,
    /// Per step of the journeys (empty for single calls).
    pub steps: Vec<StepRow>,
    /// Active time of completed journeys (without think time), when there are journeys.
    pub active: Option<Percentiles>,
    /// Threshold verdicts.
    pub thresholds: Vec<VerdictRow>,
    /// The generator's own figures.
    pub generator: Vec<(&'static str, String)>,
    /// Saturation, generator limits, missing shards, other warnings.
    pub notes: Vec<Note>,
}

/// The run mode in words: `1000 LPS constant`, `closed loop`, ...
pub fn mode(s: &Summary) -> String {
    let r = trim_num(s.run.rate);
    let unit = if s.run.steps.is_empty() {
        "LPS"
    } else {
        "journeys/s"
    };
    match s.run.arrival {
        ArrivalKind::Closed => "closed loop".into(),
        ArrivalKind::Stages => format!("stages up to {r} {unit}"),
        ArrivalKind::Poisson => format!("{r} {unit} Poisson"),
        ArrivalKind::Constant => format!("{r} {unit} constant"),
    }
}

/// A verdict's value with its unit.
pub fn actual(v: &Verdict) -> String {
    match v.unit {
        Unit::Ms => fmt_ms(v.actual),
        Unit::Percent => format!("{:.3}%", v.actual),
        Unit::PerSecond => format!("{}/s", fmt_num(v.actual)),
        Unit::Count => fmt_num(v.actual),
    }
}

impl View {
    /// The view of `s`.
    pub fn of(s: &Summary) -> View {
        View {
            title: format!(
                "loadgen {} \u{2192} {}",
                s.run.protocol,
                s.run
                    .targets
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            params: params(s),
            counts: *s.counts(),
            offered: s.offered_rate(),
            throughput: s.throughput(),
            tps: s.tps(),
            peak_tps: s.peak_tps(),
            percentiles: percentiles(s),
            populations: populations(s),
            errors: s
                .agg
                .errors
                .sorted()
                .into_iter()
                .map(|(outcome, m, count)| ErrorRow {
                    outcome,
                    message: m.into_owned(),
                    count,
                })
                .collect(),
            targets: targets(s),
            steps: steps(s),
            active: s.agg.journeys.as_ref().map(|j| Percentiles::of(&j.active)),
            thresholds: s
                .thresholds
                .iter()
                .map(|v| VerdictRow {
                    threshold: v.threshold.clone(),
                    actual: actual(v),
                    ok: v.ok,
                })
                .collect(),
            generator: generator(s),
            notes: notes(s),
        }
    }
}

/// The percentile rows: the successes' latency only when other answers were timed too.
fn percentiles(s: &Summary) -> Vec<(&'static str, Percentiles)> {
    let (all, ok) = (s.latency(), s.latency_ok());
    let mut rows = vec![("latency", all)];
    if ok.count != all.count {
        rows.push(("latency ok", ok));
    }
    rows.push(("service time", s.service_time()));
    rows.push(("send lag", s.lag()));
    if let Some((c, _)) = s.connect() {
        rows.push(("connect", c));
    }
    rows
}

/// Which loads the percentile rows cover, in words.
fn populations(s: &Summary) -> String {
    let (all, ok) = (s.latency().count, s.latency_ok().count);
    let answered = if all == ok {
        format!("the {all} answered loads (all successes)")
    } else {
        format!(
            "the {all} answered loads (success, response_error, callee_error); latency ok: the {ok} successes"
        )
    };
    let connect = match s.connect() {
        Some((_, n)) => format!(
            "; connect: the {n} connections opened (TCP, TLS, the protocol's handshake), apart from the loads"
        ),
        None => String::new(),
    };
    format!(
        "latency from the intended start, service time from the send, over {answered}; timeouts are counted, not timed{connect}"
    )
}

/// The calls that could run at once: the slots, or what the connections carry when that
/// is fewer (`-r 1000000` asks for a million slots; 50 connections carry 50 calls).
fn concurrency(s: &Summary) -> String {
    let (slots, l) = (s.run.concurrency, &s.facts.load);
    if l.capacity_bound && l.max_in_flight > 0 && l.max_in_flight < slots {
        format!("{} (the connections'; {slots} slots)", l.max_in_flight)
    } else {
        slots.to_string()
    }
}

/// How a sharded run's slots and connections read: figures of the whole run, of which
/// each shard took its share — summed in a merge, one share in a shard's own report.
fn shares(s: &Summary) -> String {
    let r = &s.run;
    match (r.shard.count, r.shards.len()) {
        (0 | 1, _) => String::new(),
        (n, 1) => format!(" (shard {} of {n}: its share of the run's)", r.shard.index),
        (n, k) if k as u64 == n => format!(" (the run's, over {n} shards)"),
        (n, k) => format!(" ({k} of {n} shards)"),
    }
}

fn params(s: &Summary) -> Vec<(&'static str, String)> {
    let r = &s.run;
    let mut p = vec![
        ("protocol", r.protocol.clone()),
        ("mode", mode(s)),
        (
            "duration",
            format!("{} s", trim_num(r.duration.as_secs_f64())),
        ),
        ("timeout", fmt_ms(r.timeout.as_secs_f64() * 1000.0)),
        ("concurrency", format!("{}{}", concurrency(s), shares(s))),
    ];
    if let Some(c) = r.connections {
        let per = if r.steps.is_empty() { "target" } else { "host" };
        p.push(("connections", format!("up to {c} per {per}{}", shares(s))));
    }
    for (k, v) in &r.details {
        if let Some(name) = DETAILS.iter().find(|d| **d == k.as_str()) {
            p.push((name, v.clone()));
        }
    }
    p.push(("threads", s.facts.generator.threads.to_string()));
    if r.shards.len() > 1 {
        let list: Vec<String> = r.shards.iter().map(u64::to_string).collect();
        p.push((
            "shards",
            format!("merged {} of {}", list.join(", "), r.shard.count),
        ));
    } else if r.shard.count > 1 {
        p.push(("shard", format!("{}/{}", r.shard.index, r.shard.count)));
    }
    p.push((
        "started",
        humantime::format_rfc3339_millis(r.started_at).to_string(),
    ));
    let stopped = if s.facts.interrupted {
        " (stopped early)"
    } else {
        ""
    };
    p.push((
        "elapsed",
        format!("{:.3} s{stopped}", s.facts.elapsed.as_secs_f64()),
    ));
    p
}

/// The protocol details a report names, in this order.
const DETAILS: [&str; 17] = [
    "client", "exchange", "match", "call", "kind", "messages", "method", "requests", "tls",
    "streams", "body", "follow", "data", "seed", "loads", "payload", "framing",
];

fn targets(s: &Summary) -> Vec<TargetRow> {
    if s.run.targets.len() < 2 {
        return Vec::new();
    }
    s.run
        .targets
        .iter()
        .zip(&s.agg.targets)
        .map(|(t, a)| TargetRow {
            name: t.name.clone(),
            weight: t.weight,
            counts: a.counts,
            latency: Percentiles::of_compact(&a.latency),
        })
        .collect()
}

fn steps(s: &Summary) -> Vec<StepRow> {
    let Some(j) = &s.agg.journeys else {
        return Vec::new();
    };
    s.run
        .steps
        .iter()
        .zip(&j.steps)
        .map(|(info, a)| StepRow {
            scenario: info.scenario.clone(),
            name: info.name.clone(),
            kind: info.kind.name(),
            outcomes: a.outcomes,
            response: Percentiles::of(&a.response),
            service: Percentiles::of(&a.service),
            checks: (a.checks, a.checks_failed),
            failed: a.failed.clone(),
        })
        .collect()
}

fn generator(s: &Summary) -> Vec<(&'static str, String)> {
    let g = &s.facts.generator;
    vec![
        ("threads", g.threads.to_string()),
        ("CPU", format!("{:.2} s", g.cpu.as_secs_f64())),
        ("busiest thread", format!("{:.0}%", g.max_busy * 100.0)),
        (
            "wake-up late p99",
            fmt_ms(g.wake_late_p99.as_secs_f64() * 1000.0),
        ),
        (
            "precise timer",
            if g.precise_timer { "yes" } else { "no" }.into(),
        ),
        (
            "pacing quantum",
            if g.quantum.is_zero() {
                "\u{2013}".into()
            } else {
                format!(
                    "{}{}",
                    fmt_ms(g.quantum.as_secs_f64() * 1000.0),
                    if g.quantum_auto { " (auto)" } else { "" }
                )
            },
        ),
    ]
}

fn notes(s: &Summary) -> Vec<Note> {
    let mut n = Vec::new();
    let sat = s.saturation_reasons();
    if !sat.is_empty() {
        n.push(Note {
            title: "SATURATED: the target, not the generator, limited this run".into(),
            items: sat,
        });
    }
    let gen_reasons = s.generator_reasons();
    if !gen_reasons.is_empty() {
        n.push(Note {
            title: "the generator, not the target, limited this run".into(),
            items: gen_reasons,
        });
    }
    let missing = s.missing_shards();
    if !missing.is_empty() && s.run.shard.count > 1 {
        let list: Vec<String> = missing.iter().map(u64::to_string).collect();
        n.push(Note {
            title: format!(
                "shards missing: this summary covers {} of {} shards",
                s.run.shards.len(),
                s.run.shard.count
            ),
            items: vec![format!("missing: {}", list.join(", "))],
        });
    }
    n.extend(s.warnings.iter().map(|w| Note {
        title: w.clone(),
        items: Vec::new(),
    }));
    n
}
