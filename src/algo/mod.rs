//! Decision algorithms (upstream `qnetd-algorithm.c` and `qnetd-algo-*.c`): given what the
//! clients of a cluster reported, decide which of them get the qdevice vote.
//!
//! Every callback works on one [`Cluster`] on behalf of one calling node (`Ctx::me`). As
//! upstream, a callback sees the caller's *old* stored lists and ring id; the new values
//! arrive as parameters and the engine stores them only after the callback succeeded.
//! Votes for other nodes (or the caller, out of band) are pushed to `Ctx::votes` as
//! [`VoteInfo`]s, already recorded as the target's last sent vote.

pub mod ffsplit;
pub mod lms;
pub mod test;
pub mod two_node_lms;

use std::time::{Duration, Instant};

use crate::cluster::{Cluster, VoteInfo};
use crate::proto::types::{Algorithm, Heuristics, NodeInfo, ReplyError, RingId, TieBreaker, Vote};

/// Upstream's `TIMER_LIST_MAX_INTERVAL` (5 h): longer timers cannot be scheduled.
pub const TIMER_MAX_INTERVAL_MS: u32 = 18_000_000;

/// Per-node data of every algorithm (a node only ever uses the part of its own algorithm).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeData {
    pub ffsplit: ffsplit::NodeData,
    /// 2NODELMS and LMS: entries in the last config node list.
    pub num_config_nodes: usize,
    /// 2NODELMS and LMS: the last stored result; None = never evaluated ("newcomer").
    pub last_result: Option<Vote>,
}

/// ACK if `cond`, else NACK.
pub fn ack_if(cond: bool) -> Vote {
    if cond {
        Vote::Ack
    } else {
        Vote::Nack
    }
}

/// The node a LOWEST/HIGHEST/node-id tie-breaker names among `ids`; None for LOWEST or
/// HIGHEST over no ids.
pub fn tie_breaker_node(tb: TieBreaker, ids: impl Iterator<Item = u32>) -> Option<u32> {
    match tb {
        TieBreaker::Lowest => ids.min(),
        TieBreaker::Highest => ids.max(),
        TieBreaker::NodeId(id) => Some(id),
    }
}

/// One algorithm callback's view: the caller's cluster, which node is calling, the time, and
/// where server-initiated votes go.
pub struct Ctx<'a> {
    pub cluster: &'a mut Cluster,
    /// Index of the calling node in `cluster.nodes`.
    pub me: usize,
    pub now: Instant,
    /// The caller's heartbeat interval (the LMS algorithm timer runs at a quarter of it).
    pub heartbeat_interval: u32,
    pub votes: &'a mut Vec<VoteInfo>,
}

impl Ctx<'_> {
    fn algorithm(&self) -> Algorithm {
        self.cluster.nodes[self.me].algorithm
    }

    /// (Re)arm the caller's algorithm timer at `heartbeat_interval / 4` ms. Like upstream, an
    /// interval outside 1..=TIMER_MAX_INTERVAL_MS cannot be scheduled and leaves no timer.
    pub fn schedule_timer(&mut self) {
        let interval = self.heartbeat_interval / 4;
        let node = &mut self.cluster.nodes[self.me];
        node.algo_timer = if (1..=TIMER_MAX_INTERVAL_MS).contains(&interval) {
            Some(self.now + Duration::from_millis(u64::from(interval)))
        } else {
            None
        };
    }

    pub fn cancel_timer(&mut self) {
        self.cluster.nodes[self.me].algo_timer = None;
    }
}

/// What the algorithm timer asks for when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerOutcome {
    /// Nothing to send.
    Nothing,
    /// Send this vote to the caller in a VOTE_INFO (timer sequence numbers).
    SendVote(Vote),
    /// Send SERVER_ERROR without SEQ.
    Error(ReplyError),
}

/// A newly initialised node joined `ctx.cluster` (it is already in the node list).
pub fn client_init(ctx: &mut Ctx) {
    match ctx.algorithm() {
        Algorithm::Test => test::client_init(ctx),
        Algorithm::Ffsplit => ffsplit::client_init(ctx),
        Algorithm::TwoNodeLms | Algorithm::Lms => {
            ctx.cluster.nodes[ctx.me].algo = NodeData::default();
        }
    }
}

/// NODE_LIST of type INITIAL_CONFIG (`initial`) or CHANGED_CONFIG.
pub fn config_node_list_received(
    ctx: &mut Ctx,
    nodes: &[NodeInfo],
    initial: bool,
) -> Result<Vote, ReplyError> {
    match ctx.algorithm() {
        Algorithm::Test => Ok(Vote::NoChange),
        Algorithm::Ffsplit => ffsplit::config_node_list_received(ctx, nodes, initial),
        Algorithm::TwoNodeLms => two_node_lms::config_node_list_received(ctx, nodes),
        Algorithm::Lms => lms::config_node_list_received(ctx, nodes),
    }
}

/// NODE_LIST of type MEMBERSHIP; `heuristics` is UNDEFINED when the message had none.
pub fn membership_node_list_received(
    ctx: &mut Ctx,
    ring_id: RingId,
    nodes: &[NodeInfo],
    heuristics: Heuristics,
) -> Result<Vote, ReplyError> {
    match ctx.algorithm() {
        Algorithm::Test => Ok(Vote::Ack),
        Algorithm::Ffsplit => {
            ffsplit::membership_node_list_received(ctx, ring_id, nodes, heuristics)
        }
        Algorithm::TwoNodeLms => {
            two_node_lms::membership_node_list_received(ctx, ring_id, nodes, heuristics)
        }
        Algorithm::Lms => Ok(lms::run(ctx, ring_id)),
    }
}

/// NODE_LIST of type QUORUM.
pub fn quorum_node_list_received(ctx: &mut Ctx) -> Result<Vote, ReplyError> {
    match ctx.algorithm() {
        Algorithm::Lms => {
            let ring_id = ctx.cluster.nodes[ctx.me].ring_id;
            Ok(lms::run(ctx, ring_id))
        }
        Algorithm::Test | Algorithm::Ffsplit | Algorithm::TwoNodeLms => Ok(Vote::NoChange),
    }
}

pub fn ask_for_vote_received(ctx: &mut Ctx) -> Result<Vote, ReplyError> {
    match ctx.algorithm() {
        Algorithm::Test => Ok(Vote::Ack),
        Algorithm::Ffsplit => Err(ReplyError::UnsupportedDecisionAlgorithmMessage),
        Algorithm::TwoNodeLms => Ok(ctx.cluster.nodes[ctx.me]
            .algo
            .last_result
            .unwrap_or(Vote::AskLater)),
        Algorithm::Lms => {
            let ring_id = ctx.cluster.nodes[ctx.me].ring_id;
            Ok(lms::run(ctx, ring_id))
        }
    }
}

/// VOTE_INFO_REPLY carrying `seq`. Never answered.
pub fn vote_info_reply_received(ctx: &mut Ctx, seq: u32) -> Result<(), ReplyError> {
    if ctx.algorithm() == Algorithm::Ffsplit {
        ffsplit::vote_info_reply_received(ctx, seq);
    }
    Ok(())
}

pub fn heuristics_change_received(
    ctx: &mut Ctx,
    heuristics: Heuristics,
) -> Result<Vote, ReplyError> {
    match ctx.algorithm() {
        Algorithm::Ffsplit => ffsplit::heuristics_change_received(ctx, heuristics),
        Algorithm::Test | Algorithm::TwoNodeLms | Algorithm::Lms => Ok(Vote::NoChange),
    }
}

/// The calling node is leaving (it is still in the cluster while this runs).
pub fn client_disconnect(ctx: &mut Ctx, server_going_down: bool) {
    ctx.cancel_timer();
    if ctx.algorithm() == Algorithm::Ffsplit && !server_going_down {
        ffsplit::client_disconnect(ctx);
    }
}

/// The caller's algorithm timer fired (the engine has already cleared it).
pub fn timer_callback(ctx: &mut Ctx) -> TimerOutcome {
    match ctx.algorithm() {
        Algorithm::Lms => lms::timer_callback(ctx),
        Algorithm::Test | Algorithm::Ffsplit | Algorithm::TwoNodeLms => TimerOutcome::Nothing,
    }
}
