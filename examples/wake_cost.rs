//! What one sleep and wake-up costs this machine, in CPU time.
//!
//! A generator at a fixed rate sleeps between pacing ticks; each tick is a wake-up, and on
//! a virtual machine a wake-up can cost tens of microseconds of CPU (timer programming,
//! halting the vCPU and the interrupt that resumes it are exits to the hypervisor). That
//! is the floor of CPU per load whenever loads go out one per tick: at 5,000 loads/s with
//! send lag under 200 µs there must be a wake-up per load. This program sleeps to absolute
//! deadlines `INTERVAL_US` apart, `COUNT` times, on one thread, and prints the CPU the
//! process was charged per wake-up (user + system, from `getrusage`).
//!
//! `cargo run --release --example wake_cost -- [INTERVAL_US [COUNT]]` (default 200 10000);
//! bench/peer.sh prints it beside its table.

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let interval_us: u64 = parse(args.next(), 200, "INTERVAL_US");
    let count: u32 = parse(args.next(), 10_000, "COUNT");
    let interval = Duration::from_micros(interval_us.max(1));
    let before = cpu();
    let start = Instant::now();
    let mut late = Duration::ZERO;
    for i in 1..=count {
        let at = start + interval * i;
        if let Some(d) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        late = late.max(Instant::now().saturating_duration_since(at));
    }
    let spent = cpu() - before;
    println!(
        "wake_cost: {count} sleeps of {interval_us} µs: {:.1} µs CPU per wake-up \
         (user {:.3} s, sys {:.3} s; wall {:.2} s; latest wake {} µs late)",
        (spent.0 + spent.1) * 1e6 / f64::from(count.max(1)),
        spent.0,
        spent.1,
        start.elapsed().as_secs_f64(),
        late.as_micros(),
    );
}

fn parse<T: std::str::FromStr>(arg: Option<String>, default: T, name: &str) -> T {
    match arg {
        None => default,
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("wake_cost: {name} must be a whole number, got {s:?}");
            std::process::exit(2);
        }),
    }
}

/// User and system CPU seconds of this process so far.
#[derive(Clone, Copy)]
struct Cpu(f64, f64);

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu(self.0 - o.0, self.1 - o.1)
    }
}

fn cpu() -> Cpu {
    // SAFETY: getrusage fills the rusage we own.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Cpu(secs(r.ru_utime), secs(r.ru_stime))
}
