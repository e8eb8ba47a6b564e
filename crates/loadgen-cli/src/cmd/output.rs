//! Where a summary goes: the thresholds' verdicts, the JSON and HTML files, and the report
//! on stdout. A finished run is never lost: output files are opened before the first load
//! (a bad path fails at once), a file that still cannot be written at the end is replaced
//! by a fallback file that the message names, and a closed stdout costs neither the files
//! nor the exit code.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use loadgen::{Summary, report};

use crate::args::{OutputArgs, SummaryFormat};

/// Output files opened before the run.
pub struct Prepared {
    json: Option<(PathBuf, File)>,
    html: Option<(PathBuf, File)>,
    junit: Option<(PathBuf, File)>,
}

fn open(flag: &str, path: &Path) -> anyhow::Result<File> {
    File::create(path).with_context(|| format!("{flag} {}: cannot create the file", path.display()))
}

/// Opens (creates, truncates) the files `a` names, so that a path that cannot be written
/// fails now, before the first load.
pub fn prepare(a: &OutputArgs) -> anyhow::Result<Prepared> {
    let json = match &a.json {
        Some(p) if p.as_os_str() != "-" => Some((p.clone(), open("--json", p)?)),
        _ => None,
    };
    let html = match &a.html {
        Some(p) => Some((p.clone(), open("--html", p)?)),
        None => None,
    };
    let junit = match &a.junit {
        Some(p) => Some((p.clone(), open("--junit", p)?)),
        None => None,
    };
    Ok(Prepared { json, html, junit })
}

/// Writes `bytes` to `file`, or, failing that, to a fallback file; returns a note for the
/// user when it had to fall back (or could not write at all).
fn write_file(what: &str, path: &Path, file: File, bytes: &[u8]) -> Option<String> {
    let mut file = file;
    let err = match file.write_all(bytes).and_then(|()| file.sync_data()) {
        Ok(()) => return None,
        Err(e) => e,
    };
    let name = path
        .file_name()
        .map_or_else(|| "summary".into(), |n| n.to_string_lossy().into_owned());
    let fallback = std::env::temp_dir().join(format!("loadgen-{}-{name}", std::process::id()));
    Some(match std::fs::write(&fallback, bytes) {
        Ok(()) => format!(
            "cannot write the {what} to {}: {err}; it is in {} instead",
            path.display(),
            fallback.display()
        ),
        Err(e2) => format!(
            "cannot write the {what} to {} ({err}) nor to {} ({e2})",
            path.display(),
            fallback.display()
        ),
    })
}

/// Writes to stdout, ignoring a closed pipe (`loadgen … | head` must not fail the run).
fn to_stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let mut out = loadgen::report::term::Clean::new(io::stdout().lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Applies the thresholds, writes the JSON and the reports where `a` says, and returns the
/// exit code: 0; 2 when a threshold was violated; 1 when an output file had to fall back,
/// or when the run `lost` some of its output on the way (`--live` lines, `--results`
/// records: each said in one line).
pub fn output(
    mut summary: Summary,
    a: &OutputArgs,
    files: Prepared,
    lost: &[String],
) -> anyhow::Result<ExitCode> {
    let held = loadgen::report::threshold::apply(&mut summary, &a.thresholds);
    let s = &summary;
    let mut trouble: Vec<String> = lost.to_vec();
    if let Some((path, file)) = files.html {
        let mut html = Vec::new();
        report::html::write(s, &mut html)?;
        trouble.extend(write_file("HTML report", &path, file, &html));
    }
    if let Some((path, file)) = files.junit {
        let mut xml = Vec::new();
        report::junit::write(s, &mut xml)?;
        trouble.extend(write_file("JUnit file", &path, file, &xml));
    }
    let json_to_stdout = a.json.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let text = a.json.as_ref().map(|_| s.to_json() + "\n");
    if let (Some((path, file)), Some(text)) = (files.json, &text) {
        trouble.extend(write_file("JSON summary", &path, file, text.as_bytes()));
    }
    if json_to_stdout && let Some(text) = &text {
        to_stdout(|w| w.write_all(text.as_bytes()))?;
    }
    let report = |w: &mut dyn Write| match a.summary {
        SummaryFormat::Text => report::text::write(s, w),
        SummaryFormat::Kv => report::kv::write(s, w),
        SummaryFormat::None => Ok(()),
    };
    if json_to_stdout {
        let _ = report(&mut io::stderr().lock());
    } else if a.summary != SummaryFormat::None {
        to_stdout(report)?;
    }
    for t in &trouble {
        crate::note!("loadgen: {t}");
    }
    if !trouble.is_empty() {
        return Ok(ExitCode::from(1));
    }
    if !held {
        let failed: Vec<_> = s
            .thresholds
            .iter()
            .filter(|v| !v.ok)
            .map(|v| v.threshold.as_str())
            .collect();
        crate::note!("loadgen: thresholds violated: {}", failed.join(", "));
        return Ok(ExitCode::from(2));
    }
    if let Some(w) = s
        .warnings
        .iter()
        .find(|w| w.starts_with("latency thresholds held, but"))
    {
        crate::note!("loadgen: {w}");
    }
    Ok(ExitCode::SUCCESS)
}
