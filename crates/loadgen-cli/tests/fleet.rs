//! A fleet watched through a real Prometheus: three shard processes of one run
//! (`--shard I/3 --start-at`, `--metrics`, `--run-id`), scraped every second by a
//! Prometheus server on 127.0.0.1 that also evaluates the repository's recording rules
//! (deploy/kubernetes/monitoring/rules.yml). Its HTTP API must give the merged JSON
//! summary's counts exactly, a fleet p99 within one bucket of the merged p99, and the
//! recording rules the same totals.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;

/// The `--metrics` histogram bounds, seconds (cmd/live.rs).
const BUCKETS: [f64; 33] = [
    0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.0007, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.007,
    0.01, 0.015, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0,
    7.0, 10.0, 30.0, 60.0,
];

fn bucket_of(seconds: f64) -> usize {
    BUCKETS
        .iter()
        .position(|&b| seconds <= b)
        .unwrap_or(BUCKETS.len())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `query` asked of Prometheus's HTTP API: the result vector, or `None` before it answers.
fn query(port: u16, query: &str) -> Option<Vec<serde_json::Value>> {
    let mut enc = String::new();
    for b in query.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /api/v1/query?query={enc} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["data"]["result"].as_array().cloned()
}

/// The one value of a scalar-like result, or per label value of `by`.
fn values(r: &[serde_json::Value], by: &str) -> Vec<(String, f64)> {
    r.iter()
        .map(|x| {
            (
                x["metric"][by].as_str().unwrap_or("").to_string(),
                x["value"][1].as_str().unwrap().parse::<f64>().unwrap(),
            )
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(has_prometheus),
    ignore = "needs a Prometheus server (apt-get install prometheus)"
)]
fn three_shards_add_up_in_a_real_prometheus() {
    let (_srv, addrs, _) = serve(&["http", "--listen", "127.0.0.1:0", "--error-rate", "0.05"]);
    let url = format!("http://{}/", addrs[0]);
    let run_id = format!("fleet-{}", std::process::id());
    let (_shards, targets, files) = shards(
        "fleet-shard",
        &url,
        3,
        &["-r", "600", "-d", "3s", "--run-id", &run_id],
        5,
        "15s",
    );
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/kubernetes/monitoring/rules.yml"
    );
    let config = write(
        "fleet-prometheus.yml",
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [\"{rules}\"]\nscrape_configs:\n  - job_name: loadgen\n    static_configs:\n      - targets: [{}]\n",
            targets
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let data = tmp("fleet-prometheus-data");
    let _ = std::fs::remove_dir_all(&data);
    let port = free_port();
    let _prom = Server(
        std::process::Command::new("prometheus")
            .arg(format!("--config.file={config}"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // the shards' summaries, merged
    let m = merged("fleet", &files);
    assert_eq!(m.counts.scheduled, 1800);
    assert!(m.counts.callee_error > 0, "--error-rate 0.05 made some");
    // Prometheus: every shard scraped after its end, and the rules evaluated after that
    let sel = format!("{{run=\"{run_id}\"}}");
    let want = [
        ("success", m.counts.success),
        ("callee_error", m.counts.callee_error),
        ("timeout", m.counts.timeout),
        ("dropped", m.counts.dropped),
    ];
    let done = |r: Option<Vec<serde_json::Value>>| {
        r.is_some_and(|r| values(&r, "").first().is_some_and(|(_, v)| *v == 3.0))
    };
    let agree = |name: &str| {
        query(port, &format!("{name}{sel}")).is_some_and(|r| {
            let got = values(&r, "outcome");
            want.iter().all(|(o, n)| {
                got.iter()
                    .find(|(g, _)| g == o)
                    .map_or(*n == 0, |(_, v)| *v == *n as f64)
            })
        })
    };
    let t = Instant::now();
    loop {
        let ended = done(query(port, &format!("sum(loadgen_run_ended{sel})")));
        if ended && agree("loadgen_run:loads:sum") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "Prometheus never agreed: ended {ended}, {:?}, rules {:?}",
            query(
                port,
                &format!("sum by (outcome) (loadgen_loads_total{sel})")
            ),
            query(port, &format!("loadgen_run:loads:sum{sel}"))
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // the raw series, summed by outcome: the merged counts exactly
    let r = query(
        port,
        &format!("sum by (outcome) (loadgen_loads_total{sel})"),
    )
    .unwrap();
    let got = values(&r, "outcome");
    for (o, n) in want {
        let v = got.iter().find(|(g, _)| g == o).map_or(0.0, |(_, v)| *v);
        assert_eq!(v, n as f64, "{o}: {got:?}");
    }
    let r = query(port, &format!("loadgen_run:scheduled:sum{sel}")).unwrap();
    assert_eq!(values(&r, "")[0].1, 1800.0);
    let r = query(port, &format!("loadgen_run:responses:sum{sel}")).unwrap();
    let classes = values(&r, "status_class");
    let class = |c: &str| {
        classes
            .iter()
            .find(|(k, _)| k == c)
            .map_or(0.0, |(_, v)| *v)
    };
    assert_eq!(class("5xx"), m.counts.callee_error as f64, "{classes:?}");
    assert_eq!(class("2xx"), m.counts.success as f64, "{classes:?}");
    let r = query(port, &format!("loadgen_run:shards:count{sel}")).unwrap();
    assert_eq!(values(&r, "")[0].1, 3.0);
    // the fleet p99 from the summed buckets: within one bucket of the merged p99
    let r = query(
        port,
        &format!("histogram_quantile(0.99, sum by (le) (loadgen_latency_seconds_bucket{sel}))"),
    )
    .unwrap();
    let fleet = values(&r, "")[0].1;
    let merged_p99 = m.latency_ms.p99 / 1000.0;
    let (a, b) = (bucket_of(fleet), bucket_of(merged_p99));
    assert!(
        a.abs_diff(b) <= 1,
        "fleet p99 {fleet} s (bucket {a}) vs merged {merged_p99} s (bucket {b})"
    );
    let r = query(port, &format!("loadgen_run:latency_seconds:p99{sel}")).unwrap();
    assert_eq!(values(&r, "")[0].1, fleet, "the rule is the same quantile");
}

#[test]
fn a_run_id_is_a_label_value_or_one_line() {
    let out = run(&["run", "http://127.0.0.1:9/", "-n", "1", "--run-id", "a b"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--run-id"), "{err}");
}
