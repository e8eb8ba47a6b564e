//! `key=value` lines for scripts: `requests= rps= p50_us= p99_us= errors=` and the rest of
//! the counts. `requests` counts successes, `errors` every other outcome.

use std::io::{self, Write};

use crate::outcome::Outcome;
use crate::summary::Summary;

/// Writes the summary as `key=value` lines.
pub fn write(s: &Summary, w: &mut dyn Write) -> io::Result<()> {
    let c = &s.counts;
    let errors = c.scheduled - c.success;
    writeln!(w, "requests={}", c.success)?;
    writeln!(w, "rps={:.1}", s.tps)?;
    writeln!(w, "p50_us={:.0}", s.latency_ms.p50 * 1000.0)?;
    writeln!(w, "p90_us={:.0}", s.latency_ms.p90 * 1000.0)?;
    writeln!(w, "p99_us={:.0}", s.latency_ms.p99 * 1000.0)?;
    writeln!(w, "p999_us={:.0}", s.latency_ms.p999 * 1000.0)?;
    writeln!(w, "max_us={:.0}", s.latency_ms.max * 1000.0)?;
    writeln!(w, "lag_p99_us={:.0}", s.lag_ms.p99 * 1000.0)?;
    writeln!(w, "errors={errors}")?;
    writeln!(w, "scheduled={}", c.scheduled)?;
    for o in Outcome::ALL {
        writeln!(w, "{}={}", o.name(), c.get(o))?;
    }
    writeln!(w, "offered_rate={:.1}", s.offered_rate)?;
    writeln!(w, "throughput={:.1}", s.throughput)?;
    writeln!(w, "peak_tps={:.0}", s.peak_tps)?;
    writeln!(w, "target_saturated={}", s.saturation.target)?;
    writeln!(w, "cpu_s={:.3}", s.generator_cpu_s)?;
    writeln!(w, "generator_bound={}", s.generator_bound)?;
    writeln!(
        w,
        "thresholds_failed={}",
        s.thresholds.iter().filter(|v| !v.ok).count()
    )
}
