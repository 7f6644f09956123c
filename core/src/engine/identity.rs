//! A client's identity: the cluster its PREINIT named and how far TLS vouches for it.
//!
//! The name lives inside the phase, so "certificate verified for one name, client in another
//! cluster" cannot be represented: the gate verifies the name stored here, INIT joins the
//! cluster keyed by exactly these bytes, and once TLS has started or INIT succeeded the name
//! is fixed (docs/protocol.md, "A second PREINIT").

use crate::certname::PeerIdentity;

/// How far a connection has come in naming its cluster and proving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// No PREINIT yet.
    Connected,
    /// PREINIT named this cluster on a plaintext connection.
    Named(Vec<u8>),
    /// STARTTLS was accepted for this cluster. `peer` holds the certificate's names once the
    /// handshake is done (None: not yet, or no certificate). Not verified: either no gated
    /// message came yet, or certificates are not required.
    Tls {
        name: Vec<u8>,
        peer: Option<PeerIdentity>,
    },
    /// The client certificate was checked against this cluster name and names it.
    Verified(Vec<u8>),
}

impl Phase {
    /// The cluster name from PREINIT, if any.
    pub(super) fn name(&self) -> Option<&[u8]> {
        match self {
            Phase::Connected => None,
            Phase::Named(name) | Phase::Tls { name, .. } | Phase::Verified(name) => Some(name),
        }
    }

    pub(super) fn tls_started(&self) -> bool {
        matches!(self, Phase::Tls { .. } | Phase::Verified(_))
    }

    /// The read-only view the tests check the identity invariant with.
    pub(super) fn view(&self) -> TlsView<'_> {
        match self {
            Phase::Connected | Phase::Named(_) => TlsView::Plain,
            Phase::Tls { .. } => TlsView::Started,
            Phase::Verified(name) => TlsView::Verified(name),
        }
    }
}

/// Where a client stands with TLS, as [`super::Engine::client_views`] shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsView<'a> {
    /// No STARTTLS on this connection.
    Plain,
    /// TLS started; no certificate verified (none required, or not checked yet).
    Started,
    /// The client's certificate was verified as naming exactly this cluster name.
    Verified(&'a [u8]),
}

/// One connected client, read-only: what the identity invariant is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientView<'a> {
    pub id: super::ClientId,
    /// The name the client's PREINIT gave (None before PREINIT).
    pub preinit_name: Option<&'a [u8]>,
    pub tls: TlsView<'a>,
    /// The name of the cluster whose node list holds this client (None: not INIT'd). Found by
    /// searching the clusters, not from the client's own record.
    pub member_of: Option<&'a [u8]>,
}
