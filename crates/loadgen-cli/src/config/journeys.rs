//! Journeys on the command line: a scenario file read (bounded) and its keys overridden
//! by the flags of `run`; the scenario file a flags-only HTTP run is equivalent to
//! (`--print-scenario`); the journeys compiled — hosts resolved through `--connect-to`,
//! `--unix-socket` and `--proxy`, TLS from `-k`, `--cacert`, `--cert` — into a plan and a
//! load generator.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use loadgen::journey::{Journeys, Options};
use loadgen::protocol::http::tls::{ClientAuth, Verify};
use loadgen::report::threshold::Threshold;
use loadgen::spec::{At, RunSpec, ScenarioSpec, Shorthand, SpecError, StepSpec, Text};
use loadgen::{LoadGen, Plan};

use super::Defaults;
use super::requests::Source;
use crate::args::LoadArgs;
use crate::target::{self, Scheme};

/// A scenario file, read.
pub struct Scenario {
    /// Its specification.
    pub spec: RunSpec,
    /// Its name, for errors.
    pub file: String,
    /// Its directory: data files are relative to it.
    pub dir: Option<PathBuf>,
}

/// True when a target is a scenario file (`run shop.yaml`).
pub fn is_scenario_file(t: &str) -> bool {
    !t.contains("://") && (t.ends_with(".yaml") || t.ends_with(".yml"))
}

impl Scenario {
    /// Reads the file at `path` (`-`: standard input), at most [`loadgen::spec::MAX_FILE`].
    pub fn read(path: &Path) -> anyhow::Result<Scenario> {
        let name = path.display().to_string();
        let mut text = String::new();
        let cap = loadgen::spec::MAX_FILE as u64 + 1;
        let read = if name == "-" {
            std::io::stdin().lock().take(cap).read_to_string(&mut text)
        } else {
            std::fs::File::open(path)
                .with_context(|| format!("{name}: cannot open the scenario file"))?
                .take(cap)
                .read_to_string(&mut text)
        };
        read.with_context(|| format!("{name}: cannot read the scenario file (is it UTF-8 text?)"))?;
        let spec = RunSpec::from_yaml(&text, &name).map_err(anyhow::Error::msg)?;
        Ok(Scenario {
            spec,
            file: name,
            dir: path.parent().map(Path::to_path_buf),
        })
    }
}

/// Flags that describe one request: a scenario file describes its requests in its steps.
fn refuse_request_flags(a: &LoadArgs) -> anyhow::Result<()> {
    let given = [
        ("-m/--method", a.method != "GET"),
        ("--body", a.body.is_some()),
        ("--expect-status", a.expect_status.is_some()),
        ("--expect-body", a.expect_body.is_some()),
        ("--data", a.data.is_some()),
        ("--call", a.call.is_some()),
        ("--message", a.message.is_some()),
        ("--payload", a.payload.is_some()),
        ("--hyper", a.hyper),
        ("--disable-keepalive", a.disable_keepalive),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, on)| *on) {
        bail!(
            "{flag} describes a single request: a scenario file gives each step's own (request, check, data:)"
        );
    }
    Ok(())
}

/// Applies the flags of `a` over `spec` (the flags win, key by key).
pub fn apply_flags(spec: &mut RunSpec, a: &LoadArgs) -> anyhow::Result<()> {
    refuse_request_flags(a)?;
    spec.load.apply(&super::load_spec(a));
    let text = |s: String| Some(At::new(Text(s)));
    if let Some(t) = a.timeout {
        spec.defaults.timeout = text(format!("{}s", t.as_secs_f64()));
    }
    if let Some(t) = a.journey_timeout {
        spec.defaults.journey_timeout = text(format!("{}s", t.as_secs_f64()));
    }
    if a.http2 {
        spec.defaults.http = text("2".into());
    }
    if let Some(b) = &a.base {
        spec.defaults.base = Some(At::new(b.clone()));
    }
    for (k, v) in super::protocol::headers(a)? {
        spec.defaults.headers.set(&k, At::new(Text(v)));
    }
    for t in &a.out.thresholds {
        let t = t.to_string();
        if !spec.thresholds.iter().any(|x| x.value == t) {
            spec.thresholds.push(At::new(t));
        }
    }
    Ok(())
}

/// The thresholds of `spec`, parsed (an error names the file, line and column).
pub fn thresholds(spec: &RunSpec, file: &str) -> anyhow::Result<Vec<Threshold>> {
    spec.thresholds
        .iter()
        .map(|t| {
            Threshold::parse(&t.value)
                .map_err(|e| anyhow::anyhow!("{}", SpecError::at(file, t.pos, e.to_string())))
        })
        .collect()
}

/// How certificates are checked: the flags', else the file's `defaults`.
fn tls(
    spec: &RunSpec,
    dir: Option<&Path>,
    a: &LoadArgs,
) -> anyhow::Result<(Verify, Option<ClientAuth>)> {
    let read = |flag: &str, p: &Path| {
        super::protocol::read_pem(p)
            .with_context(|| format!("{flag} {}: cannot read the file", p.display()))
    };
    let d = &spec.defaults;
    let verify = match (&a.cacert, a.insecure) {
        (Some(_), true) => bail!("--cacert and --insecure contradict each other"),
        (Some(p), false) => Verify::CaPem(read("--cacert", p)?),
        (None, true) => Verify::Insecure,
        (None, false) => match (&d.cacert, d.insecure.as_ref().is_some_and(|i| i.value)) {
            (Some(p), _) => {
                let path = match dir {
                    Some(dir) if Path::new(&p.value).is_relative() => dir.join(&p.value),
                    _ => PathBuf::from(&p.value),
                };
                Verify::CaPem(read("cacert", &path)?)
            }
            (None, true) => Verify::Insecure,
            (None, false) => Verify::WebPki,
        },
    };
    let auth = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => Some(ClientAuth {
            cert_pem: read("--cert", c)?,
            key_pem: read("--key", k)?,
        }),
        _ => None,
    };
    Ok((verify, auth))
}

/// A load generator for the journeys of `sc` with the flags of `a` (`d`: the command's
/// defaults), and the run's thresholds.
pub fn loadgen(
    sc: &Scenario,
    a: &LoadArgs,
    d: &Defaults,
) -> anyhow::Result<(LoadGen, Vec<Threshold>)> {
    let mut spec = sc.spec.clone();
    apply_flags(&mut spec, a)?;
    let thresholds = thresholds(&spec, &sc.file)?;
    let load = spec
        .load
        .load(&sc.file, d.rate, d.duration)
        .map_err(anyhow::Error::msg)?;
    let (index, count) = super::shard(a)?;
    let seed = load.seed.unwrap_or_else(super::protocol::random_seed);
    let (verify, client_auth) = tls(&spec, sc.dir.as_deref(), a)?;
    let routes = super::requests::routes(a)?;
    let opts = Options {
        file: sc.file.clone(),
        dir: sc.dir.clone(),
        seed,
        shard: index,
        connections: a
            .connections
            .map(|c| loadgen::caller::share(c, count as usize, index as usize)),
        verify,
        client_auth,
        resolve: Box::new(move |origin| target::parse_via(origin, &routes).map(|t| t.http())),
        read_files: true,
    };
    let j = Arc::new(Journeys::compile(&spec, &opts).map_err(anyhow::Error::msg)?);
    for (t, at) in thresholds.iter().zip(&spec.thresholds) {
        if t.successes_only() && t.per_request() {
            bail!(
                "{}",
                SpecError::at(
                    &sc.file,
                    at.pos,
                    format!(
                        "'{}': a step's latency counts its answered runs; the successes' alone ({{ok}}) is kept for journeys and scenarios (journey p(99){{ok}}<2s)",
                        at.value
                    )
                )
            );
        }
        let Some((kind, name)) = t.names() else {
            continue;
        };
        let known: Vec<&str> = match kind {
            "scenario" => j.targets.iter().map(|t| t.name.as_str()).collect(),
            _ => j
                .rows
                .iter()
                .filter(|r| r.kind.name() == if kind == "step" { "request" } else { "group" })
                .map(|r| r.name.as_str())
                .collect(),
        };
        if !known.contains(&name) {
            bail!(
                "{}",
                SpecError::at(
                    &sc.file,
                    at.pos,
                    format!(
                        "'{}': no {kind} is named '{name}' (there are: {})",
                        at.value,
                        known.join(", ")
                    )
                )
            );
        }
    }
    let schedule = match (j.max_journeys(), load.schedule.max_loads()) {
        (Some(rows), Some(n)) if rows < n => load.schedule.with_max_loads(Some(rows)),
        (Some(rows), None) => load.schedule.with_max_loads(Some(rows)),
        _ => load.schedule,
    };
    let mut plan = Plan::new(schedule, j.journey_timeout(), j.targets.clone(), "http");
    plan.start_timeout = Some(j.request_timeout());
    plan.steps = j.rows.clone();
    fill_plan(&mut plan, a, load.concurrency, index, count)?;
    plan.connections = Some(j.connections());
    let client = if j.uses_http2() {
        "h2 HTTP/2"
    } else {
        "fast HTTP/1.1"
    };
    plan.details = vec![
        ("client".into(), client.into()),
        ("scenario".into(), sc.file.clone()),
        ("seed".into(), seed.to_string()),
    ];
    if let Some(rows) = j.max_journeys() {
        plan.details.push((
            "loads".into(),
            format!("at most {rows} (a unique data feed)"),
        ));
    }
    let lg = LoadGen::new(plan, move |t: &loadgen::ThreadContext| j.caller(t))?;
    Ok((lg, thresholds))
}

/// A load generator for one step of a search: the journeys of `sc` at `rate` for
/// `duration` (over the file's load), its SLOs checked against the file's names.
pub fn loadgen_at(
    sc: &Scenario,
    a: &LoadArgs,
    rate: f64,
    duration: std::time::Duration,
    slo: &[Threshold],
) -> anyhow::Result<LoadGen> {
    let mut sc = Scenario {
        spec: sc.spec.clone(),
        file: sc.file.clone(),
        dir: sc.dir.clone(),
    };
    let text = |s: String| Some(At::new(Text(s)));
    let l = &mut sc.spec.load;
    l.rate = text(rate.to_string());
    l.duration = text(format!("{}s", duration.as_secs_f64()));
    (l.stages, l.vus, l.arrival) = (None, None, None);
    sc.spec
        .thresholds
        .extend(slo.iter().map(|t| At::new(t.to_string())));
    Ok(loadgen(&sc, a, &super::RUN_DEFAULTS)?.0)
}

/// The plan's flags, with the file's concurrency when the flags give none.
fn fill_plan(
    plan: &mut Plan,
    a: &LoadArgs,
    concurrency: Option<u64>,
    index: u64,
    count: u64,
) -> anyhow::Result<()> {
    super::fill(plan, a)?;
    if a.concurrency.is_none()
        && let Some(c) = concurrency
    {
        plan.concurrency = Some(loadgen::caller::share(c, count as usize, index as usize));
    }
    plan.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// The scenario file a flags-only HTTP run is: its load, one scenario per target (by
/// weight), each one request with the run's method, headers, body and expectations.
pub fn of_flags(src: &Source, a: &LoadArgs) -> anyhow::Result<RunSpec> {
    if !src.details().is_empty() {
        bail!(
            "--print-scenario: a --targets file has no scenario form (every line would be a scenario)"
        );
    }
    if let Some(t) = src
        .endpoints
        .iter()
        .find(|t| !matches!(t.scheme, Scheme::Http | Scheme::Https))
    {
        bail!(
            "--print-scenario: scenario files hold HTTP requests; {} is {}",
            t.url,
            t.scheme.name()
        );
    }
    let text = |s: &str| Some(At::new(Text(s.to_string())));
    let mut spec = RunSpec {
        version: At::new(Text("1".into())),
        ..RunSpec::default()
    };
    spec.load = super::load_spec(a);
    if a.timeout.is_some() || a.http2 {
        spec.defaults.timeout = a
            .timeout
            .and_then(|t| text(&format!("{}s", t.as_secs_f64())));
        spec.defaults.http = if a.http2 { text("2") } else { None };
    }
    for (k, v) in super::protocol::headers(a)? {
        spec.defaults.headers.set(&k, At::new(Text(v)));
    }
    if a.insecure {
        spec.defaults.insecure = Some(At::new(true));
    }
    if let Some(c) = &a.cacert {
        spec.defaults.cacert = Some(At::new(c.display().to_string()));
    }
    let body = match a.body.as_deref() {
        None => None,
        Some(b) => {
            let bytes = match b.strip_prefix('@') {
                Some(path) => loadgen::limits::read_file(path, loadgen::limits::BODY_FILE)
                    .with_context(|| format!("--body @{path}: cannot read the file"))?,
                None => b.as_bytes().to_vec(),
            };
            Some(String::from_utf8(bytes).map_err(|_| {
                anyhow::anyhow!(
                    "--print-scenario: the body is not text, so it has no place in a scenario file"
                )
            })?)
        }
    };
    let check = (a.expect_status.is_some() || a.expect_body.is_some()).then(|| {
        At::new(loadgen::spec::CheckSpec {
            status: a
                .expect_status
                .clone()
                .map(|s| At::new(loadgen::spec::TextList(s))),
            body: a.expect_body.clone().map(At::new),
            ..Default::default()
        })
    });
    for t in &src.endpoints {
        let request = loadgen::spec::RequestSpec {
            url: Some(At::new(t.url.clone())),
            body: body.clone().map(At::new),
            ..Default::default()
        };
        let mut step = StepSpec {
            check: check.clone(),
            ..StepSpec::default()
        };
        let method = a.method.to_ascii_uppercase();
        match method.as_str() {
            "GET" => step.get = Some(At::new(Shorthand(request))),
            "POST" => step.post = Some(At::new(Shorthand(request))),
            "PUT" => step.put = Some(At::new(Shorthand(request))),
            "PATCH" => step.patch = Some(At::new(Shorthand(request))),
            "DELETE" => step.delete = Some(At::new(Shorthand(request))),
            _ => {
                step.request = Some(At::new(loadgen::spec::RequestSpec {
                    method: Some(At::new(method)),
                    ..request
                }))
            }
        }
        spec.scenarios.push(At::new(ScenarioSpec {
            name: At::new(t.url.clone()),
            weight: (t.weight != 1).then(|| At::new(Text(t.weight.to_string()))),
            cookies: Some(At::new(Text("off".into()))),
            steps: vec![At::new(step)],
        }));
    }
    for t in &a.out.thresholds {
        spec.thresholds.push(At::new(t.to_string()));
    }
    Ok(spec)
}
