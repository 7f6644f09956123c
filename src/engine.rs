//! The protocol engine: every connected client's protocol state and every cluster, driven by
//! complete frames and the time the caller passes in. No sockets, no clock, no randomness.
//!
//! Behaviour is upstream corosync-qnetd 3.0.3's (`qnetd-client-msg-received.c`,
//! `qnetd-client-dpd-timer.c`, `qnetd-client-algo-timer.c`; docs/protocol.md, "Session sequence" to "Disconnects"): replies,
//! error codes and their SEQ rules, the INIT cascade with its quirks, the TLS gate, dead-peer
//! detection. Errors are answered and the connection stays open (the client closes it);
//! only the reasons upstream disconnects for end in [`Output::Disconnect`].
//!
//! The driver feeds frames with [`Engine::frame_received`] and routes each returned
//! [`Output`] in order. `Output::Disconnect(id, _)` means the engine has already forgotten
//! `id` (its algorithm re-decision has run): close the connection, dropping unsent data.
//! A connection the driver loses by itself (EOF, I/O or TLS error) is reported with
//! [`Engine::client_disconnected`]; reporting an id the engine already forgot is harmless.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use log::debug;

use crate::algo::{self, Ctx, TimerOutcome, TIMER_MAX_INTERVAL_MS};
use crate::certname::verify_peer;
use crate::cluster::{Cluster, ClusterList, Node, VoteInfo};
use crate::proto::codec::{advertised_algorithms, advertised_messages, advertised_options};
use crate::proto::codec::{decode, encode, with_type};
use crate::proto::framing::Frame;
use crate::proto::types::{
    Algorithm, DecodeErrorKind, Heuristics, Message, MsgType, NodeListType, ReplyError, RingId,
    TlsMode, Vote,
};
use crate::status::snapshot::{ClusterStatus, NodeStatus, ServerStatus};

pub use crate::cluster::ClientId;

/// A client's heartbeat interval until INIT sets one: upstream's compile-time
/// `QNETD_DEFAULT_HEARTBEAT_INTERVAL_MAX`, not the configured maximum. Dead-peer detection
/// before INIT therefore fires after coefficient × 120 s (180 s by default).
pub const INITIAL_HEARTBEAT_INTERVAL: u32 = 120_000;

/// What the engine needs from the configuration (upstream's command line and advanced
/// settings), plus the listener facts the status output shows.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub tls: TlsMode,
    pub client_cert_required: bool,
    pub max_client_receive_size: u32,
    pub max_client_send_size: u32,
    pub heartbeat_interval_min: u32,
    pub heartbeat_interval_max: u32,
    pub dpd_enabled: bool,
    pub dpd_interval_coefficient: f64,
    /// Default KAP tie-breaker of a client (SET_OPTION may override it).
    pub keep_active_partition_tie_breaker: bool,
    /// `-l` address as given; None = wildcard. For status only.
    pub listen_addr: Option<String>,
    /// For status only.
    pub port: u16,
    /// 0 = unlimited. For status only (the driver enforces it).
    pub max_clients: usize,
}

impl Default for EngineConfig {
    /// Upstream's defaults: the daemon's, so they are defined once (in `settings`).
    fn default() -> EngineConfig {
        EngineConfig::from(&crate::settings::Config::default())
    }
}

impl From<&crate::settings::Config> for EngineConfig {
    /// The engine's part of the daemon's configuration.
    fn from(cfg: &crate::settings::Config) -> EngineConfig {
        let s = &cfg.settings;
        EngineConfig {
            tls: cfg.tls,
            client_cert_required: cfg.client_cert_required,
            max_client_receive_size: s.max_client_receive_size,
            max_client_send_size: s.max_client_send_size,
            heartbeat_interval_min: s.heartbeat_interval_min,
            heartbeat_interval_max: s.heartbeat_interval_max,
            dpd_enabled: s.dpd_enabled,
            dpd_interval_coefficient: s.dpd_interval_coefficient,
            keep_active_partition_tie_breaker: s.keep_active_partition_tie_breaker,
            listen_addr: cfg.listen_addr.clone(),
            port: cfg.port,
            max_clients: cfg.max_clients,
        }
    }
}

pub use crate::certname::PeerIdentity;

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Queue this encoded frame for that client.
    Send(ClientId, Vec<u8>),
    /// The client sent STARTTLS: everything after it on that connection is TLS. Call
    /// [`Engine::tls_established`] once the handshake is done.
    StartTls(ClientId),
    /// Close that connection (unsent data may be dropped); the engine has already forgotten
    /// it. The string says why, for the log.
    Disconnect(ClientId, String),
}

/// Protocol state of one connection.
#[derive(Debug)]
struct Client {
    addr: String,
    tls_started: bool,
    cert_verified: bool,
    peer: Option<PeerIdentity>,
    /// From PREINIT (each PREINIT overwrites it); None until then.
    cluster_name: Option<Vec<u8>>,
    heartbeat_interval: u32,
    /// Last complete, non-skipped message (or the connect time).
    last_activity: Instant,
    /// Dead-peer detection: expires `dpd_interval` ms after `dpd_epoch`.
    dpd_interval: u32,
    dpd_epoch: Instant,
    /// Set once INIT succeeded: the name of the cluster holding this client's [`Node`].
    cluster: Option<Vec<u8>>,
}

/// The engine: see the module documentation.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    /// Ids grow with every connection, so this is upstream's client-list (accept) order.
    clients: BTreeMap<ClientId, Client>,
    clusters: ClusterList,
    next_id: ClientId,
    /// Outputs of the call in progress.
    out: Vec<Output>,
    /// Clients to disconnect once the current message is handled, with the reason.
    doomed: Vec<(ClientId, String)>,
}

impl Engine {
    pub fn new(cfg: EngineConfig) -> Engine {
        Engine {
            cfg,
            clients: BTreeMap::new(),
            clusters: ClusterList::default(),
            next_id: 1,
            out: Vec::new(),
            doomed: Vec::new(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Connected clients, initialised or not.
    pub fn connected_clients(&self) -> usize {
        self.clients.len()
    }

    /// A new TCP connection from `addr` (`<ip>:<port>`, shown by the status tool).
    pub fn client_connected(&mut self, addr: String, now: Instant) -> ClientId {
        let id = self.next_id;
        self.next_id += 1;
        let dpd_interval = dpd_interval_ms(
            self.cfg.dpd_interval_coefficient,
            INITIAL_HEARTBEAT_INTERVAL,
        )
        // Upstream refuses the connection when this is out of range (coefficient > 150);
        // we clamp instead.
        .clamp(1, TIMER_MAX_INTERVAL_MS);
        self.clients.insert(
            id,
            Client {
                addr,
                tls_started: false,
                cert_verified: false,
                peer: None,
                cluster_name: None,
                heartbeat_interval: INITIAL_HEARTBEAT_INTERVAL,
                last_activity: now,
                dpd_interval,
                dpd_epoch: now,
                cluster: None,
            },
        );
        id
    }

    /// One complete frame from client `id`.
    pub fn frame_received(&mut self, id: ClientId, frame: Frame, now: Instant) -> Vec<Output> {
        if self.clients.contains_key(&id) {
            match frame {
                // The payload was never parsed: no SEQ, and no dead-peer refresh.
                Frame::Skipped(reason) => self.send_error(id, None, reason),
                Frame::Message(raw) => self.message_received(id, &raw, now),
            }
        }
        self.finish(now)
    }

    /// The TLS handshake after STARTTLS completed; `peer` holds the names of the client's
    /// certificate (None = it sent none). The names are checked at the next gated message.
    pub fn tls_established(&mut self, id: ClientId, peer: Option<PeerIdentity>) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.peer = peer;
        }
    }

    /// The driver lost the connection (EOF, I/O or TLS error). Outputs are for the other
    /// clients of its cluster (ffsplit re-decides without it).
    pub fn client_disconnected(&mut self, id: ClientId, now: Instant) -> Vec<Output> {
        self.remove_client(id, false, now);
        self.finish(now)
    }

    /// When [`Engine::timers_due`] should next be called for `id`: the earlier of its
    /// dead-peer deadline and its algorithm timer.
    pub fn next_deadline(&self, id: ClientId) -> Option<Instant> {
        let client = self.clients.get(&id)?;
        let dpd = self.dpd_deadline(client);
        let algo = self.node(id).and_then(|n| n.algo_timer);
        match (dpd, algo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fire whatever of `id`'s timers is due at `now`: dead-peer detection disconnects; the
    /// algorithm timer may send a VOTE_INFO.
    pub fn timers_due(&mut self, id: ClientId, now: Instant) -> Vec<Output> {
        let Some(client) = self.clients.get(&id) else {
            return Vec::new();
        };
        if self.dpd_deadline(client).is_some_and(|d| now >= d) {
            let reason = format!(
                "client {} sent no message during {} ms (dead peer detection); disconnecting",
                client.addr, client.dpd_interval
            );
            self.doom(id, reason);
        } else if self
            .node(id)
            .and_then(|n| n.algo_timer)
            .is_some_and(|t| now >= t)
        {
            self.algo_timer_fired(id, now);
        }
        self.finish(now)
    }

    /// The server is going down: forget every client without re-deciding (upstream's
    /// `server_going_down`). Nothing is sent.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            self.remove_client(id, true, now);
        }
        self.clusters.clear();
        self.out.clear();
        self.doomed.clear();
    }

    /// A snapshot for the status renderers.
    pub fn status(&self, now: Instant) -> ServerStatus {
        ServerStatus {
            listen_addr: self.cfg.listen_addr.clone(),
            port: self.cfg.port,
            tls: self.cfg.tls,
            client_cert_required: self.cfg.client_cert_required,
            connected_clients: self.clients.len(),
            max_clients: self.cfg.max_clients,
            max_send_size: self.cfg.max_client_send_size,
            max_receive_size: self.cfg.max_client_receive_size,
            clusters: self
                .clusters
                .iter()
                .filter_map(|c| self.cluster_status(c, now))
                .collect(),
        }
    }

    fn cluster_status(&self, cluster: &Cluster, now: Instant) -> Option<ClusterStatus> {
        let first = cluster.nodes.first()?;
        Some(ClusterStatus {
            name: cluster.name.clone(),
            algorithm: first.algorithm,
            tie_breaker: first.tie_breaker,
            kap_tie_breaker: cluster
                .nodes
                .iter()
                .all(|n| n.algorithm == Algorithm::Ffsplit && n.keep_active_partition_tie_breaker),
            nodes: cluster
                .nodes
                .iter()
                .filter_map(|n| self.node_status(n, now))
                .collect(),
        })
    }

    fn node_status(&self, node: &Node, now: Instant) -> Option<NodeStatus> {
        let client = self.clients.get(&node.client)?;
        Some(NodeStatus {
            node_id: node.node_id,
            client_addr: client.addr.clone(),
            heartbeat_interval_ms: client.heartbeat_interval,
            config_version: node.config_version,
            config_nodes: node.config_nodes.clone(),
            ring_id: node.ring_id,
            membership_nodes: node.membership_nodes.clone(),
            quorum_nodes: node.quorum_nodes.clone(),
            heuristics: node.heuristics,
            membership_heuristics: node.membership_heuristics,
            regular_heuristics: node.regular_heuristics,
            tls_active: client.tls_started,
            cert_verified: client.tls_started && client.cert_verified,
            last_sent_vote: node.last_sent_vote,
            last_sent_ack_nack_vote: node.last_sent_ack_nack_vote,
            ms_since_last_message: millis(now.saturating_duration_since(client.last_activity)),
        })
    }

    // -----------------------------------------------------------------------------------
    // Output plumbing

    /// Run pending disconnects (each may queue VOTE_INFOs for others, or doom another
    /// client whose frame is too large) and hand out everything queued.
    fn finish(&mut self, now: Instant) -> Vec<Output> {
        while !self.doomed.is_empty() {
            let (id, reason) = self.doomed.remove(0);
            debug!("disconnecting client {id}: {reason}");
            self.remove_client(id, false, now);
            self.out.push(Output::Disconnect(id, reason));
        }
        std::mem::take(&mut self.out)
    }

    fn doom(&mut self, id: ClientId, reason: String) {
        if self.clients.contains_key(&id) && !self.is_doomed(id) {
            self.doomed.push((id, reason));
        }
    }

    fn is_doomed(&self, id: ClientId) -> bool {
        self.doomed.iter().any(|(d, _)| *d == id)
    }

    /// Queue `frame` for `id`, unless it is larger than we advertised (then the client is
    /// disconnected, as upstream does when a reply cannot be built).
    fn send_raw(&mut self, id: ClientId, frame: Vec<u8>) {
        if self.is_doomed(id) || !self.clients.contains_key(&id) {
            return;
        }
        let limit = self.cfg.max_client_send_size as usize;
        if frame.len() > limit {
            let reason = format!(
                "a {}-byte message for this client exceeds max_client_send_size ({limit} bytes); \
                 disconnecting",
                frame.len()
            );
            self.doom(id, reason);
            return;
        }
        self.out.push(Output::Send(id, frame));
    }

    fn send(&mut self, id: ClientId, msg: &Message) {
        self.send_raw(id, encode(msg));
    }

    /// SERVER_ERROR, with SEQ only when the request carried one. Logged here, in words
    /// (`refusal`): a refusal of the client (TLS required) as a warning, others as info.
    fn send_error(&mut self, id: ClientId, seq: Option<u32>, code: ReplyError) {
        if let Some(client) = self.clients.get(&id) {
            let words = crate::refusal::words(code, &self.cfg);
            if code == ReplyError::TlsRequired {
                log::warn!("client {} refused: {words}", client.addr);
            } else {
                log::info!("client {}: {words}", client.addr);
            }
        }
        self.send_raw(id, crate::proto::codec::server_error(seq, code));
    }

    fn send_vote_infos(&mut self, votes: Vec<VoteInfo>) {
        for v in votes {
            let msg = vote_message(MsgType::VoteInfo, v.seq, v.vote, v.ring_id);
            self.send(v.client, &msg);
        }
    }

    // -----------------------------------------------------------------------------------
    // Client and node bookkeeping

    fn node(&self, id: ClientId) -> Option<&Node> {
        let name = self.clients.get(&id)?.cluster.as_ref()?;
        let cluster = self.clusters.find(name)?;
        cluster.nodes.get(cluster.position(id)?)
    }

    fn node_mut(&mut self, id: ClientId) -> Option<&mut Node> {
        let name = self.clients.get(&id)?.cluster.as_ref()?;
        let cluster = self.clusters.find_mut(name)?;
        let idx = cluster.position(id)?;
        cluster.nodes.get_mut(idx)
    }

    /// Whether client `id`'s INIT was accepted (the driver's admission counts it as a real
    /// client from then on).
    pub fn is_initialised(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.cluster.is_some())
    }

    /// Run an algorithm callback for initialised client `id`; its VOTE_INFOs are queued
    /// before anything the caller sends afterwards. None if `id` is not initialised.
    fn run_algo<R>(
        &mut self,
        id: ClientId,
        now: Instant,
        f: impl FnOnce(&mut Ctx) -> R,
    ) -> Option<R> {
        let client = self.clients.get(&id)?;
        let cluster = self.clusters.find_mut(client.cluster.as_ref()?)?;
        let me = cluster.position(id)?;
        let mut votes = Vec::new();
        let result = f(&mut Ctx {
            cluster,
            me,
            now,
            heartbeat_interval: client.heartbeat_interval,
            votes: &mut votes,
        });
        self.send_vote_infos(votes);
        Some(result)
    }

    /// The value of an algorithm callback run for request `seq`, or None once the error
    /// reply has gone out: the callback's own error, or INTERNAL_ERROR when the client is in
    /// no cluster (`run_algo` gave None).
    fn algo_outcome<T>(
        &mut self,
        id: ClientId,
        seq: u32,
        result: Option<Result<T, ReplyError>>,
    ) -> Option<T> {
        match result.unwrap_or(Err(ReplyError::InternalError)) {
            Ok(value) => Some(value),
            Err(code) => {
                self.send_error(id, Some(seq), code);
                None
            }
        }
    }

    /// Forget `id`. An initialised client's algorithm runs its disconnect callback first,
    /// while the node is still in its cluster.
    fn remove_client(&mut self, id: ClientId, server_going_down: bool, now: Instant) {
        if self.is_initialised(id) {
            self.run_algo(id, now, |ctx| {
                algo::client_disconnect(ctx, server_going_down)
            });
        }
        if let Some(client) = self.clients.remove(&id) {
            if let Some(name) = client.cluster {
                self.clusters.remove_client(&name, id);
            }
        }
    }

    fn dpd_deadline(&self, client: &Client) -> Option<Instant> {
        self.cfg
            .dpd_enabled
            .then(|| client.dpd_epoch + Duration::from_millis(u64::from(client.dpd_interval)))
    }

    /// A new heartbeat interval was stored: re-arm dead-peer detection at coefficient × it,
    /// from now. False if that interval cannot be a timer (upstream answers error 13).
    fn rearm_dpd(&mut self, id: ClientId, now: Instant) -> bool {
        let coefficient = self.cfg.dpd_interval_coefficient;
        let enabled = self.cfg.dpd_enabled;
        let Some(client) = self.clients.get_mut(&id) else {
            return false;
        };
        if !enabled {
            return true;
        }
        let interval = dpd_interval_ms(coefficient, client.heartbeat_interval);
        if !(1..=TIMER_MAX_INTERVAL_MS).contains(&interval) {
            return false;
        }
        client.dpd_interval = interval;
        client.dpd_epoch = now;
        true
    }

    fn heartbeat_in_range(&self, hb: u32) -> bool {
        (self.cfg.heartbeat_interval_min..=self.cfg.heartbeat_interval_max).contains(&hb)
    }

    // -----------------------------------------------------------------------------------
    // Messages

    fn message_received(&mut self, id: ClientId, raw: &[u8], now: Instant) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.last_activity = now;
            client.dpd_epoch = now;
        }
        match decode(raw) {
            Ok(msg) => self.dispatch(id, &msg, raw, now),
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

    fn dispatch(&mut self, id: ClientId, msg: &Message, raw: &[u8], now: Instant) {
        match msg.msg_type {
            MsgType::Preinit => self.on_preinit(id, msg),
            MsgType::StartTls => self.on_starttls(id, msg),
            MsgType::Init => self.on_init(id, msg, now),
            MsgType::SetOption => self.on_set_option(id, msg, now),
            MsgType::EchoRequest => self.on_echo_request(id, msg, raw),
            MsgType::NodeList => self.on_node_list(id, msg, now),
            MsgType::AskForVote => self.on_ask_for_vote(id, msg, now),
            MsgType::VoteInfoReply => self.on_vote_info_reply(id, msg, now),
            MsgType::HeuristicsChange => self.on_heuristics_change(id, msg, now),
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

    /// The TLS gate (upstream `qnetd_client_msg_received_check_tls`): true = go on.
    fn tls_gate(&mut self, id: ClientId, msg: &Message) -> bool {
        let cert_required = self.cfg.client_cert_required;
        let tls_mode = self.cfg.tls;
        let Some(client) = self.clients.get_mut(&id) else {
            return false;
        };
        let (tls_required, check_certificate) = match tls_mode {
            TlsMode::Unsupported => (false, false),
            TlsMode::Supported => (
                false,
                client.tls_started && cert_required && !client.cert_verified,
            ),
            TlsMode::Required => (true, cert_required && !client.cert_verified),
        };
        if tls_required && !client.tls_started {
            self.send_error(id, msg.seq, ReplyError::TlsRequired);
            return false;
        }
        if check_certificate {
            match verify_peer(client.peer.as_ref(), client.cluster_name.as_deref()) {
                Ok(()) => client.cert_verified = true,
                Err(reason) => {
                    self.doom(id, reason);
                    return false;
                }
            }
        }
        true
    }

    /// The gate plus "INIT must have succeeded" (error 11), shared by the post-INIT messages.
    fn gate_initialised(&mut self, id: ClientId, msg: &Message) -> bool {
        if !self.tls_gate(id, msg) {
            return false;
        }
        if !self.is_initialised(id) {
            self.send_error(id, msg.seq, ReplyError::InitRequired);
            return false;
        }
        true
    }

    fn on_preinit(&mut self, id: ClientId, msg: &Message) {
        let Some(name) = &msg.cluster_name else {
            self.send_error(id, msg.seq, ReplyError::DoesntContainRequiredOption);
            return;
        };
        if let Some(client) = self.clients.get_mut(&id) {
            client.cluster_name = Some(name.clone());
        }
        let mut reply = Message::new(MsgType::PreinitReply);
        reply.seq = msg.seq;
        reply.tls_supported = Some(self.cfg.tls);
        reply.tls_client_cert_required = Some(u8::from(self.cfg.client_cert_required));
        self.send(id, &reply);
    }

    fn on_starttls(&mut self, id: ClientId, msg: &Message) {
        let tls_off = self.cfg.tls == TlsMode::Unsupported;
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        if client.cluster_name.is_none() {
            self.send_error(id, msg.seq, ReplyError::PreinitRequired);
        } else if tls_off {
            self.doom(
                id,
                "Can't start TLS: TLS is disabled on this server (tls off); disconnecting client"
                    .to_string(),
            );
        } else if client.tls_started {
            self.doom(
                id,
                "STARTTLS received on a connection already using TLS; disconnecting client"
                    .to_string(),
            );
        } else {
            client.tls_started = true;
            client.cert_verified = false;
            self.out.push(Output::StartTls(id));
        }
    }

    fn on_init(&mut self, id: ClientId, msg: &Message, now: Instant) {
        if !self.tls_gate(id, msg) {
            return;
        }
        let code = self.init_cascade(id, msg, now);
        self.log_init(id, msg, code);
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

    /// One line per INIT for the operator: who joined which cluster, or why not (the only
    /// line for a refused INIT).
    fn log_init(&self, id: ClientId, msg: &Message, code: ReplyError) {
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        let cluster = String::from_utf8_lossy(client.cluster_name.as_deref().unwrap_or_default());
        let node = msg.node_id.unwrap_or(0);
        if code == ReplyError::NoError {
            let algorithm = msg
                .decision_algorithm
                .and_then(Algorithm::from_u16)
                .map_or("?", Algorithm::as_str);
            log::info!(
                "client {}: node {node} of cluster '{cluster}' joined ({algorithm})",
                client.addr
            );
        } else {
            log::warn!(
                "client {} refused: INIT of node {node} for cluster '{cluster}': {}",
                client.addr,
                crate::refusal::words(code, &self.cfg)
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
    fn init_cascade(&mut self, id: ClientId, msg: &Message, now: Instant) -> ReplyError {
        use ReplyError::{DoesntContainRequiredOption as Missing, NoError};
        let Some(client) = self.clients.get(&id) else {
            return ReplyError::InternalError;
        };
        let initialised = client.cluster.is_some();
        let cluster_name = client.cluster_name.clone();
        let mut err = if cluster_name.is_none() {
            ReplyError::PreinitRequired
        } else {
            NoError
        };
        if err == NoError && msg.node_id.is_none() {
            err = Missing;
        }
        let node_id = msg.node_id.unwrap_or(0);
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
        } else {
            // Runs even after an earlier error, with 0 for a missing value: hence error 13
            // for INIT {SEQ, NODE_ID} before PREINIT.
            let hb = msg.heartbeat_interval.unwrap_or(0);
            if !self.heartbeat_in_range(hb) {
                err = ReplyError::InvalidHeartbeatInterval;
            } else if !initialised {
                if let Some(client) = self.clients.get_mut(&id) {
                    client.heartbeat_interval = hb;
                }
                if !self.rearm_dpd(id, now) {
                    err = ReplyError::InvalidHeartbeatInterval;
                }
            }
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
        let (NoError, Some(name), Some(tie_breaker), Some(algorithm)) =
            (err, cluster_name, msg.tie_breaker, algorithm)
        else {
            return err;
        };
        if let Some(cluster) = self.clusters.find(&name) {
            for other in &cluster.nodes {
                if other.client == id {
                    return ReplyError::DuplicateNodeId;
                }
                if other.tie_breaker != tie_breaker {
                    return ReplyError::TieBreakerDiffersFromOtherNodes;
                }
                if other.algorithm != algorithm {
                    return ReplyError::AlgorithmDiffersFromOtherNodes;
                }
                if other.node_id == node_id {
                    return ReplyError::DuplicateNodeId;
                }
            }
        }
        if initialised {
            return ReplyError::DuplicateNodeId;
        }
        let mut node = Node::new(id, node_id, algorithm, tie_breaker, ring_id);
        node.keep_active_partition_tie_breaker = self.cfg.keep_active_partition_tie_breaker;
        let (cluster, me) = self.clusters.add_node(&name, node);
        if let Some(client) = self.clients.get_mut(&id) {
            client.cluster = Some(name);
        }
        let hb = self.clients.get(&id).map_or(0, |c| c.heartbeat_interval);
        let mut votes = Vec::new();
        algo::client_init(&mut Ctx {
            cluster,
            me,
            now,
            heartbeat_interval: hb,
            votes: &mut votes,
        });
        self.send_vote_infos(votes);
        NoError
    }

    fn on_set_option(&mut self, id: ClientId, msg: &Message, now: Instant) {
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

    fn on_echo_request(&mut self, id: ClientId, msg: &Message, raw: &[u8]) {
        if self.gate_initialised(id, msg) {
            self.send_raw(id, with_type(raw, MsgType::EchoReply));
        }
    }

    fn on_node_list(&mut self, id: ClientId, msg: &Message, now: Instant) {
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
                    algo::config_node_list_received(ctx, nodes, initial)
                })
            }
            NodeListType::Membership => {
                let Some(ring_id) = msg.ring_id else {
                    self.send_error(id, Some(seq), ReplyError::DoesntContainRequiredOption);
                    return;
                };
                self.run_algo(id, now, |ctx| {
                    algo::membership_node_list_received(ctx, ring_id, nodes, heuristics)
                })
            }
            NodeListType::Quorum => {
                if msg.quorate.is_none() {
                    self.send_error(id, Some(seq), ReplyError::DoesntContainRequiredOption);
                    return;
                }
                self.run_algo(id, now, algo::quorum_node_list_received)
            }
        };
        let Some(vote) = self.algo_outcome(id, seq, result) else {
            return;
        };
        let Some(node) = self.node_mut(id) else {
            return;
        };
        match list_type {
            NodeListType::InitialConfig | NodeListType::ChangedConfig => {
                node.config_nodes = msg.nodes.clone();
                node.config_version = msg.config_version;
            }
            NodeListType::Membership => {
                node.membership_nodes = msg.nodes.clone();
                node.ring_id = msg.ring_id.unwrap_or(node.ring_id);
                node.membership_heuristics = heuristics;
                node.heuristics = heuristics;
            }
            NodeListType::Quorum => node.quorum_nodes = msg.nodes.clone(),
        }
        node.record_sent_vote(vote);
        let mut reply = vote_message(MsgType::NodeListReply, seq, vote, node.ring_id);
        reply.node_list_type = Some(list_type);
        self.send(id, &reply);
    }

    fn on_ask_for_vote(&mut self, id: ClientId, msg: &Message, now: Instant) {
        if !self.gate_initialised(id, msg) {
            return;
        }
        let Some(seq) = msg.seq else {
            self.send_error(id, None, ReplyError::DoesntContainRequiredOption);
            return;
        };
        let result = self.run_algo(id, now, algo::ask_for_vote_received);
        let Some(vote) = self.algo_outcome(id, seq, result) else {
            return;
        };
        let Some(node) = self.node_mut(id) else {
            return;
        };
        node.record_sent_vote(vote);
        let reply = vote_message(MsgType::AskForVoteReply, seq, vote, node.ring_id);
        self.send(id, &reply);
    }

    fn on_vote_info_reply(&mut self, id: ClientId, msg: &Message, now: Instant) {
        if !self.gate_initialised(id, msg) {
            return;
        }
        let Some(seq) = msg.seq else {
            self.send_error(id, None, ReplyError::DoesntContainRequiredOption);
            return;
        };
        let result = self.run_algo(id, now, |ctx| algo::vote_info_reply_received(ctx, seq));
        self.algo_outcome(id, seq, result);
    }

    fn on_heuristics_change(&mut self, id: ClientId, msg: &Message, now: Instant) {
        if !self.gate_initialised(id, msg) {
            return;
        }
        let (Some(seq), Some(heuristics)) = (msg.seq, msg.heuristics) else {
            self.send_error(id, msg.seq, ReplyError::DoesntContainRequiredOption);
            return;
        };
        let result = self.run_algo(id, now, |ctx| {
            algo::heuristics_change_received(ctx, heuristics)
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
    }

    /// The algorithm timer of `id` fired (upstream `qnetd_client_algo_timer_callback`).
    fn algo_timer_fired(&mut self, id: ClientId, now: Instant) {
        if let Some(node) = self.node_mut(id) {
            node.algo_timer = None;
        }
        match self.run_algo(id, now, algo::timer_callback) {
            Some(TimerOutcome::SendVote(vote)) => {
                let Some(node) = self.node_mut(id) else {
                    return;
                };
                node.algo_timer_vote_info_seq = node.algo_timer_vote_info_seq.wrapping_add(1);
                node.record_sent_vote(vote);
                let seq = node.algo_timer_vote_info_seq;
                let msg = vote_message(MsgType::VoteInfo, seq, vote, node.ring_id);
                self.send(id, &msg);
            }
            Some(TimerOutcome::Error(code)) => self.send_error(id, None, code),
            Some(TimerOutcome::Nothing) | None => {}
        }
    }
}

/// A message that carries a vote: VOTE_INFO and the replies to vote-bearing requests.
fn vote_message(kind: MsgType, seq: u32, vote: Vote, ring_id: RingId) -> Message {
    let mut msg = Message::new(kind);
    msg.seq = Some(seq);
    msg.vote = Some(vote);
    msg.ring_id = Some(ring_id);
    msg
}

/// `(u32)(coefficient × heartbeat)` as upstream computes the dead-peer interval (saturating).
fn dpd_interval_ms(coefficient: f64, heartbeat_interval: u32) -> u32 {
    (coefficient * f64::from(heartbeat_interval)) as u32
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
