//! How a generator thread reads responses — the part of the caller contract that the
//! protocols' sockets consult, and that the engine sets (the protocols do not reach into
//! the engine's pacing; see `engine::tick`).
//!
//! - [`batching`]: the thread reads responses in batches at its pacing ticks, so sockets
//!   ask the kernel for receive timestamps and reads date responses by them;
//! - [`prompt`]: for now the thread reads responses as they arrive (saturated: no tick
//!   to wait for), so a plain read, dated by the caller's clock, is enough;
//! - [`Eager`]: a wait that no timestamp will date (a connect, a blocked write) is in
//!   progress: the thread must not sleep through it.

use std::cell::Cell;

thread_local! {
    static BATCHING: Cell<bool> = const { Cell::new(false) };
    static PROMPT: Cell<bool> = const { Cell::new(false) };
    static EAGER: Cell<u32> = const { Cell::new(0) };
}

/// True on a generator thread that batches its reads: only then do sockets ask the kernel
/// for receive timestamps (which cost a little per packet and per read).
pub fn batching() -> bool {
    BATCHING.get()
}

/// True while the thread reads responses as they arrive though it batches: reads need no
/// timestamps.
pub fn prompt() -> bool {
    PROMPT.get()
}

/// While one lives, the thread does not sleep through a tick: some task waits for an
/// event that must be seen when it happens (a connection being opened, a write the socket
/// could not take).
pub struct Eager(());

impl Eager {
    /// Marks an event-driven wait as in progress.
    pub fn new() -> Eager {
        EAGER.set(EAGER.get() + 1);
        Eager(())
    }
}

impl Default for Eager {
    fn default() -> Self {
        Eager::new()
    }
}

impl Drop for Eager {
    fn drop(&mut self) {
        EAGER.set(EAGER.get().saturating_sub(1));
    }
}

/// Event-driven waits in progress on this thread (see [`Eager`]).
pub(crate) fn eager_waits() -> u32 {
    EAGER.get()
}

/// Makes this thread batch its reads (the engine, before the caller opens connections).
pub(crate) fn set_batching(on: bool) {
    BATCHING.set(on);
}

/// Says whether reads are prompt from now on (the engine's dispatcher).
pub(crate) fn set_prompt(on: bool) {
    PROMPT.set(on);
}
