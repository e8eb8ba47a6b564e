//! The lifecycle of a run, `Original → Starting → Started → Stopping → Stopped`, kept in
//! one watch channel that the handle writes and the shards read; and the live counters
//! the shards publish a few times a second (never per call).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc::SyncSender};
use std::time::Instant;

use tokio::sync::watch;

use crate::record::results::CallRecord;

/// The lifecycle of a [`LoadGen`](super::LoadGen).
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
    /// Every runner has finished; the summary is ready.
    Stopped,
}

/// How far a stop has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StopLevel {
    /// Running as planned.
    Run,
    /// Stop scheduling; in-flight calls get the grace period.
    Stop,
    /// End the grace period now.
    Abort,
}

/// Everything about where a run is, in one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub status: Status,
    pub stop: StopLevel,
    /// When the first stop was requested.
    pub stop_at: Option<Instant>,
    /// When the first runner ran out of schedule (or stopped scheduling).
    pub schedule_end: Option<Instant>,
}

/// Live totals of one runner, published a few times a second.
#[derive(Debug, Default)]
pub(crate) struct ThreadCounters {
    pub scheduled: AtomicU64,
    pub sent: AtomicU64,
    pub completed: AtomicU64,
    pub success: AtomicU64,
    pub failed: AtomicU64,
    pub in_flight: AtomicU64,
    pub p99_last_us: AtomicU64,
    /// The detailed view, published only once a live view was asked for.
    pub live: Mutex<Option<super::live::LiveShard>>,
}

/// State shared between the handle and the shards.
pub(crate) struct Control {
    state: watch::Sender<State>,
    pub counters: Vec<ThreadCounters>,
    /// Where shards send per-call records (`with_results`).
    pub results_tx: Mutex<Option<SyncSender<Vec<CallRecord>>>>,
    /// Whether shards publish the detailed live view.
    pub live: std::sync::atomic::AtomicBool,
}

impl Control {
    pub fn new(shards: usize) -> Control {
        let (state, _) = watch::channel(State {
            status: Status::Original,
            stop: StopLevel::Run,
            stop_at: None,
            schedule_end: None,
        });
        Control {
            state,
            counters: (0..shards).map(|_| ThreadCounters::default()).collect(),
            results_tx: Mutex::new(None),
            live: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The state now.
    pub fn state(&self) -> State {
        *self.state.borrow()
    }

    /// A receiver for a runner: it wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }

    /// Moves `from` → `to`; false if the status was not `from`.
    pub fn transition(&self, from: Status, to: Status) -> bool {
        self.state.send_if_modified(|s| {
            if s.status == from {
                s.status = to;
                true
            } else {
                false
            }
        })
    }

    /// Sets the status whatever it was.
    pub fn set_status(&self, to: Status) {
        self.state.send_modify(|s| s.status = to);
    }

    /// Requests a stop (`Stop` or `Abort`); returns true if this call made the first stop.
    pub fn request(&self, level: StopLevel, now: Instant) -> bool {
        let mut first = false;
        self.state.send_if_modified(|s| {
            if s.stop_at.is_none() {
                s.stop_at = Some(now);
                first = true;
            }
            if s.stop < level {
                s.stop = level;
                true
            } else {
                false
            }
        });
        first
    }

    /// A runner ran out of schedule at `at` (the first report wins).
    pub fn schedule_ended(&self, at: Instant) {
        self.state.send_if_modified(|s| {
            if s.schedule_end.is_none() {
                s.schedule_end = Some(at);
                true
            } else {
                false
            }
        });
    }

    /// Sum of one counter over the shards.
    pub fn sum(&self, f: impl Fn(&ThreadCounters) -> &AtomicU64) -> u64 {
        self.counters
            .iter()
            .map(|c| f(c).load(Ordering::Relaxed))
            .sum()
    }
}

/// Waits until the stop level reaches `level`.
pub(crate) async fn reached(mut rx: watch::Receiver<State>, level: StopLevel) {
    loop {
        if rx.borrow_and_update().stop >= level {
            return;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}
