//! One runner: a single-threaded runtime that owns every N-th load of the schedule, its
//! dispatcher, its workers, its caller (and so its connections) and its recorder. Shards
//! share nothing on the per-call path.
//!
//! The runner's main task wakes when loads fall due (at most once per pacing quantum),
//! releases them into the [`Dispatcher`] as a count, and wakes idle workers — spawning
//! new ones only while loads wait and fewer than `max_workers` exist. `max_workers` is the
//! smaller of the slots and what the caller can run at once ([`Caller::capacity`]): past
//! the target's capacity, the excess waits as a count and expires as `dropped`; nothing
//! per waiting load is ever allocated.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::dispatcher::{Dispatcher, Gone, Picker};
use super::lifecycle::Control;
use super::{Plan, clock};
use crate::caller::{Caller, Load};
use crate::outcome::{Failure, Outcome};
use crate::record::hist::Hist;
use crate::record::results::{CallRecord, Sink};
use crate::record::{Aggregate, Recorder};
use crate::summary::LoadFacts;

const MSG_NO_SLOT: &str = "not sent: no free slot before the load's deadline";
pub(super) const MSG_STOPPED: &str = "not sent: the run was stopped";
pub(super) const MSG_ENDED: &str = "not sent: no free slot before the grace period ended";
/// How often live counters are published and waiting loads expire, at the least.
pub(super) const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Closed loop: workers started per millisecond, at most (a huge `-c` ramps up instead of
/// allocating every worker at once, and a stop is seen between batches).
pub(super) const SPAWN_PER_MS: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Loads are being released.
    Running,
    /// The schedule ended: waiting loads still go out (or expire); no new ones.
    Draining,
    /// A stop was requested: nothing more goes out.
    Stopped,
}

/// What a runner hands back when it ends.
pub(crate) struct RunnerOutput {
    pub agg: Aggregate,
    pub cpu: Duration,
    pub busy_wall: Duration,
    pub last_event: Instant,
    pub wake_late: Hist,
    pub precise: bool,
    pub load: LoadFacts,
    /// The pacing quantum in use at the end (auto: where it settled).
    pub quantum: Duration,
}

pub(crate) struct Runner<C: Caller> {
    pub(crate) caller: C,
    pub(crate) timeout: Duration,
    pub(super) index: usize,
    pub(super) plan: Arc<Plan>,
    pub(super) control: Arc<Control>,
    pub(super) t0: Instant,
    pub(super) max_workers: u64,
    pub(super) picker: Picker,
    pub(super) dispatch: RefCell<Dispatcher>,
    pub(super) rec: RefCell<Recorder>,
    pub(super) results: RefCell<Option<Sink>>,
    pub(super) phase: Cell<Phase>,
    pub(super) idle: RefCell<Vec<Waker>>,
    pub(super) workers: Cell<u64>,
    pub(super) peak_workers: Cell<u64>,
    pub(super) in_flight: Cell<u64>,
    pub(super) last_event: Cell<Instant>,
    pub(super) last_send: Cell<Instant>,
    /// Calls each target may carry and carries now, when the backlog is kept per target.
    pub(super) lanes: Option<Lanes>,
    /// The dispatcher's waker while it sleeps through a saturated stretch: the first
    /// worker that finds no load wakes it (the backlog is gone).
    pub(super) saturated_waiter: RefCell<Option<Waker>>,
}

/// Per-target calls: what each target's connections can carry, and what they carry.
pub(crate) struct Lanes {
    pub caps: Vec<u64>,
    pub busy: RefCell<Vec<u64>>,
}

impl<C: Caller> Runner<C> {
    pub(super) fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.t0).as_nanos() as u64
    }

    pub(super) fn at(&self, ns: u64) -> Instant {
        self.t0 + Duration::from_nanos(ns)
    }

    /// A load scheduled for target `from` is reported as `to` (the caller chose its request).
    pub(super) fn retarget(&self, from: usize, to: usize) {
        self.rec.borrow_mut().retarget(from, to);
    }

    /// Releases every load due by `now`.
    pub(super) fn release(&self, now: Instant) {
        let step = self.dispatch.borrow().step();
        let mut rec = self.rec.borrow_mut();
        self.dispatch
            .borrow_mut()
            .release(self.ns(now), |span, bucket| {
                self.picker.split(span, step, |t, n| {
                    rec.scheduled_n(t, bucket as usize, n);
                });
            });
    }

    /// Counts the loads that are `gone` as dropped at `now`.
    pub(super) fn dropped(&self, gone: Gone, now: Instant, message: &'static str) {
        let step = self.dispatch.borrow().step();
        let span = gone.span;
        {
            let mut rec = self.rec.borrow_mut();
            match gone.target {
                Some(t) => {
                    rec.failures(t, now, Outcome::Dropped, Cow::Borrowed(message), span.count)
                }
                None => self.picker.split(span, step, |t, n| {
                    rec.failures(t, now, Outcome::Dropped, Cow::Borrowed(message), n);
                }),
            }
        }
        if let Some(sink) = self.results.borrow_mut().as_mut() {
            let mut c = self.plan.schedule.cursor(crate::schedule::Stride {
                first: span.first,
                step,
            });
            let mut left = span.count;
            while left > 0 {
                let Some((j, due)) = c.peek() else { break };
                if gone.target.is_some_and(|t| self.picker.pick(j) != t) {
                    c.advance(&self.plan.schedule);
                    continue;
                }
                left -= 1;
                sink.push(CallRecord {
                    index: j,
                    thread: self.index as u32,
                    target: self.picker.pick(j) as u32,
                    intended_ns: due,
                    sent_ns: None,
                    end_ns: self.ns(now),
                    outcome: Outcome::Dropped,
                });
                c.advance(&self.plan.schedule);
            }
        }
        self.last_event.set(now);
    }

    /// Drops waiting loads whose deadline has passed.
    pub(super) fn expire(&self, now: Instant) {
        let mut gone = Vec::new();
        self.dispatch
            .borrow_mut()
            .expire(self.ns(now), |g| gone.push(g));
        for g in gone {
            self.dropped(g, now, MSG_NO_SLOT);
        }
    }

    /// Counts every waiting load as dropped with `message`.
    pub(super) fn drop_waiting(&self, now: Instant, message: &'static str) {
        let mut gone = Vec::new();
        self.dispatch.borrow_mut().drain(|g| gone.push(g));
        for g in gone {
            self.dropped(g, now, message);
        }
    }

    /// Whether target `t` can take another call now (always, without lanes).
    pub(super) fn room(&self, t: usize) -> bool {
        match &self.lanes {
            Some(l) => l.busy.borrow()[t] < l.caps[t],
            None => true,
        }
    }

    /// Waiting loads a worker could take now.
    pub(super) fn takeable(&self) -> u64 {
        self.dispatch.borrow().takeable(|t| self.room(t))
    }

    /// The next load for a free worker, or `None` when there is none right now. Loads
    /// due by `now` are released first: while every worker is busy the dispatcher sleeps,
    /// and the workers themselves keep the backlog current as they finish.
    pub(super) fn take(&self, now: Instant) -> Option<(Load, Instant)> {
        if self.phase.get() == Phase::Stopped {
            return None;
        }
        // while the dispatcher sleeps saturated, nobody else releases due loads; otherwise
        // its ticks do, and a take costs no release
        if self.phase.get() == Phase::Running && self.saturated_waiter.borrow().is_some() {
            self.release(now);
        }
        let mut expired = Vec::new();
        let got =
            self.dispatch
                .borrow_mut()
                .take(self.ns(now), |t| self.room(t), |g| expired.push(g));
        for g in expired {
            self.dropped(g, now, MSG_NO_SLOT);
        }
        let (j, due) = got?;
        let target = self.picker.pick(j);
        if let Some(l) = &self.lanes {
            l.busy.borrow_mut()[target] += 1;
        }
        let intended = if self.dispatch.borrow().is_closed_loop() {
            self.rec.borrow_mut().scheduled(target, now);
            now
        } else {
            self.at(due)
        };
        Some((Load { index: j, target }, intended))
    }

    /// Waits for a load: the load, when it was due, and now (the clock read that took it:
    /// the call goes out at once). `None` when the worker should end.
    pub(crate) async fn next_load(&self) -> Option<(Load, Instant, Instant)> {
        poll_fn(|cx| {
            let now = clock::now();
            if let Some((load, intended)) = self.take(now) {
                return Poll::Ready(Some((load, intended, now)));
            }
            if self.phase.get() != Phase::Running || self.dispatch.borrow().is_closed_loop() {
                return Poll::Ready(None);
            }
            self.idle.borrow_mut().push(cx.waker().clone());
            // no backlog left: a dispatcher asleep through saturation resumes its ticks
            if let Some(w) = self.saturated_waiter.borrow_mut().take() {
                w.wake();
            }
            Poll::Pending
        })
        .await
    }

    /// A load goes out at `send`.
    pub(crate) fn sent(&self, send: Instant, intended: Instant) {
        self.last_send.set(send);
        self.in_flight.set(self.in_flight.get() + 1);
        self.rec
            .borrow_mut()
            .sent(send, send.saturating_duration_since(intended));
    }

    /// A load ended at `end` with `r`; its answer's status class, if it had one.
    pub(crate) fn record(
        &self,
        load: Load,
        intended: Instant,
        send: Instant,
        end: Instant,
        r: Result<(), Failure>,
        class: Option<u8>,
    ) {
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
        if let Some(l) = &self.lanes {
            // the target `take` counted it under (a caller's report row may differ)
            let t = self.picker.pick(load.index);
            let mut busy = l.busy.borrow_mut();
            busy[t] = busy[t].saturating_sub(1);
        }
        let outcome = r.as_ref().map_or_else(|f| f.outcome, |()| Outcome::Success);
        {
            let mut rec = self.rec.borrow_mut();
            if let Some(c) = class {
                rec.status_class(load.target, c);
            }
            match r {
                Ok(()) => rec.success(load.target, end, end - intended, end - send),
                Err(f) => rec.failure_timed(
                    load.target,
                    end,
                    f.outcome,
                    f.message,
                    end - intended,
                    end - send,
                ),
            }
        }
        if let Some(sink) = self.results.borrow_mut().as_mut() {
            sink.push(CallRecord {
                index: load.index,
                thread: self.index as u32,
                target: load.target as u32,
                intended_ns: self.ns(intended),
                sent_ns: Some(self.ns(send)),
                end_ns: self.ns(end),
                outcome,
            });
        }
        self.last_event.set(end);
    }

    pub(crate) fn worker_ended(&self) {
        self.workers.set(self.workers.get() - 1);
    }

    pub(super) fn wake_all(&self) {
        for w in self.idle.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Wakes up to `n` idle workers; returns how many of the `n` found none.
    pub(super) fn wake_idle(&self, mut n: u64) -> u64 {
        let mut idle = self.idle.borrow_mut();
        while n > 0 {
            let Some(w) = idle.pop() else { break };
            w.wake();
            n -= 1;
        }
        n
    }

    /// Counts a worker about to start (see `drive::spawn_worker`).
    pub(super) fn worker_started(&self) {
        let n = self.workers.get() + 1;
        self.workers.set(n);
        self.peak_workers.set(self.peak_workers.get().max(n));
    }

    /// True when every allowed worker is busy and loads wait: the target (or the
    /// connections) cannot take more.
    pub(super) fn saturated(&self) -> bool {
        self.all_busy()
            || (self.lanes.is_some()
                && self.dispatch.borrow().waiting() > 0
                && self.takeable() == 0)
    }

    /// True when loads wait and every worker there may be is busy: no worker is idle to
    /// wake, each takes its next load as its call ends.
    pub(super) fn all_busy(&self) -> bool {
        self.dispatch.borrow().waiting() > 0
            && self.workers.get() >= self.max_workers
            && self.idle.borrow().is_empty()
    }

    pub(super) fn publish(&self) {
        let rec = self.rec.borrow();
        let c = rec.counts();
        let out = &self.control.counters[self.index];
        out.scheduled.store(c.scheduled, Ordering::Relaxed);
        out.sent.store(rec.sent_count(), Ordering::Relaxed);
        out.completed.store(c.completed(), Ordering::Relaxed);
        out.success
            .store(c.get(Outcome::Success), Ordering::Relaxed);
        out.failed
            .store(c.accounted() - c.get(Outcome::Success), Ordering::Relaxed);
        out.in_flight.store(self.in_flight.get(), Ordering::Relaxed);
        out.p99_last_us.store(rec.last_p99_us(), Ordering::Relaxed);
        if self.control.live.load(Ordering::Relaxed) {
            let mut live = out.live.lock().unwrap_or_else(|p| p.into_inner());
            let live = live.get_or_insert_with(Default::default);
            // one moment: the counts, the details and the time, taken together
            live.snapshot = super::Snapshot {
                elapsed: super::clock::now().saturating_duration_since(self.t0),
                scheduled: c.scheduled,
                sent: rec.sent_count(),
                completed: c.completed(),
                success: c.get(Outcome::Success),
                failed: c.accounted() - c.get(Outcome::Success),
                in_flight: self.in_flight.get(),
                p99_last_us: rec.last_p99_us(),
            };
            // a syscall: only the live view reads it
            live.cpu = thread_cpu();
            rec.live_into(live);
            let j = live
                .journeys
                .get_or_insert_with(|| crate::record::JourneyAgg::new(0));
            if !self.caller.journeys_into(j) {
                live.journeys = None;
            }
            live.connections = self.caller.connections_open();
            let mut connects = live
                .connects
                .take()
                .unwrap_or_else(crate::record::hist::new_interval_hist);
            connects.reset();
            self.caller.connects_into(&mut connects);
            live.connects = (!connects.is_empty()).then_some(connects);
        }
    }
}

/// CPU time (user + system) of the calling thread.
pub(super) fn thread_cpu() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given; RUSAGE_THREAD is Linux-specific.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) };
        if rc == 0 {
            // SAFETY: getrusage succeeded, so the struct is initialized.
            let ru = unsafe { ru.assume_init() };
            let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
            return tv(ru.ru_utime) + tv(ru.ru_stime);
        }
    }
    Duration::ZERO
}
