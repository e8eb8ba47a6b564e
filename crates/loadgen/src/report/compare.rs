//! Two runs side by side (`loadgen compare BASE.json NEW.json`): latency percentiles,
//! throughput, TPS and the error share, each with its change, the noise around that change
//! and a verdict — `better`, `worse`, or `same` when the change is within the noise.
//!
//! The noise of a figure in one run is the larger of two 95 % half-widths:
//! - the sampling error: for a percentile, the ranks `n·q ± 1.96·√(n·q·(1−q))` of the
//!   run's histogram; for the error share, the binomial `1.96·√(p·(1−p)/n)`;
//! - the drift over time: the figure in each second of the run's timeline (seconds with
//!   enough samples), `1.96·sd/√k` over the `k` seconds — latency samples of one run are
//!   not independent, and a run that wanders is not known to the precision of its count.
//!
//! The noise of a change is `√(noise_base² + noise_new²)`, and at least 5 % of the base
//! (0.1 percentage point for the error share): two runs differ by more than either one's
//! own noise shows. A change within it is `same`. A `--fail-if` gate (`p99 +10%`, `tps -5%`, `errors +0.5pp`, `p99 +2ms`) fails
//! when the change passes its bound *and* is beyond the noise, so noise is not called a
//! regression.

use std::fmt;

use crate::outcome::Outcome;
use crate::record::hist::Hist;
use crate::summary::Summary;

/// A figure both runs are compared on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    /// A latency percentile (0..1) of the answered loads, ms.
    Quantile(f64),
    /// Mean latency, ms.
    Mean,
    /// Maximum latency, ms (no noise estimate: one sample).
    Max,
    /// Completed loads per second.
    Throughput,
    /// Successes per second.
    Tps,
    /// Loads that did not succeed, % of those scheduled.
    Errors,
}

impl Figure {
    /// Every figure in report order.
    pub const ALL: [Figure; 9] = [
        Figure::Quantile(0.5),
        Figure::Quantile(0.9),
        Figure::Quantile(0.99),
        Figure::Quantile(0.999),
        Figure::Mean,
        Figure::Max,
        Figure::Throughput,
        Figure::Tps,
        Figure::Errors,
    ];

    /// True when a larger value is better.
    fn higher_is_better(self) -> bool {
        matches!(self, Figure::Throughput | Figure::Tps)
    }

    /// The unit its values are in.
    pub fn unit(self) -> &'static str {
        match self {
            Figure::Quantile(_) | Figure::Mean | Figure::Max => "ms",
            Figure::Throughput | Figure::Tps => "/s",
            Figure::Errors => "%",
        }
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Figure::Quantile(q) => {
                let p = (q * 1000.0).round() / 10.0;
                write!(f, "latency p{p}")
            }
            Figure::Mean => f.write_str("latency mean"),
            Figure::Max => f.write_str("latency max"),
            Figure::Throughput => f.write_str("throughput"),
            Figure::Tps => f.write_str("TPS"),
            Figure::Errors => f.write_str("errors"),
        }
    }
}

/// What a change means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Beyond the noise, in the good direction.
    Better,
    /// Beyond the noise, in the bad direction.
    Worse,
    /// Within the noise.
    Same,
    /// Not judged (no noise estimate, or a run without values).
    Unknown,
}

impl Verdict {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Same => "same",
            Verdict::Unknown => "–",
        }
    }
}

/// One figure of both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What is compared.
    pub figure: Figure,
    /// Its value in the base run (NaN when the run has none).
    pub base: f64,
    /// Its value in the new run.
    pub new: f64,
    /// 95 % half-width of the change, in the figure's unit (NaN when unknown).
    pub noise: f64,
    /// What the change means.
    pub verdict: Verdict,
}

impl Row {
    /// `new − base`, in the figure's unit (percentage points for the error share).
    pub fn change(&self) -> f64 {
        self.new - self.base
    }

    /// The change relative to the base, % (NaN when the base is 0 or unknown).
    pub fn relative(&self) -> f64 {
        if self.base.is_finite() && self.base != 0.0 {
            self.change() / self.base * 100.0
        } else {
            f64::NAN
        }
    }
}

/// Both runs compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// One row per figure.
    pub rows: Vec<Row>,
    /// How the runs differ in what they asked for (rate, targets, protocol, duration).
    pub differences: Vec<String>,
}

impl Comparison {
    /// The row of `figure`, if compared.
    pub fn row(&self, figure: Figure) -> Option<&Row> {
        self.rows.iter().find(|r| r.figure == figure)
    }
}

/// Compares `new` with `base`.
pub fn compare(base: &Summary, new: &Summary) -> Comparison {
    let rows = Figure::ALL
        .iter()
        .map(|&f| {
            let (b, bn) = measure(base, f);
            let (n, nn) = measure(new, f);
            row(f, b, bn, n, nn)
        })
        .collect();
    Comparison {
        rows,
        differences: differences(base, new),
    }
}

/// The row of `figure` from each run's value and noise.
fn row(figure: Figure, base: f64, base_noise: f64, new: f64, new_noise: f64) -> Row {
    // two runs differ by more than either one's own noise (the machine, the target's
    // caches): below a floor, a change is not called one
    let floor = match figure {
        Figure::Errors => MIN_POINTS,
        _ => base.abs() * MIN_CHANGE,
    };
    let noise = base_noise.hypot(new_noise);
    // an unknown noise stays unknown (f64::max would take the floor)
    let noise = if noise.is_nan() {
        noise
    } else {
        noise.max(floor)
    };
    let change = new - base;
    let verdict = if !(base.is_finite() && new.is_finite() && noise.is_finite()) {
        Verdict::Unknown
    } else if change.abs() <= noise {
        Verdict::Same
    } else if (change > 0.0) == figure.higher_is_better() {
        Verdict::Better
    } else {
        Verdict::Worse
    };
    Row {
        figure,
        base,
        new,
        noise,
        verdict,
    }
}

/// 1.96: the 95 % two-sided normal quantile.
const Z: f64 = 1.96;

/// The value of `figure` in `s`, and its noise (95 % half-width).
fn measure(s: &Summary, figure: Figure) -> (f64, f64) {
    let h = &s.agg.latency;
    match figure {
        Figure::Quantile(_) | Figure::Mean | Figure::Max if h.is_empty() => (f64::NAN, f64::NAN),
        Figure::Quantile(q) => {
            let v = ms(h.value_at_quantile(q));
            let n = h.len() as f64;
            if n * (1.0 - q) < MIN_ABOVE {
                // too few samples above the percentile to know how far it could move
                return (v, f64::NAN);
            }
            let spread = Z * (q * (1.0 - q) / n).sqrt();
            let lo = ms(h.value_at_quantile((q - spread).max(0.0)));
            let hi = ms(h.value_at_quantile((q + spread).min(1.0)));
            // a second holds a percentile only with enough samples above it
            let min = (2.0 / (1.0 - q)).max(10.0) as u64;
            let drift = drift(s, |w| {
                (w.hist.len() >= min).then(|| ms(w.hist.value_at_quantile(q)))
            });
            (v, ((hi - lo) / 2.0).max(drift))
        }
        Figure::Mean => {
            let sampling = Z * h.stdev() / 1000.0 / (h.len() as f64).sqrt();
            let drift = drift(s, |w| (w.hist.len() >= 10).then(|| w.hist.mean() / 1000.0));
            (h.mean() / 1000.0, sampling.max(drift))
        }
        Figure::Max => (ms(h.max()), f64::NAN),
        Figure::Throughput => {
            let drift = drift(s, |w| Some(w.completed as f64 / w.seconds));
            let c = s.counts();
            let n = (c.scheduled - c.get(Outcome::Dropped)) as f64;
            (s.throughput(), counting(s, n).max(drift))
        }
        Figure::Tps => {
            let drift = drift(s, |w| Some(w.successes as f64 / w.seconds));
            let n = s.counts().get(Outcome::Success) as f64;
            (s.tps(), counting(s, n).max(drift))
        }
        Figure::Errors => {
            let c = s.counts();
            if c.scheduled == 0 {
                return (f64::NAN, f64::NAN);
            }
            let n = c.scheduled as f64;
            let p = (c.scheduled - c.get(Outcome::Success)) as f64 / n;
            // with no error seen, the rule of three bounds the share
            let sampling = if p > 0.0 {
                Z * (p * (1.0 - p) / n).sqrt()
            } else {
                3.0 / n
            };
            let drift = drift(s, |w| {
                (w.ended >= 10).then(|| (w.ended - w.successes) as f64 / w.ended as f64)
            });
            (p * 100.0, sampling.max(drift) * 100.0)
        }
    }
}

/// The smallest relative change called one (latency, rates): 5 %.
pub const MIN_CHANGE: f64 = 0.05;
/// The smallest change of the error share called one: 0.1 percentage point.
pub const MIN_POINTS: f64 = 0.1;

/// Samples a percentile needs above it to be given a noise (a p99 needs 1,000 samples,
/// a p99.9 10,000); with fewer, its change is not judged.
const MIN_ABOVE: f64 = 10.0;

/// The counting noise of a rate of `n` events over the run: `Z·√n / elapsed`, as if the
/// events were a Poisson process (a paced run varies less; this errs towards `same`).
fn counting(s: &Summary, n: f64) -> f64 {
    let secs = s.facts.elapsed.as_secs_f64();
    if secs > 0.0 {
        Z * n.sqrt() / secs
    } else {
        f64::NAN
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// One second (or one bucket, if wider) of a run's timeline.
struct Window {
    hist: Hist,
    completed: u64,
    successes: u64,
    ended: u64,
    seconds: f64,
}

/// `Z·sd/√k` of `value` over the run's whole windows (0 when fewer than 3 have a value).
fn drift(s: &Summary, value: impl Fn(&Window) -> Option<f64>) -> f64 {
    let xs: Vec<f64> = windows(s).iter().filter_map(value).collect();
    let k = xs.len();
    if k < 3 {
        return 0.0;
    }
    let mean = xs.iter().sum::<f64>() / k as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    Z * var.sqrt() / (k as f64).sqrt()
}

/// The timeline in windows of a second (or one bucket when buckets are wider; shorter
/// windows when a run has fewer than a dozen seconds); the first and last, partial, are
/// left out.
fn windows(s: &Summary) -> Vec<Window> {
    let width = s.run.bucket.as_secs_f64();
    let second = ((1.0 / width).round() as usize).max(1);
    let per = second.min((s.agg.timeline.len() / 12).max(1));
    let seconds = width * per as f64;
    let t = &s.agg.timeline;
    let whole = t.len() / per;
    (0..whole)
        .map(|i| {
            let mut hist = crate::record::hist::new_interval_hist();
            let (mut completed, mut successes, mut ended) = (0, 0, 0);
            for b in &t[i * per..(i + 1) * per] {
                if let Some(h) = b.latency.decode() {
                    let _ = hist.add(&h);
                }
                let all: u64 = Outcome::ALL.iter().map(|&o| b.outcomes[o]).sum();
                ended += all;
                completed += all - b.outcomes[Outcome::Dropped];
                successes += b.outcomes[Outcome::Success];
            }
            Window {
                hist,
                completed,
                successes,
                ended,
                seconds,
            }
        })
        .skip(1)
        .take(whole.saturating_sub(2))
        .collect()
}

/// What the two runs asked for differently, in words.
fn differences(base: &Summary, new: &Summary) -> Vec<String> {
    let (b, n) = (&base.run, &new.run);
    let mut out = Vec::new();
    if b.protocol != n.protocol {
        out.push(format!("protocol {} vs {}", b.protocol, n.protocol));
    }
    let names = |r: &crate::summary::RunInfo| {
        r.targets
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if names(b) != names(n) {
        out.push(format!("targets {} vs {}", names(b), names(n)));
    }
    if b.arrival != n.arrival || (b.rate - n.rate).abs() > 1e-9 {
        out.push(format!(
            "load {} vs {}",
            super::view::mode(base),
            super::view::mode(new)
        ));
    }
    if b.duration != n.duration {
        out.push(format!(
            "duration {:.3} s vs {:.3} s",
            b.duration.as_secs_f64(),
            n.duration.as_secs_f64()
        ));
    }
    out
}

/// A `--fail-if` gate: a figure and how far it may move the bad way.
#[derive(Debug, Clone, PartialEq)]
pub struct FailIf {
    text: String,
    figure: Figure,
    bound: Bound,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    /// Relative, %.
    Percent(f64),
    /// Absolute, in percentage points (the error share).
    Points(f64),
    /// Absolute, ms (latency).
    Ms(f64),
}

/// A gate's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// The gate as written.
    pub text: String,
    /// True when it failed: the change passed the bound and the noise.
    pub failed: bool,
    /// The change, in words.
    pub change: String,
}

impl FailIf {
    /// Parses `p99 +10%`, `p(99) +10%`, `mean +2ms`, `tps -5%`, `throughput -5%`,
    /// `errors +0.5pp`: the figure, the direction it gets worse in, and the bound.
    pub fn parse(text: &str) -> Result<FailIf, String> {
        let t = text.trim();
        let bad = |why: &str| {
            format!("'{t}': {why} (e.g. 'p99 +10%', 'mean +2ms', 'tps -5%', 'errors +0.5pp')")
        };
        let (name, rest) = t
            .split_once(|c: char| c.is_whitespace() || c == '+' || c == '-')
            .map(|(n, _)| (n, t[n.len()..].trim_start()))
            .ok_or_else(|| bad("a figure and a bound"))?;
        let figure = match name.to_ascii_lowercase().as_str() {
            "mean" | "avg" => Figure::Mean,
            "max" => Figure::Max,
            "tps" => Figure::Tps,
            "throughput" => Figure::Throughput,
            "errors" | "error" => Figure::Errors,
            "med" | "median" => Figure::Quantile(0.5),
            p if p.starts_with('p') => {
                let digits = p[1..]
                    .strip_prefix('(')
                    .and_then(|x| x.strip_suffix(')'))
                    .unwrap_or(&p[1..]);
                let q: f64 = digits.parse().map_err(|_| bad("unknown figure"))?;
                if !(0.0..100.0).contains(&q) || q == 0.0 {
                    return Err(bad("a percentile is between p0 and p100"));
                }
                Figure::Quantile((q / 100.0 * 1e12).round() / 1e12)
            }
            _ => {
                return Err(bad(
                    "unknown figure (pNN, mean, max, tps, throughput, errors)",
                ));
            }
        };
        let sign = rest.chars().next().ok_or_else(|| bad("no bound"))?;
        let worse_up = !figure.higher_is_better();
        match (sign, worse_up) {
            ('+', true) | ('-', false) => {}
            ('+', false) => return Err(bad("TPS and throughput get worse downwards: -N%")),
            ('-', true) => return Err(bad("latency and errors get worse upwards: +N")),
            _ => return Err(bad("the bound starts with + or -")),
        }
        let body: String = rest[1..].chars().filter(|c| !c.is_whitespace()).collect();
        let split = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, unit) = body.split_at(split);
        let v: f64 = number.parse().map_err(|_| bad("no number in the bound"))?;
        if !v.is_finite() {
            return Err(bad("no number in the bound"));
        }
        let bound = match (unit, figure) {
            ("%", Figure::Errors) => {
                return Err(bad("the error share moves in percentage points: +0.5pp"));
            }
            ("%", _) => Bound::Percent(v),
            ("pp", Figure::Errors) => Bound::Points(v),
            ("ms", Figure::Quantile(_) | Figure::Mean | Figure::Max) => Bound::Ms(v),
            ("s", Figure::Quantile(_) | Figure::Mean | Figure::Max) => Bound::Ms(v * 1000.0),
            ("us" | "µs", Figure::Quantile(_) | Figure::Mean | Figure::Max) => {
                Bound::Ms(v / 1000.0)
            }
            _ => return Err(bad("unit: % (relative), pp (errors), ms (latency)")),
        };
        Ok(FailIf {
            text: t.to_string(),
            figure,
            bound,
        })
    }

    /// The gate on `c`.
    pub fn check(&self, c: &Comparison) -> Gate {
        let Some(r) = c.row(self.figure) else {
            return Gate {
                text: self.text.clone(),
                failed: true,
                change: "not compared".into(),
            };
        };
        // the change in the bad direction, in the bound's unit
        let worse = if self.figure.higher_is_better() {
            -r.change()
        } else {
            r.change()
        };
        let (over, change) = match self.bound {
            Bound::Percent(b) => {
                let rel = worse / r.base * 100.0;
                (rel > b, format!("{:+.1}%", r.relative()))
            }
            Bound::Points(b) => (worse > b, format!("{:+.2}pp", r.change())),
            Bound::Ms(b) => (worse > b, format!("{:+.3}ms", r.change())),
        };
        // beyond the noise too (an unknown noise, as for max, does not excuse)
        let real = r.noise.is_nan() || r.change().abs() > r.noise;
        let failed = (over && real) || !(r.base.is_finite() && r.new.is_finite());
        let noise = if r.noise.is_finite() {
            format!(", noise {}", fmt_noise(r))
        } else {
            ", noise unknown (too few samples)".to_string()
        };
        Gate {
            text: self.text.clone(),
            failed,
            change: format!(
                "{change}{noise}{}",
                if over && !real {
                    ": within the noise"
                } else {
                    ""
                }
            ),
        }
    }
}

/// A value of `figure` with its unit.
pub fn fmt_value(figure: Figure, v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    match figure.unit() {
        "ms" => super::fmt_ms(v),
        "/s" => format!("{v:.1}/s"),
        _ => format!("{v:.3}%"),
    }
}

/// The change of a row, in words: relative for rates and latency, percentage points for
/// the error share.
pub fn fmt_change(r: &Row) -> String {
    match r.figure {
        Figure::Errors if r.change().is_finite() => format!("{:+.3}pp", r.change()),
        _ if r.relative().is_finite() => format!("{:+.1}%", r.relative()),
        _ => "–".into(),
    }
}

/// The noise of a row, in the unit of its change.
pub fn fmt_noise(r: &Row) -> String {
    match r.figure {
        _ if !r.noise.is_finite() => "–".into(),
        Figure::Errors => format!("±{:.3}pp", r.noise),
        _ if r.base.is_finite() && r.base != 0.0 => {
            format!("±{:.1}%", r.noise / r.base * 100.0)
        }
        _ => format!("±{}", fmt_value(r.figure, r.noise)),
    }
}

/// The text report of `c` (`base` and `new` name the files).
pub fn write_text(
    c: &Comparison,
    gates: &[Gate],
    base: &str,
    new: &str,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    writeln!(w, "loadgen compare")?;
    writeln!(w, "  base  {base}")?;
    writeln!(w, "  new   {new}")?;
    for d in &c.differences {
        writeln!(w, "  WARNING: the runs differ: {d}")?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:<16}{:>12}{:>12}{:>12}{:>13}  verdict",
        "", "base", "new", "change", "noise (95%)"
    )?;
    for r in &c.rows {
        writeln!(
            w,
            "  {:<14}{:>12}{:>12}{:>12}{:>13}  {}",
            r.figure.to_string(),
            fmt_value(r.figure, r.base),
            fmt_value(r.figure, r.new),
            fmt_change(r),
            fmt_noise(r),
            r.verdict.name()
        )?;
    }
    writeln!(
        w,
        "  (latency over every answered load; noise: sampling and drift over the runs' seconds, both runs)"
    )?;
    if !gates.is_empty() {
        writeln!(w)?;
        writeln!(w, "Fail-if")?;
        for g in gates {
            let verdict = if g.failed { "FAILED" } else { "ok    " };
            writeln!(w, "  {verdict}  {:<20} {}", g.text, g.change)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Recorder;
    use std::time::{Duration, Instant};

    /// 10 s at 100 loads/s with latency `base` + (i mod 10) × 0.1 ms (µs), `errors` in
    /// 1000 failing.
    fn run(base_us: u64, errors: u64) -> Summary {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, Duration::from_millis(100), 1);
        for i in 0..1000u64 {
            let at = t0 + Duration::from_millis(i * 10);
            r.scheduled(0, at);
            r.sent(at, Duration::ZERO);
            let lat = Duration::from_micros(base_us + (i % 10) * 100);
            if i % 1000 < errors {
                r.failure(0, at + lat, Outcome::Timeout, "t".into());
            } else {
                r.success(0, at + lat, lat, lat);
            }
        }
        crate::summary::sample(r.finish(), Duration::from_secs(10))
    }

    #[test]
    fn the_same_run_is_the_same_and_a_slower_one_worse() {
        let a = run(1000, 0);
        let same = compare(&a, &run(1000, 0));
        assert!(
            same.rows
                .iter()
                .all(|r| matches!(r.verdict, Verdict::Same | Verdict::Unknown)),
            "{:?}",
            same.rows
        );
        let slow = compare(&a, &run(2000, 0));
        let p50 = slow.row(Figure::Quantile(0.5)).unwrap();
        assert_eq!(p50.verdict, Verdict::Worse, "{p50:?}");
        assert!(p50.relative() > 50.0 && p50.relative() < 90.0, "{p50:?}");
        let fast = compare(&run(2000, 0), &a);
        assert_eq!(
            fast.row(Figure::Quantile(0.99)).unwrap().verdict,
            Verdict::Better
        );
        let errors = compare(&a, &run(1000, 50));
        let e = errors.row(Figure::Errors).unwrap();
        assert_eq!((e.base, e.new, e.verdict), (0.0, 5.0, Verdict::Worse));
    }

    #[test]
    fn gates_parse_and_fail_only_beyond_bound_and_noise() {
        let a = run(1000, 0);
        let c = compare(&a, &run(2000, 0));
        assert!(FailIf::parse("p99 +10%").unwrap().check(&c).failed);
        assert!(!FailIf::parse("p99 +200%").unwrap().check(&c).failed);
        assert!(FailIf::parse("p(50) +0.5ms").unwrap().check(&c).failed);
        assert!(!FailIf::parse("tps -5%").unwrap().check(&c).failed);
        let same = compare(&a, &run(1000, 0));
        assert!(!FailIf::parse("p99 +0%").unwrap().check(&same).failed);
        let e = compare(&a, &run(1000, 20));
        assert!(FailIf::parse("errors +0.5pp").unwrap().check(&e).failed);
        assert!(!FailIf::parse("errors +5pp").unwrap().check(&e).failed);
        for bad in [
            "p99",
            "p99 10%",
            "tps +5%",
            "p99 -5%",
            "errors +1%",
            "rate +1%",
            "p99 +x%",
            "p100 +1%",
        ] {
            assert!(FailIf::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn different_runs_are_named() {
        let a = run(1000, 0);
        let mut b = run(1000, 0);
        b.run.rate = 2000.0;
        let c = compare(&a, &b);
        assert!(
            c.differences.iter().any(|d| d.starts_with("load ")),
            "{:?}",
            c.differences
        );
    }
}
