//! The gRPC part of a run's configuration: the schema (`--proto`/`-I`, `--protoset`, or
//! the server's reflection), the method (`--call`), the messages (`--message`), checked
//! before the first load with messages that name the flag.

use std::sync::Arc;

use anyhow::{Context, bail};
use loadgen::caller::template;
use loadgen::protocol::grpc::schema::{self, Source};
use loadgen::protocol::grpc::{GrpcCaller, GrpcOptions, Kind};
use loadgen::protocol::http::HttpTarget;

use crate::args::LoadArgs;

/// `--message`: a JSON object, an array of them (used in turn), or `@FILE` holding either.
pub fn messages(a: &LoadArgs) -> anyhow::Result<Vec<String>> {
    let Some(m) = &a.message else {
        return Ok(vec!["{}".into()]);
    };
    let text = match m.strip_prefix('@') {
        Some(path) => loadgen::limits::read_text(path, loadgen::limits::MESSAGE_FILE)
            .with_context(|| format!("--message @{path}: cannot read the file"))?,
        None => m.clone(),
    };
    let trimmed = text.trim_start();
    if !trimmed.starts_with('[') {
        return Ok(vec![text]);
    }
    // an array of messages: each element's JSON text (templates inside strings survive)
    let v: Vec<serde_json::Value> =
        serde_json::from_str(&text).context("--message: not a JSON array of messages")?;
    if v.is_empty() {
        bail!("--message: an empty array");
    }
    Ok(v.iter().map(|m| m.to_string()).collect())
}

/// The method's options, its schema found as `a` says (reflection asks `target`).
pub fn options(
    a: &LoadArgs,
    target: &HttpTarget,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> anyhow::Result<GrpcOptions> {
    let call = a.call.as_deref().context(
        "gRPC needs the method: --call package.Service/Method (e.g. --call calc.Calc/Compute)",
    )?;
    let source = match (&a.proto[..], &a.protoset) {
        ([], None) => Source::Reflection,
        ([], Some(p)) => Source::Protoset(p.clone()),
        (files, None) => Source::Proto {
            files: files.to_vec(),
            includes: a.import_path.clone(),
        },
        (_, Some(_)) => bail!("--proto and --protoset contradict each other"),
    };
    let pool = match &source {
        Source::Reflection => {
            let service = call.rsplit_once('/').map_or(call, |(s, _)| s);
            schema::reflect_blocking(target, tls, service, std::time::Duration::from_secs(10))
                .with_context(|| format!("{} (reflection)", target.url))?
        }
        s => schema::load(s)?,
    };
    let method = schema::method(&pool, call)?;
    Ok(GrpcOptions {
        method,
        messages: messages(a)?,
        metadata: super::protocol::headers(a)?,
        expect_body: a.expect_body.clone(),
        stream_messages: a.stream_messages,
        streams: a.streams,
    })
}

/// Makes one caller now (and drops it), so that a message that does not fit the method
/// or bad metadata is an error before the run.
pub fn check(
    targets: &[HttpTarget],
    opts: &Arc<GrpcOptions>,
    tls: Option<Arc<rustls::ClientConfig>>,
    shared: &template::Shared,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _enter = rt.enter();
    GrpcCaller::new(targets, 1, opts.clone(), tls, shared.clone(), 0).context("--message")?;
    Ok(())
}

/// What a report records: the method and how it streams.
pub fn details(opts: &GrpcOptions) -> Vec<(String, String)> {
    let m = &opts.method;
    let mut d = vec![
        (
            "call".to_string(),
            format!("{}/{}", m.parent_service().full_name(), m.name()),
        ),
        ("kind".to_string(), Kind::of(m).name().to_string()),
    ];
    if opts.messages.len() > 1 {
        d.push((
            "messages".into(),
            format!("{} in turn", opts.messages.len()),
        ));
    }
    d
}
