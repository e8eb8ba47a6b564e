//! Watching a run as it goes: one per-second source ([`Feed`]) that samples the shards'
//! live view once a second, and what reads it — `--live FILE` (a JSON line per second,
//! the fields of the summary's timeline), `--metrics ADDR` (Prometheus/OpenMetrics text
//! over HTTP) and `--tui` ([`super::tui`]).

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use loadgen::engine::live::{Live, Second};
use loadgen::{Monitor, Outcome};

/// Scrapers served at once by `--metrics` (more are closed at once); within the file
/// descriptors a run keeps aside.
const METRICS_SCRAPERS: usize = 32;
/// The longest a scraper may take to send a request head.
const METRICS_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a scraper's connection is kept (Prometheus opens another).
const METRICS_CONNECTION: Duration = Duration::from_secs(120);

/// Seconds of history kept for the dashboard.
pub const HISTORY: usize = 600;

/// What the readers share: the last sample and the seconds before it.
#[derive(Default)]
pub struct State {
    /// The last sample (totals since the start).
    pub last: Option<Live>,
    /// The last [`HISTORY`] seconds, oldest first.
    pub seconds: VecDeque<Second>,
    /// True once the run has ended (the last sample is final).
    pub ended: bool,
}

/// Everything the readers need to name what they show.
#[derive(Clone)]
pub struct Labels {
    /// Report rows, in order.
    pub targets: Vec<String>,
    /// This process's shard, `I/N`.
    pub shard: String,
    /// The run's id, the same on every shard (`--run-id`).
    pub run: String,
    /// The run's planned length.
    pub total: Duration,
    /// The journeys' steps, in row order (empty for single calls).
    pub steps: Vec<loadgen::record::StepInfo>,
}

/// `--live`'s writer: lines go to a thread through a short queue, so neither a reader that
/// stops reading nor a full disk holds the sampler (and with it the shared state the
/// dashboard and `--metrics` read); lines that cannot go out are counted and said at the
/// end.
struct LiveOut {
    tx: Option<std::sync::mpsc::SyncSender<String>>,
    lost: Arc<std::sync::atomic::AtomicU64>,
    failed: Arc<Mutex<Option<String>>>,
    done: Mutex<std::sync::mpsc::Receiver<()>>,
}

/// Lines the live writer may be behind before new ones are dropped.
const LIVE_QUEUE: usize = 64;

impl LiveOut {
    fn start(mut w: Box<dyn Write + Send>) -> LiveOut {
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(LIVE_QUEUE);
        let (done_tx, done) = std::sync::mpsc::channel();
        let lost = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let failed = Arc::new(Mutex::new(None));
        let (l, f) = (lost.clone(), failed.clone());
        let spawned = std::thread::Builder::new()
            .name("loadgen-live-out".into())
            .spawn(move || {
                for line in rx {
                    let broken = f.lock().unwrap_or_else(|p| p.into_inner()).is_some();
                    if broken {
                        l.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Err(e) = w.write_all(line.as_bytes()).and_then(|()| w.flush()) {
                        l.fetch_add(1, Ordering::Relaxed);
                        *f.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    }
                }
                let _ = done_tx.send(());
            });
        if let Err(e) = spawned {
            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
        LiveOut {
            tx: Some(tx),
            lost,
            failed,
            done: Mutex::new(done),
        }
    }

    /// Queues a line; a full queue (the reader is behind) drops it.
    fn send(&self, line: String) {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.try_send(line).is_ok());
        if !sent {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits a moment for the queue to drain; what could not be written, in one line.
    fn finish(mut self) -> Option<String> {
        self.tx = None;
        let stuck = self
            .done
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(Duration::from_secs(2))
            .is_err();
        let lost = self.lost.load(Ordering::Relaxed);
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (failed, stuck, lost) {
            (Some(e), _, n) => Some(format!("--live: {n} line(s) not written: {e}")),
            (None, true, n) => Some(format!(
                "--live: its reader stopped reading; {n} line(s) dropped and the last ones not written"
            )),
            (None, false, 0) => None,
            (None, false, n) => Some(format!(
                "--live: its reader fell behind; {n} line(s) dropped"
            )),
        }
    }
}

/// The per-second source.
pub struct Feed {
    /// What it last sampled.
    pub state: Arc<Mutex<State>>,
    /// Names of targets and shard.
    pub labels: Labels,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    monitor: Option<Monitor>,
    out: Option<Arc<LiveOut>>,
}

impl Feed {
    /// A source named by `labels` that will write each second to `out`, if given; it
    /// samples once [`Feed::attach`] gives it the run.
    pub fn new(labels: Labels, out: Option<Box<dyn Write + Send>>) -> Feed {
        Feed {
            state: Arc::new(Mutex::new(State::default())),
            labels,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            monitor: None,
            out: out.map(|w| Arc::new(LiveOut::start(w))),
        }
    }

    /// Samples `monitor` once a second from now on.
    pub fn attach(&mut self, monitor: Option<Monitor>) {
        let Some(m) = monitor else {
            return;
        };
        self.monitor = Some(m.clone());
        let (state, stop, out) = (self.state.clone(), self.stop.clone(), self.out.clone());
        let steps = self.labels.steps.clone();
        self.thread = std::thread::Builder::new()
            .name("loadgen-live".into())
            .spawn(move || {
                // seconds of the run (from its t0), as the summary's timeline counts them
                let mut n = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    let next = Duration::from_secs(n);
                    let at = m.snapshot().elapsed;
                    if at < next {
                        std::thread::sleep((next - at).min(Duration::from_millis(50)));
                        continue;
                    }
                    n = at.as_secs() + 1;
                    sample(&m, &state, out.as_deref(), &steps, false);
                }
            })
            .ok();
    }

    /// The run ended: a last sample (its totals are final), the last partial second.
    /// Returns what `--live` could not write, if anything (one line).
    pub fn finish(mut self) -> Option<String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(m) = &self.monitor {
            sample(
                m,
                &self.state,
                self.out.as_deref(),
                &self.labels.steps,
                true,
            );
        }
        self.out
            .take()
            .and_then(|o| Arc::try_unwrap(o).ok())
            .and_then(LiveOut::finish)
    }
}

fn sample(
    m: &Monitor,
    state: &Mutex<State>,
    out: Option<&LiveOut>,
    steps: &[loadgen::record::StepInfo],
    end: bool,
) {
    let now = m.live();
    let line = push(state, now, end, |sec| {
        out.map(|_| loadgen::summary::codec::live_line(sec, steps) + "\n")
    });
    // written outside the state's lock, through a queue: a stalled reader holds nothing
    if let (Some(o), Some(line)) = (out, line) {
        o.send(line);
    }
}

/// Adds the sample `now` to `state`: the second since the last one (unless it is an empty
/// last one), kept for [`HISTORY`] seconds; `line` turns that second into what `--live`
/// writes.
pub fn push<T>(
    state: &Mutex<State>,
    now: Live,
    end: bool,
    line: impl FnOnce(&Second) -> Option<T>,
) -> Option<T> {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let sec = Second::between(s.last.as_ref(), &now);
    let mut out = None;
    if !end || !sec.span.is_zero() {
        out = line(&sec);
        if s.seconds.len() == HISTORY {
            s.seconds.pop_front();
        }
        s.seconds.push_back(sec);
    }
    s.last = Some(now);
    s.ended = end;
    out
}

/// `--live FILE|-`.
pub fn live_out(path: &std::path::Path) -> anyhow::Result<Box<dyn Write + Send>> {
    if path.as_os_str() == "-" {
        // its own handle on fd 1, not Stdout: a write blocked by a reader that stopped
        // reading must not hold the lock everything else prints under
        use std::os::fd::AsFd;
        let fd = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("--live -: cannot use standard output")?;
        return Ok(Box::new(std::io::LineWriter::new(std::fs::File::from(fd))));
    }
    let f = std::fs::File::create(path)
        .with_context(|| format!("--live {}: cannot create", path.display()))?;
    // flushed at each line: a reader tailing the file sees every second as it ends
    Ok(Box::new(std::io::LineWriter::new(f)))
}

/// The Prometheus view of a sample (prometheus-client writes the exposition format).
struct Metrics {
    state: Arc<Mutex<State>>,
    targets: Vec<String>,
    shard: String,
    run: String,
    total: Duration,
    steps: Vec<loadgen::record::StepInfo>,
}

/// Histogram bounds, seconds: the same on every shard, so a fleet's buckets add up
/// (`histogram_quantile(0.99, sum by (le) (rate(...)))`); six a decade (1, 1.5, 2, 3, 5,
/// 7), 100 µs to 10 s (then 30 s, 60 s): adjacent bounds at most 1.5× apart below 10 s.
const BUCKETS: [f64; 33] = [
    0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.0007, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.007,
    0.01, 0.015, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0,
    7.0, 10.0, 30.0, 60.0,
];

fn buckets(h: &loadgen::record::hist::Hist) -> (f64, u64, Vec<(f64, u64)>) {
    let count = h.len();
    let mut out = Vec::with_capacity(BUCKETS.len() + 1);
    let mut below = 0u64;
    for b in BUCKETS {
        let upto = if count == 0 {
            0
        } else {
            h.count_between(0, (b * 1e6) as u64)
        };
        out.push((b, upto.saturating_sub(below)));
        below = below.max(upto);
    }
    out.push((f64::INFINITY, count.saturating_sub(below)));
    let sum = if count == 0 {
        0.0
    } else {
        h.mean() * count as f64 / 1e6
    };
    (sum, count, out)
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl prometheus_client::collector::Collector for Metrics {
    fn encode(
        &self,
        mut enc: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::{EncodeMetric, NoLabelSet};
        use prometheus_client::metrics::MetricType as T;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(l) = &s.last else {
            return Ok(());
        };
        let sec = s.seconds.back();
        let shard = ("shard".to_string(), self.shard.clone());
        let run = ("run".to_string(), self.run.clone());
        {
            let mut m = enc.encode_descriptor(
                "loadgen_loads",
                "Loads by outcome (every scheduled load ends in exactly one)",
                None,
                T::Counter,
            )?;
            for (i, c) in l.targets.iter().enumerate() {
                for o in Outcome::ALL {
                    let labels = vec![
                        (
                            "target".to_string(),
                            self.targets.get(i).cloned().unwrap_or_default(),
                        ),
                        shard.clone(),
                        run.clone(),
                        ("outcome".to_string(), o.name().to_string()),
                    ];
                    ConstCounter::new(c.get(o)).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        if l.status.iter().any(|c| c.iter().any(|&n| n > 0)) {
            let mut m = enc.encode_descriptor(
                "loadgen_responses",
                "Answers by status class (HTTP: 1xx..5xx), whatever their outcome",
                None,
                T::Counter,
            )?;
            for (i, classes) in l.status.iter().enumerate() {
                for (k, &n) in classes.iter().enumerate() {
                    let labels = vec![
                        (
                            "target".to_string(),
                            self.targets.get(i).cloned().unwrap_or_default(),
                        ),
                        shard.clone(),
                        run.clone(),
                        ("status_class".to_string(), format!("{}xx", k + 1)),
                    ];
                    ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "loadgen_scheduled",
                "Loads whose intended start has come",
                None,
                T::Counter,
            )?;
            for (i, c) in l.targets.iter().enumerate() {
                let labels = vec![
                    (
                        "target".to_string(),
                        self.targets.get(i).cloned().unwrap_or_default(),
                    ),
                    shard.clone(),
                    run.clone(),
                ];
                ConstCounter::new(c.scheduled).encode(m.encode_family(&labels)?)?;
            }
        }
        let labels = vec![shard.clone(), run.clone()];
        let mut counter = |name: &str, help: &str, v: u64| -> Result<(), std::fmt::Error> {
            let mut m = enc.encode_descriptor(name, help, None, T::Counter)?;
            ConstCounter::new(v).encode(m.encode_family(&labels)?)
        };
        counter("loadgen_sent", "Loads sent", l.snapshot.sent)?;
        let cpu = l.cpu.as_secs_f64();
        let mut m = enc.encode_descriptor(
            "loadgen_generator_cpu_seconds",
            "CPU time of the generator threads",
            None,
            T::Counter,
        )?;
        ConstCounter::new(cpu).encode(m.encode_family(&labels)?)?;
        let (offered, throughput, tps) = sec.map(Second::rates).unwrap_or_default();
        let gauges = [
            (
                "loadgen_in_flight",
                "Calls in flight",
                l.snapshot.in_flight as f64,
            ),
            (
                "loadgen_offered_rate",
                "Loads scheduled per second, over the last second",
                offered,
            ),
            (
                "loadgen_throughput",
                "Loads completed per second, over the last second",
                throughput,
            ),
            (
                "loadgen_tps",
                "Successes per second, over the last second",
                tps,
            ),
            (
                "loadgen_generator_busy",
                "Generator CPU over wall time in the last second (1 = one thread busy)",
                sec.map_or(0.0, |s| s.busy),
            ),
            (
                "loadgen_elapsed_seconds",
                "Time since the run started",
                l.snapshot.elapsed.as_secs_f64(),
            ),
            (
                "loadgen_planned_seconds",
                "The run's planned length (0: until its loads are done)",
                self.total.as_secs_f64(),
            ),
            (
                "loadgen_run_ended",
                "1 once the run has ended and the totals are final",
                if s.ended { 1.0 } else { 0.0 },
            ),
        ];
        for (name, help, v) in gauges {
            let mut m = enc.encode_descriptor(name, help, None, T::Gauge)?;
            ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
        }
        for (name, help, h) in [
            (
                "loadgen_latency_seconds",
                "Latency of the answered loads (success, response_error, callee_error), from the intended start",
                &l.latency,
            ),
            (
                "loadgen_send_lag_seconds",
                "Send lag: the send after the intended start",
                &l.lag,
            ),
        ] {
            let (sum, count, b) = buckets(h);
            let mut m = enc.encode_descriptor(name, help, None, T::Histogram)?;
            m.encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(sum, count, &b, None)?;
        }
        // the protocols that keep connections say how many and how long they took to open
        if let Some(n) = l.connections {
            let mut m = enc.encode_descriptor(
                "loadgen_connections_open",
                "Connections the generator holds open now",
                None,
                T::Gauge,
            )?;
            ConstGauge::new(n as f64).encode(m.encode_family(&labels)?)?;
        }
        if let Some(h) = &l.connects {
            let (sum, count, b) = buckets(h);
            let mut m = enc.encode_descriptor(
                "loadgen_connect_seconds",
                "Time to open a connection: TCP, TLS and the protocol's handshake (WebSocket upgrade, QUIC)",
                None,
                T::Histogram,
            )?;
            m.encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(sum, count, &b, None)?;
        }
        if let Some(j) = &l.journeys {
            let row = |i: usize| {
                let info = self.steps.get(i);
                vec![
                    (
                        "scenario".to_string(),
                        info.map_or_else(String::new, |r| r.scenario.clone()),
                    ),
                    (
                        "step".to_string(),
                        info.map_or_else(String::new, |r| r.name.clone()),
                    ),
                    (
                        "kind".to_string(),
                        info.map_or("request", |r| r.kind.name()).to_string(),
                    ),
                    shard.clone(),
                    run.clone(),
                ]
            };
            {
                let mut m = enc.encode_descriptor(
                    "loadgen_step_runs",
                    "Runs of each journey step and group, by outcome",
                    None,
                    T::Counter,
                )?;
                for (i, st) in j.steps.iter().enumerate() {
                    for o in Outcome::ALL {
                        let mut labels = row(i);
                        labels.push(("outcome".to_string(), o.name().to_string()));
                        ConstCounter::new(st.outcomes[o]).encode(m.encode_family(&labels)?)?;
                    }
                }
            }
            {
                let mut m = enc.encode_descriptor(
                    "loadgen_step_response_seconds",
                    "Response time of each step's answered runs, from when it was ready",
                    None,
                    T::Histogram,
                )?;
                for (i, st) in j.steps.iter().enumerate() {
                    let (sum, count, b) = buckets(&st.response);
                    m.encode_family(&row(i))?
                        .encode_histogram::<NoLabelSet>(sum, count, &b, None)?;
                }
            }
            let (sum, count, b) = buckets(&j.active);
            let mut m = enc.encode_descriptor(
                "loadgen_journey_active_seconds",
                "Active time of completed journeys (think time excluded)",
                None,
                T::Histogram,
            )?;
            m.encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(sum, count, &b, None)?;
        }
        Ok(())
    }
}

/// The classic text format (0.0.4, what `promtool check metrics` and older scrapers read)
/// of prometheus-client's OpenMetrics text: the same samples; a counter's HELP and TYPE
/// name its `_total` samples, and there is no `# EOF`.
fn classic(om: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for l in om.lines() {
        if let Some(name) = l
            .strip_prefix("# TYPE ")
            .and_then(|t| t.strip_suffix(" counter"))
        {
            counters.insert(name.to_string());
        }
    }
    let mut out = String::with_capacity(om.len());
    for l in om.lines() {
        if l == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find(|p| l.starts_with(p));
        match meta {
            Some(p) => {
                let rest = &l[p.len()..];
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(name) {
                    "_total"
                } else {
                    ""
                };
                out.push_str(&format!("{p}{name}{suffix} {tail}"));
            }
            None => out.push_str(l),
        }
        out.push('\n');
    }
    out
}

/// The `--metrics` endpoint: serves until dropped. OpenMetrics text when the scraper asks
/// for it (Prometheus does), else the classic text format.
pub struct Endpoint {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Endpoint {
    /// Binds `addr` now (a bad address is an error before the run) and serves `feed`'s
    /// samples on any path.
    pub fn start(addr: &str, feed: &Feed) -> anyhow::Result<Endpoint> {
        let bind: SocketAddr = addr
            .parse()
            .with_context(|| format!("--metrics {addr}: expected IP:PORT, e.g. 127.0.0.1:9090"))?;
        let std = std::net::TcpListener::bind(bind)
            .with_context(|| format!("--metrics {addr}: cannot listen"))?;
        std.set_nonblocking(true)?;
        let local = std.local_addr()?;
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Metrics {
            state: feed.state.clone(),
            targets: feed.labels.targets.clone(),
            shard: feed.labels.shard.clone(),
            run: feed.labels.run.clone(),
            total: feed.labels.total,
            steps: feed.labels.steps.clone(),
        }));
        let registry = Arc::new(registry);
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // scrapers are bounded: a few at once, each for a while, a head in time — so
        // hostile or stuck scrapers take neither the run's file descriptors nor a core
        let scrapers = Arc::new(tokio::sync::Semaphore::new(METRICS_SCRAPERS));
        let thread = std::thread::Builder::new().name("loadgen-metrics".into()).spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = &mut rx => return,
                        a = listener.accept() => {
                            let s = match a {
                                Ok((s, _)) => s,
                                Err(_) => {
                                    // out of descriptors (EMFILE) or the like: wait, not spin
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                    continue;
                                }
                            };
                            // over the cap: closed at once
                            let Ok(permit) = scrapers.clone().try_acquire_owned() else {
                                continue;
                            };
                            let registry = registry.clone();
                            tokio::spawn(async move {
                                let _permit = permit;
                                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                    let registry = registry.clone();
                                    let om = req
                                        .headers()
                                        .get_all(hyper::header::ACCEPT)
                                        .iter()
                                        .any(|v| v.to_str().is_ok_and(|v| v.contains("application/openmetrics-text")));
                                    async move {
                                        let mut body = String::new();
                                        let _ = prometheus_client::encoding::text::encode(&mut body, &registry);
                                        let (body, kind) = if om {
                                            (body, "application/openmetrics-text; version=1.0.0; charset=utf-8")
                                        } else {
                                            (classic(&body), "text/plain; version=0.0.4; charset=utf-8")
                                        };
                                        hyper::Response::builder()
                                            .header("content-type", kind)
                                            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                                    }
                                });
                                let io = hyper_util::rt::TokioIo::new(s);
                                let conn = hyper::server::conn::http1::Builder::new()
                                    .timer(hyper_util::rt::TokioTimer::new())
                                    .header_read_timeout(METRICS_HEAD_TIMEOUT)
                                    .serve_connection(io, svc);
                                let _ = tokio::time::timeout(METRICS_CONNECTION, conn).await;
                            });
                        }
                    }
                }
            });
        })?;
        Ok(Endpoint {
            stop: Some(tx),
            thread: Some(thread),
            addr: local,
        })
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
