//! The TEST algorithm (upstream `qnetd-algo-test.c`): not for production. Membership lists
//! and ASK_FOR_VOTE get ACK, everything else NO_CHANGE; the answers are wired in
//! [`super`]'s dispatch, this module only holds what is specific to it.

use super::{Ctx, NodeData};

pub fn client_init(ctx: &mut Ctx) {
    let node = &mut ctx.cluster.nodes[ctx.me];
    log::warn!(
        "node {} uses the test decision algorithm, which is not meant for production",
        node.node_id
    );
    node.algo = NodeData::default();
}
