//! The TLS side of STARTTLS: the rustls server configuration built from the certificate store,
//! the client-certificate verifier over our CA, the names we hand to the engine, and the words
//! we log when a handshake fails.

use super::revocation::Revocations;
use crate::tls::client_auth::CaClientVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, Error as TlsError, RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

/// Why the server cannot offer TLS. Display is the whole message for the user.
#[derive(Debug)]
pub struct TlsSetupError(pub String);

impl std::fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rustls server configuration from the store at `dir`: our server certificate and key,
/// and (iff `client_cert_required`) a verifier that demands a client certificate chaining to
/// our CA. The ring provider; TLS 1.2 and 1.3 as NSS offers both.
pub fn server_config(
    dir: &Path,
    client_cert_required: bool,
    revocations: Arc<Revocations>,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let creds = load_credentials(dir)?;
    build_from_credentials(creds, client_cert_required, revocations)
}

/// Reads the server's certificate, key and CA from the store at `dir`. Needs no randomness,
/// so the daemon can refuse a missing or broken store at once, even at boot.
pub fn load_credentials(dir: &Path) -> Result<certtool::ServerCredentials, TlsSetupError> {
    // The store's own error text names `qnetd cert init` when the store is missing.
    let store = certtool::CertStore::open(dir).map_err(|e| TlsSetupError(e.to_string()))?;
    store
        .server_credentials()
        .map_err(|e| TlsSetupError(e.to_string()))
}

/// [`build_server_config`] from loaded credentials. Loading the key draws from the kernel's
/// random pool (ring), which blocks at boot on routers without a hardware RNG.
pub fn build_from_credentials(
    creds: certtool::ServerCredentials,
    client_cert_required: bool,
    revocations: Arc<Revocations>,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    build_server_config(
        creds.ca_cert_der,
        creds.server_cert_der,
        creds.server_key_pkcs8_der,
        client_cert_required,
        revocations,
    )
}

/// [`server_config`] from DER material (the store-free part, also used by tests). Client
/// certificates in `revocations` are refused after their chain is verified.
pub fn build_server_config(
    ca_der: Vec<u8>,
    server_cert_der: Vec<u8>,
    server_key_pkcs8_der: Vec<u8>,
    client_cert_required: bool,
    revocations: Arc<Revocations>,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = Arc::new(crate::tls::crypto::provider());
    let verifier = if client_cert_required {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca_der))
            .map_err(|e| TlsSetupError(format!("the store's CA certificate is unusable: {e}")))?;
        let chain = CaClientVerifier::new(roots, provider.signature_verification_algorithms)
            .ok_or_else(|| TlsSetupError("cannot build the client verifier: no CA".into()))?;
        Arc::new(chain.with_after_chain(revocations))
    } else {
        WebPkiClientVerifier::no_client_auth()
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key_pkcs8_der));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| TlsSetupError(format!("TLS setup: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(server_cert_der)], key)
        .map_err(|e| TlsSetupError(server_key_error(&e)))?;
    // No session resumption: a resumed session keeps the client certificate of its first
    // handshake without running the verifier again, so a node revoked since then would get
    // back in. qdevice connects once per node and stays connected: a full handshake costs
    // nothing that matters.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// Why the server certificate and key were refused, in words (rustls names the case only).
fn server_key_error(e: &TlsError) -> String {
    let files = format!(
        "the store's server certificate and key ({}, {})",
        certtool::SERVER_CERT_FILE,
        certtool::SERVER_KEY_FILE
    );
    match e {
        TlsError::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => format!(
            "{files} do not fit together: the key is not the certificate's (their public keys differ)"
        ),
        other => format!("{files} cannot be used: {other}"),
    }
}

/// A failed handshake in words a user can act on. `err` is what futures-rustls returned.
pub fn describe_handshake_error(err: &std::io::Error, client_cert_required: bool) -> String {
    let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
    else {
        return match err.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                "connection closed during the TLS handshake".to_string()
            }
            _ => format!("TLS handshake failed: {err}"),
        };
    };
    if let TlsError::InvalidCertificate(cert) = tls {
        if let Some(detail) = crate::tls::words::other_ca_detail(cert) {
            return format!(
                "client certificate is not signed by our CA (QNet CA of this store){detail}; \
                 it probably comes from another qnetd, whose CA has the same name: sign the \
                 cluster's request with this qnetd (`qnetd cert sign`) and import the result"
            );
        }
    }
    match tls {
        TlsError::InvalidCertificate(CertificateError::Expired)
        | TlsError::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            "client certificate has expired; issue a new one".to_string()
        }
        TlsError::InvalidCertificate(CertificateError::NotValidYet)
        | TlsError::InvalidCertificate(CertificateError::NotValidYetContext { .. }) => {
            "client certificate is not valid yet (check the clocks)".to_string()
        }
        // The session logs the revocation's details instead when it has them.
        TlsError::InvalidCertificate(CertificateError::Revoked) => {
            "client certificate has been revoked (`qnetd cert list` shows it)".to_string()
        }
        TlsError::InvalidCertificate(other) => format!(
            "client certificate refused: {}",
            crate::tls::words::certificate_refusal(other)
        ),
        TlsError::NoCertificatesPresented if client_cert_required => {
            "client sent no certificate, but a client certificate is required \
             (`-c on`); install the cluster certificate on the node"
                .to_string()
        }
        TlsError::AlertReceived(alert) => format!(
            "the client aborted the TLS handshake ({alert:?}); it probably does not trust our \
             server certificate: give it this store's qnetd-cacert.crt"
        ),
        other => format!("TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_issuer_is_described_in_words() {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert!(describe_handshake_error(&e, true).contains("not signed by our CA"));
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            TlsError::InvalidCertificate(CertificateError::BadSignature),
        );
        assert!(describe_handshake_error(&e, true).contains("not signed by our CA"));
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            TlsError::NoCertificatesPresented,
        );
        assert!(describe_handshake_error(&e, true).contains("no certificate"));
        let e = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert!(describe_handshake_error(&e, true).contains("closed"));
    }

    /// What rustls reports for the upstream fixture (an RSA-signed node certificate checked
    /// against our ECDSA CA of the same name), measured.
    #[test]
    fn an_rsa_certificate_against_our_ecdsa_ca_is_not_signed_by_our_ca() {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            TlsError::InvalidCertificate(
                CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                    signature_algorithm_id: vec![6, 9, 42, 134, 72, 134, 247, 13, 1, 1, 11, 5, 0],
                    public_key_algorithm_id: vec![
                        6, 7, 42, 134, 72, 206, 61, 2, 1, 6, 8, 42, 134, 72, 206, 61, 3, 1, 7,
                    ],
                },
            ),
        );
        let words = describe_handshake_error(&e, true);
        assert!(words.contains("not signed by our CA"), "{words}");
        assert!(
            words
                .contains("signed with RSA with SHA-256, but the CA's key is an ECDSA key (P-256)"),
            "{words}"
        );
    }

    #[test]
    fn sessions_are_never_resumed_so_every_handshake_checks_revocation() {
        let tmp = std::env::temp_dir().join(format!("qnetd-tls-resume-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let (store, _) = certtool::CertStore::init(&tmp, certtool::InitOptions::default()).unwrap();
        let creds = store.server_credentials().unwrap();
        let revocations = Revocations::new(Default::default());
        let config = build_from_credentials(creds, true, revocations).unwrap();
        assert!(!config.session_storage.can_cache());
        assert!(!config.ticketer.enabled());
        assert_eq!(config.send_tls13_tickets, 0);
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
