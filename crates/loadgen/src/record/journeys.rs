//! What the steps of journeys did, mergeable like the rest of an [`Aggregate`]: per step
//! (and per group) the outcomes, the response time from when the step was ready, the
//! service time from its send, the checks run and failed, and failures by check or capture
//! name; per journey, the active time (without think time).
//!
//! Rows are named by the scenario file (step and group names), never by a rendered URL, so
//! their number is bounded by the file. Histograms keep 2 significant digits (1 %).
//!
//! [`Aggregate`]: super::Aggregate

use std::ops::AddAssign;
use std::time::Duration;

use super::PerOutcome;
use super::hist::{self, Hist};
use crate::outcome::Outcome;

/// What a report row of a journey is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// A request (HTTP or gRPC).
    Request,
    /// A named block of steps, timed as one.
    Group,
}

impl StepKind {
    /// The kind's name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Request => "request",
            StepKind::Group => "group",
        }
    }

    /// Parses [`StepKind::name`].
    pub fn from_name(s: &str) -> Option<StepKind> {
        match s {
            "request" => Some(StepKind::Request),
            "group" => Some(StepKind::Group),
            _ => None,
        }
    }
}

/// A report row of a journey: which scenario, what it is called, what it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepInfo {
    /// The scenario's name.
    pub scenario: String,
    /// The step's (or group's) name.
    pub name: String,
    /// Request or group.
    pub kind: StepKind,
}

/// The most distinct check and capture names counted per step (the rest as "other").
pub const MAX_FAILED_NAMES: usize = 32;

/// What one step (or group) did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepAgg {
    /// Runs per outcome.
    pub outcomes: PerOutcome,
    /// From ready (the previous step's end plus think) to the last byte of the answer, µs,
    /// of every answered run (success, `response_error`, `callee_error`). For a group: its
    /// start to its end, think time included.
    pub response: Hist,
    /// From the send to the last byte, µs, of every answered run. For a group: the sum of
    /// its steps' response times (its active time).
    pub service: Hist,
    /// Checks evaluated.
    pub checks: u64,
    /// Checks that failed.
    pub checks_failed: u64,
    /// Failed checks and captures by name (`check status`, `capture token`), in the order
    /// first seen.
    pub failed: Vec<(String, u64)>,
}

impl Default for StepAgg {
    fn default() -> Self {
        StepAgg {
            outcomes: PerOutcome::default(),
            response: hist::new_interval_hist(),
            service: hist::new_interval_hist(),
            checks: 0,
            checks_failed: 0,
            failed: Vec::new(),
        }
    }
}

impl StepAgg {
    /// Runs of this step, every outcome.
    pub fn runs(&self) -> u64 {
        self.outcomes.total()
    }

    /// Counts `n` failures named `name`.
    pub fn fail_named(&mut self, name: &str, n: u64) {
        if let Some(e) = self.failed.iter_mut().find(|(k, _)| k == name) {
            e.1 += n;
        } else if self.failed.len() < MAX_FAILED_NAMES {
            self.failed.push((name.to_string(), n));
        } else if let Some(e) = self.failed.iter_mut().find(|(k, _)| k == "other") {
            e.1 += n;
        } else {
            self.failed.push(("other".into(), n));
        }
    }
}

impl AddAssign<&StepAgg> for StepAgg {
    fn add_assign(&mut self, o: &StepAgg) {
        self.outcomes += &o.outcomes;
        hist::add(&mut self.response, &o.response);
        hist::add(&mut self.service, &o.service);
        self.checks += o.checks;
        self.checks_failed += o.checks_failed;
        for (k, n) in &o.failed {
            self.fail_named(k, *n);
        }
    }
}

/// Everything the journeys' steps recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyAgg {
    /// One per report row, in row order.
    pub steps: Vec<StepAgg>,
    /// Active time of completed journeys (their steps' response times, without think
    /// time), µs.
    pub active: Hist,
}

impl JourneyAgg {
    /// An empty record of `rows` rows.
    pub fn new(rows: usize) -> JourneyAgg {
        JourneyAgg {
            steps: (0..rows).map(|_| StepAgg::default()).collect(),
            active: hist::new_interval_hist(),
        }
    }

    /// A run of row `row` ended with `outcome`; `times` is (response, service) when it was
    /// answered.
    pub fn step(&mut self, row: usize, outcome: Outcome, times: Option<(Duration, Duration)>) {
        let s = &mut self.steps[row];
        s.outcomes[outcome] += 1;
        if let Some((response, service)) = times {
            hist::record(&mut s.response, response);
            hist::record(&mut s.service, service);
        }
    }

    /// Copies `other` into this one, reusing its histograms' memory.
    pub fn copy_from(&mut self, other: &JourneyAgg) {
        self.steps.resize_with(other.steps.len(), StepAgg::default);
        for (a, b) in self.steps.iter_mut().zip(&other.steps) {
            a.outcomes = b.outcomes;
            a.response.reset();
            hist::add(&mut a.response, &b.response);
            a.service.reset();
            hist::add(&mut a.service, &b.service);
            a.checks = b.checks;
            a.checks_failed = b.checks_failed;
            a.failed.clone_from(&b.failed);
        }
        self.active.reset();
        hist::add(&mut self.active, &other.active);
    }
}

impl AddAssign<&JourneyAgg> for JourneyAgg {
    fn add_assign(&mut self, o: &JourneyAgg) {
        if self.steps.len() < o.steps.len() {
            self.steps.resize_with(o.steps.len(), StepAgg::default);
        }
        for (a, b) in self.steps.iter_mut().zip(&o.steps) {
            *a += b;
        }
        hist::add(&mut self.active, &o.active);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_add_up_and_names_are_bounded() {
        let ms = Duration::from_millis;
        let mut a = JourneyAgg::new(2);
        a.step(0, Outcome::Success, Some((ms(5), ms(3))));
        a.step(1, Outcome::Timeout, None);
        a.steps[1].fail_named("capture token", 1);
        let mut b = JourneyAgg::new(2);
        b.step(0, Outcome::ResponseError, Some((ms(7), ms(6))));
        b.steps[1].fail_named("capture token", 2);
        a += &b;
        assert_eq!(a.steps[0].runs(), 2);
        assert_eq!(a.steps[0].response.len(), 2);
        assert_eq!(a.steps[1].failed, vec![("capture token".to_string(), 3)]);
        for i in 0..(MAX_FAILED_NAMES + 5) {
            a.steps[0].fail_named(&format!("check {i}"), 1);
        }
        assert_eq!(a.steps[0].failed.len(), MAX_FAILED_NAMES + 1);
        let mut c = JourneyAgg::new(0);
        c.copy_from(&a);
        assert_eq!(c, a);
    }
}
