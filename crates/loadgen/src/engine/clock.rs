//! The engine's one clock. It is tokio's, so tests that pause tokio's time (and advance
//! it) drive the whole engine — dispatcher, workers, timeouts, grace — without sleeping;
//! outside such tests it is the monotonic clock itself.

use std::time::Instant;

/// Now, on the engine's clock.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
