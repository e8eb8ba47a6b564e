//! One HTTP/2 connection for gRPC calls (hyper's client, the HTTP module's TCP, TLS and
//! Unix socket dialing), opened on first use and again once it has closed. Load calls
//! send their framed messages on it directly ([`super::GrpcCaller`]); reflection goes
//! through tonic's generated client ([`Sender`]).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::client::conn::http2;
use hyper_util::rt::TokioIo;

use crate::outcome::Failure;
use crate::protocol::http::via_hyper::LocalExec;
use crate::protocol::http::{HttpTarget, connect};

/// A connection slot: the sender of an open connection (requests with bodies of type
/// `B`), or none yet.
pub struct Conn<B = tonic::body::Body> {
    target: HttpTarget,
    tls: Option<Arc<rustls::ClientConfig>>,
    sender: RefCell<Option<http2::SendRequest<B>>>,
    dial: tokio::sync::Mutex<()>,
    origin: http::Uri,
}

impl<B> Conn<B>
where
    B: hyper::body::Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// A slot for connections to `target`.
    pub fn new(
        target: &HttpTarget,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Conn<B>, String> {
        let scheme = if target.tls { "https" } else { "http" };
        let origin = format!("{scheme}://{}", target.authority())
            .parse()
            .map_err(|e| format!("{}: {e}", target.url))?;
        Ok(Conn {
            target: target.clone(),
            tls,
            sender: RefCell::new(None),
            dial: tokio::sync::Mutex::new(()),
            origin,
        })
    }

    fn open(&self) -> Option<http2::SendRequest<B>> {
        self.sender
            .borrow()
            .as_ref()
            .filter(|s| !s.is_closed())
            .cloned()
    }

    /// Where requests go: `scheme://authority`.
    pub fn origin(&self) -> &http::Uri {
        &self.origin
    }

    /// The open connection's sender, dialing one first if there is none (one dial at a
    /// time: calls that find it dialing wait for it).
    pub async fn sender(&self) -> Result<http2::SendRequest<B>, Failure> {
        if let Some(s) = self.open() {
            return Ok(s);
        }
        let _dialing = self.dial.lock().await;
        if let Some(s) = self.open() {
            return Ok(s);
        }
        let stream = connect(&self.target, self.tls.as_ref()).await?;
        if self.target.tls && stream.alpn() != Some(b"h2") {
            return Err(Failure::call("TLS: the server did not negotiate h2 (ALPN)"));
        }
        let (sender, conn) = http2::Builder::new(LocalExec)
            .max_header_list_size(crate::protocol::http::h1::MAX_HEAD as u32)
            .handshake::<_, B>(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::call(format!("HTTP/2 handshake: {e}")))?;
        tokio::task::spawn_local(conn);
        *self.sender.borrow_mut() = Some(sender.clone());
        Ok(sender)
    }
}

impl Conn<tonic::body::Body> {
    /// The service for a generated client (reflection).
    pub async fn service(&self) -> Result<(Sender, http::Uri), Failure> {
        Ok((Sender(self.sender().await?), self.origin.clone()))
    }
}

/// Sends requests on one HTTP/2 connection.
#[derive(Clone)]
pub struct Sender(http2::SendRequest<tonic::body::Body>);

impl tower::Service<http::Request<tonic::body::Body>> for Sender {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, hyper::Error>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}
