//! The open-file limit: raised to its hard maximum at start (as Go programs do), and
//! checked against the connections a run will open, so that a run asked for more than
//! the process may open is refused with one line instead of failing call by call.

/// File descriptors kept free for everything but connections (stdio, files, timers,
/// epoll, the results writer).
const RESERVED: u64 = 64;

/// Raises the soft open-file limit to the hard one; returns the limit now in force.
pub fn raise_nofile() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                rl.rlim_cur = rl.rlim_max;
            }
        }
    }
    rl.rlim_cur
}

/// Connections this process may open at once under `limit`.
pub fn usable(limit: u64) -> u64 {
    limit.saturating_sub(RESERVED).max(1)
}
