//! A shard-local connection pool with a cap, for callers that reuse connections.
//!
//! Single-threaded (`Cell`/`RefCell`), so taking and returning a connection costs no lock.
//! A [`Lease`] dropped without [`Lease::put_back`] closes its connection — which is what
//! must happen when the engine cancels a call at its timeout, because a late response
//! would otherwise be read as the answer to the next request.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::task::{Poll, Waker};

/// Connections to one target, at most `cap` open at once.
pub struct Pool<T> {
    idle: RefCell<Vec<T>>,
    open: Cell<u64>,
    cap: u64,
    waiters: RefCell<VecDeque<Waker>>,
}

/// A connection taken from a [`Pool`].
pub struct Lease<'a, T> {
    pool: &'a Pool<T>,
    item: Option<T>,
}

impl<T> Pool<T> {
    /// An empty pool that opens at most `cap` connections (at least one).
    pub fn new(cap: u64) -> Self {
        Pool {
            idle: RefCell::new(Vec::new()),
            open: Cell::new(0),
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
            if self.open.get() < self.cap {
                self.open.set(self.open.get() + 1);
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
            });
        }
        // we hold one of the `open` places while dialing; give it back on failure or drop
        let mut place = Lease {
            pool: self,
            item: None,
        };
        let conn = dial().await?;
        place.item = Some(conn);
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

impl<T> Lease<'_, T> {
    /// The connection.
    pub fn get_mut(&mut self) -> &mut T {
        self.item
            .as_mut()
            .expect("a lease holds a connection until it is dropped")
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
        });
    }
}
