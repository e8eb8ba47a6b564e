//! HOW MANY at once, and the lifecycle: the load generator handle.
//!
//! [`LoadGen`] runs a [`Plan`] with one [`Caller`](crate::Caller) per runner. Each runner is
//! an OS thread with a single-threaded tokio runtime that owns every N-th load of the
//! schedule, its slots, its caller (and so its connections) and its recorder; shards share
//! nothing on the per-call path and are merged when the run ends.
//!
//! Lifecycle: `Original → Starting → Started → Stopping → Stopped`. A run stops at the end
//! of its schedule or on [`LoadGen::stop`] (idempotent; the CLI calls it on SIGINT, SIGTERM
//! and SIGQUIT): no new loads, in-flight calls get the grace period, the rest become
//! `cancelled`. [`LoadGen::abort`] ends the grace period at once. Either way
//! [`LoadGen::wait`] returns the full summary.

pub(crate) mod clock;
pub mod dispatcher;
mod drive;
mod lifecycle;
/// The live view's model (in `record`: the result model knows no engine).
pub use crate::record::live;
pub use crate::record::live::Snapshot;
pub mod pacer;
mod plan;
mod runner;
pub(crate) mod tick;
mod worker;

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

pub use crate::caller::Target;
use crate::caller::{CallerFactory, ThreadContext, split};
use crate::error::{ConfigError, RunError};
use crate::record::Aggregate;
use crate::summary::{GeneratorFacts, LoadFacts, RunFacts, Summary};
pub use lifecycle::Status;
use lifecycle::{Control, StopLevel};
pub use plan::{CLOSED_LOOP_CONCURRENCY, MAX_TIMEOUT, OPEN_MODEL_CONNECTIONS, Plan};
use runner::RunnerOutput;

/// How the summary's warning begins when `--results` could not write every record.
pub const RESULTS_LOST: &str = "the per-call results could not all be written";

/// Reads live totals from another thread (a progress display, a dashboard, metrics).
#[derive(Clone)]
pub struct Monitor {
    control: Arc<Control>,
    t0: Instant,
}

impl Monitor {
    /// The detailed view now (empty counts and histograms unless
    /// [`LoadGen::enable_live`] was called before the start).
    pub fn live(&self) -> live::Live {
        let mut l = live::Live::new(Snapshot::default());
        let mut any = false;
        for c in &self.control.counters {
            let shard = c.live.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = shard.as_ref() {
                l.add(s);
                any = true;
            }
        }
        if !any {
            // nothing published yet: the totals (zero, or the last shard's as it starts)
            l.snapshot = self.snapshot();
        }
        l.finish();
        l
    }

    /// The totals now.
    pub fn snapshot(&self) -> Snapshot {
        let c = &self.control;
        Snapshot {
            elapsed: Instant::now().saturating_duration_since(self.t0),
            scheduled: c.sum(|x| &x.scheduled),
            sent: c.sum(|x| &x.sent),
            completed: c.sum(|x| &x.completed),
            success: c.sum(|x| &x.success),
            failed: c.sum(|x| &x.failed),
            in_flight: c.sum(|x| &x.in_flight),
            p99_last_us: c
                .counters
                .iter()
                .map(|x| x.p99_last_us.load(std::sync::atomic::Ordering::Relaxed))
                .max()
                .unwrap_or(0),
        }
    }
}

type Launcher =
    Box<dyn FnOnce(&Arc<Control>, &Arc<Plan>) -> Result<Vec<RunnerThread>, RunError> + Send>;

struct RunnerThread {
    handle: JoinHandle<Option<RunnerOutput>>,
    go: mpsc::Sender<Option<Instant>>,
}

/// A load generator: a plan plus a caller factory, started once.
pub struct LoadGen {
    plan: Arc<Plan>,
    control: Arc<Control>,
    launcher: Option<Launcher>,
    threads: Vec<RunnerThread>,
    t0: Option<Instant>,
    t0_wall: Option<SystemTime>,
    results: Option<crate::record::results::Writer>,
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
        self.control.request(StopLevel::Stop, Instant::now())
    }
    /// Ends the grace period now (a second Ctrl-C); in-flight calls become `cancelled`.
    pub fn abort(&self) {
        self.control.request(StopLevel::Abort, Instant::now());
    }
    /// True once a stop was requested.
    pub fn stop_requested(&self) -> bool {
        self.control.state().stop >= StopLevel::Stop
    }
}

impl LoadGen {
    /// A generator for `plan` whose shards get their callers from `factory`.
    pub fn new<F: CallerFactory>(plan: Plan, factory: F) -> Result<LoadGen, ConfigError> {
        plan.validate()?;
        let shards = plan.thread_count();
        let control = Arc::new(Control::new(shards));
        let factory = Arc::new(factory);
        let launcher: Launcher = Box::new(move |control, plan| {
            let slots = plan.slots();
            let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
            let mut threads = Vec::with_capacity(shards);
            for index in 0..shards {
                let ctx = ThreadContext {
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
                    .name(format!("loadgen-thread-{index}"))
                    .spawn(move || drive::run(ctx, &*factory, control, plan, ready_tx, go_rx))?;
                threads.push(RunnerThread { handle, go: go_tx });
            }
            drop(ready_tx);
            for _ in 0..shards {
                let why = match ready_rx.recv() {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => e,
                    Err(_) => "a runner failed to start".into(),
                };
                cancel(threads);
                return Err(RunError::Caller(why));
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
        format: crate::record::results::Format,
    ) -> Result<(), RunError> {
        if self.control.state().status != Status::Original {
            return Err(RunError::AlreadyStarted);
        }
        let names = self.plan.targets.iter().map(|t| t.name.clone()).collect();
        let w = crate::record::results::Writer::start(out, format, names)?;
        *self
            .control
            .results_tx
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = w.sender();
        self.results = Some(w);
        Ok(())
    }

    /// Starts the run and returns once every runner is sending (or scheduled to start at
    /// `start_at`).
    pub fn start(&mut self) -> Result<(), RunError> {
        if !self.control.transition(Status::Original, Status::Starting) {
            return Err(RunError::AlreadyStarted);
        }
        let launcher = self.launcher.take().ok_or(RunError::AlreadyStarted)?;
        let threads = match launcher(&self.control, &self.plan) {
            Ok(t) => t,
            Err(e) => {
                self.control.set_status(Status::Stopped);
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
        self.control.transition(Status::Starting, Status::Started);
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
        self.stopper().stop()
    }

    /// Ends the grace period now (see [`Stopper::abort`]).
    pub fn abort(&self) {
        self.stopper().abort()
    }

    /// Where the run is in its lifecycle.
    pub fn status(&self) -> Status {
        let s = self.control.state();
        if s.status != Status::Started {
            return s.status;
        }
        let ended = self
            .t0
            .is_some_and(|t0| Instant::now() >= t0 + self.plan.schedule.duration());
        if s.stop >= StopLevel::Stop || ended || s.schedule_end.is_some() {
            Status::Stopping
        } else {
            Status::Started
        }
    }

    /// Loads sent so far (published by the shards a few times a second, exact at the end).
    pub fn call_count(&self) -> u64 {
        self.control.sum(|c| &c.sent)
    }

    /// Asks the shards to publish the detailed live view ([`Monitor::live`]) a few times
    /// a second: counts per target, latency and send-lag histograms, top errors. It costs
    /// a copy of the histograms per publication, so it is off unless asked for.
    pub fn enable_live(&self) {
        self.control
            .live
            .store(true, std::sync::atomic::Ordering::Relaxed);
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
        if self.control.state().status == Status::Original {
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
                    self.control.request(StopLevel::Abort, Instant::now());
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
            .map(|e| format!("{RESULTS_LOST}: {e}"));
        self.control.set_status(Status::Stopped);
        let mut summary = self.summarize(t0, &outputs)?;
        summary.warnings.extend(results_error);
        if lost_shards > 0 {
            summary.warnings.push(format!(
                "{lost_shards} generator thread(s) failed; their loads are missing from this summary"
            ));
        }
        Ok(summary)
    }

    fn summarize(&self, t0: Instant, outputs: &[RunnerOutput]) -> Result<Summary, RunError> {
        let mut agg = Aggregate::new(self.plan.targets.len());
        let mut wake_late = crate::record::hist::new_hist();
        let mut load = LoadFacts::default();
        let (mut cpu, mut max_busy, mut last, mut precise) = (Duration::ZERO, 0.0f64, t0, true);
        let mut quantum = Duration::ZERO;
        for o in outputs {
            quantum = quantum.max(o.quantum);
            agg += &o.agg;
            crate::record::hist::add(&mut wake_late, &o.wake_late);
            cpu += o.cpu;
            if !o.busy_wall.is_zero() {
                max_busy = max_busy.max(o.cpu.as_secs_f64() / o.busy_wall.as_secs_f64());
            }
            last = last.max(o.last_event);
            precise &= o.precise;
            load.max_in_flight += o.load.max_in_flight;
            load.peak_in_flight += o.load.peak_in_flight;
            load.capacity_bound |= o.load.capacity_bound;
            load.saturated = load.saturated.max(o.load.saturated);
        }
        let duration = self.plan.schedule.duration();
        // whole microseconds, as the JSON summary writes it: a summary read back computes
        // the same rates from it
        let elapsed = crate::summary::whole_micros(last.saturating_duration_since(t0));
        // loads were offered until the schedule ended (a load cap ends it early; a capped
        // closed loop offers until its last load finished) or the run was stopped
        let span = self.plan.schedule.span().unwrap_or(elapsed.min(duration));
        let stop_at = self.control.state().stop_at;
        let facts = RunFacts {
            elapsed,
            window: stop_at.map_or(span, |s| s.saturating_duration_since(t0).min(span)),
            interrupted: stop_at.is_some_and(|s| s < t0 + duration),
            generator: GeneratorFacts {
                threads: outputs.len(),
                cpu,
                max_busy,
                wake_late_p99: Duration::from_micros(if wake_late.is_empty() {
                    0
                } else {
                    wake_late.value_at_quantile(0.99)
                }),
                precise_timer: precise,
                quantum: if self.plan.schedule.is_closed() {
                    Duration::ZERO
                } else {
                    quantum
                },
                quantum_auto: self.plan.adaptive_quantum && !self.plan.schedule.is_closed(),
                stall_max: Duration::from_micros(wake_late.max()),
            },
            load,
        };
        let run = self
            .plan
            .run_info(self.t0_wall.unwrap_or_else(SystemTime::now));
        Ok(Summary {
            run,
            facts,
            agg,
            thresholds: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// Starts (if needed) and waits: the whole run in one call.
    pub fn run(mut self) -> Result<Summary, RunError> {
        self.start()?;
        self.wait()
    }
}

fn cancel(threads: Vec<RunnerThread>) {
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

#[cfg(test)]
mod tests;
