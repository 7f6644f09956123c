//! PEM files of the store: certificates and private keys, read through the bounded read.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::StoreError;
use crate::fsutil;

/// Mode bits a private key we use must not have: any access by others, and write by the group.
/// Group read is allowed: the server key is root:GROUP 0640, its daemon reading as that group.
const KEY_MODE_FORBIDDEN: u32 = 0o027;

/// Refuses a private key file whose mode lets other users read or write it, or its group write
/// it: the one rule for every command that uses a key (run, signing, doctor). A missing file
/// is left for the read to report.
pub fn check_key_mode(path: &Path) -> Result<(), StoreError> {
    match fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & KEY_MODE_FORBIDDEN != 0 => {
            Err(StoreError::KeyMode {
                path: path.to_path_buf(),
                mode: meta.permissions().mode() & 0o7777,
            })
        }
        _ => Ok(()),
    }
}

/// A private key's PKCS#8 DER from its PEM file, once its mode passes [`check_key_mode`].
pub(crate) fn read_key_pem(path: &Path) -> Result<Vec<u8>, StoreError> {
    check_key_mode(path)?;
    read_pem(path, &["PRIVATE KEY"])
}

/// Reads the first PEM block with one of `tags` from `path` (text around it is ignored).
pub(crate) fn read_pem(path: &Path, tags: &[&str]) -> Result<Vec<u8>, StoreError> {
    let data = fsutil::read(path)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let blocks = pem::parse_many(&data).map_err(|e| corrupt(format!("bad PEM: {e}")))?;
    blocks
        .into_iter()
        .find(|b| tags.contains(&b.tag()))
        .map(|b| b.into_contents())
        .ok_or_else(|| corrupt(format!("no {} PEM block", tags.join("/"))))
}
