//! HTTP/3 (`--http3`): QUIC by quinn, HTTP/3 framing by the `h3` crate (which calls itself
//! experimental). A connection carries up to `--streams` calls, as HTTP/2's does, in the
//! same pool (`via_hyper`'s `MuxPool`); its driver task is spawned on the shard.
//!
//! One UDP socket (a quinn endpoint) per generator thread and address family carries every
//! connection of that thread. TLS is the run's (`-k`, `--cacert`, `--cert`/`--key`) with
//! ALPN `h3`; the connect timeout bounds the QUIC handshake. A QUIC connection error, a
//! stream reset or an HTTP/3 protocol error is a `call_error` with its code named; an
//! answer's header section over [`MAX_HEAD`] a `response_error`.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Buf, Bytes};

use super::HttpTarget;
use super::h1::{MAX_HEAD, Sink};
use super::request::Parts;
use super::via_hyper::Mux;
use crate::outcome::Failure;

/// Sends requests on one HTTP/3 connection.
pub type Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

impl Mux for Sender {
    /// `--streams`: quinn holds a stream the server does not allow yet until it may open it.
    fn limit(&self, streams: u32) -> u32 {
        streams
    }
}

/// What an HTTP/3 client of one generator thread shares: the QUIC client config and its
/// UDP endpoints, one per address family, bound on first use.
pub struct Quic {
    config: quinn::ClientConfig,
    endpoints: RefCell<Vec<quinn::Endpoint>>,
}

impl Quic {
    /// A QUIC client from the run's TLS client config (whose ALPN must be `h3`).
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Result<Quic, String> {
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| format!("QUIC needs TLS 1.3: {e}"))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        // a load's own timeout ends a call; the connection outlives idle gaps between loads
        transport.keep_alive_interval(Some(std::time::Duration::from_secs(5)));
        config.transport_config(Arc::new(transport));
        Ok(Quic {
            config,
            endpoints: RefCell::new(Vec::new()),
        })
    }

    /// The endpoint for connections to `to` (its address family's).
    fn endpoint(&self, to: SocketAddr) -> Result<quinn::Endpoint, Failure> {
        let mut eps = self.endpoints.borrow_mut();
        let family = |a: SocketAddr| a.is_ipv6();
        if let Some(e) = eps
            .iter()
            .find(|e| e.local_addr().is_ok_and(|a| family(a) == to.is_ipv6()))
        {
            return Ok(e.clone());
        }
        let bind: SocketAddr = if to.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let mut e = quinn::Endpoint::client(bind)
            .map_err(|e| Failure::call(format!("QUIC: cannot bind a UDP socket: {e}")))?;
        e.set_default_client_config(self.config.clone());
        eps.push(e.clone());
        Ok(e)
    }

    /// A new HTTP/3 connection to `target` within its connect timeout: the sender, and the
    /// flag its driver sets when the connection ends.
    pub async fn dial(&self, target: &HttpTarget) -> Result<(Sender, Rc<Cell<bool>>), Failure> {
        super::within_connect_timeout(target.connect_timeout, self.open(target)).await
    }

    async fn open(&self, target: &HttpTarget) -> Result<(Sender, Rc<Cell<bool>>), Failure> {
        let endpoint = self.endpoint(target.addr)?;
        let name = target.host.trim_matches(['[', ']']);
        let conn = endpoint
            .connect(target.addr, name)
            .map_err(|e| Failure::call(format!("QUIC: {e}")))?
            .await
            .map_err(|e| quic_failure(&e))?;
        let (mut driver, sender) = h3::client::builder()
            .max_field_section_size(MAX_HEAD as u64)
            .build::<_, _, Bytes>(h3_quinn::Connection::new(conn))
            .await
            .map_err(|e| {
                Failure::call(format!("HTTP/3: {}", crate::limits::clip(&e.to_string())))
            })?;
        let ended = Rc::new(Cell::new(false));
        let flag = ended.clone();
        tokio::task::spawn_local(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
            flag.set(true);
        });
        Ok((sender, ended))
    }
}

/// A QUIC connection error as a `call_error`, its kind named (the peer's reason text left
/// out).
fn quic_failure(e: &quinn::ConnectionError) -> Failure {
    use quinn::ConnectionError as E;
    Failure::call(match e {
        E::TimedOut => "QUIC: the handshake timed out".to_string(),
        E::ConnectionClosed(c) => format!("QUIC: closed by the server ({})", c.error_code),
        E::ApplicationClosed(c) => format!("QUIC: closed by the server (code {})", c.error_code),
        E::Reset => "QUIC: reset by the server".to_string(),
        E::TransportError(t) => format!("QUIC: {}", t.code),
        E::VersionMismatch => "QUIC: no common version".to_string(),
        E::LocallyClosed => "QUIC: closed".to_string(),
        E::CidsExhausted => "QUIC: connection ids exhausted".to_string(),
    })
}

/// An HTTP/3 stream error: a `response_error` for a header section over the cap, a
/// `call_error` otherwise, its code named.
fn stream_failure(e: h3::error::StreamError) -> Failure {
    use h3::error::StreamError as E;
    match e {
        E::HeaderTooBig { max_size, .. } => Failure::response(format!(
            "an HTTP/3 response header section over {max_size} bytes"
        )),
        E::RemoteTerminate { code, .. } => {
            Failure::call(format!("HTTP/3 stream reset by the server ({code:?})"))
        }
        E::StreamError { code, .. } => Failure::call(format!("HTTP/3 stream error ({code:?})")),
        // the connection's end (the rest are not matchable from outside h3): named by h3
        e => Failure::call(format!("HTTP/3: {}", crate::limits::clip(&e.to_string()))),
    }
}

/// One request on an HTTP/3 connection: `parts` sent, the answer's headers and body fed to
/// `sink`; its status.
pub async fn exchange_into<K: Sink>(
    sender: &Sender,
    parts: &Parts,
    sink: &mut K,
) -> Result<u16, Failure> {
    let mut sender = sender.clone();
    sink.sending();
    let mut stream = sender
        .send_request(parts.head(()))
        .await
        .map_err(stream_failure)?;
    if !parts.body.is_empty() {
        stream
            .send_data(parts.body.clone())
            .await
            .map_err(stream_failure)?;
    }
    stream.finish().await.map_err(stream_failure)?;
    let resp = stream.recv_response().await.map_err(stream_failure)?;
    sink.headers(resp.headers());
    while let Some(mut chunk) = stream.recv_data().await.map_err(stream_failure)? {
        while chunk.has_remaining() {
            let c = chunk.chunk();
            let n = c.len();
            sink.body(c);
            chunk.advance(n);
        }
    }
    Ok(resp.status().as_u16())
}
