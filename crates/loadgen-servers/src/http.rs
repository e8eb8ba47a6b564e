//! The HTTP test server: HTTP/1.1 and h2c on one port (TLS with ALPN when given a
//! certificate). It echoes the request body, and lets a test choose the ground truth:
//! per request with query knobs `delay=10ms`, `status=503`, `size=1024`, `close=1`, and by
//! default with a delay distribution and an error rate. Under `/api/` it serves the
//! journey demo API ([`crate::demo`]), with the same delay and error rate.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;

use crate::SetupError;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::idle::{Busy, BusyGuard, IdleTimeout};
use crate::{Limits, rng};

/// Largest request body echoed (a larger one is answered `413`). A body is not kept when
/// the response has a generated `size`.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// How long a response waits before it is sent: a distribution of durations (`10ms`,
/// `uniform:5ms-15ms`, `normal:10ms,2ms`, `exp:10ms`), sampled from the server's own
/// generator.
pub use loadgen::caller::dist::Dist as Delay;

/// Defaults for requests that do not set the knobs themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Delay before each response.
    pub delay: Delay,
    /// Status of each response.
    pub status: u16,
    /// Body size; `None` echoes the request body.
    pub size: Option<usize>,
    /// Fraction of responses (0..1) answered `503` instead.
    pub error_rate: f64,
    /// Close the connection after every response.
    pub close: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            delay: Delay::Fixed(Duration::ZERO),
            status: 200,
            size: None,
            error_rate: 0.0,
            close: false,
        }
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn parse_query_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(
        s.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len()),
    );
    let v: f64 = num.parse().ok()?;
    let secs = match unit {
        "" | "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "s" => v,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// Bytes of echoed request bodies held at once, over all connections: a request whose
/// body does not fit waits (known length) or is answered `503` (chunked).
pub const ECHO_BUDGET: usize = 64 * 1024 * 1024;

/// Bytes a connection buffers on its own: the HTTP/1 read buffer.
pub(crate) const CONN_BUFFER: usize = 16 * 1024;

/// What every request shares: the default behaviour, the echo budget, the demo API.
pub(crate) struct Shared {
    behaviour: Behaviour,
    budget: Arc<Semaphore>,
    demo: crate::demo::Demo,
}

impl Shared {
    /// What the requests of one server share.
    pub(crate) fn new(behaviour: Behaviour) -> Arc<Shared> {
        Arc::new(Shared {
            behaviour,
            budget: Arc::new(Semaphore::new(ECHO_BUDGET)),
            demo: crate::demo::Demo::default(),
        })
    }
}

/// A request's body as the handlers read it: hyper's (HTTP/1.1, HTTP/2) or HTTP/3's.
pub(crate) trait ReqBody:
    hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Unpin
    + Send
    + 'static
{
}

impl<B> ReqBody for B where
    B: hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Unpin
        + Send
        + 'static
{
}

/// The largest request body the demo API reads.
const MAX_API_BODY: usize = 64 * 1024;

/// A request to the demo API (`/api/…`): its body read (at most [`MAX_API_BODY`]), the
/// delay and error rate applied as to any request, then answered by [`crate::demo`].
async fn api<B: ReqBody>(req: Request<B>, shared: Arc<Shared>, busy: Busy) -> Response<Reply> {
    let (parts, body) = req.into_parts();
    let b = &shared.behaviour;
    let query = parts.uri.query().unwrap_or("");
    let bytes = match http_body_util::Limited::new(body, MAX_API_BODY)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(_) => return refusal(413, "request body too large or broken\n"),
    };
    let guard = busy.serving();
    let delay = query_param(query, "delay")
        .and_then(parse_query_duration)
        .unwrap_or_else(|| b.delay.sample(rng::unit));
    if !delay.is_zero() {
        crate::timer::sleep(delay).await;
    }
    if b.error_rate > 0.0 && rng::unit() < b.error_rate {
        return refusal(503, "injected error\n");
    }
    let ask = crate::demo::Ask {
        method: &parts.method,
        path: parts.uri.path(),
        authorization: parts
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
        cookies: parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .map(|v| v.as_bytes())
            .collect(),
        body: &bytes,
    };
    let a = shared.demo.handle(&ask);
    let mut resp = Response::builder()
        .status(http::StatusCode::from_u16(a.status).unwrap_or(http::StatusCode::OK));
    for (k, v) in a.headers {
        resp = resp.header(k, v);
    }
    let reply = Reply {
        data: (!a.body.is_empty()).then_some(a.body),
        generated: 0,
        _budget: None,
        _busy: Some(guard),
    };
    resp.body(reply).expect("valid response parts")
}

static FILL: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// A response body: a message or an echo held in memory (with its share of the budget), or
/// `size` generated bytes streamed from a static buffer.
pub struct Reply {
    data: Option<Bytes>,
    generated: u64,
    _budget: Option<OwnedSemaphorePermit>,
    _busy: Option<BusyGuard>,
}

impl Reply {
    fn bytes(data: Bytes) -> Reply {
        Reply {
            data: Some(data),
            generated: 0,
            _budget: None,
            _busy: None,
        }
    }
}

impl hyper::body::Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(d) = self.data.take() {
            return std::task::Poll::Ready(Some(Ok(Frame::data(d))));
        }
        if self.generated == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.generated.min(FILL.len() as u64);
        self.generated -= n;
        let chunk = Bytes::from_static(&FILL[..n as usize]);
        std::task::Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.generated == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64) + self.generated)
    }
}

/// Why a request body was not echoed.
enum Refused {
    TooLarge,
    Busy,
    Broken,
}

/// Reads a body to echo, its buffer paid for from the budget as the bytes arrive (the
/// buffer doubles, up to the declared length or the cap): a head that declares 16 MiB and
/// sends nothing reserves nothing, so it cannot starve the other requests; a body that
/// does not fit what is left is refused (503), never waited for.
async fn read_echo<B: ReqBody>(
    mut body: B,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Refused> {
    let exact = hyper::body::Body::size_hint(&body).exact();
    if exact.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(Refused::TooLarge);
    }
    if exact == Some(0) {
        return Ok((Bytes::new(), None));
    }
    let most = exact.map_or(MAX_BODY, |n| n as usize);
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| Refused::Broken)?.into_data() else {
            continue; // trailers
        };
        let len = buf.len() + data.len();
        if len > MAX_BODY {
            return Err(Refused::TooLarge);
        }
        if len > buf.capacity() {
            // double the buffer (up to the declared length or the cap), paying for what
            // it adds
            let cap = len.max((buf.capacity() * 2).min(most));
            let more = budget
                .clone()
                .try_acquire_many_owned((cap - buf.capacity()) as u32)
                .map_err(|_| Refused::Busy)?;
            match &mut held {
                Some(h) => h.merge(more),
                None => held = Some(more),
            }
            buf.reserve_exact(cap - buf.len());
        }
        buf.extend_from_slice(&data);
    }
    Ok((Bytes::from(buf), held))
}

/// Reads a body and drops it.
async fn drain<B: ReqBody>(mut body: B) {
    while let Some(Ok(_)) = body.frame().await {}
}

fn refusal(status: u16, why: &'static str) -> Response<Reply> {
    Response::builder()
        .status(status)
        .header(http::header::CONNECTION, "close")
        .body(Reply::bytes(Bytes::from_static(why.as_bytes())))
        .expect("static response")
}

pub(crate) async fn handle<B: ReqBody>(
    req: Request<B>,
    shared: Arc<Shared>,
    busy: Busy,
) -> Result<Response<Reply>, Infallible> {
    // waiting for a request's body is waiting to read: the idle timeout applies (the
    // connection is marked serving only once the body is in)
    if req.uri().path().starts_with("/api/") {
        return Ok(api(req, shared, busy).await);
    }
    let b = &shared.behaviour;
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let q = |name| query_param(&query, name);
    let size = q("size")
        .and_then(|s| s.parse::<u64>().ok())
        .or(b.size.map(|n| n as u64));
    let (echo, budget) = match size {
        Some(_) => {
            drain(req.into_body()).await;
            (Bytes::new(), None)
        }
        None => match read_echo(req.into_body(), &shared.budget).await {
            Ok(x) => x,
            Err(Refused::TooLarge) => return Ok(refusal(413, "request body too large\n")),
            Err(Refused::Busy) => return Ok(refusal(503, "echo buffers full\n")),
            Err(Refused::Broken) => return Ok(refusal(400, "request body broken\n")),
        },
    };
    let guard = busy.serving();
    let delay = q("delay")
        .and_then(parse_query_duration)
        .unwrap_or_else(|| b.delay.sample(rng::unit));
    if !delay.is_zero() {
        crate::timer::sleep(delay).await;
    }
    // redirects: redirect=N answers 302 to the same path with redirect=N-1 (N hops, then
    // the answer); location=URL (percent-decoded) answers a redirect there
    let hops = q("redirect")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|&n| n > 0);
    let location = match hops {
        Some(n) => Some(format!("{}?redirect={}", path, n - 1)),
        None => q("location").map(percent_decode),
    };
    let mut status = q("status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(if location.is_some() { 302 } else { b.status });
    if q("status").is_none()
        && location.is_none()
        && b.error_rate > 0.0
        && rng::unit() < b.error_rate
    {
        status = 503;
    }
    let mut resp = Response::builder()
        .status(http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK));
    if let Some(l) = location.and_then(|l| http::HeaderValue::try_from(l).ok()) {
        resp = resp.header(http::header::LOCATION, l);
    }
    let close = q("close").map_or(b.close, |v| v == "1" || v == "true");
    if close {
        resp = resp.header(http::header::CONNECTION, "close");
    }
    let body = Reply {
        data: (!echo.is_empty()).then_some(echo),
        generated: size.unwrap_or(0),
        _budget: budget,
        _busy: Some(guard),
    };
    Ok(resp.body(body).expect("valid response parts"))
}

/// `%XX` escapes of `s` decoded (an invalid one is kept as written).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves HTTP/1.1 and h2c (or TLS with ALPN when `tls` is set) until `shutdown`.
pub async fn run(
    listener: TcpListener,
    limits: Limits,
    behaviour: Behaviour,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let shared = Shared::new(behaviour);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => { tokio::time::sleep(Duration::from_millis(5)).await; continue; }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue; // over the cap: dropped, so closed
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let busy = Busy::default();
        let stream = IdleTimeout::with_busy(stream, limits.idle_timeout, busy.clone());
        let service = service_fn(move |req| handle(req, shared.clone(), busy.clone()));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.idle_timeout)
            .max_buf_size(CONN_BUFFER);
        builder
            .http2()
            .max_header_list_size(CONN_BUFFER as u32)
            .max_concurrent_streams(limits.max_streams)
            .initial_stream_window_size(256 * 1024)
            .initial_connection_window_size(1024 * 1024);
        match &acceptor {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(limits.idle_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(tls), service)
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await;
    Ok(())
}

/// A TLS server config from PEM certificate chain and key (ALPN h2 and http/1.1); given
/// `client_ca_pem`, clients must present a certificate signed by one of its CAs (mTLS).
pub fn tls_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<Arc<rustls::ServerConfig>, SetupError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls = |what, why: String| SetupError::Tls { what, why };
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls("certificate", e.to_string()))?;
    if certs.is_empty() {
        return Err(tls("certificate", "no PEM certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| tls("key", e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls("TLS", e.to_string()))?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(pem) {
                let ca = ca.map_err(|e| tls("client CA", e.to_string()))?;
                roots.add(ca).map_err(|e| tls("client CA", e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(tls("client CA", "no PEM certificate found".into()));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| tls("client CA", e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| tls("certificate and key", e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_parse_and_sample() {
        assert_eq!(
            Delay::parse("10ms").unwrap(),
            Delay::Fixed(Duration::from_millis(10))
        );
        let u = Delay::parse("uniform:5ms-15ms").unwrap();
        let n = Delay::parse("normal:10ms,2ms").unwrap();
        let e = Delay::parse("exp:10ms").unwrap();
        assert!(Delay::parse("poisson:1ms").is_err());
        assert!(Delay::parse("uniform:5ms").is_err());
        let mean = |d: Delay| {
            (0..20_000)
                .map(|_| d.sample(rng::unit).as_secs_f64())
                .sum::<f64>()
                / 20_000.0
                * 1e3
        };
        assert!((mean(u) - 10.0).abs() < 0.3, "{}", mean(u));
        assert!((mean(n) - 10.0).abs() < 0.3, "{}", mean(n));
        assert!((mean(e) - 10.0).abs() < 0.5, "{}", mean(e));
        for _ in 0..1000 {
            let s = u.sample(rng::unit);
            assert!(s >= Duration::from_millis(5) && s <= Duration::from_millis(15));
        }
    }

    #[test]
    fn query_knobs() {
        assert_eq!(query_param("a=1&delay=5ms&close", "delay"), Some("5ms"));
        assert_eq!(query_param("a=1&close", "close"), Some(""));
        assert_eq!(query_param("a=1", "b"), None);
        assert_eq!(
            parse_query_duration("250us"),
            Some(Duration::from_micros(250))
        );
        assert_eq!(parse_query_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_query_duration("7"), Some(Duration::from_millis(7)));
        assert_eq!(parse_query_duration("7h"), None);
    }
}
