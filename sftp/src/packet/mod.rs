//! The SFTP version 3 packet codec (draft-ietf-secsh-filexfer-02 plus OpenSSH's extensions, see
//! openssh-portable's PROTOCOL): client requests decoded from a packet body, replies encoded
//! into a byte buffer. Pure code: no I/O, nothing allocated from a length the peer declared.

mod decode;
mod encode;

pub use decode::decode;
pub use encode::{
    attrs, extended_u64s, handle, one_name, status, status_msg, version, Writer, EXTENSIONS,
};
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
