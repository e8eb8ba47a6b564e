//! `loadgen search`: stepped constant-rate runs (bracket, then bisect) to find the highest
//! rate that meets an SLO; prints the curve and the answer, writes JSON and HTML.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use loadgen::Schedule;
use loadgen::search::{Bounds, SearchResult, Step, search as run_search};

use crate::args::{SearchArgs, SummaryFormat};
use crate::config::protocol::Protocol;
use crate::config::{self, RUN_DEFAULTS};
use crate::target;

pub fn search(a: SearchArgs) -> anyhow::Result<ExitCode> {
    if a.load.rate.is_some() || a.load.duration.is_some() || a.load.stages.is_some() {
        bail!(
            "search sets the rate and duration of each step: use --min-rate, --max-rate and --step-duration"
        );
    }
    if a.min_rate <= 0.0 || a.max_rate < a.min_rate {
        bail!("need 0 < --min-rate ≤ --max-rate");
    }
    let targets = a
        .targets
        .iter()
        .map(|t| target::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let slo: Vec<String> = a.slo.iter().map(ToString::to_string).collect();
    let bounds = Bounds {
        min: a.min_rate,
        max: a.max_rate,
        precision: a.precision,
        max_steps: a.max_steps as usize,
    };
    let quiet = a.load.quiet || a.load.out.summary == SummaryFormat::None;
    if !quiet {
        println!(
            "{:>5}  {:>10}  {:>10}  {:>10}  {:>9}  SLO",
            "step", "rate", "p50", "p99", "success"
        );
    }
    let mut n = 0;
    let result = run_search(slo, bounds, |rate| -> anyhow::Result<Step> {
        let schedule = Schedule::constant(rate, a.step_duration)?;
        let plan = config::plan(&targets, &a.load, &RUN_DEFAULTS, schedule)?;
        let mut s = Protocol::of(targets[0].scheme, &a.load)?
            .loadgen(plan, &targets, &a.load)?
            .run()?;
        let ok = s.apply_thresholds(&a.slo);
        let c = s.counts();
        let success_pct =
            c.get(loadgen::Outcome::Success) as f64 * 100.0 / c.scheduled.max(1) as f64;
        let lat = s.latency();
        n += 1;
        if !quiet {
            println!(
                "{n:>5}  {rate:>8.0}/s  {:>10}  {:>10}  {success_pct:>8.2}%  {}",
                loadgen::report::fmt_ms(lat.p50),
                loadgen::report::fmt_ms(lat.p99),
                if ok { "met" } else { "missed" }
            );
            let _ = std::io::stdout().flush();
        }
        Ok(Step {
            rate,
            p50_ms: lat.p50,
            p99_ms: lat.p99,
            success_pct,
            ok,
            verdicts: loadgen::summary::codec::to_document(&s).thresholds,
        })
    })?;
    if !quiet {
        println!();
        match (result.answer, result.first_failure) {
            (Some(r), Some(f)) => println!(
                "answer: {r} loads/s meets {} (fails at {f})",
                result.slo.join(", ")
            ),
            (Some(r), None) => println!(
                "answer: {r} loads/s meets {} (the --max-rate)",
                result.slo.join(", ")
            ),
            (None, _) => println!(
                "answer: none — even {} loads/s misses {}",
                a.min_rate,
                result.slo.join(", ")
            ),
        }
    }
    write_outputs(&result, &a)?;
    Ok(if result.answer.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn write_outputs(r: &SearchResult, a: &SearchArgs) -> anyhow::Result<()> {
    if let Some(path) = &a.load.out.json {
        let text = serde_json::to_string_pretty(r)?;
        if path.as_os_str() == "-" {
            println!("{text}");
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
