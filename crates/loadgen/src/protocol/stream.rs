//! Raw TCP and UDP callers: send a payload, read the answer, compare.
//!
//! TCP answers are framed by a delimiter (read up to and including it) or by length
//! (default: the payload's length, as an echo answers); UDP answers are one datagram. The
//! answer must equal the payload, or contain `expect` when it is given.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

use crate::caller::pool::Pool;
use crate::caller::{Caller, Load};
use crate::outcome::Failure;
use crate::protocol::net::{self, StampedTcp};

/// Largest answer read.
pub const MAX_ANSWER: usize = 64 * 1024;

/// How a TCP answer ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// Up to and including this byte string.
    Delimiter(Vec<u8>),
    /// Exactly this many bytes.
    Length(usize),
}

/// What to send and how to check the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOptions {
    /// The bytes sent for every load.
    pub payload: Vec<u8>,
    /// How a TCP answer ends (UDP: one datagram).
    pub framing: Framing,
    /// The answer must contain this; `None`: it must equal the payload.
    pub expect: Option<Vec<u8>>,
    /// TCP: a new connection per load.
    pub dial_per_call: bool,
}

impl StreamOptions {
    /// Echo checks for `payload`: length framing, equality.
    pub fn echo(payload: Vec<u8>) -> Self {
        StreamOptions {
            framing: Framing::Length(payload.len()),
            payload,
            expect: None,
            dial_per_call: false,
        }
    }

    fn matches(&self, answer: &[u8]) -> bool {
        match &self.expect {
            None => answer == self.payload.as_slice(),
            Some(e) => crate::protocol::http::contains(answer, e),
        }
    }
}

fn differs() -> Failure {
    Failure::response("answer differs from the expected bytes")
}

/// Whether an answer matched, and when it arrived (the kernel's receive time), if known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The answer was the expected one.
    pub ok: bool,
    /// When its last byte arrived.
    pub arrived: Option<Instant>,
}

/// A TCP connection with its read buffer.
pub struct TcpConn {
    stream: StampedTcp,
    buf: Vec<u8>,
}

/// The TCP caller of one shard.
pub struct TcpCaller {
    targets: Vec<SocketAddr>,
    pools: Vec<Pool<TcpConn>>,
    opts: StreamOptions,
}

impl TcpCaller {
    /// A caller for `targets` with at most `connections` per target.
    pub fn new(targets: Vec<SocketAddr>, connections: u64, opts: StreamOptions) -> Self {
        let pools = targets.iter().map(|_| Pool::new(connections)).collect();
        TcpCaller {
            targets,
            pools,
            opts,
        }
    }
}

impl Caller for TcpCaller {
    type Request = usize;
    type Response = Answer;

    fn build(&self, load: Load) -> usize {
        load.target
    }

    async fn call(&self, target: &usize, _deadline: Instant) -> Result<Answer, Failure> {
        let addr = self.targets[*target];
        let mut lease = self.pools[*target]
            .get(|| async move {
                let stream = StampedTcp::connect(addr).await?;
                Ok::<_, Failure>(TcpConn {
                    stream,
                    buf: Vec::with_capacity(1024),
                })
            })
            .await?;
        let c = lease.get_mut();
        c.stream.write_all(&self.opts.payload).await?;
        c.buf.clear();
        let mut chunk = [0u8; 4096];
        let ok = loop {
            let done = match &self.opts.framing {
                Framing::Length(n) => c.buf.len() >= *n,
                Framing::Delimiter(d) => {
                    !d.is_empty() && c.buf.windows(d.len()).any(|w| w == d.as_slice())
                }
            };
            if done {
                let exact = match &self.opts.framing {
                    Framing::Length(n) => c.buf.len() == *n,
                    Framing::Delimiter(d) => c.buf.ends_with(d),
                };
                let ok = self.opts.matches(&c.buf);
                if !exact {
                    return Err(Failure::response("more bytes than one answer"));
                }
                break ok;
            }
            if c.buf.len() >= MAX_ANSWER {
                return Err(Failure::response("answer over 64 KiB"));
            }
            let n = c.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(Failure::call(
                    "connection closed before the answer was complete",
                ));
            }
            c.buf.extend_from_slice(&chunk[..n]);
        };
        let arrived = c.stream.arrived();
        if !self.opts.dial_per_call {
            lease.put_back();
        }
        Ok(Answer { ok, arrived })
    }

    fn check(&self, _load: Load, _target: &usize, a: &Answer) -> Result<(), Failure> {
        if a.ok { Ok(()) } else { Err(differs()) }
    }

    fn arrival(&self, a: &Answer) -> Option<Instant> {
        a.arrived
    }

    fn stamps_arrivals(&self) -> bool {
        true
    }

    fn capacity(&self) -> Option<u64> {
        Some(self.pools.iter().map(|p| p.cap()).sum())
    }
}

/// A connected UDP socket with its receive buffer.
pub struct UdpConn {
    socket: UdpSocket,
    buf: Vec<u8>,
}

/// The UDP caller of one shard: one connected socket per call in flight, so an answer is
/// never taken for another load's; a socket whose call timed out is closed.
pub struct UdpCaller {
    targets: Vec<SocketAddr>,
    pools: Vec<Pool<UdpConn>>,
    opts: StreamOptions,
}

impl UdpCaller {
    /// A caller for `targets` with at most `sockets` per target.
    pub fn new(targets: Vec<SocketAddr>, sockets: u64, opts: StreamOptions) -> Self {
        let pools = targets.iter().map(|_| Pool::new(sockets)).collect();
        UdpCaller {
            targets,
            pools,
            opts,
        }
    }
}

impl Caller for UdpCaller {
    type Request = usize;
    type Response = Answer;

    fn build(&self, load: Load) -> usize {
        load.target
    }

    async fn call(&self, target: &usize, _deadline: Instant) -> Result<Answer, Failure> {
        let addr = self.targets[*target];
        let size = (self.opts.payload.len() + 512).clamp(2048, MAX_ANSWER);
        let mut lease = self.pools[*target]
            .get(|| async move {
                let socket = net::udp_connect(addr).await?;
                Ok::<_, Failure>(UdpConn {
                    socket,
                    buf: vec![0; size],
                })
            })
            .await?;
        let c = lease.get_mut();
        c.socket.send(&self.opts.payload).await?;
        let (n, arrived) = net::udp_recv(&c.socket, &mut c.buf).await?;
        let ok = self.opts.matches(&c.buf[..n]);
        lease.put_back();
        Ok(Answer { ok, arrived })
    }

    fn check(&self, _load: Load, _target: &usize, a: &Answer) -> Result<(), Failure> {
        if a.ok { Ok(()) } else { Err(differs()) }
    }

    fn arrival(&self, a: &Answer) -> Option<Instant> {
        a.arrived
    }

    fn stamps_arrivals(&self) -> bool {
        true
    }

    fn capacity(&self) -> Option<u64> {
        Some(self.pools.iter().map(|p| p.cap()).sum())
    }
}
