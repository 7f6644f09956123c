//! Clusters: the clients that completed INIT under one cluster name, and what the server
//! remembers about each of them (upstream `qnetd-cluster.c`, `qnetd-cluster-list.c` and the
//! per-client fields of `qnetd-client.h` that the decision algorithms read).
//!
//! Ordering rules are upstream's and are visible on the wire and in the status output:
//! clusters keep creation order; the nodes of a cluster are kept sorted by node id (a new node
//! goes before the first node with a larger id).

use std::time::Instant;

use crate::proto::types::{Algorithm, Heuristics, NodeInfo, RingId, TieBreaker, Vote};

/// Identifies one client connection for the lifetime of the engine.
pub type ClientId = u64;

/// A vote the server sends on its own initiative (VOTE_INFO), produced by an algorithm.
/// The engine encodes it; the target node has already recorded it as its last sent vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteInfo {
    pub client: ClientId,
    pub seq: u32,
    pub vote: Vote,
    pub ring_id: RingId,
}

/// One initialised client as a member of its cluster.
#[derive(Debug, Clone)]
pub struct Node {
    pub client: ClientId,
    pub node_id: u32,
    pub algorithm: Algorithm,
    pub tie_breaker: TieBreaker,
    pub keep_active_partition_tie_breaker: bool,
    pub config_nodes: Vec<NodeInfo>,
    /// CONFIG_VERSION of the last config node list, if it carried one.
    pub config_version: Option<u64>,
    pub membership_nodes: Vec<NodeInfo>,
    pub quorum_nodes: Vec<NodeInfo>,
    /// From INIT, then from every accepted membership node list.
    pub ring_id: RingId,
    /// The latest of `membership_heuristics` and `regular_heuristics`.
    pub heuristics: Heuristics,
    pub membership_heuristics: Heuristics,
    pub regular_heuristics: Heuristics,
    pub last_sent_vote: Option<Vote>,
    pub last_sent_ack_nack_vote: Option<Vote>,
    /// Per-node data of the decision algorithms.
    pub algo: algo_state::NodeData,
    /// The per-client algorithm timer (only LMS schedules it).
    pub algo_timer: Option<Instant>,
    /// Sequence numbers of VOTE_INFOs sent by the algorithm timer (first is 1).
    pub algo_timer_vote_info_seq: u32,
}

impl Node {
    pub fn new(
        client: ClientId,
        node_id: u32,
        algorithm: Algorithm,
        tie_breaker: TieBreaker,
        ring_id: RingId,
    ) -> Node {
        Node {
            client,
            node_id,
            algorithm,
            tie_breaker,
            keep_active_partition_tie_breaker: false,
            config_nodes: Vec::new(),
            config_version: None,
            membership_nodes: Vec::new(),
            quorum_nodes: Vec::new(),
            ring_id,
            heuristics: Heuristics::Undefined,
            membership_heuristics: Heuristics::Undefined,
            regular_heuristics: Heuristics::Undefined,
            last_sent_vote: None,
            last_sent_ack_nack_vote: None,
            algo: algo_state::NodeData::default(),
            algo_timer: None,
            algo_timer_vote_info_seq: 0,
        }
    }

    /// Remember a vote the server is about to send this node (reply or VOTE_INFO).
    pub fn record_sent_vote(&mut self, vote: Vote) {
        self.last_sent_vote = Some(vote);
        if vote.is_ack_or_nack() {
            self.last_sent_ack_nack_vote = Some(vote);
        }
    }
}

/// True if `list` holds an entry for `node_id` (upstream `node_list_find_node_id`).
pub fn contains_node(list: &[NodeInfo], node_id: u32) -> bool {
    list.iter().any(|n| n.node_id == node_id)
}

/// All initialised clients sharing one cluster name.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Raw name bytes, compared byte-exactly.
    pub name: Vec<u8>,
    /// Sorted by node id ascending; never empty while the cluster exists.
    pub nodes: Vec<Node>,
    /// Cluster-wide data of the ffsplit algorithm.
    pub ffsplit: algo_state::ffsplit::ClusterData,
}

impl Cluster {
    pub fn new(name: Vec<u8>) -> Cluster {
        Cluster {
            name,
            nodes: Vec::new(),
            ffsplit: algo_state::ffsplit::ClusterData::default(),
        }
    }

    /// Insert before the first node with a larger node id; returns the new node's index.
    pub fn insert(&mut self, node: Node) -> usize {
        let at = self
            .nodes
            .iter()
            .position(|n| n.node_id > node.node_id)
            .unwrap_or(self.nodes.len());
        self.nodes.insert(at, node);
        at
    }

    /// Index of the node belonging to `client`.
    pub fn position(&self, client: ClientId) -> Option<usize> {
        self.nodes.iter().position(|n| n.client == client)
    }

    /// Index of the first node with `node_id` (upstream `qnetd_cluster_find_client_by_node_id`).
    pub fn find_node_id(&self, node_id: u32) -> Option<usize> {
        self.nodes.iter().position(|n| n.node_id == node_id)
    }
}

/// Every cluster: found by name, listed in creation order (the order upstream lists them in).
///
/// Kept sorted by name for a binary search: every message of an initialised client looks its
/// cluster up, and the linear scan this replaces made a reconnect storm of 10,000 clients
/// (5,000 clusters) quadratic, 40% of the daemon's CPU spent comparing names (perf,
/// `tools/bench`). Only the status snapshot wants creation order; it sorts then.
#[derive(Debug, Clone, Default)]
pub struct ClusterList {
    /// Sorted by name; each with its creation number.
    clusters: Vec<(u64, Cluster)>,
    created: u64,
}

impl ClusterList {
    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Cluster> {
        let mut by_age: Vec<&(u64, Cluster)> = self.clusters.iter().collect();
        by_age.sort_unstable_by_key(|(created, _)| *created);
        by_age.into_iter().map(|(_, c)| c)
    }

    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    fn search(&self, name: &[u8]) -> Result<usize, usize> {
        self.clusters
            .binary_search_by(|(_, c)| c.name.as_slice().cmp(name))
    }

    pub fn find(&self, name: &[u8]) -> Option<&Cluster> {
        let at = self.search(name).ok()?;
        Some(&self.clusters[at].1)
    }

    pub fn find_mut(&mut self, name: &[u8]) -> Option<&mut Cluster> {
        let at = self.search(name).ok()?;
        Some(&mut self.clusters[at].1)
    }

    /// Add `node` to the cluster called `name`, creating the cluster (the newest) if it does
    /// not exist. Returns the cluster and the node's index in it.
    pub fn add_node(&mut self, name: &[u8], node: Node) -> (&mut Cluster, usize) {
        let at = match self.search(name) {
            Ok(at) => at,
            Err(at) => {
                self.clusters
                    .insert(at, (self.created, Cluster::new(name.to_vec())));
                self.created += 1;
                at
            }
        };
        let cluster = &mut self.clusters[at].1;
        let idx = cluster.insert(node);
        (cluster, idx)
    }

    /// Remove `client`'s node from cluster `name`; the cluster goes away with its last node.
    pub fn remove_client(&mut self, name: &[u8], client: ClientId) -> Option<Node> {
        let at = self.search(name).ok()?;
        let cluster = &mut self.clusters[at].1;
        let idx = cluster.position(client)?;
        let node = cluster.nodes.remove(idx);
        if cluster.nodes.is_empty() {
            self.clusters.remove(at);
        }
        Some(node)
    }

    /// Forget everything (server shutdown).
    pub fn clear(&mut self) {
        self.clusters.clear();
    }
}

/// What the decision algorithms (`algo`) keep per node and per cluster: plain data, here with
/// the state it belongs to, so that `cluster` needs nothing from `algo`.
pub mod algo_state {
    use crate::proto::types::Vote;

    /// Per-node data of every algorithm (a node only ever uses the part of its own algorithm).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct NodeData {
        pub ffsplit: ffsplit::NodeData,
        /// 2NODELMS and LMS: entries in the last config node list.
        pub num_config_nodes: usize,
        /// 2NODELMS and LMS: the last stored result; None = never evaluated ("newcomer").
        pub last_result: Option<Vote>,
    }

    /// FFSPLIT's phases and bookkeeping (`algo::ffsplit`).
    pub mod ffsplit {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum ClusterPhase {
            #[default]
            WaitingForChange,
            WaitingForStableMembership,
            SendingNacks,
            SendingAcks,
        }

        /// Cluster-wide ffsplit state.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct ClusterData {
            pub phase: ClusterPhase,
            /// Node ids of the partition chosen last time (for the KAP tie-breaker, which
            /// only asks whether a node was in it): ids, not the whole membership list, so a
            /// cluster keeps one list per node and not one more.
            pub quorate_partition: Vec<u32>,
        }

        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum NodePhase {
            #[default]
            WaitingForChange,
            SendingNack,
            SendingAck,
        }

        /// Per-node ffsplit state.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct NodeData {
            pub phase: NodePhase,
            /// Sequence number of the last VOTE_INFO sent to this node (first is 1); only a
            /// VOTE_INFO_REPLY carrying it counts.
            pub vote_info_expected_seq: u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(client: ClientId, node_id: u32) -> Node {
        Node::new(
            client,
            node_id,
            Algorithm::Ffsplit,
            TieBreaker::Lowest,
            RingId::default(),
        )
    }

    #[test]
    fn clusters_listed_in_creation_order_and_found_by_name() {
        let mut list = ClusterList::default();
        list.add_node(b"a", node(1, 1));
        list.add_node(b"b", node(2, 1));
        list.add_node(b"c", node(3, 1));
        list.add_node(b"b", node(4, 2));
        assert_eq!(list.find(b"b").unwrap().nodes.len(), 2);
        assert!(list.find(b"B").is_none() && list.find(b"").is_none());
        // The last node gone, the cluster goes; created again, it is the newest.
        assert!(list.remove_client(b"b", 2).is_some());
        assert!(list.remove_client(b"b", 4).is_some());
        assert!(list.find(b"b").is_none());
        assert!(list.remove_client(b"b", 4).is_none());
        list.add_node(b"b", node(5, 1));
        let names: Vec<&[u8]> = list.iter().map(|c| c.name.as_slice()).collect();
        assert_eq!(names, [&b"a"[..], b"c", b"b"]);
        assert_eq!(list.len(), 3);
        assert_eq!(list.find_mut(b"c").map(|c| c.nodes[0].client), Some(3));
        list.clear();
        assert!(list.is_empty() && list.find(b"a").is_none());
    }

    #[test]
    fn nodes_stay_sorted_by_node_id() {
        let mut list = ClusterList::default();
        list.add_node(b"c", node(1, 5));
        list.add_node(b"c", node(2, 1));
        list.add_node(b"c", node(3, 3));
        let ids: Vec<u32> = list
            .find(b"c")
            .unwrap()
            .nodes
            .iter()
            .map(|n| n.node_id)
            .collect();
        assert_eq!(ids, vec![1, 3, 5]);
    }

    #[test]
    fn clusters_keep_creation_order_and_vanish_when_empty() {
        let mut list = ClusterList::default();
        list.add_node(b"b", node(1, 1));
        list.add_node(b"a", node(2, 1));
        list.add_node(b"B", node(3, 1));
        let names: Vec<&[u8]> = list.iter().map(|c| c.name.as_slice()).collect();
        assert_eq!(names, vec![&b"b"[..], &b"a"[..], &b"B"[..]]);
        assert!(list.remove_client(b"a", 2).is_some());
        assert!(list.find(b"a").is_none());
        assert_eq!(list.len(), 2);
        assert!(list.remove_client(b"a", 2).is_none());
    }

    #[test]
    fn record_sent_vote_tracks_ack_nack_separately() {
        let mut n = node(1, 1);
        n.record_sent_vote(Vote::Ack);
        n.record_sent_vote(Vote::NoChange);
        assert_eq!(n.last_sent_vote, Some(Vote::NoChange));
        assert_eq!(n.last_sent_ack_nack_vote, Some(Vote::Ack));
    }
}
