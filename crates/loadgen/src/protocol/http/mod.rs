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
pub mod fast;
pub mod h1;
pub mod http2;
pub mod redirect;
pub mod request;
pub mod targets;
pub mod tls;
pub mod via_hyper;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::protocol::net::StampedTcp;

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
    /// Concurrent streams per HTTP/2 connection.
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

/// The TLS client config for a run: `None` when no target is `https`. Offers ALPN `h2`
/// for HTTP/2, `http/1.1` otherwise.
pub fn tls_config(
    opts: &HttpOptions,
    targets: &[HttpTarget],
) -> Result<Option<Arc<rustls::ClientConfig>>, ConfigError> {
    if !targets.iter().any(|t| t.tls) {
        return Ok(None);
    }
    let alpn: &[&[u8]] = if opts.http2 { &[b"h2"] } else { &[b"http/1.1"] };
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
    /// `connections` per target.
    pub fn new(
        targets: &[HttpTarget],
        connections: u64,
        opts: Arc<HttpOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> HttpCaller {
        let requests = Arc::new(request::HttpRequests::per_target(targets, &opts));
        HttpCaller::with_requests(requests, 0, connections, opts, tls)
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
        let client = if opts.http2 || opts.hyper_h1 {
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

/// What a call that follows redirects keeps of each answer: the body search and the
/// `Location`.
struct Following<'a> {
    want: body_match::BodyMatch<'a>,
    location: Option<Vec<u8>>,
}

impl h1::Sink for Following<'_> {
    fn wants_headers(&self) -> bool {
        true
    }
    fn header(&mut self, name: &[u8], value: &[u8]) {
        if self.location.is_none() && name.eq_ignore_ascii_case(b"location") {
            self.location = Some(value.to_vec());
        }
    }
    fn body(&mut self, chunk: &[u8]) {
        self.want.feed(chunk);
    }
}

impl HttpCaller {
    /// A call that follows up to `--follow` redirects on the target's origin: the answer
    /// is the first that is not one. More hops, or a `Location` seen before in this call,
    /// is a `response_error` (a loop); one to another origin too.
    async fn call_following(
        &self,
        req: &request::HttpCall,
        msg: &request::Msg,
    ) -> Result<HttpResponse, Failure> {
        let follow = self.opts.follow;
        let ep = &self.requests.endpoints[req.endpoint];
        let mut current = std::borrow::Cow::Borrowed(msg);
        let mut seen: Vec<Vec<u8>> = vec![request_line(msg).1.into_bytes()];
        let mut idempotent = req.idempotent;
        for hop in 0..=follow {
            let mut sink = Following {
                want: body_match::BodyMatch::new(
                    self.opts.expect_body.as_deref().unwrap_or_default(),
                ),
                location: None,
            };
            let (status, arrived) = match (&self.client, current.as_ref()) {
                (_, request::Msg::Invalid(why)) => {
                    return Err(Failure::new(crate::Outcome::Fatal, why.clone()));
                }
                (Client::Fast(c), request::Msg::Wire(bytes)) => {
                    let x = c
                        .exchange(req.endpoint, bytes, idempotent, req.head, &mut sink)
                        .await?;
                    (x.status, x.arrived)
                }
                (Client::Hyper(c), request::Msg::Parts(parts)) => (
                    c.exchange(req.endpoint, parts, idempotent, &mut sink)
                        .await?,
                    None,
                ),
                _ => {
                    return Err(Failure::new(
                        crate::Outcome::Fatal,
                        "a request built for the other client",
                    ));
                }
            };
            if !redirect::is_redirect(status) {
                return Ok(HttpResponse {
                    status,
                    body_ok: sink.want.found(),
                    arrived,
                });
            }
            if hop == follow {
                break;
            }
            let loc = sink
                .location
                .ok_or_else(|| Failure::response(format!("HTTP {status} without a Location")))?;
            let (method, path) = request_line(current.as_ref());
            let next = redirect::path(&loc, ep, &path).map_err(Failure::response)?;
            if seen.contains(&next) {
                return Err(Failure::response(format!(
                    "redirect loop: {} again",
                    String::from_utf8_lossy(&next)
                        .chars()
                        .take(80)
                        .collect::<String>()
                )));
            }
            let get = redirect::to_get(status, &method);
            idempotent = idempotent || get;
            let rewritten = match current.as_ref() {
                request::Msg::Wire(b) => request::Msg::Wire(
                    redirect::rewrite_wire(b, &next, get)
                        .map_err(|why| Failure::new(crate::Outcome::Fatal, why))?
                        .into(),
                ),
                request::Msg::Parts(p) => request::Msg::Parts(Arc::new(
                    redirect::rewrite_parts(p, &next, get)
                        .map_err(|why| Failure::new(crate::Outcome::Fatal, why))?,
                )),
                other => other.clone(),
            };
            seen.push(next);
            current = std::borrow::Cow::Owned(rewritten);
        }
        Err(Failure::response(format!(
            "more than {follow} redirects (--follow {follow})"
        )))
    }
}

/// The method and path (with query) of a request as sent.
fn request_line(msg: &request::Msg) -> (String, String) {
    match msg {
        request::Msg::Wire(b) => {
            let line = b.split(|&c| c == b'\r').next().unwrap_or_default();
            let mut parts = line.splitn(3, |&c| c == b' ');
            let method = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let path = String::from_utf8_lossy(parts.next().unwrap_or(b"/")).into_owned();
            (method, path)
        }
        request::Msg::Parts(p) => (
            p.method.to_string(),
            p.uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |pq| pq.to_string()),
        ),
        _ => ("GET".into(), "/".into()),
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

/// A TCP or TLS connection whose reads carry the kernel's receive time.
pub enum Stream {
    /// Plain TCP.
    Plain(StampedTcp),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<StampedTcp>>),
}

/// Connects to `target`, with TLS if it is `https`, within its connect timeout if it has
/// one (a connect that takes longer is a `call_error`).
pub async fn connect(
    target: &HttpTarget,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Stream, Failure> {
    match target.connect_timeout {
        None => open(target, tls).await,
        Some(limit) => tokio::time::timeout(limit, open(target, tls))
            .await
            .unwrap_or_else(|_| {
                Err(Failure::call(format!(
                    "connect timeout after {}",
                    humantime::format_duration(limit)
                )))
            }),
    }
}

/// [`connect`] without its time limit.
async fn open(
    target: &HttpTarget,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Stream, Failure> {
    let tcp = match (&target.unix, target.proxy) {
        (Some(path), _) => StampedTcp::connect_unix(path).await?,
        (None, Some(proxy)) => {
            let mut s = StampedTcp::connect(proxy)
                .await
                .map_err(|e| Failure::call(format!("proxy {proxy}: {e}")))?;
            tunnel(&mut s, target).await?;
            s
        }
        (None, None) => StampedTcp::connect(target.addr).await?,
    };
    match (target.tls, tls) {
        (true, Some(cfg)) => {
            let name = rustls::pki_types::ServerName::try_from(
                target.host.trim_matches(['[', ']']).to_string(),
            )
            .map_err(|e| Failure::call(format!("TLS: bad server name: {e}")))?;
            let s = tokio_rustls::TlsConnector::from(cfg.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| Failure::call(format!("TLS: {}", tls_reason(&e))))?;
            Ok(Stream::Tls(Box::new(s)))
        }
        _ => Ok(Stream::Plain(tcp)),
    }
}

/// Asks the proxy at the other end of `s` for a tunnel to `target` (`CONNECT host:port`)
/// and reads its answer, at most [`h1::MAX_HEAD`] bytes of it: a 2xx opens the tunnel,
/// anything else fails the call.
async fn tunnel(s: &mut StampedTcp, target: &HttpTarget) -> Result<(), Failure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hostport = format!("{}:{}", target.uri_host(), target.port);
    let ask = format!("CONNECT {hostport} HTTP/1.1\r\nHost: {hostport}\r\n\r\n");
    let fail = |why: String| Failure::call(format!("proxy: {why}"));
    s.write_all(ask.as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 512];
    loop {
        // read no further than the end of the head: what follows belongs to the tunnel
        let want = if head.ends_with(b"\r\n\r") {
            1
        } else if head.ends_with(b"\r\n") {
            2
        } else if head.ends_with(b"\r") {
            3
        } else {
            4
        };
        let n = s
            .read(&mut b[..want])
            .await
            .map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            return Err(fail("closed before answering CONNECT".into()));
        }
        head.extend_from_slice(&b[..n]);
        if head.ends_with(b"\r\n\r\n") {
            break;
        }
        if head.len() > h1::MAX_HEAD {
            return Err(fail("an answer to CONNECT over 64 KiB".into()));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) if (200..300).contains(&resp.code.unwrap_or(0)) => Ok(()),
        Ok(httparse::Status::Complete(_)) => Err(fail(format!(
            "CONNECT {hostport} answered {} {}",
            resp.code.unwrap_or(0),
            resp.reason.unwrap_or("")
        ))),
        _ => Err(fail("an answer to CONNECT that does not parse".into())),
    }
}

fn tls_reason(e: &io::Error) -> String {
    match e.get_ref().and_then(|x| x.downcast_ref::<rustls::Error>()) {
        Some(r) => r.to_string(),
        None => e.to_string(),
    }
}

impl Stream {
    /// True when bytes (or the server's close) wait to be read: before a request, an
    /// idle kept-alive connection with input is not to be trusted.
    pub fn has_input(&self) -> bool {
        match self {
            Stream::Plain(s) => s.has_input(),
            Stream::Tls(s) => s.get_ref().0.has_input(),
        }
    }

    /// When the bytes of the last read arrived, if the kernel said.
    pub fn arrived(&self) -> Option<std::time::Instant> {
        match self {
            Stream::Plain(s) => s.arrived(),
            Stream::Tls(s) => s.get_ref().0.arrived(),
        }
    }

    /// The ALPN protocol the server chose (TLS only).
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(s) => s.get_ref().1.alpn_protocol(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
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
