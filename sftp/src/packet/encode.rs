//! Replies encoded into a byte buffer, and the extensions the VERSION reply advertises.

use super::*;

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

    fn s(bytes: &[u8]) -> Vec<u8> {
        let mut v = (bytes.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(bytes);
        v
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
