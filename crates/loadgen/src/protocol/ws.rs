//! WebSocket (`ws://`, `wss://`): a load is one message exchange on a held connection.
//!
//! Connections are opened on demand up to the pool's cap, as for HTTP: TCP (or a proxy's
//! tunnel), TLS for `wss`, then the upgrade handshake (tungstenite's), all within the
//! target's connect timeout. Three modes:
//!
//! - [`WsMode::Rtt`]: send a message, wait for its answer — the next data message after
//!   the send (what had arrived before it is dropped), or with a [`Matcher`] the first
//!   whose JSONPath value equals the sent message's — then check it;
//! - [`WsMode::Send`]: send a message; the load succeeds when it is written (a publish
//!   load); what the server sends meanwhile is read and discarded without waiting;
//! - [`WsMode::Subscribe`]: wait for the next message the server pushes (a fan-out load;
//!   the first message of a connection, if given, is sent once after its handshake).
//!
//! Pings are answered (tungstenite queues the pong), fragmented messages reassembled, and
//! every frame and message is bounded by [`limits::WS_MESSAGE`]: a larger header is a
//! `response_error` before any of its payload is buffered. A close from the server, or an
//! I/O error, mid-load is a `call_error` naming the close code; invalid UTF-8 in a text
//! message and protocol violations are `response_error`s. A connection whose load ended
//! early (timeout) is dropped, never reused: its late answer would pass for the next one.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json_path::JsonPath;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::caller::pool::Pool;
use crate::caller::template::{Shared, Template};
use crate::caller::{Caller, Load};
use crate::limits;
use crate::outcome::Failure;
use crate::protocol::http::{HttpTarget, Stream, contains};

/// What a load does on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WsMode {
    /// Send a message and wait for its answer.
    #[default]
    Rtt,
    /// Send a message; done when written.
    Send,
    /// Wait for the next message the server pushes.
    Subscribe,
}

impl WsMode {
    /// The mode as `--ws-mode` names it.
    pub fn name(self) -> &'static str {
        match self {
            WsMode::Rtt => "rtt",
            WsMode::Send => "send",
            WsMode::Subscribe => "subscribe",
        }
    }
}

/// The largest message a [`Matcher`] parses.
pub const MATCH_MAX: usize = 1024 * 1024;

/// Which answer is a message's: the one whose value at `path` equals the sent message's.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The JSONPath as written (`$.id`).
    pub text: String,
    path: JsonPath,
}

impl Matcher {
    /// Parses `text` as a JSONPath.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let path = JsonPath::parse(text).map_err(|e| format!("'{text}': {e}"))?;
        Ok(Matcher {
            text: text.to_string(),
            path,
        })
    }

    /// The one value `path` selects in the JSON text `json`, if it is JSON of at most
    /// [`MATCH_MAX`] bytes and there is exactly one (a larger message never matches: its
    /// parsed form could take many times its size).
    pub fn value(&self, json: &[u8]) -> Option<serde_json::Value> {
        if json.len() > MATCH_MAX {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(json).ok()?;
        self.path.query(&v).exactly_one().ok().cloned()
    }

    /// The value an answer to `sent` must carry: a message without exactly one at the path
    /// is `fatal` (no answer could match it).
    pub(crate) fn want(&self, sent: &[u8]) -> Result<serde_json::Value, Failure> {
        self.value(sent).ok_or_else(|| self.no_value())
    }

    /// Why a message sent cannot be matched.
    fn no_value(&self) -> Failure {
        Failure::new(
            crate::outcome::Outcome::Fatal,
            format!("the message sent has no single JSON value at {}", self.text),
        )
    }

    /// Whether `json` carries `want` at the path (exactly one value, equal).
    fn selects(&self, json: &[u8], want: &serde_json::Value) -> bool {
        if json.len() > MATCH_MAX {
            return false;
        }
        serde_json::from_slice::<serde_json::Value>(json)
            .is_ok_and(|v| self.path.query(&v).exactly_one().ok() == Some(want))
    }
}

/// A WebSocket run's options.
#[derive(Debug, Clone)]
pub struct WsOptions {
    /// What a load does.
    pub mode: WsMode,
    /// The messages, used in turn (load j sends message j mod n); templates as for HTTP
    /// bodies. Subscribe: sent once on each new connection, if any.
    pub messages: Vec<Template>,
    /// Binary messages instead of text.
    pub binary: bool,
    /// Rtt: the answer is the message whose value here equals the sent one's.
    pub matcher: Option<Matcher>,
    /// The answer must contain this.
    pub expect: Option<Vec<u8>>,
    /// Extra headers of the upgrade request.
    pub headers: Vec<(String, String)>,
    /// What templates render with.
    pub shared: Shared,
}

/// A message to send and, with a matcher, the value its answer must carry (`None` when
/// the message has none: the load fails at once).
pub struct WsRequest {
    target: usize,
    message: Option<Message>,
    want: Option<Option<serde_json::Value>>,
}

/// An answer (rtt and subscribe) or nothing (send), and when it arrived.
pub struct WsAnswer {
    payload: Bytes,
    arrived: Option<Instant>,
}

/// A WebSocket connection over the HTTP dialer's stream.
pub(crate) type Conn = WebSocketStream<Stream>;

/// The WebSocket caller of one generator thread.
pub struct WsCaller {
    targets: Vec<HttpTarget>,
    pools: Vec<Pool<Conn>>,
    opts: Arc<WsOptions>,
    tls: Option<Arc<rustls::ClientConfig>>,
    thread: usize,
    scratch: RefCell<BytesMut>,
    /// The message of every load and the value its answer carries, when the one message
    /// has no template to render: framed (its text checked) and parsed once.
    fixed: Option<(Message, Option<Option<serde_json::Value>>)>,
}

/// The tungstenite settings of every connection: frames and messages bounded, buffers
/// small (a connection held idle costs little), every message written at once.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(limits::WS_MESSAGE + 64 * 1024)
        .max_message_size(Some(limits::WS_MESSAGE))
        .max_frame_size(Some(limits::WS_MESSAGE))
}

impl WsCaller {
    /// The caller of generator thread `thread`, at most `connections` per target.
    pub fn new(
        targets: Vec<HttpTarget>,
        connections: u64,
        opts: Arc<WsOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
        thread: usize,
    ) -> WsCaller {
        let pools = targets.iter().map(|_| Pool::new(connections)).collect();
        let fixed = match opts.messages.as_slice() {
            [t] => t.shared_bytes().map(|b| {
                let want = opts.matcher.as_ref().map(|m| m.value(&b));
                (frame(b, opts.binary), want)
            }),
            _ => None,
        };
        WsCaller {
            targets,
            pools,
            opts,
            tls,
            thread,
            scratch: RefCell::new(BytesMut::new()),
            fixed,
        }
    }

    /// Renders message `index` (of the messages in turn).
    fn message(&self, index: u64) -> Option<Bytes> {
        let n = self.opts.messages.len() as u64;
        let t = self.opts.messages.get((index % n.max(1)) as usize)?;
        if let Some(b) = t.shared_bytes() {
            return Some(b);
        }
        let mut out = self.scratch.borrow_mut();
        out.clear();
        t.render(&self.opts.shared.context(index, self.thread), &mut out);
        Some(out.split().freeze())
    }

    fn frame(&self, payload: Bytes) -> Message {
        frame(payload, self.opts.binary)
    }
}

/// A message of `payload`: binary if asked, else text (binary when it is not UTF-8).
pub(crate) fn frame(payload: Bytes, binary: bool) -> Message {
    if binary {
        return Message::Binary(payload);
    }
    // (a clone of `Bytes` shares the buffer)
    match tungstenite::Utf8Bytes::try_from(payload.clone()) {
        Ok(text) => Message::Text(text),
        // a data field that is not UTF-8: sent as it is, in a binary message
        Err(_) => Message::Binary(payload),
    }
}

/// A new connection to `t`: TCP (or a tunnel), TLS for `wss`, the upgrade with `headers`;
/// within the target's connect timeout when it has one.
pub(crate) async fn connect(
    t: &HttpTarget,
    headers: &[(String, String)],
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Conn, Failure> {
    let open = async {
        let stream = crate::protocol::http::open_stream(t, tls).await?;
        handshake(t, headers, stream).await
    };
    crate::protocol::http::within_connect_timeout(t.connect_timeout, open).await
}

/// The upgrade handshake over `stream`, with `headers` added to the request.
async fn handshake(
    t: &HttpTarget,
    headers: &[(String, String)],
    stream: Stream,
) -> Result<Conn, Failure> {
    use tungstenite::client::IntoClientRequest;
    let scheme = if t.tls { "wss" } else { "ws" };
    let uri = format!("{scheme}://{}{}", t.authority(), t.path);
    let mut req = uri
        .as_str()
        .into_client_request()
        .map_err(|e| Failure::call(format!("WebSocket request: {e}")))?;
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| Failure::call(format!("header '{k}': {e}")))?;
        let value = http::HeaderValue::from_str(v)
            .map_err(|e| Failure::call(format!("header '{k}': {e}")))?;
        req.headers_mut().insert(name, value);
    }
    match tokio_tungstenite::client_async_with_config(req, stream, Some(config())).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => Err(Failure::call(format!(
            "handshake: answered {} instead of 101 Switching Protocols",
            resp.status().as_u16()
        ))),
        Err(e) => Err(handshake_failure(e)),
    }
}

fn handshake_failure(e: tungstenite::Error) -> Failure {
    match e {
        tungstenite::Error::Io(e) => Failure::from(e),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Failure::call("handshake: the server closed the connection")
        }
        e => Failure::call(format!("handshake: {}", short(&e))),
    }
}

/// A tungstenite error's text without what a peer wrote into it (group keys stay few).
fn short(e: &tungstenite::Error) -> String {
    use tungstenite::error::ProtocolError as P;
    match e {
        tungstenite::Error::Protocol(P::HttparseError(_)) => "an answer that does not parse".into(),
        tungstenite::Error::Protocol(p) => {
            let s = p.to_string();
            s.split(':').next().unwrap_or(&s).to_string()
        }
        tungstenite::Error::Capacity(_) => {
            format!("a message over {}", limits::size(limits::WS_MESSAGE as u64))
        }
        tungstenite::Error::Utf8(_) => "a text message that is not UTF-8".into(),
        e => e.to_string(),
    }
}

/// The outcome of a failed read or write on an open connection.
pub(crate) fn failure(e: tungstenite::Error) -> Failure {
    match e {
        tungstenite::Error::Io(e) => Failure::from(e),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Failure::call("connection closed")
        }
        tungstenite::Error::WriteBufferFull(_) => Failure::call("write buffer full"),
        // the peer went away without a close frame: the connection's end, not an answer
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
            | tungstenite::error::ProtocolError::SendAfterClosing
            | tungstenite::error::ProtocolError::ReceivedAfterClosing,
        ) => Failure::call("connection closed (no close frame)"),
        e @ (tungstenite::Error::Capacity(_)
        | tungstenite::Error::Utf8(_)
        | tungstenite::Error::Protocol(_)
        | tungstenite::Error::AttackAttempt) => Failure::response(short(&e)),
        e => Failure::call(short(&e)),
    }
}

/// A close from the server mid-load: a `call_error` naming the code unless it is a
/// normal one (1000, 1001); the reason the peer gave is left out (it is the peer's text).
pub(crate) fn closed(frame: Option<&tungstenite::protocol::CloseFrame>) -> Failure {
    match frame.map(|f| f.code) {
        None => Failure::call("closed by the server (no code)"),
        Some(CloseCode::Normal | CloseCode::Away) => Failure::call("closed by the server"),
        Some(code) => Failure::call(format!(
            "closed by the server with {} ({})",
            u16::from(code),
            code_name(code)
        )),
    }
}

fn code_name(code: CloseCode) -> &'static str {
    match code {
        CloseCode::Protocol => "protocol error",
        CloseCode::Unsupported => "unsupported data",
        CloseCode::Status => "no status",
        CloseCode::Abnormal => "abnormal",
        CloseCode::Invalid => "invalid data",
        CloseCode::Policy => "policy violation",
        CloseCode::Size => "message too big",
        CloseCode::Extension => "extension required",
        CloseCode::Error => "internal error",
        CloseCode::Restart => "service restart",
        CloseCode::Again => "try again later",
        CloseCode::Tls => "TLS handshake",
        _ => "other",
    }
}

/// The next data message on `ws` (pings and pongs are tungstenite's business).
pub(crate) async fn next_data<S>(ws: &mut WebSocketStream<S>) -> Result<Bytes, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(Bytes::from(t)),
            Some(Ok(Message::Binary(b))) => return Ok(b),
            Some(Ok(Message::Close(f))) => return Err(closed(f.as_ref())),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(failure(e)),
            None => return Err(Failure::call("connection closed")),
        }
    }
}

/// The next data message; with `want`, the next that carries its value at its matcher's
/// path (the others are answers to other messages, skipped).
pub(crate) async fn next_answer<S>(
    ws: &mut WebSocketStream<S>,
    want: Option<(&Matcher, &serde_json::Value)>,
) -> Result<Bytes, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let m = next_data(ws).await?;
        match want {
            Some((matcher, v)) if !matcher.selects(&m, v) => {}
            _ => return Ok(m),
        }
    }
}

/// Reads and drops what the server sent and the socket holds now (pings answered), without
/// waiting; a close or an error among it fails the load.
pub(crate) fn discard_arrived(ws: &mut Conn) -> Result<(), Failure> {
    // not gated on the socket's readiness: tungstenite (and rustls) may hold whole frames
    // already read; a poll that finds nothing costs one read that would block
    loop {
        match tokio::task::unconstrained(ws.next()).now_or_never() {
            None => return Ok(()),
            Some(Some(Ok(Message::Close(f)))) => return Err(closed(f.as_ref())),
            Some(Some(Ok(_))) => {}
            Some(Some(Err(e))) => return Err(failure(e)),
            Some(None) => return Err(Failure::call("connection closed")),
        }
    }
}

impl Caller for WsCaller {
    type Request = WsRequest;
    type Response = WsAnswer;

    fn build(&self, load: Load) -> WsRequest {
        let (message, want) = match (self.opts.mode, &self.fixed) {
            (WsMode::Subscribe, _) => (None, None),
            (_, Some((m, want))) => (Some(m.clone()), want.clone()),
            _ => {
                let payload = self.message(load.index).unwrap_or_default();
                let want = self.opts.matcher.as_ref().map(|m| m.value(&payload));
                (Some(self.frame(payload)), want)
            }
        };
        WsRequest {
            target: load.target,
            message,
            want,
        }
    }

    async fn call(&self, req: &WsRequest, _deadline: Instant) -> Result<WsAnswer, Failure> {
        if let (Some(m), Some(None)) = (&self.opts.matcher, &req.want) {
            return Err(m.no_value());
        }
        let pool = &self.pools[req.target];
        let dial = || {
            crate::protocol::ws::connect(
                &self.targets[req.target],
                &self.opts.headers,
                self.tls.as_ref(),
            )
        };
        let mut lease = pool.get(dial).await?;
        if req.message.is_some() {
            // what came before the send is no answer to it (and a publisher's connection
            // must not fill up); a kept connection the server closed while it was idle is
            // replaced, once — nothing was sent on it
            if let Err(f) = discard_arrived(lease.get_mut()) {
                if !lease.reused() {
                    return Err(f);
                }
                drop(lease);
                lease = pool.get_fresh(dial).await?;
            }
        } else if !lease.reused()
            && let Some(first) = self.message(0)
        {
            // subscribe: the subscription, once per connection, after the timed connect
            lease
                .get_mut()
                .send(self.frame(first))
                .await
                .map_err(failure)?;
        }
        let ws = lease.get_mut();
        let payload = match (self.opts.mode, &req.message) {
            (WsMode::Subscribe, _) => next_data(ws).await?,
            (WsMode::Send, Some(m)) => {
                ws.send(m.clone()).await.map_err(failure)?;
                Bytes::new()
            }
            (_, m) => {
                if let Some(m) = m {
                    ws.send(m.clone()).await.map_err(failure)?;
                }
                let want = req.want.as_ref().and_then(Option::as_ref);
                next_answer(ws, self.opts.matcher.as_ref().zip(want)).await?
            }
        };
        let arrived = match self.opts.mode {
            WsMode::Send => None,
            _ => ws.get_ref().arrived(),
        };
        lease.put_back();
        Ok(WsAnswer { payload, arrived })
    }

    fn check(&self, _load: Load, _req: &WsRequest, a: &WsAnswer) -> Result<(), Failure> {
        match &self.opts.expect {
            Some(e) if !contains(&a.payload, e) => Err(Failure::response(
                "answer does not contain the expected text",
            )),
            _ => Ok(()),
        }
    }

    fn arrival(&self, a: &WsAnswer) -> Option<Instant> {
        a.arrived
    }

    fn stamps_arrivals(&self) -> bool {
        self.opts.mode != WsMode::Send
    }

    fn capacity(&self) -> Option<u64> {
        Some(self.pools.iter().map(|p| p.cap()).sum())
    }

    fn capacity_of(&self, target: usize) -> Option<u64> {
        self.pools.get(target).map(|p| p.cap())
    }

    fn connects_into(&self, out: &mut crate::record::hist::Hist) {
        for p in &self.pools {
            p.dial_times.add_into(out);
        }
    }

    fn connections_open(&self) -> Option<u64> {
        Some(self.pools.iter().map(|p| p.open()).sum())
    }
}

/// What a client reads from `stream` (a server's bytes after the handshake): the lengths
/// of up to `max` data messages, then the failure that ended the reading, if any — for the
/// `ws_frames` fuzz target.
pub async fn read_messages<S>(stream: S, max: usize) -> (Vec<usize>, Option<Failure>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut ws = WebSocketStream::from_raw_socket(
        stream,
        tungstenite::protocol::Role::Client,
        Some(config()),
    )
    .await;
    let mut lens = Vec::new();
    while lens.len() < max {
        match next_data(&mut ws).await {
            Ok(m) => lens.push(m.len()),
            Err(f) => return (lens, Some(f)),
        }
    }
    (lens, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matcher_takes_exactly_one_value_of_json() {
        let m = Matcher::parse("$.id").unwrap();
        assert_eq!(m.value(br#"{"id":7,"x":1}"#), Some(serde_json::json!(7)));
        assert_eq!(m.value(b"not json"), None);
        assert_eq!(m.value(br#"{"x":1}"#), None);
        assert!(Matcher::parse("id[").is_err());
    }

    #[test]
    fn close_codes_name_the_abnormal_ones_only() {
        use tungstenite::protocol::CloseFrame;
        let f = |code| CloseFrame {
            code,
            reason: "anything the peer wrote".into(),
        };
        assert_eq!(
            closed(Some(&f(CloseCode::Normal))).message,
            "closed by the server"
        );
        let e = closed(Some(&f(CloseCode::Error)));
        assert_eq!(e.outcome, crate::outcome::Outcome::CallError);
        assert_eq!(e.message, "closed by the server with 1011 (internal error)");
        assert!(
            !closed(Some(&f(CloseCode::from(4000))))
                .message
                .contains("peer")
        );
    }
}
