//! Engine tests on tokio's paused clock: a shard driven with callers that take virtual
//! time, so the counts are exact and nothing sleeps.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::lifecycle::Control;
use super::shard::{ShardOutput, drive};
use super::{Plan, Target, clock};
use crate::caller::{Caller, Load, ShardContext};
use crate::outcome::{Failure, Outcome};
use crate::schedule::Schedule;

/// A target that serves `capacity` calls at once, each taking `service` (or never
/// answering when `service` is `None`).
struct Sim {
    capacity: Option<u64>,
    service: Option<Duration>,
    in_flight: Rc<Cell<u64>>,
    peak: Rc<Cell<u64>>,
}

impl Caller for Sim {
    type Request = ();
    type Response = ();
    fn build(&self, _: Load) {}
    async fn call(&self, _: &(), _: Instant) -> Result<(), Failure> {
        self.in_flight.set(self.in_flight.get() + 1);
        self.peak.set(self.peak.get().max(self.in_flight.get()));
        struct Leave(Rc<Cell<u64>>);
        impl Drop for Leave {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        let _leave = Leave(self.in_flight.clone());
        match self.service {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
        Ok(())
    }
    fn check(&self, _: Load, _: &(), _: &()) -> Result<(), Failure> {
        Ok(())
    }
    fn capacity(&self) -> Option<u64> {
        self.capacity
    }
}

fn plan(schedule: Schedule, timeout: Duration) -> Plan {
    let mut p = Plan::new(
        schedule,
        timeout,
        vec![Target {
            name: "sim".into(),
            weight: 1,
        }],
        "sim",
    );
    p.precise_timer = false;
    p
}

/// Runs one shard of `plan` with `sim` on the paused clock.
async fn run(plan: Plan, slots: u64, sim: Sim) -> (ShardOutput, u64) {
    let peak = sim.peak.clone();
    let ctx = ShardContext {
        index: 0,
        count: 1,
        slots,
    };
    let t0 = clock::now() + Duration::from_millis(1);
    let local = tokio::task::LocalSet::new();
    let out = local
        .run_until(drive(
            ctx,
            sim,
            Arc::new(Control::new(1)),
            Arc::new(plan),
            t0,
        ))
        .await;
    (out, peak.get())
}

fn sim(capacity: Option<u64>, service: Option<Duration>) -> Sim {
    Sim {
        capacity,
        service,
        in_flight: Rc::new(Cell::new(0)),
        peak: Rc::new(Cell::new(0)),
    }
}

const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn three_times_capacity_plateaus_at_capacity() {
    // the target takes 10 calls at once, 10 ms each: 1000 calls/s. Offered 3000/s for 2 s
    // with 6,001 slots (the book's rule for a 2 s timeout): only 10 calls ever run, the rest
    // wait as a count and expire as dropped
    let s = Schedule::constant(3000.0, Duration::from_secs(2)).unwrap();
    let (out, peak) = run(plan(s, 100 * MS), 6001, sim(Some(10), Some(10 * MS))).await;
    let c = out.agg.counts;
    assert!(c.invariant_holds(), "{c:?}");
    assert_eq!(c.scheduled, 6000);
    assert_eq!(peak, 10);
    assert_eq!(out.load.peak_workers, 10);
    assert_eq!(out.load.max_workers, 10);
    assert!(out.load.capacity_bound);
    let ok = c.get(Outcome::Success);
    // 2 s at 1000/s, plus the waiting loads that go out within their deadline after the end
    assert!((2000..=2110).contains(&ok), "{c:?}");
    assert_eq!(c.get(Outcome::Timeout), 0);
    assert_eq!(c.get(Outcome::Cancelled), 0);
    assert_eq!(c.get(Outcome::Dropped), 6000 - ok);
    assert!(
        out.load.saturated > Duration::from_millis(1900),
        "{:?}",
        out.load
    );
    // the latency of what got through climbs to the wait deadline
    assert!(out.agg.latency.value_at_quantile(0.99) >= 100_000);
}

#[tokio::test(start_paused = true)]
async fn below_capacity_nothing_waits() {
    let s = Schedule::constant(500.0, Duration::from_secs(2)).unwrap();
    let (out, peak) = run(plan(s, 100 * MS), 51, sim(Some(10), Some(10 * MS))).await;
    let c = out.agg.counts;
    assert_eq!(c.get(Outcome::Success), 1000, "{c:?}");
    assert!(peak <= 6, "{peak}");
    assert_eq!(out.load.saturated, Duration::ZERO);
    // virtual time: every call takes 10 ms from its send, which is at most one tick of
    // tokio's millisecond timer late
    assert!(out.agg.service.min() >= 10_000 && out.agg.service.max() < 10_100);
    assert!(out.agg.latency.max() < 11_100, "{}", out.agg.latency.max());
}

#[tokio::test(start_paused = true)]
async fn calls_that_never_answer_time_out_at_their_deadline() {
    let s = Schedule::constant(100.0, Duration::from_secs(1)).unwrap();
    let (out, _) = run(plan(s, 50 * MS), 6, sim(None, None)).await;
    let c = out.agg.counts;
    assert_eq!(c.scheduled, 100);
    assert_eq!(c.get(Outcome::Timeout), 100, "{c:?}");
    // 6 slots hold calls of 50 ms: 100 LPS needs 5
    assert_eq!(c.get(Outcome::Dropped), 0);
}

#[tokio::test(start_paused = true)]
async fn closed_loop_starts_a_huge_concurrency_lazily_and_stops_on_time() {
    // ten million slots, no capacity limit: workers start 1024 per ms, never all at once,
    // and the run still ends at its duration
    let s = Schedule::closed(Duration::from_millis(20)).unwrap();
    let (out, _) = run(plan(s, 100 * MS), 10_000_000, sim(None, Some(5 * MS))).await;
    let c = out.agg.counts;
    assert!(c.invariant_holds());
    assert!(out.load.peak_workers <= 22 * 1024, "{:?}", out.load);
    assert!(c.get(Outcome::Success) > 0);
}
