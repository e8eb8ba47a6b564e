//! Live progress on stderr: a bar on a terminal, a plain line every few seconds with
//! `--progress` elsewhere, nothing with `--quiet`. It reads the shards' published totals
//! (never per call) and owns no result.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loadgen::{Monitor, Snapshot};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    /// A live bar redrawn a few times a second.
    Bar,
    /// A line every few seconds.
    Lines,
}

/// Picks the mode from the flags and whether stderr is a terminal.
pub fn mode(progress: bool, quiet: bool) -> Mode {
    if quiet {
        Mode::Off
    } else if std::io::stderr().is_terminal() {
        Mode::Bar
    } else if progress {
        Mode::Lines
    } else {
        Mode::Off
    }
}

/// How often the display changes: a bar about three times a second, lines every `lines`.
fn period(mode: Mode, lines: Duration) -> Duration {
    match mode {
        Mode::Bar => Duration::from_millis(300),
        _ => lines.max(Duration::from_millis(100)),
    }
}

/// One status line from two snapshots `dt` apart.
pub fn line(prev: &Snapshot, now: &Snapshot, total: Duration) -> String {
    let dt = (now.elapsed.saturating_sub(prev.elapsed))
        .as_secs_f64()
        .max(1e-3);
    let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / dt;
    let errors = now.failed;
    format!(
        "[{:>6.1}s/{:.0}s] offered {:.0}/s  achieved {:.0}/s  TPS {:.0}/s  p99 {}  errors {}  in flight {}",
        now.elapsed.as_secs_f64(),
        total.as_secs_f64(),
        rate(prev.scheduled, now.scheduled),
        rate(prev.completed, now.completed),
        rate(prev.success, now.success),
        loadgen::report::fmt_ms(now.p99_last_us as f64 / 1000.0),
        errors,
        now.sent.saturating_sub(now.completed),
    )
}

/// Shows progress until [`Progress::finish`].
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts showing `monitor` in `mode` for a run of `total`, a line every `every`.
    pub fn start(
        mode: Mode,
        monitor: Option<Monitor>,
        total: Duration,
        every: Duration,
    ) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let thread = match (mode, monitor) {
            (Mode::Off, _) | (_, None) => None,
            (mode, Some(m)) => {
                let done = done.clone();
                std::thread::Builder::new()
                    .name("loadgen-progress".into())
                    .spawn(move || show(mode, &m, total, period(mode, every), &done))
                    .ok()
            }
        };
        Progress { done, thread }
    }

    /// Stops and clears the display.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn show(mode: Mode, m: &Monitor, total: Duration, period: Duration, done: &AtomicBool) {
    let tick = Duration::from_millis(50);
    let bar = (mode == Mode::Bar).then(|| {
        let b = ProgressBar::with_draw_target(
            Some(total.as_millis() as u64),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        b.set_style(
            ProgressStyle::with_template("{bar:12} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let mut prev = m.snapshot();
    // lines on a fixed grid from the start (sleeps that run late do not push every later
    // line back), the end looked for at least every tick
    let mut next = std::time::Instant::now() + period;
    while !done.load(Ordering::SeqCst) {
        let t = std::time::Instant::now();
        if t < next {
            std::thread::sleep(tick.min(next - t));
            continue;
        }
        while next <= t {
            next += period;
        }
        let now = m.snapshot();
        let text = line(&prev, &now, total);
        match &bar {
            Some(b) => {
                b.set_position((now.elapsed.as_millis() as u64).min(total.as_millis() as u64));
                b.set_message(text);
            }
            None => crate::note!("{text}"),
        }
        prev = now;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_interval_rates() {
        let a = Snapshot {
            elapsed: Duration::from_secs(1),
            ..Snapshot::default()
        };
        let b = Snapshot {
            elapsed: Duration::from_secs(3),
            scheduled: 2000,
            sent: 1990,
            completed: 1980,
            success: 1970,
            failed: 20,
            in_flight: 10,
            p99_last_us: 1500,
        };
        let l = line(&a, &b, Duration::from_secs(10));
        assert!(
            l.starts_with("[   3.0s/10s] offered 1000/s  achieved 990/s  TPS 985/s  p99 1.50ms"),
            "{l}"
        );
        assert!(l.ends_with("errors 20  in flight 10"), "{l}");
    }
}
