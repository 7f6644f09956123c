//! Counts the engine keeps for `/metrics` (`server::http`): plain numbers, no I/O, so the
//! engine stays pure. Kept by enum; the names are the metric labels.

use crate::proto::types::{ReplyError, Vote};

/// Counts by enum: an array indexed by the wire code (`ReplyError` 0..=19, `Vote` 1..=5).
#[derive(Debug, Default, Clone)]
pub struct EngineCounters {
    /// Error replies (SERVER_ERROR, INIT_REPLY with an error) by reason.
    refusals: [u64; ReplyError::ALL.len()],
    /// Votes sent (replies and VOTE_INFO): the decisions taken, by vote.
    votes: [u64; Vote::ALL.len()],
}

impl EngineCounters {
    pub fn refused(&mut self, code: ReplyError) {
        self.refusals[usize::from(code.code())] += 1;
    }

    pub fn vote_sent(&mut self, vote: Vote) {
        self.votes[usize::from(vote as u8 - 1)] += 1;
    }

    /// (vote word, count) in word order; votes never sent are absent.
    pub fn votes(&self) -> impl Iterator<Item = (&'static str, u64)> {
        by_name(Vote::ALL.iter().zip(self.votes).map(|(v, n)| (v.word(), n)))
    }

    /// (reason, count) in name order; reasons never seen are absent.
    pub fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> {
        by_name(
            ReplyError::ALL
                .iter()
                .zip(self.refusals)
                .map(|(r, n)| (reason_name(*r), n)),
        )
    }
}

/// Metric labels sort by name, whatever order the enum's codes have; zero counts are left out.
fn by_name(
    counts: impl Iterator<Item = (&'static str, u64)>,
) -> std::vec::IntoIter<(&'static str, u64)> {
    let mut counts: Vec<_> = counts.filter(|(_, n)| *n > 0).collect();
    counts.sort_unstable();
    counts.into_iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_name() {
        let mut c = EngineCounters::default();
        c.refused(ReplyError::TlsRequired);
        c.refused(ReplyError::TlsRequired);
        c.refused(ReplyError::DuplicateNodeId);
        c.vote_sent(Vote::Ack);
        let refusals: Vec<_> = c.refusals().collect();
        assert_eq!(refusals, [("duplicate_node_id", 1), ("tls_required", 2)]);
        assert_eq!(c.votes().collect::<Vec<_>>(), [("ack", 1)]);
    }

    #[test]
    fn every_code_has_its_place() {
        for (i, e) in ReplyError::ALL.iter().enumerate() {
            assert_eq!(usize::from(e.code()), i);
        }
        for (i, v) in Vote::ALL.iter().enumerate() {
            assert_eq!(Vote::from_u8(i as u8 + 1), Some(*v));
        }
        let mut c = EngineCounters::default();
        for e in ReplyError::ALL {
            c.refused(e);
        }
        for v in Vote::ALL {
            c.vote_sent(v);
        }
        assert_eq!(c.refusals().count(), ReplyError::ALL.len());
        assert_eq!(c.votes().count(), Vote::ALL.len());
    }
}
