//! Every status reply grows by a bounded amount per client: the engine keeps at most a
//! 512-byte cluster name and three 384-node lists per client (`engine::limits`), so the
//! largest client a hostile peer can make adds at most [`super::MAX_REPLY_BYTES_PER_CLIENT`]
//! to any reply, and the streamed replies (list, json, metrics) come in pieces of one node
//! (metrics: one cluster) each (docs/daemon.md, "Status replies").

use super::snapshot::{ClusterStatus, NodeStatus, ServerStatus};
use crate::engine::limits::{MAX_CLUSTER_NAME_LEN, MAX_NODE_LIST_LEN};
use crate::proto::types::{
    Algorithm, Heuristics, NodeInfo, NodeState, RingId, TieBreaker, TlsMode, Vote,
};

fn empty() -> ServerStatus {
    ServerStatus {
        listen_addr: Some("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]".into()),
        port: 5403,
        tls: TlsMode::Required,
        client_cert_required: true,
        connected_clients: 0,
        max_clients: 0,
        max_send_size: 32768,
        max_receive_size: 32768,
        clusters: vec![],
    }
}

/// The largest client: a name of bytes that escape the longest (JSON `\u0001`, invalid
/// UTF-8), every list full of the longest ids, every optional field set.
fn largest_node(node_id: u32) -> NodeStatus {
    let list: Vec<NodeInfo> = (0..MAX_NODE_LIST_LEN as u32)
        .map(|i| NodeInfo {
            node_id: u32::MAX - i,
            data_center_id: u32::MAX,
            state: Some(NodeState::Leaving),
        })
        .collect();
    NodeStatus {
        node_id,
        client_addr: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535".into(),
        heartbeat_interval_ms: u32::MAX,
        config_version: Some(u64::MAX),
        config_nodes: list.clone(),
        ring_id: RingId {
            node_id: u32::MAX,
            seq: u64::MAX,
        },
        membership_nodes: list.clone(),
        quorum_nodes: list,
        heuristics: Heuristics::Fail,
        membership_heuristics: Heuristics::Fail,
        regular_heuristics: Heuristics::Fail,
        tls_active: true,
        cert_verified: true,
        last_sent_vote: Some(Vote::WaitForReply),
        last_sent_ack_nack_vote: Some(Vote::WaitForReply),
        ms_since_last_message: u64::MAX,
    }
}

pub(crate) fn largest_cluster(tag: u8) -> ClusterStatus {
    let mut name = vec![1u8; MAX_CLUSTER_NAME_LEN];
    name[..MAX_CLUSTER_NAME_LEN / 2].fill(0xff);
    name[0] = tag;
    ClusterStatus {
        name,
        algorithm: Algorithm::TwoNodeLms,
        tie_breaker: TieBreaker::NodeId(u32::MAX),
        kap_tie_breaker: false,
        nodes: vec![largest_node(u32::MAX)],
    }
}

/// Every reply a status reader can ask for, by name.
pub(crate) fn replies(st: &ServerStatus) -> Vec<(&'static str, usize)> {
    use super::upstream::{list_text, status_text};
    vec![
        ("status -v", status_text(st, true).len()),
        ("list -v", list_text(st, true, None).len()),
        ("list", list_text(st, false, None).len()),
        ("json", super::json::to_json(st).len()),
        ("table", super::table::render(st).len()),
        ("metrics", metrics(st).concat().len()),
    ]
}

fn metrics(st: &ServerStatus) -> Vec<String> {
    super::prometheus::chunks(st, &super::prometheus::Facts::default()).collect()
}

#[test]
fn each_client_adds_a_bounded_amount_to_every_reply() {
    let base = replies(&empty());
    let mut st = empty();
    for n in 1..=3u8 {
        st.clusters.push(largest_cluster(n));
        st.connected_clients += 1;
        for ((what, size), (_, base)) in replies(&st).into_iter().zip(&base) {
            let per_client = (size - base) / usize::from(n);
            errln!("{what}: {per_client} bytes per client");
            assert!(
                per_client <= super::MAX_REPLY_BYTES_PER_CLIENT,
                "{what}: {per_client} bytes per client"
            );
        }
    }
}

#[test]
fn streamed_replies_come_a_node_at_a_time() {
    let mut st = empty();
    for n in 1..=3u8 {
        st.clusters.push(largest_cluster(n));
    }
    st.clusters[0].nodes.push(largest_node(7));
    let json: Vec<String> = super::json::chunks(&st).collect();
    let list: Vec<Vec<u8>> = super::upstream::list_chunks(&st, true, None).collect();
    assert_eq!(json.concat(), super::json::to_json(&st));
    let metrics = metrics(&st);
    assert_eq!(list.concat(), super::upstream::list_text(&st, true, None));
    for chunk in json
        .iter()
        .chain(&metrics)
        .map(String::len)
        .chain(list.iter().map(Vec::len))
    {
        assert!(chunk <= super::MAX_REPLY_BYTES_PER_CLIENT, "{chunk}");
    }
    assert!(json.len() > 8 && list.len() > 6 && metrics.len() > 6);
}
