//! Following redirects on one origin: where a `Location` points (RFC 3986 reference
//! resolution) and the request sent there — by the journeys' steps with `follow`, and by
//! `--follow N` for single requests ([`HttpCaller`]'s calls that follow).

use std::sync::Arc;

use super::{Client, HttpCaller, HttpResponse, HttpTarget, body_match, h1, request};
use crate::outcome::Failure;

/// The path (and query) a redirect's `Location` names on the origin of `ep`, resolved
/// against the request's `path` (RFC 3986: absolute, scheme-relative, absolute-path,
/// `?query` and relative references; dot segments removed, the fragment dropped), or why
/// it is not followed (another origin).
pub fn path(loc: &[u8], ep: &HttpTarget, path: &str) -> Result<Vec<u8>, String> {
    let loc = std::str::from_utf8(loc).map_err(|_| "a Location that is not text".to_string())?;
    let loc = loc.trim().split('#').next().unwrap_or("");
    let scheme = if ep.tls { "https" } else { "http" };
    let lower = loc.to_ascii_lowercase();
    let cross = || {
        format!(
            "a redirect to another origin ({}) is not followed",
            loc.chars().take(80).collect::<String>()
        )
    };
    let rest = if let Some(r) = loc.strip_prefix("//") {
        Some(r)
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        if !lower.starts_with(&format!("{scheme}://")) {
            return Err(cross());
        }
        Some(&loc[scheme.len() + 3..])
    } else {
        None
    };
    let target = match rest {
        Some(r) => {
            let split = r.find(['/', '?']).unwrap_or(r.len());
            let (auth, p) = r.split_at(split);
            let default = if ep.tls { 443 } else { 80 };
            let (host, port) = match auth.rsplit_once(':') {
                Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().ok()),
                _ => (auth, Some(default)),
            };
            let same = host.trim_matches(['[', ']']).eq_ignore_ascii_case(&ep.host)
                && port == Some(ep.port);
            if !same {
                return Err(cross());
            }
            if p.is_empty() {
                "/".to_string()
            } else {
                p.to_string()
            }
        }
        None if loc.starts_with('/') => loc.to_string(),
        None if loc.starts_with('?') || loc.is_empty() => {
            format!("{}{loc}", path.split('?').next().unwrap_or("/"))
        }
        None => {
            let dir = path.split('?').next().unwrap_or("/");
            let dir = &dir[..dir.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{loc}")
        }
    };
    Ok(remove_dots(&target).into_bytes())
}

/// A path without `.` and `..` segments (RFC 3986 §5.2.4), its query kept.
fn remove_dots(target: &str) -> String {
    let (p, q) = match target.find('?') {
        Some(i) => target.split_at(i),
        None => (target, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = p.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut p = out.join("/");
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    format!("{p}{q}")
}

/// True for the statuses that redirect (and are followed): 301, 302, 303, 307, 308.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Whether the request after a `status` redirect of a `method` request is a GET without a
/// body: after 303 (but HEAD), and after 301 or 302 of a POST, as browsers and curl do;
/// 307 and 308 keep the method and body.
pub fn to_get(status: u16, method: &str) -> bool {
    (status == 303 && method != "HEAD") || (matches!(status, 301 | 302) && method == "POST")
}

/// The HTTP/1.1 request `wire` sent to `path` instead (and as a GET without its body and
/// body headers when `get`): the request line rewritten, the headers kept.
pub fn rewrite_wire(wire: &[u8], path: &[u8], get: bool) -> Result<Vec<u8>, String> {
    let mut headers = [httparse::EMPTY_HEADER; super::h1::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(wire) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err("the request to redirect does not parse".into()),
    };
    let method = if get {
        "GET"
    } else {
        req.method.unwrap_or("GET")
    };
    let mut out = Vec::with_capacity(wire.len() + path.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in req.headers.iter() {
        if get && request::is_body_header(h.name) {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !get {
        out.extend_from_slice(&wire[head..]);
    }
    Ok(out)
}

/// The request `parts` sent to `path` instead (a GET without its body and body headers
/// when `get`).
pub fn rewrite_parts(
    parts: &super::request::Parts,
    path: &[u8],
    get: bool,
) -> Result<super::request::Parts, String> {
    let mut uri = http::uri::Parts::from(parts.uri.clone());
    uri.path_and_query =
        Some(http::uri::PathAndQuery::try_from(path).map_err(|e| format!("redirect path: {e}"))?);
    let uri = http::Uri::from_parts(uri).map_err(|e| format!("redirect URI: {e}"))?;
    let mut headers = parts.headers.clone();
    if get {
        for name in [
            "content-length",
            "content-type",
            "transfer-encoding",
            "content-encoding",
        ] {
            headers.remove(name);
        }
    }
    Ok(super::request::Parts {
        method: if get {
            http::Method::GET
        } else {
            parts.method.clone()
        },
        uri,
        headers,
        body: if get {
            bytes::Bytes::new()
        } else {
            parts.body.clone()
        },
    })
}

/// What a call that follows redirects keeps of each answer: the body search and the
/// `Location`.
struct Following<'a> {
    want: body_match::BodyMatch<'a>,
    location: Option<Vec<u8>>,
}

impl h1::Sink for Following<'_> {
    fn wants_headers(&self) -> bool {
        true
    }
    fn header(&mut self, name: &[u8], value: &[u8]) {
        if self.location.is_none() && name.eq_ignore_ascii_case(b"location") {
            self.location = Some(value.to_vec());
        }
    }
    fn body(&mut self, chunk: &[u8]) {
        self.want.feed(chunk);
    }
}

impl HttpCaller {
    /// A call that follows up to `--follow` redirects on the target's origin: the answer
    /// is the first that is not one. More hops, or a `Location` seen before in this call,
    /// is a `response_error` (a loop); one to another origin too.
    pub(super) async fn call_following(
        &self,
        req: &request::HttpCall,
        msg: &request::Msg,
    ) -> Result<HttpResponse, Failure> {
        let follow = self.opts.follow;
        let ep = &self.requests.endpoints[req.endpoint];
        let mut current = std::borrow::Cow::Borrowed(msg);
        let mut seen: Vec<Vec<u8>> = vec![request_line(msg).1.into_bytes()];
        let mut idempotent = req.idempotent;
        for hop in 0..=follow {
            let mut sink = Following {
                want: body_match::BodyMatch::new(
                    self.opts.expect_body.as_deref().unwrap_or_default(),
                ),
                location: None,
            };
            let (status, arrived) = match (&self.client, current.as_ref()) {
                (_, request::Msg::Invalid(why)) => {
                    return Err(Failure::new(crate::Outcome::Fatal, why.clone()));
                }
                (Client::Fast(c), request::Msg::Wire(bytes)) => {
                    let x = c
                        .exchange(req.endpoint, bytes, idempotent, req.head, &mut sink)
                        .await?;
                    (x.status, x.arrived)
                }
                (Client::Hyper(c), request::Msg::Parts(parts)) => (
                    c.exchange(req.endpoint, parts, idempotent, &mut sink)
                        .await?,
                    None,
                ),
                _ => {
                    return Err(Failure::new(
                        crate::Outcome::Fatal,
                        "a request built for the other client",
                    ));
                }
            };
            if !is_redirect(status) {
                return Ok(HttpResponse {
                    status,
                    body_ok: sink.want.found(),
                    arrived,
                });
            }
            if hop == follow {
                break;
            }
            let loc = sink
                .location
                .ok_or_else(|| Failure::response(format!("HTTP {status} without a Location")))?;
            let (method, now) = request_line(current.as_ref());
            let next = path(&loc, ep, &now).map_err(Failure::response)?;
            if seen.contains(&next) {
                return Err(Failure::response(format!(
                    "redirect loop: {} again",
                    String::from_utf8_lossy(&next)
                        .chars()
                        .take(80)
                        .collect::<String>()
                )));
            }
            let get = to_get(status, &method);
            idempotent = idempotent || get;
            let rewritten = match current.as_ref() {
                // the head rewritten; a body held apart goes along as it is (no copy)
                request::Msg::Wire(b) => request::Msg::Wire(request::Wire {
                    head: rewrite_wire(&b.head, &next, get)
                        .map_err(|why| Failure::new(crate::Outcome::Fatal, why))?
                        .into(),
                    body: if get {
                        bytes::Bytes::new()
                    } else {
                        b.body.clone()
                    },
                }),
                request::Msg::Parts(p) => request::Msg::Parts(Arc::new(
                    rewrite_parts(p, &next, get)
                        .map_err(|why| Failure::new(crate::Outcome::Fatal, why))?,
                )),
                other => other.clone(),
            };
            seen.push(next);
            current = std::borrow::Cow::Owned(rewritten);
        }
        Err(Failure::response(format!(
            "more than {follow} redirects (--follow {follow})"
        )))
    }
}

/// The method and path (with query) of a request as sent.
fn request_line(msg: &request::Msg) -> (String, String) {
    match msg {
        request::Msg::Wire(b) => {
            let line = b.head.split(|&c| c == b'\r').next().unwrap_or_default();
            let mut parts = line.splitn(3, |&c| c == b' ');
            let method = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let path = String::from_utf8_lossy(parts.next().unwrap_or(b"/")).into_owned();
            (method, path)
        }
        request::Msg::Parts(p) => (
            p.method.to_string(),
            p.uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |pq| pq.to_string()),
        ),
        _ => ("GET".into(), "/".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_on_the_same_origin() {
        let ep = HttpTarget {
            url: "http://shop.test".into(),
            tls: false,
            host: "shop.test".into(),
            port: 80,
            addr: "127.0.0.1:80".parse().unwrap(),
            path: "/".into(),
            unix: None,
            proxy: None,
            connect_timeout: None,
        };
        let r = |loc: &str| {
            path(loc.as_bytes(), &ep, "/a/b/c?x=1").map(|p| String::from_utf8(p).unwrap())
        };
        assert_eq!(r("/d").unwrap(), "/d");
        assert_eq!(r("next").unwrap(), "/a/b/next");
        assert_eq!(r("../up?y=2#frag").unwrap(), "/a/up?y=2");
        assert_eq!(r("?page=2").unwrap(), "/a/b/c?page=2");
        assert_eq!(r("./").unwrap(), "/a/b/");
        assert_eq!(r("HTTP://shop.test:80/z").unwrap(), "/z");
        assert_eq!(r("//shop.test/w").unwrap(), "/w");
        assert_eq!(r("http://SHOP.test").unwrap(), "/");
        assert!(r("https://shop.test/").is_err());
        assert!(r("http://shop.test:8080/").is_err());
        assert!(r("//evil.test/").is_err());
        assert_eq!(remove_dots("/a/../../b/./c/.."), "/b/");
    }

    #[test]
    fn a_redirected_request_keeps_its_headers_and_drops_its_body_for_get() {
        let post = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Type: x\r\nX-K: v\r\n\r\nabc";
        let same = rewrite_wire(post, b"/b?q=1", false).unwrap();
        assert_eq!(
            same,
            b"POST /b?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Type: x\r\nX-K: v\r\n\r\nabc"
        );
        let get = rewrite_wire(post, b"/c", true).unwrap();
        assert_eq!(get, b"GET /c HTTP/1.1\r\nHost: h\r\nX-K: v\r\n\r\n");
        assert!(to_get(303, "PUT") && to_get(302, "POST") && !to_get(307, "POST"));
        assert!(!to_get(303, "HEAD") && !to_get(301, "GET"));
    }
}
