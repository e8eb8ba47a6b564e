//! The book's arithmetic service over gRPC (tonic), from `proto/calc.proto`: `Compute`
//! answers once, `Steps` streams the running result; overflow and division by zero are
//! `INVALID_ARGUMENT`. Server reflection (v1 and v1alpha) describes it, so a client needs
//! no .proto file. Like `serve http`, it can delay answers and fail a share of them
//! (`UNAVAILABLE`), so a test knows the ground truth.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use loadgen::protocol::calc::proto::{self as calc, Op};
use tonic::{Request, Response, Status};

use crate::Limits;
use crate::http::Delay;

/// The generated messages and server of `proto/calc.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("calc");
}

/// The encoded descriptor set of `proto/calc.proto` (what reflection serves).
pub const DESCRIPTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/calc_descriptor.bin"));

/// How the service misbehaves on purpose.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// Time before each answer.
    pub delay: Delay,
    /// Share of calls answered `UNAVAILABLE`.
    pub error_rate: f64,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            delay: Delay::Fixed(std::time::Duration::ZERO),
            error_rate: 0.0,
        }
    }
}

struct Calc {
    knobs: Knobs,
}

impl Calc {
    async fn pause(&self) -> Result<(), Status> {
        let d = self.knobs.delay.sample(crate::rng::unit);
        if !d.is_zero() {
            crate::timer::sleep(d).await;
        }
        if self.knobs.error_rate > 0.0 && crate::rng::unit() < self.knobs.error_rate {
            return Err(Status::unavailable("error-rate: failed on purpose"));
        }
        Ok(())
    }
}

fn op_of(op: i32) -> Result<Op, Status> {
    match pb::Op::try_from(op) {
        Ok(pb::Op::Add) => Ok(Op::Add),
        Ok(pb::Op::Sub) => Ok(Op::Sub),
        Ok(pb::Op::Mul) => Ok(Op::Mul),
        Ok(pb::Op::Div) => Ok(Op::Div),
        Err(_) => Err(Status::invalid_argument(format!("unknown operator {op}"))),
    }
}

fn reply(op: Op, operands: &[i64]) -> Result<pb::CalcReply, Status> {
    if operands.is_empty() {
        return Err(Status::invalid_argument("no operands"));
    }
    match calc::compute(op, operands) {
        Ok(result) => Ok(pb::CalcReply {
            formula: calc::formula(op, operands, result),
            result,
        }),
        Err(e) => Err(Status::invalid_argument(e.to_string())),
    }
}

type Steps = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::CalcReply, Status>> + Send>>;

#[tonic::async_trait]
impl pb::calc_server::Calc for Calc {
    async fn compute(
        &self,
        req: Request<pb::CalcRequest>,
    ) -> Result<Response<pb::CalcReply>, Status> {
        self.pause().await?;
        let r = req.into_inner();
        Ok(Response::new(reply(op_of(r.op)?, &r.operands)?))
    }

    type StepsStream = Steps;

    async fn steps(&self, req: Request<pb::CalcRequest>) -> Result<Response<Steps>, Status> {
        self.pause().await?;
        let r = req.into_inner();
        let op = op_of(r.op)?;
        // the running result after each operand from the second on
        let n = r.operands.len();
        let replies: Vec<_> = (n.min(2)..=n)
            .map(|k| reply(op, &r.operands[..k.max(n.min(2))]))
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(replies))))
    }
}

/// Request bytes all calls together may hold while they are read and decoded: a client
/// that opens many streams of almost 4 MiB messages and never finishes them gets
/// `RESOURCE_EXHAUSTED` past it, and the server's memory stays bounded.
pub const REQUEST_BUDGET: usize = 64 * 1024 * 1024;

/// A request body that pays for each of its bytes from a budget shared by every call,
/// and gives them back when the call drops it.
struct Budgeted {
    inner: hyper::body::Incoming,
    budget: Arc<tokio::sync::Semaphore>,
    held: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl hyper::body::Body for Budgeted {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::task::Poll;
        let frame = match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => f,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(d) = frame.data_ref() {
            let n = u32::try_from(d.len()).unwrap_or(u32::MAX);
            match self.budget.clone().try_acquire_many_owned(n) {
                Ok(p) => match &mut self.held {
                    Some(h) => h.merge(p),
                    None => self.held = Some(p),
                },
                Err(_) => {
                    return Poll::Ready(Some(Err(Box::new(Status::resource_exhausted(
                        "the server's request buffers are full",
                    )))));
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The calc service with its defaults on a free loopback port, on a thread of its own
/// (what `demo --grpc` and tests run); stops when the handle is dropped.
pub fn spawn_loopback() -> std::io::Result<crate::Spawned> {
    crate::spawn(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        1,
        |listener, stop| async move {
            run(
                listener,
                Limits::default(),
                Knobs::default(),
                None,
                crate::until_true(stop),
            )
            .await
            .map_err(std::io::Error::other)
        },
    )
}

/// Serves the calc service and reflection on `listener` (HTTP/2 only; TLS with `tls`,
/// whose ALPN must offer `h2`) until `shutdown` resolves.
pub async fn run(
    listener: tokio::net::TcpListener,
    limits: Limits,
    knobs: Knobs,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use tonic::codegen::Service as _;
    let calc = pb::calc_server::CalcServer::new(Calc { knobs });
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTOR)
        .build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTOR)
        .build_v1alpha()?;
    let budget = Arc::new(tokio::sync::Semaphore::new(REQUEST_BUDGET));
    let route = move |req: http::Request<hyper::body::Incoming>| {
        let (mut calc, mut v1, mut v1alpha) = (calc.clone(), v1.clone(), v1alpha.clone());
        let (parts, inner) = req.into_parts();
        let body = Budgeted {
            inner,
            budget: budget.clone(),
            held: None,
        };
        let req = http::Request::from_parts(parts, body);
        async move {
            let path = req.uri().path();
            if path.starts_with("/calc.Calc/") {
                calc.call(req).await
            } else if path.starts_with("/grpc.reflection.v1.ServerReflection/") {
                v1.call(req).await
            } else if path.starts_with("/grpc.reflection.v1alpha.ServerReflection/") {
                v1alpha.call(req).await
            } else {
                Ok(Status::unimplemented(format!("no service for {path}")).into_http())
            }
        }
    };
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    crate::serve_connections(listener, limits, shutdown, move |stream, stop| {
        let service = hyper::service::service_fn(route.clone());
        let acceptor = acceptor.clone();
        async move {
            let stream = crate::idle::IdleTimeout::new(stream, limits.idle_timeout);
            match acceptor {
                None => serve_h2(TokioIo::new(stream), service, stop).await,
                Some(a) => {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(limits.idle_timeout, a.accept(stream)).await
                    {
                        serve_h2(TokioIo::new(tls), service, stop).await;
                    }
                }
            }
        }
    })
    .await?;
    Ok(())
}

/// Serves HTTP/2 on one connection until it ends, or until `stop` turns true (then it
/// finishes the calls it has and closes).
async fn serve_h2<I, S>(io: I, service: S, stop: tokio::sync::watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(64 * 1024);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = crate::until_true(stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
