//! What each error reply means, in words a user can act on: the one table, keyed by
//! [`ReplyError`] so the compiler checks it is complete. The engine, which decides every
//! error reply, writes the one log line for it (the user only sees our log; the client only
//! gets the number).

use super::EngineConfig;
use crate::proto::types::ReplyError;

/// The words for `err`, with the limit involved where there is one, and the number
/// (upstream's and qdevice's logs name it).
pub fn words(err: ReplyError, cfg: &EngineConfig) -> String {
    use ReplyError as E;
    let text = match err {
        E::NoError => "no error".to_string(),
        E::UnsupportedNeededMessage => {
            "the client needs a message type this server does not support".to_string()
        }
        E::UnsupportedNeededOption => {
            "the client needs an option this server does not support".to_string()
        }
        E::TlsRequired => "TLS is required on this server (tls req) but the client did not \
                           start TLS; set `tls: on` in the quorum device section of corosync.conf"
            .to_string(),
        E::UnsupportedMessage => "the client sent an unknown message type".to_string(),
        E::MessageTooLong => format!(
            "the client sent a message longer than max_client_receive_size ({} bytes)",
            cfg.max_client_receive_size
        ),
        E::PreinitRequired => "the client sent a message before PREINIT".to_string(),
        E::DoesntContainRequiredOption => {
            "the client's message lacks a required option".to_string()
        }
        E::UnexpectedMessage => "the client sent a message only a server may send".to_string(),
        E::ErrorDecodingMsg => "the client sent a message that cannot be decoded".to_string(),
        E::InternalError => "internal error while answering the client".to_string(),
        E::InitRequired => "the client sent a message before INIT".to_string(),
        E::UnsupportedDecisionAlgorithm => {
            "the client asked for a decision algorithm this server does not support".to_string()
        }
        E::InvalidHeartbeatInterval => format!(
            "the client's heartbeat interval is outside heartbeat_interval_min..max \
             ({}..{} ms); change the qdevice timeout or these settings",
            cfg.heartbeat_interval_min, cfg.heartbeat_interval_max
        ),
        E::UnsupportedDecisionAlgorithmMessage => {
            "the client sent a message its decision algorithm does not support".to_string()
        }
        E::TieBreakerDiffersFromOtherNodes => {
            "the client's tie-breaker differs from the other nodes of its cluster".to_string()
        }
        E::AlgorithmDiffersFromOtherNodes => {
            "the client's decision algorithm differs from the other nodes of its cluster"
                .to_string()
        }
        E::DuplicateNodeId => {
            "another connected client of the same cluster has the same node id".to_string()
        }
        E::InvalidConfigNodeList => {
            "the client sent an invalid configuration node list".to_string()
        }
        E::InvalidMembershipNodeList => {
            "the client sent an invalid membership node list".to_string()
        }
    };
    format!("{text} (error {})", err.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_with_their_values() {
        let cfg = EngineConfig::default();
        let w = words(ReplyError::InvalidHeartbeatInterval, &cfg);
        assert!(
            w.contains("1000..120000 ms") && w.ends_with("(error 13)"),
            "{w}"
        );
        let w = words(ReplyError::MessageTooLong, &cfg);
        assert!(w.contains("32768 bytes") && w.ends_with("(error 5)"), "{w}");
        assert!(words(ReplyError::TlsRequired, &cfg).contains("tls: on"));
    }
}
