//! `loadgen compare`: two saved runs side by side, verdicts that do not call noise a
//! regression, and --fail-if gates for CI.

mod support;

use support::*;

/// A run of 300 loads/s for 2 s to `url`, saved as `name`.
fn saved(url: &str, name: &str) -> String {
    let path = tmp(name).display().to_string();
    let out = run(&[
        "run",
        url,
        "-r",
        "300",
        "-d",
        "2s",
        "--json",
        &path,
        "--summary",
        "none",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

#[test]
fn a_slower_run_is_worse_and_fails_its_gate_a_rerun_is_the_same() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let fast = format!("http://{}/", addrs[0]);
    let slow = format!("http://{}/?delay=5ms", addrs[0]);
    let a = saved(&fast, "cmp-a.json");
    let b = saved(&fast, "cmp-b.json");
    let c = saved(&slow, "cmp-c.json");

    // the slower run: p50 worse, the gate fails with exit code 2
    let json = tmp("cmp.json").display().to_string();
    let html = tmp("cmp.html").display().to_string();
    let out = run(&[
        "compare",
        &a,
        &c,
        "--fail-if",
        "p50 +10%",
        "--fail-if",
        "errors +1pp",
        "--json",
        &json,
        "--html",
        &html,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}{err}");
    assert!(err.contains("fail-if gates failed: p50 +10%"), "{err}");
    assert!(text.contains("the runs differ: targets"), "{text}");
    let p50 = text.lines().find(|l| l.contains("latency p50")).unwrap();
    assert!(p50.ends_with("worse"), "{p50}");
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(d["schema"], "loadgen.compare/v1");
    let fig = |name: &str| {
        d["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["figure"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(fig("latency p50")["verdict"], "worse");
    assert!(fig("latency p50")["new"].as_f64().unwrap() >= 5.0);
    assert_eq!(fig("errors")["verdict"], "same");
    assert_eq!(d["fail_if"][0]["failed"], true);
    assert_eq!(d["fail_if"][1]["failed"], false);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Latency by percentile, both runs"));
    assert!(page.contains("\"label\":\"base\"") && page.contains("\"label\":\"new\""));

    // a rerun of the same load (on a shared machine its latency may move: a median of a
    // few hundred µs can double, so the gate is in ms): generous gates hold, and the rates
    // and errors of the same schedule are the same
    let out = run(&[
        "compare",
        &a,
        &b,
        "--fail-if",
        "p50 +5ms",
        "--fail-if",
        "tps -10%",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for figure in ["throughput", "TPS", "errors"] {
        let line = text.lines().find(|l| l.contains(figure)).unwrap();
        assert!(line.ends_with("same"), "{line}: {text}");
    }
}

#[test]
fn bad_gates_and_files_are_one_line_errors() {
    let a = write(
        "cmp-bad.json",
        include_str!("../../loadgen/tests/data/summary.json"),
    );
    for (args, want) in [
        (
            vec!["compare", &a, &a, "--fail-if", "tps +5%"],
            "get worse downwards",
        ),
        (
            vec!["compare", &a, &a, "--fail-if", "errors +1%"],
            "percentage points",
        ),
        (
            vec!["compare", &a, &a, "--fail-if", "p99"],
            "a figure and a bound",
        ),
        (vec!["compare", &a, "/nonexistent.json"], "cannot read"),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // a file against itself: every verdict same (or not judged)
    let out = run(&["compare", &a, &a, "--fail-if", "p99 +0%"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("worse") && !text.contains("better"),
        "{text}"
    );
}
