//! The byte stream of one connection: plain TCP until STARTTLS, TLS after it. The bytes that
//! were read past the STARTTLS frame belong to the TLS handshake and are replayed to rustls.

use smol::io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A stream that first yields `pending` (bytes already read from `inner`), then reads `inner`.
pub struct Replay<S> {
    pending: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Replay<S> {
    pub fn new(inner: S) -> Replay<S> {
        Replay {
            pending: Vec::new(),
            pos: 0,
            inner,
        }
    }

    /// Queue `bytes` to be read before anything else from the socket.
    pub fn replay(&mut self, bytes: &[u8]) {
        self.pending.drain(..self.pos);
        self.pos = 0;
        self.pending.extend_from_slice(bytes);
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pos < this.pending.len() {
            let n = buf.len().min(this.pending.len() - this.pos);
            buf[..n].copy_from_slice(&this.pending[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.pending.len() {
                this.pending = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// Plain until STARTTLS, then TLS (`T` is futures-rustls' server or client stream).
pub enum Conn<S, T> {
    Plain(Replay<S>),
    Tls(Box<T>),
    /// Between taking the plain stream for the TLS handshake and getting the TLS stream back.
    Closed,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection is closed")
}

impl<S, T> AsyncRead for Conn<S, T>
where
    S: AsyncRead + Unpin,
    T: AsyncRead + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
            Conn::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl<S, T> AsyncWrite for Conn<S, T>
where
    S: AsyncWrite + Unpin,
    T: AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, buf),
            Conn::Closed => Poll::Ready(Err(closed())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
            Conn::Closed => Poll::Ready(Err(closed())),
        }
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_close(cx),
            Conn::Tls(t) => Pin::new(t.as_mut()).poll_close(cx),
            Conn::Closed => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::io::AsyncReadExt;

    #[test]
    fn replayed_bytes_come_first() {
        smol::block_on(async {
            let mut r = Replay::new(smol::io::Cursor::new(b"world".to_vec()));
            r.replay(b"hello ");
            let mut out = String::new();
            r.read_to_string(&mut out).await.unwrap();
            assert_eq!(out, "hello world");
        });
    }
}
