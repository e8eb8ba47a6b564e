//! What an HTTP run sends: one request per command-line target, or the requests of a
//! targets file (`--targets`), with templates and a data feed (`--data`).
//!
//! A targets file is read once before the run: every line is checked (errors name the
//! file and line), its hosts become endpoints (a connection pool each) and its distinct
//! `METHOD URL` (without the query) become report rows — the first [`MAX_ROWS`]` - 1`,
//! then one "other" row. A file of up to [`IN_MEMORY`] requests (and
//! [`loadgen::limits::TARGETS_HELD`] bytes of them) is then held; a longer one is read
//! again, ahead of the run, by a thread ([`ThreadStream`]), so memory stays flat whatever
//! its length. Standard input and FIFOs are spooled to a file first, up to [`MAX_STDIN`].

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use loadgen::Target;
use loadgen::caller::data::{DataFeed, DataFormat};
use loadgen::caller::template::{self, Template};
use loadgen::protocol::http::request::{
    HttpRequestSpec, HttpRequests, Order, RequestStream, ThreadStream,
};
use loadgen::protocol::http::targets::{self, Entry, Format, Reader};
use loadgen::protocol::http::{HttpOptions, HttpTarget};

use crate::args::{LoadArgs, RunArgs, TargetsFormat, TargetsOrder};
use crate::target::{self, Scheme, TargetSpec};

/// Report rows of a targets file, "other" included.
pub const MAX_ROWS: usize = 100;
/// Hosts a targets file may name.
pub const MAX_ENDPOINTS: usize = 256;
/// Requests of a file held in memory; a longer file streams.
pub const IN_MEMORY: usize = 100_000;
/// Bytes read from standard input.
pub const MAX_STDIN: usize = loadgen::limits::TARGETS_STDIN as usize;

/// Where a run's loads go and how they are reported.
pub struct Source {
    /// Report rows (the plan's targets).
    pub rows: Vec<Target>,
    /// Where connections go.
    pub endpoints: Vec<TargetSpec>,
    /// The requests of a targets file, if any.
    file: Option<TargetsFile>,
}

struct TargetsFile {
    name: String,
    requests: Requests,
    order: TargetsOrder,
    index: Index,
    count: u64,
}

enum Requests {
    Held(std::cell::RefCell<Vec<Entry>>),
    Streamed {
        /// The file read again at each pass (a spool for a pipe or standard input).
        path: PathBuf,
        format: Format,
        /// Where `@body` files are found.
        dir: Option<PathBuf>,
        /// The spool file, removed when the last reader is done.
        spool: Option<Arc<Spool>>,
    },
}

/// A copy on disk of targets from a pipe, a FIFO or standard input — sources that cannot
/// be read twice: a long one streams from the copy like a file instead of being held (or
/// of opening the FIFO again, which blocks for good). Removed on drop.
struct Spool(PathBuf);

impl Spool {
    /// Copies `r` (at most [`MAX_STDIN`] bytes) to a new file in the temporary directory.
    fn copy(mut r: impl Read, name: &str) -> anyhow::Result<Spool> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "loadgen-targets-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("--targets {name}: cannot spool to {}", path.display()))?;
        let spool = Spool(path);
        let n = std::io::copy(&mut (&mut r).take(MAX_STDIN as u64 + 1), &mut f)
            .with_context(|| format!("--targets {name}: cannot read"))?;
        if n > MAX_STDIN as u64 {
            bail!(
                "--targets {name}: more than {} from a pipe; write the targets to a file, which streams",
                loadgen::limits::size(MAX_STDIN as u64)
            );
        }
        Ok(spool)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Endpoint and row of each URL a file names.
#[derive(Default, Clone)]
struct Index {
    endpoints: HashMap<String, usize>,
    rows: HashMap<String, usize>,
    other: Option<usize>,
    routes: target::Routes,
}

/// `--connect-to` and `--unix-socket`.
pub fn routes(a: &LoadArgs) -> anyhow::Result<target::Routes> {
    Ok(target::Routes {
        connect_to: a
            .connect_to
            .iter()
            .map(|c| target::ConnectTo::parse(c))
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?,
        unix: a.unix_socket.clone(),
        proxy: a
            .proxy
            .as_deref()
            .map(target::parse_proxy)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        connect_timeout: a.connect_timeout,
    })
}

/// A URL's `scheme://authority` and its path and query.
fn split_url(url: &str) -> (&str, &str) {
    let after = url.find("://").map_or(0, |i| i + 3);
    let at = url[after..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after + i);
    (&url[..at], &url[at..])
}

impl Source {
    /// Command-line targets: each its own endpoint and row.
    pub fn targets(raw: &[String], a: &LoadArgs) -> anyhow::Result<Source> {
        let routes = routes(a)?;
        let targets = raw
            .iter()
            .map(|t| {
                if a.no_templates {
                    target::parse_via(t, &routes)
                } else {
                    target::parse_templated(t, &routes)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        Ok(Source::of(targets))
    }

    /// Ready-made targets.
    pub fn of(targets: Vec<TargetSpec>) -> Source {
        Source {
            rows: targets
                .iter()
                .map(|t| Target {
                    name: t.url.clone(),
                    weight: t.weight,
                })
                .collect(),
            endpoints: targets,
            file: None,
        }
    }

    /// The command line's targets or its `--targets` file (`data`: the `--data` feed,
    /// whose columns templates may name).
    pub fn of_run(args: &RunArgs, data: Option<&DataFeed>) -> anyhow::Result<Source> {
        let fields = data.map(|d| d.columns().to_vec()).unwrap_or_default();
        match &args.targets_file {
            None => Source::targets(&args.targets, &args.load),
            Some(f) => Source::file(
                f,
                args.targets_format,
                args.targets_order,
                &fields,
                &args.load,
            ),
        }
    }

    /// A targets file, checked through.
    fn file(
        name: &str,
        format: Option<TargetsFormat>,
        order: TargetsOrder,
        fields: &[String],
        a: &LoadArgs,
    ) -> anyhow::Result<Source> {
        // standard input, a FIFO or a device cannot be read twice: spooled to a file first
        let (spool, path) = if name == "-" {
            (Some(Spool::copy(std::io::stdin().lock(), name)?), None)
        } else {
            let f = std::fs::File::open(name)
                .with_context(|| format!("--targets {name}: cannot open"))?;
            let regular = f.metadata().is_ok_and(|m| m.is_file());
            let spool = (!regular).then(|| Spool::copy(f, name)).transpose()?;
            (spool, Some(PathBuf::from(name)))
        };
        let spool = spool.map(Arc::new);
        let dir = path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let read_from = spool
            .as_ref()
            .map_or_else(|| path.clone().expect("a named file"), |s| s.0.clone());
        let f = std::fs::File::open(&read_from)
            .with_context(|| format!("--targets {name}: cannot open"))?;
        let mut reader: Box<dyn BufRead> = Box::new(BufReader::with_capacity(64 * 1024, f));
        let format = match format {
            Some(TargetsFormat::Http) => Format::Http,
            Some(TargetsFormat::Json) => Format::Json,
            None => targets::sniff(reader.fill_buf().unwrap_or_default()),
        };
        let mut r = Reader::new(reader, format, name, dir.as_deref());
        let mut index = Index {
            routes: routes(a)?,
            ..Index::default()
        };
        let mut endpoints: Vec<TargetSpec> = Vec::new();
        let mut rows: Vec<Target> = Vec::new();
        let mut held = Vec::new();
        let mut count = 0u64;
        let mut held_bytes = 0usize;
        // a body file is checked once, however many requests send it
        let mut bodies_seen = HashMap::new();
        let mut streams = false;
        while let Some(e) = r.next_entry()? {
            let bad = |why: String| anyhow::anyhow!("{name}:{}: {why}", e.line);
            index.learn(&e, &mut endpoints, &mut rows, a).map_err(bad)?;
            // a large body seen before is a body file's, shared: held once
            let body_key = (e.body.as_ptr() as usize, e.body.len());
            let new_body = !bodies_seen.contains_key(&body_key);
            check_entry(&e, fields, a.no_templates, &mut bodies_seen).map_err(bad)?;
            count += 1;
            // what each request adds: its text, and its body unless it is shared
            held_bytes += e.url.len()
                + e.headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 32)
                    .sum::<usize>()
                + if new_body { e.body.len() } else { 0 };
            if count as usize <= IN_MEMORY && held_bytes <= loadgen::limits::TARGETS_HELD {
                held.push(e);
            } else if !streams {
                streams = true;
                held = Vec::new();
            }
        }
        if count == 0 {
            bail!("--targets {name}: no requests in the file");
        }
        if streams && order == TargetsOrder::Random {
            bail!(
                "--targets {name}: --targets-order random needs the file held in memory (at most {IN_MEMORY} requests and {}; this one has {count} requests)",
                loadgen::limits::size(loadgen::limits::TARGETS_HELD as u64)
            );
        }
        let requests = if streams {
            Requests::Streamed {
                path: read_from,
                format,
                dir,
                spool,
            }
        } else {
            Requests::Held(held.into())
        };
        Ok(Source {
            rows,
            endpoints,
            file: Some(TargetsFile {
                name: name.to_string(),
                requests,
                order,
                index,
                count,
            }),
        })
    }

    /// What a report records about the requests.
    pub fn details(&self) -> Vec<(String, String)> {
        let Some(f) = &self.file else {
            return Vec::new();
        };
        let how = match (&f.requests, f.order) {
            (Requests::Streamed { .. }, _) => "in turn, streamed",
            (_, TargetsOrder::Sequential) => "in turn",
            (_, TargetsOrder::Random) => "at random",
        };
        vec![(
            "requests".into(),
            format!("{} from {} ({how})", f.count, f.name),
        )]
    }

    /// Whether any request has templates or is drawn at random (a seed matters).
    pub fn seeded(&self, a: &LoadArgs, opts: &HttpOptions) -> bool {
        if a.no_templates {
            return self
                .file
                .as_ref()
                .is_some_and(|f| f.order == TargetsOrder::Random);
        }
        let has = |b: &[u8]| b.windows(2).any(|w| w == b"{{");
        self.file.is_some()
            || self.endpoints.iter().any(|t| has(t.path.as_bytes()))
            || has(&opts.body)
            || opts.headers.iter().any(|(_, v)| has(v.as_bytes()))
    }

    /// The run's requests, with `shared` (seed, shard, data) for their templates.
    pub fn http_requests(
        &self,
        opts: &HttpOptions,
        shared: template::Shared,
        no_templates: bool,
    ) -> anyhow::Result<HttpRequests> {
        let endpoints: Vec<HttpTarget> = self.endpoints.iter().map(TargetSpec::http).collect();
        let fields = shared
            .data
            .as_ref()
            .map(|d| d.columns().to_vec())
            .unwrap_or_default();
        let compile = |what: &str, text: &[u8]| -> anyhow::Result<Template> {
            if no_templates {
                return Ok(Template::literal(text.to_vec()));
            }
            Template::compile(text, &fields).map_err(|e| anyhow::anyhow!("{what}: {e}"))
        };
        let Some(f) = &self.file else {
            let mut specs = Vec::new();
            for (i, t) in self.endpoints.iter().enumerate() {
                let mut headers = Vec::new();
                for (k, v) in &opts.headers {
                    headers.push((k.clone(), compile("-H/--header", v.as_bytes())?));
                }
                specs.push(Arc::new(HttpRequestSpec {
                    endpoint: i,
                    row: i,
                    method: opts.method.clone(),
                    path: compile(&format!("target {}", t.url), t.path.as_bytes())?,
                    headers,
                    body: if no_templates {
                        Template::literal(opts.body.clone())
                    } else {
                        Template::compile_body(&opts.body, &fields)
                            .map_err(|e| anyhow::anyhow!("--body: {e}"))?
                    },
                }));
            }
            return Ok(HttpRequests::new(
                endpoints,
                specs,
                Order::PerTarget,
                shared,
                opts,
            )?);
        };
        let mut to_spec = spec_maker(f.index.clone(), opts, fields.clone(), no_templates);
        let order = match f.order {
            TargetsOrder::Sequential => Order::Sequential,
            TargetsOrder::Random => Order::Random(shared.seed),
        };
        match &f.requests {
            Requests::Held(entries) => {
                // the entries are not needed once their requests are made
                let entries = std::mem::take(&mut *entries.borrow_mut());
                let specs = entries
                    .into_iter()
                    .map(|e| {
                        to_spec(&e)
                            .map(Arc::new)
                            .map_err(|why| anyhow::anyhow!("{}:{}: {why}", f.name, e.line))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok(HttpRequests::new(endpoints, specs, order, shared, opts)?)
            }
            Requests::Streamed {
                path,
                format,
                dir,
                spool,
            } => {
                let (path, format, name) = (path.clone(), *format, f.name.clone());
                let (dir, spool) = (dir.clone(), spool.clone());
                let (index, stream_opts, fields) = (f.index.clone(), opts.clone(), fields.clone());
                let stream = ThreadStream::spawn(move |send| {
                    let _spool = &spool;
                    // each reading reads the body files again: its own maker, so what one
                    // reading shares is not kept for the next
                    let mut to_spec =
                        spec_maker(index.clone(), &stream_opts, fields.clone(), no_templates);
                    let file = std::fs::File::open(&path).map_err(|e| format!("{name}: {e}"))?;
                    let mut r = Reader::new(
                        BufReader::with_capacity(64 * 1024, file),
                        format,
                        &name,
                        dir.as_deref(),
                    );
                    let mut n = 0;
                    while let Some(e) = r.next_entry().map_err(|e| e.to_string())? {
                        let spec =
                            to_spec(&e).map_err(|why| format!("{name}:{}: {why}", e.line))?;
                        n += 1;
                        if !send(Arc::new(spec)) {
                            break;
                        }
                    }
                    Ok(n)
                })
                .context("cannot start the targets reader")?;
                let stream: Arc<dyn RequestStream> = Arc::new(stream);
                Ok(HttpRequests::new(
                    endpoints,
                    Vec::new(),
                    Order::Stream(stream),
                    shared,
                    opts,
                )?)
            }
        }
    }
}

/// The `--data` feed.
pub fn data_feed(a: &LoadArgs) -> anyhow::Result<Option<Arc<DataFeed>>> {
    let Some(path) = &a.data else {
        return Ok(None);
    };
    let name = path.display().to_string();
    if name.trim_start().starts_with(['{', '[']) {
        bail!(
            "--data is a data feed file here (.csv or .jsonl); a gRPC message is --message '{name}' (ghz's --data), an HTTP body --body"
        );
    }
    let f = std::fs::File::open(path).with_context(|| format!("--data {name}: cannot open"))?;
    // a regular file too large is refused at once; a pipe is counted as it is read
    if f.metadata().map(|m| m.len()).unwrap_or(0) > loadgen::limits::DATA_FILE {
        let cap = loadgen::limits::size(loadgen::limits::DATA_FILE);
        bail!("--data {name}: larger than {cap}");
    }
    let feed = DataFeed::read(BufReader::new(f), DataFormat::of_path(&name), &name)?;
    Ok(Some(Arc::new(feed)))
}

/// Checks what an entry's templates need, before the run.
fn check_entry(
    e: &Entry,
    fields: &[String],
    no_templates: bool,
    bodies_seen: &mut HashMap<(usize, usize), (bytes::Bytes, bool)>,
) -> Result<(), String> {
    for (k, v) in &e.headers {
        if v.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(format!("header {k} has a control character"));
        }
    }
    let templated = |t: &str| !no_templates && t.contains("{{");
    // a large body (a body file) is compiled once: the map keeps the bytes it saw, so an
    // address is never that of another body
    let key = (e.body.as_ptr() as usize, e.body.len());
    let body_fixed = match bodies_seen.get(&key) {
        Some((_, fixed)) => *fixed,
        None => {
            let fixed = no_templates
                || Template::compile_body_bytes(e.body.clone(), fields)
                    .map_err(|e| e.to_string())?
                    .is_fixed();
            if e.body.len() > SHARED_TEXT && bodies_seen.len() < SHARED_TEXTS {
                bodies_seen.insert(key, (e.body.clone(), fixed));
            }
            fixed
        }
    };
    loadgen::protocol::http::request::check_framing(
        e.headers
            .iter()
            .map(|(k, v)| (k.as_str(), (!templated(v)).then_some(v.as_bytes()))),
        body_fixed.then_some(e.body.len()),
    )?;
    if no_templates {
        return Ok(());
    }
    let (_, path) = split_url(&e.url);
    Template::compile(path.as_bytes(), fields).map_err(|e| e.to_string())?;
    for (_, v) in &e.headers {
        Template::compile(v.as_bytes(), fields).map_err(|e| e.to_string())?;
    }
    Ok(())
}

impl Index {
    /// Learns the endpoint and row of `e`, adding them as needed.
    fn learn(
        &mut self,
        e: &Entry,
        endpoints: &mut Vec<TargetSpec>,
        rows: &mut Vec<Target>,
        a: &LoadArgs,
    ) -> Result<(), String> {
        let (base, path) = split_url(&e.url);
        if !self.endpoints.contains_key(base) {
            if self.endpoints.len() == MAX_ENDPOINTS {
                return Err(format!("more than {MAX_ENDPOINTS} hosts"));
            }
            let t = target::parse_via(&format!("{base}/"), &self.routes)?;
            if !matches!(t.scheme, Scheme::Http | Scheme::Https) {
                return Err(format!(
                    "'{}': a targets file holds http or https URLs",
                    e.url
                ));
            }
            self.endpoints.insert(base.to_string(), endpoints.len());
            endpoints.push(t);
        }
        if path.contains(char::is_control) || (a.no_templates && path.contains(' ')) {
            return Err(format!(
                "'{}': a space or control character in the URL",
                e.url
            ));
        }
        let key = row_key(&e.method, &e.url);
        match self.rows.get(&key) {
            Some(&r) => rows[r].weight = rows[r].weight.saturating_add(1),
            None if rows.len() < MAX_ROWS - 1 => {
                self.rows.insert(key.clone(), rows.len());
                rows.push(Target {
                    name: key,
                    weight: 1,
                });
            }
            None => match self.other {
                Some(r) => rows[r].weight = rows[r].weight.saturating_add(1),
                None => {
                    self.other = Some(rows.len());
                    rows.push(Target {
                        name: "other".into(),
                        weight: 1,
                    });
                }
            },
        }
        Ok(())
    }

    fn endpoint(&self, url: &str) -> Option<usize> {
        self.endpoints.get(split_url(url).0).copied()
    }

    fn row(&self, method: &str, url: &str) -> Option<usize> {
        self.rows.get(&row_key(method, url)).copied().or(self.other)
    }
}

/// A report row's name: `METHOD URL` without the query.
fn row_key(method: &str, url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    format!("{method} {url}")
}

/// The maker of a file entry's request: its endpoint and row from `index`, templates
/// compiled; headers of `-H` are added where the entry has none of that name, and
/// `--body` is the body of an entry without one (as vegeta does). Header values and bodies
/// that repeat (one body file for every request) are compiled once and shared.
fn spec_maker(
    index: Index,
    opts: &HttpOptions,
    fields: Vec<String>,
    no_templates: bool,
) -> impl FnMut(&Entry) -> Result<HttpRequestSpec, String> + Send + 'static {
    let (extra, default_body) = (opts.headers.clone(), opts.body.clone());
    let fields2 = fields.clone();
    let mut shared: HashMap<Vec<u8>, Template> = HashMap::new();
    // large bodies by identity: a reader hands out one `Bytes` per body file; the map keeps
    // the bytes it saw, so an address is never another body's (one maker per reading)
    let mut large: HashMap<(usize, usize), (bytes::Bytes, Template)> = HashMap::new();
    let compile = move |text: &[u8]| {
        if no_templates {
            Ok(Template::literal(text.to_vec()))
        } else {
            // header values and paths are text; a body that is not is sent as it is
            Template::compile_body(text, &fields).map_err(|e| e.to_string())
        }
    };
    move |e: &Entry| {
        let mut once = |text: &[u8]| -> Result<Template, String> {
            if let Some(t) = shared.get(text) {
                return Ok(t.clone());
            }
            let t = compile(text)?;
            if text.len() <= SHARED_TEXT && shared.len() < SHARED_TEXTS {
                shared.insert(text.to_vec(), t.clone());
            }
            Ok(t)
        };
        let changed = || "the file changed while it was read".to_string();
        let (_, path) = split_url(&e.url);
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let mut headers = Vec::with_capacity(e.headers.len() + extra.len());
        for (k, v) in &e.headers {
            headers.push((k.clone(), once(v.as_bytes())?));
        }
        for (k, v) in &extra {
            if !e.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)) {
                headers.push((k.clone(), once(v.as_bytes())?));
            }
        }
        let body = if e.body.is_empty() {
            once(&default_body)?
        } else if e.body.len() > SHARED_TEXT {
            let key = (e.body.as_ptr() as usize, e.body.len());
            match large.get(&key) {
                Some((_, t)) => t.clone(),
                None => {
                    let t = if no_templates {
                        Template::literal(e.body.clone())
                    } else {
                        Template::compile_body_bytes(e.body.clone(), &fields2)
                            .map_err(|e| e.to_string())?
                    };
                    if large.len() < SHARED_TEXTS {
                        large.insert(key, (e.body.clone(), t.clone()));
                    }
                    t
                }
            }
        } else {
            once(&e.body)?
        };
        Ok(HttpRequestSpec {
            endpoint: index.endpoint(&e.url).ok_or_else(changed)?,
            row: index.row(&e.method, &e.url).ok_or_else(changed)?,
            method: e.method.clone(),
            path: compile(path.as_bytes())?,
            headers,
            body,
        })
    }
}

/// Texts (header values, bodies) up to this long are compiled once per run.
const SHARED_TEXT: usize = 64 * 1024;
/// How many distinct texts are kept for that.
const SHARED_TEXTS: usize = 4096;
