//! `key=value` lines for scripts (the benchmark scripts read them): `requests=` loads sent,
//! `successes=`, `rps=` completed loads per second, `tps=` successes per second,
//! latency percentiles in µs (every answered load; `ok_` the successes'), then every count
//! by outcome and the rates.

use std::io::{self, Write};

use crate::outcome::Outcome;
use crate::summary::Summary;

/// Writes the summary as `key=value` lines.
pub fn write(s: &Summary, w: &mut dyn Write) -> io::Result<()> {
    let c = s.counts();
    let lat = s.latency();
    let us = |ms: f64| (ms * 1000.0).round();
    writeln!(w, "requests={}", s.agg.sent)?;
    writeln!(w, "successes={}", c.get(Outcome::Success))?;
    writeln!(w, "rps={:.1}", s.throughput())?;
    writeln!(w, "tps={:.1}", s.tps())?;
    writeln!(w, "p50_us={:.0}", us(lat.p50))?;
    writeln!(w, "p90_us={:.0}", us(lat.p90))?;
    writeln!(w, "p99_us={:.0}", us(lat.p99))?;
    writeln!(w, "p999_us={:.0}", us(lat.p999))?;
    writeln!(w, "max_us={:.0}", us(lat.max))?;
    let ok = s.latency_ok();
    writeln!(w, "ok_p50_us={:.0}", us(ok.p50))?;
    writeln!(w, "ok_p99_us={:.0}", us(ok.p99))?;
    writeln!(w, "lag_p99_us={:.0}", us(s.lag().p99))?;
    if let Some((c, n)) = s.connect() {
        writeln!(w, "connects={n}")?;
        writeln!(w, "connect_p50_us={:.0}", us(c.p50))?;
        writeln!(w, "connect_p99_us={:.0}", us(c.p99))?;
    }
    writeln!(w, "errors={}", c.scheduled - c.get(Outcome::Success))?;
    writeln!(w, "scheduled={}", c.scheduled)?;
    for o in Outcome::ALL {
        writeln!(w, "{}={}", o.name(), c.get(o))?;
    }
    writeln!(w, "offered_rate={:.1}", s.offered_rate())?;
    writeln!(w, "throughput={:.1}", s.throughput())?;
    writeln!(w, "peak_tps={:.0}", s.peak_tps())?;
    writeln!(w, "target_saturated={}", s.target_saturated())?;
    writeln!(w, "cpu_s={:.3}", s.facts.generator.cpu.as_secs_f64())?;
    writeln!(w, "generator_bound={}", s.generator_bound())?;
    writeln!(
        w,
        "thresholds_failed={}",
        s.thresholds.iter().filter(|v| !v.ok).count()
    )
}
