//! SIGINT, SIGTERM, SIGQUIT and SIGHUP (the terminal closed) stop a run gracefully; a
//! second SIGINT stops it at once. The listener starts before anything else of a run, so
//! a signal during setup is not lost: the run then stops as soon as it starts, and still
//! reports. A setup that does not finish within [`SETUP_DEADLINE`] of the signal (blocked
//! on a FIFO that never ends, say), or a second signal of any kind before the run, ends
//! the process with one line and 128 + the signal's number: nothing was sent. After the
//! run, a signal ends `--metrics-linger` ([`Signals::linger`]).

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long setup may go on after a stop signal before the process gives up on it.
pub const SETUP_DEADLINE: Duration = Duration::from_secs(2);

use loadgen::Stopper;
use tokio::signal::unix::{SignalKind, signal};

/// The run the signals stop, once it exists.
#[derive(Default)]
struct Target {
    run: Option<(Stopper, Duration)>,
    /// Called on the first stop signal of the run (a search ends after its step).
    on_stop: Option<Box<dyn Fn() + Send>>,
    /// A stop signal came before the run existed.
    early: bool,
    /// Stop signals so far.
    count: u64,
}

/// A handle to the signal listener of this process.
#[derive(Clone)]
pub struct Signals {
    target: Arc<Mutex<Target>>,
    /// Notified on every signal (see [`Signals::linger`]).
    arrived: Arc<Condvar>,
}

impl Signals {
    /// Starts listening on a background thread for the rest of the process.
    pub fn listen() -> anyhow::Result<Signals> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (mut int, mut term, mut quit, mut hup) = {
            let _g = rt.enter();
            (
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
                signal(SignalKind::quit())?,
                signal(SignalKind::hangup())?,
            )
        };
        let signals = Signals {
            target: Arc::default(),
            arrived: Arc::default(),
        };
        let me = signals.clone();
        std::thread::Builder::new()
            .name("loadgen-signals".into())
            .spawn(move || {
                rt.block_on(async move {
                    loop {
                        let (name, signo) = tokio::select! {
                            _ = int.recv() => ("SIGINT", libc::SIGINT),
                            _ = term.recv() => ("SIGTERM", libc::SIGTERM),
                            _ = quit.recv() => ("SIGQUIT", libc::SIGQUIT),
                            _ = hup.recv() => ("SIGHUP", libc::SIGHUP),
                        };
                        me.deliver(name, signo);
                    }
                })
            })?;
        Ok(signals)
    }

    fn deliver(&self, name: &str, signo: i32) {
        let is_int = signo == libc::SIGINT;
        let mut t = self.target.lock().unwrap_or_else(|e| e.into_inner());
        t.count += 1;
        self.arrived.notify_all();
        if let Some(f) = &t.on_stop {
            f();
        }
        match &t.run {
            Some((stopper, grace)) => {
                if stopper.stop() {
                    crate::note!(
                        "loadgen: {name}: stopping; in-flight calls get {} (Ctrl-C again to stop now)",
                        humantime::format_duration(*grace)
                    );
                } else if is_int {
                    stopper.abort();
                    crate::note!("loadgen: {name} again: stopping now");
                }
            }
            None if t.early => {
                crate::note!(
                    "loadgen: {name} again before the run started: exiting, nothing was sent"
                );
                std::process::exit(128 + signo);
            }
            None => {
                t.early = true;
                crate::note!("loadgen: {name}: the run will stop as soon as it starts");
                // a setup blocked for good (a FIFO that never ends) must not outlive it
                let me = self.clone();
                let name = name.to_string();
                let _ = std::thread::Builder::new()
                    .name("loadgen-setup-deadline".into())
                    .spawn(move || {
                        std::thread::sleep(SETUP_DEADLINE);
                        let t = me.target.lock().unwrap_or_else(|e| e.into_inner());
                        if t.run.is_none() {
                            crate::note!(
                                "loadgen: {name}: setup did not finish within {} of the signal; exiting, nothing was sent",
                                humantime::format_duration(SETUP_DEADLINE)
                            );
                            std::process::exit(128 + signo);
                        }
                    });
            }
        }
    }

    /// From now on signals stop this run (at once, if one already came).
    pub fn attach(&self, stopper: Stopper, grace: Duration) {
        let mut t = self.target.lock().unwrap_or_else(|e| e.into_inner());
        if t.early {
            stopper.stop();
        }
        t.run = Some((stopper, grace));
    }

    /// True once a stop signal has come.
    pub fn stop_requested(&self) -> bool {
        self.target.lock().unwrap_or_else(|e| e.into_inner()).count > 0
    }

    /// Waits `d`, or less if a stop signal comes (`--metrics-linger` after the run).
    pub fn linger(&self, d: Duration) {
        let t = self.target.lock().unwrap_or_else(|e| e.into_inner());
        let seen = t.count;
        let _ = self
            .arrived
            .wait_timeout_while(t, d, |t| t.count == seen)
            .unwrap_or_else(|e| e.into_inner());
    }

    /// Like [`Signals::attach`], and `on_stop` runs on a stop signal too.
    pub fn attach_with(
        &self,
        stopper: Stopper,
        grace: Duration,
        on_stop: impl Fn() + Send + 'static,
    ) {
        self.attach(stopper, grace);
        self.target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_stop = Some(Box::new(on_stop));
    }
}

/// A future that resolves on the first SIGINT, SIGTERM, SIGQUIT or SIGHUP (for servers).
pub async fn shutdown_signal() {
    let (Ok(mut int), Ok(mut term), Ok(mut quit), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::quit()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
        _ = quit.recv() => {}
        _ = hup.recv() => {}
    }
}
