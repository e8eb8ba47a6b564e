//! Opening a connection to an HTTP target: TCP (or a Unix socket, or a proxy's CONNECT
//! tunnel), then TLS for `https`, within the target's connect timeout; the [`Stream`] the
//! clients read and write.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{HttpTarget, h1};
use crate::outcome::Failure;
use crate::protocol::net::StampedTcp;

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
    within_connect_timeout(target.connect_timeout, open(target, tls)).await
}

/// `open` within `limit` (`--connect-timeout`), if there is one: past it, a `call_error`
/// ("connect timeout after 200ms"). Every protocol's connect — TCP, TLS, WebSocket's
/// upgrade, QUIC's handshake — is bounded by this one rule.
pub(crate) async fn within_connect_timeout<T>(
    limit: Option<std::time::Duration>,
    open: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    match limit {
        None => open.await,
        Some(limit) => tokio::time::timeout(limit, open).await.unwrap_or_else(|_| {
            Err(Failure::call(format!(
                "connect timeout after {}",
                humantime::format_duration(limit)
            )))
        }),
    }
}

/// [`connect`] without its time limit.
pub(crate) async fn open(
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
