//! TLS client side as qdevice-net does it: present the cluster's certificate, trust only the
//! QNet CA, and accept the server only if its certificate names "Qnetd Server".
//!
//! "Qnetd Server" is not a DNS name, so rustls's own name check cannot be used: the chain is
//! verified with rustls's webpki helper and the name is compared by hand (CN, or SAN dNSName
//! entries when present, case-insensitively — what NSS's CERT_VerifyCertName does without
//! wildcards).

use crate::certs;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug)]
struct QnetdServerVerifier {
    roots: RootCertStore,
    provider: Arc<CryptoProvider>,
    expected_name: String,
}

impl ServerCertVerifier for QnetdServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        if names_in(end_entity)
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&self.expected_name))
        {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::General(format!(
                "server certificate does not name {:?}",
                self.expected_name
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// SAN dNSNames if the certificate has any, else its subject CNs.
fn names_in(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, x509)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Vec::new();
    };
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        let dns: Vec<String> = san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect();
        if !dns.is_empty() {
            return dns;
        }
    }
    x509.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_string))
        .collect()
}

/// What every client config shares: the provider, trusted roots and the client key.
pub struct Pki {
    dir: std::path::PathBuf,
    provider: Arc<CryptoProvider>,
    roots: RootCertStore,
    client_key: PrivateKeyDer<'static>,
}

impl Pki {
    pub fn load(dir: &Path) -> Result<Pki, String> {
        let ca_path = dir.join(certs::CA_CERT);
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&ca_path)
            .map_err(|e| format!("{}: {e}", ca_path.display()))?
        {
            let cert = cert.map_err(|e| format!("{}: {e}", ca_path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", ca_path.display()))?;
        }
        let key_path = dir.join(certs::CLIENT_KEY);
        let client_key = PrivateKeyDer::from_pem_file(&key_path)
            .map_err(|e| format!("{}: {e}", key_path.display()))?;
        Ok(Pki {
            dir: dir.to_path_buf(),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            roots,
            client_key,
        })
    }

    /// The client configuration of one cluster (its own certificate, CN = cluster name).
    pub fn client_config(&self, cluster: &str) -> Result<Arc<ClientConfig>, String> {
        let cert_path = certs::client_cert_path(&self.dir, cluster);
        let cert = CertificateDer::from_pem_file(&cert_path)
            .map_err(|e| format!("{}: {e}", cert_path.display()))?;
        let verifier = QnetdServerVerifier {
            roots: self.roots.clone(),
            provider: self.provider.clone(),
            expected_name: certs::SERVER_CN.to_string(),
        };
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(vec![cert], self.client_key.clone_key())
            .map_err(|e| format!("{cluster}: {e}"))?;
        Ok(Arc::new(config))
    }
}
