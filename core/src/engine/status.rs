//! The engine's view for the status renderers (`qnetd status`, corosync-qnetd-tool).

use super::*;

impl Engine {
    /// A snapshot for the status renderers. The listener's fields (address, port, max
    /// clients) are left empty: they are the driver's to fill in.
    pub fn status(&self, now: Instant) -> ServerStatus {
        self.snapshot(now, Lists::Copied)
    }

    /// The same without the nodes' config, membership and quorum lists (left empty), for
    /// renderers that only count nodes and votes (`/metrics`): up to three 384-node lists per
    /// client are not copied for them.
    pub fn status_without_lists(&self, now: Instant) -> ServerStatus {
        self.snapshot(now, Lists::Left)
    }

    fn snapshot(&self, now: Instant, lists: Lists) -> ServerStatus {
        ServerStatus {
            listen_addr: None,
            port: 0,
            tls: self.cfg.tls,
            client_cert_required: self.cfg.client_cert_required,
            connected_clients: self.clients.len(),
            max_clients: 0,
            max_send_size: self.cfg.max_client_send_size,
            max_receive_size: self.cfg.max_client_receive_size,
            clusters: self
                .clusters
                .iter()
                .filter_map(|c| self.cluster_status(c, now, lists))
                .collect(),
        }
    }

    pub(super) fn cluster_status(
        &self,
        cluster: &Cluster,
        now: Instant,
        lists: Lists,
    ) -> Option<ClusterStatus> {
        let first = cluster.nodes.first()?;
        Some(ClusterStatus {
            name: cluster.name.clone(),
            algorithm: first.algorithm,
            tie_breaker: first.tie_breaker,
            kap_tie_breaker: cluster
                .nodes
                .iter()
                .all(|n| n.algorithm == Algorithm::Ffsplit && n.keep_active_partition_tie_breaker),
            nodes: cluster
                .nodes
                .iter()
                .filter_map(|n| self.node_status(n, now, lists))
                .collect(),
        })
    }

    pub(super) fn node_status(
        &self,
        node: &Node,
        now: Instant,
        lists: Lists,
    ) -> Option<NodeStatus> {
        let client = self.clients.get(&node.client)?;
        let copy = |list: &Vec<crate::proto::types::NodeInfo>| match lists {
            Lists::Copied => list.clone(),
            Lists::Left => Vec::new(),
        };
        Some(NodeStatus {
            node_id: node.node_id,
            client_addr: client.addr.clone(),
            heartbeat_interval_ms: client.heartbeat_interval,
            config_version: node.config_version,
            config_nodes: copy(&node.config_nodes),
            ring_id: node.ring_id,
            membership_nodes: copy(&node.membership_nodes),
            quorum_nodes: copy(&node.quorum_nodes),
            heuristics: node.heuristics,
            membership_heuristics: node.membership_heuristics,
            regular_heuristics: node.regular_heuristics,
            tls_active: client.phase.tls_started(),
            cert_verified: matches!(client.phase, Phase::Verified(_)),
            last_sent_vote: node.last_sent_vote,
            last_sent_ack_nack_vote: node.last_sent_ack_nack_vote,
            ms_since_last_message: millis(now.saturating_duration_since(client.last_activity)),
        })
    }
}

/// Whether a snapshot copies the nodes' lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lists {
    Copied,
    Left,
}
