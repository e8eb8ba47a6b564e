//! Merging shard summaries: exact, commutative, associative, and picky about what belongs
//! together.

use std::time::{Duration, Instant, SystemTime};

use loadgen::record::Recorder;
use loadgen::record::hist::{self, Hist};
use loadgen::summary::merge::{MergeError, merge};
use loadgen::summary::{GeneratorFacts, LoadFacts, RunFacts};
use loadgen::{Outcome, Plan, Schedule, Stride, Summary, Target};
use proptest::prelude::*;

/// A summary of shard `index` of `count` whose loads had these latencies (µs) and outcomes.
fn shard_summary(index: u64, count: u64, loads: &[(u64, u8)]) -> Summary {
    let target = Target {
        name: "calc://127.0.0.1:1".into(),
        weight: 1,
    };
    let mut plan = Plan::new(
        Schedule::constant(1000.0, Duration::from_secs(3)).unwrap(),
        Duration::from_millis(50),
        vec![target],
        "calc",
    );
    plan.stride = Stride {
        first: index,
        step: count,
    };
    plan.process_shard = (index, count);
    let t0 = Instant::now();
    let mut r = Recorder::new(t0, plan.bucket(), 1);
    for (k, &(lat, o)) in loads.iter().enumerate() {
        let at = t0 + Duration::from_millis(k as u64 * 7 % 3000);
        r.scheduled(0, at);
        let end = at + Duration::from_micros(lat);
        match Outcome::ALL[usize::from(o) % 8] {
            Outcome::Success => {
                r.sent(at, Duration::ZERO);
                r.success(
                    0,
                    end,
                    Duration::from_micros(lat),
                    Duration::from_micros(lat / 2),
                );
            }
            other => r.failure(0, end, other, format!("{other} {}", lat % 3).into()),
        }
    }
    let facts = RunFacts {
        // the last outcome: a load due near 3 s that took up to 5 s
        elapsed: Duration::from_secs(8),
        window: Duration::from_secs(3),
        interrupted: false,
        generator: GeneratorFacts {
            threads: 1,
            cpu: Duration::from_millis(10),
            max_busy: 0.1,
            wake_late_p99: Duration::ZERO,
            precise_timer: true,
            quantum: Duration::ZERO,
            quantum_auto: false,
            stall_max: Duration::ZERO,
        },
        load: LoadFacts::default(),
    };
    Summary {
        run: plan.run_info(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        facts,
        agg: r.finish(),
        thresholds: Vec::new(),
        warnings: Vec::new(),
    }
}

fn named(v: &[&Summary]) -> Vec<(String, Summary)> {
    v.iter()
        .enumerate()
        .map(|(i, s)| (format!("s{i}.json"), (*s).clone()))
        .collect()
}

fn loads() -> impl Strategy<Value = Vec<(u64, u8)>> {
    proptest::collection::vec((1u64..5_000_000, 0u8..12), 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn merge_is_exact_commutative_and_associative(a in loads(), b in loads(), c in loads()) {
        let (sa, sb, sc) = (shard_summary(0, 3, &a), shard_summary(1, 3, &b), shard_summary(2, 3, &c));
        let ab = merge(&named(&[&sa, &sb])).unwrap();
        let ba = merge(&named(&[&sb, &sa])).unwrap();
        prop_assert_eq!(&ab.agg.counts, &ba.agg.counts);
        prop_assert_eq!(&ab.agg.latency, &ba.agg.latency);
        prop_assert_eq!(&ab.agg.timeline, &ba.agg.timeline);
        let left = merge(&named(&[&ab, &sc])).unwrap();
        let bc = merge(&named(&[&sb, &sc])).unwrap();
        let right = merge(&named(&[&sa, &bc])).unwrap();
        prop_assert_eq!(&left.agg.counts, &right.agg.counts);
        prop_assert_eq!(&left.agg.timeline, &right.agg.timeline);
        prop_assert_eq!(left.latency(), right.latency());
        prop_assert_eq!(&left.run.shards, &vec![0, 1, 2]);
        // exact: the merged histogram is the sum of the parts, counts add up
        let mut sum: Hist = hist::new_hist();
        for s in [&sa, &sb, &sc] {
            sum.add(&s.agg.latency).unwrap();
        }
        prop_assert_eq!(&left.agg.latency, &sum);
        prop_assert_eq!(left.agg.counts.scheduled, (a.len() + b.len() + c.len()) as u64);
        prop_assert!(left.agg.counts.invariant_holds());
        // and it survives its JSON form
        let back = Summary::from_json(&left.to_json()).unwrap();
        prop_assert_eq!(&back.agg, &left.agg);
    }
}

#[test]
fn mismatched_files_are_refused_by_name() {
    let a = shard_summary(0, 2, &[(100, 0)]);
    let b = shard_summary(1, 2, &[(200, 0)]);
    assert!(merge(&named(&[&a, &b])).is_ok());
    let check = |other: Summary, what: &str| {
        let inputs = vec![
            ("a.json".to_string(), a.clone()),
            ("other.json".to_string(), other),
        ];
        let e = merge(&inputs).unwrap_err().to_string();
        assert!(e.starts_with("other.json: ") && e.contains(what), "{e}");
    };
    let mut x = b.clone();
    x.run.protocol = "http".into();
    check(x, "protocol");
    let mut x = b.clone();
    x.run.timeout = Duration::from_millis(51);
    check(x, "timeout");
    let mut x = b.clone();
    x.run.bucket = Duration::from_secs(1);
    check(x, "timeline bucket");
    let mut x = b.clone();
    x.run.started_at += Duration::from_secs(365 * 86_400);
    check(x, "not shards of one run");
    check(shard_summary(0, 2, &[(1, 0)]), "shard 0 of 2 is already");
    check(shard_summary(1, 3, &[(1, 0)]), "shard count");
    assert_eq!(merge(&[]).unwrap_err(), MergeError::Empty);
}

#[test]
fn a_merge_missing_a_shard_says_so() {
    let a = shard_summary(0, 2, &[(100, 0)]);
    let m = merge(&named(&[&a])).unwrap();
    assert_eq!(m.missing_shards(), vec![1]);
    let doc = loadgen::summary::codec::to_document(&m);
    assert_eq!(doc.missing_shards, vec![1]);
    let mut text = Vec::new();
    loadgen::report::text::write(&m, &mut text).unwrap();
    assert!(String::from_utf8(text).unwrap().contains("shards missing"));
}
