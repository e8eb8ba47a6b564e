//! Rate search: the highest constant rate that meets an SLO, by stepped runs — double the
//! rate from the minimum until a step fails (bracket), then bisect between the last rate
//! that passed and the first that failed.
//!
//! The search is a pure function of a `probe` (one run at one rate), so its logic is tested
//! with a synthetic target and no network.

use serde::{Deserialize, Serialize};

use crate::summary::codec::VerdictJson;

/// One stepped run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Offered rate, LPS.
    pub rate: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// p99 latency, ms.
    pub p99_ms: f64,
    /// Successes / scheduled, %.
    pub success_pct: f64,
    /// Whether every SLO held.
    pub ok: bool,
    /// The SLO verdicts.
    pub verdicts: Vec<VerdictJson>,
    /// True when loadgen itself, not the target, limited the step.
    #[serde(default)]
    pub generator_bound: bool,
}

/// The schema name written in a search's JSON.
pub const SCHEMA: &str = "loadgen.search/v1";

/// The curve and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// [`SCHEMA`].
    pub schema: String,
    /// The SLO expressions.
    pub slo: Vec<String>,
    /// Steps in the order they ran.
    pub steps: Vec<Step>,
    /// The highest rate that met the SLO (`None`: not even the minimum did).
    pub answer: Option<f64>,
    /// The lowest rate that failed, if one did.
    pub first_failure: Option<f64>,
    /// True when a stop ended the search before it converged.
    #[serde(default)]
    pub interrupted: bool,
    /// The rate of a step that missed the SLO while loadgen itself was the limit: the
    /// search ends there, since what fails is the generator, not the target (the target's
    /// limit is above `answer`, unknown).
    #[serde(default)]
    pub generator_limit: Option<f64>,
}

/// Bounds of a search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// First rate tried.
    pub min: f64,
    /// Never above this.
    pub max: f64,
    /// Stop bisecting when (fail − pass) ≤ precision × pass.
    pub precision: f64,
    /// At most this many steps.
    pub max_steps: usize,
}

/// Runs the search; `probe(rate)` performs one step, or returns `None` to end the
/// search where it is (a stop): the result then holds the steps so far.
pub fn search<E>(
    slo: Vec<String>,
    b: Bounds,
    mut probe: impl FnMut(f64) -> Result<Option<Step>, E>,
) -> Result<SearchResult, E> {
    let mut steps = Vec::new();
    let mut interrupted = false;
    let mut generator_limit = None;
    let mut run = |rate: f64, steps: &mut Vec<Step>| -> Result<Option<bool>, E> {
        let Some(s) = probe(rate)? else {
            interrupted = true;
            return Ok(None);
        };
        let (ok, bound) = (s.ok, s.generator_bound);
        steps.push(s);
        if !ok && bound {
            // the generator missed, not the target: no bracket to bisect
            generator_limit = Some(rate);
            return Ok(None);
        }
        Ok(Some(ok))
    };
    let (mut lo, mut hi) = (None, None);
    let mut rate = b.min;
    // bracket
    loop {
        if steps.len() >= b.max_steps {
            break;
        }
        match run(rate, &mut steps)? {
            None => break,
            Some(true) => {
                lo = Some(rate);
                if rate >= b.max {
                    break;
                }
                rate = (rate * 2.0).min(b.max);
            }
            Some(false) => {
                hi = Some(rate);
                break;
            }
        }
    }
    // bisect
    while let (Some(l), Some(h)) = (lo, hi) {
        if steps.len() >= b.max_steps || h - l <= b.precision * l {
            break;
        }
        let mid = ((l + h) / 2.0).round();
        if mid <= l || mid >= h {
            break;
        }
        match run(mid, &mut steps)? {
            None => break,
            Some(true) => lo = Some(mid),
            Some(false) => hi = Some(mid),
        }
    }
    Ok(SearchResult {
        schema: SCHEMA.into(),
        slo,
        steps,
        answer: lo,
        first_failure: hi,
        interrupted,
        generator_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic target: p99 grows slowly, then explodes past its capacity.
    fn probe(capacity: f64) -> impl FnMut(f64) -> Result<Option<Step>, ()> {
        move |rate| {
            let p99 = if rate < capacity {
                5.0 + rate / capacity
            } else {
                500.0
            };
            Ok(Some(Step {
                rate,
                p50_ms: 1.0,
                p99_ms: p99,
                success_pct: 100.0,
                ok: p99 < 10.0,
                verdicts: Vec::new(),
                generator_bound: false,
            }))
        }
    }

    fn bounds(min: f64, max: f64) -> Bounds {
        Bounds {
            min,
            max,
            precision: 0.02,
            max_steps: 30,
        }
    }

    #[test]
    fn brackets_then_bisects_to_the_capacity() {
        let r = search(
            vec!["p99<10ms".into()],
            bounds(100.0, 100_000.0),
            probe(3000.0),
        )
        .unwrap();
        let a = r.answer.unwrap();
        assert!((3000.0 * 0.97..3000.0).contains(&a), "{a}");
        assert!(r.first_failure.unwrap() >= 3000.0);
        let rates: Vec<f64> = r.steps.iter().map(|s| s.rate).collect();
        assert_eq!(rates[..6], [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0]);
        assert!(r.steps.len() < 15);
    }

    #[test]
    fn a_step_the_generator_limited_is_not_the_targets_limit() {
        // the target could take 3000/s, the generator gives out at 1600/s
        let mut target = probe(3000.0);
        let r = search(vec![], bounds(100.0, 100_000.0), |rate| {
            let mut s = target(rate)?.unwrap();
            if rate >= 1600.0 {
                (s.ok, s.generator_bound) = (false, true);
            }
            Ok::<_, ()>(Some(s))
        })
        .unwrap();
        assert_eq!(
            (r.answer, r.first_failure, r.generator_limit),
            (Some(800.0), None, Some(1600.0))
        );
        assert_eq!(
            r.steps.len(),
            5,
            "no bisection towards the generator's limit"
        );
    }

    #[test]
    fn edges() {
        let r = search(vec![], bounds(100.0, 1000.0), probe(1e9)).unwrap();
        assert_eq!((r.answer, r.first_failure), (Some(1000.0), None));
        let r = search(vec![], bounds(100.0, 1000.0), probe(10.0)).unwrap();
        assert_eq!(
            (r.answer, r.first_failure, r.steps.len()),
            (None, Some(100.0), 1)
        );
        let capped = Bounds {
            max_steps: 3,
            ..bounds(100.0, 1e6)
        };
        assert_eq!(search(vec![], capped, probe(1e9)).unwrap().steps.len(), 3);
    }

    #[test]
    fn a_stop_ends_the_search_with_the_steps_so_far() {
        let mut inner = probe(3000.0);
        let mut n = 0;
        let r = search(vec![], bounds(100.0, 100_000.0), |rate| {
            n += 1;
            if n == 4 { Ok(None) } else { inner(rate) }
        })
        .unwrap();
        assert!(r.interrupted);
        assert_eq!(r.steps.len(), 3);
        assert_eq!(r.answer, Some(400.0));
    }
}
