//! The WebSocket part of a run's configuration: the mode (`--ws-mode`), the message
//! (`--message`, templates and `--data` as for HTTP bodies), the answer's match
//! (`--ws-match`) and check (`--expect-body`), checked before the first load with messages
//! that name the flag. TLS, `-H` and the connection routes are HTTP's.

use anyhow::{Context, bail};
use loadgen::caller::template::{self, Template};
use loadgen::protocol::http::HttpOptions;
use loadgen::protocol::ws::{Matcher, WsMode, WsOptions};

use crate::args::{LoadArgs, WsModeArg};

/// The message a load sends when `--message` is not given (rtt, send).
const DEFAULT_MESSAGE: &str = "ping";

/// The mode `--ws-mode` names.
pub fn mode(a: &LoadArgs) -> WsMode {
    match a.ws_mode {
        WsModeArg::Rtt => WsMode::Rtt,
        WsModeArg::Send => WsMode::Send,
        WsModeArg::Subscribe => WsMode::Subscribe,
    }
}

/// The HTTP options a WebSocket run uses (TLS, headers); HTTP flags that mean nothing
/// here are refused rather than ignored.
pub fn http_options(a: &LoadArgs) -> anyhow::Result<HttpOptions> {
    if a.http2 {
        bail!("--http2: ws:// and wss:// targets speak HTTP/1.1 (the upgrade handshake)");
    }
    if a.body.is_some() {
        bail!("--body: a WebSocket load sends --message, not a body");
    }
    if !a.method.eq_ignore_ascii_case("GET") {
        bail!("-m/--method: a WebSocket handshake is a GET");
    }
    if a.follow > 0 {
        bail!("--follow: a WebSocket handshake does not follow redirects");
    }
    super::protocol::http_options(a)
}

/// The options of `a` for WebSocket loads; `shared` is what templates render with.
pub fn options(
    a: &LoadArgs,
    http: &HttpOptions,
    shared: template::Shared,
) -> anyhow::Result<WsOptions> {
    let mode = mode(a);
    let text = match (&a.message, mode) {
        (Some(m), _) => Some(super::protocol::text_or_file(
            "--message",
            m,
            loadgen::limits::MESSAGE_FILE,
        )?),
        (None, WsMode::Subscribe) => None,
        (None, _) => Some(DEFAULT_MESSAGE.as_bytes().to_vec()),
    };
    if text
        .as_ref()
        .is_some_and(|t| t.len() > loadgen::limits::WS_MESSAGE)
    {
        bail!(
            "--message: over the {} a WebSocket message may be",
            loadgen::limits::size(loadgen::limits::WS_MESSAGE as u64)
        );
    }
    let fields = shared
        .data
        .as_ref()
        .map(|d| d.columns().to_vec())
        .unwrap_or_default();
    let message = text
        .map(|t| {
            if a.no_templates || a.ws_binary {
                Ok(Template::literal(t))
            } else {
                Template::compile_body(&t, &fields)
            }
        })
        .transpose()
        .context("--message")?;
    let matcher = match &a.ws_match {
        None => None,
        Some(p) => {
            if mode != WsMode::Rtt {
                bail!("--ws-match: only an rtt load waits for an answer (--ws-mode rtt)");
            }
            let m = Matcher::parse(p).map_err(|e| anyhow::anyhow!("--ws-match {e}"))?;
            let first = message
                .as_ref()
                .map(|t| t.render_string(&shared.context(0, 0)))
                .unwrap_or_default();
            if m.value(first.as_bytes()).is_none() {
                bail!(
                    "--ws-match {p}: the message must be JSON with exactly one value there (rendered for the first load: {})",
                    loadgen::limits::clip(&first)
                );
            }
            Some(m)
        }
    };
    if a.expect_body.is_some() && mode == WsMode::Send {
        bail!("--expect-body: a send load reads no answer (--ws-mode rtt or subscribe)");
    }
    Ok(WsOptions {
        mode,
        messages: message.into_iter().collect(),
        binary: a.ws_binary,
        matcher,
        expect: a.expect_body.as_ref().map(|b| b.as_bytes().to_vec()),
        headers: http.headers.clone(),
        shared,
    })
}
