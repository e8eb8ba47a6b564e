//! The options of `run`, `demo` and `search`: the load, the protocols, the outputs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::OutputArgs;
use super::parse::*;

/// Options shared by `run` and `demo`. Unset options take the command's defaults.
#[derive(Debug, Args, Default)]
pub struct LoadArgs {
    /// Loads per second (also 1000/s, 60/1m); 0 = closed loop [run: 0, demo: 1000]
    /// (-R as in wrk2, -q as in oha and hey, --rps, --qps)
    #[arg(short, short_aliases = ['R', 'q'], long, aliases = ["rps", "qps"], value_name = "LPS", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Ramp the rate through stages DUR:LPS,... (from --rate, or 0), e.g. 10s:100,30s:1000,10s:0;
    /// the run lasts the sum of the stages
    #[arg(long, value_name = "STAGES", conflicts_with_all = ["duration", "arrival"])]
    pub stages: Option<String>,
    /// Arrival process of the rate: constant spacing, or Poisson (exponential gaps)
    /// [default: constant]
    #[arg(long, value_enum, value_name = "KIND")]
    pub arrival: Option<ArrivalKind>,
    /// Seed of --arrival poisson [default: 1] and of template random values and
    /// --targets-order random [default: drawn at start, printed in the report]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Length of the run, e.g. 500ms, 10s, 2m; a bare number is seconds [run: 10s, demo: 5s]
    /// (-z as in hey and oha)
    #[arg(short, short_alias = 'z', long, value_name = "DUR", value_parser = parse_run_duration)]
    pub duration: Option<Duration>,
    /// Per-call timeout, with its unit: 2s, 500ms [run: 1s, demo: 50ms] (not wrk's
    /// threads: that is --threads)
    #[arg(short, long, value_name = "DUR", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Slots (calls in flight) [default: ceil(rate × timeout) + 1; closed loop: 50]
    /// (--vus as in k6)
    #[arg(short, long, visible_alias = "vus", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: Option<u64>,
    /// Stop after N loads; without -d the run lasts as long as they take at the rate
    /// (closed loop: until they are done), at most 1 h
    #[arg(short = 'n', long = "loads", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub loads: Option<u64>,
    /// Connections per target [default: with a rate, up to 50, opened on demand; closed loop:
    /// one per slot (HTTP/2: per --streams slots)]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub connections: Option<u64>,
    /// Generator threads (shards) [default: number of cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..1025))]
    pub threads: Option<u64>,
    /// Journeys: the base URL of relative step URLs (over the file's defaults.base)
    #[arg(long, value_name = "URL", help_heading = "Journeys")]
    pub base: Option<String>,
    /// Journeys: the timeout of a whole journey [default: the scenario file's, else the
    /// longest a journey can take]
    #[arg(long, value_name = "DUR", value_parser = parse_timeout, help_heading = "Journeys")]
    pub journey_timeout: Option<Duration>,
    /// Time in-flight calls get after a stop [default: the timeout]
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub grace: Option<Duration>,
    /// calc, tcp: open a new connection for every load (as the book's client)
    #[arg(long)]
    pub dial_per_call: bool,
    /// calc: always use this operator (+ - * /) [default: cycle through all four]
    #[arg(long, value_name = "OP")]
    pub operator: Option<String>,
    /// calc: always send these operands, comma-separated [default: pseudo-random]
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    pub operands: Option<Vec<i64>>,
    /// http: request method
    #[arg(
        short = 'm',
        long,
        value_name = "METHOD",
        default_value = "GET",
        help_heading = "HTTP"
    )]
    pub method: String,
    /// http: extra request header 'Name: value' (repeatable)
    #[arg(
        short = 'H',
        long = "header",
        value_name = "HEADER",
        help_heading = "HTTP"
    )]
    pub headers: Vec<String>,
    /// http: request body, or @FILE to read it from a file
    #[arg(long, value_name = "STR|@FILE", help_heading = "HTTP")]
    pub body: Option<String>,
    /// http: statuses that count as success, e.g. 200,204 or 2xx or 200-299 [default: 2xx,3xx]
    #[arg(long, value_name = "LIST", help_heading = "HTTP")]
    pub expect_status: Option<String>,
    /// http, tcp, udp, ws: text the response must contain (tcp, udp default: equal to the payload)
    #[arg(long, value_name = "STR", help_heading = "HTTP")]
    pub expect_body: Option<String>,
    /// http: a new connection per request (Connection: close)
    #[arg(long, help_heading = "HTTP")]
    pub disable_keepalive: bool,
    /// http: HTTP/2 (h2c with prior knowledge on http://, ALPN h2 on https://)
    #[arg(long, help_heading = "HTTP")]
    pub http2: bool,
    /// https: HTTP/3 over QUIC (quinn and the h3 crate, which calls itself experimental);
    /// https:// targets only, TLS 1.3, no --proxy or --unix-socket
    #[arg(long, conflicts_with_all = ["http2", "hyper"], help_heading = "HTTP")]
    pub http3: bool,
    /// http: concurrent streams per HTTP/2 or HTTP/3 connection, at most what the server allows (connections open as streams fill)
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..), help_heading = "HTTP")]
    pub streams: u32,
    /// http: use hyper for HTTP/1.1 too (instead of the fast built-in client)
    #[arg(long, help_heading = "HTTP")]
    pub hyper: bool,
    /// http: follow up to N redirects (301, 302, 303, 307, 308) on the target's origin;
    /// the answer is the first that is not one, a loop or more hops a response_error
    /// (curl's --location); 0: a redirect is the answer
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=20), help_heading = "HTTP")]
    pub follow: u32,
    /// https: do not verify the server certificate
    #[arg(short = 'k', long, help_heading = "HTTP")]
    pub insecure: bool,
    /// https: trust the certificates in this PEM file instead of the web PKI roots
    #[arg(long, value_name = "FILE", help_heading = "HTTP")]
    pub cacert: Option<PathBuf>,
    /// https: present this PEM client certificate (mTLS; needs --key)
    #[arg(long, value_name = "FILE", requires = "key", help_heading = "HTTP")]
    pub cert: Option<PathBuf>,
    /// https: the PEM private key of --cert
    #[arg(long, value_name = "FILE", requires = "cert", help_heading = "HTTP")]
    pub key: Option<PathBuf>,
    /// grpc: the method, package.Service/Method (e.g. calc.Calc/Compute)
    #[arg(long, value_name = "METHOD", help_heading = "gRPC")]
    pub call: Option<String>,
    /// grpc: the schema from this .proto file (repeatable; compiled in process, no protoc)
    /// [default: the server's reflection]
    #[arg(long, value_name = "FILE", help_heading = "gRPC")]
    pub proto: Vec<PathBuf>,
    /// grpc: an import path of --proto (repeatable)
    #[arg(short = 'I', long, value_name = "DIR", help_heading = "gRPC")]
    pub import_path: Vec<PathBuf>,
    /// grpc: the schema from a descriptor set (protoc --descriptor_set_out --include_imports)
    #[arg(long, value_name = "FILE", help_heading = "gRPC")]
    pub protoset: Option<PathBuf>,
    /// grpc: the request message as JSON, an array of them (used in turn), or @FILE; ws:
    /// the message's text, or @FILE; templates as for HTTP bodies [default: grpc {}, ws
    /// rtt and send 'ping', ws subscribe none]
    #[arg(long, value_name = "JSON|@FILE", help_heading = "gRPC")]
    pub message: Option<String>,
    /// ws: what a load does — rtt: send --message and wait for its answer; send: send it
    /// (done when written); subscribe: wait for the next message the server pushes
    /// (--message, if given, is sent once on each new connection)
    #[arg(long, value_enum, value_name = "MODE", default_value_t = WsModeArg::Rtt, help_heading = "WebSocket")]
    pub ws_mode: WsModeArg,
    /// ws, rtt: the answer is the message whose value at this JSONPath equals the sent
    /// message's (e.g. '$.id'; other messages are skipped) [default: the next message]
    #[arg(long, value_name = "JSONPATH", help_heading = "WebSocket")]
    pub ws_match: Option<String>,
    /// ws: send binary messages instead of text
    #[arg(long, help_heading = "WebSocket")]
    pub ws_binary: bool,
    /// grpc: messages a client-streaming or bidirectional call sends
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), help_heading = "gRPC")]
    pub stream_messages: u32,
    /// A full-screen live view (q or Ctrl-C stops the run, l switches the latency scale);
    /// needs a terminal
    #[arg(long, help_heading = "Watching")]
    pub tui: bool,
    /// Peers' flags that mean what loadgen always does: `--no-tui` (oha: no live view is
    /// the default), `-L`/`--latency` (wrk: the distribution is always printed),
    /// `--latency-correction` (oha: latency always counts from the intended start)
    #[arg(long = "latency", short = 'L', aliases = ["no-tui", "latency-correction"], hide = true, action = clap::ArgAction::Count)]
    pub peers_default: u8,
    /// Serve Prometheus/OpenMetrics metrics at ADDR (e.g. 127.0.0.1:9090) during the run
    #[arg(long, value_name = "ADDR", help_heading = "Watching")]
    pub metrics: Option<String>,
    /// The run's id, the `run` label of every --metrics series (the same on every shard, so
    /// PromQL sums a run's shards) [default: start-SECS of --start-at,
    /// else this process's start]
    #[arg(long, value_name = "ID", env = "LOADGEN_RUN_ID", value_parser = parse_run_id, help_heading = "Watching")]
    pub run_id: Option<String>,
    /// Keep --metrics serving this long after the report is written (for a last scrape)
    #[arg(long, value_name = "DUR", default_value = "0s", value_parser = parse_duration, help_heading = "Watching")]
    pub metrics_linger: Duration,
    /// Write one JSON line per second (the summary's timeline fields) to FILE, - for stdout
    #[arg(long, value_name = "FILE", help_heading = "Watching")]
    pub live: Option<PathBuf>,
    /// http: a data feed (.csv with a header line, or .jsonl); load j takes row j mod rows,
    /// its columns are template fields ({{user_id}})
    #[arg(long, value_name = "FILE", help_heading = "HTTP")]
    pub data: Option<PathBuf>,
    /// Connect to CONNECT_HOST:CONNECT_PORT for HOST:PORT (curl's; the Host header and TLS
    /// name stay HOST; empty fields match any), e.g. api.example.com:443:127.0.0.1:8443
    #[arg(long, value_name = "HOST:PORT:CONNECT_HOST:CONNECT_PORT")]
    pub connect_to: Vec<String>,
    /// http, grpc, journeys: the longest a connection may take to open (TCP, proxy tunnel,
    /// TLS handshake); longer is a call_error [default: bounded by --timeout]
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub connect_timeout: Option<Duration>,
    /// http, grpc: reach the targets through this HTTP proxy, http://HOST:PORT (a CONNECT
    /// tunnel for every connection, as curl's --proxytunnel)
    #[arg(short = 'x', long, value_name = "URL", help_heading = "HTTP")]
    pub proxy: Option<String>,
    /// http: connect through this Unix domain socket (curl's), e.g. http://localhost/path
    #[arg(long, value_name = "PATH", help_heading = "HTTP")]
    pub unix_socket: Option<PathBuf>,
    /// http: send URLs, headers and bodies as written ('{{' is not a template)
    #[arg(long, help_heading = "HTTP")]
    pub no_templates: bool,
    /// tcp, udp: bytes to send per load (escapes \n \r \t \\ \xHH), or @FILE
    #[arg(long, value_name = "STR|@FILE", help_heading = "TCP/UDP")]
    pub payload: Option<String>,
    /// tcp: an answer ends with this (escapes allowed) [default: as long as the payload]
    #[arg(long, value_name = "STR", help_heading = "TCP/UDP")]
    pub delimiter: Option<String>,
    /// tcp: an answer is exactly N bytes [default: the payload's length]
    #[arg(long, value_name = "N", help_heading = "TCP/UDP")]
    pub frame_length: Option<usize>,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Stream one record per load (index, target, intended/sent/end times, outcome) to FILE
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Format of --results
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ResultsFormat::Jsonl)]
    pub results_format: ResultsFormat,
    /// Print a progress line on stderr even when it is not a terminal
    #[arg(long, conflicts_with = "quiet")]
    pub progress: bool,
    /// How often a progress line is printed (with --progress off a terminal)
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_positive_duration)]
    pub progress_every: Duration,
    /// No live progress (-q is the rate, as in oha and hey)
    #[arg(long)]
    pub quiet: bool,
    /// Run shard I of N of the schedule (loads j with j mod N = I) [env: LOADGEN_SHARD;
    /// or JOB_COMPLETION_INDEX with --shards]
    #[arg(long, value_name = "I/N", help_heading = "Sharding", value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Shard count when the index comes from JOB_COMPLETION_INDEX (Kubernetes Indexed Job)
    #[arg(long, value_name = "N", env = "LOADGEN_SHARDS", help_heading = "Sharding", value_parser = clap::value_parser!(u64).range(1..))]
    pub shards: Option<u64>,
    /// Start the schedule at this wall-clock time: RFC 3339 (2026-11-26T15:00:00Z) or Unix
    /// seconds; the same for every shard
    #[arg(long, value_name = "TIME", help_heading = "Sharding", value_parser = parse_start_at)]
    pub start_at: Option<std::time::SystemTime>,
    /// Dispatcher wake-ups at least this far apart; loads due in between go out together.
    /// Larger saves CPU (fewer wake-ups) and adds up to this much send lag. auto: a fifth
    /// of the median service time so far, within 100us..2ms (starting at 100us)
    #[arg(long, value_name = "DUR|auto", default_value = "auto", value_parser = parse_quantum)]
    pub pacing_quantum: Quantum,
    /// Pace with the 1 ms tokio timer instead of the microsecond timerfd
    #[arg(long)]
    pub coarse_timer: bool,
    /// Wake for every response as it arrives, instead of sleeping to the next pacing tick
    /// and reading the responses that came meanwhile in one batch (batches are dated by
    /// the kernel's receive time, so latency is the same; this costs a wake-up per load)
    #[arg(long)]
    pub eager_reads: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ArrivalKind {
    /// Evenly spaced: load j at j/rate
    #[default]
    Constant,
    /// Exponential gaps with mean 1/rate
    Poisson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum WsModeArg {
    /// Send a message, wait for its answer
    #[default]
    Rtt,
    /// Send a message
    Send,
    /// Wait for the next pushed message
    Subscribe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ResultsFormat {
    /// One JSON object per line
    #[default]
    Jsonl,
    /// CSV with a header line
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SummaryFormat {
    /// The report for people
    #[default]
    Text,
    /// key=value lines (requests= rps= p50_us= p99_us= errors= ...)
    Kv,
    /// Nothing
    None,
}

/// `--run-id`: a Prometheus label value people type: 1 to 64 letters, digits, `-`, `_`, `.`.
fn parse_run_id(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}': 1 to 64 letters, digits, '-', '_' or '.'"))
    }
}
