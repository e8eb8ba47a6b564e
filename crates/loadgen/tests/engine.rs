//! The engine against real servers on 127.0.0.1:0: the book's scenarios, every failure
//! class, the stop, and the accounting invariant. Each test is bounded to a few seconds.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::protocol::calc::proto::Op;
use loadgen::protocol::calc::{CalcCaller, CalcOptions};
use loadgen::summary::codec::{SummaryJson, to_document};
use loadgen::{
    Caller, Failure, Load, LoadGen, Plan, Schedule, Status, Summary, Target, ThreadContext,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn calc_server() -> loadgen_servers::Spawned {
    loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, |l, stop| {
        loadgen_servers::calc::run(l, Default::default(), loadgen_servers::until_true(stop))
    })
    .unwrap()
}

/// A raw TCP server whose connection handler is `handler` (one task per connection).
fn raw_server<F, Fut>(handler: F) -> loadgen_servers::Spawned
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

fn plan(addr: SocketAddr, rate: f64, dur: Duration, timeout: Duration) -> Plan {
    let target = Target {
        name: format!("calc://{addr}"),
        weight: 1,
    };
    Plan::new(
        Schedule::constant(rate, dur).unwrap(),
        timeout,
        vec![target],
        "calc",
    )
}

/// A plan for a test caller `name` (a `test://…` target).
fn test_plan(name: &str, schedule: Schedule, timeout: Duration) -> Plan {
    let target = Target {
        name: name.into(),
        weight: 1,
    };
    Plan::new(schedule, timeout, vec![target], "test")
}

fn run_calc(p: Plan, addr: SocketAddr, opts: CalcOptions) -> SummaryJson {
    doc(LoadGen::new(p, move |s: &ThreadContext| {
        CalcCaller::new(vec![addr], s.slots, opts.clone())
    })
    .unwrap()
    .run()
    .unwrap())
}

/// The JSON document of a run: its fields are the contract the assertions read.
fn doc(s: Summary) -> SummaryJson {
    to_document(&s)
}

fn assert_invariant(s: &SummaryJson) {
    assert!(
        s.counts.invariant_holds(),
        "invariant broken: {:?}",
        s.counts
    );
    let per_target: u64 = s.per_target.iter().map(|t| t.counts.scheduled).sum();
    assert_eq!(per_target, s.counts.scheduled);
    let timeline: u64 = s.timeline.iter().map(|b| b.scheduled).sum();
    assert_eq!(timeline, s.counts.scheduled);
}

#[test]
fn book_scenario_1000_lps_for_2s() {
    let server = calc_server();
    let s = run_calc(
        plan(
            server.addr(),
            1000.0,
            Duration::from_secs(2),
            Duration::from_millis(50),
        ),
        server.addr(),
        CalcOptions::default(),
    );
    assert_invariant(&s);
    assert!(
        (s.counts.scheduled as f64 - 2000.0).abs() <= 20.0,
        "{:?}",
        s.counts
    );
    // nearly all: a busy machine's stall longer than the 50 ms timeout may cost a few
    // dozen loads (dropped or timed out), never more
    assert!(
        s.counts.success as f64 >= 0.95 * s.counts.scheduled as f64,
        "{:?} {:?}",
        s.counts,
        s.errors
    );
    assert_eq!(s.concurrency, 51); // ceil(1000 × 0.05) + 1
    assert!(s.latency_ms.p50 > 0.0 && s.latency_ms.p50 <= s.latency_ms.p99);
    assert!(
        s.offered_rate > 990.0 && s.offered_rate < 1010.0,
        "{}",
        s.offered_rate
    );
}

#[test]
fn book_scenario_stop_through_the_handle() {
    let server = calc_server();
    let timeout = Duration::from_millis(50);
    let mut lg = LoadGen::new(
        plan(server.addr(), 1000.0, Duration::from_secs(10), timeout),
        {
            let addr = server.addr();
            move |s: &ThreadContext| CalcCaller::new(vec![addr], s.slots, CalcOptions::default())
        },
    )
    .unwrap();
    assert_eq!(lg.status(), Status::Original);
    lg.start().unwrap();
    assert_eq!(lg.status(), Status::Started);
    while lg.call_count() < 500 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(lg.stop());
    assert!(!lg.stop(), "stop is idempotent");
    assert_eq!(lg.status(), Status::Stopping);
    let s = doc(lg.wait().unwrap());
    assert_invariant(&s);
    assert!(s.interrupted);
    // scheduling stopped at the stop: far fewer than the 10 s schedule's 10,000 loads
    assert!(
        s.counts.scheduled >= 500 && s.counts.scheduled < 9000,
        "{:?}",
        s.counts
    );
    assert!(
        s.counts.success >= s.counts.scheduled * 95 / 100,
        "{:?}",
        s.counts
    );
}

#[test]
fn server_that_never_answers_gives_timeouts_and_drops_none_lost() {
    let server = raw_server(|s| async move {
        let _hold = s;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut p = plan(
        server.addr(),
        200.0,
        Duration::from_secs(1),
        Duration::from_millis(50),
    );
    p.concurrency = Some(4);
    // a grace well past the timeout: the last calls reach their deadline (time out) even
    // when a busy machine fires the timer late, instead of being cancelled
    p.grace = Some(Duration::from_millis(500));
    let s = run_calc(p, server.addr(), CalcOptions::default());
    assert_invariant(&s);
    assert_eq!(s.counts.scheduled, 200);
    assert_eq!(s.counts.timeout + s.counts.dropped, 200, "{:?}", s.counts);
    assert!(
        s.counts.timeout > 0 && s.counts.dropped > 0,
        "{:?}",
        s.counts
    );
}

#[test]
fn refused_connection_is_call_error() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let s = run_calc(
        plan(
            addr,
            100.0,
            Duration::from_millis(500),
            Duration::from_millis(200),
        ),
        addr,
        CalcOptions::default(),
    );
    assert_invariant(&s);
    assert_eq!(s.counts.call_error, s.counts.scheduled, "{:?}", s.counts);
    assert_eq!(s.errors[0].message, "connection refused");
    assert_eq!(s.errors[0].code, 2001);
}

/// A calc server that answers every request with `reply(id)`.
fn lying_server(reply: fn(i64) -> String) -> loadgen_servers::Spawned {
    raw_server(move |s| async move {
        let (r, mut w) = s.into_split();
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let id = v["id"].as_i64().unwrap();
            if w.write_all(format!("{}\n", reply(id)).as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    })
}

#[test]
fn wrong_result_or_wrong_id_is_response_error() {
    for (reply, msg) in [
        (
            (|id| format!(r#"{{"id":{id},"result":123456789,"error":null}}"#)) as fn(i64) -> String,
            "wrong result",
        ),
        (
            |id| format!(r#"{{"id":{},"result":0,"error":null}}"#, id + 1),
            "wrong id in response",
        ),
        (|_| "this is not json".to_string(), "bad response"),
    ] {
        let server = lying_server(reply);
        let s = run_calc(
            plan(
                server.addr(),
                200.0,
                Duration::from_millis(500),
                Duration::from_millis(200),
            ),
            server.addr(),
            CalcOptions::default(),
        );
        assert_invariant(&s);
        assert_eq!(
            s.counts.response_error, s.counts.scheduled,
            "{:?} {:?}",
            s.counts, s.errors
        );
        assert!(s.errors[0].message.starts_with(msg), "{:?}", s.errors);
    }
}

#[test]
fn division_by_zero_is_callee_error() {
    let server = calc_server();
    let opts = CalcOptions {
        operator: Some(Op::Div),
        operands: Some(vec![1, 0]),
        ..Default::default()
    };
    let s = run_calc(
        plan(
            server.addr(),
            200.0,
            Duration::from_millis(500),
            Duration::from_millis(200),
        ),
        server.addr(),
        opts,
    );
    assert_invariant(&s);
    assert_eq!(s.counts.callee_error, s.counts.scheduled, "{:?}", s.counts);
    assert_eq!(s.errors[0].message, "division by zero");
    assert_eq!(s.errors[0].code, 2003);
}

#[test]
fn overflow_is_callee_error_and_dial_per_call_works() {
    let server = calc_server();
    let opts = CalcOptions {
        operator: Some(Op::Add),
        operands: Some(vec![i64::MAX, 1]),
        dial_per_call: true,
    };
    let s = run_calc(
        plan(
            server.addr(),
            100.0,
            Duration::from_millis(300),
            Duration::from_millis(200),
        ),
        server.addr(),
        opts,
    );
    assert_invariant(&s);
    assert_eq!(s.counts.callee_error, s.counts.scheduled);
    assert_eq!(s.errors[0].message, "integer overflow");
}

/// A caller that panics on every 10th load and succeeds otherwise.
struct Panicky;

impl Caller for Panicky {
    type Request = u64;
    type Response = u64;
    fn build(&self, load: Load) -> u64 {
        load.index
    }
    async fn call(&self, req: &u64, _deadline: Instant) -> Result<u64, Failure> {
        tokio::task::yield_now().await;
        if req.is_multiple_of(10) {
            panic!("load {req} is cursed");
        }
        Ok(*req)
    }
    fn check(&self, _load: Load, req: &u64, resp: &u64) -> Result<(), Failure> {
        if req == resp {
            Ok(())
        } else {
            Err(Failure::response("mismatch"))
        }
    }
}

#[test]
fn a_panicking_caller_is_fatal_and_the_run_goes_on() {
    let p = test_plan(
        "test://panicky",
        Schedule::constant(1000.0, Duration::from_millis(500)).unwrap(),
        Duration::from_secs(2),
    );
    let s = doc(LoadGen::new(p, |_: &ThreadContext| Panicky)
        .unwrap()
        .run()
        .unwrap());
    assert_invariant(&s);
    assert_eq!(s.counts.scheduled, 500);
    assert_eq!(s.counts.fatal, 50, "{:?} {:?}", s.counts, s.errors);
    assert_eq!(s.counts.success, 450, "{:?} {:?}", s.counts, s.errors);
    assert!(
        s.errors[0].message.starts_with("caller panicked: load"),
        "{:?}",
        s.errors
    );
}

/// Where [`PanicsIn`] panics, on every 10th load.
#[derive(Clone, Copy, Debug)]
enum Hook {
    ReportTarget,
    Arrival,
}

/// A caller that panics in one of its hooks on every 10th load.
struct PanicsIn(Hook);

impl Caller for PanicsIn {
    type Request = u64;
    type Response = u64;
    fn build(&self, load: Load) -> u64 {
        load.index
    }
    async fn call(&self, req: &u64, _deadline: Instant) -> Result<u64, Failure> {
        tokio::task::yield_now().await;
        Ok(*req)
    }
    fn check(&self, _load: Load, _req: &u64, _resp: &u64) -> Result<(), Failure> {
        Ok(())
    }
    fn report_target(&self, req: &u64) -> Option<usize> {
        if matches!(self.0, Hook::ReportTarget) && req.is_multiple_of(10) {
            panic!("report_target of load {req}");
        }
        None
    }
    fn arrival(&self, resp: &u64) -> Option<Instant> {
        if matches!(self.0, Hook::Arrival) && resp.is_multiple_of(10) {
            panic!("arrival of load {resp}");
        }
        None
    }
}

#[test]
fn a_caller_panicking_in_any_hook_is_fatal_and_the_run_goes_on() {
    for hook in [Hook::ReportTarget, Hook::Arrival] {
        let p = test_plan(
            "test://panicky",
            Schedule::constant(1000.0, Duration::from_millis(500)).unwrap(),
            Duration::from_secs(2),
        );
        let s = doc(LoadGen::new(p, move |_: &ThreadContext| PanicsIn(hook))
            .unwrap()
            .run()
            .unwrap());
        assert_invariant(&s);
        assert_eq!(s.counts.scheduled, 500, "{hook:?}");
        assert_eq!(
            s.counts.fatal, 50,
            "{hook:?}: {:?} {:?}",
            s.counts, s.errors
        );
        assert_eq!(s.counts.success, 450, "{hook:?}: {:?}", s.counts);
    }
}

/// A caller whose answers take 30 ms and carry an arrival 10 s before the call began:
/// a kernel timestamp taken just before the wall clock stepped forward by 10 s.
struct Stepped;

impl Caller for Stepped {
    type Request = ();
    type Response = Instant;
    fn build(&self, _load: Load) {}
    async fn call(&self, _req: &(), _deadline: Instant) -> Result<Instant, Failure> {
        let began = Instant::now();
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(began.checked_sub(Duration::from_secs(10)).unwrap_or(began))
    }
    fn check(&self, _load: Load, _req: &(), _resp: &Instant) -> Result<(), Failure> {
        Ok(())
    }
    fn arrival(&self, resp: &Instant) -> Option<Instant> {
        Some(*resp)
    }
}

#[test]
fn an_arrival_before_the_send_is_not_believed() {
    let p = test_plan(
        "test://stepped",
        Schedule::constant(50.0, Duration::from_millis(400)).unwrap(),
        Duration::from_secs(2),
    );
    let s = doc(LoadGen::new(p, |_: &ThreadContext| Stepped)
        .unwrap()
        .run()
        .unwrap());
    assert_invariant(&s);
    assert_eq!(s.counts.success, s.counts.scheduled, "{:?}", s.counts);
    // the answer was seen after 30 ms at the earliest: that is when it is dated
    assert!(
        s.latency_ms.min >= 29.0,
        "latency min {} ms for 30 ms answers",
        s.latency_ms.min
    );
}

#[test]
fn closed_loop_with_a_load_cap() {
    let server = calc_server();
    let mut p = plan(
        server.addr(),
        0.0,
        Duration::from_secs(5),
        Duration::from_secs(1),
    );
    p.schedule = p.schedule.clone().with_max_loads(Some(3000));
    p.concurrency = Some(8);
    let s = run_calc(p, server.addr(), CalcOptions::default());
    assert_invariant(&s);
    assert_eq!(s.counts.scheduled, 3000);
    assert_eq!(s.counts.success, 3000);
    assert_eq!(s.rate, 0.0);
    assert_eq!(s.concurrency, 8);
}

#[test]
fn summary_json_round_trips_exactly() {
    let server = calc_server();
    let s = LoadGen::new(
        plan(
            server.addr(),
            500.0,
            Duration::from_millis(1500),
            Duration::from_millis(100),
        ),
        {
            let addr = server.addr();
            move |c: &ThreadContext| CalcCaller::new(vec![addr], c.slots, CalcOptions::default())
        },
    )
    .unwrap()
    .run()
    .unwrap();
    let text = s.to_json();
    let back = Summary::from_json(&text).unwrap();
    // the model read back holds the same counts and histograms, and writes the same text
    assert_eq!(back.agg, s.agg);
    assert_eq!(back.to_json(), text);
    assert!(Summary::from_json(&text.replace("loadgen.summary/v4", "loadgen.summary/v0")).is_err());
    assert!(Summary::from_json("{}").is_err());
}

/// A caller that answers at once, to measure the engine alone.
struct Null;

impl Caller for Null {
    type Request = ();
    type Response = ();
    fn build(&self, _: Load) {}
    async fn call(&self, _: &(), _: Instant) -> Result<(), Failure> {
        Ok(())
    }
    fn check(&self, _: Load, _: &(), _: &()) -> Result<(), Failure> {
        Ok(())
    }
}

#[test]
fn one_hundred_thousand_lps_are_schedulable() {
    for precise in [true, false] {
        let mut p = test_plan(
            "test://null",
            Schedule::constant(100_000.0, Duration::from_secs(1)).unwrap(),
            Duration::from_secs(1),
        );
        p.precise_timer = precise;
        let s = doc(LoadGen::new(p, |_: &ThreadContext| Null)
            .unwrap()
            .run()
            .unwrap());
        assert_invariant(&s);
        assert_eq!(s.counts.scheduled, 100_000);
        assert!(
            s.counts.success >= 99_000,
            "precise {precise}: {:?}",
            s.counts
        );
        assert!(
            (s.offered_rate - 100_000.0).abs() < 1000.0,
            "{}",
            s.offered_rate
        );
    }
}

#[test]
fn weighted_targets_get_their_share() {
    let target = |n: &str, weight| Target {
        name: n.into(),
        weight,
    };
    let mut p = Plan::new(
        Schedule::constant(0.0, Duration::from_secs(5))
            .unwrap()
            .with_max_loads(Some(40_000)),
        Duration::from_secs(1),
        vec![target("test://a", 3), target("test://b", 1)],
        "test",
    );
    p.concurrency = Some(16);
    let s = doc(LoadGen::new(p, |_: &ThreadContext| Null)
        .unwrap()
        .run()
        .unwrap());
    assert_invariant(&s);
    assert_eq!(s.per_target[0].counts.scheduled, 30_000);
    assert_eq!(s.per_target[1].counts.scheduled, 10_000);
    assert_eq!(s.per_target[0].weight, 3);
}

#[test]
fn self_diagnosis_flags_an_overloaded_generator_only() {
    let run_null = |rate: f64| {
        let mut p = test_plan(
            "test://null",
            Schedule::constant(rate, Duration::from_secs(2))
                .unwrap()
                .with_max_loads(Some(400_000)),
            Duration::from_millis(100),
        );
        p.threads = Some(1);
        doc(LoadGen::new(p, |_: &ThreadContext| Null)
            .unwrap()
            .run()
            .unwrap())
    };
    let light = run_null(500.0);
    assert!(!light.generator_bound, "{:?}", light.generator);
    // far more than one thread can dispatch
    let heavy = run_null(10_000_000.0);
    assert!(
        heavy.generator_bound,
        "{:?} {:?}",
        heavy.generator, heavy.counts
    );
    assert!(!heavy.generator.reasons.is_empty());
    assert_invariant(&heavy);
}
