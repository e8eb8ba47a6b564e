//! Journeys: multi-step scenarios from a file, run by the same open-model engine as
//! single calls.
//!
//! A journey is one load of the schedule: it arrives at its intended time (or when a
//! virtual user loops, in the closed model), its latency counts from that time, and it
//! ends in one outcome — the first failing step's, named in its message. Inside it, steps
//! run in order on a small state (variables from captures and data rows, a cookie jar),
//! think time is a timer, and every step is recorded apart by its name
//! ([`crate::record::JourneyAgg`]): outcomes, response time from when it was ready,
//! service time from its send, checks and captures that failed.
//!
//! `compile` turns a [`RunSpec`] into [`Journeys`] (refusing what cannot run, at its
//! line and column); [`JourneyCaller`] runs them, one per generator thread.
//!
//! - [`program`]: the compiled form (steps as nodes, variables as slots);
//! - `compile`, `request`: from the specification to the program;
//! - `run`: the caller; `extract`: checks and captures; [`cookies`]: the jar.

mod compile;
pub mod cookies;
mod extract;
mod grpc;
pub mod program;
mod request;
mod run;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use compile::{DEFAULT_CONNECTIONS, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT};
pub use run::JourneyCaller;

use crate::caller::Target;
use crate::protocol::http::HttpTarget;
use crate::protocol::http::tls::{ClientAuth, Verify};
use crate::record::StepInfo;
use crate::spec::{RunSpec, SpecError};

/// Resolves `scheme://host:port` to an endpoint before the run (the CLI applies
/// `--connect-to`, `--unix-socket` and `--proxy` here).
pub type Resolver = Box<dyn Fn(&str) -> Result<HttpTarget, String> + Send + Sync>;

/// What a compilation needs besides the specification.
pub struct Options {
    /// The file's name, for errors.
    pub file: String,
    /// The file's directory: data files are relative to it.
    pub dir: Option<PathBuf>,
    /// Seed of templates, data picks and think times.
    pub seed: u64,
    /// The process's shard index (`{{shard}}`).
    pub shard: u64,
    /// Connections per host for the process (over the file's `defaults.connections`).
    pub connections: Option<u64>,
    /// How server certificates are checked.
    pub verify: Verify,
    /// A client certificate (mTLS).
    pub client_auth: Option<ClientAuth>,
    /// Endpoint resolution.
    pub resolve: Resolver,
    /// Read data files (false: a `data` key is refused — for files from strangers, such
    /// as a fuzzer's).
    pub read_files: bool,
}

impl Options {
    /// Options for `file`, resolving hosts with the system resolver.
    pub fn new(file: &str) -> Options {
        Options {
            file: file.to_string(),
            dir: None,
            seed: 1,
            shard: 0,
            connections: None,
            verify: Verify::WebPki,
            client_auth: None,
            resolve: Box::new(resolve),
            read_files: true,
        }
    }
}

/// `http[s]://host[:port]` as an endpoint, its host looked up now.
pub fn resolve(origin: &str) -> Result<HttpTarget, String> {
    use std::net::ToSocketAddrs;
    let (tls, rest) = if let Some(r) = origin.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = origin.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("a URL starts with http:// or https://".into());
    };
    let default = if tls { 443 } else { 80 };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (
            h.to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("'{p}' is not a port"))?,
        ),
        _ => (rest.to_string(), default),
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let bare = host.trim_matches(['[', ']']);
    let addr = (bare, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {bare}: {e}"))?
        .next()
        .ok_or_else(|| format!("{bare} has no address"))?;
    Ok(HttpTarget {
        url: origin.to_string(),
        tls,
        host: bare.to_string(),
        port,
        addr,
        path: "/".into(),
        unix: None,
        proxy: None,
        connect_timeout: None,
    })
}

/// A compiled scenario file, shared by the generator threads.
pub struct Journeys {
    /// The scenarios, as the plan's targets (weighted).
    pub targets: Vec<Target>,
    /// The report rows of steps and groups.
    pub rows: Vec<StepInfo>,
    scenarios: Vec<program::Scenario>,
    scalars: usize,
    lists: usize,
    scalar_names: Vec<String>,
    list_names: Vec<String>,
    feeds: Vec<program::Feed>,
    requests: request::Requests,
    max_body: usize,
    connections: u64,
    journey_timeout: Duration,
    request_timeout: Duration,
    unique_rows: Option<u64>,
    seed: u64,
    shard: u64,
}

impl Journeys {
    /// Compiles `spec`: every value checked, every host resolved, data files read.
    pub fn compile(spec: &RunSpec, opts: &Options) -> Result<Journeys, SpecError> {
        compile::compile(spec, opts)
    }

    /// The timeout of a whole journey (the file's, or the longest one can take).
    pub fn journey_timeout(&self) -> Duration {
        self.journey_timeout
    }

    /// The default timeout of a request: also how long a journey may wait to start.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The most journeys a run may send: the rows of a `unique` data feed.
    pub fn max_journeys(&self) -> Option<u64> {
        self.unique_rows
    }

    /// Connections per host for the process.
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// True when a request uses HTTP/2.
    pub fn uses_http2(&self) -> bool {
        !self.requests.h2.specs.is_empty()
    }

    /// The hosts requests go to.
    pub fn endpoints(&self) -> &[HttpTarget] {
        &self.requests.endpoints
    }

    /// The caller of generator thread `t`.
    pub fn caller(self: &Arc<Self>, t: &crate::ThreadContext) -> JourneyCaller {
        JourneyCaller::new(self.clone(), t)
    }
}

#[cfg(test)]
mod tests;
mod ws;
