//! One task per client connection: read bytes → frames → engine; write this client's FIFO in
//! order; switch to TLS on STARTTLS; sleep until the engine's next deadline.

use super::admission::Ticket;
use super::revocation::PeerCert;
use super::{ratelog, tls, Close, Daemon, Out};
use crate::engine::ClientId;
use crate::proto::framing::FrameReader;
use crate::tls::stream::{Conn, Replay};
use smol::channel::Receiver;
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A write that cannot complete for this long means the client stopped reading (its socket
/// buffer is full); while we wait we do not read it either, so drop it.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Read chunk per client, allocated for the connection's life: qdevice's messages are well
/// under 1 KiB, and a bigger one only takes more reads (rustls has its own 4 KiB receive
/// buffer under this). 4 KiB here cost 3 KiB more per idle client (16% of it).
const READ_CHUNK: usize = 1024;

type ServerConn =
    Conn<Async<TcpStream>, futures_rustls::server::TlsStream<Replay<Async<TcpStream>>>>;

/// How a session ended; decides the log line.
enum End {
    /// The client closed the connection.
    PeerClosed,
    /// A socket or TLS error.
    Io(String),
    /// We drop the client, for a reason the user can act on.
    Refused(String),
    /// Like `Refused`, for what a flood repeats: rate-limited by `kind`.
    Flood(&'static str, String),
    /// The engine or the driver closed the connection.
    Closed(Box<Close>),
}

/// What draining the FIFO asks for next.
enum Step {
    Continue,
    StartTls,
    Close(Box<Close>),
}

enum Event {
    Read(std::io::Result<usize>),
    Out(Option<Out>),
    Timer,
}

/// Serve one accepted connection until it ends, then tell the engine it is gone. `ticket` is
/// the connection's admission place: it is given back when this task ends or is dropped.
pub async fn serve(daemon: Rc<Daemon>, stream: Async<TcpStream>, addr: String, ticket: Ticket) {
    let now = Instant::now();
    let id = daemon
        .engine
        .borrow_mut()
        .client_connected(addr.clone(), now);
    let (tx, rx) = smol::channel::unbounded();
    daemon.fifos.borrow_mut().insert(id, tx);
    log::debug!("client {addr} connected");

    let handshake_timeout = daemon.cfg.settings.handshake_timeout;
    let mut session = Session {
        daemon: daemon.clone(),
        id,
        addr: addr.clone(),
        rx,
        conn: Conn::Plain(Replay::new(stream)),
        reader: FrameReader::new(daemon.cfg.settings.max_client_receive_size as usize),
        handshake_deadline: handshake_timeout.map(|t| now + t),
        handshake_timeout,
        ticket,
    };
    let end = session.run().await;
    let before_init = session.ticket.is_preinit();
    drop(session);

    daemon.fifos.borrow_mut().remove(&id);
    daemon.peer_certs.borrow_mut().remove(&id);
    let outputs = daemon
        .engine
        .borrow_mut()
        .client_disconnected(id, Instant::now());
    daemon.route(outputs);
    match end {
        // A host that connects and hangs up without INIT is a scan or a node that gave up
        // (a TLS client that does not trust our CA does this): worth a line, but rate-limited.
        End::PeerClosed if before_init => ratelog::log(
            log::Level::Info,
            "closed before INIT",
            format_args!("client {addr} closed the connection before finishing INIT"),
        ),
        End::PeerClosed => log::debug!("client {addr} closed the connection"),
        End::Io(e) => ratelog::log(
            log::Level::Info,
            "disconnected",
            format_args!("client {addr} disconnected: {e}"),
        ),
        End::Refused(why) => log::warn!("client {addr} dropped: {why}"),
        End::Flood(kind, why) => ratelog::log(
            log::Level::Warn,
            kind,
            format_args!("client {addr} dropped: {why}"),
        ),
        // Some of the engine's reasons name the client already. Rate-limited: a flood
        // refused at INIT, or many clients timing out at once, repeats them.
        End::Closed(why) if matches!(&*why, Close::Engine(r) if r.names_client()) => {
            ratelog::log(log::Level::Warn, "dropped", format_args!("{why}"))
        }
        End::Closed(why) => ratelog::log(
            log::Level::Warn,
            "dropped",
            format_args!("client {addr}: {why}"),
        ),
    }
}

struct Session {
    daemon: Rc<Daemon>,
    id: ClientId,
    addr: String,
    rx: Receiver<Out>,
    conn: ServerConn,
    reader: FrameReader,
    /// Until the first complete message: drop clients that connect and say nothing.
    handshake_deadline: Option<Instant>,
    handshake_timeout: Option<Duration>,
    /// Held for the session's life (its drop frees the admission place); told when INIT is
    /// accepted, which frees the pre-INIT place.
    ticket: Ticket,
}

impl Session {
    async fn run(&mut self) -> End {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let deadline = self.next_deadline();
            let event = {
                let conn = &mut self.conn;
                let rx = &self.rx;
                let read = async { Event::Read(conn.read(&mut buf).await) };
                let out = async { Event::Out(rx.recv().await.ok()) };
                let timer = async {
                    match deadline {
                        Some(at) => Timer::at(at).await,
                        None => Timer::never().await,
                    };
                    Event::Timer
                };
                read.or(out).or(timer).await
            };
            let result = match event {
                Event::Read(Ok(0)) => return End::PeerClosed,
                // qdevice closes TLS connections without close_notify: an ordinary close.
                Event::Read(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return End::PeerClosed
                }
                Event::Read(Err(e)) => return End::Io(e.to_string()),
                Event::Read(Ok(n)) => {
                    let handled = self.handle_bytes(&buf[..n]).await;
                    // A client that keeps the socket readable must not starve the others:
                    // one task runs until it is pending.
                    smol::future::yield_now().await;
                    handled
                }
                // The sender lives in the daemon's table until this task removes it.
                Event::Out(None) => return End::Refused("server is shutting down".into()),
                Event::Out(Some(item)) => self.handle_outputs(Some(item)).await,
                Event::Timer => self.handle_timer().await,
            };
            if let Err(end) = result {
                return end;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let engine = self.daemon.engine.borrow().next_deadline(self.id);
        match (engine, self.handshake_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Feed bytes to the framer one frame at a time; after each frame write what the engine
    /// queued for us, so replies keep the engine's order and STARTTLS can cut the stream.
    async fn handle_bytes(&mut self, mut input: &[u8]) -> Result<(), End> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let (used, frame) = self.reader.push(input);
            input = &input[used..];
            let Some(frame) = frame else {
                if used == 0 {
                    break;
                }
                continue;
            };
            self.handshake_deadline = None;
            let outputs = self.feed(frame);
            self.daemon.route(outputs);
            if self.ticket.is_preinit() && self.daemon.engine.borrow().is_initialised(self.id) {
                self.ticket.initialised();
            }
            match self.drain(None, &mut out) {
                Step::Continue => {}
                Step::StartTls => {
                    self.write(&out).await?;
                    return self.start_tls(input).await;
                }
                Step::Close(why) => {
                    self.write(&out).await?;
                    return Err(End::Closed(why));
                }
            }
        }
        self.write(&out).await
    }

    /// One frame to the engine. Before INIT, a source address whose share of sessions is
    /// full (`max_clients_per_address`) has its INIT refused.
    fn feed(&self, frame: crate::proto::framing::Frame) -> Vec<crate::engine::Output> {
        let mut engine = self.daemon.engine.borrow_mut();
        let now = Instant::now();
        match self.ticket.may_init() {
            Ok(()) => engine.frame_received(self.id, frame, now),
            Err(full) => engine.frame_received_init_refused(self.id, frame, &full.words(), now),
        }
    }

    /// Outputs that other clients' messages (or our timers) queued for this client.
    async fn handle_outputs(&mut self, first: Option<Out>) -> Result<(), End> {
        let mut out = Vec::new();
        match self.drain(first, &mut out) {
            Step::Continue => self.write(&out).await,
            Step::StartTls => {
                self.write(&out).await?;
                self.start_tls(&[]).await
            }
            Step::Close(why) => {
                self.write(&out).await?;
                Err(End::Closed(why))
            }
        }
    }

    async fn handle_timer(&mut self) -> Result<(), End> {
        let now = Instant::now();
        if self.handshake_deadline.is_some_and(|t| now >= t) {
            return Err(End::Flood(
                "handshake_timeout",
                format!(
                    "sent no complete message within {} ms of connecting (handshake_timeout)",
                    self.handshake_timeout.map_or(0, |t| t.as_millis())
                ),
            ));
        }
        let outputs = self.daemon.engine.borrow_mut().timers_due(self.id, now);
        self.daemon.route(outputs);
        self.handle_outputs(None).await
    }

    /// Move queued frames into `out` until the FIFO is empty or a STARTTLS / close item.
    fn drain(&mut self, first: Option<Out>, out: &mut Vec<u8>) -> Step {
        let mut next = first.or_else(|| self.rx.try_recv().ok());
        while let Some(item) = next {
            match item {
                Out::Frame(bytes) => out.extend_from_slice(&bytes),
                Out::StartTls => return Step::StartTls,
                Out::Close(why) => return Step::Close(why),
            }
            next = self.rx.try_recv().ok();
        }
        Step::Continue
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), End> {
        if bytes.is_empty() {
            return Ok(());
        }
        let io = async {
            self.conn.write_all(bytes).await?;
            self.conn.flush().await
        };
        let stuck = async {
            Timer::after(SEND_TIMEOUT).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the client has not read its replies for {} s",
                    SEND_TIMEOUT.as_secs()
                ),
            ))
        };
        io.or(stuck)
            .await
            .map_err(|e| End::Io(format!("write failed: {e}")))
    }

    /// Why the handshake failed: for a revoked certificate, the verifier's words with its
    /// serial, cluster, date and reason.
    fn handshake_refusal(&self, e: &std::io::Error, cert_required: bool) -> String {
        let revoked = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .is_some_and(|t| {
                matches!(
                    t,
                    rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)
                )
            });
        match revoked.then(|| self.daemon.revocations.take_last_refusal()) {
            Some(Some(words)) => words,
            _ => tls::describe_handshake_error(e, cert_required),
        }
    }

    /// STARTTLS: the bytes after the STARTTLS frame (`rest`) are the start of the ClientHello.
    async fn start_tls(&mut self, rest: &[u8]) -> Result<(), End> {
        let Some(slot) = self.daemon.tls.clone() else {
            return Err(End::Refused(
                "client sent STARTTLS but TLS is off on this server (-s off)".into(),
            ));
        };
        let Conn::Plain(mut plain) = std::mem::replace(&mut self.conn, Conn::Closed) else {
            return Err(End::Refused("client sent STARTTLS twice".into()));
        };
        plain.replay(rest);
        let limit = self.handshake_timeout;
        let handshake = async {
            // Waits only while the TLS configuration is still being built (boot entropy).
            let acceptor = slot.wait().await.clone();
            acceptor.accept(plain).await.map(Some)
        };
        let timeout = async {
            match limit {
                Some(t) => Timer::after(t).await,
                None => Timer::never().await,
            };
            Ok(None)
        };
        let cert_required = self.daemon.cfg.client_cert_required;
        let outcome = handshake.or(timeout).await;
        let counters = &self.daemon.counters;
        match &outcome {
            Ok(Some(_)) => super::Counters::count(&counters.tls_ok),
            _ => super::Counters::count(&counters.tls_failed),
        }
        let mut tls = match outcome {
            Ok(Some(tls)) => tls,
            Ok(None) => {
                return Err(End::Flood(
                    "handshake_timeout",
                    format!(
                        "TLS handshake not completed within {} ms (handshake_timeout)",
                        limit.map_or(0, |t| t.as_millis())
                    ),
                ))
            }
            Err(e) => {
                return Err(End::Flood(
                    "TLS handshake failed",
                    self.handshake_refusal(&e, cert_required),
                ))
            }
        };
        // Taken, not borrowed: rustls would keep the chain for the connection's life.
        let (_, session) = tls.get_mut();
        let certs = session.take_peer_certificates();
        let cert = certs.as_ref().and_then(|certs| certs.first());
        let peer = cert.map(|cert| crate::certname::peer_identity(cert.as_ref()));
        if let Some(pc) = cert.and_then(|c| PeerCert::from_der(c.as_ref())) {
            self.daemon.peer_certs.borrow_mut().insert(self.id, pc);
        }
        log::debug!(
            "client {}: TLS established ({:?}), client certificate names {:?}",
            self.addr,
            session.protocol_version(),
            peer
        );
        self.daemon
            .engine
            .borrow_mut()
            .tls_established(self.id, peer);
        self.conn = Conn::Tls(Box::new(tls));
        Ok(())
    }
}
