//! `qnetd status`: a table for people. One header paragraph about the server, then one row
//! per connected node. Not a stable interface; scripts use `--json` or upstream's text.

use super::json::{algorithm_word, tie_breaker_word, tls_word};
use super::snapshot::ServerStatus;
use std::fmt::Write as _;

/// The header paragraph, then (when a cluster is connected) a blank line and the node table.
pub fn render(st: &ServerStatus) -> String {
    let mut out = header(st);
    if st.clusters.is_empty() {
        return out;
    }
    out.push('\n');
    write_columns(&mut out, &node_rows(st));
    out
}

/// Two lines about the server: where it listens, with which TLS, and who is connected.
fn header(st: &ServerStatus) -> String {
    let mut out = String::new();
    let addr = st.listen_addr.as_deref().unwrap_or("*");
    let cert = if st.tls != crate::proto::types::TlsMode::Unsupported && st.client_cert_required {
        ", client certificate required"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "qnetd {} listening on {}:{}, TLS {}{cert}",
        env!("CARGO_PKG_VERSION"),
        bracket_v6(addr),
        st.port,
        tls_word(st.tls)
    );
    let max = if st.max_clients == 0 {
        String::new()
    } else {
        format!(" (max {})", st.max_clients)
    };
    let _ = writeln!(
        out,
        "{} client{} connected{max}, {} cluster{}",
        st.connected_clients,
        plural(st.connected_clients),
        st.clusters.len(),
        plural(st.clusters.len())
    );
    out
}

/// The column titles, then one row per node of every cluster.
fn node_rows(st: &ServerStatus) -> Vec<[String; 8]> {
    let mut rows = vec![[
        "CLUSTER",
        "ALGORITHM",
        "NODE",
        "ADDRESS",
        "VOTE",
        "TLS",
        "CERT VERIFIED",
        "LAST HEARD",
    ]
    .map(String::from)];
    for c in &st.clusters {
        let name = crate::escape::escape(&c.name).into_owned();
        let algo = format!(
            "{}/{}{}",
            algorithm_word(c.algorithm),
            tie_breaker_word(c.tie_breaker),
            if c.kap_tie_breaker { "+kap" } else { "" }
        );
        for n in &c.nodes {
            let vote = match (n.last_sent_vote, n.last_sent_ack_nack_vote) {
                (None, _) => "-".to_string(),
                (Some(v), None) => v.word().to_string(),
                (Some(v), Some(a)) if v == a => v.word().to_string(),
                (Some(v), Some(a)) => format!("{} ({})", v.word(), a.word()),
            };
            rows.push([
                name.clone(),
                algo.clone(),
                n.node_id.to_string(),
                n.client_addr.clone(),
                vote,
                yes_no(n.tls_active).into(),
                yes_no(n.tls_active && n.cert_verified).into(),
                seconds_ago(n.ms_since_last_message),
            ]);
        }
    }
    rows
}

/// The rows as left-aligned columns two spaces apart, without trailing blanks.
fn write_columns(out: &mut String, rows: &[[String; 8]]) {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn bracket_v6(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    }
}

/// "1.2s ago": tenths of a second, rounded half up. Integer arithmetic on purpose: float
/// formatting would link core's float printing (~10 KB) into the router binary for this alone.
fn seconds_ago(ms: u64) -> String {
    let tenths = ms.saturating_add(50) / 100;
    format!("{}.{}s ago", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::*;
    use crate::status::snapshot::{ClusterStatus, NodeStatus};

    #[test]
    fn seconds_ago_rounds_to_tenths() {
        assert_eq!(seconds_ago(0), "0.0s ago");
        assert_eq!(seconds_ago(49), "0.0s ago");
        assert_eq!(seconds_ago(50), "0.1s ago");
        assert_eq!(seconds_ago(1234), "1.2s ago");
        assert_eq!(seconds_ago(1299), "1.3s ago");
        assert_eq!(seconds_ago(59_960), "60.0s ago");
        assert_eq!(seconds_ago(u64::MAX), "18446744073709551.6s ago");
    }

    #[test]
    fn table_rows_and_alignment() {
        let node = |id: u32, vote: Option<Vote>, ms: u64| NodeStatus {
            tls_active: true,
            cert_verified: id == 1,
            last_sent_vote: vote,
            last_sent_ack_nack_vote: Some(Vote::Ack),
            ms_since_last_message: ms,
            ..NodeStatus::blank(id, format!("192.168.1.{id}:5{id}000"))
        };
        let st = ServerStatus {
            listen_addr: Some("fd00::1".into()),
            port: 5403,
            tls: TlsMode::Supported,
            client_cert_required: true,
            connected_clients: 3,
            max_clients: 0,
            max_send_size: 32768,
            max_receive_size: 32768,
            clusters: vec![ClusterStatus {
                name: b"pve".to_vec(),
                algorithm: Algorithm::Ffsplit,
                tie_breaker: TieBreaker::Lowest,
                kap_tie_breaker: true,
                nodes: vec![
                    node(1, Some(Vote::Ack), 1234),
                    node(2, Some(Vote::NoChange), 5),
                ],
            }],
        };
        let t = render(&st);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].ends_with("listening on [fd00::1]:5403, TLS on, client certificate required"),
            "{t}"
        );
        assert_eq!(lines[1], "3 clients connected, 1 cluster");
        assert_eq!(lines[2], "");
        assert!(
            lines[3].starts_with("CLUSTER  ALGORITHM           NODE  ADDRESS"),
            "{t}"
        );
        assert!(
            lines[4].starts_with("pve      ffsplit/lowest+kap  1     192.168.1.1:51000  ack  "),
            "{t}"
        );
        assert!(lines[4].ends_with("yes  yes            1.2s ago"), "{t}");
        assert!(lines[5].contains("no_change (ack)"), "{t}");
        assert!(lines[5].ends_with("yes  no             0.0s ago"), "{t}");

        // A client's cluster name never reaches the terminal raw.
        let mut hostile = st.clone();
        hostile.clusters[0].name = b"\x1b[31mRED\x1b[0m\x1b]0;pwned\x07\rERROR fake line".to_vec();
        let t = render(&hostile);
        assert!(!t.contains(['\x1b', '\x07', '\r']), "{t:?}");
        assert!(
            t.contains("\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07\\x0dERROR fake line  ffsplit"),
            "{t}"
        );
    }
}
