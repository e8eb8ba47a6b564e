//! Helpers shared by the CLI tests: the binary, servers it runs, files, peak RSS.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use loadgen::summary::codec::SummaryJson as Summary;

/// Reads a JSON summary the CLI wrote (the contract: its document, every field named).
pub fn parse(text: &str) -> Result<Summary, String> {
    // the model reads it (checking every value); the document is what the assertions read
    loadgen::Summary::from_json(text).map_err(|e| e.to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).stdin(Stdio::null()).output().unwrap()
}

pub fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

pub fn wait_with_timeout(mut child: Child, limit: Duration) -> (Output, Duration) {
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), t.elapsed());
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("loadgen did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A server process, killed when dropped (so a failed test leaves none behind).
pub struct Server(pub Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the Python peer `tests/peers/SCRIPT` with `args` (a server nobody here wrote),
/// which prints the port it listens on as its first line: the process (killed when
/// dropped; its stdin is a pipe that closes then) and the port.
pub fn python_peer(script: &str, args: &[&str]) -> (Server, u16) {
    let path = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3")
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // peers log every connection a run's end drops
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{script} printed '{line}'"));
    (Server(child), port)
}

/// Starts `loadgen serve ARGS` and returns it, the addresses it printed, and its later
/// stderr lines.
pub fn serve(args: &[&str]) -> (Server, Vec<String>, std::sync::mpsc::Receiver<String>) {
    let mut child = bin()
        .arg("serve")
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let want = if args[0] == "echo" {
        args.iter()
            .filter(|a| **a == "--tcp" || **a == "--udp")
            .count()
    } else {
        1
    };
    let mut addrs = Vec::new();
    while addrs.len() < want {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server prints its address");
        assert!(line.contains("listening on"), "{line}");
        addrs.push(
            line.split("listening on ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .trim()
                .to_string(),
        );
    }
    (Server(child), addrs, rx)
}

pub fn kv(out: &Output) -> std::collections::HashMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Runs `loadgen ARGS` to the end and returns its exit code, stderr and peak RSS (KiB).
/// The child is reaped by `wait4` (for its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn run_measured(args: &[&str]) -> (Option<i32>, String, u64) {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    // The child's own peak. wait4's ru_maxrss alone will not do: exec seeds the child's
    // with the parent's peak RSS, and this test process, running other tests in parallel,
    // can be the larger. So: VmHWM is sampled from /proc while the child runs (stopping once
    // it has exited but before it is reaped, so its PID names no other process yet), and
    // ru_maxrss is taken when it exceeds this process's own peak, as then it is the child's
    // exactly (otherwise growth in the child's last 2 ms is missed).
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                peak = peak.max(vm_hwm_kb(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    // SAFETY: waitid on our own child with WNOWAIT: it is left a zombie, reaped below.
    unsafe {
        let mut info = std::mem::zeroed::<libc::siginfo_t>();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        );
        assert_eq!(r, 0);
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    let sampled = sampler.join().unwrap();
    let mut status = 0;
    // SAFETY: wait4 reaps our own exited child, filling the status and rusage we own.
    let ru = unsafe {
        let mut ru = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::wait4(pid as i32, &mut status, 0, &mut ru), pid as i32);
        ru
    };
    let own = vm_hwm_kb(std::process::id()).unwrap_or(u64::MAX);
    let maxrss = ru.ru_maxrss as u64;
    // above our own peak, ru_maxrss is the child's; else the samples, unless the child
    // ended before the first (then ru_maxrss, an upper bound, as no bound is missed)
    let peak = if maxrss > own || sampled == 0 {
        maxrss
    } else {
        sampled
    };
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, reader.join().unwrap(), peak)
}

/// VmHWM (peak RSS, KiB) of a live process, from /proc; `None` once it has exited.
pub fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `loadgen run ARGS --json -` → (exit code, summary, stderr).
pub fn run_json(args: &[&str]) -> (Option<i32>, Option<Summary>, String) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", "-", "--summary", "none", "--quiet"]);
    let out = run(&all);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let s = match parse(&String::from_utf8_lossy(&out.stdout)) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("the summary does not read: {e}");
            None
        }
    };
    (out.status.code(), s, err)
}

/// Writes `text` to a temporary file named `name`; its path.
pub fn write(name: &str, text: impl AsRef<[u8]>) -> String {
    let p = tmp(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// The `--metrics` address a run prints on `err` ("loadgen: metrics on http://ADDR/metrics"),
/// reading past other lines (a demo's server address).
pub fn metrics_addr(err: &mut impl BufRead) -> String {
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        if let Some(a) = line.trim().strip_prefix("loadgen: metrics on http://") {
            return a.trim_end_matches("/metrics").to_string();
        }
        line.clear();
    }
    panic!("no metrics address on stderr");
}

/// Scrapes as Prometheus does (asking for OpenMetrics), or as promtool reads (classic).
pub fn scrape_as(addr: &str, openmetrics: bool) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let accept = if openmetrics {
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    } else {
        "text/plain"
    };
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let kind = if openmetrics {
        "application/openmetrics-text"
    } else {
        "text/plain; version=0.0.4"
    };
    assert!(head.to_lowercase().contains(kind), "{head}");
    assert_eq!(openmetrics, body.ends_with("# EOF\n"), "{body}");
    body.to_string()
}

pub fn scrape(addr: &str) -> String {
    scrape_as(addr, true)
}

/// The sum of a metric's samples whose line contains every one of `with`.
pub fn total(text: &str, name: &str, with: &[&str]) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && with.iter().all(|w| l.contains(w)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

/// Shards of one run: `loadgen run URL ARGS --shard I/N --start-at (now + start_in s)
/// --metrics 127.0.0.1:0 --metrics-linger LINGER --json …`, for I in 0..N. The processes
/// (killed when dropped), their metrics addresses and their JSON summaries' paths.
pub fn shards(
    name: &str,
    url: &str,
    n: usize,
    args: &[&str],
    start_in: u64,
    linger: &str,
) -> (Vec<Server>, Vec<String>, Vec<std::path::PathBuf>) {
    // fractional Unix seconds: the shards have all of `start_in` to start
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + start_in as f64;
    let start = format!("{start:.3}");
    let (mut procs, mut addrs, mut files) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let json = tmp(&format!("{name}-{i}.json"));
        let _ = std::fs::remove_file(&json);
        let mut child = bin()
            .args(["run", url])
            .args(args)
            .args(["--shard", &format!("{i}/{n}"), "--start-at", &start])
            .args(["--metrics", "127.0.0.1:0", "--metrics-linger", linger])
            .args([
                "--json",
                json.to_str().unwrap(),
                "--summary",
                "none",
                "--quiet",
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        addrs.push(metrics_addr(&mut err));
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        procs.push(Server(child));
        files.push(json);
    }
    (procs, addrs, files)
}

/// `loadgen merge FILES --json NAME-merged.json`, once every file is written: the merged
/// summary's path.
pub fn merge_files(name: &str, files: &[std::path::PathBuf]) -> std::path::PathBuf {
    let t = Instant::now();
    while !files
        .iter()
        .all(|f| std::fs::read_to_string(f).is_ok_and(|s| s.trim_end().ends_with('}')))
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the shards did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = tmp(&format!("{name}-merged.json"));
    let r = bin()
        .arg("merge")
        .args(files)
        .args(["--json", out.to_str().unwrap(), "--summary", "none"])
        .output()
        .unwrap();
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    out
}

/// The merge of `files` (see [`merge_files`]), read.
pub fn merged(name: &str, files: &[std::path::PathBuf]) -> Summary {
    parse(&std::fs::read_to_string(merge_files(name, files)).unwrap()).unwrap()
}

/// A self-signed certificate for 127.0.0.1, written as `NAME.pem` and `NAME.key`: their
/// paths.
pub fn cert(name: &str) -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (c, k) = (tmp(&format!("{name}.pem")), tmp(&format!("{name}.key")));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

/// `run ARGS`, which must exit 0 without a panic: its JSON summary.
pub fn ok_run(args: &[&str]) -> Summary {
    let (code, s, err) = run_json(args);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    s.unwrap()
}

/// A summary's error groups as (outcome, message) pairs, the most frequent first.
pub fn errors(s: &Summary) -> Vec<(String, String)> {
    s.errors
        .iter()
        .map(|e| (e.outcome.clone(), e.message.clone()))
        .collect()
}
