//! Tables of due times, totals and shard partitions, for every arrival process.
use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn dues(s: &Schedule, stride: Stride, n: usize) -> Vec<(u64, u64)> {
    let mut c = s.cursor(stride);
    let mut out = Vec::new();
    while let Some(x) = c.peek() {
        if out.len() == n {
            break;
        }
        out.push(x);
        c.advance(s);
    }
    out
}

#[test]
fn constant_rate_table() {
    // (rate, j, due ns)
    let table: &[(f64, u64, u64)] = &[
        (1000.0, 0, 0),
        (1000.0, 1, 1_000_000),
        (1000.0, 1999, 1_999_000_000),
        (3.0, 1, 333_333_333),
        (3.0, 2, 666_666_666),
        (3.0, 3, 1_000_000_000),
        (7.0, 1, 142_857_142),
        (100_000.0, 1, 10_000),
        (100_000.0, 99_999, 999_990_000),
        (0.5, 1, 2_000_000_000),
        (2.5, 3, 1_200_000_000),
        (1_000_000_000.0, 7, 7),
    ];
    for &(rate, j, want) in table {
        let s = Schedule::constant(rate, secs(3600)).unwrap();
        assert_eq!(s.due_ns(j), Some(want), "rate {rate} j {j}");
    }
}

#[test]
fn totals_table() {
    // (rate, duration ns, total loads)
    let table: &[(f64, u64, u64)] = &[
        (1000.0, 2_000_000_000, 2000),
        (1000.0, 2_000_000_001, 2001),
        (1000.0, 1_999_999_999, 2000),
        (3.0, 1_000_000_000, 3),
        (3.0, 1_000_000_001, 4),
        (20_000.0, 10_000_000_000, 200_000),
        (0.5, 10_000_000_000, 5),
    ];
    for &(rate, d, want) in table {
        let s = Schedule::constant(rate, Duration::from_nanos(d)).unwrap();
        assert_eq!(s.total(), Some(want), "rate {rate} d {d}");
        // the total agrees with due_ns: the last load is in, the next one is out
        assert!(s.due_ns(want - 1).is_some());
        assert_eq!(s.due_ns(want), None);
    }
}

#[test]
fn max_loads_caps_the_schedule() {
    let s = Schedule::constant(1000.0, secs(10))
        .unwrap()
        .with_max_loads(Some(5));
    assert_eq!(s.total(), Some(5));
    assert_eq!(s.due_ns(4), Some(4_000_000));
    assert_eq!(s.due_ns(5), None);
    let c = Schedule::closed(secs(1)).unwrap().with_max_loads(Some(9));
    assert_eq!(c.total(), Some(9));
    assert_eq!(Schedule::closed(secs(1)).unwrap().total(), None);
}

#[test]
fn strides_partition_the_schedule() {
    let s = Schedule::constant(1000.0, Duration::from_millis(10)).unwrap();
    let all: Vec<_> = dues(&s, Stride::ALL, 100);
    assert_eq!(all.len(), 10);
    let mut merged = Vec::new();
    for shard in 0..3 {
        let part = dues(&s, Stride::ALL.split(shard, 3), 100);
        assert_eq!(
            part.len() as u64,
            (0..10).filter(|j| j % 3 == shard).count() as u64
        );
        merged.extend(part);
    }
    merged.sort();
    assert_eq!(merged, all);
    // a machine shard split again over its threads
    let m = Stride::ALL.split(1, 2).split(1, 2);
    assert_eq!(m, Stride { first: 3, step: 4 });
    assert_eq!(dues(&s, m, 100), vec![(3, 3_000_000), (7, 7_000_000)]);
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn stages_table() {
    // 0 → 100 LPS over 1 s, hold 100 for 1 s, 100 → 0 over 1 s: 50 + 100 + 50 loads
    let st = Stage::parse_list("1s:100,1s:100,1s:0").unwrap();
    let s = Schedule::stages(0.0, &st).unwrap();
    assert_eq!(s.duration(), Duration::from_secs(3));
    assert_eq!(s.total(), Some(200));
    assert_eq!(s.rate(), 100.0);
    // ramp up: Λ(t) = 50 t², load j at sqrt(j/50) s
    let table: &[(u64, u64)] = &[
        (0, 0),
        (1, 141_421_356),
        (2, 200_000_000),
        (50, 1_000_000_000),
        (51, 1_010_000_000),
        (149, 1_990_000_000),
        (150, 2_000_000_000),
        (199, 2_858_578_643),
    ];
    for &(j, want) in table {
        let got = s.due_ns(j).unwrap();
        assert!(got.abs_diff(want) <= 2, "j {j}: {got} vs {want}");
    }
    assert_eq!(s.due_ns(200), None);
    // a constant "ramp" agrees with the constant schedule
    let flat = Schedule::stages(
        1000.0,
        &[Stage {
            duration: ms(2000),
            rate: 1000.0,
        }],
    )
    .unwrap();
    let c = Schedule::constant(1000.0, ms(2000)).unwrap();
    assert_eq!(flat.total(), c.total());
    for j in [0, 1, 7, 999, 1999] {
        assert!(
            flat.due_ns(j).unwrap().abs_diff(c.due_ns(j).unwrap()) <= 1,
            "{j}"
        );
    }
    assert!(Stage::parse_list("").is_err());
    assert!(Stage::parse_list("10s").is_err());
    assert!(Stage::parse_list("10s:-1").is_err());
    assert!(Stage::parse_list("soon:10").is_err());
}

#[test]
fn stages_are_monotone_and_strides_partition_them() {
    let st = Stage::parse_list("500ms:2000,1s:500,250ms:3000").unwrap();
    let s = Schedule::stages(100.0, &st).unwrap();
    let all = dues(&s, Stride::ALL, 1_000_000);
    assert_eq!(all.len() as u64, s.total().unwrap());
    assert!(all.windows(2).all(|w| w[0].1 <= w[1].1));
    let mut merged: Vec<_> = (0..3)
        .flat_map(|i| dues(&s, Stride::ALL.split(i, 3), 1_000_000))
        .collect();
    merged.sort();
    assert_eq!(merged, all);
}

#[test]
fn poisson_is_repeatable_with_the_right_mean() {
    let s = Schedule::poisson(1000.0, 42, Duration::from_secs(1000)).unwrap();
    let all = dues(&s, Stride::ALL, 100_000);
    assert_eq!(all.len(), 100_000);
    let mean_rate = 99_999.0 / (all[99_999].1 as f64 / 1e9);
    assert!((mean_rate - 1000.0).abs() < 10.0, "{mean_rate}");
    // pure function of (index, seed): the same again, and random access agrees
    assert_eq!(dues(&s, Stride::ALL, 100), all[..100]);
    assert_eq!(s.due_ns(50), Some(all[50].1));
    let other = Schedule::poisson(1000.0, 43, Duration::from_secs(1000)).unwrap();
    assert_ne!(dues(&other, Stride::ALL, 10), all[..10]);
    // shards take exactly the loads of the global schedule
    let mut merged: Vec<_> = (0..4)
        .flat_map(|i| dues(&s, Stride::ALL.split(i, 4), 2_500))
        .collect();
    merged.sort();
    assert_eq!(merged, all[..10_000]);
    // gaps look exponential: about 63.2 % are below the mean gap
    let below = all
        .windows(2)
        .filter(|w| w[1].1 - w[0].1 < 1_000_000)
        .count();
    assert!((below as f64 / 99_999.0 - 0.632).abs() < 0.01, "{below}");
    assert!(Schedule::poisson(0.0, 1, ms(10)).is_err());
}

#[test]
fn bad_rates_and_durations_are_refused() {
    assert!(Schedule::constant(-1.0, secs(1)).is_err());
    assert!(Schedule::constant(f64::NAN, secs(1)).is_err());
    assert!(Schedule::constant(1e10, secs(1)).is_err());
    assert!(Schedule::constant(0.0001, secs(1)).is_err());
    assert!(Schedule::constant(10.0, Duration::ZERO).is_err());
    assert!(Schedule::constant(0.0, secs(1)).unwrap().is_closed());
}

#[test]
fn a_cursor_at_the_end_knows_the_last_load() {
    // every arrival process, whole and as a stride: past the last load, prev_due is its due
    let schedules = [
        Schedule::constant(100.0, ms(500)).unwrap(),
        Schedule::poisson(200.0, 7, ms(500)).unwrap(),
        Schedule::stages(0.0, &Stage::parse_list("200ms:100,300ms:100").unwrap()).unwrap(),
        Schedule::constant(100.0, secs(10))
            .unwrap()
            .with_max_loads(Some(7)),
    ];
    for s in &schedules {
        for stride in [Stride::ALL, Stride::ALL.split(1, 3)] {
            let all = dues(s, stride, usize::MAX);
            let mut c = s.cursor(stride);
            assert_eq!(c.prev_due(s), None, "{s:?}");
            while c.peek().is_some() {
                c.advance(s);
            }
            assert_eq!(c.prev_due(s), all.last().map(|x| x.1), "{s:?} {stride:?}");
        }
    }
}
