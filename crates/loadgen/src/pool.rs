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

/// Tasks waiting for a connection, woken one at a time.
///
/// A waiter that gives up (its call was cancelled at the timeout) takes its waker out; if
/// it had already been woken, it passes the wake-up on, so no wake-up is ever lost on a
/// task that stopped waiting.
#[derive(Default)]
pub struct WaitQueue {
    q: RefCell<VecDeque<Waker>>,
}

impl WaitQueue {
    /// Queues `w` once (a task polled again does not queue twice).
    pub fn register(&self, w: &Waker) {
        let mut q = self.q.borrow_mut();
        if !q.iter().any(|x| x.will_wake(w)) {
            q.push_back(w.clone());
        }
    }

    /// Wakes the longest waiter.
    pub fn wake_one(&self) {
        let w = self.q.borrow_mut().pop_front();
        if let Some(w) = w {
            w.wake();
        }
    }

    /// `w` got what it waited for: drop its entry, if any.
    fn done(&self, w: &Waker) {
        self.q.borrow_mut().retain(|x| !x.will_wake(w));
    }

    /// `w` stopped waiting: drop its entry, or pass on the wake-up it already took.
    fn cancel(&self, w: &Waker) {
        let mut q = self.q.borrow_mut();
        let before = q.len();
        q.retain(|x| !x.will_wake(w));
        let queued = q.len() != before;
        drop(q);
        if !queued {
            self.wake_one();
        }
    }

    /// Waits until `ready` returns `Some`, queued behind earlier waiters.
    pub async fn wait_for<R>(&self, mut ready: impl FnMut() -> Option<R>) -> R {
        struct Waiting<'a> {
            queue: &'a WaitQueue,
            waker: Option<Waker>,
        }
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                if let Some(w) = self.waker.take() {
                    self.queue.cancel(&w);
                }
            }
        }
        let mut guard = Waiting {
            queue: self,
            waker: None,
        };
        poll_fn(|cx| match ready() {
            Some(r) => {
                if let Some(w) = guard.waker.take() {
                    self.done(&w);
                }
                Poll::Ready(r)
            }
            None => {
                self.register(cx.waker());
                guard.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Connections being opened at once, per pool, at most.
pub const MAX_DIALING: u64 = 8;

/// Connections to one target, at most `cap` open at once.
pub struct Pool<T> {
    idle: RefCell<Vec<T>>,
    open: Cell<u64>,
    dialing: Cell<u64>,
    cap: u64,
    waiters: WaitQueue,
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
            waiters: WaitQueue::default(),
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
        let reused = self
            .waiters
            .wait_for(|| {
                if let Some(c) = self.idle.borrow_mut().pop() {
                    return Some(Some(c));
                }
                if self.open.get() < self.cap && self.dialing.get() < MAX_DIALING {
                    self.open.set(self.open.get() + 1);
                    self.dialing.set(self.dialing.get() + 1);
                    return Some(None);
                }
                None
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
        self.waiters.wake_one();
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

    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_waiter_that_gives_up_passes_its_wake_up_on() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let pool: Pool<u32> = Pool::new(1);
            let held = pool.get(|| async { Ok::<u32, ()>(1) }).await.unwrap();
            let (wb, wc) = (
                Arc::new(Count(AtomicUsize::new(0))),
                Arc::new(Count(AtomicUsize::new(0))),
            );
            let (kb, kc) = (Waker::from(wb.clone()), Waker::from(wc.clone()));
            let mut fb = Box::pin(pool.get(|| async { Ok::<u32, ()>(2) }));
            let mut fc = Box::pin(pool.get(|| async { Ok::<u32, ()>(3) }));
            assert!(
                fb.as_mut()
                    .poll(&mut std::task::Context::from_waker(&kb))
                    .is_pending()
            );
            assert!(
                fb.as_mut()
                    .poll(&mut std::task::Context::from_waker(&kb))
                    .is_pending()
            );
            assert!(
                fc.as_mut()
                    .poll(&mut std::task::Context::from_waker(&kc))
                    .is_pending()
            );
            held.put_back(); // wakes B, the longest waiter (queued once though polled twice)
            assert_eq!((wb.0.load(SeqCst), wc.0.load(SeqCst)), (1, 0));
            drop(fb); // B's call timed out before it took the connection
            assert_eq!(wc.0.load(SeqCst), 1, "C is woken instead");
            match fc.as_mut().poll(&mut std::task::Context::from_waker(&kc)) {
                Poll::Ready(Ok(mut l)) => assert_eq!(*l.get_mut(), 1),
                _ => panic!("C gets the idle connection"),
            }
        });
    }

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
