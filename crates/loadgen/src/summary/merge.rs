//! Merging the summaries of shards into one, exactly: counts add, HDR histograms add
//! without loss, timeline buckets add aligned by absolute time; rates and percentiles then
//! follow from the sum. Summaries that do not belong together are refused, naming the
//! file.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Summary;
use crate::record::Aggregate;

/// The most timeline buckets a merge may produce.
const MAX_BUCKETS: usize = super::codec::MAX_FILE_BUCKETS;

/// Why summaries were not merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// No input.
    #[error("nothing to merge")]
    Empty,
    /// A run parameter differs from the first file's.
    #[error("{file}: {what} {theirs} differs from {ours} in {first}: not shards of one run")]
    Mismatch {
        /// The file that differs.
        file: String,
        /// Which parameter.
        what: &'static str,
        /// Its value there.
        theirs: String,
        /// Its value in the first file.
        ours: String,
        /// The first file.
        first: String,
    },
    /// A shard appears twice.
    #[error("{file}: shard {shard} of {count} is already in another file")]
    Duplicate {
        /// The file.
        file: String,
        /// The shard given twice.
        shard: u64,
        /// The shard count.
        count: u64,
    },
    /// Runs too far apart in time to be one run.
    #[error(
        "{file}: started {gap_s:.0} s after the first shard, longer than the run itself ({run_s:.0} s): not shards of one run"
    )]
    Apart {
        /// The file.
        file: String,
        /// How long after the earliest start it started.
        gap_s: f64,
        /// The longest scheduling window.
        run_s: f64,
    },
    /// More loads in all than a count can hold.
    #[error("{file}: the shards' loads add up to more than 2^64")]
    TooMany {
        /// The file whose loads overflowed the sum.
        file: String,
    },
}

/// Merges `inputs` (name, summary); the name is used in errors and warnings.
pub fn merge(inputs: &[(String, Summary)]) -> Result<Summary, MergeError> {
    let (first_name, first) = inputs.first().ok_or(MergeError::Empty)?;
    check(inputs)?;
    // every other count of a valid file is at most its `scheduled`: if those add up,
    // everything does
    let mut total = 0u64;
    for (name, s) in inputs {
        total = total
            .checked_add(s.agg.counts.scheduled)
            .ok_or_else(|| MergeError::TooMany { file: name.clone() })?;
    }
    let start = inputs
        .iter()
        .map(|(_, s)| s.run.started_at)
        .min()
        .expect("at least one input");
    let longest = inputs
        .iter()
        .map(|(_, s)| s.facts.window.max(s.run.duration))
        .max()
        .unwrap_or_default();
    let mut out = first.clone();
    out.agg = Aggregate::new(first.run.targets.len());
    out.thresholds.clear();
    out.warnings.clear();
    out.run.started_at = start;
    out.run.concurrency = 0;
    out.run.connections = None;
    out.run.shards.clear();
    let f = &mut out.facts;
    (f.elapsed, f.window, f.interrupted) = (Duration::ZERO, Duration::ZERO, false);
    f.generator.threads = 0;
    f.generator.cpu = Duration::ZERO;
    f.load = Default::default();
    let bucket = first.run.bucket;
    for (name, s) in inputs {
        let offset = s.run.started_at.duration_since(start).unwrap_or_default();
        if offset > longest.saturating_add(s.run.timeout) {
            return Err(MergeError::Apart {
                file: name.clone(),
                gap_s: offset.as_secs_f64(),
                run_s: longest.as_secs_f64(),
            });
        }
        let shift = (offset.as_secs_f64() / bucket.as_secs_f64()).round() as usize;
        if shift + s.agg.timeline.len() > MAX_BUCKETS {
            return Err(MergeError::Apart {
                file: name.clone(),
                gap_s: offset.as_secs_f64(),
                run_s: longest.as_secs_f64(),
            });
        }
        out.agg.add_shifted(&s.agg, shift);
        add_facts(&mut out, s, offset);
        out.warnings
            .extend(s.warnings.iter().map(|w| format!("{name}: {w}")));
    }
    out.run.shards.sort_unstable();
    out.run.shard.index = out.run.shards[0];
    let _ = first_name;
    Ok(out)
}

/// Adds `s`'s parameters and facts into `out` (`s` started `offset` after the first).
fn add_facts(out: &mut Summary, s: &Summary, offset: Duration) {
    let (o, i) = (&mut out.facts, &s.facts);
    o.elapsed = o.elapsed.max(offset.saturating_add(i.elapsed));
    o.window = o.window.max(offset.saturating_add(i.window));
    o.interrupted |= i.interrupted;
    let (g, h) = (&mut o.generator, &i.generator);
    g.threads = g.threads.saturating_add(h.threads);
    g.cpu = g.cpu.saturating_add(h.cpu);
    g.max_busy = g.max_busy.max(h.max_busy);
    g.wake_late_p99 = g.wake_late_p99.max(h.wake_late_p99);
    g.precise_timer &= h.precise_timer;
    g.quantum = g.quantum.max(h.quantum);
    g.quantum_auto |= h.quantum_auto;
    g.stall_max = g.stall_max.max(h.stall_max);
    let (l, m) = (&mut o.load, &i.load);
    l.max_in_flight = l.max_in_flight.saturating_add(m.max_in_flight);
    l.peak_in_flight = l.peak_in_flight.saturating_add(m.peak_in_flight);
    l.capacity_bound |= m.capacity_bound;
    l.saturated = l.saturated.max(m.saturated);
    out.run.concurrency = out.run.concurrency.saturating_add(s.run.concurrency);
    out.run.connections = match (out.run.connections, s.run.connections) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    };
    out.run.shards.extend(&s.run.shards);
}

/// Refuses inputs that are not shards of one run.
fn check(inputs: &[(String, Summary)]) -> Result<(), MergeError> {
    let (first_name, first) = &inputs[0];
    let mut seen = BTreeSet::new();
    for (name, s) in inputs {
        let differs = |what: &'static str, theirs: String, ours: String| MergeError::Mismatch {
            file: name.clone(),
            what,
            theirs,
            ours,
            first: first_name.clone(),
        };
        let (a, b) = (&s.run, &first.run);
        if a.protocol != b.protocol {
            return Err(differs("protocol", a.protocol.clone(), b.protocol.clone()));
        }
        if a.timeout != b.timeout {
            return Err(differs(
                "timeout",
                format!("{:?}", a.timeout),
                format!("{:?}", b.timeout),
            ));
        }
        if a.targets != b.targets {
            let names = |r: &super::RunInfo| {
                r.targets
                    .iter()
                    .map(|t| format!("{}*{}", t.weight, t.name))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Err(differs("targets", names(a), names(b)));
        }
        if a.steps != b.steps {
            let names = |r: &super::RunInfo| {
                r.steps
                    .iter()
                    .map(|t| format!("{}/{}", t.scenario, t.name))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Err(differs("journey steps", names(a), names(b)));
        }
        if a.shard.count != b.shard.count {
            return Err(differs(
                "shard count",
                a.shard.count.to_string(),
                b.shard.count.to_string(),
            ));
        }
        if a.bucket != b.bucket {
            return Err(differs(
                "timeline bucket",
                format!("{:?}", a.bucket),
                format!("{:?}", b.bucket),
            ));
        }
        for &shard in &a.shards {
            if !seen.insert(shard) {
                return Err(MergeError::Duplicate {
                    file: name.clone(),
                    shard,
                    count: a.shard.count,
                });
            }
        }
    }
    Ok(())
}
