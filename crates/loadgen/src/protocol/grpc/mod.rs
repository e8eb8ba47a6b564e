//! gRPC: any service, without generated code. The schema comes from `.proto` files, a
//! descriptor set or the server's reflection ([`schema`]); request messages are JSON,
//! encoded once (or per load when they hold templates) with prost-reflect; calls go over
//! HTTP/2 connections of hyper ([`conn`]), calls multiplexed as streams, framed by tonic.
//!
//! Outcomes: `OK` → `success`; `DEADLINE_EXCEEDED` (or loadgen's own timeout) →
//! `timeout`; `UNAVAILABLE` and transport failures → `call_error`; an answer without the
//! `--expect-body` text (in its JSON form) → `response_error`; any other status →
//! `callee_error`, named with its message.

pub mod conn;
pub mod schema;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes};
use prost_reflect::{DynamicMessage, MethodDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

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

/// A request message: encoded once, or a template rendered and encoded per load.
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
                    .map(Message::Fixed)
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

/// The encode and decode buffer a call starts with (it grows for larger messages).
const BUFFER: usize = 256;

/// Passes encoded messages through; keeps answers encoded.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }

    fn buffer_settings(&self) -> tonic::codec::BufferSettings {
        // tonic's default 8 KiB per call costs more than a small message itself
        tonic::codec::BufferSettings::new(BUFFER, 32 * 1024)
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }

    fn buffer_settings(&self) -> tonic::codec::BufferSettings {
        tonic::codec::BufferSettings::new(BUFFER, 32 * 1024)
    }
}

/// The gRPC caller of one generator thread.
pub struct GrpcCaller {
    opts: Arc<GrpcOptions>,
    path: http::uri::PathAndQuery,
    kind: Kind,
    messages: Vec<Message>,
    metadata: tonic::metadata::MetadataMap,
    shared: template::Shared,
    thread: usize,
    /// Connections per target.
    conns: Vec<Vec<conn::Conn>>,
    /// Calls in flight per connection of each target.
    busy: Vec<Vec<Cell<u32>>>,
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
        let m = &opts.method;
        let path = format!("/{}/{}", m.parent_service().full_name(), m.name())
            .parse()
            .map_err(|e| ConfigError::Grpc(format!("the method path: {e}")))?;
        let mut metadata = tonic::metadata::MetadataMap::new();
        for (k, v) in &opts.metadata {
            let key =
                tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                    .map_err(|_| ConfigError::Grpc(format!("-H '{k}: {v}': not a metadata key")))?;
            let val = v
                .parse()
                .map_err(|_| ConfigError::Grpc(format!("-H '{k}: {v}': not a metadata value")))?;
            metadata.append(key, val);
        }
        let conns = targets
            .iter()
            .map(|t| {
                (0..connections.max(1))
                    .map(|_| conn::Conn::new(t, tls.clone()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(ConfigError::Grpc)?;
        Ok(GrpcCaller {
            kind: Kind::of(m),
            messages: messages(&opts, &shared)?,
            opts,
            path,
            metadata,
            shared,
            thread,
            busy: conns
                .iter()
                .map(|c| c.iter().map(|_| Cell::new(0)).collect())
                .collect(),
            conns,
        })
    }

    fn status_failure(s: &tonic::Status) -> Failure {
        let msg = if s.message().is_empty() {
            format!("{:?}", s.code())
        } else {
            format!("{:?}: {}", s.code(), s.message())
        };
        match s.code() {
            tonic::Code::DeadlineExceeded => Failure::new(Outcome::Timeout, msg),
            tonic::Code::Unavailable => Failure::call(msg),
            // a transport failure tonic reports without a status from the server
            tonic::Code::Unknown | tonic::Code::Internal
                if s.metadata().is_empty() && is_transport(s) =>
            {
                Failure::call(msg)
            }
            _ => Failure::callee(msg),
        }
    }

    fn request<T>(&self, body: T, timeout: std::time::Duration) -> tonic::Request<T> {
        let mut r = tonic::Request::new(body);
        *r.metadata_mut() = self.metadata.clone();
        r.set_timeout(timeout);
        r
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
}

/// Whether a status came from the connection rather than from the server.
fn is_transport(s: &tonic::Status) -> bool {
    std::error::Error::source(s).is_some()
}

/// One load's request: its target and message.
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

impl crate::Caller for GrpcCaller {
    type Request = GrpcRequest;
    type Response = ();

    fn build(&self, load: crate::Load) -> GrpcRequest {
        let n = self.messages.len() as u64;
        let msg = match &self.messages[(load.index % n) as usize] {
            Message::Fixed(b) => Ok(b.clone()),
            Message::Templated(t) => {
                let json = t.render_string(&self.shared.context(load.index, self.thread));
                encode(&self.opts.method.input(), &json)
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
        let mut grpc = self.conns[req.target][conn].client().await?;
        grpc.ready()
            .await
            .map_err(|e| Failure::call(format!("cannot connect: {}", source_chain(&e))))?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        let request = |body| self.request(body, timeout);
        let stream = |body| self.request(body, timeout);
        let path = self.path.clone();
        match self.kind {
            Kind::Unary => {
                let resp = grpc
                    .unary(request(msg), path, Raw)
                    .await
                    .map_err(|s| Self::status_failure(&s))?;
                self.check(resp.get_ref())
            }
            Kind::ServerStreaming => {
                let resp = grpc
                    .server_streaming(request(msg), path, Raw)
                    .await
                    .map_err(|s| Self::status_failure(&s))?;
                let mut stream = resp.into_inner();
                let mut last = None;
                while let Some(m) = stream
                    .message()
                    .await
                    .map_err(|s| Self::status_failure(&s))?
                {
                    last = Some(m);
                }
                match last {
                    Some(m) => self.check(&m),
                    None if self.opts.expect_body.is_some() => {
                        Err(Failure::response("no answer in the stream"))
                    }
                    None => Ok(()),
                }
            }
            Kind::ClientStreaming | Kind::Bidi => {
                let n = self.opts.stream_messages.max(1) as usize;
                let out = tokio_stream::iter(std::iter::repeat_n(msg, n));
                if self.kind == Kind::ClientStreaming {
                    let resp = grpc
                        .client_streaming(stream(out), path, Raw)
                        .await
                        .map_err(|s| Self::status_failure(&s))?;
                    self.check(resp.get_ref())
                } else {
                    let resp = grpc
                        .streaming(stream(out), path, Raw)
                        .await
                        .map_err(|s| Self::status_failure(&s))?;
                    let mut stream = resp.into_inner();
                    let mut last = None;
                    while let Some(m) = stream
                        .message()
                        .await
                        .map_err(|s| Self::status_failure(&s))?
                    {
                        last = Some(m);
                    }
                    match last {
                        Some(m) => self.check(&m),
                        None => Ok(()),
                    }
                }
            }
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
