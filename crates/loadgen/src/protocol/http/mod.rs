//! HTTP/1.1 and HTTP/2 callers, over TCP or TLS.
//!
//! Two clients share one set of options and one response check:
//! - [`fast`]: HTTP/1.1 keep-alive with the request rendered once into bytes and responses
//!   parsed with `httparse` (Content-Length, chunked, or close-delimited bodies); nothing is
//!   allocated per request;
//! - [`via_hyper`]: hyper's `client::conn` for HTTP/1.1 and HTTP/2 (h2c with prior knowledge
//!   on `http://`, ALPN on `https://`, `streams` concurrent streams per connection).
//!
//! Outcomes, the same for every client: a 5xx that was not expected is `callee_error` (the
//! status in the message); any other unexpected status, a body without the expected text,
//! or a response that does not parse (a bad status line, conflicting lengths, a bad chunk,
//! a head over [`h1::MAX_HEAD`]) is `response_error`; a connect, reset or TLS failure, or a
//! connection closed before the response was complete, is `call_error`; no complete answer
//! within the timeout is `timeout`. A kept-alive connection closed with the request
//! unanswered is retried once on a new connection when the method is idempotent.

pub mod body_match;
mod dial;
pub mod fast;
pub mod h1;
pub mod h3;
pub mod http2;
pub mod redirect;
pub mod request;
pub mod targets;
pub mod tls;
pub mod via_hyper;

use std::net::SocketAddr;
use std::sync::Arc;

pub use dial::{Stream, connect};
pub(crate) use dial::{open as open_stream, within_connect_timeout};

use crate::error::ConfigError;
use crate::outcome::Failure;

/// One HTTP target: where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// The URL as given.
    pub url: String,
    /// `https`?
    pub tls: bool,
    /// Host name (for the Host header and TLS server name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Resolved address.
    pub addr: SocketAddr,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Connect to this Unix domain socket instead of `addr` (`--unix-socket`).
    pub unix: Option<std::path::PathBuf>,
    /// Reach the target through this HTTP proxy, by a CONNECT tunnel (`--proxy`).
    pub proxy: Option<SocketAddr>,
    /// The longest a connection may take to open — TCP, proxy tunnel and TLS handshake
    /// (`--connect-timeout`); `None`: the call's own timeout bounds it.
    pub connect_timeout: Option<std::time::Duration>,
}

impl HttpTarget {
    /// The host as a URI writes it: an IPv6 literal in brackets.
    pub fn uri_host(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The `Host` header value (`host` or `host:port` for a non-default port).
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = self.uri_host();
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Which HTTP statuses count as success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
}

impl Default for StatusSet {
    /// 2xx and 3xx.
    fn default() -> Self {
        StatusSet {
            ranges: vec![(200, 399)],
        }
    }
}

impl StatusSet {
    /// Parses `200,204`, `2xx`, `200-299,404`.
    pub fn parse(s: &str) -> Result<StatusSet, ConfigError> {
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || ConfigError::Status(part.into());
            let lower = part.to_ascii_lowercase();
            let r = if let Some(c) = lower.strip_suffix("xx") {
                let c: u16 = c.parse().map_err(|_| bad())?;
                if !(1..=5).contains(&c) {
                    return Err(bad());
                }
                (c * 100, c * 100 + 99)
            } else if let Some((a, b)) = lower.split_once('-') {
                (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?)
            } else {
                let v = lower.parse().map_err(|_| bad())?;
                (v, v)
            };
            if r.0 < 100 || r.1 > 599 || r.0 > r.1 {
                return Err(bad());
            }
            ranges.push(r);
        }
        if ranges.is_empty() {
            return Err(ConfigError::NoStatus);
        }
        Ok(StatusSet { ranges })
    }

    /// Whether `status` is expected.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges.iter().any(|&(a, b)| (a..=b).contains(&status))
    }
}

/// What every HTTP request of a run looks like, and how responses are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Method (`GET`, `POST`, ...).
    pub method: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Statuses that count as success.
    pub expect_status: StatusSet,
    /// Text the response body must contain.
    pub expect_body: Option<Vec<u8>>,
    /// `Connection: close` on every request and a new connection each time.
    pub disable_keepalive: bool,
    /// HTTP/2 (hyper).
    pub http2: bool,
    /// HTTP/3 over QUIC (quinn, h3): `https` targets only.
    pub http3: bool,
    /// Concurrent streams per HTTP/2 or HTTP/3 connection.
    pub streams: u32,
    /// Use hyper for HTTP/1.1 too (instead of the fast path).
    pub hyper_h1: bool,
    /// TLS certificate checking.
    pub verify: tls::Verify,
    /// A client certificate to present (mTLS).
    pub client_auth: Option<tls::ClientAuth>,
    /// Redirects (301, 302, 303, 307, 308) followed on the target's origin, at most
    /// (`--follow N`); 0: a redirect is the answer.
    pub follow: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            method: "GET".into(),
            headers: Vec::new(),
            body: Vec::new(),
            expect_status: StatusSet::default(),
            expect_body: None,
            disable_keepalive: false,
            http2: false,
            http3: false,
            streams: 1,
            hyper_h1: false,
            verify: tls::Verify::WebPki,
            client_auth: None,
            follow: 0,
        }
    }
}

impl HttpOptions {
    /// Checks the options once before a run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ConfigError::Method(self.method.clone()));
        }
        for (k, v) in &self.headers {
            if http::HeaderName::from_bytes(k.as_bytes()).is_err()
                || http::HeaderValue::from_str(v).is_err()
            {
                return Err(ConfigError::Header {
                    name: k.clone(),
                    value: v.clone(),
                });
            }
        }
        if self.streams == 0 {
            return Err(ConfigError::ZeroStreams);
        }
        Ok(())
    }
}

/// A finished response, reduced to what the check needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Whether the body contained the expected text (true when nothing was expected).
    pub body_ok: bool,
    /// When its last byte arrived (the kernel's receive time), if known.
    pub arrived: Option<std::time::Instant>,
}

/// The failure of an answer whose status is not among the expected: `callee_error` for
/// 5xx, `response_error` otherwise.
pub fn status_failure(status: u16) -> Failure {
    if (500..600).contains(&status) {
        Failure::callee(status_message(status))
    } else {
        Failure::response(format!("unexpected status {}", status_message(status)))
    }
}

/// The check shared by both clients.
pub fn check(opts: &HttpOptions, r: &HttpResponse) -> Result<(), Failure> {
    if !opts.expect_status.contains(r.status) {
        return Err(status_failure(r.status));
    }
    if !r.body_ok {
        return Err(Failure::response("body does not contain the expected text"));
    }
    Ok(())
}

fn status_message(status: u16) -> String {
    match http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("HTTP {status} {reason}"),
        None => format!("HTTP {status}"),
    }
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// The TLS client config for a run: `None` when no target is `https`. Offers ALPN `h3`
/// for HTTP/3, `h2` for HTTP/2, `http/1.1` otherwise.
pub fn tls_config(
    opts: &HttpOptions,
    targets: &[HttpTarget],
) -> Result<Option<Arc<rustls::ClientConfig>>, ConfigError> {
    if !targets.iter().any(|t| t.tls) {
        return Ok(None);
    }
    let alpn: &[&[u8]] = match (opts.http3, opts.http2) {
        (true, _) => &[b"h3"],
        (false, true) => &[b"h2"],
        (false, false) => &[b"http/1.1"],
    };
    tls::client_config(&opts.verify, opts.client_auth.as_ref(), alpn).map(Some)
}

/// The HTTP caller: hyper for HTTP/2 or when asked, the fast path otherwise; both share
/// the options, the requests ([`request::HttpRequests`]) and the response check.
pub struct HttpCaller {
    opts: Arc<HttpOptions>,
    requests: Arc<request::HttpRequests>,
    thread: usize,
    scratch: std::cell::RefCell<request::Scratch>,
    client: Client,
}

enum Client {
    Fast(fast::FastCaller),
    Hyper(via_hyper::HyperCaller),
}

impl HttpCaller {
    /// A caller for `targets` (one request each, as `opts` describes it), at most
    /// `connections` per target; `opts` whose headers frame the body wrongly are refused.
    pub fn new(
        targets: &[HttpTarget],
        connections: u64,
        opts: Arc<HttpOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<HttpCaller, ConfigError> {
        let requests = Arc::new(request::HttpRequests::per_target(targets, &opts)?);
        Ok(HttpCaller::with_requests(
            requests,
            0,
            connections,
            opts,
            tls,
        ))
    }

    /// The caller of generator thread `thread` for `requests`, at most `connections` per
    /// endpoint.
    pub fn with_requests(
        requests: Arc<request::HttpRequests>,
        thread: usize,
        connections: u64,
        opts: Arc<HttpOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> HttpCaller {
        let endpoints = &requests.endpoints;
        let client = if opts.http2 || opts.http3 || opts.hyper_h1 {
            Client::Hyper(via_hyper::HyperCaller::new(
                endpoints,
                connections,
                opts.clone(),
                tls,
            ))
        } else {
            Client::Fast(fast::FastCaller::new(
                endpoints,
                connections,
                opts.clone(),
                tls,
            ))
        };
        HttpCaller {
            opts,
            requests,
            thread,
            scratch: Default::default(),
            client,
        }
    }
}

impl crate::Caller for HttpCaller {
    type Request = request::HttpCall;
    type Response = HttpResponse;

    fn build(&self, load: crate::Load) -> request::HttpCall {
        self.requests.call(
            load.index,
            load.target,
            self.thread,
            &mut self.scratch.borrow_mut(),
        )
    }

    async fn call(
        &self,
        req: &request::HttpCall,
        _deadline: std::time::Instant,
    ) -> Result<HttpResponse, Failure> {
        let msg = match &req.msg {
            request::Msg::Fixed(i) => self.requests.fixed(*i).unwrap_or(&req.msg),
            m => m,
        };
        if self.opts.follow > 0 {
            return self.call_following(req, msg).await;
        }
        match (&self.client, msg) {
            (_, request::Msg::Invalid(why)) => {
                Err(Failure::new(crate::Outcome::Fatal, why.clone()))
            }
            (Client::Fast(c), request::Msg::Wire(bytes)) => {
                c.call(req.endpoint, bytes, req.idempotent, req.head).await
            }
            (Client::Hyper(c), request::Msg::Parts(parts)) => {
                c.call(req.endpoint, parts, req.idempotent).await
            }
            _ => Err(Failure::new(
                crate::Outcome::Fatal,
                "a request built for the other client",
            )),
        }
    }

    fn check(
        &self,
        _load: crate::Load,
        _req: &request::HttpCall,
        resp: &HttpResponse,
    ) -> Result<(), Failure> {
        check(&self.opts, resp)
    }

    fn capacity(&self) -> Option<u64> {
        Some(match &self.client {
            Client::Fast(c) => c.capacity(),
            Client::Hyper(c) => c.capacity(),
        })
    }

    fn capacity_of(&self, target: usize) -> Option<u64> {
        // per target only when a load goes to its own target's endpoint
        if !matches!(self.requests.order, request::Order::PerTarget) {
            return None;
        }
        Some(match &self.client {
            Client::Fast(c) => c.capacity_of(target),
            Client::Hyper(c) => c.capacity_of(target),
        })
    }

    fn arrival(&self, resp: &HttpResponse) -> Option<std::time::Instant> {
        resp.arrived
    }

    fn connects_into(&self, out: &mut crate::record::hist::Hist) {
        match &self.client {
            Client::Fast(c) => c.connects_into(out),
            Client::Hyper(c) => c.connects_into(out),
        }
    }

    fn status_class(&self, resp: &HttpResponse) -> Option<u8> {
        let class = (resp.status / 100) as u8;
        (1..=5).contains(&class).then_some(class)
    }

    fn connections_open(&self) -> Option<u64> {
        Some(match &self.client {
            Client::Fast(c) => c.connections_open(),
            Client::Hyper(c) => c.connections_open(),
        })
    }

    fn stamps_arrivals(&self) -> bool {
        // hyper reads on its own connection tasks; only the fast client knows its reads
        matches!(self.client, Client::Fast(_))
    }

    fn report_target(&self, req: &request::HttpCall) -> Option<usize> {
        match self.requests.order {
            request::Order::PerTarget => None,
            _ => Some(req.row),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets() {
        let d = StatusSet::default();
        assert!(d.contains(200) && d.contains(302) && !d.contains(404) && !d.contains(500));
        let s = StatusSet::parse("200,204").unwrap();
        assert!(s.contains(204) && !s.contains(201));
        let s = StatusSet::parse("2xx, 404").unwrap();
        assert!(s.contains(299) && s.contains(404) && !s.contains(300));
        let s = StatusSet::parse("500-503").unwrap();
        assert!(s.contains(502) && !s.contains(504));
        for bad in ["", "abc", "6xx", "99", "600", "300-200"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outcomes_of_statuses() {
        let o = HttpOptions::default();
        let r = |status, body_ok| {
            check(
                &o,
                &HttpResponse {
                    status,
                    body_ok,
                    arrived: None,
                },
            )
        };
        assert!(r(200, true).is_ok());
        assert_eq!(
            r(503, true).unwrap_err().outcome,
            crate::Outcome::CalleeError
        );
        assert_eq!(
            r(503, true).unwrap_err().message,
            "HTTP 503 Service Unavailable"
        );
        assert_eq!(
            r(404, true).unwrap_err().outcome,
            crate::Outcome::ResponseError
        );
        assert_eq!(
            r(200, false).unwrap_err().outcome,
            crate::Outcome::ResponseError
        );
        let o = HttpOptions {
            expect_status: StatusSet::parse("503").unwrap(),
            ..HttpOptions::default()
        };
        assert!(
            check(
                &o,
                &HttpResponse {
                    status: 503,
                    body_ok: true,
                    arrived: None,
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn authority_omits_default_ports() {
        let t = |tls, port| HttpTarget {
            url: String::new(),
            tls,
            host: "example.com".into(),
            port,
            addr: "127.0.0.1:1".parse().unwrap(),
            path: "/".into(),
            unix: None,
            proxy: None,
            connect_timeout: None,
        };
        assert_eq!(t(false, 80).authority(), "example.com");
        assert_eq!(t(true, 443).authority(), "example.com");
        assert_eq!(t(false, 8080).authority(), "example.com:8080");
    }
}
