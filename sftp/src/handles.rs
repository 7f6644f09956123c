//! The requests on handles: OPEN and OPENDIR make one, READ, READDIR, CLOSE and copy-data
//! use it. At most [`MAX_HANDLES`] at once.

use crate::attrs;
use crate::fsops::{errno, read_full_at};
use crate::packet::{self as p, Attrs, Status, Writer};
use crate::server::{done, path, IntoVec, Server};
use crate::users::Accounts;
use std::ffi::OsStr;
use std::fs::{File, ReadDir};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Open files and directories at once (OpenSSH has no fixed limit; a router wants one).
pub const MAX_HANDLES: usize = 100;
/// Entries per READDIR reply, as OpenSSH's server sends.
const READDIR_BATCH: usize = 100;

/// An open file or directory; the client names it by its slot in the session's table.
pub(crate) enum Handle {
    File {
        file: File,
        path: PathBuf,
    },
    /// `dots`: how many of "." and ".." are still to list (std's ReadDir skips them; OpenSSH's
    /// server lists them).
    Dir {
        dir: ReadDir,
        path: PathBuf,
        dots: u8,
    },
}

impl Server {
    fn add_handle(&mut self, h: Handle) -> Option<[u8; 4]> {
        let slot = match self.handles.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.handles.len() < MAX_HANDLES => {
                self.handles.push(None);
                self.handles.len() - 1
            }
            None => return None,
        };
        self.handles[slot] = Some(h);
        Some((slot as u32).to_be_bytes())
    }

    fn slot(handle: &[u8]) -> Option<usize> {
        let b: [u8; 4] = handle.try_into().ok()?;
        Some(u32::from_be_bytes(b) as usize)
    }

    pub(crate) fn file(&self, handle: &[u8]) -> Option<(&File, &Path)> {
        match self.handles.get(Self::slot(handle)?)? {
            Some(Handle::File { file, path }) => Some((file, path)),
            _ => None,
        }
    }

    pub(crate) fn open(
        &mut self,
        out: &mut Vec<u8>,
        id: u32,
        name: &[u8],
        pflags: u32,
        attrs: &Attrs,
    ) {
        let mut flags = match (pflags & p::FXF_READ != 0, pflags & p::FXF_WRITE != 0) {
            (true, true) => OFlags::RDWR,
            (false, true) => OFlags::WRONLY,
            _ => OFlags::RDONLY,
        };
        for (bit, f) in [
            (p::FXF_APPEND, OFlags::APPEND),
            (p::FXF_CREAT, OFlags::CREATE),
            (p::FXF_TRUNC, OFlags::TRUNC),
            (p::FXF_EXCL, OFlags::EXCL),
        ] {
            if pflags & bit != 0 {
                flags |= f;
            }
        }
        let writes = pflags & (p::FXF_WRITE | p::FXF_CREAT | p::FXF_TRUNC) != 0;
        if self.policy.read_only && writes {
            return p::status(out, id, Status::PermissionDenied);
        }
        let mode = if attrs.flags & p::ATTR_PERMISSIONS != 0 {
            attrs.perm & 0o7777
        } else {
            0o666
        };
        let opened = rustix::fs::open(
            path(name),
            flags | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        );
        match opened {
            Err(e) => done(out, id, Err(errno(e))),
            Ok(fd) => {
                let h = Handle::File {
                    file: File::from(fd),
                    path: path(name).to_path_buf(),
                };
                match self.add_handle(h) {
                    Some(h) => p::handle(out, id, &h),
                    None => p::status_msg(out, id, Status::Failure, "too many open handles"),
                }
            }
        }
    }

    pub(crate) fn opendir(&mut self, out: &mut Vec<u8>, id: u32, name: &[u8]) {
        match std::fs::read_dir(path(name)) {
            Err(e) => done(out, id, Err(e)),
            Ok(dir) => {
                let h = Handle::Dir {
                    dir,
                    path: path(name).to_path_buf(),
                    dots: 2,
                };
                match self.add_handle(h) {
                    Some(h) => p::handle(out, id, &h),
                    None => p::status_msg(out, id, Status::Failure, "too many open handles"),
                }
            }
        }
    }

    pub(crate) fn close(&mut self, out: &mut Vec<u8>, id: u32, handle: &[u8]) {
        let taken = Self::slot(handle)
            .and_then(|i| self.handles.get_mut(i))
            .and_then(Option::take);
        // Dropping the handle closes it; a bad handle is ENOENT for OpenSSH.
        let s = if taken.is_some() {
            Status::Ok
        } else {
            Status::NoSuchFile
        };
        p::status(out, id, s);
    }

    pub(crate) fn read(
        &mut self,
        out: &mut Vec<u8>,
        id: u32,
        handle: &[u8],
        offset: u64,
        len: u32,
    ) {
        let Some((file, _)) = self.file(handle) else {
            return p::status(out, id, Status::Failure);
        };
        let len = len.min(p::MAX_READ) as usize;
        let start = out.len();
        let mut w = Writer::start(out, p::FXP_DATA, id);
        let (buf, at) = w.string_in_place(len);
        let r = read_full_at(file, &mut buf[at..at + len], offset);
        match r {
            Ok(n) if n > 0 || len == 0 => {
                w.end_string_in_place(at, n);
                w.finish();
            }
            r => {
                out.truncate(start);
                match r {
                    Ok(_) => p::status(out, id, Status::Eof),
                    Err(e) => done(out, id, Err(e)),
                }
            }
        }
    }

    pub(crate) fn readdir(&mut self, out: &mut Vec<u8>, id: u32, handle: &[u8]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if self.accounts.is_none() {
            self.accounts = Some(Accounts::load());
        }
        let slot = Self::slot(handle).and_then(|i| self.handles.get_mut(i));
        let (Some(Some(Handle::Dir { dir, path, dots })), Some(accounts)) = (slot, &self.accounts)
        else {
            return p::status(out, id, Status::Failure);
        };
        let start = out.len();
        let mut w = Writer::start(out, p::FXP_NAME, id);
        let count_at = w.position();
        w.u32(0);
        let mut count = 0;
        while count < READDIR_BATCH {
            let (name, meta) = if *dots > 0 {
                let name: &[u8] = if *dots == 2 { b"." } else { b".." };
                *dots -= 1;
                (
                    name.to_vec(),
                    std::fs::symlink_metadata(path.join(OsStr::from_bytes(name))),
                )
            } else {
                match dir.next() {
                    None => break,
                    Some(Err(_)) => continue,
                    Some(Ok(e)) => (e.file_name().into_vec(), e.metadata()),
                }
            };
            // Entries that vanished or cannot be stat'ed are skipped, as OpenSSH does.
            let Ok(meta) = meta else { continue };
            let long = attrs::long_name(&name, &meta, accounts, now);
            w.string(&name)
                .string(&long)
                .attrs(&attrs::from_metadata(&meta));
            count += 1;
        }
        if count == 0 {
            out.truncate(start);
            return p::status(out, id, Status::Eof);
        }
        w.patch_u32(count_at, count as u32);
        w.finish();
    }

    pub(crate) fn copy_data(
        &self,
        from: &[u8],
        off: u64,
        len: u64,
        to: &[u8],
        to_off: u64,
    ) -> io::Result<Status> {
        let (Some((src, src_path)), Some((dst, dst_path))) = (self.file(from), self.file(to))
        else {
            return Err(errno(Errno::BADF));
        };
        let (a, b) = (src.metadata()?, dst.metadata()?);
        if from == to || src_path == dst_path || (a.dev(), a.ino()) == (b.dev(), b.ino()) {
            return Ok(Status::Failure);
        }
        let mut buf = vec![0u8; 64 * 1024];
        let until_eof = len == 0;
        let mut left = if until_eof { u64::MAX - off } else { len };
        let (mut r, mut w) = (off, to_off);
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = read_full_at(src, &mut buf[..want], r)?;
            if n == 0 {
                return Ok(if until_eof { Status::Ok } else { Status::Eof });
            }
            dst.write_all_at(&buf[..n], w)?;
            (r, w, left) = (r + n as u64, w + n as u64, left - n as u64);
        }
        Ok(Status::Ok)
    }
}
