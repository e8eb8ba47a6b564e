//! The run specification: one typed description of a run — its load, its defaults, its
//! data feeds, its scenarios of steps, its thresholds — that a scenario file builds
//! ([`RunSpec::from_yaml`]) and that the command line builds from its flags (and applies
//! over a file's). It is plain data that keeps where each value came from ([`At`]), so
//! that [`crate::journey`] can name the file, line and column of a value it cannot use.
//! [`RunSpec::to_yaml`] writes it back as a file.
//!
//! The file format is versioned (`version: 1`) and strict: an unknown key, a duplicate key
//! or a value of the wrong kind is an error at its line and column. Its keys are
//! documented in README ("Journeys").

mod load;
mod yaml;

use serde::{Deserialize, Serialize};

pub use load::{Load, UNTIL_N, parse_rate};
pub use yaml::{At, Map, Pos, SpecError, Text, TextList};

/// The format version this build reads and writes.
pub const VERSION: u32 = 1;

/// The largest scenario file read (bytes).
pub const MAX_FILE: usize = crate::limits::SCENARIO_FILE as usize;

/// A whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The format version: 1.
    pub version: At<Text>,
    /// A name for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<At<String>>,
    /// What every step inherits unless it says otherwise.
    #[serde(default, skip_serializing_if = "Defaults::is_empty")]
    pub defaults: Defaults,
    /// Data feeds, by name: `{{NAME.COLUMN}}` in templates.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<At<DataSpec>>,
    /// How journeys arrive.
    #[serde(default, skip_serializing_if = "LoadSpec::is_empty")]
    pub load: LoadSpec,
    /// Pass/fail criteria, as `--threshold` takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<At<String>>,
    /// The journeys; one is picked per arrival, by weight.
    #[serde(default)]
    pub scenarios: Vec<At<ScenarioSpec>>,
}

/// What every step inherits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The base URL of relative step URLs (`http://127.0.0.1:8080`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<At<String>>,
    /// Headers of every request.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub headers: Map<At<Text>>,
    /// Timeout of each request (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<At<Text>>,
    /// Timeout of a whole journey (default: the longest it can take, every request
    /// timing out and every think at its longest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journey_timeout: Option<At<Text>>,
    /// Think time after each request step that is not followed by a `think` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<At<Text>>,
    /// HTTP version of requests: `1.1` (default) or `2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<At<Text>>,
    /// The most bytes of a response body kept for captures and checks (default 1MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<At<Text>>,
    /// Cookie jar: one per `journey` (default), per virtual user (`vu`), or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<At<Text>>,
    /// Redirects followed per request (default 0: a 3xx is the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<At<Text>>,
    /// Statuses that count as success (default 2xx and 3xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<At<TextList>>,
    /// Connections per host (default 50), shared by the journeys of a generator thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<At<Text>>,
    /// HTTPS: do not verify certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<At<bool>>,
    /// HTTPS: trust the certificates of this PEM file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cacert: Option<At<String>>,
}

impl Defaults {
    fn is_empty(&self) -> bool {
        *self == Defaults::default()
    }
}

/// A data feed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// A `.csv` (header line) or `.jsonl` file, relative to the scenario file.
    pub file: At<String>,
    /// Which row a journey takes: `sequential` (journey j takes row j mod rows, the
    /// default), `random`, or `unique` (row j; the run ends when the rows are used up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pick: Option<At<Text>>,
}

/// How journeys arrive (the flags of `run` override each key).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Journeys per second (`200`, `200/s`, `60/1m`): the open model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<At<Text>>,
    /// Length of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<At<Text>>,
    /// `constant` or `poisson` arrivals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<At<Text>>,
    /// A ramp `DUR:RATE,...` (the run lasts the sum of the stages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<At<Text>>,
    /// Seed of Poisson arrivals, templates, picks and think times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<At<Text>>,
    /// Virtual users looping journeys back to back: the closed model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus: Option<At<Text>>,
    /// Journeys in flight at most (k6's maxVUs); later arrivals wait, then are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<At<Text>>,
    /// Stop after this many journeys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journeys: Option<At<Text>>,
}

impl LoadSpec {
    fn is_empty(&self) -> bool {
        *self == LoadSpec::default()
    }
}

/// One journey.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Its name in reports.
    pub name: At<String>,
    /// Its share of the arrivals (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<At<Text>>,
    /// Its cookie jar (overrides the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<At<Text>>,
    /// Its steps, in order.
    #[serde(default)]
    pub steps: Vec<At<StepSpec>>,
}

/// One step: exactly one of `request` (or a method shorthand), `grpc`, `ws`, `think`, `loop`,
/// `if`, `group`, `parallel`; a request step may add `check`, `capture`, `on_fail` and
/// `timeout`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Its name in reports (default: `METHOD URL` as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<At<String>>,
    /// An HTTP request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<At<RequestSpec>>,
    /// `get: URL` (or `get: {url: …, headers: …}`), a GET request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get: Option<At<Shorthand>>,
    /// `post: URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<At<Shorthand>>,
    /// `put: URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub put: Option<At<Shorthand>>,
    /// `patch: URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<At<Shorthand>>,
    /// `delete: URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<At<Shorthand>>,
    /// A gRPC call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<At<GrpcSpec>>,
    /// A WebSocket exchange on the journey's connection to its URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws: Option<At<WsSpec>>,
    /// A pause: `2s`, `1s..3s`, `normal:2s,500ms`, `exp:2s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<At<Text>>,
    /// Steps repeated.
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub repeat: Option<At<LoopSpec>>,
    /// Steps run when a variable says so.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub when: Option<At<IfSpec>>,
    /// A named block whose time is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<At<GroupSpec>>,
    /// Requests sent at once (a page's resources); the step ends when all have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<At<Vec<At<StepSpec>>>>,
    /// Request step: what the answer must be; a failed check fails the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<At<CheckSpec>>,
    /// Request step: values taken from the answer, by variable name.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub capture: Map<At<CaptureSpec>>,
    /// Request step: `abort` (default: the journey ends) or `continue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_fail: Option<At<Text>>,
    /// Request step: its timeout (overrides the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<At<Text>>,
}

/// An HTTP request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The method (default GET, or the shorthand's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<At<String>>,
    /// The URL: absolute, or a path under `defaults.base`; templates in its path and query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<At<String>>,
    /// Headers (over the defaults').
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub headers: Map<At<Text>>,
    /// A body, as text (templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<At<String>>,
    /// A body as JSON (`Content-Type: application/json`); templates in its strings are
    /// escaped as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<At<serde_json::Value>>,
    /// A form body (`application/x-www-form-urlencoded`); templates are percent-encoded.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub form: Map<At<Text>>,
    /// HTTP version of this request: `1.1` or `2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<At<Text>>,
}

/// A method shorthand's value: a URL, or a request without its method.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shorthand(pub RequestSpec);

/// A gRPC call (unary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSpec {
    /// `grpc://HOST:PORT` or `grpcs://…` (default: `defaults.base`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<At<String>>,
    /// `package.Service/Method`.
    pub call: At<String>,
    /// The request message as JSON; templates in its strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<At<serde_json::Value>>,
    /// Metadata (headers).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<At<Text>>,
    /// The schema: .proto files (default: the server's reflection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proto: Vec<At<String>>,
    /// Import paths of `proto`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import_paths: Vec<At<String>>,
}

/// A WebSocket step: on the journey's connection to `url` (opened by its first step there,
/// held until `close` or the journey's end), send a message and/or wait for one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsSpec {
    /// `ws://HOST[:PORT]/PATH` or `wss://…` (default: `defaults.base`, when it is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<At<String>>,
    /// A message to send, as text (templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<At<String>>,
    /// Send it as a binary message (default: text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<At<bool>>,
    /// Wait for a message (default: true); its text is what checks and captures read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<At<bool>>,
    /// The answer is the message whose value at this JSONPath equals the sent one's.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matching: Option<At<String>>,
    /// Close the connection after the step (default: false; it closes with the journey).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<At<bool>>,
}

/// A loop: `count` times, or `over` a captured list (each item `as` a variable), at most
/// `max` times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopSpec {
    /// Times to run the steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<At<Text>>,
    /// A list variable (captured with `all: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<At<String>>,
    /// The variable each item of `over` is bound to (default `item`).
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub bind: Option<At<String>>,
    /// The most iterations (required with `over`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<At<Text>>,
    /// The steps repeated.
    #[serde(default)]
    pub steps: Vec<At<StepSpec>>,
}

/// A condition on a variable and the steps it chooses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IfSpec {
    /// The variable.
    pub var: At<String>,
    /// It is set (`true`) or not (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<At<bool>>,
    /// It equals this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<At<Text>>,
    /// It matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<At<String>>,
    /// Steps when it holds.
    #[serde(default)]
    pub then: Vec<At<StepSpec>>,
    /// Steps when it does not.
    #[serde(default, rename = "else", skip_serializing_if = "Vec::is_empty")]
    pub otherwise: Vec<At<StepSpec>>,
}

/// A named block of steps, timed as one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Its name in reports.
    pub name: At<String>,
    /// Its steps.
    #[serde(default)]
    pub steps: Vec<At<StepSpec>>,
}

/// What an answer must be.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Statuses: `200`, `[200, 201]`, `2xx`, `200-299,404`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<At<TextList>>,
    /// JSONPath (RFC 9535) → the value its one match must equal.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub jsonpath: Map<At<serde_json::Value>>,
    /// JSONPaths that must match at least once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exists: Vec<At<String>>,
    /// A regular expression the body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<At<String>>,
    /// Text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<At<String>>,
    /// Header → the value it must have.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub header: Map<At<Text>>,
    /// The longest the step may take (from when it was ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<At<Text>>,
}

/// Where a captured value comes from: exactly one of `jsonpath`, `regex`, `header`,
/// `cookie`. One match is required unless `all: true` (a list).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSpec {
    /// A JSONPath into the JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonpath: Option<At<String>>,
    /// A regular expression on the body, with a named group (`(?P<value>…)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<At<String>>,
    /// The named group of `regex` taken (default: its only named group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<At<String>>,
    /// A response header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<At<String>>,
    /// A cookie of the jar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<At<String>>,
    /// Every match, as a list (for `loop: {over: …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<At<bool>>,
}

impl RunSpec {
    /// Reads a scenario file's text; `file` names it in errors (`FILE:LINE:COL: why`).
    pub fn from_yaml(text: &str, file: &str) -> Result<RunSpec, SpecError> {
        yaml::read(text, file)
    }

    /// The YAML text of this specification.
    pub fn to_yaml(&self) -> String {
        yaml::write(self)
    }
}
