//! `--hyper`, `--http2` and `--http3`: HTTP/1.1 through hyper's `client::conn`, HTTP/2 on
//! `h2` directly ([`super::http2`]), HTTP/3 on quinn and `h3` ([`super::h3`]); no pool of
//! hyper's own: connections are kept per shard, as everywhere in loadgen. Each HTTP/2 or
//! HTTP/3 connection carries up to `streams` calls.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use super::body_match::BodyMatch;
use super::h1::Sink;
use super::request::Parts;
use super::{HttpOptions, HttpResponse, HttpTarget, connect};
use crate::caller::pool::{MAX_DIALING, Pool};
use crate::outcome::Failure;
use tokio::sync::{Notify, Semaphore, SemaphorePermit};

/// Runs hyper's connection tasks on the shard's own runtime.
#[derive(Clone, Copy)]
pub(crate) struct LocalExec;

impl<F: Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// The outcome class of a hyper error, by the same table as the fast client: a response
/// that does not parse (head or body framing) is a `response_error`; a connection that
/// ended before the response did, or failed, a `call_error`.
fn hyper_failure(e: hyper::Error) -> Failure {
    if e.is_parse() || e.is_parse_status() {
        return Failure::response(format!("bad response: {e}"));
    }
    if e.is_incomplete_message() {
        return Failure::call("connection closed before the response was complete");
    }
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        // an HTTP/2 error (gRPC reflection's connection) by the HTTP/2 table
        if let Some(h2) = s.downcast_ref::<h2::Error>() {
            return super::http2::failure(h2);
        }
        // a TLS failure (an alert from the server, say) is the connection's, not the answer's
        if let Some(tls) = s
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Failure::call(format!("TLS: {tls}"));
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
            )
        {
            return Failure::response(format!("bad response: {io}"));
        }
        src = s.source();
    }
    let mut msg = e.to_string();
    if let Some(src) = std::error::Error::source(&e) {
        msg = format!("{msg}: {src}");
    }
    Failure::call(msg)
}

/// A multiplexing connection's sender (HTTP/2, HTTP/3): how many calls it may carry.
pub(super) trait Mux {
    /// Calls it may carry at once: `streams`, or fewer when the server allows fewer.
    fn limit(&self, streams: u32) -> u32;
}

impl Mux for super::http2::Sender {
    /// `--streams`, or fewer when the server allows fewer (its
    /// SETTINGS_MAX_CONCURRENT_STREAMS; 100 until its SETTINGS came).
    fn limit(&self, streams: u32) -> u32 {
        let server = u32::try_from(self.current_max_send_streams()).unwrap_or(u32::MAX);
        streams.min(server.max(1))
    }
}

/// A multiplexed connection (HTTP/2, HTTP/3) shared by up to `streams` calls.
pub(super) struct MuxConn<S> {
    pub(super) sender: S,
    /// Its task has ended: the connection is closed.
    pub(super) ended: Rc<Cell<bool>>,
    active: Cell<u32>,
}

/// Multiplexed connections to one target: a call takes a stream permit (tokio's semaphore,
/// `cap × streams` of them, FIFO, O(1) to give up), then the least busy connection with a
/// free stream, or opens one.
pub(super) struct MuxPool<S> {
    conns: RefCell<Vec<Rc<MuxConn<S>>>>,
    streams_free: Semaphore,
    dialing: Cell<usize>,
    /// A dial ended (a connection was added, or it failed), or a stream was freed.
    changed: Notify,
    cap: u64,
    streams: u32,
    /// How long its connections took to open.
    dial_times: crate::caller::pool::DialTimes,
}

/// A stream slot on a multiplexed connection; frees the slot when dropped.
pub(super) struct MuxLease<'a, S> {
    pub(super) conn: Rc<MuxConn<S>>,
    changed: &'a Notify,
    _permit: SemaphorePermit<'a>,
}

impl<S> Drop for MuxLease<'_, S> {
    fn drop(&mut self) {
        self.conn.active.set(self.conn.active.get() - 1);
        self.changed.notify_waiters();
    }
}

impl<S: Mux> MuxPool<S> {
    pub(super) fn new(cap: u64, streams: u32) -> Self {
        let permits = cap
            .saturating_mul(u64::from(streams))
            .clamp(1, Semaphore::MAX_PERMITS as u64);
        MuxPool {
            conns: RefCell::new(Vec::new()),
            streams_free: Semaphore::new(permits as usize),
            dialing: Cell::new(0),
            changed: Notify::new(),
            cap: cap.max(1),
            streams,
            dial_times: Default::default(),
        }
    }

    pub(super) async fn get<F, Fut>(&self, dial: F) -> Result<MuxLease<'_, S>, Failure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(S, Rc<Cell<bool>>), Failure>>,
    {
        let permit = self
            .streams_free
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        let lease = |conn: Rc<MuxConn<S>>, permit| {
            conn.active.set(conn.active.get() + 1);
            MuxLease {
                conn,
                changed: &self.changed,
                _permit: permit,
            }
        };
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            let free = {
                let mut conns = self.conns.borrow_mut();
                conns.retain(|c| !c.ended.get());
                // never more streams than the server allows: h2 would queue the rest
                // inside the connection, out of sight
                conns
                    .iter()
                    .filter(|c| c.active.get() < c.sender.limit(self.streams))
                    .min_by_key(|c| c.active.get())
                    .cloned()
            };
            if let Some(c) = free {
                return Ok(lease(c, permit));
            }
            let open = self.conns.borrow().len() as u64 + self.dialing.get() as u64;
            if open >= self.cap || self.dialing.get() >= MAX_DIALING {
                // every stream the connections may carry is taken or about to be: wait
                // for one to free or for a dial to end
                changed.await;
                continue;
            }
            struct Dialing<'a, S>(&'a MuxPool<S>);
            impl<S> Drop for Dialing<'_, S> {
                fn drop(&mut self) {
                    self.0.dialing.set(self.0.dialing.get() - 1);
                    self.0.changed.notify_waiters();
                }
            }
            self.dialing.set(self.dialing.get() + 1);
            let guard = Dialing(self);
            // boxed, as in `Pool`: a dial is large and rare
            let start = crate::engine::clock::now();
            let sender = Box::pin(dial()).await;
            if sender.is_ok() {
                self.dial_times.record_since(start);
            }
            let conn = sender.map(|(sender, ended)| {
                let c = Rc::new(MuxConn {
                    sender,
                    ended,
                    active: Cell::new(0),
                });
                self.conns.borrow_mut().push(c.clone());
                c
            });
            drop(guard);
            return Ok(lease(conn?, permit));
        }
    }
}

enum Conns {
    H1(Pool<http1::SendRequest<Full<Bytes>>>),
    H2(MuxPool<super::http2::Sender>),
    H3(MuxPool<super::h3::Sender>),
}

struct Endpoint {
    target: HttpTarget,
    conns: Conns,
}

/// The hyper caller of one shard (HTTP/1.1, HTTP/2 or HTTP/3).
pub struct HyperCaller {
    endpoints: Vec<Endpoint>,
    opts: Arc<HttpOptions>,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// HTTP/3: the QUIC client (or why there is none).
    quic: Option<Result<super::h3::Quic, String>>,
}

impl HyperCaller {
    /// A caller for `endpoints` with at most `connections` to each.
    pub fn new(
        endpoints: &[HttpTarget],
        connections: u64,
        opts: Arc<HttpOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> HyperCaller {
        let endpoints = endpoints
            .iter()
            .map(|t| Endpoint {
                target: t.clone(),
                conns: if opts.http3 {
                    Conns::H3(MuxPool::new(connections, opts.streams))
                } else if opts.http2 {
                    Conns::H2(MuxPool::new(connections, opts.streams))
                } else {
                    Conns::H1(Pool::new(connections))
                },
            })
            .collect();
        let quic = match (&tls, opts.http3) {
            (Some(t), true) => Some(super::h3::Quic::new(t.clone())),
            _ => None,
        };
        HyperCaller {
            endpoints,
            opts,
            tls,
            quic,
        }
    }

    fn request(parts: &Parts) -> http::Request<Full<Bytes>> {
        parts.head(Full::new(parts.body.clone()))
    }

    async fn read<K: Sink>(
        &self,
        resp: http::Response<hyper::body::Incoming>,
        sink: &mut K,
    ) -> Result<u16, Failure> {
        let status = resp.status().as_u16();
        sink.headers(resp.headers());
        let mut body = resp.into_body();
        // fed to the sink as it streams
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(hyper_failure)?;
            if let Some(d) = frame.data_ref() {
                sink.body(d);
            }
        }
        Ok(status)
    }

    async fn dial_h1(&self, t: &HttpTarget) -> Result<http1::SendRequest<Full<Bytes>>, Failure> {
        let stream = connect(t, self.tls.as_ref()).await?;
        let (sender, conn) = http1::Builder::new()
            .max_buf_size(super::h1::MAX_HEAD)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(hyper_failure)?;
        tokio::task::spawn_local(conn);
        Ok(sender)
    }

    /// A new HTTP/2 connection: its sender, and the flag its task sets when it ends.
    async fn dial_h2(
        &self,
        t: &HttpTarget,
    ) -> Result<(super::http2::Sender, Rc<Cell<bool>>), Failure> {
        super::http2::dial(t, self.tls.as_ref(), super::http2::handshake).await
    }
}

impl HyperCaller {
    /// One HTTP/1.1 exchange; the error says whether a retry is safe (a reused
    /// connection closed before any answer).
    async fn call_h1<K: Sink>(
        &self,
        e: &Endpoint,
        pool: &Pool<http1::SendRequest<Full<Bytes>>>,
        req: http::Request<Full<Bytes>>,
        fresh: bool,
        sink: &mut K,
    ) -> Result<u16, (Failure, bool)> {
        let plain = |f: Failure| (f, false);
        // skip kept-alive connections the server closed while they were idle
        let mut lease = loop {
            let dial = || self.dial_h1(&e.target);
            let l = if fresh {
                pool.get_fresh(dial).await
            } else {
                pool.get(dial).await
            };
            let mut l = l.map_err(plain)?;
            if !(l.reused() && l.get_mut().is_closed()) {
                break l;
            }
        };
        let reused = lease.reused();
        let sender = lease.get_mut();
        poll_fn(|cx| sender.poll_ready(cx))
            .await
            .map_err(|e| plain(hyper_failure(e)))?;
        sink.sending();
        let resp = sender.send_request(req).await.map_err(|err| {
            let retry = reused && err.is_incomplete_message();
            (hyper_failure(err), retry)
        })?;
        let close = resp
            .headers()
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let r = self.read(resp, sink).await.map_err(plain)?;
        if !close && !self.opts.disable_keepalive && !lease.get_mut().is_closed() {
            lease.put_back();
        }
        Ok(r)
    }

    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.endpoints
            .iter()
            .map(|e| match &e.conns {
                Conns::H1(p) => p.open(),
                Conns::H2(p) => p.conns.borrow().iter().filter(|c| !c.ended.get()).count() as u64,
                Conns::H3(p) => p.conns.borrow().iter().filter(|c| !c.ended.get()).count() as u64,
            })
            .sum()
    }

    /// Adds how long its connections took to open to `out` (µs).
    pub fn connects_into(&self, out: &mut crate::record::hist::Hist) {
        for e in &self.endpoints {
            match &e.conns {
                Conns::H1(p) => p.dial_times.add_into(out),
                Conns::H2(p) => p.dial_times.add_into(out),
                Conns::H3(p) => p.dial_times.add_into(out),
            }
        }
    }

    /// Calls this caller can run at once: connections (× streams for HTTP/2 and HTTP/3)
    /// over every target.
    pub fn capacity(&self) -> u64 {
        (0..self.endpoints.len()).map(|e| self.capacity_of(e)).sum()
    }

    /// Calls it can run at once to endpoint `endpoint`.
    pub fn capacity_of(&self, endpoint: usize) -> u64 {
        self.endpoints.get(endpoint).map_or(0, |e| match &e.conns {
            Conns::H1(p) => p.cap(),
            Conns::H2(p) => p.cap.saturating_mul(u64::from(p.streams)),
            Conns::H3(p) => p.cap.saturating_mul(u64::from(p.streams)),
        })
    }

    /// Sends `parts` to endpoint `endpoint` and reads the response; `idempotent` as for
    /// the fast client.
    pub async fn call(
        &self,
        endpoint: usize,
        parts: &Parts,
        idempotent: bool,
    ) -> Result<HttpResponse, Failure> {
        // searched as it streams: the body is never kept
        let mut want = BodyMatch::new(self.opts.expect_body.as_deref().unwrap_or_default());
        let status = self
            .exchange(endpoint, parts, idempotent, &mut want)
            .await?;
        Ok(HttpResponse {
            status,
            body_ok: want.found(),
            arrived: None,
        })
    }

    /// Sends `parts` as [`HyperCaller::call`] does, the answer's headers and body going to
    /// `sink`; its status.
    pub async fn exchange<K: Sink>(
        &self,
        endpoint: usize,
        parts: &Parts,
        idempotent: bool,
        sink: &mut K,
    ) -> Result<u16, Failure> {
        let e = &self.endpoints[endpoint];
        match &e.conns {
            Conns::H1(pool) => {
                match self
                    .call_h1(e, pool, Self::request(parts), false, sink)
                    .await
                {
                    // a kept-alive connection the server closed with the request
                    // unanswered: once more on a new connection (as the fast client), if
                    // that is safe
                    Err((_, true)) if idempotent => {
                        let req = Self::request(parts);
                        self.call_h1(e, pool, req, true, sink)
                            .await
                            .map_err(|(f, _)| f)
                    }
                    r => r.map_err(|(f, _)| f),
                }
            }
            Conns::H2(pool) => {
                // a call the server never processed goes again, up to twice, each time on a
                // connection that has not refused it
                let mut tries = 2u8;
                loop {
                    let lease = pool.get(|| self.dial_h2(&e.target)).await?;
                    let c = &lease.conn;
                    match super::http2::exchange_into(&c.sender, &c.ended, parts, sink).await {
                        Err(f) if f.unprocessed && tries > 0 => tries -= 1,
                        r => return r.map_err(|f| f.failure),
                    }
                }
            }
            Conns::H3(pool) => {
                let quic = match &self.quic {
                    Some(Ok(q)) => q,
                    Some(Err(why)) => return Err(Failure::call(why.clone())),
                    None => return Err(Failure::call("HTTP/3 needs an https:// target")),
                };
                if !e.target.tls {
                    return Err(Failure::call("HTTP/3 needs an https:// target"));
                }
                // a connection that ended (its driver sets the flag) leaves the pool at the
                // next call's choice
                let lease = pool.get(|| quic.dial(&e.target)).await?;
                super::h3::exchange_into(&lease.conn.sender, parts, sink).await
            }
        }
    }
}
