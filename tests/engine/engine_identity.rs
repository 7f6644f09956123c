//! A certificate votes only in its own cluster: every ordering of PREINIT, STARTTLS, the
//! certificate check and INIT (docs/protocol.md, "A second PREINIT"), under `--tls on` and
//! `--tls required` with client certificates required, and `--tls off`. After each step the
//! identity invariant (tests/support/identity.rs) holds.

use std::time::Instant;

use crate::support::client_msg::{self, msg, preinit, ring};
use crate::support::identity::{check_accepted, check_identity, is_gated_acceptance};

use qnetd::engine::{ClientId, Engine, EngineConfig, Output, PeerIdentity, TlsView};
use qnetd::proto::codec::{decode, encode};
use qnetd::proto::framing::Frame;
use qnetd::proto::types::{Algorithm, Message, MsgType, ReplyError, TieBreaker, TlsMode};

struct Session {
    engine: Engine,
    id: ClientId,
    now: Instant,
    /// The certificate the handshake presented.
    peer: Option<PeerIdentity>,
}

/// What the engine did with one message.
#[derive(Debug, PartialEq)]
enum Got {
    /// Replies, decoded (type, error code).
    Replies(Vec<(MsgType, Option<u16>)>),
    StartTls,
    /// The client was dropped, with the reason.
    Dropped(String),
}

impl Session {
    fn new(tls: TlsMode) -> Session {
        let mut engine = Engine::new(EngineConfig {
            tls,
            client_cert_required: true,
            ..EngineConfig::default()
        });
        let now = Instant::now();
        let id = engine.client_connected("192.0.2.1:5403".into(), now);
        Session {
            engine,
            id,
            now,
            peer: None,
        }
    }

    fn send(&mut self, frame: Vec<u8>) -> Got {
        let out = self
            .engine
            .frame_received(self.id, Frame::Message(frame), self.now);
        check_identity(&self.engine, |_| self.peer.as_ref());
        let mut replies = Vec::new();
        for o in out {
            match o {
                Output::Send(_, bytes) => {
                    let m = decode(&bytes).unwrap();
                    if is_gated_acceptance(&m) {
                        check_accepted(&self.engine, self.id);
                    }
                    replies.push((m.msg_type, m.reply_error_code));
                }
                Output::StartTls(_) => return Got::StartTls,
                Output::Disconnect(_, why) => return Got::Dropped(why.to_string()),
            }
        }
        Got::Replies(replies)
    }

    fn preinit(&mut self, name: &str) -> Got {
        self.send(preinit(Some(1), name))
    }

    /// STARTTLS, then the handshake presenting a certificate with CN `cn`.
    fn start_tls(&mut self, cn: &str) {
        assert_eq!(
            self.send(encode(&msg(MsgType::StartTls, Some(2)))),
            Got::StartTls
        );
        let peer = PeerIdentity {
            dns_names: vec![],
            common_names: vec![cn.to_string()],
        };
        self.peer = Some(peer.clone());
        self.engine.tls_established(self.id, Some(peer));
        check_identity(&self.engine, |_| self.peer.as_ref());
    }

    fn echo(&mut self) -> Got {
        self.send(encode(&msg(MsgType::EchoRequest, Some(3))))
    }

    fn init(&mut self, node_id: u32) -> Got {
        self.send(encode(&client_msg::init_msg(
            4,
            node_id,
            Algorithm::Ffsplit as u16,
            TieBreaker::Lowest,
            8000,
            ring(1, 4),
        )))
    }

    fn tls(&self) -> TlsView<'_> {
        self.engine.client_views().next().expect("connected").tls
    }

    fn member_of(&self) -> Option<Vec<u8>> {
        let view = self.engine.client_views().next()?;
        view.member_of.map(<[u8]>::to_vec)
    }
}

fn ok(t: MsgType) -> Got {
    Got::Replies(vec![(
        t,
        if t == MsgType::InitReply {
            Some(0)
        } else {
            None
        },
    )])
}

fn error(code: u16) -> Got {
    Got::Replies(vec![(MsgType::ServerError, Some(code))])
}

impl Got {
    fn dropped_because(&self, words: &str) -> bool {
        matches!(self, Got::Dropped(why) if why.contains(words))
    }
}

const CERT_MODES: [TlsMode; 2] = [TlsMode::Supported, TlsMode::Required];

#[test]
fn verified_then_second_preinit_for_another_cluster_is_dropped() {
    for mode in CERT_MODES {
        let mut s = Session::new(mode);
        assert_eq!(s.preinit("pve"), ok(MsgType::PreinitReply));
        s.start_tls("pve");
        assert_eq!(s.echo(), error(11), "{mode:?}");
        assert_eq!(s.tls(), TlsView::Verified(b"pve"));
        let got = s.preinit("victim");
        assert!(
            got.dropped_because("using TLS for cluster 'pve'"),
            "{mode:?}: {got:?}"
        );
        assert_eq!(s.engine.connected_clients(), 0);
    }
}

#[test]
fn second_preinit_between_starttls_and_the_check_is_dropped() {
    for mode in CERT_MODES {
        let mut s = Session::new(mode);
        s.preinit("pve");
        s.start_tls("pve");
        assert_eq!(s.tls(), TlsView::Started);
        let got = s.preinit("victim");
        assert!(
            got.dropped_because("using TLS for cluster 'pve'"),
            "{mode:?}: {got:?}"
        );
    }
}

#[test]
fn member_over_tls_cannot_rename_itself() {
    for mode in CERT_MODES {
        let mut s = Session::new(mode);
        s.preinit("pve");
        s.start_tls("pve");
        assert_eq!(s.init(7), ok(MsgType::InitReply), "{mode:?}");
        assert_eq!(s.member_of().as_deref(), Some(&b"pve"[..]));
        let got = s.preinit("victim");
        assert!(
            got.dropped_because("using TLS for cluster 'pve'"),
            "{mode:?}: {got:?}"
        );
        assert!(s.engine.status(s.now).clusters.is_empty(), "{mode:?}");
    }
}

#[test]
fn the_same_name_again_after_tls_is_answered_as_before() {
    for mode in CERT_MODES {
        let mut s = Session::new(mode);
        s.preinit("pve");
        s.start_tls("pve");
        assert_eq!(s.preinit("pve"), ok(MsgType::PreinitReply), "{mode:?}");
        assert_eq!(s.init(7), ok(MsgType::InitReply), "{mode:?}");
        assert_eq!(s.preinit("pve"), ok(MsgType::PreinitReply), "{mode:?}");
        assert_eq!(s.member_of().as_deref(), Some(&b"pve"[..]));
        assert_eq!(s.tls(), TlsView::Verified(b"pve"));
    }
}

#[test]
fn renaming_before_starttls_is_upstreams_and_the_certificate_checks_the_last_name() {
    for mode in CERT_MODES {
        // The last name before STARTTLS is the one the certificate must name.
        let mut s = Session::new(mode);
        s.preinit("victim");
        s.preinit("pve");
        s.start_tls("pve");
        assert_eq!(s.init(7), ok(MsgType::InitReply), "{mode:?}");
        assert_eq!(s.member_of().as_deref(), Some(&b"pve"[..]));

        let mut s = Session::new(mode);
        s.preinit("pve");
        s.preinit("victim");
        s.start_tls("pve");
        let got = s.init(7);
        assert!(
            got.dropped_because("CN 'pve' does not match cluster name 'victim'"),
            "{mode:?}: {got:?}"
        );
    }
}

#[test]
fn plaintext_member_that_renames_and_then_starts_tls_is_checked_against_its_cluster() {
    // `--tls on` lets a plaintext client INIT; its later PREINIT is answered but does not
    // move it, so a certificate of the other cluster is refused at the next gated message.
    let mut s = Session::new(TlsMode::Supported);
    s.preinit("victim");
    assert_eq!(s.init(7), ok(MsgType::InitReply));
    assert_eq!(s.preinit("pve"), ok(MsgType::PreinitReply));
    assert_eq!(s.member_of().as_deref(), Some(&b"victim"[..]));
    s.start_tls("pve");
    let got = s.echo();
    assert!(
        got.dropped_because("CN 'pve' does not match cluster name 'victim'"),
        "{got:?}"
    );

    // With the cluster's own certificate it is verified for the cluster it is in.
    let mut s = Session::new(TlsMode::Supported);
    s.preinit("victim");
    s.init(7);
    s.preinit("pve");
    s.start_tls("victim");
    assert_eq!(s.echo(), ok(MsgType::EchoReply));
    assert_eq!(s.tls(), TlsView::Verified(b"victim"));
}

#[test]
fn tls_required_refuses_plaintext_init_whatever_the_order() {
    let mut s = Session::new(TlsMode::Required);
    s.preinit("pve");
    assert_eq!(s.init(7), error(3));
    s.preinit("victim");
    assert_eq!(s.init(7), error(3));
    assert_eq!(s.member_of(), None);
}

#[test]
fn a_name_with_nul_is_never_verified() {
    // NSS would match "pve" against "pve\0x"; the cluster key is all of its bytes.
    for mode in CERT_MODES {
        let mut s = Session::new(mode);
        s.preinit("pve\0x");
        s.start_tls("pve");
        let got = s.init(7);
        assert!(got.dropped_because("NUL"), "{mode:?}: {got:?}");
    }
}

#[test]
fn the_verified_name_is_the_cluster_key_byte_for_byte() {
    // NSS matches case-insensitively: a "pve" certificate verifies "PVE", and the client
    // then is in the cluster keyed "PVE" (not "pve"), the name it was verified for.
    for mode in CERT_MODES {
        let mut s = Session::new(mode);
        s.preinit("PVE");
        s.start_tls("pve");
        assert_eq!(s.init(7), ok(MsgType::InitReply), "{mode:?}");
        assert_eq!(s.tls(), TlsView::Verified(b"PVE"));
        assert_eq!(s.member_of().as_deref(), Some(&b"PVE"[..]));
    }
}

#[test]
fn tls_off_keeps_upstreams_second_preinit() {
    // Before INIT a PREINIT replaces the name; after INIT it is answered and the member
    // stays where it is.
    let mut s = Session::new(TlsMode::Unsupported);
    s.preinit("a");
    s.preinit("b");
    assert_eq!(s.init(1), ok(MsgType::InitReply));
    assert_eq!(s.member_of().as_deref(), Some(&b"b"[..]));
    assert_eq!(s.preinit("c"), ok(MsgType::PreinitReply));
    assert_eq!(s.member_of().as_deref(), Some(&b"b"[..]));
    assert_eq!(s.tls(), TlsView::Plain);
}

#[test]
fn starttls_twice_or_before_preinit() {
    let mut s = Session::new(TlsMode::Required);
    let preinit_required = ReplyError::PreinitRequired.code();
    assert_eq!(
        s.send(encode(&msg(MsgType::StartTls, Some(2)))),
        error(preinit_required)
    );
    s.preinit("pve");
    s.start_tls("pve");
    let got = s.send(encode(&Message {
        seq: Some(9),
        ..Message::new(MsgType::StartTls)
    }));
    assert!(got.dropped_because("already using TLS"), "{got:?}");
}
