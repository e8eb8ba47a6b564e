//! Pass/fail criteria on a summary, for CI: `p99<50ms`, `p99.9<200ms`, `success>99.9%`,
//! `errors<0.1%`, `tps>900`, `timeout<=0.5%`, `dropped==0`. Parsed before the run (a bad
//! expression is a setup error); evaluated on the summary after it.
//!
//! A criterion may name what it is about before its metric: `journey p(99)<2s` (the run),
//! `step:login p(95)<200ms` and `group:checkout p99<1s` (the rows of journeys of that
//! name), `scenario:shop success>99%` (one scenario's journeys). k6's metric names map
//! where they mean the same: `http_req_duration p(95)<200` (every request step),
//! `http_req_failed rate<0.01`, `iteration_duration p(99)<2s`, `checks rate>0.99`,
//! `iterations>100`, `dropped_iterations==0`. A latency without a unit is milliseconds,
//! as in k6.

use std::fmt;

use crate::error::ConfigError;
use crate::outcome::Outcome;
use crate::record::hist::{self, Hist};
use crate::record::{Counts, StepInfo, StepKind};
use crate::summary::{Summary, Unit, Verdict};

/// What a criterion is about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// The run (its loads or journeys).
    Run,
    /// The request steps of this name.
    Step(String),
    /// The groups of this name.
    Group(String),
    /// The journeys of one scenario (one target's row).
    Scenario(String),
    /// Every request step (k6's `http_req_*`).
    Requests,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// A latency quantile in 0..=1 (1 = max), ms.
    Quantile(f64),
    /// Mean latency, ms.
    Mean,
    /// Successes / scheduled, %.
    Success,
    /// Everything but successes / scheduled, %.
    Errors,
    /// Loads of one outcome: a count, or % with a `%` value.
    Count(Outcome),
    /// Successes per second.
    Tps,
    /// Completed loads per second.
    Throughput,
    /// Scheduled loads per second.
    Offered,
    /// Checks that passed, % of those evaluated.
    Checks,
    /// Loads that completed (any outcome but dropped).
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

/// One criterion, e.g. `p99<50ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    text: String,
    scope: Scope,
    metric: Metric,
    cmp: Cmp,
    value: f64,
    percent: bool,
    /// Latency of the successes only (`p99{ok}<5ms`, k6's `{expected_response:true}`),
    /// not of every answered load.
    ok: bool,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn bad(text: &str, why: &'static str) -> ConfigError {
    ConfigError::Threshold {
        text: text.trim().into(),
        why,
    }
}

/// Evaluates `thresholds` on `s`, records the verdicts in it, and returns true if all
/// held. When latency gates held while more than 1 % of the loads failed and no gate
/// covers errors, a warning says so: a latency gate alone passes a failing service.
/// (Here, not on [`Summary`]: the result model knows no report.)
pub fn apply(s: &mut Summary, thresholds: &[Threshold]) -> bool {
    s.thresholds = thresholds.iter().map(|t| t.check(s)).collect();
    let held = s.thresholds_held();
    if let Some(w) = unguarded_errors(s, thresholds)
        && held
    {
        s.warnings.push(w);
    }
    held
}

/// The warning for latency gates that pass a run with more than 1 % errors and no gate on
/// errors.
fn unguarded_errors(s: &Summary, thresholds: &[Threshold]) -> Option<String> {
    let c = s.counts();
    let failed = c.scheduled - c.get(Outcome::Success);
    let share = failed as f64 * 100.0 / c.scheduled.max(1) as f64;
    let latency = thresholds.iter().any(|t| t.is_latency());
    let guarded = thresholds.iter().any(|t| t.covers_errors());
    (latency && !guarded && share > 1.0).then(|| {
        format!(
            "latency thresholds held, but {share:.1}% of the loads failed and no threshold covers errors (add e.g. --threshold 'errors<1%')"
        )
    })
}

impl Threshold {
    /// Parses one expression. Percentiles are `p99`, `p99.9` or k6's `p(95)`.
    pub fn parse(text: &str) -> Result<Threshold, ConfigError> {
        let ops = [
            ("<=", Cmp::Le),
            (">=", Cmp::Ge),
            ("==", Cmp::Eq),
            ("<", Cmp::Lt),
            (">", Cmp::Gt),
        ];
        // a quoted name (step:"a > b") may hold what looks like a comparison
        let skip = quoted_scope_end(text);
        let (pos, len, cmp) = ops
            .iter()
            .filter_map(|(s, c)| text[skip..].find(s).map(|p| (skip + p, s.len(), *c)))
            .min_by_key(|x| (x.0, std::cmp::Reverse(x.1)))
            .ok_or_else(|| bad(text, "no comparison (<, <=, >, >=, ==)"))?;
        let (left, ok) = selector(text, text[..pos].trim())?;
        let left = left.as_str();
        let value: String = text[pos + len..]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        // the metric is the last word of the left side; what comes before it, the scope
        let (scope_text, name) = match left.rfind(char::is_whitespace) {
            Some(i) => (left[..i].trim(), left[i..].trim()),
            None => ("", left),
        };
        let rate = name.eq_ignore_ascii_case("rate");
        let (scope, name) = scope(text, scope_text.trim_end_matches(':'), name)?;
        let metric = metric(text, &name.to_ascii_lowercase())?;
        let (number, unit) = value.split_at(
            value
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(value.len()),
        );
        let mut v: f64 = number
            .parse()
            .map_err(|_| bad(text, "no number after the comparison"))?;
        let latency = matches!(metric, Metric::Quantile(_) | Metric::Mean);
        let mut percent = unit == "%";
        match (latency, unit) {
            // k6: a latency without a unit is milliseconds
            (true, "ms" | "") => {}
            (true, "us" | "µs") => v /= 1000.0,
            (true, "s") => v *= 1000.0,
            (true, _) => return Err(bad(text, "a latency's unit is us, ms or s")),
            // k6: a rate is a fraction
            (false, "") if rate => {
                if !(0.0..=1.0).contains(&v) {
                    return Err(bad(text, "a rate is a fraction between 0 and 1"));
                }
                v *= 100.0;
                percent = true;
            }
            (false, "%")
                if matches!(
                    metric,
                    Metric::Success | Metric::Errors | Metric::Count(_) | Metric::Checks
                ) => {}
            (false, "") if !matches!(metric, Metric::Success | Metric::Errors | Metric::Checks) => {
            }
            (false, "") => return Err(bad(text, "a share needs %")),
            (false, _) => return Err(bad(text, "unexpected unit")),
        }
        if ok && !latency {
            return Err(bad(
                text,
                "{ok} selects the successes' latency: p(99){ok}<5ms",
            ));
        }
        if ok && matches!(scope, Scope::Step(_) | Scope::Group(_)) {
            return Err(bad(
                text,
                "a step's or group's latency counts its answered runs: {ok} is for the run and scenarios",
            ));
        }
        let per_second = matches!(metric, Metric::Tps | Metric::Throughput | Metric::Offered);
        if per_second && scope != Scope::Run {
            return Err(bad(
                text,
                "a rate per second is the run's: no step, group or scenario",
            ));
        }
        Ok(Threshold {
            text: text.trim().to_string(),
            scope,
            metric,
            cmp,
            value: v,
            percent,
            ok,
        })
    }

    /// True for a latency criterion (a percentile, min, max or mean).
    pub fn is_latency(&self) -> bool {
        matches!(self.metric, Metric::Quantile(_) | Metric::Mean)
    }

    /// True for a criterion on the share of successes or errors (`errors<1%`,
    /// `success>99%`, k6's `http_req_failed`).
    pub fn covers_errors(&self) -> bool {
        matches!(self.metric, Metric::Success | Metric::Errors)
    }

    /// True when it is about every request step (k6's `http_req_*` names).
    pub fn per_request(&self) -> bool {
        self.scope == Scope::Requests
    }

    /// True when it reads the successes' latency only (`{ok}`).
    pub fn successes_only(&self) -> bool {
        self.ok
    }

    /// The step, group or scenario name it is about, if any (`step:login`: `login`).
    pub fn names(&self) -> Option<(&'static str, &str)> {
        match &self.scope {
            Scope::Step(n) => Some(("step", n)),
            Scope::Group(n) => Some(("group", n)),
            Scope::Scenario(n) => Some(("scenario", n)),
            Scope::Run | Scope::Requests => None,
        }
    }

    /// The unit of the measured value.
    pub fn unit(&self) -> Unit {
        match self.metric {
            Metric::Quantile(_) | Metric::Mean => Unit::Ms,
            Metric::Success | Metric::Errors | Metric::Checks => Unit::Percent,
            Metric::Count(_) | Metric::Completed if self.percent => Unit::Percent,
            Metric::Count(_) | Metric::Completed => Unit::Count,
            Metric::Tps | Metric::Throughput | Metric::Offered => Unit::PerSecond,
        }
    }

    /// What the scope measured on `s`: counts, a latency histogram, checks run and failed
    /// (`None` when no row has the scope's name).
    fn measured(&self, s: &Summary) -> Option<(Counts, Hist, (u64, u64))> {
        let rows = |want: &dyn Fn(&StepInfo) -> bool| {
            let j = s.agg.journeys.as_ref()?;
            let mut c = Counts::default();
            let mut h = hist::new_interval_hist();
            let mut checks = (0, 0);
            let mut any = false;
            for (info, a) in s.run.steps.iter().zip(&j.steps) {
                if want(info) {
                    any = true;
                    c.scheduled += a.runs();
                    c.outcomes += &a.outcomes;
                    hist::add(&mut h, &a.response);
                    checks.0 += a.checks;
                    checks.1 += a.checks_failed;
                }
            }
            any.then_some((c, h, checks))
        };
        match &self.scope {
            Scope::Run => {
                let checks = s.agg.journeys.as_ref().map_or((0, 0), |j| {
                    j.steps
                        .iter()
                        .fold((0, 0), |a, st| (a.0 + st.checks, a.1 + st.checks_failed))
                });
                let h = if self.ok {
                    &s.agg.latency_ok
                } else {
                    &s.agg.latency
                };
                Some((*s.counts(), h.clone(), checks))
            }
            // a run of single requests: every request is the run's
            Scope::Requests if s.agg.journeys.is_none() => Threshold {
                scope: Scope::Run,
                ..self.clone()
            }
            .measured(s),
            Scope::Requests if self.ok => None,
            Scope::Step(n) => rows(&|i| i.kind == StepKind::Request && i.name == *n),
            Scope::Group(n) => rows(&|i| i.kind == StepKind::Group && i.name == *n),
            Scope::Requests => rows(&|i| i.kind == StepKind::Request),
            Scope::Scenario(n) => {
                let i = s.run.targets.iter().position(|t| t.name == *n)?;
                let t = &s.agg.targets[i];
                let h = if self.ok { &t.latency_ok } else { &t.latency };
                let h = h.decode().unwrap_or_else(hist::new_interval_hist);
                Some((t.counts, h, (0, 0)))
            }
        }
    }

    /// The measured value on `s`, in [`Threshold::unit`] (NaN when the step, group or
    /// scenario it names is not in `s`).
    pub fn actual(&self, s: &Summary) -> f64 {
        let Some((c, h, checks)) = self.measured(s) else {
            return f64::NAN;
        };
        let n = c.scheduled.max(1) as f64;
        let pct = |x: u64| x as f64 * 100.0 / n;
        match self.metric {
            Metric::Quantile(q) => {
                if h.is_empty() {
                    return f64::INFINITY; // no latency at all: none can meet a bound
                }
                let v = if q >= 1.0 {
                    h.max()
                } else if q <= 0.0 {
                    h.min()
                } else {
                    h.value_at_quantile(q)
                };
                v as f64 / 1000.0
            }
            Metric::Mean if h.is_empty() => f64::INFINITY,
            Metric::Mean => (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
            Metric::Success => pct(c.get(Outcome::Success)),
            Metric::Errors => pct(c.scheduled - c.get(Outcome::Success)),
            Metric::Count(o) if self.percent => pct(c.get(o)),
            Metric::Count(o) => c.get(o) as f64,
            Metric::Completed if self.percent => pct(c.completed()),
            Metric::Completed => c.completed() as f64,
            Metric::Checks if checks.0 == 0 => f64::NAN,
            Metric::Checks => (checks.0 - checks.1) as f64 * 100.0 / checks.0 as f64,
            Metric::Tps => s.tps(),
            Metric::Throughput => s.throughput(),
            Metric::Offered => s.offered_rate(),
        }
    }

    /// Evaluates on `s`.
    pub fn check(&self, s: &Summary) -> Verdict {
        let a = self.actual(s);
        // NaN (nothing measured) holds no comparison
        let ok = match self.cmp {
            Cmp::Lt => a < self.value,
            Cmp::Le => a <= self.value,
            Cmp::Gt => a > self.value,
            Cmp::Ge => a >= self.value,
            Cmp::Eq => (a - self.value).abs() < 1e-9,
        };
        Verdict {
            threshold: self.text.clone(),
            actual: (a * 1000.0).round() / 1000.0,
            unit: self.unit(),
            ok,
        }
    }
}

/// The left side of `text` without its selector, and whether it selected the successes:
/// `{ok}` after the metric or scope, or k6's `{expected_response:true}`.
fn selector(text: &str, left: &str) -> Result<(String, bool), ConfigError> {
    let Some(open) = left.rfind('{') else {
        return Ok((left.to_string(), false));
    };
    let close = left[open..]
        .find('}')
        .map(|c| open + c)
        .ok_or_else(|| bad(text, "a selector ends with }"))?;
    let inner: String = left[open + 1..close]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if !matches!(inner.as_str(), "ok" | "expected_response:true") {
        return Err(bad(
            text,
            "unknown selector: {ok} (or k6's {expected_response:true}) selects the successes",
        ));
    }
    let rest = format!("{}{}", &left[..open], &left[close + 1..]);
    if rest.contains(['{', '}']) {
        return Err(bad(text, "one selector at most"));
    }
    Ok((rest.trim().to_string(), true))
}

/// Where a quoted scope name (`step:"a > b"`) ends in `text`, or 0.
fn quoted_scope_end(text: &str) -> usize {
    let t = text.trim_start();
    let lead = text.len() - t.len();
    for prefix in ["step:", "group:", "scenario:"] {
        // the prefix is ASCII: a byte offset past it is a character boundary when it matches
        if t.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
            && let Some(q @ ('"' | '\'')) = t[prefix.len()..].chars().next()
            && let Some(end) = t[prefix.len() + 1..].find(q)
        {
            return lead + prefix.len() + 1 + end + 1;
        }
    }
    0
}

/// The scope written before the metric (`step:login`, `journey`, a k6 metric name), and the
/// metric's name (a k6 name alone stands for its metric).
fn scope<'a>(text: &str, scope: &str, name: &'a str) -> Result<(Scope, &'a str), ConfigError> {
    let lower = scope.to_ascii_lowercase();
    let named = |prefix: &str| {
        scope
            .get(prefix.len()..)
            .filter(|_| lower.starts_with(prefix))
            .map(|n| n.trim().trim_matches(['"', '\'']).to_string())
    };
    if let Some(n) = named("step:") {
        return Ok((Scope::Step(n), name));
    }
    if let Some(n) = named("group:") {
        return Ok((Scope::Group(n), name));
    }
    if let Some(n) = named("scenario:") {
        return Ok((Scope::Scenario(n), name));
    }
    Ok(match (lower.as_str(), name.to_ascii_lowercase().as_str()) {
        ("" | "http_req_failed", "http_req_failed") | ("http_req_failed", "rate") => {
            (Scope::Requests, "errors")
        }
        ("" | "journey" | "journeys" | "iteration_duration", _) => (Scope::Run, name),
        ("http_req_duration", _) => (Scope::Requests, name),
        ("checks", "rate") => (Scope::Run, "checks"),
        _ => {
            return Err(bad(
                text,
                "unknown scope (journey, step:NAME, group:NAME, scenario:NAME, or k6's http_req_duration, http_req_failed, iteration_duration, checks)",
            ));
        }
    })
}

/// The metric named `name` (lowercase) of expression `text`.
fn metric(text: &str, name: &str) -> Result<Metric, ConfigError> {
    Ok(match name {
        "max" => Metric::Quantile(1.0),
        "min" => Metric::Quantile(0.0),
        "med" | "median" => Metric::Quantile(0.5),
        "mean" | "avg" => Metric::Mean,
        "checks" => Metric::Checks,
        "iterations" => Metric::Completed,
        "dropped_iterations" => Metric::Count(Outcome::Dropped),
        "http_req_failed" => Metric::Errors,
        "rate" => {
            return Err(bad(
                text,
                "'rate' is k6's: here it is offered, throughput or tps (loads per second), or errors / success (%)",
            ));
        }
        "success" => Metric::Success,
        "errors" | "error" => Metric::Errors,
        "tps" => Metric::Tps,
        "throughput" => Metric::Throughput,
        "offered" => Metric::Offered,
        p if p.starts_with('p') => {
            // p99, p99.9, or k6's p(95)
            let digits = p[1..]
                .strip_prefix('(')
                .and_then(|x| x.strip_suffix(')'))
                .unwrap_or(&p[1..]);
            let q: f64 = digits
                .parse()
                .map_err(|_| bad(text, "unknown percentile"))?;
            if !(0.0..=100.0).contains(&q) || digits.is_empty() {
                return Err(bad(text, "a percentile is p0..p100"));
            }
            // on a 1e-12 grid, so p99.9 is the same f64 as 0.999
            Metric::Quantile((q / 100.0 * 1e12).round() / 1e12)
        }
        other => {
            Metric::Count(Outcome::from_name(other).ok_or_else(|| bad(text, "unknown metric"))?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Recorder;
    use std::time::{Duration, Instant};

    /// 1000 loads over 1 s: 990 successes with latencies 1..=990 µs ×10 (10 µs .. 9.9 ms),
    /// 6 timeouts, 4 dropped.
    fn summary() -> Summary {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, Duration::from_millis(100), 1);
        for i in 0..1000u64 {
            let at = t0 + Duration::from_millis(i);
            r.scheduled(0, at);
            match i {
                0..990 => {
                    r.sent(at, Duration::ZERO);
                    let lat = Duration::from_micros((i + 1) * 10);
                    r.success(0, at + lat, lat, lat);
                }
                990..996 => r.failure(0, at, Outcome::Timeout, "t".into()),
                _ => r.failure(0, at, Outcome::Dropped, "d".into()),
            }
        }
        crate::summary::sample(r.finish(), Duration::from_secs(1))
    }

    #[test]
    fn every_form_held_and_violated() {
        let s = summary();
        // (held, violated) pairs around the known values
        let cases = [
            ("p50<5ms", "p50<4ms"),
            ("p99<10ms", "p99<9ms"),
            ("p99.9<=9.91ms", "p99.9<9.8ms"),
            ("max<=9.91ms", "max<9ms"),
            ("min>=10us", "min>10us"),
            ("mean<5ms", "mean<4ms"),
            ("success>=99%", "success>99.9%"),
            ("errors<=1%", "errors<0.5%"),
            ("timeout==6", "timeout==0"),
            ("dropped<0.5%", "dropped<0.3%"),
            ("tps>=990", "tps>1000"),
            ("throughput>=996", "throughput>997"),
            ("offered==1000", "offered<1000"),
            ("med<5ms", "med<4ms"),
            ("dropped_iterations==4", "dropped_iterations==0"),
        ];
        for (held, violated) in cases {
            let h = Threshold::parse(held).unwrap().check(&s);
            assert!(h.ok, "{held}: {h:?}");
            let v = Threshold::parse(violated).unwrap().check(&s);
            assert!(!v.ok, "{violated}: {v:?}");
        }
        let mut s2 = s.clone();
        assert!(!apply(
            &mut s2,
            &[
                Threshold::parse("p99<10ms").unwrap(),
                Threshold::parse("tps>1000").unwrap()
            ]
        ));
        assert_eq!(s2.thresholds.len(), 2);
        assert!(s2.thresholds[0].ok && !s2.thresholds[1].ok);
    }

    #[test]
    fn parses_every_form_and_refuses_nonsense() {
        for ok in [
            "p99<50ms",
            "p99.9 < 200ms",
            "p50<=250us",
            "max<2s",
            "mean<10ms",
            "success>99.9%",
            "errors<0.1%",
            "tps>900",
            "throughput>=100",
            "offered>10",
            "dropped==0",
            "timeout<1%",
            "call_error<5",
            "p(95)<200ms",
            "p(99.9) < 1s",
            "p(95)<200",
            "med<10ms",
            "journey p(99)<2s",
            "step:login p(95)<200ms",
            "step:add to cart p99<1s",
            "group:checkout max<3s",
            "scenario:shop success>99%",
            "http_req_duration p(95)<200",
            "http_req_duration: p(95)<200",
            "http_req_failed rate<0.01",
            "http_req_failed<1%",
            "iteration_duration p(99)<2s",
            "checks>99%",
            "checks rate>0.99",
            "iterations>100",
            "dropped_iterations==0",
        ] {
            assert!(Threshold::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "p99",
            "p99<fast",
            "rate<0.01",
            "step:x tps>1",
            "nonsense p99<1ms",
            "http_req_failed rate<5",
            "p101<1ms",
            "pX<1ms",
            "success>99.9",
            "tps>9%",
            "latency<1ms",
            "p99<1h",
            "p()<1ms",
            "p(95<1ms",
        ] {
            assert!(Threshold::parse(bad).is_err(), "{bad}");
        }
        let t = Threshold::parse("p99.9<200ms").unwrap();
        assert_eq!(
            (t.metric, t.cmp, t.value),
            (Metric::Quantile(0.999), Cmp::Lt, 200.0)
        );
        let t = Threshold::parse("p50<=250us").unwrap();
        assert_eq!((t.cmp, t.value), (Cmp::Le, 0.25));
        let t = Threshold::parse("p(95)<200ms").unwrap();
        assert_eq!(
            (t.metric, t.value, t.unit()),
            (Metric::Quantile(0.95), 200.0, Unit::Ms)
        );
        // k6: a bare latency is ms, a rate a fraction
        let t = Threshold::parse("p(95)<200").unwrap();
        assert_eq!((t.metric, t.value), (Metric::Quantile(0.95), 200.0));
        let t = Threshold::parse("http_req_failed rate<0.01").unwrap();
        assert_eq!(
            (&t.scope, t.metric, t.value, t.unit()),
            (&Scope::Requests, Metric::Errors, 1.0, Unit::Percent)
        );
        let t = Threshold::parse("step:add to cart p99<1s").unwrap();
        assert_eq!(t.scope, Scope::Step("add to cart".into()));
        assert_eq!(t.names(), Some(("step", "add to cart")));
        let t = Threshold::parse("group:\"cart > pay\" p95<1s").unwrap();
        assert_eq!(
            (&t.scope, t.cmp),
            (&Scope::Group("cart > pay".into()), Cmp::Lt)
        );
        let e = Threshold::parse("rate<0.01").unwrap_err().to_string();
        assert!(e.contains("offered, throughput or tps"), "{e}");
    }

    /// A run of journeys: 10 journeys, steps login (10 runs, 1 ms .. 10 ms, 1 failed
    /// check of 20) and items (9 runs, 1 timeout), group visit.
    fn journeys() -> Summary {
        use crate::record::{JourneyAgg, StepInfo, StepKind};
        let mut s = summary();
        let row = |name: &str, kind| StepInfo {
            scenario: "shop".into(),
            name: name.into(),
            kind,
        };
        s.run.steps = vec![
            row("login", StepKind::Request),
            row("items", StepKind::Request),
            row("visit", StepKind::Group),
        ];
        let mut j = JourneyAgg::new(3);
        let ms = Duration::from_millis;
        for i in 1..=10 {
            let o = if i == 10 {
                Outcome::ResponseError
            } else {
                Outcome::Success
            };
            j.step(0, o, Some((ms(i), ms(i))));
        }
        j.steps[0].checks = 20;
        j.steps[0].checks_failed = 1;
        for i in 1..=8 {
            j.step(1, Outcome::Success, Some((ms(100 * i), ms(i))));
        }
        j.step(1, Outcome::Timeout, None);
        j.step(2, Outcome::Success, Some((ms(3000), ms(5))));
        s.agg.journeys = Some(j);
        s
    }

    #[test]
    fn scopes_read_their_rows() {
        let s = journeys();
        let v = |t: &str| Threshold::parse(t).unwrap().check(&s);
        assert!(v("step:login p(90)<=9.1ms").ok); // 1 % precision
        assert!(!v("step:login p(90)<8.9ms").ok);
        assert_eq!(v("step:login success>=90%").actual, 90.0);
        assert_eq!(v("step:items timeout==1").actual, 1.0);
        assert!(v("group:visit max>=3s").ok);
        assert_eq!(v("checks>90%").actual, 95.0);
        assert_eq!(v("step:login checks>90%").actual, 95.0);
        // every request step: 10 + 9 runs, 2 not successes
        let f = v("http_req_failed rate<0.2");
        assert!((f.actual - 200.0 / 19.0).abs() < 0.01 && f.ok, "{f:?}");
        assert!(v("http_req_duration p(99)<=810").ok && !v("http_req_duration p(99)<790").ok);
        // a name that is not in the run measures nothing: it never holds
        let missing = v("step:nope p99<1s");
        assert!(!missing.ok && missing.actual.is_nan());
        assert!(v("scenario:t success>=99%").ok);
        assert!(v("iterations>=996").ok);
    }
}
