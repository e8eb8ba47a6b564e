//! The load of a run — rate, stages, arrivals, duration, virtual users, concurrency, a cap
//! on loads — made into a [`Schedule`]. The command line's flags fill the same
//! [`LoadSpec`] (over a file's, key by key), so a flags-only run and a scenario file are
//! scheduled by this one function.

use std::time::Duration;

use super::{At, LoadSpec, Pos, SpecError, Text};
use crate::schedule::{Schedule, Stage};

/// The longest a run of a number of loads without a duration lasts: an hour.
pub const UNTIL_N: Duration = Duration::from_secs(3600);

/// A load made ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// When loads (journeys) start.
    pub schedule: Schedule,
    /// Loads in flight at most (virtual users in the closed model).
    pub concurrency: Option<u64>,
    /// The seed given, if any.
    pub seed: Option<u64>,
}

/// Parses a rate: loads per second (`1000`), or per a duration (`1000/s`, `60/1m`,
/// `5/100ms`, as vegeta writes it).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (n, per) = match s.split_once('/') {
        Some((n, per)) => {
            let per = per.trim();
            // "1000/s": one of the unit
            let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
                per.to_string()
            } else {
                format!("1{per}")
            };
            let d = humantime::parse_duration(&per)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("'{s}': expected N/s, N/1m or N/100ms"))?;
            (n.trim(), d.as_secs_f64())
        }
        None => (s, 1.0),
    };
    let v: f64 = n
        .parse::<f64>()
        .map_err(|_| "expected loads per second, e.g. 1000 or 1000/s".to_string())?
        / per;
    if !v.is_finite() || v < 0.0 {
        return Err("the rate must be a number ≥ 0".into());
    }
    if v > 1e9 {
        return Err("the rate must be at most 1e9".into());
    }
    Ok(v)
}

impl LoadSpec {
    /// Sets every key `over` gives (the flags), keeping this one's others (the file's).
    pub fn apply(&mut self, over: &LoadSpec) {
        let file_vus = self.vus.is_some();
        type Key<'a> = (&'a mut Option<At<Text>>, &'a Option<At<Text>>);
        let keys: [Key<'_>; 8] = [
            (&mut self.rate, &over.rate),
            (&mut self.duration, &over.duration),
            (&mut self.arrival, &over.arrival),
            (&mut self.stages, &over.stages),
            (&mut self.seed, &over.seed),
            (&mut self.vus, &over.vus),
            (&mut self.concurrency, &over.concurrency),
            (&mut self.journeys, &over.journeys),
        ];
        for (k, v) in keys {
            if v.is_some() {
                k.clone_from(v);
            }
        }
        // -c/--vus over a file's virtual users: how many of them
        if file_vus && over.vus.is_none() && over.concurrency.is_some() && over.rate.is_none() {
            self.vus = over.concurrency.clone();
        }
        // a rate (or stages) given over a file's virtual users is the open model, and
        // virtual users over a file's rate the closed one
        if over.rate.is_some() || over.stages.is_some() {
            if over.vus.is_none() {
                self.vus = None;
            }
        } else if over.vus.is_some() {
            self.rate = None;
            self.stages = None;
        }
        if over.stages.is_some() && over.duration.is_none() {
            self.duration = None;
        }
    }

    /// The schedule: `file` names the source in errors; `rate` and `duration` are the
    /// defaults of the command, taken where the spec sets none. A number of loads
    /// (`journeys`, `-n`) without a duration lasts as long as they take at the rate (in a
    /// closed loop, until they are done), at most [`UNTIL_N`].
    pub fn load(&self, file: &str, rate: f64, duration: Duration) -> Result<Load, SpecError> {
        let err = |pos: Pos, why: String| SpecError::at(file, pos, why);
        let num = |t: &Option<At<Text>>, what: &str| -> Result<Option<u64>, SpecError> {
            t.as_ref()
                .map(|t| {
                    t.as_str()
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| {
                            err(
                                t.pos,
                                format!("{what} must be a whole number ≥ 1, not '{t}'"),
                            )
                        })
                })
                .transpose()
        };
        let vus = num(&self.vus, "vus")?;
        let concurrency = num(&self.concurrency, "concurrency")?;
        let max = num(&self.journeys, "journeys")?;
        let seed = self
            .seed
            .as_ref()
            .map(|t| {
                t.as_str()
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| err(t.pos, format!("seed must be a whole number, not '{t}'")))
            })
            .transpose()?;
        if let (Some(v), Some(r)) = (&self.vus, self.rate.as_ref().or(self.stages.as_ref())) {
            let pos = if v.pos.known() { v.pos } else { r.pos };
            return Err(err(
                pos,
                "vus is the closed model (users loop journeys back to back), rate and stages the open one: give one of them".into(),
            ));
        }
        let rate = match &self.rate {
            Some(t) => {
                parse_rate(t.as_str()).map_err(|e| err(t.pos, format!("rate '{t}': {e}")))?
            }
            None if vus.is_some() => 0.0,
            None => rate,
        };
        let duration = match &self.duration {
            Some(t) => crate::schedule::parse_duration(t.as_str())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    err(
                        t.pos,
                        format!("duration '{t}': a duration above 0, like 30s or 2m"),
                    )
                })?,
            // a number of loads without a duration: as long as they take (hey, oha, k6's
            // iterations), up to a bound
            None if max.is_some() && self.stages.is_none() => match (max, rate) {
                (Some(n), r) if r > 0.0 => Duration::try_from_secs_f64((n as f64 + 0.5) / r)
                    .map_or(UNTIL_N, |d| d.min(UNTIL_N)),
                _ => UNTIL_N,
            },
            None => duration,
        };
        let poisson = match &self.arrival {
            None => false,
            Some(t) => match t.as_str() {
                "constant" => false,
                "poisson" => true,
                other => {
                    return Err(err(
                        t.pos,
                        format!("arrival '{other}': constant or poisson"),
                    ));
                }
            },
        };
        let schedule = match &self.stages {
            Some(st) => {
                if poisson {
                    return Err(err(
                        st.pos,
                        "stages ramp a constant rate: not with poisson arrivals".into(),
                    ));
                }
                let stages =
                    Stage::parse_list(st.as_str()).map_err(|e| err(st.pos, e.to_string()))?;
                let start = self.rate.as_ref().map_or(0.0, |_| rate);
                Schedule::stages(start, &stages).map_err(|e| err(st.pos, e.to_string()))?
            }
            None if poisson => {
                Schedule::poisson(rate, seed.unwrap_or(1), duration).map_err(|e| {
                    let pos = self.arrival.as_ref().map_or(Pos::default(), |a| a.pos);
                    err(pos, e.to_string())
                })?
            }
            None => Schedule::constant(rate, duration).map_err(|e| {
                let pos = self.rate.as_ref().map_or(Pos::default(), |a| a.pos);
                err(pos, e.to_string())
            })?,
        };
        Ok(Load {
            schedule: schedule.with_max_loads(max),
            concurrency: vus.or(concurrency),
            seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Option<At<Text>> {
        Some(At::new(Text::from(s)))
    }

    #[test]
    fn flags_over_a_file_and_the_models() {
        let file = LoadSpec {
            rate: text("200/s"),
            duration: text("1m"),
            ..LoadSpec::default()
        };
        let l = file.load("f", 0.0, Duration::from_secs(10)).unwrap();
        assert_eq!(l.schedule.rate(), 200.0);
        assert_eq!(l.schedule.duration(), Duration::from_secs(60));
        let mut merged = file.clone();
        merged.apply(&LoadSpec {
            vus: text("5"),
            ..LoadSpec::default()
        });
        let l = merged.load("f", 0.0, Duration::from_secs(10)).unwrap();
        assert!(l.schedule.is_closed());
        assert_eq!(l.concurrency, Some(5));
        let both = LoadSpec {
            vus: text("5"),
            rate: text("10"),
            ..LoadSpec::default()
        };
        assert!(
            both.load("f", 0.0, Duration::from_secs(1))
                .unwrap_err()
                .why
                .contains("closed model")
        );
        let mut ramp = file.clone();
        ramp.apply(&LoadSpec {
            stages: text("1s:10,1s:0"),
            ..LoadSpec::default()
        });
        assert_eq!(
            ramp.load("f", 0.0, Duration::from_secs(10))
                .unwrap()
                .schedule
                .duration(),
            Duration::from_secs(2)
        );
        for (bad, want) in [("rate", "rate 'x'"), ("duration", "duration '0s'")] {
            let l = LoadSpec {
                rate: if bad == "rate" { text("x") } else { None },
                duration: if bad == "duration" { text("0s") } else { None },
                ..LoadSpec::default()
            };
            assert!(
                l.load("f", 1.0, Duration::from_secs(1))
                    .unwrap_err()
                    .why
                    .starts_with(want)
            );
        }
        assert_eq!(parse_rate("60/1m"), Ok(1.0));
        assert!(parse_rate("5/parsec").is_err());
    }
}
