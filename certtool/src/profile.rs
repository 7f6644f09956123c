//! What our certificates contain: upstream's profile (see fixtures/nss-certutil-3.0.3) with
//! ECDSA P-256 keys instead of RSA-2048, which NSS key generation takes minutes for on a MIPS CPU.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, KeyIdMethod,
    KeyPair, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::error::StoreError;

/// The CA's subject CN (also its NSS nickname on the nodes).
pub const CA_CN: &str = "QNet CA";
/// The server certificate's CN. The qdevice client checks exactly this name
/// (`net_nss_qnetd_cn`, matched case-insensitively by NSS).
pub const SERVER_CN: &str = "Qnetd Server";

/// notBefore of every certificate we issue.
///
/// Not "now": the daemon checks client certificates against the router's clock, and a router
/// without a battery-backed clock can boot with a date in the past (OpenWrt restores the newest
/// mtime under /etc; RTC chips that lost power restart at 2000-01-01). A certificate issued after
/// NTP set the clock would otherwise be "not yet valid" after such a reboot and every cluster
/// would lose its vote. 2000-01-01 is early enough for all of these.
pub fn not_before() -> OffsetDateTime {
    rcgen::date_time_ymd(2000, 1, 1)
}

/// notAfter: 100 years from now, as upstream (`certutil -v 1200` months). Revocation is by
/// re-creating the CA, as upstream; a long life avoids an outage when nobody renews.
pub fn not_after(now: OffsetDateTime) -> OffsetDateTime {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    // 29 February has no twin 100 years later in some centuries: fall back to 365.25-day years.
    now.replace_year(now.year() + 100)
        .unwrap_or_else(|_| now + Duration::days(36_525))
}

/// How long before its notAfter a certificate is said to expire soon: `qnetd cert list` and
/// `qnetd doctor` warn, `/health` fails. (Ours live 100 years; a CA or cluster certificate
/// made by upstream's tools or imported may not.)
pub const EXPIRY_WARNING_SECS: i64 = 30 * 86_400;

/// Whether a certificate valid until `not_after` (Unix seconds) expires within
/// [`EXPIRY_WARNING_SECS`] of `now`, or already has.
pub fn expires_soon(not_after: i64, now: i64) -> bool {
    not_after - now < EXPIRY_WARNING_SECS
}

/// A subject with one CN, as a PrintableString when the name allows it (as NSS writes it),
/// else UTF8String.
fn subject(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    match rcgen::string::PrintableString::try_from(cn) {
        Ok(p) => dn.push(DnType::CommonName, DnValue::PrintableString(p)),
        Err(_) => dn.push(DnType::CommonName, DnValue::Utf8String(cn.to_string())),
    }
    dn
}

/// Parameters common to all our certificates: v3, given serial, our validity window.
fn base(cn: &str, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = subject(cn);
    p.serial_number = Some(SerialNumber::from(serial));
    p.not_before = not_before();
    p.not_after = not_after(OffsetDateTime::now_utc());
    p
}

/// The CA: critical basicConstraints CA:TRUE, pathlen 0 (as upstream).
pub fn ca(serial: u64) -> CertificateParams {
    let mut p = base(CA_CN, serial);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p
}

/// An end-entity certificate (the server's, or a node's made by `bundle`): no extensions
/// beyond what rcgen always writes, like upstream's.
pub fn leaf(cn: &str, serial: u64) -> CertificateParams {
    let mut p = base(cn, serial);
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

/// A new CA's serial: 64 random bits with the top one set (63 bits of chance).
///
/// Every CA upstream's script made is "CN=QNet CA" with serial 101, and so is every CA of ours
/// under that name: NSS then refuses ours on a node whose database already holds upstream's
/// (SEC_ERROR_REUSED_ISSUER_AND_SERIAL, one issuer and serial per database). The top bit keeps
/// the serial clear of every counter (upstream's and ours start at 100) and its length fixed:
/// DER writes it as 9 bytes, a 0x00 first so it stays positive.
pub fn random_ca_serial() -> Result<u64, StoreError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Crypto("the kernel's random generator failed".into()))?;
    Ok(u64::from_be_bytes(bytes) | 1 << 63)
}

/// A fresh ECDSA P-256 key (fast everywhere, accepted by NSS as CA, server and client key).
pub fn new_key() -> Result<KeyPair, StoreError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| StoreError::Crypto(format!("key generation failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_soon_within_30_days_and_once_expired() {
        let now = 1_000_000_000;
        assert!(!expires_soon(now + 30 * 86_400, now), "30 whole days left");
        assert!(expires_soon(now + 30 * 86_400 - 1, now));
        assert!(expires_soon(now, now));
        assert!(expires_soon(now - 86_400, now), "expired");
    }
}
