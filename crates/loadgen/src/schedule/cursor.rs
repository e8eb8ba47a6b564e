//! Cursors: positions in a schedule for one stride (one shard's or thread's part), walked
//! load by load or skipped ahead in bulk.

use super::{Arrival, Schedule, Stride, poisson_gap_ns};

impl Schedule {
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

    /// The due time of the load of the stride before the cursor (also at the end of the
    /// schedule: the last load's); `None` at the first.
    pub fn prev_due(&self, schedule: &Schedule) -> Option<u64> {
        let prev = self.j.checked_sub(self.step)?;
        if let Arrival::Poisson { rate, seed } = schedule.arrival {
            let gaps: f64 = (prev..self.j).map(|k| poisson_gap_ns(rate, seed, k)).sum();
            return Some((self.acc - gaps).max(0.0) as u64);
        }
        schedule.due_ns(prev)
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
