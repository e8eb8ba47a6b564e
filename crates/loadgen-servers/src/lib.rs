//! Built-in test servers for loadgen, so it runs out of the box.
//!
//! Every server is `run(listener, config, shutdown)`: it takes a bound listener (tests bind
//! `127.0.0.1:0`) and a shutdown future; when that resolves it stops accepting, lets each
//! connection finish the request it is serving, and returns. Each has a frame cap, an idle
//! timeout and a connection cap. [`spawn`] runs one on its own thread, for the demo and
//! for tests.
//!
//! - [`calc`]: the book's arithmetic service (JSON lines);
//! - [`http`]: HTTP/1.1 + h2c (+ TLS) with delay, status, size and error knobs, and the
//!   journey demo API ([`demo`]) under `/api/`; [`h3`]: the same over HTTP/3;
//! - [`echo`]: TCP and UDP echo;
//! - [`grpc`]: the calc service over gRPC, with server reflection;
//! - [`ws`]: WebSocket echo and publish.
//!
//! ```
//! // a calc server on a free loopback port, on its own thread, stopped gracefully
//! let server = loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, |listener, stop| {
//!     loadgen_servers::calc::run(listener, Default::default(), loadgen_servers::until_true(stop))
//! })
//! .unwrap();
//! assert_ne!(server.addr().port(), 0);
//! server.stop().unwrap();
//! ```

#![warn(missing_docs)]

pub mod calc;
pub mod demo;
pub mod echo;
pub mod grpc;
pub mod h3;
pub mod http;
pub mod idle;
mod rng;
mod timer;
pub mod ws;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

/// A server configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A delay distribution (or a duration in it) that does not parse.
    #[error(transparent)]
    Duration(#[from] loadgen::ConfigError),
    /// A certificate or key that does not load.
    #[error("{what}: {why}")]
    Tls {
        /// Which part (certificate, key, ...).
        what: &'static str,
        /// Why.
        why: String,
    },
}

/// Limits shared by the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// A connection idle this long is closed.
    pub idle_timeout: Duration,
    /// How long a shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// HTTP/2: streams a client may open at once on a connection
    /// (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            max_streams: 200,
        }
    }
}

/// A server running on its own thread.
pub struct Spawned {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Spawned {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shuts it down gracefully and waits for it.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        let _ = self.stop.send(true);
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// A future that resolves when `rx` turns true (or its sender is gone).
pub async fn until_true(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Binds `addr` and runs `server` on a new thread with a `threads`-worker runtime.
pub fn spawn<S, F>(addr: SocketAddr, threads: usize, server: S) -> io::Result<Spawned>
where
    S: FnOnce(tokio::net::TcpListener, watch::Receiver<bool>) -> F + Send + 'static,
    F: Future<Output = io::Result<()>> + Send + 'static,
{
    let rt = runtime(threads)?;
    let listener = {
        let _g = rt.enter();
        bind(addr)?
    };
    let addr = listener.local_addr()?;
    let (stop, rx) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("loadgen-server".into())
        .spawn(move || rt.block_on(server(listener, rx)))?;
    Ok(Spawned {
        addr,
        stop,
        thread: Some(thread),
    })
}

/// Accepts connections until `shutdown`, serving each with `serve(stream, stop)`: at most
/// `limits.max_connections` at once (more are closed as soon as they are accepted). On
/// shutdown it stops accepting, turns `stop` true so each connection ends after the request
/// it is serving, and waits for them up to `limits.shutdown_grace`.
pub async fn serve_connections<F, Fut>(
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    serve: F,
) -> io::Result<()>
where
    F: Fn(tokio::net::TcpStream, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // e.g. out of file descriptors: back off a little and go on
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    continue; // over the connection cap: dropped, so closed
                };
                let _ = stream.set_nodelay(true);
                let conn = serve(stream, stop_rx.clone());
                conns.spawn(async move {
                    conn.await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(limits.shutdown_grace, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
    Ok(())
}

/// Listen backlog: loopback load tests open connections in bursts.
pub const BACKLOG: u32 = 4096;

/// Binds a TCP listener with [`BACKLOG`] and `SO_REUSEADDR`. Must run inside a runtime.
pub fn bind(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// A runtime for a server: current-thread for 1, multi-thread otherwise.
pub fn runtime(threads: usize) -> io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("loadgen-server")
            .enable_all()
            .build()
    }
}
