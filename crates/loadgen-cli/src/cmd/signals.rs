//! SIGINT, SIGTERM and SIGQUIT stop a run gracefully; a second SIGINT stops it at once.

use std::time::Duration;

use loadgen::Stopper;
use tokio::signal::unix::{SignalKind, signal};

/// Listens for stop signals on a background thread for the rest of the process.
pub fn stop_run_on_signals(stopper: Stopper, grace: Duration) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut int, mut term, mut quit) = {
        let _g = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::quit())?,
        )
    };
    std::thread::Builder::new().name("loadgen-signals".into()).spawn(move || {
        rt.block_on(async move {
            loop {
                let (name, is_int) = tokio::select! {
                    _ = int.recv() => ("SIGINT", true),
                    _ = term.recv() => ("SIGTERM", false),
                    _ = quit.recv() => ("SIGQUIT", false),
                };
                if stopper.stop() {
                    crate::note!(
                        "loadgen: {name}: stopping; in-flight calls get {} (Ctrl-C again to stop now)",
                        humantime::format_duration(grace)
                    );
                } else if is_int {
                    stopper.abort();
                    crate::note!("loadgen: {name} again: stopping now");
                }
            }
        })
    })?;
    Ok(())
}

/// A future that resolves on the first SIGINT, SIGTERM or SIGQUIT (for servers).
pub async fn shutdown_signal() {
    let (Ok(mut int), Ok(mut term), Ok(mut quit)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::quit()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
        _ = quit.recv() => {}
    }
}
