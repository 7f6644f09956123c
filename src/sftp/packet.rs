//! The SFTP version 3 packet codec (draft-ietf-secsh-filexfer-02 plus OpenSSH's extensions, see
//! openssh-portable's PROTOCOL): client requests decoded from a packet body, replies encoded
//! into a byte buffer. Pure code: no I/O, nothing allocated from a length the peer declared.

use std::fmt;

/// The largest packet either side sends or accepts (OpenSSH's SFTP_MAX_MSG_LENGTH).
pub const MAX_PACKET: usize = 256 * 1024;
/// The most file data one READ returns (advertised by limits@openssh.com): the reply buffer
/// stays small on a router, and OpenSSH's client sizes its reads from it.
pub const MAX_READ: u32 = 64 * 1024;

pub const FXP_INIT: u8 = 1;
pub const FXP_VERSION: u8 = 2;
pub const FXP_OPEN: u8 = 3;
pub const FXP_CLOSE: u8 = 4;
pub const FXP_READ: u8 = 5;
pub const FXP_WRITE: u8 = 6;
pub const FXP_LSTAT: u8 = 7;
pub const FXP_FSTAT: u8 = 8;
pub const FXP_SETSTAT: u8 = 9;
pub const FXP_FSETSTAT: u8 = 10;
pub const FXP_OPENDIR: u8 = 11;
pub const FXP_READDIR: u8 = 12;
pub const FXP_REMOVE: u8 = 13;
pub const FXP_MKDIR: u8 = 14;
pub const FXP_RMDIR: u8 = 15;
pub const FXP_REALPATH: u8 = 16;
pub const FXP_STAT: u8 = 17;
pub const FXP_RENAME: u8 = 18;
pub const FXP_READLINK: u8 = 19;
pub const FXP_SYMLINK: u8 = 20;
pub const FXP_STATUS: u8 = 101;
pub const FXP_HANDLE: u8 = 102;
pub const FXP_DATA: u8 = 103;
pub const FXP_NAME: u8 = 104;
pub const FXP_ATTRS: u8 = 105;
pub const FXP_EXTENDED: u8 = 200;
pub const FXP_EXTENDED_REPLY: u8 = 201;

/// Open flags (SSH_FXF_*).
pub const FXF_READ: u32 = 0x01;
pub const FXF_WRITE: u32 = 0x02;
pub const FXF_APPEND: u32 = 0x04;
pub const FXF_CREAT: u32 = 0x08;
pub const FXF_TRUNC: u32 = 0x10;
pub const FXF_EXCL: u32 = 0x20;

/// Attribute flags (SSH_FILEXFER_ATTR_*).
pub const ATTR_SIZE: u32 = 0x01;
pub const ATTR_UIDGID: u32 = 0x02;
pub const ATTR_PERMISSIONS: u32 = 0x04;
pub const ATTR_ACMODTIME: u32 = 0x08;
pub const ATTR_EXTENDED: u32 = 0x8000_0000;

/// Status codes (SSH_FX_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    Eof = 1,
    NoSuchFile = 2,
    PermissionDenied = 3,
    Failure = 4,
    BadMessage = 5,
    OpUnsupported = 8,
}

impl Status {
    /// The message OpenSSH's server sends with each code.
    pub fn message(self) -> &'static str {
        match self {
            Status::Ok => "Success",
            Status::Eof => "End of file",
            Status::NoSuchFile => "No such file",
            Status::PermissionDenied => "Permission denied",
            Status::Failure => "Failure",
            Status::BadMessage => "Bad message",
            Status::OpUnsupported => "Operation unsupported",
        }
    }
}

/// File attributes; a field is present when its ATTR_* bit is in `flags`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs {
    pub flags: u32,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub perm: u32,
    pub atime: u32,
    pub mtime: u32,
}

/// A client packet. Paths and names are raw bytes (any bytes but NUL), as the wire has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Init {
        version: u32,
    },
    Open {
        path: &'a [u8],
        pflags: u32,
        attrs: Attrs,
    },
    Close {
        handle: &'a [u8],
    },
    Read {
        handle: &'a [u8],
        offset: u64,
        len: u32,
    },
    Write {
        handle: &'a [u8],
        offset: u64,
        data: &'a [u8],
    },
    Lstat {
        path: &'a [u8],
    },
    Fstat {
        handle: &'a [u8],
    },
    Setstat {
        path: &'a [u8],
        attrs: Attrs,
    },
    Fsetstat {
        handle: &'a [u8],
        attrs: Attrs,
    },
    Opendir {
        path: &'a [u8],
    },
    Readdir {
        handle: &'a [u8],
    },
    Remove {
        path: &'a [u8],
    },
    Mkdir {
        path: &'a [u8],
        attrs: Attrs,
    },
    Rmdir {
        path: &'a [u8],
    },
    Realpath {
        path: &'a [u8],
    },
    Stat {
        path: &'a [u8],
    },
    Rename {
        from: &'a [u8],
        to: &'a [u8],
    },
    Readlink {
        path: &'a [u8],
    },
    /// OpenSSH sends (and its server reads) the target first, then the link's path: the
    /// reverse of the draft's order. We follow OpenSSH, as every client does.
    Symlink {
        target: &'a [u8],
        link: &'a [u8],
    },
    PosixRename {
        from: &'a [u8],
        to: &'a [u8],
    },
    Statvfs {
        path: &'a [u8],
    },
    Fstatvfs {
        handle: &'a [u8],
    },
    Hardlink {
        from: &'a [u8],
        to: &'a [u8],
    },
    Fsync {
        handle: &'a [u8],
    },
    Lsetstat {
        path: &'a [u8],
        attrs: Attrs,
    },
    Limits,
    ExpandPath {
        path: &'a [u8],
    },
    CopyData {
        from: &'a [u8],
        from_offset: u64,
        len: u64,
        to: &'a [u8],
        to_offset: u64,
    },
    HomeDirectory {
        user: &'a [u8],
    },
    /// Two strings of packed u32 ids.
    UsersGroupsById {
        uids: &'a [u8],
        gids: &'a [u8],
    },
    /// An EXTENDED request we do not know: answered OP_UNSUPPORTED.
    UnknownExtended {
        name: &'a [u8],
    },
    /// A packet type we do not know: answered OP_UNSUPPORTED.
    Unknown {
        kind: u8,
    },
}

/// A decoded packet: the request id (0 for INIT, which has none) and the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub id: u32,
    pub request: Request<'a>,
}

/// Why a packet body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The body is empty or ends inside the request id: there is nobody to answer.
    NoId,
    /// Request `id` ends early or holds a string with a NUL: answered BAD_MESSAGE.
    Malformed { id: u32 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NoId => write!(f, "packet too short to hold a request id"),
            DecodeError::Malformed { id } => write!(f, "request {id} is truncated or malformed"),
        }
    }
}

/// The declared length of a packet was over [`MAX_PACKET`] or zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLength(pub u32);

impl fmt::Display for BadLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "packet length {} not in 1..={MAX_PACKET}", self.0)
    }
}

/// The body length a packet's 4-byte header declares, checked against the cap before anything
/// is read or allocated.
pub fn body_len(header: [u8; 4]) -> Result<usize, BadLength> {
    let len = u32::from_be_bytes(header);
    match len as usize {
        1..=MAX_PACKET => Ok(len as usize),
        _ => Err(BadLength(len)),
    }
}

/// A cursor over a packet body; every read checks the remaining length.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from(self.u32()?) << 32 | u64::from(self.u32()?))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()?;
        self.take(n as usize)
    }
    /// A path or name: no NUL allowed (OpenSSH's cstring rule; a C path would end there).
    fn text(&mut self) -> Option<&'a [u8]> {
        self.string().filter(|s| !s.contains(&0))
    }
    fn attrs(&mut self) -> Option<Attrs> {
        let mut a = Attrs {
            flags: self.u32()?,
            ..Attrs::default()
        };
        if a.flags & ATTR_SIZE != 0 {
            a.size = self.u64()?;
        }
        if a.flags & ATTR_UIDGID != 0 {
            a.uid = self.u32()?;
            a.gid = self.u32()?;
        }
        if a.flags & ATTR_PERMISSIONS != 0 {
            a.perm = self.u32()?;
        }
        if a.flags & ATTR_ACMODTIME != 0 {
            a.atime = self.u32()?;
            a.mtime = self.u32()?;
        }
        if a.flags & ATTR_EXTENDED != 0 {
            // Vendor pairs: skipped (every pair takes at least 8 bytes, so this is bounded
            // by the body, whatever the count says).
            for _ in 0..self.u32()? {
                self.string()?;
                self.string()?;
            }
        }
        Some(a)
    }
}

/// Decodes one packet body (type byte onwards). Bytes after the request are ignored, as
/// OpenSSH's server ignores them.
pub fn decode(body: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let mut r = Reader(body);
    let kind = r.u8().ok_or(DecodeError::NoId)?;
    // INIT carries the client's version where other packets carry the id.
    let id = r.u32().ok_or(DecodeError::NoId)?;
    let request = if kind == FXP_INIT {
        Some(Request::Init { version: id })
    } else {
        decode_request(kind, &mut r)
    };
    let id = if kind == FXP_INIT { 0 } else { id };
    match request {
        Some(request) => Ok(Packet { id, request }),
        None => Err(DecodeError::Malformed { id }),
    }
}

fn decode_request<'a>(kind: u8, r: &mut Reader<'a>) -> Option<Request<'a>> {
    use Request as Q;
    Some(match kind {
        FXP_OPEN => Q::Open {
            path: r.text()?,
            pflags: r.u32()?,
            attrs: r.attrs()?,
        },
        FXP_CLOSE => Q::Close {
            handle: r.string()?,
        },
        FXP_READ => Q::Read {
            handle: r.string()?,
            offset: r.u64()?,
            len: r.u32()?,
        },
        FXP_WRITE => Q::Write {
            handle: r.string()?,
            offset: r.u64()?,
            data: r.string()?,
        },
        FXP_LSTAT => Q::Lstat { path: r.text()? },
        FXP_FSTAT => Q::Fstat {
            handle: r.string()?,
        },
        FXP_SETSTAT => Q::Setstat {
            path: r.text()?,
            attrs: r.attrs()?,
        },
        FXP_FSETSTAT => Q::Fsetstat {
            handle: r.string()?,
            attrs: r.attrs()?,
        },
        FXP_OPENDIR => Q::Opendir { path: r.text()? },
        FXP_READDIR => Q::Readdir {
            handle: r.string()?,
        },
        FXP_REMOVE => Q::Remove { path: r.text()? },
        FXP_MKDIR => Q::Mkdir {
            path: r.text()?,
            attrs: r.attrs()?,
        },
        FXP_RMDIR => Q::Rmdir { path: r.text()? },
        FXP_REALPATH => Q::Realpath { path: r.text()? },
        FXP_STAT => Q::Stat { path: r.text()? },
        FXP_RENAME => Q::Rename {
            from: r.text()?,
            to: r.text()?,
        },
        FXP_READLINK => Q::Readlink { path: r.text()? },
        FXP_SYMLINK => Q::Symlink {
            target: r.text()?,
            link: r.text()?,
        },
        FXP_EXTENDED => decode_extended(r)?,
        _ => Q::Unknown { kind },
    })
}

fn decode_extended<'a>(r: &mut Reader<'a>) -> Option<Request<'a>> {
    use Request as Q;
    let name = r.text()?;
    Some(match name {
        b"posix-rename@openssh.com" => Q::PosixRename {
            from: r.text()?,
            to: r.text()?,
        },
        b"statvfs@openssh.com" => Q::Statvfs { path: r.text()? },
        b"fstatvfs@openssh.com" => Q::Fstatvfs {
            handle: r.string()?,
        },
        b"hardlink@openssh.com" => Q::Hardlink {
            from: r.text()?,
            to: r.text()?,
        },
        b"fsync@openssh.com" => Q::Fsync {
            handle: r.string()?,
        },
        b"lsetstat@openssh.com" => Q::Lsetstat {
            path: r.text()?,
            attrs: r.attrs()?,
        },
        b"limits@openssh.com" => Q::Limits,
        b"expand-path@openssh.com" => Q::ExpandPath { path: r.text()? },
        b"copy-data" => Q::CopyData {
            from: r.string()?,
            from_offset: r.u64()?,
            len: r.u64()?,
            to: r.string()?,
            to_offset: r.u64()?,
        },
        b"home-directory" => Q::HomeDirectory { user: r.text()? },
        b"users-groups-by-id@openssh.com" => Q::UsersGroupsById {
            uids: r.string()?,
            gids: r.string()?,
        },
        _ => Q::UnknownExtended { name },
    })
}

/// The extensions our VERSION reply advertises, with their versions (the values OpenSSH's
/// client checks for).
pub const EXTENSIONS: &[(&str, &str)] = &[
    ("posix-rename@openssh.com", "1"),
    ("statvfs@openssh.com", "2"),
    ("fstatvfs@openssh.com", "2"),
    ("hardlink@openssh.com", "1"),
    ("fsync@openssh.com", "1"),
    ("lsetstat@openssh.com", "1"),
    ("limits@openssh.com", "1"),
    ("expand-path@openssh.com", "1"),
    ("copy-data", "1"),
    ("home-directory", "1"),
    ("users-groups-by-id@openssh.com", "1"),
];

/// Builds reply packets in a byte buffer: [`Writer::start`] writes the length placeholder,
/// type and id, the field methods append, [`Writer::finish`] fills in the length.
pub struct Writer<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
}

impl<'b> Writer<'b> {
    /// Starts a packet of `kind` for request `id` at the end of `buf`.
    pub fn start(buf: &'b mut Vec<u8>, kind: u8, id: u32) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[0; 4]);
        buf.push(kind);
        let mut w = Writer { buf, start };
        w.u32(id);
        w
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn string(&mut self, s: &[u8]) -> &mut Self {
        // Callers keep strings far below 4 GiB (paths, names, at most MAX_READ of data).
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s);
        self
    }
    pub fn attrs(&mut self, a: &Attrs) -> &mut Self {
        // We never send vendor extensions.
        self.u32(a.flags & !ATTR_EXTENDED);
        if a.flags & ATTR_SIZE != 0 {
            self.u64(a.size);
        }
        if a.flags & ATTR_UIDGID != 0 {
            self.u32(a.uid).u32(a.gid);
        }
        if a.flags & ATTR_PERMISSIONS != 0 {
            self.u32(a.perm);
        }
        if a.flags & ATTR_ACMODTIME != 0 {
            self.u32(a.atime).u32(a.mtime);
        }
        self
    }
    /// Space for a string of up to `max` bytes that the caller fills in place (file data read
    /// straight into the reply): returns the buffer and where the bytes go.
    pub fn string_in_place(&mut self, max: usize) -> (&mut Vec<u8>, usize) {
        self.u32(0);
        let at = self.buf.len();
        self.buf.resize(at + max, 0);
        (self.buf, at)
    }
    /// Sets the length of the string made by [`Writer::string_in_place`] at `at` to `n` bytes.
    pub fn end_string_in_place(&mut self, at: usize, n: usize) {
        self.buf.truncate(at + n);
        self.buf[at - 4..at].copy_from_slice(&(n as u32).to_be_bytes());
    }
    /// Overwrites the u32 at `at` (a count written as a placeholder).
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    /// Where the next byte goes in the buffer (for [`Writer::patch_u32`] and size checks).
    pub fn position(&self) -> usize {
        self.buf.len()
    }
    /// Fills in the packet length.
    pub fn finish(self) {
        let len = (self.buf.len() - self.start - 4) as u32;
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// STATUS with OpenSSH's message for `status` and an empty language tag.
pub fn status(buf: &mut Vec<u8>, id: u32, status: Status) {
    status_msg(buf, id, status, status.message());
}

/// STATUS with a message of our own.
pub fn status_msg(buf: &mut Vec<u8>, id: u32, status: Status, msg: &str) {
    let mut w = Writer::start(buf, FXP_STATUS, id);
    w.u32(status as u32).string(msg.as_bytes()).string(b"");
    w.finish();
}

/// VERSION 3 with [`EXTENSIONS`], less those `allowed` refuses.
pub fn version(buf: &mut Vec<u8>, allowed: impl Fn(&str) -> bool) {
    // VERSION has no id: the field after the type is the version itself.
    let mut w = Writer::start(buf, FXP_VERSION, 3);
    for (name, ver) in EXTENSIONS.iter().filter(|(n, _)| allowed(n)) {
        w.string(name.as_bytes()).string(ver.as_bytes());
    }
    w.finish();
}

/// HANDLE.
pub fn handle(buf: &mut Vec<u8>, id: u32, handle: &[u8]) {
    let mut w = Writer::start(buf, FXP_HANDLE, id);
    w.string(handle);
    w.finish();
}

/// ATTRS.
pub fn attrs(buf: &mut Vec<u8>, id: u32, a: &Attrs) {
    let mut w = Writer::start(buf, FXP_ATTRS, id);
    w.attrs(a);
    w.finish();
}

/// NAME with one entry whose long name is the name and attributes empty (REALPATH, READLINK,
/// expand-path, home-directory replies, as OpenSSH sends them).
pub fn one_name(buf: &mut Vec<u8>, id: u32, name: &[u8]) {
    let mut w = Writer::start(buf, FXP_NAME, id);
    w.u32(1).string(name).string(name).attrs(&Attrs::default());
    w.finish();
}

/// EXTENDED_REPLY made of u64 fields (statvfs@openssh.com, limits@openssh.com).
pub fn extended_u64s(buf: &mut Vec<u8>, id: u32, fields: &[u64]) {
    let mut w = Writer::start(buf, FXP_EXTENDED_REPLY, id);
    for &f in fields {
        w.u64(f);
    }
    w.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: u8, id: u32, rest: &[&[u8]]) -> Vec<u8> {
        let mut b = vec![kind];
        b.extend_from_slice(&id.to_be_bytes());
        for part in rest {
            b.extend_from_slice(part);
        }
        b
    }

    /// Decodes a test body (leaked: tests only, so the packet may borrow it freely).
    fn dec(b: Vec<u8>) -> Result<Packet<'static>, DecodeError> {
        decode(Vec::leak(b))
    }

    fn s(bytes: &[u8]) -> Vec<u8> {
        let mut v = (bytes.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(bytes);
        v
    }

    #[test]
    fn body_len_caps_at_256_kib() {
        assert_eq!(body_len(1u32.to_be_bytes()), Ok(1));
        assert_eq!(body_len((256 * 1024u32).to_be_bytes()), Ok(MAX_PACKET));
        assert_eq!(
            body_len((256 * 1024 + 1u32).to_be_bytes()),
            Err(BadLength(262145))
        );
        assert_eq!(body_len([0xff; 4]), Err(BadLength(u32::MAX)));
        assert_eq!(body_len([0; 4]), Err(BadLength(0)));
    }

    #[test]
    fn init_carries_the_version() {
        let p = dec(body(FXP_INIT, 3, &[])).unwrap();
        assert_eq!(
            p,
            Packet {
                id: 0,
                request: Request::Init { version: 3 }
            }
        );
    }

    #[test]
    fn open_with_attrs() {
        let attrs = [&ATTR_PERMISSIONS.to_be_bytes()[..], &0o640u32.to_be_bytes()].concat();
        let flags = (FXF_WRITE | FXF_CREAT | FXF_TRUNC).to_be_bytes();
        let p = dec(body(FXP_OPEN, 7, &[&s(b"/tmp/x"), &flags, &attrs])).unwrap();
        assert_eq!(p.id, 7);
        assert_eq!(
            p.request,
            Request::Open {
                path: b"/tmp/x",
                pflags: FXF_WRITE | FXF_CREAT | FXF_TRUNC,
                attrs: Attrs {
                    flags: ATTR_PERMISSIONS,
                    perm: 0o640,
                    ..Attrs::default()
                }
            }
        );
    }

    #[test]
    fn every_attr_field_round_trips() {
        let a = Attrs {
            flags: ATTR_SIZE | ATTR_UIDGID | ATTR_PERMISSIONS | ATTR_ACMODTIME,
            size: 1 << 40,
            uid: 1000,
            gid: 100,
            perm: 0o100644,
            atime: 1_700_000_000,
            mtime: 1_700_000_001,
        };
        let mut buf = Vec::new();
        attrs(&mut buf, 9, &a);
        // length, type ATTRS, id, then the attrs as SETSTAT's body would carry them
        assert_eq!(
            u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize,
            buf.len() - 4
        );
        assert_eq!(buf[4], FXP_ATTRS);
        let setstat = body(FXP_SETSTAT, 9, &[&s(b"f"), &buf[9..]]);
        assert_eq!(
            decode(&setstat).unwrap().request,
            Request::Setstat {
                path: b"f",
                attrs: a
            }
        );
    }

    #[test]
    fn vendor_attr_extensions_are_skipped() {
        let mut attrs = ATTR_EXTENDED.to_be_bytes().to_vec();
        attrs.extend_from_slice(&2u32.to_be_bytes());
        for part in [s(b"a"), s(b"1"), s(b"b"), s(b"2")] {
            attrs.extend_from_slice(&part);
        }
        let p = dec(body(FXP_MKDIR, 1, &[&s(b"d"), &attrs])).unwrap();
        assert!(matches!(p.request, Request::Mkdir { path: b"d", .. }));
        // A huge count with no pairs behind it is malformed, not a long loop.
        let mut bad = ATTR_EXTENDED.to_be_bytes().to_vec();
        bad.extend_from_slice(&u32::MAX.to_be_bytes());
        let err = dec(body(FXP_MKDIR, 1, &[&s(b"d"), &bad])).unwrap_err();
        assert_eq!(err, DecodeError::Malformed { id: 1 });
    }

    #[test]
    fn symlink_keeps_openssh_order() {
        let p = dec(body(FXP_SYMLINK, 2, &[&s(b"target"), &s(b"link")])).unwrap();
        assert_eq!(
            p.request,
            Request::Symlink {
                target: b"target",
                link: b"link"
            }
        );
    }

    #[test]
    fn extended_requests() {
        let p = dec(body(FXP_EXTENDED, 4, &[&s(b"limits@openssh.com")])).unwrap();
        assert_eq!(p.request, Request::Limits);
        let p = dec(body(
            FXP_EXTENDED,
            5,
            &[&s(b"posix-rename@openssh.com"), &s(b"a"), &s(b"b")],
        ))
        .unwrap();
        assert_eq!(
            p.request,
            Request::PosixRename {
                from: b"a",
                to: b"b"
            }
        );
        let p = dec(body(FXP_EXTENDED, 6, &[&s(b"x@example.com"), b"junk"])).unwrap();
        assert_eq!(
            p.request,
            Request::UnknownExtended {
                name: b"x@example.com"
            }
        );
    }

    #[test]
    fn unknown_type_keeps_its_id() {
        let p = dec(body(99, 42, &[])).unwrap();
        assert_eq!(
            p,
            Packet {
                id: 42,
                request: Request::Unknown { kind: 99 }
            }
        );
    }

    #[test]
    fn truncated_and_malformed() {
        assert_eq!(decode(&[]), Err(DecodeError::NoId));
        assert_eq!(decode(&[FXP_OPEN, 0, 0]), Err(DecodeError::NoId));
        // string length past the end
        let err = dec(body(FXP_STAT, 3, &[&[0, 0, 0, 9], b"abc"])).unwrap_err();
        assert_eq!(err, DecodeError::Malformed { id: 3 });
        // a NUL inside a path
        let err = dec(body(FXP_STAT, 4, &[&s(b"a\0b")])).unwrap_err();
        assert_eq!(err, DecodeError::Malformed { id: 4 });
        // READ without its length
        let err = dec(body(FXP_READ, 5, &[&s(b"h"), &[0; 8]])).unwrap_err();
        assert_eq!(err, DecodeError::Malformed { id: 5 });
    }

    #[test]
    fn version_lists_extensions() {
        let mut buf = Vec::new();
        version(&mut buf, |n| n != "copy-data");
        assert_eq!(buf[4], FXP_VERSION);
        assert_eq!(&buf[5..9], &3u32.to_be_bytes());
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("limits@openssh.com"));
        assert!(!text.contains("copy-data"));
    }

    #[test]
    fn status_and_in_place_data() {
        let mut buf = Vec::new();
        status(&mut buf, 8, Status::NoSuchFile);
        assert_eq!(
            buf,
            [
                &[0, 0, 0, 29, FXP_STATUS][..],
                &8u32.to_be_bytes(),
                &2u32.to_be_bytes(),
                &s(b"No such file"),
                &s(b"")
            ]
            .concat()
        );
        buf.clear();
        let mut w = Writer::start(&mut buf, FXP_DATA, 1);
        let (b, at) = w.string_in_place(100);
        b[at..at + 3].copy_from_slice(b"abc");
        w.end_string_in_place(at, 3);
        w.finish();
        assert_eq!(
            buf,
            [
                &[0, 0, 0, 12, FXP_DATA][..],
                &1u32.to_be_bytes(),
                &s(b"abc")
            ]
            .concat()
        );
    }
}
