//! The message handlers: dispatch by type, the TLS and INIT gates, and each message but INIT
//! (`init.rs`).

use super::*;

impl Engine {
    // -----------------------------------------------------------------------------------
    // Messages

    pub(super) fn message_received(&mut self, id: ClientId, raw: &[u8], now: Instant) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.last_activity = now;
            client.dpd_epoch = now;
        }
        match decode(raw) {
            Ok(msg) => match limits::exceeded(&msg) {
                None => self.dispatch(id, msg, raw, now),
                Some(what) => {
                    debug!("client {id}: {what}");
                    self.send_error(id, msg.seq, ReplyError::ErrorDecodingMsg);
                }
            },
            Err(e) => {
                debug!("client {id}: undecodable message: {e}");
                let code = match e.reason {
                    DecodeErrorKind::UnknownMessageType { .. } => ReplyError::UnsupportedMessage,
                    _ => ReplyError::ErrorDecodingMsg,
                };
                self.send_error(id, e.seq, code);
            }
        }
    }

    pub(super) fn dispatch(&mut self, id: ClientId, mut msg: Message, raw: &[u8], now: Instant) {
        if msg.msg_type == MsgType::NodeList {
            // The list is kept for the client's life: moved, not copied.
            return self.on_node_list(id, &mut msg, now);
        }
        let msg = &msg;
        match msg.msg_type {
            MsgType::Preinit => self.on_preinit(id, msg),
            MsgType::StartTls => self.on_starttls(id, msg),
            MsgType::Init => self.on_init(id, msg, now),
            MsgType::SetOption => self.on_set_option(id, msg, now),
            MsgType::EchoRequest => self.on_echo_request(id, msg, raw),
            MsgType::AskForVote => self.on_ask_for_vote(id, msg, now),
            MsgType::VoteInfoReply => self.on_vote_info_reply(id, msg, now),
            MsgType::HeuristicsChange => self.on_heuristics_change(id, msg, now),
            MsgType::NodeList => {} // handled above
            MsgType::PreinitReply
            | MsgType::InitReply
            | MsgType::ServerError
            | MsgType::SetOptionReply
            | MsgType::EchoReply
            | MsgType::NodeListReply
            | MsgType::AskForVoteReply
            | MsgType::VoteInfo
            | MsgType::HeuristicsChangeReply => {
                self.send_error(id, msg.seq, ReplyError::UnexpectedMessage)
            }
        }
    }

    /// The TLS gate (upstream `qnetd_client_msg_received_check_tls`): true = go on. A
    /// certificate is checked against the PREINIT name the phase holds, and the phase then
    /// holds that name as the one verified.
    pub(super) fn tls_gate(&mut self, id: ClientId, msg: &Message) -> bool {
        let cert_required = self.cfg.client_cert_required;
        let tls_mode = self.cfg.tls;
        let Some(client) = self.clients.get_mut(&id) else {
            return false;
        };
        let tls_required = tls_mode == TlsMode::Required;
        if tls_required && !client.phase.tls_started() {
            self.send_error(id, msg.seq, ReplyError::TlsRequired);
            return false;
        }
        let check_certificate = tls_mode != TlsMode::Unsupported && cert_required;
        let Phase::Tls { name, peer } = &mut client.phase else {
            return true;
        };
        if !check_certificate {
            return true;
        }
        match verify_peer(peer.as_ref(), Some(name)) {
            Ok(()) => {
                client.phase = Phase::Verified(std::mem::take(name));
                true
            }
            Err(refusal) => {
                self.doom(id, CloseReason::Certificate(refusal));
                false
            }
        }
    }

    /// The gate plus "INIT must have succeeded" (error 11), shared by the post-INIT messages.
    pub(super) fn gate_initialised(&mut self, id: ClientId, msg: &Message) -> bool {
        if !self.tls_gate(id, msg) {
            return false;
        }
        if !self.is_initialised(id) {
            self.send_error(id, msg.seq, ReplyError::InitRequired);
            return false;
        }
        true
    }

    /// PREINIT names the client's cluster. As upstream, a later PREINIT replaces the name
    /// while the connection is plaintext and not INIT'd. Once TLS has started the session is
    /// for that name: another name disconnects the client (upstream replaces it, which let a
    /// certificate verified for one cluster INIT into another). Once INIT succeeded on a
    /// plaintext connection, the reply is upstream's but the client keeps its cluster's name,
    /// so a later STARTTLS certificate is checked against the cluster it is in.
    pub(super) fn on_preinit(&mut self, id: ClientId, msg: &Message) {
        let Some(name) = &msg.cluster_name else {
            self.send_error(id, msg.seq, ReplyError::DoesntContainRequiredOption);
            return;
        };
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let tls = client.phase.tls_started();
        match client.phase.name() {
            Some(current) if tls && current != name.as_slice() => {
                let reason = CloseReason::PreinitOtherCluster {
                    asked: name.clone(),
                    current: current.to_vec(),
                };
                self.doom(id, reason);
                return;
            }
            _ if tls || client.joined => {}
            _ => client.phase = Phase::Named(name.clone()),
        }
        let mut reply = Message::new(MsgType::PreinitReply);
        reply.seq = msg.seq;
        reply.tls_supported = Some(self.cfg.tls);
        reply.tls_client_cert_required = Some(u8::from(self.cfg.client_cert_required));
        self.send(id, &reply);
    }

    pub(super) fn on_starttls(&mut self, id: ClientId, msg: &Message) {
        let tls_off = self.cfg.tls == TlsMode::Unsupported;
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        match &mut client.phase {
            Phase::Connected => self.send_error(id, msg.seq, ReplyError::PreinitRequired),
            _ if tls_off => self.doom(id, CloseReason::TlsDisabled),
            Phase::Tls { .. } | Phase::Verified(_) => self.doom(id, CloseReason::TlsAlreadyStarted),
            Phase::Named(name) => {
                client.phase = Phase::Tls {
                    name: std::mem::take(name),
                    peer: None,
                };
                self.out.push(Output::StartTls(id));
            }
        }
    }

    pub(super) fn on_set_option(&mut self, id: ClientId, msg: &Message, now: Instant) {
        if !self.gate_initialised(id, msg) {
            return;
        }
        if let Some(hb) = msg.heartbeat_interval {
            if !self.heartbeat_in_range(hb) {
                self.send_error(id, msg.seq, ReplyError::InvalidHeartbeatInterval);
                return;
            }
            if let Some(client) = self.clients.get_mut(&id) {
                client.heartbeat_interval = hb;
            }
            if !self.rearm_dpd(id, now) {
                self.send_error(id, msg.seq, ReplyError::InvalidHeartbeatInterval);
                return;
            }
        }
        let mut kap = None;
        if let Some(node) = self.node_mut(id) {
            if let Some(value) = msg.keep_active_partition_tie_breaker {
                node.keep_active_partition_tie_breaker = value;
            }
            kap = Some(node.keep_active_partition_tie_breaker);
        }
        let hb = self.clients.get(&id).map(|c| c.heartbeat_interval);
        let mut reply = Message::new(MsgType::SetOptionReply);
        reply.seq = msg.seq;
        reply.heartbeat_interval = msg.heartbeat_interval.and(hb);
        reply.keep_active_partition_tie_breaker = msg.keep_active_partition_tie_breaker.and(kap);
        self.send(id, &reply);
    }

    pub(super) fn on_echo_request(&mut self, id: ClientId, msg: &Message, raw: &[u8]) {
        if self.gate_initialised(id, msg) {
            self.send_raw(id, with_type(raw, MsgType::EchoReply));
        }
    }

    pub(super) fn on_node_list(&mut self, id: ClientId, msg: &mut Message, now: Instant) {
        if !self.gate_initialised(id, msg) {
            return;
        }
        let Some(list_type) = msg.node_list_type else {
            self.send_error(id, msg.seq, ReplyError::DoesntContainRequiredOption);
            return;
        };
        let Some(seq) = msg.seq else {
            self.send_error(id, None, ReplyError::DoesntContainRequiredOption);
            return;
        };
        let nodes = msg.nodes.as_slice();
        let heuristics = msg.heuristics.unwrap_or(Heuristics::Undefined);
        let result = match list_type {
            NodeListType::InitialConfig | NodeListType::ChangedConfig => {
                let initial = list_type == NodeListType::InitialConfig;
                self.run_algo(id, now, |ctx| {
                    ctx.decision()
                        .config_node_list_received(ctx, nodes, initial)
                })
            }
            NodeListType::Membership => {
                let Some(ring_id) = msg.ring_id else {
                    self.send_error(id, Some(seq), ReplyError::DoesntContainRequiredOption);
                    return;
                };
                self.run_algo(id, now, |ctx| {
                    ctx.decision()
                        .membership_node_list_received(ctx, ring_id, nodes, heuristics)
                })
            }
            NodeListType::Quorum => {
                if msg.quorate.is_none() {
                    self.send_error(id, Some(seq), ReplyError::DoesntContainRequiredOption);
                    return;
                }
                self.run_algo(id, now, |ctx| ctx.decision().quorum_node_list_received(ctx))
            }
        };
        let Some(vote) = self.algo_outcome(id, seq, result) else {
            return;
        };
        let Some(node) = self.node_mut(id) else {
            return;
        };
        let nodes = std::mem::take(&mut msg.nodes);
        match list_type {
            NodeListType::InitialConfig | NodeListType::ChangedConfig => {
                node.config_nodes = nodes;
                node.config_version = msg.config_version;
            }
            NodeListType::Membership => {
                node.membership_nodes = nodes;
                node.ring_id = msg.ring_id.unwrap_or(node.ring_id);
                node.membership_heuristics = heuristics;
                node.heuristics = heuristics;
            }
            NodeListType::Quorum => node.quorum_nodes = nodes,
        }
        node.record_sent_vote(vote);
        let mut reply = vote_message(MsgType::NodeListReply, seq, vote, node.ring_id);
        reply.node_list_type = Some(list_type);
        self.send(id, &reply);
        self.counters.vote_sent(vote);
    }

    pub(super) fn on_ask_for_vote(&mut self, id: ClientId, msg: &Message, now: Instant) {
        if !self.gate_initialised(id, msg) {
            return;
        }
        let Some(seq) = msg.seq else {
            self.send_error(id, None, ReplyError::DoesntContainRequiredOption);
            return;
        };
        let result = self.run_algo(id, now, |ctx| ctx.decision().ask_for_vote_received(ctx));
        let Some(vote) = self.algo_outcome(id, seq, result) else {
            return;
        };
        let Some(node) = self.node_mut(id) else {
            return;
        };
        node.record_sent_vote(vote);
        let reply = vote_message(MsgType::AskForVoteReply, seq, vote, node.ring_id);
        self.send(id, &reply);
        self.counters.vote_sent(vote);
    }

    pub(super) fn on_vote_info_reply(&mut self, id: ClientId, msg: &Message, now: Instant) {
        if !self.gate_initialised(id, msg) {
            return;
        }
        let Some(seq) = msg.seq else {
            self.send_error(id, None, ReplyError::DoesntContainRequiredOption);
            return;
        };
        let ran = self.run_algo(id, now, |ctx| {
            ctx.decision().vote_info_reply_received(ctx, seq)
        });
        // None: the client is in no cluster (as algo_outcome answers it).
        if ran.is_none() {
            self.send_error(id, Some(seq), ReplyError::InternalError);
        }
    }

    pub(super) fn on_heuristics_change(&mut self, id: ClientId, msg: &Message, now: Instant) {
        if !self.gate_initialised(id, msg) {
            return;
        }
        let (Some(seq), Some(heuristics)) = (msg.seq, msg.heuristics) else {
            self.send_error(id, msg.seq, ReplyError::DoesntContainRequiredOption);
            return;
        };
        let result = self.run_algo(id, now, |ctx| {
            ctx.decision().heuristics_change_received(ctx, heuristics)
        });
        let Some(vote) = self.algo_outcome(id, seq, result) else {
            return;
        };
        let Some(node) = self.node_mut(id) else {
            return;
        };
        node.record_sent_vote(vote);
        node.regular_heuristics = heuristics;
        node.heuristics = heuristics;
        let mut reply = vote_message(MsgType::HeuristicsChangeReply, seq, vote, node.ring_id);
        reply.heuristics = Some(heuristics);
        self.send(id, &reply);
        self.counters.vote_sent(vote);
    }

    /// The algorithm timer of `id` fired (upstream `qnetd_client_algo_timer_callback`).
    pub(super) fn algo_timer_fired(&mut self, id: ClientId, now: Instant) {
        if let Some(node) = self.node_mut(id) {
            node.algo_timer = None;
        }
        match self.run_algo(id, now, |ctx| ctx.decision().timer_callback(ctx)) {
            Some(TimerOutcome::SendVote(vote)) => {
                let Some(node) = self.node_mut(id) else {
                    return;
                };
                node.algo_timer_vote_info_seq = node.algo_timer_vote_info_seq.wrapping_add(1);
                node.record_sent_vote(vote);
                let seq = node.algo_timer_vote_info_seq;
                let msg = vote_message(MsgType::VoteInfo, seq, vote, node.ring_id);
                self.send(id, &msg);
                self.counters.vote_sent(vote);
            }
            Some(TimerOutcome::Error(code)) => self.send_error(id, None, code),
            Some(TimerOutcome::Nothing) | None => {}
        }
    }
}
