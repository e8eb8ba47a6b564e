//! The fast HTTP/1.1 client: keep-alive connections, the request rendered once into bytes
//! and shared by every call, responses read by [`h1`] (bounded, parsed in place). Per
//! request: one write, one or two reads, no allocation. A kept-alive connection is trusted
//! only for what it was asked: one that has bytes waiting before a request (an answer
//! nobody asked for, or the server's close) is not used.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;

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

    async fn once(
        &self,
        e: &Endpoint,
        request: &[u8],
        head_only: bool,
        fresh: bool,
    ) -> Result<HttpResponse, (Failure, bool)> {
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
        if let Err(err) = c.stream.write_all(request).await {
            return Err(fresh_fail(err.into(), c));
        }
        let expect = self.opts.expect_body.as_deref();
        let keepalive = !self.opts.disable_keepalive;
        match h1::read_response(c, expect, head_only, keepalive).await {
            Ok(r) => {
                let arrived = c.stream.arrived();
                c.clear();
                if r.reusable {
                    lease.put_back();
                }
                Ok(HttpResponse {
                    status: r.status,
                    body_ok: r.body_ok,
                    arrived,
                })
            }
            Err(f) => Err(fresh_fail(f, c)),
        }
    }
}

impl FastCaller {
    /// Calls this caller can run at once: its connections over every target.
    pub fn capacity(&self) -> u64 {
        self.endpoints.iter().map(|e| e.pool.cap()).sum()
    }

    /// Sends `request` (HTTP/1.1 bytes) to endpoint `endpoint` and reads the response.
    /// `idempotent`: it may be sent again on a new connection when a kept-alive one turns
    /// out closed before any byte of the answer came.
    pub async fn call(
        &self,
        endpoint: usize,
        request: &[u8],
        idempotent: bool,
        head_only: bool,
    ) -> Result<HttpResponse, Failure> {
        let e = &self.endpoints[endpoint];
        match self.once(e, request, head_only, false).await {
            Ok(r) => Ok(r),
            Err((_, true)) if idempotent => self
                .once(e, request, head_only, true)
                .await
                .map_err(|(f, _)| f),
            Err((f, _)) => Err(f),
        }
    }
}
