//! The calc server: the book's arithmetic service over newline-delimited JSON.
//!
//! A bad request line is answered with an error and the connection stays usable; a frame
//! over 64 KiB is answered with an error and the connection is closed; i64 overflow and
//! division by zero are answered with an error.

use std::future::Future;
use std::io;
use std::time::Duration;

use loadgen::protocol::calc::proto::{self, MAX_FRAME};
use loadgen::protocol::frame::{FrameError, LineReader};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::Limits;
use crate::idle::IdleTimeout;

/// Serves calc on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    crate::serve_connections(listener, limits, shutdown, move |stream, stop| async move {
        let _ = serve_conn(stream, limits.idle_timeout, stop).await;
    })
    .await
}

async fn serve_conn(
    stream: TcpStream,
    idle: Duration,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    // a peer that sends and never reads stalls our writes: after `idle` it is dropped
    let mut stream = IdleTimeout::new(stream, idle);
    let mut reader = LineReader::new();
    let mut out = Vec::with_capacity(256);
    loop {
        if *stop.borrow_and_update() {
            return Ok(());
        }
        let frame = tokio::select! {
            r = tokio::time::timeout(idle, reader.next(&mut stream, MAX_FRAME)) => match r {
                Err(_) => return Ok(()), // idle
                Ok(f) => f,
            },
            _ = stop.changed() => return Ok(()),
        };
        out.clear();
        match frame {
            Ok(Some(f)) => match proto::parse_request(f) {
                Ok(req) => proto::answer(&mut out, &req),
                Err(e) => proto::write_response(&mut out, 0, "", 0, Some(&e.to_string())),
            },
            Ok(None) => return Ok(()),
            Err(FrameError::TooLong) => {
                proto::write_response(&mut out, 0, "", 0, Some("request frame over 64 KiB"));
                stream.write_all(&out).await?;
                return Ok(());
            }
            Err(FrameError::Truncated) => return Ok(()),
            Err(FrameError::Io(e)) => return Err(e),
        }
        stream.write_all(&out).await?;
    }
}
