//! The plan of a run: when (schedule), how many at once (slots), how long each call may
//! take, where loads go, and which part of a sharded run this process is.

use std::time::{Duration, SystemTime};

use super::pacer;
use crate::caller::Target;
use crate::error::ConfigError;
use crate::schedule::{Schedule, Stride};
use crate::summary::{RunInfo, ShardId};

/// Default slots in closed loop (as oha).
pub const CLOSED_LOOP_CONCURRENCY: u64 = 50;

/// Connections per target that the open model opens on demand, at most, unless told
/// otherwise (the CLI's default for `--connections` with a rate; oha's `-c` and the closed
/// loop's default concurrency are 50 too). Connections open only when a call needs one,
/// so a fast target at a high rate uses a few; the cap binds when the target is slow or
/// saturated — and past saturation more connections only add queueing at the target and
/// work per call on both sides (measured: 256 connections gave 0.54–0.85 of the
/// closed-loop throughput where 50 gave 0.86–1.1, `bench/overload.sh`).
pub const OPEN_MODEL_CONNECTIONS: u64 = 50;

/// The longest call timeout accepted: one day (latency histograms stop there).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// Everything the engine needs to run: when, how many, how long, where.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Intended start times.
    pub schedule: Schedule,
    /// Per-call timeout (a journey's: the whole journey); also the deadline for a load
    /// waiting for a slot, unless [`Plan::start_timeout`] says otherwise.
    pub timeout: Duration,
    /// How long a load may wait for a slot before it is `dropped` (a journey: its first
    /// request's timeout); `None`: the timeout.
    pub start_timeout: Option<Duration>,
    /// The report rows of journeys' steps (empty for single calls).
    pub steps: Vec<crate::record::StepInfo>,
    /// Slots (calls in flight at most); `None` = `ceil(rate × timeout) + 1` (closed loop:
    /// 50). Slots are permissions, not tasks or connections: a worker task exists only
    /// for a call that can run, so a large figure costs nothing until it is used.
    pub concurrency: Option<u64>,
    /// Connections per target the callers were given, for reports (`None`: not known).
    pub connections: Option<u64>,
    /// Protocol specifics for reports (`client`, `method`, `tls`, `streams`, ...).
    pub details: Vec<(String, String)>,
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
    /// Use the microsecond timer for pacing (Linux timerfd, or a clock sleep).
    pub precise_timer: bool,
    /// Read responses in a batch at each pacing tick instead of waking for each, when the
    /// caller knows when each arrived ([`Caller::stamps_arrivals`](crate::Caller)); one
    /// wake-up per tick instead of one more per response, same latency. Open model only.
    pub batch_reads: bool,
    /// Minimum spacing of two dispatcher wake-ups: every load due within it goes out in one
    /// batch. Smaller is smoother; larger costs less CPU (each wake-up costs a few µs to tens
    /// of µs, depending on the machine) and adds up to this much send lag.
    pub quantum: Duration,
    /// Adapt the quantum as the run goes (`--pacing-quantum auto`): a fifth of the median
    /// service time so far, within [`pacer::AUTO_MIN`] and [`pacer::AUTO_MAX`] — precise
    /// against a fast target, cheap against a slow one; `quantum` is where it starts.
    pub adaptive_quantum: bool,
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
            start_timeout: None,
            steps: Vec::new(),
            concurrency: None,
            connections: None,
            details: Vec::new(),
            threads: None,
            grace: None,
            targets,
            protocol: protocol.to_string(),
            stride: Stride::ALL,
            process_shard: (0, 1),
            start_at: None,
            precise_timer: true,
            batch_reads: true,
            quantum: pacer::QUANTUM,
            adaptive_quantum: false,
        }
    }

    /// Slots of this process: `concurrency` (already its share), or the default — a
    /// figure of the whole run too, of which this process takes its share.
    pub fn slots(&self) -> u64 {
        if let Some(c) = self.concurrency {
            return c;
        }
        if self.schedule.is_closed() {
            let (index, count) = self.process_shard;
            return crate::caller::share(
                CLOSED_LOOP_CONCURRENCY,
                count.max(1) as usize,
                index as usize,
            );
        }
        // the book's rule, ceil(rate × timeout) + 1, for this process's share of the rate
        // (at the peak of a ramp, with room for Poisson bursts); saturating, never wrapping
        let share = (self.schedule.peak_in(self.timeout) / self.stride.step as f64).ceil();
        (share as u64).saturating_add(1)
    }

    /// Shards for this run.
    pub fn thread_count(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let want = self.threads.unwrap_or(cores).max(1);
        want.min(usize::try_from(self.slots().max(1)).unwrap_or(usize::MAX))
    }

    /// The width of the run's timeline buckets (from its planned duration).
    pub fn bucket(&self) -> Duration {
        crate::record::bucket_width(self.schedule.duration())
    }

    /// What the run was asked to do, for its summary; `started_at` is the wall-clock time
    /// of t0.
    pub fn run_info(&self, started_at: SystemTime) -> RunInfo {
        RunInfo {
            targets: self.targets.clone(),
            protocol: self.protocol.clone(),
            details: self.details.clone(),
            arrival: self.schedule.arrival_kind(),
            rate: self.schedule.rate(),
            duration: self.schedule.duration(),
            timeout: self.timeout,
            concurrency: self.slots(),
            connections: self.connections,
            shard: ShardId {
                index: self.process_shard.0,
                count: self.process_shard.1,
            },
            shards: vec![self.process_shard.0],
            started_at,
            bucket: self.bucket(),
            steps: self.steps.clone(),
        }
    }

    /// How long a load may wait for a slot.
    pub fn start_timeout(&self) -> Duration {
        self.start_timeout.unwrap_or(self.timeout).min(self.timeout)
    }

    /// The grace period after a stop.
    pub fn grace(&self) -> Duration {
        self.grace.unwrap_or(self.timeout)
    }

    /// Checks the plan; [`LoadGen::new`](super::LoadGen::new) calls it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.timeout > MAX_TIMEOUT {
            return Err(ConfigError::TimeoutTooLong);
        }
        if self.start_timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.grace.is_some_and(|g| g > MAX_TIMEOUT) {
            return Err(ConfigError::GraceTooLong);
        }
        if self.concurrency == Some(0) {
            return Err(ConfigError::ZeroConcurrency);
        }
        if self.threads == Some(0) {
            return Err(ConfigError::ZeroThreads);
        }
        if self.targets.is_empty() {
            return Err(ConfigError::NoTargets);
        }
        if self.targets.len() > usize::from(u16::MAX) {
            return Err(ConfigError::TooManyTargets);
        }
        if self.targets.iter().any(|t| t.weight == 0) {
            return Err(ConfigError::ZeroWeight);
        }
        if self.stride.step == 0 || self.stride.first >= self.stride.step {
            return Err(ConfigError::Shard);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rate: f64, timeout: Duration) -> Plan {
        let s = Schedule::constant(rate, Duration::from_secs(1)).unwrap();
        let t = vec![Target {
            name: "x".into(),
            weight: 1,
        }];
        Plan::new(s, timeout, t, "x")
    }

    #[test]
    fn slots_follow_the_book_and_never_wrap() {
        assert_eq!(plan(1000.0, Duration::from_millis(50)).slots(), 51);
        assert_eq!(plan(0.0, Duration::from_secs(1)).slots(), 50);
        let huge = plan(10.0, Duration::from_secs(5_000_000_000_000_000_000));
        assert_eq!(huge.slots(), u64::MAX);
        assert!(huge.validate().is_err());
        assert!(plan(10.0, MAX_TIMEOUT).validate().is_ok());
    }
}
