//! A point-in-time copy of what the daemon knows, for the status renderers (upstream text,
//! people's table, JSON). The engine fills it; renderers never touch live state.

use crate::proto::types::{Algorithm, Heuristics, NodeInfo, RingId, TieBreaker, TlsMode, Vote};

#[derive(Debug, Clone, PartialEq)]
pub struct ServerStatus {
    /// `-l` address as given; None = wildcard (upstream prints `*`).
    pub listen_addr: Option<String>,
    pub port: u16,
    pub tls: TlsMode,
    pub client_cert_required: bool,
    /// TCP clients, including those that have not completed INIT.
    pub connected_clients: usize,
    /// 0 = unlimited.
    pub max_clients: usize,
    pub max_send_size: u32,
    pub max_receive_size: u32,
    /// In cluster creation order.
    pub clusters: Vec<ClusterStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterStatus {
    /// Raw cluster-name bytes (upstream compares byte-exactly).
    pub name: Vec<u8>,
    /// Of the first client (lowest node id).
    pub algorithm: Algorithm,
    /// Of the first client.
    pub tie_breaker: TieBreaker,
    /// True iff every client uses ffsplit with the KAP tie-breaker enabled.
    pub kap_tie_breaker: bool,
    /// Sorted by node id ascending.
    pub nodes: Vec<NodeStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeStatus {
    pub node_id: u32,
    /// `<ip>:<port>`, IPv4 peers of a dual-stack socket as `::ffff:a.b.c.d:port` (upstream form).
    pub client_addr: String,
    pub heartbeat_interval_ms: u32,
    pub config_version: Option<u64>,
    pub config_nodes: Vec<NodeInfo>,
    pub ring_id: RingId,
    pub membership_nodes: Vec<NodeInfo>,
    pub quorum_nodes: Vec<NodeInfo>,
    pub heuristics: Heuristics,
    pub membership_heuristics: Heuristics,
    pub regular_heuristics: Heuristics,
    pub tls_active: bool,
    pub cert_verified: bool,
    pub last_sent_vote: Option<Vote>,
    pub last_sent_ack_nack_vote: Option<Vote>,
    /// Milliseconds since the last complete message from this client.
    pub ms_since_last_message: u64,
}

impl NodeStatus {
    /// A node that has told nothing yet: no lists, no heuristics, no vote, plain TCP. Renderer
    /// tests (in the daemon's crate, hence public) set only the fields they show.
    pub fn blank(node_id: u32, client_addr: String) -> NodeStatus {
        NodeStatus {
            node_id,
            client_addr,
            heartbeat_interval_ms: 8000,
            config_version: None,
            config_nodes: vec![],
            ring_id: RingId::default(),
            membership_nodes: vec![],
            quorum_nodes: vec![],
            heuristics: Heuristics::Undefined,
            membership_heuristics: Heuristics::Undefined,
            regular_heuristics: Heuristics::Undefined,
            tls_active: false,
            cert_verified: false,
            last_sent_vote: None,
            last_sent_ack_nack_vote: None,
            ms_since_last_message: 0,
        }
    }
}
