//! The certificate names the TLS gate matches, read from a certificate's DER; the matching
//! rule itself is the core's ([`qnetd_core::certname`]).

pub use qnetd_core::certname::*;

/// The names the TLS gate matches: SAN dNSNames and subject CNs of the end-entity
/// certificate. An unparsable certificate yields no names (the gate then refuses the client
/// with a reason).
pub fn peer_identity(cert_der: &[u8]) -> PeerIdentity {
    let names = certtool::certinfo::names(cert_der);
    PeerIdentity {
        dns_names: names.dns_names,
        common_names: names.common_names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Moved from the core's certname.rs with the parsing it tests.
    #[test]
    fn garbage_certificate_has_no_names() {
        let id = peer_identity(b"not a certificate");
        assert!(id.dns_names.is_empty() && id.common_names.is_empty());
    }
}
