//! Journeys against the demo API of the built-in HTTP server: what the journeys did, as
//! loadgen counts it and as the server counts it.

use std::sync::Arc;
use std::time::Duration;

use loadgen::journey::{Journeys, Options};
use loadgen::spec::RunSpec;
use loadgen::{LoadGen, Outcome, Plan, Schedule, Summary};
use loadgen_servers::Spawned;

fn server() -> Spawned {
    loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, |l, stop| {
        loadgen_servers::http::run(
            l,
            Default::default(),
            Default::default(),
            None,
            loadgen_servers::until_true(stop),
        )
    })
    .unwrap()
}

fn stats(addr: std::net::SocketAddr) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /api/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

/// Runs `yaml` at `rate` journeys per second for `secs`.
fn run(yaml: &str, rate: f64, secs: u64) -> Summary {
    let spec = RunSpec::from_yaml(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    let j = Arc::new(
        Journeys::compile(&spec, &Options::new("test.yaml")).unwrap_or_else(|e| panic!("{e}")),
    );
    let schedule = Schedule::constant(rate, Duration::from_secs(secs)).unwrap();
    let mut plan = Plan::new(schedule, j.journey_timeout(), j.targets.clone(), "http");
    plan.start_timeout = Some(j.request_timeout());
    plan.steps = j.rows.clone();
    plan.threads = Some(1);
    let lg = LoadGen::new(plan, move |t: &loadgen::ThreadContext| j.caller(t)).unwrap();
    lg.run().unwrap()
}

#[test]
fn login_token_and_bearer_calls_count_on_both_sides() {
    let srv = server();
    let addr = srv.addr();
    let yaml = format!(
        r#"
version: 1
defaults:
  base: http://{addr}
scenarios:
  - name: shop
    steps:
      - name: login
        post:
          url: /api/login
          json: {{user: "u{{{{index}}}}"}}
        check:
          status: 200
          jsonpath: {{"$.user": "u{{{{index}}}}"}}
        capture:
          token: {{jsonpath: $.token}}
      - name: items
        get:
          url: /api/items
          headers: {{Authorization: "Bearer {{{{token}}}}"}}
        check:
          jsonpath: {{"$.count": 3}}
        capture:
          ids: {{jsonpath: "$.items[*].id", all: true}}
      - loop:
          over: ids
          as: id
          max: 2
          steps:
            - name: item
              get:
                url: /api/items/{{{{id}}}}
                headers: {{Authorization: "Bearer {{{{token}}}}"}}
      - name: cart
        post:
          url: /api/cart
          json: {{id: 1}}
        check:
          jsonpath: {{"$.count": 1}}
"#
    );
    let s = run(&yaml, 100.0, 1);
    let c = s.counts();
    assert!(c.invariant_holds());
    assert_eq!(
        c[Outcome::Success],
        c.scheduled,
        "{:?}",
        s.agg.errors.sorted()
    );
    let n = c.scheduled;
    assert!(n >= 95, "{n}");
    let j = s.agg.journeys.as_ref().unwrap();
    let names: Vec<&str> = s.run.steps.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["login", "items", "item", "cart"]);
    assert_eq!(j.steps[0].outcomes[Outcome::Success], n);
    assert_eq!(j.steps[2].outcomes[Outcome::Success], 2 * n);
    assert_eq!(j.steps[1].checks, 2 * n);
    assert_eq!(j.active.len(), n);
    let st = stats(addr);
    assert_eq!(st["tokens_issued"], n);
    assert_eq!(st["tokens_seen"], 3 * n);
    assert_eq!(st["tokens_refused"], 0);
    assert_eq!(
        st["cookies_returned"], n,
        "the session cookie came back once per journey"
    );
    assert_eq!(st["cart_adds"], n);
}

#[test]
fn a_capture_that_finds_nothing_fails_the_journey_and_sends_nothing_more() {
    let srv = server();
    let addr = srv.addr();
    let yaml = format!(
        r#"
version: 1
defaults:
  base: http://{addr}
scenarios:
  - name: s
    steps:
      - name: login
        post: {{url: /api/login, json: {{user: x}}}}
        capture:
          token: {{jsonpath: $.tokn}}
      - name: items
        get: {{url: /api/items, headers: {{Authorization: "Bearer {{{{token}}}}"}}}}
"#
    );
    let s = run(&yaml, 50.0, 1);
    let c = s.counts();
    assert_eq!(c[Outcome::ResponseError], c.scheduled);
    let e = s.agg.errors.sorted();
    assert_eq!(e[0].1, "step login: capture token: $.tokn matched nothing");
    let j = s.agg.journeys.as_ref().unwrap();
    assert_eq!(
        j.steps[0].failed,
        vec![("capture token".to_string(), c.scheduled)]
    );
    assert_eq!(j.steps[1].runs(), 0);
    let st = stats(addr);
    assert_eq!(st["tokens_seen"], 0);
    assert_eq!(
        st["tokens_refused"], 0,
        "no request went out without its token"
    );
}

#[test]
fn captures_refuse_several_values_and_bodies_that_are_not_json() {
    let srv = server();
    let addr = srv.addr();
    for (capture, want) in [
        (
            "ids: {jsonpath: \"$.items[*].id\"}",
            "step items: capture ids: $.items[*].id matched 3 values where one was expected (all: true takes them as a list)",
        ),
        (
            "x: {jsonpath: $.a}",
            "step items: capture x: the body is not JSON",
        ),
    ] {
        // the second case asks the echo endpoint, whose body is the (non-JSON) request
        let url = if capture.starts_with("ids") {
            "/api/items"
        } else {
            "/echo"
        };
        let yaml = format!(
            r#"
version: 1
defaults:
  base: http://{addr}
scenarios:
  - name: s
    steps:
      - name: login
        post: {{url: /api/login, json: {{user: x}}}}
        capture: {{token: {{jsonpath: $.token}}}}
      - name: items
        post: {{url: "{url}", headers: {{Authorization: "Bearer {{{{token}}}}"}}, body: "not json"}}
        capture: {{{capture}}}
"#
        );
        let yaml = if url == "/api/items" {
            yaml.replace("post: {url: \"/api/items\"", "get: {url: \"/api/items\"")
                .replace(", body: \"not json\"", "")
        } else {
            yaml
        };
        let s = run(&yaml, 20.0, 1);
        let c = s.counts();
        assert_eq!(c[Outcome::ResponseError], c.scheduled, "{capture}");
        assert_eq!(s.agg.errors.sorted()[0].1, want);
    }
}

#[test]
fn groups_own_their_failures_and_failed_captures_unset_their_variables() {
    let srv = server();
    let addr = srv.addr();
    let yaml = format!(
        r#"
version: 1
defaults:
  base: http://{addr}
scenarios:
  - name: s
    steps:
      - name: a
        get: /api/nope
        on_fail: continue
      - group:
          name: ok group
          steps:
            - {{name: b, get: /api/home}}
      - group:
          name: bad group
          steps:
            - {{name: c, get: /api/nope2, on_fail: continue}}
      - name: login
        post: {{url: /api/login, json: {{user: x}}}}
        capture: {{token: {{jsonpath: $.token}}}}
      - name: relogin
        post: {{url: /api/login, json: {{user: x}}}}
        on_fail: continue
        capture: {{token: {{jsonpath: $.nope}}}}
      - name: items
        get: {{url: /api/items, headers: {{Authorization: "Bearer {{{{token}}}}"}}}}
"#
    );
    let s = run(&yaml, 20.0, 1);
    let n = s.counts().scheduled;
    let j = s.agg.journeys.as_ref().unwrap();
    let row = |name: &str| {
        let i = s.run.steps.iter().position(|r| r.name == name).unwrap();
        &j.steps[i]
    };
    // a failure before a group is not the group's; one inside it is
    assert_eq!(row("ok group").outcomes[Outcome::Success], n);
    assert_eq!(row("bad group").outcomes[Outcome::ResponseError], n);
    // relogin's capture failed: the token it would have replaced is gone, so items is not
    // sent with the old one
    assert_eq!(row("items").outcomes[Outcome::Fatal], n);
    let st = stats(addr);
    assert_eq!(st["tokens_seen"], 0);
    assert_eq!(st["tokens_refused"], 0);
    // the journey's outcome is its first failing step's
    assert_eq!(s.counts()[Outcome::ResponseError], n);
    assert!(
        s.agg.errors.sorted()[0]
            .1
            .starts_with("step a: unexpected status HTTP 404")
    );
}
