//! Counts the engine keeps for `/metrics` (`server::http`): plain numbers, no I/O, so the
//! engine stays pure.

use crate::proto::types::ReplyError;
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct EngineCounters {
    /// Error replies (SERVER_ERROR, INIT_REPLY with an error) by reason.
    refusals: BTreeMap<&'static str, u64>,
}

impl EngineCounters {
    pub fn refused(&mut self, code: ReplyError) {
        *self.refusals.entry(reason_name(code)).or_default() += 1;
    }

    /// (reason, count) in name order; reasons never seen are absent.
    pub fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.refusals.iter().map(|(k, v)| (*k, *v))
    }
}

/// A stable snake_case name for a reply error, for metric labels.
pub fn reason_name(code: ReplyError) -> &'static str {
    use ReplyError::*;
    match code {
        NoError => "no_error",
        UnsupportedNeededMessage => "unsupported_needed_message",
        UnsupportedNeededOption => "unsupported_needed_option",
        TlsRequired => "tls_required",
        UnsupportedMessage => "unsupported_message",
        MessageTooLong => "message_too_long",
        PreinitRequired => "preinit_required",
        DoesntContainRequiredOption => "missing_required_option",
        UnexpectedMessage => "unexpected_message",
        ErrorDecodingMsg => "error_decoding_message",
        InternalError => "internal_error",
        InitRequired => "init_required",
        UnsupportedDecisionAlgorithm => "unsupported_decision_algorithm",
        InvalidHeartbeatInterval => "invalid_heartbeat_interval",
        UnsupportedDecisionAlgorithmMessage => "unsupported_decision_algorithm_message",
        TieBreakerDiffersFromOtherNodes => "tie_breaker_differs",
        AlgorithmDiffersFromOtherNodes => "algorithm_differs",
        DuplicateNodeId => "duplicate_node_id",
        InvalidConfigNodeList => "invalid_config_node_list",
        InvalidMembershipNodeList => "invalid_membership_node_list",
    }
}
