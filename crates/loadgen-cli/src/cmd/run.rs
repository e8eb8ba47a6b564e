//! `loadgen run` and `loadgen demo`: the arguments validated into a plan and a caller
//! ([`crate::config`]), the run stopped on signals, the reports written
//! ([`super::output`]).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use loadgen::{LoadGen, Summary};

use std::io::IsTerminal;

use super::live::{self, Endpoint, Feed, Labels};
use super::output;
use super::progress::{self, Progress};
use super::signals::Signals;
use super::tui::Tui;
use crate::args::{DemoArgs, LoadArgs, OutputArgs, ResultsFormat, RunArgs};
use crate::config::journeys::{self, Scenario};
use crate::config::protocol::Protocol;
use crate::config::requests::{self, Source};
use crate::config::{self, DEMO_DEFAULTS, Defaults, JOURNEY_DEMO_DEFAULTS, RUN_DEFAULTS};
use crate::target;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let signals = Signals::listen()?;
    // a scenario file: --scenario FILE, or a lone TARGET that is one (run shop.yaml)
    let scenario = args
        .scenario
        .clone()
        .or_else(|| match args.targets.as_slice() {
            [t] if journeys::is_scenario_file(t) => Some(t.into()),
            _ => None,
        });
    if let Some(path) = scenario {
        let sc = Scenario::read(&path)?;
        if args.print_scenario {
            let mut spec = sc.spec.clone();
            journeys::apply_flags(&mut spec, &args.load)?;
            return print_scenario(&spec);
        }
        return execute_journeys(&sc, &args.load, &RUN_DEFAULTS, &signals, || {});
    }
    let data = requests::data_feed(&args.load)?;
    let src = Source::of_run(&args, data.as_deref())?;
    if args.print_scenario {
        return print_scenario(&journeys::of_flags(&src, &args.load)?);
    }
    execute(&src, data, &args.load, &RUN_DEFAULTS, &signals, || {})
}

/// Writes `spec` as a scenario file on stdout.
fn print_scenario(spec: &loadgen::spec::RunSpec) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out
        .write_all(spec.to_yaml().as_bytes())
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The journey demo: the built-in login → items → cart journey.
const DEMO_SCENARIO: &str = include_str!("../../../../examples/scenarios/shop.yaml");

/// `demo --scenario`: serve http (its demo API) on a free loopback port, then the
/// journeys of `file` (or the built-in one) against it.
fn demo_journeys(file: &str, a: &LoadArgs, signals: &Signals) -> anyhow::Result<ExitCode> {
    let server = loadgen_servers::spawn("127.0.0.1:0".parse()?, 1, |listener, stop| {
        loadgen_servers::http::run(
            listener,
            Default::default(),
            Default::default(),
            None,
            loadgen_servers::until_true(stop),
        )
    })
    .context("cannot start the HTTP server")?;
    let mut sc = if file.is_empty() {
        Scenario {
            spec: loadgen::spec::RunSpec::from_yaml(DEMO_SCENARIO, "shop.yaml")
                .map_err(anyhow::Error::msg)?,
            file: "shop.yaml (built in)".into(),
            dir: None,
        }
    } else {
        Scenario::read(std::path::Path::new(file))?
    };
    sc.spec.defaults.base = Some(loadgen::spec::At::new(format!("http://{}", server.addr())));
    let what = sc.file.clone();
    let code = execute_journeys(&sc, a, &JOURNEY_DEMO_DEFAULTS, signals, || {
        crate::note!(
            "loadgen: demo: {what} against the HTTP server's demo API on {}",
            server.addr()
        );
    })?;
    server.stop().context("HTTP server")?;
    Ok(code)
}

/// A run of journeys: compiled, then run as any other.
fn execute_journeys(
    sc: &Scenario,
    a: &LoadArgs,
    d: &Defaults,
    signals: &Signals,
    starting: impl FnOnce(),
) -> anyhow::Result<ExitCode> {
    let (lg, thresholds) = journeys::loadgen(sc, a, d)?;
    let mut out = a.out.clone();
    out.thresholds = thresholds;
    let grace = lg.plan().grace();
    finish(lg, grace, a, &out, signals, starting)
}

pub fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let signals = Signals::listen()?;
    if let Some(file) = &args.scenario {
        return demo_journeys(file, &args.load, &signals);
    }
    let mut a = args.load;
    let (server, url) = if args.grpc {
        let server =
            loadgen_servers::grpc::spawn_loopback().context("cannot start the gRPC calc server")?;
        if a.call.is_none() {
            a.call = Some("calc.Calc/Compute".into());
        }
        if a.message.is_none() {
            a.message = Some(
                r#"{"operands":["{{randomInt -1000 1000}}","{{randomInt 1 1000}}"],"op":"ADD"}"#
                    .into(),
            );
        }
        let url = format!("grpc://{}", server.addr());
        (server, url)
    } else {
        let server = loadgen_servers::spawn("127.0.0.1:0".parse()?, 1, |listener, stop| {
            loadgen_servers::calc::run(
                listener,
                Default::default(),
                loadgen_servers::until_true(stop),
            )
        })
        .context("cannot start the calc server")?;
        let url = format!("calc://{}", server.addr());
        (server, url)
    };
    let src = Source::of(vec![target::parse(&url).map_err(anyhow::Error::msg)?]);
    let what = if args.grpc {
        "gRPC calc server"
    } else {
        "calc server"
    };
    let code = execute(&src, None, &a, &DEMO_DEFAULTS, &signals, || {
        crate::note!("loadgen: demo: {what} on {}", server.addr());
    })?;
    server.stop().context("calc server")?;
    Ok(code)
}

fn execute(
    src: &Source,
    data: Option<std::sync::Arc<loadgen::caller::data::DataFeed>>,
    a: &LoadArgs,
    d: &Defaults,
    signals: &Signals,
    starting: impl FnOnce(),
) -> anyhow::Result<ExitCode> {
    let plan = config::plan(src, a, d, config::schedule(a, d)?)?;
    let grace = plan.grace();
    let lg = Protocol::of(src.endpoints[0].scheme, a)?.loadgen(plan, src, data, a)?;
    finish(lg, grace, a, &a.out, signals, starting)
}

/// Runs `lg` to its end (signals stop it), watched as `a` asks, and writes the reports
/// `out` names.
fn finish(
    mut lg: LoadGen,
    grace: Duration,
    a: &LoadArgs,
    out: &OutputArgs,
    signals: &Signals,
    starting: impl FnOnce(),
) -> anyhow::Result<ExitCode> {
    let files = output::prepare(out)?;
    if let Some(path) = &a.results {
        let file = std::fs::File::create(path)
            .with_context(|| format!("--results {}: cannot create", path.display()))?;
        let format = match a.results_format {
            ResultsFormat::Jsonl => loadgen::record::results::Format::JsonLines,
            ResultsFormat::Csv => loadgen::record::results::Format::Csv,
        };
        lg.with_results(Box::new(file), format)?;
    }
    let watch = Watch::prepare(&lg, a)?;
    starting();
    let (summary, mut lost) = run_with_signals(lg, grace, a, signals, watch.feed)?;
    // per-call results that could not be written: a warning in the summary, and an exit 1
    lost.extend(
        summary
            .warnings
            .iter()
            .filter(|w| w.starts_with(loadgen::engine::RESULTS_LOST))
            .cloned(),
    );
    let code = output::output(summary, out, files, &lost);
    if let Some(endpoint) = watch.endpoint {
        if !a.metrics_linger.is_zero() {
            signals.linger(a.metrics_linger);
        }
        drop(endpoint);
    }
    code
}

/// What watches the run: the per-second source and the metrics endpoint (bound now, so
/// that a bad address fails before the first load).
struct Watch {
    feed: Option<Feed>,
    endpoint: Option<Endpoint>,
}

impl Watch {
    fn prepare(lg: &LoadGen, a: &LoadArgs) -> anyhow::Result<Watch> {
        if !(a.tui || a.metrics.is_some() || a.live.is_some()) {
            return Ok(Watch {
                feed: None,
                endpoint: None,
            });
        }
        if a.tui && !std::io::stdout().is_terminal() {
            anyhow::bail!(
                "--tui needs a terminal on stdout (use --live FILE or --metrics ADDR to watch from elsewhere)"
            );
        }
        let plan = lg.plan();
        let (index, count) = plan.process_shard;
        let labels = Labels {
            targets: plan.targets.iter().map(|t| t.name.clone()).collect(),
            shard: format!("{index}/{count}"),
            run: run_id(a),
            total: plan.schedule.duration(),
            steps: plan.steps.clone(),
        };
        let out = a.live.as_deref().map(live::live_out).transpose()?;
        let feed = Feed::new(labels, out);
        let endpoint = match &a.metrics {
            Some(addr) => {
                let e = Endpoint::start(addr, &feed)?;
                crate::note!("loadgen: metrics on http://{}/metrics", e.addr);
                Some(e)
            }
            None => None,
        };
        lg.enable_live();
        Ok(Watch {
            feed: Some(feed),
            endpoint,
        })
    }
}

fn run_with_signals(
    mut lg: LoadGen,
    grace: Duration,
    a: &LoadArgs,
    signals: &Signals,
    mut feed: Option<Feed>,
) -> anyhow::Result<(Summary, Vec<String>)> {
    let total = lg.plan().schedule.duration();
    signals.attach(lg.stopper(), grace);
    lg.start()?;
    let tui = match &mut feed {
        Some(f) => {
            f.attach(lg.monitor());
            if a.tui {
                Some(Tui::start(f.state.clone(), f.labels.clone(), lg.stopper())?)
            } else {
                None
            }
        }
        None => None,
    };
    let mode = if tui.is_some() {
        progress::Mode::Off
    } else {
        progress::mode(a.progress, a.quiet)
    };
    let progress = Progress::start(mode, lg.monitor(), total, a.progress_every);
    let summary = lg.wait();
    progress.finish();
    let lost = feed.and_then(Feed::finish);
    if let Some(t) = tui {
        t.finish();
    }
    Ok((summary?, lost.into_iter().collect()))
}

/// The run's id for `--metrics`: `--run-id`, else one every shard of the run agrees on
/// without being told — the `--start-at` time they share (Unix seconds) — else this
/// process's start (a run of one).
fn run_id(a: &LoadArgs) -> String {
    if let Some(id) = &a.run_id {
        return id.clone();
    }
    let at = a.start_at.unwrap_or_else(std::time::SystemTime::now);
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match a.start_at {
        Some(_) => format!("start-{secs}"),
        None => format!("{secs}-{}", std::process::id()),
    }
}
