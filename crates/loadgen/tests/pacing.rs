//! Batched reads keep latency true: at a low rate the engine sleeps from one load to the
//! next and reads each response at the next tick, long after it arrived; the kernel's
//! receive timestamp still dates it to its arrival.
//!
//! Were a response dated when it is read, every load here would take 38-50 ms (measured: a
//! median of 50.5 ms with the callers' arrival times ignored). The bounds are on the median,
//! so the loads a busy machine stalls cannot fail the test while a dating that does not work
//! still fails it; that a connection's very first answer is dated too is
//! `protocol::net`'s unit test.

mod support;

use std::time::Duration;

use loadgen::protocol::calc::{CalcCaller, CalcOptions};
use loadgen::protocol::http::HttpOptions;
use loadgen_servers::http::{Behaviour, Delay};
use support::{http_target, plan, run, run_http};

fn delayed_http(delay: Duration) -> loadgen_servers::Spawned {
    let b = Behaviour {
        delay: Delay::Fixed(delay),
        ..Behaviour::default()
    };
    loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, move |l, stop| {
        loadgen_servers::http::run(
            l,
            Default::default(),
            b,
            None,
            loadgen_servers::until_true(stop),
        )
    })
    .unwrap()
}

#[test]
#[cfg(target_os = "linux")]
fn responses_read_at_the_next_tick_count_from_their_arrival() {
    // 25 loads a second: ticks 40 ms apart; the answer comes after 2 ms and is read at
    // the next tick, 38 ms later
    let server = delayed_http(Duration::from_millis(2));
    for batch in [true, false] {
        let mut p = plan(
            "http://t",
            25.0,
            Duration::from_secs(1),
            Duration::from_millis(500),
        );
        p.batch_reads = batch;
        let s = run_http(p, http_target(server.addr(), "/"), HttpOptions::default());
        assert_eq!(s.counts.success, 25, "{:?}", s.errors);
        eprintln!("http batch {batch}: {:?}", s.latency_ms);
        assert!(
            s.latency_ms.p50 < 20.0,
            "batch {batch}: p50 {} ms for a 2 ms server",
            s.latency_ms.p50
        );
        assert!(s.latency_ms.min >= 2.0, "{}", s.latency_ms.min);
    }
    server.stop().unwrap();

    let calc = loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, |l, stop| {
        loadgen_servers::calc::run(l, Default::default(), loadgen_servers::until_true(stop))
    })
    .unwrap();
    let addr = calc.addr();
    let s = run(
        plan(
            "calc://t",
            25.0,
            Duration::from_secs(1),
            Duration::from_millis(500),
        ),
        move |c: &loadgen::ThreadContext| {
            CalcCaller::new(vec![addr], c.slots, CalcOptions::default())
        },
    );
    assert_eq!(s.counts.success, 25);
    eprintln!("calc: {:?}", s.latency_ms);
    assert!(s.latency_ms.p50 < 10.0, "calc p50 {} ms", s.latency_ms.p50);
    calc.stop().unwrap();
}
