//! The dispatcher's pacing timer.
//!
//! tokio's timer wheel has 1 ms granularity: loads would leave up to a millisecond late, in
//! bursts. On Linux a `timerfd` registered with the runtime's epoll wakes the dispatcher
//! within tens of microseconds; wake-ups are spaced at least [`QUANTUM`] apart, and every
//! load that is due at a wake-up goes out in that batch. Elsewhere (or if the timerfd
//! cannot be made) the tokio timer is used.

use std::time::{Duration, Instant};

/// Default minimum spacing of two dispatcher wake-ups (`Plan::quantum`): at most 10,000
/// wake-ups per second per runner, however high the rate.
pub const QUANTUM: Duration = Duration::from_micros(100);

/// The smallest quantum `--pacing-quantum auto` takes: below it, send lag is set by how
/// late the thread wakes, not by the quantum (measured: 50 µs against nginx gave the same
/// lag p99 as 100 µs, 0.20 vs 0.18 ms, for the same CPU or more).
pub const AUTO_MIN: Duration = Duration::from_micros(100);
/// The largest quantum `--pacing-quantum auto` takes.
pub const AUTO_MAX: Duration = Duration::from_millis(2);

/// The quantum `auto` takes for a median service time `p50`: a fifth of it, within
/// [`AUTO_MIN`]..=[`AUTO_MAX`] (loads wait a tick at most: their send lag stays a small
/// share of what a call takes anyway).
pub fn auto_quantum(p50: Duration) -> Duration {
    (p50 / 5).clamp(AUTO_MIN, AUTO_MAX)
}

/// A one-shot timer that the dispatcher re-arms for the next due load.
pub enum Pacer {
    /// Millisecond-grained tokio timer.
    Tokio,
    /// Microsecond-grained Linux timerfd.
    #[cfg(target_os = "linux")]
    TimerFd(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>),
}

impl Pacer {
    /// The precise timer when available, else the tokio timer. Must be called inside the
    /// runner's runtime.
    pub fn new(precise: bool) -> Pacer {
        #[cfg(target_os = "linux")]
        if precise && let Some(fd) = linux::timerfd() {
            // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and the
            // same for the AsyncFd's whole life.
            let afd = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
            };
            if let Ok(afd) = afd {
                linux::set_timer_slack();
                return Pacer::TimerFd(afd);
            }
        }
        let _ = precise;
        Pacer::Tokio
    }

    /// True for the microsecond timer.
    pub fn is_precise(&self) -> bool {
        !matches!(self, Pacer::Tokio)
    }

    /// Arms the microsecond timer to fire at `at` without waiting for it: the runtime's
    /// next wait for events then ends at `at` at the latest. No-op for the tokio timer.
    pub fn arm_at(&self, at: Instant) {
        #[cfg(target_os = "linux")]
        if let Pacer::TimerFd(afd) = self {
            linux::arm(afd.get_ref(), at.saturating_duration_since(Instant::now()));
        }
        let _ = at;
    }

    /// Waits until `at` (returns at once if it has passed).
    pub async fn sleep_until(&mut self, at: Instant) {
        match self {
            Pacer::Tokio => tokio::time::sleep_until(at.into()).await,
            #[cfg(target_os = "linux")]
            Pacer::TimerFd(afd) => {
                let now = Instant::now();
                if at <= now {
                    return;
                }
                if !linux::arm(afd.get_ref(), at - now) {
                    return tokio::time::sleep_until(at.into()).await;
                }
                loop {
                    let Ok(mut guard) = afd.readable().await else {
                        return tokio::time::sleep_until(at.into()).await;
                    };
                    let fired = linux::drain(guard.get_inner());
                    // drained either way: the next wait needs the next expiry's edge (not a
                    // read that would only say EAGAIN)
                    guard.clear_ready();
                    if fired {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    pub fn timerfd() -> Option<OwnedFd> {
        // SAFETY: plain syscall; a non-negative result is a new fd that we own.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        // SAFETY: fd is a fresh descriptor owned by nobody else.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Lets the kernel fire timers of this thread without the default 50 µs slack.
    pub fn set_timer_slack() {
        // SAFETY: prctl with PR_SET_TIMERSLACK only changes this thread's timer slack.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
        }
    }

    /// Arms a one-shot expiry `after` from now.
    pub fn arm(fd: &OwnedFd, after: Duration) -> bool {
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: valid fd, valid pointer to an initialized itimerspec, null old value.
        unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) == 0 }
    }

    /// Reads the expiry count; true if the timer fired.
    pub fn drain(fd: &OwnedFd) -> bool {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local buffer of 8 bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        n == 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auto_quantum_is_a_fifth_of_the_median_within_bounds() {
        let us = Duration::from_micros;
        for (p50, q) in [
            (us(10), AUTO_MIN),
            (us(250), AUTO_MIN),
            (us(500), AUTO_MIN),
            (us(1_000), us(200)),
            (us(5_000), us(1_000)),
            (us(10_000), AUTO_MAX),
            (Duration::from_secs(3), AUTO_MAX),
        ] {
            assert_eq!(auto_quantum(p50), q, "{p50:?}");
        }
    }

    #[test]
    fn precise_timer_waits_at_least_until_the_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut p = Pacer::new(true);
            for us in [0u64, 50, 300, 2000] {
                let at = Instant::now() + Duration::from_micros(us);
                p.sleep_until(at).await;
                assert!(Instant::now() >= at);
            }
        });
    }
}
