//! Fuzz targets: every parser that reads bytes from outside, each behind a function that
//! takes arbitrary bytes, must not panic, and asserts its own properties (bounded buffers,
//! one outcome class whatever the read boundaries, encode∘decode a fixpoint, the
//! accounting invariant after a merge). The `fuzz/` crate runs them under AFL
//! (coverage-guided, `cargo afl`); `tests/fuzz_smoke.rs` replays the seed corpus in
//! `fuzz/corpus/` with a few thousand deterministic mutations ([`mutate`]) in every
//! `cargo test`.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::Outcome;
use crate::protocol::calc::proto;
use crate::protocol::frame::{FrameError, LineReader};
use crate::protocol::http::StatusSet;
use crate::protocol::http::h1::{self, Conn, MAX_HEAD};
use crate::summary::codec::{from_json, to_json};
use crate::summary::merge::merge;

/// A fuzz target: arbitrary bytes in, a panic when a property breaks.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/corpus/NAME` and the `fuzz` crate's binaries name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("calc_frames", calc_frames),
    ("grpc_frames", grpc_frames),
    ("h1_response", h1_response),
    ("summary_json", summary_json),
    ("merge_json", merge_json),
    ("values", values),
    ("requests", requests),
    ("scenario", scenario),
    ("ws_frames", ws_frames),
];

/// Scenario files: read (strict YAML), written back and read again to the same text, their
/// load scheduled, and compiled — every host fixed to 127.0.0.1 (nothing is looked up),
/// no data file read. Whatever the bytes, an error or a program, never a panic.
pub fn scenario(data: &[u8]) {
    use crate::journey::{Journeys, Options};
    use crate::spec::RunSpec;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = RunSpec::from_yaml(text, "f.yaml") else {
        return;
    };
    let yaml = spec.to_yaml();
    let again = RunSpec::from_yaml(&yaml, "f.yaml")
        .unwrap_or_else(|e| panic!("a written scenario does not read back: {e}\n{yaml}"));
    assert_eq!(again.to_yaml(), yaml, "a scenario changed on its way back");
    let _ = spec
        .load
        .load("f.yaml", 1.0, std::time::Duration::from_secs(1));
    let mut opts = Options::new("f.yaml");
    opts.read_files = false;
    opts.resolve = Box::new(|origin| {
        let tls = origin.starts_with("https://");
        Ok(crate::protocol::http::HttpTarget {
            url: origin.to_string(),
            tls,
            host: "127.0.0.1".into(),
            port: 1,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            path: "/".into(),
            unix: None,
            proxy: None,
            connect_timeout: None,
        })
    });
    if let Ok(j) = Journeys::compile(&spec, &opts) {
        assert_eq!(j.targets.len(), spec.scenarios.len());
        assert!(!j.journey_timeout().is_zero());
    }
}

/// Runs a future that never waits (its reads are in memory) to the end.
fn run_now<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("in-memory reads never wait"),
    }
}

/// WebSocket frames a server sends, read by the client: the same messages (or the same
/// failure) whether they come at once or a few bytes at a time; failures only
/// `response_error` or `call_error`; no message over the cap.
pub fn ws_frames(data: &[u8]) {
    use crate::protocol::ws::read_messages;
    let step = 1 + usize::from(data.first().copied().unwrap_or(0) % 13);
    let read = |step| {
        let (lens, end) = run_now(read_messages(Trickle { data, step }, 64));
        assert!(lens.iter().all(|&n| n <= crate::limits::WS_MESSAGE));
        let end = end.map(|f| {
            assert!(
                matches!(f.outcome, Outcome::ResponseError | Outcome::CallError),
                "{f:?}"
            );
            (f.outcome, f.message)
        });
        (lens, end)
    };
    assert_eq!(
        read(usize::MAX),
        read(step),
        "the read boundaries changed the messages"
    );
}

/// An in-memory stream that hands out at most `step` bytes per read; writes are taken and
/// dropped.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl tokio::io::AsyncWrite for Trickle<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.data.len().min(self.step).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

/// Calc frames, both ways: the server's request parser, the client's response parser, and
/// the line reader that cuts frames (at most 64 KiB each) from a stream.
pub fn calc_frames(data: &[u8]) {
    let _ = proto::parse_request(data);
    let _ = proto::parse_response(data);
    let step = 1 + usize::from(data.first().copied().unwrap_or(0)) * 37;
    let mut stream = Trickle { data, step };
    let mut lines = LineReader::new();
    let max = 4096;
    loop {
        match run_now(lines.next(&mut stream, max)) {
            Ok(Some(frame)) => {
                assert!(frame.len() <= max, "a frame over the cap");
                let _ = proto::parse_response(frame);
            }
            Ok(None) | Err(FrameError::TooLong) | Err(FrameError::Truncated) => break,
            Err(FrameError::Io(e)) => panic!("in-memory read failed: {e}"),
        }
    }
}

/// gRPC answer frames: the same messages (or the same failure) whether the DATA comes at
/// once or cut every few bytes; failures are only `response_error`; an unfinished message
/// is never kept over the cap.
pub fn grpc_frames(data: &[u8]) {
    use crate::protocol::grpc::{MAX_MESSAGE, read_frames};
    let whole = read_frames(data, &[]);
    let step = 1 + usize::from(data.first().copied().unwrap_or(0) % 17);
    let cuts: Vec<usize> = (step..data.len()).step_by(step).collect();
    let cut = read_frames(data, &cuts);
    match (&whole, &cut) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "chunking changed the answer"),
        (Err(a), Err(b)) => {
            assert_eq!(a.outcome, crate::Outcome::ResponseError, "{}", a.message);
            assert_eq!(a.outcome, b.outcome);
        }
        _ => panic!("chunking changed the verdict: {whole:?} / {cut:?}"),
    }
    if let Ok((_, _, partial)) = whole {
        assert!(
            partial <= 5 + MAX_MESSAGE,
            "an unfinished message over the cap"
        );
    }
}

/// One HTTP/1.1 response read from the bytes: no panic, a buffer never over twice
/// [`MAX_HEAD`], only `response_error` or `call_error` as failures, and the same result
/// whether the bytes come at once or a few at a time.
pub fn h1_response(data: &[u8]) {
    let (flags, data) = data.split_first().unwrap_or((&0, &[]));
    let expect: Option<&[u8]> = (flags & 1 == 1).then_some(b"needle");
    let head_only = flags & 2 == 2;
    let read = |step: usize| {
        let mut c = Conn::new(Trickle { data, step });
        let r = run_now(h1::read_response(&mut c, expect, head_only, true));
        assert!(c.buffer_len() <= 2 * MAX_HEAD, "buffer {}", c.buffer_len());
        r.map_err(|f| {
            assert!(
                matches!(f.outcome, Outcome::ResponseError | Outcome::CallError),
                "{f:?}"
            );
            f.outcome
        })
    };
    let whole = read(usize::MAX);
    let trickled = read(1 + usize::from(flags >> 2));
    match (whole, trickled) {
        (Ok(a), Ok(b)) => assert_eq!(
            (a.status, a.body_ok),
            (b.status, b.body_ok),
            "the read boundaries changed the answer"
        ),
        (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "{a:?} vs {b:?}"),
    }
}

/// A summary file: refused, or read into a model whose JSON reads back to the same JSON.
pub fn summary_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = from_json(text) {
        assert!(s.agg.counts.invariant_holds());
        let out = to_json(&s);
        let again = from_json(&out).expect("what loadgen writes, it reads");
        assert_eq!(to_json(&again), out, "encode∘decode is a fixpoint");
    }
}

/// Up to four summary files (separated by a 0xFF byte, which JSON text never contains)
/// merged: refused, or a summary whose counts hold the invariant and whose JSON reads back.
pub fn merge_json(data: &[u8]) {
    let inputs: Vec<(String, crate::Summary)> = data
        .split(|&b| b == 0xFF)
        .take(4)
        .enumerate()
        .filter_map(|(i, part)| {
            let s = from_json(std::str::from_utf8(part).ok()?).ok()?;
            Some((format!("shard{i}.json"), s))
        })
        .collect();
    if inputs.is_empty() {
        return;
    }
    if let Ok(m) = merge(&inputs) {
        assert!(m.agg.counts.invariant_holds());
        from_json(&to_json(&m)).expect("a merged summary reads back");
    }
}

/// The value parsers of the command line, one line of text each: durations, status lists,
/// thresholds, stages (and the schedule they make).
pub fn values(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(64) {
        let _ = crate::schedule::parse_duration(line);
        let _ = StatusSet::parse(line);
        let _ = crate::report::threshold::Threshold::parse(line);
        if let Ok(stages) = crate::schedule::Stage::parse_list(line)
            && let Ok(s) = crate::Schedule::stages(0.0, &stages)
        {
            let _ = (s.total(), s.due_ns(0), s.due_ns(u64::MAX));
        }
    }
}

/// Targets files (both formats), the templates of their requests rendered, and data feeds
/// (CSV and JSON lines): refused with the line of the fault, or read. `@` becomes `#` so
/// that no body file is opened.
pub fn requests(data: &[u8]) {
    use crate::caller::data::{DataFeed, DataFormat};
    use crate::caller::template::{Shared, Template};
    use crate::protocol::http::targets::{Format, Reader};
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_ok = |e: &crate::ConfigError| match e {
        crate::ConfigError::DataFile { line, .. } => {
            assert!(*line <= lines, "line {line} of {lines}")
        }
        other => panic!("not a file error: {other}"),
    };
    let feed = match DataFeed::read(data, DataFormat::Csv, "f.csv") {
        Ok(f) => Some(f),
        Err(e) => {
            line_ok(&e);
            None
        }
    };
    if let Err(e) = DataFeed::read(data, DataFormat::JsonLines, "f.jsonl") {
        line_ok(&e);
    }
    let fields = feed
        .as_ref()
        .map(|f| f.columns().to_vec())
        .unwrap_or_default();
    let shared = Shared {
        seed: 1,
        shard: 0,
        data: feed.filter(|f| f.rows() > 0).map(std::sync::Arc::new),
    };
    let text: Vec<u8> = data
        .iter()
        .map(|&b| if b == b'@' { b'#' } else { b })
        .collect();
    for format in [Format::Http, Format::Json] {
        let mut r = Reader::new(&text[..], format, "t.txt", None);
        for _ in 0..64 {
            match r.next_entry() {
                Ok(Some(e)) => {
                    let mut out = bytes::BytesMut::new();
                    for t in [e.url.as_bytes(), &e.body[..]] {
                        if let Ok(t) = Template::compile(t, &fields) {
                            for i in [0, 1, u64::MAX] {
                                out.clear();
                                t.render(&shared.context(i, 0), &mut out);
                            }
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    line_ok(&e);
                    break;
                }
            }
        }
    }
}

/// Byte strings that matter to the parsers: numbers at the edges, JSON and HTTP syntax.
const TOKENS: &[&[u8]] = &[
    b"0",
    b"-1",
    b"1e308",
    b"18446744073709551615",
    b"18446744073709551616",
    b"9223372036854775807",
    b"NaN",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b";",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"ffffffffffffffff\r\n",
    b"0\r\n\r\n",
    b"ms",
    b"s:",
    b"p(99)<",
    b"GET http://127.0.0.1:1/",
    b"{{",
    b"}}",
    b"{{uuid}}",
    b"{{randomInt ",
];

/// Replaces `data` with a mutation of itself: a bit flip, a token, an inserted, deleted or
/// repeated run, a splice from another seed — a small stand-in for AFL's havoc stage.
/// `rng` is a xorshift state (never 0).
pub fn mutate(data: &mut Vec<u8>, seeds: &[Vec<u8>], rng: &mut u64) {
    let mut next = |n: usize| -> usize {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        if n == 0 {
            0
        } else {
            (*rng % n as u64) as usize
        }
    };
    for _ in 0..1 + next(4) {
        let len = data.len();
        let at = next(len + 1);
        match next(7) {
            0 if len > 0 => data[at.min(len - 1)] ^= 1 << next(8),
            1 => {
                let t = TOKENS[next(TOKENS.len())];
                data.splice(at..at, t.iter().copied());
            }
            2 if len > 0 => {
                let end = (at + 1 + next(16)).min(len);
                data.drain(at.min(end)..end);
            }
            3 if len > 0 => {
                // repeat a run: long heads, lines, arrays
                let start = next(len);
                let end = (start + 1 + next(64)).min(len);
                let run = data[start..end].to_vec();
                for _ in 0..1 + next(64) {
                    data.splice(at..at, run.iter().copied());
                }
            }
            4 if !seeds.is_empty() => {
                let other = &seeds[next(seeds.len())];
                let start = next(other.len() + 1);
                let end = (start + next(256)).min(other.len());
                data.splice(at..at, other[start..end].iter().copied());
            }
            5 => data.truncate(at),
            _ if len > 0 => data[at.min(len - 1)] = next(256) as u8,
            _ => data.push(next(256) as u8),
        }
    }
}
