//! The engine's own cost per load, with a caller that does nothing: what pacing, the
//! dispatcher, the workers and the recorder cost before any network. Run with
//! `cargo bench -p loadgen --bench engine [-- RATE...]`; prints CPU µs per load for a
//! closed loop and for fixed rates, one generator thread (pin it with `taskset -c 0`).
//!
//! A wake-up costs several µs on a VM, so at a fixed rate the figure is mostly wake-ups
//! per load; `batched` is the caller that stamps arrivals (so the engine reads in batches
//! at its ticks), `eager` the one that does not.

use std::time::{Duration, Instant};

use loadgen::{Caller, Failure, Load, LoadGen, Plan, Schedule, Target, ThreadContext};

struct Null {
    stamps: bool,
}

impl Caller for Null {
    type Request = ();
    type Response = Instant;
    fn build(&self, _: Load) {}
    async fn call(&self, _: &(), _: Instant) -> Result<Instant, Failure> {
        // a response that takes one turn of the runtime, as a socket read does
        tokio::task::yield_now().await;
        Ok(Instant::now())
    }
    fn check(&self, _: Load, _: &(), _: &Instant) -> Result<(), Failure> {
        Ok(())
    }
    fn capacity(&self) -> Option<u64> {
        Some(50)
    }
    fn arrival(&self, at: &Instant) -> Option<Instant> {
        self.stamps.then_some(*at)
    }
    fn stamps_arrivals(&self) -> bool {
        self.stamps
    }
}

fn run(rate: f64, stamps: bool, secs: u64) -> (f64, f64) {
    let schedule = Schedule::constant(rate, Duration::from_secs(secs)).unwrap();
    let target = Target {
        name: "null".into(),
        weight: 1,
    };
    let mut plan = Plan::new(schedule, Duration::from_secs(1), vec![target], "null");
    plan.threads = Some(1);
    if rate == 0.0 {
        plan.concurrency = Some(50);
    }
    let s = LoadGen::new(plan, move |_: &ThreadContext| Null { stamps })
        .unwrap()
        .run()
        .unwrap();
    let ok = s.counts()[loadgen::Outcome::Success].max(1);
    let per_load = s.facts.generator.cpu.as_secs_f64() * 1e6 / ok as f64;
    (per_load, s.lag().p99 * 1000.0)
}

fn main() {
    let rates: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rates = if rates.is_empty() {
        vec![0.0, 1000.0, 5000.0, 20_000.0, 100_000.0]
    } else {
        rates
    };
    println!(
        "{:>10}  {:>8}  {:>12}  {:>12}",
        "rate", "reads", "CPU µs/load", "lag p99 µs"
    );
    for &rate in &rates {
        for stamps in [true, false] {
            if rate == 0.0 && !stamps {
                continue;
            }
            let (cpu, lag) = run(rate, stamps, 3);
            let reads = if rate == 0.0 {
                "closed"
            } else if stamps {
                "batched"
            } else {
                "eager"
            };
            let name = if rate == 0.0 {
                "max".to_string()
            } else {
                format!("{rate}")
            };
            println!("{name:>10}  {reads:>8}  {cpu:>12.2}  {lag:>12.0}");
        }
    }
}
