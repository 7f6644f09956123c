//! Client requests decoded from a packet body: every read checks the remaining length, and
//! nothing is allocated from a length the peer declared.

use super::*;

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
}
