//! What gets measured in ordinary setups: large binary bodies over TLS reach the server
//! whole (every write flushed), a body file is bytes, a response over a Unix socket is dated
//! when it arrives.

mod support;

use support::*;

/// `len` bytes that are not text (and hold `{{`, which must not be read as a template),
/// with `MARKER` in the middle.
fn binary(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut v: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    v[0] = 0xff;
    v[1..3].copy_from_slice(b"{{");
    let mid = len / 2;
    v[mid..mid + 6].copy_from_slice(b"MARKER");
    v
}

#[test]
fn large_binary_bodies_over_tls_arrive_whole_with_every_client() {
    let (c, k) = cert("bodies");
    let (_srv, addrs, _) = serve(&[
        "http",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &c,
        "--tls-key",
        &k,
        "--delay",
        "1ms",
    ]);
    let url = format!(
        "https://127.0.0.1:{}/",
        addrs[0].rsplit(':').next().unwrap()
    );
    for (mb, rate) in [(1usize, "20"), (8, "5")] {
        let body = write(&format!("body-{mb}.bin"), binary(mb << 20));
        let at = format!("@{body}");
        for client in [&[][..], &["--hyper"][..], &["--http2"][..]] {
            let mut args = vec![
                url.as_str(),
                "-m",
                "POST",
                "--body",
                &at,
                "--expect-body",
                "MARKER",
                "-r",
                rate,
                "-d",
                "1s",
                "-t",
                "10s",
                "--cacert",
                &c,
                "--threads",
                "1",
            ];
            args.extend_from_slice(client);
            let (code, s, err) = run_json(&args);
            assert_eq!(code, Some(0), "{mb} MB {client:?}: {err}");
            let s = s.unwrap();
            assert!(s.counts.scheduled >= 5, "{:?}", s.counts);
            assert_eq!(
                s.counts.success, s.counts.scheduled,
                "{mb} MB {client:?}: {:?} {:?}",
                s.counts, s.errors
            );
        }
    }
}

/// An HTTP/1.1 server on a Unix domain socket that answers every request at once; it
/// stops when the test process does.
fn unix_server(path: &std::path::Path) {
    use std::io::{BufRead, BufReader, Write};
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                .is_err()
                            {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
}

#[test]
fn answers_over_a_unix_socket_are_dated_when_they_arrive() {
    // a Unix socket gives no kernel receive time: its answers must not wait for the next
    // pacing tick (100 ms apart at 20 loads/s with a 1 s timeout: dated there, the median
    // would be some 50 ms; the 10 ms margin is for a busy machine between two runs)
    let path = tmp("http.sock");
    unix_server(&path);
    let sock = path.to_str().unwrap();
    for client in [&[][..], &["--hyper"][..]] {
        let p50 = |extra: &[&str]| {
            let mut args = vec![
                "http://localhost/",
                "--unix-socket",
                sock,
                "-r",
                "20",
                "-d",
                "1s",
                "--threads",
                "1",
            ];
            args.extend_from_slice(client);
            args.extend_from_slice(extra);
            let (code, s, err) = run_json(&args);
            assert_eq!(code, Some(0), "{err}");
            let s = s.unwrap();
            assert_eq!(s.counts.success, 20, "{:?}", s.errors);
            s.latency_ms.p50
        };
        let (batched, eager) = (p50(&[]), p50(&["--eager-reads"]));
        assert!(
            batched < eager + 10.0,
            "{client:?}: p50 {batched} ms, eager {eager} ms"
        );
    }
}

#[test]
fn answers_over_tcp_and_tls_are_dated_when_they_arrive() {
    // TCP gives a kernel receive time on every read, TLS reads through the same socket:
    // batched reads must date answers as the eager ones do (dated at the tick, 100 ms
    // apart, the median would be some 50 ms)
    let (c, k) = cert("dated");
    let (_plain, plain, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let (_tls, tls, _) = serve(&[
        "http",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &c,
        "--tls-key",
        &k,
    ]);
    let port = |a: &str| a.rsplit(':').next().unwrap().to_string();
    let urls = [
        format!("http://127.0.0.1:{}/", port(&plain[0])),
        format!("https://127.0.0.1:{}/", port(&tls[0])),
    ];
    for url in &urls {
        let p50 = |extra: &[&str]| {
            let mut args = vec![
                url.as_str(),
                "-r",
                "20",
                "-d",
                "1s",
                "--threads",
                "1",
                "--cacert",
                &c,
            ];
            args.extend_from_slice(extra);
            let (code, s, err) = run_json(&args);
            assert_eq!(code, Some(0), "{err}");
            let s = s.unwrap();
            assert_eq!(s.counts.success, 20, "{url}: {:?}", s.errors);
            s.latency_ms.p50
        };
        let (batched, eager) = (p50(&[]), p50(&["--eager-reads"]));
        assert!(
            batched < eager + 10.0,
            "{url}: p50 {batched} ms, eager {eager} ms"
        );
    }
}

#[test]
fn every_live_line_is_one_snapshot_whose_counts_hold_together() {
    // answers 30 ms late: at any moment loads are in flight, so counts read at different
    // moments would show more outcomes than scheduled loads
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--delay", "30ms"]);
    let url = format!("http://{}/", addrs[0]);
    let live = tmp("consistent.jsonl");
    let (code, s, err) = run_json(&[
        &url,
        "-r",
        "800",
        "-d",
        "3s",
        "--threads",
        "2",
        "--live",
        live.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&live)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes = [
        "success",
        "timeout",
        "dropped",
        "cancelled",
        "call_error",
        "response_error",
        "callee_error",
        "fatal",
    ];
    let (mut scheduled, mut done, mut sent) = (0u64, 0u64, 0u64);
    for l in &lines {
        scheduled += l["scheduled"].as_u64().unwrap();
        sent += l["sent"].as_u64().unwrap();
        done += outcomes.iter().map(|o| l[o].as_u64().unwrap()).sum::<u64>();
        assert!(
            done <= scheduled,
            "more outcomes ({done}) than loads scheduled ({scheduled}) by {l}"
        );
        assert!(
            sent <= scheduled,
            "more sent ({sent}) than scheduled ({scheduled}) by {l}"
        );
    }
    assert_eq!((scheduled, done), (s.counts.scheduled, s.counts.scheduled));
}

#[test]
fn a_short_grace_after_a_saturated_run_does_not_spin() {
    // 2 connections to 200 ms answers, 100 loads/s: loads still wait when the schedule
    // ends, and go on going out after the 100 ms grace; the thread must sleep meanwhile
    // (it spun: 0.87 s of CPU over the 2 s of draining, 0.02 s now)
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--delay", "200ms"]);
    let url = format!("http://{}/", addrs[0]);
    let (code, s, err) = run_json(&[
        &url,
        "-r",
        "100",
        "-d",
        "1s",
        "--connections",
        "2",
        "-t",
        "2s",
        "--grace",
        "100ms",
        "--threads",
        "1",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert!(
        s.counts.dropped > 0 && s.counts.success > 0,
        "{:?}",
        s.counts
    );
    assert!(
        s.elapsed_s > 2.5,
        "the waiting loads went out until they expired"
    );
    assert!(s.generator_cpu_s < 0.4, "{} s of CPU", s.generator_cpu_s);
}

#[test]
fn a_slow_target_does_not_starve_a_fast_one() {
    // 2 connections per target; the slow one takes 2 × 5 = 10 answers a second of its 50
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let slow = format!("http://{}/?delay=200ms", addrs[0]);
    let fast = format!("http://{}/", addrs[0]);
    let args = |targets: &[&str]| {
        let mut a: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        a.extend(
            [
                "--connections",
                "2",
                "-r",
                "100",
                "-d",
                "2s",
                "--threads",
                "1",
            ]
            .map(String::from),
        );
        a
    };
    let both = args(&[&slow, &fast]);
    let (code, s, err) = run_json(&both.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    let (sl, fa) = (&s.per_target[0], &s.per_target[1]);
    assert!(
        sl.counts.dropped > 0,
        "the slow target drops its excess: {:?}",
        sl.counts
    );
    assert!(
        fa.counts.success as f64 >= 0.99 * fa.counts.scheduled as f64,
        "the fast target keeps up: {:?}",
        fa.counts
    );
    // alone, at its own share of the rate
    let solo = {
        let mut a = args(&[&fast]);
        a[4] = "50".into();
        let (code, s, err) = run_json(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, Some(0), "{err}");
        s.unwrap()
    };
    // no fast load waited for a slow call (200 ms); the bound is loose because the tests
    // share two busy cores, where a few ms of scheduling noise is common
    assert!(
        fa.latency_ms.p99 <= (2.0 * solo.latency_ms.p99).max(100.0),
        "fast p99 {} ms beside the slow one, {} ms alone",
        fa.latency_ms.p99,
        solo.latency_ms.p99
    );
}

#[test]
fn http2_streams_stay_within_what_the_server_allows() {
    // the server takes 10 streams a connection; 300 calls a second of 100 ms each keep
    // about 30 in flight: a client that puts them all on one connection (--streams 100)
    // has the server queue two thirds of them, and the wait grows for the whole run
    let (_srv, addrs, _) = serve(&[
        "http",
        "--listen",
        "127.0.0.1:0",
        "--max-streams",
        "10",
        "--delay",
        "100ms",
    ]);
    let url = format!("http://{}/", addrs[0]);
    {
        let args = [
            url.as_str(),
            "--http2",
            "--connections",
            "4",
            "--streams",
            "100",
            "-r",
            "300",
            "-d",
            "2s",
            "--threads",
            "1",
        ];
        let (code, s, err) = run_json(&args);
        assert_eq!(code, Some(0), "{err}");
        let s = s.unwrap();
        assert!(
            s.counts.success as f64 >= 0.99 * s.counts.scheduled as f64,
            "{:?}",
            s.counts
        );
        assert!(
            s.latency_ms.p99 < 300.0,
            "p99 {} ms for 100 ms answers",
            s.latency_ms.p99
        );
    }
}

#[test]
fn a_saturated_generator_sleeps_between_completions() {
    // 2 connections to a 50 ms target take 40 calls a second of the 2,000 asked for: every
    // worker is busy all run long, and the dispatcher has nothing to do but wait (ticking at
    // a 10 µs quantum it burned 100,000 wake-ups a second: 0.25 s of CPU at
    // 20 µs, 0.03 s now)
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--delay", "50ms"]);
    let (code, s, err) = run_json(&[
        &format!("http://{}/", addrs[0]),
        "-r",
        "2000",
        "-d",
        "3s",
        "--connections",
        "2",
        "--threads",
        "1",
        "--pacing-quantum",
        "10us",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert!(s.counts.dropped > 5000, "saturated: {:?}", s.counts);
    assert!(s.counts.success >= 100, "{:?}", s.counts);
    assert!(s.saturation.target, "{:?}", s.saturation);
    assert!(
        s.generator_cpu_s < 0.15,
        "{} s of generator CPU while saturated",
        s.generator_cpu_s
    );
}

#[test]
fn the_pacing_quantum_follows_the_service_or_stays_as_asked() {
    // a 5 ms service: auto settles near a fifth of it (1 ms; more if the shared machine
    // slows the service down, never the 0.1 ms start nor the 2 ms cap); a fixed quantum stays; the
    // report names it; a bad value is one line
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--delay", "5ms"]);
    let url = format!("http://{}/", addrs[0]);
    for (q, lo, hi, auto) in [("auto", 0.9, 1.9, true), ("300us", 0.3, 0.3, false)] {
        let (code, s, err) = run_json(&[&url, "-r", "200", "-d", "1s", "--pacing-quantum", q]);
        assert_eq!(code, Some(0), "{err}");
        let g = s.unwrap().generator;
        let ms = g.quantum_ms;
        assert!((lo..=hi).contains(&ms), "{q}: {ms} ms");
        assert_eq!(g.quantum_auto, auto, "{q}");
    }
    let out = run(&[
        "run",
        &url,
        "-d",
        "300ms",
        "-r",
        "50",
        "--pacing-quantum",
        "1ms",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pacing quantum"), "{text}");
    let out = run(&["run", &url, "--pacing-quantum", "soon"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("expected auto or a duration"), "{err}");
}
