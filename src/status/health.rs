//! The health verdict's pure parts, shared by HTTP `/health` and the status socket's
//! `health` command: a cluster's vote from the snapshot, and the body both answer with.

use super::json;
use super::snapshot::ServerStatus;
use crate::proto::types::Vote;

/// The body of `/health` and of the `health` command: `{"status":"ok"}` or
/// `{"status":"fail","reason":…}`, one line.
pub fn health_body(problem: Option<&str>) -> String {
    match problem {
        None => "{\"status\":\"ok\"}\n".to_string(),
        Some(why) => format!("{{\"status\":\"fail\",\"reason\":{}}}\n", json::quote(why)),
    }
}

/// `?cluster=NAME`: the cluster must have connected nodes, one of them holding an ACK vote.
pub fn cluster_problem(status: &ServerStatus, name: &[u8]) -> Option<String> {
    let shown = String::from_utf8_lossy(name);
    let Some(cluster) = status.clusters.iter().find(|c| c.name == name) else {
        return Some(format!("cluster {shown} has no connected nodes"));
    };
    let acked = cluster
        .nodes
        .iter()
        .any(|n| n.last_sent_ack_nack_vote == Some(Vote::Ack));
    (!acked).then(|| format!("no node of cluster {shown} holds an ACK vote"))
}
