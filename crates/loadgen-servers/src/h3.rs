//! `serve http --http3`: the same handlers as the HTTP/1.1 and HTTP/2 server (knobs, echo,
//! the demo API) over HTTP/3 — QUIC by quinn on a UDP socket, HTTP/3 framing by `h3` —
//! with the TLS certificate given, or a self-signed one made at start, so it runs out of
//! the box. Connections are capped as for TCP, idle ones closed after the idle timeout,
//! streams per connection capped at `max_streams`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::Frame;

use crate::Limits;
use crate::http::{Behaviour, Shared, handle};
use crate::idle::Busy;

/// A self-signed certificate for 127.0.0.1, ::1 and localhost: its PEM certificate and key.
pub fn self_signed() -> Result<(String, String), crate::SetupError> {
    let names = vec!["127.0.0.1".into(), "::1".into(), "localhost".into()];
    let c = rcgen::generate_simple_self_signed(names).map_err(|e| crate::SetupError::Tls {
        what: "self-signed certificate",
        why: e.to_string(),
    })?;
    Ok((c.cert.pem(), c.signing_key.serialize_pem()))
}

/// The QUIC server config of `tls` (ALPN set to `h3`) with the limits' streams and idle
/// timeout.
pub fn quic_config(
    tls: &rustls::ServerConfig,
    limits: &Limits,
) -> Result<quinn::ServerConfig, crate::SetupError> {
    let mut tls = tls.clone();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| {
        crate::SetupError::Tls {
            what: "QUIC",
            why: e.to_string(),
        }
    })?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(limits.max_streams.into());
    transport.max_idle_timeout(limits.idle_timeout.try_into().ok());
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}

/// Serves HTTP/3 on `socket` until `shutdown`.
pub async fn run(
    socket: std::net::UdpSocket,
    limits: Limits,
    behaviour: Behaviour,
    config: quinn::ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )?;
    let shared = Shared::new(behaviour);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let incoming = tokio::select! {
            _ = &mut shutdown => break,
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            incoming.refuse();
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = connection(incoming, shared).await;
            drop(permit);
        });
    }
    endpoint.close(0u32.into(), b"shutting down");
    let _ = tokio::time::timeout(limits.shutdown_grace, endpoint.wait_idle()).await;
    Ok(())
}

async fn connection(incoming: quinn::Incoming, shared: Arc<Shared>) -> Result<(), String> {
    let conn = incoming.await.map_err(|e| e.to_string())?;
    let mut h3c = h3::server::builder()
        .max_field_section_size(crate::http::CONN_BUFFER as u64)
        .build::<_, Bytes>(h3_quinn::Connection::new(conn))
        .await
        .map_err(|e| e.to_string())?;
    while let Ok(Some(resolver)) = h3c.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok((req, stream)) = resolver.resolve_request().await else {
                return;
            };
            let (mut send, recv) = stream.split();
            let (parts, ()) = req.into_parts();
            let req = http::Request::from_parts(parts, RecvBody(recv));
            let Ok(resp) = handle(req, shared, Busy::default()).await;
            let (mut head, body) = resp.into_parts();
            // connection-specific headers have no place in HTTP/3
            head.headers.remove(http::header::CONNECTION);
            if send
                .send_response(http::Response::from_parts(head, ()))
                .await
                .is_err()
            {
                return;
            }
            let mut body = body;
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data()
                    && send.send_data(data).await.is_err()
                {
                    return;
                }
            }
            let _ = send.finish().await;
        });
    }
    Ok(())
}

/// An HTTP/3 request body as hyper's `Body`, for the shared handlers.
struct RecvBody(h3::server::RequestStream<h3_quinn::RecvStream, Bytes>);

impl hyper::body::Body for RecvBody {
    type Data = Bytes;
    type Error = h3::error::StreamError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.0.poll_recv_data(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Ok(Some(mut b))) => {
                let n = b.remaining();
                Poll::Ready(Some(Ok(Frame::data(b.copy_to_bytes(n)))))
            }
        }
    }
}
