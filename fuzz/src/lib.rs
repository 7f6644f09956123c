//! Property checks shared by the cargo-fuzz targets (fuzz/fuzz_targets/) and the corpus replay
//! test that runs on stable without cargo-fuzz (tests/proto/fuzz_corpus_replay.rs includes this file).
//! Each check takes arbitrary bytes and panics when a property is broken; that is its purpose,
//! so none of this is part of the daemon.

use std::time::{Duration, Instant};

// The identity invariant is shared with the engine tests; the proto test crate that includes
// this file also has it through tests/support.
#[allow(clippy::duplicate_mod)]
#[path = "../../tests/support/identity.rs"]
mod identity;

use qnetd_core::engine::{ClientId, Engine, EngineConfig, Output, PeerIdentity, TlsView};
use qnetd_core::proto::codec::{
    advertised_messages, advertised_options, decode, encode, raw_payload_len, raw_type, HEADER_LEN,
};
use qnetd_core::proto::framing::{Frame, FrameReader};
use qnetd_core::proto::types::{
    DecodeError, DecodeErrorKind, Heuristics, Message, MsgType, NodeInfo, NodeListType, NodeState,
    ReplyError, RingId, TieBreaker, TlsMode, Vote,
};
use qnetd_core::snapshot::ServerStatus;

/// `decode` never panics; whatever it accepts re-encodes to bytes that decode to the same
/// message, and that encoding is canonical (encoding again gives the same bytes).
pub fn check_codec_decode(data: &[u8]) {
    let Ok(msg) = decode(data) else {
        return;
    };
    let bytes = encode(&msg);
    if bytes.len() == HEADER_LEN {
        // Only unknown TLVs were present: nothing to re-encode, and an empty payload is not a
        // valid message (upstream's decoder, and ours, reject it without SEQ).
        assert!(matches!(
            decode(&bytes),
            Err(DecodeError {
                seq: None,
                reason: DecodeErrorKind::Truncated
            })
        ));
        return;
    }
    let again = match decode(&bytes) {
        Ok(m) => m,
        Err(e) => panic!("re-encoded {msg:?} fails to decode: {e}"),
    };
    assert_eq!(again, msg, "decode(encode(m)) != m");
    assert_eq!(encode(&again), bytes, "encoding is not canonical");
    // A message never grows by being re-encoded: duplicates and unknown TLVs only shrink it.
    assert!(
        bytes.len() <= data.len(),
        "{} > {}",
        bytes.len(),
        data.len()
    );
}

/// What a framing run is driven by: the receive limit, the chunk sizes and the stream.
struct FramingInput<'a> {
    max: usize,
    chunks: Vec<usize>,
    stream: &'a [u8],
}

/// Layout: u16 limit (added to 6, so tiny limits are exercised), a count byte n (0..=15), n
/// chunk sizes (1..=256, cycled; none = one push with everything), then the stream.
fn framing_input(data: &[u8]) -> Option<FramingInput<'_>> {
    let (&[hi, lo, n], rest) = data.split_first_chunk::<3>()?;
    let n = usize::from(n & 15);
    let sizes = rest.get(..n)?;
    Some(FramingInput {
        max: HEADER_LEN + usize::from(u16::from_be_bytes([hi, lo])),
        chunks: sizes.iter().map(|&s| usize::from(s) + 1).collect(),
        stream: &rest[n..],
    })
}

/// The frames a stream must yield, computed the simple way (whole stream in memory), following
/// qnetd-protocol.md §1.8. Only complete messages count.
fn expected_frames(stream: &[u8], max: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut pos = 0usize;
    while let (Some(t), Some(len)) = (raw_type(&stream[pos..]), raw_payload_len(&stream[pos..])) {
        let total = HEADER_LEN as u64 + u64::from(len);
        if ((stream.len() - pos) as u64) < total {
            break;
        }
        let end = pos + total as usize;
        frames.push(if MsgType::from_u16(t).is_none() {
            Frame::Skipped(if len == 0 {
                ReplyError::NoError
            } else {
                ReplyError::UnsupportedMessage
            })
        } else if total > max as u64 {
            Frame::Skipped(ReplyError::MessageTooLong)
        } else {
            Frame::Message(stream[pos..end].to_vec())
        });
        pos = end;
    }
    frames
}

/// Arbitrary bytes in arbitrary chunks through a [`FrameReader`]: never panics, never holds more
/// than the receive limit, consumes input exactly as documented, and yields the same frames as
/// the simple whole-stream model.
pub fn check_framing(data: &[u8]) {
    let Some(input) = framing_input(data) else {
        return;
    };
    let limit = input.max.max(HEADER_LEN);
    let mut reader = FrameReader::new(input.max);
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut sizes = input.chunks.iter().cycle();
    while pos < input.stream.len() {
        let size = sizes.next().copied().unwrap_or(input.stream.len());
        let end = input.stream.len().min(pos + size);
        let mut piece = &input.stream[pos..end];
        pos = end;
        while !piece.is_empty() {
            let (used, frame) = reader.push(piece);
            assert!(used <= piece.len(), "consumed more than given");
            assert!(reader.buffered() <= limit, "buffered {}", reader.buffered());
            piece = &piece[used..];
            match frame {
                Some(f) => {
                    assert!(reader.at_boundary(), "frame returned mid-message");
                    frames.push(f);
                }
                None => assert!(piece.is_empty(), "stopped early without a frame"),
            }
        }
    }
    assert_eq!(reader.push(&[]), (0, None));
    assert_eq!(frames, expected_frames(input.stream, input.max));
    for f in &frames {
        if let Frame::Message(m) = f {
            assert!(m.len() <= limit);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Session: several clients talking to one engine

/// Reads the script of a session run; past the end every read is 0.
struct Script<'a> {
    data: &'a [u8],
}

impl Script<'_> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[usize::from(self.u8()) % choices.len()]
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

fn engine_config(s: &mut Script) -> EngineConfig {
    let a = s.u8();
    let b = s.u8();
    let (hb_min, hb_max) =
        [(1000, 120_000), (1, 5), (5000, 10_000), (0, u32::MAX)][usize::from(b & 3)];
    EngineConfig {
        tls: [TlsMode::Unsupported, TlsMode::Supported, TlsMode::Required][usize::from(a % 3)],
        client_cert_required: a & 4 != 0,
        dpd_enabled: a & 8 == 0,
        keep_active_partition_tie_breaker: a & 16 != 0,
        dpd_interval_coefficient: [1.5, 1.0, 3.0, 200.0][usize::from(a >> 5 & 3)],
        max_client_send_size: [32768, 64, 128, 16][usize::from(b >> 2 & 3)],
        max_client_receive_size: [32768, 64, 16, 200][usize::from(b >> 4 & 3)],
        heartbeat_interval_min: hb_min,
        heartbeat_interval_max: hb_max,
    }
}

/// A message a client might plausibly send, its fields drawn from small value sets so that
/// several clients end up in the same cluster with colliding node ids, rings and sequences.
fn client_message(s: &mut Script) -> Message {
    const CLIENT_TYPES: [MsgType; 9] = [
        MsgType::Preinit,
        MsgType::StartTls,
        MsgType::Init,
        MsgType::SetOption,
        MsgType::EchoRequest,
        MsgType::NodeList,
        MsgType::AskForVote,
        MsgType::VoteInfoReply,
        MsgType::HeuristicsChange,
    ];
    let kind = s.u8();
    let msg_type = if kind & 0xe0 == 0xe0 {
        MsgType::ALL[usize::from(kind) % MsgType::ALL.len()]
    } else {
        CLIENT_TYPES[usize::from(kind) % CLIENT_TYPES.len()]
    };
    // Bit set = leave that field out (mostly the fields are there).
    let drop = s.u8() & s.u8();
    let has = |bit: u8| drop & (1 << bit) == 0;
    let mut m = Message::new(msg_type);
    m.seq = has(0).then(|| u32::from(s.u8() % 6));
    let ring = |s: &mut Script| RingId {
        node_id: u32::from(s.u8() % 3),
        seq: u64::from(s.u8() % 4),
    };
    match msg_type {
        MsgType::Preinit => {
            m.cluster_name = has(1).then(|| s.pick(&["a", "b", "qicluster", ""]).into());
        }
        MsgType::Init => {
            m.supported_messages = has(1).then(advertised_messages);
            m.supported_options = has(1).then(advertised_options);
            m.node_id = has(2).then(|| u32::from(s.u8() % 5));
            m.decision_algorithm = has(3).then(|| u16::from(s.u8() % 5));
            m.heartbeat_interval =
                has(4).then(|| s.pick(&[8000, 500, 1000, 120_000, 200_000, 0, u32::MAX]));
            m.tie_breaker = has(5).then(|| {
                s.pick(&[
                    TieBreaker::Lowest,
                    TieBreaker::Highest,
                    TieBreaker::NodeId(1),
                    TieBreaker::NodeId(3),
                ])
            });
            m.ring_id = has(6).then(|| ring(s));
        }
        MsgType::SetOption => {
            m.heartbeat_interval = has(1).then(|| s.pick(&[8000, 0, 1000, 999_999]));
            m.keep_active_partition_tie_breaker = has(2).then(|| s.u8() & 1 == 1);
        }
        MsgType::NodeList => {
            m.node_list_type = has(1).then(|| {
                s.pick(&[
                    NodeListType::InitialConfig,
                    NodeListType::ChangedConfig,
                    NodeListType::Membership,
                    NodeListType::Quorum,
                ])
            });
            m.ring_id = has(2).then(|| ring(s));
            m.config_version = has(3).then(|| u64::from(s.u8()));
            m.quorate = has(4).then(|| s.u8() & 1 == 1);
            m.heuristics = has(5).then(|| s.pick(&[Heuristics::Pass, Heuristics::Fail]));
            for _ in 0..s.u8() % 5 {
                m.nodes.push(NodeInfo {
                    node_id: u32::from(s.u8() % 5),
                    data_center_id: u32::from(s.u8() % 2),
                    state: s.pick(&[
                        None,
                        Some(NodeState::Member),
                        Some(NodeState::Dead),
                        Some(NodeState::Leaving),
                    ]),
                });
            }
        }
        MsgType::HeuristicsChange => {
            m.heuristics = has(1).then(|| s.pick(&[Heuristics::Pass, Heuristics::Fail]));
        }
        _ => {}
    }
    m
}

/// The driver's side of the engine, checking every output against the clients it knows.
struct Driver {
    engine: Engine,
    max_send: usize,
    max_receive: usize,
    /// Connected clients and their framers, in connection order.
    clients: Vec<(ClientId, FrameReader)>,
    /// The certificate names each client's handshake gave the engine.
    peers: std::collections::HashMap<ClientId, PeerIdentity>,
    stats: SessionStats,
    /// What is done with each status snapshot (see [`check_session`]).
    render: fn(&ServerStatus),
}

/// What a session run reached, so the corpus replay can show it still drives the engine deep
/// (successful INITs, votes) and not just into error replies.
#[derive(Debug, Default, Clone, Copy)]
pub struct SessionStats {
    /// Frames sent, by message type.
    pub sent: [usize; 18],
    /// INIT_REPLYs with REPLY_ERROR_CODE 0.
    pub init_ok: usize,
    /// VOTE_INFO / NODE_LIST_REPLY / ... carrying ACK.
    pub acks: usize,
    pub start_tls: usize,
    pub disconnects: usize,
}

impl Driver {
    fn apply(&mut self, outputs: Vec<Output>) {
        for out in outputs {
            match out {
                Output::Send(id, bytes) => {
                    assert!(self.is_live(id), "send to unknown client {id}");
                    assert!(bytes.len() <= self.max_send, "{} bytes sent", bytes.len());
                    match decode(&bytes) {
                        Ok(m) => {
                            assert!(m.msg_type.is_server_to_client(), "sent {m:?}");
                            if identity::is_gated_acceptance(&m) {
                                identity::check_accepted(&self.engine, id);
                            }
                            self.stats.sent[m.msg_type as usize] += 1;
                            if m.msg_type == MsgType::InitReply && m.reply_error_code == Some(0) {
                                self.stats.init_ok += 1;
                            }
                            if m.vote == Some(Vote::Ack) {
                                self.stats.acks += 1;
                            }
                        }
                        Err(e) => panic!("engine sent undecodable {bytes:02x?}: {e}"),
                    }
                }
                Output::StartTls(id) => {
                    assert!(self.is_live(id), "StartTls for unknown {id}");
                    self.peers.remove(&id);
                    self.stats.start_tls += 1;
                }
                Output::Disconnect(id, reason) => {
                    assert!(self.is_live(id), "disconnect of unknown client {id}");
                    assert!(!reason.to_string().is_empty());
                    self.stats.disconnects += 1;
                    self.clients.retain(|(c, _)| *c != id);
                    assert_eq!(self.engine.next_deadline(id), None);
                }
            }
        }
        assert_eq!(self.engine.connected_clients(), self.clients.len());
        identity::check_identity(&self.engine, |id| self.peers.get(&id));
    }

    /// The handshake after STARTTLS completed (the engine ignores it for a client that is
    /// not between STARTTLS and its first gated message).
    fn handshake(&mut self, id: ClientId, peer: Option<PeerIdentity>) {
        let started = self
            .engine
            .client_views()
            .any(|v| v.id == id && v.tls == TlsView::Started);
        if started {
            match &peer {
                Some(p) => self.peers.insert(id, p.clone()),
                None => self.peers.remove(&id),
            };
        }
        self.engine.tls_established(id, peer);
        identity::check_identity(&self.engine, |id| self.peers.get(&id));
    }

    fn is_live(&self, id: ClientId) -> bool {
        self.clients.iter().any(|(c, _)| *c == id)
    }

    /// Bytes arriving from client number `who`: framed, then handed to the engine until they
    /// are used up or the engine drops the client.
    fn receive(&mut self, who: usize, mut bytes: &[u8], now: Instant) {
        let Some(&(id, _)) = self.clients.get(who) else {
            return;
        };
        while !bytes.is_empty() {
            let Some((_, reader)) = self.clients.iter_mut().find(|(c, _)| *c == id) else {
                return;
            };
            let (used, frame) = reader.push(bytes);
            bytes = &bytes[used..];
            if let Some(frame) = frame {
                let out = self.engine.frame_received(id, frame, now);
                self.apply(out);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        let ids: Vec<ClientId> = self.clients.iter().map(|(id, _)| *id).collect();
        for id in ids {
            if self.engine.next_deadline(id).is_some_and(|d| d <= now) {
                let out = self.engine.timers_due(id, now);
                self.apply(out);
            }
        }
    }

    fn render_status(&self, now: Instant) {
        let st = self.engine.status(now);
        assert_eq!(st.connected_clients, self.clients.len());
        (self.render)(&st);
    }
}

/// A scripted session: clients connect, send plausible and arbitrary bytes, get TLS identities,
/// disconnect, and time passes (synthetic clock). The engine must never panic, must address
/// only connected clients, and everything it sends must decode and fit the send limit.
///
/// Each status snapshot the engine builds on the way goes to `render`. The renderers are the
/// daemon's (the `qnetd` crate), which the fuzz targets do not depend on: the corpus replay
/// (tests/proto/fuzz_corpus_replay.rs) passes them, the fuzz target nothing.
pub fn check_session(data: &[u8], render: fn(&ServerStatus)) -> SessionStats {
    let mut s = Script { data };
    let cfg = engine_config(&mut s);
    let mut driver = Driver {
        max_send: cfg.max_client_send_size as usize,
        max_receive: cfg.max_client_receive_size as usize,
        engine: Engine::new(cfg),
        clients: Vec::new(),
        peers: Default::default(),
        stats: SessionStats::default(),
        render,
    };
    let start = Instant::now();
    let mut now = start;
    let mut connections = 0u32;
    let mut renders = 0;
    for _ in 0..4096 {
        if s.is_empty() {
            break;
        }
        let op = s.u8();
        let who = usize::from(s.u8()) % driver.clients.len().max(1);
        match op % 10 {
            0 if driver.clients.len() < 8 => {
                connections += 1;
                let id = driver
                    .engine
                    .client_connected(format!("10.0.0.{connections}:5403"), now);
                assert!(!driver.is_live(id), "id {id} reused");
                driver
                    .clients
                    .push((id, FrameReader::new(driver.max_receive)));
            }
            0..=3 => {
                let bytes = encode(&client_message(&mut s));
                driver.receive(who, &bytes, now);
            }
            4 => {
                let n = usize::from(s.u8() % 48);
                let bytes = s.bytes(n).to_vec();
                driver.receive(who, &bytes, now);
            }
            5 => {
                if let Some(&(id, _)) = driver.clients.get(who) {
                    let out = driver.engine.client_disconnected(id, now);
                    driver.clients.remove(who);
                    driver.apply(out);
                }
            }
            6 => {
                let step = u64::from(s.u8());
                let unit = if op & 0x80 != 0 { 1000 } else { 37 };
                now += Duration::from_millis(step * unit);
                driver.fire_timers(now);
            }
            7 => {
                if let Some(&(id, _)) = driver.clients.get(who) {
                    let name = |n: &str| vec![n.to_string()];
                    let peer = match s.u8() % 5 {
                        0 => None,
                        1 => Some(PeerIdentity {
                            dns_names: vec![],
                            common_names: name("a"),
                        }),
                        2 => Some(PeerIdentity {
                            dns_names: name("*"),
                            common_names: name("b"),
                        }),
                        3 => Some(PeerIdentity {
                            dns_names: name("QICLUSTER"),
                            common_names: vec![],
                        }),
                        _ => Some(PeerIdentity::default()),
                    };
                    driver.handshake(id, peer);
                }
            }
            8 => {
                // Jump straight to the earliest deadline, as the driver's timer would.
                if let Some(d) = driver
                    .clients
                    .iter()
                    .filter_map(|(id, _)| driver.engine.next_deadline(*id))
                    .min()
                {
                    now = now.max(d);
                    driver.fire_timers(now);
                }
            }
            // Rendering costs more than the rest of a session (44% of the time when every
            // tenth op did it): a few renders per input keep the renderers fuzzed.
            _ if renders < 2 => {
                renders += 1;
                driver.render_status(now);
            }
            _ => {}
        }
    }
    driver.render_status(now);
    driver.engine.shutdown(now);
    driver.stats
}

/// What the SFTP corpus reached: packets decoded, by outcome.
#[derive(Debug, Default, Clone, Copy)]
pub struct SftpStats {
    pub decoded: usize,
    pub malformed: usize,
    pub unknown: usize,
    pub fatal: usize,
}

/// The input is a client's byte stream after INIT (4-byte length, body, ...). Every body:
/// `decode` never panics, ignores trailing bytes, and fails exactly when the id is missing
/// (NoId) or the request is cut short (Malformed with that id). The stream also goes through
/// the server with a policy that refuses every filesystem request (so fuzzing touches no
/// files): each packet gets exactly one well-framed reply with its id, and the status says
/// why (BAD_MESSAGE, OP_UNSUPPORTED, PERMISSION_DENIED), or the session ends on a framing
/// error.
pub fn check_sftp_packet(data: &[u8]) -> SftpStats {
    use qnetd_sftp::packet::{self as p, Request};
    use qnetd_sftp::{Policy, Server};

    let mut stats = SftpStats::default();
    let policy = Policy {
        allow: Some(vec!["limits".to_string()]),
        ..Policy::default()
    };
    let mut server = Server::new(policy);
    let mut reply = Vec::new();
    server
        .handle(&[p::FXP_INIT, 0, 0, 0, 3], &mut reply)
        .unwrap();
    assert_eq!(reply[4], p::FXP_VERSION);

    let mut rest = data;
    while rest.len() >= 4 {
        let header = [rest[0], rest[1], rest[2], rest[3]];
        let Ok(len) = p::body_len(header) else {
            let declared = u32::from_be_bytes(header) as usize;
            assert!(declared == 0 || declared > p::MAX_PACKET);
            stats.fatal += 1;
            break;
        };
        let Some(body) = rest.get(4..4 + len) else {
            break; // the server waits for the rest, then sees the end of input
        };
        rest = &rest[4 + len..];

        let decoded = p::decode(body);
        let mut longer = body.to_vec();
        longer.extend_from_slice(b"\0trailing");
        match (&decoded, p::decode(&longer)) {
            (Ok(a), Ok(b)) => assert_eq!(*a, b, "trailing bytes changed the request"),
            (Err(p::DecodeError::Malformed { .. }), _) => {}
            (Err(p::DecodeError::NoId), _) => assert!(body.len() < 5),
            (Ok(_), Err(e)) => panic!("trailing bytes broke the request: {e}"),
        }
        if let Err(p::DecodeError::Malformed { id }) = decoded {
            assert!(body.len() >= 5 && body[0] != p::FXP_INIT);
            assert_eq!(id.to_be_bytes(), body[1..5]);
        }

        reply.clear();
        if server.handle(body, &mut reply).is_err() {
            // Only a missing id or a second INIT end the session.
            assert!(body.len() < 5 || body[0] == p::FXP_INIT, "{body:?}");
            assert!(reply.is_empty());
            stats.fatal += 1;
            break;
        }
        assert_eq!(
            u32::from_be_bytes([reply[0], reply[1], reply[2], reply[3]]) as usize,
            reply.len() - 4
        );
        assert_eq!(reply[5..9], body[1..5], "reply id");
        let code = (reply[4] == p::FXP_STATUS)
            .then(|| u32::from_be_bytes([reply[9], reply[10], reply[11], reply[12]]));
        match decoded {
            Err(_) => {
                assert_eq!(code, Some(5));
                stats.malformed += 1;
            }
            Ok(packet) => {
                match packet.request {
                    Request::Limits => assert_eq!(reply[4], p::FXP_EXTENDED_REPLY),
                    Request::Unknown { .. } | Request::UnknownExtended { .. } => {
                        assert_eq!(code, Some(8));
                        stats.unknown += 1;
                    }
                    Request::Init { .. } => unreachable!("a second INIT is fatal"),
                    _ => assert_eq!(code, Some(3), "{packet:?} was not refused"),
                }
                stats.decoded += 1;
            }
        }
    }
    stats
}
