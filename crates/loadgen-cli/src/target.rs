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
    /// gRPC over HTTP/2 (h2c).
    Grpc,
    /// gRPC over TLS.
    Grpcs,
    /// WebSocket.
    Ws,
    /// WebSocket over TLS.
    Wss,
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
            Scheme::Grpc => "grpc",
            Scheme::Grpcs => "grpcs",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    /// The protocol name in reports (http and https are one protocol).
    pub fn protocol(self) -> &'static str {
        match self {
            Scheme::Https => "http",
            Scheme::Grpcs => "grpc",
            Scheme::Wss => "ws",
            s => s.name(),
        }
    }

    fn default_port(self) -> Option<u16> {
        match self {
            Scheme::Http | Scheme::Ws => Some(80),
            Scheme::Https | Scheme::Wss => Some(443),
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
    /// HTTP through this Unix domain socket (then `addr` is not used).
    pub unix: Option<std::path::PathBuf>,
    /// HTTP through this proxy (then `addr` is not used).
    pub proxy: Option<SocketAddr>,
    /// HTTP and gRPC: the longest a connection may take to open.
    pub connect_timeout: Option<std::time::Duration>,
}

impl TargetSpec {
    /// The HTTP view of this target.
    pub fn http(&self) -> loadgen::protocol::http::HttpTarget {
        loadgen::protocol::http::HttpTarget {
            url: self.url.clone(),
            tls: matches!(self.scheme, Scheme::Https | Scheme::Grpcs | Scheme::Wss),
            host: self.host.clone(),
            port: self.port,
            addr: self.addr,
            path: self.path.clone(),
            unix: self.unix.clone(),
            proxy: self.proxy,
            connect_timeout: self.connect_timeout,
        }
    }
}

/// Where connections go other than to the URL's host: curl's `--connect-to` and
/// `--unix-socket`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    /// `HOST:PORT:TO_HOST:TO_PORT` rules, the first match wins.
    pub connect_to: Vec<ConnectTo>,
    /// HTTP targets connect to this socket.
    pub unix: Option<std::path::PathBuf>,
    /// HTTP targets are reached through this proxy (a CONNECT tunnel).
    pub proxy: Option<SocketAddr>,
    /// HTTP and gRPC connections open within this (`--connect-timeout`).
    pub connect_timeout: Option<std::time::Duration>,
}

/// One `--connect-to HOST:PORT:TO_HOST:TO_PORT` rule (an empty field matches any host or
/// port, or keeps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    host: Option<String>,
    port: Option<u16>,
    to_host: Option<String>,
    to_port: Option<u16>,
}

impl ConnectTo {
    /// Parses curl's form; IPv6 hosts in brackets.
    pub fn parse(s: &str) -> Result<ConnectTo, String> {
        let bad = || {
            format!(
                "--connect-to '{s}': expected HOST:PORT:CONNECT_HOST:CONNECT_PORT (e.g. example.com:443:127.0.0.1:8443)"
            )
        };
        let mut fields = Vec::new();
        let mut rest = s;
        for _ in 0..3 {
            let end = if rest.starts_with('[') {
                rest.find(']').map(|i| i + 1).ok_or_else(bad)?
            } else {
                rest.find(':').unwrap_or(rest.len())
            };
            fields.push(&rest[..end]);
            rest = rest
                .get(end..)
                .and_then(|r| r.strip_prefix(':'))
                .ok_or_else(bad)?;
        }
        fields.push(rest);
        let host =
            |h: &str| (!h.is_empty()).then(|| h.trim_matches(['[', ']']).to_ascii_lowercase());
        let port = |p: &str| -> Result<Option<u16>, String> {
            if p.is_empty() {
                return Ok(None);
            }
            p.parse()
                .ok()
                .filter(|&p| p > 0)
                .map(Some)
                .ok_or_else(|| format!("--connect-to '{s}': '{p}' is not a port"))
        };
        Ok(ConnectTo {
            host: host(fields[0]),
            port: port(fields[1])?,
            to_host: host(fields[2]),
            to_port: port(fields[3])?,
        })
    }
}

impl Routes {
    /// Where to connect for `host:port`: the first matching rule's address, else itself.
    fn route<'a>(&'a self, host: &'a str, port: u16) -> (&'a str, u16) {
        for r in &self.connect_to {
            if r.host
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(host))
                && r.port.is_none_or(|p| p == port)
            {
                return (
                    r.to_host.as_deref().unwrap_or(host),
                    r.to_port.unwrap_or(port),
                );
            }
        }
        (host, port)
    }
}

/// `--proxy http://HOST:PORT`, resolved.
pub fn parse_proxy(raw: &str) -> Result<SocketAddr, String> {
    let bad = || format!("--proxy '{raw}': expected http://HOST:PORT");
    let rest = raw.strip_prefix("http://").unwrap_or(raw);
    let rest = rest.trim_end_matches('/');
    if rest.contains(['/', '@', '?']) || raw.contains("https://") {
        return Err(bad());
    }
    let (host, port) = host_port(raw, rest, Scheme::Http).map_err(|_| bad())?;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("--proxy '{raw}': cannot resolve '{host}': {e}"))?
        .next()
        .ok_or_else(|| format!("--proxy '{raw}': '{host}' has no address"))
}

/// Parses and resolves one target.
pub fn parse(raw: &str) -> Result<TargetSpec, String> {
    parse_via(raw, &Routes::default())
}

/// Parses one target and resolves where its connections go under `routes`.
pub fn parse_via(raw: &str, routes: &Routes) -> Result<TargetSpec, String> {
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
    let http = matches!(
        scheme,
        Scheme::Http | Scheme::Https | Scheme::Grpc | Scheme::Grpcs | Scheme::Ws | Scheme::Wss
    );
    let unix = routes.unix.clone().filter(|_| http);
    let proxy = routes.proxy.filter(|_| http && unix.is_none());
    let addr = if unix.is_some() || proxy.is_some() {
        // not used: connections go to the socket or the proxy (which resolves the host)
        SocketAddr::from(([127, 0, 0, 1], port))
    } else {
        let (to, to_port) = routes.route(host, port);
        (to, to_port)
            .to_socket_addrs()
            .map_err(|e| format!("target '{raw}': cannot resolve '{to}': {e}"))?
            .next()
            .ok_or_else(|| format!("target '{raw}': '{to}' has no address"))?
    };
    Ok(TargetSpec {
        url: url.to_string(),
        weight,
        scheme,
        addr,
        host: host.to_string(),
        port,
        path,
        unix,
        proxy,
        connect_timeout: routes.connect_timeout.filter(|_| http),
    })
}

/// Parses a target whose path and query may hold templates (`{{index}}`): the URL is
/// checked with each template blanked out, and the path keeps them as written. A template
/// before the path (in the host or port) is refused.
pub fn parse_templated(raw: &str, routes: &Routes) -> Result<TargetSpec, String> {
    let Some(first) = raw.find("{{") else {
        return parse_via(raw, routes);
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
    let mut t = parse_via(&plain, routes)?;
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
            "target '{raw}': expected SCHEME://HOST:PORT, e.g. http://127.0.0.1:8080/, grpc://127.0.0.1:50051 (with --call) or calc://127.0.0.1:7070"
        ));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "calc" => Scheme::Calc,
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        "tcp" => Scheme::Tcp,
        "udp" => Scheme::Udp,
        "grpc" => Scheme::Grpc,
        "grpcs" => Scheme::Grpcs,
        "ws" => Scheme::Ws,
        "wss" => Scheme::Wss,
        other => {
            return Err(format!(
                "target '{raw}': unsupported scheme '{other}' (supported: calc, http, https, grpc, grpcs, ws, wss, tcp, udp)"
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

    fn parse_templated_(raw: &str) -> Result<TargetSpec, String> {
        parse_templated(raw, &Routes::default())
    }

    #[test]
    fn connect_to_and_unix_sockets_route_connections() {
        let r = Routes {
            connect_to: vec![
                ConnectTo::parse("api.example.com:443:127.0.0.1:8443").unwrap(),
                ConnectTo::parse("::[::1]:").unwrap(),
            ],
            unix: None,
            proxy: None,
            connect_timeout: None,
        };
        // the first rule: no DNS lookup of api.example.com, Host and SNI stay
        let t = parse_via("https://api.example.com/x", &r).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.addr),
            ("api.example.com", 443, "127.0.0.1:8443".parse().unwrap())
        );
        // the second: any host, any port, to ::1 on the same port
        let t = parse_via("http://localhost:9/", &r).unwrap();
        assert_eq!(t.addr, "[::1]:9".parse().unwrap());
        for bad in ["a:1:b", "a:x:b:1", "a:1:b:0", "[::1:1:b:2"] {
            assert!(ConnectTo::parse(bad).is_err(), "{bad}");
        }
        let u = Routes {
            connect_to: Vec::new(),
            unix: Some("/tmp/x.sock".into()),
            proxy: None,
            connect_timeout: None,
        };
        let t = parse_via("http://svc.invalid/p", &u).unwrap();
        assert_eq!(
            (t.unix.as_deref(), t.host.as_str()),
            (Some(std::path::Path::new("/tmp/x.sock")), "svc.invalid")
        );
        // only HTTP goes through the socket
        assert!(parse_via("calc://svc.invalid:1", &u).is_err());
    }

    #[test]
    fn templates_stay_in_the_path() {
        let t = parse_templated_("2*http://127.0.0.1:9/u/{{index}}?r={{randomInt 1 9}}").unwrap();
        assert_eq!(
            (t.weight, t.path.as_str(), t.url.as_str(), t.port),
            (
                2,
                "/u/{{index}}?r={{randomInt 1 9}}",
                "http://127.0.0.1:9/u/{{index}}?r={{randomInt 1 9}}",
                9
            )
        );
        let t = parse_templated_("http://127.0.0.1:9?id={{uuid}}").unwrap();
        assert_eq!(t.path, "/?id={{uuid}}");
        for bad in [
            "http://{{host}}:9/",
            "http://127.0.0.1:{{port}}/",
            "http://127.0.0.1:9/{{index",
        ] {
            assert!(parse_templated_(bad).is_err(), "{bad}");
        }
    }
}
