//! Sockets that know when their bytes arrived.
//!
//! TCP and UDP sockets here are read with `recvmsg` and the kernel's receive timestamp
//! (`SO_TIMESTAMPNS`): each read records when its last segment reached the machine. A
//! response read late — in a batch at the next pacing tick, while the generator slept —
//! still counts from when it arrived, so latency does not depend on when loadgen reads.
//! (Elsewhere than Linux, or if the kernel gives no timestamp, the arrival is unknown and
//! the engine takes the time it saw the response.)

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::UdpSocket;

/// A connected stream socket: TCP, or a Unix domain socket (`--unix-socket`).
#[derive(Debug)]
pub enum Sock {
    /// TCP.
    Tcp(std::net::TcpStream),
    /// A Unix domain stream socket.
    Unix(std::os::unix::net::UnixStream),
}

impl std::os::fd::AsFd for Sock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Sock::Tcp(s) => s.as_fd(),
            Sock::Unix(s) => s.as_fd(),
        }
    }
}

impl std::os::fd::AsRawFd for Sock {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Sock::Tcp(s) => s.as_raw_fd(),
            Sock::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Sock {
    fn write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        use std::io::Write;
        match self {
            Sock::Tcp(s) => (&mut &*s).write_vectored(bufs),
            Sock::Unix(s) => (&mut &*s).write_vectored(bufs),
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Sock::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        }
    }
}

/// A TCP (or Unix domain) connection whose reads carry the kernel's receive time — where
/// the socket gives one: a Unix domain socket never does, so on a thread that batches its
/// reads, a read that waits on one keeps the thread waking for it (its answer is dated
/// when it is read, as it arrives).
pub struct StampedTcp {
    fd: AsyncFd<Sock>,
    /// Receive timestamps asked for (only when the engine batches reads) and given.
    stamped: bool,
    /// The thread batches its reads but this socket gives no timestamps.
    eager: bool,
    /// When the bytes of the last read arrived, if that read was stamped.
    arrived: Option<Instant>,
    /// Set while a read waits on a socket without timestamps.
    waiting: Option<crate::caller::reads::Eager>,
    /// Set while a write waits for room in the socket: the engine must not sleep
    /// through the moment it frees up.
    blocked: Option<crate::caller::reads::Eager>,
}

impl StampedTcp {
    /// Connects to `addr` (no Nagle delay), with receive timestamps on when this thread
    /// batches its reads.
    pub async fn connect(addr: SocketAddr) -> io::Result<StampedTcp> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let s = s.into_std()?;
        s.set_nonblocking(true)?;
        StampedTcp::of(Sock::Tcp(s))
    }

    /// Connects to the Unix domain socket at `path`.
    pub async fn connect_unix(path: &std::path::Path) -> io::Result<StampedTcp> {
        let s = tokio::net::UnixStream::connect(path).await?.into_std()?;
        s.set_nonblocking(true)?;
        StampedTcp::of(Sock::Unix(s))
    }

    fn of(s: Sock) -> io::Result<StampedTcp> {
        let batching = crate::caller::reads::batching();
        let stamped = batching && matches!(s, Sock::Tcp(_));
        if stamped {
            sys::enable_timestamps(&s);
        }
        // SAFETY: the TcpStream owns a valid descriptor, and the AsyncFd owns the stream:
        // the descriptor is neither replaced nor closed while registered.
        let fd = unsafe { AsyncFd::register(s) }.map_err(io::Error::from)?;
        Ok(StampedTcp {
            fd,
            stamped,
            eager: batching && !stamped,
            arrived: None,
            waiting: None,
            blocked: None,
        })
    }

    /// When the bytes of the last read arrived, if the kernel said (for that read: a read
    /// without a timestamp forgets the one before).
    pub fn arrived(&self) -> Option<Instant> {
        self.arrived
    }

    /// True when bytes, the peer's close or an error wait to be read — without reading
    /// them, and without waiting.
    pub fn has_input(&self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.fd.poll_read_ready(&mut cx) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            Poll::Ready(Ok(mut guard)) => {
                let mut b = [0u8; 1];
                // readiness may be stale: a peek says for sure (EAGAIN clears it)
                guard.try_io(|s| sys::peek(s.get_ref(), &mut b)).is_ok()
            }
        }
    }
}

impl AsyncRead for StampedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        loop {
            let mut guard = match me.fd.poll_read_ready(cx) {
                Poll::Ready(g) => g?,
                Poll::Pending => {
                    if me.eager {
                        // nothing will date this answer: the thread must wake for it
                        me.waiting
                            .get_or_insert_with(crate::caller::reads::Eager::new);
                    }
                    return Poll::Pending;
                }
            };
            let unfilled = buf.initialize_unfilled();
            let len = unfilled.len();
            // while the thread reads as responses come (saturated, no tick to wait for),
            // a plain read is dated by the caller's clock: the kernel's stamp, its
            // recvmsg and its clock conversion would buy nothing
            let stamped = me.stamped && !crate::caller::reads::prompt();
            match guard.try_io(|s| sys::recv(s.get_ref(), unfilled, stamped)) {
                Ok(Ok((n, at))) => {
                    // a short read drained the socket: wait for the next edge (as tokio's
                    // own streams do), instead of a read that would only say EAGAIN
                    if n > 0 && n < len {
                        guard.clear_ready();
                    }
                    buf.advance(n);
                    // this read's time, or none: never an earlier read's
                    me.arrived = at;
                    me.waiting = None;
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for StampedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        loop {
            let mut guard = match me.fd.poll_write_ready(cx) {
                Poll::Ready(g) => g?,
                Poll::Pending => {
                    me.blocked
                        .get_or_insert_with(crate::caller::reads::Eager::new);
                    return Poll::Pending;
                }
            };
            match guard.try_io(|s| sys::send(s.get_ref(), buf)) {
                Ok(r) => {
                    me.blocked = None;
                    return Poll::Ready(r);
                }
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        loop {
            let mut guard = match me.fd.poll_write_ready(cx) {
                Poll::Ready(g) => g?,
                Poll::Pending => {
                    me.blocked
                        .get_or_insert_with(crate::caller::reads::Eager::new);
                    return Poll::Pending;
                }
            };
            match guard.try_io(|s| s.get_ref().write_vectored(bufs)) {
                Ok(r) => {
                    me.blocked = None;
                    return Poll::Ready(r);
                }
                Err(_would_block) => continue,
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.fd.get_ref().shutdown_write())
    }
}

/// A connected UDP socket, with receive timestamps on when this thread batches its reads.
pub async fn udp_connect(addr: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    if crate::caller::reads::batching() {
        sys::enable_timestamps(&socket);
    }
    Ok(socket)
}

/// Receives one datagram and when it arrived (if the kernel said).
pub async fn udp_recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, Option<Instant>)> {
    loop {
        socket.readable().await?;
        let stamped = crate::caller::reads::batching() && !crate::caller::reads::prompt();
        match socket.try_io(Interest::READABLE, || sys::recv(socket, buf, stamped)) {
            Ok(r) => return Ok(r),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Keeps the kernel's receive timestamping switched on while it lives.
///
/// Linux stamps received packets only while some socket asks for it, and switches that on
/// through deferred work when the first one asks: until the work has run, packets arrive
/// unstamped and a read late at the next tick would date its response late. One is held
/// by each generator thread that batches its reads, from before the run's first load to
/// its end, so the first responses are dated too and a thread whose connections are all
/// closed and reopened does not switch timestamping off and on between them.
pub(crate) struct Stamping {
    _pair: (std::net::TcpStream, std::net::TcpStream),
}

impl Stamping {
    /// Asks for receive timestamps on a loopback connection of its own and waits (at most
    /// `wait`) until a byte sent over it comes back stamped; `None` if none did (or off
    /// Linux): the kernel does not date what this thread receives.
    pub(crate) fn hold(wait: std::time::Duration) -> Option<Stamping> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let (mut tx, rx) = stamping_pair().ok()?;
        let until = Instant::now() + wait;
        loop {
            if byte_stamped(&mut tx, &rx, until).ok()? {
                return Some(Stamping { _pair: (tx, rx) });
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

/// A loopback connection: its sending end, and its receiving end (non-blocking) asking
/// for receive timestamps.
fn stamping_pair() -> io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    let tx = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (rx, _) = listener.accept()?;
    rx.set_nonblocking(true)?;
    sys::enable_timestamps(&rx);
    Ok((tx, rx))
}

/// Sends a byte over a [`stamping_pair`] and reads it (waiting for it until `until`):
/// whether it came with a receive timestamp.
fn byte_stamped(
    tx: &mut std::net::TcpStream,
    rx: &std::net::TcpStream,
    until: Instant,
) -> io::Result<bool> {
    std::io::Write::write_all(tx, b"s")?;
    let mut b = [0u8; 64];
    loop {
        match sys::recv(rx, &mut b, true) {
            Ok((0, _)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok((_, at)) => return Ok(at.is_some()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_micros(50))
            }
            Err(e) => return Err(e),
        }
    }
}

/// The monotonic instant of a wall-clock kernel timestamp: now, minus how long ago it was.
fn instant_of(at: SystemTime) -> Instant {
    let now = Instant::now();
    let age = SystemTime::now().duration_since(at).unwrap_or_default();
    now.checked_sub(age).unwrap_or(now)
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd};
    use std::time::{Duration, Instant, SystemTime};

    /// Asks the kernel to timestamp every received packet of `s` (best effort).
    pub fn enable_timestamps(s: &impl AsFd) {
        let on: libc::c_int = 1;
        // SAFETY: a valid socket, a valid int option of the right size.
        unsafe {
            libc::setsockopt(
                s.as_fd().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    /// One read: bytes read, and (with `stamped`, by `recvmsg`) the receive time of the
    /// last of them.
    pub fn recv(
        s: &impl AsFd,
        buf: &mut [u8],
        stamped: bool,
    ) -> io::Result<(usize, Option<Instant>)> {
        if !stamped {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
            let n = unsafe {
                libc::recv(
                    s.as_fd().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            return if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok((n as usize, None))
            };
        }
        // room for one SCM_TIMESTAMPNS control message (a timespec), aligned for cmsghdr
        #[repr(C, align(8))]
        struct Control([u8; 64]);
        let mut control = Control([0; 64]);
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; zero is a valid empty value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len();
        // SAFETY: the iovec points into `buf` and the control buffer into `control`, both
        // alive and writable for the call; the lengths are theirs.
        let n = unsafe { libc::recvmsg(s.as_fd().as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut at = None;
        // SAFETY: recvmsg filled `msg`; the CMSG macros walk the control buffer it
        // describes, and a SCM_TIMESTAMPNS message carries one timespec.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    if ts.tv_sec > 0 {
                        let wall = SystemTime::UNIX_EPOCH
                            + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
                        at = Some(super::instant_of(wall));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok((n as usize, at))
    }

    /// Looks at the next byte without taking it: `Ok(0)` is the peer's close.
    pub fn peek(s: &impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
        let n = unsafe {
            libc::recv(
                s.as_fd().as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// One `send`, never raising SIGPIPE.
    pub fn send(s: &impl AsFd, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for `buf.len()` bytes for the call.
        let n = unsafe {
            libc::send(
                s.as_fd().as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io::{self, Read, Write};
    use std::os::fd::AsFd;
    use std::time::Instant;

    pub fn enable_timestamps(_: &impl AsFd) {}

    pub fn recv(
        s: &impl AsFd,
        buf: &mut [u8],
        _stamped: bool,
    ) -> io::Result<(usize, Option<Instant>)> {
        let fd = s.as_fd().try_clone_to_owned()?;
        let mut f = std::fs::File::from(fd);
        Ok((f.read(buf)?, None))
    }

    pub fn send(s: &impl AsFd, buf: &[u8]) -> io::Result<usize> {
        let fd = s.as_fd().try_clone_to_owned()?;
        std::fs::File::from(fd).write(buf)
    }

    pub fn peek(_: &impl AsFd, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_carry_the_kernel_receive_time() {
        let _held = Stamping::hold(std::time::Duration::from_secs(1));
        crate::caller::reads::set_batching(true);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.unwrap();
            s.write_all(b"pong").await.unwrap();
        });
        let mut c = StampedTcp::connect(addr).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        server.await.unwrap();
        // the answer is in the socket buffer; read it a while later
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let before_read = Instant::now();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"pong");
        if cfg!(target_os = "linux") {
            let at = c.arrived().expect("a receive timestamp");
            assert!(at + std::time::Duration::from_millis(40) < before_read);
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn while_stamping_is_held_a_new_connection_s_first_read_is_stamped() {
        // without it, the kernel switches stamping on (and, once the last socket that asked
        // is closed, off) through deferred work: a connection's first answers can come
        // unstamped, and a batched read would date them late
        let _held = Stamping::hold(std::time::Duration::from_secs(1)).expect("stamping on");
        for round in 0..10 {
            let (mut tx, rx) = stamping_pair().unwrap();
            // loopback delivers at once, or on a busy machine a moment later
            let until = Instant::now() + std::time::Duration::from_secs(1);
            let stamped = byte_stamped(&mut tx, &rx, until).unwrap();
            assert!(stamped, "round {round}: an unstamped first read");
            drop((tx, rx));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[tokio::test]
    async fn prompt_reads_skip_the_timestamp() {
        let _held = Stamping::hold(std::time::Duration::from_secs(1));
        // a saturated dispatcher reads as answers come: a plain read, dated by the caller
        crate::caller::reads::set_batching(true);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            for _ in 0..2 {
                let mut b = [0u8; 4];
                s.read_exact(&mut b).await.unwrap();
                s.write_all(b"pong").await.unwrap();
            }
        });
        let mut c = StampedTcp::connect(addr).await.unwrap();
        let mut b = [0u8; 4];
        for prompt in [true, false] {
            crate::caller::reads::set_prompt(prompt);
            c.write_all(b"ping").await.unwrap();
            c.read_exact(&mut b).await.unwrap();
            if cfg!(target_os = "linux") {
                assert_eq!(c.arrived().is_none(), prompt, "prompt {prompt}");
            }
        }
        server.await.unwrap();
    }

    #[tokio::test]
    async fn datagrams_carry_the_kernel_receive_time() {
        let _held = Stamping::hold(std::time::Duration::from_secs(1));
        crate::caller::reads::set_batching(true);
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let c = udp_connect(server.local_addr().unwrap()).await.unwrap();
        c.send(b"ping").await.unwrap();
        let mut b = [0u8; 16];
        let (n, from) = server.recv_from(&mut b).await.unwrap();
        server.send_to(&b[..n], from).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let before_read = Instant::now();
        let (n, at) = udp_recv(&c, &mut b).await.unwrap();
        assert_eq!(&b[..n], b"ping");
        if cfg!(target_os = "linux") {
            let at = at.expect("a receive timestamp");
            assert!(
                at + std::time::Duration::from_millis(40) < before_read,
                "{:?}",
                before_read - at
            );
        }
    }
}
