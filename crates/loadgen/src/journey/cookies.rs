//! A journey's cookie jar (RFC 6265): `Set-Cookie` headers parsed by the `cookie` crate,
//! kept by name, domain and path, sent back to the hosts and paths they match, dropped
//! when they expire. Bounded: at most [`MAX_COOKIES`] cookies, the oldest going first.

use std::time::{Duration, SystemTime};

/// The most cookies a jar keeps.
pub const MAX_COOKIES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    name: String,
    value: String,
    domain: String,
    host_only: bool,
    path: String,
    expires: Option<SystemTime>,
    secure: bool,
}

/// The cookies of one journey (or one virtual user).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jar {
    cookies: Vec<Stored>,
}

/// True when `host` is `domain` or a name under it (never for an IP address).
fn domain_match(host: &str, domain: &str) -> bool {
    host.eq_ignore_ascii_case(domain)
        || (host.len() > domain.len()
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
            && host.parse::<std::net::IpAddr>().is_err())
}

/// True when `path` is under the cookie path `cookie`.
fn path_match(path: &str, cookie: &str) -> bool {
    path == cookie
        || (path.starts_with(cookie)
            && (cookie.ends_with('/') || path.as_bytes().get(cookie.len()) == Some(&b'/')))
}

/// The directory of a request path, the default path of its cookies.
fn default_path(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("/");
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].into(),
    }
}

impl Jar {
    /// Keeps the cookie of a `Set-Cookie` value received from `host` for `path` (a value
    /// that does not parse, or names a domain `host` is not under, is ignored).
    pub fn store(&mut self, set_cookie: &[u8], host: &str, path: &str, now: SystemTime) {
        let Ok(text) = std::str::from_utf8(set_cookie) else {
            return;
        };
        let Ok(c) = cookie::Cookie::parse(text) else {
            return;
        };
        let (domain, host_only) = match c.domain().map(|d| d.trim_start_matches('.')) {
            Some(d) if !d.is_empty() => {
                if !domain_match(host, d) {
                    return;
                }
                (d.to_ascii_lowercase(), false)
            }
            _ => (host.to_ascii_lowercase(), true),
        };
        let path = match c.path() {
            Some(p) if p.starts_with('/') => p.to_string(),
            _ => default_path(path),
        };
        // a date too far ahead for the clock (Max-Age=99999999999999999999) never expires
        let expires = match (c.max_age(), c.expires_datetime()) {
            (Some(age), _) => match u64::try_from(age.whole_seconds()) {
                Ok(secs) => now.checked_add(Duration::from_secs(secs)),
                Err(_) => Some(now), // negative: expired
            },
            (None, Some(at)) => match u64::try_from(at.unix_timestamp()) {
                Ok(secs) => SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)),
                Err(_) => Some(SystemTime::UNIX_EPOCH),
            },
            (None, None) => None,
        };
        self.cookies
            .retain(|s| !(s.name == c.name() && s.domain == domain && s.path == path));
        if expires.is_some_and(|e| e <= now) {
            return; // an expiry in the past deletes
        }
        if self.cookies.len() >= MAX_COOKIES {
            self.cookies.remove(0);
        }
        self.cookies.push(Stored {
            name: c.name().to_string(),
            value: c.value().to_string(),
            domain,
            host_only,
            path,
            expires,
            secure: c.secure().unwrap_or(false),
        });
    }

    /// Writes the `Cookie` header value for a request to `host` and `path` into `out`
    /// (nothing when no cookie matches).
    pub fn header(&self, host: &str, path: &str, https: bool, now: SystemTime, out: &mut Vec<u8>) {
        let path = path.split('?').next().unwrap_or("/");
        for s in &self.cookies {
            let host_ok = if s.host_only {
                host.eq_ignore_ascii_case(&s.domain)
            } else {
                domain_match(host, &s.domain)
            };
            if !host_ok
                || !path_match(path, &s.path)
                || (s.secure && !https)
                || s.expires.is_some_and(|e| e <= now)
            {
                continue;
            }
            if !out.is_empty() {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(s.name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(s.value.as_bytes());
        }
    }

    /// The value of the cookie named `name` (the most recently set, if several).
    pub fn get(&self, name: &str, now: SystemTime) -> Option<&str> {
        self.cookies
            .iter()
            .rev()
            .find(|s| s.name == name && s.expires.is_none_or(|e| e > now))
            .map(|s| s.value.as_str())
    }

    /// True when it holds no cookie.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Forgets every cookie.
    pub fn clear(&mut self) {
        self.cookies.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(j: &Jar, host: &str, path: &str, https: bool) -> String {
        let mut out = Vec::new();
        j.header(host, path, https, SystemTime::now(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn stores_matches_and_expires() {
        let now = SystemTime::now();
        let mut j = Jar::default();
        j.store(b"sid=abc; Path=/; HttpOnly", "shop.test", "/login", now);
        j.store(b"pref=x", "shop.test", "/a/b", now);
        j.store(b"wide=1; Domain=.test", "shop.test", "/", now);
        j.store(b"evil=1; Domain=other.test", "shop.test", "/", now);
        j.store(b"sec=1; Secure", "shop.test", "/", now);
        assert_eq!(header(&j, "shop.test", "/cart", false), "sid=abc; wide=1");
        assert_eq!(
            header(&j, "shop.test", "/a/c?q=1", true),
            "sid=abc; pref=x; wide=1; sec=1"
        );
        assert_eq!(header(&j, "api.shop.test", "/", false), "wide=1");
        assert_eq!(header(&j, "other.test", "/", false), "wide=1");
        assert_eq!(j.get("sid", now), Some("abc"));
        // replaced, then deleted by an expiry in the past
        j.store(b"sid=def; Path=/", "shop.test", "/", now);
        assert_eq!(j.get("sid", now), Some("def"));
        j.store(b"sid=; Path=/; Max-Age=0", "shop.test", "/", now);
        assert_eq!(j.get("sid", now), None);
        j.store(b"t=1; Max-Age=1", "shop.test", "/", now);
        assert_eq!(j.get("t", now + Duration::from_secs(2)), None);
        j.store(b"garbage", "shop.test", "/", now);
        // an expiry beyond the clock: kept, never expiring (no overflow)
        j.store(
            b"far=1; Max-Age=99999999999999999999",
            "shop.test",
            "/",
            now,
        );
        j.store(
            b"far2=1; Expires=Fri, 31 Dec 9999 23:59:59 GMT",
            "shop.test",
            "/",
            now,
        );
        assert_eq!(
            (j.get("far", now), j.get("far2", now)),
            (Some("1"), Some("1"))
        );
        j.store(b"\xff=1", "shop.test", "/", now);
        for i in 0..(MAX_COOKIES + 10) {
            j.store(format!("c{i}=1").as_bytes(), "shop.test", "/", now);
        }
        assert_eq!(j.cookies.len(), MAX_COOKIES);
        assert!(!path_match("/ab", "/a") && path_match("/a/b", "/a") && path_match("/a", "/a"));
        assert!(!domain_match("127.0.0.1", "0.0.1"));
    }
}
