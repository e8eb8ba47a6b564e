//! Random durations: the think times of journeys and the delays of the built-in servers.
//!
//! Written `2s` (fixed), `1s..3s` or `uniform:1s-3s`, `normal:2s,500ms` (mean, standard
//! deviation; never below zero) and `exp:2s` (exponential with that mean). A sample draws
//! from uniform numbers the caller supplies, so a journey's think times are a function of
//! its seed and the servers keep their own generator.

use std::time::Duration;

use crate::error::ConfigError;
use crate::schedule::parse_duration as duration;

/// The longest sample: an hour (the tail of a normal or exponential is cut there).
pub const MAX_SAMPLE: Duration = Duration::from_secs(3600);

/// A distribution of durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// Always this long.
    Fixed(Duration),
    /// Uniform between the two.
    Uniform(Duration, Duration),
    /// Normal with this mean and standard deviation (never below zero).
    Normal(Duration, Duration),
    /// Exponential with this mean.
    Exponential(Duration),
}

impl Dist {
    /// Parses `10ms`, `fixed:10ms`, `5ms..15ms`, `uniform:5ms-15ms`, `normal:10ms,2ms`,
    /// `exp:10ms`.
    pub fn parse(s: &str) -> Result<Dist, ConfigError> {
        let bad = |why| ConfigError::Dist {
            text: s.trim().into(),
            why,
        };
        if let Some((a, b)) = s.split_once("..") {
            let (a, b) = (duration(a)?, duration(b)?);
            if b < a {
                return Err(bad("the upper bound is below the lower"));
            }
            return Ok(Dist::Uniform(a, b));
        }
        let (kind, args) = s.trim().split_once(':').unwrap_or(("fixed", s));
        let two = |sep: char| -> Result<(Duration, Duration), ConfigError> {
            let (a, b) = args
                .split_once(sep)
                .ok_or_else(|| bad("expected two durations (uniform:A-B, normal:MEAN,SD)"))?;
            Ok((duration(a)?, duration(b)?))
        };
        Ok(match kind {
            "fixed" => Dist::Fixed(duration(args)?),
            "uniform" => {
                let (a, b) = two('-')?;
                if b < a {
                    return Err(bad("the upper bound is below the lower"));
                }
                Dist::Uniform(a, b)
            }
            "normal" => {
                let (m, sd) = two(',')?;
                Dist::Normal(m, sd)
            }
            "exp" | "exponential" => Dist::Exponential(duration(args)?),
            _ => {
                return Err(bad(
                    "not a distribution (2s, 1s..3s, uniform:1s-3s, normal:2s,500ms, exp:2s)",
                ));
            }
        })
    }

    /// One sample, drawn from `unit` (uniform numbers in [0, 1)).
    pub fn sample(&self, mut unit: impl FnMut() -> f64) -> Duration {
        let secs = |d: Duration| d.as_secs_f64();
        let s = match *self {
            Dist::Fixed(d) => return d.min(MAX_SAMPLE),
            Dist::Uniform(a, b) => secs(a) + (secs(b) - secs(a)) * unit(),
            Dist::Normal(m, sd) => {
                // Box–Muller
                let u1 = unit().max(f64::MIN_POSITIVE);
                let u2 = unit();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                secs(m) + secs(sd) * z
            }
            Dist::Exponential(m) => -secs(m) * (1.0 - unit()).ln(),
        };
        // never above `max`: the longest a journey can take counts on it
        Duration::from_secs_f64(s.clamp(0.0, self.max().as_secs_f64()))
    }

    /// The longest a sample is: the upper bound, the mean plus four standard deviations, or
    /// ten means of an exponential (at most [`MAX_SAMPLE`]); samples are cut there.
    pub fn max(&self) -> Duration {
        match *self {
            Dist::Fixed(d) | Dist::Uniform(_, d) => d,
            Dist::Normal(m, sd) => m.saturating_add(sd.saturating_mul(4)),
            Dist::Exponential(m) => m.saturating_mul(10),
        }
        .min(MAX_SAMPLE)
    }

    /// True when every sample is zero.
    pub fn is_zero(&self) -> bool {
        self.max().is_zero()
    }
}

/// A uniform number in [0, 1) from 64 random bits.
pub fn unit_of(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_samples() {
        let ms = Duration::from_millis;
        assert_eq!(Dist::parse("10ms").unwrap(), Dist::Fixed(ms(10)));
        assert_eq!(
            Dist::parse("1s..3s").unwrap(),
            Dist::Uniform(ms(1000), ms(3000))
        );
        let u = Dist::parse("uniform:5ms-15ms").unwrap();
        let n = Dist::parse("normal:10ms,2ms").unwrap();
        let e = Dist::parse("exp:10ms").unwrap();
        for bad in ["poisson:1ms", "uniform:5ms", "3s..1s", "soon"] {
            assert!(Dist::parse(bad).is_err(), "{bad}");
        }
        let mut state = 7u64;
        let mut unit = move || {
            state = crate::caller::template::mix(state);
            unit_of(state)
        };
        let mut mean = |d: Dist| {
            (0..20_000)
                .map(|_| d.sample(&mut unit).as_secs_f64())
                .sum::<f64>()
                / 20_000.0
                * 1e3
        };
        assert!((mean(u) - 10.0).abs() < 0.3);
        assert!((mean(n) - 10.0).abs() < 0.3);
        assert!((mean(e) - 10.0).abs() < 0.5);
        assert_eq!(u.max(), ms(15));
        assert_eq!(n.max(), ms(18));
        assert_eq!(Dist::Fixed(Duration::from_secs(99_999)).max(), MAX_SAMPLE);
    }
}
