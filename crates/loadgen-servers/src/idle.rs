//! An I/O wrapper that fails a connection when neither a read nor a write has made
//! progress for the idle timeout — whatever the peer does: stays silent, sends a body a
//! byte a minute, or sends and never reads (so the server's writes block). A slow peer
//! cannot hold a connection slot for longer than that. With a [`Busy`] counter (HTTP), a
//! connection that is serving a request (a response delayed on purpose) is not idle while
//! it waits to read; a blocked write still is.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `inner`, failing with `TimedOut` after `idle` without progress.
pub struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    busy: Option<Busy>,
}

/// Counts the requests a connection is serving; see [`IdleTimeout::with_busy`].
#[derive(Debug, Clone, Default)]
pub struct Busy(Arc<AtomicUsize>);

impl Busy {
    /// Marks one request in flight until the guard is dropped.
    pub fn serving(&self) -> BusyGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        BusyGuard(self.0.clone())
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

/// One request in flight, from [`Busy::serving`].
#[derive(Debug)]
pub struct BusyGuard(Arc<AtomicUsize>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S> IdleTimeout<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            busy: None,
        }
    }

    /// Wraps `inner`; while `busy` counts a request in flight, waiting to read is not idle.
    pub fn with_busy(inner: S, idle: Duration, busy: Busy) -> Self {
        IdleTimeout {
            busy: Some(busy),
            ..IdleTimeout::new(inner, idle)
        }
    }

    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// `Pending` from the inner stream: an error once the idle time has run out.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "idle connection",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                self.progressed();
                Poll::Ready(r)
            }
            Poll::Pending if self.busy.as_ref().is_some_and(Busy::any) => {
                self.progressed();
                Poll::Pending
            }
            Poll::Pending => self.pending(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                self.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => self.pending(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_stalled_write_times_out() {
        // a peer that never reads: the pipe fills, the write stalls, then fails
        let (a, _b) = tokio::io::duplex(64);
        let mut s = IdleTimeout::new(a, Duration::from_secs(5));
        let e = s.write_all(&[0u8; 1 << 20]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_keeps_it_alive() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut s = IdleTimeout::new(a, Duration::from_secs(5));
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            b.write_all(b"x").await.unwrap();
            let mut one = [0u8; 1];
            s.read_exact(&mut one).await.unwrap();
        }
        let mut one = [0u8; 1];
        assert_eq!(
            s.read(&mut one).await.unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
    }

    #[tokio::test(start_paused = true)]
    async fn serving_a_request_is_not_idle() {
        let (a, mut b) = tokio::io::duplex(64);
        let busy = Busy::default();
        let mut s = IdleTimeout::with_busy(a, Duration::from_secs(5), busy.clone());
        let guard = busy.serving();
        let mut one = [0u8; 1];
        // a response delayed 60 s: the read waits, not idle
        let read = tokio::time::timeout(Duration::from_secs(60), s.read(&mut one)).await;
        assert!(read.is_err(), "still waiting, not failed");
        drop(guard);
        b.write_all(b"x").await.unwrap();
        s.read_exact(&mut one).await.unwrap();
        assert_eq!(
            s.read(&mut one).await.unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
    }
}
