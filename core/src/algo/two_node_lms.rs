//! 2NODELMS, "last man standing" for two-node clusters (upstream `qnetd-algo-2nodelms.c`).
//!
//! Both nodes see each other: ACK. Only one node connected: ACK. Both connected but split:
//! better heuristics wins, else the tie-breaker node. A newcomer in a different ring than a
//! node that already holds an ACK gets NACK. Nothing is re-evaluated when a node leaves.

use log::debug;

use super::{ack_if, tie_breaker_node, Ctx, Decision};
use crate::proto::types::{Heuristics, NodeInfo, ReplyError, RingId, Vote};

pub struct TwoNodeLms;

impl Decision for TwoNodeLms {
    fn config_node_list_received(
        &self,
        ctx: &mut Ctx,
        nodes: &[NodeInfo],
        _initial: bool,
    ) -> Result<Vote, ReplyError> {
        let node = &mut ctx.cluster.nodes[ctx.me];
        node.algo.num_config_nodes = nodes.len();
        if nodes.len() != 2 {
            debug!(
                "2nodelms: node {} reports {} configured nodes, not 2",
                node.node_id,
                nodes.len()
            );
            return Err(ReplyError::UnsupportedDecisionAlgorithm);
        }
        Ok(Vote::NoChange)
    }

    fn membership_node_list_received(
        &self,
        ctx: &mut Ctx,
        ring_id: RingId,
        nodes: &[NodeInfo],
        heuristics: Heuristics,
    ) -> Result<Vote, ReplyError> {
        let cluster = &mut *ctx.cluster;
        let me = &cluster.nodes[ctx.me];
        if me.algo.last_result.is_none()
            && cluster
                .nodes
                .iter()
                .any(|o| o.ring_id != ring_id && o.algo.last_result == Some(Vote::Ack))
        {
            // A newcomer must not pull quorum away from an active partition; not stored, so
            // the node stays a newcomer.
            debug!(
                "2nodelms: node {} is a new partition beside an active one",
                me.node_id
            );
            return Ok(Vote::Nack);
        }
        let result = if nodes.len() == 2 {
            Vote::Ack
        } else {
            decide_split(cluster.nodes.as_slice(), ctx.me, heuristics)
        };
        cluster.nodes[ctx.me].algo.last_result = Some(result);
        Ok(result)
    }

    /// The last stored result, or ASK_LATER before there is one.
    fn ask_for_vote_received(&self, ctx: &mut Ctx) -> Result<Vote, ReplyError> {
        Ok(ctx.cluster.nodes[ctx.me]
            .algo
            .last_result
            .unwrap_or(Vote::AskLater))
    }
}

/// The caller does not see its partner: who keeps running?
fn decide_split(nodes: &[crate::cluster::Node], me: usize, heuristics: Heuristics) -> Vote {
    let my_id = nodes[me].node_id;
    if nodes.len() == 1 {
        return Vote::Ack;
    }
    // Upstream compares with the last other node in the list.
    let other_heuristics = nodes
        .iter()
        .enumerate()
        .filter(|(idx, _)| *idx != me)
        .map(|(_, n)| n.heuristics)
        .next_back()
        .unwrap_or(Heuristics::Undefined);
    match heuristics.rank().cmp(&other_heuristics.rank()) {
        std::cmp::Ordering::Greater => return Vote::Ack,
        std::cmp::Ordering::Less => return Vote::Nack,
        std::cmp::Ordering::Equal => {}
    }
    let tb_node = tie_breaker_node(nodes[me].tie_breaker, nodes.iter().map(|n| n.node_id));
    ack_if(tb_node == Some(my_id))
}
