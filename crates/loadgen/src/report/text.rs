//! The report for people: parameters, counts per outcome with the accounting check,
//! rates, latency percentiles, top errors, and self-diagnosis warnings.

use std::io::{self, Write};

use super::{fmt_ms, pct, trim_num};
use crate::outcome::Outcome;
use crate::summary::{CountsJson, Percentiles, Summary};

/// How many error groups the text report lists.
pub const TOP_ERRORS: usize = 10;

/// Writes the text report.
pub fn write(s: &Summary, w: &mut dyn Write) -> io::Result<()> {
    let mode = match s.arrival.as_str() {
        _ if s.rate == 0.0 => "closed loop".to_string(),
        "stages" => format!("stages up to {} LPS", trim_num(s.rate)),
        "poisson" => format!("{} LPS Poisson", trim_num(s.rate)),
        _ => format!("{} LPS constant", trim_num(s.rate)),
    };
    writeln!(w, "loadgen {} → {}", s.protocol, s.targets.join(", "))?;
    writeln!(
        w,
        "  {mode} for {}s, timeout {}, concurrency {}{}, threads {}{}",
        trim_num(s.duration_s),
        fmt_ms(s.timeout_ms),
        s.concurrency,
        s.connections
            .map_or(String::new(), |c| format!(", connections ≤ {c} per target")),
        s.generator.threads,
        if s.shards.len() > 1 {
            let list: Vec<String> = s.shards.iter().map(u64::to_string).collect();
            format!(", merged shards {} of {}", list.join(","), s.shard.count)
        } else if s.shard.count > 1 {
            format!(", shard {}/{}", s.shard.index, s.shard.count)
        } else {
            String::new()
        }
    )?;
    writeln!(
        w,
        "  started {}, elapsed {:.3}s{}",
        s.started_at,
        s.elapsed_s,
        if s.interrupted {
            " (stopped early)"
        } else {
            ""
        }
    )?;
    writeln!(w)?;
    write_counts(&s.counts, w)?;
    writeln!(w)?;
    writeln!(
        w,
        "Rates      offered {:.1}/s   throughput {:.1}/s   TPS {:.1}/s   (peak {:.0}/s in one second)",
        s.offered_rate, s.throughput, s.tps, s.peak_tps
    )?;
    writeln!(w)?;
    writeln!(
        w,
        "{:<14}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
        "", "min", "mean", "p50", "p90", "p99", "p99.9", "max"
    )?;
    pct_row(w, "latency", &s.latency_ms)?;
    pct_row(w, "service time", &s.service_time_ms)?;
    pct_row(w, "send lag", &s.lag_ms)?;
    writeln!(
        w,
        "  (latency from the intended start, service time from the send; successes only)"
    )?;
    if !s.errors.is_empty() {
        writeln!(w)?;
        writeln!(w, "Errors (top {})", TOP_ERRORS.min(s.errors.len()))?;
        for e in s.errors.iter().take(TOP_ERRORS) {
            writeln!(
                w,
                "  {:>9}  {:<15} {}",
                e.count,
                format!("{} {}", e.code, e.outcome),
                e.message
            )?;
        }
        if s.errors.len() > TOP_ERRORS {
            let rest: u64 = s.errors[TOP_ERRORS..].iter().map(|e| e.count).sum();
            writeln!(
                w,
                "  {rest:>9}  in {} more groups",
                s.errors.len() - TOP_ERRORS
            )?;
        }
    }
    if s.per_target.len() > 1 {
        writeln!(w)?;
        writeln!(w, "Per target")?;
        for t in &s.per_target {
            writeln!(
                w,
                "  {}  (weight {}): {} scheduled, {} success ({:.2}%), p50 {}, p99 {}",
                t.target,
                t.weight,
                t.counts.scheduled,
                t.counts.success,
                pct(t.counts.success, t.counts.scheduled),
                fmt_ms(t.latency_ms.p50),
                fmt_ms(t.latency_ms.p99)
            )?;
        }
    }
    if !s.thresholds.is_empty() {
        writeln!(w)?;
        writeln!(w, "Thresholds")?;
        for v in &s.thresholds {
            let verdict = if v.ok { "ok    " } else { "FAILED" };
            writeln!(w, "  {verdict}  {:<20} actual {}", v.threshold, v.actual)?;
        }
    }
    writeln!(w)?;
    writeln!(
        w,
        "Generator  CPU {:.2}s, busiest thread {:.0}%",
        s.generator_cpu_s,
        s.generator.max_thread_busy * 100.0
    )?;
    for warning in &s.warnings {
        writeln!(w, "WARNING: {warning}")?;
    }
    if s.saturation.target {
        writeln!(
            w,
            "SATURATED: the target, not the generator, limited this run:"
        )?;
        for r in &s.saturation.reasons {
            writeln!(w, "  - {r}")?;
        }
    }
    if s.generator_bound {
        writeln!(
            w,
            "WARNING: the generator, not the target, limited this run:"
        )?;
        for r in &s.generator.reasons {
            writeln!(w, "  - {r}")?;
        }
    }
    Ok(())
}

fn write_counts(c: &CountsJson, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "Loads      {:>10} scheduled", c.scheduled)?;
    for o in Outcome::ALL {
        let n = c.get(o);
        if n == 0 && o != Outcome::Success {
            continue;
        }
        writeln!(
            w,
            "  {:<16}{:>10}  {:>7.2}%   ({})",
            o.name(),
            n,
            pct(n, c.scheduled),
            o.code()
        )?;
    }
    let sum: u64 = Outcome::ALL.iter().map(|&o| c.get(o)).sum();
    writeln!(
        w,
        "  accounted     {:>10}  {}",
        sum,
        if c.invariant_holds() {
            "= scheduled (every load accounted for)".to_string()
        } else {
            format!("!= scheduled {} — accounting error", c.scheduled)
        }
    )
}

fn pct_row(w: &mut dyn Write, name: &str, p: &Percentiles) -> io::Result<()> {
    writeln!(
        w,
        "  {:<12}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
        name,
        fmt_ms(p.min),
        fmt_ms(p.mean),
        fmt_ms(p.p50),
        fmt_ms(p.p90),
        fmt_ms(p.p99),
        fmt_ms(p.p999),
        fmt_ms(p.max)
    )
}
