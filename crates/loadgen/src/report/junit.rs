//! The JUnit XML file of a run (`--junit FILE`), for CI systems that show test results:
//! one test suite per run; one test case per threshold (failed when it was violated), per
//! journey step with checks (failed when a check failed), and one for the accounting
//! invariant; the run's figures as properties and the text report as `system-out`.
//!
//! The shape is the one Jenkins, GitLab, GitHub Actions reporters and Azure read (the Ant
//! JUnit format): `testsuites` > `testsuite` > `testcase` with an optional `failure`.

use std::io::{self, Write};

use crate::outcome::Outcome;
use crate::record::StepKind;
use crate::summary::Summary;

/// One test case.
struct Case {
    name: String,
    class: &'static str,
    failure: Option<(String, String)>,
}

/// Writes the JUnit XML of `s`.
pub fn write(s: &Summary, w: &mut dyn Write) -> io::Result<()> {
    let cases = cases(s);
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let time = s.facts.elapsed.as_secs_f64();
    let name = super::view::View::of(s).title;
    let mut text = Vec::new();
    super::text::write(s, &mut text)?;
    writeln!(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        w,
        "<testsuites name=\"loadgen\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">",
        cases.len()
    )?;
    writeln!(
        w,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\" timestamp=\"{}\">",
        esc(&name),
        cases.len(),
        humantime::format_rfc3339_seconds(s.run.started_at)
            .to_string()
            .trim_end_matches('Z')
    )?;
    writeln!(w, "    <properties>")?;
    let c = s.counts();
    let lat = s.latency();
    for (k, v) in [
        ("scheduled", c.scheduled.to_string()),
        ("success", c.get(Outcome::Success).to_string()),
        ("offered_rate", format!("{:.3}", s.offered_rate())),
        ("throughput", format!("{:.3}", s.throughput())),
        ("tps", format!("{:.3}", s.tps())),
        ("latency_p50_ms", format!("{:.3}", lat.p50)),
        ("latency_p99_ms", format!("{:.3}", lat.p99)),
    ] {
        writeln!(w, "      <property name=\"{k}\" value=\"{}\"/>", esc(&v))?;
    }
    writeln!(w, "    </properties>")?;
    for case in &cases {
        let head = format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
            esc(&case.name),
            case.class
        );
        match &case.failure {
            None => writeln!(w, "{head}/>")?,
            Some((message, detail)) => {
                writeln!(w, "{head}>")?;
                writeln!(
                    w,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                    esc(message),
                    case.class.rsplit('.').next().unwrap_or("failure"),
                    esc(detail)
                )?;
                writeln!(w, "    </testcase>")?;
            }
        }
    }
    writeln!(
        w,
        "    <system-out>{}</system-out>",
        esc(&String::from_utf8_lossy(&text))
    )?;
    writeln!(w, "  </testsuite>")?;
    writeln!(w, "</testsuites>")
}

fn cases(s: &Summary) -> Vec<Case> {
    let mut out = Vec::new();
    let c = s.counts();
    out.push(Case {
        name: "every load accounted for".into(),
        class: "loadgen.accounting",
        failure: (!c.invariant_holds()).then(|| {
            (
                format!("accounted {} != scheduled {}", c.accounted(), c.scheduled),
                "scheduled = success + timeout + dropped + cancelled + call_error + response_error + callee_error + fatal".into(),
            )
        }),
    });
    for v in &s.thresholds {
        let actual = super::view::actual(v);
        out.push(Case {
            name: v.threshold.clone(),
            class: "loadgen.threshold",
            failure: (!v.ok).then(|| {
                (
                    format!("{}: actual {actual}", v.threshold),
                    format!(
                        "threshold {} violated: the run measured {actual}",
                        v.threshold
                    ),
                )
            }),
        });
    }
    if let Some(j) = &s.agg.journeys {
        for (info, a) in s.run.steps.iter().zip(&j.steps) {
            if info.kind != StepKind::Request || a.checks == 0 {
                continue;
            }
            let failed: Vec<String> = a.failed.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            out.push(Case {
                name: format!("{} / {}: checks", info.scenario, info.name),
                class: "loadgen.checks",
                failure: (a.checks_failed > 0).then(|| {
                    (
                        format!("{} of {} checks failed", a.checks_failed, a.checks),
                        failed.join("\n"),
                    )
                }),
            });
        }
    }
    out
}

/// Text as XML 1.0 content or attribute value: the five specials escaped, and the
/// characters XML 1.0 cannot carry (controls but tab, newline, return) replaced by U+FFFD.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_xml_cannot_carry() {
        assert_eq!(
            esc("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(esc("bell\u{7}tab\tnl\n"), "bell\u{FFFD}tab\tnl\n");
    }
}
