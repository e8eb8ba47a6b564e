//! Merging the summaries of shards into one, exactly: counts add, HDR histograms add
//! without loss, timeline buckets add by absolute second; rates and percentiles are then
//! recomputed. Summaries that do not belong together are refused, naming the file.

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::record::{Aggregate, merge_timelines};
use crate::summary::Summary;

/// Parses `started_at` (RFC 3339).
fn started(s: &Summary) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(&s.started_at)
        .map_err(|e| format!("bad started_at {:?}: {e}", s.started_at))
}

/// Merges `inputs` (name, summary); the name is used in error messages.
pub fn merge(inputs: &[(String, Summary)]) -> Result<Summary, String> {
    let (first_name, first) = inputs.first().ok_or("nothing to merge")?;
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    let shard_set = |s: &Summary| -> BTreeSet<u64> {
        if s.shards.is_empty() {
            BTreeSet::from([s.shard.index])
        } else {
            s.shards.iter().copied().collect()
        }
    };
    let t0 = inputs
        .iter()
        .map(|(n, s)| started(s).map_err(|e| format!("{n}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let start = *t0.iter().min().expect("at least one input");
    for ((name, s), _) in inputs.iter().zip(&t0) {
        let differs = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            format!(
                "{name}: {what} {a:?} differs from {b:?} in {first_name}: not shards of one run"
            )
        };
        if s.schema != first.schema {
            return Err(differs("schema", &s.schema, &first.schema));
        }
        if s.protocol != first.protocol {
            return Err(differs("protocol", &s.protocol, &first.protocol));
        }
        if s.timeout_ms != first.timeout_ms {
            return Err(differs("timeout_ms", &s.timeout_ms, &first.timeout_ms));
        }
        if s.targets != first.targets {
            return Err(differs("targets", &s.targets, &first.targets));
        }
        if s.shard.count != first.shard.count {
            return Err(differs("shard count", &s.shard.count, &first.shard.count));
        }
        let mine = shard_set(s);
        if let Some(dup) = mine.intersection(&seen).next() {
            return Err(format!(
                "{name}: shard {dup} of {} is already in another file",
                s.shard.count
            ));
        }
        if let Some(bad) = mine.iter().find(|&&i| i >= s.shard.count) {
            return Err(format!(
                "{name}: shard index {bad} is not below the shard count {}",
                s.shard.count
            ));
        }
        seen.extend(mine);
    }
    let mut agg = Aggregate::new(first.per_target.len());
    let mut out = first.clone();
    let (mut elapsed, mut window) = (0.0f64, 0.0f64);
    out.concurrency = 0;
    out.generator_cpu_s = 0.0;
    out.generator.threads = 0;
    out.generator.reasons.clear();
    out.generator_bound = false;
    out.interrupted = false;
    out.saturation = Default::default();
    for ((name, s), t) in inputs.iter().zip(&t0) {
        let mut a = s.to_aggregate().map_err(|e| format!("{name}: {e}"))?;
        let offset = t.duration_since(start).map_or(0.0, |d| d.as_secs_f64());
        let timeline = std::mem::take(&mut a.timeline);
        agg.merge(&a).map_err(|e| format!("{name}: {e}"))?;
        merge_timelines(&mut agg.timeline, &timeline, offset.round() as usize)
            .map_err(|e| format!("{name}: {e}"))?;
        elapsed = elapsed.max(offset + s.elapsed_s);
        window = window.max(offset + s.window_s);
        out.concurrency += s.concurrency;
        out.generator_cpu_s += s.generator_cpu_s;
        out.generator.threads += s.generator.threads;
        out.generator.max_thread_busy = out
            .generator
            .max_thread_busy
            .max(s.generator.max_thread_busy);
        out.generator.wake_late_p99_ms = out
            .generator
            .wake_late_p99_ms
            .max(s.generator.wake_late_p99_ms);
        for r in &s.generator.reasons {
            out.generator.reasons.push(format!("{name}: {r}"));
        }
        out.generator_bound |= s.generator_bound;
        let (o, i) = (&mut out.saturation, &s.saturation);
        o.max_in_flight += i.max_in_flight;
        o.peak_in_flight += i.peak_in_flight;
        o.saturated_s = o.saturated_s.max(i.saturated_s);
        o.target |= i.target;
        o.reasons
            .extend(i.reasons.iter().map(|r| format!("{name}: {r}")));
        out.interrupted |= s.interrupted;
    }
    out.started_at = humantime::format_rfc3339_millis(start).to_string();
    out.elapsed_s = (elapsed * 1e6).round() / 1e6;
    out.window_s = window;
    out.shards = seen.iter().copied().collect();
    out.shard.index = out.shards[0];
    out.generator_cpu_s = (out.generator_cpu_s * 1000.0).round() / 1000.0;
    let weights: Vec<u32> = first.per_target.iter().map(|t| t.weight).collect();
    out.fill(&agg, &weights);
    Ok(out)
}
