//! What a run sends over HTTP: a set of requests (one per command-line target, or the
//! entries of a targets file), each bound to an endpoint (a connection pool), and how the
//! request for a load is chosen — by the load's target, in order, at random, or from a
//! stream read ahead by another thread.
//!
//! A request without templates is rendered once, when the set is made (the fast client's
//! HTTP/1.1 bytes, hyper's parts); one with templates is rendered per load into a reused
//! buffer ([`crate::caller::template`]).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::{HttpOptions, HttpTarget};
use crate::caller::template::{self, Context, Template};
use crate::error::ConfigError;

/// One request a run may send.
#[derive(Debug, Clone)]
pub struct HttpRequestSpec {
    /// Index of its endpoint in [`HttpRequests::endpoints`].
    pub endpoint: usize,
    /// Its report row (a target index of the plan).
    pub row: usize,
    /// The method.
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: Template,
    /// Headers, in order (a `Host` here replaces the endpoint's).
    pub headers: Vec<(String, Template)>,
    /// The body.
    pub body: Template,
}

impl HttpRequestSpec {
    /// [`check_framing`] of its headers and body.
    pub fn check_framing(&self) -> Result<(), String> {
        let values: Vec<(&str, Option<Vec<u8>>)> = self
            .headers
            .iter()
            .filter(|(k, _)| is_body_header(k))
            .map(|(k, v)| (k.as_str(), v.fixed_bytes()))
            .collect();
        check_framing(
            values.iter().map(|(k, v)| (*k, v.as_deref())),
            self.body.fixed_len(),
        )
    }
}

/// Requests read ahead of the schedule from a source too large to hold (a targets file
/// of millions of lines), by another thread.
pub trait RequestStream: Send + Sync {
    /// The next request; blocks while the reader is behind. An error (the source could
    /// not be read) fails the load as `fatal`.
    fn next(&self) -> Result<Arc<HttpRequestSpec>, String>;
}

/// How the request of a load is chosen.
pub enum Order {
    /// Request `i` for loads of target `i` (command-line targets, weighted by the plan).
    PerTarget,
    /// Load `j` sends request `j mod n`: each request equally often, in file order.
    Sequential,
    /// Load `j` sends a request drawn from a seeded hash of `j`.
    Random(u64),
    /// The next request of a stream.
    Stream(Arc<dyn RequestStream>),
}

/// A request as hyper builds it.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The method.
    pub method: http::Method,
    /// The URI (origin form for HTTP/1.1, absolute for HTTP/2).
    pub uri: http::Uri,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Parts {
    /// The request's head (method, URI, headers) carrying `body`.
    pub fn head<B>(&self, body: B) -> http::Request<B> {
        let mut req = http::Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// Every request of a run, shared by its threads.
pub struct HttpRequests {
    /// Where connections go: one pool per endpoint.
    pub endpoints: Vec<HttpTarget>,
    /// The requests (empty for a stream).
    pub specs: Vec<Arc<HttpRequestSpec>>,
    /// Each request without templates, rendered once, in the form the client sends.
    fixed: Vec<Option<Msg>>,
    /// How a load's request is chosen.
    pub order: Order,
    /// Seed, shard and data feed of the templates.
    pub templates: template::Shared,
    http2: bool,
    /// The fast client's HTTP/1.1 bytes (else hyper's parts).
    wire: bool,
    close: bool,
}

/// Changes to a request at render time: a journey's cookies, a redirect's new path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Adjust<'a> {
    /// Headers sent after the request's own.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// Another path and query (a redirect's `Location`).
    pub path: Option<&'a [u8]>,
    /// Another method, without the body (a redirect that becomes a GET).
    pub get: bool,
}

/// A thread's reused render buffers.
#[derive(Debug, Default)]
pub struct Scratch {
    out: BytesMut,
    body: BytesMut,
}

/// One load's request: where it goes, its report row, and what the client sends.
#[derive(Debug, Clone)]
pub struct HttpCall {
    /// The endpoint.
    pub endpoint: usize,
    /// The report row.
    pub row: usize,
    /// The request itself.
    pub msg: Msg,
    /// Its method may be sent twice (a retry after a kept-alive connection was found
    /// closed).
    pub idempotent: bool,
    /// A HEAD request: its answer has no body.
    pub head: bool,
}

impl HttpCall {
    fn of(spec: &HttpRequestSpec, msg: Msg) -> HttpCall {
        HttpCall {
            endpoint: spec.endpoint,
            row: spec.row,
            msg,
            idempotent: matches!(
                spec.method.as_str(),
                "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS"
            ),
            head: spec.method == "HEAD",
        }
    }
}

/// An HTTP/1.1 request as bytes: the head (with a small body after it), and a large body
/// apart — shared, never copied, however many requests send it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wire {
    /// The request line and headers (and a body of at most [`INLINE_BODY`] bytes).
    pub head: Bytes,
    /// A larger body, sent after the head.
    pub body: Bytes,
}

/// A body up to this long goes out in the head's buffer; a longer one, when fixed, is sent
/// from where it is held.
pub const INLINE_BODY: usize = 64 * 1024;

/// The request in the form the client sends.
#[derive(Debug, Clone)]
pub enum Msg {
    /// HTTP/1.1 bytes (the fast client).
    Wire(Wire),
    /// hyper's parts.
    Parts(Arc<Parts>),
    /// Fixed request `i`, rendered once ([`HttpRequests::fixed`]).
    Fixed(usize),
    /// A request that could not be rendered (a data field that cannot be sent).
    Invalid(String),
}

impl HttpRequests {
    /// One request per target, as `opts` describes it (method, headers, body), chosen by
    /// the load's target; headers that frame the body wrongly are refused
    /// ([`check_framing`]).
    pub fn per_target(
        targets: &[HttpTarget],
        opts: &HttpOptions,
    ) -> Result<HttpRequests, ConfigError> {
        let specs = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Arc::new(HttpRequestSpec {
                    endpoint: i,
                    row: i,
                    method: opts.method.clone(),
                    path: Template::literal(t.path.clone()),
                    headers: opts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), Template::literal(v.clone())))
                        .collect(),
                    body: Template::literal(opts.body.clone()),
                })
            })
            .collect();
        HttpRequests::new(
            targets.to_vec(),
            specs,
            Order::PerTarget,
            template::Shared::default(),
            opts,
        )
    }

    /// A set of requests; fixed ones are rendered now.
    pub fn new(
        endpoints: Vec<HttpTarget>,
        specs: Vec<Arc<HttpRequestSpec>>,
        order: Order,
        templates: template::Shared,
        opts: &HttpOptions,
    ) -> Result<HttpRequests, ConfigError> {
        let mut set = HttpRequests {
            endpoints,
            specs: Vec::new(),
            fixed: Vec::new(),
            order,
            templates,
            // HTTP/3 takes the request as HTTP/2 does: an absolute URI, no connection headers
            http2: opts.http2 || opts.http3,
            wire: !(opts.http2 || opts.http3 || opts.hyper_h1),
            close: opts.disable_keepalive,
        };
        let mut buf = Scratch::default();
        for spec in &specs {
            if spec.endpoint >= set.endpoints.len() {
                return Err(ConfigError::NoTargets);
            }
            spec.check_framing().map_err(ConfigError::Framing)?;
            let fixed = set.is_fixed(spec).then(|| {
                let cx = set.templates.context(0, 0);
                set.msg(spec, &cx, &mut buf).map_err(ConfigError::Template)
            });
            set.fixed.push(fixed.transpose()?);
        }
        set.specs = specs;
        Ok(set)
    }

    fn is_fixed(&self, spec: &HttpRequestSpec) -> bool {
        spec.path.is_fixed()
            && spec.body.is_fixed()
            && spec.headers.iter().all(|(_, v)| v.is_fixed())
    }

    /// Fixed request `i`, as rendered once.
    pub fn fixed(&self, i: usize) -> Option<&Msg> {
        self.fixed.get(i).and_then(Option::as_ref)
    }

    /// The request of load `index` on `thread` (`target`: the load's target).
    pub fn call(&self, index: u64, target: usize, thread: usize, buf: &mut Scratch) -> HttpCall {
        let n = self.specs.len() as u64;
        let i = match &self.order {
            Order::PerTarget => target,
            Order::Sequential => (index % n.max(1)) as usize,
            Order::Random(seed) => (template::mix(seed ^ template::mix(index)) % n.max(1)) as usize,
            Order::Stream(s) => {
                return match s.next() {
                    Ok(spec) => self.render(&spec, index, thread, buf),
                    Err(why) => HttpCall {
                        endpoint: 0,
                        row: 0,
                        msg: Msg::Invalid(why),
                        idempotent: false,
                        head: false,
                    },
                };
            }
        };
        let spec = &self.specs[i];
        // a fixed request is only named: the call borrows it, no count shared by the
        // threads is touched per load
        match &self.fixed[i] {
            Some(_) => HttpCall::of(spec, Msg::Fixed(i)),
            None => self.render(spec, index, thread, buf),
        }
    }

    fn render(
        &self,
        spec: &HttpRequestSpec,
        index: u64,
        thread: usize,
        buf: &mut Scratch,
    ) -> HttpCall {
        let cx = self.templates.context(index, thread);
        let msg = self.msg(spec, &cx, buf).unwrap_or_else(Msg::Invalid);
        HttpCall::of(spec, msg)
    }

    /// `spec` rendered in the client's form.
    fn msg(
        &self,
        spec: &HttpRequestSpec,
        cx: &Context<'_>,
        buf: &mut Scratch,
    ) -> Result<Msg, String> {
        self.adjusted(spec, cx, Adjust::default(), buf)
    }

    /// Request `i` rendered with `cx` (a journey's variables), changed as `adjust` says.
    pub fn render_with(
        &self,
        i: usize,
        cx: &Context<'_>,
        adjust: Adjust<'_>,
        buf: &mut Scratch,
    ) -> Result<Msg, String> {
        self.adjusted(&self.specs[i], cx, adjust, buf)
    }

    fn adjusted(
        &self,
        spec: &HttpRequestSpec,
        cx: &Context<'_>,
        adjust: Adjust<'_>,
        buf: &mut Scratch,
    ) -> Result<Msg, String> {
        if self.wire {
            self.wire(spec, cx, adjust, buf).map(Msg::Wire)
        } else {
            self.parts(spec, cx, adjust)
                .map(|p| Msg::Parts(Arc::new(p)))
        }
    }

    /// HTTP/1.1 bytes of `spec`, rendered into the thread's buffers (their space is reused
    /// once the bytes of earlier requests are gone). A rendered path or header value that
    /// cannot be sent (a data field with a line break, say) is refused, never sent.
    fn wire(
        &self,
        spec: &HttpRequestSpec,
        cx: &Context<'_>,
        adjust: Adjust<'_>,
        s: &mut Scratch,
    ) -> Result<Wire, String> {
        s.body.clear();
        // a large fixed body is not copied: it goes out after the head, as it is held
        let apart = if adjust.get {
            None
        } else {
            spec.body.shared_bytes().filter(|b| b.len() > INLINE_BODY)
        };
        if !adjust.get && apart.is_none() {
            spec.body.render(cx, &mut s.body);
        }
        let body_len = apart.as_ref().map_or(s.body.len(), Bytes::len);
        let method = if adjust.get {
            "GET"
        } else {
            spec.method.as_str()
        };
        let buf = &mut s.out;
        buf.reserve(512 + s.body.len());
        let has = |name: &str| {
            spec.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        buf.put_slice(method.as_bytes());
        buf.put_u8(b' ');
        let start = buf.len();
        match adjust.path {
            Some(p) => buf.put_slice(p),
            None => spec.path.render(cx, buf),
        }
        if buf[start..].iter().any(|&b| b <= b' ' || b == 0x7f) {
            buf.clear();
            return Err(
                "cannot build the request: the path has a space or a control character".into(),
            );
        }
        buf.put_slice(b" HTTP/1.1\r\n");
        if !has("host") {
            buf.put_slice(b"Host: ");
            buf.put_slice(self.endpoints[spec.endpoint].authority().as_bytes());
            buf.put_slice(b"\r\n");
        }
        if !has("user-agent") {
            buf.put_slice(
                concat!("User-Agent: loadgen/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
            );
        }
        for (k, v) in &spec.headers {
            if adjust.get && is_body_header(k) {
                continue; // a redirect made it a GET: no body, nothing that describes one
            }
            buf.put_slice(k.as_bytes());
            buf.put_slice(b": ");
            let start = buf.len();
            v.render(cx, buf);
            if buf[start..]
                .iter()
                .any(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
            {
                buf.clear();
                return Err(format!(
                    "cannot build the request: header {k} has a control character"
                ));
            }
            buf.put_slice(b"\r\n");
        }
        for (k, v) in adjust.headers {
            if v.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
                buf.clear();
                return Err(format!(
                    "cannot build the request: header {k} has a control character"
                ));
            }
            buf.put_slice(k.as_bytes());
            buf.put_slice(b": ");
            buf.put_slice(v);
            buf.put_slice(b"\r\n");
        }
        let bodied = body_len > 0 || matches!(method, "POST" | "PUT" | "PATCH");
        if bodied && !has("content-length") {
            buf.put_slice(b"Content-Length: ");
            template::put_int(buf, body_len as i128);
            buf.put_slice(b"\r\n");
        }
        if self.close && !has("connection") {
            buf.put_slice(b"Connection: close\r\n");
        }
        buf.put_slice(b"\r\n");
        buf.put_slice(&s.body);
        Ok(Wire {
            head: buf.split().freeze(),
            body: apart.unwrap_or_default(),
        })
    }

    /// hyper's parts of `spec`: the rendered path and header values are checked (a data
    /// field with a line break is refused, never sent).
    fn parts(
        &self,
        spec: &HttpRequestSpec,
        cx: &Context<'_>,
        adjust: Adjust<'_>,
    ) -> Result<Parts, String> {
        let bad = |what: &str| format!("cannot build the request: {what}");
        let e = &self.endpoints[spec.endpoint];
        let path = match adjust.path {
            Some(p) => String::from_utf8_lossy(p).into_owned(),
            None => spec.path.render_string(cx),
        };
        let uri = if self.http2 {
            format!(
                "{}://{}{path}",
                if e.tls { "https" } else { "http" },
                e.authority()
            )
        } else {
            path
        };
        let uri: http::Uri = uri.parse().map_err(|_| bad("the path is not a URI"))?;
        let method = if adjust.get {
            http::Method::GET
        } else {
            http::Method::from_bytes(spec.method.as_bytes()).map_err(|_| bad("the method"))?
        };
        let mut headers = http::HeaderMap::new();
        let has = |name: &str| {
            spec.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if !self.http2 && !has("host") {
            headers.insert(
                http::header::HOST,
                http::HeaderValue::from_str(&e.authority()).map_err(|_| bad("the host"))?,
            );
        }
        if !has("user-agent") {
            headers.insert(
                http::header::USER_AGENT,
                http::HeaderValue::from_static(concat!("loadgen/", env!("CARGO_PKG_VERSION"))),
            );
        }
        let mut value = BytesMut::new();
        for (k, v) in &spec.headers {
            if adjust.get && is_body_header(k) {
                continue;
            }
            v.render(cx, &mut value);
            let name =
                http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad("a header name"))?;
            let val = http::HeaderValue::from_maybe_shared(value.split().freeze())
                .map_err(|_| bad(&format!("header {k} has a character a header cannot carry")))?;
            headers.append(name, val);
        }
        for (k, v) in adjust.headers {
            let name =
                http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad("a header name"))?;
            let val = http::HeaderValue::from_bytes(v)
                .map_err(|_| bad(&format!("header {k} has a character a header cannot carry")))?;
            headers.append(name, val);
        }
        if self.close && !self.http2 && !has("connection") {
            headers.insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        // a fixed body is shared, not copied
        let body = if adjust.get {
            Bytes::new()
        } else {
            spec.body.shared_bytes().unwrap_or_else(|| {
                let mut b = BytesMut::new();
                spec.body.render(cx, &mut b);
                b.freeze()
            })
        };
        if self.http2 {
            super::http2::strip_connection_headers(&mut headers);
            let bodied = !body.is_empty() || matches!(method.as_str(), "POST" | "PUT" | "PATCH");
            if bodied && !headers.contains_key(http::header::CONTENT_LENGTH) {
                headers.insert(
                    http::header::CONTENT_LENGTH,
                    http::HeaderValue::from(body.len()),
                );
            }
        }
        Ok(Parts {
            method,
            uri,
            headers,
            body,
        })
    }
}

/// One rule for every client (fast, hyper, HTTP/2): the body's framing is loadgen's. A
/// user's `Transfer-Encoding` is refused; a user's `Content-Length` only where it states
/// the length of a fixed body (`body_len`: `None` when templates make it vary). A
/// framing header that disagrees with the body would make a server read the next request
/// out of this one's body, or a client drop the body.
pub fn check_framing<'a>(
    headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    body_len: Option<usize>,
) -> Result<(), String> {
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "header {name}: loadgen frames bodies itself (Content-Length); leave it out"
            ));
        }
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let said = value.and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
        match (said, body_len) {
            (Some(n), Some(b)) if n == b as u64 => {}
            (Some(n), Some(b)) => {
                return Err(format!(
                    "header {name}: {n}, but the body has {b} bytes; leave it out (loadgen sets it)"
                ));
            }
            _ => {
                return Err(format!(
                    "header {name}: not the fixed length of a fixed body; leave it out (loadgen sets it)"
                ));
            }
        }
    }
    Ok(())
}

/// The headers that describe a body: dropped when a redirect turns a request into a GET.
pub(super) fn is_body_header(name: &str) -> bool {
    [
        "content-length",
        "content-type",
        "transfer-encoding",
        "content-encoding",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// A [`RequestStream`] fed by a thread that reads a source from its start again each time
/// it ends (a targets file too large to hold): it stays at most [`STREAM_AHEAD`] requests
/// ahead of the run, so memory is flat whatever the file's length. The thread ends when
/// the stream is dropped.
pub struct ThreadStream {
    rx: std::sync::Mutex<Batches>,
}

struct Batches {
    rx: std::sync::mpsc::Receiver<Result<Vec<Arc<HttpRequestSpec>>, String>>,
    batch: std::vec::IntoIter<Arc<HttpRequestSpec>>,
    failed: Option<String>,
}

/// Requests a [`ThreadStream`] reads ahead.
pub const STREAM_AHEAD: usize = 4096;
const STREAM_BATCH: usize = 256;

impl ThreadStream {
    /// Starts the reader: `pass` reads the source once from its start, handing each
    /// request to its argument (which returns false when the stream is gone).
    pub fn spawn<F>(mut pass: F) -> std::io::Result<ThreadStream>
    where
        F: FnMut(&mut dyn FnMut(Arc<HttpRequestSpec>) -> bool) -> Result<usize, String>
            + Send
            + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(STREAM_AHEAD / STREAM_BATCH);
        std::thread::Builder::new()
            .name("loadgen-targets".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(STREAM_BATCH);
                loop {
                    let mut open = true;
                    let mut send = |spec| {
                        batch.push(spec);
                        if batch.len() == STREAM_BATCH {
                            let full =
                                std::mem::replace(&mut batch, Vec::with_capacity(STREAM_BATCH));
                            open = tx.send(Ok(full)).is_ok();
                        }
                        open
                    };
                    match pass(&mut send) {
                        Ok(0) => {
                            let _ =
                                tx.send(Err("the targets file has no requests any more".into()));
                            return;
                        }
                        Ok(_) if open => {}
                        Ok(_) => return,
                        Err(why) => {
                            let _ = tx.send(Err(why));
                            return;
                        }
                    }
                }
            })?;
        Ok(ThreadStream {
            rx: std::sync::Mutex::new(Batches {
                rx,
                batch: Vec::new().into_iter(),
                failed: None,
            }),
        })
    }
}

impl RequestStream for ThreadStream {
    fn next(&self) -> Result<Arc<HttpRequestSpec>, String> {
        let mut b = self.rx.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(s) = b.batch.next() {
                return Ok(s);
            }
            if let Some(why) = &b.failed {
                return Err(why.clone());
            }
            match b.rx.recv() {
                Ok(Ok(v)) => b.batch = v.into_iter(),
                Ok(Err(why)) => b.failed = Some(why),
                Err(_) => b.failed = Some("the targets reader stopped".into()),
            }
        }
    }
}
