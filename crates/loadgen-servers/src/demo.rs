//! The journey demo API of `serve http`, under `/api/`: a login that issues a bearer
//! token and a session cookie, items listed with the token, a cart kept by the session
//! cookie, things created, read and deleted, a home page that sets a visitor cookie — and
//! `/api/stats`, the server's own count of what it issued and what came back, so a test
//! can check a journey run on both sides.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /api/login` `{"user": …}` | `{"token": …, "user": …}`, `Set-Cookie: session=…` |
//! | `GET /api/items` (bearer) | `{"count": 3, "items": [{"id": 1, "name": …}, …]}` |
//! | `GET /api/items/{id}` (bearer) | `{"id": …, "name": …}`, 404 past 3 |
//! | `GET /api/home` | `Set-Cookie: visitor=…` unless the request brings one |
//! | `POST /api/cart` `{"id": …}` (session cookie) | `{"count": N}` (items in the cart) |
//! | `GET /api/cart` (session cookie) | `{"count": N}` |
//! | `POST /api/things` | 201 `{"id": N}` |
//! | `GET /api/things/{id}`, `DELETE /api/things/{id}` | 200 `{"id": N}` / 204; 404 when unknown |
//! | `GET /api/stats` | every counter, as JSON |
//!
//! Tokens and sessions are checked without being stored (a keyed hash of a counter);
//! carts and things are held in bounded maps. A missing or unknown token is `401`, a
//! missing session `401`, a bad body `400`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// The most things alive at once (more are refused with 507).
pub const MAX_THINGS: usize = 1_000_000;
/// The most carts kept (the map is cleared when it is full).
pub const MAX_CARTS: usize = 100_000;

const ITEMS: [&str; 3] = ["apple", "pear", "plum"];

/// Counters of what the API issued and what came back.
#[derive(Debug, Default)]
pub struct Counters {
    /// Logins answered (a token and a session issued each).
    pub logins: AtomicU64,
    /// Requests that brought a valid bearer token.
    pub tokens_seen: AtomicU64,
    /// Requests refused for a missing or unknown token.
    pub tokens_refused: AtomicU64,
    /// Cookies set (sessions and visitors).
    pub cookies_set: AtomicU64,
    /// Requests that brought back a cookie the API set.
    pub cookies_returned: AtomicU64,
    /// Things created.
    pub created: AtomicU64,
    /// Things read.
    pub read: AtomicU64,
    /// Things deleted.
    pub deleted: AtomicU64,
    /// Items added to carts.
    pub cart_adds: AtomicU64,
}

/// The API's state, shared by every connection.
#[derive(Debug)]
pub struct Demo {
    counters: Counters,
    secret: u64,
    next: AtomicU64,
    things: Mutex<HashSet<u64>>,
    carts: Mutex<HashMap<u64, u64>>,
}

impl Default for Demo {
    fn default() -> Self {
        let secret = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64);
        Demo {
            counters: Counters::default(),
            secret: mix(secret),
            next: AtomicU64::new(1),
            things: Mutex::default(),
            carts: Mutex::default(),
        }
    }
}

/// An answer of the API.
pub struct Answer {
    /// The status.
    pub status: u16,
    /// Headers to add.
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON).
    pub body: Bytes,
}

fn json(status: u16, v: serde_json::Value) -> Answer {
    Answer {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: Bytes::from(v.to_string()),
    }
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The request parts the API reads.
pub struct Ask<'a> {
    /// The method.
    pub method: &'a http::Method,
    /// The path (no query).
    pub path: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a [u8]>,
    /// The `Cookie` headers.
    pub cookies: Vec<&'a [u8]>,
    /// The body.
    pub body: &'a [u8],
}

impl Demo {
    fn sign(&self, kind: char, n: u64) -> String {
        format!(
            "{kind}{n:x}.{:016x}",
            mix(self.secret ^ mix(n ^ kind as u64))
        )
    }

    /// The counter of a token or session this API signed.
    fn verify(&self, kind: char, s: &str) -> Option<u64> {
        let rest = s.strip_prefix(kind)?;
        let (n, _) = rest.split_once('.')?;
        let n = u64::from_str_radix(n, 16).ok()?;
        (self.sign(kind, n) == s).then_some(n)
    }

    fn cookie<'a>(ask: &'a Ask<'_>, name: &str) -> Option<&'a str> {
        ask.cookies
            .iter()
            .filter_map(|c| std::str::from_utf8(c).ok())
            .flat_map(|c| c.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    fn bearer(&self, ask: &Ask<'_>) -> bool {
        let ok = ask
            .authorization
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| self.verify('t', t.trim()).is_some());
        let c = &self.counters;
        if ok {
            c.tokens_seen.fetch_add(1, Ordering::Relaxed);
        } else {
            c.tokens_refused.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    fn session(&self, ask: &Ask<'_>) -> Option<u64> {
        let n = Self::cookie(ask, "session").and_then(|s| self.verify('s', s))?;
        self.counters
            .cookies_returned
            .fetch_add(1, Ordering::Relaxed);
        Some(n)
    }

    fn id_of(path: &str, prefix: &str) -> Option<u64> {
        path.strip_prefix(prefix)?.parse().ok()
    }

    /// Answers one request to `/api/…`.
    pub fn handle(&self, ask: &Ask<'_>) -> Answer {
        use http::Method;
        let c = &self.counters;
        let unauthorized = || json(401, serde_json::json!({"error": "unauthorized"}));
        let not_found = || json(404, serde_json::json!({"error": "not found"}));
        let body: Option<serde_json::Value> = serde_json::from_slice(ask.body).ok();
        match (ask.method, ask.path) {
            (&Method::POST, "/api/login") => {
                let Some(user) = body
                    .as_ref()
                    .and_then(|b| b.get("user"))
                    .and_then(|u| u.as_str())
                else {
                    return json(
                        400,
                        serde_json::json!({"error": "expected {\"user\": NAME}"}),
                    );
                };
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                c.logins.fetch_add(1, Ordering::Relaxed);
                c.cookies_set.fetch_add(1, Ordering::Relaxed);
                let mut a = json(
                    200,
                    serde_json::json!({"token": self.sign('t', n), "user": user}),
                );
                a.headers.push((
                    "set-cookie",
                    format!("session={}; Path=/api; HttpOnly", self.sign('s', n)),
                ));
                a
            }
            (&Method::GET, "/api/items") => {
                if !self.bearer(ask) {
                    return unauthorized();
                }
                let items: Vec<_> = ITEMS
                    .iter()
                    .enumerate()
                    .map(|(i, n)| serde_json::json!({"id": i + 1, "name": n}))
                    .collect();
                json(
                    200,
                    serde_json::json!({"count": items.len(), "items": items}),
                )
            }
            (&Method::GET, p) if p.starts_with("/api/items/") => {
                if !self.bearer(ask) {
                    return unauthorized();
                }
                match Self::id_of(p, "/api/items/") {
                    Some(id @ 1..=3) => json(
                        200,
                        serde_json::json!({"id": id, "name": ITEMS[id as usize - 1]}),
                    ),
                    _ => not_found(),
                }
            }
            (&Method::GET, "/api/home") => {
                let back =
                    Self::cookie(ask, "visitor").is_some_and(|v| self.verify('v', v).is_some());
                let mut a = json(200, serde_json::json!({"welcome": true, "returning": back}));
                if back {
                    c.cookies_returned.fetch_add(1, Ordering::Relaxed);
                } else {
                    let n = self.next.fetch_add(1, Ordering::Relaxed);
                    c.cookies_set.fetch_add(1, Ordering::Relaxed);
                    a.headers.push((
                        "set-cookie",
                        format!("visitor={}; Path=/", self.sign('v', n)),
                    ));
                }
                a
            }
            (m, "/api/cart") if m == Method::GET || m == Method::POST => {
                let Some(s) = self.session(ask) else {
                    return unauthorized();
                };
                let mut carts = self.carts.lock().unwrap_or_else(|p| p.into_inner());
                if carts.len() >= MAX_CARTS && !carts.contains_key(&s) {
                    carts.clear();
                }
                let n = carts.entry(s).or_insert(0);
                if m == Method::POST {
                    if body.as_ref().and_then(|b| b.get("id")).is_none() {
                        return json(400, serde_json::json!({"error": "expected {\"id\": N}"}));
                    }
                    *n += 1;
                    c.cart_adds.fetch_add(1, Ordering::Relaxed);
                }
                json(200, serde_json::json!({"count": *n}))
            }
            (&Method::POST, "/api/things") => {
                let mut things = self.things.lock().unwrap_or_else(|p| p.into_inner());
                if things.len() >= MAX_THINGS {
                    return json(507, serde_json::json!({"error": "too many things"}));
                }
                let id = self.next.fetch_add(1, Ordering::Relaxed);
                things.insert(id);
                c.created.fetch_add(1, Ordering::Relaxed);
                json(201, serde_json::json!({"id": id}))
            }
            (m, p) if p.starts_with("/api/things/") => {
                let Some(id) = Self::id_of(p, "/api/things/") else {
                    return not_found();
                };
                let mut things = self.things.lock().unwrap_or_else(|p| p.into_inner());
                match *m {
                    Method::GET if things.contains(&id) => {
                        c.read.fetch_add(1, Ordering::Relaxed);
                        json(200, serde_json::json!({"id": id}))
                    }
                    Method::DELETE if things.remove(&id) => {
                        c.deleted.fetch_add(1, Ordering::Relaxed);
                        Answer {
                            status: 204,
                            headers: Vec::new(),
                            body: Bytes::new(),
                        }
                    }
                    _ => not_found(),
                }
            }
            (&Method::GET, "/api/stats") => {
                let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
                json(
                    200,
                    serde_json::json!({
                        "logins": g(&c.logins),
                        "tokens_issued": g(&c.logins),
                        "tokens_seen": g(&c.tokens_seen),
                        "tokens_refused": g(&c.tokens_refused),
                        "cookies_set": g(&c.cookies_set),
                        "cookies_returned": g(&c.cookies_returned),
                        "created": g(&c.created),
                        "read": g(&c.read),
                        "deleted": g(&c.deleted),
                        "cart_adds": g(&c.cart_adds),
                        "things_alive": self.things.lock().map_or(0, |t| t.len()),
                    }),
                )
            }
            _ => not_found(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask<'a>(method: &'a http::Method, path: &'a str, body: &'a [u8]) -> Ask<'a> {
        Ask {
            method,
            path,
            authorization: None,
            cookies: Vec::new(),
            body,
        }
    }

    #[test]
    fn tokens_sessions_and_things() {
        let d = Demo::default();
        let post = http::Method::POST;
        let get = http::Method::GET;
        let del = http::Method::DELETE;
        let a = d.handle(&ask(&post, "/api/login", br#"{"user":"ann"}"#));
        assert_eq!(a.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        let token = format!("Bearer {}", v["token"].as_str().unwrap());
        let cookie = a.headers[1].1.split(';').next().unwrap().to_string();
        let mut items = ask(&get, "/api/items", b"");
        assert_eq!(d.handle(&items).status, 401);
        items.authorization = Some(token.as_bytes());
        assert_eq!(d.handle(&items).status, 200);
        let forged = "Bearer t1.0000000000000000".to_string();
        items.authorization = Some(forged.as_bytes());
        assert_eq!(d.handle(&items).status, 401);
        let mut cart = ask(&post, "/api/cart", br#"{"id":2}"#);
        cart.cookies = vec![cookie.as_bytes()];
        assert_eq!(d.handle(&cart).body, Bytes::from(r#"{"count":1}"#));
        let t = d.handle(&ask(&post, "/api/things", b""));
        assert_eq!(t.status, 201);
        let id: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
        let path = format!("/api/things/{}", id["id"]);
        assert_eq!(d.handle(&ask(&get, &path, b"")).status, 200);
        assert_eq!(d.handle(&ask(&del, &path, b"")).status, 204);
        assert_eq!(d.handle(&ask(&del, &path, b"")).status, 404);
        let s: serde_json::Value =
            serde_json::from_slice(&d.handle(&ask(&get, "/api/stats", b"")).body).unwrap();
        assert_eq!(
            (&s["tokens_issued"], &s["tokens_seen"], &s["tokens_refused"]),
            (&1.into(), &1.into(), &2.into())
        );
        assert_eq!(
            (&s["created"], &s["deleted"], &s["cookies_returned"]),
            (&1.into(), &1.into(), &1.into())
        );
    }
}
