//! Revoked client certificates: the serials `qnetd cert revoke` recorded in the store's
//! registry, read at start and on reload (SIGHUP), checked by the TLS client verifier after
//! the chain to our CA is verified.
//!
//! A serial identifies a certificate only together with its issuer; the check runs after the
//! chain check, so every certificate it sees was issued by our CA, whose serials are unique
//! (serial.txt). A store re-created with `cert init --force` has a new CA and a new registry:
//! the old certificates fail the chain check already.

use crate::tls::client_auth::AfterChain;
use certtool::registry::{Registry, Revocation};
use rustls::{CertificateError, Error};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// One revoked serial, with the cluster name the registry knows it by.
#[derive(Clone, Debug)]
struct Revoked {
    cluster: Option<String>,
    revocation: Revocation,
}

/// The revoked serials of one reading of the registry.
#[derive(Clone, Debug, Default)]
pub struct RevocationList {
    /// A BTreeMap, not a HashMap: its random keys would draw from the kernel's random pool at
    /// start, before the daemon checked whether the pool is ready (boot without entropy).
    revoked: BTreeMap<u64, Revoked>,
}

impl RevocationList {
    pub fn from_registry(reg: &Registry) -> RevocationList {
        let revoked = reg
            .revocations
            .iter()
            .map(|r| {
                let cluster = reg.entry(r.serial).map(|e| e.name.clone());
                let revoked = Revoked {
                    cluster,
                    revocation: r.clone(),
                };
                (r.serial, revoked)
            })
            .collect();
        RevocationList { revoked }
    }

    /// Reads the registry of the store at `dir`; a store without one revokes nothing.
    pub fn load(dir: &Path) -> Result<RevocationList, String> {
        let path = registry_path(dir);
        certtool::registry::read(&path)
            .map(|reg| RevocationList::from_registry(&reg))
            .map_err(|e| format!("cannot read the revoked certificates: {e}"))
    }

    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    /// Why a client certificate with `serial` is refused, if it is revoked. `cn` names the
    /// cluster when the registry does not (a serial revoked without a registry entry).
    pub fn refusal(&self, serial: u64, cn: Option<&str>) -> Option<String> {
        let r = self.revoked.get(&serial)?;
        let cluster = r.cluster.as_deref().or(cn).unwrap_or("?");
        Some(format!(
            "client certificate serial {serial} of cluster {cluster} was revoked on {}: {}",
            r.revocation.revoked_at_text(),
            r.revocation.reason_text()
        ))
    }
}

pub fn registry_path(dir: &Path) -> PathBuf {
    dir.join(certtool::REGISTRY_FILE)
}

/// What the daemon remembers of a connected client's certificate, to drop it on reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCert {
    pub serial: u64,
    /// The first subject CN.
    pub cn: Option<String>,
}

impl PeerCert {
    /// None for a certificate that does not parse (the verifier accepted it, so it does).
    pub fn from_der(der: &[u8]) -> Option<PeerCert> {
        let summary = certtool::certinfo::summary(der).ok()?;
        let cn = certtool::certinfo::names(der)
            .common_names
            .into_iter()
            .next();
        Some(PeerCert {
            serial: summary.serial,
            cn,
        })
    }
}

/// The current list, shared by the TLS verifier (rustls wants it `Send + Sync`) and the
/// daemon, which replaces it on reload.
#[derive(Debug, Default)]
pub struct Revocations {
    list: RwLock<Arc<RevocationList>>,
    /// The words of the verifier's last refusal. rustls only carries `CertificateError::Revoked`
    /// (which sends the client the certificate_revoked alert qdevice logs in words); the
    /// session whose handshake failed picks the details up here. The daemon runs every
    /// handshake on one thread, and the verifier is called inside the poll that returns the
    /// handshake's error, so the slot holds that handshake's refusal when the session looks.
    last_refusal: Mutex<Option<String>>,
}

impl Revocations {
    pub fn new(list: RevocationList) -> Arc<Revocations> {
        Arc::new(Revocations {
            list: RwLock::new(Arc::new(list)),
            last_refusal: Mutex::new(None),
        })
    }

    pub fn current(&self) -> Arc<RevocationList> {
        // A poisoned lock only means a panic elsewhere while holding it; the list is whole.
        self.list.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, list: RevocationList) {
        *self.list.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
    }

    /// The details of the refusal the verifier just made, once.
    pub fn take_last_refusal(&self) -> Option<String> {
        self.last_refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// Err(Revoked) if the certificate is revoked, remembering the words for the session. Runs
/// after the chain to our CA verified (`tls::client_auth`), so every serial it sees is ours.
impl AfterChain for Revocations {
    fn check(&self, cert: &[u8]) -> Result<(), Error> {
        let Some(peer) = PeerCert::from_der(cert) else {
            return Ok(());
        };
        match self.current().refusal(peer.serial, peer.cn.as_deref()) {
            None => Ok(()),
            Some(words) => {
                *self.last_refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(words);
                Err(Error::InvalidCertificate(CertificateError::Revoked))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        certtool::registry::parse(
            "103\tcluster\t4102444800\taa\talpha\n\
             104\tcluster\t4102444800\tbb\tbeta\n\
             revoked\t103\t1700000000\tstolen laptop\n\
             revoked\t110\t1700000000\t\n",
        )
        .unwrap()
    }

    #[test]
    fn refusals_name_serial_cluster_date_and_reason() {
        let list = RevocationList::from_registry(&registry());
        assert_eq!(list.len(), 2);
        assert_eq!(
            list.refusal(103, Some("ignored")).unwrap(),
            "client certificate serial 103 of cluster alpha was revoked on 2023-11-14 22:13 UTC: \
             stolen laptop"
        );
        assert!(list.refusal(104, Some("beta")).is_none());
        // Not in the registry: the certificate's CN names the cluster.
        assert_eq!(
            list.refusal(110, Some("gamma")).unwrap(),
            "client certificate serial 110 of cluster gamma was revoked on 2023-11-14 22:13 UTC: \
             no reason given"
        );
    }

    #[test]
    fn replacing_the_list_changes_what_is_refused() {
        let r = Revocations::new(RevocationList::default());
        assert!(r.current().refusal(103, None).is_none());
        r.replace(RevocationList::from_registry(&registry()));
        assert!(r.current().refusal(103, None).is_some());
    }
}
