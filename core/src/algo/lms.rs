//! LMS, "last man standing" for clusters of any size (upstream `qnetd-algo-lms.c` and
//! `qnetd-algo-utils.c`).
//!
//! Connected nodes are grouped into partitions by their stored ring id. One partition: ACK.
//! Several: the partition with the unique best heuristics score, else the unique largest,
//! else the one holding the tie-breaker node gets ACK. While the nodes of the caller's own
//! partition disagree on the ring id the answer is WAIT_FOR_REPLY and the per-client
//! algorithm timer (heartbeat/4) re-runs the decision, sending the result as VOTE_INFO.

use log::debug;

use super::{ack_if, Ctx, Decision, TimerOutcome};
use crate::cluster::{contains_node, Node};
use crate::proto::types::{Heuristics, NodeInfo, ReplyError, RingId, TieBreaker, Vote};

/// Upstream starts the LOWEST tie-breaker search at INT_MAX, so node ids >= 0x7FFFFFFF can
/// never be the lowest. Kept for identical decisions.
const LOWEST_SEARCH_START: u32 = 0x7FFF_FFFF;

pub struct Lms;

impl Decision for Lms {
    fn config_node_list_received(
        &self,
        ctx: &mut Ctx,
        nodes: &[NodeInfo],
        _initial: bool,
    ) -> Result<Vote, ReplyError> {
        ctx.cluster.nodes[ctx.me].algo.num_config_nodes = nodes.len();
        Ok(Vote::NoChange)
    }

    fn membership_node_list_received(
        &self,
        ctx: &mut Ctx,
        ring_id: RingId,
        _nodes: &[NodeInfo],
        _heuristics: Heuristics,
    ) -> Result<Vote, ReplyError> {
        Ok(run(ctx, ring_id))
    }

    /// A quorum list and ASK_FOR_VOTE re-run the decision in the caller's stored ring.
    fn quorum_node_list_received(&self, ctx: &mut Ctx) -> Result<Vote, ReplyError> {
        let ring_id = ctx.cluster.nodes[ctx.me].ring_id;
        Ok(run(ctx, ring_id))
    }

    fn ask_for_vote_received(&self, ctx: &mut Ctx) -> Result<Vote, ReplyError> {
        self.quorum_node_list_received(ctx)
    }

    fn timer_callback(&self, ctx: &mut Ctx) -> TimerOutcome {
        let ring_id = ctx.cluster.nodes[ctx.me].ring_id;
        match run(ctx, ring_id) {
            vote @ (Vote::Ack | Vote::Nack) => TimerOutcome::SendVote(vote),
            // WAIT_FOR_REPLY: `run` has re-armed the timer.
            _ => TimerOutcome::Nothing,
        }
    }
}

/// One partition: the connected nodes sharing a stored ring id.
#[derive(Debug)]
struct Partition {
    ring_id: RingId,
    num_nodes: usize,
    score: i64,
}

/// The decision for the caller, whose current ring is `ring_id`.
fn run(ctx: &mut Ctx, ring_id: RingId) -> Vote {
    ctx.cancel_timer();
    let me = ctx.me;
    let nodes = &ctx.cluster.nodes;
    if !all_ring_ids_match(nodes, me, ring_id) {
        debug!(
            "lms: ring id {ring_id} not yet common in node {}'s partition",
            nodes[me].node_id
        );
        return wait(ctx);
    }
    let partitions = partitions(nodes);
    debug!("lms: partitions {partitions:?}");
    if partitions.is_empty() {
        return wait(ctx);
    }
    if partitions.len() == 1 {
        return store(ctx, Vote::Ack);
    }
    if nodes[me].algo.last_result.is_none()
        && nodes
            .iter()
            .any(|o| o.ring_id != ring_id && o.algo.last_result == Some(Vote::Ack))
    {
        // A newcomer must not take quorum from an active partition; not stored.
        return Vote::Nack;
    }
    let vote = if let Some(best) = unique_max(&partitions, |p| p.score) {
        ack_if(best.ring_id == ring_id)
    } else if let Some(largest) = unique_max(&partitions, |p| p.num_nodes as i64) {
        ack_if(largest.ring_id == ring_id)
    } else {
        tie_breaker_vote(nodes, me, ring_id)
    };
    store(ctx, vote)
}

fn wait(ctx: &mut Ctx) -> Vote {
    ctx.schedule_timer();
    store(ctx, Vote::WaitForReply)
}

fn store(ctx: &mut Ctx, vote: Vote) -> Vote {
    ctx.cluster.nodes[ctx.me].algo.last_result = Some(vote);
    vote
}

/// False if a node of the caller's partition (by either side's stored membership list) has
/// a stored ring id other than `ring_id`.
fn all_ring_ids_match(nodes: &[Node], me: usize, ring_id: RingId) -> bool {
    let my = &nodes[me];
    nodes.iter().enumerate().all(|(idx, other)| {
        let in_our_partition = idx != me
            && (contains_node(&my.membership_nodes, other.node_id)
                || contains_node(&other.membership_nodes, my.node_id));
        !in_our_partition || other.ring_id == ring_id
    })
}

/// Partitions in order of first appearance; nodes whose ring seq is 0 are not initialised.
fn partitions(nodes: &[Node]) -> Vec<Partition> {
    let mut parts: Vec<Partition> = Vec::new();
    for node in nodes.iter().filter(|n| n.ring_id.seq != 0) {
        let pos = match parts.iter().position(|p| p.ring_id == node.ring_id) {
            Some(pos) => pos,
            None => {
                parts.push(Partition {
                    ring_id: node.ring_id,
                    num_nodes: 0,
                    score: 0,
                });
                parts.len() - 1
            }
        };
        let part = &mut parts[pos];
        part.num_nodes += 1;
        part.score += match node.heuristics {
            Heuristics::Pass => 2,
            Heuristics::Undefined => 1,
            Heuristics::Fail => 0,
        };
    }
    parts
}

/// The first partition with the highest `key`, if no other partition has the same key.
fn unique_max(parts: &[Partition], key: impl Fn(&Partition) -> i64) -> Option<&Partition> {
    let best = parts
        .iter()
        .reduce(|a, b| if key(b) > key(a) { b } else { a })?;
    let joint = parts
        .iter()
        .filter(|p| !std::ptr::eq(*p, best) && key(p) == key(best))
        .count();
    (joint == 0).then_some(best)
}

/// Equal scores and sizes: ACK if the caller is the tie-breaker node or shares its ring.
fn tie_breaker_vote(nodes: &[Node], me: usize, ring_id: RingId) -> Vote {
    let my_id = nodes[me].node_id;
    let mut tb_ring = RingId::default();
    let tb_id = match nodes[me].tie_breaker {
        TieBreaker::Lowest => {
            let mut tb_id = LOWEST_SEARCH_START;
            for n in nodes {
                if n.node_id < tb_id {
                    tb_id = n.node_id;
                    tb_ring = n.ring_id;
                }
            }
            tb_id
        }
        TieBreaker::Highest => {
            let mut tb_id = 0;
            for n in nodes {
                if n.node_id > tb_id {
                    tb_id = n.node_id;
                    tb_ring = n.ring_id;
                }
            }
            tb_id
        }
        TieBreaker::NodeId(id) => {
            // Upstream only fills in the ring when the caller is the nominated node (and
            // then takes the last node's ring); the node id test below decides anyway.
            if my_id == id {
                if let Some(last) = nodes.last() {
                    tb_ring = last.ring_id;
                }
            }
            id
        }
    };
    ack_if(my_id == tb_id || tb_ring == ring_id)
}
