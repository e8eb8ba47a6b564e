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
use crate::protocol::http::HttpTarget;

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
fn encode(desc: &prost_reflect::MessageDescriptor, json: &str) -> Result<Bytes, String> {
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
                    .map(|m| Message::Fixed(frame(&m)))
                    .map_err(ConfigError::Grpc)
            } else {
                let first = t.render_string(&shared.context(0, 0));
                encode(&desc, &first).map_err(|e| {
                    ConfigError::Grpc(format!("{e} (rendered for the first load: {first})"))
                })?;
                Ok(Message::Templated(t))
            }
        })
        .collect()
}

/// A message as gRPC frames it: a flag byte (0: not compressed), its length (4 bytes, big
/// endian), the message.
fn frame(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + msg.len());
    b.put_u8(0);
    b.put_u32(msg.len() as u32);
    b.put_slice(msg);
    b.freeze()
}

/// The largest answer message read (gRPC's usual limit); a larger one is a
/// `response_error`, and memory stays bounded whatever the server sends.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;

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
    /// The last `grpc-timeout` sent: most calls of a run have the same time left, to the
    /// millisecond, so its value is made once.
    timeout_value: RefCell<(u128, http::HeaderValue)>,
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
        let path = format!("/{}/{}", m.parent_service().full_name(), m.name());
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
        for (k, v) in &opts.metadata {
            let key = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|_| bad(format!("-H '{k}: {v}': not a metadata key")))?;
            let val = http::HeaderValue::from_str(v)
                .map_err(|_| bad(format!("-H '{k}: {v}': not a metadata value")))?;
            headers.append(key, val);
        }
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
            timeout_value: RefCell::new((0, grpc_timeout(0))),
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
        let m = DynamicMessage::decode(self.opts.method.output(), answer.clone())
            .map_err(|e| Failure::response(format!("the answer does not decode: {e}")))?;
        let json = serde_json::to_string(&m).unwrap_or_default();
        if json.contains(want.as_str()) {
            Ok(())
        } else {
            Err(Failure::response(
                "the answer does not contain the expected text",
            ))
        }
    }

    /// `grpc-timeout` for a call ending at `deadline`.
    fn timeout_value(&self, deadline: Instant) -> http::HeaderValue {
        let ms = timeout_ms(deadline.saturating_duration_since(Instant::now()));
        let mut last = self.timeout_value.borrow_mut();
        if last.0 != ms {
            *last = (ms, grpc_timeout(ms));
        }
        last.1.clone()
    }

    /// The request's body: the message, or (client-streaming and bidirectional methods)
    /// the message `--stream-messages` times.
    fn body(&self, msg: Bytes) -> Bytes {
        match self.kind {
            Kind::Unary | Kind::ServerStreaming => msg,
            Kind::ClientStreaming | Kind::Bidi => {
                let n = self.opts.stream_messages.max(1) as usize;
                let mut b = BytesMut::with_capacity(msg.len() * n);
                for _ in 0..n {
                    b.put_slice(&msg);
                }
                b.freeze()
            }
        }
    }
}

/// One load's request: its target and framed message.
#[derive(Debug, Clone)]
pub struct GrpcRequest {
    target: usize,
    msg: Result<Bytes, String>,
}

/// A call's place on a connection, given back when the call ends (or is dropped at its
/// deadline).
struct Busy<'a>(&'a Cell<u32>);

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
                encode(&self.opts.method.input(), &json).map(|m| frame(&m))
            }
        };
        GrpcRequest {
            target: load.target,
            msg,
        }
    }

    async fn call(&self, req: &GrpcRequest, deadline: Instant) -> Result<(), Failure> {
        let msg = req
            .msg
            .clone()
            .map_err(|e| Failure::new(Outcome::Fatal, e))?;
        // the least busy connection (the engine keeps calls within the capacity)
        let busy = &self.busy[req.target];
        let conn = (0..busy.len()).min_by_key(|&i| busy[i].get()).unwrap_or(0);
        busy[conn].set(busy[conn].get() + 1);
        let _busy = Busy(&busy[conn]);
        let session = self.conns[req.target][conn].session().await?;
        let mut request = http::Request::new(());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uris[req.target].clone();
        *request.headers_mut() = self.headers.clone();
        request
            .headers_mut()
            .insert("grpc-timeout", self.timeout_value(deadline));
        let mut session = session
            .ready()
            .await
            .map_err(|e| Failure::call(format!("connection: {}", source_chain(&e))))?;
        // headers, then the messages ending the stream; dropping these (the deadline) resets
        // the stream
        let (answer, mut send) = session
            .send_request(request, false)
            .map_err(|e| Failure::call(source_chain(&e)))?;
        send.send_data(self.body(msg), true)
            .map_err(|e| Failure::call(source_chain(&e)))?;
        let resp = answer.await.map_err(|e| Failure::call(source_chain(&e)))?;
        if resp.status() != http::StatusCode::OK {
            return Err(Failure::call(format!(
                "HTTP {} instead of a gRPC answer",
                resp.status().as_u16()
            )));
        }
        let (head, mut body) = resp.into_parts();
        let mut buf = BytesMut::new();
        let mut last: Option<Bytes> = None;
        while let Some(d) = body.data().await {
            let d = d.map_err(|e| Failure::call(source_chain(&e)))?;
            // read: the server may send this much more
            let _ = body.flow_control().release_capacity(d.len());
            buf.extend_from_slice(&d);
            while buf.len() >= 5 {
                let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                if len > MAX_MESSAGE {
                    return Err(Failure::response("an answer message over 4 MiB"));
                }
                if buf.len() < 5 + len {
                    break;
                }
                let m = buf.split_to(5 + len).freeze().slice(5..);
                last = Some(m);
            }
        }
        let trailers = body
            .trailers()
            .await
            .map_err(|e| Failure::call(source_chain(&e)))?;
        // the status is in the trailers, or in the head of a trailers-only answer
        let at = trailers.as_ref().unwrap_or(&head.headers);
        let code = at
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .ok_or_else(|| Failure::response("an answer without grpc-status"))?;
        if code != 0 {
            return Err(Self::status_failure(
                code,
                &grpc_message(at.get("grpc-message")),
            ));
        }
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

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}
