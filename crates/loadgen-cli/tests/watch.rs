//! Watching a run: `--live` lines, the `--metrics` endpoint, and the `--tui` dashboard
//! driven under tmux (ignored where tmux or promtool is not installed — `cargo test` says
//! how many — and required by CI, which installs both; see build.rs).

mod support;

use std::io::{BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

#[test]
fn live_lines_and_metrics_follow_the_run_and_end_at_the_summary() {
    let (_http, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--error-rate", "0.1"]);
    let url = format!("http://{}/", addrs[0]);
    let live = tmp("live.jsonl");
    let json = tmp("watch.json");
    let mut child = bin()
        .args([
            "run",
            &url,
            "-r",
            "400",
            "-d",
            "3s",
            "--summary",
            "none",
            "--quiet",
        ])
        .args(["--metrics", "127.0.0.1:0", "--metrics-linger", "5s"])
        .args([
            "--live",
            live.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let addr = metrics_addr(&mut err);
    // during the run: counters only grow
    let mut last = 0;
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(2500) {
        let m = scrape(&addr);
        let n = total(&m, "loadgen_scheduled_total", &[]);
        assert!(n >= last, "a counter went down: {last} → {n}");
        last = n;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(last > 0, "the counters moved during the run");
    // after it: the endpoint lingers with the final totals, equal to the summary's
    while !json.exists() || std::fs::read_to_string(&json).unwrap().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(20), "no summary");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let m = scrape(&addr);
    let s = parse(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(total(&m, "loadgen_run_ended", &[]), 1, "{m}");
    assert_eq!(
        total(&m, "loadgen_scheduled_total", &[]),
        s.counts.scheduled
    );
    assert_eq!(
        total(&m, "loadgen_loads_total", &["outcome=\"success\""]),
        s.counts.success
    );
    assert_eq!(
        total(&m, "loadgen_loads_total", &["outcome=\"callee_error\""]),
        s.counts.callee_error
    );
    assert!(s.counts.callee_error > 0, "--error-rate 0.1 made some");
    // the answers by status class: the 503s are the callee errors, the 200s the successes
    assert_eq!(
        total(&m, "loadgen_responses_total", &["status_class=\"5xx\""]),
        s.counts.callee_error,
        "{m}"
    );
    assert_eq!(
        total(&m, "loadgen_responses_total", &["status_class=\"2xx\""]),
        s.counts.success
    );
    // latency counts every answered load: the 503s too
    assert_eq!(
        total(&m, "loadgen_latency_seconds_count", &[]),
        s.counts.success + s.counts.callee_error + s.counts.response_error
    );
    assert!(
        m.contains("loadgen_latency_seconds_bucket{le=\"+Inf\""),
        "{m}"
    );
    // the connections: how many are open, and how long each took to open, as the summary
    let model = loadgen::Summary::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (_, opened) = model.connect().expect("HTTP times its connects");
    assert_eq!(
        total(&m, "loadgen_connect_seconds_count", &[]),
        opened,
        "{m}"
    );
    assert!(m.contains("loadgen_connections_open{"), "{m}");
    let (out, _) = wait_with_timeout(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    // --live: one line per second, the timeline's fields; together they are the totals
    let text = std::fs::read_to_string(&live).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!((3..=5).contains(&lines.len()), "{text}");
    let sum = |k: &str| lines.iter().map(|l| l[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("scheduled"), s.counts.scheduled);
    assert_eq!(sum("success"), s.counts.success);
    assert_eq!(sum("callee_error"), s.counts.callee_error);
    for l in &lines {
        for k in ["t_s", "sent", "timeout", "dropped", "p50_ms", "p99_ms"] {
            assert!(l.get(k).is_some(), "{k} in {l}");
        }
    }
}

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool (apt-get install prometheus)"
)]
fn the_metrics_exposition_passes_promtool() {
    let (_http, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--error-rate", "0.1"]);
    let mut child = bin()
        .args([
            "run",
            &format!("http://{}/", addrs[0]),
            "-r",
            "200",
            "-d",
            "1s",
        ])
        .args(["--summary", "none", "--quiet"])
        .args(["--metrics", "127.0.0.1:0", "--metrics-linger", "3s"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let addr = metrics_addr(&mut err);
    std::thread::sleep(Duration::from_millis(1500));
    // promtool lints the classic text format (an OpenMetrics scrape names its counters'
    // families without _total, which it reads as metrics without help)
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    p.stdin
        .take()
        .unwrap()
        .write_all(scrape_as(&addr, false).as_bytes())
        .unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (out, _) = wait_with_timeout(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn bad_watch_flags_fail_before_the_run() {
    let out = run(&["run", "http://127.0.0.1:1/", "-n", "1", "--tui"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--tui needs a terminal"), "{err}");
    let out = run(&[
        "run",
        "http://127.0.0.1:1/",
        "-n",
        "1",
        "--metrics",
        "nowhere",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--metrics nowhere"), "{err}");
}

/// Runs `loadgen run ARGS --tui` in a tmux pane; when it exits, `done` holds its exit
/// code and `stty -a` of the pane.
struct Pane {
    session: String,
    done: std::path::PathBuf,
}

impl Pane {
    fn start(name: &str, env: &str, args: &str) -> Pane {
        Pane::start_cmd(name, env, &format!("run {args} --tui"))
    }

    /// `loadgen COMMAND` in a tmux pane of its own.
    fn start_cmd(name: &str, env: &str, command: &str) -> Pane {
        let dir = tmp(name);
        std::fs::create_dir_all(&dir).unwrap();
        let session = format!("loadgen-{name}-{}", std::process::id());
        let done = dir.join("done");
        let d = done.display();
        let script = format!(
            "{env} '{}' {command}; echo \"exit=$?\" > '{d}.tmp'; stty -a >> '{d}.tmp'; mv '{d}.tmp' '{d}'; sleep 60",
            env!("CARGO_BIN_EXE_loadgen"),
        );
        let out = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "120",
                "-y",
                "40",
                &script,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Pane { session, done }
    }

    fn keys(&self, k: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.session, k])
            .output()
            .unwrap();
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn wait_for(&self, what: &str) -> String {
        let t = Instant::now();
        loop {
            let c = self.screen();
            if c.contains(what) {
                return c;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no '{what}' on the screen:\n{c}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The exit line and `stty -a` once loadgen has exited.
    fn ended(&self) -> String {
        let t = Instant::now();
        while !self.done.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "loadgen did not end:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::read_to_string(&self.done).unwrap()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .output();
    }
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "needs tmux (apt-get install tmux)")]
fn a_dashboard_that_panics_gives_the_terminal_back_and_the_run_its_report() {
    let (_http, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let pane = Pane::start(
        "tui-panic",
        "LOADGEN_TEST_TUI_PANIC=1",
        &format!("http://{}/ -r 200 -d 3s", addrs[0]),
    );
    let end = pane.ended();
    assert!(end.starts_with("exit=0"), "{end}");
    assert!(end.contains(" icanon") && end.contains(" echo "), "{end}");
    let screen = pane.screen();
    assert!(
        screen.contains("the dashboard fails on purpose"),
        "{screen}"
    );
    assert!(screen.contains("accounted"), "the report: {screen}");
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "needs tmux (apt-get install tmux)")]
fn the_dashboard_moves_stops_on_q_and_gives_the_terminal_back() {
    let (_http, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let json = tmp("tui.json");
    let pane = Pane::start(
        "tui",
        "",
        &format!(
            "http://{}/ -r 300 -d 60s --json '{}'",
            addrs[0],
            json.display()
        ),
    );
    let first = pane.wait_for("loads per second");
    assert!(
        first.contains("latency of the answered loads") && first.contains("outcomes"),
        "{first}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    let later = pane.wait_for("loads per second");
    assert_ne!(first, later, "the view moves");
    assert!(later.contains("of 60 s"), "{later}");
    pane.keys("l");
    pane.wait_for("log scale");
    pane.keys("q");
    let end = pane.ended();
    assert!(end.starts_with("exit=0"), "{end}");
    // the terminal is back in cooked mode with echo
    assert!(end.contains(" icanon") && end.contains(" echo "), "{end}");
    let s = parse(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(s.interrupted, "stopped early");
    let c = &s.counts;
    assert!(c.scheduled > 0);
    assert_eq!(
        c.scheduled,
        c.success
            + c.timeout
            + c.dropped
            + c.cancelled
            + c.call_error
            + c.response_error
            + c.callee_error
            + c.fatal
    );
    // the report is on the normal screen
    let screen = pane.screen();
    assert!(screen.contains("accounted"), "{screen}");
}

/// Three shards of one run at 300 loads/s for `secs`, starting in 2 s (see `shards`).
fn three_shards(
    name: &str,
    url: &str,
    secs: u32,
) -> (Vec<Server>, Vec<String>, Vec<std::path::PathBuf>) {
    let d = format!("{secs}s");
    shards(name, url, 3, &["-r", "300", "-d", &d], 2, "4s")
}

#[test]
fn watch_sums_the_shards_live_and_ends_with_the_merge() {
    let (_http, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    let (_shards, metrics, files) = three_shards("watch-fleet", &url, 2);
    let out = bin()
        .arg("watch")
        .args(&metrics)
        .args(["--every", "300ms", "--give-up", "10s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // lines while the run went, every shard answering, the counts growing
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("shards 3/3")).collect();
    assert!(lines.len() >= 4, "{text}");
    assert!(lines.iter().any(|l| !l.contains("scheduled 0 ")), "{text}");
    let m = merged("watch-fleet", &files);
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "fleet ended: 3 shards, scheduled {}, success {}, ",
            m.counts.scheduled, m.counts.success
        )) && last.ends_with("(every load accounted for)"),
        "{last} vs {:?}",
        m.counts
    );
}

#[test]
fn watch_names_a_shard_that_died() {
    let (_http, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    let (mut shards, metrics, _) = three_shards("watch-dead", &url, 3);
    let watch = bin()
        .arg("watch")
        .args(&metrics)
        .args(["--every", "300ms", "--give-up", "2s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // shard 2 dies mid-run
    std::thread::sleep(Duration::from_millis(3000));
    let _ = shards[2].kill();
    let (out, took) = wait_with_timeout(watch, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}{err}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(text.contains(&format!("missing: {}", metrics[2])), "{text}");
    assert!(
        err.contains(&metrics[2]) && err.contains("did not end"),
        "{err}"
    );
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "needs tmux (apt-get install tmux)")]
fn watch_shows_the_fleet_in_the_dashboard() {
    let (_http, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    let (_shards, metrics, files) = three_shards("watch-tui", &url, 4);
    let pane = Pane::start_cmd(
        "watch-tui",
        "",
        &format!("watch {} --every 500ms --tui", metrics.join(" ")),
    );
    let view = pane.wait_for("loads per second");
    assert!(view.contains("fleet of 3"), "{view}");
    let end = pane.ended();
    assert!(end.starts_with("exit=0"), "{end}");
    let m = merged("watch-tui", &files);
    let screen = pane.screen();
    assert!(
        screen.contains(&format!(
            "fleet ended: 3 shards, scheduled {}, success {}",
            m.counts.scheduled, m.counts.success
        )),
        "{screen}"
    );
}
