//! `qnetd status --json`: the status snapshot as JSON, schema in docs/status-json.md.
//!
//! Hand-written on purpose: the schema is small and fixed, and serde + serde_json would add
//! code size to a binary meant for routers. Keys are emitted in a fixed order; adding a key is
//! a compatible change, renaming or removing one bumps `schema_version`.

use super::snapshot::{ClusterStatus, NodeStatus, ServerStatus};
use crate::proto::types::{Algorithm, Heuristics, NodeInfo, TieBreaker, TlsMode, Vote};
use std::fmt::Write as _;

/// Bumped only on incompatible changes (a key removed, renamed or retyped).
pub const SCHEMA_VERSION: u32 = 1;

/// The whole document, one line, ending in `\n`.
pub fn to_json(st: &ServerStatus) -> String {
    chunks(st).collect()
}

/// The document in pieces of at most one node each, which concatenated are [`to_json`]: the
/// status socket and `/status.json` write them as they come, so a reply never holds more than
/// one node's text, however many clients are connected.
pub fn chunks(st: &ServerStatus) -> impl Iterator<Item = String> + '_ {
    let mut o = Obj::new();
    o.num("schema_version", SCHEMA_VERSION);
    o.str("qnetd_version", env!("CARGO_PKG_VERSION"));
    match &st.listen_addr {
        Some(addr) => o.str("listen_address", addr),
        None => o.raw("listen_address", "null"),
    }
    o.num("port", st.port);
    o.str("tls", tls_word(st.tls));
    o.bool("client_cert_required", st.client_cert_required);
    o.num("connected_clients", st.connected_clients);
    o.num("max_clients", st.max_clients);
    o.num("max_send_size", st.max_send_size);
    o.num("max_receive_size", st.max_receive_size);
    let (head, tail) = open_last_array(o, "clusters");
    std::iter::once(head)
        .chain(
            st.clusters
                .iter()
                .enumerate()
                .flat_map(|(i, c)| cluster_chunks(c, i > 0)),
        )
        .chain(std::iter::once(tail + "\n"))
}

/// `o` with `key` as its last member, an array left open: the text up to and including
/// `[`, and the text that closes the array and the object.
fn open_last_array(mut o: Obj, key: &str) -> (String, String) {
    o.raw(key, "[]");
    let mut head = o.finish();
    head.truncate(head.len() - "]}".len());
    (head, "]}".to_string())
}

fn cluster_chunks(c: &ClusterStatus, comma: bool) -> impl Iterator<Item = String> + '_ {
    let mut o = Obj::new();
    o.str("name", &String::from_utf8_lossy(&c.name));
    o.str("algorithm", algorithm_word(c.algorithm));
    o.str("tie_breaker", &tie_breaker_word(c.tie_breaker));
    o.bool("kap_tie_breaker", c.kap_tie_breaker);
    let (mut head, tail) = open_last_array(o, "nodes");
    if comma {
        head.insert(0, ',');
    }
    std::iter::once(head)
        .chain(c.nodes.iter().enumerate().map(|(i, n)| {
            if i > 0 {
                format!(",{}", node(n))
            } else {
                node(n)
            }
        }))
        .chain(std::iter::once(tail))
}

fn node(n: &NodeStatus) -> String {
    let mut o = Obj::new();
    o.num("node_id", n.node_id);
    o.str("address", &n.client_addr);
    o.num("heartbeat_interval_ms", n.heartbeat_interval_ms);
    match n.config_version {
        Some(v) => o.num("config_version", v),
        None => o.raw("config_version", "null"),
    }
    o.raw("config_nodes", &node_list(&n.config_nodes));
    o.str("ring_id", &n.ring_id.to_string());
    o.raw("membership_nodes", &node_list(&n.membership_nodes));
    o.raw("quorum_nodes", &node_list(&n.quorum_nodes));
    o.str("heuristics", heuristics_word(n.heuristics));
    o.str(
        "membership_heuristics",
        heuristics_word(n.membership_heuristics),
    );
    o.str("regular_heuristics", heuristics_word(n.regular_heuristics));
    o.bool("tls_active", n.tls_active);
    o.bool("cert_verified", n.tls_active && n.cert_verified);
    o.raw("vote", &opt_vote(n.last_sent_vote));
    o.raw("ack_nack_vote", &opt_vote(n.last_sent_ack_nack_vote));
    o.num("ms_since_last_message", n.ms_since_last_message);
    o.finish()
}

fn node_list(nodes: &[NodeInfo]) -> String {
    let items: Vec<String> = nodes
        .iter()
        .map(|n| {
            let mut o = Obj::new();
            o.num("node_id", n.node_id);
            o.num("data_center_id", n.data_center_id);
            o.finish()
        })
        .collect();
    array(&items)
}

pub fn tls_word(t: TlsMode) -> &'static str {
    match t {
        TlsMode::Unsupported => "off",
        TlsMode::Supported => "on",
        TlsMode::Required => "required",
    }
}

pub fn algorithm_word(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Test => "test",
        Algorithm::Ffsplit => "ffsplit",
        Algorithm::TwoNodeLms => "2nodelms",
        Algorithm::Lms => "lms",
    }
}

/// `lowest`, `highest`, or the node id as a decimal string (corosync.conf's own spelling).
pub fn tie_breaker_word(t: TieBreaker) -> String {
    match t {
        TieBreaker::Lowest => "lowest".into(),
        TieBreaker::Highest => "highest".into(),
        TieBreaker::NodeId(id) => id.to_string(),
    }
}

fn heuristics_word(h: Heuristics) -> &'static str {
    match h {
        Heuristics::Undefined => "undefined",
        Heuristics::Pass => "pass",
        Heuristics::Fail => "fail",
    }
}

fn opt_vote(v: Option<Vote>) -> String {
    v.map_or_else(|| "null".to_string(), |v| quote(v.word()))
}

fn array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

/// A JSON string literal: quotes, backslashes and control characters escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON object under construction, keys in insertion order.
struct Obj(String);

impl Obj {
    fn new() -> Obj {
        Obj(String::from("{"))
    }
    fn raw(&mut self, key: &str, value: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&quote(key));
        self.0.push(':');
        self.0.push_str(value);
    }
    fn str(&mut self, key: &str, value: &str) {
        self.raw(key, &quote(value));
    }
    fn num(&mut self, key: &str, value: impl std::fmt::Display) {
        self.raw(key, &value.to_string());
    }
    fn bool(&mut self, key: &str, value: bool) {
        self.raw(key, if value { "true" } else { "false" });
    }
    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::RingId;

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn document_shape() {
        let st = ServerStatus {
            listen_addr: None,
            port: 5403,
            tls: TlsMode::Required,
            client_cert_required: false,
            connected_clients: 1,
            max_clients: 0,
            max_send_size: 32768,
            max_receive_size: 32768,
            clusters: vec![ClusterStatus {
                name: b"c\"1".to_vec(),
                algorithm: Algorithm::Ffsplit,
                tie_breaker: TieBreaker::NodeId(2),
                kap_tie_breaker: false,
                nodes: vec![NodeStatus {
                    node_id: 1,
                    client_addr: "::ffff:10.0.0.1:4000".into(),
                    heartbeat_interval_ms: 8000,
                    config_version: None,
                    config_nodes: vec![NodeInfo::new(1)],
                    ring_id: RingId {
                        node_id: 1,
                        seq: 0x52,
                    },
                    membership_nodes: vec![],
                    quorum_nodes: vec![],
                    heuristics: Heuristics::Pass,
                    membership_heuristics: Heuristics::Pass,
                    regular_heuristics: Heuristics::Undefined,
                    tls_active: false,
                    cert_verified: true,
                    last_sent_vote: Some(Vote::Ack),
                    last_sent_ack_nack_vote: None,
                    ms_since_last_message: 250,
                }],
            }],
        };
        let j = to_json(&st);
        assert!(
            j.starts_with("{\"schema_version\":1,\"qnetd_version\":\""),
            "{j}"
        );
        assert!(j.contains("\"listen_address\":null,\"port\":5403,\"tls\":\"required\",\"client_cert_required\":false"), "{j}");
        assert!(
            j.contains("\"name\":\"c\\\"1\",\"algorithm\":\"ffsplit\",\"tie_breaker\":\"2\""),
            "{j}"
        );
        assert!(j.contains("\"config_version\":null,\"config_nodes\":[{\"node_id\":1,\"data_center_id\":0}],\"ring_id\":\"1.52\""), "{j}");
        // Not verified unless TLS is active, as upstream's text.
        assert!(j.contains("\"tls_active\":false,\"cert_verified\":false,\"vote\":\"ack\",\"ack_nack_vote\":null,\"ms_since_last_message\":250}]}]}\n"), "{j}");
    }
}
