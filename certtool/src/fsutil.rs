//! File-system primitives of the store: atomic writes, owner copying, the store lock.
//! Only system calls, never an external program (the router may have nothing but BusyBox).

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
use rustix::io::Errno;
use rustix::process::Pid;

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
    if !rustix::process::geteuid().is_root() {
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
    let gid = owner.map_or_else(|| rustix::process::getegid().as_raw(), |o| o.gid);
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
        // Blocking LOCK_EX: waits for the other writer; a signal (EINTR) only restarts the wait.
        loop {
            match rustix::fs::flock(&file, FlockOperation::LockExclusive) {
                Ok(()) => {
                    remove_stale_temps(dir);
                    return Ok(StoreLock { _file: file });
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(StoreError::io(what(), e.into())),
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
        if writer_gone(pid) {
            let _ = fs::remove_file(ent.path());
        }
    }
}

/// Whether no process `pid` exists: kill(pid, 0) fails with ESRCH. EPERM (it exists, as
/// another user's) or any other answer keeps the temp file.
fn writer_gone(pid: i32) -> bool {
    let Some(pid) = Pid::from_raw(pid) else {
        return false;
    };
    matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
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

    /// A fresh empty directory under the system temp dir, removed by the caller.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("certtool-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_store_lock_excludes_a_second_holder_until_dropped() {
        let dir = scratch("lock");
        let first = StoreLock::acquire(&dir, None).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.clone();
        let waiter = std::thread::spawn(move || {
            let _second = StoreLock::acquire(&d, None).unwrap();
            tx.send(()).unwrap();
        });
        let wait = std::time::Duration::from_millis(300);
        assert!(
            rx.recv_timeout(wait).is_err(),
            "second lock taken while the first is held"
        );
        drop(first);
        assert!(
            rx.recv_timeout(wait * 10).is_ok(),
            "second lock not taken after release"
        );
        waiter.join().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_the_temp_files_of_dead_writers_are_removed() {
        let dir = scratch("temps");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let alive = dir.join(format!(".a.crt.tmp.{}", std::process::id()));
        let stale = dir.join(format!(".b.crt.tmp.{dead}"));
        let init = dir.join(".c.crt.tmp.1"); // pid 1 exists (and is not ours: EPERM if not root)
        for f in [&alive, &stale, &init] {
            fs::write(f, b"x").unwrap();
        }
        drop(StoreLock::acquire(&dir, None).unwrap());
        assert!(
            alive.exists() && init.exists(),
            "a live writer's temp file was removed"
        );
        assert!(!stale.exists(), "a dead writer's temp file was kept");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn euid_egid_and_the_random_pool_are_read() {
        // The test machine booted long ago: its pool is ready.
        assert!(crate::random_pool_ready());
        let dir = scratch("ids");
        let id = |flag| {
            std::process::Command::new("id")
                .arg(flag)
                .output()
                .unwrap()
                .stdout
        };
        let as_root = id("-u") == b"0\n";
        assert_eq!(reference_owner(&dir).is_some(), as_root, "geteuid");
        // The new directory has our egid (temp dir without setgid), so a group-readable one
        // gives 0640 keys; the group is read by getegid.
        fs::set_permissions(&dir, Permissions::from_mode(0o750)).unwrap();
        let ours = fs::metadata(&dir).unwrap().gid().to_string() + "\n";
        let expected = if id("-g") == ours.as_bytes() {
            0o640
        } else {
            0o600
        };
        assert_eq!(key_mode(&dir, None), expected, "getegid");
        fs::remove_dir_all(&dir).unwrap();
    }
}
