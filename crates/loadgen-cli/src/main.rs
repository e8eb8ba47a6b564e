//! The `loadgen` binary: parse, validate, call the library, map errors to exit codes.
//!
//! Exit codes: 0 the run completed, 1 usage or setup error, 2 thresholds violated.

/// Writes one line to stderr, ignoring failures (a closed stderr must not crash a run).
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut err = loadgen::report::term::Clean::new(std::io::stderr().lock());
        let _ = writeln!(err, $($arg)*);
    }};
}

/// A line on stdout, control characters escaped (see `loadgen::report::term`); a closed
/// pipe (`loadgen search … | head -1`) is not an error.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = loadgen::report::term::Clean::new(std::io::stdout().lock());
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

mod args;
mod cmd;
mod config;
mod target;
#[cfg(test)]
mod target_fuzz;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    quiet_panics();
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let result = match cli.command {
        args::Command::Run(a) => cmd::run::run(a),
        args::Command::Serve(s) => cmd::serve::serve(s),
        args::Command::Demo(a) => cmd::run::demo(a),
        args::Command::Merge(a) => cmd::merge::merge(a),
        args::Command::Report(a) => cmd::merge::report(a),
        args::Command::Search(a) => cmd::search::search(a),
        args::Command::Compare(a) => cmd::compare::compare(a),
        args::Command::Watch(a) => cmd::watch::watch(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            crate::note!("loadgen: {}", one_line(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

/// Help and version print as usual; any other clap error becomes one line and exit 1.
fn usage_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(1)
        }
        _ => {
            // clap's message up to its usage lines, on one line: "the following required
            // arguments were not provided: <TARGETS>..." keeps the names
            let text = e.render().to_string();
            let msg = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty() && !l.contains("as a value, use '--"))
                .collect::<Vec<_>>()
                .join(" ")
                .replace(" tip: ", "; ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            let msg = if msg.is_empty() {
                "invalid arguments"
            } else {
                msg
            };
            match peer_hint(&e) {
                Some(hint) => {
                    // the hint replaces clap's guess at a similar name
                    let msg = msg.split("; a similar argument").next().unwrap_or(msg);
                    crate::note!("loadgen: {msg}; {hint} (see loadgen --help)")
                }
                None => crate::note!("loadgen: {msg} (see loadgen --help)"),
            }
            ExitCode::from(1)
        }
    }
}

/// What loadgen calls a peer tool's flag that it does not take.
fn peer_hint(e: &clap::Error) -> Option<&'static str> {
    use clap::error::{ContextKind, ContextValue};
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split('=').next().unwrap_or(arg);
    Some(match flag {
        "-D" => "a body from a file is --body @FILE (oha's and hey's -D)",
        "-T" => "a content type is -H 'Content-Type: …' (hey's -T)",
        "-A" => "an accept header is -H 'Accept: …' (hey's -A)",
        "-s" | "--script" => {
            "loadgen runs no scripts: a journey is a YAML file, --scenario FILE (wrk's -s, k6's script)"
        }
        "--iterations" | "-i" => "a number of loads is -n N (k6's --iterations)",
        "--body-file" => "a body from a file is --body @FILE",
        "-b" => "a request body is --body '…' (hey's -d, ab's -p)",
        "-p" => "a POST body from a file is -m POST --body @FILE (ab's -p)",
        "-targets" | "-rate" | "-duration" | "-workers" => {
            "long flags take two dashes: --targets, --rate, --duration (vegeta's single dash)"
        }
        "--total" => "a number of calls is -n N (ghz's --total)",
        _ => return None,
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Panics inside a caller are caught and counted as `fatal` (3001); their messages are in
/// the report, so the shard threads print nothing. Anywhere else a panic is a bug: one line.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let shard = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("loadgen-thread-"));
        if !shard {
            crate::note!("loadgen: internal error: {info}");
        }
    }));
}
