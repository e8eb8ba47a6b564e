//! A shard-local connection pool with a cap, for callers that reuse connections.
//!
//! A call first takes a permit (tokio's [`Semaphore`]: FIFO, and a waiter that gives up
//! leaves in O(1), so the cost per call does not grow with the number waiting); with it,
//! it takes an idle connection or opens one. Open connections never exceed the cap: each
//! is held by a permit or idle. At most [`MAX_DIALING`] connections are being opened at
//! once, so a burst does not storm the target with connects (a loopback server's accept
//! queue overflows, and SYN retries cost a second).
//!
//! A [`Lease`] dropped without [`Lease::put_back`] closes its connection — which is what
//! must happen when the engine cancels a call at its timeout, because a late response
//! would otherwise be read as the answer to the next request.

use std::cell::{Cell, RefCell};
use std::future::Future;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Connections being opened at once, per pool, at most.
pub const MAX_DIALING: usize = 8;

/// How long the connections a pool opened took to open — TCP, TLS, and a protocol's own
/// handshake (WebSocket's upgrade, QUIC's) — as a histogram of µs to 1 % (the timeline's
/// precision: a tenth of a run-long histogram's memory), made on the first.
#[derive(Default)]
pub struct DialTimes(RefCell<Option<crate::record::hist::Hist>>);

impl DialTimes {
    /// Times a dial that started at `start` and succeeded now.
    pub fn record_since(&self, start: std::time::Instant) {
        let took = crate::engine::clock::now().saturating_duration_since(start);
        let mut h = self.0.borrow_mut();
        crate::record::hist::record(
            h.get_or_insert_with(crate::record::hist::new_interval_hist),
            took,
        );
    }

    /// Adds the times to `out`.
    pub fn add_into(&self, out: &mut crate::record::hist::Hist) {
        if let Some(h) = self.0.borrow().as_ref() {
            crate::record::hist::add(out, h);
        }
    }
}

/// Connections to one target, at most `cap` open at once.
pub struct Pool<T> {
    idle: RefCell<Vec<T>>,
    permits: Semaphore,
    dialing: Semaphore,
    open: Cell<u64>,
    cap: u64,
    /// How long its connections took to open.
    pub dial_times: DialTimes,
}

/// A connection taken from a [`Pool`].
pub struct Lease<'a, T> {
    pool: &'a Pool<T>,
    item: Option<T>,
    reused: bool,
    _permit: SemaphorePermit<'a>,
}

impl<T> Pool<T> {
    /// An empty pool that opens at most `cap` connections (at least one).
    pub fn new(cap: u64) -> Self {
        let cap = cap.clamp(1, Semaphore::MAX_PERMITS as u64);
        Pool {
            idle: RefCell::new(Vec::new()),
            permits: Semaphore::new(cap as usize),
            dialing: Semaphore::new(MAX_DIALING),
            open: Cell::new(0),
            cap,
            dial_times: DialTimes::default(),
        }
    }

    /// Connections open now (idle or leased).
    pub fn open(&self) -> u64 {
        self.open.get()
    }

    /// The most connections this pool opens.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// An idle connection, or a new one from `dial` if none is idle; waits (in FIFO
    /// order) while `cap` are leased.
    pub async fn get<E, F, Fut>(&self, dial: F) -> Result<Lease<'_, T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.take(dial, false).await
    }

    /// A new connection from `dial`, never an idle one (an idle one is closed to make
    /// room): for a retry after the server closed an idle connection, since the others
    /// it left idle are likely closed too.
    pub async fn get_fresh<E, F, Fut>(&self, dial: F) -> Result<Lease<'_, T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.take(dial, true).await
    }

    async fn take<E, F, Fut>(&self, dial: F, fresh: bool) -> Result<Lease<'_, T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        let mut lease = Lease {
            pool: self,
            item: None,
            reused: true,
            _permit: permit,
        };
        let idle = self.idle.borrow_mut().pop();
        if let Some(c) = idle {
            if !fresh {
                lease.item = Some(c);
                return Ok(lease);
            }
            drop(c);
            self.open.set(self.open.get() - 1);
        }
        let _dialing = self
            .dialing
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        // a connection may have come back while we waited for our turn to dial
        if !fresh && let Some(c) = self.idle.borrow_mut().pop() {
            lease.item = Some(c);
            return Ok(lease);
        }
        lease.reused = false;
        // a connect is dated by nothing but its completion: the engine must see it at once
        let _eager = crate::caller::reads::Eager::new();
        // boxed: a dial (connect, TLS handshake) is large and rare; inline, it would swell
        // the future of every call, and memory grows with the calls in flight
        let start = crate::engine::clock::now();
        let conn = Box::pin(dial()).await?;
        self.dial_times.record_since(start);
        self.open.set(self.open.get() + 1);
        lease.item = Some(conn);
        Ok(lease)
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
        }
    }
}

impl<T> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        // a connection still held is closed by dropping it; the permit goes back after
        if self.item.take().is_some() {
            self.pool.open.set(self.pool.open.get() - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn caps_reuses_and_closes() {
        rt().block_on(async {
            let pool: Pool<u32> = Pool::new(1);
            let l = pool.get(|| async { Ok::<u32, ()>(7) }).await.unwrap();
            assert!(!l.reused());
            assert_eq!(pool.open(), 1);
            l.put_back();
            assert_eq!(pool.open(), 1);
            let mut l = pool.get(|| async { Ok::<u32, ()>(8) }).await.unwrap();
            assert_eq!(*l.get_mut(), 7); // reused
            assert!(l.reused());
            drop(l); // closed
            assert_eq!(pool.open(), 0);
            let e = pool.get(|| async { Err::<u32, &str>("refused") }).await;
            assert!(e.is_err());
            assert_eq!(pool.open(), 0);
            assert_eq!(pool.permits.available_permits(), 1);
        });
    }

    #[test]
    fn waiters_are_served_in_order_and_a_cancelled_one_leaves_no_trace() {
        rt().block_on(async {
            let pool: Pool<u32> = Pool::new(1);
            let held = pool.get(|| async { Ok::<u32, ()>(1) }).await.unwrap();
            let mut cx = Context::from_waker(Waker::noop());
            let mut b = Box::pin(pool.get(|| async { Ok::<u32, ()>(2) }));
            let mut c = pin!(pool.get(|| async { Ok::<u32, ()>(3) }));
            assert!(b.as_mut().poll(&mut cx).is_pending());
            assert!(c.as_mut().poll(&mut cx).is_pending());
            drop(b); // B's call timed out while it waited
            held.put_back();
            match c.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(mut l)) => assert_eq!(*l.get_mut(), 1, "C gets the idle one"),
                _ => panic!("C is served"),
            }
        });
    }

    #[test]
    fn a_deep_queue_of_waiters_gives_up_cleanly() {
        // 100,000 waiters that give up (tokio's semaphore unlinks each in O(1))
        rt().block_on(async {
            let pool: Pool<u32> = Pool::new(1);
            let held = pool.get(|| async { Ok::<u32, ()>(1) }).await.unwrap();
            let mut cx = Context::from_waker(Waker::noop());
            let mut waiting: Vec<_> = (0..100_000)
                .map(|_| Box::pin(pool.get(|| async { Ok::<u32, ()>(9) })))
                .collect();
            for w in &mut waiting {
                assert!(w.as_mut().poll(&mut cx).is_pending());
            }
            waiting.clear();
            held.put_back();
            assert_eq!(pool.permits.available_permits(), 1);
        });
    }

    #[test]
    fn dials_in_flight_are_capped() {
        rt().block_on(async {
            let pool: Pool<u32> = Pool::new(100);
            let mut cx = Context::from_waker(Waker::noop());
            let mut dials: Vec<_> = (0..20)
                .map(|_| Box::pin(pool.get(std::future::pending::<Result<u32, ()>>)))
                .collect();
            for d in &mut dials {
                assert!(d.as_mut().poll(&mut cx).is_pending());
            }
            assert_eq!(pool.dialing.available_permits(), 0);
            assert_eq!(pool.permits.available_permits(), 80);
            dials.clear();
            assert_eq!(pool.dialing.available_permits(), MAX_DIALING);
            assert_eq!(pool.permits.available_permits(), 100);
        });
    }
}
