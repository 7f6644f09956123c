//! User and group names from /etc/passwd and /etc/group, read directly: a static musl binary
//! has no NSS, and a router has no other account source. Read once per session, on first use.

use std::path::Path;

/// The account files' contents (empty when unreadable: names then show as numbers).
#[derive(Default)]
pub struct Accounts {
    passwd: Vec<u8>,
    group: Vec<u8>,
}

impl Accounts {
    pub fn load() -> Self {
        Self::from_files(Path::new("/etc/passwd"), Path::new("/etc/group"))
    }

    pub fn from_files(passwd: &Path, group: &Path) -> Self {
        Accounts {
            passwd: std::fs::read(passwd).unwrap_or_default(),
            group: std::fs::read(group).unwrap_or_default(),
        }
    }

    /// The user named `uid`, if any.
    pub fn user_name(&self, uid: u32) -> Option<&[u8]> {
        find(&self.passwd, 2, uid).map(|f| f[0])
    }

    /// The group named `gid`, if any.
    pub fn group_name(&self, gid: u32) -> Option<&[u8]> {
        find(&self.group, 2, gid).map(|f| f[0])
    }

    /// The home directory of user `uid`.
    pub fn home_of_uid(&self, uid: u32) -> Option<&[u8]> {
        find(&self.passwd, 2, uid).and_then(|f| f.get(5).copied())
    }

    /// The home directory of the user called `name`.
    pub fn home_of(&self, name: &[u8]) -> Option<&[u8]> {
        lines(&self.passwd)
            .find(|f| f[0] == name)
            .and_then(|f| f.get(5).copied())
    }
}

/// Each non-comment line split at ':' (at most 7 fields, passwd's count).
fn lines(file: &[u8]) -> impl Iterator<Item = Vec<&[u8]>> {
    file.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .map(|l| l.splitn(7, |&b| b == b':').collect::<Vec<_>>())
}

/// The first line whose numeric field `field` is `id`.
fn find(file: &[u8], field: usize, id: u32) -> Option<Vec<&[u8]>> {
    lines(file).find(|f| f.get(field).and_then(|v| parse_u32(v)) == Some(id))
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_homes() {
        let a = Accounts {
            passwd: b"root:x:0:0:root:/root:/bin/ash\n# c\nnobody:*:65534:65534:nobody:/var:/bin/false\n"
                .to_vec(),
            group: b"root:x:0:\nnogroup:x:65534:\n".to_vec(),
        };
        assert_eq!(a.user_name(0), Some(&b"root"[..]));
        assert_eq!(a.user_name(65534), Some(&b"nobody"[..]));
        assert_eq!(a.user_name(5), None);
        assert_eq!(a.group_name(65534), Some(&b"nogroup"[..]));
        assert_eq!(a.home_of_uid(0), Some(&b"/root"[..]));
        assert_eq!(a.home_of(b"nobody"), Some(&b"/var"[..]));
        assert_eq!(a.home_of(b"x"), None);
    }
}
