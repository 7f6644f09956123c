//! Revocation: which certificates `qnetd cert revoke` may revoke, recorded in the registry
//! the daemon reads (see `registry`).

use time::OffsetDateTime;

use crate::error::StoreError;
use crate::fsutil::StoreLock;
use crate::registry::{self, Entry, Kind, Registry, Revocation};
use crate::store::{CertStore, REGISTRY_FILE, SERIAL_BASE};

/// Which certificates `revoke` revokes.
#[derive(Clone, Copy, Debug)]
pub enum RevokeTarget<'a> {
    /// Every certificate issued for this cluster.
    Cluster(&'a str),
    /// The certificate with this serial.
    Serial(u64),
}

/// What `revoke` did.
#[derive(Clone, Debug, Default)]
pub struct RevokeOutcome {
    /// Revoked now; the entry is `None` for a serial the registry does not know.
    pub revoked: Vec<(Option<Entry>, Revocation)>,
    /// Were revoked before: left as they were (time and reason of the first revocation).
    pub already: Vec<(Option<Entry>, Revocation)>,
}

impl CertStore {
    /// Revokes `target` with `reason`, recorded in the registry with the time. Only cluster
    /// (client) certificates: the CA and the server certificate are not checked by anyone we
    /// could tell. A serial the registry does not know is accepted if it was handed out
    /// (a certificate signed before `import-nss` whose file is gone), never a future one:
    /// that would revoke a certificate not yet signed.
    pub fn revoke(
        &self,
        target: RevokeTarget<'_>,
        reason: &str,
    ) -> Result<RevokeOutcome, StoreError> {
        let _lock = StoreLock::acquire(&self.dir)?;
        let mut reg = self.registry()?;
        let serials = self.revoke_serials(&reg, target)?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut outcome = RevokeOutcome::default();
        for serial in serials {
            let entry = reg.entry(serial).cloned();
            if let Some(r) = reg.revocation(serial) {
                outcome.already.push((entry, r.clone()));
                continue;
            }
            let r = Revocation {
                serial,
                revoked_at: now,
                reason: registry::clean_reason(reason),
            };
            reg.revocations.push(r.clone());
            outcome.revoked.push((entry, r));
        }
        if !outcome.revoked.is_empty() {
            self.write(REGISTRY_FILE, registry::render_registry(&reg).as_bytes())?;
        }
        Ok(outcome)
    }

    fn revoke_serials(
        &self,
        reg: &Registry,
        target: RevokeTarget<'_>,
    ) -> Result<Vec<u64>, StoreError> {
        match target {
            RevokeTarget::Cluster(cluster) => {
                let serials: Vec<u64> = reg
                    .entries
                    .iter()
                    .filter(|e| e.kind == Kind::Cluster && e.name == cluster)
                    .map(|e| e.serial)
                    .collect();
                if serials.is_empty() {
                    return Err(StoreError::Refused(format!(
                        "this store has issued no certificate for cluster {cluster:?} \
                         (`qnetd cert list` shows the ones it has)"
                    )));
                }
                Ok(serials)
            }
            RevokeTarget::Serial(serial) => {
                refuse_ambiguous(reg, serial)?;
                match reg.entry(serial) {
                    Some(e) if e.kind != Kind::Cluster => {
                        return Err(StoreError::Refused(format!(
                            "serial {serial} is the {} certificate, not a cluster certificate: \
                             only the certificates of cluster nodes can be revoked (to replace \
                             the CA or the server certificate, run `qnetd cert init --force`)",
                            e.kind.as_str()
                        )))
                    }
                    Some(_) => {}
                    // The CA's slot in upstream's numbering: our CAs have a random serial,
                    // upstream's CA (imported with import-nss) has this one.
                    None if serial == SERIAL_BASE + 1 => {
                        return Err(StoreError::Refused(format!(
                            "serial {serial} is the ca certificate's slot (upstream's CA serial), \
                             not a cluster certificate: only the certificates of cluster nodes \
                             can be revoked"
                        )))
                    }
                    None => {
                        let last = self.last_serial()?;
                        if serial > last {
                            return Err(StoreError::Refused(format!(
                                "serial {serial} has not been issued yet (the last one is \
                                 {last}): revoking it would revoke a certificate signed later"
                            )));
                        }
                    }
                }
                Ok(vec![serial])
            }
        }
    }
}

/// Refuses to revoke a serial two certificates share (a serial.txt set back before serials
/// were checked against the registry): the daemon matches revocations by serial, so it would
/// refuse both, and the registry could not tell which one was meant.
fn refuse_ambiguous(reg: &Registry, serial: u64) -> Result<(), StoreError> {
    let same: Vec<&Entry> = reg.entries.iter().filter(|e| e.serial == serial).collect();
    if same.len() < 2 {
        return Ok(());
    }
    let list = same
        .iter()
        .map(|e| {
            format!(
                "{} certificate {:?} (SHA-256 {})",
                e.kind.as_str(),
                e.name,
                &e.sha256[..16.min(e.sha256.len())]
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(StoreError::Refused(format!(
        "serial {serial} was given to {} certificates: {list}; revoking it would revoke all of \
         them, since certificates are revoked by serial: first sign the cluster you keep a new \
         certificate (it gets a serial of its own), then revoke the cluster you meant with \
         --cluster",
        same.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile;
    use crate::store::{InitOptions, SERIAL_FILE};
    use std::fs;
    use std::path::PathBuf;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn store(tag: &str) -> (Tmp, CertStore) {
        let base = std::env::temp_dir().join(format!("certtool-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (store, _) = CertStore::init(&base.join("nssdb"), InitOptions::default()).unwrap();
        (Tmp(base), store)
    }

    fn issue(store: &CertStore, cluster: &str) -> u64 {
        let key = profile::new_key().unwrap();
        store
            .issue_cluster_cert(cluster, &key)
            .unwrap()
            .entry
            .serial
    }

    #[test]
    fn revoking_a_cluster_revokes_all_its_certificates_and_no_later_one() {
        let (_t, s) = store("revoke-cluster");
        let a1 = issue(&s, "alpha");
        let a2 = issue(&s, "alpha");
        let b = issue(&s, "beta");
        let out = s.revoke(RevokeTarget::Cluster("alpha"), "stolen").unwrap();
        let serials: Vec<u64> = out.revoked.iter().map(|(_, r)| r.serial).collect();
        assert_eq!(serials, vec![a1, a2]);
        assert!(out.already.is_empty());
        let reg = s.registry().unwrap();
        assert_eq!(reg.revocation(a1).unwrap().reason, "stolen");
        assert!(reg.revocation(b).is_none());

        // Signing again afterwards works, and the new certificate is not revoked.
        let a3 = issue(&s, "alpha");
        let listed = s.list().unwrap();
        let find = |serial| listed.iter().find(|l| l.entry.serial == serial).unwrap();
        assert!(find(a1).revoked.is_some() && find(a2).revoked.is_some());
        assert!(find(a3).revoked.is_none() && find(a3).current);
        assert!(find(b).revoked.is_none());
        // The new entry was added without losing the revocations.
        assert_eq!(s.registry().unwrap().revocations.len(), 2);
    }

    #[test]
    fn revoking_again_keeps_the_first_time_and_reason() {
        let (_t, s) = store("revoke-again");
        let a = issue(&s, "alpha");
        let first = s.revoke(RevokeTarget::Serial(a), "first").unwrap();
        assert_eq!(first.revoked.len(), 1);
        let again = s.revoke(RevokeTarget::Cluster("alpha"), "second").unwrap();
        assert!(again.revoked.is_empty());
        assert_eq!(again.already[0].1.reason, "first");
        assert_eq!(s.registry().unwrap().revocations.len(), 1);
    }

    #[test]
    fn what_cannot_be_revoked_is_refused_and_changes_nothing() {
        let (_t, s) = store("revoke-refused");
        let a = issue(&s, "alpha");
        let reg = s.registry().unwrap();
        let ca = reg
            .entries
            .iter()
            .find(|e| e.kind == Kind::Ca)
            .unwrap()
            .serial;
        let before = fs::read(s.path(REGISTRY_FILE)).unwrap();
        for (target, words) in [
            (
                RevokeTarget::Cluster("nosuch"),
                "no certificate for cluster",
            ),
            (RevokeTarget::Serial(101), "the ca certificate"),
            (RevokeTarget::Serial(ca), "the ca certificate"),
            (RevokeTarget::Serial(102), "the server certificate"),
            (RevokeTarget::Serial(a + 1), "has not been issued yet"),
        ] {
            let e = s.revoke(target, "r").unwrap_err().to_string();
            assert!(e.contains(words), "{target:?}: {e}");
        }
        assert_eq!(fs::read(s.path(REGISTRY_FILE)).unwrap(), before);
    }

    #[test]
    fn a_serial_the_registry_does_not_know_can_be_revoked_if_it_was_handed_out() {
        let (_t, s) = store("revoke-unknown");
        let a = issue(&s, "alpha");
        // 103 is alpha's; pretend a certificate with serial 104 was signed elsewhere (before
        // an import) and serial.txt moved past it.
        fs::write(s.path(SERIAL_FILE), format!("{}\n", a + 5)).unwrap();
        let out = s.revoke(RevokeTarget::Serial(a + 2), "").unwrap();
        assert!(out.revoked[0].0.is_none());
        assert_eq!(out.revoked[0].1.serial, a + 2);
    }
}
