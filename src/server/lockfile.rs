//! The PID lock file that keeps a second daemon from starting (`-S lock_file=`).

use super::runfiles::{make_parent_dir, CreatedDirs};
use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Held for the life of the daemon; the lock goes with the open file. Dropping it removes
/// the file (and the directories made for it), so neither a failed start nor a stop leaves
/// a pid file behind.
#[derive(Debug)]
pub struct LockFile {
    file: File,
    path: PathBuf,
    _dirs: CreatedDirs,
}

impl LockFile {
    /// Create `path` (and its directory, mode 0770, as the upstream unit's RuntimeDirectory),
    /// take an exclusive lock and write our PID. Errors are whole sentences for the user.
    pub fn acquire(path: &Path) -> Result<LockFile, String> {
        let dirs = make_parent_dir(path)?;
        // A holder removes the file while it still holds the lock: a lock won on a file that
        // is no longer at `path` came from a daemon that was just stopping; take the new one.
        for _ in 0..3 {
            let file = lock(path)?;
            if same_file(&file, path) {
                return write_pid(file, path, dirs);
            }
        }
        Err(format!(
            "cannot lock {}: it keeps being replaced by another process",
            path.display()
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Only while the file at `path` is still ours; the lock is released after this, when
        // `file` closes.
        if same_file(&self.file, &self.path) {
            if let Err(e) = std::fs::remove_file(&self.path) {
                log::debug!("cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Opens (creating it if needed) and locks `path`.
fn lock(path: &Path) -> Result<File, String> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o640)
        .open(path)
        .map_err(|e| format!("cannot open lock file {}: {e}", path.display()))?;
    // flock() like upstream's utils_flock (std's File::try_lock is the same call, but
    // needs Rust 1.89 and our MSRV is 1.85).
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            return Err(format!(
                "Another instance is running (lock file {} is held)",
                path.display()
            ))
        }
        Err(e) => return Err(format!("cannot lock {}: {e}", path.display())),
    }
    Ok(file)
}

fn write_pid(file: File, path: &Path, dirs: CreatedDirs) -> Result<LockFile, String> {
    let lock = LockFile {
        file,
        path: path.to_path_buf(),
        _dirs: dirs,
    };
    lock.file
        .set_len(0)
        .and_then(|()| writeln!(&lock.file, "{}", std::process::id()))
        .map_err(|e| format!("cannot write lock file {}: {e}", path.display()))?;
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_and_pid_written() {
        let dir = std::env::temp_dir().join(format!("qnetd-lock-{}", std::process::id()));
        let path = dir.join("sub/qnetd.pid");
        let first = LockFile::acquire(&path).unwrap();
        let pid = std::fs::read_to_string(&path).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        let second = LockFile::acquire(&path).unwrap_err();
        assert!(second.contains("Another instance is running"), "{second}");
        drop(first);
        assert!(
            !path.exists(),
            "the pid file stayed after the lock was dropped"
        );
        drop(LockFile::acquire(&path).unwrap());
        assert!(!dir.exists(), "the directories made for the lock stayed");
    }
}
