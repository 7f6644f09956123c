//! Client-side message building and reply reading on top of the daemon's codec.

use qnetd::proto::types::{
    Message, MsgType, NodeInfo, NodeListType, NodeState, RingId, TieBreaker, Vote,
};
use smol::io::{AsyncRead, AsyncReadExt};

pub use qnetd::proto::codec::{decode, encode};

/// Replies bigger than this are a protocol violation for the load generator (the daemon
/// advertises 32768 as its maximum reply size).
const MAX_REPLY: usize = 1 << 20;

/// Reads one whole message (header included) from a stream; `None` on a clean EOF.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 6];
    let mut got = 0;
    while got < header.len() {
        let n = r.read(&mut header[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if len > MAX_REPLY {
        return Err(std::io::Error::other(format!("reply of {len} bytes")));
    }
    let mut frame = vec![0u8; 6 + len];
    frame[..6].copy_from_slice(&header);
    r.read_exact(&mut frame[6..]).await?;
    Ok(Some(frame))
}

pub fn preinit(seq: u32, cluster: &str) -> Vec<u8> {
    let mut m = Message::new(MsgType::Preinit);
    m.seq = Some(seq);
    m.cluster_name = Some(cluster.as_bytes().to_vec());
    encode(&m)
}

pub fn starttls(seq: u32) -> Vec<u8> {
    let mut m = Message::new(MsgType::StartTls);
    m.seq = Some(seq);
    encode(&m)
}

/// INIT as qdevice-net sends it: ffsplit, lowest-node-id tie-breaker.
pub fn init(seq: u32, node_id: u32, heartbeat_ms: u32, ring: RingId) -> Vec<u8> {
    let mut m = Message::new(MsgType::Init);
    m.seq = Some(seq);
    m.supported_messages = Some(MsgType::ALL.iter().map(|t| *t as u16).collect());
    m.supported_options = Some((0..=qnetd::proto::types::opt::LAST).collect());
    m.node_id = Some(node_id);
    m.decision_algorithm = Some(qnetd::proto::types::Algorithm::Ffsplit as u16);
    m.heartbeat_interval = Some(heartbeat_ms);
    m.tie_breaker = Some(TieBreaker::Lowest);
    m.ring_id = Some(ring);
    encode(&m)
}

pub fn set_option_kap(seq: u32, kap: bool) -> Vec<u8> {
    let mut m = Message::new(MsgType::SetOption);
    m.seq = Some(seq);
    m.keep_active_partition_tie_breaker = Some(kap);
    encode(&m)
}

pub fn echo(seq: u32) -> Vec<u8> {
    let mut m = Message::new(MsgType::EchoRequest);
    m.seq = Some(seq);
    encode(&m)
}

pub fn vote_info_reply(seq: u32) -> Vec<u8> {
    let mut m = Message::new(MsgType::VoteInfoReply);
    m.seq = Some(seq);
    encode(&m)
}

/// A config, membership or quorum NODE_LIST shaped like the real client's (§2.2).
pub fn node_list(seq: u32, kind: NodeListType, nodes: &[u32], ring: RingId) -> Vec<u8> {
    let mut m = Message::new(MsgType::NodeList);
    m.seq = Some(seq);
    m.node_list_type = Some(kind);
    m.nodes = nodes.iter().map(|id| NodeInfo::new(*id)).collect();
    match kind {
        NodeListType::InitialConfig | NodeListType::ChangedConfig => m.config_version = Some(1),
        NodeListType::Membership => m.ring_id = Some(ring),
        NodeListType::Quorum => {
            m.quorate = Some(true);
            for n in &mut m.nodes {
                n.state = Some(NodeState::Member);
            }
        }
    }
    encode(&m)
}

/// The fields of a server message the load generator looks at.
#[derive(Debug, Clone)]
pub struct Reply {
    pub msg_type: MsgType,
    pub seq: Option<u32>,
    pub error: Option<u16>,
    pub vote: Option<Vote>,
    pub ring: Option<RingId>,
    pub tls: Option<qnetd::proto::types::TlsMode>,
    pub list_type: Option<NodeListType>,
}

pub fn parse_reply(frame: &[u8]) -> Result<Reply, String> {
    let m = decode(frame).map_err(|e| format!("undecodable reply: {e}"))?;
    Ok(Reply {
        msg_type: m.msg_type,
        seq: m.seq,
        error: m.reply_error_code,
        vote: m.vote,
        ring: m.ring_id,
        tls: m.tls_supported,
        list_type: m.node_list_type,
    })
}
