//! Helpers shared by the integration tests: scripted servers on 127.0.0.1:0 and a run of
//! any caller, with the accounting invariant checked on every summary.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use loadgen::protocol::http::{HttpCaller, HttpOptions, HttpTarget, tls_config};
use loadgen::summary::codec::{SummaryJson, to_document};
use loadgen::{CallerFactory, LoadGen, Plan, Schedule, Target};

/// A raw TCP server whose connection handler is `handler` (one task per connection).
pub fn raw_server<F, Fut>(handler: F) -> loadgen_servers::Spawned
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::new(handler);
    loadgen_servers::spawn(
        "127.0.0.1:0".parse().unwrap(),
        1,
        move |l, stop| async move {
            let mut stop = std::pin::pin!(loadgen_servers::until_true(stop));
            loop {
                tokio::select! {
                    _ = &mut stop => return Ok(()),
                    Ok((s, _)) = l.accept() => { tokio::spawn(handler(s)); }
                }
            }
        },
    )
    .unwrap()
}

/// An `http://localhost:PORT/` target at `addr`.
pub fn http_target(addr: SocketAddr, path: &str) -> HttpTarget {
    HttpTarget {
        url: format!("http://localhost:{}{path}", addr.port()),
        tls: false,
        host: "localhost".into(),
        port: addr.port(),
        addr,
        path: path.into(),
        unix: None,
        proxy: None,
        connect_timeout: None,
    }
}

/// The three HTTP clients: the fast HTTP/1.1 one, hyper's HTTP/1.1, hyper's h2c.
pub fn clients() -> [(&'static str, HttpOptions); 3] {
    [
        ("fast", HttpOptions::default()),
        (
            "hyper",
            HttpOptions {
                hyper_h1: true,
                ..HttpOptions::default()
            },
        ),
        (
            "h2",
            HttpOptions {
                http2: true,
                streams: 4,
                ..HttpOptions::default()
            },
        ),
    ]
}

/// A constant-rate plan for one target named `name`.
pub fn plan(name: &str, rate: f64, dur: Duration, timeout: Duration) -> Plan {
    let target = Target {
        name: name.into(),
        weight: 1,
    };
    Plan::new(
        Schedule::constant(rate, dur).unwrap(),
        timeout,
        vec![target],
        "test",
    )
}

/// Runs `plan` with `factory`, checks the invariant, and returns the run's JSON document
/// (the contract the assertions read).
pub fn run<F: CallerFactory>(plan: Plan, factory: F) -> SummaryJson {
    let s = to_document(&LoadGen::new(plan, factory).unwrap().run().unwrap());
    assert!(s.counts.invariant_holds(), "{:?}", s.counts);
    s
}

/// Runs `plan` against `target` with an HTTP client made from `opts`, one connection per
/// slot.
pub fn run_http(plan: Plan, target: HttpTarget, opts: HttpOptions) -> SummaryJson {
    let targets = vec![target];
    let tls = tls_config(&opts, &targets).unwrap();
    let opts = Arc::new(opts);
    run(plan, move |s: &loadgen::ThreadContext| {
        HttpCaller::new(&targets, s.slots, opts.clone(), tls.clone()).unwrap()
    })
}
