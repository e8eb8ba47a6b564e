//! The JSON summary is a documented contract: every field a summary writes is explained
//! in `docs/summary.md`, and a file from an older release still reads.

use loadgen::report::threshold::Threshold;
use loadgen::summary::codec::to_document;
use loadgen::{Outcome, Summary};

const DOC: &str = include_str!("../../../docs/summary.md");

/// Every object key in `v`, with its path.
fn keys(v: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push((path.to_string(), k.clone()));
                keys(x, &format!("{path}.{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                keys(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_field_written_is_documented() {
    let mut s = Summary::from_json(include_str!("data/summary.json")).unwrap();
    // exercise the optional parts: verdicts, errors, warnings, details, connections
    loadgen::report::threshold::apply(&mut s, &[Threshold::parse("p99<1ms").unwrap()]);
    s.agg
        .errors
        .add(Outcome::CallError, "connection refused".into(), 1);
    s.warnings.push("a warning".into());
    s.run.details = vec![("client".into(), "fast HTTP/1.1".into())];
    s.run.connections = Some(50);
    // and a journey's rows
    s.run.steps = vec![loadgen::record::StepInfo {
        scenario: "shop".into(),
        name: "login".into(),
        kind: loadgen::record::StepKind::Request,
    }];
    let mut j = loadgen::record::JourneyAgg::new(1);
    let ms = std::time::Duration::from_millis;
    j.step(0, Outcome::Success, Some((ms(3), ms(2))));
    j.steps[0].checks = 1;
    j.steps[0].fail_named("capture token", 1);
    s.agg.journeys = Some(j);
    let v = serde_json::to_value(to_document(&s)).unwrap();
    let mut all = Vec::new();
    keys(&v, "", &mut all);
    let missing: Vec<String> = all
        .iter()
        .filter(|(_, k)| !DOC.contains(&format!("`{k}`")))
        .map(|(p, k)| format!("{p}.{k}"))
        .collect();
    assert!(
        missing.is_empty(),
        "fields not in docs/summary.md: {missing:?}"
    );
}

#[test]
fn a_version_1_file_reads_and_writes_as_version_4() {
    let v1 = include_str!("data/summary.json");
    assert!(v1.contains("loadgen.summary/v1"));
    let s = Summary::from_json(v1).unwrap();
    // before v4 the latency was the successes': both populations are that
    assert_eq!(s.agg.latency_ok, s.agg.latency);
    assert!(!s.agg.latency.is_empty());
    let text = s.to_json();
    assert!(text.contains("loadgen.summary/v4"));
    // version 2 and 3 files read too
    for old in ["loadgen.summary/v2", "loadgen.summary/v3"] {
        let older = text.replace("loadgen.summary/v4", old);
        assert_eq!(Summary::from_json(&older).unwrap().agg, s.agg, "{old}");
    }
    let back = Summary::from_json(&text).unwrap();
    assert_eq!(back.agg, s.agg);
    assert_eq!(back.run.bucket, std::time::Duration::from_secs(1));
}

#[test]
fn a_version_4_file_keeps_both_latency_populations() {
    use loadgen::record::Recorder;
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    let mut s = Summary::from_json(include_str!("data/summary.json")).unwrap();
    let mut r = Recorder::new(t0, s.run.bucket, s.run.targets.len());
    let ms = Duration::from_millis;
    for i in 0..10u64 {
        let at = t0 + ms(i);
        r.scheduled(0, at);
        r.sent(at, Duration::ZERO);
        match i {
            0..6 => r.success(0, at + ms(1), ms(1), ms(1)),
            6..8 => r.failure_timed(
                0,
                at + ms(50),
                Outcome::CalleeError,
                "503".into(),
                ms(50),
                ms(50),
            ),
            // a timeout is counted, not timed
            _ => r.failure_timed(0, at + ms(90), Outcome::Timeout, "t".into(), ms(90), ms(90)),
        }
    }
    s.agg = r.finish();
    assert_eq!(s.latency().count, 8);
    assert_eq!(s.latency_ok().count, 6);
    assert!(s.latency().max >= 49.0 && s.latency_ok().max < 2.0);
    let back = Summary::from_json(&s.to_json()).unwrap();
    assert_eq!(back.agg, s.agg);
    let d = to_document(&back);
    assert!(d.latency_ms.p99 >= 49.0, "{:?}", d.latency_ms);
    assert!(d.latency_ok_ms.p99 < 2.0, "{:?}", d.latency_ok_ms);
    assert!(d.per_target[0].latency_ms.p99 >= 49.0);
    assert!(d.per_target[0].latency_ok_ms.p99 < 2.0);
}
