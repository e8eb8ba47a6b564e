//! WHEN to send: the schedule of intended start times.
//!
//! A schedule reads no clock. Load `j` of a constant-rate run is due at
//! `floor(j·1e9/rate)` ns after the start `t0`: a pure function of `j`, never accumulated,
//! so it cannot drift, and its tests are tables. Shards walk the schedule with a
//! [`Cursor`] over a [`Stride`] (every `step`-th load from `first`), so N shards (threads
//! or machines) split one schedule exactly.

use std::time::Duration;

use crate::error::ConfigError;

mod cursor;
mod stages;

pub use cursor::Cursor;
pub use stages::Stage;
use stages::stages_due_ns;

/// Rates are kept in milli-loads per second, so `floor(j·1e12/millirate)` is exact
/// integer arithmetic for any rate given with up to three decimals.
const MILLI: u128 = 1_000;

/// How loads arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// Closed loop: each slot starts its next load when the previous one ends.
    Closed,
    /// Open model at a constant rate, in milli-loads per second.
    Constant {
        /// loads per second × 1000
        millirate: u64,
    },
    /// Piecewise-linear rate (as k6's ramping-arrival-rate): from `start` LPS, the rate
    /// moves linearly to each stage's target over the stage's duration.
    Stages {
        /// Rate at t0, LPS.
        start: f64,
        /// (stage length ns, rate at its end LPS), in order.
        stages: Vec<(u64, f64)>,
        /// Loads due by the end of each stage (Λ at the stage's end), cumulative.
        cumulative: Vec<f64>,
    },
    /// Poisson arrivals: exponential gaps with the given mean rate, from a seed. Gap `k`
    /// is a pure function of `(seed, k)`, so the schedule is repeatable and shards agree.
    Poisson {
        /// Mean LPS.
        rate: f64,
        /// Seed of the gaps.
        seed: u64,
    },
}

/// The kind of an [`Arrival`], without its parameters (for reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrivalKind {
    /// Closed loop.
    Closed,
    /// Constant rate.
    Constant,
    /// A piecewise-linear ramp.
    Stages,
    /// Poisson arrivals.
    Poisson,
}

impl ArrivalKind {
    /// `closed`, `constant`, `stages` or `poisson`.
    pub const fn name(self) -> &'static str {
        match self {
            ArrivalKind::Closed => "closed",
            ArrivalKind::Constant => "constant",
            ArrivalKind::Stages => "stages",
            ArrivalKind::Poisson => "poisson",
        }
    }

    /// Parses [`ArrivalKind::name`].
    pub fn from_name(s: &str) -> Option<ArrivalKind> {
        [
            ArrivalKind::Closed,
            ArrivalKind::Constant,
            ArrivalKind::Stages,
            ArrivalKind::Poisson,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// Parses a duration: `500ms`, `10s`, `2m`, `1m30s` (humantime), or a plain number of
/// seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let s = s.trim();
    let bad = || ConfigError::Duration(s.into());
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad());
        }
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    humantime::parse_duration(s).map_err(|_| bad())
}

/// Uniform in (0, 1] from `(seed, k)` (splitmix64).
fn unit(seed: u64, k: u64) -> f64 {
    let z = crate::caller::template::mix(seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    ((z >> 11) + 1) as f64 / (1u64 << 53) as f64
}

/// Gap `k` of a Poisson schedule, ns.
fn poisson_gap_ns(rate: f64, seed: u64, k: u64) -> f64 {
    -unit(seed, k).ln() / rate * 1e9
}

/// The intended start times of a whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    arrival: Arrival,
    duration_ns: u64,
    max_loads: Option<u64>,
}

/// The loads one shard owns: `j = first + k·step` for k = 0, 1, 2, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stride {
    /// The first global load index.
    pub first: u64,
    /// The distance between two owned indices (≥ 1).
    pub step: u64,
}

impl Stride {
    /// Every load.
    pub const ALL: Stride = Stride { first: 0, step: 1 };

    /// Shard `index` of `count` inside this stride.
    pub fn split(self, index: u64, count: u64) -> Stride {
        Stride {
            first: self.first + index * self.step,
            step: self.step * count,
        }
    }
}

impl Schedule {
    /// A constant-rate schedule of `rate` loads per second for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Result<Schedule, ConfigError> {
        if !rate.is_finite() || rate < 0.0 {
            return Err(ConfigError::Rate(rate));
        }
        if rate > 1e9 {
            return Err(ConfigError::RateTooHigh(rate));
        }
        let millirate = (rate * 1000.0).round() as u64;
        if rate > 0.0 && millirate == 0 {
            return Err(ConfigError::RateTooLow(rate));
        }
        let arrival = if millirate == 0 {
            Arrival::Closed
        } else {
            Arrival::Constant { millirate }
        };
        Schedule::new(arrival, duration)
    }

    /// A ramp through `stages`, starting at `start` LPS; lasts the sum of the stages.
    pub fn stages(start: f64, stages: &[Stage]) -> Result<Schedule, ConfigError> {
        if !start.is_finite() || !(0.0..=1e9).contains(&start) {
            return Err(ConfigError::StartRate);
        }
        let mut cumulative = Vec::with_capacity(stages.len());
        let (mut total, mut prev, mut len) = (0.0f64, start, Duration::ZERO);
        let mut segs = Vec::with_capacity(stages.len());
        for st in stages {
            let d =
                u64::try_from(st.duration.as_nanos()).map_err(|_| ConfigError::DurationTooLong)?;
            total += (prev + st.rate) / 2.0 * (d as f64 / 1e9);
            cumulative.push(total);
            segs.push((d, st.rate));
            prev = st.rate;
            len += st.duration;
        }
        Schedule::new(
            Arrival::Stages {
                start,
                stages: segs,
                cumulative,
            },
            len,
        )
    }

    /// Poisson arrivals at a mean `rate` for `duration`, repeatable by `seed`.
    pub fn poisson(rate: f64, seed: u64, duration: Duration) -> Result<Schedule, ConfigError> {
        if !rate.is_finite() || rate <= 0.0 || rate > 1e7 {
            return Err(ConfigError::PoissonRate);
        }
        Schedule::new(Arrival::Poisson { rate, seed }, duration)
    }

    /// A closed-loop schedule lasting `duration`.
    pub fn closed(duration: Duration) -> Result<Schedule, ConfigError> {
        Schedule::new(Arrival::Closed, duration)
    }

    fn new(arrival: Arrival, duration: Duration) -> Result<Schedule, ConfigError> {
        if duration.is_zero() {
            return Err(ConfigError::ZeroDuration);
        }
        let duration_ns =
            u64::try_from(duration.as_nanos()).map_err(|_| ConfigError::DurationTooLong)?;
        Ok(Schedule {
            arrival,
            duration_ns,
            max_loads: None,
        })
    }

    /// Ends the schedule after `n` loads (if it does not end sooner).
    pub fn with_max_loads(mut self, n: Option<u64>) -> Schedule {
        self.max_loads = n;
        self
    }

    /// How loads arrive.
    pub fn arrival(&self) -> &Arrival {
        &self.arrival
    }

    /// True for a closed-loop schedule.
    pub fn is_closed(&self) -> bool {
        self.arrival == Arrival::Closed
    }

    /// The requested length of the run.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.duration_ns)
    }

    /// How long the schedule offers loads: its duration, or with a load cap, the time the
    /// capped load would have been due (a Poisson schedule: its expected time, n / rate).
    /// `None` for a capped closed loop, which ends when its loads have been issued.
    pub fn span(&self) -> Option<Duration> {
        let full = self.duration();
        let Some(n) = self.max_loads else {
            return Some(full);
        };
        let end_ns = match &self.arrival {
            Arrival::Closed => return None,
            Arrival::Poisson { rate, .. } => (n as f64 / rate * 1e9).min(u64::MAX as f64) as u64,
            _ => {
                let uncapped = Schedule {
                    max_loads: None,
                    ..self.clone()
                };
                uncapped.due_ns(n).unwrap_or(self.duration_ns)
            }
        };
        Some(full.min(Duration::from_nanos(end_ns)))
    }

    /// The cap on the number of loads, if any.
    pub fn max_loads(&self) -> Option<u64> {
        self.max_loads
    }

    /// The requested rate in loads per second: the constant or mean rate, the peak of a
    /// ramp, 0 for closed loop.
    pub fn rate(&self) -> f64 {
        match &self.arrival {
            Arrival::Closed => 0.0,
            Arrival::Constant { millirate } => *millirate as f64 / 1000.0,
            Arrival::Stages { start, stages, .. } => {
                stages.iter().map(|s| s.1).fold(*start, f64::max)
            }
            Arrival::Poisson { rate, .. } => *rate,
        }
    }

    /// Loads that can fall due within `window` at the busiest moment: what the default
    /// concurrency must cover.
    pub fn peak_in(&self, window: Duration) -> f64 {
        let mean = self.rate() * window.as_secs_f64();
        match self.arrival {
            // Poisson counts in a window have sd sqrt(mean): cover 4 sd
            Arrival::Poisson { .. } => mean + 4.0 * mean.sqrt(),
            _ => mean,
        }
    }

    /// The kind of arrival process.
    pub fn arrival_kind(&self) -> ArrivalKind {
        match self.arrival {
            Arrival::Closed => ArrivalKind::Closed,
            Arrival::Constant { .. } => ArrivalKind::Constant,
            Arrival::Stages { .. } => ArrivalKind::Stages,
            Arrival::Poisson { .. } => ArrivalKind::Poisson,
        }
    }

    /// Intended start of load `j` in ns after t0, or `None` when `j` is past the end.
    /// Closed loop has no intended times: always `None`.
    pub fn due_ns(&self, j: u64) -> Option<u64> {
        if self.max_loads.is_some_and(|n| j >= n) {
            return None;
        }
        let t = match &self.arrival {
            Arrival::Closed => return None,
            Arrival::Constant { millirate } => {
                (j as u128 * 1_000_000_000 * MILLI / *millirate as u128) as u64
            }
            Arrival::Stages {
                start,
                stages,
                cumulative,
            } => stages_due_ns(*start, stages, cumulative, j)?,
            Arrival::Poisson { rate, seed } => {
                // O(j): the sum of the first j gaps. Cursors walk it incrementally.
                let mut acc = 0.0;
                for k in 0..j {
                    acc += poisson_gap_ns(*rate, *seed, k);
                    if acc >= self.duration_ns as f64 {
                        return None;
                    }
                }
                acc as u64
            }
        };
        (t < self.duration_ns).then_some(t)
    }

    /// Number of loads in the whole schedule, when it is known in advance
    /// (closed loop: only with a load cap).
    pub fn total(&self) -> Option<u64> {
        let by_time = match &self.arrival {
            Arrival::Closed | Arrival::Poisson { .. } => None,
            Arrival::Stages { cumulative, .. } => {
                let n = cumulative.last().copied().unwrap_or(0.0);
                // j is due iff Λ(t_j) = j < Λ(D): n = ceil(Λ(D)), minus rounding noise
                Some(((n - 1e-6).ceil().max(0.0)) as u64)
            }
            // j is in the run iff j·1e12/m < D  ⟺  j < D·m/1e12, so n = ceil(D·m/1e12)
            Arrival::Constant { millirate } => {
                let num = self.duration_ns as u128 * *millirate as u128;
                let den = 1_000_000_000 * MILLI;
                Some(num.div_ceil(den) as u64)
            }
        };
        match (by_time, self.max_loads) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// About how many loads of the whole schedule are due before `t_ns`: exact for a
    /// constant rate, within rounding for a ramp, `None` for Poisson (which has no closed
    /// form). Cursors use it to skip far ahead, then correct with [`Schedule::due_ns`].
    fn estimate_before(&self, t_ns: u64) -> Option<u64> {
        let est = match &self.arrival {
            Arrival::Closed | Arrival::Poisson { .. } => return None,
            // j is due before t iff j·1e12/m < t  ⟺  j < t·m/1e12
            Arrival::Constant { millirate } => {
                (t_ns as u128 * *millirate as u128).div_ceil(1_000_000_000 * MILLI) as u64
            }
            Arrival::Stages {
                start,
                stages,
                cumulative,
            } => {
                let (mut from, mut r0) = (0u64, *start);
                let mut lambda = *cumulative.last().unwrap_or(&0.0);
                for (i, &(d_ns, r1)) in stages.iter().enumerate() {
                    if t_ns < from + d_ns {
                        let tau = (t_ns - from) as f64 / 1e9;
                        let d = d_ns as f64 / 1e9;
                        let before = if i == 0 { 0.0 } else { cumulative[i - 1] };
                        lambda = before + r0 * tau + (r1 - r0) / (2.0 * d) * tau * tau;
                        break;
                    }
                    from += d_ns;
                    r0 = r1;
                }
                lambda.max(0.0).ceil() as u64
            }
        };
        Some(est.min(self.total().unwrap_or(u64::MAX)))
    }
}

#[cfg(test)]
mod tests;
