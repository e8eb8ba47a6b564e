//! HTTP/2 calls straight on the `h2` crate: the call writes its headers and body and reads
//! its answer itself. (hyper's HTTP/2 client spawns a task per request, and a second one
//! to pipe a request body: two task allocations and moves per call.) Used by `--http2`
//! and by gRPC.
//!
//! h2c with prior knowledge on `http://`, ALPN `h2` on `https://` (the dialing is
//! [`super::connect`]'s). Windows as hyper's client sets them (2 MiB a stream, 5 MiB the
//! connection), at most 100 streams until the server's SETTINGS say otherwise, push off,
//! the answer's header list capped at [`MAX_HEAD`].
//!
//! A connection that refuses a new stream (it has received GOAWAY, or failed) is marked
//! ended at once, so the pools stop choosing it and open another while its last streams
//! drain; the call, never sent, is made again (up to twice) on another connection — as is
//! a call the server did not process (`REFUSED_STREAM`, or above a GOAWAY's last stream).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;

use super::body_match::BodyMatch;
use super::h1::{MAX_HEAD, Sink};
use super::{HttpResponse, request::Parts};
use super::{HttpTarget, Stream};
use crate::outcome::Failure;

/// Sends requests on one HTTP/2 connection.
pub type Sender = h2::client::SendRequest<Bytes>;

/// A connection's own task: reads and writes its frames until the connection ends.
pub type Task = Pin<Box<dyn Future<Output = ()>>>;

/// A new HTTP/2 connection to `target` (over TLS, `h2` must be negotiated), its handshake
/// made by `handshake` and its task spawned: the sender, and the connection's flag — set
/// when the task ends, or when the connection refuses a stream ([`open`]).
pub async fn dial<S, F, Fut>(
    target: &HttpTarget,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    handshake: F,
) -> Result<(S, Rc<Cell<bool>>), Failure>
where
    F: FnOnce(Stream) -> Fut,
    Fut: Future<Output = Result<(S, Task), Failure>>,
{
    let stream = super::connect(target, tls).await?;
    if target.tls && stream.alpn() != Some(b"h2") {
        return Err(Failure::call("TLS: the server did not negotiate h2 (ALPN)"));
    }
    let (sender, task) = handshake(stream).await?;
    let ended = Rc::new(Cell::new(false));
    let flag = ended.clone();
    tokio::task::spawn_local(async move {
        task.await;
        flag.set(true);
    });
    Ok((sender, ended))
}

/// The client's HTTP/2 handshake over `stream`: the sender and the connection's task (to
/// be spawned).
pub async fn handshake(stream: Stream) -> Result<(Sender, Task), Failure> {
    let (sender, conn) = h2::client::Builder::new()
        .enable_push(false)
        .initial_max_send_streams(100)
        .initial_window_size(2 * 1024 * 1024)
        .initial_connection_window_size(5 * 1024 * 1024)
        .max_header_list_size(MAX_HEAD as u32)
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|e| failure(&e))?;
    Ok((
        sender,
        Box::pin(async move {
            let _ = conn.await;
        }),
    ))
}

/// Why a call failed, and whether making it again is safe: the server never saw it (the
/// connection refused the stream) or says it did not process it (`REFUSED_STREAM`).
pub struct CallFailed {
    /// The outcome.
    pub failure: Failure,
    /// The server did not process the request: it may be made again.
    pub unprocessed: bool,
}

impl From<Failure> for CallFailed {
    fn from(failure: Failure) -> CallFailed {
        CallFailed {
            failure,
            unprocessed: false,
        }
    }
}

/// Opens a stream on `sender`'s connection with the head of `req`; a connection that
/// refuses it is marked `ended` (see the module's note).
pub async fn open(
    sender: &Sender,
    ended: &Cell<bool>,
    req: http::Request<()>,
    end_of_stream: bool,
) -> Result<(h2::client::ResponseFuture, h2::SendStream<Bytes>), CallFailed> {
    let refused = |e: h2::Error| {
        ended.set(true);
        CallFailed {
            failure: failure(&e),
            unprocessed: true,
        }
    };
    let mut sender = sender.clone().ready().await.map_err(refused)?;
    sender.send_request(req, end_of_stream).map_err(refused)
}

/// The answer's head; a stream the server did not process says so: reset with
/// `REFUSED_STREAM`, or above the last stream a GOAWAY says it processed (RFC 9113 §8.7).
pub async fn answer(
    answer: h2::client::ResponseFuture,
) -> Result<http::Response<h2::RecvStream>, CallFailed> {
    answer.await.map_err(|e| CallFailed {
        failure: failure(&e),
        unprocessed: e.is_remote()
            && (e.is_go_away() || e.reason() == Some(h2::Reason::REFUSED_STREAM)),
    })
}

/// One request on `sender`'s connection (its flag `ended`): the headers of `parts`, its
/// body (if any) ending the stream, then the answer, its body searched for `expect` as it
/// streams (never kept). Dropped before the end (a deadline), the stream is reset.
pub async fn exchange(
    sender: &Sender,
    ended: &Cell<bool>,
    parts: &Parts,
    expect: &[u8],
) -> Result<HttpResponse, CallFailed> {
    let mut want = BodyMatch::new(expect);
    let status = exchange_into(sender, ended, parts, &mut want).await?;
    Ok(HttpResponse {
        status,
        body_ok: want.found(),
        arrived: None,
    })
}

/// One request as [`exchange`] makes it, the answer's headers and body going to `sink`;
/// its status.
pub async fn exchange_into<K: Sink>(
    sender: &Sender,
    ended: &Cell<bool>,
    parts: &Parts,
    sink: &mut K,
) -> Result<u16, CallFailed> {
    let bodiless = parts.body.is_empty();
    let (resp, mut send) = open(sender, ended, parts.head(()), bodiless).await?;
    sink.sending();
    if !bodiless {
        // queued whole (the body is held anyway) and sent as the windows allow
        send.send_data(parts.body.clone(), true)
            .map_err(|e| failure(&e))?;
    }
    let resp = answer(resp).await?;
    let status = resp.status().as_u16();
    sink.headers(resp.headers());
    let mut body = resp.into_body();
    while let Some(d) = body.data().await {
        let d = d.map_err(|e| failure(&e))?;
        // read: the server may send this much more
        let _ = body.flow_control().release_capacity(d.len());
        sink.body(&d);
    }
    drop(send);
    Ok(status)
}

/// How rustls's errors begin (`received fatal alert: CertificateRequired`): h2 keeps only
/// the kind and text of an I/O error, so its words tell a TLS failure apart.
const TLS_WORDS: [&str; 5] = [
    "received fatal alert",
    "invalid peer certificate",
    "peer sent no certificates",
    "peer is incompatible",
    "peer misbehaved",
];

/// The outcome class of an HTTP/2 error, by the same table as the HTTP/1.1 clients: frames
/// that do not parse (h2 found them malformed) are a `response_error`; a TLS failure, a
/// reset or a connection that ended, a `call_error`.
pub fn failure(e: &h2::Error) -> Failure {
    if e.is_library()
        && matches!(
            e.reason(),
            Some(h2::Reason::PROTOCOL_ERROR)
                | Some(h2::Reason::FRAME_SIZE_ERROR)
                | Some(h2::Reason::COMPRESSION_ERROR)
        )
    {
        return Failure::response(format!("bad response: {e}"));
    }
    if let Some(io) = e.get_io() {
        if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Failure::call(format!("TLS: {tls}"));
        }
        if TLS_WORDS.iter().any(|w| io.to_string().starts_with(w)) {
            return Failure::call(format!("TLS: {io}"));
        }
        if matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
        ) {
            return Failure::response(format!("bad response: {io}"));
        }
    }
    Failure::call(format!("HTTP/2: {e}"))
}

/// Headers HTTP/2 forbids in a request (RFC 9113 §8.2.2), removed as hyper removes them:
/// the connection-specific ones, those `Connection` names, and `TE` other than
/// `trailers`. h2 refuses a request that carries them.
pub fn strip_connection_headers(headers: &mut http::HeaderMap) {
    use http::header;
    if let Some(c) = headers.remove(header::CONNECTION)
        && let Ok(names) = c.to_str()
    {
        for name in names.split(',') {
            headers.remove(name.trim());
        }
    }
    for h in [
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::HeaderName::from_static("keep-alive"),
        header::HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(h);
    }
    // TE only as `trailers`
    if headers.get_all(header::TE).iter().any(|v| v != "trailers")
        && let http::header::Entry::Occupied(te) = headers.entry(header::TE)
    {
        let trailers = te.iter().any(|v| v == "trailers");
        te.remove_entry_mult().1.for_each(drop);
        if trailers {
            headers.insert(header::TE, http::HeaderValue::from_static("trailers"));
        }
    }
}
