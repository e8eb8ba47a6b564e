//! Every protocol against its built-in server (or a scripted raw server) on 127.0.0.1:0:
//! HTTP status mapping, body framing, TLS, h2, both HTTP/1.1 clients, TCP and UDP echo,
//! weighted targets. Each run is bounded to a second or two.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use loadgen::protocol::http::tls::Verify;
use loadgen::protocol::http::{HttpCaller, HttpOptions, HttpTarget, StatusSet, tls_config};
use loadgen::protocol::stream::{Framing, StreamOptions, TcpCaller, UdpCaller};
use loadgen::summary::codec::{SummaryJson as Summary, to_document};
use loadgen::{LoadGen, Plan, Schedule, Target, ThreadContext};
use loadgen_servers::http::Behaviour;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn http_server(b: Behaviour, tls: Option<Arc<rustls::ServerConfig>>) -> loadgen_servers::Spawned {
    loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, move |l, stop| {
        loadgen_servers::http::run(
            l,
            Default::default(),
            b,
            tls,
            loadgen_servers::until_true(stop),
        )
    })
    .unwrap()
}

/// A raw TCP server that answers every request (read once) with `reply` and then closes if
/// `close` is set.
fn raw_http(reply: &'static [u8], close: bool) -> loadgen_servers::Spawned {
    loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, move |l, stop| async move {
        let mut stop = std::pin::pin!(loadgen_servers::until_true(stop));
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                Ok((mut s, _)) = l.accept() => {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 4096];
                        loop {
                            match s.read(&mut buf).await { Ok(0) | Err(_) => return, Ok(_) => {} }
                            if s.write_all(reply).await.is_err() || close { return; }
                        }
                    });
                }
            }
        }
    })
    .unwrap()
}

fn target(url: &str, addr: SocketAddr, tls: bool, path: &str) -> HttpTarget {
    HttpTarget {
        url: url.into(),
        tls,
        host: "localhost".into(),
        port: addr.port(),
        addr,
        path: path.into(),
        unix: None,
        proxy: None,
        connect_timeout: None,
    }
}

fn run_http(targets: Vec<(HttpTarget, u32)>, opts: HttpOptions, rate: f64, secs: f64) -> Summary {
    let plan_targets = targets
        .iter()
        .map(|(t, w)| Target {
            name: t.url.clone(),
            weight: *w,
        })
        .collect();
    let schedule = Schedule::constant(rate, Duration::from_secs_f64(secs)).unwrap();
    let plan = Plan::new(schedule, Duration::from_secs(2), plan_targets, "http");
    let ts: Vec<HttpTarget> = targets.into_iter().map(|(t, _)| t).collect();
    let tls = tls_config(&opts, &ts).unwrap();
    let opts = Arc::new(opts);
    let s = to_document(
        &LoadGen::new(plan, move |s: &ThreadContext| {
            HttpCaller::new(&ts, s.slots, opts.clone(), tls.clone()).unwrap()
        })
        .unwrap()
        .run()
        .unwrap(),
    );
    assert!(s.counts.invariant_holds(), "{:?}", s.counts);
    s
}

#[test]
fn http_statuses_map_to_outcomes_in_both_clients() {
    let server = http_server(Behaviour::default(), None);
    let a = server.addr();
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("/", None, "success"),
        ("/?status=503", None, "callee_error"),
        ("/?status=404", None, "response_error"),
        ("/?status=404", Some("404"), "success"),
        ("/?status=204", None, "success"),
        ("/?status=302", None, "success"),
    ];
    for hyper in [false, true] {
        for &(path, expect, outcome) in cases {
            let opts = HttpOptions {
                hyper_h1: hyper,
                expect_status: expect
                    .map(|e| StatusSet::parse(e).unwrap())
                    .unwrap_or_default(),
                ..HttpOptions::default()
            };
            let s = run_http(
                vec![(target("http://t", a, false, path), 1)],
                opts,
                200.0,
                0.25,
            );
            let got = serde_json::to_value(s.counts).unwrap();
            assert_eq!(
                got[outcome], s.counts.scheduled,
                "hyper {hyper} {path} {expect:?}: {:?}",
                s.counts
            );
        }
    }
    let s = run_http(
        vec![(target("http://t", a, false, "/?status=503"), 1)],
        HttpOptions::default(),
        100.0,
        0.2,
    );
    assert_eq!(s.errors[0].message, "HTTP 503 Service Unavailable");
}

#[test]
fn fast_and_hyper_clients_give_identical_counts() {
    let server = http_server(Behaviour::default(), None);
    let a = server.addr();
    let targets = || {
        vec![
            (target("http://ok", a, false, "/?size=100"), 2),
            (target("http://bad", a, false, "/?status=500"), 1),
            (target("http://gone", a, false, "/?status=410"), 1),
        ]
    };
    let fast = run_http(targets(), HttpOptions::default(), 1000.0, 1.0);
    let hyper = run_http(
        targets(),
        HttpOptions {
            hyper_h1: true,
            ..HttpOptions::default()
        },
        1000.0,
        1.0,
    );
    assert_eq!(fast.counts, hyper.counts);
    assert_eq!(fast.counts.success, 500);
    assert_eq!(fast.counts.callee_error, 250);
    assert_eq!(fast.counts.response_error, 250);
    for (f, h) in fast.per_target.iter().zip(&hyper.per_target) {
        assert_eq!(f.counts, h.counts);
    }
}

#[test]
fn bodies_are_checked_and_framed() {
    let server = http_server(Behaviour::default(), None);
    let a = server.addr();
    for hyper in [false, true] {
        let opts = |expect: &str| HttpOptions {
            method: "POST".into(),
            body: b"hello loadgen".to_vec(),
            expect_body: Some(expect.as_bytes().to_vec()),
            hyper_h1: hyper,
            ..HttpOptions::default()
        };
        let s = run_http(
            vec![(target("http://t", a, false, "/"), 1)],
            opts("loadgen"),
            200.0,
            0.25,
        );
        assert_eq!(s.counts.success, s.counts.scheduled, "{:?}", s.counts);
        let s = run_http(
            vec![(target("http://t", a, false, "/"), 1)],
            opts("nope"),
            200.0,
            0.25,
        );
        assert_eq!(
            s.counts.response_error, s.counts.scheduled,
            "{:?}",
            s.counts
        );
        // a large body read to the end, the connection reused
        let big = HttpOptions {
            hyper_h1: hyper,
            ..HttpOptions::default()
        };
        let s = run_http(
            vec![(target("http://t", a, false, "/?size=300000"), 1)],
            big,
            200.0,
            0.25,
        );
        assert_eq!(s.counts.success, s.counts.scheduled, "{:?}", s.counts);
    }
}

#[test]
fn chunked_bodies_and_close_delimited_bodies() {
    let chunked = raw_http(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n8;ext=1\r\n loadgen\r\n0\r\nX-Trailer: 1\r\n\r\n",
        false,
    );
    let closing = raw_http(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello loadgen",
        true,
    );
    for (server, hyper) in [
        (&chunked, false),
        (&chunked, true),
        (&closing, false),
        (&closing, true),
    ] {
        let opts = HttpOptions {
            expect_body: Some(b"hello loadgen".to_vec()),
            hyper_h1: hyper,
            ..HttpOptions::default()
        };
        let s = run_http(
            vec![(target("http://t", server.addr(), false, "/"), 1)],
            opts,
            200.0,
            0.25,
        );
        assert_eq!(
            s.counts.success, s.counts.scheduled,
            "hyper {hyper}: {:?} {:?}",
            s.counts, s.errors
        );
    }
}

#[test]
fn a_connection_closed_mid_body_is_a_call_error() {
    let server = raw_http(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part",
        true,
    );
    for hyper in [false, true] {
        let opts = HttpOptions {
            hyper_h1: hyper,
            ..HttpOptions::default()
        };
        let s = run_http(
            vec![(target("http://t", server.addr(), false, "/"), 1)],
            opts,
            200.0,
            0.25,
        );
        assert_eq!(
            s.counts.call_error, s.counts.scheduled,
            "hyper {hyper}: {:?} {:?}",
            s.counts, s.errors
        );
    }
    let garbage = raw_http(b"SMTP ready\r\n\r\n", true);
    let s = run_http(
        vec![(target("http://t", garbage.addr(), false, "/"), 1)],
        HttpOptions::default(),
        100.0,
        0.2,
    );
    assert_eq!(
        s.counts.response_error, s.counts.scheduled,
        "{:?} {:?}",
        s.counts, s.errors
    );
}

fn self_signed() -> (Vec<u8>, Vec<u8>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (
        cert.cert.pem().into_bytes(),
        cert.signing_key.serialize_pem().into_bytes(),
    )
}

#[test]
fn tls_with_a_self_signed_certificate_h1_and_h2() {
    let (cert, key) = self_signed();
    let cfg = loadgen_servers::http::tls_config(&cert, &key, None).unwrap();
    let server = http_server(Behaviour::default(), Some(cfg));
    let t = || {
        vec![(
            target("https://localhost", server.addr(), true, "/?size=64"),
            1,
        )]
    };
    for (http2, hyper, verify) in [
        (false, false, Verify::CaPem(cert.clone())),
        (false, true, Verify::CaPem(cert.clone())),
        (true, false, Verify::CaPem(cert.clone())),
        (false, false, Verify::Insecure),
        (true, false, Verify::Insecure),
    ] {
        let opts = HttpOptions {
            http2,
            hyper_h1: hyper,
            streams: 4,
            verify,
            ..HttpOptions::default()
        };
        let s = run_http(t(), opts, 200.0, 0.5);
        assert_eq!(
            s.counts.success, s.counts.scheduled,
            "h2 {http2} hyper {hyper}: {:?} {:?}",
            s.counts, s.errors
        );
    }
    // the web PKI does not know a self-signed certificate
    let s = run_http(t(), HttpOptions::default(), 100.0, 0.2);
    assert_eq!(s.counts.call_error, s.counts.scheduled);
    assert!(s.errors[0].message.starts_with("TLS:"), "{:?}", s.errors);
}

#[test]
fn a_self_signed_certificate_marked_as_a_ca_is_trusted_as_itself() {
    // what `openssl req -x509` makes: basicConstraints CA:TRUE on the server's certificate
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert, key) = (cert.pem().into_bytes(), key.serialize_pem().into_bytes());
    let cfg = loadgen_servers::http::tls_config(&cert, &key, None).unwrap();
    let server = http_server(Behaviour::default(), Some(cfg));
    for (host, ok) in [("localhost", true), ("other.test", false)] {
        let opts = HttpOptions {
            verify: Verify::CaPem(cert.clone()),
            ..HttpOptions::default()
        };
        let mut t = target("https://t", server.addr(), true, "/");
        t.host = host.into();
        let s = run_http(vec![(t, 1)], opts, 100.0, 0.2);
        let good = if ok {
            s.counts.success
        } else {
            s.counts.call_error
        };
        assert_eq!(
            good, s.counts.scheduled,
            "{host}: {:?} {:?}",
            s.counts, s.errors
        );
    }
}

#[test]
fn h2c_with_streams() {
    let server = http_server(Behaviour::default(), None);
    let opts = HttpOptions {
        http2: true,
        streams: 8,
        ..HttpOptions::default()
    };
    let s = run_http(
        vec![(
            target("http://t", server.addr(), false, "/?delay=5ms&size=10"),
            1,
        )],
        opts,
        1000.0,
        1.0,
    );
    assert_eq!(s.counts.success, 1000, "{:?} {:?}", s.counts, s.errors);
    assert!(s.latency_ms.p50 >= 5.0, "{:?}", s.latency_ms);
}

#[test]
fn weighted_http_targets_get_their_share() {
    let server = http_server(Behaviour::default(), None);
    let a = server.addr();
    let s = run_http(
        vec![
            (target("http://a", a, false, "/a"), 3),
            (target("http://b", a, false, "/b"), 1),
        ],
        HttpOptions::default(),
        2000.0,
        1.0,
    );
    let (x, y) = (
        s.per_target[0].counts.scheduled as f64,
        s.per_target[1].counts.scheduled as f64,
    );
    assert!((x / (x + y) - 0.75).abs() < 0.02, "{x} {y}");
    assert_eq!(
        s.per_target[0].counts.success + s.per_target[1].counts.success,
        2000
    );
}

fn run_stream<C: loadgen::Caller>(
    scheme: &str,
    make: impl Fn(&ThreadContext) -> C + Send + Sync + 'static,
    rate: f64,
) -> Summary {
    let t = Target {
        name: format!("{scheme}://test"),
        weight: 1,
    };
    let plan = Plan::new(
        Schedule::constant(rate, Duration::from_secs(1)).unwrap(),
        Duration::from_millis(200),
        vec![t],
        scheme,
    );
    let s = to_document(&LoadGen::new(plan, make).unwrap().run().unwrap());
    assert!(s.counts.invariant_holds(), "{:?}", s.counts);
    s
}

#[test]
fn tcp_echo_by_length_and_by_delimiter() {
    let server = loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, |l, stop| {
        loadgen_servers::echo::run_tcp(l, Default::default(), loadgen_servers::until_true(stop))
    })
    .unwrap();
    let a = server.addr();
    let by_len = StreamOptions::echo(b"hello tcp".to_vec());
    let s = run_stream(
        "tcp",
        move |sh| TcpCaller::new(vec![a], sh.slots, by_len.clone()),
        500.0,
    );
    assert_eq!(s.counts.success, 500, "{:?} {:?}", s.counts, s.errors);
    let by_delim = StreamOptions {
        payload: b"line one\n".to_vec(),
        framing: Framing::Delimiter(b"\n".to_vec()),
        expect: None,
        dial_per_call: true,
    };
    let s = run_stream(
        "tcp",
        move |sh| TcpCaller::new(vec![a], sh.slots, by_delim.clone()),
        500.0,
    );
    assert_eq!(s.counts.success, 500, "{:?} {:?}", s.counts, s.errors);
    let wrong = StreamOptions {
        expect: Some(b"pong".to_vec()),
        ..StreamOptions::echo(b"ping".to_vec())
    };
    let s = run_stream(
        "tcp",
        move |sh| TcpCaller::new(vec![a], sh.slots, wrong.clone()),
        100.0,
    );
    assert_eq!(s.counts.response_error, 100);
}

#[test]
fn udp_loss_becomes_timeouts_none_lost() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = std::thread::spawn(move || {
        rt.block_on(async move {
            socket.set_nonblocking(true).unwrap();
            let s = tokio::net::UdpSocket::from_std(socket).unwrap();
            loadgen_servers::echo::run_udp(s, Some(2), loadgen_servers::until_true(stop_rx)).await
        })
    });
    let opts = StreamOptions::echo(b"datagram".to_vec());
    let mut s = run_stream(
        "udp",
        move |sh| UdpCaller::new(vec![addr], sh.slots, opts.clone()),
        400.0,
    );
    stop_tx.send(true).unwrap();
    server.join().unwrap().unwrap();
    assert_eq!(s.counts.scheduled, 400);
    assert_eq!(s.counts.success, 200, "{:?}", s.counts);
    assert_eq!(s.counts.timeout, 200, "{:?}", s.counts);
    s.errors.retain(|e| e.outcome != "timeout");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
}

/// A raw HTTP server whose connection answers request k with `replies[k]` (closing after
/// the last one), counting every request it reads.
fn scripted_http(
    replies: &'static [&'static [u8]],
    count: Arc<std::sync::atomic::AtomicU64>,
) -> loadgen_servers::Spawned {
    loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, move |l, stop| async move {
        let mut stop = std::pin::pin!(loadgen_servers::until_true(stop));
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                Ok((mut s, _)) = l.accept() => {
                    let count = count.clone();
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 4096];
                        for reply in replies {
                            match s.read(&mut buf).await { Ok(0) | Err(_) => return, Ok(_) => {} }
                            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            if s.write_all(reply).await.is_err() { return; }
                        }
                    });
                }
            }
        }
    })
    .unwrap()
}

#[test]
fn a_request_is_never_sent_twice_after_part_of_its_answer_came() {
    use std::sync::atomic::{AtomicU64, Ordering};
    // each connection: a full answer, then a truncated one, then close
    static REPLIES: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial",
    ];
    let count = Arc::new(AtomicU64::new(0));
    let server = scripted_http(REPLIES, count.clone());
    let opts = HttpOptions::default();
    let target = vec![(target("http://t", server.addr(), false, "/"), 1)];
    let plan_targets = vec![Target {
        name: "http://t".into(),
        weight: 1,
    }];
    let mut plan = Plan::new(
        Schedule::constant(50.0, Duration::from_millis(200)).unwrap(),
        Duration::from_secs(2),
        plan_targets,
        "http",
    );
    plan.concurrency = Some(1);
    plan.threads = Some(1);
    let ts: Vec<HttpTarget> = target.into_iter().map(|(t, _)| t).collect();
    let opts = Arc::new(opts);
    let s = to_document(
        &LoadGen::new(plan, move |_: &ThreadContext| {
            HttpCaller::new(&ts, 1, opts.clone(), None).unwrap()
        })
        .unwrap()
        .run()
        .unwrap(),
    );
    assert!(s.counts.invariant_holds());
    assert_eq!(
        (s.counts.success, s.counts.call_error),
        (5, 5),
        "{:?} {:?}",
        s.counts,
        s.errors
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        10,
        "no request was sent twice"
    );
}

#[test]
fn a_connection_the_server_closed_while_idle_is_retried_once() {
    use std::sync::atomic::AtomicU64;
    // the server answers one request per connection, then closes without saying so
    static REPLIES: &[&[u8]] = &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"];
    let server = scripted_http(REPLIES, Arc::new(AtomicU64::new(0)));
    for hyper in [false, true] {
        let opts = HttpOptions {
            hyper_h1: hyper,
            ..HttpOptions::default()
        };
        let s = run_http(
            vec![(target("http://t", server.addr(), false, "/"), 1)],
            opts,
            50.0,
            0.4,
        );
        assert_eq!(
            s.counts.success, s.counts.scheduled,
            "hyper {hyper}: {:?} {:?}",
            s.counts, s.errors
        );
    }
}
