//! Compiling a WebSocket step: its endpoint (`ws://` or `wss://`, resolved before the run),
//! the message it sends (a template), whether it waits for a message and which one (a
//! JSONPath match on the sent message's value), whether it closes the connection. The
//! journey holds one connection per endpoint, opened by its first step there; checks and
//! captures read the message received.

use super::compile::Compiler;
use super::program::{Request, Via, WsCall};
use super::request::{body_checks, body_request, compile_template};
use crate::caller::template::Escape;
use crate::protocol::ws::Matcher;
use crate::spec::{At, SpecError, StepSpec};

/// Compiles the WebSocket step `s`.
pub(crate) fn request(c: &mut Compiler<'_>, s: &At<StepSpec>) -> Result<Request, SpecError> {
    let w = s.ws.as_ref().expect("a ws step");
    let timeout = c.step_timeout(s)?;
    let abort = c.aborts(s)?;
    let url = match (&w.url, &c.defaults.base) {
        (Some(u), _) => u.clone(),
        (None, Some(b)) if b.starts_with("ws://") || b.starts_with("wss://") => b.clone(),
        _ => {
            return Err(c.err(
                w.pos,
                "a WebSocket step needs url: ws://HOST[:PORT]/PATH (or a ws:// defaults.base)",
            ));
        }
    };
    let Some(scheme_end) = url
        .strip_prefix("ws://")
        .map(|_| 5)
        .or_else(|| url.strip_prefix("wss://").map(|_| 6))
    else {
        return Err(c.err(
            url.pos,
            format!(
                "'{}': a WebSocket step's url is ws://HOST[:PORT]/PATH or wss://…",
                url.value
            ),
        ));
    };
    let path_at = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    let (origin, path) = url.split_at(path_at);
    let path = if path.is_empty() { "/" } else { path };
    if path.contains("{{") {
        return Err(c.err(
            url.pos,
            "a WebSocket step's url is fixed text (no templates)",
        ));
    }
    let endpoint = c
        .sets
        .ws_endpoint(origin, path, c.opts)
        .map_err(|e| c.err(url.pos, format!("{origin}: {e}")))?;
    let send = match &w.send {
        Some(t) => Some(compile_template(
            c,
            t.as_str(),
            Escape::None,
            t.pos,
            "send",
        )?),
        None => None,
    };
    let receive = w.receive.as_ref().is_none_or(|r| r.value);
    let close = w.close.as_ref().is_some_and(|r| r.value);
    if send.is_none() && !receive && !close {
        return Err(c.err(
            w.pos,
            "a WebSocket step sends, receives or closes: give it send, or leave receive true",
        ));
    }
    let matcher = match &w.matching {
        None => None,
        Some(m) => {
            if send.is_none() || !receive {
                return Err(c.err(
                    m.pos,
                    "match pairs a sent message with its answer: the step needs send and receive",
                ));
            }
            Some(Matcher::parse(m.as_str()).map_err(|e| c.err(m.pos, e))?)
        }
    };
    let (checks, captures) = body_checks(
        c,
        s,
        "a WebSocket step has no status or headers: check its message with jsonpath, exists, regex or body",
        "a WebSocket step's captures read its message",
    )?;
    if !receive && (!checks.is_empty() || !captures.is_empty()) {
        return Err(c.err(
            s.pos,
            "checks and captures read the message received: the step needs receive",
        ));
    }
    let name = match &s.name {
        Some(n) => n.clone(),
        None => c.default_name("ws", &url.value, url.pos),
    };
    let reads: Vec<usize> = send.iter().flat_map(|t| t.slots()).collect();
    let via = Via::Ws(Box::new(WsCall {
        endpoint,
        send,
        binary: w.binary.as_ref().is_some_and(|b| b.value),
        receive,
        matcher,
        close,
    }));
    body_request(c, name, via, reads, timeout, abort, checks, captures)
}
