//! The fast HTTP/1.1 client: keep-alive connections, the request rendered once into bytes
//! and shared by every call, responses read by [`h1`] (bounded, parsed in place). Per
//! request: one write, one or two reads, no allocation. A kept-alive connection is trusted
//! only for what it was asked: one that has bytes waiting before a request (an answer
//! nobody asked for, or the server's close) is not used.

use super::request::Wire;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::body_match::BodyMatch;
use super::h1::Sink;
use super::{HttpOptions, HttpResponse, HttpTarget, Stream, connect, h1};
use crate::caller::pool::Pool;
use crate::outcome::Failure;

/// A connection of the fast client.
type Conn = h1::Conn<Stream>;

struct Endpoint {
    target: HttpTarget,
    pool: Pool<Conn>,
}

/// The fast HTTP/1.1 caller of one shard.
pub struct FastCaller {
    endpoints: Vec<Endpoint>,
    opts: Arc<HttpOptions>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl FastCaller {
    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.endpoints.iter().map(|e| e.pool.open()).sum()
    }

    /// Adds how long its connections took to open to `out` (µs).
    pub fn connects_into(&self, out: &mut crate::record::hist::Hist) {
        for e in &self.endpoints {
            e.pool.dial_times.add_into(out);
        }
    }

    /// A caller for `endpoints` with at most `connections` to each.
    pub fn new(
        endpoints: &[HttpTarget],
        connections: u64,
        opts: Arc<HttpOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> FastCaller {
        let endpoints = endpoints
            .iter()
            .map(|t| Endpoint {
                target: t.clone(),
                pool: Pool::new(connections),
            })
            .collect();
        FastCaller {
            endpoints,
            opts,
            tls,
        }
    }

    async fn once<K: Sink>(
        &self,
        e: &Endpoint,
        request: &Wire,
        head_only: bool,
        fresh: bool,
        sink: &mut K,
    ) -> Result<Exchanged, (Failure, bool)> {
        let dial = || async { Ok(Conn::new(connect(&e.target, self.tls.as_ref()).await?)) };
        let mut lease = if fresh {
            e.pool.get_fresh(dial).await
        } else {
            e.pool.get(dial).await
        }
        .map_err(|f: Failure| (f, false))?;
        if lease.reused() && lease.get_mut().stream.has_input() {
            // bytes nobody asked for (or the server's close): not a connection to trust
            drop(lease);
            lease = e.pool.get_fresh(dial).await.map_err(|f| (f, false))?;
        }
        let reused = lease.reused();
        let c = lease.get_mut();
        let fresh_fail = |f: Failure, c: &Conn| {
            // a kept-alive connection the server closed while idle: nothing was answered
            let retry = reused && c.got == 0 && f.outcome == crate::Outcome::CallError;
            (f, retry)
        };
        c.got = 0;
        sink.sending();
        // flushed: a TLS stream may hold the last encrypted bytes of a large request
        if let Err(err) = write_flushed(&mut c.stream, request).await {
            return Err(fresh_fail(err.into(), c));
        }
        let keepalive = !self.opts.disable_keepalive;
        match h1::read_into(c, sink, head_only, keepalive).await {
            Ok((status, reusable)) => {
                let arrived = c.stream.arrived();
                c.clear();
                if reusable {
                    lease.put_back();
                }
                Ok(Exchanged { status, arrived })
            }
            Err(f) => Err(fresh_fail(f, c)),
        }
    }
}

/// Writes the head and the body of `request` and flushes them.
async fn write_flushed(s: &mut Stream, request: &Wire) -> std::io::Result<()> {
    s.write_all(&request.head).await?;
    if !request.body.is_empty() {
        s.write_all(&request.body).await?;
    }
    s.flush().await
}

/// What an exchange returns besides what its sink kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchanged {
    /// The status.
    pub status: u16,
    /// When the answer's last bytes arrived (the kernel's receive time), if known.
    pub arrived: Option<std::time::Instant>,
}

impl FastCaller {
    /// Calls this caller can run at once: its connections over every target.
    pub fn capacity(&self) -> u64 {
        self.endpoints.iter().map(|e| e.pool.cap()).sum()
    }

    /// Calls it can run at once to endpoint `endpoint`.
    pub fn capacity_of(&self, endpoint: usize) -> u64 {
        self.endpoints.get(endpoint).map_or(0, |e| e.pool.cap())
    }

    /// Sends `request` (HTTP/1.1 bytes) to endpoint `endpoint` and reads the response.
    /// `idempotent`: it may be sent again on a new connection when a kept-alive one turns
    /// out closed before any byte of the answer came.
    pub async fn call(
        &self,
        endpoint: usize,
        request: &Wire,
        idempotent: bool,
        head_only: bool,
    ) -> Result<HttpResponse, Failure> {
        let mut want = BodyMatch::new(self.opts.expect_body.as_deref().unwrap_or_default());
        let r = self
            .exchange(endpoint, request, idempotent, head_only, &mut want)
            .await?;
        Ok(HttpResponse {
            status: r.status,
            body_ok: want.found(),
            arrived: r.arrived,
        })
    }

    /// Sends `request` as [`FastCaller::call`] does, the answer's headers and body going
    /// to `sink`.
    pub async fn exchange<K: Sink>(
        &self,
        endpoint: usize,
        request: &Wire,
        idempotent: bool,
        head_only: bool,
        sink: &mut K,
    ) -> Result<Exchanged, Failure> {
        let e = &self.endpoints[endpoint];
        match self.once(e, request, head_only, false, sink).await {
            Ok(r) => Ok(r),
            // nothing was read: the sink has seen nothing yet
            Err((_, true)) if idempotent => self
                .once(e, request, head_only, true, sink)
                .await
                .map_err(|(f, _)| f),
            Err((f, _)) => Err(f),
        }
    }
}
