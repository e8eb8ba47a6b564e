//! The per-call results stream (`--results FILE`): one record per load — index, generator
//! thread, target, intended, send and end times, outcome — as JSON lines or CSV.
//!
//! Records come in the order loads end, a batch per thread at a time: not in index order
//! (thread k of n owns the loads j with j mod n = k). Each record names its thread; sort by
//! `index` for the schedule's order.
//!
//! Shards collect records in batches and hand each batch to a writer thread through a
//! bounded channel: when the writer falls behind, a shard waits (back-pressure), so memory
//! stays bounded by [`BATCH`] × [`QUEUE`] records whatever the run's length.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::outcome::Outcome;

/// Records per batch.
pub const BATCH: usize = 1024;
/// Batches in flight to the writer at most.
pub const QUEUE: usize = 16;

/// One load's result. Times are ns since t0 (`started_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRecord {
    /// Global load index.
    pub index: u64,
    /// The generator thread that owned the load.
    pub thread: u32,
    /// Target index.
    pub target: u32,
    /// Intended start.
    pub intended_ns: u64,
    /// Actual send (none for `dropped`).
    pub sent_ns: Option<u64>,
    /// When the outcome was known.
    pub end_ns: u64,
    /// The outcome.
    pub outcome: Outcome,
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One JSON object per line.
    #[default]
    JsonLines,
    /// CSV with a header line.
    Csv,
}

/// The writer side: a thread draining batches into a writer.
pub struct Writer {
    tx: Option<SyncSender<Vec<CallRecord>>>,
    thread: Option<JoinHandle<io::Result<u64>>>,
}

impl Writer {
    /// Starts a writer thread writing to `out` in `format`; `targets` names target indexes.
    pub fn start(
        out: Box<dyn Write + Send>,
        format: Format,
        targets: Vec<String>,
    ) -> io::Result<Writer> {
        let (tx, rx) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("loadgen-results".into())
            .spawn(move || drain(rx, out, format, &targets))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// A sender for one shard.
    pub fn sender(&self) -> Option<SyncSender<Vec<CallRecord>>> {
        self.tx.clone()
    }

    /// Waits for every record to be written; returns how many were.
    pub fn finish(mut self) -> io::Result<u64> {
        self.tx = None;
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the results writer panicked"))),
            None => Ok(0),
        }
    }
}

/// A shard's end of the stream: records go out a batch at a time; `push` blocks while the
/// writer is [`QUEUE`] batches behind (the back-pressure that keeps memory bounded).
pub struct Sink {
    tx: SyncSender<Vec<CallRecord>>,
    batch: Vec<CallRecord>,
}

impl Sink {
    /// A sink sending to `tx`.
    pub fn new(tx: SyncSender<Vec<CallRecord>>) -> Sink {
        Sink {
            tx,
            batch: Vec::with_capacity(BATCH),
        }
    }

    /// Adds one record.
    pub fn push(&mut self, r: CallRecord) {
        self.batch.push(r);
        if self.batch.len() >= BATCH {
            let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            let _ = self.tx.send(full);
        }
    }

    /// Sends what is left.
    pub fn flush(&mut self) {
        if !self.batch.is_empty() {
            let _ = self.tx.send(std::mem::take(&mut self.batch));
        }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn drain(
    rx: Receiver<Vec<CallRecord>>,
    out: Box<dyn Write + Send>,
    format: Format,
    targets: &[String],
) -> io::Result<u64> {
    let mut w = io::BufWriter::with_capacity(256 * 1024, out);
    let mut n = 0u64;
    if format == Format::Csv {
        writeln!(
            w,
            "index,thread,target,intended_us,sent_us,end_us,outcome,code"
        )?;
    }
    let name = |t: u32| targets.get(t as usize).map_or("", String::as_str);
    for batch in rx {
        for r in batch {
            let sent = r.sent_ns.map(us);
            match format {
                Format::JsonLines => {
                    let v = serde_json::json!({
                        "index": r.index,
                        "thread": r.thread,
                        "target": name(r.target),
                        "intended_us": us(r.intended_ns),
                        "sent_us": sent,
                        "end_us": us(r.end_ns),
                        "outcome": r.outcome.name(),
                        "code": r.outcome.code(),
                    });
                    serde_json::to_writer(&mut w, &v)?;
                    w.write_all(b"\n")?;
                }
                Format::Csv => {
                    let target = name(r.target);
                    let quoted = if target.contains([',', '"']) {
                        format!("\"{}\"", target.replace('"', "\"\""))
                    } else {
                        target.to_string()
                    };
                    let sent = sent.map_or(String::new(), |s| format!("{s:.3}"));
                    writeln!(
                        w,
                        "{},{},{},{:.3},{},{:.3},{},{}",
                        r.index,
                        r.thread,
                        quoted,
                        us(r.intended_ns),
                        sent,
                        us(r.end_ns),
                        r.outcome.name(),
                        r.outcome.code()
                    )?;
                }
            }
            n += 1;
        }
    }
    w.flush()?;
    Ok(n)
}
