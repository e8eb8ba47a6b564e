//! Data from strangers, end to end: huge response bodies, abusive peers of the built-in
//! servers, hostile summary files, a closed stdout. Each case asserts the outcome, no
//! panic, and a bounded peak RSS where memory is the point. Servers and peers run on
//! 127.0.0.1:0 and stop by themselves.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use support::*;

fn no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn a_huge_body_is_searched_as_it_streams_in_every_client() {
    // 200 MB per response, searched for a needle: the body is never kept
    let (mut server, addrs, _err) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/?size=200000000", addrs[0]);
    for client in [&[][..], &["--hyper"], &["--http2"]] {
        let json = tmp(&format!("huge-body{}.json", client.len()));
        let mut args = vec![
            "run",
            &url,
            "-c",
            "1",
            "-n",
            "2",
            "-t",
            "60s",
            "--expect-body",
            "xxxxxxxx",
            "--json",
            json.to_str().unwrap(),
            "--summary",
            "none",
            "--quiet",
        ];
        args.extend_from_slice(client);
        let (code, err, rss_kb) = run_measured(&args);
        assert_eq!(code, Some(0), "{client:?}: {err}");
        let s = parse(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(
            s.counts.success, 2,
            "{client:?}: {:?} {:?}",
            s.counts, s.errors
        );
        assert!(rss_kb < 48 * 1024, "{client:?}: max RSS {rss_kb} KiB");
    }
    server.kill().unwrap();
    let _ = server.wait();
}

/// Sends `body_len` bytes to `path` (chunked, or with a Content-Length) and returns the
/// response's status, or 0 when the server closed first.
fn post(addr: &str, path: &str, body_len: usize, chunked: bool) -> u16 {
    let Ok(mut c) = TcpStream::connect(addr) else {
        return 0;
    };
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = if chunked {
        format!("POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    } else {
        format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {body_len}\r\n\r\n")
    };
    let sent = (|| -> std::io::Result<()> {
        c.write_all(head.as_bytes())?;
        let chunk = vec![b'b'; 64 * 1024];
        let mut left = body_len;
        while left > 0 {
            let n = left.min(chunk.len());
            if chunked {
                write!(c, "{n:x}\r\n")?;
            }
            c.write_all(&chunk[..n])?;
            if chunked {
                c.write_all(b"\r\n")?;
            }
            left -= n;
        }
        if chunked {
            c.write_all(b"0\r\n\r\n")?;
        }
        Ok(())
    })();
    let mut line = String::new();
    let read = BufReader::new(&c).read_line(&mut line);
    match (sent, read) {
        (_, Ok(_)) => line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

#[test]
fn serve_http_bounds_what_all_its_connections_buffer() {
    let (mut server, addrs, _err) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let addr = addrs[0].clone();
    let peers: Vec<_> = (0..40)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || match i % 4 {
                // 100 MB announced: refused before a byte of it is read
                0 => (i, post(&addr, "/", 100_000_000, false)),
                // 8 MiB chunked echoes, 30 at once: more than the echo budget
                1 | 2 => (i, post(&addr, "/", 8 << 20, true)),
                // 50 MB to a generated answer: read and dropped, never kept
                _ => (i, post(&addr, "/?size=10", 50_000_000, false)),
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    for p in peers {
        let (i, status) = p.join().unwrap();
        match i % 4 {
            0 => assert_eq!(status, 413, "peer {i}"),
            1 | 2 => assert!([200, 503, 0].contains(&status), "peer {i}: {status}"),
            _ => assert_eq!(status, 200, "peer {i}"),
        }
        *statuses.entry(status).or_default() += 1;
    }
    assert!(
        statuses.get(&200).copied().unwrap_or(0) >= 10,
        "{statuses:?}"
    );
    let peak = vm_hwm_kb(server.id()).expect("VmHWM of the running server");
    // the server still answers
    assert_eq!(post(&addr, "/", 1000, false), 200);
    server.kill().unwrap();
    let _ = server.wait();
    // 64 MiB of echo budget, small per-connection buffers: not 40 × 100 MB
    assert!(
        peak < 128 * 1024,
        "server peak RSS {peak} KiB ({statuses:?})"
    );
}

#[test]
fn echo_peers_that_never_read_are_dropped_after_the_idle_timeout() {
    let (mut server, addrs, _err) = serve(&[
        "echo",
        "--tcp",
        "127.0.0.1:0",
        "--max-connections",
        "8",
        "--idle-timeout",
        "500ms",
    ]);
    // eight peers take every slot, send and never read
    let hogs: Vec<_> = (0..8)
        .map(|_| {
            let mut c = TcpStream::connect(&addrs[0]).unwrap();
            c.set_write_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let junk = vec![b'j'; 1 << 20];
            while c.write(&junk).is_ok() {}
            c
        })
        .collect();
    // past the idle timeout their slots are free again: a normal run gets every answer
    std::thread::sleep(Duration::from_millis(1500));
    let out = run(&[
        "run",
        &format!("tcp://{}", addrs[0]),
        "--payload",
        "ping\n",
        "--delimiter",
        "\\n",
        "-r",
        "100",
        "-d",
        "300ms",
        "--summary",
        "kv",
    ]);
    drop(hogs);
    server.kill().unwrap();
    let _ = server.wait();
    let kv = kv(&out);
    assert_eq!(
        kv.get("successes"),
        kv.get("scheduled"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A real summary file of a short run, as JSON to mutate.
fn real_summary() -> serde_json::Value {
    let json = tmp("real.json");
    let out = run(&[
        "demo",
        "-d",
        "300ms",
        "--json",
        json.to_str().unwrap(),
        "--summary",
        "none",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[test]
fn hostile_summary_files_are_refused_with_one_line_in_little_memory() {
    // V2 headers (plain and deflated) that claim a payload of 0xFFFFFFF0 bytes; a
    // deflated one whose highest trackable value is 2^62
    const HUGE_PAYLOAD: &str = "HISTE/////AAAAAAAAAAAwAAAAAAAAABAAAAANaTpAA/8AAAAAAAAA==";
    const HUGE_PAYLOAD_DEFLATED: &str = "HISTFAAAAB94nJNpmSz8////DwwQwAylGUHEtclLGOyhMgDYYQh0";
    const HUGE_RANGE: &str = "HISTFAAAAB94nJNpmSzMwMDAwgABzFCa0QHKsP8AoZmAAABJqQLG";
    let base = real_summary();
    type Mutation = fn(&mut serde_json::Value);
    let cases: &[(&str, Mutation)] = &[
        ("timeline t_s 1e7", |v| {
            let t = v["timeline"].as_array_mut().unwrap();
            t.last_mut().unwrap()["t_s"] = 1e7.into();
        }),
        ("timeline t_s 2^64-1", |v| {
            let t = v["timeline"].as_array_mut().unwrap();
            t.last_mut().unwrap()["t_s"] = u64::MAX.into();
        }),
        ("a 4 GiB histogram payload", |v| {
            v["histograms"]["latency_us"] = HUGE_PAYLOAD.into();
        }),
        ("a 4 GiB deflated histogram payload", |v| {
            v["histograms"]["service_time_us"] = HUGE_PAYLOAD_DEFLATED.into();
        }),
        ("2^62 as highest value per bucket", |v| {
            for b in v["timeline"].as_array_mut().unwrap() {
                b["latency_us"] = HUGE_RANGE.into();
            }
        }),
        ("per_target ×10000", |v| {
            let one = v["per_target"][0].clone();
            v["per_target"] = vec![one; 10_000].into();
        }),
        ("counts that break the invariant", |v| {
            let s = v["counts"]["success"].as_u64().unwrap();
            v["counts"]["success"] = (s + 7).into();
        }),
        ("elapsed of 1e300 s", |v| {
            v["elapsed_s"] = 1e300.into();
        }),
    ];
    for (case, mutate) in cases {
        let mut v = base.clone();
        mutate(&mut v);
        let file = tmp("hostile.json");
        std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
        let f = file.to_str().unwrap();
        let html = tmp("hostile.html");
        for args in [
            vec!["report", f],
            vec!["report", "--html", html.to_str().unwrap(), f],
            vec!["report", "--threshold", "p(99)<1s", f],
            vec!["merge", f, f],
        ] {
            let (code, err, rss_kb) = run_measured(&args);
            no_panic(&err);
            assert_eq!(code, Some(1), "{case}: {args:?}: {err}");
            let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "{case}: {args:?}: {err}");
            assert!(lines[0].contains("hostile.json"), "{case}: {err}");
            assert!(rss_kb < 64 * 1024, "{case}: {args:?}: max RSS {rss_kb} KiB");
        }
    }
}

#[test]
fn merge_refuses_shards_that_are_not_one_run() {
    let base = real_summary();
    let shard = |i: u64, started: &str, scheduled: Option<u64>| {
        let mut v = base.clone();
        v["shard"] = serde_json::json!({"index": i, "count": 2});
        v["shards"] = serde_json::json!([i]);
        if !started.is_empty() {
            v["started_at"] = started.into();
        }
        if let Some(n) = scheduled {
            // a consistent file of 2^63 loads, all dropped
            for c in ["sent", "success", "timeout", "cancelled", "call_error"] {
                v["counts"][c] = 0.into();
            }
            for c in ["response_error", "callee_error", "fatal"] {
                v["counts"][c] = 0.into();
            }
            v["counts"]["scheduled"] = n.into();
            v["counts"]["dropped"] = n.into();
            v["sent"] = 0.into();
        }
        let file = tmp(&format!("shard-{i}-{}.json", scheduled.is_some()));
        std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
        file
    };
    let a = shard(0, "", None);
    let b = shard(1, "2027-12-02T00:00:00Z", None);
    let (code, err, rss_kb) = run_measured(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    no_panic(&err);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("shard-1") && err.contains("not shards of one run"),
        "{err}"
    );
    assert!(rss_kb < 64 * 1024, "max RSS {rss_kb} KiB");
    // two shards of 2^63 loads each: the sum does not fit, said so (not 0)
    let a = shard(0, "", Some(1 << 63));
    let b = shard(1, "", Some(1 << 63));
    let (code, err, _) = run_measured(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    no_panic(&err);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("2^64") || err.contains("invalid"), "{err}");
}

#[test]
fn a_closed_stdout_costs_neither_the_json_nor_the_exit_code() {
    // `loadgen run … | true`
    let json = tmp("closed-stdout.json");
    let mut child = bin()
        .args(["demo", "-d", "300ms", "--json", json.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    no_panic(&err);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
    let s = parse(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(s.counts.invariant_holds());
    assert!(s.counts.success > 0);
}

#[test]
fn outside_files_are_read_within_their_caps() {
    // /dev/zero never ends and has no lines: each reader stops one byte past its cap and
    // says so in one line, before any load; memory stays near the cap
    let url = "http://127.0.0.1:9/";
    let cases: &[(&[&str], &str, u64)] = &[
        (
            &["run", url, "--body", "@/dev/zero"],
            "larger than 64 MiB",
            200,
        ),
        (
            &["run", url, "--data", "/dev/zero"],
            "a line longer than 16 MiB",
            100,
        ),
        (
            &["run", "tcp://127.0.0.1:9", "--payload", "@/dev/zero"],
            "larger than 64 MiB",
            200,
        ),
        (
            &["run", "https://127.0.0.1:9/", "--cacert", "/dev/zero"],
            "larger than 1 MiB",
            50,
        ),
        (
            &[
                "run",
                "grpc://127.0.0.1:9",
                "--call",
                "a.B/C",
                "--protoset",
                "/dev/zero",
            ],
            "larger than 64 MiB",
            200,
        ),
        (
            &["compare", "/dev/zero", "/dev/zero"],
            "larger than 256 MiB",
            600,
        ),
    ];
    for (args, want, mb) in cases {
        let mut all = args.to_vec();
        all.extend_from_slice(&["-d", "1s"][..if args[0] == "run" { 2 } else { 0 }]);
        let (code, err, rss_kb) = run_measured(&all);
        no_panic(&err);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(rss_kb < mb * 1024, "{args:?}: max RSS {rss_kb} KiB");
    }
    // a template that would render 80 MB a request
    let body = write("huge-template.txt", "{{randomString 4096}}".repeat(20_000));
    let out = run(&["run", url, "--body", &format!("@{body}"), "-d", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("more than the 64 MiB"), "{err}");
}

#[test]
fn a_peer_cannot_write_to_the_terminal() {
    // a server that redirects to a path holding an 8-bit CSI (U+009B, which httparse lets
    // through as obs-text): the redirect loop's error names it, escaped, in the text report
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in listener.incoming().take(50) {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let loc =
                        b"HTTP/1.1 302 Found\r\nLocation: /\xc2\x9b2J\r\nContent-Length: 0\r\n\r\n";
                    if c.write_all(loc).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let url = format!("http://{addr}/");
    let out = run(&["run", &url, "-n", "3", "-c", "1", "--follow", "3"]);
    let text = out.stdout;
    let shown = String::from_utf8_lossy(&text);
    assert!(shown.contains("redirect loop"), "{shown}");
    assert!(!text.windows(2).any(|w| w == b"\xc2\x9b"), "{shown}");
    assert!(!text.iter().any(|&b| b < 0x20 && b != b'\n'), "{shown}");
    assert!(shown.contains("\\u009b2J"), "{shown}");
}

#[test]
fn search_into_a_closed_pipe_ends_quietly() {
    // `loadgen search … | head -1`
    let (mut server, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let mut child = bin()
        .args([
            "search",
            &format!("http://{}/", addrs[0]),
            "--slo",
            "p99<50ms",
        ])
        .args([
            "--min-rate",
            "50",
            "--max-rate",
            "200",
            "--step-duration",
            "200ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("step"), "{first}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    no_panic(&err);
    assert_eq!(status.code(), Some(0), "{err}");
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn a_live_reader_that_stops_reading_holds_nothing() {
    // `--live -` into a full pipe that nobody reads: the run still answers --metrics,
    // ends on time, and says that it could not write its lines (exit 1)
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: a pipe of this process, one page, filled before the child gets its end
    let (stdout, w) = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        let (r, w) = (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]));
        libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, 4096);
        let page = [b'x'; 4096];
        assert_eq!(libc::write(w.as_raw_fd(), page.as_ptr().cast(), 4096), 4096);
        (r, w)
    };
    let mut child = bin()
        .args(["demo", "-d", "3s", "--live", "-", "--summary", "none"])
        .args(["--metrics", "127.0.0.1:0"])
        .stdout(Stdio::from(w))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let addr = metrics_addr(&mut err);
    std::thread::sleep(Duration::from_millis(2500));
    let page = scrape_as(&addr, false);
    assert!(page.contains("loadgen_"), "{page}");
    let started = std::time::Instant::now();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    no_panic(&rest);
    assert!(started.elapsed() < Duration::from_secs(8), "{rest}");
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("--live: its reader"), "{rest}");
    drop(stdout);
}

#[test]
fn output_that_cannot_be_written_is_said_with_exit_1() {
    for (flag, want) in [
        ("--results", "the per-call results could not all be written"),
        ("--live", "--live: "),
    ] {
        let out = run(&[
            "demo",
            "-d",
            "1500ms",
            flag,
            "/dev/full",
            "--summary",
            "none",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        no_panic(&err);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        assert!(
            err.contains(want) && err.contains("No space left"),
            "{flag}: {err}"
        );
    }
}

#[test]
fn framing_headers_that_disagree_with_the_body_are_refused_for_every_client() {
    // a user's Content-Length: 0 before a body made the fast client send the body as
    // more requests, and hyper drop it: one rule, before the run, for every client
    let url = "http://127.0.0.1:9/";
    for client in [&[][..], &["--hyper"], &["--http2"]] {
        for (h, want) in [
            (
                "Content-Length: 0",
                "Content-Length: 0, but the body has 5 bytes",
            ),
            ("Transfer-Encoding: chunked", "loadgen frames bodies itself"),
        ] {
            let mut args = vec!["run", url, "-d", "1s", "-H", h, "--body", "hello"];
            args.extend_from_slice(client);
            let out = run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{client:?} {h}: {err}");
            assert!(err.contains(want), "{client:?} {h}: {err}");
        }
        // the body's own length is fine
        let mut args = vec![
            "run",
            url,
            "-n",
            "1",
            "-H",
            "Content-Length: 5",
            "--body",
            "hello",
        ];
        args.extend_from_slice(client);
        let (code, _, err) = run_json(&args[1..]);
        assert_eq!(code, Some(0), "{client:?}: {err}");
    }
    // in a targets file, with its FILE:LINE; a control character in a fixed header too
    let body = write("framing.body", "abc");
    let t = write(
        "framing.targets",
        format!(
            "GET http://127.0.0.1:9/\n\nPOST http://127.0.0.1:9/\nContent-Length: 0\n@{body}\n"
        ),
    );
    let out = run(&["run", "--targets", &t, "-d", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{t}:3: header Content-Length")),
        "{err}"
    );
    let t = write("control.targets", "GET http://127.0.0.1:9/\nX-A: a\u{1}b\n");
    let out = run(&["run", "--targets", &t, "-d", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{t}:1: header X-A has a control character")),
        "{err}"
    );
}

fn fifo(name: &str) -> String {
    let p = tmp(name);
    let _ = std::fs::remove_file(&p);
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    p.display().to_string()
}

#[test]
fn targets_from_a_fifo_or_stdin_stream_like_a_file() {
    // more requests than are held (100,000): the generator threads used to block opening
    // the FIFO again; now a pipe is spooled to a file that streams
    let (mut server, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let text: String = (0..120_000)
        .map(|i| format!("GET http://{}/item/{i}\n\n", addrs[0]))
        .collect();
    let path = fifo("targets.fifo");
    let writer = {
        let (path, text) = (path.clone(), text.clone());
        std::thread::spawn(move || std::fs::write(path, text))
    };
    let args = ["-r", "500", "-d", "1s", "--json", "-", "--summary", "none"];
    let out = bin()
        .args(["run", "--targets", &path])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    writer.join().unwrap().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let s = parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(s.counts.success, 500, "{:?}", s.errors);
    let mut child = bin()
        .args(["run", "--targets", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let s = parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(s.counts.success, 500, "{:?}", s.errors);
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn a_signal_ends_a_blocked_setup_and_the_metrics_linger() {
    // a FIFO nobody writes: opening it blocks; SIGTERM ends the process with one line
    let path = fifo("never.fifo");
    let mut child = bin()
        .args(["run", "--targets", &path, "-d", "1s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGTERM);
    let started = std::time::Instant::now();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(6), "{err}");
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    // --metrics-linger 60s, SIGTERM after the run: it ends the linger, exit 0
    let json = tmp("linger.json");
    let mut child = bin()
        .args(["demo", "-d", "500ms", "--metrics", "127.0.0.1:0"])
        .args(["--metrics-linger", "60s", "--summary", "none", "--json"])
        .arg(&json)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let addr = metrics_addr(&mut err);
    for _ in 0..100 {
        if std::fs::metadata(&json).is_ok_and(|m| m.len() > 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    // the run has reported and lingers: the endpoint still serves the final totals
    assert!(scrape_as(&addr, false).contains("loadgen_run_ended"));
    signal(&child, libc::SIGTERM);
    let started = std::time::Instant::now();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_stopped_generator_is_not_blamed_on_the_target() {
    // SIGSTOP for a second of the run (as Ctrl-Z does): the loads due meanwhile expire,
    // and the report says the generator stalled, not that the target had no free slot
    let (mut server, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    let child = bin()
        .args(["run", &url, "-r", "200", "-d", "2500ms", "-t", "300ms"])
        .args(["--json", "-", "--summary", "none"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(1000));
    signal(&child, libc::SIGCONT);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["counts"]["dropped"].as_u64().unwrap() > 0,
        "{}",
        v["counts"]
    );
    assert_eq!(v["generator_bound"], true, "{}", v["generator"]);
    let stall = v["generator"]["stall_max_ms"].as_f64().unwrap();
    assert!(stall >= 900.0, "{stall}");
    assert!(
        v["generator"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("the generator stalled"),
        "{}",
        v["generator"]
    );
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn bodies_announced_and_never_sent_hold_nothing_for_long() {
    // four heads declaring 16 MiB each (the whole echo budget) and no body: other POSTs
    // are still echoed at once, and the silent ones are closed after the idle timeout
    let (mut server, addrs, _err) =
        serve(&["http", "--listen", "127.0.0.1:0", "--idle-timeout", "1s"]);
    let addr = addrs[0].clone();
    let silent: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 16777216\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert_eq!(post(&addr, "/", 100_000, false), 200);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // each silent connection ends (closed, or answered and closed) within a few seconds
    for mut c in silent {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let t = std::time::Instant::now();
        let _ = c.read(&mut buf);
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "still open after {:?}",
            t.elapsed()
        );
    }
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn idle_scrapers_take_neither_the_runs_descriptors_nor_a_core() {
    // 400 scrapers that connect and say nothing, with 256 file descriptors in all: the
    // metrics endpoint serves a bounded few, the run's own connections are not starved,
    // and the accept loop does not spin
    use std::os::unix::process::CommandExt;
    let (mut server, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", addrs[0]);
    let mut cmd = bin();
    cmd.args(["run", &url, "-r", "300", "-d", "3s", "--connections", "20"])
        .args([
            "--metrics",
            "127.0.0.1:0",
            "--json",
            "-",
            "--summary",
            "none",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit in the child before exec
    unsafe {
        cmd.pre_exec(|| {
            let rl = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            Ok(())
        });
    }
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, for its rusage
    let mut child = cmd.spawn().unwrap();
    let addr = metrics_addr(&mut BufReader::new(child.stderr.take().unwrap()));
    let idle: Vec<_> = (0..400)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    // the process's own CPU (all its threads), from wait4
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 on our own child
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(pid, child.id() as i32);
    drop(idle);
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    let c = &v["counts"];
    assert_eq!(c["success"], c["scheduled"], "{c}");
    // a spinning accept loop would burn the 3 s on a core
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = secs(ru.ru_utime) + secs(ru.ru_stime);
    assert!(cpu < 1.5, "process CPU {cpu} s");
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn one_body_file_named_many_ways_is_held_once() {
    // 20 MB named 40 ways (./x, ././x, …): read once, sent from where it is held, in every
    // client — not 40 copies, nor a copy per rendered request (1.6 GB before); the server
    // reads each body and answers 2 bytes
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let body = tmp("big-body.bin");
    std::fs::write(&body, vec![7u8; 20 << 20]).unwrap();
    let (dir, name) = (
        body.parent().unwrap(),
        body.file_name().unwrap().to_str().unwrap(),
    );
    let text: String = (0..40)
        .map(|i| {
            format!(
                "POST http://{}/?size=2\n@{}/{}{name}\n\n",
                addrs[0],
                dir.display(),
                "./".repeat(i)
            )
        })
        .collect();
    let t = write("many-names.targets", text);
    let json = tmp("many-names.json");
    for client in [&[][..], &["--hyper"], &["--http2"]] {
        let mut args = vec![
            "run",
            "--targets",
            &t,
            "-r",
            "20",
            "-d",
            "500ms",
            "--summary",
            "none",
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(client);
        let (code, err, rss_kb) = run_measured(&args);
        no_panic(&err);
        assert_eq!(code, Some(0), "{client:?}: {err}");
        let s = parse(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(
            s.counts.success, s.counts.scheduled,
            "{client:?}: {:?}",
            s.errors
        );
        assert!(rss_kb < 200 * 1024, "{client:?}: max RSS {rss_kb} KiB");
    }
    // the headers of one request are capped too (1,500 lines of 1 MiB took 2.9 GB)
    let line = format!("X-Big: {}\n", "a".repeat(600 * 1024));
    let t = write(
        "big-headers.targets",
        format!("GET http://127.0.0.1:9/\n{line}{line}\n"),
    );
    let out = run(&["run", "--targets", &t, "-d", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(":3: the headers of a request pass 1 MiB"),
        "{err}"
    );
}
