//! Session tests: the engine driven with encoded frames, as the server drives it. Expected
//! bytes are the exchanges recorded from Debian's corosync-qnetd 3.0.3 (docs/protocol.md,
//! "Byte examples"); the rest follows its sections "Session sequence" to "Disconnects".

use std::time::{Duration, Instant};

use crate::support::client_msg;
use client_msg::{frames, hex, membership, msg, node_list, preinit, quorum, ring};

use qnetd::engine::{ClientId, Engine, EngineConfig, Output, PeerIdentity};
use qnetd::proto::codec::{decode, encode};
use qnetd::proto::framing::{Frame, FrameReader};
use qnetd::proto::types::{
    Algorithm, Heuristics, Message, MsgType, NodeInfo, NodeListType, ReplyError, TieBreaker,
    TlsMode, Vote,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `-s off`, otherwise upstream defaults (as in the recordings of docs/protocol.md, "Byte examples").
fn plain_config() -> EngineConfig {
    EngineConfig {
        tls: TlsMode::Unsupported,
        ..EngineConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Client messages as the real qdevice-net client builds them

fn init_msg(seq: u32, node_id: u32, algorithm: Algorithm, tb: TieBreaker, hb: u32) -> Message {
    client_msg::init_msg(seq, node_id, algorithm as u16, tb, hb, ring(1, 4))
}

fn init(seq: u32, node_id: u32, algorithm: Algorithm) -> Vec<u8> {
    encode(&init_msg(seq, node_id, algorithm, TieBreaker::Lowest, 8000))
}

fn config_list(seq: u32, ids: &[u32]) -> Vec<u8> {
    let mut m = node_list(seq, NodeListType::InitialConfig, ids);
    m.config_version = Some(7);
    encode(&m)
}

fn with_seq(t: MsgType, seq: Option<u32>) -> Vec<u8> {
    encode(&msg(t, seq))
}

fn set_option_kap(seq: u32, kap: bool) -> Vec<u8> {
    let mut m = Message::new(MsgType::SetOption);
    m.seq = Some(seq);
    m.keep_active_partition_tie_breaker = Some(kap);
    encode(&m)
}

fn server_error(seq: Option<u32>, code: ReplyError) -> Vec<u8> {
    qnetd::proto::codec::server_error(seq, code)
}

// ---------------------------------------------------------------------------------------------
// The harness

struct Harness {
    engine: Engine,
    now: Instant,
    readers: std::collections::HashMap<ClientId, FrameReader>,
}

impl Harness {
    fn new(cfg: EngineConfig) -> Harness {
        Harness {
            engine: Engine::new(cfg),
            now: Instant::now(),
            readers: Default::default(),
        }
    }

    fn connect(&mut self, port: u16) -> ClientId {
        let id = self
            .engine
            .client_connected(format!("127.0.0.1:{port}"), self.now);
        let max = self.engine.config().max_client_receive_size as usize;
        self.readers.insert(id, FrameReader::new(max));
        id
    }

    /// Bytes from the client's socket, through the framing layer, into the engine.
    fn feed(&mut self, id: ClientId, bytes: &[u8]) -> Vec<Output> {
        let mut out = Vec::new();
        let reader = self.readers.get_mut(&id).expect("connected");
        for frame in frames(reader, bytes) {
            out.extend(self.engine.frame_received(id, frame, self.now));
        }
        out
    }

    /// Feed and expect exactly these frames back for `id`, nothing else.
    fn exchange(&mut self, id: ClientId, bytes: &[u8]) -> Vec<Vec<u8>> {
        let out = self.feed(id, bytes);
        sent_to(&out, id)
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// PREINIT + INIT, plain text; returns the id.
    fn join(&mut self, port: u16, cluster: &str, node_id: u32, algorithm: Algorithm) -> ClientId {
        let id = self.connect(port);
        assert_eq!(self.exchange(id, &preinit(Some(1), cluster)).len(), 1);
        let replies = self.exchange(id, &init(2, node_id, algorithm));
        assert_eq!(init_error(&replies[0]), 0, "INIT of node {node_id} failed");
        id
    }
}

fn sent_to(out: &[Output], id: ClientId) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(to, bytes) if *to == id => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

/// The log's words for `id`'s disconnect, if `out` has one.
fn disconnected(out: &[Output], id: ClientId) -> Option<String> {
    out.iter().find_map(|o| match o {
        Output::Disconnect(to, why) if *to == id => Some(why.to_string()),
        _ => None,
    })
}

fn init_error(reply: &[u8]) -> u16 {
    let m = decode(reply).expect("INIT_REPLY decodes");
    assert_eq!(m.msg_type, MsgType::InitReply);
    m.reply_error_code.expect("error code present")
}

fn decoded(frames: &[Vec<u8>]) -> Vec<Message> {
    frames
        .iter()
        .map(|f| decode(f).expect("our frames decode"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Byte-exact exchanges of docs/protocol.md, "Byte examples"

#[test]
fn preinit_reply_bytes() {
    let mut h = Harness::new(plain_config());
    let c = h.connect(1);
    assert_eq!(
        h.exchange(c, &preinit(Some(1), "mycluster")),
        vec![hex(
            "0001 00000012 0000 0004 00000001 0002 0001 00 0003 0001 01"
        )]
    );
    // [verified] without SEQ: no SEQ in the reply.
    assert_eq!(
        h.exchange(c, &preinit(None, "mycluster")),
        vec![hex("0001 0000000a 0002 0001 00 0003 0001 01")]
    );
    // Without a cluster name: error 7, connection open.
    let out = h.feed(c, &with_seq(MsgType::Preinit, Some(5)));
    assert_eq!(
        sent_to(&out, c),
        vec![server_error(
            Some(5),
            ReplyError::DoesntContainRequiredOption
        )]
    );
    assert_eq!(disconnected(&out, c), None);
}

#[test]
fn preinit_reply_reports_tls_mode_and_cert_flag() {
    let cfg = EngineConfig {
        tls: TlsMode::Required,
        client_cert_required: false,
        ..EngineConfig::default()
    };
    let mut h = Harness::new(cfg);
    let c = h.connect(1);
    assert_eq!(
        h.exchange(c, &preinit(Some(1), "x")),
        vec![hex(
            "0001 00000012 0000 0004 00000001 0002 0001 02 0003 0001 00"
        )]
    );
}

fn init_reply_with_lists(seq: u32) -> Vec<u8> {
    let mut b = hex("0004 00000086 0006 0002 0000 0004 0024");
    for t in 0u16..=17 {
        b.extend_from_slice(&t.to_be_bytes());
    }
    b.extend(hex("0005 0030"));
    for o in 0u16..=23 {
        b.extend_from_slice(&o.to_be_bytes());
    }
    b.extend(hex("0000 0004"));
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend(hex(
        "0007 0004 00008000 0008 0004 00008000 000a 0008 0000 0001 0002 0003",
    ));
    b
}

#[test]
fn init_reply_bytes_with_and_without_lists() {
    let mut h = Harness::new(plain_config());
    let c = h.connect(1);
    h.exchange(c, &preinit(Some(1), "mycluster"));
    assert_eq!(
        h.exchange(c, &init(2, 1, Algorithm::Ffsplit)),
        vec![init_reply_with_lists(2)]
    );
    let d = h.connect(2);
    h.exchange(d, &preinit(Some(1), "mycluster"));
    let mut m = init_msg(2, 2, Algorithm::Ffsplit, TieBreaker::Lowest, 8000);
    m.supported_messages = None;
    m.supported_options = None;
    assert_eq!(
        h.exchange(d, &encode(&m)),
        vec![hex(
            "0004 0000002a 0006 0002 0000 0000 0004 00000002 0007 0004 00008000 \
             0008 0004 00008000 000a 0008 0000 0001 0002 0003"
        )]
    );
}

#[test]
fn full_ffsplit_session_bytes() {
    let mut h = Harness::new(plain_config());
    let c = h.connect(57720);
    h.exchange(c, &preinit(Some(1), "mycluster"));
    h.exchange(c, &init(2, 1, Algorithm::Ffsplit));
    // SET_OPTION {SEQ=3, KAP=1}.
    assert_eq!(
        h.exchange(c, &set_option_kap(3, true)),
        vec![hex("0007 0000000d 0000 0004 00000003 0017 0001 01")]
    );
    // Initial config {SEQ=4, TYPE=0, CONFIG_VERSION=7, nodes 1, 2}: ASK_LATER, INIT's ring.
    assert_eq!(
        h.exchange(c, &config_list(4, &[1, 2])),
        vec![hex("000b 00000022 0000 0004 00000004 0012 0001 00 \
             000d 000c 00000001 0000000000000004 0013 0001 03")]
    );
    // Membership {SEQ=5, ring (1,4), node 1, heuristics PASS}: VOTE_INFO{1, ACK} first, then
    // NODE_LIST_REPLY NO_CHANGE.
    assert_eq!(
        h.exchange(c, &membership(5, ring(1, 4), &[1], Some(Heuristics::Pass))),
        vec![
            hex(
                "000e 0000001d 0000 0004 00000001 0013 0001 01 000d 000c 00000001 0000000000000004"
            ),
            hex("000b 00000022 0000 0004 00000005 0012 0001 02 \
                 000d 000c 00000001 0000000000000004 0013 0001 05"),
        ]
    );
    // VOTE_INFO_REPLY: no reply at all.
    assert!(h
        .feed(c, &with_seq(MsgType::VoteInfoReply, Some(1)))
        .is_empty());
    // ECHO: verbatim copy with type 9.
    assert_eq!(
        h.exchange(c, &hex("0008 00000008 0000 0004 00000001")),
        vec![hex("0009 00000008 0000 0004 00000001")]
    );
    // Unknown TLVs inside an echo are echoed too.
    assert_eq!(
        h.exchange(c, &hex("0008 0000000e 0000 0004 00000002 0063 0002 abcd")),
        vec![hex("0009 0000000e 0000 0004 00000002 0063 0002 abcd")]
    );

    // The status the tool's `-l -v` example shows (docs/protocol.md, "Status socket: list text").
    let status = h.engine.status(h.now);
    assert_eq!(status.connected_clients, 1);
    let cluster = &status.clusters[0];
    assert_eq!(cluster.name, b"mycluster");
    assert_eq!(cluster.algorithm, Algorithm::Ffsplit);
    assert_eq!(cluster.tie_breaker, TieBreaker::Lowest);
    assert!(cluster.kap_tie_breaker);
    let node = &cluster.nodes[0];
    assert_eq!(node.node_id, 1);
    assert_eq!(node.client_addr, "127.0.0.1:57720");
    assert_eq!(node.heartbeat_interval_ms, 8000);
    assert_eq!(node.config_version, Some(7));
    assert_eq!(node.config_nodes, vec![NodeInfo::new(1), NodeInfo::new(2)]);
    assert_eq!(node.ring_id, ring(1, 4));
    assert_eq!(node.membership_nodes, vec![NodeInfo::new(1)]);
    assert_eq!(node.heuristics, Heuristics::Pass);
    assert_eq!(node.membership_heuristics, Heuristics::Pass);
    assert_eq!(node.regular_heuristics, Heuristics::Undefined);
    assert!(!node.tls_active);
    assert_eq!(node.last_sent_vote, Some(Vote::NoChange));
    assert_eq!(node.last_sent_ack_nack_vote, Some(Vote::Ack));
    // /metrics' snapshot: the same, the lists left out.
    let mut listless = status.clone();
    for n in &mut listless.clusters[0].nodes {
        n.config_nodes.clear();
        n.membership_nodes.clear();
        n.quorum_nodes.clear();
    }
    assert_eq!(h.engine.status_without_lists(h.now), listless);
    h.advance(ms(1500));
    assert_eq!(
        h.engine.status(h.now).clusters[0].nodes[0].ms_since_last_message,
        1500
    );

    // Quorum list: NO_CHANGE with the stored ring.
    let replies = decoded(&h.exchange(c, &quorum(6, &[1])));
    assert_eq!(replies[0].vote, Some(Vote::NoChange));
    assert_eq!(replies[0].ring_id, Some(ring(1, 4)));
    assert_eq!(replies[0].node_list_type, Some(NodeListType::Quorum));
}

#[test]
fn error_examples() {
    let mut h = Harness::new(plain_config());
    let c = h.connect(1);
    // Unknown type 99 with a body: skipped, error 4 without SEQ.
    assert_eq!(
        h.exchange(c, &hex("0063 00000008 0000 0004 00000001")),
        vec![hex("0005 00000006 0006 0002 0004")]
    );
    // PREINIT with length 0: undecodable, error 9.
    assert_eq!(
        h.exchange(c, &hex("0000 00000000")),
        vec![hex("0005 00000006 0006 0002 0009")]
    );
    // A 40000-byte message: error 5, and the stream stays in sync.
    let mut big = hex("0008");
    big.extend_from_slice(&(40000u32 - 6).to_be_bytes());
    big.resize(40000, 0);
    big.extend(preinit(Some(1), "x"));
    let replies = h.exchange(c, &big);
    assert_eq!(replies[0], hex("0005 00000006 0006 0002 0005"));
    assert_eq!(decode(&replies[1]).unwrap().msg_type, MsgType::PreinitReply);
    // Unsupported type with length 0: SERVER_ERROR{0} (upstream quirk).
    assert_eq!(
        h.exchange(c, &hex("0063 00000000")),
        vec![hex("0005 00000006 0006 0002 0000")]
    );
    // ECHO before INIT with SEQ 9: error 11 with the SEQ.
    assert_eq!(
        h.exchange(c, &hex("0008 00000008 0000 0004 00000009")),
        vec![hex("0005 0000000e 0000 0004 00000009 0006 0002 000b")]
    );
    // A decode error after the SEQ TLV carries the SEQ; before it, not.
    assert_eq!(
        h.exchange(c, &hex("0006 0000000d 0000 0004 00000007 0017 0001 05")),
        vec![server_error(Some(7), ReplyError::ErrorDecodingMsg)]
    );
    assert_eq!(
        h.exchange(c, &hex("0006 0000000d 0017 0001 05 0000 0004 00000007")),
        vec![server_error(None, ReplyError::ErrorDecodingMsg)]
    );
    // Server-to-client types: error 8, with SEQ when present.
    for t in [
        MsgType::PreinitReply,
        MsgType::InitReply,
        MsgType::ServerError,
        MsgType::SetOptionReply,
        MsgType::EchoReply,
        MsgType::NodeListReply,
        MsgType::AskForVoteReply,
        MsgType::VoteInfo,
        MsgType::HeuristicsChangeReply,
    ] {
        assert_eq!(
            h.exchange(c, &with_seq(t, Some(3))),
            vec![server_error(Some(3), ReplyError::UnexpectedMessage)],
            "{t:?}"
        );
        assert_eq!(
            h.exchange(
                c,
                &encode(&{
                    let mut m = Message::new(t);
                    m.cluster_name = Some(b"x".to_vec());
                    m
                })
            ),
            vec![server_error(None, ReplyError::UnexpectedMessage)],
            "{t:?}"
        );
    }
    // Post-INIT messages before INIT: error 11.
    for t in [
        MsgType::SetOption,
        MsgType::NodeList,
        MsgType::AskForVote,
        MsgType::VoteInfoReply,
        MsgType::HeuristicsChange,
    ] {
        assert_eq!(
            h.exchange(c, &with_seq(t, Some(4))),
            vec![server_error(Some(4), ReplyError::InitRequired)],
            "{t:?}"
        );
    }
    // STARTTLS before PREINIT: error 6.
    let d = h.connect(2);
    assert_eq!(
        h.exchange(d, &with_seq(MsgType::StartTls, Some(2))),
        vec![server_error(Some(2), ReplyError::PreinitRequired)]
    );
}

#[test]
fn init_before_preinit_quirk() {
    let mut h = Harness::new(plain_config());
    let c = h.connect(1);
    // [verified] INIT {SEQ, NODE_ID} before PREINIT: 13 (missing HB checked as 0).
    let mut m = Message::new(MsgType::Init);
    m.seq = Some(1);
    m.node_id = Some(1);
    assert_eq!(init_error(&h.exchange(c, &encode(&m))[0]), 13);
    // [verified] a complete INIT before PREINIT: 6.
    assert_eq!(
        init_error(&h.exchange(c, &init(2, 1, Algorithm::Ffsplit))[0]),
        6
    );
    // Complete but for an unknown algorithm: 12 overwrites 6.
    let mut m = init_msg(3, 1, Algorithm::Ffsplit, TieBreaker::Lowest, 8000);
    m.decision_algorithm = Some(9);
    assert_eq!(init_error(&h.exchange(c, &encode(&m))[0]), 12);
    // Nothing of this initialised the client.
    assert_eq!(
        h.exchange(c, &with_seq(MsgType::EchoRequest, Some(1))),
        vec![server_error(Some(1), ReplyError::InitRequired)]
    );
}

#[test]
fn init_cascade_errors() {
    let mut h = Harness::new(plain_config());
    let c = h.connect(1);
    h.exchange(c, &preinit(Some(1), "c"));
    let base = || init_msg(2, 1, Algorithm::Ffsplit, TieBreaker::Lowest, 8000);
    type Edit = fn(&mut Message);
    let cases: [(Edit, u16); 9] = [
        (|m| m.node_id = None, 7),
        (|m| m.ring_id = None, 7),
        (|m| m.heartbeat_interval = None, 7),
        (|m| m.heartbeat_interval = Some(999), 13),
        (|m| m.heartbeat_interval = Some(120_001), 13),
        (|m| m.tie_breaker = None, 7),
        (|m| m.decision_algorithm = None, 7),
        (|m| m.decision_algorithm = Some(4), 12),
        // Missing node id is found first; the bad heartbeat still overwrites it.
        (
            |m| {
                m.node_id = None;
                m.heartbeat_interval = Some(5);
            },
            13,
        ),
    ];
    for (edit, code) in cases {
        let mut m = base();
        edit(&mut m);
        let reply = decode(&h.exchange(c, &encode(&m))[0]).unwrap();
        assert_eq!(reply.reply_error_code, Some(code), "{m:?}");
        // Always a full INIT_REPLY.
        assert_eq!(reply.seq, Some(2));
        assert_eq!(reply.server_max_request_size, Some(32768));
        assert!(reply.supported_messages.is_some());
    }
    // The inclusive heartbeat bounds are accepted.
    assert_eq!(
        init_error(
            &h.exchange(
                c,
                &encode(&init_msg(2, 1, Algorithm::Test, TieBreaker::Lowest, 1000))
            )[0]
        ),
        0
    );
    let d = h.connect(2);
    h.exchange(d, &preinit(Some(1), "d"));
    assert_eq!(
        init_error(
            &h.exchange(
                d,
                &encode(&init_msg(
                    2,
                    1,
                    Algorithm::Test,
                    TieBreaker::Lowest,
                    120_000
                ))
            )[0]
        ),
        0
    );
}

#[test]
fn init_checks_against_the_cluster() {
    let mut h = Harness::new(plain_config());
    h.join(1, "c", 2, Algorithm::Ffsplit);
    let try_init = |h: &mut Harness, port, m: Message| {
        let id = h.connect(port);
        h.exchange(id, &preinit(Some(1), "c"));
        init_error(&h.exchange(id, &encode(&m))[0])
    };
    // Duplicate node id: 17.
    assert_eq!(
        try_init(
            &mut h,
            2,
            init_msg(2, 2, Algorithm::Ffsplit, TieBreaker::Lowest, 8000)
        ),
        17
    );
    // Tie-breaker checked before algorithm: 15, then 16.
    assert_eq!(
        try_init(
            &mut h,
            3,
            init_msg(2, 2, Algorithm::Lms, TieBreaker::Highest, 8000)
        ),
        15
    );
    assert_eq!(
        try_init(
            &mut h,
            4,
            init_msg(2, 3, Algorithm::Lms, TieBreaker::Lowest, 8000)
        ),
        16
    );
    assert_eq!(
        try_init(
            &mut h,
            5,
            init_msg(2, 3, Algorithm::Ffsplit, TieBreaker::NodeId(0), 8000)
        ),
        15
    );
    // The same node id in another cluster is fine; names are byte-exact (case matters).
    let other = h.connect(6);
    h.exchange(other, &preinit(Some(1), "C"));
    assert_eq!(
        init_error(&h.exchange(other, &init(2, 2, Algorithm::Lms))[0]),
        0
    );
    let s = h.engine.status(h.now);
    assert_eq!(s.clusters.len(), 2);
    assert_eq!(s.clusters[0].name, b"c");
    assert_eq!(s.clusters[1].name, b"C");
    assert_eq!(s.connected_clients, 6);
}

#[test]
fn repeated_init_is_refused_and_changes_nothing() {
    let mut h = Harness::new(plain_config());
    let c = h.join(1, "c", 1, Algorithm::Ffsplit);
    let m = init_msg(3, 5, Algorithm::Lms, TieBreaker::Highest, 2000);
    assert_eq!(init_error(&h.exchange(c, &encode(&m))[0]), 17);
    let s = h.engine.status(h.now);
    let node = &s.clusters[0].nodes[0];
    assert_eq!((node.node_id, node.heartbeat_interval_ms), (1, 8000));
    assert_eq!(s.clusters[0].algorithm, Algorithm::Ffsplit);
}

/// The one field a member's refused second INIT does change (docs/protocol.md, "Second INIT of
/// a member"): upstream stores the INIT's ring id, 0.0 when absent, unless the ring check itself
/// is the first to fail. Later vote replies carry it.
#[test]
fn refused_second_init_replaces_the_ring_id_unless_the_ring_check_fails() {
    let mut h = Harness::new(plain_config());
    let c = h.join(1, "c", 1, Algorithm::Test);
    let mut seq = 2;
    let mut ask_ring = |h: &mut Harness| {
        seq += 1;
        let reply = decoded(&h.exchange(c, &with_seq(MsgType::AskForVote, Some(seq))));
        assert_eq!(reply[0].msg_type, MsgType::AskForVoteReply);
        let status = h.engine.status(h.now);
        assert_eq!(reply[0].ring_id, Some(status.clusters[0].nodes[0].ring_id));
        reply[0].ring_id
    };
    assert_eq!(ask_ring(&mut h), Some(ring(1, 4)));

    // Complete INIT with a new ring: 17 (the client finds itself), the ring is taken over.
    let mut m = init_msg(10, 1, Algorithm::Test, TieBreaker::Lowest, 8000);
    m.ring_id = Some(ring(2, 0x3a4));
    assert_eq!(init_error(&h.exchange(c, &encode(&m))[0]), 17);
    assert_eq!(ask_ring(&mut h), Some(ring(2, 0x3a4)));

    // Node id present, ring absent: the ring check is the first to fail (7, then 13 for the
    // absent heartbeat, checked as 0): the ring is kept.
    let mut m = msg(MsgType::Init, Some(11));
    m.node_id = Some(1);
    m.tie_breaker = Some(TieBreaker::Lowest);
    assert_eq!(init_error(&h.exchange(c, &encode(&m))[0]), 13);
    assert_eq!(ask_ring(&mut h), Some(ring(2, 0x3a4)));

    // Node id absent (7), ring present: the ring is stored even so.
    m.node_id = None;
    m.ring_id = Some(ring(3, 5));
    assert_eq!(init_error(&h.exchange(c, &encode(&m))[0]), 13);
    assert_eq!(ask_ring(&mut h), Some(ring(3, 5)));

    // Node id and ring absent: the absent ring is stored as 0.0.
    m.ring_id = None;
    assert_eq!(init_error(&h.exchange(c, &encode(&m))[0]), 13);
    assert_eq!(ask_ring(&mut h), Some(ring(0, 0)));
}

#[test]
fn clients_are_sorted_by_node_id_and_clusters_isolated() {
    let mut h = Harness::new(plain_config());
    let a3 = h.join(1, "a", 3, Algorithm::Ffsplit);
    let b1 = h.join(2, "b", 1, Algorithm::Ffsplit);
    let a1 = h.join(3, "a", 1, Algorithm::Ffsplit);
    let s = h.engine.status(h.now);
    let ids: Vec<u32> = s.clusters[0].nodes.iter().map(|n| n.node_id).collect();
    assert_eq!(ids, vec![1, 3]);
    assert_eq!(s.clusters[1].nodes.len(), 1);
    // Cluster "b" decides alone; nothing reaches cluster "a".
    h.exchange(b1, &config_list(3, &[1, 2]));
    let out = h.feed(b1, &membership(4, ring(1, 4), &[1], None));
    assert!(out
        .iter()
        .all(|o| matches!(o, Output::Send(id, _) if *id == b1)));
    assert_eq!(decoded(&sent_to(&out, b1))[0].vote, Some(Vote::Ack));
    // Cluster "a" disappears with its last client, "b" stays.
    h.engine.client_disconnected(a1, h.now);
    h.engine.client_disconnected(a3, h.now);
    let s = h.engine.status(h.now);
    assert_eq!(s.clusters.len(), 1);
    assert_eq!(s.clusters[0].name, b"b");
    assert_eq!(s.connected_clients, 1);
}

// ---------------------------------------------------------------------------------------------
// TLS

fn tls_config(mode: TlsMode, cert_required: bool) -> EngineConfig {
    EngineConfig {
        tls: mode,
        client_cert_required: cert_required,
        ..EngineConfig::default()
    }
}

fn identity(cn: &str) -> PeerIdentity {
    PeerIdentity {
        dns_names: vec![],
        common_names: vec![cn.to_string()],
    }
}

/// PREINIT + STARTTLS; returns the client id.
fn start_tls(h: &mut Harness, cluster: &str) -> ClientId {
    let c = h.connect(1);
    h.exchange(c, &preinit(Some(1), cluster));
    let out = h.feed(c, &with_seq(MsgType::StartTls, Some(2)));
    assert_eq!(out, vec![Output::StartTls(c)], "STARTTLS has no reply");
    c
}

#[test]
fn tls_required_without_starttls_is_error_3() {
    let mut h = Harness::new(tls_config(TlsMode::Required, true));
    let c = h.connect(1);
    h.exchange(c, &preinit(Some(1), "c"));
    for msg in [
        init(2, 1, Algorithm::Ffsplit),
        with_seq(MsgType::EchoRequest, Some(3)),
    ] {
        let out = h.feed(c, &msg);
        let seq = decode(&msg).unwrap().seq;
        assert_eq!(
            sent_to(&out, c),
            vec![server_error(seq, ReplyError::TlsRequired)]
        );
        assert_eq!(disconnected(&out, c), None);
    }
}

#[test]
fn starttls_when_tls_is_off_disconnects() {
    let mut h = Harness::new(plain_config());
    let c = h.connect(1);
    h.exchange(c, &preinit(Some(1), "c"));
    let out = h.feed(c, &with_seq(MsgType::StartTls, Some(2)));
    assert!(disconnected(&out, c).unwrap().contains("Can't start TLS"));
    assert_eq!(h.engine.connected_clients(), 0);
}

#[test]
fn certificate_name_is_checked_at_the_first_gated_message() {
    let mut h = Harness::new(tls_config(TlsMode::Required, true));
    let c = start_tls(&mut h, "mycluster");
    h.engine.tls_established(c, Some(identity("MyCluster")));
    let replies = h.exchange(c, &init(3, 1, Algorithm::Ffsplit));
    assert_eq!(init_error(&replies[0]), 0);
    let node = &h.engine.status(h.now).clusters[0].nodes[0];
    assert!(node.tls_active && node.cert_verified);

    let d = start_tls(&mut h, "mycluster");
    h.engine.tls_established(d, Some(identity("othercluster")));
    let out = h.feed(d, &init(3, 2, Algorithm::Ffsplit));
    assert!(sent_to(&out, d).is_empty(), "silent disconnect: {out:?}");
    let why = disconnected(&out, d).expect("disconnected");
    assert!(
        why.contains("CN 'othercluster' does not match cluster name 'mycluster'"),
        "{why}"
    );

    let e = start_tls(&mut h, "mycluster");
    h.engine.tls_established(e, None);
    let out = h.feed(e, &with_seq(MsgType::EchoRequest, Some(3)));
    assert!(disconnected(&out, e).unwrap().contains("no certificate"));
    assert_eq!(h.engine.connected_clients(), 1);
}

#[test]
fn certificate_checks_depend_on_the_modes() {
    // TLS on, client skipped STARTTLS: no check at all.
    let mut h = Harness::new(tls_config(TlsMode::Supported, true));
    let c = h.connect(1);
    h.exchange(c, &preinit(Some(1), "c"));
    assert_eq!(
        init_error(&h.exchange(c, &init(2, 1, Algorithm::Ffsplit))[0]),
        0
    );
    // TLS on, STARTTLS done, wrong name: disconnect.
    let d = start_tls(&mut h, "c");
    h.engine.tls_established(d, Some(identity("x")));
    assert!(disconnected(&h.feed(d, &init(3, 2, Algorithm::Ffsplit)), d).is_some());
    // Client certificates not required: no name check.
    let mut h = Harness::new(tls_config(TlsMode::Required, false));
    let e = start_tls(&mut h, "c");
    h.engine.tls_established(e, None);
    assert_eq!(
        init_error(&h.exchange(e, &init(3, 1, Algorithm::Ffsplit))[0]),
        0
    );
    // A second STARTTLS on a TLS connection is refused.
    let out = h.feed(e, &with_seq(MsgType::StartTls, Some(4)));
    assert!(disconnected(&out, e).is_some());
}

// ---------------------------------------------------------------------------------------------
// Dead-peer detection and size limits

#[test]
fn dpd_before_init_is_180_seconds() {
    let mut h = Harness::new(plain_config());
    let t0 = h.now;
    let c = h.connect(1);
    assert_eq!(h.engine.next_deadline(c), Some(t0 + ms(180_000)));
    assert!(h.engine.timers_due(c, t0 + ms(179_999)).is_empty());
    let out = h.engine.timers_due(c, t0 + ms(180_000));
    let why = disconnected(&out, c).expect("expired");
    assert!(why.contains("180000 ms"), "{why}");
    assert!(sent_to(&out, c).is_empty());
    assert_eq!(h.engine.next_deadline(c), None);
}

#[test]
fn dpd_is_one_and_a_half_heartbeats_after_init_and_refreshed_by_messages() {
    let mut h = Harness::new(plain_config());
    let c = h.join(1, "c", 1, Algorithm::Ffsplit);
    let t1 = h.now;
    assert_eq!(h.engine.next_deadline(c), Some(t1 + ms(12_000)));
    h.advance(ms(5000));
    // A message answered with an error still refreshes.
    h.exchange(c, &with_seq(MsgType::VoteInfo, Some(1)));
    let t2 = h.now;
    assert_eq!(h.engine.next_deadline(c), Some(t2 + ms(12_000)));
    // A skipped message does not.
    h.advance(ms(5000));
    h.exchange(c, &hex("0063 00000001 00"));
    assert_eq!(h.engine.next_deadline(c), Some(t2 + ms(12_000)));
    assert!(h.engine.timers_due(c, t2 + ms(11_999)).is_empty());
    assert!(disconnected(&h.engine.timers_due(c, t2 + ms(12_000)), c).is_some());
}

#[test]
fn set_option_heartbeat_rearms_dpd() {
    let mut h = Harness::new(plain_config());
    let c = h.join(1, "c", 1, Algorithm::Ffsplit);
    let mut m = Message::new(MsgType::SetOption);
    m.seq = Some(3);
    m.heartbeat_interval = Some(2000);
    assert_eq!(
        h.exchange(c, &encode(&m)),
        vec![hex("0007 00000010 0000 0004 00000003 000c 0004 000007d0")]
    );
    assert_eq!(h.engine.next_deadline(c), Some(h.now + ms(3000)));
    m.heartbeat_interval = Some(500);
    assert_eq!(
        h.exchange(c, &encode(&m)),
        vec![server_error(Some(3), ReplyError::InvalidHeartbeatInterval)]
    );
    assert_eq!(
        h.engine.status(h.now).clusters[0].nodes[0].heartbeat_interval_ms,
        2000
    );
    // Neither option: just the SEQ.
    assert_eq!(
        h.exchange(c, &with_seq(MsgType::SetOption, Some(4))),
        vec![hex("0007 00000008 0000 0004 00000004")]
    );
}

#[test]
fn dpd_can_be_disabled() {
    let cfg = EngineConfig {
        dpd_enabled: false,
        ..plain_config()
    };
    let mut h = Harness::new(cfg);
    let c = h.connect(1);
    assert_eq!(h.engine.next_deadline(c), None);
    assert!(h.engine.timers_due(c, h.now + ms(10_000_000)).is_empty());
    assert_eq!(h.engine.connected_clients(), 1);
}

#[test]
fn frames_larger_than_max_send_size_disconnect_instead() {
    let cfg = EngineConfig {
        max_client_send_size: 40,
        ..plain_config()
    };
    let mut h = Harness::new(cfg);
    let c = h.connect(1);
    // PREINIT_REPLY (24 bytes) fits, INIT_REPLY (134 bytes) does not.
    assert_eq!(h.exchange(c, &preinit(Some(1), "c")).len(), 1);
    let out = h.feed(c, &init(2, 1, Algorithm::Ffsplit));
    assert!(sent_to(&out, c).is_empty());
    assert!(disconnected(&out, c)
        .unwrap()
        .contains("max_client_send_size"));
    // No frame of any output is ever above the limit.
    assert!(out
        .iter()
        .all(|o| !matches!(o, Output::Send(_, b) if b.len() > 40)));
}

// ---------------------------------------------------------------------------------------------
// Node lists, votes, algorithm errors

#[test]
fn node_list_required_fields_and_algorithm_errors() {
    let mut h = Harness::new(plain_config());
    let c = h.join(1, "c", 1, Algorithm::TwoNodeLms);
    // No NODE_LIST_TYPE: 7 with SEQ; no SEQ: 7 without.
    let mut m = node_list(3, NodeListType::Membership, &[1]);
    m.node_list_type = None;
    assert_eq!(
        h.exchange(c, &encode(&m)),
        vec![server_error(
            Some(3),
            ReplyError::DoesntContainRequiredOption
        )]
    );
    let mut m = node_list(3, NodeListType::InitialConfig, &[1, 2]);
    m.seq = None;
    assert_eq!(
        h.exchange(c, &encode(&m)),
        vec![server_error(None, ReplyError::DoesntContainRequiredOption)]
    );
    // Membership without ring, quorum without quorate: 7.
    let m = node_list(4, NodeListType::Membership, &[1]);
    assert_eq!(
        h.exchange(c, &encode(&m)),
        vec![server_error(
            Some(4),
            ReplyError::DoesntContainRequiredOption
        )]
    );
    let m = node_list(5, NodeListType::Quorum, &[1]);
    assert_eq!(
        h.exchange(c, &encode(&m)),
        vec![server_error(
            Some(5),
            ReplyError::DoesntContainRequiredOption
        )]
    );
    // [verified] 2nodelms with three configured nodes: 12, and nothing stored.
    assert_eq!(
        h.exchange(c, &config_list(6, &[1, 2, 3])),
        vec![server_error(
            Some(6),
            ReplyError::UnsupportedDecisionAlgorithm
        )]
    );
    assert!(h.engine.status(h.now).clusters[0].nodes[0]
        .config_nodes
        .is_empty());
    // [verified] ASK_FOR_VOTE before any membership: ASK_LATER, ring from INIT.
    let reply = decoded(&h.exchange(c, &with_seq(MsgType::AskForVote, Some(7))));
    assert_eq!(reply[0].msg_type, MsgType::AskForVoteReply);
    assert_eq!(reply[0].vote, Some(Vote::AskLater));
    assert_eq!(reply[0].ring_id, Some(ring(1, 4)));
    // ASK_FOR_VOTE without SEQ (but not empty, which would be a decode error): 7.
    let mut m = Message::new(MsgType::AskForVote);
    m.node_id = Some(1);
    assert_eq!(
        h.exchange(c, &encode(&m)),
        vec![server_error(None, ReplyError::DoesntContainRequiredOption)]
    );
    // Membership: ACK, and the reply carries the new ring.
    let reply = decoded(&h.exchange(c, &membership(8, ring(1, 9), &[1, 2], None)));
    assert_eq!(
        (reply[0].vote, reply[0].ring_id),
        (Some(Vote::Ack), Some(ring(1, 9)))
    );
}

#[test]
fn ffsplit_rejects_ask_for_vote_and_bad_lists() {
    let mut h = Harness::new(plain_config());
    let c = h.join(1, "c", 1, Algorithm::Ffsplit);
    assert_eq!(
        h.exchange(c, &with_seq(MsgType::AskForVote, Some(3))),
        vec![server_error(
            Some(3),
            ReplyError::UnsupportedDecisionAlgorithmMessage
        )]
    );
    assert_eq!(
        h.exchange(c, &config_list(4, &[2, 3])),
        vec![server_error(Some(4), ReplyError::InvalidConfigNodeList)]
    );
    assert_eq!(
        h.exchange(c, &membership(5, ring(1, 5), &[2], None)),
        vec![server_error(Some(5), ReplyError::InvalidMembershipNodeList)]
    );
    // The failed membership did not store its ring.
    let reply = decoded(&h.exchange(c, &quorum(6, &[1])));
    assert_eq!(reply[0].ring_id, Some(ring(1, 4)));
}

#[test]
fn heuristics_change() {
    let mut h = Harness::new(plain_config());
    let c = h.join(1, "c", 1, Algorithm::Ffsplit);
    let mut m = Message::new(MsgType::HeuristicsChange);
    m.seq = Some(3);
    assert_eq!(
        h.exchange(c, &encode(&m)),
        vec![server_error(
            Some(3),
            ReplyError::DoesntContainRequiredOption
        )]
    );
    m.heuristics = Some(Heuristics::Fail);
    let reply = decoded(&h.exchange(c, &encode(&m)));
    assert_eq!(reply[0].msg_type, MsgType::HeuristicsChangeReply);
    assert_eq!(reply[0].vote, Some(Vote::AskLater));
    assert_eq!(reply[0].heuristics, Some(Heuristics::Fail));
    assert_eq!(reply[0].ring_id, Some(ring(1, 4)));
    let node = &h.engine.status(h.now).clusters[0].nodes[0];
    assert_eq!(
        (node.heuristics, node.regular_heuristics),
        (Heuristics::Fail, Heuristics::Fail)
    );
    assert_eq!(node.last_sent_vote, Some(Vote::AskLater));
    assert_eq!(node.last_sent_ack_nack_vote, None);
}

/// Two ffsplit clients of one 2-node cluster, split: [verified] node 2 gets NACK seq 2 and
/// node 1 its ACK only after node 2's VOTE_INFO_REPLY{2}.
#[test]
fn ffsplit_split_across_two_clients() {
    let mut h = Harness::new(plain_config());
    let a = h.join(1, "c", 1, Algorithm::Ffsplit);
    let b = h.join(2, "c", 2, Algorithm::Ffsplit);
    h.exchange(a, &config_list(3, &[1, 2]));
    h.exchange(b, &config_list(3, &[1, 2]));
    let r0 = ring(1, 4);
    let out = h.feed(a, &membership(4, r0, &[1, 2], None));
    assert_eq!(decoded(&sent_to(&out, a))[0].vote, Some(Vote::WaitForReply));
    let out = h.feed(b, &membership(4, r0, &[1, 2], None));
    // Node 1's ACK goes to the other client; node 2's ACK precedes its reply.
    let to_a = decoded(&sent_to(&out, a));
    let to_b = decoded(&sent_to(&out, b));
    assert_eq!(
        (to_a[0].msg_type, to_a[0].seq, to_a[0].vote),
        (MsgType::VoteInfo, Some(1), Some(Vote::Ack))
    );
    assert_eq!(to_b.len(), 2);
    assert_eq!(
        (to_b[0].msg_type, to_b[0].vote),
        (MsgType::VoteInfo, Some(Vote::Ack))
    );
    assert_eq!(
        (to_b[1].msg_type, to_b[1].vote),
        (MsgType::NodeListReply, Some(Vote::NoChange))
    );
    h.feed(a, &with_seq(MsgType::VoteInfoReply, Some(1)));
    h.feed(b, &with_seq(MsgType::VoteInfoReply, Some(1)));
    // Split.
    h.feed(a, &membership(5, ring(1, 8), &[1], None));
    let out = h.feed(b, &membership(5, ring(2, 8), &[2], None));
    assert!(sent_to(&out, a).is_empty());
    let to_b = decoded(&sent_to(&out, b));
    assert_eq!(
        (to_b[0].msg_type, to_b[0].seq, to_b[0].vote, to_b[0].ring_id),
        (
            MsgType::VoteInfo,
            Some(2),
            Some(Vote::Nack),
            Some(ring(2, 8))
        )
    );
    // Stale reply: nothing; current: node 1's ACK.
    assert!(h
        .feed(b, &with_seq(MsgType::VoteInfoReply, Some(1)))
        .is_empty());
    let out = h.feed(b, &with_seq(MsgType::VoteInfoReply, Some(2)));
    assert!(sent_to(&out, b).is_empty());
    let to_a = decoded(&sent_to(&out, a));
    assert_eq!(
        (to_a[0].seq, to_a[0].vote, to_a[0].ring_id),
        (Some(2), Some(Vote::Ack), Some(ring(1, 8)))
    );
    let s = h.engine.status(h.now);
    assert_eq!(s.clusters[0].nodes[0].last_sent_vote, Some(Vote::Ack));
    assert_eq!(
        s.clusters[0].nodes[1].last_sent_ack_nack_vote,
        Some(Vote::Nack)
    );
    // Node 1 drops: node 2 gets the vote.
    let out = h.engine.client_disconnected(a, h.now);
    let to_b = decoded(&sent_to(&out, b));
    assert_eq!((to_b[0].seq, to_b[0].vote), (Some(3), Some(Vote::Ack)));
}

#[test]
fn lms_timer_sends_vote_info() {
    // [verified] LMS, both nodes send membership (1,8): first WAIT_FOR_REPLY, second ACK,
    // and the first a VOTE_INFO{1, ACK} from its algorithm timer HB/4 later.
    let mut h = Harness::new(plain_config());
    let a = h.connect(1);
    let b = h.connect(2);
    for (id, node) in [(a, 1), (b, 2)] {
        h.exchange(id, &preinit(Some(1), "c"));
        let mut m = init_msg(2, node, Algorithm::Lms, TieBreaker::Lowest, 8000);
        m.ring_id = Some(ring(0, 0));
        assert_eq!(init_error(&h.exchange(id, &encode(&m))[0]), 0);
        h.exchange(id, &config_list(3, &[1, 2]));
    }
    let r = ring(1, 8);
    let t0 = h.now;
    let reply = decoded(&h.exchange(a, &membership(4, r, &[1, 2], None)));
    assert_eq!(reply[0].vote, Some(Vote::WaitForReply));
    assert_eq!(h.engine.next_deadline(a), Some(t0 + ms(2000)));
    let reply = decoded(&h.exchange(b, &membership(4, r, &[1, 2], None)));
    assert_eq!(reply[0].vote, Some(Vote::Ack));
    assert_eq!(h.engine.next_deadline(b), Some(t0 + ms(12_000)));
    assert!(h.engine.timers_due(a, t0 + ms(1999)).is_empty());
    let out = h.engine.timers_due(a, t0 + ms(2000));
    assert_eq!(
        sent_to(&out, a),
        vec![hex(
            "000e 0000001d 0000 0004 00000001 0013 0001 01 000d 000c 00000001 0000000000000008"
        )]
    );
    assert_eq!(h.engine.next_deadline(a), Some(t0 + ms(12_000)));
    let node = &h.engine.status(h.now).clusters[0].nodes[0];
    assert_eq!(node.last_sent_vote, Some(Vote::Ack));
}

#[test]
fn shutdown_forgets_everything_silently() {
    let mut h = Harness::new(plain_config());
    let a = h.join(1, "c", 1, Algorithm::Ffsplit);
    h.join(2, "c", 2, Algorithm::Ffsplit);
    h.exchange(a, &config_list(3, &[1, 2]));
    h.engine.shutdown(h.now);
    let s = h.engine.status(h.now);
    assert_eq!((s.connected_clients, s.clusters.len()), (0, 0));
    assert!(h
        .engine
        .frame_received(a, Frame::Skipped(ReplyError::UnsupportedMessage), h.now)
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Disconnects at every step

/// One step of a 2-node ffsplit session: (which client, bytes).
fn ffsplit_script() -> Vec<(usize, Vec<u8>)> {
    let mut steps = Vec::new();
    for who in 0..2 {
        steps.push((who, preinit(Some(1), "c")));
    }
    for who in 0..2 {
        steps.push((who, init(2, who as u32 + 1, Algorithm::Ffsplit)));
    }
    for who in 0..2 {
        steps.push((who, set_option_kap(3, true)));
        steps.push((who, config_list(4, &[1, 2])));
    }
    for who in 0..2 {
        steps.push((
            who,
            membership(5, ring(1, 4), &[1, 2], Some(Heuristics::Pass)),
        ));
        steps.push((who, quorum(6, &[1, 2])));
    }
    for who in 0..2 {
        steps.push((who, with_seq(MsgType::EchoRequest, Some(1))));
    }
    // Split, then a heuristics change on node 2.
    steps.push((0, membership(7, ring(1, 8), &[1], None)));
    steps.push((1, membership(7, ring(2, 8), &[2], None)));
    let mut hc = Message::new(MsgType::HeuristicsChange);
    hc.seq = Some(8);
    hc.heuristics = Some(Heuristics::Fail);
    steps.push((1, encode(&hc)));
    steps.push((0, quorum(8, &[1])));
    steps
}

/// How a client goes away.
#[derive(Debug, Clone, Copy)]
enum Loss {
    /// The driver saw EOF.
    Eof,
    /// Dead-peer detection.
    Timeout,
    /// The engine itself drops it (STARTTLS on a TLS-less server).
    Refused,
}

/// Plays the script; every VOTE_INFO is answered at once. Returns the engine and ids.
struct Play {
    h: Harness,
    ids: [ClientId; 2],
    alive: [bool; 2],
}

impl Play {
    fn new() -> Play {
        let mut h = Harness::new(plain_config());
        let ids = [h.connect(1), h.connect(2)];
        Play {
            h,
            ids,
            alive: [true, true],
        }
    }

    fn who(&self, id: ClientId) -> usize {
        if id == self.ids[0] {
            0
        } else {
            1
        }
    }

    /// Handle outputs like a driver plus well-behaved clients: answer VOTE_INFOs.
    fn absorb(&mut self, out: Vec<Output>) {
        let mut replies = Vec::new();
        for o in out {
            match o {
                Output::Send(id, bytes) => {
                    let who = self.who(id);
                    assert!(self.alive[who], "frame for a gone client");
                    let m = decode(&bytes).expect("engine frames decode");
                    assert!(bytes.len() <= 32768);
                    if m.msg_type == MsgType::VoteInfo {
                        replies.push((who, with_seq(MsgType::VoteInfoReply, m.seq)));
                    }
                }
                Output::Disconnect(id, _) => {
                    let who = self.who(id);
                    self.alive[who] = false;
                }
                Output::StartTls(_) => panic!("no TLS in this script"),
            }
        }
        for (who, bytes) in replies {
            if self.alive[who] {
                let out = self.h.feed(self.ids[who], &bytes);
                self.absorb(out);
            }
        }
    }

    fn step(&mut self, who: usize, bytes: &[u8]) {
        if self.alive[who] {
            let out = self.h.feed(self.ids[who], bytes);
            self.absorb(out);
        }
    }

    fn lose(&mut self, who: usize, how: Loss) {
        if !self.alive[who] {
            return;
        }
        let id = self.ids[who];
        let out = match how {
            Loss::Eof => {
                self.alive[who] = false;
                self.h.engine.client_disconnected(id, self.h.now)
            }
            Loss::Timeout => {
                let deadline = self.h.engine.next_deadline(id).expect("dpd armed");
                self.h.engine.timers_due(id, deadline)
            }
            Loss::Refused => {
                // STARTTLS before PREINIT is only an error; after it, a disconnect.
                let out = self.h.feed(id, &preinit(Some(1), "c"));
                self.absorb(out);
                self.h.feed(id, &with_seq(MsgType::StartTls, Some(9)))
            }
        };
        self.absorb(out);
        assert!(!self.alive[who], "{how:?} did not disconnect");
    }
}

#[test]
fn disconnect_at_every_step_never_panics_and_the_survivor_gets_its_ack() {
    let script = ffsplit_script();
    for cut in 0..=script.len() {
        for victim in [Some(0), Some(1), None] {
            for how in [Loss::Eof, Loss::Timeout, Loss::Refused] {
                let mut p = Play::new();
                for (who, bytes) in &script[..cut] {
                    p.step(*who, bytes);
                }
                match victim {
                    Some(v) => p.lose(v, how),
                    None => {
                        p.lose(0, how);
                        p.lose(1, how);
                    }
                }
                // The rest of the session, for whoever is left.
                for (who, bytes) in &script[cut..] {
                    p.step(*who, bytes);
                }
                let ctx = format!("cut {cut}, victim {victim:?}, {how:?}");
                let s = p.h.engine.status(p.h.now);
                match victim {
                    None => {
                        assert_eq!(s.connected_clients, 0, "{ctx}");
                        assert!(s.clusters.is_empty(), "{ctx}");
                    }
                    Some(v) => {
                        let survivor = 1 - v;
                        assert_eq!(s.connected_clients, 1, "{ctx}");
                        let node = &s.clusters[0].nodes[0];
                        assert_eq!(node.node_id, survivor as u32 + 1, "{ctx}");
                        // Alone in a 2-node cluster, the survivor holds the vote.
                        assert_eq!(node.last_sent_ack_nack_vote, Some(Vote::Ack), "{ctx}");
                    }
                }
            }
        }
    }
}
