//! Misbehaving servers against every HTTP client (fast, hyper HTTP/1.1, h2c): each
//! case has one outcome class for all of them (the README's table), every load is
//! accounted for, nothing panics. Servers are written here, on 127.0.0.1:0; runs last a
//! fraction of a second.

mod support;

use std::time::Duration;

use loadgen::protocol::http::HttpOptions;
use loadgen::summary::codec::SummaryJson;
use support::{clients, http_target, plan, raw_server, run_http};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads one request head (and whatever came with it); false when the peer is gone.
async fn read_request(s: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if seen.windows(4).any(|w| w == b"\r\n\r\n") {
            return true;
        }
    }
}

/// A server that answers every request on a connection with `reply`.
fn answering(reply: &'static [u8]) -> loadgen_servers::Spawned {
    raw_server(move |mut s| async move {
        while read_request(&mut s).await {
            if s.write_all(reply).await.is_err() {
                return;
            }
        }
    })
}

/// `clients()` without h2 (for servers that speak only HTTP/1.1).
fn h1_clients() -> Vec<(&'static str, HttpOptions)> {
    clients().into_iter().filter(|(n, _)| *n != "h2").collect()
}

fn run(addr: std::net::SocketAddr, opts: HttpOptions, rate: f64, secs: f64) -> SummaryJson {
    run_http(
        plan(
            "hostile",
            rate,
            Duration::from_secs_f64(secs),
            Duration::from_secs(2),
        ),
        http_target(addr, "/"),
        opts,
    )
}

fn outcome(s: &SummaryJson, class: &str) -> u64 {
    serde_json::to_value(s.counts).unwrap()[class]
        .as_u64()
        .unwrap()
}

/// Every load of `s` ended as `class`.
fn all(s: &SummaryJson, class: &str, case: &str) {
    assert!(s.counts.scheduled > 0, "{case}");
    assert_eq!(
        outcome(s, class),
        s.counts.scheduled,
        "{case}: {:?} {:?}",
        s.counts,
        s.errors
    );
}

#[test]
fn malformed_http1_answers_are_response_errors_in_every_client() {
    let huge_head: &'static [u8] = {
        let mut h = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
        h.extend(std::iter::repeat_n(b'a', 200 * 1024));
        h.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        h.leak()
    };
    let cases: &[(&str, &'static [u8])] = &[
        (
            "status 999",
            b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            "two Content-Lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        ),
        (
            "a bad chunk size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
        ),
        ("not HTTP", b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        ("a 200 KiB head", huge_head),
    ];
    for &(case, reply) in cases {
        let server = answering(reply);
        for (client, opts) in h1_clients() {
            let s = run(server.addr(), opts, 40.0, 0.25);
            all(&s, "response_error", &format!("{case} ({client})"));
        }
    }
}

#[test]
fn an_endless_chunk_extension_is_cut_off_at_the_head_cap() {
    // "5;aaaa…" never ending: refused once it passes the cap, long before the timeout
    let server = raw_server(|mut s| async move {
        if !read_request(&mut s).await {
            return;
        }
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;")
            .await;
        let junk = vec![b'a'; 64 * 1024];
        for _ in 0..200 {
            if s.write_all(&junk).await.is_err() {
                return;
            }
        }
    });
    for (client, opts) in h1_clients() {
        let s = run(server.addr(), opts, 20.0, 0.2);
        all(&s, "response_error", &format!("chunk extension ({client})"));
    }
}

#[test]
fn status_999_is_a_response_error_over_h2_too() {
    let server = loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, |l, stop| {
        loadgen_servers::http::run(
            l,
            Default::default(),
            loadgen_servers::http::Behaviour {
                status: 999,
                ..Default::default()
            },
            None,
            loadgen_servers::until_true(stop),
        )
    })
    .unwrap();
    for (client, opts) in clients() {
        let s = run(server.addr(), opts, 40.0, 0.25);
        all(&s, "response_error", &format!("status 999 ({client})"));
        assert!(s.errors[0].message.contains("999"), "{:?}", s.errors);
    }
}

#[test]
fn garbage_instead_of_h2_is_a_response_error() {
    // an HTTP/1.1-only server answering h2c's preface
    let server = answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let (_, opts) = clients().into_iter().find(|(n, _)| *n == "h2").unwrap();
    let s = run(server.addr(), opts, 40.0, 0.25);
    all(&s, "response_error", "h1 answer to h2");
}

#[test]
fn an_unsolicited_second_answer_is_not_taken_for_the_next_one() {
    // each answer is followed, 10 ms later, by a 500 nobody asked for; the next request
    // comes 200 ms after the last (room for a busy machine to hold the server back): a
    // client that reuses the connection would read the 500
    let server = raw_server(|mut s| async move {
        while read_request(&mut s).await {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            if s.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
        }
    });
    for (client, mut opts) in h1_clients() {
        opts.streams = 1;
        let s = run_one_connection(server.addr(), opts, 5.0, 1.0);
        all(&s, "success", &format!("unsolicited answer ({client})"));
    }
}

#[test]
fn a_request_closed_unanswered_on_a_kept_alive_connection_is_retried_in_every_client() {
    // the server answers the first request of a connection, reads the second, and closes
    let server = raw_server(|mut s| async move {
        if !read_request(&mut s).await {
            return;
        }
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await;
        read_request(&mut s).await;
    });
    for (client, opts) in h1_clients() {
        let s = run_one_connection(server.addr(), opts, 40.0, 0.5);
        all(&s, "success", &format!("closed unanswered ({client})"));
    }
}

#[test]
fn a_connection_closed_mid_answer_is_a_call_error_in_every_client() {
    let server = raw_server(|mut s| async move {
        if read_request(&mut s).await {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
                .await;
        }
    });
    for (client, opts) in h1_clients() {
        let s = run(server.addr(), opts, 40.0, 0.25);
        all(&s, "call_error", &format!("closed mid-answer ({client})"));
    }
}

#[test]
fn silence_is_a_timeout_in_every_client() {
    let server = raw_server(|mut s| async move { while read_request(&mut s).await {} });
    for (client, opts) in clients() {
        let mut p = plan(
            "silent",
            40.0,
            Duration::from_millis(200),
            Duration::from_millis(150),
        );
        p.concurrency = Some(16);
        let s = run_http(p, http_target(server.addr(), "/"), opts);
        all(&s, "timeout", &format!("silence ({client})"));
    }
}

/// Like [`run`], on one connection of one thread.
fn run_one_connection(
    addr: std::net::SocketAddr,
    opts: HttpOptions,
    rate: f64,
    secs: f64,
) -> SummaryJson {
    let mut p = plan(
        "hostile",
        rate,
        Duration::from_secs_f64(secs),
        Duration::from_secs(2),
    );
    p.concurrency = Some(1);
    p.threads = Some(1);
    run_http(p, http_target(addr, "/"), opts)
}

#[test]
fn a_server_going_away_costs_no_call_over_h2() {
    // every connection serves 5 requests, then says GOAWAY (gracefully, as nginx does after
    // keepalive_requests); its first answer takes 200 ms, so it drains that long: calls
    // meanwhile must go to a new connection, not fail on the old one
    let server = raw_server(|s| async move {
        let Ok(mut conn) = h2::server::handshake(s).await else {
            return;
        };
        let mut served = 0;
        while let Some(Ok((_req, mut respond))) = conn.accept().await {
            served += 1;
            let delay = if served == 1 { 200 } else { 0 };
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let head = http::Response::builder().status(200).body(()).unwrap();
                if let Ok(mut body) = respond.send_response(head, false) {
                    let _ = body.send_data(bytes::Bytes::from_static(b"ok"), true);
                }
            });
            if served == 5 {
                conn.graceful_shutdown();
            }
        }
    });
    let (_, opts) = clients().into_iter().find(|(n, _)| *n == "h2").unwrap();
    let s = run(server.addr(), opts, 400.0, 0.5);
    all(&s, "success", "GOAWAY after every 5 requests");
}

/// A server that answers one request with `reply` and closes the connection.
fn answering_once(reply: &'static [u8]) -> loadgen_servers::Spawned {
    raw_server(move |mut s| async move {
        if read_request(&mut s).await {
            let _ = s.write_all(reply).await;
        }
    })
}

#[test]
fn odd_framing_is_one_class_in_every_http1_client() {
    let many = |n: usize| -> &'static [u8] {
        let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..n {
            h.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        h.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
        h.leak()
    };
    let chunked_ok: &[u8] = b"2\r\nok\r\n0\r\n\r\n";
    let with = |head: &str| -> &'static [u8] {
        let mut v = head.as_bytes().to_vec();
        v.extend_from_slice(chunked_ok);
        v.leak()
    };
    // (case, reply, close after it, the class every client gives)
    let cases: &[(&str, &'static [u8], bool, &str)] = &[
        ("70 headers", many(70), false, "success"),
        ("99 headers", many(99), false, "success"),
        ("150 headers", many(150), false, "response_error"),
        (
            "Content-Length: +2",
            b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
            false,
            "response_error",
        ),
        (
            "Content-Length: 2, 2",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
            false,
            "success",
        ),
        (
            "Content-Length: 2, 3",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
            false,
            "response_error",
        ),
        (
            "TE gzip, then a chunked line",
            with(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            false,
            "success",
        ),
        // chunked not last: the body runs to the end of the stream
        (
            "TE chunked, then a gzip line",
            with(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
            ),
            true,
            "success",
        ),
        (
            "TE chunked, gzip",
            with("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            true,
            "success",
        ),
        (
            "TE and CL",
            with("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            false,
            "success",
        ),
        (
            "an unasked 101",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
            false,
            "response_error",
        ),
    ];
    for &(case, reply, close, class) in cases {
        let server = if close {
            answering_once(reply)
        } else {
            answering(reply)
        };
        for (client, opts) in h1_clients() {
            let s = run(server.addr(), opts, 40.0, 0.25);
            all(&s, class, &format!("{case} ({client})"));
        }
    }
}

#[test]
fn a_chunked_answer_that_also_has_a_length_closes_its_connection() {
    // RFC 9112 §6.3: Transfer-Encoding wins, and such a connection is not reused
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = accepted.clone();
    let server = raw_server(move |mut s| {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            while read_request(&mut s).await {
                let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n2\r\nok\r\n0\r\n\r\n";
                if s.write_all(r).await.is_err() {
                    return;
                }
            }
        }
    });
    let fast = h1_clients().remove(0);
    assert_eq!(fast.0, "fast");
    let s = run(server.addr(), fast.1, 40.0, 0.25);
    all(&s, "success", "TE and CL");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) as u64,
        s.counts.scheduled,
        "a connection per request"
    );
}

fn vm_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn unfinished_grpc_messages_cannot_fill_the_servers_memory() {
    // 60 streams, each a message declared at 4,000,000 bytes with 3.9 MB sent and never
    // finished: the server holds at most its request budget (64 MiB), not 234 MB, and
    // answers the streams past it with RESOURCE_EXHAUSTED
    const STREAMS: usize = 60;
    let server = loadgen_servers::grpc::spawn_loopback().unwrap();
    let addr = server.addr();
    let before = vm_rss_kb();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exhausted = rt.block_on(async move {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (client, conn) = h2::client::Builder::new()
            .initial_window_size(8 << 20)
            .handshake::<_, bytes::Bytes>(s)
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut calls = Vec::new();
        for _ in 0..STREAMS {
            let mut client = client.clone().ready().await.unwrap();
            let req = http::Request::post(format!("http://{addr}/calc.Calc/Compute"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .unwrap();
            let (resp, mut send) = client.send_request(req, false).unwrap();
            let mut msg = vec![0u8, 0, 0x3d, 0x09, 0x00]; // 4,000,000
            msg.extend(std::iter::repeat_n(8u8, 3_900_000));
            let mut data = bytes::Bytes::from(msg);
            calls.push(tokio::spawn(async move {
                while !data.is_empty() {
                    send.reserve_capacity(data.len());
                    let Some(Ok(n)) = std::future::poll_fn(|cx| send.poll_capacity(cx)).await
                    else {
                        break;
                    };
                    if send
                        .send_data(data.split_to(n.min(data.len())), false)
                        .is_err()
                    {
                        break;
                    }
                }
                // never finished; what the server said, if anything, in 3 s
                let r = tokio::time::timeout(Duration::from_secs(3), resp).await;
                let status = match r {
                    Ok(Ok(r)) => r
                        .headers()
                        .get("grpc-status")
                        .map(|v| v.to_str().unwrap_or("").to_string()),
                    _ => None,
                };
                (status, send)
            }));
        }
        let mut exhausted = 0;
        let mut held = Vec::new();
        for c in calls {
            let (status, send) = c.await.unwrap();
            exhausted += usize::from(status.as_deref() == Some("8"));
            held.push(send);
        }
        exhausted
    });
    let grew_mb = vm_rss_kb().saturating_sub(before) / 1024;
    // the client's own 234 MB of messages is freed as sent; the server's share is bounded
    assert!(grew_mb < 150, "RSS grew {grew_mb} MB");
    assert!(exhausted > 30, "{exhausted} streams got RESOURCE_EXHAUSTED");
    eprintln!("RSS grew {grew_mb} MB; {exhausted} of {STREAMS} streams exhausted");
    drop(server);
}
