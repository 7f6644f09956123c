//! INIT: the TLS gate's outcome, upstream's check cascade in upstream's order, the reply
//! and the one log line.

use super::*;
use crate::proto::types::TieBreaker;

impl Engine {
    pub(super) fn on_init(&mut self, id: ClientId, msg: &Message, now: Instant) {
        if !self.tls_gate(id, msg) {
            return;
        }
        let code = self.init_cascade(id, msg, now);
        self.log_init(id, msg, code, now);
        self.send_init_reply(id, msg, code);
    }

    fn send_init_reply(&mut self, id: ClientId, msg: &Message, code: ReplyError) {
        let mut reply = Message::new(MsgType::InitReply);
        reply.reply_error_code = Some(code.code());
        reply.supported_messages = msg
            .supported_messages
            .as_ref()
            .map(|_| advertised_messages());
        reply.supported_options = msg.supported_options.as_ref().map(|_| advertised_options());
        reply.seq = msg.seq;
        reply.server_max_request_size = Some(self.cfg.max_client_receive_size);
        reply.server_max_reply_size = Some(self.cfg.max_client_send_size);
        reply.supported_algorithms = Some(advertised_algorithms());
        self.send(id, &reply);
    }

    /// `frame`, from a client whose INIT the driver refuses for a limit of its own (its
    /// source address has its share of sessions): an INIT passes the TLS gate as any INIT,
    /// then is answered INTERNAL_ERROR (10; upstream's code for "cannot take this client
    /// now") without the cascade, and the client is disconnected with `why`, as qdevice
    /// would disconnect on the error anyway. Any other frame is handled as usual.
    pub fn frame_received_init_refused(
        &mut self,
        id: ClientId,
        frame: Frame,
        why: &str,
        now: Instant,
    ) -> Vec<Output> {
        let msg = match &frame {
            Frame::Message(raw) => decode(raw).ok().filter(|m| m.msg_type == MsgType::Init),
            Frame::Skipped(_) => None,
        };
        // The driver asks only before INIT; a member's second INIT is the cascade's.
        let Some(msg) = msg.filter(|_| self.clients.contains_key(&id) && !self.is_initialised(id))
        else {
            return self.frame_received(id, frame, now);
        };
        if let Some(client) = self.clients.get_mut(&id) {
            client.last_activity = now;
            client.dpd_epoch = now;
        }
        if self.tls_gate(id, &msg) {
            let code = ReplyError::InternalError;
            self.counters.refused(code);
            self.send_init_reply(id, &msg, code);
            let cluster = self
                .clients
                .get(&id)
                .and_then(|c| c.phase.name().map(<[u8]>::to_vec));
            let reason = CloseReason::InitRefused {
                node_id: msg.node_id.unwrap_or(0),
                cluster: cluster.unwrap_or_default(),
                code,
                why: why.to_string(),
            };
            self.doom(id, reason);
        }
        self.finish(now)
    }

    /// One line per INIT for the operator: who joined which cluster, or why not (the only
    /// line for a refused INIT).
    pub(super) fn log_init(&mut self, id: ClientId, msg: &Message, code: ReplyError, now: Instant) {
        if code != ReplyError::NoError {
            self.counters.refused(code);
        }
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        let cluster = crate::escape::escape(client.phase.name().unwrap_or_default());
        let node = msg.node_id.unwrap_or(0);
        if code == ReplyError::NoError {
            let algorithm = msg
                .decision_algorithm
                .and_then(Algorithm::from_u16)
                .map_or("?", Algorithm::as_str);
            // Rate-limited: a restart of a big site, or a flood, would otherwise write one
            // line per node and push everything else out of a router's log buffer.
            crate::ratelog::log_at(
                now,
                log::Level::Info,
                "joined",
                format_args!(
                    "client {}: node {node} of cluster '{cluster}' joined ({algorithm})",
                    client.addr
                ),
            );
        } else {
            crate::ratelog::log_at(
                now,
                log::Level::Warn,
                "INIT refused",
                format_args!(
                    "client {} refused: INIT of node {node} for cluster '{cluster}': {}",
                    client.addr,
                    super::refusal::words(code, &self.cfg)
                ),
            );
        }
    }

    /// Upstream's INIT checks in upstream's order, quirks included (docs/protocol.md,
    /// "INIT checks" and "Second INIT of a member"): a later check may overwrite an earlier error (13 for the heartbeat, 12 for
    /// the algorithm), and values are stored even when an earlier check failed.
    ///
    /// A client that already completed INIT is answered 17 (or the earlier error). Of the
    /// fields upstream then overwrites in a live member, only the ring id is taken over, as
    /// upstream does (replies carry it). Deviation: the member keeps its node id, heartbeat
    /// interval, tie-breaker and algorithm, where upstream would store the INIT's (zero when
    /// absent: tie-breaker mode 0, which no algorithm knows).
    pub(super) fn init_cascade(&mut self, id: ClientId, msg: &Message, now: Instant) -> ReplyError {
        let Some(initialised) = self.clients.get(&id).map(|c| c.joined) else {
            return ReplyError::InternalError;
        };
        let request = match self.init_checks(id, msg, now, initialised) {
            Ok(request) => request,
            Err(code) => return code,
        };
        if let Some(code) = self.conflict_in_cluster(id, &request) {
            return code;
        }
        if initialised {
            return ReplyError::DuplicateNodeId;
        }
        self.join(id, request, now);
        ReplyError::NoError
    }

    /// The field checks of the cascade, each run whatever an earlier one found (a later
    /// error overwrites an earlier one, as upstream's), with their side effects on the
    /// client: the ring id of a member, the heartbeat interval and DPD timer of a newcomer.
    fn init_checks(
        &mut self,
        id: ClientId,
        msg: &Message,
        now: Instant,
        initialised: bool,
    ) -> Result<InitRequest, ReplyError> {
        use ReplyError::{DoesntContainRequiredOption as Missing, NoError};
        let cluster_name = self
            .clients
            .get(&id)
            .and_then(|c| c.phase.name().map(<[u8]>::to_vec));
        let mut err = if cluster_name.is_none() {
            ReplyError::PreinitRequired
        } else {
            NoError
        };
        if err == NoError && msg.node_id.is_none() {
            err = Missing;
        }
        let ring_id = msg.ring_id.unwrap_or_default();
        if err == NoError && msg.ring_id.is_none() {
            err = Missing;
        } else if initialised {
            // Upstream stores the INIT's ring id (0.0 when absent) whenever this check does
            // not fail, so a member's refused second INIT replaces the ring id its later
            // replies carry.
            if let Some(node) = self.node_mut(id) {
                node.ring_id = ring_id;
            }
        }
        if err == NoError && msg.heartbeat_interval.is_none() {
            err = Missing;
        } else if let Some(code) = self.take_heartbeat(id, msg, now, initialised) {
            err = code;
        }
        if err == NoError && msg.tie_breaker.is_none() {
            err = Missing;
        }
        let algorithm = if err == NoError && msg.decision_algorithm.is_none() {
            err = Missing;
            None
        } else {
            let algorithm = Algorithm::from_u16(msg.decision_algorithm.unwrap_or(0));
            if algorithm.is_none() {
                err = ReplyError::UnsupportedDecisionAlgorithm;
            }
            algorithm
        };
        match (err, cluster_name, msg.tie_breaker, algorithm) {
            (NoError, Some(name), Some(tie_breaker), Some(algorithm)) => Ok(InitRequest {
                name,
                node_id: msg.node_id.unwrap_or(0),
                ring_id,
                tie_breaker,
                algorithm,
            }),
            _ => Err(err),
        }
    }

    /// The heartbeat check. It runs even after an earlier error, with 0 for a missing value:
    /// hence error 13 for INIT {SEQ, NODE_ID} before PREINIT. A newcomer's valid interval is
    /// stored and arms its dead-peer timer.
    fn take_heartbeat(
        &mut self,
        id: ClientId,
        msg: &Message,
        now: Instant,
        initialised: bool,
    ) -> Option<ReplyError> {
        let hb = msg.heartbeat_interval.unwrap_or(0);
        if !self.heartbeat_in_range(hb) {
            return Some(ReplyError::InvalidHeartbeatInterval);
        }
        if initialised {
            return None;
        }
        if let Some(client) = self.clients.get_mut(&id) {
            client.heartbeat_interval = hb;
        }
        (!self.rearm_dpd(id, now)).then_some(ReplyError::InvalidHeartbeatInterval)
    }

    /// What the cluster's other nodes forbid: the same client or node id twice, another
    /// tie-breaker or another algorithm.
    fn conflict_in_cluster(&self, id: ClientId, request: &InitRequest) -> Option<ReplyError> {
        let cluster = self.clusters.find(&request.name)?;
        cluster.nodes.iter().find_map(|other| {
            if other.client == id {
                Some(ReplyError::DuplicateNodeId)
            } else if other.tie_breaker != request.tie_breaker {
                Some(ReplyError::TieBreakerDiffersFromOtherNodes)
            } else if other.algorithm != request.algorithm {
                Some(ReplyError::AlgorithmDiffersFromOtherNodes)
            } else if other.node_id == request.node_id {
                Some(ReplyError::DuplicateNodeId)
            } else {
                None
            }
        })
    }

    /// The client joins its cluster (keyed by the phase's name, the one a certificate was
    /// verified for) and the algorithm hears of it.
    fn join(&mut self, id: ClientId, request: InitRequest, now: Instant) {
        let mut node = Node::new(
            id,
            request.node_id,
            request.algorithm,
            request.tie_breaker,
            request.ring_id,
        );
        node.keep_active_partition_tie_breaker = self.cfg.keep_active_partition_tie_breaker;
        let (cluster, me) = self.clusters.add_node(&request.name, node);
        if let Some(client) = self.clients.get_mut(&id) {
            client.joined = true;
        }
        let hb = self.clients.get(&id).map_or(0, |c| c.heartbeat_interval);
        let mut votes = Vec::new();
        let ctx = &mut Ctx {
            cluster,
            me,
            now,
            heartbeat_interval: hb,
            votes: &mut votes,
        };
        ctx.decision().client_init(ctx);
        self.send_vote_infos(votes);
    }
}

/// An INIT that passed the field checks.
struct InitRequest {
    name: Vec<u8>,
    node_id: u32,
    ring_id: RingId,
    tie_breaker: TieBreaker,
    algorithm: Algorithm,
}
