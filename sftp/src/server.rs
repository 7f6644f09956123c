//! Serves SFTP requests on a byte stream (stdin/stdout under sshd or Dropbear) against the
//! local filesystem with the running user's rights: plain syscalls, never a uid change. One
//! request at a time, blocking I/O; memory is bounded by the packet cap, the read cap and the
//! handle table, whatever the file sizes.

use crate::attrs;
use crate::fsops::{errno, rename_no_replace, set_file_attrs, set_path_attrs, status_of};
use crate::handles::{Handle, MAX_HANDLES};
use crate::packet::{self as p, DecodeError, Packet, Request, Status, Writer};
use crate::policy::{extension_request, request_name, Policy};
use crate::realpath::realpath;
use crate::users::Accounts;
use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::Path;

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

/// One session's state.
pub struct Server {
    pub(crate) policy: Policy,
    pub(crate) handles: Vec<Option<Handle>>,
    pub(crate) accounts: Option<Accounts>,
    initialised: bool,
}

pub(crate) fn path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// The result of most requests: a STATUS reply.
pub(crate) fn done(out: &mut Vec<u8>, id: u32, r: io::Result<()>) {
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

    /// One request, one reply: each arm names the call that answers it.
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
            } => self.on_file(out, id, handle, Status::Failure, |f| {
                Reply::Done(f.write_all_at(data, offset))
            }),
            Q::Stat { path: f } => stat(out, id, std::fs::metadata(path(f))),
            Q::Lstat { path: f } => stat(out, id, std::fs::symlink_metadata(path(f))),
            Q::Fstat { handle } => self.on_file(out, id, handle, Status::Failure, |f| {
                Reply::Stat(f.metadata())
            }),
            Q::Setstat { path: f, attrs } => done(out, id, set_path_attrs(path(f), &attrs, true)),
            Q::Lsetstat { path: f, attrs } => lsetstat(out, id, path(f), &attrs),
            Q::Fsetstat { handle, attrs } => self.on_file(out, id, handle, Status::Failure, |f| {
                Reply::Done(set_file_attrs(f, &attrs))
            }),
            Q::Opendir { path: f } => self.opendir(out, id, f),
            Q::Readdir { handle } => self.readdir(out, id, handle),
            Q::Remove { path: f } => done(out, id, std::fs::remove_file(path(f))),
            Q::Mkdir { path: f, attrs } => done(out, id, mkdir(path(f), &attrs)),
            Q::Rmdir { path: f } => done(out, id, std::fs::remove_dir(path(f))),
            Q::Realpath { path: f } => name_or_status(out, id, realpath(f)),
            Q::Rename { from, to } => done(out, id, rename_no_replace(path(from), path(to))),
            Q::PosixRename { from, to } => done(out, id, std::fs::rename(path(from), path(to))),
            Q::Readlink { path: f } => name_or_status(out, id, readlink(path(f))),
            Q::Symlink { target, link } => done(
                out,
                id,
                std::os::unix::fs::symlink(path(target), path(link)),
            ),
            Q::Hardlink { from, to } => done(out, id, std::fs::hard_link(path(from), path(to))),
            Q::Statvfs { path: f } => statvfs(out, id, rustix::fs::statvfs(path(f))),
            Q::Fstatvfs { handle } => self.on_file(out, id, handle, Status::Failure, |f| {
                Reply::Statvfs(rustix::fs::fstatvfs(f))
            }),
            Q::Fsync { handle } => self.on_file(out, id, handle, Status::NoSuchFile, |f| {
                Reply::Done(f.sync_all())
            }),
            Q::Limits => limits(out, id),
            Q::ExpandPath { path: f } => self.expand_path(out, id, f),
            Q::CopyData {
                from,
                from_offset,
                len,
                to,
                to_offset,
            } => match self.copy_data(from, from_offset, len, to, to_offset) {
                Ok(s) => p::status(out, id, s),
                Err(e) => done(out, id, Err(e)),
            },
            Q::HomeDirectory { user } => self.home_directory(out, id, user),
            Q::UsersGroupsById { uids, gids } => self.users_groups(out, id, uids, gids),
            Q::UnknownExtended { .. } | Q::Unknown { .. } => {
                p::status(out, id, Status::OpUnsupported)
            }
            Q::Init { .. } => p::status(out, id, Status::BadMessage), // handled by `handle`
        }
    }

    /// A request on an open file: `act` answers it, or `missing` when `handle` names no open
    /// file (FAILURE, as OpenSSH's server; NO_SUCH_FILE for fsync).
    fn on_file(
        &self,
        out: &mut Vec<u8>,
        id: u32,
        handle: &[u8],
        missing: Status,
        act: impl FnOnce(&std::fs::File) -> Reply,
    ) {
        let Some((file, _)) = self.file(handle) else {
            return p::status(out, id, missing);
        };
        match act(file) {
            Reply::Done(r) => done(out, id, r),
            Reply::Stat(m) => stat(out, id, m),
            Reply::Statvfs(r) => statvfs(out, id, r),
        }
    }

    fn home_directory(&mut self, out: &mut Vec<u8>, id: u32, user: &[u8]) {
        match self.home(user) {
            Some(h) => p::one_name(out, id, h),
            None => p::status(out, id, Status::Failure),
        }
    }

    pub(crate) fn accounts(&mut self) -> &Accounts {
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

/// What a request on an open file answers with ([`Server::on_file`]).
enum Reply {
    Done(io::Result<()>),
    Stat(io::Result<std::fs::Metadata>),
    Statvfs(rustix::io::Result<rustix::fs::StatVfs>),
}

/// lsetstat@openssh.com: SETSTAT without following a symlink; a link has no size to set.
fn lsetstat(out: &mut Vec<u8>, id: u32, f: &Path, attrs: &p::Attrs) {
    if attrs.flags & p::ATTR_SIZE != 0 {
        return p::status(out, id, Status::BadMessage);
    }
    done(out, id, set_path_attrs(f, attrs, false))
}

/// MKDIR with the requested permissions (0777 less the umask when none are given).
fn mkdir(f: &Path, attrs: &p::Attrs) -> io::Result<()> {
    let mode = if attrs.flags & p::ATTR_PERMISSIONS != 0 {
        attrs.perm & 0o7777
    } else {
        0o777
    };
    std::fs::DirBuilder::new().mode(mode).create(f)
}

fn readlink(f: &Path) -> io::Result<Vec<u8>> {
    std::fs::read_link(f).map(|t| t.into_os_string().into_vec())
}

/// limits@openssh.com: packet, read and write sizes, open handles.
fn limits(out: &mut Vec<u8>, id: u32) {
    let fields = [
        p::MAX_PACKET as u64,
        u64::from(p::MAX_READ),
        p::MAX_PACKET as u64 - 1024,
        MAX_HANDLES as u64,
    ];
    p::extended_u64s(out, id, &fields)
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

pub(crate) trait IntoVec {
    fn into_vec(self) -> Vec<u8>;
}

impl IntoVec for std::ffi::OsString {
    fn into_vec(self) -> Vec<u8> {
        std::os::unix::ffi::OsStringExt::into_vec(self)
    }
}
