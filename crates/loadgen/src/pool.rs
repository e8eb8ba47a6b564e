//! A shard-local connection pool with a cap, for callers that reuse connections.
//!
//! Single-threaded (`Cell`/`RefCell`), so taking and returning a connection costs no lock.
//! At most [`MAX_DIALING`] connections are being opened at once: when a burst finds no
//! idle connection, the calls beyond that wait for the next connection to come free or
//! open, instead of storming the target with connects (a loopback server's accept queue
//! overflows, and SYN retries cost a second).
//! A [`Lease`] dropped without [`Lease::put_back`] closes its connection — which is what
//! must happen when the engine cancels a call at its timeout, because a late response
//! would otherwise be read as the answer to the next request.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::task::{Poll, Waker};

/// Connections being opened at once, per pool, at most.
pub const MAX_DIALING: u64 = 8;

/// Connections to one target, at most `cap` open at once.
pub struct Pool<T> {
    idle: RefCell<Vec<T>>,
    open: Cell<u64>,
    dialing: Cell<u64>,
    cap: u64,
    waiters: RefCell<VecDeque<Waker>>,
}

/// A connection taken from a [`Pool`].
pub struct Lease<'a, T> {
    pool: &'a Pool<T>,
    item: Option<T>,
    reused: bool,
}

impl<T> Pool<T> {
    /// An empty pool that opens at most `cap` connections (at least one).
    pub fn new(cap: u64) -> Self {
        Pool {
            idle: RefCell::new(Vec::new()),
            open: Cell::new(0),
            dialing: Cell::new(0),
            cap: cap.max(1),
            waiters: RefCell::new(VecDeque::new()),
        }
    }

    /// Connections open now (idle or leased).
    pub fn open(&self) -> u64 {
        self.open.get()
    }

    /// An idle connection, or a new one from `dial` if fewer than `cap` are open, or the
    /// next one returned.
    pub async fn get<E, F, Fut>(&self, dial: F) -> Result<Lease<'_, T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let reused = poll_fn(|cx| {
            if let Some(c) = self.idle.borrow_mut().pop() {
                return Poll::Ready(Some(c));
            }
            if self.open.get() < self.cap && self.dialing.get() < MAX_DIALING {
                self.open.set(self.open.get() + 1);
                self.dialing.set(self.dialing.get() + 1);
                return Poll::Ready(None);
            }
            self.waiters.borrow_mut().push_back(cx.waker().clone());
            Poll::Pending
        })
        .await;
        if let Some(c) = reused {
            return Ok(Lease {
                pool: self,
                item: Some(c),
                reused: true,
            });
        }
        // we hold one of the `open` places while dialing; give it back on failure or drop
        let mut place = Lease {
            pool: self,
            item: None,
            reused: false,
        };
        let dialing = Dialing(self);
        let conn = dial().await;
        drop(dialing);
        place.item = Some(conn?);
        Ok(place)
    }

    fn release(&self) {
        self.open.set(self.open.get().saturating_sub(1));
        self.wake_one();
    }

    fn wake_one(&self) {
        if let Some(w) = self.waiters.borrow_mut().pop_front() {
            w.wake();
        }
    }
}

/// Counts a dial in progress; dropped when it ends (or is cancelled).
struct Dialing<'a, T>(&'a Pool<T>);

impl<T> Drop for Dialing<'_, T> {
    fn drop(&mut self) {
        self.0.dialing.set(self.0.dialing.get() - 1);
        self.0.wake_one();
    }
}

impl<T> Lease<'_, T> {
    /// The connection.
    pub fn get_mut(&mut self) -> &mut T {
        self.item
            .as_mut()
            .expect("a lease holds a connection until it is dropped")
    }

    /// True if the connection was used before (it may have been closed by the peer
    /// while idle).
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Returns a healthy connection to the pool for reuse.
    pub fn put_back(mut self) {
        if let Some(c) = self.item.take() {
            self.pool.idle.borrow_mut().push(c);
            self.pool.wake_one();
            std::mem::forget(self);
        }
    }
}

impl<T> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        // the connection (if any) is closed by dropping it
        self.item = None;
        self.pool.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_reuses_and_closes() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let pool: Pool<u32> = Pool::new(1);
            let dial = || async { Ok::<u32, ()>(7) };
            let l = pool.get(dial).await.unwrap();
            assert_eq!(pool.open(), 1);
            l.put_back();
            assert_eq!(pool.open(), 1);
            let mut l = pool.get(|| async { Ok::<u32, ()>(8) }).await.unwrap();
            assert_eq!(*l.get_mut(), 7); // reused
            drop(l); // closed
            assert_eq!(pool.open(), 0);
            let e = pool.get(|| async { Err::<u32, &str>("refused") }).await;
            assert!(e.is_err());
            assert_eq!(pool.open(), 0);
            assert_eq!(pool.dialing.get(), 0);
            // dials in flight are capped; the rest wait for a connection
            let big: Pool<u32> = Pool::new(100);
            let mut leases = Vec::new();
            for i in 0..MAX_DIALING as u32 {
                leases.push(big.get(|| async move { Ok::<u32, ()>(i) }).await.unwrap());
            }
            assert_eq!(big.open(), MAX_DIALING);
            assert_eq!(big.dialing.get(), 0);
        });
    }
}
