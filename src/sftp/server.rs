//! Serves SFTP requests on a byte stream (stdin/stdout under sshd or Dropbear) against the
//! local filesystem with the running user's rights: plain syscalls, never a uid change. One
//! request at a time, blocking I/O; memory is bounded by the packet cap, the read cap and the
//! handle table, whatever the file sizes.

use super::attrs;
use super::packet::{self as p, Attrs, DecodeError, Packet, Request, Status, Writer};
use super::realpath::realpath;
use super::users::Accounts;
use std::ffi::OsStr;
use std::fs::{File, ReadDir};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps, CWD};
use rustix::io::Errno;

/// Open files and directories at once (OpenSSH has no fixed limit; a router wants one).
pub const MAX_HANDLES: usize = 100;
/// Entries per READDIR reply, as OpenSSH's server sends.
const READDIR_BATCH: usize = 100;

/// What the session may do (sftp-server's -R, -p and -P).
#[derive(Debug, Default, Clone)]
pub struct Policy {
    pub read_only: bool,
    /// -p: only these request names (None: all).
    pub allow: Option<Vec<String>>,
    /// -P: never these request names.
    pub deny: Vec<String>,
}

impl Policy {
    /// Whether a request called `name` (OpenSSH's names, see [`REQUESTS`]) may run.
    pub fn permits(&self, name: &str) -> bool {
        let writes = REQUESTS.iter().any(|&(n, w)| n == name && w);
        let denied = self.deny.iter().any(|d| d == name);
        !(denied || self.read_only && writes)
            && self
                .allow
                .as_ref()
                .is_none_or(|a| a.iter().any(|n| n == name))
    }
}

/// Every request name OpenSSH's sftp-server knows (for -p/-P/-Q), and whether it writes.
pub const REQUESTS: &[(&str, bool)] = &[
    ("open", false),
    ("close", false),
    ("read", false),
    ("write", true),
    ("lstat", false),
    ("fstat", false),
    ("setstat", true),
    ("fsetstat", true),
    ("opendir", false),
    ("readdir", false),
    ("remove", true),
    ("mkdir", true),
    ("rmdir", true),
    ("realpath", false),
    ("stat", false),
    ("rename", true),
    ("readlink", false),
    ("symlink", true),
    ("posix-rename", true),
    ("statvfs", false),
    ("fstatvfs", false),
    ("hardlink", true),
    ("fsync", true),
    ("lsetstat", true),
    ("limits", false),
    ("expand-path", false),
    ("copy-data", true),
    ("home-directory", false),
    ("users-groups-by-id", false),
];

/// The request name of an extension we advertise ("limits@openssh.com" is "limits").
fn extension_request(ext: &str) -> &str {
    ext.split('@').next().unwrap_or(ext)
}

fn request_name(r: &Request) -> Option<&'static str> {
    use Request as Q;
    Some(match r {
        Q::Open { .. } => "open",
        Q::Close { .. } => "close",
        Q::Read { .. } => "read",
        Q::Write { .. } => "write",
        Q::Lstat { .. } => "lstat",
        Q::Fstat { .. } => "fstat",
        Q::Setstat { .. } => "setstat",
        Q::Fsetstat { .. } => "fsetstat",
        Q::Opendir { .. } => "opendir",
        Q::Readdir { .. } => "readdir",
        Q::Remove { .. } => "remove",
        Q::Mkdir { .. } => "mkdir",
        Q::Rmdir { .. } => "rmdir",
        Q::Realpath { .. } => "realpath",
        Q::Stat { .. } => "stat",
        Q::Rename { .. } => "rename",
        Q::Readlink { .. } => "readlink",
        Q::Symlink { .. } => "symlink",
        Q::PosixRename { .. } => "posix-rename",
        Q::Statvfs { .. } => "statvfs",
        Q::Fstatvfs { .. } => "fstatvfs",
        Q::Hardlink { .. } => "hardlink",
        Q::Fsync { .. } => "fsync",
        Q::Lsetstat { .. } => "lsetstat",
        Q::Limits => "limits",
        Q::ExpandPath { .. } => "expand-path",
        Q::CopyData { .. } => "copy-data",
        Q::HomeDirectory { .. } => "home-directory",
        Q::UsersGroupsById { .. } => "users-groups-by-id",
        Q::Init { .. } | Q::UnknownExtended { .. } | Q::Unknown { .. } => return None,
    })
}

/// Why a session ended other than by the client closing its end.
#[derive(Debug)]
pub enum Fatal {
    /// Reading or writing the stream failed.
    Io(io::Error),
    /// A declared packet length over the cap (OpenSSH's server exits 11 on it).
    Length(p::BadLength),
    /// The stream ended inside a packet.
    Truncated,
    /// A packet too short to hold a request id.
    NoId,
    /// A request before INIT, or a second INIT.
    Sequence(u8),
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fatal::Io(e) => write!(f, "I/O error: {e}"),
            Fatal::Length(e) => write!(f, "bad message: {e}"),
            Fatal::Truncated => write!(f, "input ended inside a packet"),
            Fatal::NoId => write!(f, "{}", DecodeError::NoId),
            Fatal::Sequence(t) if *t == p::FXP_INIT => write!(f, "INIT received twice"),
            Fatal::Sequence(t) => write!(f, "request type {t} received before INIT"),
        }
    }
}

enum Handle {
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

/// One session's state.
pub struct Server {
    policy: Policy,
    handles: Vec<Option<Handle>>,
    accounts: Option<Accounts>,
    initialised: bool,
}

fn path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

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

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// The result of most requests: a STATUS reply.
fn done(out: &mut Vec<u8>, id: u32, r: io::Result<()>) {
    let s = match r {
        Ok(()) => Status::Ok,
        Err(e) => status_of(&e),
    };
    p::status(out, id, s);
}

/// Runs a session until the client closes its end (Ok) or breaks the protocol (Err).
pub fn serve<R: Read>(
    input: &mut BufReader<R>,
    output: &mut impl Write,
    policy: Policy,
) -> Result<(), Fatal> {
    let mut server = Server::new(policy);
    let mut body = Vec::new();
    let mut reply = Vec::new();
    loop {
        // Flush before a read would block, so pipelined replies leave in few writes.
        if input.buffer().is_empty() {
            output.flush().map_err(Fatal::Io)?;
        }
        if input.fill_buf().map_err(Fatal::Io)?.is_empty() {
            return Ok(());
        }
        let mut header = [0u8; 4];
        read_exact(input, &mut header)?;
        let len = p::body_len(header).map_err(Fatal::Length)?;
        body.resize(len, 0);
        read_exact(input, &mut body)?;
        reply.clear();
        server.handle(&body, &mut reply)?;
        output.write_all(&reply).map_err(Fatal::Io)?;
        // A big WRITE leaves a 256 KiB body buffer: give it back rather than keep it all
        // session long.
        if body.capacity() > 64 * 1024 {
            body = Vec::new();
        }
    }
}

fn read_exact(input: &mut impl Read, buf: &mut [u8]) -> Result<(), Fatal> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => Fatal::Truncated,
        _ => Fatal::Io(e),
    })
}

impl Server {
    pub fn new(policy: Policy) -> Self {
        Server {
            policy,
            handles: Vec::new(),
            accounts: None,
            initialised: false,
        }
    }

    /// Answers one packet body into `out` (nothing is written for a fatal error).
    pub fn handle(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<(), Fatal> {
        let packet = match p::decode(body) {
            Ok(packet) => packet,
            Err(DecodeError::NoId) => return Err(Fatal::NoId),
            Err(DecodeError::Malformed { id }) if self.initialised => {
                p::status(out, id, Status::BadMessage);
                return Ok(());
            }
            Err(DecodeError::Malformed { .. }) => return Err(Fatal::Sequence(body[0])),
        };
        let is_init = matches!(packet.request, Request::Init { .. });
        if is_init == self.initialised {
            return Err(Fatal::Sequence(body[0]));
        }
        if is_init {
            self.initialised = true;
            let policy = &self.policy;
            p::version(out, |ext| policy.permits(extension_request(ext)));
            return Ok(());
        }
        match request_name(&packet.request) {
            Some(name) if !self.policy.permits(name) => {
                p::status(out, packet.id, Status::PermissionDenied)
            }
            _ => self.dispatch(packet, out),
        }
        Ok(())
    }

    fn dispatch(&mut self, packet: Packet, out: &mut Vec<u8>) {
        use Request as Q;
        let id = packet.id;
        match packet.request {
            Q::Open {
                path,
                pflags,
                attrs,
            } => self.open(out, id, path, pflags, &attrs),
            Q::Close { handle } => self.close(out, id, handle),
            Q::Read {
                handle,
                offset,
                len,
            } => self.read(out, id, handle, offset, len),
            // pwrite; on an O_APPEND file Linux appends whatever the offset (as OpenSSH).
            Q::Write {
                handle,
                offset,
                data,
            } => match self.file(handle) {
                Some((file, _)) => done(out, id, file.write_all_at(data, offset)),
                None => p::status(out, id, Status::Failure),
            },
            Q::Stat { path: f } => stat(out, id, std::fs::metadata(path(f))),
            Q::Lstat { path: f } => stat(out, id, std::fs::symlink_metadata(path(f))),
            Q::Fstat { handle } => match self.file(handle) {
                Some((file, _)) => stat(out, id, file.metadata()),
                None => p::status(out, id, Status::Failure),
            },
            Q::Setstat { path: f, attrs } => done(out, id, set_path_attrs(path(f), &attrs, true)),
            Q::Lsetstat { path: f, attrs } => {
                if attrs.flags & p::ATTR_SIZE != 0 {
                    p::status(out, id, Status::BadMessage); // a symlink has no size to set
                } else {
                    done(out, id, set_path_attrs(path(f), &attrs, false))
                }
            }
            Q::Fsetstat { handle, attrs } => match self.file(handle) {
                Some((file, _)) => done(out, id, set_file_attrs(file, &attrs)),
                None => p::status(out, id, Status::Failure),
            },
            Q::Opendir { path: f } => self.opendir(out, id, f),
            Q::Readdir { handle } => self.readdir(out, id, handle),
            Q::Remove { path: f } => done(out, id, std::fs::remove_file(path(f))),
            Q::Mkdir { path: f, attrs } => {
                let mode = if attrs.flags & p::ATTR_PERMISSIONS != 0 {
                    attrs.perm & 0o7777
                } else {
                    0o777
                };
                done(
                    out,
                    id,
                    std::fs::DirBuilder::new().mode(mode).create(path(f)),
                )
            }
            Q::Rmdir { path: f } => done(out, id, std::fs::remove_dir(path(f))),
            Q::Realpath { path: f } => name_or_status(out, id, realpath(f)),
            Q::Rename { from, to } => done(out, id, rename_no_replace(path(from), path(to))),
            Q::PosixRename { from, to } => done(out, id, std::fs::rename(path(from), path(to))),
            Q::Readlink { path: f } => {
                let r = std::fs::read_link(path(f)).map(|t| t.into_os_string().into_vec());
                name_or_status(out, id, r)
            }
            Q::Symlink { target, link } => done(
                out,
                id,
                std::os::unix::fs::symlink(path(target), path(link)),
            ),
            Q::Hardlink { from, to } => done(out, id, std::fs::hard_link(path(from), path(to))),
            Q::Statvfs { path: f } => statvfs(out, id, rustix::fs::statvfs(path(f))),
            Q::Fstatvfs { handle } => match self.file(handle) {
                Some((file, _)) => statvfs(out, id, rustix::fs::fstatvfs(file)),
                None => p::status(out, id, Status::Failure),
            },
            Q::Fsync { handle } => match self.file(handle) {
                Some((file, _)) => done(out, id, file.sync_all()),
                None => p::status(out, id, Status::NoSuchFile),
            },
            Q::Limits => p::extended_u64s(
                out,
                id,
                &[
                    p::MAX_PACKET as u64,
                    u64::from(p::MAX_READ),
                    p::MAX_PACKET as u64 - 1024,
                    MAX_HANDLES as u64,
                ],
            ),
            Q::ExpandPath { path: f } => self.expand_path(out, id, f),
            Q::CopyData {
                from,
                from_offset,
                len,
                to,
                to_offset,
            } => {
                let r = self.copy_data(from, from_offset, len, to, to_offset);
                match r {
                    Ok(s) => p::status(out, id, s),
                    Err(e) => done(out, id, Err(e)),
                }
            }
            Q::HomeDirectory { user } => {
                let home = self.home(user).map(<[u8]>::to_vec);
                match home {
                    Some(h) => p::one_name(out, id, &h),
                    None => p::status(out, id, Status::Failure),
                }
            }
            Q::UsersGroupsById { uids, gids } => self.users_groups(out, id, uids, gids),
            Q::UnknownExtended { .. } | Q::Unknown { .. } => {
                p::status(out, id, Status::OpUnsupported)
            }
            Q::Init { .. } => p::status(out, id, Status::BadMessage), // handled by `handle`
        }
    }

    fn accounts(&mut self) -> &Accounts {
        self.accounts.get_or_insert_with(Accounts::load)
    }

    /// The home directory of `user` ("" = ourselves).
    fn home(&mut self, user: &[u8]) -> Option<&[u8]> {
        if user.is_empty() {
            let uid = rustix::process::getuid().as_raw();
            return self.accounts().home_of_uid(uid);
        }
        self.accounts().home_of(user)
    }

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

    fn file(&self, handle: &[u8]) -> Option<(&File, &Path)> {
        match self.handles.get(Self::slot(handle)?)? {
            Some(Handle::File { file, path }) => Some((file, path)),
            _ => None,
        }
    }

    fn open(&mut self, out: &mut Vec<u8>, id: u32, name: &[u8], pflags: u32, attrs: &Attrs) {
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

    fn opendir(&mut self, out: &mut Vec<u8>, id: u32, name: &[u8]) {
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

    fn close(&mut self, out: &mut Vec<u8>, id: u32, handle: &[u8]) {
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

    fn read(&mut self, out: &mut Vec<u8>, id: u32, handle: &[u8], offset: u64, len: u32) {
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

    fn readdir(&mut self, out: &mut Vec<u8>, id: u32, handle: &[u8]) {
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

    fn expand_path(&mut self, out: &mut Vec<u8>, id: u32, f: &[u8]) {
        let expanded: Vec<u8> = if f == b"~" {
            b".".to_vec()
        } else if let Some(rest) = f.strip_prefix(b"~/") {
            rest.to_vec()
        } else if let Some(tilde) = f.strip_prefix(b"~") {
            // ~user[/rest]
            let (user, rest) = match tilde.iter().position(|&b| b == b'/') {
                Some(i) => (&tilde[..i], &tilde[i + 1..]),
                None => (tilde, &b""[..]),
            };
            let Some(home) = self.accounts().home_of(user) else {
                return p::status_msg(out, id, Status::NoSuchFile, "no such user");
            };
            let mut h = home.to_vec();
            if !rest.is_empty() {
                h.push(b'/');
                h.extend_from_slice(rest);
            }
            h
        } else {
            f.to_vec()
        };
        // "~" and "~/" are relative to the start directory (OpenSSH: it honours -d).
        name_or_status(out, id, realpath(&expanded));
    }

    fn copy_data(
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

    fn users_groups(&mut self, out: &mut Vec<u8>, id: u32, uids: &[u8], gids: &[u8]) {
        let accounts = self.accounts();
        let names = |ids: &[u8], lookup: &dyn Fn(u32) -> Option<Vec<u8>>| {
            let mut list = Vec::new();
            for chunk in ids.chunks_exact(4) {
                let id = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                let name = lookup(id).unwrap_or_default();
                list.extend_from_slice(&(name.len() as u32).to_be_bytes());
                list.extend_from_slice(&name);
            }
            list
        };
        let users = names(uids, &|u| accounts.user_name(u).map(<[u8]>::to_vec));
        let groups = names(gids, &|g| accounts.group_name(g).map(<[u8]>::to_vec));
        let mut w = Writer::start(out, p::FXP_EXTENDED_REPLY, id);
        w.string(&users).string(&groups);
        w.finish();
    }
}

/// pread until `buf` is full or end of file (a pipe or /proc file may return less).
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
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

fn stat(out: &mut Vec<u8>, id: u32, m: io::Result<std::fs::Metadata>) {
    match m {
        Ok(m) => p::attrs(out, id, &attrs::from_metadata(&m)),
        Err(e) => done(out, id, Err(e)),
    }
}

fn name_or_status(out: &mut Vec<u8>, id: u32, r: io::Result<Vec<u8>>) {
    match r {
        Ok(name) => p::one_name(out, id, &name),
        Err(e) => done(out, id, Err(e)),
    }
}

fn statvfs(out: &mut Vec<u8>, id: u32, r: rustix::io::Result<rustix::fs::StatVfs>) {
    use rustix::fs::StatVfsMountFlags as F;
    match r {
        Err(e) => done(out, id, Err(errno(e))),
        Ok(s) => {
            let flag = u64::from(s.f_flag.contains(F::RDONLY))
                | u64::from(s.f_flag.contains(F::NOSUID)) << 1;
            let fields = [
                s.f_bsize,
                s.f_frsize,
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_favail,
                s.f_fsid,
                flag,
                s.f_namemax,
            ];
            p::extended_u64s(out, id, &fields)
        }
    }
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
fn set_path_attrs(f: &Path, a: &Attrs, follow: bool) -> io::Result<()> {
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
fn set_file_attrs(file: &File, a: &Attrs) -> io::Result<()> {
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
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
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

trait IntoVec {
    fn into_vec(self) -> Vec<u8>;
}

impl IntoVec for std::ffi::OsString {
    fn into_vec(self) -> Vec<u8> {
        std::os::unix::ffi::OsStringExt::into_vec(self)
    }
}
