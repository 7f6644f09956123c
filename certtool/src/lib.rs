//! qnetd's certificate store: CA and server certificate creation, signing of node requests,
//! PKCS#12 bundles for nodes. Used by the daemon (server credentials) and by the `qnetd cert`
//! and `corosync-qnetd-certutil` commands. Never runs an external program.

pub mod bundle;
pub mod certinfo;
mod csr;
pub mod entropy;
mod error;
pub mod fsutil;
pub mod p12;
pub mod profile;
pub mod registry;
mod store;

pub use entropy::random_pool_ready;
pub use error::StoreError;
pub use store::{
    check_cluster_name, cluster_cert_file, colon_fingerprint, has_nss_database, sha256_hex,
    store_exists, CertStore, InitOptions, InitOutcome, Issued, Listed, ServerCredentials,
    CA_CERT_FILE, CA_KEY_FILE, DEFAULT_DIR, REGISTRY_FILE, SERIAL_FILE, SERVER_CERT_FILE,
    SERVER_KEY_FILE,
};
