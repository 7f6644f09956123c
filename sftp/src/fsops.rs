//! The filesystem calls behind the requests that change things (SETSTAT and friends, RENAME,
//! statvfs), and errno as the status OpenSSH's server answers for it.

use crate::packet::{self as p, Attrs, Status};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps, CWD};
use rustix::io::Errno;

/// errno to status as OpenSSH's errno_to_portable.
pub fn status_of(e: &io::Error) -> Status {
    let Some(raw) = e.raw_os_error() else {
        return Status::Failure;
    };
    let is = |errnos: &[Errno]| errnos.iter().any(|x| x.raw_os_error() == raw);
    if is(&[Errno::NOENT, Errno::NOTDIR, Errno::BADF, Errno::LOOP]) {
        Status::NoSuchFile
    } else if is(&[Errno::PERM, Errno::ACCESS, Errno::FAULT]) {
        Status::PermissionDenied
    } else if is(&[Errno::NAMETOOLONG, Errno::INVAL]) {
        Status::BadMessage
    } else if is(&[Errno::NOSYS]) {
        Status::OpUnsupported
    } else {
        Status::Failure
    }
}

pub(crate) fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// pread until `buf` is full or end of file (a pipe or /proc file may return less).
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn timestamps(a: &Attrs) -> Timestamps {
    let t = |s: u32| Timespec {
        tv_sec: i64::from(s),
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t(a.atime),
        last_modification: t(a.mtime),
    }
}

/// SETSTAT (`follow`) and lsetstat@openssh.com: each attribute is set in turn; the last
/// failure is the answer (as OpenSSH's server does it).
pub(crate) fn set_path_attrs(f: &Path, a: &Attrs, follow: bool) -> io::Result<()> {
    let mut result = Ok(());
    let mut step = |r: io::Result<()>| {
        if r.is_err() {
            result = r;
        }
    };
    if a.flags & p::ATTR_SIZE != 0 {
        // truncate(2) by way of open: O_NONBLOCK so that a FIFO cannot hang the session.
        let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = rustix::fs::open(f, flags, Mode::empty()).map_err(errno);
        step(file.and_then(|fd| File::from(fd).set_len(a.size)));
    }
    if a.flags & p::ATTR_PERMISSIONS != 0 {
        let perm = std::fs::Permissions::from_mode(a.perm & 0o7777);
        // Linux cannot chmod a symlink itself (glibc's fchmodat says EOPNOTSUPP too).
        let is_link =
            !follow && std::fs::symlink_metadata(f).is_ok_and(|m| m.file_type().is_symlink());
        step(if is_link {
            Err(errno(Errno::OPNOTSUPP))
        } else {
            std::fs::set_permissions(f, perm)
        });
    }
    if a.flags & p::ATTR_ACMODTIME != 0 {
        let flags = if follow {
            AtFlags::empty()
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        };
        step(rustix::fs::utimensat(CWD, f, &timestamps(a), flags).map_err(errno));
    }
    if a.flags & p::ATTR_UIDGID != 0 {
        let (u, g) = (Some(a.uid), Some(a.gid));
        step(if follow {
            std::os::unix::fs::chown(f, u, g)
        } else {
            std::os::unix::fs::lchown(f, u, g)
        });
    }
    result
}

/// FSETSTAT: as [`set_path_attrs`] on an open file.
pub(crate) fn set_file_attrs(file: &File, a: &Attrs) -> io::Result<()> {
    let mut result = Ok(());
    let mut step = |r: io::Result<()>| {
        if r.is_err() {
            result = r;
        }
    };
    if a.flags & p::ATTR_SIZE != 0 {
        step(file.set_len(a.size));
    }
    if a.flags & p::ATTR_PERMISSIONS != 0 {
        step(file.set_permissions(std::fs::Permissions::from_mode(a.perm & 0o7777)));
    }
    if a.flags & p::ATTR_ACMODTIME != 0 {
        step(rustix::fs::futimens(file, &timestamps(a)).map_err(errno));
    }
    if a.flags & p::ATTR_UIDGID != 0 {
        step(std::os::unix::fs::fchown(file, Some(a.uid), Some(a.gid)));
    }
    result
}

/// RENAME (the draft's, not POSIX's): never replaces an existing target. Regular files go
/// by link + unlink (race free); where links are not supported, and for other file types,
/// the target is checked first, as OpenSSH's server does it.
pub(crate) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_file() {
        match std::fs::hard_link(from, to) {
            Ok(()) => {
                if let Err(e) = std::fs::remove_file(from) {
                    let _ = std::fs::remove_file(to);
                    return Err(e);
                }
                return Ok(());
            }
            Err(e) if !links_unsupported(&e) => return Err(e),
            Err(_) => {}
        }
    }
    // stat, not lstat, as OpenSSH: a dangling symlink in the way is replaced.
    if std::fs::metadata(to).is_ok() {
        // OpenSSH answers FAILURE here (no errno): the target exists.
        return Err(io::Error::other("target exists"));
    }
    std::fs::rename(from, to)
}

fn links_unsupported(e: &io::Error) -> bool {
    [Errno::OPNOTSUPP, Errno::NOSYS, Errno::XDEV, Errno::PERM]
        .iter()
        .any(|x| e.raw_os_error() == Some(x.raw_os_error()))
}
