//! Finds the outside tools some tests need (tmux, promtool and prometheus, Chromium, Python
//! grpcio, websockets and aioquic, xmllint, an IPv6 loopback), so that a test without its tool is
//! reported by the test runner as ignored (`#[cfg_attr(not(has_tmux), ignore = "…")]`) instead of
//! passing without doing its work. Where `LOADGEN_REQUIRE_<TOOL>` is set (CI sets them all)
//! the test runs whatever was found, and fails if its tool is missing.
//!
//! Tools are looked for again when `PATH` or one of its directories changes (a tool
//! installed); a Python module installed later is seen after `cargo clean -p loadgen-cli`
//! or with its variable set.

use std::process::{Command, Stdio};

/// `cfg` name, the variable that requires it, and how to find it.
const TOOLS: [(&str, &str, Probe); 9] = [
    ("has_tmux", "LOADGEN_REQUIRE_TMUX", Probe::OnPath(&["tmux"])),
    (
        "has_promtool",
        "LOADGEN_REQUIRE_PROMTOOL",
        Probe::OnPath(&["promtool"]),
    ),
    (
        "has_prometheus",
        "LOADGEN_REQUIRE_PROMETHEUS",
        Probe::OnPath(&["prometheus"]),
    ),
    (
        "has_chromium",
        "LOADGEN_REQUIRE_BROWSER",
        Probe::OnPath(&[
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ]),
    ),
    (
        "has_grpcio",
        "LOADGEN_REQUIRE_GRPCIO",
        Probe::Python("import grpc, grpc_reflection"),
    ),
    (
        "has_websockets",
        "LOADGEN_REQUIRE_WEBSOCKETS",
        Probe::Python("import websockets.asyncio.server"),
    ),
    (
        "has_aioquic",
        "LOADGEN_REQUIRE_AIOQUIC",
        Probe::Python("import aioquic.asyncio, aioquic.h3.connection"),
    ),
    ("has_ipv6", "LOADGEN_REQUIRE_IPV6", Probe::Ipv6),
    (
        "has_xmllint",
        "LOADGEN_REQUIRE_XMLLINT",
        Probe::OnPath(&["xmllint"]),
    ),
];

enum Probe {
    /// Any of these executables on `PATH`.
    OnPath(&'static [&'static str]),
    /// `python3 -c` of this succeeds.
    Python(&'static str),
    /// `[::1]` can be bound.
    Ipv6,
}

impl Probe {
    fn found(&self) -> bool {
        match self {
            Probe::OnPath(names) => std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| names.iter().any(|n| dir.join(n).is_file()))
            }),
            Probe::Python(code) => Command::new("python3")
                .args(["-c", code])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            Probe::Ipv6 => std::net::TcpListener::bind("[::1]:0").is_ok(),
        }
    }
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    // a tool installed into a directory of PATH changes the directory
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path).filter(|d| d.is_dir()) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    for (cfg, require, probe) in &TOOLS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={require}");
        let required = std::env::var(require).is_ok_and(|v| v != "0");
        if required || probe.found() {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
