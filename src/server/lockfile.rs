//! The PID lock file that keeps a second daemon from starting (`-S lock_file=`).

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Held for the life of the daemon; the lock goes with the open file.
#[derive(Debug)]
pub struct LockFile {
    _file: File,
    path: PathBuf,
}

impl LockFile {
    /// Create `path` (and its directory, mode 0770, as the upstream unit's RuntimeDirectory),
    /// take an exclusive lock and write our PID. Errors are whole sentences for the user.
    pub fn acquire(path: &Path) -> Result<LockFile, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o770)
                    .create(dir)
                    .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
            }
        }
        let mut file = OpenOptions::new()
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
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(|e| format!("cannot write lock file {}: {e}", path.display()))?;
        Ok(LockFile {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
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
        LockFile::acquire(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
