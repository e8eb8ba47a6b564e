//! The calc server over real sockets on 127.0.0.1:0: answers, errors, limits, shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use loadgen_servers::{Limits, Spawned};

fn server(limits: Limits) -> Spawned {
    loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, move |l, stop| {
        loadgen_servers::calc::run(l, limits, loadgen_servers::until_true(stop))
    })
    .unwrap()
}

fn connect(s: &Spawned) -> (TcpStream, BufReader<TcpStream>) {
    let c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let r = BufReader::new(c.try_clone().unwrap());
    (c, r)
}

fn ask(c: &mut TcpStream, r: &mut BufReader<TcpStream>, line: &str) -> serde_json::Value {
    parse(&answer(c, r, line))
}

/// Sends `line` and reads the answer's line: empty when the connection is closed instead.
fn answer(c: &mut TcpStream, r: &mut BufReader<TcpStream>, line: &str) -> String {
    let _ = c.write_all(format!("{line}\n").as_bytes());
    let mut answer = String::new();
    let _ = r.read_line(&mut answer);
    answer
}

fn parse(answer: &str) -> serde_json::Value {
    serde_json::from_str(answer).unwrap_or_else(|e| panic!("{answer:?}: {e}"))
}

#[test]
fn answers_errors_and_keeps_the_connection() {
    let s = server(Limits::default());
    let (mut c, mut r) = connect(&s);
    let v = ask(
        &mut c,
        &mut r,
        r#"{"id":1,"operands":[12,5],"operator":"-"}"#,
    );
    assert_eq!(
        v,
        serde_json::json!({"id":1,"formula":"12 - 5 = 7","result":7,"error":null})
    );
    // the book's Go client sends capitalised names
    let v = ask(
        &mut c,
        &mut r,
        r#"{"ID":2,"Operands":[3,4,5],"Operator":"*"}"#,
    );
    assert_eq!(
        (v["id"].as_i64(), v["result"].as_i64()),
        (Some(2), Some(60))
    );
    let v = ask(
        &mut c,
        &mut r,
        r#"{"id":3,"operands":[1,0],"operator":"/"}"#,
    );
    assert_eq!(v["error"], "division by zero");
    let v = ask(
        &mut c,
        &mut r,
        r#"{"id":4,"operands":[9223372036854775807,1],"operator":"+"}"#,
    );
    assert_eq!(v["error"], "integer overflow");
    let v = ask(
        &mut c,
        &mut r,
        r#"{"id":5,"operands":[1,2],"operator":"%"}"#,
    );
    assert!(v["error"].as_str().unwrap().contains("unknown operator"));
    let v = ask(&mut c, &mut r, "this is not json");
    assert!(
        v["error"].as_str().unwrap().starts_with("bad request"),
        "{v}"
    );
    // still usable after bad JSON
    let v = ask(
        &mut c,
        &mut r,
        r#"{"id":6,"operands":[2,2],"operator":"+"}"#,
    );
    assert_eq!(v["result"], 4);
    s.stop().unwrap();
}

#[test]
fn oversize_frame_gets_an_error_then_close() {
    let s = server(Limits::default());
    let (mut c, mut r) = connect(&s);
    let big = vec![b'1'; 70 * 1024];
    let _ = c.write_all(&big);
    let mut answer = String::new();
    r.read_line(&mut answer).unwrap();
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["error"], "request frame over 64 KiB");
    let mut rest = Vec::new();
    let n = r.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0, "connection closed after the error");
}

#[test]
fn idle_connections_are_closed() {
    let s = server(Limits {
        idle_timeout: Duration::from_millis(200),
        ..Limits::default()
    });
    // timed from before the connection opens: a test thread held back after it opened
    // cannot make a correct server look early
    let t = Instant::now();
    let (_c, mut r) = connect(&s);
    let mut buf = [0u8; 1];
    assert_eq!(r.read(&mut buf).unwrap(), 0);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "closed before the idle timeout"
    );
}

#[test]
fn connections_over_the_cap_are_closed() {
    let s = server(Limits {
        max_connections: 2,
        ..Limits::default()
    });
    let (mut c1, mut r1) = connect(&s);
    let (mut c2, mut r2) = connect(&s);
    assert_eq!(
        ask(
            &mut c1,
            &mut r1,
            r#"{"id":1,"operands":[1,1],"operator":"+"}"#
        )["result"],
        2
    );
    assert_eq!(
        ask(
            &mut c2,
            &mut r2,
            r#"{"id":2,"operands":[1,2],"operator":"+"}"#
        )["result"],
        3
    );
    let (mut c3, mut r3) = connect(&s);
    let third = answer(
        &mut c3,
        &mut r3,
        r#"{"id":3,"operands":[1,3],"operator":"+"}"#,
    );
    assert!(third.is_empty(), "third connection closed: {third}");
    drop((c1, r1));
    // the closed one's place is free again once the server has seen it close (a moment,
    // longer on a busy machine): a new connection is answered within 5 s
    let deadline = Instant::now() + Duration::from_secs(5);
    let fourth = loop {
        std::thread::sleep(Duration::from_millis(50));
        let (mut c4, mut r4) = connect(&s);
        let a = answer(
            &mut c4,
            &mut r4,
            r#"{"id":4,"operands":[1,4],"operator":"+"}"#,
        );
        if !a.is_empty() || Instant::now() > deadline {
            break a;
        }
    };
    assert_eq!(parse(&fourth)["result"], 5);
}

#[test]
fn shutdown_is_graceful_and_prompt() {
    let s = server(Limits::default());
    let addr = s.addr();
    let (mut c, mut r) = connect(&s);
    assert_eq!(
        ask(
            &mut c,
            &mut r,
            r#"{"id":1,"operands":[1,1],"operator":"+"}"#
        )["result"],
        2
    );
    s.stop().unwrap();
    // the open connection was closed and no new ones are accepted
    let mut buf = [0u8; 1];
    assert_eq!(r.read(&mut buf).unwrap_or(0), 0);
    assert!(TcpStream::connect(addr).is_err());
}
