//! Reading one HTTP/1.1 response from a byte stream, with every part bounded: the head, a
//! chunk-size line (extensions included) and the trailers at [`MAX_HEAD`] each; the body
//! is read through a fixed window and, when a text is expected in it, searched as a stream
//! ([`BodyMatch`]) — so no response, however large or however malformed, costs more than
//! a few times [`MAX_HEAD`] of memory. The response head is parsed in place by `httparse`.
//!
//! Generic over the stream, so the fuzz targets and tests feed it bytes directly.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::body_match::BodyMatch;
use crate::outcome::Failure;

/// The most bytes of a response head, of one chunk-size line, or of the trailers.
pub const MAX_HEAD: usize = 64 * 1024;
/// The read buffer of a connection (it grows, up to twice [`MAX_HEAD`], for a long head).
const BUF: usize = 16 * 1024;

const EOF_MID: &str = "connection closed before the response was complete";

/// A connection and its read buffer (`buf[start..end]` is unread).
pub struct Conn<S> {
    /// The stream.
    pub stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes read for the current request (a retry is only safe while this is 0).
    pub got: usize,
}

impl<S: AsyncRead + Unpin> Conn<S> {
    /// A connection over `stream` with an empty buffer.
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            buf: vec![0; BUF],
            start: 0,
            end: 0,
            got: 0,
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The read buffer's size (it never exceeds twice [`MAX_HEAD`]).
    pub fn buffer_len(&self) -> usize {
        self.buf.len()
    }

    /// True when bytes are buffered beyond the last response.
    pub fn has_unread(&self) -> bool {
        self.start != self.end
    }

    /// Forgets the buffered bytes (between requests).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.start == self.end {
            self.clear();
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // only a head, a chunk line or trailers fill the buffer unread: each is
                // capped at MAX_HEAD before this is reached twice
                let n = (self.buf.len() * 2).min(2 * MAX_HEAD);
                self.buf.resize(n, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        self.got += n;
        Ok(n)
    }

    /// Reads more, or fails: at the end of the stream, or when `what` already fills
    /// [`MAX_HEAD`] without ending.
    async fn more(&mut self, what: &str) -> Result<(), Failure> {
        if self.end - self.start >= MAX_HEAD {
            return Err(Failure::response(format!("{what} over 64 KiB")));
        }
        if self.fill().await? == 0 {
            return Err(Failure::call(EOF_MID));
        }
        Ok(())
    }
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The head's length in bytes.
    pub len: usize,
    /// The body length, if given.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The server will close the connection after the response.
    pub close: bool,
}

/// The most header lines of a response head (hyper's limit too: more is a
/// `response_error` in every client).
pub const MAX_HEADERS: usize = 100;

/// A Content-Length value: digits, or a list of the same digits (`2, 2`, as a proxy may
/// join repeated headers); anything else (`+2`, `-1`, `2, 3`) is refused.
fn content_length(v: &[u8]) -> Option<u64> {
    let mut out = None;
    for part in v.split(|&b| b == b',') {
        let p = part.trim_ascii();
        if p.is_empty() || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: u64 = std::str::from_utf8(p).ok()?.parse().ok()?;
        if out.is_some_and(|o| o != n) {
            return None;
        }
        out = Some(n);
    }
    out
}

/// Parses a response head; `Ok(None)` while it is incomplete.
///
/// Framing as RFC 9112 §6 (and hyper) read it: `Transfer-Encoding` wins over
/// `Content-Length`; the body is chunked when the last coding of all its lines is
/// `chunked`, and otherwise read to the end of the stream; a response with both, or a
/// `101`, leaves a connection that is not reused.
pub fn parse_head(bytes: &[u8]) -> Result<Option<Head>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Failure::response(format!("bad response head: {e}"))),
    };
    let mut head = Head {
        status: resp.code.unwrap_or(0),
        len,
        content_length: None,
        chunked: false,
        close: resp.version == Some(0) || resp.code == Some(101),
    };
    let mut te = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v =
                content_length(h.value).ok_or_else(|| Failure::response("bad Content-Length"))?;
            if head.content_length.is_some_and(|old| old != v) {
                return Err(Failure::response("conflicting Content-Length headers"));
            }
            head.content_length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te = true;
            // the last coding of the last line decides
            head.chunked = h
                .value
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .rfind(|c| !c.is_empty())
                .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            if contains_token(h.value, b"close") {
                head.close = true;
            } else if contains_token(h.value, b"keep-alive") && head.status != 101 {
                head.close = false;
            }
        }
    }
    if te {
        // Transfer-Encoding overrides Content-Length; with both, the connection is not
        // to be trusted with another request (a smuggling pattern)
        if head.content_length.take().is_some() {
            head.close = true;
        }
        if !head.chunked {
            head.close = true; // read to the end of the stream
        }
    }
    Ok(Some(head))
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// What a client keeps of a response as it reads it: a text searched for in the body
/// ([`BodyMatch`]), or a journey's headers and body. The readers of every client feed it.
pub trait Sink {
    /// The request is about to be written: its service time starts.
    fn sending(&mut self) {}
    /// True when [`Sink::header`] should be called for each header of the answer.
    fn wants_headers(&self) -> bool {
        false
    }
    /// One header of the final answer.
    fn header(&mut self, name: &[u8], value: &[u8]) {
        let _ = (name, value);
    }
    /// The headers of the final answer, each to [`Sink::header`] if it wants them.
    fn headers(&mut self, map: &http::HeaderMap) {
        if self.wants_headers() {
            for (k, v) in map {
                self.header(k.as_str().as_bytes(), v.as_bytes());
            }
        }
    }
    /// The next piece of the body.
    fn body(&mut self, chunk: &[u8]);
}

impl Sink for BodyMatch<'_> {
    fn body(&mut self, chunk: &[u8]) {
        self.feed(chunk);
    }
}

/// One response as the check needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// The status.
    pub status: u16,
    /// Whether the body contained the expected text (true when none was expected).
    pub body_ok: bool,
    /// Whether the connection may carry another request.
    pub reusable: bool,
}

/// Reads one response: its head (skipping 1xx), then its body by Content-Length, chunks,
/// or up to the end of the stream, searching it for `expect`. `head_only` for a HEAD.
pub async fn read_response<S: AsyncRead + Unpin>(
    c: &mut Conn<S>,
    expect: Option<&[u8]>,
    head_only: bool,
    keepalive: bool,
) -> Result<Read, Failure> {
    let mut body = BodyMatch::new(expect.unwrap_or_default());
    let (status, reusable) = read_into(c, &mut body, head_only, keepalive).await?;
    Ok(Read {
        status,
        body_ok: body.found(),
        reusable,
    })
}

/// Reads one response as [`read_response`] does, into `sink`: its status, and whether the
/// connection may carry another request.
pub async fn read_into<S: AsyncRead + Unpin, K: Sink>(
    c: &mut Conn<S>,
    body: &mut K,
    head_only: bool,
    keepalive: bool,
) -> Result<(u16, bool), Failure> {
    let head = loop {
        match parse_head(c.unread())? {
            Some(h) if (100..200).contains(&h.status) && h.status != 101 => c.start += h.len,
            Some(h) => break h,
            None => c.more("response head").await?,
        }
    };
    if body.wants_headers() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        if resp.parse(&c.unread()[..head.len]).is_ok() {
            for h in resp.headers.iter() {
                body.header(h.name.as_bytes(), h.value);
            }
        }
    }
    c.start += head.len;
    let no_body =
        head_only || head.status == 204 || head.status == 304 || (100..200).contains(&head.status);
    let mut reusable = !head.close && keepalive;
    if no_body {
    } else if head.chunked {
        read_chunks(c, body).await?;
    } else if let Some(n) = head.content_length {
        consume(c, n, body).await?;
    } else {
        // close-delimited: to the end of the stream
        loop {
            body.body(c.unread());
            c.start = c.end;
            if c.fill().await? == 0 {
                break;
            }
        }
        reusable = false;
    }
    if c.has_unread() {
        reusable = false; // bytes after the response: never reuse a confused stream
    }
    Ok((head.status, reusable))
}

async fn read_chunks<S: AsyncRead + Unpin, K: Sink>(
    c: &mut Conn<S>,
    body: &mut K,
) -> Result<(), Failure> {
    loop {
        let (consumed, size) = loop {
            match httparse::parse_chunk_size(c.unread()) {
                Ok(httparse::Status::Complete(x)) => break x,
                Ok(httparse::Status::Partial) => c.more("chunk size line").await?,
                Err(_) => return Err(Failure::response("bad chunk size")),
            }
        };
        c.start += consumed;
        if size == 0 {
            return skip_trailers(c).await;
        }
        consume(c, size, body).await?;
        while c.end - c.start < 2 {
            if c.fill().await? == 0 {
                return Err(Failure::call(EOF_MID));
            }
        }
        if c.unread()[..2] != *b"\r\n" {
            return Err(Failure::response("bad chunk framing"));
        }
        c.start += 2;
    }
}

async fn consume<S: AsyncRead + Unpin, K: Sink>(
    c: &mut Conn<S>,
    mut n: u64,
    body: &mut K,
) -> Result<(), Failure> {
    loop {
        let take = ((c.end - c.start) as u64).min(n) as usize;
        body.body(&c.buf[c.start..c.start + take]);
        c.start += take;
        n -= take as u64;
        if n == 0 {
            return Ok(());
        }
        if c.fill().await? == 0 {
            return Err(Failure::call(EOF_MID));
        }
    }
}

async fn skip_trailers<S: AsyncRead + Unpin>(c: &mut Conn<S>) -> Result<(), Failure> {
    let mut seen = 0usize;
    loop {
        match c.unread().windows(2).position(|w| w == b"\r\n") {
            Some(0) => {
                c.start += 2;
                return Ok(());
            }
            Some(i) => {
                seen += i + 2;
                if seen > MAX_HEAD {
                    return Err(Failure::response("trailers over 64 KiB"));
                }
                c.start += i + 2;
            }
            None => c.more("trailers").await?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.content_length, h.chunked, h.close),
            (200, Some(12), false, false)
        );
        let h = parse_head(
            b"HTTP/1.1 503 x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.chunked && h.close);
        let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert!(h.close);
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        let twice = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n";
        assert!(parse_head(twice).is_err());
        let same = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parse_head(same).unwrap().unwrap().content_length, Some(2));
    }

    fn read(bytes: &[u8], expect: Option<&[u8]>) -> Result<Read, Failure> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut c = Conn::new(bytes);
            read_response(&mut c, expect, false, true).await
        })
    }

    #[test]
    fn reads_bodies_of_every_framing() {
        let r = read(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Some(b"ell"),
        )
        .unwrap();
        assert!(r.body_ok && r.reusable);
        let r = read(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-T: 1\r\n\r\n",
            Some(b"hello"),
        )
        .unwrap();
        assert!(r.body_ok && r.reusable);
        let r = read(b"HTTP/1.1 200 OK\r\n\r\nto the end", Some(b"end")).unwrap();
        assert!(r.body_ok && !r.reusable);
        let r = read(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No\r\n\r\n",
            None,
        )
        .unwrap();
        assert_eq!(r.status, 204);
        let r = read(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxEXTRA", None).unwrap();
        assert!(!r.reusable, "bytes after the response");
    }

    #[test]
    fn hostile_framing_is_refused_within_bounds() {
        // an endless chunk extension
        let mut endless = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;".to_vec();
        endless.extend(std::iter::repeat_n(b'a', 200_000));
        let e = read(&endless, None).unwrap_err();
        assert_eq!(e.outcome, crate::Outcome::ResponseError, "{e}");
        assert!(e.message.contains("chunk size line over 64 KiB"), "{e}");
        // endless trailers
        let mut t = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
        for _ in 0..10_000 {
            t.extend_from_slice(b"X-A: bbbbbbbbbb\r\n");
        }
        assert!(read(&t, None).unwrap_err().message.contains("trailers"));
        // an endless head
        let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
        h.extend(std::iter::repeat_n(b'x', 100_000));
        assert!(
            read(&h, None)
                .unwrap_err()
                .message
                .contains("head over 64 KiB")
        );
        // a short body is a call error, a bad chunk size a response error
        let short = read(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", None).unwrap_err();
        assert_eq!(short.outcome, crate::Outcome::CallError);
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            read(bad, None).unwrap_err().outcome,
            crate::Outcome::ResponseError
        );
    }
}
