//! Outcome codes: the class of one load's result, and the failure value callers return.
//!
//! The numeric codes keep the book's values (see DESIGN.md); 1–1000 are left to callers.

use std::borrow::Cow;
use std::fmt;

/// The class of one load's result. `Copy + Eq + Hash`, so counting never looks at text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Outcome {
    /// The response arrived in time and passed the caller's check.
    Success = 0,
    /// No complete response within the call timeout.
    Timeout = 1,
    /// Never sent: no free slot before the load's deadline, or the run stopped first.
    Dropped = 2,
    /// Still in flight when the run stopped and the grace period ran out.
    Cancelled = 3,
    /// Connect, send or receive failed (refused, reset, EOF mid-response, DNS, TLS).
    CallError = 4,
    /// A response arrived but is malformed or wrong.
    ResponseError = 5,
    /// The target answered with an error of its own.
    CalleeError = 6,
    /// The caller itself failed (a panic caught in a call).
    Fatal = 7,
}

impl Outcome {
    /// True for the outcomes of a load that got an answer — success, `response_error`,
    /// `callee_error` — whose latency the headline row counts (as wrk2, k6 and Gatling
    /// count every answered request).
    pub fn answered(self) -> bool {
        matches!(
            self,
            Outcome::Success | Outcome::ResponseError | Outcome::CalleeError
        )
    }

    /// Every outcome, in report order.
    pub const ALL: [Outcome; 8] = [
        Outcome::Success,
        Outcome::Timeout,
        Outcome::Dropped,
        Outcome::Cancelled,
        Outcome::CallError,
        Outcome::ResponseError,
        Outcome::CalleeError,
        Outcome::Fatal,
    ];

    /// The numeric code of DESIGN.md (0, 1001, ... 3001).
    pub const fn code(self) -> u16 {
        match self {
            Outcome::Success => 0,
            Outcome::Timeout => 1001,
            Outcome::Dropped => 1002,
            Outcome::Cancelled => 1003,
            Outcome::CallError => 2001,
            Outcome::ResponseError => 2002,
            Outcome::CalleeError => 2003,
            Outcome::Fatal => 3001,
        }
    }

    /// The snake_case name used in reports and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Timeout => "timeout",
            Outcome::Dropped => "dropped",
            Outcome::Cancelled => "cancelled",
            Outcome::CallError => "call_error",
            Outcome::ResponseError => "response_error",
            Outcome::CalleeError => "callee_error",
            Outcome::Fatal => "fatal",
        }
    }

    /// Parses a name produced by [`Outcome::name`].
    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Index into per-outcome arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a load did not succeed: its outcome class and a short message.
///
/// Messages are grouped in the report, so keep them free of per-call data (ids, values)
/// where a group per call would be noise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The outcome class; never [`Outcome::Success`].
    pub outcome: Outcome,
    /// A short human-readable reason.
    pub message: Cow<'static, str>,
}

impl Failure {
    /// A failure of class `outcome`.
    pub fn new(outcome: Outcome, message: impl Into<Cow<'static, str>>) -> Self {
        debug_assert!(outcome != Outcome::Success);
        Failure {
            outcome,
            message: message.into(),
        }
    }
    /// `call_error` (2001): connect, send or receive failed.
    pub fn call(message: impl Into<Cow<'static, str>>) -> Self {
        Failure::new(Outcome::CallError, message)
    }
    /// `response_error` (2002): the response is malformed or wrong.
    pub fn response(message: impl Into<Cow<'static, str>>) -> Self {
        Failure::new(Outcome::ResponseError, message)
    }
    /// `callee_error` (2003): the target reported an error of its own.
    pub fn callee(message: impl Into<Cow<'static, str>>) -> Self {
        Failure::new(Outcome::CalleeError, message)
    }
    /// `fatal` (3001): the caller panicked with `panic` (its message kept).
    pub fn from_panic(panic: Box<dyn std::any::Any + Send>) -> Self {
        let msg = if let Some(s) = panic.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = panic.downcast_ref::<String>() {
            s.clone()
        } else {
            "unknown panic payload".to_string()
        };
        Failure::new(Outcome::Fatal, format!("caller panicked: {msg}"))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let msg: Cow<'static, str> = match e.kind() {
            K::ConnectionRefused => "connection refused".into(),
            K::ConnectionReset => "connection reset".into(),
            K::ConnectionAborted => "connection aborted".into(),
            K::BrokenPipe => "broken pipe".into(),
            K::UnexpectedEof => "connection closed before the response was complete".into(),
            K::TimedOut => "operation timed out".into(),
            K::AddrNotAvailable => "address not available".into(),
            _ => e.to_string().into(),
        };
        Failure::call(msg)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.outcome,
            self.outcome.code(),
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        let codes: Vec<u16> = Outcome::ALL.iter().map(|o| o.code()).collect();
        assert_eq!(codes, [0, 1001, 1002, 1003, 2001, 2002, 2003, 3001]);
        for (i, o) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(o.index(), i);
            assert_eq!(Outcome::from_name(o.name()), Some(o));
        }
        assert_eq!(Outcome::from_name("nope"), None);
    }

    #[test]
    fn io_errors_become_call_errors() {
        let f: Failure = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
        assert_eq!(f.outcome, Outcome::CallError);
        assert_eq!(f.message, "connection refused");
    }
}
