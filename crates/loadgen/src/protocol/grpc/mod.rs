//! gRPC: any service, without generated code. The schema comes from `.proto` files, a
//! descriptor set or the server's reflection ([`schema`]); request messages are JSON,
//! encoded and framed once (or per load when they hold templates) with prost-reflect;
//! calls go straight to `h2` over our own HTTP/2 connections ([`conn`]), multiplexed as
//! streams — the headers and the framed messages written by the call itself, no task per
//! request — and are read frame by frame with the status from the trailers (tonic serves
//! and describes the built-in server, and asks for reflection, over hyper).
//!
//! Outcomes: `OK` → `success`; `DEADLINE_EXCEEDED` (or loadgen's own timeout) →
//! `timeout`; `UNAVAILABLE` and transport failures → `call_error`; an answer without the
//! `--expect-body` text (in its JSON form) → `response_error`; any other status →
//! `callee_error`, named with its message.

pub mod conn;
pub mod schema;

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use prost_reflect::{DynamicMessage, MethodDescriptor};

use crate::caller::template::{self, Template};
use crate::error::ConfigError;
use crate::outcome::{Failure, Outcome};
use crate::protocol::http::{HttpTarget, http2};

/// How a method streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One request, one answer.
    Unary,
    /// One request, a stream of answers (the call ends with the last).
    ServerStreaming,
    /// A stream of requests, one answer.
    ClientStreaming,
    /// Streams both ways.
    Bidi,
}

impl Kind {
    /// The kind of `m`.
    pub fn of(m: &MethodDescriptor) -> Kind {
        match (m.is_client_streaming(), m.is_server_streaming()) {
            (false, false) => Kind::Unary,
            (false, true) => Kind::ServerStreaming,
            (true, false) => Kind::ClientStreaming,
            (true, true) => Kind::Bidi,
        }
    }

    /// As reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Unary => "unary",
            Kind::ServerStreaming => "server streaming",
            Kind::ClientStreaming => "client streaming",
            Kind::Bidi => "bidirectional streaming",
        }
    }
}

/// What every call of a run sends and checks.
#[derive(Debug, Clone)]
pub struct GrpcOptions {
    /// The method.
    pub method: MethodDescriptor,
    /// Request messages as JSON, used in turn (load j sends message j mod n).
    pub messages: Vec<String>,
    /// Metadata (`-H 'key: value'`).
    pub metadata: Vec<(String, String)>,
    /// Text the answer (as JSON) must contain.
    pub expect_body: Option<String>,
    /// Messages a client-streaming or bidirectional call sends.
    pub stream_messages: u32,
    /// Calls one connection carries at once.
    pub streams: u32,
}

/// A request message: encoded and framed once, or a template rendered, encoded and framed
/// per load.
#[derive(Debug, Clone)]
enum Message {
    Fixed(Bytes),
    Templated(Template),
}

/// Encodes the JSON text `json` as a message of `desc`.
pub fn encode(desc: &prost_reflect::MessageDescriptor, json: &str) -> Result<Bytes, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = DynamicMessage::deserialize(desc.clone(), &mut de)
        .map_err(|e| format!("the message does not fit {}: {e}", desc.full_name()))?;
    de.end()
        .map_err(|e| format!("the message does not fit {}: {e}", desc.full_name()))?;
    Ok(prost::Message::encode_to_vec(&msg).into())
}

/// The messages of `opts`, checked now: JSON that does not fit the method's input is an
/// error before the first load (a templated one is checked as its first load renders it).
fn messages(opts: &GrpcOptions, shared: &template::Shared) -> Result<Vec<Message>, ConfigError> {
    let desc = opts.method.input();
    let fields = shared
        .data
        .as_ref()
        .map(|d| d.columns().to_vec())
        .unwrap_or_default();
    let jsons = if opts.messages.is_empty() {
        vec!["{}".to_string()]
    } else {
        opts.messages.clone()
    };
    jsons
        .iter()
        .map(|j| {
            let t = Template::compile(j.as_bytes(), &fields)?;
            if t.is_fixed() {
                encode(&desc, j)
                    .and_then(|m| request_body(opts, &m))
                    .map(Message::Fixed)
                    .map_err(ConfigError::Grpc)
            } else {
                let first = t.render_string(&shared.context(0, 0));
                encode(&desc, &first)
                    .and_then(|m| request_body(opts, &m))
                    .map_err(|e| {
                        ConfigError::Grpc(format!("{e} (rendered for the first load: {first})"))
                    })?;
                Ok(Message::Templated(t))
            }
        })
        .collect()
}

/// A request's body: the message as gRPC frames it (a flag byte, 0: not compressed; its
/// length, 4 bytes big endian; the message), `--stream-messages` times for client-streaming
/// and bidirectional methods. Made once per fixed message, per load for a templated one.
/// A message over [`crate::limits::GRPC_MESSAGE`] (what gRPC servers take by default), or a
/// call over [`crate::limits::RENDERED`] in all, is refused, never allocated.
fn request_body(opts: &GrpcOptions, msg: &[u8]) -> Result<Bytes, String> {
    let n = match Kind::of(&opts.method) {
        Kind::Unary | Kind::ServerStreaming => 1,
        Kind::ClientStreaming | Kind::Bidi => opts.stream_messages.max(1) as usize,
    };
    if msg.len() > crate::limits::GRPC_MESSAGE {
        return Err(format!(
            "a message of {} bytes: more than the {} gRPC servers take",
            msg.len(),
            crate::limits::size(crate::limits::GRPC_MESSAGE as u64)
        ));
    }
    let total = (5 + msg.len()).checked_mul(n);
    if total.is_none_or(|t| t > crate::limits::RENDERED) {
        return Err(format!(
            "--stream-messages {n} of {} bytes: more than the {} a call may send",
            msg.len(),
            crate::limits::size(crate::limits::RENDERED as u64)
        ));
    }
    Ok(framed(msg, n))
}

/// `msg` framed `n` times (see `request_body`).
pub fn framed(msg: &[u8], n: usize) -> Bytes {
    let mut b = BytesMut::with_capacity((5 + msg.len()) * n);
    for _ in 0..n {
        b.put_u8(0);
        b.put_u32(msg.len() as u32);
        b.put_slice(msg);
    }
    b.freeze()
}

/// The largest answer message read (gRPC's usual limit); a larger one is a
/// `response_error`, and memory stays bounded whatever the server sends.
pub const MAX_MESSAGE: usize = crate::limits::GRPC_MESSAGE;

/// The gRPC caller of one generator thread: each call is one HTTP/2 request on the least
/// busy connection of its target, its framed messages sent at once, the answer read frame
/// by frame, the status from the trailers.
pub struct GrpcCaller {
    opts: Arc<GrpcOptions>,
    kind: Kind,
    messages: Vec<Message>,
    headers: http::HeaderMap,
    shared: template::Shared,
    thread: usize,
    /// The method's URI at each target.
    uris: Vec<http::Uri>,
    /// Connections per target.
    conns: Vec<Vec<conn::Conn<conn::H2>>>,
    /// Calls in flight per connection of each target.
    busy: Vec<Vec<Cell<u32>>>,
    /// The `grpc-timeout` values of the calls.
    timeout_value: TimeoutHeader,
    /// The last answer that passed `--expect-body`.
    passed: RefCell<Option<Bytes>>,
}

impl GrpcCaller {
    /// A caller of `targets`, `connections` HTTP/2 connections each.
    pub fn new(
        targets: &[HttpTarget],
        connections: u64,
        opts: Arc<GrpcOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
        shared: template::Shared,
        thread: usize,
    ) -> Result<GrpcCaller, ConfigError> {
        let bad = |why: String| ConfigError::Grpc(why);
        let m = &opts.method;
        let path = path(m);
        let headers = request_headers(&opts.metadata)?;
        let conns = targets
            .iter()
            .map(|t| {
                (0..connections.max(1))
                    .map(|_| conn::Conn::<conn::H2>::new(t, tls.clone()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(ConfigError::Grpc)?;
        let uris = conns
            .iter()
            .map(|c| format!("{}{path}", c[0].origin().to_string().trim_end_matches('/')).parse())
            .collect::<Result<Vec<http::Uri>, _>>()
            .map_err(|e| bad(format!("the method's URI: {e}")))?;
        Ok(GrpcCaller {
            kind: Kind::of(m),
            messages: messages(&opts, &shared)?,
            opts,
            headers,
            shared,
            thread,
            uris,
            busy: conns
                .iter()
                .map(|c| c.iter().map(|_| Cell::new(0)).collect())
                .collect(),
            conns,
            timeout_value: TimeoutHeader::default(),
            passed: RefCell::new(None),
        })
    }

    /// The outcome of a gRPC status other than OK.
    fn status_failure(code: i32, message: &str) -> Failure {
        let c = tonic::Code::from_i32(code);
        let msg = if message.is_empty() {
            format!("{c:?}")
        } else {
            format!("{c:?}: {message}")
        };
        match c {
            tonic::Code::DeadlineExceeded => Failure::new(Outcome::Timeout, msg),
            tonic::Code::Unavailable => Failure::call(msg),
            _ => Failure::callee(msg),
        }
    }

    fn check(&self, answer: &Bytes) -> Result<(), Failure> {
        let Some(want) = &self.opts.expect_body else {
            return Ok(());
        };
        // the check is a function of the answer's bytes: the same bytes as the last answer
        // that passed pass again without decoding (a service under load mostly repeats)
        if self.passed.borrow().as_ref() == Some(answer) {
            return Ok(());
        }
        let json = decode_json(&self.opts.method.output(), answer).map_err(Failure::response)?;
        if json.contains(want.as_str()) {
            *self.passed.borrow_mut() = Some(answer.clone());
            Ok(())
        } else {
            Err(Failure::response(
                "the answer does not contain the expected text",
            ))
        }
    }
}

/// The path of method `m`: `/package.Service/Method`.
pub fn path(m: &MethodDescriptor) -> String {
    format!("/{}/{}", m.parent_service().full_name(), m.name())
}

/// The headers of every call: content type, `te: trailers`, user agent, and `metadata`
/// (what HTTP/2 forbids — Connection, Keep-Alive, TE other than trailers — dropped, as for
/// `--http2`: h2 would refuse every call carrying it).
pub fn request_headers(metadata: &[(String, String)]) -> Result<http::HeaderMap, ConfigError> {
    let bad = |why: String| ConfigError::Grpc(why);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, http::HeaderValue::from_static("trailers"));
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("loadgen/", env!("CARGO_PKG_VERSION"))),
    );
    for (k, v) in metadata {
        let key = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| bad(format!("-H '{k}: {v}': not a metadata key")))?;
        let val = http::HeaderValue::from_str(v)
            .map_err(|_| bad(format!("-H '{k}: {v}': not a metadata value")))?;
        headers.append(key, val);
    }
    http2::strip_connection_headers(&mut headers);
    // a slot for each call's own value (`exchange` replaces it): inserted per call instead,
    // it grows the cloned map's tables (a reallocation and a rehash a call)
    headers.insert(GRPC_TIMEOUT, http::HeaderValue::from_static("1m"));
    Ok(headers)
}

/// The `grpc-timeout` header's name.
const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// An answer message of `desc` as JSON (its canonical JSON mapping).
pub fn decode_json(
    desc: &prost_reflect::MessageDescriptor,
    answer: &Bytes,
) -> Result<String, String> {
    let m = DynamicMessage::decode(desc.clone(), answer.clone())
        .map_err(|e| format!("the answer does not decode: {e}"))?;
    serde_json::to_string(&m).map_err(|e| format!("the answer does not encode as JSON: {e}"))
}

/// One call on `conn`: `headers` and `body` (framed messages, ending the stream) to `uri`,
/// with `grpc-timeout` `timeout`; the last answer message, or why the call failed. A call
/// the server never processed goes again, up to twice, each time on a connection that
/// has not refused it (see `http2`). Dropped (the deadline), the stream is reset.
///
/// The answer's framing is checked (`response_error` otherwise): each message's flag byte
/// is 0 (loadgen asks for no compression, so a compressed one cannot be checked), no
/// message is cut off by the end of the stream, and with `one` (unary and
/// client-streaming methods) there is at most one message.
pub async fn exchange(
    conn: &conn::Conn<conn::H2>,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    body: &Bytes,
    timeout: http::HeaderValue,
    one: bool,
) -> Result<Option<Bytes>, Failure> {
    let mut tries = 2u8;
    let (resp, _send) = loop {
        let (session, ended) = conn.session().await?;
        let mut request = http::Request::new(());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers.clone();
        // replaces the slot `request_headers` made: the clone grows nothing
        request.headers_mut().insert(GRPC_TIMEOUT, timeout.clone());
        let sent = async {
            let (resp, mut send) = http2::open(&session, &ended, request, false).await?;
            send.send_data(body.clone(), true)
                .map_err(|e| http2::failure(&e))?;
            Ok::<_, http2::CallFailed>((http2::answer(resp).await?, send))
        };
        match sent.await {
            Ok(r) => break r,
            Err(f) if f.unprocessed && tries > 0 => tries -= 1,
            Err(f) => return Err(f.failure),
        }
    };
    if resp.status() != http::StatusCode::OK {
        return Err(Failure::call(format!(
            "HTTP {} instead of a gRPC answer",
            resp.status().as_u16()
        )));
    }
    let (head, mut body) = resp.into_parts();
    let mut frames = Frames::default();
    let mut last: Option<Bytes> = None;
    while let Some(d) = body.data().await {
        let d = d.map_err(|e| http2::failure(&e))?;
        // read: the server may send this much more
        let _ = body.flow_control().release_capacity(d.len());
        frames.feed(d, &mut last)?;
        if one && frames.messages > 1 {
            return Err(Failure::response(format!(
                "{} messages in the answer of a unary call",
                frames.messages
            )));
        }
    }
    if !frames.partial.is_empty() {
        return Err(Failure::response(format!(
            "the answer ends inside a message ({} bytes of it)",
            frames.partial.len()
        )));
    }
    let trailers = body.trailers().await.map_err(|e| http2::failure(&e))?;
    // the status is in the trailers, or in the head of a trailers-only answer
    let at = trailers.as_ref().unwrap_or(&head.headers);
    // found by comparing names: a trailer block holds one or two, and `HeaderMap::get`
    // with a string parses and hashes the name on every call
    let code = at
        .iter()
        .find(|(k, _)| k.as_str() == "grpc-status")
        .and_then(|(_, v)| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .ok_or_else(|| Failure::response("an answer without grpc-status"))?;
    if code != 0 {
        return Err(GrpcCaller::status_failure(
            code,
            &grpc_message(at.get("grpc-message")),
        ));
    }
    Ok(last)
}

/// `grpc-timeout` values of one caller's calls. The last one is kept: most calls of a run
/// have the same time left, to the millisecond, so its value is made once.
pub struct TimeoutHeader(RefCell<(u128, http::HeaderValue)>);

impl Default for TimeoutHeader {
    fn default() -> TimeoutHeader {
        TimeoutHeader(RefCell::new((0, grpc_timeout(0))))
    }
}

impl TimeoutHeader {
    /// `grpc-timeout` for a call ending at `deadline`.
    pub fn until(&self, deadline: Instant) -> http::HeaderValue {
        let ms = timeout_ms(deadline.saturating_duration_since(Instant::now()));
        let mut last = self.0.borrow_mut();
        if last.0 != ms {
            *last = (ms, grpc_timeout(ms));
        }
        last.1.clone()
    }
}

/// gRPC messages cut out of an answer's DATA chunks: slices of the chunk itself while
/// chunks hold whole messages (the usual case), copied only across chunk boundaries.
#[derive(Default)]
struct Frames {
    /// The start of a message the next chunk continues.
    partial: BytesMut,
    /// Whole messages so far.
    messages: u32,
}

impl Frames {
    /// Takes `chunk`; each whole message becomes `last`. Every byte is copied at most once.
    fn feed(&mut self, mut chunk: Bytes, last: &mut Option<Bytes>) -> Result<(), Failure> {
        // first the message an earlier chunk began: only the bytes it still needs
        if !self.partial.is_empty() {
            if self.partial.len() < 5 {
                let n = (5 - self.partial.len()).min(chunk.len());
                self.partial.extend_from_slice(&chunk.split_to(n));
                if self.partial.len() < 5 {
                    return Ok(());
                }
            }
            let whole = 5 + message_len(&self.partial)?;
            let n = (whole - self.partial.len()).min(chunk.len());
            self.partial.extend_from_slice(&chunk.split_to(n));
            if self.partial.len() < whole {
                return Ok(());
            }
            *last = Some(std::mem::take(&mut self.partial).freeze().slice(5..));
            self.messages += 1;
        }
        // then whole messages: slices of the chunk
        while chunk.len() >= 5 {
            let whole = 5 + message_len(&chunk)?;
            if chunk.len() < whole {
                break;
            }
            *last = Some(chunk.split_to(whole).slice(5..));
            self.messages += 1;
        }
        // the start of one message: less than a message is copied
        self.partial.extend_from_slice(&chunk);
        Ok(())
    }
}

/// An answer's DATA bytes cut into chunks at `cuts` and read as [`exchange`] reads them:
/// the messages read, the last one, and the bytes of a message left unfinished (for the
/// fuzz target, which checks that chunking never changes the answer).
pub fn read_frames(wire: &[u8], cuts: &[usize]) -> Result<(u32, Option<Bytes>, usize), Failure> {
    let mut f = Frames::default();
    let mut last = None;
    let mut at = 0;
    for &c in cuts
        .iter()
        .filter(|&&c| c <= wire.len())
        .chain([wire.len()].iter())
    {
        if c < at {
            continue;
        }
        f.feed(Bytes::copy_from_slice(&wire[at..c]), &mut last)?;
        at = c;
    }
    Ok((f.messages, last, f.partial.len()))
}

/// The length a message's 5-byte prefix gives; over [`MAX_MESSAGE`], or a flag byte other
/// than 0 (not compressed: loadgen sends no `grpc-accept-encoding`), is a `response_error`.
fn message_len(prefix: &[u8]) -> Result<usize, Failure> {
    match prefix[0] {
        0 => {}
        1 => {
            return Err(Failure::response(
                "a compressed answer message (loadgen asked for none)",
            ));
        }
        f => {
            return Err(Failure::response(format!(
                "an answer message with flag byte {f} (0 or 1)"
            )));
        }
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if len > MAX_MESSAGE {
        let cap = crate::limits::size(MAX_MESSAGE as u64);
        return Err(Failure::response(format!("an answer message over {cap}")));
    }
    Ok(len)
}

/// One load's request: its target and body.
#[derive(Debug, Clone)]
pub struct GrpcRequest {
    target: usize,
    /// The request body (framed messages), or why it could not be made.
    msg: Result<Bytes, String>,
}

/// A call's place on a connection, given back when the call ends (or is dropped at its
/// deadline).
pub(crate) struct Busy<'a>(pub(crate) &'a Cell<u32>);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// Milliseconds of `grpc-timeout` for the time left (at least 1, at most 8 digits, as the
/// spec allows).
fn timeout_ms(d: std::time::Duration) -> u128 {
    d.as_millis().clamp(1, 99_999_999)
}

/// `grpc-timeout`: `ms` milliseconds.
fn grpc_timeout(ms: u128) -> http::HeaderValue {
    http::HeaderValue::from_str(&format!("{ms}m")).expect("digits and 'm' make a header value")
}

/// Percent-decoded `grpc-message`.
fn grpc_message(v: Option<&http::HeaderValue>) -> String {
    v.map(|v| {
        percent_encoding::percent_decode(v.as_bytes())
            .decode_utf8_lossy()
            .into_owned()
    })
    .unwrap_or_default()
}

impl crate::Caller for GrpcCaller {
    type Request = GrpcRequest;
    type Response = ();

    fn build(&self, load: crate::Load) -> GrpcRequest {
        let n = self.messages.len() as u64;
        let msg = match &self.messages[(load.index % n) as usize] {
            Message::Fixed(b) => Ok(b.clone()),
            Message::Templated(t) => {
                let json = t.render_string(&self.shared.context(load.index, self.thread));
                encode(&self.opts.method.input(), &json).and_then(|m| request_body(&self.opts, &m))
            }
        };
        GrpcRequest {
            target: load.target,
            msg,
        }
    }

    async fn call(&self, req: &GrpcRequest, deadline: Instant) -> Result<(), Failure> {
        let body = req
            .msg
            .clone()
            .map_err(|e| Failure::new(Outcome::Fatal, e))?;
        // the least busy connection (the engine keeps calls within the capacity)
        let busy = &self.busy[req.target];
        let conn = (0..busy.len()).min_by_key(|&i| busy[i].get()).unwrap_or(0);
        busy[conn].set(busy[conn].get() + 1);
        let _busy = Busy(&busy[conn]);
        let last = exchange(
            &self.conns[req.target][conn],
            &self.uris[req.target],
            &self.headers,
            &body,
            self.timeout_value.until(deadline),
            matches!(self.kind, Kind::Unary | Kind::ClientStreaming),
        )
        .await?;
        match (&last, self.kind) {
            (Some(m), _) => self.check(m),
            (None, Kind::Unary | Kind::ClientStreaming) => {
                Err(Failure::response("OK without an answer message"))
            }
            (None, _) if self.opts.expect_body.is_some() => {
                Err(Failure::response("no answer in the stream"))
            }
            (None, _) => Ok(()),
        }
    }

    fn check(&self, _load: crate::Load, _req: &GrpcRequest, _resp: &()) -> Result<(), Failure> {
        Ok(())
    }

    fn capacity(&self) -> Option<u64> {
        let conns: usize = self.conns.iter().map(Vec::len).sum();
        Some((conns as u64).saturating_mul(u64::from(self.opts.streams.max(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(msgs: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for m in msgs {
            v.push(0);
            v.extend_from_slice(&(m.len() as u32).to_be_bytes());
            v.extend_from_slice(m);
        }
        v
    }

    /// Feeds `wire` cut at `cuts`; the messages seen in turn.
    fn feed(wire: &[u8], cuts: &[usize]) -> Result<Vec<Vec<u8>>, Failure> {
        let mut f = Frames::default();
        let mut seen = Vec::new();
        let mut at = 0;
        for &c in cuts.iter().chain([wire.len()].iter()) {
            let mut last = None;
            f.feed(Bytes::copy_from_slice(&wire[at..c]), &mut last)?;
            // only the last message of a chunk is kept: a chunk here ends at most one
            seen.extend(last.map(|m| m.to_vec()));
            at = c;
        }
        Ok(seen)
    }

    #[test]
    fn messages_are_cut_out_whatever_the_chunk_boundaries() {
        let a = b"hello".as_slice();
        let b = b"".as_slice();
        let c = vec![7u8; 40_000];
        let wire = framed(&[a, b, &c]);
        // every single cut point, and every byte its own chunk
        for cut in 0..=wire.len() {
            let seen = feed(&wire, &[cut]).unwrap();
            assert_eq!(seen.last().unwrap(), &c, "cut at {cut}");
        }
        let every: Vec<usize> = (1..wire.len()).collect();
        let seen = feed(&wire, &every).unwrap();
        assert_eq!(seen, vec![a.to_vec(), b.to_vec(), c.clone()]);
        // whole messages in one chunk are slices of it, the last one kept
        let mut last = None;
        Frames::default()
            .feed(Bytes::from(framed(&[a, &c])), &mut last)
            .unwrap();
        assert_eq!(last.unwrap(), c);
    }

    #[test]
    fn a_message_over_the_limit_is_refused_at_its_prefix() {
        let mut prefix = vec![0u8];
        prefix.extend_from_slice(&((MAX_MESSAGE + 1) as u32).to_be_bytes());
        for cut in 1..5 {
            let e = feed(&prefix, &[cut]).unwrap_err();
            assert_eq!(e.outcome, Outcome::ResponseError, "{}", e.message);
        }
    }

    /// The request headers a server received, in order.
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<http::HeaderMap>>>;

    /// A gRPC server that answers every call with `data` (raw DATA bytes) and status 0; the
    /// request headers it received.
    async fn answering(data: &'static [u8]) -> (std::net::SocketAddr, Seen) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Seen::default();
        let saw = seen.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let saw = saw.clone();
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(s).await else {
                        return;
                    };
                    while let Some(Ok((req, mut respond))) = conn.accept().await {
                        saw.lock().unwrap().push(req.headers().clone());
                        let head = http::Response::builder()
                            .status(200)
                            .header("content-type", "application/grpc")
                            .body(())
                            .unwrap();
                        let Ok(mut body) = respond.send_response(head, false) else {
                            continue;
                        };
                        let _ = body.send_data(Bytes::from_static(data), false);
                        let mut t = http::HeaderMap::new();
                        t.insert("grpc-status", http::HeaderValue::from_static("0"));
                        let _ = body.send_trailers(t);
                    }
                });
            }
        });
        (addr, seen)
    }

    #[test]
    fn framing_violations_are_response_errors() {
        // the connections spawn local tasks, as on a generator thread
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(tokio::task::LocalSet::new().run_until(framing_cases()));
    }

    async fn framing_cases() {
        // (DATA bytes, unary?, what the failure names; None: a success)
        let cases: [(&'static [u8], bool, Option<&str>); 6] = [
            (b"\x00\x00\x00\x00\x02hi", true, None),
            (b"\x01\x00\x00\x00\x02hi", true, Some("compressed")),
            (b"\x07\x00\x00\x00\x02hi", true, Some("flag byte 7")),
            (
                b"\x00\x00\x00\x00\x02hi\x00\x00\x00\x00\x09abc",
                true,
                Some("ends inside"),
            ),
            (
                b"\x00\x00\x00\x00\x02hi\x00\x00\x00\x00\x02ho",
                true,
                Some("2 messages"),
            ),
            // a server stream may have several
            (b"\x00\x00\x00\x00\x02hi\x00\x00\x00\x00\x02ho", false, None),
        ];
        for (data, one, want) in cases {
            let (addr, _) = answering(data).await;
            let conn = conn_to(addr);
            let uri: http::Uri = format!("http://127.0.0.1:{}/a.B/C", addr.port())
                .parse()
                .unwrap();
            let mut headers = http::HeaderMap::new();
            headers.insert(
                "content-type",
                http::HeaderValue::from_static("application/grpc"),
            );
            let body = super::framed(b"", 1);
            let got = exchange(&conn, &uri, &headers, &body, grpc_timeout(1000), one).await;
            match (want, got) {
                (None, Ok(Some(_))) => {}
                (Some(w), Err(f)) => {
                    assert_eq!(f.outcome, Outcome::ResponseError, "{w}: {}", f.message);
                    assert!(f.message.contains(w), "{w}: {}", f.message);
                }
                (w, got) => panic!("{data:?}: wanted {w:?}, got {got:?}"),
            }
        }
    }

    /// A connection slot for the server at `addr`.
    fn conn_to(addr: std::net::SocketAddr) -> conn::Conn<conn::H2> {
        let target = HttpTarget {
            url: format!("http://127.0.0.1:{}", addr.port()),
            tls: false,
            host: "127.0.0.1".into(),
            port: addr.port(),
            addr,
            path: "/".into(),
            unix: None,
            proxy: None,
            connect_timeout: None,
        };
        conn::Conn::new(&target, None).unwrap()
    }

    #[test]
    fn each_call_sends_its_own_grpc_timeout_once() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(tokio::task::LocalSet::new().run_until(async {
            let (addr, seen) = answering(b"\x00\x00\x00\x00\x02hi").await;
            let conn = conn_to(addr);
            let uri: http::Uri = format!("http://127.0.0.1:{}/a.B/C", addr.port())
                .parse()
                .unwrap();
            // a user's own grpc-timeout is replaced by the call's, as is the slot
            let metadata =
                [("grpc-timeout", "5S"), ("x-a", "1")].map(|(k, v)| (k.into(), v.into()));
            let headers = request_headers(&metadata).unwrap();
            let body = super::framed(b"", 1);
            for ms in [1234, 99] {
                exchange(&conn, &uri, &headers, &body, grpc_timeout(ms), true)
                    .await
                    .unwrap();
            }
            let seen = seen.lock().unwrap();
            let timeouts: Vec<Vec<_>> = seen
                .iter()
                .map(|h| h.get_all("grpc-timeout").iter().cloned().collect())
                .collect();
            assert_eq!(timeouts, [vec!["1234m"], vec!["99m"]]);
            for h in seen.iter() {
                assert_eq!(h["x-a"], "1");
                assert_eq!(h["content-type"], "application/grpc");
                assert_eq!(h["te"], "trailers");
            }
        }));
    }
}
