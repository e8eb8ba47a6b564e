//! Deadlines are absolute: whatever a server does — stream an endless body as fast as the
//! socket takes it, or drip one byte at a time — every call ends at its timeout, for
//! every client (fast HTTP/1.1, hyper HTTP/1.1, h2c, calc, TCP). A call held past its
//! timeout would hold its slot, and the loads behind it would be `dropped` or `cancelled`
//! instead of `timeout`.

mod support;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use loadgen::protocol::calc::{CalcCaller, CalcOptions};
use loadgen::protocol::stream::{Framing, StreamOptions, TcpCaller};
use loadgen::summary::codec::SummaryJson as Summary;
use support::{clients, http_target, plan, raw_server, run, run_http};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response body that never ends: 16 KiB frames as fast as they are taken, or one
/// byte every `drip`.
struct Endless {
    drip: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

impl Endless {
    fn fast() -> Endless {
        Endless { drip: None }
    }
    fn drip(every: Duration) -> Endless {
        Endless {
            drip: Some((every, Box::pin(tokio::time::sleep(every)))),
        }
    }
}

static CHUNK: [u8; 16384] = [b'x'; 16384];

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.drip {
            None => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK))))),
            Some((every, sleep)) => {
                std::task::ready!(sleep.as_mut().poll(cx));
                let next = tokio::time::Instant::now() + *every;
                sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
            }
        }
    }
    fn size_hint(&self) -> SizeHint {
        // the fast stream announces 3 GB (a Content-Length in HTTP/1.1); the drip is chunked
        match self.drip {
            None => SizeHint::with_exact(3_000_000_000),
            Some(_) => SizeHint::default(),
        }
    }
}

/// HTTP/1.1 and h2c on one port, answering every request with `body()`.
fn endless_http(body: fn() -> Endless) -> loadgen_servers::Spawned {
    raw_server(move |s| async move {
        let svc = hyper::service::service_fn(move |_req| async move {
            Ok::<_, Infallible>(hyper::Response::new(body()))
        });
        let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
            .await;
    })
}

fn drip() -> Endless {
    Endless::drip(Duration::from_millis(5))
}

const TIMEOUT: Duration = Duration::from_millis(200);

fn assert_all_timeouts(what: &str, s: &Summary) {
    assert_eq!(
        s.counts.timeout, s.counts.scheduled,
        "{what}: every call must end at its timeout: {:?} {:?}",
        s.counts, s.errors
    );
}

/// Runs every HTTP client against `server` for half a second; every call must time out.
fn every_client_times_out(name: &str, body: fn() -> Endless, client: usize) {
    let server = endless_http(body);
    let (cname, opts) = clients().into_iter().nth(client).unwrap();
    let p = plan("http://t", 40.0, Duration::from_millis(500), TIMEOUT);
    let s = run_http(p, http_target(server.addr(), "/"), opts);
    assert_all_timeouts(&format!("{cname} vs {name}"), &s);
    server.stop().unwrap();
}

#[test]
fn an_endless_body_ends_at_the_timeout_fast() {
    every_client_times_out("endless", Endless::fast, 0);
}

#[test]
fn an_endless_body_ends_at_the_timeout_hyper() {
    every_client_times_out("endless", Endless::fast, 1);
}

#[test]
fn an_endless_body_ends_at_the_timeout_h2() {
    every_client_times_out("endless", Endless::fast, 2);
}

#[test]
fn a_dripping_body_ends_at_the_timeout_fast() {
    every_client_times_out("drip", drip, 0);
}

#[test]
fn a_dripping_body_ends_at_the_timeout_hyper() {
    every_client_times_out("drip", drip, 1);
}

#[test]
fn a_dripping_body_ends_at_the_timeout_h2() {
    every_client_times_out("drip", drip, 2);
}

/// A TCP server that reads a request and answers with bytes that never end a frame:
/// as fast as it can (`fast`), or one byte every 5 ms.
fn endless_bytes(fast: bool) -> loadgen_servers::Spawned {
    raw_server(move |mut s| async move {
        let mut buf = [0u8; 4096];
        if s.read(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
        loop {
            let r = if fast {
                s.write_all(&CHUNK[..1000]).await
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                s.write_all(b"x").await
            };
            if r.is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_dripping_answer_ends_at_the_timeout_in_calc_and_tcp() {
    let server = endless_bytes(false);
    let addr = server.addr();
    let s = run(
        plan("calc://t", 40.0, Duration::from_millis(500), TIMEOUT),
        move |c: &loadgen::ThreadContext| {
            CalcCaller::new(vec![addr], c.slots, CalcOptions::default())
        },
    );
    assert_all_timeouts("calc", &s);
    let opts = StreamOptions {
        framing: Framing::Delimiter(b"\n".to_vec()),
        ..StreamOptions::echo(b"ping\n".to_vec())
    };
    let s = run(
        plan("tcp://t", 40.0, Duration::from_millis(500), TIMEOUT),
        move |c: &loadgen::ThreadContext| TcpCaller::new(vec![addr], c.slots, opts.clone()),
    );
    assert_all_timeouts("tcp", &s);
    server.stop().unwrap();
}

#[test]
fn an_endless_answer_is_refused_at_the_frame_cap_in_calc_and_tcp() {
    let server = endless_bytes(true);
    let addr = server.addr();
    let s = run(
        plan("calc://t", 20.0, Duration::from_millis(500), TIMEOUT),
        move |c: &loadgen::ThreadContext| {
            CalcCaller::new(vec![addr], c.slots, CalcOptions::default())
        },
    );
    assert_eq!(
        s.counts.response_error, s.counts.scheduled,
        "{:?}",
        s.errors
    );
    let opts = StreamOptions {
        framing: Framing::Delimiter(b"\n".to_vec()),
        ..StreamOptions::echo(b"ping\n".to_vec())
    };
    let s = run(
        plan("tcp://t", 20.0, Duration::from_millis(500), TIMEOUT),
        move |c: &loadgen::ThreadContext| TcpCaller::new(vec![addr], c.slots, opts.clone()),
    );
    assert_eq!(
        s.counts.response_error, s.counts.scheduled,
        "{:?}",
        s.errors
    );
    server.stop().unwrap();
}
