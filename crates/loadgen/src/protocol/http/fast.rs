//! The fast HTTP/1.1 client: keep-alive connections, the request rendered once into bytes,
//! responses parsed in place with `httparse`. Per request: one write, one or two reads,
//! no allocation (unless the body must be checked).

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{HttpOptions, HttpResponse, HttpTarget, Stream, connect, contains};
use crate::caller::pool::Pool;
use crate::outcome::Failure;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Read buffer of a connection (grows for larger heads).
const BUF: usize = 16 * 1024;

/// Renders the request bytes for `target`.
pub fn render_request(target: &HttpTarget, opts: &HttpOptions) -> Vec<u8> {
    let mut r = Vec::with_capacity(256 + opts.body.len());
    r.extend_from_slice(opts.method.as_bytes());
    r.push(b' ');
    r.extend_from_slice(target.path.as_bytes());
    r.extend_from_slice(b" HTTP/1.1\r\n");
    let has = |name: &str| {
        opts.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    if !has("host") {
        r.extend_from_slice(format!("Host: {}\r\n", target.authority()).as_bytes());
    }
    if !has("user-agent") {
        r.extend_from_slice(
            concat!("User-Agent: loadgen/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
        );
    }
    for (k, v) in &opts.headers {
        r.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    let bodied = !opts.body.is_empty() || matches!(opts.method.as_str(), "POST" | "PUT" | "PATCH");
    if bodied && !has("content-length") {
        r.extend_from_slice(format!("Content-Length: {}\r\n", opts.body.len()).as_bytes());
    }
    if opts.disable_keepalive && !has("connection") {
        r.extend_from_slice(b"Connection: close\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(&opts.body);
    r
}

/// A connection and its read buffer (`buf[start..end]` is unread).
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes read for the current request (a retry is only safe while this is 0).
    got: usize,
}

impl Conn {
    fn new(stream: Stream) -> Conn {
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

    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        self.got += n;
        Ok(n)
    }
}

struct Head {
    status: u16,
    len: usize,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
}

fn parse_head(bytes: &[u8]) -> Result<Option<Head>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
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
        close: resp.version == Some(0),
    };
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            head.content_length = Some(v.ok_or_else(|| Failure::response("bad Content-Length"))?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = contains_token(h.value, b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            if contains_token(h.value, b"close") {
                head.close = true;
            } else if contains_token(h.value, b"keep-alive") {
                head.close = false;
            }
        }
    }
    Ok(Some(head))
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

const EOF_MID: &str = "connection closed before the response was complete";

/// Reads one response; returns it and whether the connection can be reused.
async fn read_response(
    c: &mut Conn,
    opts: &HttpOptions,
    head_only: bool,
) -> Result<(HttpResponse, bool), Failure> {
    let head = loop {
        match parse_head(c.unread())? {
            Some(h) if (100..200).contains(&h.status) && h.status != 101 => c.start += h.len, // 1xx: skip
            Some(h) => break h,
            None => {
                if c.end - c.start >= MAX_HEAD {
                    return Err(Failure::response("response head over 64 KiB"));
                }
                if c.fill().await? == 0 {
                    return Err(Failure::call(EOF_MID));
                }
            }
        }
    };
    c.start += head.len;
    let mut body = opts.expect_body.as_ref().map(|_| Vec::new());
    let no_body =
        head_only || head.status == 204 || head.status == 304 || (100..200).contains(&head.status);
    let mut reusable = !head.close && !opts.disable_keepalive;
    if no_body {
    } else if head.chunked {
        loop {
            let (consumed, size) = loop {
                match httparse::parse_chunk_size(c.unread()) {
                    Ok(httparse::Status::Complete(x)) => break x,
                    Ok(httparse::Status::Partial) => {
                        if c.fill().await? == 0 {
                            return Err(Failure::call(EOF_MID));
                        }
                    }
                    Err(_) => return Err(Failure::response("bad chunk size")),
                }
            };
            c.start += consumed;
            if size == 0 {
                skip_trailers(c).await?;
                break;
            }
            consume(c, size, &mut body).await?;
            consume_crlf(c).await?;
        }
    } else if let Some(n) = head.content_length {
        consume(c, n, &mut body).await?;
    } else {
        // close-delimited
        loop {
            let n = c.end - c.start;
            if let Some(b) = body.as_mut() {
                b.extend_from_slice(c.unread());
            }
            c.start += n;
            if c.fill().await? == 0 {
                break;
            }
        }
        reusable = false;
    }
    if c.start != c.end {
        reusable = false; // bytes after the response: never reuse a confused stream
    }
    let body_ok = match (&opts.expect_body, &body) {
        (Some(want), Some(got)) => contains(got, want),
        _ => true,
    };
    Ok((
        HttpResponse {
            status: head.status,
            body_ok,
            arrived: c.stream.arrived(),
        },
        reusable,
    ))
}

async fn consume(c: &mut Conn, mut n: u64, body: &mut Option<Vec<u8>>) -> Result<(), Failure> {
    loop {
        let avail = (c.end - c.start) as u64;
        let take = avail.min(n) as usize;
        if let Some(b) = body.as_mut() {
            b.extend_from_slice(&c.buf[c.start..c.start + take]);
        }
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

async fn consume_crlf(c: &mut Conn) -> Result<(), Failure> {
    while c.end - c.start < 2 {
        if c.fill().await? == 0 {
            return Err(Failure::call(EOF_MID));
        }
    }
    if c.unread()[..2] != *b"\r\n" {
        return Err(Failure::response("bad chunk framing"));
    }
    c.start += 2;
    Ok(())
}

async fn skip_trailers(c: &mut Conn) -> Result<(), Failure> {
    loop {
        match c.unread().windows(2).position(|w| w == b"\r\n") {
            Some(0) => {
                c.start += 2;
                return Ok(());
            }
            Some(i) => c.start += i + 2,
            None => {
                if c.end - c.start >= MAX_HEAD {
                    return Err(Failure::response("trailers over 64 KiB"));
                }
                if c.fill().await? == 0 {
                    return Err(Failure::call(EOF_MID));
                }
            }
        }
    }
}

struct Endpoint {
    target: HttpTarget,
    request: Vec<u8>,
    pool: Pool<Conn>,
}

/// The fast HTTP/1.1 caller of one shard.
pub struct FastCaller {
    endpoints: Vec<Endpoint>,
    opts: Arc<HttpOptions>,
    tls: Option<Arc<rustls::ClientConfig>>,
    head_only: bool,
    retry_idle_close: bool,
}

impl FastCaller {
    /// A caller for `targets` with at most `connections` per target.
    pub fn new(
        targets: &[HttpTarget],
        connections: u64,
        opts: Arc<HttpOptions>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> FastCaller {
        let endpoints = targets
            .iter()
            .map(|t| Endpoint {
                target: t.clone(),
                request: render_request(t, &opts),
                pool: Pool::new(connections),
            })
            .collect();
        let m = opts.method.as_str();
        FastCaller {
            endpoints,
            head_only: m == "HEAD",
            retry_idle_close: matches!(m, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS"),
            opts,
            tls,
        }
    }

    async fn once(&self, e: &Endpoint, fresh: bool) -> Result<HttpResponse, (Failure, bool)> {
        let dial = || async { Ok(Conn::new(connect(&e.target, self.tls.as_ref()).await?)) };
        let lease = if fresh {
            e.pool.get_fresh(dial).await
        } else {
            e.pool.get(dial).await
        };
        let mut lease = lease.map_err(|f: Failure| (f, false))?;
        let reused = lease.reused();
        let c = lease.get_mut();
        let fresh_fail = |f: Failure, c: &Conn| {
            // a kept-alive connection the server closed while idle: nothing was answered
            let retry = reused && c.got == 0 && f.outcome == crate::Outcome::CallError;
            (f, retry)
        };
        c.got = 0;
        if let Err(err) = c.stream.write_all(&e.request).await {
            return Err(fresh_fail(err.into(), c));
        }
        match read_response(c, &self.opts, self.head_only).await {
            Ok((resp, reusable)) => {
                c.start = 0;
                c.end = 0;
                if reusable {
                    lease.put_back();
                }
                Ok(resp)
            }
            Err(f) => Err(fresh_fail(f, c)),
        }
    }
}

impl FastCaller {
    /// Calls this caller can run at once: its connections over every target.
    pub fn capacity(&self) -> u64 {
        self.endpoints.iter().map(|e| e.pool.cap()).sum()
    }

    /// One request to target `target` and its response.
    pub async fn call(&self, target: usize) -> Result<HttpResponse, Failure> {
        let e = &self.endpoints[target];
        match self.once(e, false).await {
            Ok(r) => Ok(r),
            Err((_, true)) if self.retry_idle_close => self.once(e, true).await.map_err(|(f, _)| f),
            Err((f, _)) => Err(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> HttpTarget {
        HttpTarget {
            url: "http://example.com:8080/a?b=1".into(),
            tls: false,
            host: "example.com".into(),
            port: 8080,
            addr: "127.0.0.1:8080".parse().unwrap(),
            path: "/a?b=1".into(),
        }
    }

    #[test]
    fn renders_requests() {
        let r = render_request(&target(), &HttpOptions::default());
        let text = String::from_utf8(r).unwrap();
        assert!(
            text.starts_with(
                "GET /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: loadgen/"
            )
        );
        assert!(text.ends_with("\r\n\r\n"));
        assert!(!text.contains("Content-Length"));
        let o = HttpOptions {
            method: "POST".into(),
            body: b"hello".to_vec(),
            headers: vec![("X-A".into(), "1".into())],
            disable_keepalive: true,
            ..HttpOptions::default()
        };
        let text = String::from_utf8(render_request(&target(), &o)).unwrap();
        assert!(
            text.contains("X-A: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"),
            "{text}"
        );
    }

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
    }
}
