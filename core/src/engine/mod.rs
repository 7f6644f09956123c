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

// Layout: this file holds the API, the state and the output plumbing; `handlers` each message
// but INIT, `init` INIT's cascade and reply, `status` the snapshot for the renderers.
mod close;
pub mod counters;
mod handlers;
mod identity;
mod init;
pub mod limits;
mod refusal;
mod status;

pub use close::CloseReason;
use identity::Phase;
pub use identity::{ClientView, TlsView};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use log::debug;

use crate::algo::{Ctx, TimerOutcome, TIMER_MAX_INTERVAL_MS};
use crate::certname::verify_peer;
use crate::cluster::{Cluster, ClusterList, Node, VoteInfo};
use crate::proto::codec::{advertised_algorithms, advertised_messages, advertised_options};
use crate::proto::codec::{decode, encode, with_type};
use crate::proto::framing::Frame;
use crate::proto::types::{
    Algorithm, DecodeErrorKind, Heuristics, Message, MsgType, NodeListType, ReplyError, RingId,
    TlsMode, Vote,
};
use crate::snapshot::{ClusterStatus, NodeStatus, ServerStatus};

pub use crate::cluster::ClientId;

/// A client's heartbeat interval until INIT sets one: upstream's compile-time
/// `QNETD_DEFAULT_HEARTBEAT_INTERVAL_MAX`, not the configured maximum. Dead-peer detection
/// before INIT therefore fires after coefficient × 120 s (180 s by default).
pub const INITIAL_HEARTBEAT_INTERVAL: u32 = 120_000;

/// What the engine needs from the configuration (upstream's command line and advanced
/// settings). The listener's facts (address, port, max clients) are the driver's: it adds
/// them to the status snapshot.
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
}

impl Default for EngineConfig {
    /// Upstream's defaults (`qnetd-advanced-settings.c`, `-s on`, `-c on`); the daemon's
    /// settings start from these, so they are written once.
    fn default() -> EngineConfig {
        EngineConfig {
            tls: TlsMode::Supported,
            client_cert_required: true,
            max_client_receive_size: 1 << 15,
            max_client_send_size: 1 << 15,
            heartbeat_interval_min: 1000,
            heartbeat_interval_max: 2 * 60 * 1000,
            dpd_enabled: true,
            dpd_interval_coefficient: 1.5,
            keep_active_partition_tie_breaker: false,
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
    /// it. The reason is for the log.
    Disconnect(ClientId, CloseReason),
}

/// Protocol state of one connection.
#[derive(Debug)]
struct Client {
    addr: String,
    /// The PREINIT name and what TLS vouches for it.
    phase: Phase,
    heartbeat_interval: u32,
    /// Last complete, non-skipped message (or the connect time).
    last_activity: Instant,
    /// Dead-peer detection: expires `dpd_interval` ms after `dpd_epoch`.
    dpd_interval: u32,
    dpd_epoch: Instant,
    /// INIT succeeded: the cluster keyed by the phase's name holds this client's [`Node`].
    joined: bool,
}

impl Client {
    /// The cluster holding this client's node, once INIT succeeded.
    fn cluster(&self) -> Option<&[u8]> {
        if self.joined {
            self.phase.name()
        } else {
            None
        }
    }
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
    doomed: Vec<(ClientId, CloseReason)>,
    /// For `/metrics`.
    counters: counters::EngineCounters,
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
            counters: counters::EngineCounters::default(),
        }
    }

    /// What the engine has counted since start.
    pub fn counters(&self) -> &counters::EngineCounters {
        &self.counters
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
                phase: Phase::Connected,
                heartbeat_interval: INITIAL_HEARTBEAT_INTERVAL,
                last_activity: now,
                dpd_interval,
                dpd_epoch: now,
                joined: false,
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
        if let Some(Phase::Tls { peer: slot, .. }) = self.clients.get_mut(&id).map(|c| &mut c.phase)
        {
            *slot = peer;
        }
    }

    /// Every connected client's identity, read-only, in connection order: for the tests that
    /// check that a verified certificate's cluster is the cluster a client is in.
    pub fn client_views(&self) -> impl Iterator<Item = ClientView<'_>> {
        self.clients.iter().map(|(&id, client)| ClientView {
            id,
            preinit_name: client.phase.name(),
            tls: client.phase.view(),
            member_of: self
                .clusters
                .iter()
                .find(|c| c.position(id).is_some())
                .map(|c| c.name.as_slice()),
        })
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
            let reason = CloseReason::DeadPeer {
                addr: client.addr.clone(),
                interval_ms: client.dpd_interval,
            };
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

    fn doom(&mut self, id: ClientId, reason: CloseReason) {
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
            let reason = CloseReason::ReplyTooLarge {
                len: frame.len(),
                limit,
            };
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
        self.counters.refused(code);
        if let Some(client) = self.clients.get(&id) {
            let words = refusal::words(code, &self.cfg);
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
            self.counters.vote_sent(v.vote);
        }
    }

    // -----------------------------------------------------------------------------------
    // Client and node bookkeeping

    fn node(&self, id: ClientId) -> Option<&Node> {
        let name = self.clients.get(&id)?.cluster()?;
        let cluster = self.clusters.find(name)?;
        cluster.nodes.get(cluster.position(id)?)
    }

    fn node_mut(&mut self, id: ClientId) -> Option<&mut Node> {
        let name = self.clients.get(&id)?.cluster()?;
        let cluster = self.clusters.find_mut(name)?;
        let idx = cluster.position(id)?;
        cluster.nodes.get_mut(idx)
    }

    /// Whether client `id`'s INIT was accepted (the driver's admission counts it as a real
    /// client from then on).
    pub fn is_initialised(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.joined)
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
        let cluster = self.clusters.find_mut(client.cluster()?)?;
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
                ctx.cancel_timer();
                ctx.decision().client_disconnect(ctx, server_going_down)
            });
        }
        if let Some(client) = self.clients.remove(&id) {
            if let Some(name) = client.cluster() {
                self.clusters.remove_client(name, id);
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
