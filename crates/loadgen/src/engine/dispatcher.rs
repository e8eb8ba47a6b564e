//! The dispatcher: which loads are due, which wait for a slot, which expire — as counts.
//!
//! Pure: it reads no clock (every method takes `now`, in ns since t0), so its tests are
//! tables. Waiting loads are not objects: they are the loads between two cursors of the
//! schedule (`head`, the oldest waiting, and `next`, the first not yet due), so a backlog
//! of any depth costs no memory, and releasing or expiring a million loads at once costs
//! about what one costs (constant rates and ramps skip in bulk; see
//! [`Cursor::skip_before`]). Workers [`take`](Dispatcher::take) the oldest waiting load;
//! its latency still counts from its intended time.

use crate::schedule::{Cursor, Schedule, Stride};

/// `count` loads of one stride that share a fate, from global index `first` on
/// (`first`, `first + step`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Global index of the first load.
    pub first: u64,
    /// How many loads.
    pub count: u64,
}

/// Loads that expired (or were drained) together: a span of the stride, or — with lanes —
/// `span.count` loads of one target from `span.first` on (the target's loads only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone {
    /// The target, with lanes; `None`: a span of every target.
    pub target: Option<usize>,
    /// Where they start, and how many.
    pub span: Span,
}

/// One target's backlog: its oldest load not taken or expired, and how many of its loads
/// wait.
#[derive(Debug, Clone)]
struct Lane {
    head: Cursor,
    waiting: u64,
}

/// The longest target pattern lanes follow (a next load of a target is found within it).
const MAX_LANE_PATTERN: usize = 1024;

/// One runner's view of the schedule: released, waiting, taken, expired.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    schedule: Schedule,
    step: u64,
    timeout_ns: u64,
    /// Width of a timeline bucket: released loads are reported per bucket.
    bucket_ns: u64,
    /// First load not yet due (open model).
    next: Cursor,
    /// Oldest waiting load (open model).
    head: Cursor,
    waiting: u64,
    /// Closed loop: the next index to hand out.
    closed_next: u64,
    /// False once a stop or the end of the schedule closed it.
    open: bool,
    /// Per-target backlogs, and the picker that says whose a load is.
    lanes: Option<(Vec<Lane>, Picker)>,
}

impl Dispatcher {
    /// A dispatcher over the loads of `stride`; a waiting load expires `timeout_ns` after
    /// its intended start; releases are reported per timeline bucket of `bucket_ns`.
    pub fn new(schedule: &Schedule, stride: Stride, timeout_ns: u64, bucket_ns: u64) -> Dispatcher {
        let cursor = schedule.cursor(stride);
        Dispatcher {
            schedule: schedule.clone(),
            step: stride.step,
            timeout_ns,
            bucket_ns: bucket_ns.max(1),
            next: cursor,
            head: cursor,
            waiting: 0,
            closed_next: stride.first,
            open: true,
            lanes: None,
        }
    }

    /// Keeps the backlog per target of `picker` (open model only, and only for a short
    /// target pattern; otherwise it stays as one). [`Dispatcher::take`] then takes the
    /// oldest load of a target its `room` allows.
    pub fn with_lanes(mut self, picker: &Picker) -> Dispatcher {
        let targets = picker.targets();
        if self.schedule.is_closed() || targets < 2 || picker.pattern.len() > MAX_LANE_PATTERN {
            return self;
        }
        let lanes = (0..targets)
            .map(|t| {
                let mut head = self.head;
                seek(&mut head, &self.schedule, picker, t);
                Lane { head, waiting: 0 }
            })
            .collect();
        self.lanes = Some((lanes, picker.clone()));
        self
    }

    /// True when the backlog is kept per target.
    pub fn has_lanes(&self) -> bool {
        self.lanes.is_some()
    }

    /// Waiting loads that a worker could take now: of targets `room` allows.
    pub fn takeable(&self, room: impl Fn(usize) -> bool) -> u64 {
        match &self.lanes {
            None => self.waiting,
            Some((lanes, _)) => lanes
                .iter()
                .enumerate()
                .filter(|(t, l)| l.waiting > 0 && room(*t))
                .map(|(_, l)| l.waiting)
                .sum(),
        }
    }

    /// The distance between two loads of this runner.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// True for a closed-loop schedule (loads start when slots free, not at set times).
    pub fn is_closed_loop(&self) -> bool {
        self.schedule.is_closed()
    }

    /// Due time of the next load not yet released; `None` once the schedule has no more.
    pub fn next_due(&self) -> Option<u64> {
        if !self.open {
            return None;
        }
        self.next.peek().map(|(_, d)| d)
    }

    /// Intended time of the schedule's last load, once it is released: when the schedule
    /// ended (a dispatcher that woke late still ends it there).
    pub fn last_due(&self) -> Option<u64> {
        self.next
            .peek()
            .is_none()
            .then(|| self.next.prev_due(&self.schedule))
            .flatten()
    }

    /// Loads due and not yet taken.
    pub fn waiting(&self) -> u64 {
        self.waiting
    }

    /// When the oldest waiting load expires (its intended time + the timeout).
    pub fn next_expiry(&self) -> Option<u64> {
        if let Some((lanes, _)) = &self.lanes {
            return lanes
                .iter()
                .filter(|l| l.waiting > 0)
                .filter_map(|l| l.head.peek())
                .map(|(_, due)| due.saturating_add(self.timeout_ns))
                .min();
        }
        self.front()
            .map(|(_, due)| due.saturating_add(self.timeout_ns))
    }

    fn front(&self) -> Option<(u64, u64)> {
        if self.waiting == 0 {
            None
        } else {
            self.head.peek()
        }
    }

    /// Releases every load due at or before `now`: `f(span, bucket)` for each run of
    /// loads whose intended start falls in one timeline bucket.
    pub fn release(&mut self, now: u64, mut f: impl FnMut(Span, u64)) {
        if !self.open {
            return;
        }
        while let Some((first, due)) = self.next.peek() {
            if due > now {
                break;
            }
            let b = due / self.bucket_ns;
            let limit = now
                .saturating_add(1)
                .min((b + 1).saturating_mul(self.bucket_ns));
            let count = self.next.skip_before(&self.schedule, limit, u64::MAX);
            self.waiting += count;
            if let Some((lanes, picker)) = &mut self.lanes {
                picker.split(Span { first, count }, self.step, |t, n| {
                    lanes[t].waiting += n
                });
            }
            f(Span { first, count }, b);
        }
    }

    /// Drops the waiting loads whose deadline (intended start + timeout) is before `now`:
    /// `f` once with all of them (with lanes, once per target that has some).
    pub fn expire(&mut self, now: u64, mut f: impl FnMut(Gone)) {
        // a load expires when due + timeout < now, i.e. due < now − timeout
        let Some(cutoff) = now.checked_sub(self.timeout_ns) else {
            return;
        };
        if let Some((lanes, picker)) = &mut self.lanes {
            for (t, lane) in lanes.iter_mut().enumerate() {
                if lane.waiting == 0 {
                    continue;
                }
                let first = lane.head.index();
                let mut c = lane.head;
                c.skip_before(&self.schedule, cutoff, u64::MAX);
                let mut count = 0;
                picker.split(
                    Span {
                        first,
                        count: (c.index() - first) / self.step,
                    },
                    self.step,
                    |x, n| {
                        if x == t {
                            count = n;
                        }
                    },
                );
                let count = count.min(lane.waiting);
                if count > 0 {
                    seek(&mut c, &self.schedule, picker, t);
                    lane.head = c;
                    lane.waiting -= count;
                    self.waiting -= count;
                    f(Gone {
                        target: Some(t),
                        span: Span { first, count },
                    });
                }
            }
            return;
        }
        let Some((first, _)) = self.front() else {
            return;
        };
        let count = self.head.skip_before(&self.schedule, cutoff, self.waiting);
        if count > 0 {
            self.waiting -= count;
            f(Gone {
                target: None,
                span: Span { first, count },
            });
        }
    }

    /// The oldest waiting load still within its deadline, as `(index, due)` — with lanes,
    /// the oldest of a target that `room` allows; expired loads go to `expired` first.
    pub fn take(
        &mut self,
        now: u64,
        room: impl Fn(usize) -> bool,
        expired: impl FnMut(Gone),
    ) -> Option<(u64, u64)> {
        if self.is_closed_loop() {
            return self.take_closed().map(|j| (j, now));
        }
        self.expire(now, expired);
        if let Some((lanes, picker)) = &mut self.lanes {
            let (t, _) = lanes
                .iter()
                .enumerate()
                .filter(|(t, l)| l.waiting > 0 && room(*t))
                .filter_map(|(t, l)| l.head.peek().map(|(j, _)| (t, j)))
                .min_by_key(|&(_, j)| j)?;
            let lane = &mut lanes[t];
            let front = lane.head.peek()?;
            lane.head.advance(&self.schedule);
            seek(&mut lane.head, &self.schedule, picker, t);
            lane.waiting -= 1;
            self.waiting -= 1;
            return Some(front);
        }
        let front = self.front()?;
        self.head.advance(&self.schedule);
        self.waiting -= 1;
        Some(front)
    }

    fn take_closed(&mut self) -> Option<u64> {
        if !self.open {
            return None;
        }
        let j = self.closed_next;
        if self.schedule.max_loads().is_some_and(|n| j >= n) {
            return None;
        }
        self.closed_next += self.step;
        Some(j)
    }

    /// Stops releasing loads (a stop, or the end of the schedule); loads already waiting
    /// may still be taken until they expire.
    pub fn close(&mut self) {
        self.open = false;
    }

    /// Takes every waiting load out (to be counted as dropped): `f` once with all of them
    /// (with lanes, once per target that has some).
    pub fn drain(&mut self, mut f: impl FnMut(Gone)) {
        if let Some((lanes, picker)) = &mut self.lanes {
            for (t, lane) in lanes.iter_mut().enumerate() {
                if lane.waiting > 0 {
                    f(Gone {
                        target: Some(t),
                        span: Span {
                            first: lane.head.index(),
                            count: lane.waiting,
                        },
                    });
                }
                lane.head = self.next;
                seek(&mut lane.head, &self.schedule, picker, t);
                lane.waiting = 0;
            }
            self.waiting = 0;
            return;
        }
        let Some((first, _)) = self.front() else {
            return;
        };
        let count = self.waiting;
        self.head = self.next;
        self.waiting = 0;
        f(Gone {
            target: None,
            span: Span { first, count },
        });
    }
}

/// Moves `c` to the first load of target `t` at or after it (within one pattern cycle; the
/// end of the schedule stops it).
fn seek(c: &mut Cursor, schedule: &Schedule, picker: &Picker, t: usize) {
    for _ in 0..picker.pattern.len() {
        match c.peek() {
            Some((j, _)) if picker.pick(j) != t => c.advance(schedule),
            _ => return,
        }
    }
}

/// Spreads loads over targets by weight: the target of load `j` is `pattern[j % len]`
/// (smooth weighted round robin, as nginx: targets interleave evenly).
#[derive(Debug, Clone)]
pub struct Picker {
    pattern: Vec<u16>,
}

/// The longest pattern kept; weights with a longer cycle are approximated.
const MAX_PATTERN: i64 = 100_000;

impl Picker {
    /// A picker for targets with these weights (each ≥ 1).
    pub fn new(weights: &[u32]) -> Picker {
        if weights.len() <= 1 {
            return Picker { pattern: vec![0] };
        }
        let g = weights.iter().fold(0u32, |a, &b| gcd(a, b)).max(1);
        let w: Vec<i64> = weights.iter().map(|&x| i64::from(x / g)).collect();
        let total: i64 = w.iter().sum();
        let len = total.min(MAX_PATTERN) as usize;
        let mut current = vec![0i64; w.len()];
        let mut pattern = Vec::with_capacity(len);
        for _ in 0..len {
            for (c, wi) in current.iter_mut().zip(&w) {
                *c += wi;
            }
            let best = (0..w.len())
                .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
                .unwrap_or(0);
            current[best] -= total;
            pattern.push(best as u16);
        }
        Picker { pattern }
    }

    /// How many targets it spreads over.
    pub fn targets(&self) -> usize {
        self.pattern
            .iter()
            .map(|&t| t as usize + 1)
            .max()
            .unwrap_or(1)
    }

    /// The target of load `j`.
    pub fn pick(&self, j: u64) -> usize {
        self.pattern[(j % self.pattern.len() as u64) as usize] as usize
    }

    /// Splits `span` (loads `first + i·step`) by target: `f(target, count)` for each
    /// target that gets any. O(1) for one target; at most one cycle of the pattern else.
    pub fn split(&self, span: Span, step: u64, mut f: impl FnMut(usize, u64)) {
        if span.count == 0 {
            return;
        }
        let len = self.pattern.len() as u64;
        if len == 1 {
            return f(self.pattern[0] as usize, span.count);
        }
        // j mod len repeats with period len / gcd(step mod len, len)
        let period = len / gcd64(step % len, len);
        let (cycles, rest) = (span.count / period, span.count % period);
        let mut counts =
            vec![0u64; self.pattern.iter().map(|&t| t as usize).max().unwrap_or(0) + 1];
        for i in 0..period.min(span.count) {
            let t = self.pick(span.first.wrapping_add(i.wrapping_mul(step)));
            counts[t] += cycles + u64::from(i < rest);
        }
        for (t, &n) in counts.iter().enumerate() {
            if n > 0 {
                f(t, n);
            }
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn gcd64(a: u64, b: u64) -> u64 {
    if b == 0 { a.max(1) } else { gcd64(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    fn constant(rate: f64, secs: u64) -> Schedule {
        Schedule::constant(rate, Duration::from_secs(secs)).unwrap()
    }

    fn released(d: &mut Dispatcher, now: u64) -> Vec<(Span, u64)> {
        let mut v = Vec::new();
        d.release(now, |s, sec| v.push((s, sec)));
        v
    }

    #[test]
    fn release_take_expire_table() {
        // 1000 LPS, timeout 50 ms: load j is due at j ms
        let mut d = Dispatcher::new(&constant(1000.0, 10), Stride::ALL, 50 * MS, SEC);
        assert_eq!(d.next_due(), Some(0));
        // (now ms, released, waiting after, taken)
        assert_eq!(released(&mut d, 0), [(Span { first: 0, count: 1 }, 0)]);
        assert_eq!(
            d.take(0, |_| true, |_| panic!("nothing expires")),
            Some((0, 0))
        );
        assert_eq!(d.take(0, |_| true, |_| panic!()), None);
        assert_eq!(
            released(&mut d, 10 * MS),
            [(
                Span {
                    first: 1,
                    count: 10
                },
                0
            )]
        );
        assert_eq!(d.waiting(), 10);
        assert_eq!(d.next_expiry(), Some(51 * MS));
        assert_eq!(d.take(10 * MS, |_| true, |_| panic!()), Some((1, MS)));
        // at 60 ms loads 2..=9 (due 2..9 ms) are past due + 50 ms; load 10 is not (60 = 60)
        let mut dropped = None;
        assert_eq!(
            d.take(60 * MS, |_| true, |g| dropped = Some(g.span)),
            Some((10, 10 * MS))
        );
        assert_eq!(dropped, Some(Span { first: 2, count: 8 }));
        assert_eq!(d.waiting(), 0);
    }

    #[test]
    fn release_splits_at_second_boundaries() {
        let mut d = Dispatcher::new(&constant(10.0, 10), Stride::ALL, 50 * MS, SEC);
        // loads every 100 ms: 0..=9 in second 0, 10..=24 up to 2.4 s
        assert_eq!(
            released(&mut d, 2400 * MS),
            [
                (
                    Span {
                        first: 0,
                        count: 10
                    },
                    0
                ),
                (
                    Span {
                        first: 10,
                        count: 10
                    },
                    1
                ),
                (
                    Span {
                        first: 20,
                        count: 5
                    },
                    2
                )
            ]
        );
        assert_eq!(d.next_due(), Some(2500 * MS));
    }

    #[test]
    fn a_deep_backlog_is_two_cursors_and_expires_in_bulk() {
        // 1e9 LPS for 1 s on runner 1 of 4: 250,000,000 loads, released and expired in O(1)
        let s = constant(1e9, 1);
        let mut d = Dispatcher::new(&s, Stride::ALL.split(1, 4), 100 * MS, SEC);
        let r = released(&mut d, 999_999_999);
        assert_eq!(
            r,
            [(
                Span {
                    first: 1,
                    count: 250_000_000
                },
                0
            )]
        );
        assert_eq!(d.next_due(), None);
        let mut dropped = 0;
        assert_eq!(d.take(2 * SEC, |_| true, |g| dropped = g.span.count), None);
        assert_eq!(dropped, 250_000_000);
        // partly expired: due < now − timeout
        let mut d = Dispatcher::new(&s, Stride::ALL, 100 * MS, SEC);
        released(&mut d, 999_999_999);
        let mut span = None;
        d.expire(600 * MS, |g| span = Some(g.span));
        assert_eq!(
            span,
            Some(Span {
                first: 0,
                count: 500_000_000
            })
        );
        assert_eq!(
            d.take(600 * MS, |_| true, |_| panic!()),
            Some((500_000_000, 500_000_000))
        );
    }

    #[test]
    fn close_and_drain() {
        let mut d = Dispatcher::new(&constant(1000.0, 10), Stride::ALL, 50 * MS, SEC);
        released(&mut d, 4 * MS);
        d.close();
        assert_eq!(d.next_due(), None);
        assert!(released(&mut d, 9 * MS).is_empty());
        assert_eq!(d.take(4 * MS, |_| true, |_| {}), Some((0, 0)));
        let drained = |d: &mut Dispatcher| {
            let mut v = Vec::new();
            d.drain(|g| v.push(g.span));
            v
        };
        assert_eq!(drained(&mut d), [Span { first: 1, count: 4 }]);
        assert!(drained(&mut d).is_empty());
    }

    #[test]
    fn closed_loop_hands_out_indexes_up_to_the_cap() {
        let s = Schedule::closed(Duration::from_secs(1))
            .unwrap()
            .with_max_loads(Some(5));
        let mut d = Dispatcher::new(&s, Stride::ALL.split(0, 2), 0, SEC);
        let got: Vec<_> = std::iter::from_fn(|| d.take(7, |_| true, |_| {})).collect();
        assert_eq!(got, [(0, 7), (2, 7), (4, 7)]);
        let mut d = Dispatcher::new(
            &Schedule::closed(Duration::from_secs(1)).unwrap(),
            Stride::ALL,
            0,
            SEC,
        );
        assert_eq!(d.take(0, |_| true, |_| {}), Some((0, 0)));
        d.close();
        assert_eq!(d.take(0, |_| true, |_| {}), None);
    }

    #[test]
    fn bulk_skips_agree_with_walking() {
        let st = crate::schedule::Stage::parse_list("700ms:5000,1s:100,300ms:20000").unwrap();
        for s in [
            constant(1234.5, 3),
            Schedule::stages(10.0, &st).unwrap(),
            Schedule::poisson(3000.0, 7, Duration::from_secs(2)).unwrap(),
        ] {
            for stride in [Stride::ALL, Stride::ALL.split(2, 3)] {
                for t in [
                    0,
                    1,
                    333 * MS,
                    700 * MS,
                    1_700_000_001,
                    2_999_999_999,
                    10 * SEC,
                ] {
                    let mut walk = s.cursor(stride);
                    let mut n = 0;
                    while walk.peek().is_some_and(|(_, d)| d < t) {
                        walk.advance(&s);
                        n += 1;
                    }
                    let mut jump = s.cursor(stride);
                    assert_eq!(jump.skip_before(&s, t, u64::MAX), n, "{s:?} {t}");
                    assert_eq!(jump.index(), walk.index());
                    let mut capped = s.cursor(stride);
                    assert_eq!(capped.skip_before(&s, t, n / 2), n / 2);
                }
            }
        }
    }

    #[test]
    fn lanes_take_the_oldest_load_of_a_target_with_room_and_expire_per_target() {
        // two targets by turns: A has the even loads, B the odd; 1000 LPS, timeout 50 ms
        let picker = Picker::new(&[1, 1]);
        let mut d =
            Dispatcher::new(&constant(1000.0, 10), Stride::ALL, 50 * MS, SEC).with_lanes(&picker);
        assert!(d.has_lanes());
        released(&mut d, 9 * MS);
        assert_eq!(d.waiting(), 10);
        let (a_full, none_full) = (|t: usize| t != 0, |_: usize| true);
        assert_eq!(d.takeable(a_full), 5);
        // A has no room: B's oldest goes, A's wait
        assert_eq!(d.take(9 * MS, a_full, |_| panic!()), Some((1, MS)));
        assert_eq!(d.take(9 * MS, a_full, |_| panic!()), Some((3, 3 * MS)));
        assert_eq!(d.take(9 * MS, none_full, |_| panic!()), Some((0, 0)));
        assert_eq!(d.waiting(), 7);
        assert_eq!(d.next_expiry(), Some(52 * MS));
        // at 56 ms: A's loads 2, 4 and B's 5 are past due + 50 ms, each counted by target
        let mut gone = Vec::new();
        assert_eq!(d.take(56 * MS, a_full, |g| gone.push(g)), Some((7, 7 * MS)));
        assert_eq!(
            gone,
            [
                Gone {
                    target: Some(0),
                    span: Span { first: 2, count: 2 }
                },
                Gone {
                    target: Some(1),
                    span: Span { first: 5, count: 1 }
                }
            ]
        );
        let mut rest = Vec::new();
        d.drain(|g| rest.push(g));
        assert_eq!(
            rest,
            [
                Gone {
                    target: Some(0),
                    span: Span { first: 6, count: 2 }
                },
                Gone {
                    target: Some(1),
                    span: Span { first: 9, count: 1 }
                }
            ]
        );
        assert_eq!(d.waiting(), 0);
        // a stride that holds only A's loads: B's lane stays empty
        let mut d = Dispatcher::new(&constant(1000.0, 10), Stride::ALL.split(0, 2), 50 * MS, SEC)
            .with_lanes(&picker);
        released(&mut d, 9 * MS);
        assert_eq!(d.takeable(|t| t == 1), 0);
        assert_eq!(d.take(9 * MS, none_full, |_| panic!()), Some((0, 0)));
        // one target, or a closed loop: no lanes
        assert!(
            !Dispatcher::new(&constant(1.0, 1), Stride::ALL, MS, SEC)
                .with_lanes(&Picker::new(&[1]))
                .has_lanes()
        );
    }

    #[test]
    fn picker_spreads_by_weight_and_splits_spans() {
        let p = Picker::new(&[1]);
        assert!((0..10).all(|j| p.pick(j) == 0));
        let p = Picker::new(&[1, 1, 1]);
        assert_eq!(
            (0..6).map(|j| p.pick(j)).collect::<Vec<_>>(),
            [0, 1, 2, 0, 1, 2]
        );
        let p = Picker::new(&[3, 1]);
        let v: Vec<_> = (0..8).map(|j| p.pick(j)).collect();
        assert_eq!(v.iter().filter(|&&t| t == 0).count(), 6);
        assert_eq!(v[..4], [0, 0, 1, 0]);
        assert_eq!(Picker::new(&[200, 100]).pattern.len(), 3);
        // split agrees with picking one by one
        let p = Picker::new(&[3, 1, 2]);
        for (first, step, count) in [(0, 1, 0), (5, 1, 17), (1, 4, 1000), (2, 6, 31), (3, 3, 7)] {
            let mut want = [0u64; 3];
            for i in 0..count {
                want[p.pick(first + i * step)] += 1;
            }
            let mut got = [0u64; 3];
            p.split(Span { first, count }, step, |t, n| got[t] += n);
            assert_eq!(got, want, "{first} {step} {count}");
        }
    }
}
