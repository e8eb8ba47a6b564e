//! CI gates that tell the truth: latency over every answered load, the successes' as a
//! selector, and a word when latency gates pass a failing service.

mod support;

use support::*;

#[test]
fn a_latency_gate_counts_the_failed_answers() {
    // half the loads are slow 503s: a gate on every answered load sees them, one on the
    // successes does not, and the second says that nothing gated the errors (the 503s
    // take 500 ms and the gates are at 250 ms: far from both, so a busy machine's stall
    // cannot decide a gate)
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let ok = format!("http://{}/", addrs[0]);
    let failing = format!("http://{}/?status=503&delay=500ms", addrs[0]);
    let gate = |threshold: &str| {
        run_json(&[
            &ok,
            &failing,
            "-r",
            "100",
            "-d",
            "1s",
            "--threshold",
            threshold,
        ])
    };
    let (code, s, err) = gate("p(99)<250ms");
    assert_eq!(code, Some(2), "the slow 503s break the gate: {err}");
    let s = s.unwrap();
    assert!(s.counts.callee_error > 0, "{:?}", s.counts);
    assert!(s.latency_ms.p99 >= 500.0, "{:?}", s.latency_ms);
    assert!(s.latency_ok_ms.p99 < 250.0, "{:?}", s.latency_ok_ms);
    assert!(s.thresholds[0].actual >= 500.0, "{:?}", s.thresholds);

    for selected in [
        "p(99){ok}<250ms",
        "http_req_duration{expected_response:true} p(99)<250",
    ] {
        let (code, s, err) = gate(selected);
        assert_eq!(code, Some(0), "{selected}: {err}");
        let s = s.unwrap();
        assert!(s.thresholds[0].ok && s.thresholds[0].actual < 250.0);
        assert!(
            err.contains("latency thresholds held, but")
                && err.contains("no threshold covers errors"),
            "{selected}: {err}"
        );
        assert!(
            s.warnings
                .iter()
                .any(|w| w.contains("no threshold covers errors"))
        );
    }
    // with a gate on errors, no such word (and the gate fails)
    let (code, s, err) = run_json(&[
        &ok,
        &failing,
        "-r",
        "100",
        "-d",
        "1s",
        "--threshold",
        "p(99){ok}<250ms",
        "--threshold",
        "errors<1%",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("latency thresholds held"), "{err}");
    assert!(s.unwrap().warnings.is_empty());
}

#[test]
fn the_text_report_names_the_population_of_each_row() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--error-rate", "0.5"]);
    let out = run(&[
        "run",
        &format!("http://{}/", addrs[0]),
        "-r",
        "200",
        "-d",
        "1s",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\n  latency ok "), "{text}");
    assert!(
        text.contains("answered loads (success, response_error, callee_error); latency ok: the"),
        "{text}"
    );
}

#[test]
fn k6_duration_names_read_in_a_run_of_single_requests() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    for t in [
        "http_req_duration: p(95)<200",
        "http_req_duration p(95)<200",
        "med<200",
        "avg<200",
    ] {
        let (code, s, err) = run_json(&[&url, "-r", "50", "-d", "500ms", "--threshold", t]);
        assert_eq!(code, Some(0), "{t}: {err}");
        let v = &s.unwrap().thresholds[0];
        assert!(v.ok && v.actual.is_finite() && v.actual > 0.0, "{t}: {v:?}");
    }
    for (t, why) in [
        ("errors{ok}<1%", "{ok} selects the successes' latency"),
        ("p99{fast}<1", "unknown selector"),
    ] {
        let (code, _, err) = run_json(&[&url, "-d", "1s", "--threshold", t]);
        assert_eq!(code, Some(1), "{t}");
        assert!(err.contains(why), "{t}: {err}");
    }
}

#[test]
fn peers_flags_get_their_meaning_or_a_hint() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    // taken: the rate under other names, flags for what loadgen always does
    for extra in [
        &["--rps", "20"][..],
        &["--qps", "20"][..],
        &["-r", "20", "--no-tui"][..],
        &["-r", "20", "-L"][..],
        &["-r", "20", "--latency"][..],
        &["-r", "20", "--latency-correction"][..],
    ] {
        let mut args = vec![url.as_str(), "-d", "300ms"];
        args.extend_from_slice(extra);
        let (code, s, err) = run_json(&args);
        assert_eq!(code, Some(0), "{extra:?}: {err}");
        assert_eq!(s.unwrap().rate, 20.0, "{extra:?}");
    }
    // a hint with the name loadgen gives it
    for (args, hint) in [
        (&["-d", "{\"a\":1}"][..], "a request body is --body"),
        (&["-d", "a=1&b=2"][..], "a request body is --body"),
        (&["-D", "body.json"][..], "--body @FILE"),
        (&["-T", "application/json"][..], "-H 'Content-Type: …'"),
        (&["--iterations", "5"][..], "-n N"),
        (&["-s", "script.lua"][..], "--scenario FILE"),
        (&["--data", "{\"a\":1}"][..], "--message"),
    ] {
        let mut all = vec!["run", url.as_str()];
        all.extend_from_slice(args);
        let out = run(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(hint), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(!err.contains("similar argument"), "{args:?}: {err}");
    }
}

#[test]
fn a_number_of_loads_without_a_duration_runs_them_all() {
    // oha -n 40 -q 20: all 40, over two seconds (the default 10 s does not cut a longer one)
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    let (code, s, err) = run_json(&[&url, "-n", "40", "-q", "20"]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!((s.counts.scheduled, s.counts.success), (40, 40));
    assert!(s.duration_s > 1.9 && s.duration_s < 2.1, "{}", s.duration_s);
    // closed loop: until they are done, the bound stated
    let (code, s, err) = run_json(&[&url, "-n", "500"]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(s.counts.success, 500);
    assert_eq!(s.duration_s, 3600.0);
}

#[test]
fn a_connect_timeout_fails_a_silent_handshake_as_a_call_error() {
    // a TCP server that accepts and never speaks: the TLS handshake waits
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().map_while(Result::ok) {
            held.push(s);
        }
    });
    let url = format!("https://127.0.0.1:{port}/");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            url.clone(),
            "-r".into(),
            "10".into(),
            "-d".into(),
            "1s".into(),
        ];
        a.extend(["-t".into(), "2s".into(), "-k".into()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let with = args(&["--connect-timeout", "200ms"]);
    let (code, s, err) = run_json(&with.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(s.counts.call_error, s.counts.scheduled, "{:?}", s.counts);
    assert!(
        s.errors[0].message.contains("connect timeout after 200ms"),
        "{:?}",
        s.errors
    );
    // without it, the call timeout ends them
    let without = args(&[]);
    let (code, s, err) = run_json(&without.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(s.counts.timeout, s.counts.scheduled, "{:?}", s.counts);
}

/// A --junit file of a run with a held and a violated threshold, and one of journeys with
/// a passing and a failing step: their paths.
fn junit_files() -> (std::path::PathBuf, std::path::PathBuf) {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    let run_xml = tmp(&format!("run-{}.xml", addrs[0].replace([':', '.'], "-")));
    let out = run(&[
        "run",
        &url,
        "-r",
        "50",
        "-d",
        "500ms",
        "--threshold",
        "p99<5s",
        "--threshold",
        "tps>1000000",
        "--junit",
        run_xml.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "the tps gate fails");
    let scenario = write(
        "junit.yaml",
        format!(
            "version: 1\ndefaults:\n  base: http://{}\nload:\n  rate: 20/s\n  duration: 500ms\nscenarios:\n  - name: s\n    steps:\n      - name: home\n        get: /\n      - name: broken\n        get: /?status=503\n",
            addrs[0]
        ),
    );
    let journeys_xml = tmp(&format!(
        "journeys-{}.xml",
        addrs[0].replace([':', '.'], "-")
    ));
    let out = run(&["run", &scenario, "--junit", journeys_xml.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (run_xml, journeys_xml)
}

#[test]
fn a_junit_file_has_thresholds_and_checks_as_test_cases() {
    let (run_xml, journeys_xml) = junit_files();
    let xml = std::fs::read_to_string(&run_xml).unwrap();
    assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"p99&lt;5s\" classname=\"loadgen.threshold\" time=\"0\"/>"),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"tps&gt;1000000: actual"),
        "{xml}"
    );
    assert!(xml.contains("<system-out>loadgen http"), "{xml}");
    // journeys: a step's checks are a test case, failed when one failed
    let xml = std::fs::read_to_string(&journeys_xml).unwrap();
    assert!(
        xml.contains(
            "<testcase name=\"s / home: checks\" classname=\"loadgen.checks\" time=\"0\"/>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase name=\"s / broken: checks\""),
        "{xml}"
    );
    assert!(
        xml.contains("checks failed\" type=\"checks\">check status"),
        "{xml}"
    );
}

#[test]
#[cfg_attr(
    not(has_xmllint),
    ignore = "needs xmllint (apt-get install libxml2-utils)"
)]
fn junit_files_are_valid_against_the_schema_ci_systems_read() {
    let xsd = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/junit.xsd");
    let (run_xml, journeys_xml) = junit_files();
    for path in [run_xml, journeys_xml] {
        let out = std::process::Command::new("xmllint")
            .args(["--noout", "--schema", xsd])
            .arg(&path)
            .output()
            .expect("xmllint runs");
        assert!(
            out.status.success(),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // the schema refuses what CI systems would not read
    let bad = write(
        "bad.xml",
        "<testsuites><testsuite name=\"x\"><testcase/></testsuite></testsuites>",
    );
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", xsd, &bad])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a suite without tests and a case without a name"
    );
}

#[test]
fn redirects_are_followed_when_asked_and_a_loop_is_a_response_error() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/x?redirect=2", addrs[0]);
    for client in [&[][..], &["--hyper"][..], &["--http2"][..]] {
        let mut args = vec![url.as_str(), "-n", "6"];
        args.extend_from_slice(client);
        // not followed: the 302 is the answer (a success, as curl without -L)
        let (code, s, err) = run_json(&args);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(s.unwrap().counts.success, 6, "{client:?}");
        // followed: two hops, then the 200
        let mut follow = args.clone();
        follow.extend_from_slice(&["--follow", "2", "--expect-status", "200"]);
        let (code, s, err) = run_json(&follow);
        assert_eq!(code, Some(0), "{err}");
        let s = s.unwrap();
        assert_eq!(s.counts.success, 6, "{client:?}: {:?}", s.errors);
        assert!(
            s.protocol_details
                .iter()
                .any(|(k, v)| k == "follow" && v == "up to 2 redirects")
        );
        // one hop short
        let mut short = args.clone();
        short.extend_from_slice(&["--follow", "1"]);
        let (_, s, _) = run_json(&short);
        let s = s.unwrap();
        assert_eq!(s.counts.response_error, 6, "{client:?}");
        assert!(
            s.errors[0].message.contains("more than 1 redirects"),
            "{:?}",
            s.errors
        );
    }
    // a loop: /a → /b → /a
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for conn in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                let mut first = String::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if first.is_empty() {
                        first = line.clone();
                    } else if line == "\r\n" {
                        let to = if first.contains(" /a ") { "/b" } else { "/a" };
                        let _ = write!(
                            w,
                            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"
                        );
                        first.clear();
                    }
                }
            });
        }
    });
    let (code, s, err) = run_json(&[
        &format!("http://127.0.0.1:{port}/a"),
        "-n",
        "3",
        "--follow",
        "10",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(s.counts.response_error, 3, "{:?}", s.counts);
    assert!(
        s.errors[0].message.starts_with("redirect loop"),
        "{:?}",
        s.errors
    );
}

#[test]
fn shards_share_given_and_default_connections_alike() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    let merged = |extra: &[&str], tag: &str| {
        let files: Vec<String> = (0..2)
            .map(|i| {
                let f = tmp(&format!("shard-{tag}-{i}.json")).display().to_string();
                let shard = format!("{i}/2");
                let mut args = vec![
                    "run",
                    &url,
                    "-r",
                    "200",
                    "-d",
                    "500ms",
                    "--shard",
                    &shard,
                    "--json",
                    &f,
                    "--summary",
                    "none",
                ];
                args.extend_from_slice(extra);
                let out = run(&args);
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let s = parse(&std::fs::read_to_string(&f).unwrap()).unwrap();
                assert_eq!(s.connections, Some(25), "each shard its share: {extra:?}");
                f
            })
            .collect();
        let json = tmp(&format!("merged-{tag}.json")).display().to_string();
        let out = run(&["merge", &files[0], &files[1], "--json", &json]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(
            text.contains("connections up to 50 per target (the run's, over 2 shards)"),
            "{text}"
        );
        parse(&std::fs::read_to_string(&json).unwrap()).unwrap()
    };
    let default = merged(&[], "default");
    let given = merged(&["--connections", "50"], "given");
    assert_eq!(default.connections, given.connections);
    assert_eq!(default.connections, Some(50));
}
