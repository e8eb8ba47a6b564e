//! The options of the built-in servers (`serve calc|http|grpc|echo`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::parse::*;

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
    /// A WebSocket server: echoes every message (after --delay), pushes --publish
    /// messages a second to every connection.
    Ws(ServeWsArgs),
}

#[derive(Debug, Args)]
pub struct ServeWsArgs {
    #[command(flatten)]
    pub common: ServeArgs,
    /// Delay before each echo: 10ms, uniform:5ms-15ms, normal:10ms,2ms, exp:10ms
    #[arg(long, value_name = "DIST", default_value = "0ms")]
    pub delay: String,
    /// Push this many messages a second ({"seq":N}) to every connection
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_publish)]
    pub publish: f64,
    /// Do not echo the messages received (a sink for send loads)
    #[arg(long)]
    pub no_echo: bool,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
}

/// TLS options of `serve http`, `serve grpc` and `serve ws`.
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
    /// Serve HTTP/3 too, on UDP at the same port (QUIC; the --tls-cert certificate, or a
    /// self-signed one for 127.0.0.1, ::1 and localhost)
    #[arg(long)]
    pub http3: bool,
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

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr)
    /// [calc: 127.0.0.1:7070, http: 127.0.0.1:8080, grpc: 127.0.0.1:50051, ws: 127.0.0.1:8765]
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

/// `--publish`: messages a second, 0 to 100,000.
fn parse_publish(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=100_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "'{s}' is not a rate from 0 to 100000 messages a second"
        )),
    }
}
