//! One client connection: qnetd's own stream type (plain TCP until STARTTLS, TLS after it),
//! the same one the daemon and `qnetd probe` use.

use futures_rustls::client::TlsStream;
use qnetd::tls::stream::Replay;
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;
use std::io;

pub type Conn = qnetd::tls::stream::Conn<TcpStream, TlsStream<Replay<TcpStream>>>;

/// A plain connection; nothing to replay (the server speaks only after our request).
pub fn plain(tcp: TcpStream) -> Conn {
    Conn::Plain(Replay::new(tcp))
}

/// Writes one whole message and flushes it (TLS buffers until flushed).
pub async fn send(conn: &mut Conn, bytes: &[u8]) -> io::Result<()> {
    conn.write_all(bytes).await?;
    conn.flush().await
}
