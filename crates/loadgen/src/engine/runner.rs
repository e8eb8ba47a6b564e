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
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::dispatcher::{Dispatcher, Picker, Span};
use super::lifecycle::{self, Control, State, StopLevel};
use super::pacer::Pacer;
use super::{Plan, clock, worker};
use crate::caller::{Caller, CallerFactory, Load, ThreadContext};
use crate::outcome::{Failure, Outcome};
use crate::record::hist::{self, Hist};
use crate::record::results::{CallRecord, Sink};
use crate::record::{Aggregate, Recorder};
use crate::summary::LoadFacts;

const MSG_NO_SLOT: &str = "not sent: no free slot before the load's deadline";
const MSG_STOPPED: &str = "not sent: the run was stopped";
const MSG_ENDED: &str = "not sent: no free slot before the grace period ended";
/// How often live counters are published and waiting loads expire, at the least.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Closed loop: workers started per millisecond, at most (a huge `-c` ramps up instead of
/// allocating every worker at once, and a stop is seen between batches).
const SPAWN_PER_MS: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
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
}

pub(crate) struct Runner<C: Caller> {
    pub(crate) caller: C,
    pub(crate) timeout: Duration,
    index: usize,
    plan: Arc<Plan>,
    control: Arc<Control>,
    t0: Instant,
    max_workers: u64,
    picker: Picker,
    dispatch: RefCell<Dispatcher>,
    rec: RefCell<Recorder>,
    results: RefCell<Option<Sink>>,
    phase: Cell<Phase>,
    idle: RefCell<Vec<Waker>>,
    workers: Cell<u64>,
    peak_workers: Cell<u64>,
    in_flight: Cell<u64>,
    last_event: Cell<Instant>,
    last_send: Cell<Instant>,
}

impl<C: Caller> Runner<C> {
    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.t0).as_nanos() as u64
    }

    fn at(&self, ns: u64) -> Instant {
        self.t0 + Duration::from_nanos(ns)
    }

    /// Releases every load due by `now`.
    fn release(&self, now: Instant) {
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

    /// Counts the loads of `span` as dropped at `now`.
    fn dropped(&self, span: Span, now: Instant, message: &'static str) {
        let step = self.dispatch.borrow().step();
        {
            let mut rec = self.rec.borrow_mut();
            self.picker.split(span, step, |t, n| {
                rec.failures(t, now, Outcome::Dropped, Cow::Borrowed(message), n);
            });
        }
        if let Some(sink) = self.results.borrow_mut().as_mut() {
            let mut c = self.plan.schedule.cursor(crate::schedule::Stride {
                first: span.first,
                step,
            });
            for _ in 0..span.count {
                let Some((j, due)) = c.peek() else { break };
                sink.push(CallRecord {
                    index: j,
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
    fn expire(&self, now: Instant) {
        let mut span = None;
        self.dispatch
            .borrow_mut()
            .expire(self.ns(now), |s| span = Some(s));
        if let Some(s) = span {
            self.dropped(s, now, MSG_NO_SLOT);
        }
    }

    /// Counts every waiting load as dropped with `message`.
    fn drop_waiting(&self, now: Instant, message: &'static str) {
        let span = self.dispatch.borrow_mut().drain();
        if let Some(s) = span {
            self.dropped(s, now, message);
        }
    }

    /// The next load for a free worker, or `None` when there is none right now.
    fn take(&self, now: Instant) -> Option<(Load, Instant)> {
        if self.phase.get() == Phase::Stopped {
            return None;
        }
        let mut expired = None;
        let got = self
            .dispatch
            .borrow_mut()
            .take(self.ns(now), |s| expired = Some(s));
        if let Some(s) = expired {
            self.dropped(s, now, MSG_NO_SLOT);
        }
        let (j, due) = got?;
        let target = self.picker.pick(j);
        let intended = if self.dispatch.borrow().is_closed_loop() {
            self.rec.borrow_mut().scheduled(target, now);
            now
        } else {
            self.at(due)
        };
        Some((Load { index: j, target }, intended))
    }

    /// Waits for a load; `None` when the worker should end.
    pub(crate) async fn next_load(&self) -> Option<(Load, Instant)> {
        poll_fn(|cx| {
            if let Some(x) = self.take(clock::now()) {
                return Poll::Ready(Some(x));
            }
            if self.phase.get() != Phase::Running || self.dispatch.borrow().is_closed_loop() {
                return Poll::Ready(None);
            }
            self.idle.borrow_mut().push(cx.waker().clone());
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

    /// A load ended at `end` with `r`.
    pub(crate) fn record(
        &self,
        load: Load,
        intended: Instant,
        send: Instant,
        end: Instant,
        r: Result<(), Failure>,
    ) {
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
        let outcome = r.as_ref().map_or_else(|f| f.outcome, |()| Outcome::Success);
        {
            let mut rec = self.rec.borrow_mut();
            match r {
                Ok(()) => rec.success(load.target, end, end - intended, end - send),
                Err(f) => rec.failure(load.target, end, f.outcome, f.message),
            }
        }
        if let Some(sink) = self.results.borrow_mut().as_mut() {
            sink.push(CallRecord {
                index: load.index,
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

    fn wake_all(&self) {
        for w in self.idle.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Wakes up to `n` idle workers; returns how many of the `n` found none.
    fn wake_idle(&self, mut n: u64) -> u64 {
        let mut idle = self.idle.borrow_mut();
        while n > 0 {
            let Some(w) = idle.pop() else { break };
            w.wake();
            n -= 1;
        }
        n
    }

    fn spawn_worker(self: &Rc<Self>, set: &mut JoinSet<()>) {
        let n = self.workers.get() + 1;
        self.workers.set(n);
        self.peak_workers.set(self.peak_workers.get().max(n));
        set.spawn_local(worker::run(self.clone()));
    }

    /// True when every allowed worker is busy and loads wait: the target (or the
    /// connections) cannot take more.
    fn saturated(&self) -> bool {
        self.dispatch.borrow().waiting() > 0
            && self.workers.get() >= self.max_workers
            && self.idle.borrow().is_empty()
    }

    fn publish(&self) {
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
    }
}

/// Runs on the runner's own thread: set up, report ready, wait for t0, run, report.
pub(crate) fn run<F: CallerFactory>(
    ctx: ThreadContext,
    factory: &F,
    control: Arc<Control>,
    plan: Arc<Plan>,
    ready: mpsc::Sender<Result<(), String>>,
    go: mpsc::Receiver<Option<Instant>>,
) -> Option<RunnerOutput> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .on_thread_park(super::tick::before_park)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot start a runtime: {e}")));
            return None;
        }
    };
    let caller = {
        let _enter = rt.enter();
        match catch_unwind(AssertUnwindSafe(|| factory.make(&ctx))) {
            Ok(c) => c,
            Err(p) => {
                let _ = ready.send(Err(worker::fatal(p).message.into_owned()));
                return None;
            }
        }
    };
    let _ = ready.send(Ok(()));
    let t0 = go.recv().ok().flatten()?;
    let local = tokio::task::LocalSet::new();
    Some(local.block_on(&rt, drive(ctx, caller, control, plan, t0)))
}

/// The runner's main task, from t0 to the last outcome.
pub(crate) async fn drive<C: Caller>(
    ctx: ThreadContext,
    caller: C,
    control: Arc<Control>,
    plan: Arc<Plan>,
    t0: Instant,
) -> RunnerOutput {
    let stride = plan.stride.split(ctx.index as u64, ctx.count as u64);
    let weights: Vec<u32> = plan.targets.iter().map(|t| t.weight).collect();
    let capacity = caller.capacity();
    if plan.batch_reads
        && plan.precise_timer
        && !plan.schedule.is_closed()
        && caller.stamps_arrivals()
    {
        super::tick::install();
    }
    let max_workers = ctx.slots.min(capacity.unwrap_or(u64::MAX)).max(1);
    let results = control
        .results_tx
        .lock()
        .ok()
        .and_then(|g| g.clone())
        .map(Sink::new);
    let runner = Rc::new(Runner {
        index: ctx.index,
        caller,
        control: control.clone(),
        t0,
        timeout: plan.timeout,
        max_workers,
        picker: Picker::new(&weights),
        dispatch: RefCell::new(Dispatcher::new(
            &plan.schedule,
            stride,
            plan.timeout.as_nanos() as u64,
            plan.bucket().as_nanos() as u64,
        )),
        rec: RefCell::new(Recorder::new(t0, plan.bucket(), plan.targets.len())),
        results: RefCell::new(results),
        phase: Cell::new(Phase::Running),
        idle: RefCell::new(Vec::new()),
        workers: Cell::new(0),
        peak_workers: Cell::new(0),
        in_flight: Cell::new(0),
        last_event: Cell::new(t0),
        last_send: Cell::new(t0),
        plan: plan.clone(),
    });
    let rx = control.subscribe();
    let mut stop = pin!(lifecycle::reached(rx.clone(), StopLevel::Stop));
    let abort = lifecycle::reached(rx.clone(), StopLevel::Abort);
    let mut pacer = Pacer::new(plan.precise_timer);
    let precise = pacer.is_precise();
    let mut wake_late = hist::new_hist();
    let mut workers = JoinSet::new();
    let mut saturated = Duration::ZERO;

    // wait for t0 (a common --start-at may be far ahead)
    let started = tokio::select! {
        biased;
        _ = &mut stop => false,
        _ = pacer.sleep_until(t0) => true,
    };
    let phase_end = if !started {
        Phase::Stopped
    } else if runner.dispatch.borrow().is_closed_loop() {
        dispatch_closed(&runner, &mut workers, &mut stop, &mut pacer).await
    } else {
        let mut ctl = OpenLoop {
            workers: &mut workers,
            pacer: &mut pacer,
            wake_late: &mut wake_late,
            saturated: &mut saturated,
        };
        dispatch_open(&runner, &mut ctl, &mut stop).await
    };
    let ended_at = clock::now();
    runner.phase.set(phase_end);
    runner.dispatch.borrow_mut().close();
    if phase_end == Phase::Stopped {
        runner.drop_waiting(ended_at, MSG_STOPPED);
    }
    control.schedule_ended(ended_at);
    runner.wake_all();
    drain(&runner, &mut workers, rx, abort, ended_at).await;

    workers.abort_all();
    while workers.join_next().await.is_some() {}
    let now = clock::now();
    runner.drop_waiting(
        now,
        if runner.phase.get() == Phase::Stopped {
            MSG_STOPPED
        } else {
            MSG_ENDED
        },
    );
    runner.publish();
    if let Some(sink) = runner.results.borrow_mut().as_mut() {
        sink.flush();
    }
    let busy_wall = now.saturating_duration_since(t0);
    let last_event = runner.last_event.get();
    let load = LoadFacts {
        max_in_flight: max_workers,
        capacity_bound: capacity.is_some_and(|c| c < ctx.slots),
        peak_in_flight: runner.peak_workers.get(),
        saturated,
    };
    let runner =
        Rc::try_unwrap(runner).unwrap_or_else(|_| panic!("every worker of the runner has ended"));
    RunnerOutput {
        agg: runner.rec.into_inner().finish(),
        cpu: thread_cpu(),
        busy_wall,
        last_event,
        wake_late,
        precise,
        load,
    }
}

/// After the schedule: in-flight calls get the grace period after the last send. After a
/// stop nothing more is sent; after the end of the schedule waiting loads still go out
/// until they expire.
async fn drain<C: Caller>(
    runner: &Rc<Runner<C>>,
    workers: &mut JoinSet<()>,
    rx: watch::Receiver<State>,
    abort: impl std::future::Future<Output = ()>,
    ended_at: Instant,
) {
    let grace = runner.plan.grace();
    let grace_end = || ended_at.max(runner.last_send.get()) + grace;
    let mut abort = pin!(abort);
    let mut stop = pin!(lifecycle::reached(rx, StopLevel::Stop));
    let mut tick = ended_at;
    loop {
        tick = (tick + PUBLISH_EVERY).min(grace_end());
        tokio::select! {
            biased;
            _ = &mut abort => break,
            // a stop after the end of the schedule: waiting loads no longer go out
            _ = stop.as_mut(), if runner.phase.get() == Phase::Draining => {
                runner.phase.set(Phase::Stopped);
                runner.drop_waiting(clock::now(), MSG_STOPPED);
                runner.wake_all();
            }
            r = workers.join_next() => if r.is_none() { break },
            _ = tokio::time::sleep_until(tick.into()) => {
                let now = clock::now();
                runner.expire(now);
                runner.publish();
                if now >= grace_end() && runner.dispatch.borrow().waiting() == 0 {
                    // calls whose own timeout fired in the same timer tick end first
                    tokio::task::yield_now().await;
                    while workers.try_join_next().is_some() {}
                    break;
                }
            }
        }
    }
}

/// What the open-model loop drives besides the runner.
struct OpenLoop<'a> {
    workers: &'a mut JoinSet<()>,
    pacer: &'a mut Pacer,
    wake_late: &'a mut Hist,
    saturated: &'a mut Duration,
}

/// Open model: release due loads in batches until the schedule ends or a stop.
async fn dispatch_open<C: Caller>(
    runner: &Rc<Runner<C>>,
    ctl: &mut OpenLoop<'_>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Phase {
    let mut last_wake = runner.t0;
    let mut last_publish = runner.t0;
    let quantum = runner.plan.quantum;
    // batched ticks (see `tick`): read responses at the next tick instead of waking for
    // each, when their arrival times are known; call timeouts are then seen at a tick, so
    // ticks come at least every tenth of the timeout
    let batched = super::tick::batching();
    let max_gap = (runner.timeout / 10).clamp(Duration::from_millis(1), PUBLISH_EVERY);
    let mut backstop = pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        let Some(due_ns) = runner.dispatch.borrow().next_due() else {
            return Phase::Draining;
        };
        let due = runner.at(due_ns);
        let mut wake_at = due
            .max(last_wake + quantum)
            .min(last_publish + PUBLISH_EVERY);
        if batched {
            wake_at = wake_at.min(last_wake + max_gap);
            tokio::select! {
                biased;
                _ = stop.as_mut() => return Phase::Stopped,
                _ = super::tick::until(wake_at, backstop.as_mut()) => {}
            }
        } else {
            tokio::select! {
                biased;
                _ = stop.as_mut() => return Phase::Stopped,
                _ = ctl.pacer.sleep_until(wake_at) => {}
            }
        }
        let now = clock::now();
        if wake_at >= due {
            hist::record(ctl.wake_late, now.saturating_duration_since(wake_at));
        }
        if runner.saturated() {
            *ctl.saturated += now.saturating_duration_since(last_wake);
        }
        last_wake = now;
        runner.release(now);
        runner.expire(now);
        let mut want = runner.wake_idle(runner.dispatch.borrow().waiting());
        if want > 0 && runner.workers.get() < runner.max_workers {
            // Busy workers whose responses are already in may take these loads: let them
            // run first (yield_now polls the I/O driver before resuming us), so a short
            // stall does not spawn a worker per load.
            tokio::task::yield_now().await;
            want = runner.wake_idle(runner.dispatch.borrow().waiting());
        }
        while want > 0 && runner.workers.get() < runner.max_workers {
            runner.spawn_worker(ctl.workers);
            want -= 1;
        }
        if now >= last_publish + PUBLISH_EVERY {
            runner.publish();
            last_publish = now;
        }
    }
}

/// Closed loop: workers run back to back; they are started a batch per millisecond (so a
/// huge concurrency ramps up and a stop is seen at once), then this only waits for the end
/// and publishes.
async fn dispatch_closed<C: Caller>(
    runner: &Rc<Runner<C>>,
    workers: &mut JoinSet<()>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    pacer: &mut Pacer,
) -> Phase {
    let end = runner.t0 + runner.plan.schedule.duration();
    let mut started = 0u64;
    loop {
        let now = clock::now();
        if now >= end || (started >= runner.max_workers && runner.workers.get() == 0) {
            return Phase::Draining;
        }
        let next = if started < runner.max_workers {
            let n = (runner.max_workers - started).min(SPAWN_PER_MS);
            for _ in 0..n {
                runner.spawn_worker(workers);
            }
            started += n;
            now + Duration::from_millis(1)
        } else {
            now + PUBLISH_EVERY
        };
        tokio::select! {
            biased;
            _ = stop.as_mut() => return Phase::Stopped,
            _ = pacer.sleep_until(next.min(end)) => {}
        }
        runner.publish();
    }
}

/// CPU time (user + system) of the calling thread.
fn thread_cpu() -> Duration {
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
