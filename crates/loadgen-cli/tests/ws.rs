//! WebSocket loads end to end: rtt, send and subscribe against `serve ws`, wss with a
//! self-signed certificate, a server nobody here wrote (Python's websockets), and hostile
//! peers — each ending in its outcome class, on time, without a panic. Everything runs on
//! 127.0.0.1 with ephemeral ports.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::*;

#[test]
fn rtt_send_and_subscribe_against_serve_ws() {
    let (_srv, addrs, _) = serve(&["ws", "--listen", "127.0.0.1:0"]);
    let url = format!("ws://{}/", addrs[0]);
    // rtt: every message answered, the answer checked
    let s = ok_run(&[&url, "-r", "400", "-d", "1s", "--expect-body", "ping"]);
    assert_eq!(
        (s.counts.scheduled, s.counts.success),
        (400, 400),
        "{:?}",
        errors(&s)
    );
    assert_eq!(s.protocol, "ws");
    assert_eq!(
        s.protocol_details.get("exchange").map(String::as_str),
        Some("rtt")
    );
    // a check that fails is a response_error
    let s = ok_run(&[&url, "-n", "20", "--expect-body", "pong"]);
    assert_eq!(s.counts.response_error, 20, "{:?}", errors(&s));
    // templates, a match on the id, binary
    let s = ok_run(&[
        &url,
        "-n",
        "200",
        "-c",
        "4",
        "--message",
        r#"{"id":"{{index}}","n":{{index}}}"#,
        "--ws-match",
        "$.id",
    ]);
    assert_eq!(s.counts.success, 200, "{:?}", errors(&s));
    let s = ok_run(&[&url, "-n", "50", "--ws-binary", "--message", "\u{1}\u{2}"]);
    assert_eq!(s.counts.success, 50, "{:?}", errors(&s));
    // send: done when written; the echoes coming back are read and discarded
    let s = ok_run(&[
        &url,
        "-r",
        "2000",
        "-d",
        "1s",
        "--ws-mode",
        "send",
        "-c",
        "2",
    ]);
    assert_eq!(s.counts.success, 2000, "{:?}", errors(&s));
}

#[test]
fn subscribe_counts_the_messages_pushed() {
    let (_srv, addrs, _) = serve(&["ws", "--listen", "127.0.0.1:0", "--publish", "50"]);
    let url = format!("ws://{}/feed", addrs[0]);
    // 10 subscribers × 50 messages/s × 2 s ≈ 1000 messages (less the first tick's wait,
    // and a server held back by a busy machine publishes later, not more)
    let s = ok_run(&[&url, "-c", "10", "-d", "2s", "--ws-mode", "subscribe"]);
    assert_eq!(s.counts.success, s.counts.scheduled - s.counts.cancelled);
    assert!(
        (600..=1100).contains(&s.counts.success),
        "{} messages",
        s.counts.success
    );
    // nothing pushed: the waits time out
    let (_quiet, addrs, _) = serve(&["ws", "--listen", "127.0.0.1:0"]);
    let url = format!("ws://{}/", addrs[0]);
    let s = ok_run(&[
        &url,
        "-r",
        "10",
        "-d",
        "1s",
        "-t",
        "300ms",
        "--ws-mode",
        "subscribe",
    ]);
    assert_eq!(s.counts.timeout, 10, "{:?}", errors(&s));
}

#[test]
fn wss_with_a_self_signed_certificate() {
    let (c, k) = cert("wss");
    let (c, k) = (c.as_str(), k.as_str());
    let (_srv, addrs, _) = serve(&[
        "ws",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        c,
        "--tls-key",
        k,
    ]);
    let url = format!("wss://{}/", addrs[0]);
    let s = ok_run(&[&url, "-n", "100", "--cacert", c]);
    assert_eq!(s.counts.success, 100, "{:?}", errors(&s));
    assert_eq!(
        s.protocol_details.get("tls").map(String::as_str),
        Some("yes")
    );
    // --connect-to: the name stays the URL's, the connection goes elsewhere
    let port = addrs[0].rsplit(':').next().unwrap();
    let named = format!("wss://example.test:{port}/");
    let route = format!("example.test:{port}:127.0.0.1:{port}");
    let s = ok_run(&[&named, "-n", "5", "-k", "--connect-to", &route]);
    assert_eq!(s.counts.success, 5, "{:?}", errors(&s));
    // not trusted: every handshake fails, as a call_error
    let s = ok_run(&[&url, "-n", "5"]);
    assert_eq!(s.counts.call_error, 5, "{:?}", errors(&s));
}

#[test]
fn bad_flag_combinations_are_one_line_each() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--ws-match", "$.id"],
            "--ws-match $.id: the message must be JSON",
        ),
        (&["--http2"], "--http2"),
        (&["--body", "x"], "--message"),
        (
            &["--ws-mode", "send", "--expect-body", "x"],
            "--expect-body",
        ),
        (
            &["--ws-mode", "subscribe", "--ws-match", "$.id"],
            "--ws-match",
        ),
        (&["--ws-match", "$[", "--message", "{}"], "--ws-match"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["run", "ws://127.0.0.1:9/", "-n", "1"];
        args.extend_from_slice(extra);
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    // a targets file holds http URLs only
    let file = write("ws-targets.txt", "GET ws://127.0.0.1:9/\n");
    let out = run(&["run", "--targets", &file, "-n", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("http or https"), "{err}");
}

/// A WebSocket peer that misbehaves as its path says (see [`hostile_conn`]).
fn hostile_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || hostile_conn(s));
        }
    });
    addr
}

fn hostile_conn(mut s: TcpStream) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    let key = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-key:")
                .then(|| l.split_once(':').unwrap().1.trim().to_string())
        })
        .unwrap_or_default();
    let hold = || std::thread::sleep(Duration::from_secs(20));
    match path.as_str() {
        "/silent" => return hold(),
        "/200" => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
            return hold();
        }
        _ => {}
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let _ = write!(
        s,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    // wait for the load's message, then answer it badly
    let _ = s.read(&mut [0u8; 256]);
    let frame: &[u8] = match path.as_str() {
        // a binary frame of 4 GiB: only its header is ever sent
        "/huge" => &[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0],
        // a text frame of two bytes that are not UTF-8
        "/utf8" => &[0x81, 2, 0xff, 0xfe],
        // a close with 1011
        "/close1011" => &[0x88, 2, 0x03, 0xf3],
        // gone without a close frame
        "/drop" => return,
        "/pings" => {
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until && s.write_all(&[0x89, 0]).is_ok() {}
            return;
        }
        _ => return,
    };
    let _ = s.write_all(frame);
    hold();
}

#[test]
fn hostile_peers_end_in_their_class_on_time() {
    let addr = hostile_server();
    let cases: &[(&str, &[&str], &str, &str)] = &[
        (
            "/200",
            &[],
            "call_error",
            "handshake: answered 200 instead of 101 Switching Protocols",
        ),
        (
            "/silent",
            &["--connect-timeout", "200ms"],
            "call_error",
            "connect timeout after 200ms",
        ),
        ("/silent", &[], "timeout", "no response within the timeout"),
        ("/huge", &[], "response_error", "a message over 16 MiB"),
        (
            "/utf8",
            &[],
            "response_error",
            "a text message that is not UTF-8",
        ),
        (
            "/close1011",
            &[],
            "call_error",
            "closed by the server with 1011 (internal error)",
        ),
        ("/pings", &[], "timeout", "no response within the timeout"),
        (
            "/drop",
            &[],
            "call_error",
            "connection closed (no close frame)",
        ),
    ];
    for (path, extra, outcome, message) in cases {
        let url = format!("ws://{addr}{path}");
        let mut args = vec![url.as_str(), "-r", "20", "-d", "500ms", "-t", "1s"];
        args.extend_from_slice(extra);
        let started = Instant::now();
        let s = ok_run(&args);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(6), "{path}: {took:?}");
        assert_eq!(s.counts.scheduled, 10, "{path}");
        assert_eq!(
            errors(&s),
            vec![(outcome.to_string(), message.to_string())],
            "{path}: {:?}",
            s.counts
        );
    }
}

#[test]
#[cfg_attr(
    not(has_websockets),
    ignore = "needs Python websockets (pip install websockets)"
)]
fn interop_with_python_websockets() {
    let (_peer, port) = python_peer("ws_peer.py", &[]);
    let base = format!("ws://127.0.0.1:{port}");
    let rtt = format!("{base}/rtt");
    let msg = r#"{"id":"{{index}}","x":"y"}"#;
    // the answer is the one with the sent id, not the noise before it
    let s = ok_run(&[
        &rtt,
        "-r",
        "200",
        "-d",
        "1s",
        "--message",
        msg,
        "--ws-match",
        "$.id",
        "--expect-body",
        "echo",
    ]);
    assert_eq!(s.counts.success, 200, "{:?}", errors(&s));
    // without the match the next message is the answer: the noise, which fails the check
    // (the echo behind it is dropped before the connection's next send, or, when it comes
    // later than that, taken for the next load's answer — so not every load fails)
    let s = ok_run(&[&rtt, "-n", "20", "--message", msg, "--expect-body", "echo"]);
    assert!(s.counts.response_error >= 10, "{:?}", s.counts);
    assert_eq!(s.counts.response_error + s.counts.success, 20);
    let s = ok_run(&[
        &format!("{}/binary", base),
        "-n",
        "50",
        "--ws-binary",
        "--message",
        "abc",
    ]);
    assert_eq!(s.counts.success, 50, "{:?}", errors(&s));
    let s = ok_run(&[
        &format!("{}/fragmented", base),
        "-n",
        "50",
        "--message",
        "one-two-three-{{index}}",
        "--expect-body",
        "one-two-three-",
    ]);
    assert_eq!(s.counts.success, 50, "{:?}", errors(&s));
    let s = ok_run(&[&format!("{}/close1011", base), "-n", "10"]);
    assert_eq!(
        errors(&s),
        vec![(
            "call_error".to_string(),
            "closed by the server with 1011 (internal error)".to_string()
        )]
    );
    assert_eq!(s.counts.call_error, 10);
}

#[test]
fn the_handshake_is_reported_apart_and_shards_merge_it() {
    let (_srv, addrs, _) = serve(&["ws", "--listen", "127.0.0.1:0"]);
    let url = format!("ws://{}/", addrs[0]);
    let mut files = Vec::new();
    for shard in ["0/2", "1/2"] {
        let file = tmp(&format!("ws-connect-{}.json", &shard[..1]));
        let out = run(&[
            "run",
            &url,
            "-n",
            "200",
            "-c",
            "4",
            "--shard",
            shard,
            "--json",
            file.to_str().unwrap(),
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
        let text = std::fs::read_to_string(&file).unwrap();
        let s = loadgen::Summary::from_json(&text).unwrap();
        // each shard's two connections, opened once each, timed apart from the messages
        let (c, n) = s.connect().expect("the connects are timed");
        assert_eq!(n, 2);
        assert!(c.p50 > 0.0 && c.max < 1000.0, "{c:?}");
        assert!(parse(&text).unwrap().connect_ms.is_some());
        files.push(file);
    }
    let merged = tmp("ws-connect-merged.json");
    let out = bin()
        .args(["merge"])
        .args(&files)
        .args(["--json", merged.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("connect "));
    let m = loadgen::Summary::from_json(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    assert_eq!(m.connect().map(|(_, n)| n), Some(4));
}

#[test]
fn a_kept_connection_the_server_closed_while_idle_is_replaced() {
    // the server drops connections idle for 300 ms; loads come every 500 ms on one
    // connection: each finds it closed before sending, and goes on a new one
    let (_srv, addrs, _) = serve(&["ws", "--listen", "127.0.0.1:0", "--idle-timeout", "300ms"]);
    let url = format!("ws://{}/", addrs[0]);
    let s = ok_run(&[&url, "-r", "2", "-d", "2s", "--connections", "1"]);
    assert_eq!(
        (s.counts.scheduled, s.counts.success),
        (4, 4),
        "{:?}",
        errors(&s)
    );
}
