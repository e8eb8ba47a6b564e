//! Compiling one request step: its URL (an endpoint resolved before the run, templates in
//! the path and query), headers over the defaults', a text, JSON or form body, its checks
//! and captures. Requests are kept in two sets, HTTP/1.1 (rendered into wire bytes for
//! the fast client) and HTTP/2 (rendered into parts for h2).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json_path::JsonPath;

use super::Options;
use super::compile::{Compiler, check_name, http_version, regex};
use super::program::{Capture, Check, Request, Slot, Source, Via, Want};
use crate::caller::template::{self, Escape, Template};
use crate::protocol::http::request::{HttpRequestSpec, HttpRequests, Order};
use crate::protocol::http::{HttpOptions, HttpTarget, StatusSet};
use crate::record::StepKind;
use crate::spec::{At, Pos, RequestSpec, SpecError, StepSpec};

/// The requests of every scenario, by HTTP version, and their endpoints.
#[derive(Default)]
pub(crate) struct RequestSets {
    endpoints: Vec<HttpTarget>,
    by_key: HashMap<String, usize>,
    h1: Vec<Arc<HttpRequestSpec>>,
    h2: Vec<Arc<HttpRequestSpec>>,
    /// gRPC endpoints, and the schemas learnt from them (by endpoint and service).
    pub grpc: Vec<HttpTarget>,
    pub grpc_by_key: HashMap<String, usize>,
    pub schemas: HashMap<(usize, String), prost_reflect::DescriptorPool>,
    /// WebSocket endpoints (URL and path).
    pub ws: Vec<HttpTarget>,
    pub ws_by_key: HashMap<String, usize>,
}

/// The compiled requests of a run, shared by its generator threads.
pub(crate) struct Requests {
    pub endpoints: Vec<HttpTarget>,
    pub h1: HttpRequests,
    pub h2: HttpRequests,
    pub tls_h1: Option<Arc<rustls::ClientConfig>>,
    pub tls_h2: Option<Arc<rustls::ClientConfig>>,
    pub http_opts: Arc<HttpOptions>,
    pub h2_opts: Arc<HttpOptions>,
    pub grpc: Vec<HttpTarget>,
    pub tls_grpc: Option<Arc<rustls::ClientConfig>>,
    pub ws: Vec<HttpTarget>,
    pub tls_ws: Option<Arc<rustls::ClientConfig>>,
}

impl RequestSets {
    /// The gRPC endpoint of `grpc[s]://authority`, resolved the first time.
    pub fn grpc_endpoint(&mut self, key: &str, opts: &Options) -> Result<usize, String> {
        if let Some(&i) = self.grpc_by_key.get(key) {
            return Ok(i);
        }
        let http = key
            .strip_prefix("grpcs://")
            .map(|r| format!("https://{r}"))
            .or_else(|| key.strip_prefix("grpc://").map(|r| format!("http://{r}")))
            .unwrap_or_else(|| key.to_string());
        let t = (opts.resolve)(&http)?;
        self.grpc.push(t);
        self.grpc_by_key
            .insert(key.to_string(), self.grpc.len() - 1);
        Ok(self.grpc.len() - 1)
    }

    /// The WebSocket endpoint of `ws[s]://authority` and `path`, resolved the first time.
    pub fn ws_endpoint(
        &mut self,
        origin: &str,
        path: &str,
        opts: &Options,
    ) -> Result<usize, String> {
        let key = format!("{origin}{path}");
        if let Some(&i) = self.ws_by_key.get(&key) {
            return Ok(i);
        }
        let http = origin
            .strip_prefix("wss://")
            .map(|r| format!("https://{r}"))
            .or_else(|| origin.strip_prefix("ws://").map(|r| format!("http://{r}")))
            .unwrap_or_else(|| origin.to_string());
        let mut t = (opts.resolve)(&http)?;
        t.path = path.to_string();
        self.ws.push(t);
        self.ws_by_key.insert(key, self.ws.len() - 1);
        Ok(self.ws.len() - 1)
    }

    /// The endpoint of `scheme://authority`, resolved the first time.
    fn endpoint(&mut self, key: &str, opts: &Options) -> Result<usize, String> {
        if let Some(&i) = self.by_key.get(key) {
            return Ok(i);
        }
        let t = (opts.resolve)(key)?;
        self.endpoints.push(t);
        self.by_key
            .insert(key.to_string(), self.endpoints.len() - 1);
        Ok(self.endpoints.len() - 1)
    }

    /// Every set built: requests without templates rendered once, TLS configured.
    pub fn finish(self, opts: &Options, connections: u64) -> Result<Requests, String> {
        let _ = connections;
        let h1_opts = Arc::new(HttpOptions {
            verify: opts.verify.clone(),
            client_auth: opts.client_auth.clone(),
            ..HttpOptions::default()
        });
        let h2_opts = Arc::new(HttpOptions {
            http2: true,
            streams: 100,
            ..(*h1_opts).clone()
        });
        let set = |specs: Vec<Arc<HttpRequestSpec>>, o: &HttpOptions| {
            HttpRequests::new(
                self.endpoints.clone(),
                specs,
                Order::Sequential,
                template::Shared::default(),
                o,
            )
            .map_err(|e| e.to_string())
        };
        let tls = |o: &HttpOptions, any: bool| -> Result<_, String> {
            if !any {
                return Ok(None);
            }
            crate::protocol::http::tls_config(o, &self.endpoints).map_err(|e| e.to_string())
        };
        let tls_h1 = tls(&h1_opts, !self.h1.is_empty())?;
        let tls_h2 = tls(&h2_opts, !self.h2.is_empty())?;
        let tls_grpc = if self.grpc.iter().any(|t| t.tls) {
            Some(grpc_tls(opts)?)
        } else {
            None
        };
        // WebSocket upgrades go over HTTP/1.1: the HTTP/1.1 options' ALPN
        let tls_ws =
            crate::protocol::http::tls_config(&h1_opts, &self.ws).map_err(|e| e.to_string())?;
        Ok(Requests {
            h1: set(self.h1, &h1_opts)?,
            h2: set(self.h2, &h2_opts)?,
            endpoints: self.endpoints,
            tls_h1,
            tls_h2,
            http_opts: h1_opts,
            h2_opts,
            grpc: self.grpc,
            tls_grpc,
            ws: self.ws,
            tls_ws,
        })
    }
}

/// The TLS configuration of gRPC connections (ALPN h2).
pub(crate) fn grpc_tls(opts: &Options) -> Result<Arc<rustls::ClientConfig>, String> {
    crate::protocol::http::tls::client_config(&opts.verify, opts.client_auth.as_ref(), &[b"h2"])
        .map_err(|e| e.to_string())
}

/// Compiles a template of the file: variables defined so far, data columns, built-ins.
pub(crate) fn compile_template(
    c: &mut Compiler<'_>,
    text: &str,
    escape: Escape,
    pos: Pos,
    what: &str,
) -> Result<Template, SpecError> {
    let mut unknown = None;
    let t = Template::compile_with(
        text.as_bytes(),
        escape,
        &mut |name| {
            let first = name.split_whitespace().next().unwrap_or("");
            let first = first.strip_prefix('.').unwrap_or(first);
            if template::is_builtin(first) || template::is_builtin(name) {
                return Ok(None);
            }
            match c.resolve(name) {
                Some(n) => Ok(Some(n)),
                None => {
                    unknown = Some(name.to_string());
                    Err(String::new())
                }
            }
        },
        &[],
    );
    match (t, unknown) {
        (Ok(t), _) => Ok(t),
        (Err(_), Some(name)) => Err(c.err(
            pos,
            c.unknown(&format!("{what}: unknown variable '{name}'")),
        )),
        (Err(e), None) => Err(c.err(pos, format!("{what}: {e}"))),
    }
}

/// Text with `{{…}}` kept and every other piece escaped by `f`.
fn escape_text(text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        out.push_str(&f(&rest[..open]));
        out.push_str(&rest[open..open + close + 2]);
        rest = &rest[open + close + 2..];
    }
    out.push_str(&f(rest));
    out
}

/// A JSON body: its structure as written, templates in strings escaped as JSON.
pub(crate) fn json_template(
    c: &mut Compiler<'_>,
    v: &serde_json::Value,
    pos: Pos,
) -> Result<Vec<Template>, SpecError> {
    use serde_json::Value;
    let lit = |s: String| Template::literal(Bytes::from(s));
    Ok(match v {
        Value::String(s) if s.contains("{{") => {
            let inner = escape_text(s, |piece| {
                let q = serde_json::to_string(piece).expect("a string serializes");
                q[1..q.len() - 1].to_string()
            });
            vec![
                lit("\"".into()),
                compile_template(c, &inner, Escape::Json, pos, "json")?,
                lit("\"".into()),
            ]
        }
        Value::Array(items) => {
            let mut out = vec![lit("[".into())];
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(lit(",".into()));
                }
                out.extend(json_template(c, item, pos)?);
            }
            out.push(lit("]".into()));
            out
        }
        Value::Object(m) => {
            let mut out = vec![lit("{".into())];
            for (i, (k, item)) in m.iter().enumerate() {
                let key = serde_json::to_string(k).expect("a string serializes");
                out.push(lit(format!("{}{key}:", if i > 0 { "," } else { "" })));
                out.extend(json_template(c, item, pos)?);
            }
            out.push(lit("}".into()));
            out
        }
        other => vec![lit(other.to_string())],
    })
}

/// The request of a step: `request: {…}` or a method shorthand.
fn request_of(c: &Compiler<'_>, s: &At<StepSpec>) -> Result<(String, RequestSpec), SpecError> {
    if let Some(r) = &s.request {
        let method = r
            .method
            .as_ref()
            .map_or("GET".to_string(), |m| m.value.to_ascii_uppercase());
        return Ok((method, r.value.clone()));
    }
    let (method, short) = [
        ("GET", &s.get),
        ("POST", &s.post),
        ("PUT", &s.put),
        ("PATCH", &s.patch),
        ("DELETE", &s.delete),
    ]
    .into_iter()
    .find_map(|(m, v)| v.as_ref().map(|v| (m, v)))
    .expect("a request step");
    if let Some(m) = &short.0.method {
        return Err(c.err(
            m.pos,
            format!(
                "the method is the key ('{}:'); use 'request:' to give one",
                method.to_ascii_lowercase()
            ),
        ));
    }
    let mut r = short.0.clone();
    if let Some(u) = &mut r.url
        && !u.pos.known()
    {
        u.pos = short.pos;
    }
    Ok((method.to_string(), r))
}

/// Compiles a request step.
pub(crate) fn request(c: &mut Compiler<'_>, s: &At<StepSpec>) -> Result<Request, SpecError> {
    let (method, r) = request_of(c, s)?;
    let method = http::Method::from_bytes(method.as_bytes())
        .ok()
        .filter(|_| method.bytes().all(|b| b.is_ascii_alphabetic()))
        .ok_or_else(|| c.err(s.pos, format!("'{method}' is not an HTTP method")))?;
    let url = r
        .url
        .clone()
        .ok_or_else(|| c.err(s.pos, "a request needs a url"))?;
    let full = match &c.defaults.base {
        _ if url.starts_with("http://") || url.starts_with("https://") => url.value.clone(),
        Some(base) => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            url.trim_start_matches('/')
        ),
        None => {
            return Err(c.err(
                url.pos,
                format!(
                    "'{}' is relative: give an absolute URL, or defaults.base (e.g. base: http://127.0.0.1:8080)",
                    url.value
                ),
            ));
        }
    };
    let after = full.find("://").map_or(0, |i| i + 3);
    let split = full[after..]
        .find(['/', '?'])
        .map_or(full.len(), |i| after + i);
    let (origin, path) = full.split_at(split);
    if origin.contains("{{") {
        return Err(c.err(
            url.pos,
            "templates go in the path and query of a URL, not in its scheme, host or port",
        ));
    }
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let endpoint = c
        .sets
        .endpoint(origin, c.opts)
        .map_err(|e| c.err(url.pos, format!("{origin}: {e}")))?;
    let path_t = compile_template(c, &path, Escape::None, url.pos, "url")?;
    let name = match &s.name {
        Some(n) => n.clone(),
        None => c.default_name(method.as_str(), &url.value, url.pos),
    };
    // headers: the defaults', then the request's (a name given again replaces)
    let mut headers: Vec<(String, Template)> = Vec::new();
    let defaults = c.defaults.headers.clone();
    for (k, v) in defaults.iter().chain(r.headers.0.iter()) {
        if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
            return Err(c.err(k.pos, format!("'{}' is not a header name", k.value)));
        }
        let t = compile_template(
            c,
            v.as_str(),
            Escape::None,
            v.pos,
            &format!("header {}", k.value),
        )?;
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&k.value));
        headers.push((k.value.clone(), t));
    }
    let has = |h: &[(String, Template)], n: &str| h.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    let bodies = [r.body.is_some(), r.json.is_some(), !r.form.is_empty()];
    if bodies.iter().filter(|b| **b).count() > 1 {
        return Err(c.err(s.pos, "a request has one of body, json or form"));
    }
    let body = if let Some(b) = &r.body {
        compile_template(c, b, Escape::None, b.pos, "body")?
    } else if let Some(j) = &r.json {
        if !has(&headers, "content-type") {
            headers.push(("Content-Type".into(), Template::literal("application/json")));
        }
        let parts = json_template(c, j, j.pos)?;
        Template::join(parts)
    } else if !r.form.is_empty() {
        if !has(&headers, "content-type") {
            headers.push((
                "Content-Type".into(),
                Template::literal("application/x-www-form-urlencoded"),
            ));
        }
        let mut parts = Vec::new();
        for (i, (k, v)) in r.form.iter().enumerate() {
            let key: String =
                percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC)
                    .collect();
            parts.push(Template::literal(format!(
                "{}{key}=",
                if i > 0 { "&" } else { "" }
            )));
            let inner = escape_text(v.as_str(), |piece| {
                percent_encoding::utf8_percent_encode(piece, percent_encoding::NON_ALPHANUMERIC)
                    .collect()
            });
            parts.push(compile_template(
                c,
                &inner,
                Escape::Form,
                v.pos,
                &format!("form {}", k.value),
            )?);
        }
        Template::join(parts)
    } else {
        Template::literal(Bytes::new())
    };
    let h2 = match &r.http {
        Some(v) => http_version(v.as_str())
            .ok_or_else(|| c.err(v.pos, format!("http '{}': 1.1 or 2", v.value)))?,
        None => c.defaults.h2,
    };
    let mut reads: Vec<usize> = path_t.slots().chain(body.slots()).collect();
    for (_, t) in &headers {
        reads.extend(t.slots());
    }
    reads.sort_unstable();
    reads.dedup();
    let spec = Arc::new(HttpRequestSpec {
        endpoint,
        row: 0,
        method: method.to_string(),
        path: path_t,
        headers,
        body,
    });
    spec.check_framing().map_err(|why| c.err(s.pos, why))?;
    let spec = if h2 {
        c.sets.h2.push(spec);
        c.sets.h2.len() - 1
    } else {
        c.sets.h1.push(spec);
        c.sets.h1.len() - 1
    };
    let timeout = c.step_timeout(s)?;
    let abort = c.aborts(s)?;
    let (status, checks) = checks(c, s)?;
    // a check's expected value reads variables too: each must be set before the send
    reads.extend(checks.iter().flat_map(Check::slots));
    reads.sort_unstable();
    reads.dedup();
    let captures = captures(c, s)?;
    let keep_body =
        checks.iter().any(Check::reads_body) || captures.iter().any(Capture::reads_body);
    let mut headers_read: Vec<String> = checks
        .iter()
        .filter_map(|k| match k {
            Check::Header { header, .. } => Some(header.clone()),
            _ => None,
        })
        .chain(captures.iter().filter_map(|k| match &k.source {
            Source::Header(h) => Some(h.clone()),
            _ => None,
        }))
        .collect();
    headers_read.sort();
    headers_read.dedup();
    let row = c.row(&name, StepKind::Request)?;
    Ok(Request {
        row,
        name: name.value,
        via: Via::Http {
            endpoint,
            h2,
            spec,
            method,
            follow: c.defaults.follow,
        },
        reads,
        timeout,
        abort,
        status,
        checks,
        captures,
        keep_body,
        headers: headers_read,
    })
}

fn jsonpath(c: &Compiler<'_>, p: &At<String>) -> Result<JsonPath, SpecError> {
    JsonPath::parse(&p.value).map_err(|e| {
        let why = e.to_string();
        let why = why.lines().next().unwrap_or("").to_string();
        c.err(
            p.pos,
            format!(
                "bad JSONPath '{}': {why} (RFC 9535, e.g. $.items[0].id)",
                p.value
            ),
        )
    })
}

pub(crate) fn checks(
    c: &mut Compiler<'_>,
    s: &At<StepSpec>,
) -> Result<(StatusSet, Vec<Check>), SpecError> {
    let mut out = Vec::new();
    let Some(k) = &s.check else {
        return Ok((c.defaults.status.clone(), out));
    };
    let status = match &k.status {
        Some(t) => StatusSet::parse(t.as_str()).map_err(|e| c.err(t.pos, e.to_string()))?,
        None => c.defaults.status.clone(),
    };
    for (path, want) in k.jsonpath.iter() {
        let name = format!("jsonpath {}", path.value);
        let want = match &want.value {
            serde_json::Value::String(t) if t.contains("{{") => {
                Want::Text(compile_template(c, t, Escape::None, want.pos, &name)?)
            }
            v => Want::Value(v.clone()),
        };
        out.push(Check::JsonEq {
            path: jsonpath(c, path)?,
            name,
            want,
        });
    }
    for path in &k.exists {
        out.push(Check::Exists {
            name: format!("exists {}", path.value),
            path: jsonpath(c, path)?,
        });
    }
    if let Some(r) = &k.regex {
        out.push(Check::Regex {
            name: format!("regex {}", r.value),
            re: regex(c, r)?,
        });
    }
    if let Some(b) = &k.body {
        out.push(Check::Contains {
            name: "body contains".into(),
            text: compile_template(c, b, Escape::None, b.pos, "check body")?,
        });
    }
    for (h, want) in k.header.iter() {
        if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
            return Err(c.err(h.pos, format!("'{}' is not a header name", h.value)));
        }
        let name = format!("header {}", h.value);
        out.push(Check::Header {
            want: compile_template(c, want.as_str(), Escape::None, want.pos, &name)?,
            name,
            header: h.to_ascii_lowercase(),
        });
    }
    if let Some(l) = &k.latency {
        out.push(Check::Latency {
            name: "latency".into(),
            max: c.duration(l)?,
        });
    }
    Ok((status, out))
}

/// The checks and captures of a step whose answer is a body only (gRPC's JSON form, a
/// WebSocket message): a status or header check is refused with `no_status`, a header or
/// cookie capture with "`LABEL`: `captures_read` (jsonpath or regex)".
pub(crate) fn body_checks(
    c: &mut Compiler<'_>,
    s: &At<StepSpec>,
    no_status: &str,
    captures_read: &str,
) -> Result<(Vec<Check>, Vec<Capture>), SpecError> {
    if let Some(k) = &s.check
        && let Some(pos) = k
            .status
            .as_ref()
            .map(|x| x.pos)
            .or_else(|| k.header.0.first().map(|(h, _)| h.pos))
    {
        return Err(c.err(pos, no_status));
    }
    let (_, checks) = checks(c, s)?;
    let captures = captures(c, s)?;
    if let Some(cap) = captures
        .iter()
        .find(|k| matches!(k.source, Source::Header(_) | Source::Cookie(_)))
    {
        return Err(c.err(
            s.pos,
            format!("{}: {captures_read} (jsonpath or regex)", cap.label),
        ));
    }
    Ok((checks, captures))
}

/// A step whose answer is a body only (gRPC, WebSocket) as a [`Request`]: its report row
/// `name`, the variables its templates (`reads`) and checks read, no status to check.
#[allow(clippy::too_many_arguments)]
pub(crate) fn body_request(
    c: &mut Compiler<'_>,
    name: At<String>,
    via: Via,
    mut reads: Vec<usize>,
    timeout: std::time::Duration,
    abort: bool,
    checks: Vec<Check>,
    captures: Vec<Capture>,
) -> Result<Request, SpecError> {
    reads.extend(checks.iter().flat_map(Check::slots));
    reads.sort_unstable();
    reads.dedup();
    let row = c.row(&name, StepKind::Request)?;
    Ok(Request {
        row,
        name: name.value,
        via,
        reads,
        timeout,
        abort,
        status: StatusSet::default(),
        checks,
        captures,
        keep_body: true,
        headers: Vec::new(),
    })
}

pub(crate) fn captures(c: &mut Compiler<'_>, s: &At<StepSpec>) -> Result<Vec<Capture>, SpecError> {
    let mut out = Vec::new();
    let mut defs: Vec<(String, Pos, bool)> = Vec::new();
    for (name, cap) in s.capture.iter() {
        check_name(c, name, name.pos)?;
        let sources = [
            cap.jsonpath.is_some(),
            cap.regex.is_some(),
            cap.header.is_some(),
            cap.cookie.is_some(),
        ];
        if sources.iter().filter(|x| **x).count() != 1 {
            return Err(c.err(
                cap.pos,
                format!(
                    "capture '{}' needs one of jsonpath, regex, header or cookie",
                    name.value
                ),
            ));
        }
        if cap.group.is_some() && cap.regex.is_none() {
            return Err(c.err(cap.pos, "'group' goes with 'regex'"));
        }
        let all = cap.all.as_ref().is_some_and(|a| a.value);
        let (source, what) = if let Some(p) = &cap.jsonpath {
            (Source::JsonPath(jsonpath(c, p)?), p.value.clone())
        } else if let Some(r) = &cap.regex {
            let re = regex(c, r)?;
            let group = match &cap.group {
                Some(g) => re
                    .capture_names()
                    .position(|n| n == Some(g.value.as_str()))
                    .ok_or_else(|| {
                        c.err(g.pos, format!("the regex has no group named '{}'", g.value))
                    })?,
                None => {
                    let named: Vec<usize> = re
                        .capture_names()
                        .enumerate()
                        .filter_map(|(i, n)| n.map(|_| i))
                        .collect();
                    match (named.as_slice(), re.captures_len()) {
                        ([one], _) => *one,
                        ([], 2) => 1,
                        _ => {
                            return Err(c.err(
                                r.pos,
                                "a capture regex needs one named group, e.g. 'id=(?P<id>\\d+)' (or say which with group: NAME)",
                            ));
                        }
                    }
                }
            };
            (Source::Regex(re, group), r.value.clone())
        } else if let Some(h) = &cap.header {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(c.err(h.pos, format!("'{}' is not a header name", h.value)));
            }
            (
                Source::Header(h.to_ascii_lowercase()),
                format!("header {}", h.value),
            )
        } else {
            let k = cap.cookie.as_ref().expect("one source");
            (
                Source::Cookie(k.value.clone()),
                format!("cookie {}", k.value),
            )
        };
        out.push(Capture {
            label: format!("capture {}", name.value),
            what,
            source,
            into: Slot::Scalar(0),
        });
        defs.push((name.value.clone(), name.pos, all));
    }
    // defined after the step: its own templates cannot read them
    for (cap, (name, pos, all)) in out.iter_mut().zip(defs) {
        cap.into = c.slots.define(&name, all).map_err(|e| c.err(pos, e))?;
    }
    Ok(out)
}
