//! Typed errors of the library: bad configuration and failures to start a run.
//!
//! Per-load failures are not errors of the library; they are [`crate::Failure`] values
//! counted by outcome.

use std::borrow::Cow;

/// A configuration the library cannot run (bad rate, zero duration, bad target, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: Cow<'static, str>,
}

impl ConfigError {
    /// A configuration error with a one-line message naming what is wrong.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }
}

/// Why a run could not be started or its result read.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run's configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `start` was called on a generator that is not in the `Original` state.
    #[error("the load generator was already started")]
    AlreadyStarted,
    /// An operating-system resource (thread, runtime, timer) could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Building the caller of a shard failed.
    #[error("{0}")]
    Caller(String),
}
