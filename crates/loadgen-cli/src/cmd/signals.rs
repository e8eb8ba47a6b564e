//! SIGINT, SIGTERM, SIGQUIT and SIGHUP (the terminal closed) stop a run gracefully; a
//! second SIGINT stops it at once. The listener starts before anything else of a run, so
//! a signal during setup is not lost: the run then stops as soon as it starts, and still
//! reports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

/// A handle to the signal listener of this process.
#[derive(Clone)]
pub struct Signals {
    target: Arc<Mutex<Target>>,
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
        };
        let me = signals.clone();
        std::thread::Builder::new()
            .name("loadgen-signals".into())
            .spawn(move || {
                rt.block_on(async move {
                    loop {
                        let (name, is_int) = tokio::select! {
                            _ = int.recv() => ("SIGINT", true),
                            _ = term.recv() => ("SIGTERM", false),
                            _ = quit.recv() => ("SIGQUIT", false),
                            _ = hup.recv() => ("SIGHUP", false),
                        };
                        me.deliver(name, is_int);
                    }
                })
            })?;
        Ok(signals)
    }

    fn deliver(&self, name: &str, is_int: bool) {
        let mut t = self.target.lock().unwrap_or_else(|e| e.into_inner());
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
            None if t.early && is_int => {
                crate::note!("loadgen: {name} again before the run started: exiting");
                std::process::exit(130);
            }
            None => {
                t.early = true;
                crate::note!("loadgen: {name}: the run will stop as soon as it starts");
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
