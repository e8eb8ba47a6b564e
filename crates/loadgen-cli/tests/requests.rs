//! What a run sends: targets files in vegeta's formats, templates, data feeds, mTLS.
//! A recording server counts what arrived, byte for byte.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use support::*;

/// One request as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that answers 200 and records every request.
struct Recorder {
    addr: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Recorder {
    fn start() -> Recorder {
        Recorder::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn on(l: TcpListener) -> Recorder {
        let addr = l.local_addr().unwrap().to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming().map_while(Result::ok) {
                let g = g.clone();
                std::thread::spawn(move || answer(s, &g));
            }
        });
        Recorder { addr, got }
    }

    /// A recorder on a Unix domain socket at `path`.
    fn unix(path: &std::path::Path) -> Recorder {
        let _ = std::fs::remove_file(path);
        let l = std::os::unix::net::UnixListener::bind(path).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming().map_while(Result::ok) {
                let g = g.clone();
                std::thread::spawn(move || answer(s, &g));
            }
        });
        Recorder {
            addr: path.display().to_string(),
            got,
        }
    }

    fn take(&self) -> Vec<Got> {
        std::mem::take(&mut *self.got.lock().unwrap())
    }
}

fn answer(mut s: impl Read + Write, got: &Mutex<Vec<Got>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let mut lines = head.split("\r\n");
            let mut first = lines.next().unwrap().split(' ');
            let (method, path) = (
                first.next().unwrap().to_string(),
                first.next().unwrap().to_string(),
            );
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            if buf.len() < end + 4 + len {
                break;
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            got.lock().unwrap().push(Got {
                method,
                path,
                headers,
                body,
            });
            if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .is_err()
            {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn a_targets_file_sends_each_request_equally_bodies_byte_exact() {
    let rec = Recorder::start();
    let a = &rec.addr;
    // a body with CR LF, NUL and bytes that are not UTF-8: sent as it is
    let body: Vec<u8> = b"{\"k\":\r\n1}\0\xff\xfe".to_vec();
    write("tf-body.bin", &body);
    let http = write(
        "tf-targets.txt",
        format!(
            "# three requests\nGET http://{a}/a?x=1\nX-Account-ID: 8675309\n\nPOST http://{a}/b\nContent-Type: application/octet-stream\n@tf-body.bin\n\nDELETE http://{a}/c\nAuthorization: Token DEADBEEF\n"
        ),
    );
    let b64 = "eyJrIjoNCjF9AP/+"; // the same body
    let json = write(
        "tf-targets.json",
        format!(
            "{{\"method\":\"GET\",\"url\":\"http://{a}/a?x=1\",\"header\":{{\"X-Account-ID\":[\"8675309\"]}}}}\n{{\"method\":\"POST\",\"url\":\"http://{a}/b\",\"header\":{{\"Content-Type\":[\"application/octet-stream\"]}},\"body\":\"{b64}\"}}\n{{\"method\":\"DELETE\",\"url\":\"http://{a}/c\",\"header\":{{\"Authorization\":[\"Token DEADBEEF\"]}}}}\n"
        ),
    );
    for (file, client) in [
        (&http, "--threads=2"),
        (&json, "--hyper"),
        (&http, "--hyper"),
    ] {
        let (code, s, err) = run_json(&["--targets", file, "-n", "300", "-c", "8", client]);
        assert_eq!(code, Some(0), "{file} {client}: {err}");
        let s = s.unwrap();
        assert_eq!(s.counts.success, 300, "{file} {client}");
        let rows: Vec<(String, u64)> = s
            .per_target
            .iter()
            .map(|t| (t.target.clone(), t.counts.success))
            .collect();
        assert_eq!(
            rows,
            vec![
                (format!("GET http://{a}/a"), 100),
                (format!("POST http://{a}/b"), 100),
                (format!("DELETE http://{a}/c"), 100)
            ],
            "{file} {client}"
        );
        let got = rec.take();
        let mut by: HashMap<(String, String), Vec<Got>> = HashMap::new();
        for g in got {
            by.entry((g.method.clone(), g.path.clone()))
                .or_default()
                .push(g);
        }
        assert_eq!(by.len(), 3, "{file} {client}: {:?}", by.keys());
        let gets = &by[&("GET".to_string(), "/a?x=1".to_string())];
        let posts = &by[&("POST".to_string(), "/b".to_string())];
        let dels = &by[&("DELETE".to_string(), "/c".to_string())];
        assert_eq!((gets.len(), posts.len(), dels.len()), (100, 100, 100));
        assert!(
            gets.iter()
                .all(|g| g.header("x-account-id") == Some("8675309") && g.body.is_empty())
        );
        assert!(posts.iter().all(
            |g| g.body == body && g.header("content-type") == Some("application/octet-stream")
        ));
        assert!(
            dels.iter()
                .all(|g| g.header("authorization") == Some("Token DEADBEEF"))
        );
    }
}

#[test]
fn uuids_are_distinct_and_a_seed_repeats_a_run() {
    let rec = Recorder::start();
    let url = format!(
        "http://{}/u/{{{{index}}}}?r={{{{randomInt 1 1000000}}}}",
        rec.addr
    );
    let (code, s, err) = run_json(&[
        &url,
        "-n",
        "100000",
        "-c",
        "16",
        "-H",
        "X-Request-Id: {{uuid}}",
        "--body",
        "{\"id\":\"{{uuid}}\",\"n\":{{index}}}",
        "-m",
        "POST",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(s.unwrap().counts.success, 100_000);
    let got = rec.take();
    assert_eq!(got.len(), 100_000);
    let ids: HashSet<&str> = got
        .iter()
        .map(|g| g.header("x-request-id").unwrap())
        .collect();
    assert_eq!(ids.len(), 100_000, "every load its own UUID");
    assert!(
        ids.iter()
            .all(|u| u.len() == 36 && u.as_bytes()[14] == b'4'),
        "version 4"
    );
    let paths: HashSet<&str> = got
        .iter()
        .map(|g| g.path.split('?').next().unwrap())
        .collect();
    assert_eq!(paths.len(), 100_000, "/u/0 … /u/99999");
    assert!(got.iter().all(|g| {
        let b = String::from_utf8_lossy(&g.body);
        b.starts_with("{\"id\":\"") && b.len() > 50
    }));
    // seeded: the same seed, the same values (whatever the threads did); another, others
    let seeded = |seed: &str, threads: &str| {
        let (code, _, err) = run_json(&[
            &url,
            "-n",
            "500",
            "-H",
            "X-Request-Id: {{uuid}}",
            "--seed",
            seed,
            "--threads",
            threads,
        ]);
        assert_eq!(code, Some(0), "{err}");
        let mut v: Vec<(String, String)> = rec
            .take()
            .into_iter()
            .map(|g| {
                (
                    g.path.clone(),
                    g.header("x-request-id").unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let a = seeded("7", "1");
    assert_eq!(a.len(), 500);
    assert_eq!(a, seeded("7", "2"));
    assert_ne!(a, seeded("8", "1"));
}

#[test]
fn a_data_feed_gives_each_load_a_row_in_turn() {
    let rec = Recorder::start();
    let csv = write("feed.csv", "user_id,name\n1,\"Ann, A.\"\n2,Bob\n3,Cy\n");
    let url = format!("http://{}/users/{{{{user_id}}}}", rec.addr);
    let (code, s, err) = run_json(&[
        &url,
        "--data",
        &csv,
        "-n",
        "30",
        "--body",
        "name={{name}}",
        "-m",
        "PUT",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(s.counts.success, 30);
    assert_eq!(
        s.protocol_details.get("data").map(String::as_str),
        Some("3 rows")
    );
    let mut n: HashMap<(String, Vec<u8>), usize> = HashMap::new();
    for g in rec.take() {
        *n.entry((g.path, g.body)).or_default() += 1;
    }
    let want: HashMap<(String, Vec<u8>), usize> = [
        ("/users/1", &b"name=Ann, A."[..]),
        ("/users/2", b"name=Bob"),
        ("/users/3", b"name=Cy"),
    ]
    .into_iter()
    .map(|(p, b)| ((p.to_string(), b.to_vec()), 10))
    .collect();
    assert_eq!(n, want);
}

#[test]
fn bad_files_name_the_file_and_line_before_the_first_load() {
    let rec = Recorder::start();
    let a = &rec.addr;
    let cases = [
        (
            "bad-header.txt",
            format!("GET http://{a}/\nX-Ok: 1\nthis is not a header\n"),
            "bad-header.txt:3: malformed header line",
        ),
        (
            "bad-body.txt",
            format!("GET http://{a}/\n\nPOST http://{a}/\n@no-such-body.json\n"),
            "bad-body.txt:4: body file no-such-body.json",
        ),
        (
            "bad-b64.json",
            format!(
                "{{\"method\":\"GET\",\"url\":\"http://{a}/\"}}\n{{\"method\":\"POST\",\"url\":\"http://{a}/\",\"body\":\"%%%\"}}\n"
            ),
            "bad-b64.json:2: the body is not base64",
        ),
        (
            "bad-url.txt",
            format!("GET http://{a}/\nGET ftp://{a}/\n"),
            "bad-url.txt:2:",
        ),
        (
            "bad-template.txt",
            format!("GET http://{a}/{{{{nope}}}}\n"),
            "bad-template.txt:1:",
        ),
        ("empty.txt", "# nothing\n".to_string(), "no requests"),
    ];
    for (name, text, want) in cases {
        let f = write(name, text);
        let out = run(&["run", "--targets", &f, "-n", "10", "--quiet"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
    let csv = write("bad.csv", "a,b\n1,2\n3\n");
    let url = format!("http://{a}/{{{{a}}}}");
    let out = run(&["run", &url, "--data", &csv, "-n", "10", "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.csv:3:"), "{err}");
    assert!(rec.take().is_empty(), "no load was sent");
}

#[test]
fn a_file_longer_than_memory_holds_streams_in_order() {
    let rec = Recorder::start();
    let a = &rec.addr;
    let mut text = String::new();
    for i in 0..120_000 {
        text.push_str(&format!("GET http://{a}/s/{i}\n"));
    }
    let f = write("long.txt", text);
    let (code, s, err) = run_json(&["--targets", &f, "-n", "2000", "-c", "4"]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(s.counts.success, 2000);
    assert!(
        s.protocol_details["requests"].contains("streamed"),
        "{:?}",
        s.protocol_details
    );
    assert_eq!(s.per_target.len(), 100, "99 URLs and other");
    assert_eq!(s.per_target[99].target, "other");
    let mut paths: Vec<usize> = rec
        .take()
        .iter()
        .map(|g| g.path.trim_start_matches("/s/").parse().unwrap())
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        (0..2000).collect::<Vec<_>>(),
        "the first 2000, once each"
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, PEM files.
fn pki() -> (String, String, String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server, server_key) = leaf("127.0.0.1");
    let (client, client_key) = leaf("client");
    (
        write("ca.pem", ca_cert.pem()),
        write("server.pem", server),
        write("server.key", server_key),
        write("client.pem", client),
        write("client.key", client_key),
    )
}

#[test]
fn mtls_without_a_client_certificate_fails_with_the_alert_with_one_succeeds() {
    let (ca, cert, key, client, client_key) = pki();
    let (_server, addrs, _) = serve(&[
        "http",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-client-ca",
        &ca,
    ]);
    let url = format!("https://{}/", addrs[0]);
    for extra in [&[][..], &["--http2"][..], &["--hyper"][..]] {
        let mut args = vec![url.as_str(), "-n", "20", "--cacert", &ca];
        args.extend_from_slice(extra);
        let (code, s, err) = run_json(&args);
        assert_eq!(code, Some(0), "{extra:?}: {err}");
        let s = s.unwrap();
        assert_eq!(s.counts.call_error, 20, "{extra:?}: {:?}", s.errors);
        // HTTP/1.1 reads the alert before it writes again; an HTTP/2 connection writes its
        // preface at once and may meet the closed socket (broken pipe) before the alert
        if extra != ["--http2"] {
            assert!(
                s.errors
                    .iter()
                    .any(|e| e.message.contains("CertificateRequired")),
                "{extra:?}: the alert: {:?}",
                s.errors
            );
        }
        args.extend_from_slice(&["--cert", &client, "--key", &client_key]);
        let (code, s, err) = run_json(&args);
        assert_eq!(code, Some(0), "{extra:?}: {err}");
        assert_eq!(s.unwrap().counts.success, 20, "{extra:?} with --cert");
    }
    let out = run(&[
        "run", &url, "-n", "1", "--cacert", &ca, "--cert", &ca, "--key", &ca,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("client certificate"), "{err}");
}

#[test]
fn connections_go_where_connect_to_and_unix_socket_say() {
    // --connect-to: the URL names a host that does not resolve; Host stays as written
    let rec = Recorder::start();
    let port = rec.addr.rsplit(':').next().unwrap();
    let rule = format!("api.example.invalid:80:127.0.0.1:{port}");
    let (code, s, err) = run_json(&[
        "http://api.example.invalid/x",
        "--connect-to",
        &rule,
        "-n",
        "5",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(s.unwrap().counts.success, 5);
    let got = rec.take();
    assert_eq!(got.len(), 5);
    assert!(
        got.iter()
            .all(|g| g.header("host") == Some("api.example.invalid") && g.path == "/x")
    );
    let out = run(&[
        "run",
        "http://127.0.0.1:1/",
        "--connect-to",
        "a:b",
        "-n",
        "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--connect-to 'a:b'"), "{err}");

    // --unix-socket, with the fast client, hyper and HTTP/1.1 keep-alive
    let sock = tmp("h.sock");
    let rec = Recorder::unix(&sock);
    for extra in ["--threads=1", "--hyper"] {
        let (code, s, err) = run_json(&[
            "http://svc.invalid/u?q=1",
            "--unix-socket",
            sock.to_str().unwrap(),
            "-n",
            "20",
            extra,
        ]);
        assert_eq!(code, Some(0), "{extra}: {err}");
        assert_eq!(s.unwrap().counts.success, 20, "{extra}");
        let got = rec.take();
        assert_eq!(got.len(), 20, "{extra}");
        assert!(
            got.iter()
                .all(|g| g.header("host") == Some("svc.invalid") && g.path == "/u?q=1")
        );
    }
    // a socket that is not there: every call fails as call_error
    let (code, s, _) = run_json(&[
        "http://svc.invalid/",
        "--unix-socket",
        "/nonexistent/x.sock",
        "-n",
        "3",
    ]);
    assert_eq!((code, s.unwrap().counts.call_error), (Some(0), 3));
}

#[test]
#[cfg_attr(not(has_ipv6), ignore = "needs ::1 (IPv6 loopback)")]
fn ipv6_literal_targets_reach_the_ipv6_loopback() {
    let l = TcpListener::bind("[::1]:0").expect("::1 binds");
    let rec = Recorder::on(l);
    let url = format!("http://{}/v6", rec.addr);
    assert!(url.starts_with("http://[::1]:"), "{url}");
    let (code, s, err) = run_json(&[&url, "-n", "5"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(s.unwrap().counts.success, 5);
    let got = rec.take();
    assert!(
        got.iter()
            .all(|g| g.path == "/v6" && g.header("host").is_some_and(|h| h.starts_with("[::1]:"))),
        "{got:?}"
    );
}

/// A CONNECT proxy on 127.0.0.1 that records what it was asked and tunnels only to
/// 127.0.0.1 (or refuses every tunnel with 407 when `refuse`).
fn connect_proxy(refuse: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let a = asked.clone();
    std::thread::spawn(move || {
        for s in l.incoming().map_while(Result::ok) {
            let a = a.clone();
            std::thread::spawn(move || {
                let mut s = s;
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut b).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                a.lock().unwrap().push(line.clone());
                let to = line.split(' ').nth(1).unwrap_or("").to_string();
                if refuse || !to.starts_with("127.0.0.1:") {
                    let _ = s.write_all(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
                    );
                    return;
                }
                let Ok(up) = std::net::TcpStream::connect(&to) else {
                    let _ = s.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                s.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .unwrap();
                let (mut r1, mut w1) = (s.try_clone().unwrap(), up.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut r1, &mut w1);
                    let _ = w1.shutdown(std::net::Shutdown::Write);
                });
                let (mut r2, mut w2) = (up, s);
                let _ = std::io::copy(&mut r2, &mut w2);
                let _ = w2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, asked)
}

#[test]
fn a_proxy_tunnels_every_connection() {
    let rec = Recorder::start();
    let (proxy, asked) = connect_proxy(false);
    let purl = format!("http://{proxy}");
    for extra in ["--threads=1", "--hyper"] {
        let url = format!("http://{}/p", rec.addr);
        let (code, s, err) = run_json(&[&url, "--proxy", &purl, "-n", "30", "-c", "3", extra]);
        assert_eq!(code, Some(0), "{extra}: {err}");
        assert_eq!(s.unwrap().counts.success, 30, "{extra}");
        assert_eq!(rec.take().len(), 30, "{extra}");
        let seen = std::mem::take(&mut *asked.lock().unwrap());
        assert!(
            !seen.is_empty() && seen.len() <= 3,
            "{extra}: a tunnel per connection: {seen:?}"
        );
        assert!(
            seen.iter()
                .all(|l| *l == format!("CONNECT {} HTTP/1.1", rec.addr)),
            "{seen:?}"
        );
    }
    // a proxy that refuses: every call fails as call_error, its answer named
    let (proxy, _) = connect_proxy(true);
    let (code, s, _) = run_json(&[
        &format!("http://{}/", rec.addr),
        "-x",
        &format!("http://{proxy}"),
        "-n",
        "3",
    ]);
    let s = s.unwrap();
    assert_eq!((code, s.counts.call_error), (Some(0), 3));
    assert!(s.errors[0].message.contains("407"), "{:?}", s.errors);
    let out = run(&[
        "run",
        "http://127.0.0.1:1/",
        "--proxy",
        "ftp://x",
        "-n",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--proxy 'ftp://x'"));
}
