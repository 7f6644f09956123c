//! Client messages as the real qdevice-net client builds them, and the framing of what a
//! client sends, shared by the engine tests (tests/engine/engine_session.rs,
//! tests/engine/engine_vs_upstream.rs).
#![allow(dead_code)]

use qnetd::proto::codec::encode;
use qnetd::proto::framing::{Frame, FrameReader};
use qnetd::proto::types::{
    Heuristics, Message, MsgType, NodeInfo, NodeListType, RingId, TieBreaker,
};

/// Bytes from hex digits; anything else (spaces between fields) is skipped.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert!(digits.len() % 2 == 0, "odd hex in {s:?}");
    digits
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

pub fn ring(node_id: u32, seq: u64) -> RingId {
    RingId { node_id, seq }
}

pub fn msg(t: MsgType, seq: Option<u32>) -> Message {
    let mut m = Message::new(t);
    m.seq = seq;
    m
}

/// PREINIT naming `cluster`; `seq` None leaves the SEQ option out.
pub fn preinit(seq: Option<u32>, cluster: &str) -> Vec<u8> {
    let mut m = msg(MsgType::Preinit, seq);
    m.cluster_name = Some(cluster.as_bytes().to_vec());
    encode(&m)
}

/// INIT as the client sends it: every message and option type it knows, and its ring.
pub fn init_msg(
    seq: u32,
    node_id: u32,
    algorithm: u16,
    tb: TieBreaker,
    hb: u32,
    r: RingId,
) -> Message {
    let mut m = msg(MsgType::Init, Some(seq));
    m.supported_messages = Some((0..=17).collect());
    m.supported_options = Some((0..=23).collect());
    m.node_id = Some(node_id);
    m.decision_algorithm = Some(algorithm);
    m.heartbeat_interval = Some(hb);
    m.tie_breaker = Some(tb);
    m.ring_id = Some(r);
    m
}

pub fn node_list(seq: u32, t: NodeListType, ids: &[u32]) -> Message {
    let mut m = msg(MsgType::NodeList, Some(seq));
    m.node_list_type = Some(t);
    m.nodes = ids.iter().map(|&id| NodeInfo::new(id)).collect();
    m
}

pub fn membership(seq: u32, r: RingId, ids: &[u32], h: Option<Heuristics>) -> Vec<u8> {
    let mut m = node_list(seq, NodeListType::Membership, ids);
    m.ring_id = Some(r);
    m.heuristics = h;
    encode(&m)
}

pub fn quorum(seq: u32, ids: &[u32]) -> Vec<u8> {
    let mut m = node_list(seq, NodeListType::Quorum, ids);
    m.quorate = Some(true);
    encode(&m)
}

/// The frames `bytes` completes, through the client's framing `reader` (which keeps a partial
/// frame for the next call), as the server's read loop splits them.
pub fn frames(reader: &mut FrameReader, mut bytes: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (used, frame) = reader.push(bytes);
        bytes = &bytes[used..];
        frames.extend(frame);
    }
    frames
}
