//! A compiled scenario file: what the journeys of a run execute. Every template, JSONPath
//! and regular expression is compiled, every variable is a slot, every host an endpoint
//! resolved before the run; a journey in flight only holds its variables, its cookie jar
//! and where it is.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use regex::bytes::Regex;
use serde_json_path::JsonPath;

use crate::caller::data::DataFeed;
use crate::caller::dist::Dist;
use crate::caller::template::Template;
use crate::protocol::http::StatusSet;

/// A variable's slot: a value (`Scalar`) or a list of them (`List`, from a capture with
/// `all: true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    Scalar(usize),
    List(usize),
}

/// Whose cookie jar a journey uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieScope {
    /// A new jar per journey.
    Journey,
    /// A jar kept from one journey to the next of a virtual user.
    Vu,
    /// No cookies.
    Off,
}

impl CookieScope {
    /// The scope's name in the file.
    pub fn name(self) -> &'static str {
        match self {
            CookieScope::Journey => "journey",
            CookieScope::Vu => "vu",
            CookieScope::Off => "off",
        }
    }
}

/// Which row of a data feed a journey takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Journey j takes row j mod rows.
    Sequential,
    /// A row drawn from the seed and the journey's index.
    Random,
    /// Journey j takes row j; the run sends at most as many journeys as there are rows.
    Unique,
}

/// A data feed and the columns templates read from it.
#[derive(Debug)]
pub(crate) struct Feed {
    pub data: Arc<DataFeed>,
    pub pick: Pick,
    /// (column, scalar slot) of each column used.
    pub columns: Vec<(usize, usize)>,
}

/// One journey.
#[derive(Debug)]
pub(crate) struct Scenario {
    pub cookies: CookieScope,
    pub steps: Vec<Node>,
    /// Feeds its templates read.
    pub feeds: Vec<usize>,
}

/// One step as executed.
#[derive(Debug)]
pub(crate) enum Node {
    Request(Box<Request>),
    Think(Dist),
    Loop(Box<Loop>),
    If(Box<If>),
    Group { row: usize, body: Vec<Node> },
    Parallel(Vec<Request>),
}

/// How many times a loop runs.
#[derive(Debug)]
pub(crate) enum Times {
    Count(u64),
    Over { list: usize, item: usize, max: u64 },
}

#[derive(Debug)]
pub(crate) struct Loop {
    pub times: Times,
    pub body: Vec<Node>,
}

/// A condition on a variable.
#[derive(Debug)]
pub(crate) enum Cond {
    Exists(Slot, bool),
    Equals(usize, Bytes),
    Matches(usize, Regex),
}

#[derive(Debug)]
pub(crate) struct If {
    pub cond: Cond,
    pub then: Vec<Node>,
    pub otherwise: Vec<Node>,
}

/// How a request step goes out.
#[derive(Debug)]
pub(crate) enum Via {
    /// HTTP/1.1 or HTTP/2.
    Http {
        /// The endpoint (a connection pool per generator thread).
        endpoint: usize,
        /// HTTP/2 (else HTTP/1.1).
        h2: bool,
        /// Index of its request in the set of its HTTP version.
        spec: usize,
        /// The method.
        method: http::Method,
        /// Redirects followed.
        follow: u32,
    },
    /// A unary gRPC call.
    Grpc(Box<GrpcCall>),
    /// A WebSocket exchange on the journey's connection.
    Ws(Box<WsCall>),
}

/// A WebSocket step: what it sends, whether (and which message) it waits for, whether it
/// closes the connection after.
#[derive(Debug)]
pub(crate) struct WsCall {
    /// Its WebSocket endpoint (URL with path: one connection per journey and endpoint).
    pub endpoint: usize,
    pub send: Option<Template>,
    pub binary: bool,
    pub receive: bool,
    pub matcher: Option<crate::protocol::ws::Matcher>,
    pub close: bool,
}

/// A unary gRPC call: its answer, as JSON, is what checks and captures read.
#[derive(Debug)]
pub(crate) struct GrpcCall {
    /// Its gRPC endpoint.
    pub endpoint: usize,
    pub method: prost_reflect::MethodDescriptor,
    pub uri: http::Uri,
    /// The request message as JSON (templates escaped as JSON in its strings).
    pub message: Template,
    /// Content type, te, user agent, and the step's fixed metadata.
    pub headers: http::HeaderMap,
}

/// A request step (HTTP or gRPC).
#[derive(Debug)]
pub(crate) struct Request {
    /// Its report row.
    pub row: usize,
    /// Its name, for failure messages.
    pub name: String,
    /// How it goes out.
    pub via: Via,
    /// The variables its templates read: each must be set.
    pub reads: Vec<usize>,
    pub timeout: Duration,
    /// A failure ends the journey (else the journey goes on, failed).
    pub abort: bool,
    pub status: StatusSet,
    pub checks: Vec<Check>,
    pub captures: Vec<Capture>,
    /// The body is kept (a check or capture reads it), up to the run's cap.
    pub keep_body: bool,
    /// The answer's headers its checks and captures read (lowercase names).
    pub headers: Vec<String>,
}

impl Request {
    /// The longest it can take: its timeout, once per redirect too.
    pub fn longest(&self) -> std::time::Duration {
        match &self.via {
            Via::Http { follow, .. } => self.timeout.saturating_mul(1 + follow),
            Via::Grpc(_) | Via::Ws(_) => self.timeout,
        }
    }
}

/// An expected value: as written, or a template rendered with the journey's variables.
#[derive(Debug)]
pub(crate) enum Want {
    Value(serde_json::Value),
    Text(Template),
}

/// A check of an answer.
#[derive(Debug)]
pub(crate) enum Check {
    /// The one match of a JSONPath equals a value.
    JsonEq {
        name: String,
        path: JsonPath,
        want: Want,
    },
    /// A JSONPath matches.
    Exists { name: String, path: JsonPath },
    /// The body matches.
    Regex { name: String, re: Regex },
    /// The body contains a text.
    Contains { name: String, text: Template },
    /// A header has a value.
    Header {
        name: String,
        header: String,
        want: Template,
    },
    /// The step took at most this long from ready.
    Latency { name: String, max: Duration },
}

impl Check {
    pub fn name(&self) -> &str {
        match self {
            Check::JsonEq { name, .. }
            | Check::Exists { name, .. }
            | Check::Regex { name, .. }
            | Check::Contains { name, .. }
            | Check::Header { name, .. }
            | Check::Latency { name, .. } => name,
        }
    }

    pub fn reads_body(&self) -> bool {
        !matches!(self, Check::Header { .. } | Check::Latency { .. })
    }

    /// The variable slots its expected value reads.
    pub fn slots(&self) -> Vec<usize> {
        match self {
            Check::JsonEq {
                want: Want::Text(t),
                ..
            }
            | Check::Contains { text: t, .. }
            | Check::Header { want: t, .. } => t.slots().collect(),
            _ => Vec::new(),
        }
    }
}

/// Where a captured value comes from.
#[derive(Debug)]
pub(crate) enum Source {
    JsonPath(JsonPath),
    Regex(Regex, usize),
    Header(String),
    Cookie(String),
}

#[derive(Debug)]
pub(crate) struct Capture {
    /// `capture NAME`, for failure messages.
    pub label: String,
    /// The JSONPath or expression as written, for failure messages.
    pub what: String,
    pub source: Source,
    pub into: Slot,
}

impl Capture {
    pub fn reads_body(&self) -> bool {
        matches!(self.source, Source::JsonPath(_) | Source::Regex(..))
    }
}

/// The longest loop count.
pub const MAX_LOOP: u64 = 100_000;
