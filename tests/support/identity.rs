//! The identity invariant (docs/security.md, "A certificate votes only in its own cluster"),
//! checked after every message by the random engine sessions (tests/engine/engine_random.rs)
//! and the `session` fuzz target (fuzz/src/lib.rs includes this file).

use qnetd_core::certname::cert_name_matches;
use qnetd_core::engine::{ClientId, Engine, PeerIdentity, TlsView};
use qnetd_core::proto::types::TlsMode;

/// Panics unless, for every client: a verified certificate was verified for the client's
/// current PREINIT name; a member of a cluster has that cluster's name as its PREINIT name, so
/// a certificate it has or will have verified is checked against exactly that cluster (byte
/// for byte, as clusters are keyed); where TLS is required every member uses it, and where
/// certificates are required too, every member's certificate was verified for its cluster.
/// (Under `--tls on` a member may have joined in plaintext and started TLS since: its
/// certificate is checked at its next gated message, see [`check_accepted`].) Membership
/// comes from the clusters' node lists, not from the client's own record; `peer` gives the
/// certificate names the test handed each client at its handshake, and a verified name must
/// be one that certificate really names (NSS's rule, `certname`).
pub fn check_identity<'a>(engine: &Engine, peer: impl Fn(ClientId) -> Option<&'a PeerIdentity>) {
    let cfg = engine.config();
    let certificates_checked = cfg.tls != TlsMode::Unsupported && cfg.client_cert_required;
    for view in engine.client_views() {
        if let TlsView::Verified(name) = view.tls {
            assert_eq!(
                view.preinit_name,
                Some(name),
                "client {} verified for another name than its PREINIT's",
                view.id
            );
            let names = peer(view.id).expect("verified without a certificate");
            assert!(
                cert_name_matches(names, name) && !name.contains(&0),
                "client {}: verified for {:?}, which its certificate {names:?} does not name",
                view.id,
                String::from_utf8_lossy(name)
            );
        }
        let Some(cluster) = view.member_of else {
            continue;
        };
        assert_eq!(
            view.preinit_name,
            Some(cluster),
            "client {}: member of {:?} under another name",
            view.id,
            String::from_utf8_lossy(cluster)
        );
        if cfg.tls == TlsMode::Required {
            assert_ne!(
                view.tls,
                TlsView::Plain,
                "client {}: member without TLS",
                view.id
            );
            if certificates_checked {
                assert_eq!(view.tls, TlsView::Verified(cluster), "client {}", view.id);
            }
        }
    }
}

/// Client `id` just had a gated message accepted (a reply other than an error to INIT,
/// ECHO, SET_OPTION, NODE_LIST, ASK_FOR_VOTE, HEURISTICS_CHANGE): where certificates are
/// required, a client using TLS has a certificate verified for exactly its cluster.
pub fn check_accepted(engine: &Engine, id: ClientId) {
    let cfg = engine.config();
    if cfg.tls == TlsMode::Unsupported || !cfg.client_cert_required {
        return;
    }
    let Some(view) = engine.client_views().find(|v| v.id == id) else {
        return;
    };
    if view.tls == TlsView::Plain {
        assert_ne!(
            cfg.tls,
            TlsMode::Required,
            "client {id}: accepted without TLS"
        );
        return;
    }
    let cluster = view.member_of.expect("gated replies need INIT");
    assert_eq!(view.tls, TlsView::Verified(cluster), "client {id}");
}

/// Whether a frame the server sent is the acceptance of a gated message (see
/// [`check_accepted`]).
pub fn is_gated_acceptance(msg: &qnetd_core::proto::types::Message) -> bool {
    use qnetd_core::proto::types::MsgType::*;
    match msg.msg_type {
        InitReply => msg.reply_error_code == Some(0),
        EchoReply | SetOptionReply | NodeListReply | AskForVoteReply | HeuristicsChangeReply => {
            true
        }
        _ => false,
    }
}
