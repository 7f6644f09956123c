//! File-system primitives of the store: atomic writes, owner copying, the store lock.
//! Only system calls, never an external program (the router may have nothing but BusyBox).

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// Owner and group to give to a new file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// The owner of `reference` when we run as root, else `None`.
///
/// Upstream's script does `chown --reference=/etc/corosync/qnetd` on every file it creates, only
/// when run as root, so that a daemon running as a service user can read what root created.
pub fn reference_owner(reference: &Path) -> Option<Owner> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let meta = fs::metadata(reference).ok()?;
    Some(Owner {
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

/// The owner of new files in the store `dir`: [`reference_owner`] of `reference` (upstream's
/// `chown --reference`), but with the store directory's own group, so the group the store was
/// given (root:qnetd on OpenWrt, root:coroqnetd on Debian) can read what root adds to it.
pub fn store_owner(dir: &Path, reference: &Path) -> Option<Owner> {
    let by_reference = reference_owner(reference)?;
    let gid = fs::metadata(dir).map_or(by_reference.gid, |m| m.gid());
    Some(Owner {
        uid: by_reference.uid,
        gid,
    })
}

/// The mode of a new private key in `dir`: 0640 when the directory is group-readable and the
/// key really gets the directory's group (given as `owner`, or it is our own group), so the
/// daemon's user reads it through that group; 0600 otherwise.
pub fn key_mode(dir: &Path, owner: Option<Owner>) -> u32 {
    let Ok(meta) = fs::metadata(dir) else {
        return 0o600;
    };
    // SAFETY: getegid has no preconditions and cannot fail.
    let gid = owner.map_or_else(|| unsafe { libc::getegid() }, |o| o.gid);
    if meta.mode() & 0o040 != 0 && gid == meta.gid() {
        0o640
    } else {
        0o600
    }
}

/// Gives `file` to `owner`. Like upstream, a failure (e.g. a file system without owners) is
/// not fatal: the file is still usable by root.
fn give_to(file: &File, owner: Option<Owner>) {
    if let Some(o) = owner {
        let _ = std::os::unix::fs::fchown(file, Some(o.uid), Some(o.gid));
    }
}

/// Writes `data` to `path` so that a reader (or a crash) sees either the old file or the
/// whole new one: temp file in the same directory, fsync, rename, fsync of the directory.
pub fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> Result<(), StoreError> {
    let tmp = temp_path(path);
    let result = write_then_rename(&tmp, path, data, mode, owner);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| StoreError::io(format!("cannot write {}", path.display()), e))
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

fn write_then_rename(
    tmp: &Path,
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> io::Result<()> {
    // A temp file left by a killed run with our (reused) pid is garbage: replace it.
    let _ = fs::remove_file(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    // The umask may have cleared bits we want (0660); set the mode explicitly.
    file.set_permissions(Permissions::from_mode(mode))?;
    give_to(&file, owner);
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` (and missing parents) with `mode` and `owner` for the last component.
/// Returns whether it was created.
pub fn create_dir(dir: &Path, mode: u32, owner: Option<Owner>) -> Result<bool, StoreError> {
    if dir.is_dir() {
        return Ok(false);
    }
    let what = || format!("cannot create directory {}", dir.display());
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent).map_err(|e| StoreError::io(what(), e))?;
        }
    }
    // Created with the mode (less the umask) rather than the umask's default: a run killed
    // before the chmod below must not leave a world-readable store directory.
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        // Another init got there between our check and mkdir: theirs, not ours to chmod.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(false),
        Err(e) => return Err(StoreError::io(what(), e)),
    }
    fs::set_permissions(dir, Permissions::from_mode(mode))
        .map_err(|e| StoreError::io(what(), e))?;
    if let Some(o) = owner {
        let _ = std::os::unix::fs::chown(dir, Some(o.uid), Some(o.gid));
    }
    Ok(true)
}

/// An exclusive lock on the store, held while serials are handed out and files replaced,
/// so two concurrent `sign` runs never get the same serial.
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// `owner` is given to the lock file if this call creates it.
    pub fn acquire(dir: &Path, owner: Option<Owner>) -> Result<StoreLock, StoreError> {
        let path = dir.join(".lock");
        let what = || format!("cannot lock {}", path.display());
        // flock works on a read-only descriptor: anyone who may read the store may lock it.
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let f = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o640)
                    .open(&path)
                    .map_err(|e| StoreError::io(what(), e))?;
                give_to(&f, owner);
                f
            }
            Err(e) => return Err(StoreError::io(what(), e)),
        };
        use std::os::fd::AsRawFd;
        loop {
            // SAFETY: the descriptor is open for the whole call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                remove_stale_temps(dir);
                return Ok(StoreLock { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(StoreError::io(what(), err));
            }
        }
    }
}

/// Removes the temp files (`.NAME.tmp.PID`, see `temp_path`) of writers that were killed: on
/// a router's small flash they would pile up, and a key's holds a private key. Called with the
/// store lock held; a temp file whose process still runs (a `bundle --out` into the store
/// directory, or a reused pid) is left alone. Best effort: a failure here changes nothing else.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for ent in entries.flatten() {
        let name = ent.file_name();
        let Some(pid) = name.to_str().and_then(temp_file_pid) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = fs::remove_file(ent.path());
        }
    }
}

/// The writer's pid if `name` is one of our temp file names.
fn temp_file_pid(name: &str) -> Option<i32> {
    let (stem, pid) = name.strip_prefix('.')?.rsplit_once(".tmp.")?;
    if stem.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

/// Reads a whole file, with the path in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, StoreError> {
    fs::read(path).map_err(|e| StoreError::io(format!("cannot read {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised() {
        let tmp = temp_path(Path::new("/s/qnetd-ca.key"));
        let name = tmp.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_file_pid(name), Some(std::process::id() as i32));
        assert_eq!(temp_file_pid(".cluster-a.tmp.b.crt.tmp.12"), Some(12));
        for other in [
            "qnetd-ca.key",
            ".lock",
            ".x.tmp.",
            ".x.tmp.12a",
            ".tmp.5",
            ".x.tmp.0",
        ] {
            assert_eq!(temp_file_pid(other), None, "{other}");
        }
    }
}
