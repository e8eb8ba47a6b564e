//! One HTTP/2 connection for gRPC calls (the HTTP module's TCP, TLS and Unix socket
//! dialing), opened on first use and again once it has closed. Load calls speak `h2`
//! directly ([`H2`]: headers and the framed messages written from the call itself, no
//! task per request); reflection goes through tonic's generated client over hyper's
//! ([`Sender`]).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;

use crate::outcome::Failure;
use crate::protocol::http::http2::{self, Task};
use crate::protocol::http::via_hyper::LocalExec;
use crate::protocol::http::{HttpTarget, Stream};

/// What requests are sent with on one HTTP/2 connection: made by the handshake.
pub trait Session: Clone + Sized + 'static {
    /// The HTTP/2 handshake over `stream`: the sender, and the task that drives the
    /// connection.
    fn handshake(stream: Stream) -> impl Future<Output = Result<(Self, Task), Failure>>;
}

/// Load calls: `h2`'s client, as `--http2` uses it.
pub type H2 = http2::Sender;

impl Session for H2 {
    async fn handshake(stream: Stream) -> Result<(H2, Task), Failure> {
        http2::handshake(stream).await
    }
}

/// Reflection: tonic's generated client over hyper's HTTP/2 client.
#[derive(Clone)]
pub struct Sender(hyper::client::conn::http2::SendRequest<tonic::body::Body>);

impl Session for Sender {
    async fn handshake(stream: Stream) -> Result<(Sender, Task), Failure> {
        let (sender, conn) = hyper::client::conn::http2::Builder::new(LocalExec)
            .max_header_list_size(crate::protocol::http::h1::MAX_HEAD as u32)
            .handshake::<_, tonic::body::Body>(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::call(format!("HTTP/2 handshake: {e}")))?;
        Ok((
            Sender(sender),
            Box::pin(async move {
                let _ = conn.await;
            }),
        ))
    }
}

/// A connection slot: the session of an open connection, or none yet.
pub struct Conn<S = Sender> {
    target: HttpTarget,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The session and whether its connection has ended.
    slot: RefCell<Option<(S, Rc<Cell<bool>>)>>,
    dial: tokio::sync::Mutex<()>,
    origin: http::Uri,
}

impl<S: Session> Conn<S> {
    /// A slot for connections to `target`.
    pub fn new(
        target: &HttpTarget,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Conn<S>, String> {
        let scheme = if target.tls { "https" } else { "http" };
        let origin = format!("{scheme}://{}", target.authority())
            .parse()
            .map_err(|e| format!("{}: {e}", target.url))?;
        Ok(Conn {
            target: target.clone(),
            tls,
            slot: RefCell::new(None),
            dial: tokio::sync::Mutex::new(()),
            origin,
        })
    }

    fn open(&self) -> Option<(S, Rc<Cell<bool>>)> {
        self.slot
            .borrow()
            .as_ref()
            .filter(|(_, ended)| !ended.get())
            .cloned()
    }

    /// Where requests go: `scheme://authority`.
    pub fn origin(&self) -> &http::Uri {
        &self.origin
    }

    /// The open connection's session and its flag (set when the connection has ended or
    /// refuses new streams), dialing one first if there is none (one dial at a time: calls
    /// that find it dialing wait for it).
    pub async fn session(&self) -> Result<(S, Rc<Cell<bool>>), Failure> {
        if let Some(s) = self.open() {
            return Ok(s);
        }
        let _dialing = self.dial.lock().await;
        if let Some(s) = self.open() {
            return Ok(s);
        }
        // boxed: a dial is large and rare, and would swell every call's future
        let (session, ended) =
            Box::pin(http2::dial(&self.target, self.tls.as_ref(), S::handshake)).await?;
        *self.slot.borrow_mut() = Some((session.clone(), ended.clone()));
        Ok((session, ended))
    }
}

impl Conn<Sender> {
    /// The service for a generated client (reflection).
    pub async fn service(&self) -> Result<(Sender, http::Uri), Failure> {
        Ok((self.session().await?.0, self.origin.clone()))
    }
}

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
