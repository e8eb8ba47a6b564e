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
            return Err(ConfigError::new(format!(
                "rate must be a number ≥ 0, got {rate}"
            )));
        }
        if rate > 1e9 {
            return Err(ConfigError::new(format!(
                "rate {rate} is above 1e9 loads per second"
            )));
        }
        let millirate = (rate * 1000.0).round() as u64;
        if rate > 0.0 && millirate == 0 {
            return Err(ConfigError::new(format!(
                "rate {rate} is below the smallest rate, 0.001 loads per second"
            )));
        }
        let arrival = if millirate == 0 {
            Arrival::Closed
        } else {
            Arrival::Constant { millirate }
        };
        Schedule::new(arrival, duration)
    }

    /// A closed-loop schedule lasting `duration`.
    pub fn closed(duration: Duration) -> Result<Schedule, ConfigError> {
        Schedule::new(Arrival::Closed, duration)
    }

    fn new(arrival: Arrival, duration: Duration) -> Result<Schedule, ConfigError> {
        if duration.is_zero() {
            return Err(ConfigError::new("duration must be greater than zero"));
        }
        let duration_ns = u64::try_from(duration.as_nanos())
            .map_err(|_| ConfigError::new("duration is too long"))?;
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

    /// The mean rate in loads per second (0 for closed loop).
    pub fn rate(&self) -> f64 {
        match self.arrival {
            Arrival::Closed => 0.0,
            Arrival::Constant { millirate } => millirate as f64 / 1000.0,
        }
    }

    /// Intended start of load `j` in ns after t0, or `None` when `j` is past the end.
    /// Closed loop has no intended times: always `None`.
    pub fn due_ns(&self, j: u64) -> Option<u64> {
        if self.max_loads.is_some_and(|n| j >= n) {
            return None;
        }
        let t = match self.arrival {
            Arrival::Closed => return None,
            Arrival::Constant { millirate } => {
                (j as u128 * 1_000_000_000 * MILLI / millirate as u128) as u64
            }
        };
        (t < self.duration_ns).then_some(t)
    }

    /// Number of loads in the whole schedule, when it is known in advance
    /// (closed loop: only with a load cap).
    pub fn total(&self) -> Option<u64> {
        let by_time = match self.arrival {
            Arrival::Closed => None,
            // j is in the run iff j·1e12/m < D  ⟺  j < D·m/1e12, so n = ceil(D·m/1e12)
            Arrival::Constant { millirate } => {
                let num = self.duration_ns as u128 * millirate as u128;
                let den = 1_000_000_000 * MILLI;
                Some(num.div_ceil(den) as u64)
            }
        };
        match (by_time, self.max_loads) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Number of loads of `stride` among the first `total` loads.
    pub fn count_in(stride: Stride, total: u64) -> u64 {
        if total <= stride.first {
            0
        } else {
            (total - stride.first).div_ceil(stride.step)
        }
    }

    /// A cursor at the first load of `stride`.
    pub fn cursor(&self, stride: Stride) -> Cursor {
        let mut c = Cursor {
            j: stride.first,
            step: stride.step,
            due: None,
        };
        c.due = self.due_ns(c.j);
        c
    }
}

/// A position in a schedule for one stride; `Copy`, so a shard can keep one for the
/// oldest waiting load and one for the next load not yet due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    j: u64,
    step: u64,
    due: Option<u64>,
}

impl Cursor {
    /// The load at the cursor: `(index, due_ns)`, or `None` at the end of the schedule.
    pub fn peek(&self) -> Option<(u64, u64)> {
        self.due.map(|d| (self.j, d))
    }

    /// The global index at the cursor (also past the end).
    pub fn index(&self) -> u64 {
        self.j
    }

    /// Moves to the next load of the stride.
    pub fn advance(&mut self, schedule: &Schedule) {
        self.j += self.step;
        self.due = self.due_ns_at(schedule);
    }

    fn due_ns_at(&self, schedule: &Schedule) -> Option<u64> {
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
                Schedule::count_in(Stride::ALL.split(shard, 3), 10)
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
