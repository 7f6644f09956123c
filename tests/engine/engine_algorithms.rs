//! Decision-algorithm tests: one cluster, driven callback by callback the way the engine
//! drives it (the algorithm runs against the old stored state; the new lists are stored only
//! on success). Expected decisions are upstream corosync-qnetd 3.0.3's
//! (docs/protocol.md, "Algorithms: common rules" to "Algorithm lms"; the cases marked [verified] were observed with the Debian binary).

use std::time::{Duration, Instant};

use qnetd::algo::{self, Ctx, TimerOutcome};
use qnetd::cluster::{Cluster, Node, VoteInfo};
use qnetd::proto::types::{Algorithm, Heuristics, NodeInfo, ReplyError, RingId, TieBreaker, Vote};

const HB: u32 = 8000;

fn ring(node_id: u32, seq: u64) -> RingId {
    RingId { node_id, seq }
}

fn infos(ids: &[u32]) -> Vec<NodeInfo> {
    ids.iter().map(|&id| NodeInfo::new(id)).collect()
}

/// A VOTE_INFO for the client of node `node` (client ids equal node ids here).
fn vi(node: u32, seq: u32, vote: Vote, ring_id: RingId) -> VoteInfo {
    VoteInfo {
        client: u64::from(node),
        seq,
        vote,
        ring_id,
    }
}

type Outcome<T> = (Result<T, ReplyError>, Vec<VoteInfo>);

/// A setup step that must succeed; its VOTE_INFOs are not the point of the test.
fn ok<T: std::fmt::Debug>(outcome: Outcome<T>) -> Vec<VoteInfo> {
    outcome.0.expect("algorithm accepted the message");
    outcome.1
}

/// One cluster and a clock; client id = node id.
struct Sim {
    cluster: Cluster,
    now: Instant,
    algorithm: Algorithm,
    tie_breaker: TieBreaker,
}

impl Sim {
    fn new(algorithm: Algorithm, tie_breaker: TieBreaker) -> Sim {
        Sim {
            cluster: Cluster::new(b"test".to_vec()),
            now: Instant::now(),
            algorithm,
            tie_breaker,
        }
    }

    fn idx(&self, node_id: u32) -> usize {
        self.cluster
            .find_node_id(node_id)
            .expect("node is in the cluster")
    }

    fn node(&self, node_id: u32) -> &Node {
        &self.cluster.nodes[self.idx(node_id)]
    }

    fn node_mut(&mut self, node_id: u32) -> &mut Node {
        let idx = self.idx(node_id);
        &mut self.cluster.nodes[idx]
    }

    fn call<R>(&mut self, node_id: u32, f: impl FnOnce(&mut Ctx) -> R) -> (R, Vec<VoteInfo>) {
        let me = self.idx(node_id);
        let mut votes = Vec::new();
        let r = f(&mut Ctx {
            cluster: &mut self.cluster,
            me,
            now: self.now,
            heartbeat_interval: HB,
            votes: &mut votes,
        });
        (r, votes)
    }

    /// INIT succeeded for `node_id` with `ring_id`.
    fn join(&mut self, node_id: u32, ring_id: RingId) {
        let node = Node::new(
            u64::from(node_id),
            node_id,
            self.algorithm,
            self.tie_breaker,
            ring_id,
        );
        self.cluster.insert(node);
        let (_, votes) = self.call(node_id, |ctx| ctx.decision().client_init(ctx));
        assert!(votes.is_empty());
    }

    fn join_all(&mut self, ids: &[u32], ring_id: RingId) {
        for &id in ids {
            self.join(id, ring_id);
        }
    }

    fn config(&mut self, node_id: u32, ids: &[u32], initial: bool) -> Outcome<Vote> {
        let nodes = infos(ids);
        let (r, votes) = self.call(node_id, |ctx| {
            ctx.decision()
                .config_node_list_received(ctx, &nodes, initial)
        });
        if let Ok(vote) = r {
            let node = self.node_mut(node_id);
            node.config_nodes = nodes;
            node.record_sent_vote(vote);
        }
        (r, votes)
    }

    fn membership(
        &mut self,
        node_id: u32,
        ring_id: RingId,
        ids: &[u32],
        h: Heuristics,
    ) -> Outcome<Vote> {
        let nodes = infos(ids);
        let (r, votes) = self.call(node_id, |ctx| {
            ctx.decision()
                .membership_node_list_received(ctx, ring_id, &nodes, h)
        });
        if let Ok(vote) = r {
            let node = self.node_mut(node_id);
            node.membership_nodes = nodes;
            node.ring_id = ring_id;
            node.membership_heuristics = h;
            node.heuristics = h;
            node.record_sent_vote(vote);
        }
        (r, votes)
    }

    fn quorum(&mut self, node_id: u32) -> Outcome<Vote> {
        let (r, votes) = self.call(node_id, |ctx| ctx.decision().quorum_node_list_received(ctx));
        if let Ok(vote) = r {
            self.node_mut(node_id).record_sent_vote(vote);
        }
        (r, votes)
    }

    fn ask(&mut self, node_id: u32) -> Outcome<Vote> {
        self.call(node_id, |ctx| ctx.decision().ask_for_vote_received(ctx))
    }

    fn heuristics_change(&mut self, node_id: u32, h: Heuristics) -> Outcome<Vote> {
        let (r, votes) = self.call(node_id, |ctx| {
            ctx.decision().heuristics_change_received(ctx, h)
        });
        if r.is_ok() {
            let node = self.node_mut(node_id);
            node.regular_heuristics = h;
            node.heuristics = h;
        }
        (r, votes)
    }

    fn vote_info_reply(&mut self, node_id: u32, seq: u32) -> Vec<VoteInfo> {
        self.call(node_id, |ctx| {
            ctx.decision().vote_info_reply_received(ctx, seq)
        })
        .1
    }

    /// The client of `node_id` disconnects: the algorithm runs while it is still a member.
    fn leave(&mut self, node_id: u32) -> Vec<VoteInfo> {
        let (_, votes) = self.call(node_id, |ctx| {
            // The engine cancels the leaving node's timer first.
            ctx.cancel_timer();
            ctx.decision().client_disconnect(ctx, false)
        });
        let idx = self.idx(node_id);
        self.cluster.nodes.remove(idx);
        votes
    }

    fn fire_timer(&mut self, node_id: u32) -> (TimerOutcome, Vec<VoteInfo>) {
        self.node_mut(node_id).algo_timer = None;
        self.call(node_id, |ctx| ctx.decision().timer_callback(ctx))
    }

    /// Both nodes of a 2-node ffsplit cluster see each other in `r0`; returns after the ACKs.
    fn ffsplit_pair_joined(&mut self, r0: RingId) {
        self.join_all(&[1, 2], r0);
        assert_eq!(self.config(1, &[1, 2], true), (Ok(Vote::AskLater), vec![]));
        assert_eq!(self.config(2, &[1, 2], true), (Ok(Vote::AskLater), vec![]));
        // Node 2's membership is not known yet: node 1 waits.
        assert_eq!(
            self.membership(1, r0, &[1, 2], Heuristics::Undefined),
            (Ok(Vote::WaitForReply), vec![])
        );
        // Now stable, everybody in the partition: no NACKs, so ACKs go out at once.
        assert_eq!(
            self.membership(2, r0, &[1, 2], Heuristics::Undefined),
            (
                Ok(Vote::NoChange),
                vec![vi(1, 1, Vote::Ack, r0), vi(2, 1, Vote::Ack, r0)]
            )
        );
        assert!(self.vote_info_reply(1, 1).is_empty());
        assert!(self.vote_info_reply(2, 1).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// FFSPLIT

/// Splits a joined 2-node cluster into {1} (ring r1) and {2} (ring r2) with the given
/// heuristics; returns what node 2's membership produced.
fn split_pair(sim: &mut Sim, h1: Heuristics, h2: Heuristics) -> Outcome<Vote> {
    let (r1, r2) = (ring(1, 8), ring(2, 8));
    // Node 2 still reports the old ring with node 1 in it: not stable.
    assert_eq!(
        sim.membership(1, r1, &[1], h1),
        (Ok(Vote::WaitForReply), vec![])
    );
    sim.membership(2, r2, &[2], h2)
}

#[test]
fn ffsplit_split_lowest_tie_breaker_nack_first_then_ack_after_reply() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.ffsplit_pair_joined(ring(1, 4));
    let (r1, r2) = (ring(1, 8), ring(2, 8));
    // [verified] node 2 gets NACK seq 2 (with its new ring); node 1 nothing yet.
    assert_eq!(
        split_pair(&mut sim, Heuristics::Undefined, Heuristics::Undefined),
        (Ok(Vote::NoChange), vec![vi(2, 2, Vote::Nack, r2)])
    );
    // A stale reply (seq 1) releases nothing.
    assert!(sim.vote_info_reply(2, 1).is_empty());
    // [verified] the current one releases node 1's ACK, with node 1's stored ring.
    assert_eq!(sim.vote_info_reply(2, 2), vec![vi(1, 2, Vote::Ack, r1)]);
    assert_eq!(sim.cluster.ffsplit.quorate_partition, [1]);
    assert_eq!(sim.node(1).last_sent_vote, Some(Vote::Ack));
    assert_eq!(sim.node(2).last_sent_ack_nack_vote, Some(Vote::Nack));
    // Node 1 confirming ends the round; a repeated reply does nothing.
    assert!(sim.vote_info_reply(1, 2).is_empty());
    assert!(sim.vote_info_reply(1, 2).is_empty());
    assert_eq!(
        sim.cluster.ffsplit.phase,
        algo::ffsplit::ClusterPhase::WaitingForChange
    );
}

#[test]
fn ffsplit_split_tie_breakers() {
    // (tie-breaker, winner, loser)
    let cases = [
        (TieBreaker::Lowest, 1, 2),
        (TieBreaker::Highest, 2, 1),
        (TieBreaker::NodeId(1), 1, 2),
        (TieBreaker::NodeId(2), 2, 1),
        // Nominated node in neither partition: the first candidate (node 1) stays best,
        // because BETTER against "no partition yet" only compares scores.
        (TieBreaker::NodeId(7), 1, 2),
    ];
    for (tb, winner, loser) in cases {
        let mut sim = Sim::new(Algorithm::Ffsplit, tb);
        sim.ffsplit_pair_joined(ring(1, 4));
        let (_, votes) = split_pair(&mut sim, Heuristics::Undefined, Heuristics::Undefined);
        let loser_ring = ring(loser, 8);
        assert_eq!(votes, vec![vi(loser, 2, Vote::Nack, loser_ring)], "{tb:?}");
        assert_eq!(
            sim.vote_info_reply(loser, 2),
            vec![vi(winner, 2, Vote::Ack, ring(winner, 8))],
            "{tb:?}"
        );
    }
}

#[test]
fn ffsplit_heuristics_scores_beat_the_tie_breaker() {
    // (h1, h2, winner)
    let cases = [
        (Heuristics::Undefined, Heuristics::Pass, 2),
        (Heuristics::Fail, Heuristics::Undefined, 2),
        (Heuristics::Fail, Heuristics::Pass, 2),
        (Heuristics::Pass, Heuristics::Pass, 1),
        (Heuristics::Fail, Heuristics::Fail, 1),
        (Heuristics::Pass, Heuristics::Fail, 1),
    ];
    for (h1, h2, winner) in cases {
        let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
        sim.ffsplit_pair_joined(ring(1, 4));
        let loser = 3 - winner;
        let (_, votes) = split_pair(&mut sim, h1, h2);
        assert_eq!(
            votes,
            vec![vi(loser, 2, Vote::Nack, ring(loser, 8))],
            "{h1:?} {h2:?}"
        );
        let acks = sim.vote_info_reply(loser, 2);
        assert_eq!(
            acks,
            vec![vi(winner, 2, Vote::Ack, ring(winner, 8))],
            "{h1:?} {h2:?}"
        );
    }
}

#[test]
fn ffsplit_odd_cluster_needs_a_strict_majority() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Highest);
    let r0 = ring(1, 4);
    sim.join_all(&[1, 2, 3], r0);
    for id in [1, 2, 3] {
        assert_eq!(sim.config(id, &[1, 2, 3], true).0, Ok(Vote::AskLater));
    }
    let (ra, rb) = (ring(1, 9), ring(3, 9));
    // Node 2 still has node 1's old ring: not stable.
    assert_eq!(
        sim.membership(1, ra, &[1, 2], Heuristics::Undefined).0,
        Ok(Vote::WaitForReply)
    );
    // Stable as soon as {1,2} agree (node 3 has reported no membership): {1,2} is 2 of 3
    // and wins; node 3 is NACKed with its stored ring.
    assert_eq!(
        sim.membership(2, ra, &[1, 2], Heuristics::Undefined),
        (Ok(Vote::NoChange), vec![vi(3, 1, Vote::Nack, r0)])
    );
    // Node 3 alone decides again: {1,2} still wins although HIGHEST prefers node 3 and node 3
    // has better heuristics (odd clusters never reach the 50:50 rules).
    let (vote, votes) = sim.membership(3, rb, &[3], Heuristics::Pass);
    assert_eq!(vote, Ok(Vote::NoChange));
    assert_eq!(votes, vec![vi(3, 2, Vote::Nack, rb)]);
    assert!(sim.vote_info_reply(3, 1).is_empty(), "stale");
    assert_eq!(
        sim.vote_info_reply(3, 2),
        vec![vi(1, 1, Vote::Ack, ra), vi(2, 1, Vote::Ack, ra)]
    );
}

#[test]
fn ffsplit_odd_cluster_without_majority_nacks_everybody() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.join_all(&[1, 2, 3], ring(1, 4));
    for id in [1, 2, 3] {
        ok(sim.config(id, &[1, 2, 3], true));
    }
    let r0 = ring(1, 4);
    // Every report is stable (nobody else claims the sender) and no partition has a
    // majority: everybody is NACKed each time, the sender with its new ring.
    assert_eq!(
        sim.membership(1, ring(1, 9), &[1], Heuristics::Pass),
        (
            Ok(Vote::NoChange),
            vec![
                vi(1, 1, Vote::Nack, ring(1, 9)),
                vi(2, 1, Vote::Nack, r0),
                vi(3, 1, Vote::Nack, r0)
            ]
        )
    );
    ok(sim.membership(2, ring(2, 9), &[2], Heuristics::Pass));
    let (vote, votes) = sim.membership(3, ring(3, 9), &[3], Heuristics::Pass);
    assert_eq!(vote, Ok(Vote::NoChange));
    assert_eq!(
        votes,
        vec![
            vi(1, 3, Vote::Nack, ring(1, 9)),
            vi(2, 3, Vote::Nack, ring(2, 9)),
            vi(3, 3, Vote::Nack, ring(3, 9)),
        ]
    );
    assert!(sim.cluster.ffsplit.quorate_partition.is_empty());
    assert!(sim.vote_info_reply(1, 3).is_empty());
    assert!(sim.vote_info_reply(3, 3).is_empty());
    assert!(sim.vote_info_reply(2, 2).is_empty(), "stale");
    assert_eq!(
        sim.cluster.ffsplit.phase,
        algo::ffsplit::ClusterPhase::SendingNacks
    );
    // The last NACK confirmed: there are no ACKs to send, the round is over.
    assert!(sim.vote_info_reply(2, 3).is_empty());
    assert_eq!(
        sim.cluster.ffsplit.phase,
        algo::ffsplit::ClusterPhase::WaitingForChange
    );
}

#[test]
fn ffsplit_even_cluster_majority_and_minority() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.join_all(&[1, 2, 3, 4], ring(1, 4));
    for id in [1, 2, 3, 4] {
        ok(sim.config(id, &[1, 2, 3, 4], true));
    }
    let (ra, rb) = (ring(2, 9), ring(4, 9));
    ok(sim.membership(2, ra, &[2, 3, 4], Heuristics::Undefined));
    ok(sim.membership(3, ra, &[2, 3, 4], Heuristics::Undefined));
    ok(sim.membership(1, rb, &[1], Heuristics::Pass));
    let (vote, votes) = sim.membership(4, ra, &[2, 3, 4], Heuristics::Undefined);
    assert_eq!(vote, Ok(Vote::NoChange));
    assert_eq!(votes, vec![vi(1, 1, Vote::Nack, rb)]);
    let acks = sim.vote_info_reply(1, 1);
    assert_eq!(
        acks,
        vec![
            vi(2, 1, Vote::Ack, ra),
            vi(3, 1, Vote::Ack, ra),
            vi(4, 1, Vote::Ack, ra)
        ]
    );
}

#[test]
fn ffsplit_kap_keeps_the_previous_partition() {
    for kap in [false, true] {
        let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
        let r2 = ring(2, 6);
        // Node 2 runs alone first and gets the vote: quorate partition [2].
        sim.join(2, ring(2, 5));
        sim.node_mut(2).keep_active_partition_tie_breaker = kap;
        ok(sim.config(2, &[1, 2], true));
        let (_, votes) = sim.membership(2, r2, &[2], Heuristics::Undefined);
        assert_eq!(votes, vec![vi(2, 1, Vote::Ack, r2)]);
        assert!(sim.vote_info_reply(2, 1).is_empty());
        assert_eq!(sim.cluster.ffsplit.quorate_partition, [2]);
        // Node 1 comes up but cannot see node 2: a 50:50 split with equal scores.
        let r1 = ring(1, 7);
        sim.join(1, r1);
        sim.node_mut(1).keep_active_partition_tie_breaker = kap;
        ok(sim.config(1, &[1, 2], true));
        let (vote, votes) = sim.membership(1, r1, &[1], Heuristics::Undefined);
        assert_eq!(vote, Ok(Vote::NoChange));
        if kap {
            // KAP: node 2 was in the quorate partition, node 1 was not.
            assert_eq!(votes, vec![vi(1, 1, Vote::Nack, r1)]);
            assert_eq!(sim.vote_info_reply(1, 1), vec![vi(2, 2, Vote::Ack, r2)]);
        } else {
            // Plain LOWEST moves the vote to node 1.
            assert_eq!(votes, vec![vi(2, 2, Vote::Nack, r2)]);
            assert_eq!(sim.vote_info_reply(2, 2), vec![vi(1, 1, Vote::Ack, r1)]);
        }
    }
}

#[test]
fn ffsplit_kap_needs_every_node() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.join(2, ring(2, 5));
    sim.node_mut(2).keep_active_partition_tie_breaker = true;
    ok(sim.config(2, &[1, 2], true));
    ok(sim.membership(2, ring(2, 6), &[2], Heuristics::Undefined));
    sim.vote_info_reply(2, 1);
    sim.join(1, ring(1, 7)); // KAP off on node 1
    ok(sim.config(1, &[1, 2], true));
    let (_, votes) = sim.membership(1, ring(1, 7), &[1], Heuristics::Undefined);
    assert_eq!(votes, vec![vi(2, 2, Vote::Nack, ring(2, 6))]);
}

#[test]
fn ffsplit_unstable_membership_waits_and_sends_nothing() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.ffsplit_pair_joined(ring(1, 4));
    // Node 1 reports a new ring with both nodes; node 2 still has the old one.
    let before = sim.cluster.ffsplit.quorate_partition.clone();
    assert_eq!(
        sim.membership(1, ring(1, 12), &[1, 2], Heuristics::Undefined),
        (Ok(Vote::WaitForReply), vec![])
    );
    assert_eq!(sim.cluster.ffsplit.quorate_partition, before);
    // Config lists that differ are unstable too.
    assert_eq!(
        sim.config(2, &[1, 2, 3], false),
        (Ok(Vote::WaitForReply), vec![])
    );
}

#[test]
fn ffsplit_ask_later_until_config_and_membership_are_known() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.join(1, ring(1, 4));
    // Membership before any config list: ASK_LATER (and it is stored).
    assert_eq!(
        sim.membership(1, ring(1, 4), &[1], Heuristics::Undefined),
        (Ok(Vote::AskLater), vec![])
    );
    assert_eq!(
        sim.heuristics_change(1, Heuristics::Pass),
        (Ok(Vote::AskLater), vec![])
    );
    // INITIAL_CONFIG is always ASK_LATER, CHANGED_CONFIG with a known membership decides.
    assert_eq!(sim.config(1, &[1, 2], true), (Ok(Vote::AskLater), vec![]));
    assert_eq!(
        sim.config(1, &[1, 2], false),
        (Ok(Vote::NoChange), vec![vi(1, 1, Vote::Ack, ring(1, 4))])
    );
    assert_eq!(sim.quorum(1), (Ok(Vote::NoChange), vec![]));
}

#[test]
fn ffsplit_errors() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.join(1, ring(1, 4));
    assert_eq!(
        sim.config(1, &[], true).0,
        Err(ReplyError::InvalidConfigNodeList)
    );
    assert_eq!(
        sim.config(1, &[2, 3], true).0,
        Err(ReplyError::InvalidConfigNodeList)
    );
    let r = ring(1, 5);
    assert_eq!(
        sim.membership(1, r, &[], Heuristics::Undefined).0,
        Err(ReplyError::InvalidMembershipNodeList)
    );
    assert_eq!(
        sim.membership(1, r, &[2], Heuristics::Undefined).0,
        Err(ReplyError::InvalidMembershipNodeList)
    );
    assert_eq!(
        sim.ask(1).0,
        Err(ReplyError::UnsupportedDecisionAlgorithmMessage)
    );
    // Nothing was stored by the failures.
    assert!(sim.node(1).config_nodes.is_empty());
    assert_eq!(sim.node(1).ring_id, ring(1, 4));
}

#[test]
fn ffsplit_heuristics_change_moves_the_vote() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.ffsplit_pair_joined(ring(1, 4));
    ok(split_pair(
        &mut sim,
        Heuristics::Undefined,
        Heuristics::Undefined,
    ));
    sim.vote_info_reply(2, 2); // node 1 gets ACK seq 2
    sim.vote_info_reply(1, 2);
    // Node 2's regular heuristics now pass: it wins; node 1 is NACKed first.
    let (vote, votes) = sim.heuristics_change(2, Heuristics::Pass);
    assert_eq!(vote, Ok(Vote::NoChange));
    assert_eq!(votes, vec![vi(1, 3, Vote::Nack, ring(1, 8))]);
    assert_eq!(
        sim.vote_info_reply(1, 3),
        vec![vi(2, 3, Vote::Ack, ring(2, 8))]
    );
}

#[test]
fn ffsplit_acks_wait_for_every_nack() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.join_all(&[1, 2, 3, 4], ring(1, 4));
    for id in [1, 2, 3, 4] {
        ok(sim.config(id, &[1, 2, 3, 4], true));
    }
    let (ra, rb, rc) = (ring(1, 9), ring(3, 9), ring(4, 9));
    let r0 = ring(1, 4);
    ok(sim.membership(1, ra, &[1, 2], Heuristics::Undefined));
    // {1,2} is half of the cluster and holds the LOWEST node: it wins.
    assert_eq!(
        sim.membership(2, ra, &[1, 2], Heuristics::Undefined),
        (
            Ok(Vote::NoChange),
            vec![vi(3, 1, Vote::Nack, r0), vi(4, 1, Vote::Nack, r0)]
        )
    );
    ok(sim.membership(3, rb, &[3], Heuristics::Undefined));
    let (_, votes) = sim.membership(4, rc, &[4], Heuristics::Undefined);
    assert_eq!(
        votes,
        vec![vi(3, 3, Vote::Nack, rb), vi(4, 3, Vote::Nack, rc)]
    );
    assert!(sim.vote_info_reply(4, 2).is_empty(), "stale");
    assert!(
        sim.vote_info_reply(3, 3).is_empty(),
        "node 4 has not confirmed yet"
    );
    assert_eq!(
        sim.vote_info_reply(4, 3),
        vec![vi(1, 1, Vote::Ack, ra), vi(2, 1, Vote::Ack, ra)]
    );
}

#[test]
fn ffsplit_disconnect_re_decides_for_the_survivor() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.ffsplit_pair_joined(ring(1, 4));
    ok(split_pair(
        &mut sim,
        Heuristics::Undefined,
        Heuristics::Undefined,
    ));
    sim.vote_info_reply(2, 2);
    sim.vote_info_reply(1, 2);
    // Node 1 (holding the vote) goes away: node 2 alone is a 50:50 partition and wins.
    assert_eq!(sim.leave(1), vec![vi(2, 3, Vote::Ack, ring(2, 8))]);
    assert_eq!(sim.node(2).last_sent_vote, Some(Vote::Ack));
}

#[test]
fn ffsplit_disconnect_while_nacks_are_pending_releases_the_acks() {
    let mut sim = Sim::new(Algorithm::Ffsplit, TieBreaker::Lowest);
    sim.ffsplit_pair_joined(ring(1, 4));
    ok(split_pair(
        &mut sim,
        Heuristics::Undefined,
        Heuristics::Undefined,
    ));
    // Node 2 was NACKed and vanishes before confirming: node 1 gets its ACK now.
    assert_eq!(sim.leave(2), vec![vi(1, 2, Vote::Ack, ring(1, 8))]);
}

#[test]
fn ffsplit_disconnect_with_an_empty_config_list_does_not_crash() {
    // Upstream 3.0.3 dereferences the first entry of node 2's empty config list here.
    for tb in [
        TieBreaker::Lowest,
        TieBreaker::Highest,
        TieBreaker::NodeId(2),
    ] {
        let mut sim = Sim::new(Algorithm::Ffsplit, tb);
        sim.join_all(&[1, 2], ring(1, 4));
        ok(sim.config(1, &[1, 2], true));
        ok(sim.membership(1, ring(1, 4), &[1, 2], Heuristics::Undefined));
        // No partition qualifies (node 2's lists are empty): node 2 is NACKed.
        assert_eq!(
            sim.leave(1),
            vec![vi(2, 1, Vote::Nack, ring(1, 4))],
            "{tb:?}"
        );
        // And the last node leaving is fine too.
        assert!(sim.leave(2).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// 2NODELMS

#[test]
fn two_node_lms_config_must_have_two_nodes() {
    let mut sim = Sim::new(Algorithm::TwoNodeLms, TieBreaker::Lowest);
    sim.join(1, ring(1, 4));
    // [verified] error 12 for anything but two entries.
    for ids in [&[1][..], &[1, 2, 3], &[]] {
        assert_eq!(
            sim.config(1, ids, true).0,
            Err(ReplyError::UnsupportedDecisionAlgorithm)
        );
    }
    assert_eq!(sim.config(1, &[1, 2], true).0, Ok(Vote::NoChange));
    assert_eq!(sim.config(1, &[1, 1], false).0, Ok(Vote::NoChange));
}

#[test]
fn two_node_lms_decisions() {
    let mut sim = Sim::new(Algorithm::TwoNodeLms, TieBreaker::Lowest);
    let r0 = ring(1, 4);
    sim.join_all(&[1, 2], r0);
    // [verified] ASK_LATER before any membership.
    assert_eq!(sim.ask(1).0, Ok(Vote::AskLater));
    ok(sim.config(1, &[1, 2], true));
    ok(sim.config(2, &[1, 2], true));
    assert_eq!(
        sim.membership(1, r0, &[1, 2], Heuristics::Undefined).0,
        Ok(Vote::Ack)
    );
    assert_eq!(
        sim.membership(2, r0, &[1, 2], Heuristics::Undefined).0,
        Ok(Vote::Ack)
    );
    assert_eq!(sim.ask(2).0, Ok(Vote::Ack));
    // Split, both still connected: LOWEST keeps node 1.
    assert_eq!(
        sim.membership(2, ring(2, 8), &[2], Heuristics::Undefined).0,
        Ok(Vote::Nack)
    );
    assert_eq!(
        sim.membership(1, ring(1, 8), &[1], Heuristics::Undefined).0,
        Ok(Vote::Ack)
    );
    assert_eq!(sim.ask(2).0, Ok(Vote::Nack));
    assert_eq!(sim.quorum(2).0, Ok(Vote::NoChange));
    assert_eq!(
        sim.heuristics_change(2, Heuristics::Pass).0,
        Ok(Vote::NoChange)
    );
    // Node 1 gone: no re-evaluation for node 2, but its next membership list is ACKed.
    assert!(sim.leave(1).is_empty());
    assert_eq!(sim.ask(2).0, Ok(Vote::Nack));
    assert_eq!(
        sim.membership(2, ring(2, 9), &[2], Heuristics::Undefined).0,
        Ok(Vote::Ack)
    );
}

#[test]
fn two_node_lms_split_rules() {
    // (tie-breaker, h1, h2, vote of node 1, vote of node 2) for a split with both connected.
    use Heuristics::{Fail, Pass, Undefined};
    let cases = [
        (
            TieBreaker::Lowest,
            Undefined,
            Undefined,
            Vote::Ack,
            Vote::Nack,
        ),
        (
            TieBreaker::Highest,
            Undefined,
            Undefined,
            Vote::Nack,
            Vote::Ack,
        ),
        (
            TieBreaker::NodeId(2),
            Undefined,
            Undefined,
            Vote::Nack,
            Vote::Ack,
        ),
        (
            TieBreaker::NodeId(9),
            Undefined,
            Undefined,
            Vote::Nack,
            Vote::Nack,
        ),
        (TieBreaker::Lowest, Undefined, Pass, Vote::Nack, Vote::Ack),
        (TieBreaker::Lowest, Fail, Undefined, Vote::Nack, Vote::Ack),
        (TieBreaker::Highest, Pass, Fail, Vote::Ack, Vote::Nack),
    ];
    for (tb, h1, h2, v1, v2) in cases {
        let mut sim = Sim::new(Algorithm::TwoNodeLms, tb);
        let r0 = ring(1, 4);
        sim.join_all(&[1, 2], r0);
        ok(sim.membership(1, r0, &[1, 2], Heuristics::Undefined));
        ok(sim.membership(2, r0, &[1, 2], Heuristics::Undefined));
        // Each compares with the partner's stored heuristics: store both first.
        sim.node_mut(1).heuristics = h1;
        sim.node_mut(2).heuristics = h2;
        let got1 = sim.membership(1, ring(1, 8), &[1], h1).0;
        let got2 = sim.membership(2, ring(2, 8), &[2], h2).0;
        assert_eq!((got1, got2), (Ok(v1), Ok(v2)), "{tb:?} {h1:?} {h2:?}");
    }
}

#[test]
fn two_node_lms_newcomer_beside_an_active_partition_gets_nack_without_storing_it() {
    let mut sim = Sim::new(Algorithm::TwoNodeLms, TieBreaker::Lowest);
    sim.join(2, ring(2, 5));
    assert_eq!(
        sim.membership(2, ring(2, 5), &[2], Heuristics::Undefined).0,
        Ok(Vote::Ack)
    );
    // Node 1 (preferred by LOWEST) appears in another ring: NACK, and it stays a newcomer.
    sim.join(1, ring(1, 6));
    assert_eq!(
        sim.membership(1, ring(1, 6), &[1], Heuristics::Undefined).0,
        Ok(Vote::Nack)
    );
    assert_eq!(sim.ask(1).0, Ok(Vote::AskLater));
    // Once both see each other it is ACK for both.
    assert_eq!(
        sim.membership(1, ring(1, 7), &[1, 2], Heuristics::Undefined)
            .0,
        Ok(Vote::Nack)
    );
    ok(sim.membership(2, ring(1, 7), &[1, 2], Heuristics::Undefined));
    assert_eq!(
        sim.membership(1, ring(1, 7), &[1, 2], Heuristics::Undefined)
            .0,
        Ok(Vote::Ack)
    );
}

// ---------------------------------------------------------------------------------------------
// LMS

#[test]
fn lms_first_sender_waits_then_timer_sends_ack() {
    // [verified] both nodes send membership (1,8): the first gets WAIT_FOR_REPLY (partner's
    // stored ring still has seq 0), the second ACK, and the first a VOTE_INFO{1, ACK} from
    // its algorithm timer HB/4 later.
    let mut sim = Sim::new(Algorithm::Lms, TieBreaker::Lowest);
    let r = ring(1, 8);
    sim.join_all(&[1, 2], ring(0, 0));
    assert_eq!(sim.config(1, &[1, 2], true).0, Ok(Vote::NoChange));
    assert_eq!(sim.config(2, &[1, 2], true).0, Ok(Vote::NoChange));
    assert_eq!(
        sim.membership(1, r, &[1, 2], Heuristics::Undefined).0,
        Ok(Vote::WaitForReply)
    );
    let t0 = sim.now;
    assert_eq!(
        sim.node(1).algo_timer,
        Some(t0 + Duration::from_millis(u64::from(HB / 4)))
    );
    assert_eq!(
        sim.membership(2, r, &[1, 2], Heuristics::Undefined).0,
        Ok(Vote::Ack)
    );
    assert_eq!(sim.node(2).algo_timer, None);
    sim.now = t0 + Duration::from_millis(2000);
    assert_eq!(
        sim.fire_timer(1),
        (TimerOutcome::SendVote(Vote::Ack), vec![])
    );
    assert_eq!(sim.node(1).algo_timer, None);
    assert_eq!(sim.quorum(1).0, Ok(Vote::Ack));
}

#[test]
fn lms_timer_keeps_waiting_while_rings_differ() {
    let mut sim = Sim::new(Algorithm::Lms, TieBreaker::Lowest);
    sim.join_all(&[1, 2], ring(1, 4));
    ok(sim.membership(1, ring(1, 4), &[1, 2], Heuristics::Undefined));
    ok(sim.membership(2, ring(1, 4), &[1, 2], Heuristics::Undefined));
    // Node 1 moves to a new ring that node 2 has not reported yet.
    ok(sim.membership(1, ring(1, 9), &[1, 2], Heuristics::Undefined));
    assert_eq!(sim.quorum(1).0, Ok(Vote::WaitForReply));
    sim.now += Duration::from_millis(2000);
    assert_eq!(sim.fire_timer(1).0, TimerOutcome::Nothing);
    assert_eq!(
        sim.node(1).algo_timer,
        Some(sim.now + Duration::from_millis(2000))
    );
    ok(sim.membership(2, ring(1, 9), &[1, 2], Heuristics::Undefined));
    sim.now += Duration::from_millis(2000);
    assert_eq!(sim.fire_timer(1).0, TimerOutcome::SendVote(Vote::Ack));
}

#[test]
fn lms_partitions_score_size_and_tie_breaker() {
    use Heuristics::{Fail, Pass, Undefined};
    // Three nodes split into {1,2} and {3}; (tie-breaker, heuristics of 1,2,3, votes).
    let cases = [
        // Score 2 vs 1.
        (
            TieBreaker::Highest,
            [Undefined, Undefined, Undefined],
            [Vote::Ack, Vote::Ack, Vote::Nack],
        ),
        // Score 1 vs 2.
        (
            TieBreaker::Lowest,
            [Fail, Undefined, Pass],
            [Vote::Nack, Vote::Nack, Vote::Ack],
        ),
        // Score 2 vs 2: the larger partition.
        (
            TieBreaker::Highest,
            [Pass, Fail, Pass],
            [Vote::Ack, Vote::Ack, Vote::Nack],
        ),
        // Score 1 vs 1: the larger partition.
        (
            TieBreaker::Highest,
            [Fail, Undefined, Undefined],
            [Vote::Ack, Vote::Ack, Vote::Nack],
        ),
    ];
    for (tb, h, expected) in cases {
        let mut sim = Sim::new(Algorithm::Lms, tb);
        sim.join_all(&[1, 2, 3], ring(0, 0));
        let (ra, rb) = (ring(1, 9), ring(3, 9));
        // First round: establish stored rings (votes not checked).
        ok(sim.membership(1, ra, &[1, 2], h[0]));
        ok(sim.membership(2, ra, &[1, 2], h[1]));
        ok(sim.membership(3, rb, &[3], h[2]));
        let got: Vec<_> = [(1, ra), (2, ra), (3, rb)]
            .iter()
            .map(|&(id, _)| sim.quorum(id).0.unwrap())
            .collect();
        assert_eq!(got, expected, "{tb:?} {h:?}");
    }
}

#[test]
fn lms_equal_partitions_use_the_tie_breaker() {
    // (tie-breaker, vote of 1, vote of 2) for a 2-node split with equal scores.
    let cases = [
        (TieBreaker::Lowest, Vote::Ack, Vote::Nack),
        (TieBreaker::Highest, Vote::Nack, Vote::Ack),
        (TieBreaker::NodeId(2), Vote::Nack, Vote::Ack),
        (TieBreaker::NodeId(5), Vote::Nack, Vote::Nack),
    ];
    for (tb, v1, v2) in cases {
        let mut sim = Sim::new(Algorithm::Lms, tb);
        sim.join_all(&[1, 2], ring(1, 4));
        ok(sim.membership(1, ring(1, 4), &[1, 2], Heuristics::Undefined));
        ok(sim.membership(2, ring(1, 4), &[1, 2], Heuristics::Undefined));
        // Split: each membership list waits (the partner's stored membership still holds the
        // sender, with the old ring); the quorum lists that follow decide.
        ok(sim.membership(1, ring(1, 8), &[1], Heuristics::Undefined));
        ok(sim.membership(2, ring(2, 8), &[2], Heuristics::Undefined));
        assert_eq!(
            (sim.quorum(1).0, sim.quorum(2).0),
            (Ok(v1), Ok(v2)),
            "{tb:?}"
        );
    }
}

#[test]
fn lms_lowest_ignores_node_ids_from_int_max_like_upstream() {
    // Upstream starts the LOWEST search at INT_MAX: with only larger node ids there is no
    // tie-breaker node and both halves of an even split are NACKed.
    let mut sim = Sim::new(Algorithm::Lms, TieBreaker::Lowest);
    let (a, b) = (0x8000_0000, 0x8000_0001);
    sim.join_all(&[a, b], ring(1, 4));
    ok(sim.membership(a, ring(1, 4), &[a, b], Heuristics::Undefined));
    ok(sim.membership(b, ring(1, 4), &[a, b], Heuristics::Undefined));
    ok(sim.membership(a, ring(1, 8), &[a], Heuristics::Undefined));
    ok(sim.membership(b, ring(2, 8), &[b], Heuristics::Undefined));
    assert_eq!(
        (sim.quorum(a).0, sim.quorum(b).0),
        (Ok(Vote::Nack), Ok(Vote::Nack))
    );
    // Below INT_MAX the lowest node wins as expected.
    let mut sim = Sim::new(Algorithm::Lms, TieBreaker::Lowest);
    sim.join_all(&[5, 6], ring(1, 4));
    ok(sim.membership(5, ring(1, 4), &[5, 6], Heuristics::Undefined));
    ok(sim.membership(6, ring(1, 4), &[5, 6], Heuristics::Undefined));
    ok(sim.membership(5, ring(5, 8), &[5], Heuristics::Undefined));
    ok(sim.membership(6, ring(6, 8), &[6], Heuristics::Undefined));
    assert_eq!(
        (sim.quorum(5).0, sim.quorum(6).0),
        (Ok(Vote::Ack), Ok(Vote::Nack))
    );
}

#[test]
fn lms_newcomer_beside_an_active_partition_gets_nack() {
    let mut sim = Sim::new(Algorithm::Lms, TieBreaker::Lowest);
    sim.join(2, ring(2, 5));
    ok(sim.membership(2, ring(2, 5), &[2], Heuristics::Undefined));
    assert_eq!(sim.quorum(2).0, Ok(Vote::Ack));
    sim.join(1, ring(1, 6));
    // Two partitions, node 1 never evaluated, node 2 holds an ACK in another ring.
    assert_eq!(sim.ask(1).0, Ok(Vote::Nack));
    assert_eq!(sim.node(1).algo.last_result, None);
}

#[test]
fn lms_timer_needs_a_schedulable_interval() {
    let mut sim = Sim::new(Algorithm::Lms, TieBreaker::Lowest);
    sim.join_all(&[1, 2], ring(0, 0));
    let me = sim.idx(1);
    let nodes = infos(&[1, 2]);
    let mut votes = Vec::new();
    let ctx = &mut Ctx {
        cluster: &mut sim.cluster,
        me,
        now: sim.now,
        heartbeat_interval: 3, // 3 / 4 == 0 ms: upstream cannot schedule it
        votes: &mut votes,
    };
    let vote = ctx.decision().membership_node_list_received(
        ctx,
        ring(1, 8),
        &nodes,
        Heuristics::Undefined,
    );
    assert_eq!(vote, Ok(Vote::WaitForReply));
    assert_eq!(sim.node(1).algo_timer, None);
}

// ---------------------------------------------------------------------------------------------
// TEST

#[test]
fn test_algorithm_answers() {
    let mut sim = Sim::new(Algorithm::Test, TieBreaker::Lowest);
    sim.join(1, ring(1, 4));
    assert_eq!(sim.config(1, &[1, 2], true).0, Ok(Vote::NoChange));
    assert_eq!(
        sim.membership(1, ring(1, 5), &[1], Heuristics::Undefined).0,
        Ok(Vote::Ack)
    );
    assert_eq!(sim.quorum(1).0, Ok(Vote::NoChange));
    assert_eq!(sim.ask(1).0, Ok(Vote::Ack));
    assert_eq!(
        sim.heuristics_change(1, Heuristics::Fail).0,
        Ok(Vote::NoChange)
    );
    assert!(sim.vote_info_reply(1, 1).is_empty());
    assert_eq!(sim.fire_timer(1).0, TimerOutcome::Nothing);
    assert!(sim.leave(1).is_empty());
}
