//! The HTML page of a comparison: the table of figures with their change, noise and
//! verdict, the gates, and both runs' latency-by-percentile curves (and TPS over time, when
//! their timelines share a bucket width) on one chart each.

use std::io::{self, Write};

use serde_json::json;

use super::charts::{BLUE, GREEN, GREY, by_percentile_upto, percentile_xs};
use super::page::{self, Chart, Series, chart_slots, esc, section};
use crate::outcome::Outcome;
use crate::report::compare::{Comparison, Gate, Verdict, fmt_change, fmt_noise, fmt_value};
use crate::summary::Summary;

/// Writes the comparison page of `base` and `new` (named `names`).
pub fn write(
    base: &Summary,
    new: &Summary,
    c: &Comparison,
    gates: &[Gate],
    names: (&str, &str),
    w: &mut dyn Write,
) -> io::Result<()> {
    let charts = charts(base, new);
    let mut b = format!(
        "<header>\n<h1>loadgen comparison</h1>\n<p class=\"sub\">base {} → new {}</p>\n</header>\n",
        esc(names.0),
        esc(names.1)
    );
    for d in &c.differences {
        b.push_str(&format!(
            "<div class=\"warning\"><strong>The runs differ:</strong> {}</div>\n",
            esc(d)
        ));
    }
    let mut t = String::from(
        "<table class=\"wide\">\n<tr><th></th><th class=\"n\">base</th><th class=\"n\">new</th>\
         <th class=\"n\">change</th><th class=\"n\">noise (95%)</th><th>verdict</th></tr>\n",
    );
    for r in &c.rows {
        let class = match r.verdict {
            Verdict::Better => "ok",
            Verdict::Worse => "bad",
            Verdict::Same | Verdict::Unknown => "",
        };
        t.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"{class}\">{}</td></tr>\n",
            esc(&r.figure.to_string()),
            esc(&fmt_value(r.figure, r.base)),
            esc(&fmt_value(r.figure, r.new)),
            esc(&fmt_change(r)),
            esc(&fmt_noise(r)),
            r.verdict.name()
        ));
    }
    t.push_str(
        "</table>\n<p class=\"note\">Latency over every answered load. A change within the \
         noise (sampling error and drift over the seconds of both runs) is \"same\".</p>\n",
    );
    b.push_str(&section("Figures", &t));
    if !gates.is_empty() {
        let mut g = String::from("<table>\n");
        for x in gates {
            g.push_str(&format!(
                "<tr><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>\n",
                if x.failed { "bad" } else { "ok" },
                if x.failed { "FAILED" } else { "ok" },
                esc(&x.text),
                esc(&x.change)
            ));
        }
        g.push_str("</table>\n");
        b.push_str(&section("Fail-if", &g));
    }
    b.push_str(&section("Charts", &chart_slots(&charts)));
    page::page(w, "loadgen comparison", &b, &json!({ "charts": charts }))
}

fn charts(base: &Summary, new: &Summary) -> Vec<Chart> {
    let mut out = Vec::new();
    let (hb, hn) = (&base.agg.latency, &new.agg.latency);
    if !hb.is_empty() || !hn.is_empty() {
        let xs = percentile_xs(hb.len().max(hn.len()));
        let mut series = Vec::new();
        if !hb.is_empty() {
            series.push(Series::new("base", GREY, by_percentile_upto(hb, &xs)).dashed());
        }
        if !hn.is_empty() {
            series.push(Series::new("new", BLUE, by_percentile_upto(hn, &xs)));
        }
        out.push(Chart {
            id: "distribution",
            title: "Latency by percentile, both runs",
            note: "Every answered load. The x axis is 1/(1-p): each step right is ten times \
                   rarer.",
            x: "percentile",
            y: "ms",
            xs,
            series,
        });
    }
    if base.run.bucket == new.run.bucket {
        let w = base.run.bucket.as_secs_f64();
        let len = base.agg.timeline.len().max(new.agg.timeline.len());
        let tps = |s: &Summary| {
            (0..len)
                .map(|i| {
                    s.agg
                        .timeline
                        .get(i)
                        .map(|b| b.outcomes[Outcome::Success] as f64 / w)
                })
                .collect()
        };
        out.push(Chart {
            id: "tps",
            title: "TPS over time, both runs",
            note: "Successes per second, each run from its own start.",
            x: "seconds",
            y: "loads/s",
            xs: (0..len)
                .map(|i| (i as f64 * w * 1000.0).round() / 1000.0)
                .collect(),
            series: vec![
                Series::new("base", GREY, tps(base)).dashed(),
                Series::new("new", GREEN, tps(new)),
            ],
        });
    }
    out
}
