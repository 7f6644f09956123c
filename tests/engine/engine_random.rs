//! Seeded random sessions against the engine: many clients, all algorithms, valid and broken
//! messages, disconnects and timers in any order. The engine must never panic, never send a
//! frame it cannot decode or larger than the send limit, never address a forgotten client,
//! and keep its clusters consistent (sorted, unique node ids, no empty cluster).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use qnetd::engine::{ClientId, Engine, EngineConfig, Output, PeerIdentity};
use qnetd::proto::codec::{decode, encode};
use qnetd::proto::framing::Frame;
use qnetd::proto::types::{
    Heuristics, Message, MsgType, NodeInfo, NodeListType, ReplyError, RingId, TieBreaker, TlsMode,
};

/// xorshift64*: deterministic, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_nodes(rng: &mut Rng) -> Vec<NodeInfo> {
    let n = rng.below(5);
    (0..n)
        .map(|_| NodeInfo::new(1 + rng.below(4) as u32))
        .collect()
}

fn random_ring(rng: &mut Rng) -> RingId {
    RingId {
        node_id: 1 + rng.below(3) as u32,
        seq: rng.below(4),
    }
}

/// Some(value) most of the time: required fields are sometimes missing.
macro_rules! maybe {
    ($rng:expr, $v:expr $(,)?) => {{
        let v = $v;
        $rng.chance(85).then_some(v)
    }};
}

/// A message a client might send: mostly sensible, sometimes missing fields or wrong.
fn random_message(rng: &mut Rng, cluster: &str, last_vote_info_seq: u32) -> Message {
    let t = MsgType::from_u16(rng.below(18) as u16).unwrap();
    let mut m = Message::new(t);
    m.seq = maybe!(rng, 1 + rng.below(20) as u32);
    match t {
        MsgType::Preinit => m.cluster_name = maybe!(rng, cluster.as_bytes().to_vec()),
        MsgType::Init => {
            m.supported_messages = maybe!(rng, (0..=17).collect());
            m.supported_options = maybe!(rng, (0..=23).collect());
            m.node_id = maybe!(rng, 1 + rng.below(4) as u32);
            m.decision_algorithm = maybe!(rng, rng.below(5) as u16);
            m.heartbeat_interval =
                maybe!(rng, rng.pick(&[500, 1000, 4000, 8000, 120_000, 200_000]));
            m.tie_breaker = maybe!(
                rng,
                rng.pick(&[
                    TieBreaker::Lowest,
                    TieBreaker::Highest,
                    TieBreaker::NodeId(2),
                ]),
            );
            m.ring_id = maybe!(rng, random_ring(rng));
        }
        MsgType::SetOption => {
            if rng.chance(30) {
                m.heartbeat_interval = Some(rng.pick(&[999, 2000, 8000]));
            }
            m.keep_active_partition_tie_breaker = maybe!(rng, rng.chance(50));
        }
        MsgType::NodeList => {
            m.node_list_type = maybe!(rng, NodeListType::from_u8(rng.below(4) as u8).unwrap());
            m.ring_id = maybe!(rng, random_ring(rng));
            m.quorate = maybe!(rng, rng.chance(50));
            m.config_version = rng.chance(50).then_some(7);
            m.nodes = random_nodes(rng);
            if rng.chance(50) {
                m.heuristics = Some(rng.pick(&[Heuristics::Pass, Heuristics::Fail]));
            }
        }
        MsgType::VoteInfoReply if rng.chance(70) => m.seq = Some(last_vote_info_seq),
        MsgType::HeuristicsChange => {
            m.heuristics = maybe!(rng, rng.pick(&[Heuristics::Pass, Heuristics::Fail]));
        }
        _ => {}
    }
    if m.seq.is_none() && t != MsgType::Preinit && t != MsgType::Init {
        // Keep the payload non-empty most of the time (empty ones are decode errors).
        m.node_id = maybe!(rng, 1);
    }
    m
}

/// What a well-behaved client knows about its own session.
#[derive(Debug, Clone)]
struct Model {
    cluster: &'static str,
    node_id: u32,
    preinit_done: bool,
    tls_done: bool,
    initialised: bool,
    seq: u32,
}

/// The next message a real client would plausibly send.
fn sensible_message(rng: &mut Rng, m: &Model, algorithm: u16, vote_info_seq: u32) -> Message {
    let seq = m.seq;
    if !m.preinit_done {
        let mut msg = Message::new(MsgType::Preinit);
        msg.seq = Some(seq);
        msg.cluster_name = Some(m.cluster.as_bytes().to_vec());
        return msg;
    }
    if !m.initialised {
        let mut msg = Message::new(MsgType::Init);
        msg.seq = Some(seq);
        msg.supported_messages = Some((0..=17).collect());
        msg.supported_options = Some((0..=23).collect());
        msg.node_id = Some(m.node_id);
        msg.decision_algorithm = Some(algorithm);
        msg.heartbeat_interval = Some(8000);
        msg.tie_breaker = Some(TieBreaker::Lowest);
        msg.ring_id = Some(random_ring(rng));
        return msg;
    }
    let nodes_with_me = |rng: &mut Rng| {
        let mut nodes = vec![NodeInfo::new(m.node_id)];
        for id in 1..=4 {
            if id != m.node_id && rng.chance(60) {
                nodes.push(NodeInfo::new(id));
            }
        }
        nodes
    };
    let mut msg;
    match rng.below(9) {
        0 | 1 => {
            msg = Message::new(MsgType::NodeList);
            msg.node_list_type = Some(if rng.chance(50) {
                NodeListType::InitialConfig
            } else {
                NodeListType::ChangedConfig
            });
            msg.nodes = (1..=rng.pick(&[2, 3, 4])).map(NodeInfo::new).collect();
        }
        2 | 3 => {
            msg = Message::new(MsgType::NodeList);
            msg.node_list_type = Some(NodeListType::Membership);
            msg.ring_id = Some(random_ring(rng));
            msg.nodes = nodes_with_me(rng);
            if rng.chance(40) {
                msg.heuristics = Some(rng.pick(&[Heuristics::Pass, Heuristics::Fail]));
            }
        }
        4 => {
            msg = Message::new(MsgType::NodeList);
            msg.node_list_type = Some(NodeListType::Quorum);
            msg.quorate = Some(rng.chance(50));
            msg.nodes = nodes_with_me(rng);
        }
        5 => {
            msg = Message::new(MsgType::VoteInfoReply);
            msg.seq = Some(vote_info_seq);
            return msg;
        }
        6 => {
            msg = Message::new(MsgType::HeuristicsChange);
            msg.heuristics = Some(rng.pick(&[Heuristics::Pass, Heuristics::Fail]));
        }
        7 => {
            msg = Message::new(MsgType::SetOption);
            msg.keep_active_partition_tie_breaker = Some(rng.chance(50));
        }
        _ => {
            msg = Message::new(rng.pick(&[MsgType::EchoRequest, MsgType::AskForVote]));
        }
    }
    msg.seq = Some(seq);
    msg
}

struct World {
    models: std::collections::HashMap<ClientId, Model>,
    engine: Engine,
    now: Instant,
    max_send: usize,
    alive: Vec<ClientId>,
    gone: HashSet<ClientId>,
    /// Last VOTE_INFO seq seen per client.
    vote_info_seq: std::collections::HashMap<ClientId, u32>,
    /// The certificate names each client's TLS handshake gave the engine.
    peers: std::collections::HashMap<ClientId, PeerIdentity>,
    seen: Seen,
}

/// What the random sessions reached, so the test shows it explored something.
#[derive(Debug, Default)]
struct Seen {
    successful_inits: usize,
    vote_infos: usize,
    acks: usize,
    engine_disconnects: usize,
}

impl World {
    /// The handshake after STARTTLS completed with `peer`'s certificate (the engine ignores
    /// it for a client that is not between STARTTLS and its first gated message).
    fn handshake(&mut self, id: ClientId, peer: Option<PeerIdentity>) {
        let started = self
            .engine
            .client_views()
            .any(|v| v.id == id && v.tls == qnetd::engine::TlsView::Started);
        if started {
            match &peer {
                Some(p) => self.peers.insert(id, p.clone()),
                None => self.peers.remove(&id),
            };
        }
        self.engine.tls_established(id, peer);
        self.check(Vec::new());
    }

    fn check(&mut self, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send(id, bytes) => {
                    assert!(!self.gone.contains(&id), "frame for forgotten client {id}");
                    assert!(self.alive.contains(&id), "frame for unknown client {id}");
                    assert!(
                        bytes.len() <= self.max_send,
                        "{} > {}",
                        bytes.len(),
                        self.max_send
                    );
                    if bytes.len() == 6 {
                        // Upstream answers SET_OPTION without SEQ or options with an
                        // empty SET_OPTION_REPLY; nothing else is ever empty.
                        assert_eq!(bytes, [0, 7, 0, 0, 0, 0]);
                        continue;
                    }
                    let m = decode(&bytes).unwrap_or_else(|e| {
                        panic!("engine frame {bytes:02x?} does not decode: {e}")
                    });
                    assert!(m.msg_type.is_server_to_client(), "{m:?}");
                    if crate::support::identity::is_gated_acceptance(&m) {
                        crate::support::identity::check_accepted(&self.engine, id);
                    }
                    if m.msg_type == MsgType::VoteInfo {
                        self.vote_info_seq
                            .insert(id, m.seq.expect("VOTE_INFO has a seq"));
                        self.seen.vote_infos += 1;
                    }
                    if m.vote == Some(qnetd::proto::types::Vote::Ack) {
                        self.seen.acks += 1;
                    }
                    if m.msg_type == MsgType::InitReply && m.reply_error_code == Some(0) {
                        self.seen.successful_inits += 1;
                        if let Some(model) = self.models.get_mut(&id) {
                            model.initialised = true;
                        }
                    }
                    if m.msg_type == MsgType::PreinitReply {
                        if let Some(model) = self.models.get_mut(&id) {
                            model.preinit_done = true;
                        }
                    }
                }
                Output::StartTls(id) => {
                    assert!(self.alive.contains(&id));
                    self.peers.remove(&id);
                }
                Output::Disconnect(id, why) => {
                    assert!(!why.to_string().is_empty());
                    self.seen.engine_disconnects += 1;
                    assert!(self.alive.contains(&id), "double disconnect of {id}");
                    self.alive.retain(|&a| a != id);
                    self.gone.insert(id);
                }
            }
        }
        crate::support::identity::check_identity(&self.engine, |id| self.peers.get(&id));
        let status = self.engine.status(self.now);
        assert_eq!(status.connected_clients, self.alive.len());
        let mut names = HashSet::new();
        for cluster in &status.clusters {
            assert!(names.insert(cluster.name.clone()), "duplicate cluster");
            assert!(!cluster.nodes.is_empty(), "empty cluster kept");
            let ids: Vec<u32> = cluster.nodes.iter().map(|n| n.node_id).collect();
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(ids, sorted, "nodes sorted, unique");
        }
    }
}

fn run(seed: u64, cfg: EngineConfig, steps: usize, seen: &mut Seen) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let max_send = cfg.max_client_send_size as usize;
    let tls_mode = cfg.tls;
    let mut w = World {
        models: Default::default(),
        engine: Engine::new(cfg),
        now: Instant::now(),
        max_send,
        alive: Vec::new(),
        gone: HashSet::new(),
        vote_info_seq: Default::default(),
        peers: Default::default(),
        seen: Seen::default(),
    };
    let clusters = ["a", "b"];
    // Each cluster's algorithm; occasionally a client disagrees (INIT error 16).
    let algorithms = [rng.below(4) as u16, rng.below(4) as u16];
    for _ in 0..steps {
        match rng.below(100) {
            0..=9 if w.alive.len() < 6 => {
                let id = w.engine.client_connected("127.0.0.1:1".into(), w.now);
                w.alive.push(id);
                let model = Model {
                    cluster: rng.pick(&clusters),
                    node_id: 1 + rng.below(4) as u32,
                    preinit_done: false,
                    tls_done: false,
                    initialised: false,
                    seq: 1,
                };
                w.models.insert(id, model);
            }
            10..=14 if !w.alive.is_empty() => {
                let id = rng.pick(&w.alive);
                let out = w.engine.client_disconnected(id, w.now);
                w.alive.retain(|&a| a != id);
                w.gone.insert(id);
                w.check(out);
            }
            15..=22 => {
                let step = if rng.chance(3) {
                    13_000
                } else {
                    rng.pick(&[1, 300, 1000, 2000, 2500])
                };
                w.now += Duration::from_millis(step);
                for id in w.alive.clone() {
                    if w.engine.next_deadline(id).is_some_and(|d| d <= w.now) {
                        let out = w.engine.timers_due(id, w.now);
                        w.check(out);
                    }
                }
            }
            23..=25 if !w.alive.is_empty() => {
                let id = rng.pick(&w.alive);
                let peer = match rng.below(3) {
                    0 => None,
                    1 => Some(PeerIdentity {
                        dns_names: vec![],
                        common_names: vec![rng.pick(&clusters).to_string()],
                    }),
                    _ => Some(PeerIdentity {
                        dns_names: vec!["*.example.org".into()],
                        common_names: vec!["a".into()],
                    }),
                };
                w.handshake(id, peer);
            }
            26..=28 if !w.alive.is_empty() => {
                let id = rng.pick(&w.alive);
                let code = rng.pick(&[
                    ReplyError::NoError,
                    ReplyError::UnsupportedMessage,
                    ReplyError::MessageTooLong,
                ]);
                let out = w.engine.frame_received(id, Frame::Skipped(code), w.now);
                w.check(out);
            }
            29..=79 if !w.alive.is_empty() => {
                let id = rng.pick(&w.alive);
                let mut model = w.models[&id].clone();
                let vi_seq = w.vote_info_seq.get(&id).copied().unwrap_or(0);
                let out = if tls_mode != TlsMode::Unsupported
                    && model.preinit_done
                    && !model.tls_done
                    && rng.chance(80)
                {
                    model.tls_done = true;
                    let mut msg = Message::new(MsgType::StartTls);
                    msg.seq = Some(model.seq);
                    let out = w
                        .engine
                        .frame_received(id, Frame::Message(encode(&msg)), w.now);
                    w.check(out);
                    let cn = if rng.chance(90) {
                        model.cluster
                    } else {
                        "intruder"
                    };
                    w.handshake(
                        id,
                        Some(PeerIdentity {
                            dns_names: vec![],
                            common_names: vec![cn.to_string()],
                        }),
                    );
                    Vec::new()
                } else {
                    let algorithm = if rng.chance(5) {
                        rng.below(5) as u16
                    } else {
                        algorithms[(model.cluster == "b") as usize]
                    };
                    let msg = sensible_message(&mut rng, &model, algorithm, vi_seq);
                    w.engine
                        .frame_received(id, Frame::Message(encode(&msg)), w.now)
                };
                model.seq += 1;
                if let Some(m) = w.models.get_mut(&id) {
                    m.seq = model.seq;
                    m.tls_done = model.tls_done;
                }
                w.check(out);
            }
            _ if !w.alive.is_empty() => {
                let id = rng.pick(&w.alive);
                let seq = w.vote_info_seq.get(&id).copied().unwrap_or(1);
                let cluster = rng.pick(&clusters);
                let mut raw = encode(&random_message(&mut rng, cluster, seq));
                if rng.chance(5) && raw.len() > 6 {
                    // Corrupt a byte of the payload.
                    let at = 6 + rng.below(raw.len() as u64 - 6) as usize;
                    raw[at] ^= 1 << rng.below(8);
                }
                let out = w.engine.frame_received(id, Frame::Message(raw), w.now);
                w.check(out);
            }
            _ => {}
        }
    }
    w.engine.shutdown(w.now);
    assert_eq!(w.engine.status(w.now).connected_clients, 0);
    seen.successful_inits += w.seen.successful_inits;
    seen.vote_infos += w.seen.vote_infos;
    seen.acks += w.seen.acks;
    seen.engine_disconnects += w.seen.engine_disconnects;
}

fn assert_explored(seen: &Seen) {
    eprintln!("explored: {seen:?}");
    assert!(seen.successful_inits > 500, "{seen:?}");
    assert!(seen.vote_infos > 100, "{seen:?}");
    assert!(seen.acks > 500, "{seen:?}");
    assert!(seen.engine_disconnects > 100, "{seen:?}");
}

#[test]
fn random_sessions_plain() {
    let mut seen = Seen::default();
    for seed in 0..150 {
        run(
            seed,
            EngineConfig {
                tls: TlsMode::Unsupported,
                ..EngineConfig::default()
            },
            400,
            &mut seen,
        );
    }
    assert_explored(&seen);
}

#[test]
fn random_sessions_tls_and_small_limits() {
    let mut seen = Seen::default();
    for seed in 0..150 {
        let cfg = EngineConfig {
            tls: if seed % 2 == 0 {
                TlsMode::Required
            } else {
                TlsMode::Supported
            },
            client_cert_required: seed % 3 != 0,
            max_client_send_size: [40, 64, 200][(seed % 3) as usize],
            keep_active_partition_tie_breaker: seed % 5 == 0,
            dpd_enabled: seed % 7 != 0,
            ..EngineConfig::default()
        };
        run(seed + 1000, cfg, 400, &mut seen);
    }
    assert_explored(&seen);
}
