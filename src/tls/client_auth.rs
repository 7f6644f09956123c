//! The client-certificate verifier of the daemon: a node's certificate must chain to the
//! store's CA, be valid now and allow TLS client authentication.
//!
//! Why not rustls' `WebPkiClientVerifier`: its builder parses certificate revocation lists,
//! and that alone links webpki's CRL code into every binary although qnetd has no CRLs (it
//! refuses revoked serials itself, `server::revocation`). This verifier makes the same calls
//! with no revocation options: the certificate is parsed by webpki, its chain is built with
//! webpki's `verify_for_usage` against our trust anchor, and webpki's errors become rustls'
//! errors the way rustls maps them, so the alert a client gets and the words we log do not
//! change. Tests compare it with `WebPkiClientVerifier` on certificates that each fail one
//! check.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, ExtendedKeyPurpose,
    OtherError, RootCertStore, SignatureScheme,
};
use std::sync::Arc;
use webpki::{EndEntityCert, KeyUsage};

/// A check of the end-entity certificate that runs once its chain is verified: the daemon's
/// revoked serials (`server::revocation`), which are only meaningful for a certificate our CA
/// issued. A trait, so that this module needs nothing of the driver.
pub trait AfterChain: std::fmt::Debug + Send + Sync {
    fn check(&self, end_entity: &[u8]) -> Result<(), Error>;
}

/// Demands a client certificate issued (directly or through the intermediates the client
/// sends) by one of `roots`, valid for TLS client authentication, and passing the
/// [`AfterChain`] check if there is one.
#[derive(Debug)]
pub struct CaClientVerifier {
    roots: RootCertStore,
    /// The CA names sent in the CertificateRequest (NSS picks the certificate by them).
    root_hint_subjects: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
    after_chain: Option<Arc<dyn AfterChain>>,
}

impl CaClientVerifier {
    /// None when `roots` is empty: a verifier that trusts nothing would refuse every client.
    pub fn new(roots: RootCertStore, algorithms: WebPkiSupportedAlgorithms) -> Option<Self> {
        if roots.is_empty() {
            return None;
        }
        Some(CaClientVerifier {
            root_hint_subjects: roots.subjects(),
            roots,
            algorithms,
            after_chain: None,
        })
    }

    /// Runs `check` on every certificate whose chain verified.
    pub fn with_after_chain(mut self, check: Arc<dyn AfterChain>) -> Self {
        self.after_chain = Some(check);
        self
    }
}

impl ClientCertVerifier for CaClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.root_hint_subjects
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let cert = EndEntityCert::try_from(end_entity).map_err(pki_error)?;
        cert.verify_for_usage(
            self.algorithms.all,
            &self.roots.roots,
            intermediates,
            now,
            KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(pki_error)?;
        if let Some(after_chain) = &self.after_chain {
            after_chain.check(end_entity.as_ref())?;
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A webpki error as rustls' own verifiers report it (rustls' `pki_error`, less the CRL
/// errors that cannot occur without revocation lists): the variants rustls names get theirs,
/// with the alert rustls sends for them; the rest travel inside `CertificateError::Other`.
fn pki_error(error: webpki::Error) -> Error {
    use webpki::Error as Pki;
    let cert = match error {
        Pki::BadDer | Pki::BadDerTime | Pki::TrailingData(_) => CertificateError::BadEncoding,
        Pki::CertNotValidYet { time, not_before } => {
            CertificateError::NotValidYetContext { time, not_before }
        }
        Pki::CertExpired { time, not_after } => {
            CertificateError::ExpiredContext { time, not_after }
        }
        Pki::InvalidCertValidity => CertificateError::Expired,
        Pki::UnknownIssuer => CertificateError::UnknownIssuer,
        Pki::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        #[allow(deprecated)]
        Pki::UnsupportedSignatureAlgorithm | Pki::UnsupportedSignatureAlgorithmForPublicKey => {
            CertificateError::UnsupportedSignatureAlgorithm
        }
        Pki::UnsupportedSignatureAlgorithmContext(cx) => {
            CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: cx.signature_algorithm_id,
                supported_algorithms: cx.supported_algorithms,
            }
        }
        Pki::UnsupportedSignatureAlgorithmForPublicKeyContext(cx) => {
            CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id: cx.signature_algorithm_id,
                public_key_algorithm_id: cx.public_key_algorithm_id,
            }
        }
        #[allow(deprecated)]
        Pki::RequiredEkuNotFound => CertificateError::InvalidPurpose,
        Pki::RequiredEkuNotFoundContext(cx) => CertificateError::InvalidPurposeContext {
            required: key_purpose(cx.required.oid_values().collect()),
            presented: cx.present.into_iter().map(key_purpose).collect(),
        },
        other => CertificateError::Other(OtherError(Arc::new(other))),
    };
    Error::InvalidCertificate(cert)
}

/// An extended key usage OID (as its arcs) by rustls' name for it.
fn key_purpose(arcs: Vec<usize>) -> ExtendedKeyPurpose {
    match arcs.as_slice() {
        KeyUsage::CLIENT_AUTH_REPR => ExtendedKeyPurpose::ClientAuth,
        KeyUsage::SERVER_AUTH_REPR => ExtendedKeyPurpose::ServerAuth,
        _ => ExtendedKeyPurpose::Other(arcs),
    }
}

#[cfg(test)]
#[path = "client_auth_tests.rs"]
mod tests;
