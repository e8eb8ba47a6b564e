//! loadgen: send loads to a system under test at a precise rate, check every response,
//! account for every load, and report what the system really did.
//!
//! # Layout
//!
//! The pipeline, one module per stage:
//!
//! ```text
//!  schedule ──when──> engine ──load, deadline──> caller ──outcome──> record ──> summary ──> report
//!  (due times)       (dispatcher,               (protocol)          (per       (typed      (text, kv,
//!                     workers, lifecycle)                            thread)    model;      html,
//!                                                                               JSON codec, thresholds)
//!                                                                               merge)
//! ```
//!
//! - [`schedule`]: intended start times, a pure function of the load index (constant
//!   rate, stages, Poisson, closed loop), and cursors that walk one shard's part of them.
//! - [`engine`]: [`LoadGen`] and its [`Plan`]; one generator thread per core, each with a
//!   dispatcher (the backlog as counts), workers bounded by the slots and the caller's
//!   capacity, the per-call deadline, the stop and its grace period; the live view that
//!   the dashboard, the metrics endpoint and per-second lines read while a run goes.
//! - [`caller`]: the [`Caller`] trait that protocols implement, the connection pool they
//!   share, [`Target`]s, and per-request data: templates and data feeds.
//! - [`protocol`]: the built-in callers — calc, HTTP/1.1 and HTTP/2 (requests from targets
//!   files), gRPC, TCP, UDP — and the sockets and frame codecs under them.
//! - [`record`]: what happened, per generator thread: counts by outcome, HDR histograms,
//!   a timeline, error groups; mergeable exactly. Also the per-call results stream.
//! - [`summary`]: the result of a run as one typed model; its JSON codec (the only place
//!   JSON is read or written); merge of shards.
//! - [`report`]: text, `key=value` and HTML renderings, and pass/fail thresholds.
//! - [`search`]: the highest rate that meets an SLO, by stepped runs.
//! - [`outcome`], [`error`]: the outcome codes and [`Failure`]s of loads; the library's
//!   typed errors.
//! - [`fuzz`]: every parser of outside bytes as a fuzz target.
//!
//! The library never prints and never exits; the `loadgen` binary does both.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use loadgen::protocol::calc::{CalcCaller, CalcOptions};
//! use loadgen::{LoadGen, Outcome, Plan, Schedule, Target, ThreadContext};
//!
//! let addr = "127.0.0.1:8080".parse().unwrap();
//! let schedule = Schedule::constant(1000.0, Duration::from_secs(2)).unwrap();
//! let targets = vec![Target { name: "calc://127.0.0.1:8080".into(), weight: 1 }];
//! let plan = Plan::new(schedule, Duration::from_millis(50), targets, "calc");
//! let lg = LoadGen::new(plan, move |t: &ThreadContext| {
//!     CalcCaller::new(vec![addr], t.slots, CalcOptions::default())
//! }).unwrap();
//! let summary = lg.run().unwrap();
//! assert!(summary.counts().invariant_holds());
//! println!("{} successes", summary.counts()[Outcome::Success]);
//! ```

#![warn(missing_docs)]

pub mod caller;
pub mod engine;
pub mod error;
pub mod fuzz;
pub mod journey;
pub mod limits;
pub mod outcome;
pub mod protocol;
pub mod record;
pub mod report;
pub mod schedule;
pub mod search;
pub mod spec;
pub mod summary;

pub use caller::{Caller, CallerFactory, Load, ThreadContext};
pub use engine::{LoadGen, Monitor, Plan, Snapshot, Status, Stopper, Target};
pub use error::{ConfigError, RunError};
pub use outcome::{Failure, Outcome};
pub use schedule::{Schedule, Stride};
pub use summary::Summary;
