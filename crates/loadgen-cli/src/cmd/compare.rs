//! `loadgen compare BASE NEW`: two saved runs side by side, with `--fail-if` gates.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use loadgen::report::compare::{self, Comparison, Gate};
use loadgen::report::term::Clean;
use serde_json::json;

use super::merge::read;
use crate::args::CompareArgs;

pub fn compare(a: CompareArgs) -> anyhow::Result<ExitCode> {
    let base = read(&a.base)?;
    let new = read(&a.new)?;
    let c = compare::compare(&base, &new);
    let gates: Vec<Gate> = a.fail_if.iter().map(|g| g.check(&c)).collect();
    let names = (a.base.display().to_string(), a.new.display().to_string());
    let json_to_stdout = a.json.as_deref() == Some(std::path::Path::new("-"));
    let mut text = Vec::new();
    compare::write_text(&c, &gates, &names.0, &names.1, &mut text)?;
    // the file names and figures are the user's, but a name may hold anything: escaped
    if json_to_stdout {
        let _ = Clean::new(std::io::stderr().lock()).write_all(&text);
    } else {
        let _ = Clean::new(std::io::stdout().lock()).write_all(&text);
    }
    if let Some(path) = &a.json {
        let doc = serde_json::to_string_pretty(&document(&c, &gates, &names))?;
        if json_to_stdout {
            crate::say!("{doc}");
        } else {
            std::fs::write(path, doc + "\n")
                .with_context(|| format!("--json {}: cannot write", path.display()))?;
        }
    }
    if let Some(path) = &a.html {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("--html {}: cannot create", path.display()))?,
        );
        loadgen::report::html::write_compare(
            &base,
            &new,
            &c,
            &gates,
            (&names.0, &names.1),
            &mut f,
        )?;
        f.flush()
            .with_context(|| format!("--html {}: cannot write", path.display()))?;
    }
    let failed: Vec<&str> = gates
        .iter()
        .filter(|g| g.failed)
        .map(|g| g.text.as_str())
        .collect();
    if !failed.is_empty() {
        crate::note!("loadgen: fail-if gates failed: {}", failed.join(", "));
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// The comparison as JSON: one object per figure, the gates, the differences.
fn document(c: &Comparison, gates: &[Gate], names: &(String, String)) -> serde_json::Value {
    let num = |x: f64| if x.is_finite() { json!(x) } else { json!(null) };
    json!({
        "schema": "loadgen.compare/v1",
        "base": names.0,
        "new": names.1,
        "differences": c.differences,
        "figures": c.rows.iter().map(|r| json!({
            "figure": r.figure.to_string(),
            "unit": r.figure.unit(),
            "base": num(r.base),
            "new": num(r.new),
            "change": num(r.change()),
            "change_pct": num(r.relative()),
            "noise": num(r.noise),
            "verdict": match r.verdict { compare::Verdict::Unknown => "unknown", v => v.name() },
        })).collect::<Vec<_>>(),
        "fail_if": gates.iter().map(|g| json!({
            "gate": g.text,
            "failed": g.failed,
            "change": g.change,
        })).collect::<Vec<_>>(),
    })
}
