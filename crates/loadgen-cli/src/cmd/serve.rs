//! `loadgen serve calc`: run a built-in server until a signal.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use anyhow::Context;
use loadgen_servers::Limits;

use super::signals::shutdown_signal;
use crate::args::{ServeArgs, ServeCommand};

pub fn serve(cmd: ServeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ServeCommand::Calc(a) => {
            let addr = listen_addr(&a.listen)?;
            let limits = limits(&a);
            let rt = loadgen_servers::runtime(a.threads as usize)?;
            rt.block_on(async {
                let listener = loadgen_servers::bind(addr)
                    .with_context(|| format!("cannot listen on {addr}"))?;
                eprintln!(
                    "loadgen: calc server listening on {}",
                    listener.local_addr()?
                );
                loadgen_servers::calc::run(listener, limits, shutdown_signal()).await?;
                eprintln!("loadgen: calc server stopped");
                Ok(ExitCode::SUCCESS)
            })
        }
    }
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
