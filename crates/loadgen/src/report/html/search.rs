//! The HTML page of a rate search: the curve (offered rate → p50 and p99) and the answer.

use std::io::{self, Write};

use serde_json::json;

use super::page::{self, Chart, Series, chart_slots, esc, kv_table, section};
use crate::search::SearchResult;

/// Writes the search page.
pub fn write(r: &SearchResult, w: &mut dyn Write) -> io::Result<()> {
    let mut steps: Vec<_> = r.steps.iter().collect();
    steps.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let chart = Chart {
        id: "curve",
        title: "Latency by offered rate",
        note: "One point per stepped run, sorted by rate.",
        x: "rate",
        y: "latency (ms)",
        xs: steps.iter().map(|s| s.rate).collect(),
        series: vec![
            Series::new(
                "p50",
                "#2e7d32",
                steps.iter().map(|s| Some(s.p50_ms)).collect(),
            ),
            Series::new(
                "p99",
                "#e65100",
                steps.iter().map(|s| Some(s.p99_ms)).collect(),
            ),
        ],
    };
    let answer = r
        .answer
        .map_or("none: even the minimum rate failed".to_string(), |a| {
            format!("{a} loads/s")
        });
    let mut b = String::from("<header><h1>loadgen rate search</h1></header>\n");
    b.push_str(&section(
        "Answer",
        &kv_table(&[
            ("highest rate meeting the SLO", esc(&answer)),
            ("SLO", esc(&r.slo.join(", "))),
            (
                "lowest rate that failed",
                r.first_failure
                    .map_or("none".to_string(), |f| format!("{f} loads/s")),
            ),
            (
                "generator-bound",
                r.generator_limit.map_or("no".to_string(), |g| {
                    format!(
                        "at {g} loads/s loadgen itself was the limit, not the target: the answer is a lower bound"
                    )
                }),
            ),
        ]),
    ));
    let charts = vec![chart];
    b.push_str(&section("Curve", &chart_slots(&charts)));
    let mut t = String::from(
        "<table>\n<tr><th>step</th><th>rate</th><th>p50 ms</th><th>p99 ms</th><th>success %</th><th>SLO</th></tr>\n",
    );
    for (i, s) in r.steps.iter().enumerate() {
        t.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td class=\"{}\">{}</td></tr>\n",
            i + 1,
            s.rate,
            s.p50_ms,
            s.p99_ms,
            s.success_pct,
            if s.ok { "ok" } else { "bad" },
            if s.ok { "met" } else { "missed" },
        ));
        if s.generator_bound {
            t.truncate(t.len() - "</tr>\n".len());
            t.push_str("<td class=\"bad\">generator-bound</td></tr>\n");
        }
    }
    t.push_str("</table>\n");
    b.push_str(&section("Steps", &t));
    page::page(w, "loadgen rate search", &b, &json!({ "charts": charts }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Step;

    #[test]
    fn renders_the_curve_and_answer() {
        let step = |rate, ok| Step {
            rate,
            p50_ms: 1.0,
            p99_ms: if ok { 2.0 } else { 50.0 },
            success_pct: 100.0,
            ok,
            verdicts: Vec::new(),
            generator_bound: false,
        };
        let r = SearchResult {
            schema: crate::search::SCHEMA.into(),
            interrupted: false,
            slo: vec!["p99<10ms".into()],
            steps: vec![step(100.0, true), step(200.0, false), step(150.0, true)],
            answer: Some(150.0),
            first_failure: Some(200.0),
            generator_limit: None,
        };
        let mut out = Vec::new();
        write(&r, &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(html.contains("150 loads/s") && html.contains("p99&lt;10ms"));
        assert!(html.contains("\"x\":\"rate\"") && html.contains("\"xs\":[100.0,150.0,200.0]"));
    }
}
