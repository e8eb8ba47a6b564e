//! The calc caller: one JSON request per load over reused TCP connections (or a new
//! connection per load with `dial_per_call`), checked by recomputing the result.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::proto::{self, MAX_FRAME, Op};
use crate::caller::pool::Pool;
use crate::caller::template::mix;
use crate::caller::{Caller, Load};
use crate::outcome::Failure;
use crate::protocol::frame::{FrameError, LineReader};
use crate::protocol::net::StampedTcp;

/// What requests the calc caller sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalcOptions {
    /// Open a connection per load (the book's client) instead of reusing connections.
    pub dial_per_call: bool,
    /// Always use this operator (default: cycle through `+ - * /`).
    pub operator: Option<Op>,
    /// Always send these operands (default: two pseudo-random operands in -1000..=1000
    /// derived from the load index, never a zero divisor).
    pub operands: Option<Vec<i64>>,
}

/// One calc request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalcRequest {
    /// The request id (the load index).
    pub id: i64,
    /// Two operands (or `custom` ones from the options).
    pub operands: [i64; 2],
    /// The operator.
    pub op: Op,
    /// Index of the target to send to.
    pub target: usize,
    custom: bool,
}

/// A calc answer and when it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct CalcResponse {
    /// The response frame.
    pub body: proto::ResponseIn,
    /// When its last byte arrived (the kernel's receive time), if known.
    pub arrived: Option<Instant>,
}

struct Conn {
    stream: StampedTcp,
    reader: LineReader,
    out: Vec<u8>,
}

/// The calc caller of one shard.
pub struct CalcCaller {
    targets: Vec<SocketAddr>,
    pools: Vec<Pool<Conn>>,
    opts: CalcOptions,
}

impl CalcCaller {
    /// A caller for `targets` with at most `connections` open per target.
    pub fn new(targets: Vec<SocketAddr>, connections: u64, opts: CalcOptions) -> Self {
        let pools = targets.iter().map(|_| Pool::new(connections)).collect();
        CalcCaller {
            targets,
            pools,
            opts,
        }
    }

    /// The operands `req` carries: the fixed ones of the options, or its own two.
    fn operands<'a>(&'a self, req: &'a CalcRequest) -> &'a [i64] {
        match (&self.opts.operands, req.custom) {
            (Some(v), true) => v,
            _ => &req.operands,
        }
    }
}

async fn dial(addr: SocketAddr) -> Result<Conn, Failure> {
    let stream = StampedTcp::connect(addr).await?;
    Ok(Conn {
        stream,
        reader: LineReader::new(),
        out: Vec::with_capacity(128),
    })
}

impl Caller for CalcCaller {
    type Request = CalcRequest;
    type Response = CalcResponse;

    fn build(&self, load: Load) -> CalcRequest {
        let r = mix(load.index);
        let a = (r % 2001) as i64 - 1000;
        let mut b = ((r >> 21) % 2001) as i64 - 1000;
        let op = self
            .opts
            .operator
            .unwrap_or(Op::ALL[((r >> 42) % 4) as usize]);
        if op == Op::Div && b == 0 {
            b = 1;
        }
        CalcRequest {
            id: load.index as i64,
            operands: [a, b],
            op,
            target: load.target,
            custom: self.opts.operands.is_some(),
        }
    }

    async fn call(&self, req: &CalcRequest, _deadline: Instant) -> Result<CalcResponse, Failure> {
        let target = req.target.min(self.targets.len() - 1);
        let addr = self.targets[target];
        let mut lease = self.pools[target].get(|| dial(addr)).await?;
        let conn = lease.get_mut();
        conn.out.clear();
        proto::write_request(&mut conn.out, req.id, self.operands(req), req.op);
        conn.stream.write_all(&conn.out).await?;
        let resp = match conn.reader.next(&mut conn.stream, MAX_FRAME).await {
            Ok(Some(frame)) => {
                proto::parse_response(frame).map_err(|e| Failure::response(e.to_string()))?
            }
            Ok(None) | Err(FrameError::Truncated) => {
                return Err(Failure::call(
                    "connection closed before the response was complete",
                ));
            }
            Err(FrameError::TooLong) => {
                return Err(Failure::response("response frame over 64 KiB"));
            }
            Err(FrameError::Io(e)) => return Err(e.into()),
        };
        let arrived = conn.stream.arrived();
        if !self.opts.dial_per_call && !conn.reader.has_partial() {
            lease.put_back();
        }
        Ok(CalcResponse {
            body: resp,
            arrived,
        })
    }

    fn check(&self, _load: Load, req: &CalcRequest, resp: &CalcResponse) -> Result<(), Failure> {
        let resp = &resp.body;
        if resp.id != Some(req.id) {
            return Err(Failure::response("wrong id in response"));
        }
        if let Some(e) = &resp.error {
            return Err(Failure::callee(e.clone()));
        }
        let want = proto::compute(req.op, self.operands(req));
        match (want, resp.result) {
            (Ok(w), Some(got)) if w == got => Ok(()),
            (_, None) => Err(Failure::response("response has no result")),
            (Ok(_), Some(_)) => Err(Failure::response("wrong result")),
            (Err(e), Some(_)) => Err(Failure::response(format!(
                "a result where the error {e:?} was due"
            ))),
        }
    }
    fn capacity(&self) -> Option<u64> {
        Some(self.pools.iter().map(|p| p.cap()).sum())
    }

    fn arrival(&self, resp: &CalcResponse) -> Option<Instant> {
        resp.arrived
    }

    fn stamps_arrivals(&self) -> bool {
        true
    }
}
