//! A generator thread's life ([`run`]: its runtime and caller, then t0) and main task
//! ([`drive`]): wait for t0, run the dispatch loop of the open model or the closed loop,
//! then drain — in-flight calls get the grace period — and hand the recorded aggregate
//! back. The state it drives is [`Runner`]; it starts the workers, which use the runner
//! (the runner knows neither: no cycle between the three).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::dispatcher::{Dispatcher, Picker};
use super::lifecycle::{self, Control, State, StopLevel};
use super::pacer::Pacer;
use super::runner::{
    MSG_ENDED, MSG_STOPPED, PUBLISH_EVERY, Phase, Runner, RunnerOutput, SPAWN_PER_MS, thread_cpu,
};
use super::{Plan, clock};
use crate::caller::{Caller, CallerFactory, ThreadContext};
use crate::outcome::Failure;
use crate::record::Recorder;
use crate::record::hist::{self, Hist};
use crate::record::results::Sink;
use crate::summary::LoadFacts;

/// The main task of a generator thread, from t0 to the last outcome.
pub(crate) async fn drive<C: Caller>(
    ctx: ThreadContext,
    caller: C,
    control: Arc<Control>,
    plan: Arc<Plan>,
    t0: Instant,
) -> RunnerOutput {
    let capacity = caller.capacity();
    let runner = new_runner(&ctx, caller, &control, &plan, t0);
    let rx = control.subscribe();
    let mut stop = pin!(lifecycle::reached(rx.clone(), StopLevel::Stop));
    let abort = lifecycle::reached(rx.clone(), StopLevel::Abort);
    let mut pacer = Pacer::new(plan.precise_timer);
    let precise = pacer.is_precise();
    let mut wake_late = hist::new_hist();
    let mut workers = JoinSet::new();
    let mut saturated = Duration::ZERO;
    let mut quantum = plan.quantum;

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
            quantum: &mut quantum,
        };
        dispatch_open(&runner, &mut ctl, &mut stop).await
    };
    let now = clock::now();
    // the schedule ended with its last load's intended time (a saturated dispatcher that
    // sleeps may notice later); a stop ends it now
    let ended_at = match (phase_end, runner.dispatch.borrow().last_due()) {
        (Phase::Draining, Some(ns)) => runner.at(ns).clamp(t0, now),
        _ => now,
    };
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
    let load = LoadFacts {
        max_in_flight: runner.max_workers,
        capacity_bound: capacity.is_some_and(|c| c < ctx.slots),
        peak_in_flight: runner.peak_workers.get(),
        saturated,
    };
    finish(runner, load, wake_late, precise, quantum)
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
                let _ = ready.send(Err(Failure::from_panic(p).message.into_owned()));
                return None;
            }
        }
    };
    // a thread that batches its reads (see `tick`) has the kernel stamping receives before
    // its first load (see `net::Stamping`), and keeps it so until its run ends; where no
    // stamp comes (another kernel, or none within the wait) it reads responses as they
    // arrive instead, rather than date them a tick late
    let stamping = (plan.batch_reads
        && plan.precise_timer
        && !plan.schedule.is_closed()
        && caller.stamps_arrivals())
    .then(|| crate::protocol::net::Stamping::hold(STAMPING_WAIT))
    .flatten();
    if stamping.is_some() {
        // before the caller opens connections (they ask for timestamps if the thread batches)
        let _in = rt.enter();
        super::tick::install();
    }
    let _ = ready.send(Ok(()));
    let t0 = go.recv().ok().flatten()?;
    let local = tokio::task::LocalSet::new();
    let out = local.block_on(&rt, drive(ctx, caller, control, plan, t0));
    drop(stamping);
    Some(out)
}

/// How long a thread waits, before the run, for the kernel to stamp receives (it usually
/// takes well under a millisecond; past this the thread reads responses as they arrive).
const STAMPING_WAIT: Duration = Duration::from_millis(250);

/// Starts a worker of `runner` in `set` (here, not in the runner: the runner is what
/// workers use, so it does not start them).
fn spawn_worker<C: Caller>(runner: &Rc<Runner<C>>, set: &mut JoinSet<()>) {
    runner.worker_started();
    set.spawn_local(super::worker::run(runner.clone()));
}

/// The state of a generator thread at t0.
fn new_runner<C: Caller>(
    ctx: &ThreadContext,
    caller: C,
    control: &Arc<Control>,
    plan: &Arc<Plan>,
    t0: Instant,
) -> Rc<Runner<C>> {
    let stride = plan.stride.split(ctx.index as u64, ctx.count as u64);
    let weights: Vec<u32> = plan.targets.iter().map(|t| t.weight).collect();
    let picker = Picker::new(&weights);
    // several targets, each with connections of its own: a backlog per target, so that a
    // slow one's loads never hold a worker that a fast one could use
    let caps: Option<Vec<u64>> = (plan.targets.len() > 1 && !plan.schedule.is_closed())
        .then(|| {
            (0..plan.targets.len())
                .map(|t| caller.capacity_of(t))
                .collect::<Option<Vec<u64>>>()
        })
        .flatten();
    let mut dispatch = Dispatcher::new(
        &plan.schedule,
        stride,
        plan.start_timeout().as_nanos() as u64,
        plan.bucket().as_nanos() as u64,
    );
    if caps.is_some() {
        dispatch = dispatch.with_lanes(&picker);
    }
    let lanes = caps
        .filter(|_| dispatch.has_lanes())
        .map(|caps| super::runner::Lanes {
            busy: RefCell::new(vec![0; caps.len()]),
            caps: caps.iter().map(|&c| c.max(1)).collect(),
        });
    let max_workers = ctx.slots.min(caller.capacity().unwrap_or(u64::MAX)).max(1);
    let results = control
        .results_tx
        .lock()
        .ok()
        .and_then(|g| g.clone())
        .map(Sink::new);
    Rc::new(Runner {
        index: ctx.index,
        caller,
        control: control.clone(),
        t0,
        timeout: plan.timeout,
        max_workers,
        picker,
        dispatch: RefCell::new(dispatch),
        lanes,
        saturated_waiter: RefCell::new(None),
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
    })
}

/// Counts what is left as dropped, flushes the results, and hands the aggregate back.
fn finish<C: Caller>(
    runner: Rc<Runner<C>>,
    load: LoadFacts,
    wake_late: Hist,
    precise: bool,
    quantum: Duration,
) -> RunnerOutput {
    let now = clock::now();
    let why = if runner.phase.get() == Phase::Stopped {
        MSG_STOPPED
    } else {
        MSG_ENDED
    };
    runner.drop_waiting(now, why);
    runner.publish();
    if let Some(sink) = runner.results.borrow_mut().as_mut() {
        sink.flush();
    }
    let busy_wall = now.saturating_duration_since(runner.t0);
    let last_event = runner.last_event.get();
    let runner = Rc::try_unwrap(runner)
        .unwrap_or_else(|_| panic!("every worker of the generator thread has ended"));
    let mut agg = runner.rec.into_inner().finish();
    let mut journeys = crate::record::JourneyAgg::new(0);
    if runner.caller.journeys_into(&mut journeys) {
        agg.journeys = Some(journeys);
    }
    // connect times to 1 %: a tenth of a run-long histogram's memory
    let mut connects = crate::record::hist::new_interval_hist();
    runner.caller.connects_into(&mut connects);
    if !connects.is_empty() {
        agg.connects = Some(connects);
    }
    RunnerOutput {
        agg,
        cpu: thread_cpu(),
        busy_wall,
        last_event,
        wake_late,
        precise,
        load,
        quantum,
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
        let now = clock::now();
        tick = if grace_end() > now {
            (tick + PUBLISH_EVERY).min(grace_end())
        } else {
            // the grace period is over but loads still wait to go out: wake when the
            // oldest expires (or to publish), never at a moment already past
            let expiry = runner
                .dispatch
                .borrow()
                .next_expiry()
                .map(|ns| runner.at(ns));
            (now + PUBLISH_EVERY)
                .min(expiry.unwrap_or(now + PUBLISH_EVERY))
                .max(now + Duration::from_millis(1))
        };
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

/// While saturated, the dispatcher wakes at most this often (to expire the loads of a
/// target that stopped answering; a busy one's workers expire them as they take).
const SATURATED_TICK: Duration = Duration::from_millis(10);

/// What the open-model loop drives besides the runner.
struct OpenLoop<'a> {
    workers: &'a mut JoinSet<()>,
    pacer: &'a mut Pacer,
    wake_late: &'a mut Hist,
    saturated: &'a mut Duration,
    /// The quantum in use (auto: where it settled).
    quantum: &'a mut Duration,
}

/// Open model: release due loads in batches until the schedule ends or a stop.
async fn dispatch_open<C: Caller>(
    runner: &Rc<Runner<C>>,
    ctl: &mut OpenLoop<'_>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Phase {
    let mut last_wake = runner.t0;
    let mut last_publish = runner.t0;
    let mut quantum = runner.plan.quantum;
    // batched ticks (see `tick`): read responses at the next tick instead of waking for
    // each, when their arrival times are known; call timeouts are then seen at a tick, so
    // ticks come at least every tenth of the timeout
    let batched = crate::caller::reads::batching();
    let max_gap = (runner.timeout / 10).clamp(Duration::from_millis(1), PUBLISH_EVERY);
    let mut backstop = pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        let Some(due_ns) = runner.dispatch.borrow().next_due() else {
            return Phase::Draining;
        };
        if runner.all_busy() {
            // every worker busy, loads waiting: the workers release, take and expire loads
            // as their calls end; the thread waits for those events (no tick), and wakes
            // itself only to expire loads of a stalled target, to publish, or when a
            // worker finds no load
            let now = clock::now();
            let soon = now + SATURATED_TICK;
            let expiry = runner
                .dispatch
                .borrow()
                .next_expiry()
                .map_or(soon, |ns| runner.at(ns).max(soon));
            let wake_at = expiry.min((last_publish + PUBLISH_EVERY).max(now));
            let idle = poll_fn(|cx| {
                if !runner.all_busy() {
                    return Poll::Ready(());
                }
                *runner.saturated_waiter.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            });
            // no tick while saturated: the runtime waits for events, so responses are read
            // as they arrive and need no kernel timestamp
            crate::caller::reads::set_prompt(true);
            tokio::select! {
                biased;
                _ = stop.as_mut() => { crate::caller::reads::set_prompt(false); return Phase::Stopped }
                _ = idle => {}
                _ = ctl.pacer.sleep_until(wake_at) => {}
            }
            runner.saturated_waiter.borrow_mut().take();
            let now = clock::now();
            *ctl.saturated += now.saturating_duration_since(last_wake);
            last_wake = now;
            runner.release(now);
            runner.expire(now);
            if now >= last_publish + PUBLISH_EVERY {
                runner.publish();
                last_publish = now;
            }
            continue;
        }
        crate::caller::reads::set_prompt(false);
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
        let mut want = runner.wake_idle(runner.takeable());
        if want > 0 && runner.workers.get() < runner.max_workers {
            // Busy workers whose responses are already in may take these loads: let them
            // run first (yield_now polls the I/O driver before resuming us), so a short
            // stall does not spawn a worker per load.
            tokio::task::yield_now().await;
            want = runner.wake_idle(runner.takeable());
        }
        while want > 0 && runner.workers.get() < runner.max_workers {
            spawn_worker(runner, ctl.workers);
            want -= 1;
        }
        if now >= last_publish + PUBLISH_EVERY {
            runner.publish();
            last_publish = now;
            if runner.plan.adaptive_quantum
                && let Some(p50) = runner.rec.borrow().service_p50()
            {
                quantum = super::pacer::auto_quantum(p50);
            }
            *ctl.quantum = quantum;
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
                spawn_worker(runner, workers);
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
