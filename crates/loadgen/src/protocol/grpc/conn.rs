//! One HTTP/2 connection for gRPC calls (hyper's client, the HTTP module's TCP, TLS and
//! Unix socket dialing), opened on first use and again once it has closed; tonic's
//! [`tonic::client::Grpc`] frames the calls over it.

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

/// A connection slot: the sender of an open connection, or none yet.
pub struct Conn {
    target: HttpTarget,
    tls: Option<Arc<rustls::ClientConfig>>,
    sender: RefCell<Option<http2::SendRequest<tonic::body::Body>>>,
    dial: tokio::sync::Mutex<()>,
    origin: http::Uri,
}

impl Conn {
    /// A slot for connections to `target`.
    pub fn new(
        target: &HttpTarget,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Conn, String> {
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

    fn open(&self) -> Option<http2::SendRequest<tonic::body::Body>> {
        self.sender
            .borrow()
            .as_ref()
            .filter(|s| !s.is_closed())
            .cloned()
    }

    /// A gRPC client over the open connection, dialing one first if there is none (one
    /// dial at a time: calls that find it dialing wait for it).
    pub async fn client(&self) -> Result<tonic::client::Grpc<Sender>, Failure> {
        if let Some(s) = self.open() {
            return Ok(self.grpc(s));
        }
        let _dialing = self.dial.lock().await;
        if let Some(s) = self.open() {
            return Ok(self.grpc(s));
        }
        let stream = connect(&self.target, self.tls.as_ref()).await?;
        if self.target.tls && stream.alpn() != Some(b"h2") {
            return Err(Failure::call("TLS: the server did not negotiate h2 (ALPN)"));
        }
        let (sender, conn) = http2::Builder::new(LocalExec)
            .handshake::<_, tonic::body::Body>(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::call(format!("HTTP/2 handshake: {e}")))?;
        tokio::task::spawn_local(conn);
        *self.sender.borrow_mut() = Some(sender.clone());
        Ok(self.grpc(sender))
    }

    fn grpc(&self, s: http2::SendRequest<tonic::body::Body>) -> tonic::client::Grpc<Sender> {
        tonic::client::Grpc::with_origin(Sender(s), self.origin.clone())
    }

    /// The service for a generated client (reflection).
    pub async fn service(&self) -> Result<(Sender, http::Uri), Failure> {
        self.client().await?;
        let s = self
            .open()
            .ok_or_else(|| Failure::call("the connection closed"))?;
        Ok((Sender(s), self.origin.clone()))
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
