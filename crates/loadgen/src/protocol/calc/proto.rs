//! The calc wire codec, shared by the calc caller and the calc server.
//!
//! Frames are one JSON object per line, at most [`MAX_FRAME`] bytes:
//!
//! ```text
//! request:  {"id": 17, "operands": [12, 5], "operator": "-"}
//! response: {"id": 17, "formula": "12 - 5 = 7", "result": 7, "error": null}
//! ```
//!
//! Field names are matched case-insensitively, as Go's `encoding/json` does, so the book's
//! client and server (`ID`, `Operands`, `Operator`; `ID`, `Formula`, `Result`, `Err`) speak
//! with ours. An error that is `null`, absent or empty means none; any other value is an
//! error (Go's `errors.New` values serialize as `{}`).

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Largest frame, newline included.
pub const MAX_FRAME: usize = 64 * 1024;

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (integer division, truncating)
    Div,
}

impl Op {
    /// Every operator.
    pub const ALL: [Op; 4] = [Op::Add, Op::Sub, Op::Mul, Op::Div];

    /// The operator's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
        }
    }

    /// Parses a symbol.
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.symbol() == s)
    }
}

/// Why a computation has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalcError {
    /// Fewer than two operands.
    TooFewOperands,
    /// The operator is not one of `+ - * /`.
    UnknownOperator,
    /// A result does not fit in i64.
    Overflow,
    /// Division by zero.
    DivisionByZero,
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CalcError::TooFewOperands => "at least two operands are needed",
            CalcError::UnknownOperator => "unknown operator (want + - * /)",
            CalcError::Overflow => "integer overflow",
            CalcError::DivisionByZero => "division by zero",
        })
    }
}

/// Applies `op` left to right over `operands`, checking for overflow and division by zero.
pub fn compute(op: Op, operands: &[i64]) -> Result<i64, CalcError> {
    let (&first, rest) = operands.split_first().ok_or(CalcError::TooFewOperands)?;
    if rest.is_empty() {
        return Err(CalcError::TooFewOperands);
    }
    rest.iter().try_fold(first, |acc, &x| match op {
        Op::Add => acc.checked_add(x).ok_or(CalcError::Overflow),
        Op::Sub => acc.checked_sub(x).ok_or(CalcError::Overflow),
        Op::Mul => acc.checked_mul(x).ok_or(CalcError::Overflow),
        Op::Div if x == 0 => Err(CalcError::DivisionByZero),
        Op::Div => acc.checked_div(x).ok_or(CalcError::Overflow),
    })
}

/// The formula text of a response: `12 - 5 = 7`.
pub fn formula(op: Op, operands: &[i64], result: i64) -> String {
    let mut s = String::new();
    for (i, x) in operands.iter().enumerate() {
        if i > 0 {
            s.push(' ');
            s.push_str(op.symbol());
            s.push(' ');
        }
        s.push_str(&x.to_string());
    }
    s.push_str(" = ");
    s.push_str(&result.to_string());
    s
}

/// A request as sent (borrowed, so the client allocates nothing to send one).
#[derive(Debug, Serialize)]
pub struct RequestOut<'a> {
    /// Request id, echoed in the response.
    pub id: i64,
    /// Operands.
    pub operands: &'a [i64],
    /// `+`, `-`, `*` or `/`.
    pub operator: &'a str,
}

/// A request as received (field names matched case-insensitively).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestIn {
    /// Request id (0 if absent).
    pub id: i64,
    /// Operands.
    pub operands: Vec<i64>,
    /// The operator text.
    pub operator: String,
}

/// A response as sent.
#[derive(Debug, Serialize)]
pub struct ResponseOut<'a> {
    /// The request's id.
    pub id: i64,
    /// `12 - 5 = 7`, empty on error.
    pub formula: &'a str,
    /// The result, 0 on error.
    pub result: i64,
    /// `null`, or what went wrong.
    pub error: Option<&'a str>,
}

/// A response as received (field names matched case-insensitively).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseIn {
    /// The id the server echoed.
    pub id: Option<i64>,
    /// The result, if any.
    pub result: Option<i64>,
    /// The server's error, if any.
    pub error: Option<String>,
}

enum Key {
    Id,
    Operands,
    Operator,
    Formula,
    Result,
    Error,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                let is = |name: &str| v.eq_ignore_ascii_case(name);
                Ok(if is("id") {
                    Key::Id
                } else if is("operands") {
                    Key::Operands
                } else if is("operator") {
                    Key::Operator
                } else if is("formula") {
                    Key::Formula
                } else if is("result") {
                    Key::Result
                } else if is("error") || is("err") {
                    Key::Error
                } else {
                    Key::Other
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Any JSON value as an error: `null` and `""` are no error.
struct ErrValue(Option<String>);

impl<'de> Deserialize<'de> for ErrValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ErrValue, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(ErrValue(match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s.is_empty() => None,
            serde_json::Value::String(s) => Some(s),
            other => Some(format!("error {other}")),
        }))
    }
}

impl<'de> Deserialize<'de> for RequestIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RequestIn, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RequestIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a calc request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RequestIn, A::Error> {
                let mut r = RequestIn::default();
                while let Some(k) = map.next_key::<Key>()? {
                    match k {
                        Key::Id => r.id = map.next_value()?,
                        Key::Operands => r.operands = map.next_value()?,
                        Key::Operator => r.operator = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for ResponseIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ResponseIn, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ResponseIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a calc response object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ResponseIn, A::Error> {
                let mut r = ResponseIn::default();
                while let Some(k) = map.next_key::<Key>()? {
                    match k {
                        Key::Id => r.id = map.next_value()?,
                        Key::Result => r.result = map.next_value()?,
                        Key::Error => r.error = map.next_value::<ErrValue>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

/// A frame that is not a calc request or response.
#[derive(Debug, thiserror::Error)]
pub enum FrameParseError {
    /// Not a request object.
    #[error("bad request: {0}")]
    Request(serde_json::Error),
    /// Not a response object.
    #[error("bad response: {0}")]
    Response(serde_json::Error),
}

/// Parses one request frame (without its newline).
pub fn parse_request(frame: &[u8]) -> Result<RequestIn, FrameParseError> {
    serde_json::from_slice(frame).map_err(FrameParseError::Request)
}

/// Parses one response frame (without its newline).
pub fn parse_response(frame: &[u8]) -> Result<ResponseIn, FrameParseError> {
    serde_json::from_slice(frame).map_err(FrameParseError::Response)
}

/// Appends a request frame (with its newline) to `out`.
pub fn write_request(out: &mut Vec<u8>, id: i64, operands: &[i64], op: Op) {
    let req = RequestOut {
        id,
        operands,
        operator: op.symbol(),
    };
    serde_json::to_writer(&mut *out, &req).expect("writing JSON into memory cannot fail");
    out.push(b'\n');
}

/// Appends the response frame to `req` (with its newline) to `out`.
pub fn answer(out: &mut Vec<u8>, req: &RequestIn) {
    let result = match Op::parse(req.operator.trim()) {
        None => Err(CalcError::UnknownOperator),
        Some(op) => compute(op, &req.operands).map(|r| (op, r)),
    };
    let resp = match &result {
        Ok((op, r)) => {
            let f = formula(*op, &req.operands, *r);
            return write_response(out, req.id, &f, *r, None);
        }
        Err(e) => e.to_string(),
    };
    write_response(out, req.id, "", 0, Some(&resp));
}

/// Appends a response frame (with its newline) to `out`.
pub fn write_response(out: &mut Vec<u8>, id: i64, formula: &str, result: i64, error: Option<&str>) {
    let resp = ResponseOut {
        id,
        formula,
        result,
        error,
    };
    serde_json::to_writer(&mut *out, &resp).expect("writing JSON into memory cannot fail");
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compute_table() {
        let t: &[(Op, &[i64], Result<i64, CalcError>)] = &[
            (Op::Add, &[12, 5], Ok(17)),
            (Op::Sub, &[12, 5], Ok(7)),
            (Op::Mul, &[-3, 5, 2], Ok(-30)),
            (Op::Div, &[7, 2], Ok(3)),
            (Op::Div, &[-7, 2], Ok(-3)),
            (Op::Div, &[1, 0], Err(CalcError::DivisionByZero)),
            (Op::Div, &[i64::MIN, -1], Err(CalcError::Overflow)),
            (Op::Add, &[i64::MAX, 1], Err(CalcError::Overflow)),
            (Op::Mul, &[i64::MAX, 2], Err(CalcError::Overflow)),
            (Op::Sub, &[i64::MIN, 1], Err(CalcError::Overflow)),
            (Op::Add, &[1], Err(CalcError::TooFewOperands)),
            (Op::Add, &[], Err(CalcError::TooFewOperands)),
        ];
        for (op, xs, want) in t {
            assert_eq!(compute(*op, xs), *want, "{op:?} {xs:?}");
        }
        assert_eq!(formula(Op::Sub, &[12, 5], 7), "12 - 5 = 7");
    }

    #[test]
    fn go_style_names_are_accepted() {
        let r = parse_request(br#"{"ID": 9, "Operands": [1, 2], "Operator": "+"}"#).unwrap();
        assert_eq!(
            (r.id, r.operands.as_slice(), r.operator.as_str()),
            (9, &[1, 2][..], "+")
        );
        let r = parse_response(br#"{"ID":9,"Formula":"1 + 2 = 3","Result":3,"Err":null}"#).unwrap();
        assert_eq!(
            r,
            ResponseIn {
                id: Some(9),
                result: Some(3),
                error: None
            }
        );
        // Go's errors.New serializes as {}
        let r = parse_response(br#"{"ID":9,"Result":0,"Err":{}}"#).unwrap();
        assert!(r.error.is_some());
        let r = parse_response(br#"{"id":9,"result":0,"error":"division by zero"}"#).unwrap();
        assert_eq!(r.error.as_deref(), Some("division by zero"));
        let r = parse_response(br#"{"id":9,"result":3,"extra":[1,{"a":2}]}"#).unwrap();
        assert_eq!(r.error, None);
    }

    #[test]
    fn answers_errors_as_error_responses() {
        let mut out = Vec::new();
        answer(
            &mut out,
            &RequestIn {
                id: 4,
                operands: vec![1, 0],
                operator: "/".into(),
            },
        );
        let r = parse_response(&out[..out.len() - 1]).unwrap();
        assert_eq!(
            (r.id, r.error.as_deref()),
            (Some(4), Some("division by zero"))
        );
        out.clear();
        answer(
            &mut out,
            &RequestIn {
                id: 5,
                operands: vec![i64::MAX, 1],
                operator: "+".into(),
            },
        );
        assert!(String::from_utf8_lossy(&out).contains("integer overflow"));
        out.clear();
        answer(
            &mut out,
            &RequestIn {
                id: 6,
                operands: vec![2, 3],
                operator: "*".into(),
            },
        );
        assert_eq!(
            out,
            b"{\"id\":6,\"formula\":\"2 * 3 = 6\",\"result\":6,\"error\":null}\n"
        );
    }

    fn flip_case(s: &str, mask: u64) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn names_match_in_any_case(mask in any::<u64>(), id in any::<i64>(), a in any::<i64>(), b in any::<i64>()) {
            let text = format!(
                r#"{{"{}": {id}, "{}": [{a}, {b}], "{}": "-"}}"#,
                flip_case("id", mask), flip_case("operands", mask >> 2), flip_case("operator", mask >> 10)
            );
            let r = parse_request(text.as_bytes()).unwrap();
            prop_assert_eq!(r.id, id);
            prop_assert_eq!(r.operands, vec![a, b]);
            let mut out = Vec::new();
            answer(&mut out, &parse_request(text.as_bytes()).unwrap());
            let resp = parse_response(&out[..out.len() - 1]).unwrap();
            prop_assert_eq!(resp.id, Some(id));
            match a.checked_sub(b) {
                Some(v) => { prop_assert_eq!(resp.result, Some(v)); prop_assert_eq!(resp.error, None); }
                None => prop_assert_eq!(resp.error.as_deref(), Some("integer overflow")),
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_request(&bytes);
            let _ = parse_response(&bytes);
        }

        #[test]
        fn requests_round_trip(id in any::<i64>(), xs in proptest::collection::vec(any::<i64>(), 2..5), op in 0usize..4) {
            let mut out = Vec::new();
            write_request(&mut out, id, &xs, Op::ALL[op]);
            prop_assert_eq!(out.last(), Some(&b'\n'));
            let r = parse_request(&out[..out.len() - 1]).unwrap();
            prop_assert_eq!(r, RequestIn { id, operands: xs, operator: Op::ALL[op].symbol().to_string() });
        }
    }
}
