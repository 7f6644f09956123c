//! A throw-away PKI for benchmarks: one CA, the server certificate both daemons present, and
//! one client certificate per cluster (CN = cluster name), as upstream's certutil would issue.
//!
//! ECDSA P-256 keys (ring cannot generate RSA). All clients share one key pair: signing 5,000
//! certificates then takes a second instead of minutes, and neither daemon can tell.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use std::path::{Path, PathBuf};

/// File names inside the PKI directory.
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "server.crt";
pub const SERVER_KEY: &str = "server.key";
pub const CLIENT_KEY: &str = "client.key";
pub const CLIENTS_DIR: &str = "clients";

/// The subject CN real clients expect from the server (`net_nss_qnetd_cn`).
pub const SERVER_CN: &str = "Qnetd Server";

pub fn cluster_name(index: usize) -> String {
    format!("bench{index:05}")
}

pub fn client_cert_path(dir: &Path, cluster: &str) -> PathBuf {
    dir.join(CLIENTS_DIR).join(format!("{cluster}.crt"))
}

/// Explicit serial numbers: rcgen would derive them from the public key, and certificates
/// sharing a key would then share issuer+serial, which NSS takes for the same certificate.
fn params(cn: &str, serial: u64) -> Result<CertificateParams, String> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serial_number = Some(SerialNumber::from(serial));
    Ok(p)
}

fn ca_params() -> Result<CertificateParams, String> {
    let mut p = params("QNet CA", 1)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Creates the CA and server certificate in `dir` unless they exist — copied from a qnetd
/// certificate store (`qnetd cert init`) when `store` is given, else generated — then a
/// certificate for each of the first `clusters` cluster names that has none yet.
pub fn ensure(dir: &Path, clusters: usize, store: Option<&Path>) -> Result<(), String> {
    std::fs::create_dir_all(dir.join(CLIENTS_DIR))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if !dir.join(CA_KEY).exists() {
        match store {
            Some(store) => copy_from_store(store, dir)?,
            None => create_ca_and_server(dir)?,
        }
    }
    let ca_key = KeyPair::from_pem(&read(&dir.join(CA_KEY))?).map_err(|e| e.to_string())?;
    let issuer = Issuer::from_ca_cert_pem(&read(&dir.join(CA_CERT))?, &ca_key)
        .map_err(|e| format!("{CA_CERT}: {e}"))?;
    let client_key_path = dir.join(CLIENT_KEY);
    if !client_key_path.exists() {
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        write(&client_key_path, &key.serialize_pem())?;
    }
    let client_key = KeyPair::from_pem(&read(&client_key_path)?).map_err(|e| e.to_string())?;
    for i in 0..clusters {
        let name = cluster_name(i);
        let path = client_cert_path(dir, &name);
        if path.exists() {
            continue;
        }
        // Far above the serials a store hands out (101, 102, ...).
        let mut p = params(&name, 1_000_000 + i as u64)?;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p
            .signed_by(&client_key, &issuer)
            .map_err(|e| e.to_string())?;
        write(&path, &cert.pem())?;
    }
    Ok(())
}

/// The first PEM block of a file (the store's CA export starts with a few lines of text).
fn pem_block(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")?;
    let end_marker = text[start..].find("-----END ")? + start;
    let end = text[end_marker..]
        .find('\n')
        .map_or(text.len(), |e| end_marker + e + 1);
    Some(&text[start..end])
}

fn copy_from_store(store: &Path, dir: &Path) -> Result<(), String> {
    for (from, to) in [
        ("qnetd-cacert.crt", CA_CERT),
        ("qnetd-server.crt", SERVER_CERT),
        ("qnetd-server.key", SERVER_KEY),
        ("qnetd-ca.key", CA_KEY), // last: its presence means the set is complete
    ] {
        let text = read(&store.join(from))?;
        let pem = pem_block(&text)
            .ok_or_else(|| format!("{}: no PEM block", store.join(from).display()))?;
        write(&dir.join(to), pem)?;
    }
    Ok(())
}

fn create_ca_and_server(dir: &Path) -> Result<(), String> {
    let ca_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let ca_params = ca_params()?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| e.to_string())?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let server_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut sp = params(SERVER_CN, 2)?;
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = sp
        .signed_by(&server_key, &issuer)
        .map_err(|e| e.to_string())?;

    write(&dir.join(CA_CERT), &ca_cert.pem())?;
    write(&dir.join(SERVER_CERT), &server_cert.pem())?;
    write(&dir.join(SERVER_KEY), &server_key.serialize_pem())?;
    // Written last: its presence means the set is complete.
    write(&dir.join(CA_KEY), &ca_key.serialize_pem())
}
