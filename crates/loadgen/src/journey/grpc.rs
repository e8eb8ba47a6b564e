//! Compiling a gRPC step: its endpoint (`grpc://` or `grpcs://`, resolved before the run),
//! its method from `.proto` files or the server's reflection (asked once per endpoint and
//! service), its message as a JSON template, its metadata. A gRPC step succeeds on status
//! OK; its checks and captures read the answer's JSON form.

use std::path::PathBuf;

use super::compile::Compiler;
use super::program::{GrpcCall, Request, Via};
use super::request::{body_checks, body_request, compile_template, grpc_tls, json_template};
use crate::caller::template::{Escape, Template};
use crate::protocol::grpc::schema;
use crate::spec::{At, SpecError, StepSpec};

/// How long reflection may take at compile time.
const REFLECTION: std::time::Duration = std::time::Duration::from_secs(10);

/// Compiles the gRPC step `s`.
pub(crate) fn request(c: &mut Compiler<'_>, s: &At<StepSpec>) -> Result<Request, SpecError> {
    let g = s.grpc.as_ref().expect("a grpc step");
    let timeout = c.step_timeout(s)?;
    let abort = c.aborts(s)?;
    let url = match (&g.url, &c.defaults.base) {
        (Some(u), _) => u.clone(),
        (None, Some(b)) => b.clone(),
        (None, None) => {
            return Err(c.err(
                g.pos,
                "a gRPC step needs url: grpc://HOST:PORT (or defaults.base)",
            ));
        }
    };
    if !(url.starts_with("grpc://") || url.starts_with("grpcs://")) {
        return Err(c.err(
            url.pos,
            format!(
                "'{}': a gRPC step's url is grpc://HOST:PORT or grpcs://HOST:PORT",
                url.value
            ),
        ));
    }
    let after = url.find("://").map_or(0, |i| i + 3);
    let origin = &url[..url[after..].find('/').map_or(url.len(), |i| after + i)];
    let endpoint = c
        .sets
        .grpc_endpoint(origin, c.opts)
        .map_err(|e| c.err(url.pos, format!("{origin}: {e}")))?;
    let call = g.call.value.as_str();
    let service = call.rsplit_once('/').map_or(call, |(s, _)| s).to_string();
    let pool = match c.sets.schemas.get(&(endpoint, service.clone())) {
        Some(p) => p.clone(),
        None => {
            let pool = if g.proto.is_empty() {
                let target = c.sets.grpc[endpoint].clone();
                let tls = if target.tls {
                    Some(grpc_tls(c.opts).map_err(|e| c.err(url.pos, e))?)
                } else {
                    None
                };
                schema::reflect_blocking(&target, tls, &service, REFLECTION)
                    .map_err(|e| c.err(g.call.pos, format!("{origin}: {e}")))?
            } else {
                let rel = |p: &str| match &c.opts.dir {
                    Some(d) if std::path::Path::new(p).is_relative() => d.join(p),
                    _ => PathBuf::from(p),
                };
                let source = schema::Source::Proto {
                    files: g.proto.iter().map(|p| rel(p)).collect(),
                    includes: g.import_paths.iter().map(|p| rel(p)).collect(),
                };
                if !c.opts.read_files {
                    return Err(c.err(g.pos, "proto files are not read here"));
                }
                schema::load(&source).map_err(|e| c.err(g.proto[0].pos, e.to_string()))?
            };
            c.sets
                .schemas
                .insert((endpoint, service.clone()), pool.clone());
            pool
        }
    };
    let method = schema::method(&pool, call).map_err(|e| c.err(g.call.pos, e.to_string()))?;
    if method.is_client_streaming() || method.is_server_streaming() {
        return Err(c.err(
            g.call.pos,
            format!("{call} streams: a journey's gRPC step is a unary call"),
        ));
    }
    let json = g
        .message
        .clone()
        .unwrap_or_else(|| At::new(serde_json::json!({})));
    let message = Template::join(json_template(c, &json, json.pos)?);
    if message.slots().next().is_none() {
        // without variables it renders the same each time: it must fit the method now
        let cx = crate::caller::template::Shared::default();
        let text = message.render_string(&cx.context(0, 0));
        crate::protocol::grpc::encode(&method.input(), &text).map_err(|e| c.err(json.pos, e))?;
    }
    let mut metadata = Vec::new();
    for (k, v) in g.metadata.iter() {
        let t = compile_template(
            c,
            v.as_str(),
            Escape::None,
            v.pos,
            &format!("metadata {}", k.value),
        )?;
        if !t.is_fixed() {
            return Err(c.err(v.pos, "metadata values are fixed text (no templates)"));
        }
        metadata.push((k.value.clone(), v.value.0.clone()));
    }
    let headers = crate::protocol::grpc::request_headers(&metadata)
        .map_err(|e| c.err(g.pos, e.to_string()))?;
    let (checks, captures) = body_checks(
        c,
        s,
        "a gRPC step succeeds on status OK: check its answer with jsonpath, exists, regex or body",
        "a gRPC step's captures read its answer",
    )?;
    let uri = format!(
        "{}://{}{}",
        if c.sets.grpc[endpoint].tls {
            "https"
        } else {
            "http"
        },
        c.sets.grpc[endpoint].authority(),
        crate::protocol::grpc::path(&method)
    )
    .parse()
    .map_err(|e| c.err(url.pos, format!("the method's URI: {e}")))?;
    let name = match &s.name {
        Some(n) => n.clone(),
        None => c.default_name("grpc", call, g.call.pos),
    };
    let reads: Vec<usize> = message.slots().collect();
    let via = Via::Grpc(Box::new(GrpcCall {
        endpoint,
        method,
        uri,
        message,
        headers,
    }));
    body_request(c, name, via, reads, timeout, abort, checks, captures)
}
