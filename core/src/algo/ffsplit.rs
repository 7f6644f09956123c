//! FFSPLIT, the "fifty-fifty split" algorithm (upstream `qnetd-algo-ffsplit.c`).
//!
//! Once every connected node agrees on the configuration and on the partitions (STABLE), the
//! best partition is chosen (SELECT_PARTITION / BETTER: majority, then heuristics score, active
//! nodes, the keep-active-partition tie-breaker, the configured tie-breaker). The decision
//! travels in VOTE_INFO messages: NACKs first, and ACKs only after every NACKed node has
//! confirmed with a VOTE_INFO_REPLY carrying the current sequence number. The reply to the
//! triggering request itself says NO_CHANGE (or ASK_LATER / WAIT_FOR_REPLY).

use log::debug;

use super::{tie_breaker_node, Ctx, Decision};
use crate::cluster::{contains_node, Cluster, VoteInfo};
use crate::proto::types::{Heuristics, NodeInfo, ReplyError, RingId, TieBreaker, Vote};

pub use crate::cluster::algo_state::ffsplit::{ClusterData, ClusterPhase, NodeData, NodePhase};

/// The calling node as DECIDE sees it: its new (not yet stored) values, or `leaving`.
struct Caller {
    me: usize,
    leaving: bool,
    ring_id: RingId,
    config: Vec<NodeInfo>,
    membership: Vec<NodeInfo>,
    heuristics: Heuristics,
}

/// What one node contributes to the partition comparison.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    idx: usize,
    config: &'a [NodeInfo],
    membership: &'a [NodeInfo],
    heuristics: Heuristics,
}

impl Caller {
    /// Node `idx`'s ring and membership, with the caller's substituted; None = skip (leaving).
    fn partition_of<'a>(
        &'a self,
        cluster: &'a Cluster,
        idx: usize,
    ) -> Option<(RingId, &'a [NodeInfo])> {
        if idx == self.me {
            (!self.leaving).then_some((self.ring_id, self.membership.as_slice()))
        } else {
            let n = &cluster.nodes[idx];
            Some((n.ring_id, n.membership_nodes.as_slice()))
        }
    }

    fn config_of<'a>(&'a self, cluster: &'a Cluster, idx: usize) -> Option<&'a [NodeInfo]> {
        if idx == self.me {
            (!self.leaving).then_some(self.config.as_slice())
        } else {
            Some(cluster.nodes[idx].config_nodes.as_slice())
        }
    }

    fn candidate<'a>(&'a self, cluster: &'a Cluster, idx: usize) -> Option<Candidate<'a>> {
        if idx == self.me {
            (!self.leaving).then_some(Candidate {
                idx,
                config: &self.config,
                membership: &self.membership,
                heuristics: self.heuristics,
            })
        } else {
            let n = &cluster.nodes[idx];
            Some(Candidate {
                idx,
                config: &n.config_nodes,
                membership: &n.membership_nodes,
                heuristics: n.heuristics,
            })
        }
    }
}

pub struct Ffsplit;

impl Decision for Ffsplit {
    fn client_init(&self, ctx: &mut Ctx) {
        if ctx.cluster.nodes.len() == 1 {
            ctx.cluster.ffsplit = ClusterData::default();
        }
        ctx.cluster.nodes[ctx.me].algo = super::NodeData::default();
    }

    fn config_node_list_received(
        &self,
        ctx: &mut Ctx,
        nodes: &[NodeInfo],
        initial: bool,
    ) -> Result<Vote, ReplyError> {
        let me = &ctx.cluster.nodes[ctx.me];
        if nodes.is_empty() || !contains_node(nodes, me.node_id) {
            debug!(
                "ffsplit: config node list of node {} is empty or lacks it",
                me.node_id
            );
            return Err(ReplyError::InvalidConfigNodeList);
        }
        if initial || me.membership_nodes.is_empty() {
            // The membership list follows; decide then.
            return Ok(Vote::AskLater);
        }
        let caller = Caller {
            me: ctx.me,
            leaving: false,
            ring_id: me.ring_id,
            config: nodes.to_vec(),
            membership: me.membership_nodes.clone(),
            heuristics: me.heuristics,
        };
        Ok(decide(ctx.cluster, &caller, ctx.votes))
    }

    fn membership_node_list_received(
        &self,
        ctx: &mut Ctx,
        ring_id: RingId,
        nodes: &[NodeInfo],
        heuristics: Heuristics,
    ) -> Result<Vote, ReplyError> {
        let me = &ctx.cluster.nodes[ctx.me];
        if nodes.is_empty() || !contains_node(nodes, me.node_id) {
            debug!(
                "ffsplit: membership node list of node {} is empty or lacks it",
                me.node_id
            );
            return Err(ReplyError::InvalidMembershipNodeList);
        }
        if me.config_nodes.is_empty() {
            return Ok(Vote::AskLater);
        }
        let caller = Caller {
            me: ctx.me,
            leaving: false,
            ring_id,
            config: me.config_nodes.clone(),
            membership: nodes.to_vec(),
            heuristics,
        };
        Ok(decide(ctx.cluster, &caller, ctx.votes))
    }

    /// FFSPLIT decides on its own schedule: a node may not ask.
    fn ask_for_vote_received(&self, _ctx: &mut Ctx) -> Result<Vote, ReplyError> {
        Err(ReplyError::UnsupportedDecisionAlgorithmMessage)
    }

    fn vote_info_reply_received(&self, ctx: &mut Ctx, seq: u32) {
        let me = ctx.me;
        let node = &mut ctx.cluster.nodes[me];
        if node.algo.ffsplit.vote_info_expected_seq != seq {
            debug!(
                "ffsplit: stale VOTE_INFO_REPLY {seq} from node {}",
                node.node_id
            );
            return;
        }
        node.algo.ffsplit.phase = NodePhase::WaitingForChange;
        let ring_id = node.ring_id;
        let cluster = &mut *ctx.cluster;
        match cluster.ffsplit.phase {
            ClusterPhase::SendingNacks => {
                if count_in_phase(cluster, NodePhase::SendingNack) == 0 {
                    debug!("ffsplit: every NACK confirmed, sending ACKs");
                    cluster.ffsplit.phase = ClusterPhase::SendingAcks;
                    if send_votes(cluster, me, false, ring_id, Vote::Ack, ctx.votes) == 0 {
                        cluster.ffsplit.phase = ClusterPhase::WaitingForChange;
                    }
                }
            }
            ClusterPhase::SendingAcks => {
                if count_in_phase(cluster, NodePhase::SendingAck) == 0 {
                    cluster.ffsplit.phase = ClusterPhase::WaitingForChange;
                }
            }
            ClusterPhase::WaitingForChange | ClusterPhase::WaitingForStableMembership => {}
        }
    }

    fn heuristics_change_received(
        &self,
        ctx: &mut Ctx,
        heuristics: Heuristics,
    ) -> Result<Vote, ReplyError> {
        let me = &ctx.cluster.nodes[ctx.me];
        if me.config_nodes.is_empty() || me.membership_nodes.is_empty() {
            return Ok(Vote::AskLater);
        }
        let caller = Caller {
            me: ctx.me,
            leaving: false,
            ring_id: me.ring_id,
            config: me.config_nodes.clone(),
            membership: me.membership_nodes.clone(),
            heuristics,
        };
        Ok(decide(ctx.cluster, &caller, ctx.votes))
    }

    /// A node that leaves changes the partitions, unless every node leaves at once: re-decide
    /// without the leaving caller (it is still in the node list while this runs).
    fn client_disconnect(&self, ctx: &mut Ctx, server_going_down: bool) {
        if server_going_down {
            return;
        }
        let me = &ctx.cluster.nodes[ctx.me];
        let caller = Caller {
            me: ctx.me,
            leaving: true,
            ring_id: me.ring_id,
            config: me.config_nodes.clone(),
            membership: me.membership_nodes.clone(),
            heuristics: me.heuristics,
        };
        decide(ctx.cluster, &caller, ctx.votes);
    }
}

/// DECIDE: returns the vote for the caller's reply; the decision itself goes out as
/// VOTE_INFOs.
fn decide(cluster: &mut Cluster, caller: &Caller, votes: &mut Vec<VoteInfo>) -> Vote {
    cluster.ffsplit.phase = ClusterPhase::WaitingForStableMembership;
    if !is_membership_stable(cluster, caller) {
        debug!("ffsplit: membership is not yet stable");
        return Vote::WaitForReply;
    }
    let partition = select_partition(cluster, caller);
    debug!("ffsplit: membership stable, quorate partition {partition:?}");
    cluster.ffsplit.quorate_partition = partition.iter().flatten().map(|n| n.node_id).collect();
    for (idx, node) in cluster.nodes.iter_mut().enumerate() {
        node.algo.ffsplit.phase = if idx == caller.me && caller.leaving {
            NodePhase::WaitingForChange
        } else if partition
            .as_deref()
            .is_some_and(|p| contains_node(p, node.node_id))
        {
            NodePhase::SendingAck
        } else {
            NodePhase::SendingNack
        };
    }
    cluster.ffsplit.phase = ClusterPhase::SendingNacks;
    let (me, leaving, ring_id) = (caller.me, caller.leaving, caller.ring_id);
    if send_votes(cluster, me, leaving, ring_id, Vote::Nack, votes) == 0 {
        cluster.ffsplit.phase = ClusterPhase::SendingAcks;
        if send_votes(cluster, me, leaving, ring_id, Vote::Ack, votes) == 0 {
            cluster.ffsplit.phase = ClusterPhase::WaitingForChange;
        }
    }
    Vote::NoChange
}

/// STABLE: all connected nodes have the same configuration, and the nodes of each partition
/// agree on its ring id and members.
fn is_membership_stable(cluster: &Cluster, caller: &Caller) -> bool {
    let n = cluster.nodes.len();
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let (Some(c1), Some(c2)) = (caller.config_of(cluster, i), caller.config_of(cluster, j))
            else {
                continue;
            };
            if c1.iter().any(|x| !contains_node(c2, x.node_id)) {
                return false;
            }
        }
    }
    for i in 0..n {
        let Some((ring1, members1)) = caller.partition_of(cluster, i) else {
            continue;
        };
        for member in members1 {
            let Some(j) = cluster.find_node_id(member.node_id) else {
                continue; // not connected
            };
            let Some((ring2, members2)) = caller.partition_of(cluster, j) else {
                continue;
            };
            if ring1 != ring2 || members1.iter().any(|x| !contains_node(members2, x.node_id)) {
                return false;
            }
        }
    }
    true
}

/// SELECT_PARTITION: the membership list of the best node's partition, or None.
fn select_partition(cluster: &Cluster, caller: &Caller) -> Option<Vec<NodeInfo>> {
    let kap = cluster
        .nodes
        .iter()
        .all(|n| n.keep_active_partition_tie_breaker);
    let mut best: Option<Candidate> = None;
    for idx in 0..cluster.nodes.len() {
        let Some(candidate) = caller.candidate(cluster, idx) else {
            continue;
        };
        if better(cluster, &candidate, best.as_ref(), kap) {
            best = Some(candidate);
        }
    }
    best.map(|b| b.membership.to_vec())
}

/// BETTER: is `c1`'s partition better than `c2`'s (None = no partition chosen yet)?
fn better(cluster: &Cluster, c1: &Candidate, c2: Option<&Candidate>, kap: bool) -> bool {
    let n = c1.config.len();
    let m = c1.membership.len();
    if n % 2 != 0 {
        // Odd clusters never split 50:50; only a strict majority counts.
        return m > n / 2;
    }
    if m != n / 2 {
        return m > n / 2;
    }
    let s1 = PartitionStats::of(cluster, Some(c1));
    let s2 = PartitionStats::of(cluster, c2);
    if s1.score() != s2.score() {
        return s1.score() > s2.score();
    }
    if s1.active != s2.active {
        return s1.active > s2.active;
    }
    if let (true, Some(c2)) = (kap, c2) {
        let previous = &cluster.ffsplit.quorate_partition;
        let in1 = previous.contains(&cluster.nodes[c1.idx].node_id);
        let in2 = previous.contains(&cluster.nodes[c2.idx].node_id);
        if in1 != in2 {
            return in1;
        }
    }
    is_preferred_partition(cluster.nodes[c1.idx].tie_breaker, c1.config, c1.membership)
}

/// Connected nodes of a partition and their heuristics results.
#[derive(Debug, Default)]
struct PartitionStats {
    active: i64,
    pass: i64,
    fail: i64,
}

impl PartitionStats {
    /// Counts the members of `c`'s partition that have a connected client (the leaving node
    /// included, as upstream). Node `c` itself counts with `c.heuristics`, every other node
    /// with its stored result.
    fn of(cluster: &Cluster, c: Option<&Candidate>) -> PartitionStats {
        let mut stats = PartitionStats::default();
        let Some(c) = c else {
            return stats;
        };
        for member in c.membership {
            let Some(idx) = cluster.find_node_id(member.node_id) else {
                continue;
            };
            stats.active += 1;
            let heuristics = if idx == c.idx {
                c.heuristics
            } else {
                cluster.nodes[idx].heuristics
            };
            match heuristics {
                Heuristics::Pass => stats.pass += 1,
                Heuristics::Fail => stats.fail += 1,
                Heuristics::Undefined => {}
            }
        }
        stats
    }

    fn score(&self) -> i64 {
        self.active + self.pass - self.fail
    }
}

/// Is the tie-breaker's preferred node in `membership`? With LOWEST/HIGHEST and an empty
/// config list there is no preferred node: not preferred (upstream 3.0.3 crashes here).
fn is_preferred_partition(tb: TieBreaker, config: &[NodeInfo], membership: &[NodeInfo]) -> bool {
    tie_breaker_node(tb, config.iter().map(|n| n.node_id))
        .is_some_and(|id| contains_node(membership, id))
}

fn count_in_phase(cluster: &Cluster, phase: NodePhase) -> usize {
    cluster
        .nodes
        .iter()
        .filter(|n| n.algo.ffsplit.phase == phase)
        .count()
}

/// SENDVOTES: a VOTE_INFO with `vote` to every node whose phase asks for it, in node order.
/// The caller gets `ring_id` (its new ring), the others their stored ring. Returns how many.
fn send_votes(
    cluster: &mut Cluster,
    me: usize,
    leaving: bool,
    ring_id: RingId,
    vote: Vote,
    votes: &mut Vec<VoteInfo>,
) -> usize {
    let wanted = match vote {
        Vote::Ack => NodePhase::SendingAck,
        _ => NodePhase::SendingNack,
    };
    let mut sent = 0;
    for (idx, node) in cluster.nodes.iter_mut().enumerate() {
        let ring = if idx == me {
            if leaving {
                continue;
            }
            ring_id
        } else {
            node.ring_id
        };
        if node.algo.ffsplit.phase != wanted {
            continue;
        }
        let data = &mut node.algo.ffsplit;
        data.vote_info_expected_seq = data.vote_info_expected_seq.wrapping_add(1);
        sent += 1;
        node.record_sent_vote(vote);
        votes.push(VoteInfo {
            client: node.client,
            seq: node.algo.ffsplit.vote_info_expected_seq,
            vote,
            ring_id: ring,
        });
    }
    sent
}
