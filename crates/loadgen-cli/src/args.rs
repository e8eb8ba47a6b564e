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
  loadgen run calc://127.0.0.1:7070 -r 500 --json run.json --summary kv";

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
    /// Start the calc server on 127.0.0.1:0 and run 5 s at 1000 LPS against it.
    Demo(LoadArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Targets: calc://HOST:PORT. Prefix WEIGHT* to weight one (e.g. 3*calc://h:1).
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Options shared by `run` and `demo`. Unset options take the command's defaults.
#[derive(Debug, Args, Default)]
pub struct LoadArgs {
    /// Loads per second; 0 = closed loop [run: 0, demo: 1000]
    #[arg(short, long, value_name = "LPS", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Length of the run, e.g. 500ms, 10s, 2m [run: 10s, demo: 5s]
    #[arg(short, long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub duration: Option<Duration>,
    /// Per-call timeout [run: 1s, demo: 50ms]
    #[arg(short, long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub timeout: Option<Duration>,
    /// Slots (calls in flight) [default: ceil(rate × timeout) + 1; closed loop: 50]
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: Option<u64>,
    /// Stop after N loads (if the duration does not end the run first)
    #[arg(short = 'n', long = "loads", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub loads: Option<u64>,
    /// Connections per target [default: one per slot]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub connections: Option<u64>,
    /// Generator threads (shards) [default: number of cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..1025))]
    pub threads: Option<u64>,
    /// Time in-flight calls get after a stop [default: the timeout]
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub grace: Option<Duration>,
    /// calc: open a new connection for every load (as the book's client)
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
    /// Write the JSON summary to FILE (- for stdout; the text report then goes to stderr)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// What to print on stdout when the run ends
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = SummaryFormat::Text)]
    pub summary: SummaryFormat,
    /// Pace with the 1 ms tokio timer instead of the microsecond timerfd
    #[arg(long)]
    pub coarse_timer: bool,
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
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    pub listen: String,
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

/// A rate: a finite number ≥ 0.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| "expected loads per second, e.g. 1000".to_string())?;
    if !v.is_finite() || v < 0.0 {
        return Err("the rate must be a number ≥ 0".into());
    }
    if v > 1e9 {
        return Err("the rate must be at most 1e9".into());
    }
    Ok(v)
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

/// A duration greater than zero.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("the duration must be greater than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
