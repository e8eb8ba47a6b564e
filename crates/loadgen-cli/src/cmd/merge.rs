//! `loadgen merge` and `loadgen report`: read saved JSON summaries (or a saved search),
//! merge shards, and write the reports.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use loadgen::Summary;

use super::output;
use crate::args::{MergeArgs, ReportArgs};

pub fn read(path: &Path) -> anyhow::Result<Summary> {
    let text = loadgen::limits::read_text(path, loadgen::limits::SUMMARY_FILE)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Summary::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn merge(a: MergeArgs) -> anyhow::Result<ExitCode> {
    let inputs = a
        .files
        .iter()
        .map(|p| Ok((p.display().to_string(), read(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let files = output::prepare(&a.out)?;
    let merged = loadgen::summary::merge::merge(&inputs)?;
    output::output(merged, &a.out, files, &[])
}

/// `loadgen report FILE`: the report of a saved run summary, or of a saved search.
pub fn report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let text = loadgen::limits::read_text(&a.file, loadgen::limits::SUMMARY_FILE)
        .with_context(|| format!("{}: cannot read", a.file.display()))?;
    if text.contains(loadgen::search::SCHEMA) {
        let r: loadgen::search::SearchResult = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a loadgen search: {e}", a.file.display()))?;
        return report_search(&r, &a);
    }
    let s = read(&a.file)?;
    let files = output::prepare(&a.out)?;
    output::output(s, &a.out, files, &[])
}

fn report_search(r: &loadgen::search::SearchResult, a: &ReportArgs) -> anyhow::Result<ExitCode> {
    if a.out.summary != crate::args::SummaryFormat::None {
        for (i, s) in r.steps.iter().enumerate() {
            super::search::print_step(i + 1, s);
        }
        let min = r.steps.first().map_or(0.0, |s| s.rate);
        super::search::print_answer(r, min);
    }
    if let Some(path) = &a.out.html {
        let mut html = Vec::new();
        loadgen::report::html::write_search(r, &mut html)?;
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if r.answer.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
