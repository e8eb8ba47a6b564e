//! `loadgen run` and `loadgen demo`: validate the arguments into a plan, run it with the
//! protocol's caller, stop on signals, and write the reports.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use loadgen::engine::OPEN_MODEL_CONNECTIONS;
use loadgen::protocol::calc::proto::Op;
use loadgen::protocol::calc::{CalcCaller, CalcOptions};
use loadgen::protocol::http::tls::Verify;
use loadgen::protocol::http::{HttpCaller, HttpOptions, StatusSet};
use loadgen::protocol::stream::{Framing, StreamOptions, TcpCaller, UdpCaller};
use loadgen::report;
use loadgen::schedule::Stage;
use loadgen::{LoadGen, Plan, Schedule, Summary, Target, ThreadContext};

use super::limits;
use super::progress::{self, Progress};
use super::signals::Signals;
use crate::args::{
    ArrivalKind, LoadArgs, OutputArgs, ResultsFormat, RunArgs, SummaryFormat, unescape,
};
use crate::target::{self, Scheme, TargetSpec};

/// Defaults that differ between `run` and `demo`.
pub struct Defaults {
    rate: f64,
    duration: Duration,
    timeout: Duration,
}

pub const RUN_DEFAULTS: Defaults = Defaults {
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
    let signals = Signals::listen()?;
    let targets = args
        .targets
        .iter()
        .map(|t| target::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    execute(&targets, &args.load, &RUN_DEFAULTS, &signals)
}

pub fn demo(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let signals = Signals::listen()?;
    let server = loadgen_servers::spawn("127.0.0.1:0".parse()?, 1, |listener, stop| {
        loadgen_servers::calc::run(
            listener,
            Default::default(),
            loadgen_servers::until_true(stop),
        )
    })
    .context("cannot start the calc server")?;
    let url = format!("calc://{}", server.addr());
    crate::note!("loadgen: demo: calc server on {}", server.addr());
    let targets = vec![target::parse(&url).map_err(anyhow::Error::msg)?];
    let code = execute(&targets, &args, &DEMO_DEFAULTS, &signals)?;
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

/// Text given inline, or read from a file with `@FILE`.
fn text_or_file(flag: &str, v: &str) -> anyhow::Result<Vec<u8>> {
    match v.strip_prefix('@') {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("{flag} @{path}: cannot read the file"))
        }
        None => Ok(v.as_bytes().to_vec()),
    }
}

fn http_options(a: &LoadArgs) -> anyhow::Result<HttpOptions> {
    let mut headers = Vec::new();
    for h in &a.headers {
        let (k, v) = h
            .split_once(':')
            .with_context(|| format!("--header '{h}': expected 'Name: value'"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let verify = match (&a.cacert, a.insecure) {
        (Some(_), true) => bail!("--cacert and --insecure contradict each other"),
        (Some(path), false) => Verify::CaPem(
            std::fs::read(path)
                .with_context(|| format!("--cacert {}: cannot read the file", path.display()))?,
        ),
        (None, true) => Verify::Insecure,
        (None, false) => Verify::WebPki,
    };
    let opts = HttpOptions {
        method: a.method.to_ascii_uppercase(),
        headers,
        body: a
            .body
            .as_deref()
            .map(|b| text_or_file("--body", b))
            .transpose()?
            .unwrap_or_default(),
        expect_status: a
            .expect_status
            .as_deref()
            .map(StatusSet::parse)
            .transpose()?
            .unwrap_or_default(),
        expect_body: a.expect_body.as_ref().map(|b| b.as_bytes().to_vec()),
        disable_keepalive: a.disable_keepalive,
        http2: a.http2,
        streams: a.streams,
        hyper_h1: a.hyper,
        verify,
    };
    opts.validate()?;
    Ok(opts)
}

fn stream_options(a: &LoadArgs) -> anyhow::Result<StreamOptions> {
    let payload = match &a.payload {
        None => b"ping\n".to_vec(),
        Some(p) if p.starts_with('@') => text_or_file("--payload", p)?,
        Some(p) => unescape(p).map_err(|e| anyhow::anyhow!("--payload: {e}"))?,
    };
    if payload.is_empty() {
        bail!("--payload must not be empty");
    }
    let framing = match (&a.delimiter, a.frame_length) {
        (Some(_), Some(_)) => bail!("--delimiter and --frame-length contradict each other"),
        (Some(d), None) => {
            let d = unescape(d).map_err(|e| anyhow::anyhow!("--delimiter: {e}"))?;
            if d.is_empty() {
                bail!("--delimiter must not be empty");
            }
            Framing::Delimiter(d)
        }
        (None, Some(0)) => bail!("--frame-length must be at least 1"),
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::Length(payload.len()),
    };
    Ok(StreamOptions {
        payload,
        framing,
        expect: a.expect_body.as_ref().map(|b| b.as_bytes().to_vec()),
        dial_per_call: a.dial_per_call,
    })
}

/// This process's share of a global figure (at least 1).
fn share(total: u64, index: u64, count: u64) -> u64 {
    (total / count + u64::from(index < total % count)).max(1)
}

/// `--shard I/N`, else LOADGEN_SHARD, else JOB_COMPLETION_INDEX with --shards/LOADGEN_SHARDS.
fn shard(a: &LoadArgs) -> anyhow::Result<(u64, u64)> {
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

fn schedule(a: &LoadArgs, d: &Defaults, duration: Duration) -> anyhow::Result<Schedule> {
    let rate = a.rate.unwrap_or(d.rate);
    Ok(match (&a.stages, a.arrival) {
        (Some(st), _) => {
            let stages = Stage::parse_list(st, crate::args::parse_duration)?;
            Schedule::stages(a.rate.unwrap_or(0.0), &stages)?
        }
        (None, ArrivalKind::Poisson) => Schedule::poisson(rate, a.seed, duration)?,
        (None, ArrivalKind::Constant) => Schedule::constant(rate, duration)?,
    })
}

fn execute(
    targets: &[TargetSpec],
    a: &LoadArgs,
    d: &Defaults,
    signals: &Signals,
) -> anyhow::Result<ExitCode> {
    let duration = a.duration.unwrap_or(d.duration);
    let plan = make_plan(targets, a, d, schedule(a, d, duration)?)?;
    let grace = plan.grace();
    let lg = make_loadgen(plan, targets, a)?;
    let summary = run_with_signals(lg, grace, a, signals)?;
    output(summary, &a.out)
}

/// The plan of a run of `schedule` to `targets` with the options of `a`.
pub fn make_plan(
    targets: &[TargetSpec],
    a: &LoadArgs,
    d: &Defaults,
    schedule: Schedule,
) -> anyhow::Result<Plan> {
    let scheme = targets[0].scheme;
    if let Some(t) = targets
        .iter()
        .find(|t| t.scheme.protocol() != scheme.protocol())
    {
        bail!(
            "all targets must use one protocol: {} is not {}",
            t.url,
            scheme.name()
        );
    }
    let timeout = a.timeout.unwrap_or(d.timeout);
    let schedule = schedule.with_max_loads(a.loads);
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
        scheme.protocol(),
    );
    plan.concurrency = a.concurrency;
    plan.threads = a.threads.map(|t| t as usize);
    plan.grace = a.grace;
    plan.precise_timer = !a.coarse_timer;
    plan.quantum = a.pacing_quantum;
    plan.batch_reads = !a.eager_reads;
    let (index, count) = shard(a)?;
    plan.stride = loadgen::Stride {
        first: index,
        step: count,
    };
    plan.process_shard = (index, count);
    plan.start_at = a.start_at;
    // concurrency and connections are global figures: this shard takes its share
    plan.concurrency = a.concurrency.map(|c| share(c, index, count));
    Ok(plan)
}

/// Connections per target for this process.
///
/// `--connections` when given. Otherwise, in closed loop, one per slot (`-c`, as in wrk
/// and oha); in the open model, connections open on demand — one per call in flight — up
/// to one per slot but at most [`OPEN_MODEL_CONNECTIONS`], so that `-r 40000` with a 1 s
/// timeout (40,001 slots) never opens 40,001 connections at once. Past the cap, loads wait
/// as a count and expire as `dropped`, and the report says the connections were the limit.
/// Either way the total must fit the open-file limit.
fn connections(plan: &Plan, a: &LoadArgs, per_conn: u64, targets: usize) -> anyhow::Result<u64> {
    let (index, count) = plan.process_shard;
    let per_slot = plan.slots().div_ceil(per_conn);
    let n = match a.connections {
        Some(c) => share(c, index, count),
        None if plan.schedule.is_closed() => per_slot,
        None => per_slot.min(OPEN_MODEL_CONNECTIONS),
    };
    let nofile = limits::raise_nofile();
    let usable = limits::usable(nofile);
    let total = n.saturating_mul(targets as u64);
    if total <= usable {
        return Ok(n);
    }
    let why = format!(
        "{total} connections{} are more than this process may open (open-file limit {nofile}, `ulimit -n`)",
        if targets > 1 {
            format!(" over {targets} targets")
        } else {
            String::new()
        }
    );
    match a.connections {
        Some(c) => bail!("--connections {c}: {why}; lower --connections or raise the limit"),
        None if plan.schedule.is_closed() => bail!(
            "-c {}: a closed loop opens one connection per slot; {why}; lower -c, or cap the connections with --connections",
            plan.slots()
        ),
        None => Ok((usable / targets as u64).max(1)),
    }
}

/// A load generator for `plan` with the protocol of `targets`.
pub fn make_loadgen(
    mut plan: Plan,
    targets: &[TargetSpec],
    a: &LoadArgs,
) -> anyhow::Result<LoadGen> {
    let scheme = targets[0].scheme;
    // an HTTP/2 connection carries `--streams` calls at once
    let http2 = a.http2 && matches!(scheme, Scheme::Http | Scheme::Https);
    let per_conn = if http2 { u64::from(a.streams) } else { 1 };
    let connections = connections(&plan, a, per_conn, targets.len())?;
    plan.connections = Some(connections);
    let addrs: Vec<_> = targets.iter().map(|t| t.addr).collect();
    let lg = match scheme {
        Scheme::Calc => {
            let opts = calc_options(a)?;
            LoadGen::new(plan, move |s: &ThreadContext| {
                CalcCaller::new(addrs.clone(), s.share(connections), opts.clone())
            })?
        }
        Scheme::Http | Scheme::Https => {
            let opts = Arc::new(http_options(a)?);
            let http_targets: Vec<_> = targets.iter().map(|t| t.http()).collect();
            let tls = loadgen::protocol::http::tls_config(&opts, &http_targets)?;
            LoadGen::new(plan, move |s: &ThreadContext| {
                HttpCaller::new(
                    &http_targets,
                    s.share(connections),
                    opts.clone(),
                    tls.clone(),
                )
            })?
        }
        Scheme::Tcp => {
            let opts = stream_options(a)?;
            LoadGen::new(plan, move |s: &ThreadContext| {
                TcpCaller::new(addrs.clone(), s.share(connections), opts.clone())
            })?
        }
        Scheme::Udp => {
            let opts = stream_options(a)?;
            LoadGen::new(plan, move |s: &ThreadContext| {
                UdpCaller::new(addrs.clone(), s.share(connections), opts.clone())
            })?
        }
    };
    Ok(lg)
}

fn run_with_signals(
    mut lg: LoadGen,
    grace: Duration,
    a: &LoadArgs,
    signals: &Signals,
) -> anyhow::Result<Summary> {
    if let Some(path) = &a.results {
        let file = std::fs::File::create(path)
            .with_context(|| format!("--results {}: cannot create", path.display()))?;
        let format = match a.results_format {
            ResultsFormat::Jsonl => loadgen::record::results::Format::JsonLines,
            ResultsFormat::Csv => loadgen::record::results::Format::Csv,
        };
        lg.with_results(Box::new(file), format)?;
    }
    let total = lg.plan().schedule.duration();
    signals.attach(lg.stopper(), grace);
    lg.start()?;
    let progress = Progress::start(progress::mode(a.progress, a.quiet), lg.monitor(), total);
    let summary = lg.wait();
    progress.finish();
    Ok(summary?)
}

/// Applies the thresholds, writes the JSON and the reports where `a` says, and returns the
/// exit code: 0, or 2 when a threshold was violated.
pub fn output(mut summary: Summary, a: &OutputArgs) -> anyhow::Result<ExitCode> {
    let held = summary.apply_thresholds(&a.thresholds);
    let s = &summary;
    if let Some(path) = &a.html {
        let mut html = Vec::new();
        report::html::write(s, &mut html)?;
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
    }
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
    if !held {
        let failed: Vec<_> = s
            .thresholds
            .iter()
            .filter(|v| !v.ok)
            .map(|v| v.threshold.as_str())
            .collect();
        crate::note!("loadgen: thresholds violated: {}", failed.join(", "));
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
