//! Per-request data: templates in URLs, headers and bodies, compiled once and rendered per
//! load into a reused buffer.
//!
//! The syntax is ghz's and Mustache's double braces:
//!
//! | template | renders |
//! | --- | --- |
//! | `{{index}}` (`{{.RequestNumber}}`) | the load's index in the run (0, 1, 2, …) |
//! | `{{uuid}}` (`{{newUUID}}`, `{{.UUID}}`) | a version-4 UUID |
//! | `{{randomInt 1 100}}` | an integer in 1..=100 |
//! | `{{randomString 8}}` | 8 letters and digits |
//! | `{{timestamp}}` / `{{timestampNs}}` | Unix time in milliseconds / nanoseconds, at render |
//! | `{{thread}}`, `{{shard}}` | the generator thread, the process's shard index |
//! | `{{NAME}}` (`{{.NAME}}`) | column `NAME` of the data feed's row for this load |
//!
//! A journey's templates may also name its variables (captures, loop items, data
//! columns as `{{FEED.COLUMN}}`): [`Template::compile_with`] resolves such names to
//! variable slots, which a render reads from [`Context::vars`]. Where a value is inserted
//! into a JSON string or a form, it is escaped as such ([`Escape`]).
//!
//! Random values are a pure function of the seed, the load index and the place in the
//! template: the same seed repeats a run exactly, whatever the threads did; different
//! loads get independent values.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::data::DataFeed;
use crate::error::ConfigError;

/// One compiled template (a clone shares its parts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Arc<[Part]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(Bytes),
    Var { var: Var, salt: u64, escape: Escape },
}

/// How a rendered value is written where it is inserted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Escape {
    /// As it is.
    #[default]
    None,
    /// Inside a JSON string: quotes, backslashes and control characters escaped.
    Json,
    /// In an `application/x-www-form-urlencoded` body: percent-encoded.
    Form,
}

/// What a name in a template stands for, when a journey resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// Variable slot `i` of [`Context::vars`].
    Slot(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    Index,
    Uuid,
    Int { lo: i64, hi: i64 },
    Str(usize),
    TimestampMs,
    TimestampNs,
    Thread,
    Shard,
    Field(usize),
    Slot(usize),
}

/// The longest `randomString`.
const MAX_RANDOM_STRING: usize = 4096;

/// What a render may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The load's index.
    pub index: u64,
    /// The seed of random values.
    pub seed: u64,
    /// The generator thread.
    pub thread: usize,
    /// The process's shard index.
    pub shard: u64,
    /// The data feed, if any.
    pub data: Option<&'a DataFeed>,
    /// A journey's variables, by slot (`None`: not set; never rendered, see
    /// [`Template::slots`]).
    pub vars: &'a [Option<Bytes>],
    /// Mixed into random values, so that two renders of one template in one load (a
    /// journey's steps and loops) draw different values.
    pub nonce: u64,
}

impl Template {
    /// Text without templates, as is.
    pub fn literal(text: impl Into<Bytes>) -> Template {
        let text = text.into();
        Template {
            parts: if text.is_empty() {
                Arc::new([])
            } else {
                Arc::new([Part::Text(text)])
            },
        }
    }

    /// Compiles `text`; `fields` are the data feed's columns.
    pub fn compile(text: &[u8], fields: &[String]) -> Result<Template, ConfigError> {
        Template::compile_with(text, Escape::None, &mut |_| Ok(None), fields)
    }

    /// Compiles `text`, each value escaped as `escape` says. `resolve` is asked first for
    /// every name: a journey's variable (`Some`), a built-in or data column (`None`: parsed
    /// as [`Template::compile`] does, `fields` being the feed's columns), or unknown (`Err`
    /// with the message).
    pub fn compile_with(
        text: &[u8],
        escape: Escape,
        resolve: &mut dyn FnMut(&str) -> Result<Option<Name>, String>,
        fields: &[String],
    ) -> Result<Template, ConfigError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut salt = 0u64;
        while let Some(open) = memchr::memmem::find(rest, b"{{") {
            let after = &rest[open + 2..];
            let close = memchr::memmem::find(after, b"}}").ok_or_else(|| {
                ConfigError::Template(format!(
                    "'{}': '{{{{' without '}}}}'",
                    String::from_utf8_lossy(&rest[open..rest.len().min(open + 40)])
                ))
            })?;
            if open > 0 {
                parts.push(Part::Text(Bytes::copy_from_slice(&rest[..open])));
            }
            let inner = std::str::from_utf8(&after[..close])
                .map_err(|_| ConfigError::Template("a template that is not UTF-8".into()))?;
            salt += 1;
            let var = match resolve(inner.trim()).map_err(ConfigError::Template)? {
                Some(Name::Slot(i)) => Var::Slot(i),
                None => parse_var(inner.trim(), fields)?,
            };
            parts.push(Part::Var { var, salt, escape });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(Bytes::copy_from_slice(rest)));
        }
        // what the generated values can add up to, bounded before the run (a data column
        // or a journey variable is bounded where it is read: the feed's line, the body cap)
        let most: usize = parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::Var { var, escape, .. } => {
                    let n = match var {
                        Var::Str(n) => *n,
                        Var::Uuid => 36,
                        Var::Field(_) | Var::Slot(_) => 0,
                        _ => 20,
                    };
                    // an escaped value may grow: percent-encoding triples a byte
                    n * if *escape == Escape::Form { 3 } else { 1 }
                }
            })
            .fold(0usize, usize::saturating_add);
        if most > crate::limits::RENDERED {
            return Err(ConfigError::Template(format!(
                "renders up to {most} bytes a request, more than the {} one may have",
                crate::limits::size(crate::limits::RENDERED as u64)
            )));
        }
        Ok(Template {
            parts: parts.into(),
        })
    }

    /// Like [`Template::compile_body`], without a copy of a body that has no templates
    /// (a large body file is held once, however many requests send it).
    pub fn compile_body_bytes(body: Bytes, fields: &[String]) -> Result<Template, ConfigError> {
        if std::str::from_utf8(&body).is_err() || memchr::memmem::find(&body, b"{{").is_none() {
            return Ok(Template::literal(body));
        }
        Template::compile(&body, fields)
    }

    /// Its bytes without a copy, when it is one piece of text (or empty).
    pub fn shared_bytes(&self) -> Option<Bytes> {
        match &self.parts[..] {
            [] => Some(Bytes::new()),
            [Part::Text(t)] => Some(t.clone()),
            _ => None,
        }
    }

    /// Compiles a body: a body is bytes, and templates apply where it is text; one that is
    /// not UTF-8 (a binary file) is sent as it is.
    pub fn compile_body(body: &[u8], fields: &[String]) -> Result<Template, ConfigError> {
        if std::str::from_utf8(body).is_err() {
            return Ok(Template::literal(body.to_vec()));
        }
        Template::compile(body, fields)
    }

    /// Templates one after the other, as one (random values stay independent).
    pub fn join(templates: impl IntoIterator<Item = Template>) -> Template {
        let mut parts: Vec<Part> = Vec::new();
        let mut salt = 0u64;
        for t in templates {
            for p in t.parts.iter() {
                parts.push(match p {
                    Part::Var { var, escape, .. } => {
                        salt += 1;
                        Part::Var {
                            var: var.clone(),
                            salt,
                            escape: *escape,
                        }
                    }
                    text => text.clone(),
                });
            }
        }
        Template {
            parts: parts.into(),
        }
    }

    /// The variable slots it reads (a render needs each of them set).
    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Var {
                var: Var::Slot(i), ..
            } => Some(*i),
            _ => None,
        })
    }

    /// True when it has no templates (it renders the same bytes every time).
    pub fn is_fixed(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Its length, when it has no templates (nothing is copied).
    pub fn fixed_len(&self) -> Option<usize> {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => Some(t.len()),
                Part::Var { .. } => None,
            })
            .sum()
    }

    /// Its bytes, when it has no templates.
    pub fn fixed_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for p in self.parts.iter() {
            match p {
                Part::Text(t) => out.extend_from_slice(t),
                Part::Var { .. } => return None,
            }
        }
        Some(out)
    }

    /// Renders into `out`.
    pub fn render(&self, cx: &Context<'_>, out: &mut BytesMut) {
        for p in self.parts.iter() {
            match p {
                Part::Text(t) => out.put_slice(t),
                Part::Var {
                    var,
                    salt,
                    escape: Escape::None,
                } => render_var(var, *salt, cx, out),
                Part::Var { var, salt, escape } => {
                    let mut raw = BytesMut::new();
                    render_var(var, *salt, cx, &mut raw);
                    escape_into(*escape, &raw, out);
                }
            }
        }
    }

    /// Renders into a new `String` (lossy for non-UTF-8 text).
    pub fn render_string(&self, cx: &Context<'_>) -> String {
        let mut b = BytesMut::new();
        self.render(cx, &mut b);
        String::from_utf8_lossy(&b).into_owned()
    }
}

fn parse_var(inner: &str, fields: &[String]) -> Result<Var, ConfigError> {
    let mut words = inner.split_whitespace();
    let name = words.next().unwrap_or("");
    let args: Vec<&str> = words.collect();
    let bad = |why: String| ConfigError::Template(format!("'{{{{{inner}}}}}': {why}"));
    let no_args = |v: Var| {
        if args.is_empty() {
            Ok(v)
        } else {
            Err(bad("takes no arguments".into()))
        }
    };
    match name {
        "index" | ".RequestNumber" => no_args(Var::Index),
        "uuid" | "newUUID" | ".UUID" => no_args(Var::Uuid),
        "timestamp" | ".TimestampUnixMilli" => no_args(Var::TimestampMs),
        "timestampNs" | ".TimestampUnixNano" => no_args(Var::TimestampNs),
        "thread" => no_args(Var::Thread),
        "shard" => no_args(Var::Shard),
        "randomInt" => {
            let [lo, hi] = args.as_slice() else {
                return Err(bad("expected randomInt MIN MAX".into()));
            };
            let lo: i64 = lo
                .parse()
                .map_err(|_| bad(format!("'{lo}' is not an integer")))?;
            let hi: i64 = hi
                .parse()
                .map_err(|_| bad(format!("'{hi}' is not an integer")))?;
            if hi < lo {
                return Err(bad("MAX is below MIN".into()));
            }
            Ok(Var::Int { lo, hi })
        }
        "randomString" => {
            let [n] = args.as_slice() else {
                return Err(bad("expected randomString LENGTH".into()));
            };
            let n: usize = n
                .parse()
                .ok()
                .filter(|n| (1..=MAX_RANDOM_STRING).contains(n))
                .ok_or_else(|| bad(format!("the length must be 1..={MAX_RANDOM_STRING}")))?;
            Ok(Var::Str(n))
        }
        _ => {
            let field = name.strip_prefix('.').unwrap_or(name);
            match fields.iter().position(|f| f == field) {
                Some(i) if args.is_empty() => Ok(Var::Field(i)),
                _ if fields.is_empty() => Err(bad(
                    "unknown (index, uuid, randomInt A B, randomString N, timestamp, timestampNs, thread, shard; or a --data column)".to_string()
                )),
                _ => Err(bad(format!(
                    "unknown (index, uuid, randomInt A B, randomString N, timestamp, timestampNs, thread, shard; or a --data column: {})",
                    fields.join(", ")
                ))),
            }
        }
    }
}

/// True when `name` (the first word of a template) is a built-in: index, uuid, ...
pub fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "index"
            | ".RequestNumber"
            | "uuid"
            | "newUUID"
            | ".UUID"
            | "timestamp"
            | ".TimestampUnixMilli"
            | "timestampNs"
            | ".TimestampUnixNano"
            | "thread"
            | "shard"
            | "randomInt"
            | "randomString"
    )
}

/// SplitMix64: a strong 64-bit mix; consecutive inputs give independent outputs. The one
/// copy: templates, calc operands and Poisson gaps draw from it.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of one template place of one load.
fn stream(cx: &Context<'_>, salt: u64) -> impl FnMut() -> u64 {
    let mut state = mix(cx.seed ^ mix(cx.index ^ mix(salt ^ mix(cx.nonce))));
    move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(state)
    }
}

fn render_var(var: &Var, salt: u64, cx: &Context<'_>, out: &mut BytesMut) {
    match var {
        Var::Index => put_int(out, i128::from(cx.index)),
        Var::Thread => put_int(out, cx.thread as i128),
        Var::Shard => put_int(out, i128::from(cx.shard)),
        Var::Uuid => {
            let mut next = stream(cx, salt);
            let (a, b) = (next(), next());
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&a.to_be_bytes());
            bytes[8..].copy_from_slice(&b.to_be_bytes());
            bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
            bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for (i, b) in bytes.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.put_u8(b'-');
                }
                out.put_u8(HEX[usize::from(b >> 4)]);
                out.put_u8(HEX[usize::from(b & 15)]);
            }
        }
        Var::Int { lo, hi } => {
            let span = (*hi as i128 - *lo as i128 + 1) as u128;
            put_int(
                out,
                *lo as i128 + (u128::from(stream(cx, salt)()) % span) as i128,
            );
        }
        Var::Str(n) => {
            const ALNUM: &[u8; 62] =
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            let mut next = stream(cx, salt);
            for _ in 0..*n {
                out.put_u8(ALNUM[(next() % 62) as usize]);
            }
        }
        Var::TimestampMs | Var::TimestampNs => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let v = if matches!(var, Var::TimestampMs) {
                t.as_millis()
            } else {
                t.as_nanos()
            };
            put_int(out, v as i128);
        }
        Var::Field(i) => {
            if let Some(d) = cx.data {
                out.put_slice(d.field(cx.index, *i).as_bytes());
            }
        }
        Var::Slot(i) => {
            if let Some(Some(v)) = cx.vars.get(*i) {
                out.put_slice(v);
            }
        }
    }
}

/// Bytes of a form value: unreserved characters as they are, space as `+`, the rest `%XX`.
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'*');

fn escape_into(escape: Escape, raw: &[u8], out: &mut BytesMut) {
    match escape {
        Escape::None => out.put_slice(raw),
        Escape::Json => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for &b in raw {
                match b {
                    b'"' => out.put_slice(b"\\\""),
                    b'\\' => out.put_slice(b"\\\\"),
                    b'\n' => out.put_slice(b"\\n"),
                    b'\r' => out.put_slice(b"\\r"),
                    b'\t' => out.put_slice(b"\\t"),
                    0..0x20 | 0x7f => {
                        out.put_slice(b"\\u00");
                        out.put_u8(HEX[usize::from(b >> 4)]);
                        out.put_u8(HEX[usize::from(b & 15)]);
                    }
                    _ => out.put_u8(b),
                }
            }
        }
        Escape::Form => {
            for piece in raw.split(|&b| b == b' ').enumerate() {
                if piece.0 > 0 {
                    out.put_u8(b'+');
                }
                for chunk in percent_encoding::percent_encode(piece.1, FORM) {
                    out.put_slice(chunk.as_bytes());
                }
            }
        }
    }
}

/// Writes an integer in decimal, without allocating.
pub(crate) fn put_int(out: &mut BytesMut, v: i128) {
    let mut digits = [0u8; 40];
    let mut i = digits.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        digits[i] = b'-';
    }
    out.put_slice(&digits[i..]);
}

/// What every render of a run shares: the seed, the shard, the data feed.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    /// The seed of random values.
    pub seed: u64,
    /// The process's shard index.
    pub shard: u64,
    /// The data feed, if any.
    pub data: Option<Arc<DataFeed>>,
}

impl Shared {
    /// The context of load `index` on `thread`.
    pub fn context(&self, index: u64, thread: usize) -> Context<'_> {
        Context {
            index,
            seed: self.seed,
            thread,
            shard: self.shard,
            data: self.data.as_deref(),
            vars: &[],
            nonce: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(index: u64) -> Context<'static> {
        Context {
            index,
            seed: 7,
            thread: 1,
            shard: 2,
            data: None,
            vars: &[],
            nonce: 0,
        }
    }

    fn render(t: &Template, c: &Context<'_>) -> String {
        t.render_string(c)
    }

    #[test]
    fn renders_every_variable() {
        let t = Template::compile(
            b"/u/{{index}}?t={{thread}}&s={{shard}}&r={{randomInt 5 5}}&x={{ .RequestNumber }}",
            &[],
        )
        .unwrap();
        assert_eq!(render(&t, &cx(42)), "/u/42?t=1&s=2&r=5&x=42");
        let u = Template::compile(b"{{uuid}}", &[]).unwrap();
        let id = render(&u, &cx(1));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        let s = Template::compile(b"{{randomString 12}}", &[]).unwrap();
        let v = render(&s, &cx(3));
        assert_eq!(v.len(), 12);
        assert!(v.bytes().all(|b| b.is_ascii_alphanumeric()));
        let ts = Template::compile(b"{{timestamp}}", &[]).unwrap();
        assert!(render(&ts, &cx(0)).parse::<u64>().unwrap() > 1_700_000_000_000);
        assert!(Template::compile(b"plain", &[]).unwrap().is_fixed());
        assert!(!t.is_fixed());
    }

    #[test]
    fn random_values_are_a_function_of_seed_and_index() {
        let t = Template::compile(b"{{uuid}} {{randomInt 0 1000000}}", &[]).unwrap();
        assert_eq!(render(&t, &cx(9)), render(&t, &cx(9)));
        assert_ne!(render(&t, &cx(9)), render(&t, &cx(10)));
        let other = Context { seed: 8, ..cx(9) };
        assert_ne!(render(&t, &cx(9)), render(&t, &other));
        // two places in one template are independent
        let two =
            Template::compile(b"{{randomInt 0 1000000}}-{{randomInt 0 1000000}}", &[]).unwrap();
        let v = render(&two, &cx(0));
        let (a, b) = v.split_once('-').unwrap();
        assert_ne!(a, b);
        let ints = Template::compile(b"{{randomInt -3 3}}", &[]).unwrap();
        let seen: std::collections::BTreeSet<i64> = (0..500)
            .map(|i| render(&ints, &cx(i)).parse().unwrap())
            .collect();
        assert_eq!(seen, (-3..=3).collect());
    }

    #[test]
    fn uuids_are_distinct() {
        let t = Template::compile(b"{{uuid}}", &[]).unwrap();
        let all: std::collections::HashSet<String> =
            (0..100_000).map(|i| render(&t, &cx(i))).collect();
        assert_eq!(all.len(), 100_000);
    }

    #[test]
    fn a_body_that_is_not_text_is_sent_as_it_is() {
        let bin = b"\x00\xff{{\xfe}}\x01".to_vec();
        let t = Template::compile_body(&bin, &[]).unwrap();
        assert!(t.is_fixed());
        let mut out = BytesMut::new();
        t.render(&cx(0), &mut out);
        assert_eq!(&out[..], &bin[..]);
        // text keeps its templates
        let t = Template::compile_body(b"n={{index}}", &[]).unwrap();
        assert_eq!(render(&t, &cx(3)), "n=3");
    }

    #[test]
    fn values_are_escaped_where_they_are_inserted() {
        let vars = [Some(Bytes::from_static(b"a \"b\"\n&c=d"))];
        let c = Context {
            vars: &vars,
            ..cx(0)
        };
        let resolve = &mut |n: &str| Ok((n == "v").then_some(Name::Slot(0)));
        let json = Template::compile_with(b"{{v}}", Escape::Json, resolve, &[]).unwrap();
        assert_eq!(render(&json, &c), r#"a \"b\"\n&c=d"#);
        let form = Template::compile_with(b"{{v}}", Escape::Form, resolve, &[]).unwrap();
        assert_eq!(render(&form, &c), "a+%22b%22%0A%26c%3Dd");
        assert_eq!(json.slots().collect::<Vec<_>>(), [0]);
        let both = Template::join([json.clone(), Template::literal("x"), json]);
        assert_eq!(render(&both, &c), r#"a \"b\"\n&c=dxa \"b\"\n&c=d"#);
    }

    #[test]
    fn bad_templates_say_why() {
        for (text, want) in [
            (&b"{{nope}}"[..], "unknown"),
            (b"{{index", "without"),
            (b"{{randomInt 5}}", "MIN MAX"),
            (b"{{randomInt 5 1}}", "below"),
            (b"{{randomString 0}}", "length"),
            (b"{{uuid 3}}", "no arguments"),
        ] {
            let e = Template::compile(text, &[]).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
