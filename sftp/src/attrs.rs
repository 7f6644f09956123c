//! File metadata as SFTP attributes, and the `ls -l` style long name OpenSSH's server puts in
//! READDIR replies (clients before OpenSSH 9.1 print it as it is).

use super::packet::{Attrs, ATTR_ACMODTIME, ATTR_PERMISSIONS, ATTR_SIZE, ATTR_UIDGID};
use super::users::Accounts;
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

/// Size, owner, full mode (type bits included) and times, as OpenSSH's stat_to_attrib.
pub fn from_metadata(m: &Metadata) -> Attrs {
    Attrs {
        flags: ATTR_SIZE | ATTR_UIDGID | ATTR_PERMISSIONS | ATTR_ACMODTIME,
        size: m.size(),
        uid: m.uid(),
        gid: m.gid(),
        perm: m.mode(),
        // The v3 wire has 32-bit times.
        atime: m.atime() as u32,
        mtime: m.mtime() as u32,
    }
}

/// `drwxr-xr-x    2 root     root         4096 Jan  2 10:00 name`, as OpenSSH's ls_file
/// (remote = 0). Times are in UTC: a static binary has no time zone database.
pub fn long_name(name: &[u8], m: &Metadata, accounts: &Accounts, now: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + name.len());
    out.extend_from_slice(&mode_string(m.mode()));
    let user = accounts.user_name(m.uid()).map(<[u8]>::to_vec);
    let group = accounts.group_name(m.gid()).map(<[u8]>::to_vec);
    let user = user.unwrap_or_else(|| m.uid().to_string().into_bytes());
    let group = group.unwrap_or_else(|| m.gid().to_string().into_bytes());
    // Writes to a Vec cannot fail.
    let _ = write!(out, " {:>3} ", m.nlink());
    pad(&mut out, &user, 8);
    out.push(b' ');
    pad(&mut out, &group, 8);
    let _ = write!(out, " {:>8} ", m.size());
    out.extend_from_slice(&date(m.mtime(), now));
    out.push(b' ');
    out.extend_from_slice(name);
    out
}

fn pad(out: &mut Vec<u8>, s: &[u8], width: usize) {
    out.extend_from_slice(s);
    out.resize(out.len() + width.saturating_sub(s.len()), b' ');
}

/// BSD strmode: type letter, rwx triplets with s/S/t/T, and a trailing space (no ACL mark).
fn mode_string(mode: u32) -> [u8; 11] {
    let kind = match mode & 0o170000 {
        0o040000 => b'd',
        0o120000 => b'l',
        0o020000 => b'c',
        0o060000 => b'b',
        0o010000 => b'p',
        0o140000 => b's',
        0o100000 => b'-',
        _ => b'?',
    };
    let mut s = *b"?--------- ";
    s[0] = kind;
    for (i, shift) in [6u32, 3, 0].into_iter().enumerate() {
        let bits = mode >> shift;
        if bits & 4 != 0 {
            s[1 + i * 3] = b'r';
        }
        if bits & 2 != 0 {
            s[2 + i * 3] = b'w';
        }
        let special = mode & [0o4000, 0o2000, 0o1000][i] != 0;
        let exec = bits & 1 != 0;
        s[3 + i * 3] = match (special, exec, i) {
            (false, true, _) => b'x',
            (false, false, _) => b'-',
            (true, true, 2) => b't',
            (true, false, 2) => b'T',
            (true, true, _) => b's',
            (true, false, _) => b'S',
        };
    }
    s
}

/// "%b %e %H:%M" for the last six months, "%b %e  %Y" otherwise (ls's rule), in UTC. Empty
/// outside the years -9999..=9999, as OpenSSH's server sends no date when strftime fails.
fn date(t: i64, now: i64) -> Vec<u8> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Ok(when) = time::OffsetDateTime::from_unix_timestamp(t) else {
        return Vec::new();
    };
    let month = MONTHS[usize::from(u8::from(when.month())) - 1];
    let d = when.day();
    let recent = now - (365 * 24 * 60 * 60) / 2 < t && now >= t;
    if recent {
        let (h, m) = (when.hour(), when.minute());
        format!("{month} {d:>2} {h:02}:{m:02}").into_bytes()
    } else {
        format!("{month} {d:>2}  {}", when.year()).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(&mode_string(0o040755), b"drwxr-xr-x ");
        assert_eq!(&mode_string(0o100644), b"-rw-r--r-- ");
        assert_eq!(&mode_string(0o104755), b"-rwsr-xr-x ");
        assert_eq!(&mode_string(0o102644), b"-rw-r-Sr-- ");
        assert_eq!(&mode_string(0o041777), b"drwxrwxrwt ");
        assert_eq!(&mode_string(0o041776), b"drwxrwxrwT ");
        assert_eq!(&mode_string(0o120777), b"lrwxrwxrwx ");
    }

    #[test]
    fn dates() {
        assert_eq!(date(0, 0), b"Jan  1 00:00");
        assert_eq!(date(19_723 * 86400, 0), b"Jan  1  2024");
        assert_eq!(date(-86400, 0), b"Dec 31 00:00");
        assert_eq!(date(-86400, 300 * 86400), b"Dec 31  1969");
        assert_eq!(date(i64::MAX, 0), b"");
        let t = 1_700_000_000; // 2023-11-14 22:13:20 UTC
        assert_eq!(date(t, t + 60), b"Nov 14 22:13");
        assert_eq!(date(t, t + 200 * 86400), b"Nov 14  2023");
        assert_eq!(date(t, t - 60), b"Nov 14  2023"); // in the future
        assert_eq!(date(t - 9 * 86400, t), b"Nov  5 22:13");
    }
}
