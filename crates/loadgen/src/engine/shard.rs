//! One shard: a single-threaded runtime that owns every N-th load, its slots, its caller
//! and its recorder.
//!
//! The dispatcher wakes when the next load is due and releases every load that is due in
//! one batch. Slots are worker tasks, spawned on demand up to the shard's share of the
//! concurrency; an idle worker takes the oldest waiting load. Waiting loads are not
//! objects: they are the loads between two schedule cursors (`head` and `tail`), so a
//! backlog costs no memory. A waiting load whose intended time plus the timeout has
//! passed is `dropped`.

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio::time::Sleep;

use super::timer::Pacer;
use super::{Control, Plan, ShardOutput, StopLevel};
use crate::caller::{Caller, CallerFactory, Load, ShardContext};
use crate::outcome::{Failure, Outcome};
use crate::record::Recorder;
use crate::record::hist::{self, Hist};
use crate::results::{self, CallRecord};
use crate::schedule::{Cursor, Schedule, Stride};

const MSG_NO_SLOT: &str = "not sent: no free slot before the load's deadline";
const MSG_STOPPED: &str = "not sent: the run was stopped";
const MSG_ENDED: &str = "not sent: no free slot before the grace period ended";
const MSG_TIMEOUT: &str = "no response within the timeout";
const MSG_CANCELLED: &str = "in flight when the stop grace period ran out";
/// How often live counters are published and the backlog is checked, at the least.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Loads are being released.
    Running,
    /// The schedule ended: waiting loads still go out (or expire); no new ones.
    Draining,
    /// A stop was requested: nothing more goes out.
    Stopped,
}

/// Loads due but not yet taken are those from `head` up to (not including) `tail`.
struct Queue {
    head: Cursor,
    tail: Cursor,
    waiting: u64,
}

impl Queue {
    /// The oldest waiting load: `(index, due_ns)`.
    fn front(&self) -> Option<(u64, u64)> {
        if self.waiting == 0 {
            None
        } else {
            self.head.peek()
        }
    }

    /// Takes the oldest waiting load.
    fn pop(&mut self, schedule: &Schedule) -> Option<(u64, u64)> {
        let front = self.front()?;
        self.head.advance(schedule);
        self.waiting -= 1;
        Some(front)
    }
}

/// Spreads loads over targets by weight: target of load `j` is `pattern[j % len]`.
struct Picker {
    pattern: Vec<u16>,
}

impl Picker {
    fn new(weights: &[u32]) -> Picker {
        if weights.len() <= 1 {
            return Picker { pattern: vec![0] };
        }
        let g = weights.iter().fold(0u32, |a, &b| gcd(a, b)).max(1);
        let w: Vec<i64> = weights.iter().map(|&x| i64::from(x / g)).collect();
        let total: i64 = w.iter().sum();
        let len = total.min(100_000) as usize;
        // smooth weighted round robin (as nginx): interleaves targets evenly
        let mut current = vec![0i64; w.len()];
        let mut pattern = Vec::with_capacity(len);
        for _ in 0..len {
            for (c, wi) in current.iter_mut().zip(&w) {
                *c += wi;
            }
            let best = (0..w.len())
                .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
                .unwrap_or(0);
            current[best] -= total;
            pattern.push(best as u16);
        }
        Picker { pattern }
    }

    fn pick(&self, j: u64) -> usize {
        self.pattern[(j % self.pattern.len() as u64) as usize] as usize
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

struct Shard<C: Caller> {
    index: usize,
    caller: C,
    plan: Arc<Plan>,
    control: Arc<Control>,
    t0: Instant,
    timeout: Duration,
    slots: u64,
    picker: Picker,
    rec: RefCell<Recorder>,
    q: RefCell<Queue>,
    /// Closed loop: the next global index to hand out, and how many were handed out.
    closed_next: Cell<u64>,
    closed_limit: Option<u64>,
    stride: Stride,
    phase: Cell<Phase>,
    idle: RefCell<Vec<Waker>>,
    workers: Cell<u64>,
    last_event: Cell<Instant>,
    last_send: Cell<Instant>,
    /// The per-call results stream, if one was asked for.
    results: Option<SyncSender<Vec<CallRecord>>>,
    batch: RefCell<Vec<CallRecord>>,
}

impl<C: Caller> Shard<C> {
    fn schedule(&self) -> &Schedule {
        &self.plan.schedule
    }

    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.t0).as_nanos() as u64
    }

    /// Adds a record to the results stream (a batch at a time; blocks while the writer is
    /// behind — the back-pressure that keeps memory bounded).
    fn emit(
        &self,
        index: u64,
        target: usize,
        intended: Instant,
        sent: Option<Instant>,
        end: Instant,
        outcome: Outcome,
    ) {
        let Some(tx) = &self.results else { return };
        let mut batch = self.batch.borrow_mut();
        batch.push(CallRecord {
            index,
            target: target as u32,
            intended_ns: self.ns(intended),
            sent_ns: sent.map(|t| self.ns(t)),
            end_ns: self.ns(end),
            outcome,
        });
        if batch.len() >= results::BATCH {
            let full = std::mem::replace(&mut *batch, Vec::with_capacity(results::BATCH));
            let _ = tx.send(full);
        }
    }

    fn flush_results(&self) {
        if let Some(tx) = &self.results {
            let rest = std::mem::take(&mut *self.batch.borrow_mut());
            if !rest.is_empty() {
                let _ = tx.send(rest);
            }
        }
    }

    /// Counts load `j` (due at `due` ns) as dropped at `now`.
    fn dropped(&self, j: u64, due: u64, now: Instant, message: &'static str) {
        let target = self.picker.pick(j);
        self.rec
            .borrow_mut()
            .failure(target, now, Outcome::Dropped, Cow::Borrowed(message));
        self.emit(j, target, self.at(due), None, now, Outcome::Dropped);
        self.last_event.set(now);
    }

    fn at(&self, ns: u64) -> Instant {
        self.t0 + Duration::from_nanos(ns)
    }

    /// Releases every load due by `now`.
    fn release(&self, now: Instant) {
        let mut q = self.q.borrow_mut();
        let mut rec = self.rec.borrow_mut();
        let mut n = 0;
        while let Some((j, due)) = q.tail.peek() {
            let intended = self.at(due);
            if intended > now {
                break;
            }
            rec.scheduled(self.picker.pick(j), intended);
            q.tail.advance(self.schedule());
            n += 1;
        }
        q.waiting += n;
    }

    /// Drops waiting loads whose deadline has passed.
    fn expire(&self, now: Instant) {
        let mut q = self.q.borrow_mut();
        while let Some((_, due)) = q.front() {
            if self.at(due) + self.timeout >= now {
                break;
            }
            let (j, due) = q.pop(self.schedule()).expect("a front load");
            self.dropped(j, due, now, MSG_NO_SLOT);
        }
    }

    /// Counts every waiting load as dropped with `message`.
    fn drop_waiting(&self, now: Instant, message: &'static str) {
        let mut q = self.q.borrow_mut();
        while let Some((j, due)) = q.pop(self.schedule()) {
            self.dropped(j, due, now, message);
        }
    }

    /// The next load for a free slot, or `None` when there is none right now.
    fn take(&self, now: Instant) -> Option<(Load, Instant)> {
        if self.schedule().is_closed() {
            if self.phase.get() != Phase::Running {
                return None;
            }
            let j = self.closed_next.get();
            if self.closed_limit.is_some_and(|n| j >= n) {
                return None;
            }
            self.closed_next.set(j + self.stride.step);
            let target = self.picker.pick(j);
            self.rec.borrow_mut().scheduled(target, now);
            return Some((Load { index: j, target }, now));
        }
        if self.phase.get() == Phase::Stopped {
            return None;
        }
        let mut q = self.q.borrow_mut();
        while let Some((j, due)) = q.pop(self.schedule()) {
            let intended = self.at(due);
            if now > intended + self.timeout {
                self.dropped(j, due, now, MSG_NO_SLOT);
                continue;
            }
            return Some((
                Load {
                    index: j,
                    target: self.picker.pick(j),
                },
                intended,
            ));
        }
        None
    }

    /// Waits for a load; `None` when the worker should end.
    async fn next_load(&self) -> Option<(Load, Instant)> {
        poll_fn(|cx| {
            if let Some(x) = self.take(Instant::now()) {
                return Poll::Ready(Some(x));
            }
            let closed_done = self.schedule().is_closed();
            if self.phase.get() != Phase::Running || closed_done {
                return Poll::Ready(None);
            }
            self.idle.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    fn wake_all(&self) {
        for w in self.idle.borrow_mut().drain(..) {
            w.wake();
        }
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
        out.p99_last_us.store(rec.last_p99_us(), Ordering::Relaxed);
    }

    fn record(
        &self,
        load: Load,
        intended: Instant,
        send: Instant,
        end: Instant,
        r: Result<(), Failure>,
    ) {
        let outcome = r.as_ref().map_or_else(|f| f.outcome, |()| Outcome::Success);
        {
            let mut rec = self.rec.borrow_mut();
            match r {
                Ok(()) => rec.success(load.target, end, end - intended, end - send),
                Err(f) => rec.failure(load.target, end, f.outcome, f.message),
            }
        }
        self.emit(load.index, load.target, intended, Some(send), end, outcome);
        self.last_event.set(end);
    }

    /// One call: build, call before the deadline, check. Panics become `fatal`.
    async fn call(
        &self,
        load: Load,
        send: Instant,
        mut sleep: Pin<&mut Sleep>,
    ) -> Result<(), Failure> {
        let req = catch_unwind(AssertUnwindSafe(|| self.caller.build(load))).map_err(fatal)?;
        let deadline = send + self.timeout;
        sleep.as_mut().reset(deadline.into());
        let mut call = pin!(self.caller.call(&req, deadline));
        let caught =
            poll_fn(
                |cx| match catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
                    Err(p) => Poll::Ready(Err(p)),
                },
            );
        let resp = tokio::select! {
            biased;
            r = caught => r.map_err(fatal)??,
            _ = sleep => return Err(Failure::new(Outcome::Timeout, MSG_TIMEOUT)),
        };
        catch_unwind(AssertUnwindSafe(|| self.caller.check(load, &req, &resp))).map_err(fatal)?
    }
}

fn fatal(panic: Box<dyn Any + Send>) -> Failure {
    let msg = if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    };
    Failure::new(
        Outcome::Fatal,
        Cow::Owned(format!("caller panicked: {msg}")),
    )
}

/// Counts the load as `cancelled` if the worker is dropped mid-call.
struct InFlight<'a, C: Caller> {
    shard: &'a Shard<C>,
    load: Load,
    intended: Instant,
    send: Instant,
    armed: bool,
}

impl<C: Caller> Drop for InFlight<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            let now = Instant::now();
            let (l, s) = (self.load, self.shard);
            if let Ok(mut rec) = s.rec.try_borrow_mut() {
                rec.failure(
                    l.target,
                    now,
                    Outcome::Cancelled,
                    Cow::Borrowed(MSG_CANCELLED),
                );
            }
            if s.batch.try_borrow_mut().is_ok() {
                s.emit(
                    l.index,
                    l.target,
                    self.intended,
                    Some(self.send),
                    now,
                    Outcome::Cancelled,
                );
            }
            s.last_event.set(now);
        }
    }
}

async fn worker<C: Caller>(shard: Rc<Shard<C>>) {
    let mut sleep = pin!(tokio::time::sleep(Duration::from_secs(86_400)));
    while let Some((load, intended)) = shard.next_load().await {
        let send = Instant::now();
        shard.last_send.set(send);
        shard
            .rec
            .borrow_mut()
            .sent(send, send.saturating_duration_since(intended));
        let mut guard = InFlight {
            shard: &shard,
            load,
            intended,
            send,
            armed: true,
        };
        let r = shard.call(load, send, sleep.as_mut()).await;
        guard.armed = false;
        shard.record(load, intended, send, Instant::now(), r);
    }
    shard.workers.set(shard.workers.get() - 1);
}

fn spawn_worker<C: Caller>(shard: &Rc<Shard<C>>, set: &mut JoinSet<()>) {
    shard.workers.set(shard.workers.get() + 1);
    set.spawn_local(worker(shard.clone()));
}

/// Runs on the shard's own thread: set up, report ready, wait for t0, run, report.
pub(crate) fn run<F: CallerFactory>(
    ctx: ShardContext,
    factory: &F,
    control: Arc<Control>,
    plan: Arc<Plan>,
    ready: mpsc::Sender<Result<(), String>>,
    go: mpsc::Receiver<Option<Instant>>,
) -> Option<ShardOutput> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
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
                let _ = ready.send(Err(fatal(p).message.into_owned()));
                return None;
            }
        }
    };
    let _ = ready.send(Ok(()));
    let t0 = go.recv().ok().flatten()?;
    let local = tokio::task::LocalSet::new();
    Some(local.block_on(&rt, drive(ctx, caller, control, plan, t0)))
}

async fn wait_level(mut rx: tokio::sync::watch::Receiver<StopLevel>, level: StopLevel) {
    while *rx.borrow_and_update() < level {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn drive<C: Caller>(
    ctx: ShardContext,
    caller: C,
    control: Arc<Control>,
    plan: Arc<Plan>,
    t0: Instant,
) -> ShardOutput {
    let stride = plan.stride.split(ctx.index as u64, ctx.count as u64);
    let cursor = plan.schedule.cursor(stride);
    let closed_limit = plan.schedule.max_loads();
    let weights: Vec<u32> = plan.targets.iter().map(|t| t.weight).collect();
    let shard = Rc::new(Shard {
        index: ctx.index,
        caller,
        control: control.clone(),
        t0,
        timeout: plan.timeout,
        slots: ctx.slots,
        picker: Picker::new(&weights),
        rec: RefCell::new(Recorder::new(t0, plan.targets.len())),
        q: RefCell::new(Queue {
            head: cursor,
            tail: cursor,
            waiting: 0,
        }),
        closed_next: Cell::new(stride.first),
        closed_limit,
        stride,
        phase: Cell::new(Phase::Running),
        idle: RefCell::new(Vec::new()),
        workers: Cell::new(0),
        last_event: Cell::new(t0),
        last_send: Cell::new(t0),
        results: control.results_tx.lock().ok().and_then(|g| g.clone()),
        batch: RefCell::new(Vec::new()),
        plan: plan.clone(),
    });
    let mut stop = pin!(wait_level(control.stop_rx(), StopLevel::Stop));
    let mut abort = pin!(wait_level(control.stop_rx(), StopLevel::Abort));
    let mut pacer = Pacer::new(plan.precise_timer);
    let precise = pacer.is_precise();
    let mut wake_late = hist::new_hist();
    let mut workers = JoinSet::new();

    // wait for t0 (a common --start-at may be far ahead)
    let started = tokio::select! {
        biased;
        _ = &mut stop => false,
        _ = pacer.sleep_until(t0) => true,
    };
    let phase_end = if !started {
        Phase::Stopped
    } else if plan.schedule.is_closed() {
        for _ in 0..shard.slots {
            spawn_worker(&shard, &mut workers);
        }
        dispatch_closed(&shard, &mut stop, &mut pacer).await
    } else {
        dispatch_open(&shard, &mut workers, &mut stop, &mut pacer, &mut wake_late).await
    };
    let ended_at = Instant::now();
    shard.phase.set(phase_end);
    if phase_end == Phase::Stopped {
        shard.drop_waiting(ended_at, MSG_STOPPED);
    }
    if let Ok(mut e) = control.end_of_schedule.lock() {
        e.get_or_insert(ended_at);
    }
    shard.wake_all();

    // grace: in-flight calls get `grace` after the last send. After a stop nothing more is
    // sent; after the end of the schedule waiting loads still go out until they expire.
    let grace_end = || ended_at.max(shard.last_send.get()) + plan.grace();
    let mut tick = ended_at;
    loop {
        tick = (tick + PUBLISH_EVERY).min(grace_end());
        tokio::select! {
            biased;
            _ = &mut abort => break,
            // a stop after the end of the schedule: waiting loads no longer go out
            _ = stop.as_mut(), if shard.phase.get() == Phase::Draining => {
                shard.phase.set(Phase::Stopped);
                shard.drop_waiting(Instant::now(), MSG_STOPPED);
                shard.wake_all();
            }
            r = workers.join_next() => if r.is_none() { break },
            _ = tokio::time::sleep_until(tick.into()) => {
                let now = Instant::now();
                shard.expire(now);
                shard.publish();
                if now >= grace_end() && shard.q.borrow().waiting == 0 {
                    // calls whose own timeout fired in the same timer tick end first
                    tokio::task::yield_now().await;
                    while workers.try_join_next().is_some() {}
                    break;
                }
            }
        }
    }
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    let now = Instant::now();
    shard.drop_waiting(
        now,
        if shard.phase.get() == Phase::Stopped {
            MSG_STOPPED
        } else {
            MSG_ENDED
        },
    );
    shard.publish();
    shard.flush_results();
    let busy_wall = now.saturating_duration_since(t0);
    let last_event = shard.last_event.get();
    let shard =
        Rc::try_unwrap(shard).unwrap_or_else(|_| panic!("every worker of the shard has ended"));
    ShardOutput {
        agg: shard.rec.into_inner().finish(),
        cpu: thread_cpu(),
        busy_wall,
        last_event,
        wake_late,
        precise,
    }
}

/// Open model: release due loads in batches until the schedule ends or a stop.
async fn dispatch_open<C: Caller>(
    shard: &Rc<Shard<C>>,
    workers: &mut JoinSet<()>,
    stop: &mut Pin<&mut impl Future<Output = ()>>,
    pacer: &mut Pacer,
    wake_late: &mut Hist,
) -> Phase {
    let mut last_wake = shard.t0;
    let mut last_publish = shard.t0;
    let quantum = shard.plan.quantum;
    loop {
        let Some((_, due_ns)) = shard.q.borrow().tail.peek() else {
            return Phase::Draining;
        };
        let due = shard.at(due_ns);
        let wake_at = due
            .max(last_wake + quantum)
            .min(last_publish + PUBLISH_EVERY);
        tokio::select! {
            biased;
            _ = stop.as_mut() => return Phase::Stopped,
            _ = pacer.sleep_until(wake_at) => {}
        }
        let now = Instant::now();
        if wake_at >= due {
            hist::record(wake_late, now.saturating_duration_since(wake_at));
        }
        last_wake = now;
        shard.release(now);
        shard.expire(now);
        let mut want = wake_idle(shard, shard.q.borrow().waiting);
        if want > 0 && shard.workers.get() < shard.slots {
            // Busy workers whose responses are already in may take these loads: let them
            // run first (yield_now polls the I/O driver before resuming us), so a short
            // stall does not spawn a worker per load.
            tokio::task::yield_now().await;
            want = wake_idle(shard, shard.q.borrow().waiting);
        }
        while want > 0 && shard.workers.get() < shard.slots {
            spawn_worker(shard, workers);
            want -= 1;
        }
        if now >= last_publish + PUBLISH_EVERY {
            shard.publish();
            last_publish = now;
        }
    }
}

/// Wakes up to `n` idle workers; returns how many of the `n` found none.
fn wake_idle<C: Caller>(shard: &Shard<C>, mut n: u64) -> u64 {
    let mut idle = shard.idle.borrow_mut();
    while n > 0 {
        let Some(w) = idle.pop() else { break };
        w.wake();
        n -= 1;
    }
    n
}

/// Closed loop: workers run back to back; this only waits for the end and publishes.
async fn dispatch_closed<C: Caller>(
    shard: &Rc<Shard<C>>,
    stop: &mut Pin<&mut impl Future<Output = ()>>,
    pacer: &mut Pacer,
) -> Phase {
    let end = shard.t0 + shard.schedule().duration();
    loop {
        let now = Instant::now();
        if now >= end || shard.workers.get() == 0 {
            return Phase::Draining;
        }
        tokio::select! {
            biased;
            _ = stop.as_mut() => return Phase::Stopped,
            _ = pacer.sleep_until((now + PUBLISH_EVERY).min(end)) => {}
        }
        shard.publish();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picker_spreads_by_weight() {
        let p = Picker::new(&[1]);
        assert!((0..10).all(|j| p.pick(j) == 0));
        let p = Picker::new(&[1, 1, 1]);
        assert_eq!(
            (0..6).map(|j| p.pick(j)).collect::<Vec<_>>(),
            [0, 1, 2, 0, 1, 2]
        );
        let p = Picker::new(&[3, 1]);
        let v: Vec<_> = (0..8).map(|j| p.pick(j)).collect();
        assert_eq!(v.iter().filter(|&&t| t == 0).count(), 6);
        assert_eq!(v[..4], [0, 0, 1, 0]);
        let p = Picker::new(&[200, 100]);
        assert_eq!(p.pattern.len(), 3);
    }
}
