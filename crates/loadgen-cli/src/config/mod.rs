//! The high-level configuration of a run: raw arguments ([`crate::args`]) validated into a
//! [`Plan`] and the protocol's caller ([`protocol`]). Every message that names a flag is
//! made here; the library's errors name values only, and get their flag as context.

pub mod grpc;
pub mod journeys;
pub mod protocol;
pub mod requests;
pub mod ws;

use std::time::Duration;

use anyhow::{Context, bail};
use loadgen::caller::share;
use loadgen::spec::{At, LoadSpec, Text};
use loadgen::{Plan, Schedule, Stride};

use crate::args::{ArrivalKind, LoadArgs};
use requests::Source;

/// Defaults that differ between `run` and `demo`.
pub struct Defaults {
    /// Loads per second.
    pub rate: f64,
    /// Length of the run.
    pub duration: Duration,
    /// Per-call timeout.
    pub timeout: Duration,
}

/// `run`: closed loop for 10 s, 1 s timeout.
pub const RUN_DEFAULTS: Defaults = Defaults {
    rate: 0.0,
    duration: Duration::from_secs(10),
    timeout: Duration::from_secs(1),
};

/// `demo`: 1000 LPS for 5 s, 50 ms timeout.
pub const DEMO_DEFAULTS: Defaults = Defaults {
    rate: 1000.0,
    duration: Duration::from_secs(5),
    timeout: Duration::from_millis(50),
};

/// The load the flags of `a` ask for, as a run specification's `load` (set keys only): a
/// scenario file's is overridden by it, key by key.
pub fn load_spec(a: &LoadArgs) -> LoadSpec {
    let text = |s: String| Some(At::new(Text(s)));
    LoadSpec {
        rate: a.rate.and_then(|r| text(r.to_string())),
        duration: a
            .duration
            .and_then(|d| text(format!("{}s", d.as_secs_f64()))),
        arrival: a.arrival.and_then(|k| {
            text(match k {
                ArrivalKind::Constant => "constant".into(),
                ArrivalKind::Poisson => "poisson".into(),
            })
        }),
        stages: a.stages.clone().and_then(text),
        seed: a.seed.and_then(|s| text(s.to_string())),
        vus: None,
        concurrency: a.concurrency.and_then(|c| text(c.to_string())),
        journeys: a.loads.and_then(|n| text(n.to_string())),
    }
}

/// A load error of the flags, naming the flag.
fn load_error(e: loadgen::spec::SpecError) -> anyhow::Error {
    let why = e.why;
    for (key, flag) in [
        ("rate ", "--rate "),
        ("duration ", "--duration "),
        ("stages ", "--stages "),
        ("arrival ", "--arrival "),
        ("seed ", "--seed "),
        ("concurrency ", "-c/--concurrency "),
        ("journeys ", "-n/--loads "),
    ] {
        if let Some(rest) = why.strip_prefix(key) {
            return anyhow::anyhow!("{flag}{rest}");
        }
    }
    anyhow::anyhow!("{why}")
}

/// `demo --scenario`: 100 journeys per second for 5 s, 1 s per request.
pub const JOURNEY_DEMO_DEFAULTS: Defaults = Defaults {
    rate: 100.0,
    duration: Duration::from_secs(5),
    timeout: Duration::from_secs(1),
};

/// The schedule `a` asks for (`--rate`, `--stages`, `--arrival`, `--duration`, `-n`).
pub fn schedule(a: &LoadArgs, d: &Defaults) -> anyhow::Result<Schedule> {
    let l = load_spec(a)
        .load("", d.rate, d.duration)
        .map_err(load_error)?;
    Ok(l.schedule)
}

/// `--shard I/N`, else LOADGEN_SHARD, else JOB_COMPLETION_INDEX with --shards/LOADGEN_SHARDS.
pub fn shard(a: &LoadArgs) -> anyhow::Result<(u64, u64)> {
    if let Some(s) = a.shard {
        return Ok(s);
    }
    if let Ok(v) = std::env::var("LOADGEN_SHARD") {
        return crate::args::parse_shard(&v).map_err(|e| anyhow::anyhow!("LOADGEN_SHARD {e}"));
    }
    if let Ok(v) = std::env::var("JOB_COMPLETION_INDEX") {
        let n = a.shards.context(
            "JOB_COMPLETION_INDEX is set: give the shard count with --shards N or LOADGEN_SHARDS",
        )?;
        let i: u64 = v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("JOB_COMPLETION_INDEX '{v}' is not a number"))?;
        if i >= n {
            bail!("JOB_COMPLETION_INDEX {i} is not below the shard count {n}");
        }
        return Ok((i, n));
    }
    if let Some(n) = a.shards.filter(|&n| n > 1) {
        bail!("--shards {n} needs JOB_COMPLETION_INDEX (or use --shard I/{n})");
    }
    Ok((0, 1))
}

/// The plan of a run of `schedule` to `src` with the options of `a`.
pub fn plan(src: &Source, a: &LoadArgs, d: &Defaults, schedule: Schedule) -> anyhow::Result<Plan> {
    let scheme = src.endpoints[0].scheme;
    if let Some(t) = src
        .endpoints
        .iter()
        .find(|t| t.scheme.protocol() != scheme.protocol())
    {
        bail!(
            "all targets must use one protocol: {} is not {}",
            t.url,
            scheme.name()
        );
    }
    let mut plan = Plan::new(
        schedule,
        a.timeout.unwrap_or(d.timeout),
        src.rows.clone(),
        scheme.protocol(),
    );
    fill(&mut plan, a)?;
    Ok(plan)
}

/// Sets what the flags of `a` say about any plan — shard, start, concurrency, threads,
/// grace, pacing — and checks it.
pub fn fill(plan: &mut Plan, a: &LoadArgs) -> anyhow::Result<()> {
    let (index, count) = shard(a)?;
    plan.stride = Stride {
        first: index,
        step: count,
    };
    plan.process_shard = (index, count);
    plan.start_at = a.start_at;
    // concurrency is a global figure: this shard takes its share
    plan.concurrency = a
        .concurrency
        .map(|c| share(c, count as usize, index as usize));
    plan.threads = a.threads.map(|t| t as usize);
    plan.grace = a.grace;
    plan.precise_timer = !a.coarse_timer;
    match a.pacing_quantum {
        crate::args::Quantum::Fixed(q) => plan.quantum = q,
        crate::args::Quantum::Auto => plan.adaptive_quantum = true,
    }
    plan.batch_reads = !a.eager_reads;
    plan.validate()
        .map_err(|e| anyhow::anyhow!("{}", flag_of(&e)))?;
    Ok(())
}

/// A plan error with the flag that set the value.
fn flag_of(e: &loadgen::ConfigError) -> String {
    use loadgen::ConfigError as E;
    let flag = match e {
        E::ZeroTimeout | E::TimeoutTooLong => "-t/--timeout",
        E::GraceTooLong => "--grace",
        E::ZeroConcurrency => "-c/--concurrency",
        E::ZeroThreads => "--threads",
        E::Shard => "--shard",
        _ => return e.to_string(),
    };
    format!("{flag}: {e}")
}
