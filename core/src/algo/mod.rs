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
pub mod test_algorithm;
pub mod two_node_lms;

use std::time::{Duration, Instant};

use crate::cluster::{Cluster, VoteInfo};
use crate::proto::types::{Algorithm, Heuristics, NodeInfo, ReplyError, RingId, TieBreaker, Vote};

/// Upstream's `TIMER_LIST_MAX_INTERVAL` (5 h): longer timers cannot be scheduled.
pub const TIMER_MAX_INTERVAL_MS: u32 = 18_000_000;

pub use crate::cluster::algo_state::NodeData;

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
    /// The caller's algorithm, the one it asked for at INIT: the engine runs each callback
    /// as `ctx.decision().callback(ctx, ...)`.
    pub fn decision(&self) -> &'static dyn Decision {
        decision(self.cluster.nodes[self.me].algorithm)
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

/// One decision algorithm's answers to what its nodes report. Every callback defaults to
/// "no change" (upstream's callbacks that do nothing), so each algorithm's file holds exactly
/// the answers that are its own.
pub trait Decision {
    /// A newly initialised node joined `ctx.cluster` (it is already in the node list).
    fn client_init(&self, ctx: &mut Ctx) {
        ctx.cluster.nodes[ctx.me].algo = NodeData::default();
    }

    /// NODE_LIST of type INITIAL_CONFIG (`initial`) or CHANGED_CONFIG.
    fn config_node_list_received(
        &self,
        _ctx: &mut Ctx,
        _nodes: &[NodeInfo],
        _initial: bool,
    ) -> Result<Vote, ReplyError> {
        Ok(Vote::NoChange)
    }

    /// NODE_LIST of type MEMBERSHIP; `heuristics` is UNDEFINED when the message had none.
    fn membership_node_list_received(
        &self,
        _ctx: &mut Ctx,
        _ring_id: RingId,
        _nodes: &[NodeInfo],
        _heuristics: Heuristics,
    ) -> Result<Vote, ReplyError> {
        Ok(Vote::NoChange)
    }

    /// NODE_LIST of type QUORUM.
    fn quorum_node_list_received(&self, _ctx: &mut Ctx) -> Result<Vote, ReplyError> {
        Ok(Vote::NoChange)
    }

    fn ask_for_vote_received(&self, _ctx: &mut Ctx) -> Result<Vote, ReplyError> {
        Ok(Vote::NoChange)
    }

    /// VOTE_INFO_REPLY carrying `seq`. Never answered.
    fn vote_info_reply_received(&self, _ctx: &mut Ctx, _seq: u32) {}

    fn heuristics_change_received(
        &self,
        _ctx: &mut Ctx,
        _heuristics: Heuristics,
    ) -> Result<Vote, ReplyError> {
        Ok(Vote::NoChange)
    }

    /// The calling node is leaving (it is still in the cluster while this runs; the engine
    /// has already cancelled its timer). `server_going_down`: every node leaves at once.
    fn client_disconnect(&self, _ctx: &mut Ctx, _server_going_down: bool) {}

    /// The caller's algorithm timer fired (the engine has already cleared it).
    fn timer_callback(&self, _ctx: &mut Ctx) -> TimerOutcome {
        TimerOutcome::Nothing
    }
}

/// The algorithm a node asked for at INIT.
fn decision(algorithm: Algorithm) -> &'static dyn Decision {
    match algorithm {
        Algorithm::Test => &test_algorithm::Test,
        Algorithm::Ffsplit => &ffsplit::Ffsplit,
        Algorithm::TwoNodeLms => &two_node_lms::TwoNodeLms,
        Algorithm::Lms => &lms::Lms,
    }
}
