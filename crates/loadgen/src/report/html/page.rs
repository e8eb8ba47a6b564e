//! The page shell every HTML report page shares: the document around a body, with uPlot,
//! the page script and styles inlined, the data JSON embedded safely, and the chart spec
//! types that script draws. Also the small HTML helpers (escaping, sections, tables).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

const UPLOT_JS: &str = include_str!("../../../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../assets/uplot/uPlot.min.css");
const PAGE_JS: &str = include_str!("../../../assets/report/report.js");
const PAGE_CSS: &str = include_str!("../../../assets/report/report.css");

/// Writes a complete page: `title` (text), `body` (HTML, already escaped) and `data`
/// (JSON for the page script, which draws `data.charts`), with uPlot inlined.
pub(crate) fn page(w: &mut dyn Write, title: &str, body: &str, data: &Value) -> io::Result<()> {
    let expected = data["charts"].as_array().map_or(0, Vec::len);
    writeln!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
    )?;
    writeln!(
        w,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(
        w,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">"
    )?;
    writeln!(w, "<title>{}</title>", esc(title))?;
    for css in [UPLOT_CSS, PAGE_CSS] {
        writeln!(w, "<style>\n{css}\n</style>")?;
    }
    writeln!(w, "</head>\n<body data-charts-expected=\"{expected}\">")?;
    w.write_all(body.as_bytes())?;
    writeln!(
        w,
        "<script type=\"application/json\" id=\"data\">{}</script>",
        script_json(data)
    )?;
    for js in [UPLOT_JS, PAGE_JS] {
        writeln!(w, "<script>\n{js}\n</script>")?;
    }
    writeln!(w, "</body>\n</html>")
}

/// JSON text safe inside `<script>`: `</` becomes `<\/` and `<!--` becomes `\u003c!--`
/// (both can only occur inside JSON strings, where the escapes mean the same text).
pub(crate) fn script_json(v: &Value) -> String {
    v.to_string()
        .replace("</", "<\\/")
        .replace("<!--", "\\u003c!--")
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One chart for the page script: x values and lines of y values (`null` = no value).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Chart {
    /// The plot is drawn into the element `#plot-<id>`.
    pub id: &'static str,
    /// Heading above the chart.
    pub title: &'static str,
    /// What the lines mean, under the chart.
    #[serde(skip)]
    pub note: &'static str,
    /// `"seconds"` (linear) or `"percentile"` (log axis of x = 1/(1-p)).
    pub x: &'static str,
    /// The y axis label.
    pub y: &'static str,
    /// The x values.
    pub xs: Vec<f64>,
    /// The lines, each with one value per x.
    pub series: Vec<Series>,
}

/// One line of a [`Chart`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Series {
    /// Legend label.
    pub label: &'static str,
    /// CSS colour of the line.
    pub color: &'static str,
    /// A dash pattern (`[6, 4]` for a reference, such as the offered rate); none: solid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dash: Option<Vec<u8>>,
    /// Line width in pixels (2 when absent): a wider line under a narrower one shows both
    /// where they coincide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// One value per x of the chart; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
}

impl Series {
    /// A solid line.
    pub(crate) fn new(
        label: &'static str,
        color: &'static str,
        values: Vec<Option<f64>>,
    ) -> Series {
        Series {
            label,
            color,
            dash: None,
            width: None,
            values,
        }
    }
    /// The same line, dashed.
    pub(crate) fn dashed(self) -> Series {
        self.pattern(&[6, 4])
    }
    /// The same line with this dash pattern.
    pub(crate) fn pattern(self, dash: &[u8]) -> Series {
        Series {
            dash: Some(dash.to_vec()),
            ..self
        }
    }
    /// The same line, this wide.
    pub(crate) fn wide(self, width: f64) -> Series {
        Series {
            width: Some(width),
            ..self
        }
    }
}

/// A titled section.
pub(crate) fn section(title: &str, inner: &str) -> String {
    format!("<section>\n<h2>{}</h2>\n{inner}</section>\n", esc(title))
}

/// A two-column table; values are HTML (escaped by the caller).
pub(crate) fn kv_table(rows: &[(&str, String)]) -> String {
    let mut out = String::from("<table class=\"kv\">\n");
    for (k, v) in rows {
        out.push_str(&format!("<tr><th>{}</th><td>{v}</td></tr>\n", esc(k)));
    }
    out.push_str("</table>\n");
    out
}

/// A titled frame per chart, where the page script draws it (`#plot-<id>`).
pub(crate) fn chart_slots(charts: &[Chart]) -> String {
    let mut out = String::new();
    for c in charts {
        out.push_str(&format!(
            "<figure class=\"chart\">\n<figcaption>{}</figcaption>\n\
             <div class=\"plot\" id=\"plot-{}\"></div>\n<p class=\"note\">{}</p>\n</figure>\n",
            esc(c.title),
            esc(c.id),
            esc(c.note)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn escapes_html_specials() {
        assert_eq!(
            esc("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(esc("plain µs"), "plain µs");
    }

    #[test]
    fn script_json_cannot_close_the_script_and_round_trips() {
        let v = json!({ "a": "</script><!-- <script>", "b": ["x</", "\\</y"] });
        let text = script_json(&v);
        assert!(!text.contains("</"), "{text}");
        assert!(!text.contains("<!--"), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn page_counts_the_charts_it_expects() {
        let mut out = Vec::new();
        let data = json!({ "charts": [1, 2] });
        page(&mut out, "a <title>", "<p>body</p>", &data).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(html.contains("<title>a &lt;title&gt;</title>"));
        assert!(html.contains("<body data-charts-expected=\"2\">\n<p>body</p>"));
        assert!(html.ends_with("</body>\n</html>\n"));
    }
}
