//! WHEN to send: the schedule of intended start times.
//!
//! A schedule reads no clock. Load `j` of a constant-rate run is due at
//! `floor(j·1e9/rate)` ns after the start `t0`: a pure function of `j`, never accumulated,
//! so it cannot drift, and its tests are tables. Shards walk the schedule with a
//! [`Cursor`] over a [`Stride`] (every `step`-th load from `first`), so N shards (threads
//! or machines) split one schedule exactly.

use std::time::Duration;

use crate::error::ConfigError;

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

/// One stage of a ramp: reach `rate` LPS over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Length of the stage.
    pub duration: Duration,
    /// Rate at the stage's end, LPS.
    pub rate: f64,
}

impl Stage {
    /// Parses `10s:100,30s:1000,10s:0`.
    pub fn parse_list(s: &str) -> Result<Vec<Stage>, ConfigError> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (d, r) = part
                .split_once(':')
                .ok_or_else(|| ConfigError::StageSyntax(part.into()))?;
            let duration = parse_duration(d)?;
            let rate: f64 = r
                .trim()
                .parse()
                .map_err(|_| ConfigError::StageRate(r.into()))?;
            if !rate.is_finite() || !(0.0..=1e9).contains(&rate) {
                return Err(ConfigError::StageRate(r.into()));
            }
            out.push(Stage { duration, rate });
        }
        if out.is_empty() {
            return Err(ConfigError::NoStages);
        }
        Ok(out)
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
    let mut z = seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
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

    /// A cursor at the first load of `stride`.
    pub fn cursor(&self, stride: Stride) -> Cursor {
        let mut c = Cursor {
            j: 0,
            step: stride.step,
            due: None,
            acc: 0.0,
        };
        if let Arrival::Poisson { rate, seed } = self.arrival {
            for k in 0..stride.first {
                c.acc += poisson_gap_ns(rate, seed, k);
            }
        }
        c.j = stride.first;
        c.due = c.due_ns_at(self);
        c
    }
}

/// Due time of load `j` on a ramp: the t where Λ(t) = j, by segment.
fn stages_due_ns(start: f64, stages: &[(u64, f64)], cumulative: &[f64], j: u64) -> Option<u64> {
    let x = j as f64;
    let i = cumulative.partition_point(|&c| c <= x);
    if i >= stages.len() {
        return None;
    }
    let before = if i == 0 { 0.0 } else { cumulative[i - 1] };
    let t0: u64 = stages[..i].iter().map(|s| s.0).sum();
    let r0 = if i == 0 { start } else { stages[i - 1].1 };
    let (d_ns, r1) = stages[i];
    let d = d_ns as f64 / 1e9;
    let (a, b) = ((r1 - r0) / (2.0 * d), r0);
    let rem = x - before;
    // solve a·τ² + b·τ = rem for the smallest τ ≥ 0, without cancellation
    let disc = (b * b + 4.0 * a * rem).max(0.0);
    let denom = b + disc.sqrt();
    let tau = if denom > 0.0 { 2.0 * rem / denom } else { 0.0 };
    Some(t0 + ((tau * 1e9) as u64).min(d_ns.saturating_sub(1)))
}

/// A position in a schedule for one stride; `Copy`, so a shard can keep one for the
/// oldest waiting load and one for the next load not yet due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    j: u64,
    step: u64,
    due: Option<u64>,
    /// Poisson: the due time of load `j` in ns, unrounded.
    acc: f64,
}

impl Cursor {
    /// The load at the cursor: `(index, due_ns)`, or `None` at the end of the schedule.
    pub fn peek(&self) -> Option<(u64, u64)> {
        self.due.map(|d| (self.j, d))
    }

    /// Moves to the next load of the stride.
    pub fn advance(&mut self, schedule: &Schedule) {
        if let Arrival::Poisson { rate, seed } = schedule.arrival {
            for k in self.j..self.j + self.step {
                self.acc += poisson_gap_ns(rate, seed, k);
            }
        }
        self.j += self.step;
        self.due = self.due_ns_at(schedule);
    }

    /// The global index of the load at the cursor (also past the end of the schedule).
    pub fn index(&self) -> u64 {
        self.j
    }

    /// Moves past every load due before `t_ns`, but at most `max` loads; returns how many
    /// it moved past. Constant rates and ramps jump in O(1) whatever the count (a run
    /// asked for 1e9 loads per second skips them in bulk); Poisson walks load by load.
    pub fn skip_before(&mut self, schedule: &Schedule, t_ns: u64, max: u64) -> u64 {
        let mut n = 0;
        // the usual case is a few loads: walk them
        while n < max && n < 16 {
            match self.due {
                Some(d) if d < t_ns => {
                    self.advance(schedule);
                    n += 1;
                }
                _ => return n,
            }
        }
        if n == max || self.due.is_none_or(|d| d >= t_ns) {
            return n;
        }
        let Some(global) = schedule.estimate_before(t_ns) else {
            while n < max && self.due.is_some_and(|d| d < t_ns) {
                self.advance(schedule);
                n += 1;
            }
            return n;
        };
        // jump to the estimate (never past `max`), then correct with the exact due times
        let k = global
            .saturating_sub(self.j)
            .div_ceil(self.step)
            .min(max - n);
        if k > 0 {
            self.j += k * self.step;
            n += k;
            self.due = self.due_ns_at(schedule);
        }
        while n > 0 && self.j >= self.step {
            let prev = self.j - self.step;
            match schedule.due_ns(prev) {
                Some(d) if d >= t_ns => {
                    self.j = prev;
                    self.due = Some(d);
                    n -= 1;
                }
                _ => break,
            }
        }
        while n < max && self.due.is_some_and(|d| d < t_ns) {
            self.advance(schedule);
            n += 1;
        }
        n
    }

    fn due_ns_at(&self, schedule: &Schedule) -> Option<u64> {
        if let Arrival::Poisson { .. } = schedule.arrival {
            if schedule.max_loads.is_some_and(|n| self.j >= n)
                || self.acc >= schedule.duration_ns as f64
            {
                return None;
            }
            return Some(self.acc as u64);
        }
        schedule.due_ns(self.j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn dues(s: &Schedule, stride: Stride, n: usize) -> Vec<(u64, u64)> {
        let mut c = s.cursor(stride);
        let mut out = Vec::new();
        while let Some(x) = c.peek() {
            if out.len() == n {
                break;
            }
            out.push(x);
            c.advance(s);
        }
        out
    }

    #[test]
    fn constant_rate_table() {
        // (rate, j, due ns)
        let table: &[(f64, u64, u64)] = &[
            (1000.0, 0, 0),
            (1000.0, 1, 1_000_000),
            (1000.0, 1999, 1_999_000_000),
            (3.0, 1, 333_333_333),
            (3.0, 2, 666_666_666),
            (3.0, 3, 1_000_000_000),
            (7.0, 1, 142_857_142),
            (100_000.0, 1, 10_000),
            (100_000.0, 99_999, 999_990_000),
            (0.5, 1, 2_000_000_000),
            (2.5, 3, 1_200_000_000),
            (1_000_000_000.0, 7, 7),
        ];
        for &(rate, j, want) in table {
            let s = Schedule::constant(rate, secs(3600)).unwrap();
            assert_eq!(s.due_ns(j), Some(want), "rate {rate} j {j}");
        }
    }

    #[test]
    fn totals_table() {
        // (rate, duration ns, total loads)
        let table: &[(f64, u64, u64)] = &[
            (1000.0, 2_000_000_000, 2000),
            (1000.0, 2_000_000_001, 2001),
            (1000.0, 1_999_999_999, 2000),
            (3.0, 1_000_000_000, 3),
            (3.0, 1_000_000_001, 4),
            (20_000.0, 10_000_000_000, 200_000),
            (0.5, 10_000_000_000, 5),
        ];
        for &(rate, d, want) in table {
            let s = Schedule::constant(rate, Duration::from_nanos(d)).unwrap();
            assert_eq!(s.total(), Some(want), "rate {rate} d {d}");
            // the total agrees with due_ns: the last load is in, the next one is out
            assert!(s.due_ns(want - 1).is_some());
            assert_eq!(s.due_ns(want), None);
        }
    }

    #[test]
    fn max_loads_caps_the_schedule() {
        let s = Schedule::constant(1000.0, secs(10))
            .unwrap()
            .with_max_loads(Some(5));
        assert_eq!(s.total(), Some(5));
        assert_eq!(s.due_ns(4), Some(4_000_000));
        assert_eq!(s.due_ns(5), None);
        let c = Schedule::closed(secs(1)).unwrap().with_max_loads(Some(9));
        assert_eq!(c.total(), Some(9));
        assert_eq!(Schedule::closed(secs(1)).unwrap().total(), None);
    }

    #[test]
    fn strides_partition_the_schedule() {
        let s = Schedule::constant(1000.0, Duration::from_millis(10)).unwrap();
        let all: Vec<_> = dues(&s, Stride::ALL, 100);
        assert_eq!(all.len(), 10);
        let mut merged = Vec::new();
        for shard in 0..3 {
            let part = dues(&s, Stride::ALL.split(shard, 3), 100);
            assert_eq!(
                part.len() as u64,
                (0..10).filter(|j| j % 3 == shard).count() as u64
            );
            merged.extend(part);
        }
        merged.sort();
        assert_eq!(merged, all);
        // a machine shard split again over its threads
        let m = Stride::ALL.split(1, 2).split(1, 2);
        assert_eq!(m, Stride { first: 3, step: 4 });
        assert_eq!(dues(&s, m, 100), vec![(3, 3_000_000), (7, 7_000_000)]);
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn stages_table() {
        // 0 → 100 LPS over 1 s, hold 100 for 1 s, 100 → 0 over 1 s: 50 + 100 + 50 loads
        let st = Stage::parse_list("1s:100,1s:100,1s:0").unwrap();
        let s = Schedule::stages(0.0, &st).unwrap();
        assert_eq!(s.duration(), Duration::from_secs(3));
        assert_eq!(s.total(), Some(200));
        assert_eq!(s.rate(), 100.0);
        // ramp up: Λ(t) = 50 t², load j at sqrt(j/50) s
        let table: &[(u64, u64)] = &[
            (0, 0),
            (1, 141_421_356),
            (2, 200_000_000),
            (50, 1_000_000_000),
            (51, 1_010_000_000),
            (149, 1_990_000_000),
            (150, 2_000_000_000),
            (199, 2_858_578_643),
        ];
        for &(j, want) in table {
            let got = s.due_ns(j).unwrap();
            assert!(got.abs_diff(want) <= 2, "j {j}: {got} vs {want}");
        }
        assert_eq!(s.due_ns(200), None);
        // a constant "ramp" agrees with the constant schedule
        let flat = Schedule::stages(
            1000.0,
            &[Stage {
                duration: ms(2000),
                rate: 1000.0,
            }],
        )
        .unwrap();
        let c = Schedule::constant(1000.0, ms(2000)).unwrap();
        assert_eq!(flat.total(), c.total());
        for j in [0, 1, 7, 999, 1999] {
            assert!(
                flat.due_ns(j).unwrap().abs_diff(c.due_ns(j).unwrap()) <= 1,
                "{j}"
            );
        }
        assert!(Stage::parse_list("").is_err());
        assert!(Stage::parse_list("10s").is_err());
        assert!(Stage::parse_list("10s:-1").is_err());
        assert!(Stage::parse_list("soon:10").is_err());
    }

    #[test]
    fn stages_are_monotone_and_strides_partition_them() {
        let st = Stage::parse_list("500ms:2000,1s:500,250ms:3000").unwrap();
        let s = Schedule::stages(100.0, &st).unwrap();
        let all = dues(&s, Stride::ALL, 1_000_000);
        assert_eq!(all.len() as u64, s.total().unwrap());
        assert!(all.windows(2).all(|w| w[0].1 <= w[1].1));
        let mut merged: Vec<_> = (0..3)
            .flat_map(|i| dues(&s, Stride::ALL.split(i, 3), 1_000_000))
            .collect();
        merged.sort();
        assert_eq!(merged, all);
    }

    #[test]
    fn poisson_is_repeatable_with_the_right_mean() {
        let s = Schedule::poisson(1000.0, 42, Duration::from_secs(1000)).unwrap();
        let all = dues(&s, Stride::ALL, 100_000);
        assert_eq!(all.len(), 100_000);
        let mean_rate = 99_999.0 / (all[99_999].1 as f64 / 1e9);
        assert!((mean_rate - 1000.0).abs() < 10.0, "{mean_rate}");
        // pure function of (index, seed): the same again, and random access agrees
        assert_eq!(dues(&s, Stride::ALL, 100), all[..100]);
        assert_eq!(s.due_ns(50), Some(all[50].1));
        let other = Schedule::poisson(1000.0, 43, Duration::from_secs(1000)).unwrap();
        assert_ne!(dues(&other, Stride::ALL, 10), all[..10]);
        // shards take exactly the loads of the global schedule
        let mut merged: Vec<_> = (0..4)
            .flat_map(|i| dues(&s, Stride::ALL.split(i, 4), 2_500))
            .collect();
        merged.sort();
        assert_eq!(merged, all[..10_000]);
        // gaps look exponential: about 63.2 % are below the mean gap
        let below = all
            .windows(2)
            .filter(|w| w[1].1 - w[0].1 < 1_000_000)
            .count();
        assert!((below as f64 / 99_999.0 - 0.632).abs() < 0.01, "{below}");
        assert!(Schedule::poisson(0.0, 1, ms(10)).is_err());
    }

    #[test]
    fn bad_rates_and_durations_are_refused() {
        assert!(Schedule::constant(-1.0, secs(1)).is_err());
        assert!(Schedule::constant(f64::NAN, secs(1)).is_err());
        assert!(Schedule::constant(1e10, secs(1)).is_err());
        assert!(Schedule::constant(0.0001, secs(1)).is_err());
        assert!(Schedule::constant(10.0, Duration::ZERO).is_err());
        assert!(Schedule::constant(0.0, secs(1)).unwrap().is_closed());
    }
}
