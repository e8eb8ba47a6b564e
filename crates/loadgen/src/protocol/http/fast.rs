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

/// Renders the request bytes for `target`.
pub fn render_request(target: &HttpTarget, opts: &HttpOptions) -> Vec<u8> {
    let mut r = Vec::with_capacity(256 + opts.body.len());
    r.extend_from_slice(opts.method.as_bytes());
    r.push(b' ');
    r.extend_from_slice(target.path.as_bytes());
    r.extend_from_slice(b" HTTP/1.1\r\n");
    let has = |name: &str| {
        opts.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    if !has("host") {
        r.extend_from_slice(format!("Host: {}\r\n", target.authority()).as_bytes());
    }
    if !has("user-agent") {
        r.extend_from_slice(
            concat!("User-Agent: loadgen/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
        );
    }
    for (k, v) in &opts.headers {
        r.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    let bodied = !opts.body.is_empty() || matches!(opts.method.as_str(), "POST" | "PUT" | "PATCH");
    if bodied && !has("content-length") {
        r.extend_from_slice(format!("Content-Length: {}\r\n", opts.body.len()).as_bytes());
    }
    if opts.disable_keepalive && !has("connection") {
        r.extend_from_slice(b"Connection: close\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(&opts.body);
    r
}

/// A connection of the fast client.
type Conn = h1::Conn<Stream>;

struct Endpoint {
    target: HttpTarget,
    request: Vec<u8>,
    pool: Pool<Conn>,
}

/// The fast HTTP/1.1 caller of one shard.
pub struct FastCaller {
    endpoints: Vec<Endpoint>,
    opts: Arc<HttpOptions>,
    tls: Option<Arc<rustls::ClientConfig>>,
    head_only: bool,
    retry_idle_close: bool,
}

impl FastCaller {
    /// A caller for `targets` with at most `connections` per target.
    pub fn new(
        targets: &[HttpTarget],
        connections: u64,
        opts: Arc<HttpOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> FastCaller {
        let endpoints = targets
            .iter()
            .map(|t| Endpoint {
                target: t.clone(),
                request: render_request(t, &opts),
                pool: Pool::new(connections),
            })
            .collect();
        let m = opts.method.as_str();
        FastCaller {
            endpoints,
            head_only: m == "HEAD",
            retry_idle_close: matches!(m, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS"),
            opts,
            tls,
        }
    }

    async fn once(&self, e: &Endpoint, fresh: bool) -> Result<HttpResponse, (Failure, bool)> {
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
        if let Err(err) = c.stream.write_all(&e.request).await {
            return Err(fresh_fail(err.into(), c));
        }
        let expect = self.opts.expect_body.as_deref();
        let keepalive = !self.opts.disable_keepalive;
        match h1::read_response(c, expect, self.head_only, keepalive).await {
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

    /// One request to target `target` and its response.
    pub async fn call(&self, target: usize) -> Result<HttpResponse, Failure> {
        let e = &self.endpoints[target];
        match self.once(e, false).await {
            Ok(r) => Ok(r),
            Err((_, true)) if self.retry_idle_close => self.once(e, true).await.map_err(|(f, _)| f),
            Err((f, _)) => Err(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> HttpTarget {
        HttpTarget {
            url: "http://example.com:8080/a?b=1".into(),
            tls: false,
            host: "example.com".into(),
            port: 8080,
            addr: "127.0.0.1:8080".parse().unwrap(),
            path: "/a?b=1".into(),
        }
    }

    #[test]
    fn renders_requests() {
        let r = render_request(&target(), &HttpOptions::default());
        let text = String::from_utf8(r).unwrap();
        assert!(
            text.starts_with(
                "GET /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: loadgen/"
            )
        );
        assert!(text.ends_with("\r\n\r\n"));
        assert!(!text.contains("Content-Length"));
        let o = HttpOptions {
            method: "POST".into(),
            body: b"hello".to_vec(),
            headers: vec![("X-A".into(), "1".into())],
            disable_keepalive: true,
            ..HttpOptions::default()
        };
        let text = String::from_utf8(render_request(&target(), &o)).unwrap();
        assert!(
            text.contains("X-A: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"),
            "{text}"
        );
    }
}
