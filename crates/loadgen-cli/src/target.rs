//! Target URLs: `[WEIGHT*]SCHEME://HOST:PORT`, resolved before the run so that a bad host
//! is a setup error (exit 1), not a run full of failures.

use std::net::{SocketAddr, ToSocketAddrs};

/// The protocols a target can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// The book's arithmetic service.
    Calc,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Calc => "calc",
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
}

/// Parses and resolves one target.
pub fn parse(raw: &str) -> Result<TargetSpec, String> {
    let (weight, url) = match raw.split_once('*') {
        Some((w, rest)) if !w.contains("://") => {
            let w: u32 = w
                .trim()
                .parse()
                .map_err(|_| format!("target '{raw}': weight '{w}' is not a whole number"))?;
            if w == 0 {
                return Err(format!("target '{raw}': weight must be at least 1"));
            }
            (w, rest.trim())
        }
        _ => (1, raw.trim()),
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "target '{raw}': expected SCHEME://HOST:PORT, e.g. calc://127.0.0.1:7070"
        ));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "calc" => Scheme::Calc,
        other => {
            return Err(format!(
                "target '{raw}': unsupported scheme '{other}' (supported: calc)"
            ));
        }
    };
    let hostport = rest.split(['/', '?', '#']).next().unwrap_or("");
    if hostport.is_empty() {
        return Err(format!("target '{raw}': no host"));
    }
    let has_port = match hostport.rfind(']') {
        Some(i) => hostport[i..].contains(':'),
        None => hostport.contains(':'),
    };
    if !has_port {
        return Err(format!(
            "target '{raw}': no port (e.g. {}://{hostport}:7070)",
            scheme.name()
        ));
    }
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("target '{raw}': cannot resolve '{hostport}': {e}"))?
        .next()
        .ok_or_else(|| format!("target '{raw}': '{hostport}' has no address"))?;
    Ok(TargetSpec {
        url: url.to_string(),
        weight,
        scheme,
        addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_and_weights() {
        let t = parse("calc://127.0.0.1:7070").unwrap();
        assert_eq!((t.weight, t.scheme, t.addr.port()), (1, Scheme::Calc, 7070));
        let t = parse("3*calc://[::1]:9").unwrap();
        assert_eq!((t.weight, t.url.as_str()), (3, "calc://[::1]:9"));
        for bad in [
            "127.0.0.1:7070",
            "ftp://h:1",
            "calc://127.0.0.1",
            "calc://",
            "0*calc://127.0.0.1:1",
            "x*calc://127.0.0.1:1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
