//! TLS client side as qdevice-net does it: present the cluster's certificate, trust only the
//! QNet CA, accept the server only if its certificate names "Qnetd Server". The rustls
//! configuration is the one `qnetd probe` uses ([`qnetd::probe::ClientTls`]).

use crate::certs;
use qnetd::probe::{ClientTls, SERVER_NAME};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ClientConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What every client configuration shares: the CA and the client key.
pub struct Pki {
    dir: PathBuf,
    ca_der: Vec<u8>,
    client_key_der: Vec<u8>,
}

impl Pki {
    pub fn load(dir: &Path) -> Result<Pki, String> {
        let ca_path = dir.join(certs::CA_CERT);
        let ca = CertificateDer::from_pem_file(&ca_path)
            .map_err(|e| format!("{}: {e}", ca_path.display()))?;
        let key_path = dir.join(certs::CLIENT_KEY);
        let key = PrivateKeyDer::from_pem_file(&key_path)
            .map_err(|e| format!("{}: {e}", key_path.display()))?;
        let PrivateKeyDer::Pkcs8(key) = key else {
            return Err(format!("{}: not a PKCS#8 key", key_path.display()));
        };
        Ok(Pki {
            dir: dir.to_path_buf(),
            ca_der: ca.to_vec(),
            client_key_der: key.secret_pkcs8_der().to_vec(),
        })
    }

    /// The client configuration of one cluster (its own certificate, CN = cluster name).
    pub fn client_config(&self, cluster: &str) -> Result<Arc<ClientConfig>, String> {
        let cert_path = certs::client_cert_path(&self.dir, cluster);
        let cert = CertificateDer::from_pem_file(&cert_path)
            .map_err(|e| format!("{}: {e}", cert_path.display()))?;
        let client = Some((cert.to_vec(), self.client_key_der.clone()));
        let tls = ClientTls::new(&self.ca_der, client, SERVER_NAME)
            .map_err(|e| format!("{cluster}: {e}"))?;
        Ok(tls.config())
    }
}
