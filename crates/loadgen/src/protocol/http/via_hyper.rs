//! HTTP/1.1 and HTTP/2 through hyper's `client::conn` (no pool of hyper's own: connections
//! are kept per shard, as everywhere in loadgen). HTTP/2 is h2c with prior knowledge on
//! `http://` and ALPN `h2` on `https://`; each connection carries up to `streams` calls.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;

use super::{HttpOptions, HttpResponse, HttpTarget, connect, contains};
use crate::caller::pool::{MAX_DIALING, Pool};
use crate::outcome::Failure;
use tokio::sync::{Notify, Semaphore, SemaphorePermit};

/// Runs hyper's connection tasks on the shard's own runtime.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F: Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

fn hyper_failure(e: hyper::Error) -> Failure {
    if e.is_parse() || e.is_parse_status() {
        return Failure::response(format!("bad response: {e}"));
    }
    let mut msg = e.to_string();
    if let Some(src) = std::error::Error::source(&e) {
        msg = format!("{msg}: {src}");
    }
    Failure::call(msg)
}

/// An HTTP/2 connection shared by up to `streams` calls.
struct H2Conn {
    sender: http2::SendRequest<Full<Bytes>>,
    active: Cell<u32>,
}

/// HTTP/2 connections to one target: a call takes a stream permit (tokio's semaphore,
/// `cap × streams` of them, FIFO, O(1) to give up), then the least busy connection with a
/// free stream, or opens one.
struct H2Pool {
    conns: RefCell<Vec<Rc<H2Conn>>>,
    streams_free: Semaphore,
    dialing: Cell<usize>,
    /// A dial ended (a connection was added, or it failed).
    dialed: Notify,
    cap: u64,
    streams: u32,
}

/// A stream slot on an HTTP/2 connection; frees the slot when dropped.
struct H2Lease<'a> {
    conn: Rc<H2Conn>,
    _permit: SemaphorePermit<'a>,
}

impl Drop for H2Lease<'_> {
    fn drop(&mut self) {
        self.conn.active.set(self.conn.active.get() - 1);
    }
}

impl H2Pool {
    fn new(cap: u64, streams: u32) -> Self {
        let permits = cap
            .saturating_mul(u64::from(streams))
            .clamp(1, Semaphore::MAX_PERMITS as u64);
        H2Pool {
            conns: RefCell::new(Vec::new()),
            streams_free: Semaphore::new(permits as usize),
            dialing: Cell::new(0),
            dialed: Notify::new(),
            cap: cap.max(1),
            streams,
        }
    }

    async fn get<F, Fut>(&self, dial: F) -> Result<H2Lease<'_>, Failure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<http2::SendRequest<Full<Bytes>>, Failure>>,
    {
        let permit = self
            .streams_free
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        let lease = |conn: Rc<H2Conn>, permit| {
            conn.active.set(conn.active.get() + 1);
            H2Lease {
                conn,
                _permit: permit,
            }
        };
        loop {
            let mut dialed = pin!(self.dialed.notified());
            dialed.as_mut().enable();
            let free = {
                let mut conns = self.conns.borrow_mut();
                conns.retain(|c| !c.sender.is_closed());
                conns
                    .iter()
                    .filter(|c| c.active.get() < self.streams)
                    .min_by_key(|c| c.active.get())
                    .cloned()
            };
            if let Some(c) = free {
                return Ok(lease(c, permit));
            }
            let open = self.conns.borrow().len() as u64 + self.dialing.get() as u64;
            if open >= self.cap || self.dialing.get() >= MAX_DIALING {
                // every stream is taken or about to be: wait for a dial to end
                dialed.await;
                continue;
            }
            struct Dialing<'a>(&'a H2Pool);
            impl Drop for Dialing<'_> {
                fn drop(&mut self) {
                    self.0.dialing.set(self.0.dialing.get() - 1);
                    self.0.dialed.notify_waiters();
                }
            }
            self.dialing.set(self.dialing.get() + 1);
            let guard = Dialing(self);
            let sender = dial().await;
            let conn = sender.map(|sender| {
                let c = Rc::new(H2Conn {
                    sender,
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
    H2(H2Pool),
}

struct Endpoint {
    target: HttpTarget,
    uri: http::Uri,
    authority: String,
    conns: Conns,
}

/// The hyper caller of one shard (HTTP/1.1 or HTTP/2).
pub struct HyperCaller {
    endpoints: Vec<Endpoint>,
    opts: Arc<HttpOptions>,
    body: Bytes,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl HyperCaller {
    /// A caller for `targets` with at most `connections` per target.
    pub fn new(
        targets: &[HttpTarget],
        connections: u64,
        opts: Arc<HttpOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> HyperCaller {
        let endpoints = targets
            .iter()
            .map(|t| Endpoint {
                uri: if opts.http2 {
                    format!(
                        "{}://{}{}",
                        if t.tls { "https" } else { "http" },
                        t.authority(),
                        t.path
                    )
                } else {
                    t.path.clone()
                }
                .parse()
                .unwrap_or_else(|_| http::Uri::from_static("/")),
                authority: t.authority(),
                target: t.clone(),
                conns: if opts.http2 {
                    Conns::H2(H2Pool::new(connections, opts.streams))
                } else {
                    Conns::H1(Pool::new(connections))
                },
            })
            .collect();
        HyperCaller {
            endpoints,
            body: Bytes::from(opts.body.clone()),
            opts,
            tls,
        }
    }

    fn request(&self, e: &Endpoint) -> Result<http::Request<Full<Bytes>>, Failure> {
        let mut b = http::Request::builder()
            .method(self.opts.method.as_str())
            .uri(e.uri.clone());
        let has = |name: &str| {
            self.opts
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if !self.opts.http2 && !has("host") {
            b = b.header(http::header::HOST, e.authority.as_str());
        }
        if !has("user-agent") {
            b = b.header(
                http::header::USER_AGENT,
                concat!("loadgen/", env!("CARGO_PKG_VERSION")),
            );
        }
        for (k, v) in &self.opts.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if self.opts.disable_keepalive && !self.opts.http2 && !has("connection") {
            b = b.header(http::header::CONNECTION, "close");
        }
        b.body(Full::new(self.body.clone())).map_err(|e| {
            Failure::new(
                crate::Outcome::Fatal,
                format!("cannot build the request: {e}"),
            )
        })
    }

    async fn read(
        &self,
        resp: http::Response<hyper::body::Incoming>,
    ) -> Result<HttpResponse, Failure> {
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut collected = self.opts.expect_body.as_ref().map(|_| Vec::new());
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(hyper_failure)?;
            if let (Some(c), Some(d)) = (collected.as_mut(), frame.data_ref()) {
                c.extend_from_slice(d);
            }
        }
        let body_ok = match (&self.opts.expect_body, &collected) {
            (Some(want), Some(got)) => contains(got, want),
            _ => true,
        };
        Ok(HttpResponse {
            status,
            body_ok,
            arrived: None,
        })
    }

    async fn dial_h1(&self, t: &HttpTarget) -> Result<http1::SendRequest<Full<Bytes>>, Failure> {
        let stream = connect(t, self.tls.as_ref()).await?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(hyper_failure)?;
        tokio::task::spawn_local(conn);
        Ok(sender)
    }

    async fn dial_h2(&self, t: &HttpTarget) -> Result<http2::SendRequest<Full<Bytes>>, Failure> {
        let stream = connect(t, self.tls.as_ref()).await?;
        if t.tls && stream.alpn() != Some(b"h2") {
            return Err(Failure::call("TLS: the server did not negotiate h2 (ALPN)"));
        }
        let (sender, conn) = http2::Builder::new(LocalExec)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(hyper_failure)?;
        tokio::task::spawn_local(conn);
        Ok(sender)
    }
}

impl HyperCaller {
    /// Calls this caller can run at once: connections (× streams for HTTP/2) over every
    /// target.
    pub fn capacity(&self) -> u64 {
        self.endpoints
            .iter()
            .map(|e| match &e.conns {
                Conns::H1(p) => p.cap(),
                Conns::H2(p) => p.cap.saturating_mul(u64::from(p.streams)),
            })
            .sum()
    }

    /// One request to target `target` and its response.
    pub async fn call(&self, target: usize) -> Result<HttpResponse, Failure> {
        let e = &self.endpoints[target];
        let req = self.request(e)?;
        match &e.conns {
            Conns::H1(pool) => {
                // skip kept-alive connections the server closed while they were idle
                let mut lease = loop {
                    let mut l = pool.get(|| self.dial_h1(&e.target)).await?;
                    if !(l.reused() && l.get_mut().is_closed()) {
                        break l;
                    }
                };
                let sender = lease.get_mut();
                poll_fn(|cx| sender.poll_ready(cx))
                    .await
                    .map_err(hyper_failure)?;
                let resp = sender.send_request(req).await.map_err(hyper_failure)?;
                let close = resp
                    .headers()
                    .get(http::header::CONNECTION)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                let r = self.read(resp).await?;
                if !close && !self.opts.disable_keepalive && !lease.get_mut().is_closed() {
                    lease.put_back();
                }
                Ok(r)
            }
            Conns::H2(pool) => {
                let lease = pool.get(|| self.dial_h2(&e.target)).await?;
                let mut sender = lease.conn.sender.clone();
                poll_fn(|cx| sender.poll_ready(cx))
                    .await
                    .map_err(hyper_failure)?;
                let resp = sender.send_request(req).await.map_err(hyper_failure)?;
                self.read(resp).await
            }
        }
    }
}
