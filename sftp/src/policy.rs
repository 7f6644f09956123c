//! Which requests a session may make: sftp-server's -R, -p and -P, by OpenSSH's request names.

use crate::packet::Request;

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
pub(crate) fn extension_request(ext: &str) -> &str {
    ext.split('@').next().unwrap_or(ext)
}

pub(crate) fn request_name(r: &Request) -> Option<&'static str> {
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
