//! TCP and UDP echo servers. The UDP one can drop every N-th datagram, so a test knows
//! exactly how many loads must time out.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

use crate::Limits;
use crate::idle::IdleTimeout;

/// Echoes every byte back, per connection, until `shutdown`.
pub async fn run_tcp(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    crate::serve_connections(listener, limits, shutdown, move |stream, stop| async move {
        let _ = echo_conn(stream, limits.idle_timeout, stop).await;
    })
    .await
}

async fn echo_conn(
    s: TcpStream,
    idle: Duration,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    // a peer that sends and never reads stalls our writes: after `idle` it is dropped
    let mut s = IdleTimeout::new(s, idle);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = s.read(&mut buf) => r?,
            _ = stop.changed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n]).await?;
    }
}

/// Echoes every datagram back to its sender until `shutdown`; with `drop_every = Some(n)`,
/// every n-th datagram (the n-th, 2n-th, ...) is not answered.
pub async fn run_udp(
    socket: UdpSocket,
    drop_every: Option<u64>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 65_536];
    let mut seen = 0u64;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (n, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(_) => continue, // e.g. ICMP errors from earlier sends
            },
        };
        seen += 1;
        if drop_every.is_some_and(|k| k > 0 && seen.is_multiple_of(k)) {
            continue;
        }
        let _ = socket.send_to(&buf[..n], peer).await;
    }
}
