//! The HTML report in a real browser: render the sample summary, load the page in headless
//! Chromium (offline, bounded to a minute) and check from the dumped DOM that every chart
//! drew pixels (`data-charts-rendered`) and that the page logged no script or CSP error.
//! Ignored where no Chromium is on `PATH` (see build.rs); CI installs it and requires it.
#![cfg(unix)]

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use loadgen::Summary;

const BROWSERS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];
const LIMIT: Duration = Duration::from_secs(60);

/// The first Chromium-like browser on `PATH`.
fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| BROWSERS.iter().map(move |b| dir.join(b)))
        .find(|p| p.is_file())
}

#[test]
#[cfg_attr(
    not(has_chromium),
    ignore = "needs Chromium (apt-get install chromium)"
)]
fn every_chart_renders_in_headless_chromium() {
    let chromium = browser()
        .unwrap_or_else(|| panic!("no Chromium on PATH (looked for {})", BROWSERS.join(", ")));
    let dir = scratch_dir();
    let page = dir.join("report.html");
    let s = Summary::from_json(include_str!("../../loadgen/tests/data/summary.json")).unwrap();
    let mut f = File::create(&page).unwrap();
    loadgen::report::html::write(&s, &mut f).unwrap();
    drop(f);

    let (dom, log) = run_chromium(&chromium, &page, &dir);
    let _ = fs::remove_dir_all(&dir);

    let body = body_tag(&dom);
    assert!(
        body.contains("data-charts-expected=\"4\""),
        "body tag: {body}\nchromium log:\n{log}"
    );
    assert!(
        body.contains("data-charts-rendered=\"4\""),
        "not every chart rendered; body tag: {body}\nchromium log:\n{log}"
    );
    for bad in ["Uncaught", "Content Security Policy"] {
        assert!(!log.contains(bad), "the page logged {bad:?}:\n{log}");
    }
}

/// A fresh directory for the page, the output and Chromium's profile.
fn scratch_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("loadgen-html-{}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Loads `page` in headless Chromium: the dumped DOM and Chromium's log (with console
/// messages and the exit status).
fn run_chromium(chromium: &Path, page: &Path, dir: &Path) -> (String, String) {
    let dom_path = dir.join("dom.html");
    let log_path = dir.join("chromium.log");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(&dom_path).unwrap())
        .stderr(File::create(&log_path).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            panic!("chromium did not finish within {LIMIT:?}; log:\n{log}");
        }
        sleep(Duration::from_millis(100));
    };
    let dom = fs::read_to_string(&dom_path).unwrap_or_default();
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    (dom, format!("{log}chromium exited: {status}"))
}

/// Kills Chromium and its helper processes (it leads its own process group).
fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &format!("-{pid}")])
        .status();
}

/// The opening `<body …>` tag of the dumped DOM.
fn body_tag(dom: &str) -> &str {
    dom.find("<body")
        .and_then(|i| dom[i..].find('>').map(|j| &dom[i..=i + j]))
        .unwrap_or("(no <body> in the dumped DOM)")
}

#[test]
#[cfg_attr(
    not(has_chromium),
    ignore = "needs Chromium (apt-get install chromium)"
)]
fn the_comparison_page_renders_in_headless_chromium() {
    let chromium = browser()
        .unwrap_or_else(|| panic!("no Chromium on PATH (looked for {})", BROWSERS.join(", ")));
    let dir = scratch_dir();
    let page = dir.join("compare.html");
    let s = Summary::from_json(include_str!("../../loadgen/tests/data/summary.json")).unwrap();
    let c = loadgen::report::compare::compare(&s, &s);
    let mut f = File::create(&page).unwrap();
    loadgen::report::html::write_compare(&s, &s, &c, &[], ("a.json", "b.json"), &mut f).unwrap();
    drop(f);
    let (dom, log) = run_chromium(&chromium, &page, &dir);
    let _ = fs::remove_dir_all(&dir);
    let body = body_tag(&dom);
    assert!(
        body.contains("data-charts-expected=\"2\"") && body.contains("data-charts-rendered=\"2\""),
        "body tag: {body}\nchromium log:\n{log}"
    );
    for bad in ["Uncaught", "Content Security Policy"] {
        assert!(!log.contains(bad), "the page logged {bad:?}:\n{log}");
    }
}
