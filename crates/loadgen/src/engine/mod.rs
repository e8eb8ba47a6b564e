//! HOW MANY at once, and the lifecycle: the load generator handle.
//!
//! [`LoadGen`] runs a [`Plan`] with one [`Caller`](crate::Caller) per shard. Each shard is
//! an OS thread with a single-threaded tokio runtime that owns every N-th load of the
//! schedule, its slots, its caller (and so its connections) and its recorder; shards share
//! nothing on the per-call path and are merged when the run ends.
//!
//! Lifecycle: `Original → Starting → Started → Stopping → Stopped`. A run stops at the end
//! of its schedule or on [`LoadGen::stop`] (idempotent; the CLI calls it on SIGINT, SIGTERM
//! and SIGQUIT): no new loads, in-flight calls get the grace period, the rest become
//! `cancelled`. [`LoadGen::abort`] ends the grace period at once. Either way
//! [`LoadGen::wait`] returns the full summary.

mod shard;
pub mod timer;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::caller::{CallerFactory, ShardContext, split};
use crate::error::{ConfigError, RunError};
use crate::record::Aggregate;
use crate::record::hist::Hist;
use crate::schedule::{Schedule, Stride};
use crate::summary::{RunFacts, Summary};

/// Default slots in closed loop (as oha).
pub const CLOSED_LOOP_CONCURRENCY: u64 = 50;

/// One target of a run, as named in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The target as the user wrote it (a URL).
    pub name: String,
    /// Share of the loads, relative to the other targets' weights (≥ 1).
    pub weight: u32,
}

/// Everything the engine needs to run: when, how many, how long, where.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Intended start times.
    pub schedule: Schedule,
    /// Per-call timeout; also the deadline for a load waiting for a slot.
    pub timeout: Duration,
    /// Slots in flight; `None` = `ceil(rate × timeout) + 1` (closed loop: 50).
    pub concurrency: Option<u64>,
    /// Shards (threads); `None` = the number of cores. Never more than the slots.
    pub threads: Option<usize>,
    /// Time in-flight calls get after a stop; `None` = the timeout.
    pub grace: Option<Duration>,
    /// Where loads go, spread by weight.
    pub targets: Vec<Target>,
    /// Protocol name for reports (`calc`, `http`, ...).
    pub protocol: String,
    /// The part of the global schedule this process runs (`--shard I/N`).
    pub stride: Stride,
    /// Shard index and count of this process, for reports.
    pub process_shard: (u64, u64),
    /// Start the schedule at this wall-clock instant instead of now.
    pub start_at: Option<SystemTime>,
    /// Use the microsecond timer for pacing (Linux timerfd).
    pub precise_timer: bool,
    /// Minimum spacing of two dispatcher wake-ups: every load due within it goes out in one
    /// batch. Smaller is smoother; larger costs less CPU (each wake-up costs a few µs to tens
    /// of µs, depending on the machine) and adds up to this much send lag.
    pub quantum: Duration,
}

impl Plan {
    /// A plan with defaults for everything but the schedule, timeout and targets.
    pub fn new(
        schedule: Schedule,
        timeout: Duration,
        targets: Vec<Target>,
        protocol: &str,
    ) -> Plan {
        Plan {
            schedule,
            timeout,
            concurrency: None,
            threads: None,
            grace: None,
            targets,
            protocol: protocol.to_string(),
            stride: Stride::ALL,
            process_shard: (0, 1),
            start_at: None,
            precise_timer: true,
            quantum: timer::QUANTUM,
        }
    }

    /// Slots for the whole run (this process).
    pub fn slots(&self) -> u64 {
        if let Some(c) = self.concurrency {
            return c;
        }
        if self.schedule.is_closed() {
            return CLOSED_LOOP_CONCURRENCY;
        }
        // the book's rule, ceil(rate × timeout) + 1, for this process's share of the rate
        // (at the peak of a ramp, with room for Poisson bursts)
        (self.schedule.peak_in(self.timeout) / self.stride.step as f64).ceil() as u64 + 1
    }

    /// Shards for this run.
    pub fn shard_count(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let want = self.threads.unwrap_or(cores).max(1);
        want.min(self.slots().max(1) as usize)
    }

    /// The grace period after a stop.
    pub fn grace(&self) -> Duration {
        self.grace.unwrap_or(self.timeout)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::new("timeout must be greater than zero"));
        }
        if self.concurrency == Some(0) {
            return Err(ConfigError::new("concurrency must be at least 1"));
        }
        if self.threads == Some(0) {
            return Err(ConfigError::new("threads must be at least 1"));
        }
        if self.targets.is_empty() {
            return Err(ConfigError::new("at least one target is needed"));
        }
        if self.targets.iter().any(|t| t.weight == 0) {
            return Err(ConfigError::new("target weights must be at least 1"));
        }
        if self.stride.step == 0 || self.stride.first >= self.stride.step {
            return Err(ConfigError::new(
                "shard index must be below the shard count",
            ));
        }
        Ok(())
    }
}

/// The lifecycle of a [`LoadGen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Made, not started.
    Original,
    /// Shards are being set up.
    Starting,
    /// Loads are being sent.
    Started,
    /// No new loads; in-flight calls are finishing.
    Stopping,
    /// Every shard has finished; the summary is ready.
    Stopped,
}

const ORIGINAL: u8 = 0;
const STARTING: u8 = 1;
const STARTED: u8 = 2;
const STOPPED: u8 = 4;

/// How far a stop has gone; sent to the shards over a watch channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StopLevel {
    Run,
    /// Stop scheduling; in-flight calls get the grace period.
    Stop,
    /// End the grace period now.
    Abort,
}

/// Live counters a shard publishes a few times a second (never per call).
#[derive(Debug, Default)]
pub(crate) struct ShardCounters {
    pub scheduled: AtomicU64,
    pub sent: AtomicU64,
    pub completed: AtomicU64,
    pub success: AtomicU64,
    pub failed: AtomicU64,
    pub p99_last_us: AtomicU64,
}

/// Live totals of a running generator, published by the shards a few times a second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    /// Time since t0 (zero before the start).
    pub elapsed: Duration,
    /// Loads scheduled so far.
    pub scheduled: u64,
    /// Loads sent so far.
    pub sent: u64,
    /// Loads with an outcome other than `dropped` so far.
    pub completed: u64,
    /// Successes so far.
    pub success: u64,
    /// Loads with any other outcome so far (`dropped` included).
    pub failed: u64,
    /// p99 latency of the last whole second (the highest over shards), µs.
    pub p99_last_us: u64,
}

/// Reads live totals from another thread (a progress display).
#[derive(Clone)]
pub struct Monitor {
    control: Arc<Control>,
    t0: Instant,
}

impl Monitor {
    /// The totals now.
    pub fn snapshot(&self) -> Snapshot {
        let c = &self.control.counters;
        let sum = |f: fn(&ShardCounters) -> &AtomicU64| {
            c.iter().map(|x| f(x).load(Ordering::Relaxed)).sum()
        };
        Snapshot {
            elapsed: Instant::now().saturating_duration_since(self.t0),
            scheduled: sum(|x| &x.scheduled),
            sent: sum(|x| &x.sent),
            completed: sum(|x| &x.completed),
            success: sum(|x| &x.success),
            failed: sum(|x| &x.failed),
            p99_last_us: c
                .iter()
                .map(|x| x.p99_last_us.load(Ordering::Relaxed))
                .max()
                .unwrap_or(0),
        }
    }
}

/// State shared between the handle and the shards.
pub(crate) struct Control {
    status: AtomicU8,
    stop_requested: AtomicBool,
    stop_at: Mutex<Option<Instant>>,
    stop_tx: tokio::sync::watch::Sender<StopLevel>,
    pub counters: Vec<ShardCounters>,
    end_of_schedule: Mutex<Option<Instant>>,
    /// Where shards send per-call records (`with_results`).
    pub results_tx: Mutex<Option<std::sync::mpsc::SyncSender<Vec<crate::results::CallRecord>>>>,
}

impl Control {
    pub fn stop_rx(&self) -> tokio::sync::watch::Receiver<StopLevel> {
        self.stop_tx.subscribe()
    }
}

/// What a shard hands back when it ends.
pub(crate) struct ShardOutput {
    pub agg: Aggregate,
    pub cpu: Duration,
    pub busy_wall: Duration,
    pub last_event: Instant,
    pub wake_late: Hist,
    pub precise: bool,
}

type Launcher =
    Box<dyn FnOnce(&Arc<Control>, &Arc<Plan>) -> Result<Vec<ShardThread>, RunError> + Send>;

struct ShardThread {
    handle: JoinHandle<Option<ShardOutput>>,
    go: mpsc::Sender<Option<Instant>>,
}

/// A load generator: a plan plus a caller factory, started once.
pub struct LoadGen {
    plan: Arc<Plan>,
    control: Arc<Control>,
    launcher: Option<Launcher>,
    threads: Vec<ShardThread>,
    t0: Option<Instant>,
    t0_wall: Option<SystemTime>,
    results: Option<crate::results::Writer>,
}

/// A cheap, cloneable handle that can stop a run from another thread (a signal handler).
#[derive(Clone)]
pub struct Stopper {
    control: Arc<Control>,
}

impl Stopper {
    /// Stops the run: no new loads, in-flight calls get the grace period. Idempotent;
    /// returns true if this call initiated the stop.
    pub fn stop(&self) -> bool {
        request_stop(&self.control)
    }
    /// Ends the grace period now (a second Ctrl-C); in-flight calls become `cancelled`.
    pub fn abort(&self) {
        request_abort(&self.control);
    }
    /// True once a stop was requested.
    pub fn stop_requested(&self) -> bool {
        self.control.stop_requested.load(Ordering::Relaxed)
    }
}

fn request_abort(control: &Control) {
    request_stop(control);
    control.stop_tx.send_replace(StopLevel::Abort);
}

fn request_stop(control: &Control) -> bool {
    if control.stop_requested.swap(true, Ordering::SeqCst) {
        return false;
    }
    *control.stop_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    control.stop_tx.send_if_modified(|l| {
        if *l < StopLevel::Stop {
            *l = StopLevel::Stop;
            true
        } else {
            false
        }
    });
    true
}

impl LoadGen {
    /// A generator for `plan` whose shards get their callers from `factory`.
    pub fn new<F: CallerFactory>(plan: Plan, factory: F) -> Result<LoadGen, ConfigError> {
        plan.validate()?;
        let shards = plan.shard_count();
        let (stop_tx, _) = tokio::sync::watch::channel(StopLevel::Run);
        let control = Arc::new(Control {
            status: AtomicU8::new(ORIGINAL),
            stop_requested: AtomicBool::new(false),
            stop_at: Mutex::new(None),
            stop_tx,
            counters: (0..shards).map(|_| ShardCounters::default()).collect(),
            end_of_schedule: Mutex::new(None),
            results_tx: Mutex::new(None),
        });
        let factory = Arc::new(factory);
        let launcher: Launcher = Box::new(move |control, plan| {
            let slots = plan.slots();
            let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
            let mut threads = Vec::with_capacity(shards);
            for index in 0..shards {
                let ctx = ShardContext {
                    index,
                    count: shards,
                    slots: split(slots, shards, index),
                };
                let (go_tx, go_rx) = mpsc::channel();
                let (factory, control, plan, ready_tx) = (
                    factory.clone(),
                    control.clone(),
                    plan.clone(),
                    ready_tx.clone(),
                );
                let handle = std::thread::Builder::new()
                    .name(format!("loadgen-shard-{index}"))
                    .spawn(move || shard::run(ctx, &*factory, control, plan, ready_tx, go_rx))?;
                threads.push(ShardThread { handle, go: go_tx });
            }
            drop(ready_tx);
            for _ in 0..shards {
                match ready_rx.recv() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        cancel(threads);
                        return Err(RunError::Caller(e));
                    }
                    Err(_) => {
                        cancel(threads);
                        return Err(RunError::Caller("a shard failed to start".into()));
                    }
                }
            }
            Ok(threads)
        });
        Ok(LoadGen {
            plan: Arc::new(plan),
            control,
            launcher: Some(launcher),
            threads: Vec::new(),
            t0: None,
            t0_wall: None,
            results: None,
        })
    }

    /// Streams one record per load to `out` (before `start`). The writer runs on its own
    /// thread behind a bounded queue; a slow writer slows the shards rather than growing
    /// memory. A write failure becomes a warning in the summary.
    pub fn with_results(
        &mut self,
        out: Box<dyn std::io::Write + Send>,
        format: crate::results::Format,
    ) -> Result<(), RunError> {
        if self.control.status.load(Ordering::SeqCst) != ORIGINAL {
            return Err(RunError::AlreadyStarted);
        }
        let names = self.plan.targets.iter().map(|t| t.name.clone()).collect();
        let w = crate::results::Writer::start(out, format, names)?;
        *self
            .control
            .results_tx
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = w.sender();
        self.results = Some(w);
        Ok(())
    }

    /// Starts the run and returns once every shard is sending (or scheduled to start at
    /// `start_at`).
    pub fn start(&mut self) -> Result<(), RunError> {
        if self
            .control
            .status
            .compare_exchange(ORIGINAL, STARTING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(RunError::AlreadyStarted);
        }
        let launcher = self.launcher.take().ok_or(RunError::AlreadyStarted)?;
        let threads = match launcher(&self.control, &self.plan) {
            Ok(t) => t,
            Err(e) => {
                self.control.status.store(STOPPED, Ordering::SeqCst);
                return Err(e);
            }
        };
        let now = Instant::now();
        let wall = SystemTime::now();
        let (t0, t0_wall) = match self.plan.start_at {
            Some(at) => match at.duration_since(wall) {
                Ok(ahead) => (now + ahead, at),
                Err(behind) => (now.checked_sub(behind.duration()).unwrap_or(now), at),
            },
            None => (
                now + Duration::from_millis(1),
                wall + Duration::from_millis(1),
            ),
        };
        for t in &threads {
            let _ = t.go.send(Some(t0));
        }
        self.threads = threads;
        self.t0 = Some(t0);
        self.t0_wall = Some(t0_wall);
        self.control.status.store(STARTED, Ordering::SeqCst);
        Ok(())
    }

    /// A handle that can stop the run from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            control: self.control.clone(),
        }
    }

    /// Stops the run (see [`Stopper::stop`]). Idempotent.
    pub fn stop(&self) -> bool {
        request_stop(&self.control)
    }

    /// Ends the grace period now (see [`Stopper::abort`]).
    pub fn abort(&self) {
        self.stopper().abort()
    }

    /// Where the run is in its lifecycle.
    pub fn status(&self) -> Status {
        match self.control.status.load(Ordering::SeqCst) {
            ORIGINAL => Status::Original,
            STARTING => Status::Starting,
            STARTED => {
                let ended = self
                    .t0
                    .is_some_and(|t0| Instant::now() >= t0 + self.plan.schedule.duration());
                let drained = self
                    .control
                    .end_of_schedule
                    .lock()
                    .map(|e| e.is_some())
                    .unwrap_or(false);
                if self.control.stop_requested.load(Ordering::SeqCst) || ended || drained {
                    Status::Stopping
                } else {
                    Status::Started
                }
            }
            _ => Status::Stopped,
        }
    }

    /// Loads sent so far (published by the shards a few times a second, exact at the end).
    pub fn call_count(&self) -> u64 {
        self.control
            .counters
            .iter()
            .map(|c| c.sent.load(Ordering::Relaxed))
            .sum()
    }

    /// A live view of the run for another thread (after `start`).
    pub fn monitor(&self) -> Option<Monitor> {
        self.t0.map(|t0| Monitor {
            control: self.control.clone(),
            t0,
        })
    }

    /// The plan being run.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Waits for the run to end and returns its summary.
    pub fn wait(mut self) -> Result<Summary, RunError> {
        if self.control.status.load(Ordering::SeqCst) == ORIGINAL {
            self.start()?;
        }
        let t0 = self.t0.ok_or(RunError::AlreadyStarted)?;
        let mut outputs = Vec::new();
        let mut lost_shards = 0;
        for t in self.threads.drain(..) {
            match t.handle.join() {
                Ok(Some(o)) => outputs.push(o),
                Ok(None) => {}
                Err(_) => {
                    // a bug in the engine: stop the other shards, keep what they recorded
                    lost_shards += 1;
                    request_abort(&self.control);
                }
            }
        }
        self.control
            .results_tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // a failed results file must not lose the run's summary: it becomes a warning
        let results_error = self
            .results
            .take()
            .and_then(|w| w.finish().err())
            .map(|e| format!("the per-call results could not all be written: {e}"));
        self.control.status.store(STOPPED, Ordering::SeqCst);
        let mut agg = Aggregate::new(self.plan.targets.len());
        let mut wake_late = crate::record::hist::new_hist();
        let mut cpu = Duration::ZERO;
        let mut max_busy = 0.0f64;
        let mut last = t0;
        let mut precise = true;
        for o in &outputs {
            agg.merge(&o.agg).map_err(RunError::Caller)?;
            crate::record::hist::add(&mut wake_late, &o.wake_late);
            cpu += o.cpu;
            if !o.busy_wall.is_zero() {
                max_busy = max_busy.max(o.cpu.as_secs_f64() / o.busy_wall.as_secs_f64());
            }
            last = last.max(o.last_event);
            precise &= o.precise;
        }
        let duration = self.plan.schedule.duration();
        let stop_at = *self
            .control
            .stop_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let window = match stop_at {
            Some(s) => s.saturating_duration_since(t0).min(duration),
            None => duration,
        };
        let facts = RunFacts {
            t0_wall: self.t0_wall.unwrap_or(SystemTime::now()),
            elapsed: last.saturating_duration_since(t0),
            window,
            interrupted: stop_at.is_some_and(|s| s < t0 + duration),
            slots: self.plan.slots(),
            shards: outputs.len(),
            cpu,
            max_shard_busy: max_busy,
            wake_late,
            precise_timer: precise,
        };
        let mut summary = Summary::build(&self.plan, &facts, &agg);
        summary.warnings.extend(results_error);
        if lost_shards > 0 {
            summary
                .warnings
                .push(format!("{lost_shards} generator thread(s) failed; their loads are missing from this summary"));
        }
        Ok(summary)
    }

    /// Starts (if needed) and waits: the whole run in one call.
    pub fn run(mut self) -> Result<Summary, RunError> {
        self.start()?;
        self.wait()
    }
}

fn cancel(threads: Vec<ShardThread>) {
    for t in &threads {
        let _ = t.go.send(None);
    }
    for t in threads {
        let _ = t.handle.join();
    }
}

impl Drop for LoadGen {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.abort();
            for t in self.threads.drain(..) {
                let _ = t.handle.join();
            }
        }
    }
}
