//! The charts of a run page, computed from its summary: rates and outcomes per second in
//! each timeline bucket, latency percentiles per bucket (from each bucket's histogram) and
//! the percentile distribution of the whole run (HdrHistogram style, x = 1/(1-p)).

use super::page::{Chart, Series};
use crate::outcome::Outcome;
use crate::record::Bucket;
use crate::record::hist::Hist;
use crate::summary::Summary;

/// Points per decade of the percentile axis.
const PER_DECADE: f64 = 50.0;

pub(super) const GREY: &str = "#8c959f";
pub(super) const BLUE: &str = "#0969da";
pub(super) const GREEN: &str = "#1a7f37";
const ORANGE: &str = "#d4760b";
const RED: &str = "#cf222e";

/// The charts of a run: rates, latency over time, distribution (if any success), outcomes.
pub(super) fn run_charts(s: &Summary) -> Vec<Chart> {
    let t = Timeline::of(s);
    let mut charts = vec![rates_chart(&t), latency_chart(s, &t)];
    charts.extend(distribution_chart(s));
    charts.push(outcomes_chart(s, &t));
    charts
}

/// The timeline as chart columns: bucket starts (s) and the per-second scale of a bucket.
struct Timeline<'a> {
    buckets: &'a [Bucket],
    xs: Vec<f64>,
    /// Buckets per second: counts × this = per-second rates.
    per_second: f64,
}

impl<'a> Timeline<'a> {
    fn of(s: &'a Summary) -> Timeline<'a> {
        let w = s.run.bucket.as_secs_f64();
        Timeline {
            buckets: &s.agg.timeline,
            xs: (0..s.agg.timeline.len())
                .map(|i| (i as f64 * w * 1000.0).round() / 1000.0)
                .collect(),
            per_second: 1.0 / w,
        }
    }

    /// A per-second rate column from a count of each bucket.
    fn rate(&self, f: impl Fn(&Bucket) -> u64) -> Vec<Option<f64>> {
        self.buckets
            .iter()
            .map(|b| Some((f(b) as f64 * self.per_second * 1000.0).round() / 1000.0))
            .collect()
    }
}

/// Loads that completed in one bucket: every outcome but dropped.
fn bucket_completed(b: &Bucket) -> u64 {
    b.outcomes.total() - b.outcomes[Outcome::Dropped]
}

fn rates_chart(t: &Timeline) -> Chart {
    Chart {
        id: "rates",
        title: "Offered rate, throughput and TPS",
        note: "Per second. Offered: loads scheduled; throughput: loads completed (every \
               outcome but dropped); TPS: successes.",
        x: "seconds",
        y: "loads/s",
        xs: t.xs.clone(),
        series: vec![
            // wide and dashed, under the others: still seen where they follow it
            Series::new("offered", GREY, t.rate(|b| b.scheduled))
                .dashed()
                .wide(5.0),
            Series::new("throughput", BLUE, t.rate(bucket_completed)).wide(3.0),
            // dotted over throughput: both show when every load succeeds
            Series::new("TPS", GREEN, t.rate(|b| b.outcomes[Outcome::Success])).pattern(&[2, 4]),
        ],
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn latency_chart(s: &Summary, t: &Timeline) -> Chart {
    // one bucket's histogram decoded at a time: four figures kept, the histogram dropped
    let mut cols: [Vec<Option<f64>>; 4] = Default::default();
    for b in &s.agg.timeline {
        let h = b.latency.decode();
        let f = |q: f64| {
            h.as_ref().map(|h| {
                ms(if q >= 1.0 {
                    h.max()
                } else {
                    h.value_at_quantile(q)
                })
            })
        };
        for (col, q) in cols.iter_mut().zip([0.50, 0.90, 0.99, 1.0]) {
            col.push(f(q));
        }
    }
    let [p50, p90, p99, max] = cols;
    Chart {
        id: "latency",
        title: "Latency over time",
        note: "Percentiles of each bucket's answered loads (success, response_error, \
               callee_error), from the intended start (a gap: no answer in that bucket).",
        x: "seconds",
        y: "latency (ms)",
        xs: t.xs.clone(),
        series: vec![
            Series::new("p50", GREEN, p50),
            Series::new("p90", BLUE, p90),
            Series::new("p99", ORANGE, p99),
            Series::new("max", RED, max),
        ],
    }
}

/// HdrHistogram's percentile plot of the run: latency, and service time for comparison.
fn distribution_chart(s: &Summary) -> Option<Chart> {
    let latency = &s.agg.latency;
    if latency.is_empty() {
        return None;
    }
    let xs = percentile_xs(latency.len());
    let mut series = vec![Series::new("latency", BLUE, by_percentile(latency, &xs))];
    let ok = &s.agg.latency_ok;
    if ok.len() != latency.len() && !ok.is_empty() {
        let points = by_percentile_upto(ok, &xs);
        series.push(Series::new("latency ok", GREEN, points).dashed());
    }
    if !s.agg.service.is_empty() {
        series.push(Series::new("service time", GREY, by_percentile(&s.agg.service, &xs)).dashed());
    }
    Some(Chart {
        id: "distribution",
        title: "Latency by percentile",
        note: "Every answered load of the run (success, response_error, callee_error); \
               latency ok: the successes alone, when others were answered too. The x axis is 1/(1-p): each step right is ten times \
               rarer. Latency above service time is time spent waiting to send.",
        x: "percentile",
        y: "ms",
        xs,
        series,
    })
}

/// Points of the percentile axis, x = 1/(1-p), [`PER_DECADE`] per decade from 1 (p = 0)
/// up to `count` (p = 1 - 1/count, the slowest load).
pub(super) fn percentile_xs(count: u64) -> Vec<f64> {
    let top = count.max(2) as f64;
    let steps = (top.log10() * PER_DECADE).ceil() as u32;
    let mut xs: Vec<f64> = (0..steps)
        .map(|i| 10f64.powf(f64::from(i) / PER_DECADE))
        .filter(|&x| x < top)
        .collect();
    xs.push(top);
    xs
}

/// `h` (µs) in ms at each x = 1/(1-p) of `xs` below its own count, then its maximum, then
/// gaps: a smaller population on the axis of a larger one.
pub(super) fn by_percentile_upto(h: &Hist, xs: &[f64]) -> Vec<Option<f64>> {
    let n = h.len() as f64;
    let mut last = false;
    xs.iter()
        .map(|&x| match x < n {
            true => Some(ms(h.value_at_quantile(1.0 - 1.0 / x))),
            false if !std::mem::replace(&mut last, true) => Some(ms(h.max())),
            false => None,
        })
        .collect()
}

/// `h` (µs) in ms at each x = 1/(1-p) of `xs`; the last point is the maximum.
fn by_percentile(h: &Hist, xs: &[f64]) -> Vec<Option<f64>> {
    let mut v: Vec<Option<f64>> = xs[..xs.len() - 1]
        .iter()
        .map(|&x| Some(ms(h.value_at_quantile(1.0 - 1.0 / x))))
        .collect();
    v.push(Some(ms(h.max())));
    v
}

fn outcomes_chart(s: &Summary, t: &Timeline) -> Chart {
    let series = Outcome::ALL
        .into_iter()
        .filter(|&o| o == Outcome::Success || s.counts().get(o) > 0)
        .map(|o| {
            // a pattern and a width of its own: two outcomes with the same counts still
            // show as two lines
            let (dash, width): (&[u8], f64) = match o {
                Outcome::Success => (&[], 4.0),
                Outcome::Timeout => (&[8, 4], 3.0),
                Outcome::Dropped => (&[2, 3], 3.0),
                Outcome::Cancelled => (&[12, 3, 2, 3], 2.0),
                Outcome::CallError => (&[6, 6], 2.0),
                Outcome::ResponseError => (&[1, 3], 2.0),
                Outcome::CalleeError => (&[10, 3], 2.0),
                Outcome::Fatal => (&[3, 3, 9, 3], 1.5),
            };
            let s = Series::new(o.name(), outcome_color(o), t.rate(|b| b.outcomes[o])).wide(width);
            if dash.is_empty() { s } else { s.pattern(dash) }
        })
        .collect();
    Chart {
        id: "outcomes",
        title: "Outcomes over time",
        note: "Loads per second by outcome (outcomes that never occurred are left out).",
        x: "seconds",
        y: "loads/s",
        xs: t.xs.clone(),
        series,
    }
}

fn outcome_color(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => GREEN,
        Outcome::Timeout => ORANGE,
        Outcome::Dropped => GREY,
        Outcome::Cancelled => "#8250df",
        Outcome::CallError => RED,
        Outcome::ResponseError => "#7d2a1e",
        Outcome::CalleeError => "#bf3989",
        Outcome::Fatal => "#24292f",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Summary {
        Summary::from_json(include_str!("../../../tests/data/summary.json")).unwrap()
    }

    fn chart<'a>(charts: &'a [Chart], id: &str) -> &'a Chart {
        charts.iter().find(|c| c.id == id).unwrap()
    }

    fn line<'a>(c: &'a Chart, label: &str) -> &'a [Option<f64>] {
        &c.series.iter().find(|s| s.label == label).unwrap().values
    }

    #[test]
    fn a_run_with_successes_has_four_charts_one_point_per_bucket() {
        let s = sample();
        let charts = run_charts(&s);
        let ids: Vec<_> = charts.iter().map(|c| c.id).collect();
        assert_eq!(ids, ["rates", "latency", "distribution", "outcomes"]);
        for c in charts.iter().filter(|c| c.x == "seconds") {
            assert_eq!(c.xs.len(), s.agg.timeline.len(), "{}", c.id);
            assert!(
                c.series.iter().all(|l| l.values.len() == c.xs.len()),
                "{}",
                c.id
            );
        }
        let rates = chart(&charts, "rates");
        let tps: Vec<_> = s
            .agg
            .timeline
            .iter()
            .map(|b| Some(b.outcomes[Outcome::Success] as f64))
            .collect();
        assert_eq!(
            line(rates, "TPS"),
            tps,
            "one-second buckets: counts are rates"
        );
    }

    #[test]
    fn per_bucket_percentiles_come_from_each_bucket() {
        let s = sample();
        let charts = run_charts(&s);
        let lat = chart(&charts, "latency");
        let doc = crate::summary::codec::to_document(&s);
        let p50: Vec<_> = doc.timeline.iter().map(|b| Some(b.p50_ms)).collect();
        let p99: Vec<_> = doc.timeline.iter().map(|b| Some(b.p99_ms)).collect();
        assert_eq!(line(lat, "p50"), p50);
        assert_eq!(line(lat, "p99"), p99);
    }

    #[test]
    fn rates_are_per_second_whatever_the_bucket() {
        let mut s = sample();
        s.run.bucket = std::time::Duration::from_millis(100);
        let charts = run_charts(&s);
        let t = line(chart(&charts, "rates"), "TPS");
        let first = s.agg.timeline[0].outcomes[Outcome::Success] as f64;
        assert_eq!(t[0], Some(first * 10.0));
        assert_eq!(chart(&charts, "rates").xs[1], 0.1);
    }

    #[test]
    fn a_bucket_without_successes_is_a_gap() {
        let mut s = sample();
        s.agg.timeline[1].latency = Default::default();
        let charts = run_charts(&s);
        let max = line(chart(&charts, "latency"), "max");
        assert_eq!(max[1], None);
        assert!(max[0].is_some());
    }

    #[test]
    fn distribution_runs_from_min_to_max() {
        let s = sample();
        let charts = run_charts(&s);
        let d = chart(&charts, "distribution");
        assert_eq!(d.xs.first(), Some(&1.0));
        assert_eq!(
            d.xs.last(),
            Some(&(s.counts().get(Outcome::Success) as f64))
        );
        assert!(d.xs.windows(2).all(|w| w[0] < w[1]));
        let lat = line(d, "latency");
        assert_eq!(lat.first(), Some(&Some(s.latency().min)));
        assert_eq!(lat.last(), Some(&Some(s.latency().max)));
    }

    #[test]
    fn percentile_axis_handles_tiny_and_exact_counts() {
        for n in [0, 1, 2, 10, 1000, 1_000_000] {
            let xs = percentile_xs(n);
            assert_eq!(xs.last(), Some(&(n.max(2) as f64)), "{n}");
            assert!(xs.windows(2).all(|w| w[0] < w[1]), "{n}");
        }
    }

    #[test]
    fn no_successes_no_distribution_chart() {
        let mut s = sample();
        s.agg.latency = crate::record::hist::new_hist();
        let ids: Vec<_> = run_charts(&s).iter().map(|c| c.id).collect();
        assert_eq!(ids, ["rates", "latency", "outcomes"]);
    }
}
