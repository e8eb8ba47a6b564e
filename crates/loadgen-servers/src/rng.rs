//! A small per-thread pseudo-random generator for the servers' fault injection
//! (delay distributions, error rate). Not for cryptography.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let id = std::thread::current().id();
    let h = format!("{id:?}")
        .bytes()
        .fold(t, |a, b| a.rotate_left(5) ^ u64::from(b));
    h | 1
}

/// A uniform f64 in [0, 1).
pub fn unit() -> f64 {
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    })
}
