//! Raw command-line arguments (clap derive). Validation into a run plan is in `config.rs`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  loadgen demo                                       # built-in calc server + 5 s at 1000 LPS
  loadgen serve calc --listen 127.0.0.1:7070         # run the calc test server
  loadgen run calc://127.0.0.1:7070 -r 2000 -d 30s -t 100ms
  loadgen run calc://127.0.0.1:7070 -c 50 -d 10s     # closed loop, 50 slots
  loadgen run calc://127.0.0.1:7070 -r 500 --json run.json --summary kv
  loadgen serve http --listen 127.0.0.1:8080 --delay normal:5ms,1ms
  loadgen run http://127.0.0.1:8080/ -r 5000 -d 30s --connections 50
  loadgen run https://example.test/api -m POST -H 'Content-Type: application/json' --body @req.json --http2
  loadgen run 3*http://127.0.0.1:8080/a http://127.0.0.1:8080/b -r 1000   # 3:1 by weight
  loadgen serve echo --tcp 127.0.0.1:9000 --udp 127.0.0.1:9001
  loadgen run udp://127.0.0.1:9001 -r 1000 --payload ping
  loadgen run grpc://127.0.0.1:50051 --call calc.Calc/Compute --message '{\"operands\":[1,2]}' -r 500
  loadgen run http://127.0.0.1:8080/ -r 1000 --threshold 'p(95)<20ms' --threshold 'errors<0.1%'
  loadgen run --targets requests.txt -r 500            # vegeta's targets format
  loadgen run examples/scenarios/shop.yaml -r 100 -d 1m   # journeys from a scenario file
  loadgen demo --scenario                              # a journey against the built-in demo API";

/// A high-concurrency load generator: precise rates, every load accounted for.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send loads to TARGET(s) and report.
    #[command(after_help = EXAMPLES)]
    Run(RunArgs),
    /// Run a built-in test server.
    #[command(subcommand)]
    Serve(ServeCommand),
    /// Start the calc server on 127.0.0.1:0 (--grpc: over gRPC) and run 5 s at 1000 LPS against it.
    Demo(DemoArgs),
    /// Merge the JSON summaries of shards into one (exactly: histograms add).
    Merge(MergeArgs),
    /// Print the report of a saved JSON summary (and write it as HTML).
    Report(ReportArgs),
    /// Find the highest constant rate that meets an SLO, by stepped runs.
    Search(SearchArgs),
    /// Compare two saved runs: latency, throughput, TPS and errors, each change with its
    /// noise and a verdict; --fail-if gates for CI (exit code 2).
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
}

const COMPARE_EXAMPLES: &str = "\
Examples:
  loadgen compare base.json new.json
  loadgen compare base.json new.json --fail-if 'p99 +10%' --fail-if 'errors +0.5pp' --html diff.html
A change within the noise (sampling error and drift over the runs' seconds) is 'same'; a
gate fails when the change passes its bound and the noise.";

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a JSON summary written by `run --json` or `merge --json`
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// The run to judge against it
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Fail (exit code 2) when a figure gets worse by more than a bound and its noise:
    /// 'p99 +10%', 'mean +2ms', 'tps -5%', 'throughput -5%', 'errors +0.5pp' (repeatable)
    #[arg(long, value_name = "EXPR", value_parser = parse_fail_if)]
    pub fail_if: Vec<loadgen::report::compare::FailIf>,
    /// Write a self-contained HTML page with both runs' curves to FILE
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the comparison as JSON to FILE (- for stdout; the text then goes to stderr)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn parse_fail_if(s: &str) -> Result<loadgen::report::compare::FailIf, String> {
    loadgen::report::compare::FailIf::parse(s)
}

#[derive(Debug, Args)]
#[command(
    mut_arg("rate", |a| a.hide(true)),
    mut_arg("duration", |a| a.hide(true)),
    mut_arg("stages", |a| a.hide(true)),
    mut_arg("loads", |a| a.hide(true))
)]
pub struct SearchArgs {
    /// Target(s), as for `run`, or a scenario file (the journey rate is searched)
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    /// The SLO every step must meet, e.g. 'p99<10ms' (repeatable; threshold syntax)
    #[arg(long, required = true, value_name = "EXPR", value_parser = parse_threshold)]
    pub slo: Vec<loadgen::report::threshold::Threshold>,
    /// First rate tried
    #[arg(long, value_name = "LPS", default_value_t = 100.0, value_parser = parse_rate)]
    pub min_rate: f64,
    /// Highest rate tried
    #[arg(long, value_name = "LPS", default_value_t = 100_000.0, value_parser = parse_rate)]
    pub max_rate: f64,
    /// Length of each stepped run
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_positive_duration)]
    pub step_duration: Duration,
    /// Stop bisecting when the bracket is within this fraction of the answer
    #[arg(long, value_name = "FRACTION", default_value_t = 0.05, value_parser = parse_fraction)]
    pub precision: f64,
    /// At most this many steps
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_steps: u64,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// JSON summaries written by `run --json` (one per shard)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A JSON summary written by `run --json` or `merge --json`
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Where a summary goes.
#[derive(Debug, Args, Default, Clone)]
pub struct OutputArgs {
    /// Write the JSON summary to FILE (- for stdout; the text report then goes to stderr)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report with charts to FILE
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a JUnit XML file for CI (thresholds, journey checks and the accounting as
    /// test cases) to FILE
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// What to print on stdout
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = SummaryFormat::Text)]
    pub summary: SummaryFormat,
    /// Pass/fail criterion, e.g. 'p99<50ms', 'p99.9<200ms', 'success>99.9%', 'errors<0.1%',
    /// 'tps>900', 'dropped==0' (repeatable); exit code 2 if one is violated
    #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold)]
    pub thresholds: Vec<loadgen::report::threshold::Threshold>,
}

fn parse_threshold(s: &str) -> Result<loadgen::report::threshold::Threshold, String> {
    loadgen::report::threshold::Threshold::parse(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Targets: calc://HOST:PORT, http[s]://HOST[:PORT]/PATH, grpc[s]://HOST:PORT,
    /// tcp://HOST:PORT, udp://HOST:PORT. Prefix WEIGHT* to weight one (e.g.
    /// 3*http://h:8080/a). A FILE.yaml is a scenario file (as --scenario)
    #[arg(required_unless_present_any = ["targets_file", "scenario"], value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Journeys from a scenario file (YAML, version 1); the flags of run override its keys
    #[arg(long, value_name = "FILE", conflicts_with_all = ["targets", "targets_file"], help_heading = "Journeys")]
    pub scenario: Option<PathBuf>,
    /// Print the scenario file this run is (flags included) and exit, without a run
    #[arg(long, help_heading = "Journeys")]
    pub print_scenario: bool,
    /// http: requests from FILE (- for stdin) in vegeta's formats: 'METHOD URL' blocks with
    /// header lines and @BODYFILE, or JSON lines {"method","url","header","body"(base64)}
    #[arg(
        long = "targets",
        value_name = "FILE",
        conflicts_with = "targets",
        help_heading = "HTTP"
    )]
    pub targets_file: Option<String>,
    /// http: format of --targets [default: json if the file starts with '{', else http]
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        requires = "targets_file",
        help_heading = "HTTP"
    )]
    pub targets_format: Option<TargetsFormat>,
    /// http: order of --targets requests: each in turn, or drawn at random (seeded)
    #[arg(long, value_enum, value_name = "ORDER", default_value_t = TargetsOrder::Sequential, requires = "targets_file", help_heading = "HTTP")]
    pub targets_order: TargetsOrder,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// `--targets-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetsFormat {
    /// `METHOD URL` blocks (vegeta's default)
    Http,
    /// One JSON object per line (vegeta's -format=json)
    Json,
}

/// `--targets-order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetsOrder {
    /// Each request in turn, from the top (load j sends request j mod n)
    Sequential,
    /// A request drawn at random for each load (from --seed)
    Random,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Against the calc service over gRPC (serve grpc) instead of the JSON-lines calc server
    #[arg(long, conflicts_with = "scenario")]
    pub grpc: bool,
    /// Journeys against the demo API of serve http: the built-in login → items → cart
    /// journey, or the scenario FILE (its base URL set to the server)
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
    pub scenario: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
}

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
    /// http, tcp, udp: text the response must contain (tcp, udp default: equal to the payload)
    #[arg(long, value_name = "STR", help_heading = "HTTP")]
    pub expect_body: Option<String>,
    /// http: a new connection per request (Connection: close)
    #[arg(long, help_heading = "HTTP")]
    pub disable_keepalive: bool,
    /// http: HTTP/2 (h2c with prior knowledge on http://, ALPN h2 on https://)
    #[arg(long, help_heading = "HTTP")]
    pub http2: bool,
    /// http: concurrent streams per HTTP/2 connection, at most what the server allows (connections open as streams fill)
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
    /// grpc: the request message as JSON, an array of them (used in turn), or @FILE; templates
    /// as for HTTP bodies [default: {}]
    #[arg(long, value_name = "JSON|@FILE", help_heading = "gRPC")]
    pub message: Option<String>,
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
    /// Larger saves CPU (fewer wake-ups) and adds up to this much send lag
    #[arg(long, value_name = "DUR", default_value = "100us", value_parser = parse_duration)]
    pub pacing_quantum: Duration,
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

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// The book's arithmetic service (JSON lines over TCP).
    Calc(ServeArgs),
    /// An HTTP/1.1 + h2c test server with delay, status, size and error knobs.
    #[command(after_help = HTTP_SERVER_HELP)]
    Http(ServeHttpArgs),
    /// TCP and UDP echo servers.
    Echo(ServeEchoArgs),
    /// The calc service over gRPC (calc.Calc/Compute, calc.Calc/Steps) with reflection.
    Grpc(ServeGrpcArgs),
}

/// TLS options of `serve http` and `serve grpc`.
#[derive(Debug, Args)]
pub struct ServeTlsArgs {
    /// Serve TLS with this PEM certificate chain (needs --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by a CA of this PEM file (mTLS; needs --tls-cert)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeGrpcArgs {
    #[command(flatten)]
    pub common: ServeArgs,
    /// Delay before each answer: 10ms, uniform:5ms-15ms, normal:10ms,2ms, exp:10ms
    #[arg(long, value_name = "DIST", default_value = "0ms")]
    pub delay: String,
    /// Fraction of calls (0..1) answered UNAVAILABLE instead
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_fraction)]
    pub error_rate: f64,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
}

const HTTP_SERVER_HELP: &str = "\
Per-request knobs (query parameters): delay=10ms, status=503, size=1024, close=1,
redirect=3 (three 302 hops, then the answer), location=/x (a 302 there).
The body of a response echoes the request body unless a size is set.";

#[derive(Debug, Args)]
pub struct ServeHttpArgs {
    #[command(flatten)]
    pub common: ServeArgs,
    /// Delay before each response: 10ms, uniform:5ms-15ms, normal:10ms,2ms, exp:10ms
    #[arg(long, value_name = "DIST", default_value = "0ms")]
    pub delay: String,
    /// Status of each response
    #[arg(long, value_name = "CODE", default_value_t = 200, value_parser = clap::value_parser!(u16).range(100..600))]
    pub status: u16,
    /// Body size of each response [default: echo the request body]
    #[arg(long, value_name = "BYTES")]
    pub size: Option<usize>,
    /// Fraction of responses (0..1) answered 503 instead
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_fraction)]
    pub error_rate: f64,
    /// HTTP/2 streams a client may open at once on a connection
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,
    /// Close the connection after every response (Connection: close)
    #[arg(long)]
    pub close: bool,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
}

#[derive(Debug, Args)]
pub struct ServeEchoArgs {
    /// TCP address to echo on
    #[arg(long, value_name = "ADDR")]
    pub tcp: Option<String>,
    /// UDP address to echo on
    #[arg(long, value_name = "ADDR")]
    pub udp: Option<String>,
    /// UDP: do not answer every N-th datagram (to test loss)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub udp_drop_every: Option<u64>,
    /// Runtime worker threads
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..1025))]
    pub threads: u64,
    /// TCP connections served at once; more are closed on accept
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Close TCP connections idle this long
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,
}

/// `I/N` with I < N.
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("'{s}': expected I/N with 0 ≤ I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// RFC 3339 or Unix seconds, in the future but at most a day ahead.
pub fn parse_start_at(s: &str) -> Result<std::time::SystemTime, String> {
    use std::time::{SystemTime, UNIX_EPOCH};
    let far = || format!("{s} is more than a day ahead");
    let t = match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| UNIX_EPOCH.checked_add(d))
            .ok_or_else(far)?,
        Ok(_) => return Err("expected RFC 3339 or Unix seconds".into()),
        Err(_) => humantime::parse_rfc3339_weak(s.trim()).map_err(|_| {
            "expected RFC 3339 (e.g. 2026-11-26T15:00:00Z) or Unix seconds".to_string()
        })?,
    };
    let now = SystemTime::now();
    match t.duration_since(now) {
        Err(_) => Err(format!("{s} is in the past")),
        Ok(d) if d > Duration::from_secs(86_400) => Err(far()),
        Ok(_) => Ok(t),
    }
}

/// A fraction in 0..=1.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a fraction between 0 and 1, e.g. 0.01".into()),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr)
    /// [calc: 127.0.0.1:7070, http: 127.0.0.1:8080, grpc: 127.0.0.1:50051]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Runtime worker threads
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..1025))]
    pub threads: u64,
    /// Connections served at once; more are closed on accept
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Close connections idle this long
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,
}

/// A rate: a finite number ≥ 0 of loads per second, or per a duration (`1000/s`,
/// `60/1m`, `5/100ms`, as vegeta writes it).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    if let Some(v) = s.trim().strip_prefix("ate=") {
        // vegeta's -rate=1000 reads as -r 'ate=1000'
        return Err(format!(
            "write --rate={v} or -r {v} (two dashes for long flags)"
        ));
    }
    loadgen::spec::parse_rate(s)
}

/// A duration like `500ms`, `10s`, `2m`, `1m30s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err("expected a duration ≥ 0, e.g. 500ms, 10s, 2m".into());
        }
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    humantime::parse_duration(s).map_err(|_| "expected a duration like 500ms, 10s, 2m".to_string())
}

/// A timeout: a duration with its unit. A bare number is refused: wrk's `-t 2` means two
/// threads, and a silent two-second timeout would be a surprise.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    if s.trim().parse::<f64>().is_ok() {
        return Err(format!(
            "'{s}' has no unit: write {}s or {}ms (generator threads are --threads)",
            s.trim(),
            s.trim()
        ));
    }
    parse_positive_duration(s)
}

/// The run's length (`-d`): a duration greater than zero; a value that looks like a
/// request body (oha's, hey's and curl's `-d`) gets the name loadgen gives it.
pub fn parse_run_duration(s: &str) -> Result<Duration, String> {
    parse_positive_duration(s).map_err(|why| {
        let t = s.trim_start();
        if t.starts_with(['{', '[', '@', '<']) || t.contains('=') {
            "-d is the run's duration here (as in wrk and vegeta); a request body is --body '…' or --body @FILE (oha's and hey's -d), a gRPC message --message '…' (ghz's -d)".to_string()
        } else {
            why
        }
    })
}

/// A duration greater than zero.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("the duration must be greater than zero".into());
    }
    Ok(d)
}

/// Resolves C-like escapes: \\n \\r \\t \\0 \\\\ \\xHH.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let e = *b.get(i + 1).ok_or("a trailing backslash")?;
        i += 2;
        out.push(match e {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'0' => 0,
            b'\\' => b'\\',
            b'x' => {
                let hex = s.get(i..i + 2).ok_or("\\x needs two hex digits")?;
                i += 2;
                u8::from_str_radix(hex, 16).map_err(|_| format!("\\x{hex} is not hex"))?
            }
            other => return Err(format!("unknown escape \\{}", other as char)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape("a\\nb\\x41\\\\"), Ok(b"a\nbA\\".to_vec()));
        assert!(unescape("\\q").is_err());
        assert!(unescape("x\\").is_err());
        assert!(unescape("\\xZZ").is_err());
        assert_eq!(parse_fraction("0.5"), Ok(0.5));
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        for bad in ["4/4", "1", "a/b", "0/0", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let now = std::time::SystemTime::now();
        let unix = |d: i64| {
            ((now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64) + d).to_string()
        };
        assert!(parse_start_at(&unix(60)).is_ok());
        assert!(
            parse_start_at(&unix(-60))
                .unwrap_err()
                .contains("in the past")
        );
        assert!(
            parse_start_at(&unix(2 * 86_400))
                .unwrap_err()
                .contains("a day ahead")
        );
        assert!(parse_start_at("2020-01-01T00:00:00Z").is_err());
        assert!(parse_start_at("tomorrow").is_err());
        for huge in [
            "1e20",
            "9223372036854775807",
            "18446744073709551616",
            "1e308",
        ] {
            assert!(
                parse_start_at(huge).unwrap_err().contains("ahead"),
                "{huge}"
            );
        }
        assert!(parse_fraction("2").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_positive_duration("0s").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("1000"), Ok(1000.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert!(parse_rate("-5").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("NaN").is_err());
        assert!(parse_rate("inf").is_err());
        assert_eq!(parse_rate("1000/s"), Ok(1000.0));
        assert_eq!(parse_rate("60/1m"), Ok(1.0));
        assert_eq!(parse_rate("5/100ms"), Ok(50.0));
        assert!(parse_rate("5/0s").is_err());
        assert!(parse_rate("5/parsec").is_err());
        assert!(parse_rate("ate=1000").unwrap_err().contains("--rate=1000"));
    }

    #[test]
    fn timeouts_need_a_unit() {
        assert!(parse_timeout("2").unwrap_err().contains("--threads"));
        assert!(parse_timeout("100").is_err());
        assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_timeout("0s").is_err());
    }
}
