//! HTTP/3 end to end: `--http3` against `serve http --http3` (a self-signed certificate,
//! and one the client trusts), a server nobody here wrote (Python's aioquic), and peers
//! that stop answering — each ending in its outcome class, on time, without a panic.
//! Everything on 127.0.0.1 with ephemeral ports.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::*;

#[test]
fn http3_against_serve_http() {
    // out of the box: a self-signed certificate, -k
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--http3"]);
    let url = format!("https://{}/", addrs[0]);
    let s = ok_run(&[&url, "--http3", "-k", "-r", "500", "-d", "1s"]);
    assert_eq!(
        (s.counts.scheduled, s.counts.success),
        (500, 500),
        "{:?}",
        errors(&s)
    );
    assert_eq!(
        s.protocol_details.get("client").map(String::as_str),
        Some("quinn/h3 HTTP/3")
    );
    // bodies both ways, checked as they stream; the server's knobs
    let post = format!("https://{}/echo", addrs[0]);
    let s = ok_run(&[
        &post,
        "--http3",
        "-k",
        "-n",
        "100",
        "-m",
        "POST",
        "--body",
        "over quic",
        "--expect-body",
        "over quic",
    ]);
    assert_eq!(s.counts.success, 100, "{:?}", errors(&s));
    let big = format!("https://{}/?size=300000", addrs[0]);
    let s = ok_run(&[&big, "--http3", "-k", "-n", "20", "--expect-body", "xxxx"]);
    assert_eq!(s.counts.success, 20, "{:?}", errors(&s));
    let failing = format!("https://{}/?status=503", addrs[0]);
    let s = ok_run(&[&failing, "--http3", "-k", "-n", "10"]);
    assert_eq!(s.counts.callee_error, 10, "{:?}", errors(&s));
    // not trusted: the handshake fails, a call_error
    let s = ok_run(&[&url, "--http3", "-n", "3"]);
    assert_eq!(s.counts.call_error, 3, "{:?}", errors(&s));
    // a certificate the client trusts, on both listeners
    let (c, k) = cert("h3-serve");
    let (_srv, addrs, _) = serve(&[
        "http",
        "--listen",
        "127.0.0.1:0",
        "--http3",
        "--tls-cert",
        &c,
        "--tls-key",
        &k,
    ]);
    let url = format!("https://{}/", addrs[0]);
    let s = ok_run(&[&url, "--http3", "--cacert", &c, "-n", "50"]);
    assert_eq!(s.counts.success, 50, "{:?}", errors(&s));
    let s = ok_run(&[&url, "--cacert", &c, "-n", "50"]);
    assert_eq!(s.counts.success, 50, "{:?}", errors(&s));
}

#[test]
fn bad_http3_combinations_are_one_line_each() {
    let cases: &[(&[&str], &str)] = &[
        (&["https://127.0.0.1:9/", "--http2"], "--http2"),
        (&["http://127.0.0.1:9/"], "https://"),
        (
            &["https://127.0.0.1:9/", "--proxy", "http://127.0.0.1:9"],
            "--proxy",
        ),
        (&["ws://127.0.0.1:9/"], "https://"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["run", "--http3", "-n", "1"];
        args.extend_from_slice(extra);
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
}

#[test]
fn a_silent_or_stopped_quic_peer_ends_in_timeouts_on_time() {
    // a UDP socket that never answers: the handshake never ends
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/", hole.local_addr().unwrap());
    let started = Instant::now();
    let s = ok_run(&[&url, "--http3", "-k", "-r", "20", "-d", "500ms", "-t", "1s"]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.counts.timeout, 10, "{:?}", errors(&s));
    let s = ok_run(&[
        &url,
        "--http3",
        "-k",
        "-r",
        "20",
        "-d",
        "500ms",
        "--connect-timeout",
        "200ms",
    ]);
    assert_eq!(
        errors(&s),
        vec![("call_error".into(), "connect timeout after 200ms".into())]
    );
    // a server that stops answering mid-run (SIGSTOP): the calls in flight and after time
    // out, the run ends on time
    let (srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--http3"]);
    let url = format!("https://{}/", addrs[0]);
    let pid = srv.0.id();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        // SAFETY: signals to our own child process
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        std::thread::sleep(Duration::from_secs(3));
        unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    });
    let started = Instant::now();
    let s = ok_run(&[
        &url, "--http3", "-k", "-r", "100", "-d", "2s", "-t", "500ms",
    ]);
    let took = started.elapsed();
    stopper.join().unwrap();
    assert!(took < Duration::from_secs(5), "{took:?}");
    let c = &s.counts;
    assert!(c.success > 30 && c.timeout > 50, "{c:?} {:?}", errors(&s));
    assert_eq!(c.success + c.timeout, c.scheduled, "{c:?} {:?}", errors(&s));
}

#[test]
#[cfg_attr(
    not(has_aioquic),
    ignore = "needs Python aioquic (pip install aioquic)"
)]
fn interop_with_aioquic() {
    let (c, k) = cert("h3-peer");
    let (_peer, port) = python_peer("h3_peer.py", &[&c, &k]);
    let base = format!("https://127.0.0.1:{port}");
    let root = format!("{}/", base);
    let s = ok_run(&[
        &root,
        "--http3",
        "--cacert",
        &c,
        "-r",
        "200",
        "-d",
        "1s",
        "-m",
        "POST",
        "--body",
        "ping",
        "--expect-body",
        "hello from aioquic ping",
    ]);
    assert_eq!(s.counts.success, 200, "{:?}", errors(&s));
    let s = ok_run(&[&format!("{}/status/503", base), "--http3", "-k", "-n", "10"]);
    assert_eq!(s.counts.callee_error, 10, "{:?}", errors(&s));
    let s = ok_run(&[&format!("{}/reset", base), "--http3", "-k", "-n", "10"]);
    assert_eq!(
        errors(&s),
        vec![(
            "call_error".into(),
            "HTTP/3 stream reset by the server (H3_REQUEST_CANCELLED)".into()
        )]
    );
}
