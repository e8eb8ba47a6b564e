//! The calc server: the book's arithmetic service over newline-delimited JSON.
//!
//! A bad request line is answered with an error and the connection stays usable; a frame
//! over 64 KiB is answered with an error and the connection is closed; i64 overflow and
//! division by zero are answered with an error.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use loadgen::calc::proto::{self, MAX_FRAME};
use loadgen::frame::{FrameError, LineReader};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::Limits;

/// Serves calc on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(x) => x,
                    // e.g. out of file descriptors: back off a little and go on
                    Err(_) => { tokio::time::sleep(Duration::from_millis(5)).await; continue; }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    drop(stream); // over the connection cap: close at once
                    continue;
                };
                let stop = stop_rx.clone();
                conns.spawn(async move {
                    let _ = serve_conn(stream, limits.idle_timeout, stop).await;
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

async fn serve_conn(
    mut stream: TcpStream,
    idle: Duration,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
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
                Err(e) => proto::write_response(&mut out, 0, "", 0, Some(&e)),
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
