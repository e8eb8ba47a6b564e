//! Typed errors of the library: a configuration it cannot run, and a run that could not
//! start. Each kind can be matched; messages name the value, never a command-line flag
//! (the CLI adds its flag names as context).
//!
//! Per-load failures are not errors of the library; they are [`crate::Failure`] values
//! counted by outcome. Files that do not read are [`crate::summary::codec::CodecError`]s,
//! summaries that do not merge [`crate::summary::merge::MergeError`]s.

/// A configuration the library cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A rate that is not a number ≥ 0.
    #[error("the rate must be a number ≥ 0, got {0}")]
    Rate(f64),
    /// A rate above 1e9 loads per second.
    #[error("the rate {0} is above 1e9 loads per second")]
    RateTooHigh(f64),
    /// A rate below 0.001 loads per second (but above 0).
    #[error("the rate {0} is below the smallest rate, 0.001 loads per second")]
    RateTooLow(f64),
    /// Poisson arrivals without a usable mean rate.
    #[error("Poisson arrivals need a rate above 0 (and at most 1e7)")]
    PoissonRate,
    /// A zero duration.
    #[error("the duration must be greater than zero")]
    ZeroDuration,
    /// A duration that does not fit the clock (about 584 years).
    #[error("the duration is too long")]
    DurationTooLong,
    /// A zero call timeout.
    #[error("the timeout must be greater than zero")]
    ZeroTimeout,
    /// A call timeout above a day.
    #[error("the timeout must be at most a day")]
    TimeoutTooLong,
    /// A grace period above a day.
    #[error("the grace period must be at most a day")]
    GraceTooLong,
    /// Zero slots.
    #[error("the concurrency must be at least 1")]
    ZeroConcurrency,
    /// Zero generator threads.
    #[error("the threads must be at least 1")]
    ZeroThreads,
    /// No target.
    #[error("at least one target is needed")]
    NoTargets,
    /// More targets than a run tracks.
    #[error("at most 65535 targets")]
    TooManyTargets,
    /// A target weight of zero.
    #[error("target weights must be at least 1")]
    ZeroWeight,
    /// A shard index not below the shard count.
    #[error("the shard index must be below the shard count")]
    Shard,
    /// A duration that does not parse.
    #[error("'{0}' is not a duration like 500ms, 10s, 2m or 1m30s")]
    Duration(String),
    /// A distribution of durations that does not parse.
    #[error("'{text}': {why}")]
    Dist {
        /// The distribution as given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A ramp stage that is not `DURATION:RATE`.
    #[error("'{0}' is not DURATION:RATE, e.g. 30s:1000")]
    StageSyntax(String),
    /// A ramp stage whose rate is not a number in 0..=1e9.
    #[error("'{0}' is not a rate between 0 and 1e9")]
    StageRate(String),
    /// A ramp without stages.
    #[error("no stage given")]
    NoStages,
    /// A ramp's start rate out of 0..=1e9.
    #[error("the start rate must be between 0 and 1e9")]
    StartRate,
    /// A threshold expression that does not parse.
    #[error(
        "'{text}': {why} (examples: p99<50ms, p(95)<200ms, success>99.9%, errors<0.1%, tps>900, dropped==0)"
    )]
    Threshold {
        /// The expression.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A `compare --fail-if` gate that does not parse.
    #[error("'{text}': {why} (e.g. 'p99 +10%', 'mean +2ms', 'tps -5%', 'errors +0.5pp')")]
    FailIf {
        /// The gate.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An HTTP status set entry that does not parse.
    #[error("'{0}' is not a status, a class like 2xx, or a range like 200-299")]
    Status(String),
    /// An empty HTTP status set.
    #[error("the list of statuses is empty")]
    NoStatus,
    /// An HTTP method with characters a method cannot have.
    #[error("'{0}' is not an HTTP method")]
    Method(String),
    /// An HTTP header that cannot be sent.
    #[error("'{name}: {value}' is not a valid header")]
    Header {
        /// The name as given.
        name: String,
        /// The value as given.
        value: String,
    },
    /// Zero HTTP/2 streams per connection.
    #[error("streams per connection must be at least 1")]
    ZeroStreams,
    /// A target URL with characters that could smuggle a second request.
    #[error("'{0}' contains control characters (CR, LF, ...)")]
    ControlCharacters(String),
    /// A TLS configuration that does not build.
    #[error("TLS: {0}")]
    Tls(String),
    /// Trust anchors that do not read.
    #[error("{0}")]
    Certificates(String),
    /// A client certificate or key that does not load.
    #[error("client certificate: {0}")]
    ClientCertificate(String),
    /// A gRPC schema, method or message that cannot be used.
    #[error("{0}")]
    Grpc(String),
    /// A request template that does not compile.
    #[error("template {0}")]
    Template(String),
    /// Headers that frame a request's body against the body (see
    /// `protocol::http::request::check_framing`).
    #[error("{0}")]
    Framing(String),
    /// A data or targets file with a bad line.
    #[error("{file}:{line}: {why}")]
    DataFile {
        /// The file as given.
        file: String,
        /// The 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        why: String,
    },
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
    /// Making the caller of a generator thread failed (its factory panicked).
    #[error("the caller could not be made: {0}")]
    Caller(String),
}
