//! Pass/fail criteria on a summary, for CI: `p99<50ms`, `p99.9<200ms`, `success>99.9%`,
//! `errors<0.1%`, `tps>900`, `timeout<=0.5%`, `dropped==0`. Parsed before the run (a bad
//! expression is a setup error); evaluated on the summary after it.

use std::fmt;

use crate::error::ConfigError;
use crate::outcome::Outcome;
use crate::summary::{Summary, Unit, Verdict};

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
    metric: Metric,
    cmp: Cmp,
    value: f64,
    percent: bool,
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

impl Threshold {
    /// Parses one expression. Percentiles are `p99`, `p99.9` or k6's `p(95)`.
    pub fn parse(text: &str) -> Result<Threshold, ConfigError> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let ops = [
            ("<=", Cmp::Le),
            (">=", Cmp::Ge),
            ("==", Cmp::Eq),
            ("<", Cmp::Lt),
            (">", Cmp::Gt),
        ];
        let (pos, len, cmp) = ops
            .iter()
            .filter_map(|(s, c)| t.find(s).map(|p| (p, s.len(), *c)))
            .min_by_key(|x| (x.0, std::cmp::Reverse(x.1)))
            .ok_or_else(|| bad(text, "no comparison (<, <=, >, >=, ==)"))?;
        let (name, value) = (&t[..pos], &t[pos + len..]);
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
        let percent = unit == "%";
        match (latency, unit) {
            (true, "ms") => {}
            (true, "us" | "µs") => v /= 1000.0,
            (true, "s") => v *= 1000.0,
            (true, _) => return Err(bad(text, "a latency needs a unit: us, ms or s")),
            (false, "%")
                if matches!(metric, Metric::Success | Metric::Errors | Metric::Count(_)) => {}
            (false, "") if !matches!(metric, Metric::Success | Metric::Errors) => {}
            (false, "") => return Err(bad(text, "a share needs %")),
            (false, _) => return Err(bad(text, "unexpected unit")),
        }
        Ok(Threshold {
            text: text.trim().to_string(),
            metric,
            cmp,
            value: v,
            percent,
        })
    }

    /// The unit of the measured value.
    pub fn unit(&self) -> Unit {
        match self.metric {
            Metric::Quantile(_) | Metric::Mean => Unit::Ms,
            Metric::Success | Metric::Errors => Unit::Percent,
            Metric::Count(_) if self.percent => Unit::Percent,
            Metric::Count(_) => Unit::Count,
            Metric::Tps | Metric::Throughput | Metric::Offered => Unit::PerSecond,
        }
    }

    /// The measured value on `s`, in [`Threshold::unit`].
    pub fn actual(&self, s: &Summary) -> f64 {
        let c = s.counts();
        let n = c.scheduled.max(1) as f64;
        let pct = |x: u64| x as f64 * 100.0 / n;
        match self.metric {
            Metric::Quantile(q) => {
                let h = &s.agg.latency;
                if h.is_empty() {
                    return f64::INFINITY; // no success at all: no latency can meet a bound
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
            Metric::Mean => s.latency().mean,
            Metric::Success => pct(c.get(Outcome::Success)),
            Metric::Errors => pct(c.scheduled - c.get(Outcome::Success)),
            Metric::Count(o) if self.percent => pct(c.get(o)),
            Metric::Count(o) => c.get(o) as f64,
            Metric::Tps => s.tps(),
            Metric::Throughput => s.throughput(),
            Metric::Offered => s.offered_rate(),
        }
    }

    /// Evaluates on `s`.
    pub fn check(&self, s: &Summary) -> Verdict {
        let a = self.actual(s);
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

/// The metric named `name` (lowercase) of expression `text`.
fn metric(text: &str, name: &str) -> Result<Metric, ConfigError> {
    Ok(match name {
        "max" => Metric::Quantile(1.0),
        "min" => Metric::Quantile(0.0),
        "mean" | "avg" => Metric::Mean,
        "success" => Metric::Success,
        "errors" | "error" => Metric::Errors,
        "tps" => Metric::Tps,
        "throughput" => Metric::Throughput,
        "offered" | "rate" => Metric::Offered,
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
        ];
        for (held, violated) in cases {
            let h = Threshold::parse(held).unwrap().check(&s);
            assert!(h.ok, "{held}: {h:?}");
            let v = Threshold::parse(violated).unwrap().check(&s);
            assert!(!v.ok, "{violated}: {v:?}");
        }
        let mut s2 = s.clone();
        assert!(!s2.apply_thresholds(&[
            Threshold::parse("p99<10ms").unwrap(),
            Threshold::parse("tps>1000").unwrap()
        ]));
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
        ] {
            assert!(Threshold::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "p99",
            "p99<50",
            "p99<fast",
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
    }
}
