//! `loadgen merge` and `loadgen report`: read saved JSON summaries, merge shards, and
//! write the reports.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use loadgen::Summary;

use super::run::output;
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
    let merged = loadgen::summary::merge::merge(&inputs)?;
    output(merged, &a.out)
}

pub fn report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    output(read(&a.file)?, &a.out)
}
