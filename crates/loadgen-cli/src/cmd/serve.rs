//! `loadgen serve calc|http|echo|grpc|ws`: run a built-in test server until a signal
//! (SIGINT, SIGTERM, SIGQUIT or SIGHUP), then stop it gracefully.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use anyhow::Context;
use loadgen_servers::Limits;
use loadgen_servers::http::{Behaviour, Delay};

use super::signals::shutdown_signal;
use crate::args::{
    ServeArgs, ServeCommand, ServeEchoArgs, ServeGrpcArgs, ServeHttpArgs, ServeTlsArgs, ServeWsArgs,
};

/// Runs the server `cmd` names.
pub fn serve(cmd: ServeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ServeCommand::Http(a) => serve_http(a),
        ServeCommand::Echo(a) => serve_echo(a),
        ServeCommand::Calc(a) => serve_calc(a),
        ServeCommand::Grpc(a) => serve_grpc(a),
        ServeCommand::Ws(a) => serve_ws(a),
    }
}

fn serve_ws(a: ServeWsArgs) -> anyhow::Result<ExitCode> {
    let addr = listen_addr(a.common.listen.as_deref().unwrap_or("127.0.0.1:8765"))?;
    let limits = limits(&a.common);
    let knobs = loadgen_servers::ws::Knobs {
        delay: Delay::parse(&a.delay).context("--delay")?,
        publish: a.publish,
        echo: !a.no_echo,
    };
    let tls = tls_config(&a.tls)?;
    loadgen_servers::runtime(a.common.threads as usize)?.block_on(async {
        let listener =
            loadgen_servers::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        crate::note!(
            "loadgen: ws server listening on {} ({scheme})",
            listener.local_addr()?
        );
        loadgen_servers::ws::run(listener, limits, knobs, tls, shutdown_signal()).await?;
        crate::note!("loadgen: ws server stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn serve_grpc(a: ServeGrpcArgs) -> anyhow::Result<ExitCode> {
    let addr = listen_addr(a.common.listen.as_deref().unwrap_or("127.0.0.1:50051"))?;
    let limits = limits(&a.common);
    let knobs = loadgen_servers::grpc::Knobs {
        delay: Delay::parse(&a.delay).context("--delay")?,
        error_rate: a.error_rate,
    };
    let tls = tls_config(&a.tls)?;
    loadgen_servers::runtime(a.common.threads as usize)?.block_on(async {
        let listener =
            loadgen_servers::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let scheme = if tls.is_some() { "grpcs" } else { "grpc" };
        crate::note!(
            "loadgen: grpc server listening on {} ({scheme}, calc.Calc with reflection)",
            listener.local_addr()?
        );
        loadgen_servers::grpc::run(listener, limits, knobs, tls, shutdown_signal())
            .await
            .map_err(|e| anyhow::anyhow!("grpc server: {e}"))?;
        crate::note!("loadgen: grpc server stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn serve_calc(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let addr = listen_addr(a.listen.as_deref().unwrap_or("127.0.0.1:7070"))?;
    let limits = limits(&a);
    loadgen_servers::runtime(a.threads as usize)?.block_on(async {
        let listener =
            loadgen_servers::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        crate::note!(
            "loadgen: calc server listening on {}",
            listener.local_addr()?
        );
        loadgen_servers::calc::run(listener, limits, shutdown_signal()).await?;
        crate::note!("loadgen: calc server stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn serve_http(a: ServeHttpArgs) -> anyhow::Result<ExitCode> {
    let addr = listen_addr(a.common.listen.as_deref().unwrap_or("127.0.0.1:8080"))?;
    let limits = Limits {
        max_streams: a.max_streams,
        ..limits(&a.common)
    };
    let behaviour = Behaviour {
        delay: Delay::parse(&a.delay).context("--delay")?,
        status: a.status,
        size: a.size,
        error_rate: a.error_rate,
        close: a.close,
    };
    let tls = tls_config(&a.tls)?;
    let quic = if a.http3 {
        let cfg = match &tls {
            Some(t) => t.clone(),
            None => {
                let (cert, key) = loadgen_servers::h3::self_signed()?;
                loadgen_servers::http::tls_config(cert.as_bytes(), key.as_bytes(), None)?
            }
        };
        Some(loadgen_servers::h3::quic_config(&cfg, &limits)?)
    } else {
        None
    };
    let self_signed = tls.is_none();
    loadgen_servers::runtime(a.common.threads as usize)?.block_on(async {
        let listener =
            loadgen_servers::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        crate::note!("loadgen: http server listening on {local} ({scheme}, h1 + h2)");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let h3 = match quic {
            None => None,
            Some(cfg) => {
                // the same port, on UDP
                let udp = std::net::UdpSocket::bind(local)
                    .with_context(|| format!("cannot bind UDP {local} for HTTP/3"))?;
                crate::note!(
                    "loadgen: http3 server listening on {local} (udp, h3{})",
                    if self_signed {
                        ", self-signed certificate"
                    } else {
                        ""
                    }
                );
                Some(tokio::spawn(loadgen_servers::h3::run(
                    udp,
                    limits,
                    behaviour.clone(),
                    cfg,
                    loadgen_servers::until_true(stop_rx),
                )))
            }
        };
        loadgen_servers::http::run(listener, limits, behaviour, tls, shutdown_signal()).await?;
        let _ = stop_tx.send(true);
        if let Some(h) = h3 {
            let _ = h.await;
        }
        crate::note!("loadgen: http server stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn serve_echo(a: ServeEchoArgs) -> anyhow::Result<ExitCode> {
    if a.tcp.is_none() && a.udp.is_none() {
        anyhow::bail!("serve echo needs --tcp ADDR, --udp ADDR or both");
    }
    let limits = Limits {
        max_connections: a.max_connections as usize,
        idle_timeout: a.idle_timeout,
        ..Limits::default()
    };
    let tcp = a.tcp.as_deref().map(listen_addr).transpose()?;
    let udp = a.udp.as_deref().map(listen_addr).transpose()?;
    loadgen_servers::runtime(a.threads as usize)?.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop = || loadgen_servers::until_true(stop_rx.clone());
        let mut tasks = Vec::new();
        if let Some(addr) = tcp {
            let l =
                loadgen_servers::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
            crate::note!("loadgen: tcp echo listening on {}", l.local_addr()?);
            tasks.push(tokio::spawn(loadgen_servers::echo::run_tcp(
                l,
                limits,
                stop(),
            )));
        }
        if let Some(addr) = udp {
            let s = tokio::net::UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot bind {addr}"))?;
            crate::note!("loadgen: udp echo listening on {}", s.local_addr()?);
            tasks.push(tokio::spawn(loadgen_servers::echo::run_udp(
                s,
                a.udp_drop_every,
                stop(),
            )));
        }
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        crate::note!("loadgen: echo server stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn limits(a: &ServeArgs) -> Limits {
    Limits {
        max_connections: a.max_connections as usize,
        idle_timeout: a.idle_timeout,
        ..Limits::default()
    }
}

fn listen_addr(s: &str) -> anyhow::Result<SocketAddr> {
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("--listen '{s}' is not a HOST:PORT address"))
}

/// The server TLS config of `--tls-cert`, `--tls-key` and `--tls-client-ca`, if given.
fn tls_config(a: &ServeTlsArgs) -> anyhow::Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    Ok(match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => {
            let cert = crate::config::protocol::read_pem(c)
                .with_context(|| format!("--tls-cert {}: cannot read", c.display()))?;
            let key = crate::config::protocol::read_pem(k)
                .with_context(|| format!("--tls-key {}: cannot read", k.display()))?;
            let ca = a
                .tls_client_ca
                .as_ref()
                .map(|p| {
                    crate::config::protocol::read_pem(p)
                        .with_context(|| format!("--tls-client-ca {}: cannot read", p.display()))
                })
                .transpose()?;
            let cfg = loadgen_servers::http::tls_config(&cert, &key, ca.as_deref());
            Some(cfg.context(if ca.is_some() {
                "--tls-cert/--tls-key/--tls-client-ca"
            } else {
                "--tls-cert/--tls-key"
            })?)
        }
        _ => None,
    })
}
