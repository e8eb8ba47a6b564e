//! Ramps: stages that move the rate linearly (as k6's ramping-arrival-rate), parsed from
//! `10s:100,30s:1000`, and the due time of load `j` solved in closed form per stage.

use std::time::Duration;

use super::parse_duration;
use crate::error::ConfigError;

/// One stage of a ramp: reach `rate` LPS over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Length of the stage.
    pub duration: Duration,
    /// Rate at the stage's end, LPS.
    pub rate: f64,
}

impl Stage {
    /// Parses `10s:100,30s:1000,10s:0`.
    pub fn parse_list(s: &str) -> Result<Vec<Stage>, ConfigError> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (d, r) = part
                .split_once(':')
                .ok_or_else(|| ConfigError::StageSyntax(part.into()))?;
            let duration = parse_duration(d)?;
            let rate: f64 = r
                .trim()
                .parse()
                .map_err(|_| ConfigError::StageRate(r.into()))?;
            if !rate.is_finite() || !(0.0..=1e9).contains(&rate) {
                return Err(ConfigError::StageRate(r.into()));
            }
            out.push(Stage { duration, rate });
        }
        if out.is_empty() {
            return Err(ConfigError::NoStages);
        }
        Ok(out)
    }
}

/// Due time of load `j` on a ramp: the t where Λ(t) = j, by segment.
pub(super) fn stages_due_ns(
    start: f64,
    stages: &[(u64, f64)],
    cumulative: &[f64],
    j: u64,
) -> Option<u64> {
    let x = j as f64;
    let i = cumulative.partition_point(|&c| c <= x);
    if i >= stages.len() {
        return None;
    }
    let before = if i == 0 { 0.0 } else { cumulative[i - 1] };
    let t0: u64 = stages[..i].iter().map(|s| s.0).sum();
    let r0 = if i == 0 { start } else { stages[i - 1].1 };
    let (d_ns, r1) = stages[i];
    let d = d_ns as f64 / 1e9;
    let (a, b) = ((r1 - r0) / (2.0 * d), r0);
    let rem = x - before;
    // solve a·τ² + b·τ = rem for the smallest τ ≥ 0, without cancellation
    let disc = (b * b + 4.0 * a * rem).max(0.0);
    let denom = b + disc.sqrt();
    let tau = if denom > 0.0 { 2.0 * rem / denom } else { 0.0 };
    Some(t0 + ((tau * 1e9) as u64).min(d_ns.saturating_sub(1)))
}
