//! qnetd's certificate store: CA and server certificate creation, signing of node requests,
//! PKCS#12 bundles for nodes. Used by the daemon (server credentials) and by the `qnetd cert`
//! and `corosync-qnetd-certutil` commands. Never runs an external program, except for the
//! migration from and to an upstream NSS database (`nss_import`, `nss_export`), which runs
//! NSS's certutil/pk12util (`nss_tools`) on the host that has them (feature `nss`, which
//! router builds leave out).
//!
//! System calls go through rustix, so the crate has no `unsafe` of its own.

#![forbid(unsafe_code)]

mod asn1;
pub mod bundle;
pub mod certinfo;
mod csr;
pub mod entropy;
mod error;
pub mod fsutil;
#[cfg(feature = "nss")]
pub mod nss_export;
#[cfg(feature = "nss")]
pub mod nss_import;
#[cfg(feature = "nss")]
pub mod nss_tools;
pub mod ownership;
pub mod p12;
#[cfg(feature = "nss")]
mod p12_read;
mod pemfile;
pub mod profile;
pub mod registry;
mod revoke;
mod serial;
mod store;

pub use entropy::random_pool_ready;
pub use error::StoreError;
pub use revoke::{RevokeOutcome, RevokeTarget};
pub use store::{
    check_cluster_name, check_key_mode, cluster_cert_file, colon_fingerprint, has_nss_database,
    is_upstream_store, sha256_hex, store_exists, CertStore, InitOptions, InitOutcome, Issued,
    Listed, Recorded, ServerCredentials, CA_CERT_FILE, CA_KEY_FILE, DEFAULT_DIR, REGISTRY_FILE,
    SERIAL_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE,
};
