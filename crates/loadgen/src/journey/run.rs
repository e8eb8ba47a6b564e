//! Running journeys: [`JourneyCaller`] is the [`Caller`] of a generator thread. A journey
//! is one load: it starts at its intended time, and its steps run one after another on
//! its own small state — variables, a cookie jar, a random stream — with think time as
//! timers. Each request goes out on the thread's shared connection pools (HTTP/1.1 fast
//! client, HTTP/2 on h2), its answer is read into a bounded [`Answer`], checked, and
//! captured from; each step's outcome and times are recorded by row.

use crate::protocol::http::redirect;
use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::Journeys;
use super::cookies::Jar;
use super::extract::{self, Answer, Taken};
use super::program::{Cond, CookieScope, GrpcCall, Node, Pick, Request, Slot, Times, Via, WsCall};
use crate::caller::template::{Context, mix};
use crate::caller::{Caller, Load, ThreadContext};
use crate::engine::clock;
use crate::outcome::{Failure, Outcome};
use crate::protocol::http::fast::FastCaller;
use crate::protocol::http::h1::Sink;
use crate::protocol::http::request::{Adjust, Msg, Scratch};
use crate::protocol::http::via_hyper::HyperCaller;
use crate::record::JourneyAgg;

/// Whether a journey goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

/// The state of one journey in flight.
struct State {
    index: u64,
    vars: Vec<Option<Bytes>>,
    lists: Vec<Option<Arc<[Bytes]>>>,
    jar: RefCell<Option<Jar>>,
    rng: Cell<u64>,
    nonce: Cell<u64>,
    /// The first failed step's failure.
    failure: Option<Failure>,
    /// The outcome of the first failure since the innermost group began.
    group_first: Option<Outcome>,
    /// Time spent in steps (not thinking).
    active: Duration,
    /// When the engine ends the journey (its timeout).
    deadline: Instant,
    /// Its WebSocket connections, by endpoint (opened by the first step there).
    ws: RefCell<Vec<Option<Box<crate::protocol::ws::Conn>>>>,
}

impl State {
    fn unit(&self) -> f64 {
        let x = mix(self.rng.get());
        self.rng.set(x);
        crate::caller::dist::unit_of(x)
    }

    fn fail(&mut self, f: Failure) {
        if self.group_first.is_none() {
            self.group_first = Some(f.outcome);
        }
        if self.failure.is_none() {
            self.failure = Some(f);
        }
    }
}

/// A step sent: its answer (or why there is none) and its times.
struct Sent {
    answer: Result<Answer, Failure>,
    ready: Instant,
    sent: Option<Instant>,
    end: Instant,
}

impl Sent {
    /// A step that failed now, ready since `ready`.
    fn failed(f: Failure, ready: Instant) -> Sent {
        Sent {
            answer: Err(f),
            ready,
            sent: None,
            end: clock::now(),
        }
    }
}

/// A step's own timeout ran out: `no WHAT within T`.
fn timed_out(r: &Request, what: &str) -> Failure {
    Failure::new(
        Outcome::Timeout,
        format!(
            "no {what} within {}",
            crate::report::fmt_ms(r.timeout.as_secs_f64() * 1000.0)
        ),
    )
}

/// Records a step (or group) still running when the journey is dropped: `timeout` past
/// the journey's deadline, `cancelled` otherwise (the run stopped).
struct Pending<'a> {
    rec: &'a RefCell<JourneyAgg>,
    row: usize,
    deadline: Instant,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            let o = if clock::now() >= self.deadline {
                Outcome::Timeout
            } else {
                Outcome::Cancelled
            };
            self.rec.borrow_mut().step(self.row, o, None);
        }
    }
}

/// Where an answer goes while it is read: its status, the headers someone reads, and the
/// (capped) body.
struct AnswerSink<'a> {
    answer: Answer,
    keep: bool,
    /// The headers checks and captures read (lowercase).
    headers: &'a [String],
    /// `Set-Cookie` is kept (a cookie jar), `Location` (redirects followed).
    cookies: bool,
    location: bool,
    sent: Option<Instant>,
}

impl Sink for AnswerSink<'_> {
    fn sending(&mut self) {
        self.sent = Some(clock::now());
    }
    fn wants_headers(&self) -> bool {
        self.cookies || self.location || !self.headers.is_empty()
    }
    fn header(&mut self, name: &[u8], value: &[u8]) {
        let kept = (self.cookies && name.eq_ignore_ascii_case(b"set-cookie"))
            || (self.location && name.eq_ignore_ascii_case(b"location"))
            || self
                .headers
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h.as_bytes()));
        if kept && self.answer.headers.len() < 256 {
            self.answer.headers.push((
                String::from_utf8_lossy(name).to_ascii_lowercase(),
                Bytes::copy_from_slice(value),
            ));
        }
    }
    fn body(&mut self, chunk: &[u8]) {
        if !self.keep || self.answer.over {
            return;
        }
        if self.answer.body.len() + chunk.len() > self.answer.cap {
            self.answer.over = true;
            self.answer.body = Vec::new();
        } else {
            self.answer.body.extend_from_slice(chunk);
        }
    }
}

/// A gRPC endpoint's connections and the calls on each.
type GrpcConns = (
    Vec<crate::protocol::grpc::conn::Conn<crate::protocol::grpc::conn::H2>>,
    Vec<Cell<u32>>,
);

/// The journeys' caller of one generator thread.
pub struct JourneyCaller {
    j: Arc<Journeys>,
    thread: usize,
    h1: FastCaller,
    h2: HyperCaller,
    /// Connections of each gRPC endpoint, and the calls in flight on each.
    grpc: Vec<GrpcConns>,
    /// The `grpc-timeout` values of its gRPC steps.
    grpc_timeout: crate::protocol::grpc::TimeoutHeader,
    rec: RefCell<JourneyAgg>,
    scratch: RefCell<Scratch>,
    /// Jars of virtual users between their journeys (cookie scope `vu`).
    vus: RefCell<Vec<Jar>>,
}

impl JourneyCaller {
    /// The caller of generator thread `t`.
    pub fn new(j: Arc<Journeys>, t: &ThreadContext) -> JourneyCaller {
        let r = &j.requests;
        let conns = t.share(j.connections);
        JourneyCaller {
            h1: FastCaller::new(&r.endpoints, conns, r.http_opts.clone(), r.tls_h1.clone()),
            h2: HyperCaller::new(&r.endpoints, conns, r.h2_opts.clone(), r.tls_h2.clone()),
            grpc: r
                .grpc
                .iter()
                .map(|t| {
                    let n = conns.clamp(1, 8);
                    let c = (0..n)
                        .filter_map(|_| {
                            crate::protocol::grpc::conn::Conn::new(t, r.tls_grpc.clone()).ok()
                        })
                        .collect::<Vec<_>>();
                    let busy = c.iter().map(|_| Cell::new(0)).collect();
                    (c, busy)
                })
                .collect(),
            grpc_timeout: Default::default(),
            rec: RefCell::new(JourneyAgg::new(j.rows.len())),
            scratch: RefCell::default(),
            vus: RefCell::default(),
            thread: t.index,
            j,
        }
    }

    /// The answer of a step that is a body only (gRPC's JSON, a WebSocket message) of `len`
    /// bytes, as checks and captures read it: status 200, the body kept up to the run's cap.
    fn body_answer(&self, len: usize, body: impl FnOnce() -> Vec<u8>) -> Answer {
        let mut a = Answer::new(self.j.max_body);
        a.status = 200;
        if len > a.cap {
            a.over = true;
        } else {
            a.body = body();
        }
        a
    }

    /// The template context of the next render in journey `st` (each render its own nonce).
    fn cx<'a>(&self, st: &'a State) -> Context<'a> {
        self.cx_nonce(st, st.nonce.replace(st.nonce.get() + 1))
    }

    /// The template context of journey `st` with `nonce`.
    fn cx_nonce<'a>(&self, st: &'a State, nonce: u64) -> Context<'a> {
        Context {
            index: st.index,
            seed: self.j.seed,
            thread: self.thread,
            shard: self.j.shard,
            data: None,
            vars: &st.vars,
            nonce,
        }
    }

    async fn journey(&self, load: Load, deadline: Instant) -> Result<(), Failure> {
        let j = &self.j;
        let sc = &j.scenarios[load.target];
        let mut st = State {
            index: load.index,
            vars: vec![None; j.scalars],
            lists: vec![None; j.lists],
            jar: RefCell::new(match sc.cookies {
                CookieScope::Off => None,
                CookieScope::Journey => Some(Jar::default()),
                CookieScope::Vu => Some(self.vus.borrow_mut().pop().unwrap_or_default()),
            }),
            rng: Cell::new(mix(j.seed ^ mix(load.index ^ 0x6a6f_7572_6e65_7973))),
            nonce: Cell::new(0),
            failure: None,
            group_first: None,
            active: Duration::ZERO,
            deadline,
            ws: RefCell::new(Vec::new()),
        };
        for &f in &sc.feeds {
            let feed = &j.feeds[f];
            let rows = feed.data.rows() as u64;
            let row = match feed.pick {
                Pick::Sequential | Pick::Unique => load.index % rows,
                Pick::Random => mix(j.seed ^ mix(load.index ^ mix(f as u64 + 1))) % rows,
            };
            for &(col, slot) in &feed.columns {
                st.vars[slot] = Some(Bytes::copy_from_slice(feed.data.field(row, col).as_bytes()));
            }
        }
        self.nodes(&mut st, &sc.steps).await;
        if sc.cookies == CookieScope::Vu
            && let Some(jar) = st.jar.take()
        {
            self.vus.borrow_mut().push(jar);
        }
        match st.failure {
            Some(f) => Err(f),
            None => {
                crate::record::hist::record(&mut self.rec.borrow_mut().active, st.active);
                Ok(())
            }
        }
    }

    /// Runs `nodes` in order (boxed: blocks nest).
    fn nodes<'a>(
        &'a self,
        st: &'a mut State,
        nodes: &'a [Node],
    ) -> Pin<Box<dyn Future<Output = Flow> + 'a>> {
        Box::pin(async move {
            for n in nodes {
                let flow = match n {
                    Node::Request(r) => {
                        let ready = clock::now();
                        let (sent, guard) = self.send(st, r, ready).await;
                        self.finish(st, r, sent, guard, true)
                    }
                    Node::Think(d) => {
                        let t = d.sample(|| st.unit());
                        if !t.is_zero() {
                            tokio::time::sleep(t).await;
                        }
                        Flow::Go
                    }
                    Node::Loop(l) => match l.times {
                        Times::Count(n) => {
                            let mut flow = Flow::Go;
                            for _ in 0..n {
                                flow = self.nodes(st, &l.body).await;
                                if flow == Flow::Stop {
                                    break;
                                }
                            }
                            flow
                        }
                        Times::Over { list, item, max } => {
                            let Some(items) = st.lists[list].clone() else {
                                st.fail(Failure::new(
                                    Outcome::Fatal,
                                    format!(
                                        "loop over '{}': the list is not set (its capture did not run)",
                                        self.j.list_names[list]
                                    ),
                                ));
                                return Flow::Stop;
                            };
                            let mut flow = Flow::Go;
                            for v in items
                                .iter()
                                .take(usize::try_from(max).unwrap_or(usize::MAX))
                            {
                                st.vars[item] = Some(v.clone());
                                flow = self.nodes(st, &l.body).await;
                                if flow == Flow::Stop {
                                    break;
                                }
                            }
                            flow
                        }
                    },
                    Node::If(i) => {
                        let holds = match &i.cond {
                            Cond::Exists(Slot::Scalar(s), want) => st.vars[*s].is_some() == *want,
                            Cond::Exists(Slot::List(s), want) => st.lists[*s].is_some() == *want,
                            Cond::Equals(s, v) => st.vars[*s].as_ref() == Some(v),
                            Cond::Matches(s, re) => {
                                st.vars[*s].as_ref().is_some_and(|v| re.is_match(v))
                            }
                        };
                        let body = if holds { &i.then } else { &i.otherwise };
                        self.nodes(st, body).await
                    }
                    Node::Group { row, body } => self.group(st, *row, body).await,
                    Node::Parallel(rs) => {
                        let ready = clock::now();
                        let sents = {
                            let shared: &State = st;
                            join_all(
                                rs.iter()
                                    .map(|r| Box::pin(self.send(shared, r, ready)))
                                    .collect(),
                            )
                            .await
                        };
                        let end = sents.iter().map(|s| s.0.end).max().unwrap_or(ready);
                        st.active += end.saturating_duration_since(ready);
                        let mut flow = Flow::Go;
                        for (r, (s, guard)) in rs.iter().zip(sents) {
                            if self.finish(st, r, s, guard, false) == Flow::Stop {
                                flow = Flow::Stop;
                            }
                        }
                        flow
                    }
                };
                if flow == Flow::Stop {
                    return Flow::Stop;
                }
            }
            Flow::Go
        })
    }

    async fn group(&self, st: &mut State, row: usize, body: &[Node]) -> Flow {
        let start = clock::now();
        let active = st.active;
        // the failures of this group's own steps, whatever came before
        let outer = st.group_first.take();
        let mut guard = Pending {
            rec: &self.rec,
            row,
            deadline: st.deadline,
            armed: true,
        };
        let flow = self.nodes(st, body).await;
        guard.armed = false;
        let inner = st.group_first;
        st.group_first = outer.or(inner);
        let outcome = inner.unwrap_or(Outcome::Success);
        let times = Some((clock::now() - start, st.active.saturating_sub(active)));
        self.rec.borrow_mut().step(row, outcome, times);
        flow
    }

    /// Sends the request of step `r` (following redirects as asked) and reads its answer.
    /// Sends the request of step `r`; the step stays counted as in flight (a timeout or a
    /// cancellation should the journey be dropped) until [`JourneyCaller::finish`] records
    /// it — in a parallel block, a request that is done waits there for the others.
    async fn send<'a>(&'a self, st: &State, r: &Request, ready: Instant) -> (Sent, Pending<'a>) {
        let guard = Pending {
            rec: &self.rec,
            row: r.row,
            deadline: st.deadline,
            armed: true,
        };
        (self.send_inner(st, r, ready).await, guard)
    }

    async fn send_inner(&self, st: &State, r: &Request, ready: Instant) -> Sent {
        let failed = |f: Failure| Sent::failed(f, ready);
        if let Some(&s) = r.reads.iter().find(|&&s| st.vars[s].is_none()) {
            return failed(Failure::new(
                Outcome::Fatal,
                format!(
                    "variable '{}' is not set (its capture did not run)",
                    self.j.scalar_names[s]
                ),
            ));
        }
        let (endpoint, h2, spec, method, follow) = match &r.via {
            Via::Http {
                endpoint,
                h2,
                spec,
                method,
                follow,
            } => (*endpoint, *h2, *spec, method, *follow),
            Via::Grpc(g) => return self.grpc(st, r, g, ready).await,
            Via::Ws(w) => return self.ws(st, r, w, ready).await,
        };
        let reqs = &self.j.requests;
        let ep = &reqs.endpoints[endpoint];
        let set = if h2 { &reqs.h2 } else { &reqs.h1 };
        let head = *method == http::Method::HEAD;
        let mut path: Option<Vec<u8>> = None;
        let mut get = false;
        let mut hops = 0;
        let cookies = st.jar.borrow().is_some();
        loop {
            let cx = self.cx(st);
            // the request's path, rendered once more only when cookies or a redirect
            // need it
            let req_path = std::cell::OnceCell::new();
            let path_of = || -> &str {
                req_path.get_or_init(|| match &path {
                    Some(p) => String::from_utf8_lossy(p).into_owned(),
                    None => set.specs[spec].path.render_string(&cx),
                })
            };
            let mut cookie = Vec::new();
            if let Some(jar) = st.jar.borrow().as_ref()
                && !jar.is_empty()
            {
                jar.header(&ep.host, path_of(), ep.tls, SystemTime::now(), &mut cookie);
            }
            let extra = [("Cookie", cookie.as_slice())];
            let adjust = Adjust {
                headers: if cookie.is_empty() { &[] } else { &extra },
                path: path.as_deref(),
                get,
            };
            let msg = set.render_with(spec, &cx, adjust, &mut self.scratch.borrow_mut());
            let msg = match msg {
                Ok(m) => m,
                Err(why) => return failed(Failure::new(Outcome::Fatal, why)),
            };
            let mut sink = AnswerSink {
                answer: Answer::new(self.j.max_body),
                keep: r.keep_body,
                headers: &r.headers,
                cookies,
                location: follow > 0,
                sent: None,
            };
            let idempotent = get
                || matches!(
                    method.as_str(),
                    "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS"
                );
            let exchange = async {
                match &msg {
                    Msg::Wire(b) => self
                        .h1
                        .exchange(endpoint, b, idempotent, head, &mut sink)
                        .await
                        .map(|x| x.status),
                    Msg::Parts(p) => self.h2.exchange(endpoint, p, idempotent, &mut sink).await,
                    _ => Err(Failure::new(
                        Outcome::Fatal,
                        "a request rendered in the wrong form",
                    )),
                }
            };
            let res = tokio::time::timeout(r.timeout, Box::pin(exchange)).await;
            let end = clock::now();
            let status = match res {
                Err(_) => {
                    return failed(timed_out(r, "response"));
                }
                Ok(Err(f)) => return failed(f),
                Ok(Ok(s)) => s,
            };
            let mut answer = sink.answer;
            answer.status = status;
            if let Some(jar) = st.jar.borrow_mut().as_mut() {
                for v in answer.header("set-cookie") {
                    jar.store(v, &ep.host, path_of(), SystemTime::now());
                }
            }
            if follow > 0 && matches!(status, 301 | 302 | 303 | 307 | 308) {
                if hops == follow {
                    return failed(Failure::response(format!(
                        "more than {} redirects (a loop?)",
                        follow
                    )));
                }
                let Some(loc) = answer.header("location").next() else {
                    return failed(Failure::response(format!(
                        "HTTP {status} without a Location"
                    )));
                };
                match redirect::path(loc, ep, path_of()) {
                    Ok(p) => {
                        path = Some(p);
                        get = get
                            || (status == 303 && *method != http::Method::HEAD)
                            || (matches!(status, 301 | 302) && *method == http::Method::POST);
                        hops += 1;
                        continue;
                    }
                    Err(why) => {
                        return failed(Failure::response(format!("{why}: add it as a step")));
                    }
                }
            }
            return Sent {
                answer: Ok(answer),
                ready,
                sent: sink.sent,
                end,
            };
        }
    }

    /// The WebSocket step `r` on the journey's connection to its endpoint (opened now if
    /// it has none): sends, then waits for the message (the matching one), then closes if
    /// asked. The message received is what checks and captures read.
    async fn ws(&self, st: &State, r: &Request, w: &WsCall, ready: Instant) -> Sent {
        use futures_util::SinkExt;
        let failed = |f: Failure| Sent::failed(f, ready);
        let payload = w.send.as_ref().map(|t| {
            let cx = self.cx(st);
            let mut b = bytes::BytesMut::new();
            t.render(&cx, &mut b);
            b.freeze()
        });
        let want = match (&w.matcher, &payload) {
            (Some(m), Some(p)) => match m.want(p) {
                Ok(v) => Some((m, v)),
                Err(f) => return failed(f),
            },
            _ => None,
        };
        // the connection leaves the journey's state for the step (a timeout drops it)
        let held = st
            .ws
            .borrow_mut()
            .get_mut(w.endpoint)
            .and_then(Option::take);
        let target = &self.j.requests.ws[w.endpoint];
        let tls = self.j.requests.tls_ws.as_ref();
        let sent = clock::now();
        let step = async {
            let mut conn = match held {
                Some(c) => c,
                None => Box::new(crate::protocol::ws::connect(target, &[], tls).await?),
            };
            if let Some(p) = payload {
                crate::protocol::ws::discard_arrived(&mut conn)?;
                conn.send(crate::protocol::ws::frame(p, w.binary))
                    .await
                    .map_err(crate::protocol::ws::failure)?;
            }
            let mut got = Bytes::new();
            if w.receive {
                let want = want.as_ref().map(|(m, v)| (*m, v));
                got = crate::protocol::ws::next_answer(&mut *conn, want).await?;
            }
            Ok::<_, Failure>((conn, got))
        };
        let res = tokio::time::timeout(r.timeout, Box::pin(step)).await;
        let end = clock::now();
        let (mut conn, got) = match res {
            Err(_) => {
                return failed(timed_out(r, "message"));
            }
            Ok(Err(f)) => return failed(f),
            Ok(Ok(x)) => x,
        };
        if w.close {
            // a close frame, not waited for long: the step's time ends before it
            let _ = tokio::time::timeout(Duration::from_millis(100), (*conn).close(None)).await;
        } else {
            let mut conns = st.ws.borrow_mut();
            if conns.len() <= w.endpoint {
                conns.resize_with(w.endpoint + 1, || None);
            }
            conns[w.endpoint] = Some(conn);
        }
        let a = self.body_answer(got.len(), || Vec::from(got));
        Sent {
            answer: Ok(a),
            ready,
            sent: Some(sent),
            end,
        }
    }

    /// Makes the gRPC call of step `r`; its answer as JSON is what checks and captures read.
    async fn grpc(&self, st: &State, r: &Request, g: &GrpcCall, ready: Instant) -> Sent {
        let failed = |f: Failure| Sent::failed(f, ready);
        let cx = self.cx(st);
        let mut json = bytes::BytesMut::new();
        g.message.render(&cx, &mut json);
        let msg = std::str::from_utf8(&json)
            .map_err(|_| "the message is not UTF-8".to_string())
            .and_then(|j| crate::protocol::grpc::encode(&g.method.input(), j));
        let body = match msg {
            Ok(m) => crate::protocol::grpc::framed(&m, 1),
            Err(why) => return failed(Failure::new(Outcome::Fatal, why)),
        };
        let (conns, busy) = &self.grpc[g.endpoint];
        let i = (0..busy.len()).min_by_key(|&i| busy[i].get()).unwrap_or(0);
        busy[i].set(busy[i].get() + 1);
        let _busy = crate::protocol::grpc::Busy(&busy[i]);
        let sent = clock::now();
        let call = crate::protocol::grpc::exchange(
            &conns[i],
            &g.uri,
            &g.headers,
            &body,
            self.grpc_timeout.until(sent + r.timeout),
            true,
        );
        let res = tokio::time::timeout(r.timeout, Box::pin(call)).await;
        let end = clock::now();
        let answer = match res {
            Err(_) => {
                return failed(timed_out(r, "response"));
            }
            Ok(Err(f)) => return failed(f),
            Ok(Ok(None)) => return failed(Failure::response("OK without an answer message")),
            Ok(Ok(Some(m))) => m,
        };
        let json = match crate::protocol::grpc::decode_json(&g.method.output(), &answer) {
            Ok(j) => j,
            Err(why) => return failed(Failure::response(why)),
        };
        let a = self.body_answer(json.len(), || json.into_bytes());
        Sent {
            answer: Ok(a),
            ready,
            sent: Some(sent),
            end,
        }
    }

    /// Checks, captures and records a step sent; `active`: add its time to the journey's
    /// active time (a parallel block counts its span once instead).
    fn finish(
        &self,
        st: &mut State,
        r: &Request,
        s: Sent,
        mut guard: Pending<'_>,
        active: bool,
    ) -> Flow {
        guard.armed = false;
        let took = s.end.saturating_duration_since(s.ready);
        if active {
            st.active += took;
        }
        let mut rec = self.rec.borrow_mut();
        let (outcome, times, failure) = match s.answer {
            Err(f) => (f.outcome, None, Some(f)),
            Ok(mut a) => {
                let render = |t: &crate::caller::template::Template| {
                    let mut b = bytes::BytesMut::new();
                    t.render(&self.cx_nonce(st, 0), &mut b);
                    b.freeze()
                };
                let (n, failed) = extract::checks(r, &mut a, took, &render);
                let step = &mut rec.steps[r.row];
                step.checks += n;
                step.checks_failed += failed.len() as u64;
                for (name, _) in &failed {
                    step.fail_named(name, 1);
                }
                let mut first = failed.into_iter().next().map(|(_, f)| f);
                if first.is_none() {
                    let jar = st.jar.borrow();
                    for c in &r.captures {
                        match extract::capture(c, &mut a, jar.as_ref()) {
                            Ok(Taken::One(v)) => {
                                if let Slot::Scalar(i) = c.into {
                                    st.vars[i] = Some(v);
                                }
                            }
                            Ok(Taken::List(l)) => {
                                if let Slot::List(i) = c.into {
                                    st.lists[i] = Some(l);
                                }
                            }
                            Err(why) => {
                                step.fail_named(&c.label, 1);
                                first = Some(Failure::response(format!("{}: {why}", c.label)));
                                break;
                            }
                        }
                    }
                }
                let service = s.end.saturating_duration_since(s.sent.unwrap_or(s.ready));
                (
                    first.as_ref().map_or(Outcome::Success, |f| f.outcome),
                    Some((took, service)),
                    first,
                )
            }
        };
        rec.step(r.row, outcome, times);
        drop(rec);
        let Some(f) = failure else {
            return Flow::Go;
        };
        // a failed step sets none of its variables: a later step reading one fails as
        // "not set" rather than using an earlier value
        for c in &r.captures {
            match c.into {
                Slot::Scalar(i) => st.vars[i] = None,
                Slot::List(i) => st.lists[i] = None,
            }
        }
        if st.failure.is_none() {
            st.fail(Failure::new(
                f.outcome,
                format!("step {}: {}", r.name, f.message),
            ));
        } else {
            st.fail(f);
        }
        if r.abort { Flow::Stop } else { Flow::Go }
    }
}

/// Runs `futs` at once; their outputs in order.
async fn join_all<F: Future>(futs: Vec<Pin<Box<F>>>) -> Vec<F::Output> {
    let mut futs: Vec<Option<Pin<Box<F>>>> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *o = Some(v);
                        *f = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future ended"))
        .collect()
}

impl Caller for JourneyCaller {
    type Request = Load;
    type Response = ();

    fn build(&self, load: Load) -> Load {
        load
    }

    async fn call(&self, load: &Load, deadline: Instant) -> Result<(), Failure> {
        self.journey(*load, deadline).await
    }

    fn check(&self, _load: Load, _req: &Load, _resp: &()) -> Result<(), Failure> {
        Ok(())
    }

    fn journeys_into(&self, out: &mut JourneyAgg) -> bool {
        out.copy_from(&self.rec.borrow());
        true
    }
}
