//! `loadgen search`: stepped constant-rate runs (bracket, then bisect) to find the highest
//! rate that meets an SLO; prints the curve and the answer, writes JSON and HTML. A stop
//! signal ends the step in progress and the search, with the curve so far.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use loadgen::Schedule;
use loadgen::search::{Bounds, SearchResult, Step, search as run_search};

use super::signals::Signals;
use crate::args::{SearchArgs, SummaryFormat};
use crate::config::journeys::{self, Scenario};
use crate::config::protocol::Protocol;
use crate::config::requests::{self, Source};
use crate::config::{self, RUN_DEFAULTS};
use loadgen::caller::data::DataFeed;

/// Runs the search `a` describes; exit code 2 when not even the minimum rate met the SLO.
pub fn search(a: SearchArgs) -> anyhow::Result<ExitCode> {
    if a.load.rate.is_some() || a.load.duration.is_some() || a.load.stages.is_some() {
        bail!(
            "search sets the rate and duration of each step: use --min-rate, --max-rate and --step-duration"
        );
    }
    if a.min_rate <= 0.0 || a.max_rate < a.min_rate {
        bail!("need 0 < --min-rate ≤ --max-rate");
    }
    let signals = Signals::listen()?;
    // journeys: a scenario file as the one target
    let scenario = match a.targets.as_slice() {
        [t] if journeys::is_scenario_file(t) => Some(Scenario::read(std::path::Path::new(t))?),
        _ => None,
    };
    let targets = match scenario {
        Some(_) => None,
        None => Some(Source::targets(&a.targets, &a.load)?),
    };
    // read once: every step sends from the same feed
    let data = requests::data_feed(&a.load)?;
    let slo: Vec<String> = a.slo.iter().map(ToString::to_string).collect();
    let bounds = Bounds {
        min: a.min_rate,
        max: a.max_rate,
        precision: a.precision,
        max_steps: a.max_steps as usize,
    };
    let quiet = a.load.quiet || a.load.out.summary == SummaryFormat::None;
    if !quiet {
        crate::say!(
            "{:>5}  {:>10}  {:>10}  {:>10}  {:>9}  SLO",
            "step",
            "rate",
            "p50",
            "p99",
            "success"
        );
    }
    let stopped = Arc::new(AtomicBool::new(false));
    let mut n = 0;
    let result = run_search(slo, bounds, |rate| -> anyhow::Result<Option<Step>> {
        if stopped.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let what = match (&scenario, &targets) {
            (Some(sc), _) => What::Journeys(sc),
            (None, Some(t)) => What::Calls(t, &data),
            (None, None) => unreachable!("a scenario or targets"),
        };
        let step = step(&a, what, rate, &signals, &stopped)?;
        if step.is_some() {
            n += 1;
        }
        if let (Some(s), false) = (&step, quiet) {
            print_step(n, s);
        }
        Ok(step)
    })?;
    if !quiet {
        print_answer(&result, a.min_rate);
    }
    write_outputs(&result, &a)?;
    Ok(if result.answer.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// What a search runs: single calls to targets, or the journeys of a scenario file.
enum What<'a> {
    Calls(&'a Source, &'a Option<Arc<DataFeed>>),
    Journeys(&'a Scenario),
}

/// One stepped run at `rate`; `None` when a stop cut it short.
fn step(
    a: &SearchArgs,
    what: What<'_>,
    rate: f64,
    signals: &Signals,
    stopped: &Arc<AtomicBool>,
) -> anyhow::Result<Option<Step>> {
    let mut lg = match what {
        What::Calls(targets, data) => {
            let schedule = Schedule::constant(rate, a.step_duration)?;
            let plan = config::plan(targets, &a.load, &RUN_DEFAULTS, schedule)?;
            let scheme = targets.endpoints[0].scheme;
            Protocol::of(scheme, &a.load)?.loadgen(plan, targets, data.clone(), &a.load)?
        }
        What::Journeys(sc) => journeys::loadgen_at(sc, &a.load, rate, a.step_duration, &a.slo)?,
    };
    let grace = lg.plan().grace();
    let flag = stopped.clone();
    signals.attach_with(lg.stopper(), grace, move || {
        flag.store(true, Ordering::SeqCst)
    });
    lg.start()?;
    let mut s = lg.wait()?;
    if s.facts.interrupted || stopped.load(Ordering::SeqCst) {
        stopped.store(true, Ordering::SeqCst);
        return Ok(None);
    }
    let ok = loadgen::report::threshold::apply(&mut s, &a.slo);
    let c = s.counts();
    let lat = s.latency();
    Ok(Some(Step {
        rate,
        p50_ms: lat.p50,
        p99_ms: lat.p99,
        success_pct: c[loadgen::Outcome::Success] as f64 * 100.0 / c.scheduled.max(1) as f64,
        ok,
        verdicts: s
            .thresholds
            .iter()
            .map(loadgen::summary::codec::verdict_json)
            .collect(),
        generator_bound: s.generator_bound(),
    }))
}

/// Prints one step of a search (also for `loadgen report search.json`).
pub fn print_step(n: usize, s: &Step) {
    crate::say!(
        "{n:>5}  {:>8.0}/s  {:>10}  {:>10}  {:>8.2}%  {}{}",
        s.rate,
        loadgen::report::fmt_ms(s.p50_ms),
        loadgen::report::fmt_ms(s.p99_ms),
        s.success_pct,
        if s.ok { "met" } else { "missed" },
        if s.generator_bound {
            "  (generator-bound: loadgen, not the target, was the limit)"
        } else {
            ""
        }
    );
}

/// Prints the answer of a search (also for `loadgen report search.json`).
pub fn print_answer(r: &SearchResult, min_rate: f64) {
    crate::say!("");
    if r.interrupted {
        crate::say!(
            "stopped after {} steps: the answer is a bound, not converged",
            r.steps.len()
        );
    }
    let slo = r.slo.join(", ");
    if let Some(g) = r.generator_limit {
        match r.answer {
            Some(x) => crate::say!(
                "answer: at least {x} loads/s meets {slo}; at {g} loads/s loadgen itself was the limit, not the target (more --threads, or shards on more machines, to go higher)"
            ),
            None => crate::say!(
                "answer: none measured — at {g} loads/s loadgen itself was the limit, not the target"
            ),
        }
        return;
    }
    match (r.answer, r.first_failure) {
        (Some(x), Some(f)) => crate::say!("answer: {x} loads/s meets {slo} (fails at {f})"),
        (Some(x), None) => crate::say!("answer: {x} loads/s meets {slo} (the highest rate tried)"),
        (None, Some(_)) => crate::say!("answer: none — even {min_rate} loads/s misses {slo}"),
        (None, None) => crate::say!("answer: none — no step completed"),
    }
}

fn write_outputs(r: &SearchResult, a: &SearchArgs) -> anyhow::Result<()> {
    if let Some(path) = &a.load.out.json {
        let text = serde_json::to_string_pretty(r)?;
        if path.as_os_str() == "-" {
            crate::say!("{text}");
        } else {
            std::fs::write(path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    if let Some(path) = &a.load.out.html {
        let mut html = Vec::new();
        loadgen::report::html::write_search(r, &mut html)?;
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
