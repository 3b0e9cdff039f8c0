//! The connection under the HTTP layer: a write deadline that closes a
//! connection whose client stops accepting response bytes.
//!
//! actix-http has timeouts for a request head and for keep-alive, none for
//! writing: a client that asks for a large page and never reads it keeps the
//! connection, its buffers and the page alive for as long as it likes. The
//! deadline wraps the TCP socket under TLS, where every byte of the
//! response goes: while TLS has bytes the socket will not take (its buffers
//! are full because the peer does not read), a timer runs; any byte the
//! kernel takes stops it. When it fires, the write fails, the dispatcher
//! drops the connection with its buffers and the response body, and the
//! socket is reset so the kernel drops the unsent bytes too (as nginx's
//! `send_timeout`: the time between two successful writes, not the time of
//! the whole response). Above TLS the timer would not do: rustls takes
//! bytes into its own buffer whenever the dispatcher wakes, which looks like
//! progress while nothing reaches the peer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_rt::net::{ActixStream, TcpStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What to do to the transport when its writes time out.
pub trait Abort {
    /// Drops whatever the transport still buffers for the peer.
    fn abort(&self) {}
}

impl Abort for TcpStream {
    fn abort(&self) {
        // A reset instead of a FIN: the kernel frees the unsent bytes at once
        // instead of keeping them for a peer that does not read.
        let _ = self.set_zero_linger();
    }
}

/// A transport whose writes fail once the peer has accepted nothing for
/// `timeout` while output was waiting.
pub struct WriteDeadline<IO> {
    io: IO,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
    peer: Option<SocketAddr>,
    closed: Arc<AtomicU64>,
}

impl<IO> WriteDeadline<IO> {
    /// `closed` counts the connections this deadline has closed.
    pub fn new(
        io: IO,
        timeout: Duration,
        peer: Option<SocketAddr>,
        closed: Arc<AtomicU64>,
    ) -> WriteDeadline<IO> {
        WriteDeadline {
            io,
            timeout,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: false,
            peer,
            closed,
        }
    }

    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }
}

impl<IO: Abort> WriteDeadline<IO> {
    /// Output is waiting: start the timer (from now) unless it runs, and
    /// fail once it has run out.
    fn blocked(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.armed {
            self.timer.as_mut().reset(Instant::now() + self.timeout);
            self.armed = true;
        }
        ready!(self.timer.as_mut().poll(cx));
        self.io.abort();
        self.closed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            peer = %self.peer.map_or_else(|| "-".to_string(), |p| p.to_string()),
            timeout_s = self.timeout.as_secs_f64(),
            "closed a connection whose client stopped reading its response"
        );
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client accepted no response bytes within the send timeout",
        ))
    }

    fn progressed(&mut self) {
        self.armed = false;
    }

    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => self.blocked(cx).map(Err),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteDeadline<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Abort + Unpin> AsyncWrite for WriteDeadline<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.guard(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.guard(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.guard(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.guard(cx, polled)
    }
}

/// What actix-tls asks of the transport under TLS; readiness is the socket's.
impl<IO: ActixStream + Abort> ActixStream for WriteDeadline<IO> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<tokio::io::Ready>> {
        self.io.poll_read_ready(cx)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<tokio::io::Ready>> {
        self.io.poll_write_ready(cx)
    }
}

/// Longest header name actix-http can hold: `HeaderName::from_bytes` refuses
/// a longer one, and actix-http 3.20's decoder unwraps that result, so such
/// a name panics inside the dispatcher (its head limit, 128 KiB, lets it
/// through).
pub const MAX_HEADER_NAME: usize = 65_535;

/// The decrypted bytes on their way to the HTTP parser, checked for the one
/// input that panics it: a header name over [`MAX_HEADER_NAME`] bytes. The
/// connection fails before the parser sees it. What is checked is exact and
/// needs no knowledge of HTTP framing: more than 65,535 token characters in
/// a row followed by a colon. In a JSON body that can only be a string (a
/// key's colon follows its closing quote) holding 64 KiB of letters, digits
/// and `-_.!#$%&'*+^`|~` without a space and then a colon: no STIX content
/// does that, and such a request is refused whole.
pub struct HeaderNameGuard<IO> {
    io: IO,
    /// Token characters in a row up to the end of what was read so far.
    run: usize,
}

impl<IO> HeaderNameGuard<IO> {
    pub fn new(io: IO) -> Self {
        HeaderNameGuard { io, run: 0 }
    }

    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

/// RFC 9110's `tchar`: what a header name is made of.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Carries the run of token characters across `bytes`; false when a run
/// longer than a header name may be ends in a colon.
fn header_names_fit(run: &mut usize, bytes: &[u8]) -> bool {
    for &b in bytes {
        if is_token_char(b) {
            *run += 1;
        } else {
            if b == b':' && *run > MAX_HEADER_NAME {
                return false;
            }
            *run = 0;
        }
    }
    true
}

impl<IO: AsyncRead + Unpin> AsyncRead for HeaderNameGuard<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if header_names_fit(&mut this.run, &buf.filled()[before..]) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a header name longer than 65,535 bytes",
            )))
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for HeaderNameGuard<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    impl Abort for DuplexStream {}

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn a_peer_that_stops_reading_fails_the_write_after_the_timeout() {
        runtime().block_on(async {
            let (server, _client) = tokio::io::duplex(1024);
            let closed = Arc::new(AtomicU64::new(0));
            let mut io = WriteDeadline::new(server, Duration::from_secs(30), None, closed.clone());
            let started = Instant::now();
            let err = io.write_all(&[7u8; 64 * 1024]).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            // Paused time: the timeout passed, no sooner (to the timer's millisecond).
            let waited = started.elapsed();
            assert!(
                waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
                "{waited:?}"
            );
            assert_eq!(closed.load(Ordering::Relaxed), 1);
        });
    }

    #[test]
    fn a_slow_reader_that_keeps_reading_is_not_cut() {
        runtime().block_on(async {
            let (server, mut client) = tokio::io::duplex(1024);
            let closed = Arc::new(AtomicU64::new(0));
            let mut io = WriteDeadline::new(server, Duration::from_secs(30), None, closed.clone());
            let reader = tokio::spawn(async move {
                let mut total = 0;
                let mut buf = [0u8; 512];
                loop {
                    // Reads a little every 20 s: slower than the whole
                    // timeout overall, but never 30 s without progress.
                    tokio::time::sleep(Duration::from_secs(20)).await;
                    match client.read(&mut buf).await.unwrap() {
                        0 => return total,
                        n => total += n,
                    }
                }
            });
            io.write_all(&[7u8; 8 * 1024]).await.unwrap();
            io.shutdown().await.unwrap();
            drop(io);
            assert_eq!(reader.await.unwrap(), 8 * 1024);
            assert_eq!(closed.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn only_an_overlong_header_name_trips_the_guard() {
        let name = |n: usize| "X".repeat(n).into_bytes();
        let mut run = 0;
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        head.extend(name(MAX_HEADER_NAME));
        head.extend(b": v\r\n\r\n");
        assert!(header_names_fit(&mut run, &head), "the longest legal name");

        // One byte more, split across reads as TLS records split it.
        let mut run = 0;
        let long = name(MAX_HEADER_NAME + 1);
        let (a, b) = long.split_at(40_000);
        assert!(header_names_fit(&mut run, b"GET / HTTP/1.1\r\n"));
        assert!(header_names_fit(&mut run, a));
        assert!(header_names_fit(&mut run, b));
        assert!(!header_names_fit(&mut run, b": v\r\n"));

        // Long runs of letters without a colon, or broken before it, pass:
        // a body of hex or base64url text is not a header.
        let mut run = 0;
        assert!(header_names_fit(&mut run, &name(200_000)));
        assert!(header_names_fit(&mut run, b"\""));
        assert!(header_names_fit(&mut run, b": 1"));
    }
}
