//! Serial numbers of the certificates a store issues: never the same twice.
//!
//! serial.txt holds the last serial handed out, but it is a plain file a restore from an older
//! backup sets back. So the last serial is the highest of serial.txt, every serial the registry
//! knows (issued or revoked) and the serials of the certificates in the store: a serial.txt set
//! back cannot make the next certificate repeat one that exists.
//! The CA's serial is random (see `profile::random_ca_serial`) and is left out.

use std::fs;
use std::path::Path;

use crate::certinfo;
use crate::error::StoreError;
use crate::fsutil;
use crate::registry::{self, Kind};
use crate::store::{read_pem, REGISTRY_FILE, SERIAL_BASE, SERIAL_FILE, SERVER_CERT_FILE};

/// The last serial handed out in the store `dir`.
pub fn last(dir: &Path) -> Result<u64, StoreError> {
    let mut last = from_file(dir)?;
    let reg = registry::read(&dir.join(REGISTRY_FILE))?;
    for e in reg.entries.iter().filter(|e| e.kind != Kind::Ca) {
        last = last.max(e.serial);
    }
    for r in &reg.revocations {
        last = last.max(r.serial);
    }
    for der in store_certificates(dir) {
        if let Ok(c) = certinfo::summary(&der) {
            last = last.max(c.serial);
        }
    }
    Ok(last)
}

/// serial.txt's value, or the base of a store that has none.
pub fn from_file(dir: &Path) -> Result<u64, StoreError> {
    let path = dir.join(SERIAL_FILE);
    let data = match fsutil::read_bounded(&path, fsutil::cap::PEM, fsutil::Links::Refuse) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SERIAL_BASE),
        Err(e) => return Err(StoreError::io(format!("cannot read {}", path.display()), e)),
    };
    let text = String::from_utf8_lossy(&data);
    text.trim().parse::<u64>().map_err(|_| StoreError::Corrupt {
        path: path.clone(),
        reason: format!("expected a decimal serial, found {:?}", text.trim()),
    })
}

/// The DER of the server certificate and every `cluster-*.crt` in the store (unreadable ones
/// are skipped: they cannot say which serial they hold, and the registry still does).
fn store_certificates(dir: &Path) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = read_pem(&dir.join(SERVER_CERT_FILE), &["CERTIFICATE"])
        .into_iter()
        .collect();
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("cluster-") && name.ends_with(".crt") {
            if let Ok(der) = fsutil::read(&ent.path()) {
                out.push(der);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::profile;
    use crate::store::{CertStore, InitOptions, SERIAL_FILE};
    use std::collections::HashSet;
    use std::fs;

    /// The invariant, under random sequences: however serial.txt is set back (a restore, an
    /// edit), no two certificates the store issues share a serial.
    #[test]
    fn no_serial_repeats_whatever_serial_txt_is_set_back_to() {
        for seed in [1u64, 0x5403, 0xdead_beef] {
            let base = std::env::temp_dir()
                .join(format!("certtool-serials-{seed}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&base);
            let (store, _) = CertStore::init(&base.join("nssdb"), InitOptions::default()).unwrap();
            let mut rng = seed;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            for _ in 0..30 {
                if next() % 3 == 0 {
                    let last = super::last(store.dir()).unwrap();
                    let back = 100 + next() % (last - 98);
                    fs::write(store.path(SERIAL_FILE), format!("{back}\n")).unwrap();
                } else {
                    let key = profile::new_key().unwrap();
                    store.issue_cluster_cert("c", &key).unwrap();
                }
            }
            let reg = store.registry().unwrap();
            let mut seen = HashSet::new();
            for e in &reg.entries {
                assert!(
                    seen.insert(e.serial),
                    "seed {seed}: serial {} twice",
                    e.serial
                );
            }
            fs::remove_dir_all(&base).unwrap();
        }
    }
}
