//! The TEST algorithm (upstream `qnetd-algo-test.c`): not for production. Membership lists
//! and ASK_FOR_VOTE get ACK, everything else NO_CHANGE.

use super::{Ctx, Decision, NodeData};
use crate::proto::types::{Heuristics, NodeInfo, ReplyError, RingId, Vote};

pub struct Test;

impl Decision for Test {
    fn client_init(&self, ctx: &mut Ctx) {
        let node = &mut ctx.cluster.nodes[ctx.me];
        log::warn!(
            "node {} uses the test decision algorithm, which is not meant for production",
            node.node_id
        );
        node.algo = NodeData::default();
    }

    fn membership_node_list_received(
        &self,
        _ctx: &mut Ctx,
        _ring_id: RingId,
        _nodes: &[NodeInfo],
        _heuristics: Heuristics,
    ) -> Result<Vote, ReplyError> {
        Ok(Vote::Ack)
    }

    fn ask_for_vote_received(&self, _ctx: &mut Ctx) -> Result<Vote, ReplyError> {
        Ok(Vote::Ack)
    }
}
