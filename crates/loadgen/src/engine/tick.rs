//! Batched ticks: the runner's thread sleeps from one pacing tick to the next, and reads
//! every response that arrived meanwhile at once.
//!
//! Waiting in `epoll_wait` (tokio's park), the thread wakes for every response; at a fixed
//! rate that is a second wake-up per load on top of the one that sends it, and on a VM a
//! wake-up costs as much as the call itself. When the caller stamps each response with the
//! kernel's receive time ([`Caller::stamps_arrivals`](crate::Caller::stamps_arrivals)),
//! reading it late changes nothing, so the dispatcher asks for a tick instead: just before
//! the runtime would park, [`before_park`] sleeps the thread until the tick with
//! `clock_nanosleep` (socket readiness does not interrupt it), then wakes the dispatcher;
//! the runtime then polls the sockets once without blocking and runs every task whose
//! response came in. If the runtime never parks (it always has work), a tokio timer one
//! millisecond later wakes the dispatcher instead.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

use super::clock;
use super::pacer::Pacer;
use crate::caller::reads;

thread_local! {
    static TICK: Tick = const {
        Tick {
            at: Cell::new(None),
            waker: RefCell::new(None),
            alarm: RefCell::new(None),
        }
    };
}

struct Tick {
    at: Cell<Option<Instant>>,
    waker: RefCell<Option<Waker>>,
    /// A timer in the runtime's epoll set, to end its wait at the tick while `eager`.
    alarm: RefCell<Option<Pacer>>,
}

/// Makes this thread batch its reads: gives it the timer that ends the runtime's waits at
/// the tick while an [`reads::Eager`] wait is in progress. Call inside the runner's runtime,
/// before the caller opens connections.
pub(crate) fn install() {
    reads::set_batching(true);
    let p = Pacer::new(true);
    if p.is_precise() {
        TICK.with(|t| *t.alarm.borrow_mut() = Some(p));
    }
}

/// The runtime's `on_thread_park` hook: sleeps until the tick asked for, if any, then
/// wakes its waiter — unless an [`reads::Eager`] wait is in progress: then it lets the runtime
/// wait for events, with the alarm set for the tick.
pub(crate) fn before_park() {
    TICK.with(|t| {
        let Some(at) = t.at.get() else { return };
        if reads::eager_waits() > 0 {
            if clock::now() < at {
                if let Some(alarm) = t.alarm.borrow().as_ref() {
                    alarm.arm_at(at);
                }
                return;
            }
        } else {
            sleep_until(at);
        }
        t.at.set(None);
        if let Some(w) = t.waker.borrow_mut().take() {
            w.wake();
        }
    });
}

/// Waits until `at`, with the thread asleep (not waiting for sockets) once nothing else
/// can run; `backstop` (reset here) wakes the waiter a millisecond later if the runtime
/// never parks.
pub(crate) async fn until(at: Instant, mut backstop: Pin<&mut Sleep>) {
    backstop
        .as_mut()
        .reset((at + Duration::from_millis(1)).into());
    poll_fn(|cx| {
        if clock::now() >= at || backstop.as_mut().poll(cx).is_ready() {
            TICK.with(|t| {
                t.at.set(None);
                t.waker.borrow_mut().take();
            });
            return Poll::Ready(());
        }
        TICK.with(|t| {
            t.at.set(Some(at));
            *t.waker.borrow_mut() = Some(cx.waker().clone());
        });
        Poll::Pending
    })
    .await
}

/// Sleeps the thread until `at` on the monotonic clock.
fn sleep_until(at: Instant) {
    #[cfg(target_os = "linux")]
    {
        // Instant is CLOCK_MONOTONIC on Linux: sleep to the absolute time, immune to
        // the time spent between computing and sleeping
        let now = Instant::now();
        if at <= now {
            return;
        }
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime fills the timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let target = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32) + (at - now);
        let abs = libc::timespec {
            tv_sec: target.as_secs() as libc::time_t,
            tv_nsec: target.subsec_nanos() as libc::c_long,
        };
        // SAFETY: an absolute sleep on a valid clock with a valid timespec.
        unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &abs,
                std::ptr::null_mut(),
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
}
