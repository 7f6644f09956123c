//! What a real corosync client can send, and so what the engine keeps at most per client.
//!
//! Whatever a client sends is bounded by the receive limit (32 KiB by default), but a
//! 32,000-byte cluster name or three lists of 2,000 nodes would each be kept for the life of
//! the connection. Real clients stay far below (docs/protocol.md, "Limits"):
//!
//! - The cluster name is corosync's `totem.cluster_name`, read from one corosync.conf line by
//!   `fgets` into a 512-byte buffer (corosync `exec/coroparse.c`, `char line[512]`), so it is
//!   shorter than 512 bytes.
//! - A node list names corosync nodes: at most `PROCESSOR_COUNT_MAX`, 384
//!   (corosync `include/corosync/totem/totem.h`; votequorum, cpg and totemsrp size their member
//!   arrays with it).
//!
//! A message beyond these is answered as upstream answers a message it cannot decode:
//! SERVER_ERROR ERROR_DECODING_MSG, with the SEQ, and nothing of it is kept.

use crate::proto::types::Message;

/// The longest cluster name kept, in bytes.
pub const MAX_CLUSTER_NAME_LEN: usize = 512;

/// The most nodes a node list may name.
pub const MAX_NODE_LIST_LEN: usize = 384;

/// Why `msg` exceeds what a real client sends, or None.
pub fn exceeded(msg: &Message) -> Option<String> {
    if let Some(name) = &msg.cluster_name {
        if name.len() > MAX_CLUSTER_NAME_LEN {
            return Some(format!(
                "a {}-byte cluster name (corosync's are below {MAX_CLUSTER_NAME_LEN} bytes)",
                name.len()
            ));
        }
    }
    if msg.nodes.len() > MAX_NODE_LIST_LEN {
        return Some(format!(
            "a list of {} nodes (corosync has at most {MAX_NODE_LIST_LEN})",
            msg.nodes.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::{MsgType, NodeInfo};

    #[test]
    fn names_and_lists_at_the_caps_pass_and_beyond_them_do_not() {
        let mut m = Message::new(MsgType::Preinit);
        m.cluster_name = Some(vec![b'x'; MAX_CLUSTER_NAME_LEN]);
        assert_eq!(exceeded(&m), None);
        m.cluster_name = Some(vec![b'x'; MAX_CLUSTER_NAME_LEN + 1]);
        assert!(exceeded(&m).unwrap().contains("513-byte cluster name"));
        let mut m = Message::new(MsgType::NodeList);
        m.nodes = (1..=384).map(NodeInfo::new).collect();
        assert_eq!(exceeded(&m), None);
        m.nodes.push(NodeInfo::new(385));
        assert!(exceeded(&m).unwrap().contains("385 nodes"));
    }
}
