//! One truth in `--help` and the README: every option of `run` is documented, every option
//! the README's tables name exists, and a default both state is the same.

mod support;

use support::*;

const README: &str = include_str!("../../../README.md");

/// The long flags of `loadgen SUB --help`, with the help text of each.
fn help_flags(sub: &[&str]) -> Vec<(String, String)> {
    let mut args = sub.to_vec();
    args.push("--help");
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut flags: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        let t = t.split_once(", ").map_or(t, |(short, rest)| {
            if short.len() == 2 && short.starts_with('-') {
                rest
            } else {
                t
            }
        });
        if let Some(rest) = t.strip_prefix("--")
            && line.starts_with("  ")
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            flags.push((format!("--{name}"), String::new()));
        } else if let Some(last) = flags.last_mut() {
            last.1.push_str(t);
            last.1.push(' ');
        }
    }
    flags
}

/// The rows of the README's `run` option tables: (first cell, second cell); with
/// `defaults`, only the first table's, whose second cell is the default.
fn readme_rows_of(defaults: bool) -> Vec<(String, String)> {
    let start = README.find("### `run` and `demo`").unwrap();
    let last = if defaults {
        "Protocol options:"
    } else {
        "HTTP outcomes are the same"
    };
    let end = start + README[start..].find(last).unwrap();
    README[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            (
                cells[0].to_string(),
                cells.get(1).unwrap_or(&"").to_string(),
            )
        })
        .collect()
}

fn long_flags(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = cell;
    while let Some(i) = rest.find("--") {
        let name: String = rest[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if !name.is_empty() {
            out.push(format!("--{name}"));
        }
        rest = &rest[i + 2 + name.len()..];
    }
    out
}

#[test]
fn every_run_option_is_documented_and_every_documented_option_exists() {
    let help = help_flags(&["run"]);
    let names: Vec<&str> = help.iter().map(|(n, _)| n.as_str()).collect();
    let undocumented: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| {
            *n != "--help"
                && ![" ", "`", "=", ","]
                    .iter()
                    .any(|end| README.contains(&format!("{n}{end}")))
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "in run --help, not in README.md: {undocumented:?}"
    );
    let mut unknown = Vec::new();
    for (cell, _) in readme_rows_of(false) {
        for f in long_flags(&cell) {
            // a visible alias is listed in its option's help: [aliases: --vus]
            let alias = help.iter().any(|(_, text)| text.contains(&format!("{f}]")));
            if !names.contains(&f.as_str()) && !alias {
                unknown.push(f);
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "in README.md's run tables, not in run --help: {unknown:?}"
    );
}

#[test]
fn a_default_in_help_is_the_readmes() {
    let help = help_flags(&["run"]);
    let mut wrong = Vec::new();
    for (cell, default) in readme_rows_of(true) {
        let flags = long_flags(&cell);
        let Some(first) = flags.first() else { continue };
        let Some((_, text)) = help.iter().find(|(n, _)| n == first) else {
            continue;
        };
        let Some(i) = text.find("[default: ") else {
            continue;
        };
        let stated = text[i + 10..].split(']').next().unwrap_or("").trim();
        // the help may list several defaults (run:, demo:); each word of a simple one
        // must be in the README's default cell
        let simple = stated.len() <= 24 && !stated.contains(['(', ';']);
        if simple && !default.contains(stated) {
            wrong.push(format!("{first}: help says {stated:?}, README {default:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn every_subcommand_and_scheme_is_in_the_help() {
    let out = run(&["--help"]);
    let top = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "run", "serve", "demo", "merge", "report", "search", "compare", "watch",
    ] {
        assert!(
            top.contains(&format!("  {sub}")),
            "{sub} missing from --help:\n{top}"
        );
        assert!(
            README.contains(&format!("loadgen {sub}")),
            "{sub} missing from README.md"
        );
    }
    let out = run(&["run", "--help"]);
    let run_help = String::from_utf8_lossy(&out.stdout);
    for scheme in ["calc://", "http", "grpc", "ws[s]://", "tcp://", "udp://"] {
        assert!(
            run_help.contains(scheme),
            "{scheme} missing from run --help"
        );
    }
    for example in ["grpc://", "ws://", "--targets", "--threshold", ".yaml"] {
        let examples = &run_help[run_help.find("Examples:").unwrap()..];
        assert!(examples.contains(example), "no example with {example}");
    }
    // each server's help states its own listen default
    for (server, addr) in [
        ("calc", "127.0.0.1:7070"),
        ("http", "127.0.0.1:8080"),
        ("grpc", "127.0.0.1:50051"),
        ("ws", "127.0.0.1:8765"),
    ] {
        let out = run(&["serve", server, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("{server}: {addr}")),
            "serve {server}: {text}"
        );
    }
}
