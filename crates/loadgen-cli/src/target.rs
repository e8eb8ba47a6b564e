//! Target URLs: `[WEIGHT*]SCHEME://HOST[:PORT][/PATH]`, resolved before the run so that a
//! bad host is a setup error (exit 1), not a run full of failures.

use std::net::{SocketAddr, ToSocketAddrs};

/// The protocols a target can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// The book's arithmetic service.
    Calc,
    /// HTTP over TCP.
    Http,
    /// HTTP over TLS.
    Https,
    /// Raw TCP.
    Tcp,
    /// UDP datagrams.
    Udp,
}

impl Scheme {
    /// The scheme as written in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Calc => "calc",
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Tcp => "tcp",
            Scheme::Udp => "udp",
        }
    }

    /// The protocol name in reports (http and https are one protocol).
    pub fn protocol(self) -> &'static str {
        match self {
            Scheme::Https => "http",
            s => s.name(),
        }
    }

    fn default_port(self) -> Option<u16> {
        match self {
            Scheme::Http => Some(80),
            Scheme::Https => Some(443),
            _ => None,
        }
    }
}

/// A parsed, resolved target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The URL as given (without the weight).
    pub url: String,
    pub weight: u32,
    pub scheme: Scheme,
    pub addr: SocketAddr,
    /// Host as written (no port).
    pub host: String,
    pub port: u16,
    /// Path and query (`/` when absent).
    pub path: String,
}

impl TargetSpec {
    /// The HTTP view of this target.
    pub fn http(&self) -> loadgen::protocol::http::HttpTarget {
        loadgen::protocol::http::HttpTarget {
            url: self.url.clone(),
            tls: self.scheme == Scheme::Https,
            host: self.host.clone(),
            port: self.port,
            addr: self.addr,
            path: self.path.clone(),
        }
    }
}

/// Parses and resolves one target.
pub fn parse(raw: &str) -> Result<TargetSpec, String> {
    if raw.chars().any(char::is_control) {
        // a CR or LF would end the request line and smuggle a second request
        return Err(format!(
            "target {raw:?}: contains control characters (CR, LF, TAB, ...)"
        ));
    }
    let (weight, url) = weight(raw)?;
    let (scheme, rest) = scheme(raw, url)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (hostport, tail) = rest.split_at(end);
    let tail = tail.split('#').next().unwrap_or("");
    if tail.contains(char::is_whitespace) {
        return Err(format!(
            "target '{raw}': spaces in the path (write them as %20)"
        ));
    }
    let path = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    let (host, port) = host_port(raw, hostport, scheme)?;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("target '{raw}': cannot resolve '{host}': {e}"))?
        .next()
        .ok_or_else(|| format!("target '{raw}': '{host}' has no address"))?;
    Ok(TargetSpec {
        url: url.to_string(),
        weight,
        scheme,
        addr,
        host: host.to_string(),
        port,
        path,
    })
}

/// Parses a target whose path and query may hold templates (`{{index}}`): the URL is
/// checked with each template blanked out, and the path keeps them as written. A template
/// before the path (in the host or port) is refused.
pub fn parse_templated(raw: &str) -> Result<TargetSpec, String> {
    let Some(first) = raw.find("{{") else {
        return parse(raw);
    };
    let mut plain = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find("{{") {
        plain.push_str(&rest[..i]);
        let close = rest[i..]
            .find("}}")
            .ok_or_else(|| format!("target '{raw}': '{{{{' without '}}}}'"))?;
        plain.push('0');
        rest = &rest[i + close + 2..];
    }
    plain.push_str(rest);
    let mut t = parse(&plain)?;
    let (_, url) = weight(raw)?;
    let url_at = raw.len() - url.len();
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_at = url_at
        + after_scheme
        + url[after_scheme..]
            .find(['/', '?', '#'])
            .unwrap_or(url.len() - after_scheme);
    if first < path_at {
        return Err(format!(
            "target '{raw}': templates go in the path and query, not the host or port"
        ));
    }
    let tail = raw[path_at..].split('#').next().unwrap_or("");
    t.path = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    t.url = url.to_string();
    Ok(t)
}

/// `3*URL` → (3, URL); a plain URL has weight 1.
fn weight(raw: &str) -> Result<(u32, &str), String> {
    match raw.split_once('*') {
        Some((w, rest)) if !w.contains("://") => {
            let w: u32 = w
                .trim()
                .parse()
                .map_err(|_| format!("target '{raw}': weight '{w}' is not a whole number"))?;
            if w == 0 {
                return Err(format!("target '{raw}': weight must be at least 1"));
            }
            Ok((w, rest.trim()))
        }
        _ => Ok((1, raw.trim())),
    }
}

/// The scheme of `url` and what follows `://`.
fn scheme<'a>(raw: &str, url: &'a str) -> Result<(Scheme, &'a str), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "target '{raw}': expected SCHEME://HOST:PORT, e.g. calc://127.0.0.1:7070 or http://127.0.0.1:8080/"
        ));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "calc" => Scheme::Calc,
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        "tcp" => Scheme::Tcp,
        "udp" => Scheme::Udp,
        other => {
            return Err(format!(
                "target '{raw}': unsupported scheme '{other}' (supported: calc, http, https, tcp, udp)"
            ));
        }
    };
    Ok((scheme, rest))
}

/// The host (without brackets) and port of `HOST[:PORT]`.
fn host_port<'a>(raw: &str, hostport: &'a str, scheme: Scheme) -> Result<(&'a str, u16), String> {
    if hostport.contains('@') {
        return Err(format!(
            "target '{raw}': user info in URLs is not supported"
        ));
    }
    let (host, port) = match hostport.rfind(':') {
        Some(i) if !hostport[i..].contains(']') => (&hostport[..i], Some(&hostport[i + 1..])),
        _ => (hostport, None),
    };
    let port: u16 = match (port, scheme.default_port()) {
        (Some(p), _) => p
            .parse()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("target '{raw}': '{p}' is not a port"))?,
        (None, Some(p)) => p,
        (None, None) => {
            return Err(format!(
                "target '{raw}': no port (e.g. {}://{hostport}:7070)",
                scheme.name()
            ));
        }
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.is_empty() {
        return Err(format!("target '{raw}': no host"));
    }
    Ok((bare, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_and_weights() {
        let t = parse("calc://127.0.0.1:7070").unwrap();
        assert_eq!((t.weight, t.scheme, t.addr.port()), (1, Scheme::Calc, 7070));
        let t = parse("3*calc://[::1]:9").unwrap();
        assert_eq!(
            (t.weight, t.url.as_str(), t.host.as_str()),
            (3, "calc://[::1]:9", "::1")
        );
        let t = parse("http://127.0.0.1/a/b?c=1#frag").unwrap();
        assert_eq!(
            (t.scheme, t.port, t.path.as_str()),
            (Scheme::Http, 80, "/a/b?c=1")
        );
        let t = parse("https://localhost:8443").unwrap();
        assert_eq!(
            (t.scheme, t.port, t.path.as_str(), t.http().tls),
            (Scheme::Https, 8443, "/", true)
        );
        let t = parse("http://127.0.0.1:8080?x=1").unwrap();
        assert_eq!(t.path, "/?x=1");
        assert_eq!(parse("udp://127.0.0.1:53").unwrap().scheme, Scheme::Udp);
        for bad in [
            "127.0.0.1:7070",
            "ftp://h:1",
            "calc://127.0.0.1",
            "tcp://127.0.0.1",
            "http://:80",
            "http://127.0.0.1:0",
            "http://127.0.0.1:99999",
            "http://u@127.0.0.1",
            "calc://",
            "0*calc://127.0.0.1:1",
            "x*calc://127.0.0.1:1",
            "http://127.0.0.1:1/x HTTP/1.1\r\nHost: injected\r\n\r\nGET /smuggled",
            "http://127.0.0.1:1/a\nb",
            "http://127.0.0.1:1/a b",
            "http://127.0.0.1:1/\u{7f}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_stay_in_the_path() {
        let t = parse_templated("2*http://127.0.0.1:9/u/{{index}}?r={{randomInt 1 9}}").unwrap();
        assert_eq!(
            (t.weight, t.path.as_str(), t.url.as_str(), t.port),
            (
                2,
                "/u/{{index}}?r={{randomInt 1 9}}",
                "http://127.0.0.1:9/u/{{index}}?r={{randomInt 1 9}}",
                9
            )
        );
        let t = parse_templated("http://127.0.0.1:9?id={{uuid}}").unwrap();
        assert_eq!(t.path, "/?id={{uuid}}");
        for bad in [
            "http://{{host}}:9/",
            "http://127.0.0.1:{{port}}/",
            "http://127.0.0.1:9/{{index",
        ] {
            assert!(parse_templated(bad).is_err(), "{bad}");
        }
    }
}
