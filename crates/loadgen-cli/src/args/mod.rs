//! Raw command-line arguments (clap derive), by role: the commands here, the options of
//! a run (`load`), the servers' (`serve`), and the value parsers (`parse`). Validation into
//! a run plan is in `config`.

mod load;
mod parse;
mod serve;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use load::*;
pub use parse::*;
pub use serve::*;

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
  loadgen serve ws &  loadgen run ws://127.0.0.1:8765/ -r 2000 --message '{\"id\":\"{{uuid}}\"}' --ws-match '$.id'
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
    /// Watch a fleet: scrape several shards' --metrics and show the run summed, live (a
    /// line a second, or the --tui dashboard), until every shard has ended.
    Watch(WatchArgs),
}

/// `loadgen watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The shards' --metrics endpoints: HOST:PORT or http://HOST:PORT[/metrics]
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<String>,
    /// Scrape this often
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_positive_duration)]
    pub every: Duration,
    /// The full-screen dashboard of run --tui (q quits); needs a terminal
    #[arg(long)]
    pub tui: bool,
    /// Give up this long after the last shard answered, if not every shard has ended
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_positive_duration)]
    pub give_up: Duration,
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
    loadgen::report::compare::FailIf::parse(s).map_err(|e| e.to_string())
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
    /// ws[s]://HOST[:PORT]/PATH, tcp://HOST:PORT, udp://HOST:PORT. Prefix WEIGHT* to weight one (e.g.
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
