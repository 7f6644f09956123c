//! `/metrics`: the status snapshot and the daemon's counters in the Prometheus text format
//! (version 0.0.4), metric names in docs/daemon.md.
//!
//! The format wants a family's samples together after its HELP and TYPE lines, so the
//! per-cluster families are rendered by walking the clusters once per family. The text comes
//! in pieces of at most one cluster's samples ([`chunks`]), which HTTP writes as they come:
//! however many clients are connected, an answer never holds more than one piece.

use super::json::quote;
use super::snapshot::{ClusterStatus, ServerStatus};
use crate::proto::types::Vote;
use std::fmt::Display;
use std::fmt::Write as _;

/// What the metrics show beside the snapshot, gathered by the daemon before rendering (the
/// renderer does no I/O and reads no live state).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Start time of the daemon, Unix seconds.
    pub started_unix: i64,
    /// The certificate store and its certificates could be read (TLS off: true).
    pub cert_store_readable: bool,
    /// Seconds until the CA and the server certificate expire; None with TLS off or when
    /// the store could not be read.
    pub expiry_in: Option<(i64, i64)>,
    /// TLS handshakes that succeeded and failed.
    pub tls_ok: u64,
    pub tls_failed: u64,
    /// Connections closed at accept, by the limit reached (setting name, count).
    pub refused_at_accept: Vec<(&'static str, u64)>,
    /// HTTP connections closed at accept.
    pub http_refused: u64,
    /// Votes sent, by vote word; votes never sent are absent.
    pub votes_sent: Vec<(&'static str, u64)>,
    /// Messages refused with an error reply, by reason; reasons never seen are absent.
    pub refusals: Vec<(&'static str, u64)>,
}

/// The whole exposition; [`chunks`] concatenated.
pub fn render(st: &ServerStatus, facts: &Facts) -> String {
    chunks(st, facts).collect()
}

/// The exposition in pieces: the daemon-wide gauges, then for each per-cluster family its
/// HELP/TYPE lines and one piece per cluster, then the certificate and counter families.
/// A piece holds at most one cluster's samples (a 512-byte name in at most 6 lines).
pub fn chunks<'a>(st: &'a ServerStatus, facts: &'a Facts) -> impl Iterator<Item = String> + 'a {
    let node_counts = st.clusters.iter().map(|c| {
        let mut out = String::new();
        let labels = format!("cluster={}", label(&c.name));
        sample(&mut out, "qnetd_cluster_nodes", &labels, c.nodes.len());
        out
    });
    let votes = st.clusters.iter().map(cluster_votes);
    std::iter::once(daemon_gauges(st, facts))
        .chain(std::iter::once(header(
            "qnetd_cluster_nodes",
            "gauge",
            "Nodes of the cluster connected.",
        )))
        .chain(node_counts)
        .chain(std::iter::once(header(
            "qnetd_cluster_votes",
            "gauge",
            "Nodes of the cluster by the last ACK/NACK vote sent to them (none = no vote yet).",
        )))
        .chain(votes)
        .chain(std::iter::once(tail(facts)))
}

fn daemon_gauges(st: &ServerStatus, facts: &Facts) -> String {
    let mut out = String::new();
    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    let gauges: [(&str, &str, &str, i64); 5] = [
        (
            "qnetd_build_info",
            "Build information; the value is always 1.",
            &version,
            1,
        ),
        (
            "qnetd_start_time_seconds",
            "Start time of the daemon, seconds since the Unix epoch.",
            "",
            facts.started_unix,
        ),
        (
            "qnetd_connected_clients",
            "TCP clients connected, including those that have not finished INIT.",
            "",
            st.connected_clients as i64,
        ),
        (
            "qnetd_max_clients",
            "Most clients accepted at once; 0 = unlimited.",
            "",
            st.max_clients as i64,
        ),
        (
            "qnetd_clusters",
            "Clusters with at least one connected node.",
            "",
            st.clusters.len() as i64,
        ),
    ];
    for (name, help, labels, value) in gauges {
        family(&mut out, name, "gauge", help, &[(labels, value)]);
    }
    out
}

/// A cluster's `qnetd_cluster_votes` samples: ACK and NACK always, the other votes and
/// "none" when some node has them.
fn cluster_votes(c: &ClusterStatus) -> String {
    let mut out = String::new();
    let name = label(&c.name);
    let words = [
        Vote::Ack,
        Vote::Nack,
        Vote::AskLater,
        Vote::WaitForReply,
        Vote::NoChange,
    ];
    for v in words {
        let count = c
            .nodes
            .iter()
            .filter(|n| n.last_sent_ack_nack_vote == Some(v))
            .count();
        if count > 0 || matches!(v, Vote::Ack | Vote::Nack) {
            let labels = format!("cluster={name},vote=\"{}\"", v.word());
            sample(&mut out, "qnetd_cluster_votes", &labels, count);
        }
    }
    let none = c
        .nodes
        .iter()
        .filter(|n| n.last_sent_ack_nack_vote.is_none())
        .count();
    if none > 0 {
        let labels = format!("cluster={name},vote=\"none\"");
        sample(&mut out, "qnetd_cluster_votes", &labels, none);
    }
    out
}

/// The certificate and counter families: a fixed set of samples, bounded whatever the
/// clients sent.
fn tail(f: &Facts) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "qnetd_cert_store_readable",
        "gauge",
        "1 if the certificate store and its certificates could be read (TLS off: 1).",
        &[("", i64::from(f.cert_store_readable))],
    );
    if let Some((ca, server)) = f.expiry_in {
        family(
            &mut out,
            "qnetd_cert_expiry_seconds",
            "gauge",
            "Seconds until the certificate expires (negative: expired).",
            &[("cert=\"ca\"", ca), ("cert=\"server\"", server)],
        );
    }
    family(
        &mut out,
        "qnetd_tls_handshakes_total",
        "counter",
        "TLS handshakes by result.",
        &[
            ("result=\"ok\"", f.tls_ok),
            ("result=\"failed\"", f.tls_failed),
        ],
    );
    counters(
        &mut out,
        "qnetd_connections_refused_total",
        "Client connections closed at accept, by the limit that was reached.",
        "limit",
        &f.refused_at_accept,
    );
    family(
        &mut out,
        "qnetd_http_connections_refused_total",
        "counter",
        "HTTP connections closed at accept: the most served at once were open.",
        &[("", f.http_refused)],
    );
    counters(
        &mut out,
        "qnetd_votes_sent_total",
        "Votes sent to nodes (replies and VOTE_INFO): the decisions taken, by vote.",
        "vote",
        &f.votes_sent,
    );
    counters(
        &mut out,
        "qnetd_refusals_total",
        "Client messages refused with an error reply, by reason.",
        "reason",
        &f.refusals,
    );
    out
}

/// A counter family with one label whose values are quoted names.
fn counters(out: &mut String, name: &str, help: &str, key: &str, counts: &[(&str, u64)]) {
    let labelled: Vec<(String, u64)> = counts
        .iter()
        .map(|(word, n)| (format!("{key}={}", quote(word)), *n))
        .collect();
    let samples: Vec<(&str, u64)> = labelled.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    family(out, name, "counter", help, &samples);
}

/// HELP and TYPE once, then the samples.
fn family<V: Display>(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, V)]) {
    out.push_str(&header(name, kind, help));
    for (labels, value) in samples {
        sample(out, name, labels, value);
    }
}

fn header(name: &str, kind: &str, help: &str) -> String {
    format!("# HELP {name} {help}\n# TYPE {name} {kind}\n")
}

fn sample<V: Display>(out: &mut String, name: &str, labels: &str, value: V) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// A label value: the cluster name as text, quoted and escaped as the format wants.
fn label(name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::limits::MAX_CLUSTER_NAME_LEN;
    use crate::proto::types::{Algorithm, TieBreaker, TlsMode};
    use crate::status::snapshot::NodeStatus;

    fn snapshot(clusters: Vec<ClusterStatus>) -> ServerStatus {
        ServerStatus {
            listen_addr: None,
            port: 5403,
            tls: TlsMode::Supported,
            client_cert_required: false,
            connected_clients: 4,
            max_clients: 304,
            max_send_size: 32768,
            max_receive_size: 32768,
            clusters,
        }
    }

    /// A cluster with a node of each last ACK/NACK vote, so every vote sample appears.
    fn cluster(name: &[u8]) -> ClusterStatus {
        let votes = [
            None,
            Some(Vote::Ack),
            Some(Vote::Nack),
            Some(Vote::AskLater),
            Some(Vote::WaitForReply),
            Some(Vote::NoChange),
        ];
        let nodes = (1..)
            .zip(votes)
            .map(|(id, vote)| NodeStatus {
                last_sent_ack_nack_vote: vote,
                ..NodeStatus::blank(id, "192.0.2.1:5403".into())
            })
            .collect();
        ClusterStatus {
            name: name.to_vec(),
            algorithm: Algorithm::Ffsplit,
            tie_breaker: TieBreaker::Lowest,
            kap_tie_breaker: false,
            nodes,
        }
    }

    fn facts() -> Facts {
        Facts {
            started_unix: 1_700_000_000,
            cert_store_readable: true,
            expiry_in: Some((86_400, -5)),
            tls_ok: 3,
            tls_failed: 1,
            refused_at_accept: vec![("max_clients", 2), ("max_preinit_clients", 0)],
            http_refused: 7,
            votes_sent: vec![("ack", 5), ("nack", 1)],
            refusals: vec![("bad_cluster_name", 4)],
        }
    }

    /// The text as the renderer built it whole before it was streamed (same families, same
    /// order, same escaping).
    const GOLDEN: &str = r#"# HELP qnetd_build_info Build information; the value is always 1.
# TYPE qnetd_build_info gauge
qnetd_build_info{version="VERSION"} 1
# HELP qnetd_start_time_seconds Start time of the daemon, seconds since the Unix epoch.
# TYPE qnetd_start_time_seconds gauge
qnetd_start_time_seconds 1700000000
# HELP qnetd_connected_clients TCP clients connected, including those that have not finished INIT.
# TYPE qnetd_connected_clients gauge
qnetd_connected_clients 4
# HELP qnetd_max_clients Most clients accepted at once; 0 = unlimited.
# TYPE qnetd_max_clients gauge
qnetd_max_clients 304
# HELP qnetd_clusters Clusters with at least one connected node.
# TYPE qnetd_clusters gauge
qnetd_clusters 2
# HELP qnetd_cluster_nodes Nodes of the cluster connected.
# TYPE qnetd_cluster_nodes gauge
qnetd_cluster_nodes{cluster="a\\b\"c\n�"} 6
qnetd_cluster_nodes{cluster="beta"} 1
# HELP qnetd_cluster_votes Nodes of the cluster by the last ACK/NACK vote sent to them (none = no vote yet).
# TYPE qnetd_cluster_votes gauge
qnetd_cluster_votes{cluster="a\\b\"c\n�",vote="ack"} 1
qnetd_cluster_votes{cluster="a\\b\"c\n�",vote="nack"} 1
qnetd_cluster_votes{cluster="a\\b\"c\n�",vote="ask_later"} 1
qnetd_cluster_votes{cluster="a\\b\"c\n�",vote="wait_for_reply"} 1
qnetd_cluster_votes{cluster="a\\b\"c\n�",vote="no_change"} 1
qnetd_cluster_votes{cluster="a\\b\"c\n�",vote="none"} 1
qnetd_cluster_votes{cluster="beta",vote="ack"} 0
qnetd_cluster_votes{cluster="beta",vote="nack"} 0
qnetd_cluster_votes{cluster="beta",vote="none"} 1
# HELP qnetd_cert_store_readable 1 if the certificate store and its certificates could be read (TLS off: 1).
# TYPE qnetd_cert_store_readable gauge
qnetd_cert_store_readable 1
# HELP qnetd_cert_expiry_seconds Seconds until the certificate expires (negative: expired).
# TYPE qnetd_cert_expiry_seconds gauge
qnetd_cert_expiry_seconds{cert="ca"} 86400
qnetd_cert_expiry_seconds{cert="server"} -5
# HELP qnetd_tls_handshakes_total TLS handshakes by result.
# TYPE qnetd_tls_handshakes_total counter
qnetd_tls_handshakes_total{result="ok"} 3
qnetd_tls_handshakes_total{result="failed"} 1
# HELP qnetd_connections_refused_total Client connections closed at accept, by the limit that was reached.
# TYPE qnetd_connections_refused_total counter
qnetd_connections_refused_total{limit="max_clients"} 2
qnetd_connections_refused_total{limit="max_preinit_clients"} 0
# HELP qnetd_http_connections_refused_total HTTP connections closed at accept: the most served at once were open.
# TYPE qnetd_http_connections_refused_total counter
qnetd_http_connections_refused_total 7
# HELP qnetd_votes_sent_total Votes sent to nodes (replies and VOTE_INFO): the decisions taken, by vote.
# TYPE qnetd_votes_sent_total counter
qnetd_votes_sent_total{vote="ack"} 5
qnetd_votes_sent_total{vote="nack"} 1
# HELP qnetd_refusals_total Client messages refused with an error reply, by reason.
# TYPE qnetd_refusals_total counter
qnetd_refusals_total{reason="bad_cluster_name"} 4
"#;

    #[test]
    fn the_pieces_make_the_exposition_it_always_was() {
        let mut beta = cluster(b"beta");
        beta.nodes.truncate(1);
        let st = snapshot(vec![cluster(b"a\\b\"c\n\xff"), beta]);
        let pieces: Vec<String> = chunks(&st, &facts()).collect();
        let golden = GOLDEN.replace("VERSION", env!("CARGO_PKG_VERSION"));
        assert_eq!(pieces.concat(), golden);
        assert_eq!(render(&st, &facts()), golden);
        // Daemon gauges, two headers with a piece per cluster each, the tail.
        assert_eq!(pieces.len(), 1 + 2 * (1 + 2) + 1);
    }

    /// However many clusters, no piece holds more than one cluster's samples: the largest
    /// piece is the same with one cluster of the longest name as with thousands.
    #[test]
    fn every_piece_is_bounded_whatever_the_number_of_clusters() {
        // Invalid UTF-8 and quotes: the bytes that render the longest.
        let mut name = vec![b'"'; MAX_CLUSTER_NAME_LEN];
        name[..MAX_CLUSTER_NAME_LEN / 2].fill(0xff);
        let largest = |n: usize| {
            let st = snapshot(vec![cluster(&name); n]);
            let pieces: Vec<String> = chunks(&st, &facts()).collect();
            assert_eq!(pieces.concat(), render(&st, &facts()));
            assert_eq!(pieces.len(), 1 + 2 * (1 + n) + 1);
            pieces.iter().map(String::len).max().unwrap_or(0)
        };
        let one = largest(1);
        let many = largest(4096);
        errln!("largest piece: {one} bytes with 1 cluster, {many} with 4096");
        assert_eq!(one, many);
        assert!(many <= 16 * 1024, "{many}");
    }
}
