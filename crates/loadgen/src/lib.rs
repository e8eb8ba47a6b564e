//! loadgen: send loads to a system under test at a precise rate, check every response,
//! account for every load, and report what the system really did.
//!
//! # Layout
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! schedule ──> engine (dispatcher, slots) ──> caller ──> record ──> summary ──> report
//!  (when)       (how many, lifecycle)        (what)     (what happened) (JSON)   (text, kv)
//! ```
//!
//! - [`schedule`]: intended start times, a pure function of the load index.
//! - [`engine`]: [`LoadGen`], shards (one single-threaded runtime per core), slots, the
//!   per-call timeout, the stop and its grace period.
//! - [`caller`]: the [`Caller`] trait that protocols implement; [`calc`] is the book's
//!   arithmetic protocol.
//! - [`record`]: per-shard counts and HDR histograms, merged exactly.
//! - [`summary`]: the JSON summary, also the input of `merge` and `report`.
//! - [`report`]: text and `key=value` renderings.
//!
//! The library never prints and never exits; the `loadgen` binary does both.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use loadgen::{calc::{CalcCaller, CalcOptions}, LoadGen, Plan, Schedule, Target};
//!
//! let addr = "127.0.0.1:8080".parse().unwrap();
//! let schedule = Schedule::constant(1000.0, Duration::from_secs(2)).unwrap();
//! let targets = vec![Target { name: "calc://127.0.0.1:8080".into(), weight: 1 }];
//! let plan = Plan::new(schedule, Duration::from_millis(50), targets, "calc");
//! let lg = LoadGen::new(plan, move |shard: &loadgen::ShardContext| {
//!     CalcCaller::new(vec![addr], shard.slots, CalcOptions::default())
//! }).unwrap();
//! let summary = lg.run().unwrap();
//! assert!(summary.counts.invariant_holds());
//! ```

#![warn(missing_docs)]

pub mod calc;
pub mod caller;
pub mod engine;
pub mod error;
pub mod frame;
pub mod http;
pub mod merge;
pub mod net;
pub mod outcome;
pub mod pool;
pub mod record;
pub mod report;
pub mod results;
pub mod schedule;
pub mod search;
pub mod stream;
pub mod summary;
pub mod threshold;

pub use caller::{Caller, CallerFactory, Load, ShardContext};
pub use engine::{LoadGen, Monitor, Plan, Snapshot, Status, Stopper, Target};
pub use error::{ConfigError, RunError};
pub use outcome::{Failure, Outcome};
pub use schedule::{Schedule, Stride};
pub use summary::Summary;
