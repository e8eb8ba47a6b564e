//! The YAML side of a run specification: values with their place in the file ([`At`]),
//! scalars kept as text ([`Text`]), maps that keep their order ([`Map`]), reading with
//! serde-saphyr (strict: unknown and duplicate keys are errors; its budgets bound what a
//! hostile file can cost) and writing back.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_saphyr::{MessageFormatter, Spanned};

use super::{MAX_FILE, RequestSpec, RunSpec, Shorthand, VERSION};

/// Where a value is in its file: 1-based line and column; 0 when it did not come from a
/// file (a flag).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub col: u32,
}

impl Pos {
    /// True for a value from a file.
    pub fn known(&self) -> bool {
        self.line > 0
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct At<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub pos: Pos,
}

impl<T> At<T> {
    /// A value that came from no file (a flag).
    pub fn new(value: T) -> At<T> {
        At {
            value,
            pos: Pos::default(),
        }
    }
}

impl<T: fmt::Display> fmt::Display for At<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> std::ops::Deref for At<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<T>::deserialize(d)?;
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(At {
            value: s.value,
            pos: Pos {
                line: clamp(s.referenced.line()),
                col: clamp(s.referenced.column()),
            },
        })
    }
}

impl<T: Serialize> Serialize for At<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

/// A scalar kept as its text, as written: `2s`, `200`, `2.0`, `007`, `true`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(s.to_string())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // asked for as a string, the YAML reader hands over a scalar as written (`2.0`,
        // `007`), not as the number it would parse to
        d.deserialize_str(ScalarVisitor).map(Text)
    }
}

/// A scalar as text, however it was written.
struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar (text, number or boolean)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A scalar or a list of them, as text joined by commas: a status list `[200, 201]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextList(pub String);

impl TextList {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextList, E> {
                Ok(TextList(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TextList, E> {
                Ok(TextList(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TextList, E> {
                Ok(TextList(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TextList, E> {
                Ok(TextList(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<TextList, E> {
                Ok(TextList(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<TextList, A::Error> {
                let mut parts = Vec::new();
                while let Some(t) = seq.next_element::<Text>()? {
                    parts.push(t.0);
                }
                Ok(TextList(parts.join(",")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for TextList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Text(self.0.clone()).serialize(s)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // a whole number goes back as a number, anything else as text
        match self.0.parse::<u64>() {
            Ok(n) if n.to_string() == self.0 => s.serialize_u64(n),
            _ => s.serialize_str(&self.0),
        }
    }
}

/// A map that keeps its keys in file order, each with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Map<V>(pub Vec<(At<String>, V)>);

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map(Vec::new())
    }
}

impl<V> Map<V> {
    /// True when it has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&At<String>, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Sets `key` (replacing an entry of the same name).
    pub fn set(&mut self, key: &str, value: V) {
        match self.0.iter_mut().find(|(k, _)| k.value == key) {
            Some(e) => e.1 = value,
            None => self.0.push((At::new(key.to_string()), value)),
        }
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Map<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = Map<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Map<V>, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<At<Text>>()? {
                    let v = m.next_value::<V>()?;
                    out.push((
                        At {
                            value: k.value.0,
                            pos: k.pos,
                        },
                        v,
                    ));
                }
                Ok(Map(out))
            }
        }
        d.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

impl<V: Serialize> Serialize for Map<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(&k.value, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Shorthand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shorthand;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL, or a map with url, headers, body, json or form")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Shorthand, E> {
                Ok(Shorthand(RequestSpec {
                    url: Some(At::new(v.to_string())),
                    ..RequestSpec::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Shorthand, A::Error> {
                RequestSpec::deserialize(de::value::MapAccessDeserializer::new(m)).map(Shorthand)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Shorthand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let only_url = RequestSpec {
            url: self.0.url.clone(),
            ..RequestSpec::default()
        };
        match &self.0.url {
            Some(u) if self.0 == only_url => s.serialize_str(u),
            _ => self.0.serialize(s),
        }
    }
}

/// A scenario file that cannot be used: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The file as named.
    pub file: String,
    /// Where in it (unknown: 0).
    pub pos: Pos,
    /// What is wrong, and the hint.
    pub why: String,
}

impl SpecError {
    /// An error at `pos` of `file`.
    pub fn at(file: &str, pos: Pos, why: impl Into<String>) -> SpecError {
        SpecError {
            file: file.to_string(),
            pos,
            why: why.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.known() {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.pos.line, self.pos.col, self.why
            )
        } else {
            write!(f, "{}: {}", self.file, self.why)
        }
    }
}

impl std::error::Error for SpecError {}

/// Reads a specification (see [`RunSpec::from_yaml`]).
pub(super) fn read(text: &str, file: &str) -> Result<RunSpec, SpecError> {
    if text.len() > MAX_FILE {
        return Err(SpecError::at(
            file,
            Pos::default(),
            format!("larger than {} MiB", MAX_FILE >> 20),
        ));
    }
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    let spec: RunSpec = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let pos = e.location().map_or(Pos::default(), |l| Pos {
            line: u32::try_from(l.line()).unwrap_or(u32::MAX),
            col: u32::try_from(l.column()).unwrap_or(u32::MAX),
        });
        let why = serde_saphyr::UserMessageFormatter.format_message(&e);
        SpecError::at(file, pos, hint(&why))
    })?;
    let version = spec.version.value.as_str();
    if version.is_empty() {
        return Err(SpecError::at(
            file,
            Pos::default(),
            format!("no 'version' key: the file must start with 'version: {VERSION}'"),
        ));
    }
    if version != VERSION.to_string() {
        return Err(SpecError::at(
            file,
            spec.version.pos,
            format!("version {version} is not one this loadgen reads (it reads version {VERSION})"),
        ));
    }
    Ok(spec)
}

/// serde's words, with a hint where one helps.
fn hint(why: &str) -> String {
    let why = why.replace('`', "'");
    if why.starts_with("missing field 'version'") {
        return format!("{why}: the file must start with 'version: {VERSION}'");
    }
    if let Some(rest) = why.strip_prefix("duplicate mapping key '") {
        let key = rest.split('\'').next().unwrap_or("");
        return format!("the key '{key}' is given twice in one map");
    }
    why
}

/// Writes a specification as YAML.
pub(super) fn write(spec: &RunSpec) -> String {
    serde_saphyr::to_string(spec).unwrap_or_else(|e| format!("# cannot write the scenario: {e}\n"))
}
