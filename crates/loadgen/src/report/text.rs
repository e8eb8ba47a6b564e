//! The report for people: parameters, counts per outcome with the accounting check,
//! rates, latency percentiles, top errors, thresholds, and what limited the run — rendered
//! from the [`View`].

use std::io::{self, Write};

use super::view::{Note, View};
use super::{fmt_ms, pct};
use crate::outcome::Outcome;
use crate::record::Counts;
use crate::summary::{Percentiles, Summary};

/// How many error groups the text report lists.
pub const TOP_ERRORS: usize = 10;

/// Writes the text report of `s`.
pub fn write(s: &Summary, w: &mut dyn Write) -> io::Result<()> {
    let v = View::of(s);
    header(&v, w)?;
    writeln!(w)?;
    let unit = if v.active.is_some() {
        "Journeys"
    } else {
        "Loads"
    };
    counts(&v.counts, unit, w)?;
    writeln!(w)?;
    writeln!(
        w,
        "Rates      offered {:.1}/s   throughput {:.1}/s   TPS {:.1}/s   (peak {:.0}/s in one second)",
        v.offered, v.throughput, v.tps, v.peak_tps
    )?;
    writeln!(w)?;
    percentiles(&v, w)?;
    errors(&v, w)?;
    targets(&v, w)?;
    steps(&v, w)?;
    thresholds(&v, w)?;
    writeln!(w)?;
    let g: Vec<String> = v
        .generator
        .iter()
        .filter(|(k, x)| {
            matches!(*k, "CPU" | "busiest thread") || (*k == "pacing quantum" && x != "\u{2013}")
        })
        .map(|(k, x)| format!("{k} {x}"))
        .collect();
    writeln!(w, "Generator  {}", g.join(", "))?;
    for n in &v.notes {
        note(n, w)?;
    }
    Ok(())
}

fn header(v: &View, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{}", v.title)?;
    let p = |k: &str| {
        v.params
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, x)| x.as_str())
    };
    let mut line = format!(
        "  {} for {}, timeout {}, concurrency {}",
        p("mode").unwrap_or(""),
        p("duration").unwrap_or(""),
        p("timeout").unwrap_or(""),
        p("concurrency").unwrap_or("")
    );
    for key in ["connections", "threads", "shard", "shards"] {
        if let Some(x) = p(key) {
            line.push_str(&format!(", {key} {x}"));
        }
    }
    writeln!(w, "{line}")?;
    let details: Vec<String> = v
        .params
        .iter()
        .filter(|(k, _)| {
            !matches!(
                *k,
                "protocol"
                    | "mode"
                    | "duration"
                    | "timeout"
                    | "concurrency"
                    | "connections"
                    | "threads"
                    | "shard"
                    | "shards"
                    | "started"
                    | "elapsed"
            )
        })
        .map(|(k, x)| format!("{k} {x}"))
        .collect();
    if !details.is_empty() {
        writeln!(w, "  {}", details.join(", "))?;
    }
    writeln!(
        w,
        "  started {}, elapsed {}",
        p("started").unwrap_or(""),
        p("elapsed").unwrap_or("")
    )
}

fn counts(c: &Counts, unit: &str, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{unit:<11}{:>10} scheduled", c.scheduled)?;
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
    writeln!(
        w,
        "  accounted     {:>10}  {}",
        c.accounted(),
        if c.invariant_holds() {
            "= scheduled (every load accounted for)".to_string()
        } else {
            format!("!= scheduled {} — accounting error", c.scheduled)
        }
    )
}

fn percentiles(v: &View, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "{:<14}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
        "", "min", "mean", "p50", "p90", "p99", "p99.9", "max"
    )?;
    for (name, p) in &v.percentiles {
        row(w, name, p)?;
    }
    writeln!(w, "  ({})", v.populations)
}

/// One row of percentiles; `–` when there is no value at all.
fn row(w: &mut dyn Write, name: &str, p: &Percentiles) -> io::Result<()> {
    let cell = |x: f64| {
        if p.count == 0 {
            "\u{2013}".to_string()
        } else {
            fmt_ms(x)
        }
    };
    writeln!(
        w,
        "  {:<12}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
        name,
        cell(p.min),
        cell(p.mean),
        cell(p.p50),
        cell(p.p90),
        cell(p.p99),
        cell(p.p999),
        cell(p.max)
    )
}

fn errors(v: &View, w: &mut dyn Write) -> io::Result<()> {
    if v.errors.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "Errors (top {})", TOP_ERRORS.min(v.errors.len()))?;
    for e in v.errors.iter().take(TOP_ERRORS) {
        writeln!(
            w,
            "  {:>9}  {:<15} {}",
            e.count,
            format!("{} {}", e.outcome.code(), e.outcome),
            e.message
        )?;
    }
    if v.errors.len() > TOP_ERRORS {
        let rest: u64 = v.errors[TOP_ERRORS..].iter().map(|e| e.count).sum();
        writeln!(
            w,
            "  {rest:>9}  in {} more groups",
            v.errors.len() - TOP_ERRORS
        )?;
    }
    Ok(())
}

fn targets(v: &View, w: &mut dyn Write) -> io::Result<()> {
    if v.targets.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "Per target")?;
    for t in &v.targets {
        let ok = t.counts.get(Outcome::Success);
        writeln!(
            w,
            "  {}  (weight {}): {} scheduled, {} success ({:.2}%), p50 {}, p99 {}",
            t.name,
            t.weight,
            t.counts.scheduled,
            ok,
            pct(ok, t.counts.scheduled),
            cell(&t.latency, t.latency.p50),
            cell(&t.latency, t.latency.p99)
        )?;
    }
    Ok(())
}

fn steps(v: &View, w: &mut dyn Write) -> io::Result<()> {
    if v.steps.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    if let Some(a) = &v.active {
        writeln!(
            w,
            "Journeys   active time (without think time): p50 {}, p99 {}  (latency above: from the intended start, think included)",
            cell(a, a.p50),
            cell(a, a.p99)
        )?;
    }
    let multi = v.steps.iter().any(|s| s.scenario != v.steps[0].scenario);
    let width = v
        .steps
        .iter()
        .map(|s| label(s, multi).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40);
    writeln!(
        w,
        "{:<width$}  {:>9}  {:>8}  {:>9}{:>9}{:>9}{:>9}  {:>9}  {:>7}",
        "Steps",
        "runs",
        "success",
        "p50",
        "p90",
        "p99",
        "max",
        "svc p50",
        "checks",
        width = width + 2
    )?;
    for s in &v.steps {
        let runs = s.outcomes.total();
        let ok = s.outcomes[Outcome::Success];
        let r = &s.response;
        let checks = if s.checks.0 == 0 {
            "\u{2013}".to_string()
        } else {
            format!("{:.1}%", pct(s.checks.0 - s.checks.1, s.checks.0))
        };
        let name: String = label(s, multi).chars().take(40).collect();
        writeln!(
            w,
            "  {:<width$}  {:>9}  {:>7.2}%  {:>9}{:>9}{:>9}{:>9}  {:>9}  {:>7}",
            name,
            runs,
            pct(ok, runs),
            cell(r, r.p50),
            cell(r, r.p90),
            cell(r, r.p99),
            cell(r, r.max),
            cell(&s.service, s.service.p50),
            checks,
        )?;
        let bad: Vec<String> = Outcome::ALL[1..]
            .iter()
            .filter(|o| s.outcomes[**o] > 0)
            .map(|o| format!("{} {}", o.name(), s.outcomes[*o]))
            .chain(s.failed.iter().map(|(k, n)| format!("{k} {n}")))
            .collect();
        if !bad.is_empty() {
            writeln!(w, "  {:<width$}    failed: {}", "", bad.join(", "))?;
        }
    }
    writeln!(
        w,
        "  (response time from when the step was ready, think excluded; every answered run; groups: think included)"
    )
}

fn label(s: &super::view::StepRow, multi: bool) -> String {
    let name = if s.kind == "group" {
        format!("[{}]", s.name)
    } else {
        s.name.clone()
    };
    if multi {
        format!("{}/{name}", s.scenario)
    } else {
        name
    }
}

fn cell(p: &Percentiles, x: f64) -> String {
    if p.count == 0 {
        "\u{2013}".to_string()
    } else {
        fmt_ms(x)
    }
}

fn thresholds(v: &View, w: &mut dyn Write) -> io::Result<()> {
    if v.thresholds.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "Thresholds")?;
    for t in &v.thresholds {
        let verdict = if t.ok { "ok    " } else { "FAILED" };
        writeln!(w, "  {verdict}  {:<20} actual {}", t.threshold, t.actual)?;
    }
    Ok(())
}

fn note(n: &Note, w: &mut dyn Write) -> io::Result<()> {
    let title = if n.title.starts_with("SATURATED") {
        n.title.clone()
    } else {
        format!("WARNING: {}", n.title)
    };
    if n.items.is_empty() {
        return writeln!(w, "{title}");
    }
    writeln!(w, "{title}:")?;
    for i in &n.items {
        writeln!(w, "  - {i}")?;
    }
    Ok(())
}
