//! A precise sleep for the HTTP server's `delay` knob. Tokio's timer rounds every sleep up
//! to its next millisecond tick, so `delay=1ms` answered in about 2 ms; here one thread
//! keeps the deadlines in a heap and waits for the earliest on a condition variable (a
//! futex with nanosecond timeouts), waking each task within tens of microseconds of its
//! deadline. A delay is ground truth for a test: it must be the delay asked for.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

struct Entry {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

struct Due {
    at: Instant,
    seq: u64,
    entry: Arc<Entry>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Heap {
    due: BinaryHeap<Reverse<Due>>,
    seq: u64,
}

struct Timer {
    heap: Mutex<Heap>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            heap: Mutex::new(Heap::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("loadgen-server-timer".into())
            .spawn(move || t.run())
            .expect("spawn the timer thread");
        t
    })
}

impl Timer {
    fn run(&self) {
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            while heap.due.peek().is_some_and(|d| d.0.at <= now) {
                let Reverse(d) = heap.due.pop().expect("peeked");
                d.entry.fired.store(true, Ordering::Release);
                let waker = d
                    .entry
                    .waker
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                if let Some(w) = waker {
                    w.wake();
                }
            }
            heap = match heap.due.peek().map(|d| d.0.at) {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    self.changed
                        .wait_timeout(heap, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.changed.wait(heap).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    fn add(&self, at: Instant, entry: Arc<Entry>) {
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = heap.due.peek().is_none_or(|d| at < d.0.at);
        heap.seq += 1;
        let seq = heap.seq;
        heap.due.push(Reverse(Due { at, seq, entry }));
        drop(heap);
        if earliest {
            self.changed.notify_one();
        }
    }
}

/// Sleeps for `d`, waking within tens of microseconds of the deadline.
pub fn sleep(d: Duration) -> Sleep {
    Sleep {
        at: Instant::now() + d,
        entry: None,
    }
}

/// The future of [`sleep`].
pub struct Sleep {
    at: Instant,
    entry: Option<Arc<Entry>>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        match &self.entry {
            Some(e) => {
                *e.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
                if e.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
            }
            None => {
                let e = Arc::new(Entry {
                    fired: AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                timer().add(self.at, e.clone());
                self.entry = Some(e);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_end_at_their_deadline_in_order() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t0 = Instant::now();
            let order = Arc::new(Mutex::new(Vec::new()));
            let tasks: Vec<_> = [3u64, 1, 2]
                .into_iter()
                .map(|ms| {
                    let order = order.clone();
                    tokio::spawn(async move {
                        sleep(Duration::from_millis(ms)).await;
                        assert!(t0.elapsed() >= Duration::from_millis(ms));
                        order.lock().unwrap().push(ms);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(*order.lock().unwrap(), vec![1, 2, 3]);
        });
    }
}
