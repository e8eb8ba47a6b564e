//! From a [`RunSpec`] to the [`Journeys`] a run executes: defaults resolved, data feeds
//! read, every step checked and compiled, variables given slots in the order a journey
//! defines them. Any value that cannot be used is refused here, before the first load,
//! as `FILE:LINE:COL: what, and the hint`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::program::{CookieScope, Feed, Node, Pick, Scenario, Slot, Times, Via};
use super::request::{RequestSets, request};
use super::{Journeys, Options};
use crate::caller::data::{DataFeed, DataFormat};
use crate::caller::dist::Dist;
use crate::caller::template::Name;
use crate::engine::MAX_TIMEOUT;
use crate::protocol::http::StatusSet;
use crate::record::{StepInfo, StepKind};
use crate::spec::{At, Pos, RunSpec, SpecError, StepSpec, Text};

/// The longest request timeout by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes of a body kept for captures and checks, by default.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// The most bytes of a body a file may ask to keep.
pub const MAX_MAX_BODY: usize = 64 * 1024 * 1024;
/// Connections per host and generator thread, by default.
pub const DEFAULT_CONNECTIONS: u64 = 50;

/// What every request inherits.
pub(crate) struct Defaults {
    pub base: Option<At<String>>,
    pub headers: Vec<(At<String>, At<Text>)>,
    pub timeout: Duration,
    pub think: Option<Dist>,
    pub h2: bool,
    pub status: StatusSet,
    pub follow: u32,
    pub cookies: CookieScope,
}

/// The state of one compilation.
pub(crate) struct Compiler<'a> {
    pub file: &'a str,
    pub opts: &'a Options,
    pub defaults: Defaults,
    pub scenario: String,
    /// Names of the current scenario's rows, to refuse duplicates.
    pub names: HashMap<String, Pos>,
    pub rows: Vec<StepInfo>,
    pub slots: SlotTable,
    pub sets: RequestSets,
    pub feeds: Vec<(String, Feed)>,
    /// Feeds the current scenario's templates read.
    pub used_feeds: Vec<usize>,
    /// Item names of the loops being compiled, outermost first.
    pub loop_items: Vec<String>,
}

/// The variables of every scenario, and which names are defined at this point of one.
#[derive(Default)]
pub(crate) struct SlotTable {
    pub scalars: Vec<String>,
    pub lists: Vec<String>,
    by_name: HashMap<String, Slot>,
    /// Names a journey has defined so far (a scope stack while compiling a scenario).
    pub defined: Vec<String>,
}

impl SlotTable {
    /// The slot of `name` as `kind` (new or the one it had), or why not.
    pub fn define(&mut self, name: &str, list: bool) -> Result<Slot, String> {
        let want = |s: &Slot| matches!(s, Slot::List(_)) == list;
        let slot = match self.by_name.get(name) {
            Some(s) if want(s) => *s,
            Some(_) => {
                return Err(format!(
                    "'{name}' is captured both as one value and as a list (all: true); use two names"
                ));
            }
            None => {
                let s = if list {
                    self.lists.push(name.to_string());
                    Slot::List(self.lists.len() - 1)
                } else {
                    self.scalars.push(name.to_string());
                    Slot::Scalar(self.scalars.len() - 1)
                };
                self.by_name.insert(name.to_string(), s);
                s
            }
        };
        if !self.defined.iter().any(|d| d == name) {
            self.defined.push(name.to_string());
        }
        Ok(slot)
    }

    /// The slot of a name defined at this point.
    pub fn lookup(&self, name: &str) -> Option<Slot> {
        if self.defined.iter().any(|d| d == name) {
            self.by_name.get(name).copied()
        } else {
            None
        }
    }
}

impl Compiler<'_> {
    /// An error at `pos`.
    pub fn err(&self, pos: Pos, why: impl Into<String>) -> SpecError {
        SpecError::at(self.file, pos, why)
    }

    /// A duration of the file.
    pub fn duration(&self, t: &At<Text>) -> Result<Duration, SpecError> {
        crate::schedule::parse_duration(t.as_str()).map_err(|e| self.err(t.pos, e.to_string()))
    }

    /// A whole number of the file in `lo..=hi`.
    pub fn number(&self, t: &At<Text>, what: &str, lo: u64, hi: u64) -> Result<u64, SpecError> {
        match t.as_str().trim().parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(self.err(
                t.pos,
                format!("{what} must be a whole number in {lo}..={hi}, not '{t}'"),
            )),
        }
    }

    /// What a template name stands for here: a variable defined so far, or a data column
    /// `FEED.COLUMN` (given a slot the first time it is used).
    pub fn resolve(&mut self, name: &str) -> Option<Name> {
        if let Some(Slot::Scalar(i)) = self.slots.lookup(name) {
            return Some(Name::Slot(i));
        }
        let (feed, col) = name.split_once('.')?;
        let f = self.feeds.iter().position(|(n, _)| n == feed)?;
        let c = self.feeds[f]
            .1
            .data
            .columns()
            .iter()
            .position(|x| x == col)?;
        if !self.used_feeds.contains(&f) {
            self.used_feeds.push(f);
        }
        if let Some(&(_, slot)) = self.feeds[f].1.columns.iter().find(|(k, _)| *k == c) {
            return Some(Name::Slot(slot));
        }
        let Ok(Slot::Scalar(slot)) = self.slots.define(name, false) else {
            return None;
        };
        self.feeds[f].1.columns.push((c, slot));
        Some(Name::Slot(slot))
    }

    /// Why a template name is unknown, with the names that exist here.
    pub fn unknown(&self, text: &str) -> String {
        let mut names: Vec<String> = self
            .slots
            .defined
            .iter()
            .filter(|n| matches!(self.slots.lookup(n), Some(Slot::Scalar(_))))
            .cloned()
            .collect();
        for (f, feed) in &self.feeds {
            names.extend(feed.data.columns().iter().map(|c| format!("{f}.{c}")));
        }
        let lists: Vec<&String> = self
            .slots
            .defined
            .iter()
            .filter(|n| matches!(self.slots.lookup(n), Some(Slot::List(_))))
            .collect();
        let mut why = format!("{text}: variables defined here: ");
        if names.is_empty() {
            why.push_str("none");
        } else {
            why.push_str(&names.join(", "));
        }
        if !lists.is_empty() {
            why.push_str(&format!(
                " (lists, for loop over: {})",
                lists
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        why.push_str("; built-ins: index, uuid, randomInt A B, randomString N, timestamp");
        why
    }

    /// A request step's timeout: its own, else the default; above 0, at most a day.
    pub fn step_timeout(&self, s: &At<StepSpec>) -> Result<Duration, SpecError> {
        match &s.timeout {
            Some(t) => self
                .duration(t)
                .ok()
                .filter(|d| !d.is_zero() && *d <= MAX_TIMEOUT)
                .ok_or_else(|| {
                    self.err(
                        t.pos,
                        format!("timeout '{t}': a duration above 0, at most a day"),
                    )
                }),
            None => Ok(self.defaults.timeout),
        }
    }

    /// A request step's `on_fail`: true to abort the journey (the default).
    pub fn aborts(&self, s: &At<StepSpec>) -> Result<bool, SpecError> {
        match s.on_fail.as_ref().map(|o| (o.as_str(), o.pos)) {
            None | Some(("abort", _)) => Ok(true),
            Some(("continue", _)) => Ok(false),
            Some((other, pos)) => {
                Err(self.err(pos, format!("on_fail '{other}': abort or continue")))
            }
        }
    }

    /// A new report row.
    pub fn row(&mut self, name: &At<String>, kind: StepKind) -> Result<usize, SpecError> {
        if name.trim().is_empty() {
            return Err(self.err(name.pos, "a name must not be empty"));
        }
        if let Some(first) = self.names.get(&name.value) {
            return Err(self.err(
                name.pos,
                format!(
                    "the name '{}' is used twice in scenario '{}' (first at line {}): names label report rows",
                    name.value, self.scenario, first.line
                ),
            ));
        }
        self.names.insert(name.value.clone(), name.pos);
        self.rows.push(StepInfo {
            scenario: self.scenario.clone(),
            name: name.value.clone(),
            kind,
        });
        Ok(self.rows.len() - 1)
    }

    /// A row name for an unnamed request: `METHOD URL`, numbered if it repeats.
    pub fn default_name(&self, method: &str, url: &str, pos: Pos) -> At<String> {
        let base = format!("{method} {url}");
        let mut name = base.clone();
        let mut n = 1;
        while self.names.contains_key(&name) {
            n += 1;
            name = format!("{base} #{n}");
        }
        At { value: name, pos }
    }

    /// A list of steps (the default think time between requests).
    pub fn steps(&mut self, list: &[At<StepSpec>]) -> Result<Vec<Node>, SpecError> {
        let mut out = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            let node = self.step(s)?;
            let request = matches!(node, Node::Request(_) | Node::Parallel(_));
            out.push(node);
            let next_thinks = list.get(i + 1).is_some_and(|n| n.think.is_some());
            if let (true, Some(d), false, true) = (
                request,
                self.defaults.think,
                next_thinks,
                i + 1 < list.len(),
            ) {
                out.push(Node::Think(d));
            }
        }
        Ok(out)
    }

    fn step(&mut self, s: &At<StepSpec>) -> Result<Node, SpecError> {
        let kinds: Vec<&str> = [
            ("request", s.request.is_some()),
            ("get", s.get.is_some()),
            ("post", s.post.is_some()),
            ("put", s.put.is_some()),
            ("patch", s.patch.is_some()),
            ("delete", s.delete.is_some()),
            ("grpc", s.grpc.is_some()),
            ("ws", s.ws.is_some()),
            ("think", s.think.is_some()),
            ("loop", s.repeat.is_some()),
            ("if", s.when.is_some()),
            ("group", s.group.is_some()),
            ("parallel", s.parallel.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        let kind = match kinds.as_slice() {
            [k] => *k,
            [] => {
                return Err(self.err(
                    s.pos,
                    "a step needs one of request (or get, post, put, patch, delete), grpc, ws, think, loop, if, group, parallel",
                ));
            }
            [a, b, ..] => {
                return Err(self.err(
                    s.pos,
                    format!(
                        "a step is one thing: it has both '{a}' and '{b}' (make them two steps)"
                    ),
                ));
            }
        };
        let request_kind = matches!(
            kind,
            "request" | "get" | "post" | "put" | "patch" | "delete" | "grpc" | "ws"
        );
        if !request_kind {
            let extra = [
                ("name", s.name.as_ref().map(|n| n.pos)),
                ("check", s.check.as_ref().map(|n| n.pos)),
                ("on_fail", s.on_fail.as_ref().map(|n| n.pos)),
                ("timeout", s.timeout.as_ref().map(|n| n.pos)),
                ("capture", s.capture.0.first().map(|(k, _)| k.pos)),
            ];
            if let Some((key, Some(pos))) = extra.into_iter().find(|(_, p)| p.is_some()) {
                return Err(self.err(
                    pos,
                    format!("'{key}' belongs to a request step, not to a '{kind}' step"),
                ));
            }
        }
        Ok(match kind {
            "think" => {
                let t = s.think.as_ref().expect("kind");
                Node::Think(Dist::parse(t.as_str()).map_err(|e| self.err(t.pos, e.to_string()))?)
            }
            "loop" => self.repeat(s.repeat.as_ref().expect("kind"))?,
            "if" => self.when(s.when.as_ref().expect("kind"))?,
            "group" => {
                let g = s.group.as_ref().expect("kind");
                let row = self.row(&g.name, StepKind::Group)?;
                if g.steps.is_empty() {
                    return Err(self.err(g.pos, "a group needs steps"));
                }
                Node::Group {
                    row,
                    body: self.steps(&g.steps)?,
                }
            }
            "parallel" => {
                let list = s.parallel.as_ref().expect("kind");
                if list.is_empty() {
                    return Err(self.err(list.pos, "a parallel block needs requests"));
                }
                let mut reqs = Vec::new();
                let mut defined = Vec::new();
                for r in list.iter() {
                    // captures of one request are not seen by the others: defined after
                    let before = self.slots.defined.len();
                    match self.step(r)? {
                        Node::Request(req) if matches!(req.via, Via::Ws(_)) => {
                            return Err(self.err(
                                r.pos,
                                "a parallel block holds HTTP and gRPC requests: WebSocket steps go one after another on their connection",
                            ));
                        }
                        Node::Request(req) => reqs.push(*req),
                        _ => {
                            return Err(self.err(r.pos, "a parallel block holds requests only"));
                        }
                    }
                    defined.extend(self.slots.defined.drain(before..));
                }
                self.slots.defined.extend(defined);
                Node::Parallel(reqs)
            }
            "grpc" => Node::Request(Box::new(super::grpc::request(self, s)?)),
            "ws" => Node::Request(Box::new(super::ws::request(self, s)?)),
            _ => Node::Request(Box::new(request(self, s)?)),
        })
    }

    fn repeat(&mut self, l: &At<crate::spec::LoopSpec>) -> Result<Node, SpecError> {
        if l.steps.is_empty() {
            return Err(self.err(l.pos, "a loop needs steps"));
        }
        let times = match (&l.count, &l.over) {
            (Some(_), Some(o)) => {
                return Err(self.err(o.pos, "a loop has 'count' or 'over', not both"));
            }
            (None, None) => {
                return Err(self.err(
                    l.pos,
                    "a loop needs a bound: count: N, or over: LIST with max: N",
                ));
            }
            (Some(c), None) => {
                if l.bind.is_some() || l.max.is_some() {
                    let pos = l
                        .bind
                        .as_ref()
                        .map_or_else(|| l.max.as_ref().map_or(l.pos, |m| m.pos), |b| b.pos);
                    return Err(self.err(pos, "'as' and 'max' go with 'over', not with 'count'"));
                }
                Times::Count(self.number(c, "count", 1, super::program::MAX_LOOP)?)
            }
            (None, Some(over)) => {
                let Some(max) = &l.max else {
                    return Err(self.err(
                        over.pos,
                        format!(
                            "a loop over '{}' needs max: N (the most iterations): a list from a response is not a bound",
                            over.value
                        ),
                    ));
                };
                let max = self.number(max, "max", 1, super::program::MAX_LOOP)?;
                let list = match self.slots.lookup(&over.value) {
                    Some(Slot::List(i)) => i,
                    Some(Slot::Scalar(_)) => {
                        return Err(self.err(
                            over.pos,
                            format!(
                                "'{}' is one value: capture it with all: true to loop over it",
                                over.value
                            ),
                        ));
                    }
                    None => {
                        return Err(self.err(
                            over.pos,
                            self.unknown(&format!("unknown list '{}'", over.value)),
                        ));
                    }
                };
                let name = l.bind.as_ref().map_or("item", |b| b.value.as_str());
                let pos = l.bind.as_ref().map_or(over.pos, |b| b.pos);
                check_name(self, name, pos)?;
                if self.loop_items.iter().any(|n| n == name) {
                    return Err(self.err(
                        pos,
                        format!("'{name}' is the item of an enclosing loop: give this loop its own name with as: NAME"),
                    ));
                }
                let item = match self.slots.define(name, false) {
                    Ok(Slot::Scalar(i)) => i,
                    Ok(Slot::List(_)) | Err(_) => {
                        return Err(self.err(pos, format!("'{name}' is already a list")));
                    }
                };
                self.loop_items.push(name.to_string());
                Times::Over { list, item, max }
            }
        };
        let body = self.steps(&l.steps);
        if matches!(times, Times::Over { .. }) {
            self.loop_items.pop();
        }
        let body = body?;
        Ok(Node::Loop(Box::new(super::program::Loop { times, body })))
    }

    fn when(&mut self, w: &At<crate::spec::IfSpec>) -> Result<Node, SpecError> {
        use super::program::Cond;
        let slot = self.slots.lookup(&w.var).ok_or_else(|| {
            self.err(
                w.var.pos,
                self.unknown(&format!("unknown variable '{}'", w.var.value)),
            )
        })?;
        let n = [w.exists.is_some(), w.equals.is_some(), w.regex.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if n != 1 {
            return Err(self.err(
                w.pos,
                "an 'if' needs one condition: exists: true|false, equals: TEXT, or regex: EXPR",
            ));
        }
        let scalar = |c: &Compiler<'_>| match slot {
            Slot::Scalar(i) => Ok(i),
            Slot::List(_) => Err(c.err(
                w.var.pos,
                format!("'{}' is a list: only 'exists' applies to it", w.var.value),
            )),
        };
        let cond = if let Some(e) = &w.exists {
            Cond::Exists(slot, e.value)
        } else if let Some(e) = &w.equals {
            Cond::Equals(scalar(self)?, bytes::Bytes::from(e.value.0.clone()))
        } else {
            let r = w.regex.as_ref().expect("one condition");
            Cond::Matches(scalar(self)?, regex(self, r)?)
        };
        if w.then.is_empty() && w.otherwise.is_empty() {
            return Err(self.err(w.pos, "an 'if' needs steps in 'then' or 'else'"));
        }
        // each branch sees what was defined before the `if`; after it, what either defined
        // (a name set on one branch only fails the step that reads it when it is unset)
        let before = self.slots.defined.len();
        let then = self.steps(&w.then)?;
        let from_then: Vec<String> = self.slots.defined.drain(before..).collect();
        let otherwise = self.steps(&w.otherwise)?;
        for n in from_then {
            if !self.slots.defined.contains(&n) {
                self.slots.defined.push(n);
            }
        }
        Ok(Node::If(Box::new(super::program::If {
            cond,
            then,
            otherwise,
        })))
    }
}

/// A regular expression of the file (on bytes, Unicode-aware, linear time).
pub(crate) fn regex(c: &Compiler<'_>, r: &At<String>) -> Result<regex::bytes::Regex, SpecError> {
    regex::bytes::RegexBuilder::new(&r.value)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let first = e.to_string();
            let why = first.lines().last().unwrap_or("").trim().to_string();
            c.err(r.pos, format!("bad regex '{}': {why}", r.value))
        })
}

/// A variable name: letters, digits and `_`, not starting with a digit; not a built-in.
pub(crate) fn check_name(c: &Compiler<'_>, name: &str, pos: Pos) -> Result<(), SpecError> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    if !ok {
        return Err(c.err(
            pos,
            format!("'{name}' is not a variable name (letters, digits and _, e.g. user_id)"),
        ));
    }
    if [
        "index",
        "uuid",
        "timestamp",
        "timestampNs",
        "thread",
        "shard",
        "randomInt",
        "randomString",
        "newUUID",
    ]
    .contains(&name)
    {
        return Err(c.err(pos, format!("'{name}' is a built-in template name")));
    }
    Ok(())
}

fn text_at(t: &Option<At<Text>>) -> Option<(&str, Pos)> {
    t.as_ref().map(|t| (t.as_str(), t.pos))
}

/// Compiles `spec` (see [`super::compile`]).
pub(crate) fn compile(spec: &RunSpec, opts: &Options) -> Result<Journeys, SpecError> {
    let file = opts.file.as_str();
    let d = &spec.defaults;
    let at = |pos: Pos, why: String| SpecError::at(file, pos, why);
    let timeout = match &d.timeout {
        Some(t) => crate::schedule::parse_duration(t.as_str())
            .ok()
            .filter(|t| !t.is_zero() && *t <= MAX_TIMEOUT)
            .ok_or_else(|| {
                at(
                    t.pos,
                    format!(
                        "timeout '{t}': a duration like 2s or 500ms, above 0 and at most a day"
                    ),
                )
            })?,
        None => DEFAULT_TIMEOUT,
    };
    let think = match &d.think {
        Some(t) => Some(Dist::parse(t.as_str()).map_err(|e| at(t.pos, e.to_string()))?),
        None => None,
    };
    let h2 = match text_at(&d.http) {
        None => false,
        Some((v, pos)) => {
            http_version(v).ok_or_else(|| at(pos, format!("http '{v}': 1.1 or 2")))?
        }
    };
    let status = match &d.status {
        None => StatusSet::default(),
        Some(v) => StatusSet::parse(v.as_str()).map_err(|e| at(v.pos, e.to_string()))?,
    };
    let follow = match text_at(&d.follow_redirects) {
        None => 0,
        Some((v, pos)) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 20)
            .ok_or_else(|| {
                at(
                    pos,
                    format!("follow_redirects '{v}': a number of hops, 0..=20"),
                )
            })?,
    };
    let cookies = scope(file, &d.cookies)?.unwrap_or(CookieScope::Journey);
    let max_body = match text_at(&d.max_body) {
        None => DEFAULT_MAX_BODY,
        Some((v, pos)) => parse_size(v)
            .filter(|n| (1..=MAX_MAX_BODY).contains(n))
            .ok_or_else(|| {
                at(
                    pos,
                    format!("max_body '{v}': a size like 64KiB or 1MiB, at most 64MiB"),
                )
            })?,
    };
    let connections = match text_at(&d.connections) {
        None => opts.connections.unwrap_or(DEFAULT_CONNECTIONS),
        Some((v, pos)) => opts.connections.map_or_else(
            || {
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=100_000).contains(n))
                    .ok_or_else(|| at(pos, format!("connections '{v}': 1..=100000")))
            },
            Ok,
        )?,
    };
    let mut c = Compiler {
        file,
        opts,
        defaults: Defaults {
            base: d.base.clone(),
            headers: d.headers.0.clone(),
            timeout,
            think,
            h2,
            status,
            follow,
            cookies,
        },
        scenario: String::new(),
        names: HashMap::new(),
        rows: Vec::new(),
        slots: SlotTable::default(),
        sets: RequestSets::default(),
        feeds: Vec::new(),
        used_feeds: Vec::new(),
        loop_items: Vec::new(),
    };
    for (name, data) in spec.data.iter() {
        check_name(&c, name, name.pos)?;
        let feed = read_feed(&c, data)?;
        c.feeds.push((name.value.clone(), feed));
    }
    if spec.scenarios.is_empty() {
        return Err(at(
            Pos::default(),
            "no scenarios: add 'scenarios:' with at least one scenario and its steps".into(),
        ));
    }
    let mut scenarios = Vec::new();
    let mut targets = Vec::new();
    let mut scenario_names: HashMap<String, Pos> = HashMap::new();
    for s in &spec.scenarios {
        if s.name.trim().is_empty() {
            return Err(at(s.pos, "a scenario needs a name".into()));
        }
        if let Some(p) = scenario_names.insert(s.name.value.clone(), s.name.pos) {
            return Err(at(
                s.name.pos,
                format!(
                    "scenario '{}' is defined twice (first at line {})",
                    s.name.value, p.line
                ),
            ));
        }
        let weight = match &s.weight {
            None => 1,
            Some(w) => c.number(w, "weight", 1, 1_000_000)? as u32,
        };
        if s.steps.is_empty() {
            return Err(at(
                s.pos,
                format!("scenario '{}' has no steps", s.name.value),
            ));
        }
        c.scenario = s.name.value.clone();
        c.names.clear();
        c.slots.defined.clear();
        c.used_feeds.clear();
        let steps = c.steps(&s.steps)?;
        let cookies = scope(file, &s.cookies)?.unwrap_or(c.defaults.cookies);
        scenarios.push(Scenario {
            cookies,
            steps,
            feeds: c.used_feeds.clone(),
        });
        targets.push(crate::caller::Target {
            name: s.name.value.clone(),
            weight,
        });
    }
    let journey_timeout = match &d.journey_timeout {
        Some(t) => crate::schedule::parse_duration(t.as_str())
            .ok()
            .filter(|t| !t.is_zero() && *t <= MAX_TIMEOUT)
            .ok_or_else(|| {
                at(
                    t.pos,
                    format!("journey_timeout '{t}': a duration above 0, at most a day"),
                )
            })?,
        None => scenarios
            .iter()
            .map(|s| longest(&s.steps))
            .max()
            .unwrap_or(timeout)
            .clamp(Duration::from_millis(1), MAX_TIMEOUT),
    };
    let unique_rows = c
        .feeds
        .iter()
        .filter(|(_, f)| f.pick == Pick::Unique)
        .map(|(_, f)| f.data.rows() as u64)
        .min();
    let sets = std::mem::take(&mut c.sets);
    Ok(Journeys {
        targets,
        rows: c.rows,
        scenarios,
        scalars: c.slots.scalars.len(),
        lists: c.slots.lists.len(),
        scalar_names: c.slots.scalars.clone(),
        list_names: c.slots.lists.clone(),
        feeds: c.feeds.into_iter().map(|(_, f)| f).collect(),
        requests: sets
            .finish(opts, connections)
            .map_err(|e| at(Pos::default(), e))?,
        max_body,
        connections,
        journey_timeout,
        request_timeout: timeout,
        unique_rows,
        seed: opts.seed,
        shard: opts.shard,
    })
}

/// The longest `nodes` can take: every request to its timeout (each redirect too), every
/// think at its longest, every loop to its bound.
pub(crate) fn longest(nodes: &[Node]) -> Duration {
    nodes
        .iter()
        .map(|n| match n {
            Node::Request(r) => r.longest(),
            Node::Think(d) => d.max(),
            Node::Loop(l) => {
                let n = match l.times {
                    Times::Count(n) => n,
                    Times::Over { max, .. } => max,
                };
                longest(&l.body).saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
            }
            Node::If(i) => longest(&i.then).max(longest(&i.otherwise)),
            Node::Group { body, .. } => longest(body),
            Node::Parallel(rs) => rs.iter().map(|r| r.longest()).max().unwrap_or_default(),
        })
        .fold(Duration::ZERO, Duration::saturating_add)
}

/// `1.1` or `2`: true for HTTP/2.
pub(crate) fn http_version(v: &str) -> Option<bool> {
    match v.trim() {
        "1.1" | "1" | "http/1.1" => Some(false),
        "2" | "2.0" | "h2" => Some(true),
        _ => None,
    }
}

fn scope(file: &str, t: &Option<At<Text>>) -> Result<Option<CookieScope>, SpecError> {
    let Some(t) = t else { return Ok(None) };
    Ok(Some(match t.as_str() {
        "journey" => CookieScope::Journey,
        "vu" => CookieScope::Vu,
        "off" | "false" => CookieScope::Off,
        other => {
            return Err(SpecError::at(
                file,
                t.pos,
                format!("cookies '{other}': journey, vu or off"),
            ));
        }
    }))
}

/// `1024`, `64KiB`, `1MiB`, `1MB`.
pub(crate) fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: usize = n.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn read_feed(c: &Compiler<'_>, d: &At<crate::spec::DataSpec>) -> Result<Feed, SpecError> {
    let pick = match d.pick.as_ref().map(|p| (p.as_str(), p.pos)) {
        None | Some(("sequential", _)) => Pick::Sequential,
        Some(("random", _)) => Pick::Random,
        Some(("unique", _)) => Pick::Unique,
        Some((other, pos)) => {
            return Err(c.err(pos, format!("pick '{other}': sequential, random or unique")));
        }
    };
    let path = match &c.opts.dir {
        Some(dir) if Path::new(&d.file.value).is_relative() => dir.join(&d.file.value),
        _ => PathBuf::from(&d.file.value),
    };
    if !c.opts.read_files {
        return Err(c.err(d.file.pos, "data files are not read here"));
    }
    let bad = |why: String| c.err(d.file.pos, format!("data file {}: {why}", path.display()));
    let f = std::fs::File::open(&path).map_err(|e| bad(e.to_string()))?;
    let meta = f.metadata().map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    // DataFeed::read counts what it reads against the same cap; a file known too large
    // is refused at once
    if meta.len() > crate::limits::DATA_FILE {
        let cap = crate::limits::size(crate::limits::DATA_FILE);
        return Err(bad(format!("larger than {cap}")));
    }
    let r = std::io::BufReader::new(f);
    let data = Arc::new(
        DataFeed::read(r, DataFormat::of_path(&d.file.value), &d.file.value)
            .map_err(|e| c.err(d.file.pos, e.to_string()))?,
    );
    Ok(Feed {
        data,
        pick,
        columns: Vec::new(),
    })
}
