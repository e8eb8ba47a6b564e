//! Journeys from the command line: scenario files (broken ones refused at their line and
//! column, before any load), the examples against the demo API counted on both sides,
//! the flags over a file, a flags-only run as a file, and the plateau past capacity.

mod support;

use support::*;

/// The server's own counts (`GET /api/stats`).
fn stats(addr: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /api/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

fn example(name: &str) -> String {
    format!(
        "{}/../../examples/scenarios/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn broken_scenario_files_get_one_line_with_their_place_and_send_nothing() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let base = format!("http://{}", addrs[0]);
    let head = format!(
        "version: 1\ndefaults: {{base: \"{base}\"}}\nscenarios:\n  - name: s\n    steps:\n"
    );
    let step = |s: &str| format!("{head}{s}");
    let cases: Vec<(String, String, &str)> = vec![
        ("syntax".into(), "version: 1\nscenarios: [\n".into(), "2:12: unclosed bracket"),
        ("no version".into(), "scenarios: []\n".into(), "'version: 1'"),
        ("version 2".into(), "version: 2\nscenarios: []\n".into(), "1:10: version 2 is not one"),
        ("unknown key".into(), step("      - get: /api/home\n        chek: {status: 200}\n"), "7:9: unknown field 'chek', expected one of"),
        ("duplicate key".into(), step("      - get: /api/home\n        get: /api/items\n"), "7:9: the key 'get' is given twice"),
        ("unknown variable".into(), step("      - get: /api/items/{{tokn}}\n"), "6:14: url: unknown variable 'tokn'"),
        ("bad jsonpath".into(), step("      - get: /api/home\n        check: {jsonpath: {\"$.[\": 1}}\n"), "7:28: bad JSONPath '$.['"),
        ("bad regex".into(), step("      - get: /api/home\n        check: {regex: \"a(\"}\n"), "7:24: bad regex 'a('"),
        ("loop without bound".into(), step("      - get: /api/items\n        capture: {ids: {jsonpath: \"$.items[*].id\", all: true}}\n      - loop: {over: ids, steps: [{get: /api/home}]}\n"), "8:22: a loop over 'ids' needs max"),
        ("loop without count".into(), step("      - loop: {steps: [{get: /api/home}]}\n"), "a loop needs a bound"),
        ("weight 0".into(), format!("version: 1\ndefaults: {{base: \"{base}\"}}\nscenarios:\n  - name: s\n    weight: 0\n    steps: [{{get: /}}]\n"), "5:13: weight must be a whole number in 1..="),
        ("empty steps".into(), "version: 1\nscenarios:\n  - name: s\n    steps: []\n".into(), "3:5: scenario 's' has no steps"),
        ("two kinds".into(), step("      - get: /a\n        think: 1s\n"), "6:9: a step is one thing"),
        ("relative without base".into(), "version: 1\nscenarios:\n  - name: s\n    steps:\n      - get: /a\n".into(), "5:14: '/a' is relative"),
        ("check on think".into(), step("      - think: 1s\n        check: {status: 200}\n"), "'check' belongs to a request step"),
        ("regex without group".into(), step("      - get: /a\n        capture: {x: {regex: \"a.b\"}}\n"), "a capture regex needs one named group"),
        ("list in a template".into(), step("      - get: /a\n        capture: {ids: {jsonpath: $.x, all: true}}\n      - get: /b/{{ids}}\n"), "unknown variable 'ids'"),
        ("bad think".into(), step("      - think: soon\n"), "6:16: 'soon' is not a duration"),
        ("unknown step in a threshold".into(), format!("version: 1\ndefaults: {{base: \"{base}\"}}\nthresholds: [\"step:logn p99<1s\"]\nscenarios:\n  - name: s\n    steps: [{{name: login, get: /}}]\n"), "3:14: 'step:logn p99<1s': no step is named 'logn' (there are: login)"),
        ("bad threshold".into(), "version: 1\nthresholds: [\"p99 < fast\"]\nscenarios: []\n".into(), "2:14: 'p99 < fast'"),
        ("name twice".into(), step("      - {name: a, get: /}\n      - {name: a, get: /x}\n"), "the name 'a' is used twice"),
        ("vus and rate".into(), format!("version: 1\nload: {{vus: 5, rate: 10}}\ndefaults: {{base: \"{base}\"}}\nscenarios:\n  - name: s\n    steps: [{{get: /}}]\n"), "2:13: vus is the closed model"),
        ("a method as a key".into(), step("      - post: {url: /a, method: GET}\n"), "the method is the key"),
        ("templated host".into(), step("      - get: \"http://{{index}}:80/\"\n"), "templates go in the path"),
        ("a parallel item that is no request".into(), step("      - parallel: [{name: x}]\n"), "6:20: a step needs one of"),
        ("nested loops, one item name".into(), step("      - get: /a\n        capture: {ids: {jsonpath: $.x, all: true}}\n      - loop: {over: ids, max: 2, steps: [{loop: {over: ids, max: 2, steps: [{get: /b}]}}]}\n"), "is the item of an enclosing loop"),
        ("else sees then's capture".into(), step("      - get: /a\n        capture: {x: {jsonpath: $.x}}\n      - if: {var: x, exists: true, then: [{get: /b, capture: {y: {jsonpath: $.y}}}], else: [{get: \"/c/{{y}}\"}]}\n"), "unknown variable 'y'"),
        ("a gRPC timeout of 0".into(), step("      - grpc: {url: \"grpc://127.0.0.1:1\", call: a.B/C}\n        timeout: 0s\n"), "timeout '0s'"),
        ("alias bomb".into(), "version: 1\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nscenarios: []\n".into(), ":"),
    ];
    let path = tmp("broken.yaml");
    for (what, text, want) in &cases {
        std::fs::write(&path, text).unwrap();
        let out = run(&["run", path.to_str().unwrap(), "-d", "200ms"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{what}: {err}");
        let want_prefix = format!("loadgen: {}:", path.display());
        assert!(lines[0].starts_with(&want_prefix), "{what}: {err}");
        assert!(lines[0].contains(want), "{what}: want {want:?} in {err}");
        assert!(out.stdout.is_empty(), "{what}");
    }
    let s = stats(&addrs[0]);
    assert_eq!(s["logins"], 0);
    assert_eq!(s["cookies_set"], 0, "no broken file sent a load");
}

#[test]
fn the_examples_run_against_the_demo_api_and_the_server_agrees() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let base = format!("http://{}", addrs[0]);
    let run_file = |name: &str, extra: &[&str]| {
        let file = example(name);
        let mut args = vec![
            file.as_str(),
            "--base",
            base.as_str(),
            "-r",
            "40",
            "-d",
            "500ms",
            "--threads",
            "1",
        ];
        args.extend_from_slice(extra);
        let (code, s, err) = run_json(&args);
        assert_eq!(code, Some(0), "{name}: {err}");
        s.unwrap()
    };
    let shop = run_file("shop.yaml", &[]);
    let n = shop.counts.scheduled;
    assert_eq!(n, 20);
    assert_eq!(shop.counts.success, n, "{:?}", shop.errors);
    let names: Vec<&str> = shop.per_step.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(names, ["login", "items", "item", "add to cart"]);
    assert_eq!(shop.per_step[2].counts.success, 2 * n);
    assert!(
        shop.thresholds.iter().all(|t| t.ok),
        "{:?}",
        shop.thresholds
    );
    let st = stats(&addrs[0]);
    assert_eq!(
        (st["tokens_issued"].as_u64(), st["tokens_seen"].as_u64()),
        (Some(n), Some(3 * n))
    );
    assert_eq!(st["cart_adds"], n);
    assert_eq!(st["cookies_returned"], n);

    let crud = run_file("crud.yaml", &[]);
    assert_eq!(
        crud.counts.success, crud.counts.scheduled,
        "{:?}",
        crud.errors
    );
    let st = stats(&addrs[0]);
    assert_eq!(st["created"], crud.counts.scheduled);
    assert_eq!(st["deleted"], crud.counts.scheduled);
    assert_eq!(st["things_alive"], 0);

    let browse = run_file("browse.yaml", &[]);
    assert_eq!(
        browse.counts.success, browse.counts.scheduled,
        "{:?}",
        browse.errors
    );
    let group = browse.per_step.iter().find(|s| s.kind == "group").unwrap();
    assert_eq!(
        (group.step.as_str(), group.counts.success),
        ("visit", browse.counts.scheduled)
    );
    // the think time is inside the group's time, not the steps'
    assert!(group.response_ms.p50 >= 50.0, "{:?}", group.response_ms);
    let st = stats(&addrs[0]);
    assert_eq!(
        st["cookies_returned"].as_u64(),
        Some(n + browse.counts.scheduled)
    );

    // a unique feed of 4 rows: 4 journeys, then the run ends
    let users = run_file("users.yaml", &[]);
    assert_eq!(
        (users.counts.scheduled, users.counts.success),
        (4, 4),
        "{:?}",
        users.errors
    );
    let st = stats(&addrs[0]);
    assert_eq!(st["tokens_issued"].as_u64(), Some(n + 4));
}

#[test]
fn a_flags_only_run_prints_the_scenario_it_is_and_the_file_runs_the_same() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/echo", addrs[0]);
    let flags = [
        "-r",
        "50",
        "-d",
        "400ms",
        "-m",
        "POST",
        "--body",
        "hi",
        "--expect-body",
        "hi",
        "--threads",
        "1",
    ];
    let mut args = vec!["run", url.as_str()];
    args.extend_from_slice(&flags);
    args.push("--print-scenario");
    let out = run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.starts_with("version: 1\n"), "{yaml}");
    assert!(
        yaml.contains("post:") && yaml.contains("body: hi"),
        "{yaml}"
    );
    let file = write("flags.yaml", &yaml);
    let (code, s, err) = run_json(&[&file]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(
        (s.counts.scheduled, s.counts.success),
        (20, 20),
        "{:?}",
        s.errors
    );
    assert_eq!(s.per_step.len(), 1);
    assert_eq!(s.per_step[0].checks, 40, "status and body, per journey");
    // the same flags without the file: the same loads
    let mut direct = vec![url.as_str()];
    direct.extend_from_slice(&flags);
    let (_, d, _) = run_json(&direct);
    assert_eq!(d.unwrap().counts.success, 20);
    // the flags of run override a file's keys
    let (_, s, err) = run_json(&[
        &file,
        "-r",
        "25",
        "--threshold",
        "step:POST http://placeholder p99<1s",
    ]);
    assert!(
        s.is_none(),
        "an unknown step in a flag's threshold is refused: {err}"
    );
    let (_, s, err) = run_json(&[&file, "-r", "25"]);
    assert_eq!(s.unwrap().counts.scheduled, 10, "{err}");
    // a file's request flags are its own
    let out = run(&["run", &file, "--body", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--body describes a single request"));
}

#[test]
fn demo_scenario_runs_out_of_the_box() {
    let out = run(&[
        "demo",
        "--scenario",
        "-d",
        "600ms",
        "--json",
        "-",
        "--summary",
        "none",
        "--quiet",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert!(s.counts.scheduled >= 25, "the file's 50/s for 600 ms");
    assert_eq!(s.counts.success, s.counts.scheduled, "{:?}", s.errors);
    assert_eq!(s.per_step.len(), 4);
    assert!(s.journeys.is_some());
}

#[test]
fn past_capacity_journeys_plateau_and_the_excess_is_dropped() {
    // 2 requests of 20 ms each: a journey takes 40 ms; 10 in flight at most: 250/s
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--delay", "20ms"]);
    let file = write(
        "slow.yaml",
        format!(
            "version: 1\ndefaults: {{base: \"http://{}\", timeout: 500ms}}\nload: {{concurrency: 10}}\nscenarios:\n  - name: s\n    steps:\n      - get: /api/home\n      - get: /api/home\n",
            addrs[0]
        ),
    );
    let mut ratio = Vec::new();
    for rate in ["500", "1250"] {
        let (code, s, err) = run_json(&[&file, "-r", rate, "-d", "1s", "--threads", "1"]);
        assert_eq!(code, Some(0), "{err}");
        let s = s.unwrap();
        let ok = s.tps;
        assert!(s.counts.dropped > 0, "{rate}: the excess is dropped");
        assert!(
            s.counts.timeout == 0 && s.counts.call_error == 0,
            "{:?}",
            s.counts
        );
        // at most what 10 journeys of 40 ms can do, and most of it
        assert!(ok <= 260.0, "{rate}: {ok}");
        assert!(ok >= 150.0, "{rate}: {ok}");
        // latency from the intended start: the wait shows (journeys run 40 ms at best)
        assert!(s.latency_ms.p50 >= 40.0, "{:?}", s.latency_ms);
        // ends on time: the schedule, then the loads still waiting (500 ms at most) and
        // the last journeys
        assert!(s.elapsed_s < 2.5, "ends on time: {}", s.elapsed_s);
        ratio.push(ok);
    }
    assert!(ratio[1] >= 0.8 * ratio[0], "no collapse at 5x: {ratio:?}");
}

#[test]
fn steps_are_watched_live_and_the_live_sums_are_the_summary() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let base = format!("http://{}", addrs[0]);
    let live = tmp("journeys-live.jsonl");
    let json = tmp("journeys-watch.json");
    let file = example("shop.yaml");
    let mut child = bin()
        .args([
            "run",
            &file,
            "--base",
            &base,
            "-r",
            "40",
            "-d",
            "2s",
            "--quiet",
            "--summary",
            "none",
        ])
        .args(["--metrics", "127.0.0.1:0", "--metrics-linger", "5s"])
        .args([
            "--live",
            live.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let addr = metrics_addr(&mut err);
    let t = std::time::Instant::now();
    while !json.exists() || std::fs::read_to_string(&json).unwrap().is_empty() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "no summary"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let s = parse(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let m = scrape(&addr);
    for st in &s.per_step {
        let label = format!("step=\"{}\"", st.step);
        assert_eq!(
            total(
                &m,
                "loadgen_step_runs_total",
                &[&label, "outcome=\"success\""]
            ),
            st.counts.success,
            "{label}"
        );
        assert_eq!(
            total(&m, "loadgen_step_response_seconds_count", &[&label]),
            st.counts.scheduled,
            "{label}: every run was answered"
        );
    }
    assert_eq!(
        total(&m, "loadgen_journey_active_seconds_count", &[]),
        s.counts.success
    );
    let (out, _) = wait_with_timeout(child, std::time::Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&live).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, st) in s.per_step.iter().enumerate() {
        let runs: u64 = lines
            .iter()
            .map(|l| l["steps"][i]["counts"]["scheduled"].as_u64().unwrap())
            .sum();
        assert_eq!(runs, st.counts.scheduled, "{}", st.step);
        assert_eq!(lines[0]["steps"][i]["step"], st.step.as_str());
    }
}

#[test]
fn search_finds_the_journey_rate_that_meets_a_step_slo() {
    // 2 requests of 10 ms each, 5 journeys in flight at most: about 250 journeys/s (the
    // SLOs on p90: a step's p99 over 400 ms is two loads, which a busy machine's stall can
    // push past 100 ms far below capacity)
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--delay", "10ms"]);
    let file = write(
        "search.yaml",
        format!(
            "version: 1\ndefaults: {{base: \"http://{}\"}}\nload: {{concurrency: 5}}\nscenarios:\n  - name: s\n    steps:\n      - {{name: a, get: /api/home}}\n      - {{name: b, get: /api/home}}\n",
            addrs[0]
        ),
    );
    let out = run(&[
        "search",
        &file,
        "--slo",
        "step:b p90<100ms",
        "--slo",
        "journey p90<100ms",
        "--min-rate",
        "50",
        "--max-rate",
        "1600",
        "--step-duration",
        "400ms",
        "--precision",
        "0.5",
        "--threads",
        "1",
        "--json",
        "-",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = text
        .lines()
        .skip_while(|l| !l.starts_with('{'))
        .collect::<Vec<_>>()
        .join("\n");
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let answer = r["answer"].as_f64().unwrap();
    // the journey's latency from its intended start shows the wait for a free slot
    assert!((100.0..=400.0).contains(&answer), "{answer}: {text}");
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["ok"] == false)
    );
    // an SLO on a step the file does not have is refused before the first step
    let out = run(&[
        "search",
        &file,
        "--slo",
        "step:c p99<1s",
        "--step-duration",
        "200ms",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no step is named 'c'"));
}

#[test]
fn websocket_steps_chain_captures_and_checks_through_a_journey() {
    let (_srv, addrs, _) = serve(&["ws", "--listen", "127.0.0.1:0"]);
    let yaml = std::fs::read_to_string(example("chat.yaml"))
        .unwrap()
        .replace("127.0.0.1:8765", &addrs[0]);
    let file = write("chat.yaml", &yaml);
    let s = ok_run(&[&file, "-r", "40", "-d", "500ms", "--threads", "1"]);
    assert_eq!(s.counts.scheduled, 20);
    assert_eq!(s.counts.success, 20, "{:?}", s.errors);
    let steps: Vec<_> = s
        .per_step
        .iter()
        .map(|p| (p.step.as_str(), p.counts.success))
        .collect();
    assert_eq!(steps, [("hello", 20), ("again", 20), ("bye", 20)]);
    // a check on the message that fails, a step that waits for nothing
    let failing = yaml.replace("body: 'you said: hello'", "body: 'you said: goodbye'");
    let file = write("chat-failing.yaml", &failing);
    let s = ok_run(&[&file, "-r", "40", "-d", "500ms", "--threads", "1"]);
    assert_eq!(s.counts.response_error, 20, "{:?}", s.errors);
    // broken steps: one line each, with the place
    for (step, want) in [
        (
            "ws: {send: x, match: $.id, receive: false}",
            "match pairs a sent message",
        ),
        (
            "ws: {url: http://127.0.0.1:9/}",
            "a WebSocket step's url is ws://",
        ),
        ("ws: {receive: false}", "sends, receives or closes"),
    ] {
        let bad = write(
            "ws-bad.yaml",
            format!(
                "version: 1\ndefaults: {{base: \"ws://{}/\"}}\nscenarios:\n  - name: s\n    steps:\n      - {step}\n",
                addrs[0]
            ),
        );
        let out = run(&["run", &bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{step}: {err}");
        assert!(
            err.contains("ws-bad.yaml:6:") && err.contains(want),
            "{step}: {err}"
        );
    }
}

#[test]
fn grpc_steps_chain_a_captured_answer_into_the_next_call() {
    let (_srv, addrs, _) = serve(&["grpc", "--listen", "127.0.0.1:0"]);
    // the second answer's formula holds the first answer's result, which it doubled
    let yaml = std::fs::read_to_string(example("grpc.yaml"))
        .unwrap()
        .replace("127.0.0.1:50051", &addrs[0])
        .replace(
            r#"regex: '"formula":"\d+ \* 2 = \d+"'"#,
            r#"body: '"formula":"{{sum}} * 2 = '"#,
        );
    assert!(yaml.contains("{{sum}} * 2"), "{yaml}");
    let file = write("grpc.yaml", &yaml);
    let s = ok_run(&[&file, "-r", "40", "-d", "500ms", "--threads", "1"]);
    assert_eq!(s.counts.scheduled, 20);
    assert_eq!(s.counts.success, 20, "{:?}", s.errors);
    assert_eq!(s.per_step[1].counts.success, 20);
    // a call the method does not take: one line, before the run
    let bad = write(
        "grpc-bad.yaml",
        format!(
            "version: 1\nscenarios:\n  - name: s\n    steps:\n      - grpc: {{url: \"grpc://{}\", call: calc.Calc/Nope}}\n",
            addrs[0]
        ),
    );
    let out = run(&["run", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("grpc-bad.yaml:5:") && err.contains("has no method Nope"),
        "{err}"
    );
}

#[test]
fn shards_of_a_journey_run_merge_every_step_exactly() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let base = format!("http://{}", addrs[0]);
    let file = example("shop.yaml");
    let mut parts = Vec::new();
    for i in 0..2 {
        let out = tmp(&format!("shop-shard-{i}.json"));
        let shard = format!("{i}/2");
        let (code, s, err) = run_json(&[
            &file,
            "--base",
            &base,
            "-r",
            "40",
            "-d",
            "500ms",
            "--threads",
            "1",
            "--shard",
            &shard,
        ]);
        assert_eq!(code, Some(0), "{err}");
        let s = s.unwrap();
        std::fs::write(&out, serde_json::to_string(&s).unwrap()).unwrap();
        parts.push((out, s));
    }
    let merged = tmp("shop-merged.json");
    let out = run(&[
        "merge",
        parts[0].0.to_str().unwrap(),
        parts[1].0.to_str().unwrap(),
        "--json",
        merged.to_str().unwrap(),
        "--summary",
        "none",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = parse(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    assert_eq!(m.counts.scheduled, 20);
    for (i, st) in m.per_step.iter().enumerate() {
        let sum: u64 = parts
            .iter()
            .map(|(_, s)| s.per_step[i].counts.success)
            .sum();
        assert_eq!(st.counts.success, sum, "{}", st.step);
        let checks: u64 = parts.iter().map(|(_, s)| s.per_step[i].checks).sum();
        assert_eq!(st.checks, checks);
    }
    // a single-call summary is not a shard of a journey run
    let (_, single, _) = run_json(&[
        &format!("{base}/"),
        "-r",
        "20",
        "-d",
        "200ms",
        "--shard",
        "1/2",
    ]);
    let other = tmp("single-shard.json");
    std::fs::write(&other, serde_json::to_string(&single.unwrap()).unwrap()).unwrap();
    let out = run(&[
        "merge",
        parts[0].0.to_str().unwrap(),
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
}
