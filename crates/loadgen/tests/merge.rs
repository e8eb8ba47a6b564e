//! Merging shard summaries: exact, commutative, associative, and picky about what belongs
//! together.

use std::time::{Duration, Instant, SystemTime};

use loadgen::merge::merge;
use loadgen::record::Recorder;
use loadgen::record::hist::{self, Hist};
use loadgen::summary::RunFacts;
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
    let mut r = Recorder::new(t0, 1);
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
        t0_wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        elapsed: Duration::from_secs(3),
        window: Duration::from_secs(3),
        interrupted: false,
        slots: 51,
        shards: 1,
        cpu: Duration::from_millis(10),
        max_shard_busy: 0.1,
        wake_late: hist::new_hist(),
        precise_timer: true,
        max_workers: 51,
        peak_workers: 10,
        capacity_bound: false,
        saturated: Duration::ZERO,
    };
    Summary::build(&plan, &facts, &r.finish())
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
        prop_assert_eq!(ab.to_aggregate().unwrap(), ba.to_aggregate().unwrap());
        prop_assert_eq!(&ab.counts, &ba.counts);
        let left = merge(&named(&[&ab, &sc])).unwrap();
        let bc = merge(&named(&[&sb, &sc])).unwrap();
        let right = merge(&named(&[&sa, &bc])).unwrap();
        prop_assert_eq!(left.to_aggregate().unwrap(), right.to_aggregate().unwrap());
        prop_assert_eq!(&left.latency_ms, &right.latency_ms);
        prop_assert_eq!(&left.shards, &vec![0, 1, 2]);
        // exact: the merged histogram is the sum of the parts, counts add up
        let mut sum: Hist = hist::new_hist();
        for s in [&sa, &sb, &sc] {
            sum.add(hist::decode(&s.histograms.latency_us).unwrap()).unwrap();
        }
        prop_assert_eq!(hist::decode(&left.histograms.latency_us).unwrap(), sum);
        prop_assert_eq!(left.counts.scheduled, (a.len() + b.len() + c.len()) as u64);
        prop_assert!(left.counts.invariant_holds());
    }
}

#[test]
fn mismatched_files_are_refused_by_name() {
    let a = shard_summary(0, 2, &[(100, 0)]);
    let b = shard_summary(1, 2, &[(200, 0)]);
    assert!(merge(&named(&[&a, &b])).is_ok());
    let check = |mut other: Summary, what: &str| {
        let inputs = vec![
            ("a.json".to_string(), a.clone()),
            ("other.json".to_string(), {
                other.shards.clear();
                other
            }),
        ];
        let e = merge(&inputs).unwrap_err();
        assert!(e.starts_with("other.json: ") && e.contains(what), "{e}");
    };
    let mut x = b.clone();
    x.protocol = "http".into();
    check(x, "protocol");
    let mut x = b.clone();
    x.timeout_ms = 51.0;
    check(x, "timeout_ms");
    let mut x = b.clone();
    x.schema = "loadgen.summary/v0".into();
    check(x, "schema");
    check(shard_summary(0, 2, &[(1, 0)]), "shard 0 of 2 is already");
    check(shard_summary(1, 3, &[(1, 0)]), "shard count");
    assert!(merge(&[]).is_err());
}
