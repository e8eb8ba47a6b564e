//! `loadgen watch URL…`: a live view of a fleet without Prometheus. It scrapes every
//! shard's `--metrics` endpoint each `--every`, adds the shards up into the live model the
//! `--tui` dashboard and the progress lines read, and ends when every shard says its run
//! has ended (`loadgen_run_ended 1`). A shard that stops answering is named as missing —
//! its last counts stay in the sums, marked, never silently dropped — and if it has not
//! ended within `--give-up`, watch exits 1.
//!
//! The exposition is read here, not by a crate: the one on crates.io splits label values
//! at `,` and `=`, and target labels are URLs with queries. Only the sample lines of the
//! text format are read (`name{label="value",…} value`), label values unescaped; a body is
//! read up to [`MAX_BODY`].

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use loadgen::Outcome;
use loadgen::engine::live::{Live, Snapshot};
use loadgen::record::Counts;
use loadgen::record::hist::{Hist, new_hist};

use super::live::{Labels, State};
use super::tui::{Quit, Tui};
use crate::args::WatchArgs;

/// The most of one scrape read.
pub const MAX_BODY: u64 = 16 * 1024 * 1024;

/// One shard's endpoint.
struct Shard {
    /// `HOST:PORT` as given: for messages and the Host header.
    name: String,
    addr: SocketAddr,
    path: String,
    /// What it said last (kept when it stops answering).
    last: Option<View>,
    /// When it last answered.
    answered: Option<Instant>,
}

impl Shard {
    /// Whether its last scrape said its run had ended.
    fn ended(&self) -> bool {
        self.last.as_ref().is_some_and(|v| v.ended)
    }
}

/// What one scrape of a shard says.
#[derive(Debug, Clone, Default, PartialEq)]
struct View {
    targets: BTreeMap<String, Counts>,
    sent: u64,
    in_flight: u64,
    cpu_s: f64,
    elapsed_s: f64,
    planned_s: f64,
    ended: bool,
    run: String,
    connections: Option<u64>,
    /// Answers by status class (1xx..5xx), per target.
    status: BTreeMap<String, [u64; 5]>,
    /// Cumulative bucket counts by upper bound (seconds), as exposed.
    latency: Vec<(f64, f64)>,
    lag: Vec<(f64, f64)>,
}

/// One sample line of the text exposition format.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The sample lines of `text`; comments and lines that do not parse are skipped.
fn samples(text: &str) -> Vec<Sample> {
    text.lines().filter_map(sample).collect()
}

fn sample(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut r = r;
        loop {
            r = r.trim_start_matches([',', ' ']);
            if let Some(after) = r.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = r.find('=')?;
            let key = r[..eq].trim().to_string();
            let mut chars = r[eq + 1..].trim_start().strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            };
            let quoted = r[eq + 1..].trim_start();
            r = &quoted[1 + end + 1..];
            labels.push((key, value));
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = number(value)?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// A number as the exposition writes it (`+Inf`, `-Inf`, Go's floats).
fn number(v: &str) -> Option<f64> {
    match v {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        v => v.parse().ok(),
    }
}

impl Sample {
    fn label(&self, k: &str) -> &str {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A shard's view from its exposition.
fn view(text: &str) -> View {
    let mut v = View::default();
    for s in samples(text) {
        if v.run.is_empty() {
            v.run = s.label("run").to_string();
        }
        let n = s.value.max(0.0) as u64;
        match s.name.as_str() {
            "loadgen_loads_total" => {
                if let Some(o) = Outcome::from_name(s.label("outcome")) {
                    let t = v.targets.entry(s.label("target").to_string()).or_default();
                    t.outcomes[o] = n;
                }
            }
            "loadgen_scheduled_total" => {
                v.targets
                    .entry(s.label("target").to_string())
                    .or_default()
                    .scheduled = n;
            }
            "loadgen_responses_total" => {
                let class = s.label("status_class").as_bytes().first().copied();
                if let Some(c @ b'1'..=b'5') = class {
                    v.status.entry(s.label("target").to_string()).or_default()
                        [usize::from(c - b'1')] = n;
                }
            }
            "loadgen_sent_total" => v.sent = n,
            "loadgen_in_flight" => v.in_flight = n,
            "loadgen_generator_cpu_seconds_total" => v.cpu_s = s.value,
            "loadgen_elapsed_seconds" => v.elapsed_s = s.value,
            "loadgen_planned_seconds" => v.planned_s = s.value,
            "loadgen_run_ended" => v.ended = s.value >= 1.0,
            "loadgen_connections_open" => v.connections = Some(n),
            "loadgen_latency_seconds_bucket" | "loadgen_send_lag_seconds_bucket" => {
                let into = if s.name.starts_with("loadgen_latency") {
                    &mut v.latency
                } else {
                    &mut v.lag
                };
                if let Some(le) = number(s.label("le")) {
                    into.push((le, s.value));
                }
            }
            _ => {}
        }
    }
    v
}

/// Adds cumulative buckets (seconds) to an HDR histogram of µs: each bucket's loads at its
/// upper bound (the `+Inf` bucket's at twice the last bound) — the summary's percentiles
/// to within a bucket, as Prometheus's `histogram_quantile` gives them.
fn add_buckets(h: &mut Hist, buckets: &[(f64, f64)]) {
    let mut sorted = buckets.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let last_finite = sorted
        .iter()
        .rev()
        .find(|b| b.0.is_finite())
        .map_or(60.0, |b| b.0);
    let mut below = 0.0;
    for (le, cum) in sorted {
        let n = (cum - below).max(0.0) as u64;
        below = below.max(cum);
        if n > 0 {
            let at = if le.is_finite() {
                le
            } else {
                2.0 * last_finite
            };
            h.saturating_record_n((at * 1e6) as u64, n);
        }
    }
}

/// The fleet: every shard's last view added up, and its target rows.
fn fleet(shards: &[Shard]) -> (Live, Vec<String>) {
    let names: Vec<String> = {
        let mut all: Vec<String> = shards
            .iter()
            .filter_map(|s| s.last.as_ref())
            .flat_map(|v| v.targets.keys().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    };
    let mut live = Live {
        snapshot: Snapshot::default(),
        counts: Counts::default(),
        targets: vec![Counts::default(); names.len()],
        latency: new_hist(),
        lag: new_hist(),
        errors: Vec::new(),
        cpu: Duration::ZERO,
        journeys: None,
        connections: None,
        connects: None,
        status: vec![[0; 5]; names.len()],
    };
    let mut cpu = 0.0;
    for v in shards.iter().filter_map(|s| s.last.as_ref()) {
        for (name, c) in &v.targets {
            let i = names.iter().position(|n| n == name).unwrap_or(0);
            live.targets[i] += c;
            live.counts += c;
        }
        for (name, classes) in &v.status {
            if let Some(i) = names.iter().position(|n| n == name) {
                for (a, b) in live.status[i].iter_mut().zip(classes) {
                    *a += b;
                }
            }
        }
        live.snapshot.sent += v.sent;
        live.snapshot.in_flight += v.in_flight;
        live.snapshot.elapsed = live
            .snapshot
            .elapsed
            .max(Duration::from_secs_f64(v.elapsed_s.max(0.0)));
        cpu += v.cpu_s;
        if let Some(n) = v.connections {
            *live.connections.get_or_insert(0) += n;
        }
        add_buckets(&mut live.latency, &v.latency);
        add_buckets(&mut live.lag, &v.lag);
    }
    live.cpu = Duration::from_secs_f64(cpu.max(0.0));
    let c = &live.counts;
    live.snapshot.scheduled = c.scheduled;
    live.snapshot.success = c.get(Outcome::Success);
    live.snapshot.completed = c.completed();
    live.snapshot.failed = c.accounted() - c.get(Outcome::Success);
    (live, names)
}

fn endpoint(url: &str) -> anyhow::Result<Shard> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    if rest.contains("://") {
        bail!("'{url}': a --metrics endpoint is http://HOST:PORT[/metrics] (or HOST:PORT)");
    }
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let path = if path == "/" { "/metrics" } else { path };
    let addr = hostport
        .to_socket_addrs()
        .with_context(|| format!("'{url}': not a HOST:PORT address"))?
        .next()
        .with_context(|| format!("'{url}': no address"))?;
    Ok(Shard {
        name: hostport.to_string(),
        addr,
        path: path.to_string(),
        last: None,
        answered: None,
    })
}

/// One scrape: the body of a `200` answer, read up to [`MAX_BODY`].
fn fetch(s: &Shard, timeout: Duration) -> Result<String, String> {
    let mut c = TcpStream::connect_timeout(&s.addr, timeout).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    c.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        c,
        "GET {} HTTP/1.0\r\nHost: {}\r\nAccept: text/plain\r\n\r\n",
        s.path, s.name
    )
    .map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    c.take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    if body.len() as u64 > MAX_BODY {
        return Err(format!(
            "an answer over {}",
            loadgen::limits::size(MAX_BODY)
        ));
    }
    let text = String::from_utf8_lossy(&body);
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("answered {}", loadgen::report::term::clean(status)));
    }
    Ok(rest.to_string())
}

/// Quitting the dashboard quits the watch.
struct Stop(Arc<AtomicBool>);

impl Quit for Stop {
    fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn abort(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn fmt_rate(n: u64, secs: f64) -> String {
    if secs > 0.0 {
        format!("{:.1}/s", n as f64 / secs)
    } else {
        "-".into()
    }
}

pub fn watch(a: WatchArgs) -> anyhow::Result<ExitCode> {
    let mut shards = a
        .urls
        .iter()
        .map(|u| endpoint(u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let quit = Arc::new(AtomicBool::new(false));
    let signals = super::signals::Signals::listen()?;
    let state = Arc::new(Mutex::new(State::default()));
    let mut tui: Option<Tui> = None;
    let started = Instant::now();
    // the fleet's counts at the last scrape, for the rates over the interval
    let mut prev: Option<(Counts, Instant)> = None;
    let out = std::io::stdout();
    let code = loop {
        let t = Instant::now();
        let timeout = a
            .every
            .clamp(Duration::from_millis(200), Duration::from_secs(5));
        let answers: Vec<Result<String, String>> = std::thread::scope(|sc| {
            let hs: Vec<_> = shards
                .iter()
                .map(|s| sc.spawn(move || fetch(s, timeout)))
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("the scrape failed".into())))
                .collect()
        });
        let mut missing = Vec::new();
        for (s, r) in shards.iter_mut().zip(answers) {
            match r {
                Ok(body) => {
                    s.last = Some(view(&body));
                    s.answered = Some(Instant::now());
                }
                Err(why) => missing.push(format!("{} ({why})", s.name)),
            }
        }
        let (live, names) = fleet(&shards);
        let ended = shards.iter().all(Shard::ended);
        let answering = shards.len() - missing.len();
        if a.tui && tui.is_none() && answering > 0 {
            let planned = shards
                .iter()
                .filter_map(|s| s.last.as_ref())
                .map(|v| v.planned_s)
                .fold(0.0, f64::max);
            let run = shards
                .iter()
                .find_map(|s| s.last.as_ref().map(|v| v.run.clone()))
                .unwrap_or_default();
            let labels = Labels {
                targets: names.clone(),
                shard: format!("fleet of {}", shards.len()),
                run,
                total: Duration::from_secs_f64(planned),
                steps: Vec::new(),
            };
            tui = Some(Tui::start(state.clone(), labels, Stop(quit.clone()))?);
        }
        // rates over the interval, from the fleet's totals
        let (offered, tps) = match &prev {
            Some((p, at)) => {
                let secs = at.elapsed().as_secs_f64();
                (
                    fmt_rate(live.counts.scheduled.saturating_sub(p.scheduled), secs),
                    fmt_rate(
                        live.counts
                            .get(Outcome::Success)
                            .saturating_sub(p.get(Outcome::Success)),
                        secs,
                    ),
                )
            }
            None => ("-".into(), "-".into()),
        };
        let p99 = if live.latency.is_empty() {
            0.0
        } else {
            live.latency.value_at_quantile(0.99) as f64 / 1000.0
        };
        let c = live.counts;
        let line = format!(
            "{:7.1} s  shards {answering}/{}  scheduled {}  success {}  failed {}  offered {offered}  tps {tps}  p99 {p99:.2} ms  in flight {}{}",
            live.snapshot.elapsed.as_secs_f64(),
            shards.len(),
            c.scheduled,
            c.get(Outcome::Success),
            c.accounted() - c.get(Outcome::Success),
            live.snapshot.in_flight,
            if missing.is_empty() {
                String::new()
            } else {
                format!("  missing: {}", missing.join(", "))
            }
        );
        prev = Some((live.counts, Instant::now()));
        if a.tui {
            // what the dashboard draws (nothing reads it without one)
            super::live::push(&state, live, ended, |_| None::<()>);
        }
        if tui.is_none() {
            let mut o = out.lock();
            writeln!(o, "{}", loadgen::report::term::clean(&line))?;
            o.flush()?;
        }
        if ended {
            if let Some(t) = tui.take() {
                t.finish();
            }
            let mut o = out.lock();
            let mut parts = vec![format!("scheduled {}", c.scheduled)];
            for oc in Outcome::ALL {
                parts.push(format!("{} {}", oc.name(), c.get(oc)));
            }
            writeln!(
                o,
                "fleet ended: {} shards, {}{}",
                shards.len(),
                parts.join(", "),
                if c.invariant_holds() {
                    " (every load accounted for)"
                } else {
                    ""
                }
            )?;
            break ExitCode::SUCCESS;
        }
        if quit.load(Ordering::Relaxed) || signals.stop_requested() {
            if let Some(t) = tui.take() {
                t.finish();
            }
            break ExitCode::SUCCESS;
        }
        // a shard that has not ended and is silent for --give-up (or never heard from):
        // give up (when every shard is that silent, one of them has not ended, or the run
        // would have ended above)
        if shards.iter().any(|s| {
            !s.ended() && s.answered.map_or(started.elapsed(), |h| h.elapsed()) > a.give_up
        }) {
            if let Some(t) = tui.take() {
                t.finish();
            }
            let lost: Vec<&str> = shards
                .iter()
                .filter(|s| !s.ended())
                .map(|s| s.name.as_str())
                .collect();
            crate::note!(
                "loadgen: watch: {} did not end (silent for over {}); their last counts are in the totals above, the rest of their loads are not",
                lost.join(", "),
                humantime::format_duration(a.give_up)
            );
            break ExitCode::from(1);
        }
        let spent = t.elapsed();
        if spent < a.every {
            // a signal ends the wait at once
            signals.linger(a.every - spent);
        }
    };
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_lines_with_urls_and_escapes_in_labels() {
        let s = sample(
            r#"loadgen_loads_total{target="GET http://h/?a=1,b=\"2\"",shard="0/3",outcome="success"} 42"#,
        )
        .unwrap();
        assert_eq!(s.name, "loadgen_loads_total");
        assert_eq!(s.label("target"), r#"GET http://h/?a=1,b="2""#);
        assert_eq!(s.label("outcome"), "success");
        assert_eq!(s.value, 42.0);
        let b = sample(r#"loadgen_latency_seconds_bucket{le="+Inf",run="r"} 7"#).unwrap();
        assert_eq!((b.label("le"), b.value), ("+Inf", 7.0));
        assert_eq!(sample("loadgen_in_flight 3").unwrap().value, 3.0);
        assert!(sample("# HELP x y").is_none());
        assert!(sample(r#"x{a="unterminated} 1"#).is_none());
    }

    #[test]
    fn buckets_become_a_histogram_within_a_bucket() {
        let mut h = new_hist();
        add_buckets(
            &mut h,
            &[
                (0.001, 10.0),
                (0.002, 60.0),
                (0.003, 100.0),
                (f64::INFINITY, 100.0),
            ],
        );
        assert_eq!(h.len(), 100);
        let p50 = h.value_at_quantile(0.5);
        assert!((1990..=2010).contains(&p50), "{p50}");
    }

    #[test]
    fn shards_add_up() {
        let text = |n: u64| {
            format!(
                "loadgen_loads_total{{target=\"t\",shard=\"0/2\",run=\"r\",outcome=\"success\"}} {n}\nloadgen_scheduled_total{{target=\"t\",shard=\"0/2\",run=\"r\"}} {n}\nloadgen_run_ended{{shard=\"0/2\",run=\"r\"}} 1\n"
            )
        };
        let mk = |n| Shard {
            name: "x".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            path: "/metrics".into(),
            last: Some(view(&text(n))),
            answered: None,
        };
        let (live, names) = fleet(&[mk(3), mk(4)]);
        assert_eq!(names, ["t"]);
        assert_eq!(live.counts.scheduled, 7);
        assert_eq!(live.counts.get(Outcome::Success), 7);
    }
}
