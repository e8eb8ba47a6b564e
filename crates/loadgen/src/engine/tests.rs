//! Engine tests on tokio's paused clock: a runner driven with callers that take virtual
//! time, so the counts are exact and nothing sleeps.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::drive::drive;
use super::lifecycle::{Control, StopLevel};
use super::runner::RunnerOutput;
use super::{Plan, Target, clock};
use crate::caller::{Caller, Load, ThreadContext};
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

/// Runs one generator thread of `plan` with `sim` on the paused clock.
async fn run(plan: Plan, slots: u64, sim: Sim) -> (RunnerOutput, u64) {
    run_with_stops(plan, slots, sim, &[]).await
}

/// Runs like [`run`], requesting each stop level of `stops` at its time after t0.
async fn run_with_stops(
    plan: Plan,
    slots: u64,
    sim: Sim,
    stops: &[(Duration, StopLevel)],
) -> (RunnerOutput, u64) {
    let peak = sim.peak.clone();
    let ctx = ThreadContext {
        index: 0,
        count: 1,
        slots,
    };
    let t0 = clock::now() + Duration::from_millis(1);
    let control = Arc::new(Control::new(1));
    let local = tokio::task::LocalSet::new();
    for &(after, level) in stops {
        let control = control.clone();
        local.spawn_local(async move {
            tokio::time::sleep_until((t0 + after).into()).await;
            control.request(level, clock::now());
        });
    }
    let out = local
        .run_until(drive(ctx, sim, control, Arc::new(plan), t0))
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
    assert_eq!(out.load.peak_in_flight, 10);
    assert_eq!(out.load.max_in_flight, 10);
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
    // on time: the last waiting load goes out by 2 s + its 100 ms deadline, and the
    // last call (10 ms) ends well within the grace after it
    assert!(
        out.busy_wall <= Duration::from_millis(2_000 + 100 + 100),
        "{:?}",
        out.busy_wall
    );
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
    assert!(out.load.peak_in_flight <= 22 * 1024, "{:?}", out.load);
    assert!(c.get(Outcome::Success) > 0);
}

#[tokio::test(start_paused = true)]
async fn a_stop_gives_in_flight_calls_the_grace_period_then_cancels_them() {
    // calls that never end; a stop at 300 ms: nothing more is sent (load 30, due at the
    // same instant, is dropped), the 30 calls in flight get 200 ms of grace, then are
    // cancelled
    let s = Schedule::constant(100.0, Duration::from_secs(10)).unwrap();
    let mut p = plan(s, Duration::from_secs(5));
    p.grace = Some(Duration::from_millis(200));
    let stop = [(Duration::from_millis(300), StopLevel::Stop)];
    let (out, _) = run_with_stops(p, 501, sim(None, None), &stop).await;
    let c = out.agg.counts;
    assert!(c.invariant_holds(), "{c:?}");
    assert_eq!(
        (c[Outcome::Cancelled], c[Outcome::Dropped]),
        (30, 1),
        "{c:?}"
    );
    // the end: the grace period after the stop
    assert_eq!(
        out.busy_wall,
        Duration::from_millis(500),
        "{:?}",
        out.busy_wall
    );
}

#[tokio::test(start_paused = true)]
async fn an_abort_cancels_at_once() {
    let s = Schedule::constant(100.0, Duration::from_secs(10)).unwrap();
    let mut p = plan(s, Duration::from_secs(5));
    p.grace = Some(Duration::from_secs(3));
    let stops = [
        (Duration::from_millis(300), StopLevel::Stop),
        (Duration::from_millis(350), StopLevel::Abort),
    ];
    let (out, _) = run_with_stops(p, 501, sim(None, None), &stops).await;
    let c = out.agg.counts;
    assert_eq!(
        (c[Outcome::Cancelled], c[Outcome::Dropped]),
        (30, 1),
        "{c:?}"
    );
    assert_eq!(out.busy_wall, Duration::from_millis(350));
}

#[tokio::test(start_paused = true)]
async fn a_stop_after_the_schedule_ended_drops_the_waiting_loads_at_once() {
    // one slot held by a call that never ends; the schedule (50 loads) ends with the last
    // release at 490 ms, 49 loads waiting — they would wait for their 3 s deadline, but a
    // stop at 700 ms drops them at once; the call in flight gets its grace, 300 ms from
    // the end of the schedule
    let s = Schedule::constant(100.0, Duration::from_millis(500)).unwrap();
    let mut p = plan(s, Duration::from_secs(3));
    p.grace = Some(Duration::from_millis(300));
    let stop = [(Duration::from_millis(700), StopLevel::Stop)];
    let (out, _) = run_with_stops(p, 1, sim(None, None), &stop).await;
    let c = out.agg.counts;
    assert_eq!(c.scheduled, 50);
    assert_eq!(
        (c[Outcome::Cancelled], c[Outcome::Dropped]),
        (1, 49),
        "{c:?}"
    );
    assert_eq!(
        out.busy_wall,
        Duration::from_millis(790),
        "{:?}",
        out.busy_wall
    );
}

#[tokio::test(start_paused = true)]
async fn the_auto_quantum_follows_the_service_time() {
    // 1000 loads/s for 1 s; a fixed quantum stays what it is, auto takes a fifth of the
    // median service time within 100 us..2 ms once answers come in
    let table = [
        // (service, auto, expected quantum)
        (5 * MS, true, MS),
        // (the paused clock sleeps in whole ms: the lower bound is in pacer's table)
        (2 * MS, true, Duration::from_micros(400)),
        (50 * MS, true, super::pacer::AUTO_MAX),
        (5 * MS, false, Duration::from_micros(100)),
    ];
    for (service, auto, want) in table {
        let s = Schedule::constant(1000.0, Duration::from_secs(1)).unwrap();
        let mut p = plan(s, Duration::from_secs(3));
        p.adaptive_quantum = auto;
        let (out, _) = run(p, 1000, sim(None, Some(service))).await;
        assert_eq!(out.agg.counts[Outcome::Success], 1000);
        // where it settled (the histogram's median is within 0.1 %)
        let off = out.quantum.abs_diff(want).as_secs_f64() / want.as_secs_f64();
        assert!(off < 0.01, "{service:?} auto={auto}: {:?}", out.quantum);
    }
}
