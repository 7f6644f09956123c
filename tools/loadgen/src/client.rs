//! One simulated qdevice-net node: connects, negotiates, sends its node lists when told,
//! answers VOTE_INFO, sends an echo every heartbeat, and reconnects when the session ends.

use crate::conn::{self, send, Conn};
use crate::wire::{self, Reply};
use qnetd::proto::types::{MsgType, NodeListType, RingId, TlsMode, Vote};
use smol::channel::{Receiver, Sender};
use smol::future::FutureExt;
use smol::io::AsyncReadExt;
use smol::net::TcpStream;
use smol::Timer;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a node is told to do by its cluster's coordinator.
#[derive(Debug, Clone)]
pub enum Command {
    Membership { ring: RingId, nodes: Vec<u32> },
    Quorum { nodes: Vec<u32> },
}

/// What a node tells its coordinator.
#[derive(Debug, Clone)]
pub enum Event {
    /// INIT, SET_OPTION and the initial config list went through.
    Ready {
        node: usize,
    },
    /// The membership list was written at this instant.
    MembershipSent {
        node: usize,
        at: Instant,
    },
    NodeListReply {
        node: usize,
        kind: NodeListType,
    },
    Vote {
        node: usize,
        vote: Vote,
        ring: Option<RingId>,
        at: Instant,
    },
    Disconnected {
        node: usize,
    },
}

/// Counters every client updates.
#[derive(Default)]
pub struct Counters {
    /// Session attempts that failed before the node was ready, while the daemon was up.
    pub refused: u64,
    /// Established sessions that ended while the daemon was meant to be up.
    pub dropped: u64,
    pub last_error: Option<String>,
    /// False while the daemon is deliberately down (restart phase): failures then are expected.
    pub daemon_up: bool,
    pub stop: bool,
}

pub struct Node {
    pub addr: SocketAddr,
    pub cluster: String,
    pub index: usize,
    pub node_id: u32,
    pub config_nodes: Vec<u32>,
    pub heartbeat: Duration,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub events: Sender<Event>,
    pub commands: Receiver<Command>,
    pub counters: Rc<RefCell<Counters>>,
}

#[derive(Debug)]
enum Failure {
    /// Before the node was ready: counted as refused.
    Setup(String),
    /// After it was ready: counted as dropped.
    Session(String),
}

impl Node {
    /// Runs sessions until the load generator stops.
    pub async fn run(self, start_delay: Duration) {
        Timer::after(start_delay).await;
        let mut backoff_ms = 100u64;
        loop {
            if self.counters.borrow().stop {
                return;
            }
            let was_up = self.counters.borrow().daemon_up;
            let failure = self.session().await;
            let (stop, was_session) = self.count(failure, was_up);
            if stop {
                return;
            }
            if was_session {
                backoff_ms = 100;
            }
            // Reconnect like qdevice-net: after a pause, with jitter so a restart does not
            // turn into lock-step waves.
            let pause = backoff_ms / 2 + fastrand_u64(backoff_ms);
            Timer::after(Duration::from_millis(pause)).await;
            backoff_ms = (backoff_ms * 2).min(1000);
        }
    }

    /// Counts a failed session; returns (stop now, it was an established session).
    fn count(&self, failure: Failure, was_up: bool) -> (bool, bool) {
        let mut c = self.counters.borrow_mut();
        if c.stop {
            return (true, false);
        }
        let counted = was_up && c.daemon_up;
        let (counter, e, was_session) = match failure {
            Failure::Setup(e) => (&mut c.refused, e, false),
            Failure::Session(e) => (&mut c.dropped, e, true),
        };
        if counted {
            *counter += 1;
            c.last_error = Some(format!("{}: {e}", self.cluster));
        }
        (false, was_session)
    }

    async fn session(&self) -> Failure {
        let setup = async { self.setup().await.map_err(Failure::Setup) }.or(async {
            // The real client bounds connect + PREINIT..INIT_REPLY by the heartbeat interval.
            Timer::after(self.heartbeat.max(Duration::from_secs(8))).await;
            Err(Failure::Setup("setup timed out".into()))
        });
        let (mut conn, mut seq) = match setup.await {
            Ok(v) => v,
            Err(f) => return f,
        };
        while self.commands.try_recv().is_ok() {} // stale orders from an earlier session
        let _ = self.events.send(Event::Ready { node: self.index }).await;
        let reason = self.steady(&mut conn, &mut seq).await;
        let _ = self
            .events
            .send(Event::Disconnected { node: self.index })
            .await;
        Failure::Session(reason)
    }

    async fn request(&self, conn: &mut Conn, bytes: &[u8]) -> Result<Reply, String> {
        send(conn, bytes).await.map_err(|e| format!("send: {e}"))?;
        let frame = wire::read_frame(conn)
            .await
            .map_err(|e| format!("read: {e}"))?
            .ok_or("closed by the server")?;
        wire::parse_reply(&frame)
    }

    /// PREINIT → (STARTTLS → TLS) → INIT → SET_OPTION → initial config NODE_LIST.
    async fn setup(&self) -> Result<(Conn, u32), String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut conn = conn::plain(tcp);
        let mut seq = 1u32;
        let r = self
            .request(&mut conn, &wire::preinit(seq, &self.cluster))
            .await?;
        expect(&r, MsgType::PreinitReply, seq)?;
        let server_tls = r.tls.ok_or("PREINIT_REPLY without TLS_SUPPORTED")?;
        if let (Some(cfg), TlsMode::Supported | TlsMode::Required) = (&self.tls, server_tls) {
            seq += 1;
            send(&mut conn, &wire::starttls(seq))
                .await
                .map_err(|e| format!("send: {e}"))?;
            let Conn::Plain(tcp) = std::mem::replace(&mut conn, Conn::Closed) else {
                return Err("STARTTLS twice".into());
            };
            // An IP address as server name: rustls then sends no SNI; the certificate's name
            // is checked against "Qnetd Server" by our verifier.
            let name = rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
            let tls = futures_rustls::TlsConnector::from(cfg.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            conn = Conn::Tls(Box::new(tls));
        } else if server_tls == TlsMode::Required {
            return Err("server requires TLS and no certificates were given".into());
        }
        seq += 1;
        let ring = RingId {
            node_id: self.config_nodes[0],
            seq: 1,
        };
        let hb = u32::try_from(self.heartbeat.as_millis()).unwrap_or(u32::MAX);
        let r = self
            .request(&mut conn, &wire::init(seq, self.node_id, hb, ring))
            .await?;
        expect(&r, MsgType::InitReply, seq)?;
        if r.error != Some(0) {
            return Err(format!("INIT_REPLY error {:?}", r.error));
        }
        seq += 1;
        let r = self
            .request(&mut conn, &wire::set_option_kap(seq, false))
            .await?;
        expect(&r, MsgType::SetOptionReply, seq)?;
        seq += 1;
        let list = wire::node_list(seq, NodeListType::InitialConfig, &self.config_nodes, ring);
        let r = self.request(&mut conn, &list).await?;
        expect(&r, MsgType::NodeListReply, seq)?;
        Ok((conn, seq))
    }

    /// Echoes, orders from the coordinator and server messages, until the session ends.
    async fn steady(&self, conn: &mut Conn, seq: &mut u32) -> String {
        enum Wake {
            Read(std::io::Result<usize>),
            Command(Option<Command>),
            Tick,
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 1024];
        let mut echo_seq = 0u32;
        let mut echo_answered = true;
        // First echo after a random part of the interval: spreads the heartbeats evenly.
        let hb_ms = self.heartbeat.as_millis() as u64;
        let mut next_tick = Instant::now() + Duration::from_millis(fastrand_u64(hb_ms.max(1)));
        loop {
            if self.counters.borrow().stop {
                return "stopped".into();
            }
            let wake = async { Wake::Read(conn.read(&mut chunk).await) }
                .or(async { Wake::Command(self.commands.recv().await.ok()) })
                .or(async {
                    Timer::at(next_tick).await;
                    Wake::Tick
                })
                .await;
            match wake {
                Wake::Read(Ok(0)) => return "closed by the server".into(),
                Wake::Read(Err(e)) => return format!("read: {e}"),
                Wake::Read(Ok(n)) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.len() > 1 << 20 {
                        return "more than 1 MiB of unfinished message".into();
                    }
                    while let Some(frame) = take_frame(&mut buf) {
                        if let Err(e) = self
                            .on_message(conn, &frame, echo_seq, &mut echo_answered)
                            .await
                        {
                            return e;
                        }
                    }
                }
                Wake::Command(None) => return "coordinator gone".into(),
                Wake::Command(Some(cmd)) => {
                    *seq += 1;
                    let (bytes, membership) = match cmd {
                        Command::Membership { ring, nodes } => (
                            wire::node_list(*seq, NodeListType::Membership, &nodes, ring),
                            true,
                        ),
                        Command::Quorum { nodes } => (
                            wire::node_list(*seq, NodeListType::Quorum, &nodes, RingId::default()),
                            false,
                        ),
                    };
                    if let Err(e) = send(conn, &bytes).await {
                        return format!("send: {e}");
                    }
                    if membership {
                        let at = Instant::now();
                        let _ = self
                            .events
                            .send(Event::MembershipSent {
                                node: self.index,
                                at,
                            })
                            .await;
                    }
                }
                Wake::Tick => {
                    if !echo_answered {
                        return "server didn't send echo reply on time".into();
                    }
                    echo_seq += 1;
                    echo_answered = false;
                    if let Err(e) = send(conn, &wire::echo(echo_seq)).await {
                        return format!("send: {e}");
                    }
                    next_tick += self.heartbeat;
                }
            }
        }
    }

    async fn on_message(
        &self,
        conn: &mut Conn,
        frame: &[u8],
        echo_seq: u32,
        echo_answered: &mut bool,
    ) -> Result<(), String> {
        let at = Instant::now();
        let r = wire::parse_reply(frame)?;
        match r.msg_type {
            MsgType::EchoReply => {
                if r.seq != Some(echo_seq) {
                    return Err(format!("echo reply seq {:?}, sent {echo_seq}", r.seq));
                }
                *echo_answered = true;
            }
            MsgType::VoteInfo => {
                let vote = r.vote.ok_or("VOTE_INFO without VOTE")?;
                let seq = r.seq.ok_or("VOTE_INFO without SEQ")?;
                let _ = self
                    .events
                    .send(Event::Vote {
                        node: self.index,
                        vote,
                        ring: r.ring,
                        at,
                    })
                    .await;
                send(conn, &wire::vote_info_reply(seq))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
            }
            MsgType::NodeListReply => {
                let kind = r
                    .list_type
                    .ok_or("NODE_LIST_REPLY without NODE_LIST_TYPE")?;
                let _ = self
                    .events
                    .send(Event::NodeListReply {
                        node: self.index,
                        kind,
                    })
                    .await;
            }
            MsgType::ServerError => return Err(format!("SERVER_ERROR {:?}", r.error)),
            other => return Err(format!("unexpected {other:?}")),
        }
        Ok(())
    }
}

fn expect(r: &Reply, t: MsgType, seq: u32) -> Result<(), String> {
    if r.msg_type == MsgType::ServerError {
        return Err(format!("SERVER_ERROR {:?} instead of {t:?}", r.error));
    }
    if r.msg_type != t {
        return Err(format!("{:?} instead of {t:?}", r.msg_type));
    }
    if r.seq != Some(seq) {
        return Err(format!("{t:?} seq {:?}, expected {seq}", r.seq));
    }
    Ok(())
}

/// Removes one complete message from the front of `buf`.
fn take_frame(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    if buf.len() < 6 {
        return None;
    }
    let len = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
    if buf.len() < 6 + len {
        return None;
    }
    let rest = buf.split_off(6 + len);
    Some(std::mem::replace(buf, rest))
}

/// A small xorshift generator: jitter needs no cryptographic quality, nor a dependency.
pub fn fastrand_u64(bound: u64) -> u64 {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 | 1)
                .unwrap_or(0x9e37_79b9_7f4a_7c15),
        );
    }
    if bound == 0 {
        return 0;
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x % bound
    })
}
