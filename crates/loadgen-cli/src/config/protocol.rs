//! The protocol part of a run's configuration: the caller options each protocol's flags
//! describe, validated with messages that name the flag; the connections per target; the
//! details a report records (client, method, TLS, streams); and the load generator made
//! from all of it.

use std::sync::Arc;

use anyhow::{Context, bail};
use loadgen::caller::data::DataFeed;
use loadgen::caller::template;
use loadgen::engine::OPEN_MODEL_CONNECTIONS;
use loadgen::protocol::calc::proto::Op;
use loadgen::protocol::calc::{CalcCaller, CalcOptions};
use loadgen::protocol::grpc::GrpcCaller;
use loadgen::protocol::http::tls::{ClientAuth, Verify};
use loadgen::protocol::http::{HttpCaller, HttpOptions, StatusSet};
use loadgen::protocol::stream::{Framing, StreamOptions, TcpCaller, UdpCaller};
use loadgen::protocol::ws::WsCaller;
use loadgen::{LoadGen, Plan, ThreadContext};

use super::requests::Source;
use crate::args::{LoadArgs, unescape};
use crate::cmd::limits;
use crate::target::Scheme;

/// What a run's callers are made from.
pub enum Protocol {
    /// calc targets.
    Calc(CalcOptions),
    /// HTTP or HTTPS targets.
    Http(Arc<HttpOptions>),
    /// TCP targets.
    Tcp(StreamOptions),
    /// UDP targets.
    Udp(StreamOptions),
    /// gRPC targets (the TLS options of HTTP; HTTP/2).
    Grpc(Arc<HttpOptions>),
    /// WebSocket targets (the TLS options and headers of HTTP).
    Ws(Arc<HttpOptions>),
}

impl Protocol {
    /// The options `a` gives for the protocol of `scheme`.
    pub fn of(scheme: Scheme, a: &LoadArgs) -> anyhow::Result<Protocol> {
        Ok(match scheme {
            _ if a.http3 && !matches!(scheme, Scheme::Http | Scheme::Https) => {
                bail!("--http3: for https:// targets only")
            }
            Scheme::Calc => Protocol::Calc(calc_options(a)?),
            Scheme::Http | Scheme::Https => {
                if a.http3 {
                    if scheme == Scheme::Http {
                        bail!("--http3: QUIC is always TLS; use an https:// target");
                    }
                    if a.proxy.is_some() || a.unix_socket.is_some() {
                        bail!("--http3: QUIC goes over UDP, not through --proxy or --unix-socket");
                    }
                }
                Protocol::Http(Arc::new(http_options(a)?))
            }
            Scheme::Tcp => Protocol::Tcp(stream_options(a)?),
            Scheme::Udp => Protocol::Udp(stream_options(a)?),
            Scheme::Grpc | Scheme::Grpcs => {
                if a.call.is_none() {
                    bail!(
                        "gRPC needs the method: --call package.Service/Method (e.g. --call calc.Calc/Compute)"
                    );
                }
                // -H is gRPC metadata (config::grpc); the TLS options are HTTP's
                let mut o = http_options(a)?;
                o.headers.clear();
                o.http2 = true;
                Protocol::Grpc(Arc::new(o))
            }
            Scheme::Ws | Scheme::Wss => Protocol::Ws(Arc::new(super::ws::http_options(a)?)),
        })
    }

    /// Calls one connection carries at once (`--streams` for HTTP/2 and HTTP/3).
    fn per_connection(&self) -> u64 {
        match self {
            Protocol::Http(o) | Protocol::Grpc(o) if o.http2 || o.http3 => u64::from(o.streams),
            _ => 1,
        }
    }

    /// What a report records about the protocol.
    fn details(&self, a: &LoadArgs, src: &Source) -> Vec<(String, String)> {
        let targets = &src.endpoints;
        let mut d = Vec::new();
        let mut add = |k: &str, v: String| d.push((k.to_string(), v));
        match self {
            Protocol::Http(o) => {
                let client = match (o.http3, o.http2, o.hyper_h1) {
                    (true, _, _) => "quinn/h3 HTTP/3",
                    (false, true, _) => "h2 HTTP/2",
                    (false, false, true) => "hyper HTTP/1.1",
                    (false, false, false) => "fast HTTP/1.1",
                };
                add("client", client.into());
                if src.details().is_empty() {
                    add("method", o.method.clone());
                }
                let tls = targets.iter().any(|t| matches!(t.scheme, Scheme::Https));
                add("tls", if tls { "yes" } else { "no" }.into());
                if o.http2 || o.http3 {
                    add("streams", o.streams.to_string());
                }
                if !o.body.is_empty() {
                    add("body", format!("{} bytes", o.body.len()));
                }
                if o.follow > 0 {
                    add("follow", format!("up to {} redirects", o.follow));
                }
            }
            Protocol::Calc(o) if o.dial_per_call => add("connections", "one per load".into()),
            Protocol::Tcp(o) | Protocol::Udp(o) => {
                add("payload", format!("{} bytes", o.payload.len()));
            }
            Protocol::Grpc(_) => {
                add("client", "h2 gRPC".into());
                let tls = targets.iter().any(|t| matches!(t.scheme, Scheme::Grpcs));
                add("tls", if tls { "yes" } else { "no" }.into());
            }
            Protocol::Ws(_) => {
                add("client", "tungstenite WebSocket".into());
                add("exchange", super::ws::mode(a).name().into());
                let tls = targets.iter().any(|t| matches!(t.scheme, Scheme::Wss));
                add("tls", if tls { "yes" } else { "no" }.into());
                if let Some(m) = &a.ws_match {
                    add("match", m.clone());
                }
            }
            Protocol::Calc(_) => {}
        }
        if let Some(n) = a.loads {
            add("loads", format!("at most {n}"));
        }
        d.extend(src.details());
        d
    }

    /// A load generator for `plan` that calls the endpoints of `src` with this protocol
    /// (`data`: the `--data` feed of HTTP templates).
    pub fn loadgen(
        self,
        mut plan: Plan,
        src: &Source,
        data: Option<Arc<DataFeed>>,
        a: &LoadArgs,
    ) -> anyhow::Result<LoadGen> {
        let targets = &src.endpoints;
        if let Protocol::Http(o) = &self
            && o.http3
            && let Some(t) = targets.iter().find(|t| t.scheme != Scheme::Https)
        {
            bail!("--http3: QUIC is always TLS; {} is not https://", t.url);
        }
        let connections = connections(&plan, a, self.per_connection(), targets.len())?;
        plan.connections = Some(connections);
        plan.details = self.details(a, src);
        let addrs: Vec<_> = targets.iter().map(|t| t.addr).collect();
        let lg = match self {
            Protocol::Calc(opts) => LoadGen::new(plan, move |t: &ThreadContext| {
                CalcCaller::new(addrs.clone(), t.share(connections), opts.clone())
            })?,
            Protocol::Http(opts) => {
                let http_targets: Vec<_> = targets.iter().map(|t| t.http()).collect();
                let tls = tls(&opts, &http_targets)?;
                let seeded = src.seeded(a, &opts);
                let seed = a.seed.unwrap_or_else(random_seed);
                if seeded {
                    plan.details.push(("seed".into(), seed.to_string()));
                }
                if let Some(d) = &data {
                    plan.details
                        .push(("data".into(), format!("{} rows", d.rows())));
                }
                let shared = template::Shared {
                    seed,
                    shard: plan.process_shard.0,
                    data,
                };
                let requests = Arc::new(src.http_requests(&opts, shared, a.no_templates)?);
                LoadGen::new(plan, move |t: &ThreadContext| {
                    HttpCaller::with_requests(
                        requests.clone(),
                        t.index,
                        t.share(connections),
                        opts.clone(),
                        tls.clone(),
                    )
                })?
            }
            Protocol::Tcp(opts) => LoadGen::new(plan, move |t: &ThreadContext| {
                TcpCaller::new(addrs.clone(), t.share(connections), opts.clone())
            })?,
            Protocol::Udp(opts) => LoadGen::new(plan, move |t: &ThreadContext| {
                UdpCaller::new(addrs.clone(), t.share(connections), opts.clone())
            })?,
            Protocol::Grpc(http) => {
                let targets: Vec<_> = targets.iter().map(|t| t.http()).collect();
                let tls = tls(&http, &targets)?;
                let opts = Arc::new(super::grpc::options(a, &targets[0], tls.clone())?);
                let seed = a.seed.unwrap_or_else(random_seed);
                let shared = template::Shared {
                    seed,
                    shard: plan.process_shard.0,
                    data,
                };
                super::grpc::check(&targets, &opts, tls.clone(), &shared)?;
                plan.details.extend(super::grpc::details(&opts));
                if opts.messages.iter().any(|m| m.contains("{{")) {
                    plan.details.push(("seed".into(), seed.to_string()));
                }
                LoadGen::new(plan, move |t: &ThreadContext| {
                    GrpcCaller::new(
                        &targets,
                        t.share(connections),
                        opts.clone(),
                        tls.clone(),
                        shared.clone(),
                        t.index,
                    )
                    .expect("checked before the run")
                })?
            }
            Protocol::Ws(http) => {
                let targets: Vec<_> = targets.iter().map(|t| t.http()).collect();
                let tls = tls(&http, &targets)?;
                let seed = a.seed.unwrap_or_else(random_seed);
                let shared = template::Shared {
                    seed,
                    shard: plan.process_shard.0,
                    data,
                };
                let opts = Arc::new(super::ws::options(a, &http, shared)?);
                if opts.messages.iter().any(|m| !m.is_fixed()) {
                    plan.details.push(("seed".into(), seed.to_string()));
                }
                LoadGen::new(plan, move |t: &ThreadContext| {
                    WsCaller::new(
                        targets.clone(),
                        t.share(connections),
                        opts.clone(),
                        tls.clone(),
                        t.index,
                    )
                })?
            }
        };
        Ok(lg)
    }
}

/// The TLS client config of `opts` for `targets` (`None`: none is TLS), an error naming
/// the flags it came from.
fn tls(
    opts: &HttpOptions,
    targets: &[loadgen::protocol::http::HttpTarget],
) -> anyhow::Result<Option<Arc<rustls::ClientConfig>>> {
    loadgen::protocol::http::tls_config(opts, targets).context(if opts.client_auth.is_some() {
        "--cacert/--cert/--key"
    } else {
        "--cacert"
    })
}

/// A seed for a run that was given none: the clock and the process id, mixed.
pub fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    template::mix(t ^ (u64::from(std::process::id()) << 32))
}

/// Connections per target for this process.
///
/// `--connections` when given. Otherwise, in closed loop, one per slot (`-c`, as in wrk
/// and oha); in the open model, connections open on demand — one per call in flight — up
/// to one per slot but at most [`OPEN_MODEL_CONNECTIONS`], so that `-r 40000` with a 1 s
/// timeout (40,001 slots) never opens 40,001 connections at once. Past the cap, loads wait
/// as a count and expire as `dropped`, and the report says the connections were the limit.
/// Either way the total must fit the open-file limit.
fn connections(plan: &Plan, a: &LoadArgs, per_conn: u64, targets: usize) -> anyhow::Result<u64> {
    let (index, count) = plan.process_shard;
    let per_slot = plan.slots().div_ceil(per_conn);
    let n = match a.connections {
        Some(c) => loadgen::caller::share(c, count as usize, index as usize),
        None if plan.schedule.is_closed() => per_slot,
        // the default cap is the run's, as an explicit --connections: this shard's share
        None => per_slot.min(loadgen::caller::share(
            OPEN_MODEL_CONNECTIONS,
            count as usize,
            index as usize,
        )),
    };
    let nofile = limits::raise_nofile();
    let usable = limits::usable(nofile);
    let total = n.saturating_mul(targets as u64);
    if total <= usable {
        return Ok(n);
    }
    let why = format!(
        "{total} connections{} are more than this process may open (open-file limit {nofile}, `ulimit -n`)",
        if targets > 1 {
            format!(" over {targets} targets")
        } else {
            String::new()
        }
    );
    match a.connections {
        Some(c) => bail!("--connections {c}: {why}; lower --connections or raise the limit"),
        None if plan.schedule.is_closed() => bail!(
            "-c {}: a closed loop opens one connection per slot; {why}; lower -c, or cap the connections with --connections",
            plan.slots()
        ),
        None => Ok((usable / targets as u64).max(1)),
    }
}

fn calc_options(a: &LoadArgs) -> anyhow::Result<CalcOptions> {
    let operator = match &a.operator {
        None => None,
        Some(s) => Some(
            Op::parse(s.trim())
                .with_context(|| format!("--operator '{s}': expected one of + - * /"))?,
        ),
    };
    if a.operands.as_ref().is_some_and(|v| v.len() < 2) {
        bail!("--operands needs at least two numbers, e.g. --operands 12,5");
    }
    Ok(CalcOptions {
        dial_per_call: a.dial_per_call,
        operator,
        operands: a.operands.clone(),
    })
}

/// Text given inline, or read from a file with `@FILE` (at most `cap` bytes).
pub(super) fn text_or_file(flag: &str, v: &str, cap: u64) -> anyhow::Result<Vec<u8>> {
    match v.strip_prefix('@') {
        Some(path) => loadgen::limits::read_file(path, cap)
            .with_context(|| format!("{flag} @{path}: cannot read the file")),
        None => Ok(v.as_bytes().to_vec()),
    }
}

/// A PEM file (certificates, a key), at most [`loadgen::limits::PEM_FILE`].
pub(crate) fn read_pem(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    loadgen::limits::read_file(path, loadgen::limits::PEM_FILE)
}

/// `-H 'Name: value'` as (name, value) pairs: HTTP headers, or gRPC metadata.
pub(super) fn headers(a: &LoadArgs) -> anyhow::Result<Vec<(String, String)>> {
    a.headers
        .iter()
        .map(|h| {
            let (k, v) = h
                .split_once(':')
                .with_context(|| format!("--header '{h}': expected 'Name: value'"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

pub(super) fn http_options(a: &LoadArgs) -> anyhow::Result<HttpOptions> {
    let headers = headers(a)?;
    let verify = match (&a.cacert, a.insecure) {
        (Some(_), true) => bail!("--cacert and --insecure contradict each other"),
        (Some(path), false) => Verify::CaPem(
            read_pem(path)
                .with_context(|| format!("--cacert {}: cannot read the file", path.display()))?,
        ),
        (None, true) => Verify::Insecure,
        (None, false) => Verify::WebPki,
    };
    let client_auth = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => Some(ClientAuth {
            cert_pem: read_pem(c)
                .with_context(|| format!("--cert {}: cannot read the file", c.display()))?,
            key_pem: read_pem(k)
                .with_context(|| format!("--key {}: cannot read the file", k.display()))?,
        }),
        _ => None,
    };
    let opts = HttpOptions {
        method: a.method.to_ascii_uppercase(),
        headers,
        body: a
            .body
            .as_deref()
            .map(|b| text_or_file("--body", b, loadgen::limits::BODY_FILE))
            .transpose()?
            .unwrap_or_default(),
        expect_status: a
            .expect_status
            .as_deref()
            .map(StatusSet::parse)
            .transpose()
            .context("--expect-status")?
            .unwrap_or_default(),
        expect_body: a.expect_body.as_ref().map(|b| b.as_bytes().to_vec()),
        disable_keepalive: a.disable_keepalive,
        http2: a.http2,
        http3: a.http3,
        streams: a.streams,
        hyper_h1: a.hyper,
        verify,
        client_auth,
        follow: a.follow,
    };
    opts.validate().map_err(|e| {
        use loadgen::ConfigError as E;
        let flag = match &e {
            E::Method(_) => "-m/--method",
            E::Header { .. } => "-H/--header",
            E::ZeroStreams => "--streams",
            _ => "",
        };
        anyhow::anyhow!("{flag}: {e}")
    })?;
    Ok(opts)
}

fn stream_options(a: &LoadArgs) -> anyhow::Result<StreamOptions> {
    let payload = match &a.payload {
        None => b"ping\n".to_vec(),
        Some(p) if p.starts_with('@') => text_or_file("--payload", p, loadgen::limits::BODY_FILE)?,
        Some(p) => unescape(p).map_err(|e| anyhow::anyhow!("--payload: {e}"))?,
    };
    if payload.is_empty() {
        bail!("--payload must not be empty");
    }
    let framing = match (&a.delimiter, a.frame_length) {
        (Some(_), Some(_)) => bail!("--delimiter and --frame-length contradict each other"),
        (Some(d), None) => {
            let d = unescape(d).map_err(|e| anyhow::anyhow!("--delimiter: {e}"))?;
            if d.is_empty() {
                bail!("--delimiter must not be empty");
            }
            Framing::Delimiter(d)
        }
        (None, Some(0)) => bail!("--frame-length must be at least 1"),
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::Length(payload.len()),
    };
    Ok(StreamOptions {
        payload,
        framing,
        expect: a.expect_body.as_ref().map(|b| b.as_bytes().to_vec()),
        dial_per_call: a.dial_per_call,
    })
}
