//! The upstream status text renderer against real `corosync-qnetd-tool` output (tests/data/status).

use qnetd::proto::types::{Algorithm, Heuristics, NodeInfo, RingId, TieBreaker, TlsMode, Vote};
use qnetd::status::snapshot::{ClusterStatus, NodeStatus, ServerStatus};
use qnetd::status::upstream::{list_text, status_text};

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/status/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn two_node_node(id: u32, addr: &str, vote: Vote) -> NodeStatus {
    NodeStatus {
        node_id: id,
        client_addr: addr.to_string(),
        heartbeat_interval_ms: 8000,
        config_version: Some(1),
        config_nodes: vec![NodeInfo::new(1), NodeInfo::new(2)],
        ring_id: RingId {
            node_id: 1,
            seq: 0x52,
        },
        membership_nodes: vec![NodeInfo::new(1), NodeInfo::new(2)],
        quorum_nodes: vec![],
        heuristics: Heuristics::Undefined,
        membership_heuristics: Heuristics::Undefined,
        regular_heuristics: Heuristics::Undefined,
        tls_active: true,
        cert_verified: true,
        last_sent_vote: Some(vote),
        last_sent_ack_nack_vote: Some(Vote::Ack),
        ms_since_last_message: 1200,
    }
}

/// The state behind samples/qnetd-tool-*.corosync-qnetd-2n.txt.
fn two_node_sample() -> ServerStatus {
    ServerStatus {
        listen_addr: Some("10.213.0.2".into()),
        port: 5403,
        tls: TlsMode::Supported,
        client_cert_required: true,
        connected_clients: 2,
        max_clients: 0,
        max_send_size: 32768,
        max_receive_size: 32768,
        clusters: vec![ClusterStatus {
            name: b"qicluster".to_vec(),
            algorithm: Algorithm::Ffsplit,
            tie_breaker: TieBreaker::Lowest,
            kap_tie_breaker: true,
            nodes: vec![
                two_node_node(1, "10.213.0.11:41216", Vote::Ack),
                two_node_node(2, "10.213.0.12:60892", Vote::NoChange),
            ],
        }],
    }
}

/// The state behind the verified example in docs/protocol.md, "Status socket: list text".
fn mycluster_example() -> ServerStatus {
    ServerStatus {
        listen_addr: Some("127.0.0.1".into()),
        port: 15403,
        tls: TlsMode::Unsupported,
        client_cert_required: true,
        connected_clients: 1,
        max_clients: 0,
        max_send_size: 32768,
        max_receive_size: 32768,
        clusters: vec![ClusterStatus {
            name: b"mycluster".to_vec(),
            algorithm: Algorithm::Ffsplit,
            tie_breaker: TieBreaker::Lowest,
            kap_tie_breaker: true,
            nodes: vec![NodeStatus {
                node_id: 1,
                client_addr: "127.0.0.1:57720".into(),
                heartbeat_interval_ms: 8000,
                config_version: Some(7),
                config_nodes: vec![NodeInfo::new(1), NodeInfo::new(2)],
                ring_id: RingId { node_id: 1, seq: 4 },
                membership_nodes: vec![NodeInfo::new(1)],
                quorum_nodes: vec![],
                heuristics: Heuristics::Pass,
                membership_heuristics: Heuristics::Pass,
                regular_heuristics: Heuristics::Undefined,
                tls_active: false,
                cert_verified: false,
                last_sent_vote: Some(Vote::NoChange),
                last_sent_ack_nack_vote: Some(Vote::Ack),
                ms_since_last_message: 0,
            }],
        }],
    }
}

#[test]
fn sample_status() {
    let st = two_node_sample();
    assert_eq!(
        status_text(&st, false).as_bytes(),
        data("qnetd-tool-s.corosync-qnetd-2n.txt")
    );
    assert_eq!(
        status_text(&st, true).as_bytes(),
        data("qnetd-tool-sv.corosync-qnetd-2n.txt")
    );
}

#[test]
fn sample_list() {
    let st = two_node_sample();
    assert_eq!(
        list_text(&st, false, None),
        data("qnetd-tool-l.corosync-qnetd-2n.txt")
    );
    assert_eq!(
        list_text(&st, true, None),
        data("qnetd-tool-lv.corosync-qnetd-2n.txt")
    );
    assert_eq!(
        list_text(&st, true, Some(b"qicluster")),
        data("qnetd-tool-lv.corosync-qnetd-2n.txt")
    );
    assert!(list_text(&st, true, Some(b"other")).is_empty());
}

#[test]
fn reference_examples() {
    let st = mycluster_example();
    let mut empty = st.clone();
    empty.connected_clients = 0;
    empty.clusters.clear();
    assert_eq!(
        status_text(&empty, true).as_bytes(),
        data("ref-6.3-sv-tlsoff.txt")
    );
    assert_eq!(list_text(&st, true, None), data("ref-6.4-lv-mycluster.txt"));
    assert_eq!(list_text(&st, false, None), data("ref-6.4-l-mycluster.txt"));
}
