//! Reading an answer: the checks of a step and its captures. A check or capture that
//! cannot be evaluated fails loudly, naming itself: a JSONPath that matches nothing, or
//! several values where one was expected, a body that is not JSON or was cut at
//! `max_body`, a regex without a match. Nothing is ever captured as an empty string by
//! default, and no value is picked at random among several.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::Value;

use super::cookies::Jar;
use super::program::{Capture, Check, Request, Slot, Source, Want};
use crate::caller::template::Template;
use crate::outcome::Failure;

/// An answer as a step keeps it.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub status: u16,
    /// Headers (lowercase names), when asked for.
    pub headers: Vec<(String, Bytes)>,
    /// The body, when kept: at most the cap.
    pub body: Vec<u8>,
    /// The body went past the cap (what is kept is cut).
    pub over: bool,
    pub cap: usize,
    json: Option<Option<Value>>,
}

/// A value taken by a capture.
pub(crate) enum Taken {
    One(Bytes),
    List(Arc<[Bytes]>),
}

impl Answer {
    pub fn new(cap: usize) -> Answer {
        Answer {
            cap,
            ..Answer::default()
        }
    }

    fn whole_body(&self) -> Result<&[u8], String> {
        if self.over {
            return Err(format!(
                "the body is over max_body ({} bytes): raise defaults.max_body",
                self.cap
            ));
        }
        Ok(&self.body)
    }

    fn json(&mut self) -> Result<&Value, String> {
        self.whole_body()?;
        if self.json.is_none() {
            self.json = Some(serde_json::from_slice(&self.body).ok());
        }
        self.json
            .as_ref()
            .and_then(Option::as_ref)
            .ok_or_else(|| "the body is not JSON".to_string())
    }

    /// Values of header `name` (lowercase).
    pub fn header(&self, name: &str) -> impl Iterator<Item = &Bytes> {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// A JSON value as text: a string as it is, anything else as JSON.
fn text(v: &Value) -> Bytes {
    match v {
        Value::String(s) => Bytes::from(s.clone()),
        other => Bytes::from(other.to_string()),
    }
}

/// The most items of a list capture (`all: true`).
pub const MAX_LIST: usize = 10_000;

/// One value, or a list with `all`; `n` values were found. A list holds at most
/// [`MAX_LIST`] items and `cap` bytes (the body's cap): more is a failure, never a
/// silent cut.
fn one_or_all(mut found: Vec<Bytes>, all: bool, what: &str, cap: usize) -> Result<Taken, String> {
    if all {
        let bytes: usize = found.iter().map(Bytes::len).sum();
        if found.len() > MAX_LIST || bytes > cap {
            return Err(format!(
                "{what} matched more than a list holds ({MAX_LIST} values, {cap} bytes)"
            ));
        }
        return Ok(Taken::List(found.into()));
    }
    match found.len() {
        1 => Ok(Taken::One(found.pop().expect("one"))),
        0 => Err(format!("{what} matched nothing")),
        n => Err(format!(
            "{what} matched {n} values where one was expected (all: true takes them as a list)"
        )),
    }
}

/// Evaluates the checks of `r` on `a` (`took`: from ready to the end; `render`: a template
/// with the journey's variables): the names of those that failed, each with its failure,
/// and how many were evaluated (the status first). Messages name the check and what was
/// expected, never the value received (they are grouped).
pub(crate) fn checks(
    r: &Request,
    a: &mut Answer,
    took: Duration,
    render: &dyn Fn(&Template) -> Bytes,
) -> (u64, Vec<(String, Failure)>) {
    let mut failed = Vec::new();
    if !r.status.contains(a.status) {
        failed.push((
            "check status".to_string(),
            crate::protocol::http::status_failure(a.status),
        ));
    }
    for c in &r.checks {
        if let Err(why) = one(c, a, took, render) {
            failed.push((
                format!("check {}", c.name()),
                Failure::response(format!("check {}: {why}", c.name())),
            ));
        }
    }
    (1 + r.checks.len() as u64, failed)
}

fn one(
    c: &Check,
    a: &mut Answer,
    took: Duration,
    render: &dyn Fn(&Template) -> Bytes,
) -> Result<(), String> {
    match c {
        Check::JsonEq { path, want, .. } => {
            let json = a.json()?;
            let nodes = path.query(json).all();
            match (nodes.as_slice(), want) {
                ([v], Want::Value(w)) if same(v, w) => Ok(()),
                ([v], Want::Text(t)) if text(v) == render(t) => Ok(()),
                ([_], Want::Value(w)) => Err(format!("not {}", short(&w.to_string()))),
                ([_], Want::Text(_)) => Err("not the expected value".into()),
                ([], _) => Err("matched nothing".into()),
                (many, _) => Err(format!(
                    "matched {} values where one was expected",
                    many.len()
                )),
            }
        }
        Check::Exists { path, .. } => {
            if path.query(a.json()?).all().is_empty() {
                Err("matched nothing".into())
            } else {
                Ok(())
            }
        }
        Check::Regex { re, .. } => {
            if re.is_match(a.whole_body()?) {
                Ok(())
            } else {
                Err("no match in the body".into())
            }
        }
        Check::Contains { text, .. } => {
            if crate::protocol::http::contains(a.whole_body()?, &render(text)) {
                Ok(())
            } else {
                Err("the text is not in the body".into())
            }
        }
        Check::Header { header, want, .. } => {
            let want = render(want);
            let mut values = a.header(header);
            match values.next() {
                Some(v) if *v == want => Ok(()),
                Some(_) => Err(format!("not '{}'", short(&String::from_utf8_lossy(&want)))),
                None => Err("no such header".into()),
            }
        }
        Check::Latency { max, .. } => {
            if took <= *max {
                Ok(())
            } else {
                Err(format!(
                    "took more than {}",
                    crate::report::fmt_ms(max.as_secs_f64() * 1000.0)
                ))
            }
        }
    }
}

/// JSON equality, where a number and its text are the same value (`3` and `"3"`), and
/// `1` and `1.0` too.
fn same(got: &Value, want: &Value) -> bool {
    got == want
        || match (got, want) {
            (Value::String(g), w) if !w.is_string() => g.as_str() == w.to_string().as_str(),
            (g, Value::String(w)) if !g.is_string() => g.to_string().as_str() == w.as_str(),
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            _ => false,
        }
}

/// At most 60 characters of a value, for a message.
fn short(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(60).collect::<String>())
    }
}

/// Takes the value of capture `c` from `a` (and the jar).
pub(crate) fn capture(c: &Capture, a: &mut Answer, jar: Option<&Jar>) -> Result<Taken, String> {
    let all = matches!(c.into, Slot::List(_));
    let what = &c.what;
    match &c.source {
        Source::JsonPath(path) => {
            let cap = a.cap;
            let nodes = path.query(a.json()?).all();
            if !all && nodes.len() == 1 && nodes[0].is_null() {
                return Err(format!("{what} matched null"));
            }
            if nodes.len() > MAX_LIST {
                return Err(format!("{what} matched more than {MAX_LIST} values"));
            }
            // serialized one by one within the cap: nested matches ($..*) repeat their
            // children, and must not cost more than the body may
            let mut found = Vec::with_capacity(nodes.len());
            let mut bytes = 0usize;
            for n in nodes {
                let t = text(n);
                bytes += t.len();
                if bytes > cap {
                    return Err(format!(
                        "{what} matched more than a list holds ({cap} bytes)"
                    ));
                }
                found.push(t);
            }
            one_or_all(found, all, what, cap)
        }
        Source::Regex(re, group) => {
            let cap = a.cap;
            let body = a.whole_body()?;
            let found = re
                .captures_iter(body)
                .filter_map(|m| m.get(*group))
                .map(|m| Bytes::copy_from_slice(m.as_bytes()))
                .take(if all { MAX_LIST + 1 } else { 2 })
                .collect();
            one_or_all(found, all, &format!("regex '{what}'"), cap)
        }
        Source::Header(name) => {
            let found = a.header(name).cloned().collect();
            one_or_all(found, all, what, a.cap)
        }
        Source::Cookie(name) => {
            let v = jar
                .and_then(|j| j.get(name, SystemTime::now()))
                .ok_or_else(|| format!("no cookie '{name}' in the jar"))?;
            let v = Bytes::from(v.to_string());
            Ok(if all {
                Taken::List(vec![v].into())
            } else {
                Taken::One(v)
            })
        }
    }
}
