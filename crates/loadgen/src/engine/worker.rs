//! Workers: the tasks that run calls. A worker takes the oldest waiting load, calls the
//! caller before an absolute deadline, records the outcome, and takes the next; when none
//! is waiting it parks (its waker on the runner's idle list) until the dispatcher wakes it.
//!
//! The deadline is enforced here, whatever the caller does: the clock is read at every
//! poll of the call, so a call whose read loop always finds data still ends at its
//! timeout within one scheduler tick (tokio's cooperative budget makes such a loop
//! yield). A panic in `build`, `call` or `check` becomes `fatal`; a worker dropped
//! mid-call (the grace period ran out) counts its load `cancelled`, or `timeout` if its
//! deadline had come.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::time::Sleep;

use super::clock;
use super::runner::Runner;
use crate::caller::{Caller, Load};
use crate::outcome::{Failure, Outcome};

const MSG_TIMEOUT: &str = "no response within the timeout";
const MSG_CANCELLED: &str = "in flight when the stop grace period ran out";

/// One worker: calls until the runner has no more loads for it.
pub(crate) async fn run<C: Caller>(runner: Rc<Runner<C>>) {
    let mut sleep = pin!(tokio::time::sleep(Duration::from_secs(86_400)));
    while let Some((load, intended, send)) = runner.next_load().await {
        runner.sent(send, intended);
        let mut guard = InFlight {
            runner: &runner,
            load,
            intended,
            send,
            armed: true,
        };
        let (r, end, class) = call(
            &runner,
            &mut guard.load,
            send,
            send + runner.timeout,
            sleep.as_mut(),
        )
        .await;
        guard.armed = false;
        runner.record(guard.load, intended, send, end, r, class);
    }
    runner.worker_ended();
}

/// One call: build, call before `deadline`, check; returns the result, when the call
/// ended (the response's arrival when the caller knows it) and its status class, if any. Panics become `fatal`. The
/// load's target becomes the request's report row when the caller chose the request.
async fn call<C: Caller>(
    runner: &Runner<C>,
    load: &mut Load,
    send: Instant,
    deadline: Instant,
    mut sleep: Pin<&mut Sleep>,
) -> (Result<(), Failure>, Instant, Option<u8>) {
    let caller = &runner.caller;
    let req = match catch_unwind(AssertUnwindSafe(|| caller.build(*load))) {
        Ok(r) => r,
        Err(p) => return (Err(Failure::from_panic(p)), clock::now(), None),
    };
    let row = match catch_unwind(AssertUnwindSafe(|| caller.report_target(&req))) {
        Ok(row) => row,
        Err(p) => return (Err(Failure::from_panic(p)), clock::now(), None),
    };
    if let Some(t) = row {
        // a row the run does not have is the caller's bug: the load keeps its own
        let targets = runner.plan.targets.len();
        debug_assert!(t < targets, "report_target {t} of {targets} targets");
        if t < targets && t != load.target {
            runner.retarget(load.target, t);
            load.target = t;
        }
    }
    let load = *load;
    sleep.as_mut().reset(deadline.into());
    let mut call = pin!(caller.call(&req, deadline));
    let timeout = || Failure::new(Outcome::Timeout, MSG_TIMEOUT);
    let mut first = true;
    let resp = poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
            Ok(Poll::Ready(r)) => return Poll::Ready(r),
            Ok(Poll::Pending) => {}
            Err(p) => return Poll::Ready(Err(Failure::from_panic(p))),
        }
        // the clock decides, not only the timer: a busy call is polled again and again
        // without the timer's turn coming (both draw on one cooperative budget); the first
        // poll comes straight after the send, so only later ones read the clock
        let late = !std::mem::take(&mut first) && clock::now() >= deadline;
        if late || sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(timeout()));
        }
        Poll::Pending
    })
    .await;
    let now = clock::now();
    let resp = match resp {
        Ok(r) => r,
        Err(f) => return (Err(f), now, None),
    };
    let class = catch_unwind(AssertUnwindSafe(|| caller.status_class(&resp))).unwrap_or(None);
    // a response read after its deadline is in time if it arrived in time (read in a batch)
    let arrival = match catch_unwind(AssertUnwindSafe(|| caller.arrival(&resp))) {
        Ok(at) => at,
        Err(p) => return (Err(Failure::from_panic(p)), now, class),
    };
    let end = completion(arrival, send, now);
    if end > deadline {
        return (Err(timeout()), now, None);
    }
    let checked = catch_unwind(AssertUnwindSafe(|| caller.check(load, &req, &resp)))
        .unwrap_or_else(|p| Err(Failure::from_panic(p)));
    (checked, end, class)
}

/// When a call ended: its response's arrival when that is plausible — not before the
/// send, not after `now` — else `now`, when the engine saw it. A kernel timestamp is wall
/// clock time; one from before the send says the clock stepped between the stamp and the
/// read, and taking it (or the send) would make a late answer look instant.
fn completion(arrival: Option<Instant>, send: Instant, now: Instant) -> Instant {
    match arrival {
        Some(at) if at >= send => at.min(now),
        _ => now,
    }
}

/// Counts the load as `cancelled` if the worker is dropped mid-call.
struct InFlight<'a, C: Caller> {
    runner: &'a Runner<C>,
    load: Load,
    intended: Instant,
    send: Instant,
    armed: bool,
}

impl<C: Caller> Drop for InFlight<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            let (failure, end) = unfinished(self.send, self.runner.timeout, clock::now());
            self.runner
                .record(self.load, self.intended, self.send, end, Err(failure), None);
        }
    }
}

/// How a call dropped mid-flight at `now` ended: `timeout` at its deadline if that had
/// come (the grace period after the last send is the timeout by default, so the last
/// call's deadline and the end of the grace are one instant, and which of the two timers
/// is seen first must not decide the outcome), else `cancelled` now.
fn unfinished(send: Instant, timeout: Duration, now: Instant) -> (Failure, Instant) {
    let deadline = send + timeout;
    if now >= deadline {
        (Failure::new(Outcome::Timeout, MSG_TIMEOUT), deadline)
    } else {
        (Failure::new(Outcome::Cancelled, MSG_CANCELLED), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_dropped_at_or_past_its_deadline_timed_out() {
        let send = Instant::now();
        let t = Duration::from_secs(2);
        let (f, end) = unfinished(send, t, send + t);
        assert_eq!((f.outcome, end), (Outcome::Timeout, send + t));
        let (f, end) = unfinished(send, t, send + t + Duration::from_millis(3));
        assert_eq!((f.outcome, end), (Outcome::Timeout, send + t));
        let early = send + Duration::from_millis(1999);
        let (f, end) = unfinished(send, t, early);
        assert_eq!((f.outcome, end), (Outcome::Cancelled, early));
    }
}
