//! Upstream's status text, byte for byte: what `corosync-qnetd-tool -s [-v]` and
//! `-l [-v] [-c NAME]` print (docs/protocol.md, "Status socket: status text" and "Status socket: list text"). crmsh and pcs parse this text, so
//! every tab, conditional line and suffix follows upstream's `qnetd-ipc-cmd.c`.
//!
//! Output is bytes, not `String`: cluster names are raw bytes on the wire and upstream prints them
//! with `%s` (up to the first NUL), whatever their encoding. Where we differ: a name is shown
//! through [`crate::escape`], so a printable name (any printable UTF-8) is byte-identical to
//! upstream's and control characters or bytes that are not UTF-8 come out as `\xNN` /
//! `\u{NNNN}` instead of reaching the terminal raw.

use super::snapshot::{ClusterStatus, NodeStatus, ServerStatus};
use crate::proto::types::{Heuristics, NodeInfo, TlsMode};
use std::fmt::Write as _;

/// The `status [verbose]` text (without the `OK` line).
pub fn status_text(st: &ServerStatus, verbose: bool) -> String {
    let mut out = String::new();
    let addr = st.listen_addr.as_deref().unwrap_or("*");
    let _ = writeln!(out, "QNetd address:\t\t\t{addr}:{}", st.port);
    let cert_required = if st.tls != TlsMode::Unsupported && st.client_cert_required {
        " (client certificate required)"
    } else {
        ""
    };
    let _ = writeln!(out, "TLS:\t\t\t\t{}{cert_required}", st.tls.as_str());
    let _ = writeln!(out, "Connected clients:\t\t{}", st.connected_clients);
    let _ = writeln!(out, "Connected clusters:\t\t{}", st.clusters.len());
    if verbose {
        if st.max_clients != 0 {
            let _ = writeln!(out, "Maximum allowed clients:\t{}", st.max_clients);
        }
        let _ = writeln!(
            out,
            "Maximum send/receive size:\t{}/{} bytes",
            st.max_send_size, st.max_receive_size
        );
    }
    out
}

/// The `list [verbose] [cluster NAME]` text (without the `OK` line). An empty or absent
/// `filter` lists every cluster; otherwise only the one whose name is byte-equal to it
/// (both compared as C strings, i.e. up to the first NUL, as upstream's `strcmp`).
pub fn list_text(st: &ServerStatus, verbose: bool, filter: Option<&[u8]>) -> Vec<u8> {
    list_chunks(st, verbose, filter).flatten().collect()
}

/// [`list_text`] in pieces of at most one node each, for the status socket to write as they
/// come (a reply never holds more than one node's text).
pub fn list_chunks<'a>(
    st: &'a ServerStatus,
    verbose: bool,
    filter: Option<&'a [u8]>,
) -> impl Iterator<Item = Vec<u8>> + 'a {
    let filter = filter.map(c_str).filter(|f| !f.is_empty());
    st.clusters
        .iter()
        .filter(move |c| filter.is_none_or(|f| f == c_str(&c.name)))
        .flat_map(move |c| cluster_chunks(c, verbose))
}

/// Bytes up to (not including) the first NUL, as C's `%s` and `strcmp` see them.
pub fn c_str(bytes: &[u8]) -> &[u8] {
    bytes.split(|&b| b == 0).next().unwrap_or_default()
}

fn cluster_chunks(cluster: &ClusterStatus, verbose: bool) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut head = b"Cluster \"".to_vec();
    head.extend_from_slice(crate::escape::escape(c_str(&cluster.name)).as_bytes());
    head.extend_from_slice(b"\":\n");
    // Upstream prints the cluster-wide lines from its first client; a cluster without clients
    // (never kept by the engine) would print only its name line.
    if !cluster.nodes.is_empty() {
        let kap = if cluster.kap_tie_breaker {
            " (KAP Tie-breaker)"
        } else {
            ""
        };
        let mut text = String::new();
        let _ = writeln!(
            text,
            "    Algorithm:\t\t{}{kap}",
            cluster.algorithm.as_str()
        );
        let _ = writeln!(text, "    Tie-breaker:\t{}", cluster.tie_breaker.describe());
        head.extend_from_slice(text.as_bytes());
    }
    std::iter::once(head).chain(cluster.nodes.iter().map(move |node| {
        let mut text = String::new();
        write_node(&mut text, node, verbose);
        text.into_bytes()
    }))
}

fn write_node(out: &mut String, node: &NodeStatus, verbose: bool) {
    let _ = writeln!(out, "    Node ID {}:", node.node_id);
    let _ = writeln!(out, "        Client address:\t\t{}", node.client_addr);
    if verbose {
        let _ = writeln!(
            out,
            "        HB interval:\t\t{}ms",
            node.heartbeat_interval_ms
        );
    }
    if let Some(version) = node.config_version {
        let _ = writeln!(out, "        Configuration version:\t{version}");
    }
    if !node.config_nodes.is_empty() {
        let _ = writeln!(
            out,
            "        Configured node list:\t{}",
            node_list(&node.config_nodes)
        );
    }
    if verbose {
        let _ = writeln!(out, "        Ring ID:\t\t{}", node.ring_id);
    }
    if !node.membership_nodes.is_empty() {
        let _ = writeln!(
            out,
            "        Membership node list:\t{}",
            node_list(&node.membership_nodes)
        );
    }
    if node.heuristics != Heuristics::Undefined || verbose {
        let _ = write!(out, "        Heuristics:\t\t{}", node.heuristics.as_str());
        if verbose {
            let _ = write!(
                out,
                " (membership: {}, regular: {})",
                node.membership_heuristics.as_str(),
                node.regular_heuristics.as_str()
            );
        }
        out.push('\n');
    }
    if verbose {
        let yes_no = if node.tls_active { "Yes" } else { "No" };
        let verified = if node.tls_active && node.cert_verified {
            " (client certificate verified)"
        } else {
            ""
        };
        let _ = writeln!(out, "        TLS active:\t\t{yes_no}{verified}");
    }
    if let Some(vote) = node.last_sent_vote {
        let _ = write!(out, "        Vote:\t\t\t{}", vote.as_str());
        if let Some(ack_nack) = node.last_sent_ack_nack_vote {
            let _ = write!(out, " ({})", ack_nack.as_str());
        }
        out.push('\n');
    }
}

/// `1, 2` or `1 (10), 2 (20)` when data-center ids are set.
fn node_list(nodes: &[NodeInfo]) -> String {
    let mut s = String::new();
    for (
        i,
        &NodeInfo {
            node_id,
            data_center_id,
            ..
        },
    ) in nodes.iter().enumerate()
    {
        if i != 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{node_id}");
        if data_center_id != 0 {
            let _ = write!(s, " ({data_center_id})");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::{Algorithm, RingId, TieBreaker, Vote};

    fn node(id: u32) -> NodeStatus {
        NodeStatus::blank(id, format!("127.0.0.1:{}", 40000 + id))
    }

    fn server(clusters: Vec<ClusterStatus>) -> ServerStatus {
        ServerStatus {
            listen_addr: None,
            port: 5403,
            tls: TlsMode::Supported,
            client_cert_required: true,
            connected_clients: 0,
            max_clients: 0,
            max_send_size: 32768,
            max_receive_size: 32768,
            clusters,
        }
    }

    fn cluster(name: &[u8], nodes: Vec<NodeStatus>) -> ClusterStatus {
        ClusterStatus {
            name: name.to_vec(),
            algorithm: Algorithm::Lms,
            tie_breaker: TieBreaker::NodeId(3),
            kap_tie_breaker: false,
            nodes,
        }
    }

    #[test]
    fn status_defaults_and_max_clients() {
        let mut st = server(vec![]);
        assert_eq!(
            status_text(&st, false),
            "QNetd address:\t\t\t*:5403\nTLS:\t\t\t\tSupported (client certificate required)\n\
             Connected clients:\t\t0\nConnected clusters:\t\t0\n"
        );
        st.max_clients = 7;
        st.tls = TlsMode::Unsupported;
        let text = status_text(&st, true);
        assert!(text.contains("TLS:\t\t\t\tUnsupported\n"), "{text}");
        assert!(text.ends_with(
            "Maximum allowed clients:\t7\nMaximum send/receive size:\t32768/32768 bytes\n"
        ));
    }

    #[test]
    fn status_required_without_client_cert() {
        let mut st = server(vec![]);
        st.tls = TlsMode::Required;
        st.client_cert_required = false;
        assert!(status_text(&st, false).contains("TLS:\t\t\t\tRequired\n"));
    }

    #[test]
    fn list_conditional_lines() {
        let mut n = node(4);
        n.config_nodes = vec![
            NodeInfo {
                node_id: 4,
                data_center_id: 10,
                state: None,
            },
            NodeInfo::new(5),
        ];
        n.heuristics = Heuristics::Fail;
        n.tls_active = true;
        n.ring_id = RingId {
            node_id: 0x1a,
            seq: 0xff,
        };
        n.last_sent_vote = Some(Vote::AskLater);
        let st = server(vec![cluster(b"c\0junk", vec![n])]);
        let plain = String::from_utf8(list_text(&st, false, None)).unwrap();
        assert_eq!(
            plain,
            "Cluster \"c\":\n    Algorithm:\t\tLMS\n    Tie-breaker:\tNode with node ID 3\n\
             \x20   Node ID 4:\n        Client address:\t\t127.0.0.1:40004\n\
             \x20       Configured node list:\t4 (10), 5\n        Heuristics:\t\tFail\n\
             \x20       Vote:\t\t\tAsk later\n"
        );
        let verbose = String::from_utf8(list_text(&st, true, None)).unwrap();
        assert!(verbose.contains("        Ring ID:\t\t1a.ff\n"), "{verbose}");
        assert!(
            verbose.contains("        TLS active:\t\tYes\n"),
            "{verbose}"
        );
        assert!(verbose.contains("Fail (membership: Undefined, regular: Undefined)\n"));
    }

    #[test]
    fn printable_names_are_upstreams_bytes_and_controls_are_escaped() {
        let text =
            |name: &[u8]| list_text(&server(vec![cluster(name, vec![node(1)])]), false, None);
        for name in [&b"pve"[..], b"a b\\c\"%s", "café".as_bytes()] {
            let mut want = b"Cluster \"".to_vec();
            want.extend_from_slice(name);
            want.extend_from_slice(b"\":\n");
            assert!(text(name).starts_with(&want), "{name:?}");
        }
        let hostile = text(b"\x1b[31mRED\x1b]0;pwned\x07\rERROR fake\xff");
        assert!(
            hostile
                .starts_with(b"Cluster \"\\x1b[31mRED\\x1b]0;pwned\\x07\\x0dERROR fake\\xff\":\n"),
            "{}",
            String::from_utf8_lossy(&hostile)
        );
        assert!(!hostile
            .iter()
            .any(|&b| b == 0x1b || b == b'\r' || b == 0x07));
    }

    #[test]
    fn list_filter_is_exact_and_empty_means_all() {
        let st = server(vec![
            cluster(b"one", vec![node(1)]),
            cluster(b"two", vec![node(1)]),
        ]);
        let only_two = list_text(&st, false, Some(b"two"));
        assert!(only_two.starts_with(b"Cluster \"two\""));
        assert!(!only_two.windows(3).any(|w| w == b"one"));
        assert!(list_text(&st, false, Some(b"Two")).is_empty());
        assert_eq!(
            list_text(&st, false, Some(b"")),
            list_text(&st, false, None)
        );
        assert!(list_text(&server(vec![]), true, None).is_empty());
    }
}
