//! `loadgen merge` and `loadgen report`: read saved JSON summaries, merge shards, and
//! write the reports.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use loadgen::Summary;

use super::output;
use crate::args::{MergeArgs, ReportArgs};

fn read(path: &Path) -> anyhow::Result<Summary> {
    let text = std::fs::read_to_string(path)
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
    output::output(merged, &a.out, files)
}

pub fn report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let s = read(&a.file)?;
    let files = output::prepare(&a.out)?;
    output::output(s, &a.out, files)
}
