//! `loadgen run` and `loadgen demo`: validate the arguments into a plan, run it with the
//! protocol's caller, stop on signals, and write the reports.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use loadgen::calc::proto::Op;
use loadgen::calc::{CalcCaller, CalcOptions};
use loadgen::report;
use loadgen::{LoadGen, Plan, Schedule, ShardContext, Summary, Target};

use super::signals::stop_run_on_signals;
use crate::args::{LoadArgs, RunArgs, SummaryFormat};
use crate::target::{self, Scheme, TargetSpec};

/// Defaults that differ between `run` and `demo`.
struct Defaults {
    rate: f64,
    duration: Duration,
    timeout: Duration,
}

const RUN_DEFAULTS: Defaults = Defaults {
    rate: 0.0,
    duration: Duration::from_secs(10),
    timeout: Duration::from_secs(1),
};

const DEMO_DEFAULTS: Defaults = Defaults {
    rate: 1000.0,
    duration: Duration::from_secs(5),
    timeout: Duration::from_millis(50),
};

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let targets = args
        .targets
        .iter()
        .map(|t| target::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    execute(&targets, &args.load, &RUN_DEFAULTS)
}

pub fn demo(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let server = loadgen_servers::spawn("127.0.0.1:0".parse()?, 1, |listener, stop| {
        loadgen_servers::calc::run(
            listener,
            Default::default(),
            loadgen_servers::until_true(stop),
        )
    })
    .context("cannot start the calc server")?;
    let url = format!("calc://{}", server.addr());
    eprintln!("loadgen: demo: calc server on {}", server.addr());
    let targets = vec![target::parse(&url).map_err(anyhow::Error::msg)?];
    let code = execute(&targets, &args, &DEMO_DEFAULTS)?;
    server.stop().context("calc server")?;
    Ok(code)
}

fn calc_options(a: &LoadArgs) -> anyhow::Result<CalcOptions> {
    let operator = match &a.operator {
        None => None,
        Some(s) => Some(
            Op::parse(s.trim())
                .with_context(|| format!("--operator '{s}': expected one of + - * /"))?,
        ),
    };
    if a.operands.as_ref().is_some_and(|v| v.len() < 2) {
        bail!("--operands needs at least two numbers, e.g. --operands 12,5");
    }
    Ok(CalcOptions {
        dial_per_call: a.dial_per_call,
        operator,
        operands: a.operands.clone(),
    })
}

fn execute(targets: &[TargetSpec], a: &LoadArgs, d: &Defaults) -> anyhow::Result<ExitCode> {
    let scheme = targets[0].scheme;
    if let Some(t) = targets.iter().find(|t| t.scheme != scheme) {
        bail!(
            "all targets must use one protocol: {} is not {}",
            t.url,
            scheme.name()
        );
    }
    let duration = a.duration.unwrap_or(d.duration);
    let timeout = a.timeout.unwrap_or(d.timeout);
    let schedule = Schedule::constant(a.rate.unwrap_or(d.rate), duration)?.with_max_loads(a.loads);
    let mut plan = Plan::new(
        schedule,
        timeout,
        targets
            .iter()
            .map(|t| Target {
                name: t.url.clone(),
                weight: t.weight,
            })
            .collect(),
        scheme.name(),
    );
    plan.concurrency = a.concurrency;
    plan.threads = a.threads.map(|t| t as usize);
    plan.grace = a.grace;
    plan.precise_timer = !a.coarse_timer;
    let grace = plan.grace();
    let connections = a.connections.unwrap_or_else(|| plan.slots());
    let summary = match scheme {
        Scheme::Calc => {
            let opts = calc_options(a)?;
            let addrs: Vec<_> = targets.iter().map(|t| t.addr).collect();
            let lg = LoadGen::new(plan, move |s: &ShardContext| {
                CalcCaller::new(addrs.clone(), s.share(connections), opts.clone())
            })?;
            run_with_signals(lg, grace)?
        }
    };
    output(&summary, a)?;
    Ok(ExitCode::SUCCESS)
}

fn run_with_signals(mut lg: LoadGen, grace: Duration) -> anyhow::Result<Summary> {
    stop_run_on_signals(lg.stopper(), grace)?;
    lg.start()?;
    Ok(lg.wait()?)
}

fn output(s: &Summary, a: &LoadArgs) -> anyhow::Result<()> {
    let json_to_stdout = a.json.as_ref().is_some_and(|p| p.as_os_str() == "-");
    if let Some(path) = &a.json {
        let text = s.to_json();
        if json_to_stdout {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}")?;
        } else {
            std::fs::write(path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let w: &mut dyn Write = if json_to_stdout {
        &mut stderr
    } else {
        &mut stdout
    };
    match a.summary {
        SummaryFormat::Text => report::text::write(s, w)?,
        SummaryFormat::Kv => report::kv::write(s, w)?,
        SummaryFormat::None => {}
    }
    w.flush()?;
    Ok(())
}
