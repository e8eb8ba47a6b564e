//! A WebSocket test server: echoes every data message back (after a delay, if set), and
//! in publish mode pushes messages to every connection at a rate — so rtt, send and
//! subscribe loads run out of the box. Pings are answered; frames and messages are
//! bounded as the client bounds them.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::Limits;
use crate::http::Delay;
use crate::idle::IdleTimeout;

/// What the server does besides answering pings.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// Before each echo.
    pub delay: Delay,
    /// Messages pushed to each connection per second (`{"seq":N}`), 0: none.
    pub publish: f64,
    /// Echo data messages back.
    pub echo: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            delay: Delay::Fixed(Duration::ZERO),
            publish: 0.0,
            echo: true,
        }
    }
}

/// Serves WebSocket connections (over TLS when `tls` is set) until `shutdown`.
pub async fn run(
    listener: TcpListener,
    limits: Limits,
    knobs: Knobs,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let knobs = Arc::new(knobs);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    crate::serve_connections(listener, limits, shutdown, move |stream, stop| {
        let knobs = knobs.clone();
        let acceptor = acceptor.clone();
        async move {
            let stream = IdleTimeout::new(stream, limits.idle_timeout);
            match acceptor {
                None => serve(stream, &knobs, stop).await,
                Some(a) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(limits.idle_timeout, a.accept(stream)).await
                    {
                        serve(s, &knobs, stop).await;
                    }
                }
            }
        }
    })
    .await
}

async fn serve<S>(stream: S, knobs: &Knobs, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = loadgen::protocol::ws::config();
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let every = (knobs.publish > 0.0).then(|| Duration::from_secs_f64(1.0 / knobs.publish));
    let mut tick = tokio::time::interval(every.unwrap_or(Duration::from_secs(3600)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    loop {
        let msg = tokio::select! {
            m = ws.next() => match m {
                Some(Ok(m)) => m,
                _ => return,
            },
            _ = tick.tick(), if every.is_some() => {
                seq += 1;
                if ws.send(Message::text(format!("{{\"seq\":{seq}}}"))).await.is_err() {
                    return;
                }
                continue;
            }
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                return;
            }
        };
        match msg {
            Message::Text(_) | Message::Binary(_) if knobs.echo => {
                let d = knobs.delay.sample(crate::rng::unit);
                if !d.is_zero() {
                    crate::timer::sleep(d).await;
                }
                if ws.send(msg).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => {
                // tungstenite answered the close; flush it and end
                let _ = ws.flush().await;
                return;
            }
            _ => {}
        }
    }
}
