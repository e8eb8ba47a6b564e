//! The charts of a run page, computed from its summary: rates and outcomes per second,
//! latency percentiles per second (from each second's histogram) and the percentile
//! distribution of the whole run (HdrHistogram style, x = 1/(1-p)).

use super::page::{Chart, Series};
use crate::outcome::Outcome;
use crate::record::hist::{self, Hist};
use crate::summary::{Summary, TimelineJson};

/// Points per decade of the percentile axis.
const PER_DECADE: f64 = 50.0;

const GREY: &str = "#8c959f";
const BLUE: &str = "#0969da";
const GREEN: &str = "#1a7f37";
const ORANGE: &str = "#d4760b";
const RED: &str = "#cf222e";

/// The charts of a run: rates, latency over time, distribution (if any success), outcomes.
pub(super) fn run_charts(s: &Summary) -> Vec<Chart> {
    let mut charts = vec![rates_chart(&s.timeline), latency_chart(&s.timeline)];
    charts.extend(distribution_chart(s));
    charts.push(outcomes_chart(s));
    charts
}

fn seconds(t: &[TimelineJson]) -> Vec<f64> {
    t.iter().map(|b| b.t_s as f64).collect()
}

fn column(t: &[TimelineJson], f: impl Fn(&TimelineJson) -> u64) -> Vec<Option<f64>> {
    t.iter().map(|b| Some(f(b) as f64)).collect()
}

/// Loads of outcome `o` in one second.
fn bucket_count(b: &TimelineJson, o: Outcome) -> u64 {
    match o {
        Outcome::Success => b.success,
        Outcome::Timeout => b.timeout,
        Outcome::Dropped => b.dropped,
        Outcome::Cancelled => b.cancelled,
        Outcome::CallError => b.call_error,
        Outcome::ResponseError => b.response_error,
        Outcome::CalleeError => b.callee_error,
        Outcome::Fatal => b.fatal,
    }
}

/// Loads that completed in one second: every outcome but dropped.
fn bucket_completed(b: &TimelineJson) -> u64 {
    Outcome::ALL
        .into_iter()
        .filter(|&o| o != Outcome::Dropped)
        .map(|o| bucket_count(b, o))
        .sum()
}

fn rates_chart(t: &[TimelineJson]) -> Chart {
    Chart {
        id: "rates",
        title: "Offered rate, throughput and TPS",
        note: "Per second. Offered: loads scheduled; throughput: loads completed (every \
               outcome but dropped); TPS: successes.",
        x: "seconds",
        y: "loads/s",
        xs: seconds(t),
        series: vec![
            Series::new("offered", GREY, column(t, |b| b.scheduled)).dashed(),
            Series::new("throughput", BLUE, column(t, bucket_completed)),
            Series::new("TPS", GREEN, column(t, |b| b.success)),
        ],
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// A histogram of the text form, or `None` if it is empty, absent or unreadable.
fn decode_nonempty(b64: &str) -> Option<Hist> {
    if b64.is_empty() {
        return None;
    }
    hist::decode(b64).ok().filter(|h| !h.is_empty())
}

fn latency_chart(t: &[TimelineJson]) -> Chart {
    let hists: Vec<Option<Hist>> = t.iter().map(|b| decode_nonempty(&b.latency_us)).collect();
    Chart {
        id: "latency",
        title: "Latency over time",
        note: "Percentiles of each second's successes, from the intended start (a gap: no \
               success that second).",
        x: "seconds",
        y: "latency (ms)",
        xs: seconds(t),
        series: vec![
            Series::new(
                "p50",
                GREEN,
                per_second(&hists, |h| h.value_at_quantile(0.50)),
            ),
            Series::new(
                "p90",
                BLUE,
                per_second(&hists, |h| h.value_at_quantile(0.90)),
            ),
            Series::new(
                "p99",
                ORANGE,
                per_second(&hists, |h| h.value_at_quantile(0.99)),
            ),
            Series::new("max", RED, per_second(&hists, |h| h.max())),
        ],
    }
}

/// `f` (µs) of each second's histogram, in ms; `None` where there is none.
fn per_second(hists: &[Option<Hist>], f: impl Fn(&Hist) -> u64) -> Vec<Option<f64>> {
    hists.iter().map(|h| h.as_ref().map(|h| ms(f(h)))).collect()
}

/// HdrHistogram's percentile plot of the run: latency, and service time for comparison.
fn distribution_chart(s: &Summary) -> Option<Chart> {
    let latency = decode_nonempty(&s.histograms.latency_us)?;
    let xs = percentile_xs(latency.len());
    let mut series = vec![Series::new("latency", BLUE, by_percentile(&latency, &xs))];
    if let Some(h) = decode_nonempty(&s.histograms.service_time_us) {
        series.push(Series::new("service time", GREY, by_percentile(&h, &xs)).dashed());
    }
    Some(Chart {
        id: "distribution",
        title: "Latency by percentile",
        note: "All successes of the run. The x axis is 1/(1-p): each step right is ten times \
               rarer. Latency above service time is time spent waiting to send.",
        x: "percentile",
        y: "ms",
        xs,
        series,
    })
}

/// Points of the percentile axis, x = 1/(1-p), [`PER_DECADE`] per decade from 1 (p = 0)
/// up to `count` (p = 1 - 1/count, the slowest load).
fn percentile_xs(count: u64) -> Vec<f64> {
    let top = count.max(2) as f64;
    let steps = (top.log10() * PER_DECADE).ceil() as u32;
    let mut xs: Vec<f64> = (0..steps)
        .map(|i| 10f64.powf(f64::from(i) / PER_DECADE))
        .filter(|&x| x < top)
        .collect();
    xs.push(top);
    xs
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

fn outcomes_chart(s: &Summary) -> Chart {
    let t = &s.timeline;
    let series = Outcome::ALL
        .into_iter()
        .filter(|&o| o == Outcome::Success || s.counts.get(o) > 0)
        .map(|o| {
            Series::new(
                o.name(),
                outcome_color(o),
                column(t, |b| bucket_count(b, o)),
            )
        })
        .collect();
    Chart {
        id: "outcomes",
        title: "Outcomes over time",
        note: "Loads per second by outcome (outcomes that never occurred are left out).",
        x: "seconds",
        y: "loads/s",
        xs: seconds(t),
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
    fn a_run_with_successes_has_four_charts_one_point_per_second() {
        let s = sample();
        let charts = run_charts(&s);
        let ids: Vec<_> = charts.iter().map(|c| c.id).collect();
        assert_eq!(ids, ["rates", "latency", "distribution", "outcomes"]);
        for c in charts.iter().filter(|c| c.x == "seconds") {
            assert_eq!(c.xs.len(), s.timeline.len(), "{}", c.id);
            assert!(
                c.series.iter().all(|l| l.values.len() == c.xs.len()),
                "{}",
                c.id
            );
        }
        let rates = chart(&charts, "rates");
        let tps: Vec<_> = s.timeline.iter().map(|b| Some(b.success as f64)).collect();
        assert_eq!(line(rates, "TPS"), tps);
    }

    #[test]
    fn per_second_percentiles_match_the_timeline() {
        let s = sample();
        let charts = run_charts(&s);
        let lat = chart(&charts, "latency");
        let p50: Vec<_> = s.timeline.iter().map(|b| Some(b.p50_ms)).collect();
        let p99: Vec<_> = s.timeline.iter().map(|b| Some(b.p99_ms)).collect();
        assert_eq!(line(lat, "p50"), p50);
        assert_eq!(line(lat, "p99"), p99);
    }

    #[test]
    fn a_second_without_successes_is_a_gap() {
        let mut s = sample();
        s.timeline[1].latency_us.clear();
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
        assert_eq!(d.xs.last(), Some(&(s.counts.success as f64)));
        assert!(d.xs.windows(2).all(|w| w[0] < w[1]));
        let lat = line(d, "latency");
        assert_eq!(lat.first(), Some(&Some(s.latency_ms.min)));
        assert_eq!(lat.last(), Some(&Some(s.latency_ms.max)));
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
        s.histograms.latency_us = hist::encode(&hist::new_hist());
        let ids: Vec<_> = run_charts(&s).iter().map(|c| c.id).collect();
        assert_eq!(ids, ["rates", "latency", "outcomes"]);
    }
}
