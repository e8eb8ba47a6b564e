//! Targets files in vegeta's two formats, so that existing files work unchanged.
//!
//! The `http` format: a request line `METHOD URL`, then header lines `Name: value`, an
//! optional `@FILE` line whose file is the body, and a blank line (or the next request
//! line) to end it; lines starting with `#` are comments.
//!
//! ```text
//! GET http://127.0.0.1:8080/users?id=1
//! X-Account-ID: 8675309
//!
//! POST http://127.0.0.1:8080/things
//! Content-Type: application/json
//! @thing.json
//! ```
//!
//! The `json` format: one object per line, `{"method": "GET", "url": "…", "header":
//! {"Name": ["value"]}, "body": "<base64>"}`.
//!
//! The reader streams: it holds one entry at a time, lines are capped at [`MAX_LINE`],
//! and body files at [`MAX_BODY_FILE`] (a body file named again is read once, up to
//! [`BODY_CACHE`] bytes of them). Every error names the file and the line.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;

use crate::error::ConfigError;

/// The longest line a targets file may have.
pub const MAX_LINE: usize = crate::limits::TARGETS_LINE;
/// The largest body file.
pub const MAX_BODY_FILE: u64 = crate::limits::BODY_FILE;
/// Bytes of distinct body files one reading of a targets file may hold (each file is
/// read once, however it is named).
pub const BODY_CACHE: usize = crate::limits::BODY_FILES;
/// Header bytes of one request.
pub const MAX_HEADERS: usize = crate::limits::TARGETS_HEADERS;

/// One request of a targets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its first line (1-based).
    pub line: usize,
    /// The method, as written.
    pub method: String,
    /// The URL, as written.
    pub url: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

/// The two formats of vegeta's `-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `METHOD URL` blocks.
    Http,
    /// JSON lines.
    Json,
}

/// Reads entries one at a time.
pub struct Reader<R> {
    r: R,
    format: Format,
    name: String,
    line: usize,
    buf: Vec<u8>,
    /// A request line read while finishing the entry before it.
    pending: Option<(usize, String)>,
    bodies: BodyFiles,
}

/// Body files: read relative to the working directory, else to the targets file's own.
struct BodyFiles {
    dir: Option<PathBuf>,
    /// By name, and by the file's identity (device, inode): one file named many ways is
    /// read and held once.
    cache: HashMap<String, Bytes>,
    by_file: HashMap<(u64, u64), Bytes>,
    cached: usize,
}

/// A request line starts with a method (upper-case letters) and a space.
fn request_line(line: &str) -> Option<(&str, &str)> {
    let (m, rest) = line.split_once(' ')?;
    (!m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase())).then(|| (m, rest.trim()))
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl<R: BufRead> Reader<R> {
    /// A reader of `r`, named `name` in errors; `dir` is where the file lives (for body
    /// files given relative to it).
    pub fn new(r: R, format: Format, name: &str, dir: Option<&Path>) -> Reader<R> {
        Reader {
            r,
            format,
            name: name.to_string(),
            line: 0,
            buf: Vec::new(),
            pending: None,
            bodies: BodyFiles {
                dir: dir.map(Path::to_path_buf),
                cache: HashMap::new(),
                by_file: HashMap::new(),
                cached: 0,
            },
        }
    }

    fn err(&self, line: usize, why: impl Into<String>) -> ConfigError {
        ConfigError::DataFile {
            file: self.name.clone(),
            line,
            why: why.into(),
        }
    }

    /// The next line without its line break, or `None` at the end.
    fn next_line(&mut self) -> Result<Option<String>, ConfigError> {
        self.buf.clear();
        let n = (&mut self.r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| self.err(self.line + 1, format!("cannot read: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() != Some(&b'\n') && self.buf.len() > MAX_LINE {
            let cap = crate::limits::size(MAX_LINE as u64);
            return Err(self.err(self.line, format!("a line longer than {cap}")));
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(_) => Err(self.err(self.line, "the line is not UTF-8 text")),
        }
    }

    /// The next entry, `None` at the end of the file.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ConfigError> {
        match self.format {
            Format::Http => self.next_http(),
            Format::Json => self.next_json(),
        }
    }

    fn next_http(&mut self) -> Result<Option<Entry>, ConfigError> {
        let (line, first) = match self.pending.take() {
            Some(p) => p,
            None => loop {
                let Some(l) = self.next_line()? else {
                    return Ok(None);
                };
                let t = l.trim();
                if !t.is_empty() && !t.starts_with('#') {
                    break (self.line, t.to_string());
                }
            },
        };
        let (method, url) = request_line(&first).ok_or_else(|| {
            self.err(
                line,
                format!(
                    "expected 'METHOD URL', got '{}'",
                    crate::limits::clip(&first)
                ),
            )
        })?;
        if url.is_empty() {
            return Err(self.err(line, format!("'{method}' without a URL")));
        }
        let mut e = Entry {
            line,
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Bytes::new(),
        };
        let mut has_body = false;
        let mut head = 0usize;
        while let Some(l) = self.next_line()? {
            let t = l.trim();
            if t.is_empty() {
                break;
            }
            if request_line(t).is_some_and(|(_, u)| u.contains("://")) {
                self.pending = Some((self.line, t.to_string()));
                break;
            }
            if t.starts_with('#') {
                continue;
            }
            if let Some(path) = t.strip_prefix('@') {
                if has_body {
                    return Err(self.err(self.line, "a second @body line"));
                }
                has_body = true;
                let at = self.line;
                e.body = self
                    .bodies
                    .read(path.trim())
                    .map_err(|why| self.err(at, why))?;
                continue;
            }
            let (k, v) = t.split_once(':').ok_or_else(|| {
                self.err(
                    self.line,
                    format!(
                        "malformed header line '{}': expected 'Name: value'",
                        crate::limits::clip(t)
                    ),
                )
            })?;
            let k = k.trim();
            if !is_token(k) {
                return Err(self.err(
                    self.line,
                    format!("'{}' is not a header name", crate::limits::clip(k)),
                ));
            }
            head += t.len();
            if head > MAX_HEADERS {
                let cap = crate::limits::size(MAX_HEADERS as u64);
                return Err(self.err(self.line, format!("the headers of a request pass {cap}")));
            }
            e.headers.push((k.to_string(), v.trim().to_string()));
        }
        Ok(Some(e))
    }

    fn next_json(&mut self) -> Result<Option<Entry>, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Json {
            method: String,
            url: String,
            #[serde(default)]
            header: BTreeMap<String, Vec<String>>,
            #[serde(default)]
            body: Option<String>,
        }
        let l = loop {
            let Some(l) = self.next_line()? else {
                return Ok(None);
            };
            if !l.trim().is_empty() {
                break l;
            }
        };
        let j: Json = serde_json::from_str(&l)
            .map_err(|e| self.err(self.line, format!("not a JSON target: {e}")))?;
        if !is_token(&j.method) {
            return Err(self.err(
                self.line,
                format!("'{}' is not a method", crate::limits::clip(&j.method)),
            ));
        }
        let mut headers = Vec::new();
        for (k, vs) in j.header {
            if !is_token(&k) {
                return Err(self.err(
                    self.line,
                    format!("'{}' is not a header name", crate::limits::clip(&k)),
                ));
            }
            headers.extend(vs.into_iter().map(|v| (k.clone(), v)));
        }
        let body = match j.body {
            None => Bytes::new(),
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| self.err(self.line, format!("the body is not base64: {e}")))?
                .into(),
        };
        Ok(Some(Entry {
            line: self.line,
            method: j.method,
            url: j.url,
            headers,
            body,
        }))
    }
}

impl BodyFiles {
    fn read(&mut self, path: &str) -> Result<Bytes, String> {
        if path.is_empty() {
            return Err("'@' without a file".into());
        }
        if let Some(b) = self.cache.get(path) {
            return Ok(b.clone());
        }
        let direct = Path::new(path);
        let found = if direct.is_file() || direct.is_absolute() {
            direct.to_path_buf()
        } else {
            match &self.dir {
                Some(d) if d.join(path).is_file() => d.join(path),
                _ => direct.to_path_buf(),
            }
        };
        let f = std::fs::File::open(&found).map_err(|e| format!("body file {path}: {e}"))?;
        let id = {
            use std::os::unix::fs::MetadataExt;
            f.metadata().ok().map(|m| (m.dev(), m.ino()))
        };
        if let Some(b) = id.and_then(|id| self.by_file.get(&id)) {
            let b = b.clone();
            self.cache.insert(path.to_string(), b.clone());
            return Ok(b);
        }
        let body = crate::limits::read_capped(f, MAX_BODY_FILE)
            .map_err(|e| format!("body file {path}: {e}"))?;
        if self.cached + body.len() > BODY_CACHE {
            return Err(format!(
                "body file {path}: the body files of one targets file hold more than {} in all",
                crate::limits::size(BODY_CACHE as u64)
            ));
        }
        let body = Bytes::from(body);
        self.cached += body.len();
        self.cache.insert(path.to_string(), body.clone());
        if let Some(id) = id {
            self.by_file.insert(id, body.clone());
        }
        Ok(body)
    }
}

/// The format of a file whose first bytes are `head`: JSON when it starts with `{`.
pub fn sniff(head: &[u8]) -> Format {
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Format::Json,
        _ => Format::Http,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str, format: Format) -> Result<Vec<Entry>, ConfigError> {
        let mut r = Reader::new(text.as_bytes(), format, "t.txt", None);
        let mut v = Vec::new();
        while let Some(e) = r.next_entry()? {
            v.push(e);
        }
        Ok(v)
    }

    #[test]
    fn http_format_as_vegeta_writes_it() {
        let text = "# users\nGET http://127.0.0.1:1/a?x=1\nX-Account-ID: 8675309\n\n\nDELETE http://127.0.0.1:1/b\nConfirmation-Token: 90215\nAuthorization: Token DEADBEEF\nGET http://127.0.0.1:1/c\n";
        let v = all(text, Format::Http).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(
            (v[0].line, v[0].method.as_str(), v[0].url.as_str()),
            (2, "GET", "http://127.0.0.1:1/a?x=1")
        );
        assert_eq!(
            v[0].headers,
            vec![("X-Account-ID".to_string(), "8675309".to_string())]
        );
        assert_eq!(v[1].headers.len(), 2);
        assert_eq!((v[2].line, v[2].url.as_str()), (9, "http://127.0.0.1:1/c"));
    }

    #[test]
    fn json_format_with_base64_bodies() {
        let text = "{\"method\":\"POST\",\"url\":\"http://127.0.0.1:1/\",\"header\":{\"A\":[\"1\",\"2\"]},\"body\":\"aGVsbG8=\"}\n\n{\"method\":\"GET\",\"url\":\"http://127.0.0.1:1/x\"}\n";
        assert_eq!(sniff(text.as_bytes()), Format::Json);
        let v = all(text, Format::Json).unwrap();
        assert_eq!(v[0].body, Bytes::from_static(b"hello"));
        assert_eq!(v[0].headers.len(), 2);
        assert_eq!((v[1].line, v[1].body.len()), (3, 0));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let bad = [
            (
                "GET http://127.0.0.1:1/\nnot a header\n",
                Format::Http,
                "t.txt:2: malformed header line 'not a header'",
            ),
            ("\n\nfoo\n", Format::Http, "t.txt:3: expected 'METHOD URL'"),
            (
                "GET http://127.0.0.1:1/\n@/nonexistent/body.json\n",
                Format::Http,
                "t.txt:2: body file /nonexistent/body.json",
            ),
            (
                "GET http://127.0.0.1:1/\n@a\n@a\n",
                Format::Http,
                "t.txt:2: body file a",
            ),
            (
                "{\"method\":\"GET\",\"url\":\"u\"}\n{\"method\":\"GET\",\"url\":\"u\",\"body\":\"!!\"}\n",
                Format::Json,
                "t.txt:2: the body is not base64",
            ),
            (
                "{\"method\":\"GET\"\n",
                Format::Json,
                "t.txt:1: not a JSON target",
            ),
            (
                "GET http://127.0.0.1:1/\nBad Name: 1\n",
                Format::Http,
                "t.txt:2: 'Bad Name' is not a header name",
            ),
        ];
        for (text, f, want) in bad {
            let e = all(text, f).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
        let long = format!("GET http://127.0.0.1:1/{}\n", "a".repeat(MAX_LINE + 10));
        assert!(
            all(&long, Format::Http)
                .unwrap_err()
                .to_string()
                .contains("t.txt:1: a line longer")
        );
    }

    #[test]
    fn body_files_are_read_once_relative_to_the_file() {
        let dir = std::env::temp_dir().join(format!("loadgen-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.json"), b"{\"k\":1}").unwrap();
        let text = "POST http://127.0.0.1:1/\n@b.json\n\nPOST http://127.0.0.1:1/\n@b.json\n";
        let mut r = Reader::new(text.as_bytes(), Format::Http, "t.txt", Some(&dir));
        let a = r.next_entry().unwrap().unwrap();
        let b = r.next_entry().unwrap().unwrap();
        assert_eq!(a.body, Bytes::from_static(b"{\"k\":1}"));
        assert_eq!(a.body.as_ptr(), b.body.as_ptr(), "one read, shared");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
