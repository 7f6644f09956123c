//! What `qnetd install` knows about an OpenWrt system: how to recognise one, where a package
//! would put each file, what Dropbear runs for the `sftp` subsystem, and the two options of
//! our UCI file that other steps need. Reading only: nothing here changes the system.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::settings::{DEFAULT_PORT, DEFAULT_STORE_DIR};

/// OpenWrt tells itself apart this way: base-files writes the release file, and every init
/// script is run by rc.common (`/sbin/sysupgrade` and `/etc/diag.sh` test the same files).
pub const RELEASE_FILE: &str = "/etc/openwrt_release";
pub const RC_COMMON: &str = "/etc/rc.common";

pub const BINARY: &str = "/usr/sbin/qnetd";
pub const INIT_SCRIPT: &str = "/etc/init.d/qnetd";
pub const UCI_FILE: &str = "/etc/config/qnetd";
/// Files listed here survive `sysupgrade` (base-files' `/sbin/sysupgrade` reads every file of
/// this directory, as packages' conffiles).
pub const KEEP_FILE: &str = "/lib/upgrade/keep.d/qnetd";
/// Where OpenWrt's Dropbear looks for the `sftp` subsystem (its SFTPSERVER_PATH).
pub const SFTP_SERVER: &str = "/usr/libexec/sftp-server";
pub const DROPBEAR: &str = "/usr/sbin/dropbear";
/// The links rc.common's `enable` makes from START=99 and STOP=10 in init.d/qnetd.
pub const RC_LINKS: [&str; 2] = ["/etc/rc.d/S99qnetd", "/etc/rc.d/K10qnetd"];

/// The procd script and the default UCI file, from the repository's init.d/ (one source).
pub const INIT_SCRIPT_TEXT: &str = include_str!("../../init.d/qnetd");
pub const UCI_DEFAULTS_TEXT: &str = include_str!("../../init.d/qnetd.config");
/// A line only our init script has: an init script that carries it is ours to update.
pub const INIT_SCRIPT_MARKER: &str = "# qnetd: corosync-qnetd compatible quorum arbiter";

/// True on OpenWrt (both files present).
pub fn is_openwrt() -> bool {
    Path::new(RELEASE_FILE).is_file() && Path::new(RC_COMMON).is_file()
}

/// Why this host is not treated as OpenWrt, in words.
pub fn not_openwrt_reason() -> String {
    let missing: Vec<&str> = [RELEASE_FILE, RC_COMMON]
        .into_iter()
        .filter(|p| !Path::new(p).is_file())
        .collect();
    format!("this host is not OpenWrt (no {})", missing.join(", no "))
}

/// The sftp-server paths Dropbear may exec: OpenWrt's, plus whatever path this system's
/// Dropbear was compiled with (Debian's build says /usr/lib/sftp-server).
pub fn sftp_server_paths() -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from(SFTP_SERVER)];
    for p in dropbear_sftp_paths(Path::new(DROPBEAR)) {
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    paths
}

/// The absolute `.../sftp-server` strings compiled into a Dropbear binary (empty if there is
/// none or it cannot be read). Dropbear keeps SFTPSERVER_PATH as a plain C string.
pub fn dropbear_sftp_paths(dropbear: &Path) -> Vec<PathBuf> {
    // Dropbear is ~200-900 KB; the cap keeps a wrong file from being read whole.
    const MAX: u64 = 8 << 20;
    let mut data = Vec::new();
    let read = fs::File::open(dropbear).and_then(|f| f.take(MAX).read_to_end(&mut data));
    if read.is_err() {
        return Vec::new();
    }
    sftp_paths_in(&data)
}

fn sftp_paths_in(data: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for s in data.split(|&b| b == 0) {
        let Ok(text) = std::str::from_utf8(s) else {
            continue;
        };
        let plausible = text.starts_with('/')
            && text.ends_with("/sftp-server")
            && text.len() < 256
            && !text.contains(char::is_whitespace);
        if plausible && !found.iter().any(|p: &PathBuf| p.as_os_str() == text) {
            found.push(PathBuf::from(text));
        }
    }
    found
}

/// The options of /etc/config/qnetd that install needs: the store (for keep.d) and the port
/// (for the firewall rule). Missing file or options give the defaults the init script uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciOptions {
    pub store: PathBuf,
    pub port: u16,
    /// `option user`: whom the init script runs the daemon as (root, or this account).
    pub user: String,
}

impl UciOptions {
    pub fn read() -> UciOptions {
        UciOptions::parse(&super::textfile::read_capped(Path::new(UCI_FILE)).unwrap_or_default())
    }

    /// The options of the `qnetd` section, read with uci's own rules ([`uci_statements`]): a
    /// store path with a space in it is one path.
    pub fn parse(text: &str) -> UciOptions {
        let mut opts = UciOptions {
            store: PathBuf::from(DEFAULT_STORE_DIR),
            port: DEFAULT_PORT,
            user: super::account::NAME.to_string(),
        };
        for words in uci_statements(text) {
            // libuci takes `o` for `option`; more than a name and a value is an error there.
            let [kind, name, value] = words.as_slice() else {
                continue;
            };
            if kind != "option" && kind != "o" {
                continue;
            }
            match name.as_str() {
                "store" if !value.is_empty() => opts.store = PathBuf::from(value),
                "port" => opts.port = value.parse().unwrap_or(opts.port),
                "user" if !value.is_empty() => opts.user = value.clone(),
                _ => {}
            }
        }
        opts
    }
}

/// The statements of a UCI file, each as its words, the way libuci reads them (file.c:
/// parse_str, parse_single_quote, parse_double_quote, parse_backslash): words are separated by
/// blanks and a statement ends at a newline or a `;`; `'...'` is literal and `"..."` takes
/// backslash escapes, both may span lines; a bare backslash takes the next character as it is
/// (at a line's end it joins the next line); quoted and bare parts next to each other make one
/// word (`'a'\''b'` is `a'b`); `#` outside quotes ends the line. An unterminated quote (an
/// error to uci) ends at the end of the text.
pub fn uci_statements(text: &str) -> Vec<Vec<String>> {
    let mut statements = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    let blank = |c: &char| c.is_whitespace() && *c != '\n';
    let mut end = |words: &mut Vec<String>| {
        if !words.is_empty() {
            statements.push(std::mem::take(words));
        }
    };
    while let Some(&c) = chars.peek() {
        match c {
            '\n' | ';' => {
                chars.next();
                end(&mut words);
            }
            '#' => {
                chars.by_ref().take_while(|&c| c != '\n').for_each(drop);
                end(&mut words);
            }
            c if blank(&c) => {
                chars.next();
            }
            _ => {
                let (word, ends) = uci_word(&mut chars);
                words.push(word);
                if ends {
                    end(&mut words);
                }
            }
        }
    }
    end(&mut words);
    statements
}

/// One word from its first character; true when a `#` or `;` in it ended the statement too.
fn uci_word(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> (String, bool) {
    let mut word = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            return (word, false);
        }
        chars.next();
        match c {
            '\'' => word.extend(chars.by_ref().take_while(|&c| c != '\'')),
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => escaped(chars, &mut word),
                        c => word.push(c),
                    }
                }
            }
            '\\' => escaped(chars, &mut word),
            '#' => {
                chars.by_ref().take_while(|&c| c != '\n').for_each(drop);
                return (word, true);
            }
            ';' => return (word, true),
            c => word.push(c),
        }
    }
    (word, false)
}

/// After a backslash: the next character as it is, or nothing for a line break (the line
/// continues on the next).
fn escaped(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, word: &mut String) {
    match chars.next() {
        Some('\n') | None => {}
        Some('\r') if chars.peek() == Some(&'\n') => {
            chars.next();
        }
        Some(c) => word.push(c),
    }
}

/// The keep.d list: every file install made or the user configured, so a sysupgrade keeps
/// the arbiter (binary and links are not in the firmware image) and its CA.
pub fn keep_list(links: &[PathBuf], store: &Path) -> String {
    let mut text = String::from("# Written by `qnetd install`: kept across sysupgrade.\n");
    let mut add = |p: &Path| {
        text.push_str(&p.to_string_lossy());
        text.push('\n');
    };
    add(Path::new(BINARY));
    links.iter().for_each(|l| add(l));
    add(Path::new(INIT_SCRIPT));
    RC_LINKS.iter().for_each(|l| add(Path::new(l)));
    add(Path::new(UCI_FILE));
    add(Path::new(super::state::STATE_FILE));
    // The whole store directory: sysupgrade expands directories to the files in them.
    let mut store = store.to_string_lossy().into_owned();
    if !store.ends_with('/') {
        store.push('/');
    }
    add(Path::new(&store));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_compiled_in_sftp_paths() {
        let blob = b"\x7fELF\0junk\0/usr/lib/sftp-server\0sftp\0/usr/libexec/sftp-server\0\
                     not a /path/sftp-server\0/usr/lib/sftp-server\0";
        assert_eq!(
            sftp_paths_in(blob),
            vec![
                PathBuf::from("/usr/lib/sftp-server"),
                PathBuf::from("/usr/libexec/sftp-server")
            ]
        );
        assert!(sftp_paths_in(b"\0sftp-server\0").is_empty());
    }

    #[test]
    fn uci_options_with_defaults() {
        let d = UciOptions::parse("");
        assert_eq!(d.port, 5403);
        assert_eq!(d.store, PathBuf::from(DEFAULT_STORE_DIR));
        let o = UciOptions::parse(
            "config qnetd 'main'\n\toption port '15403'\n\toption store '/srv/qnetd'\n\
             \t# option store '/ignored'\n",
        );
        assert_eq!(o.port, 15403);
        assert_eq!(o.store, PathBuf::from("/srv/qnetd"));
    }

    #[test]
    fn uci_values_are_read_with_ucis_quoting() {
        let one = |text: &str| uci_statements(text);
        let w = |words: &[&str]| vec![words.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
        for (text, want) in [
            (
                "option store '/mnt/usb stick/qnetd'",
                w(&["option", "store", "/mnt/usb stick/qnetd"]),
            ),
            (
                "\toption store \"/a b\\\"c\"  # comment",
                w(&["option", "store", "/a b\"c"]),
            ),
            ("option store 'a'\\''b'", w(&["option", "store", "a'b"])),
            ("option store /x\\ y", w(&["option", "store", "/x y"])),
            ("option store 'it''s'", w(&["option", "store", "its"])),
            ("option store ''", w(&["option", "store", ""])),
            (
                "option port 5403 # trailing",
                w(&["option", "port", "5403"]),
            ),
            ("option store 'a#b'", w(&["option", "store", "a#b"])),
            // Outside quotes `#` ends the line even inside a word, as libuci's parse_str.
            ("option store /a#b c", w(&["option", "store", "/a"])),
            (
                "option store 'two\nlines'",
                w(&["option", "store", "two\nlines"]),
            ),
            (
                "option store /long\\\n/path",
                w(&["option", "store", "/long/path"]),
            ),
            ("option store \"\\n\"", w(&["option", "store", "n"])),
            (
                "option store 'unterminated",
                w(&["option", "store", "unterminated"]),
            ),
        ] {
            assert_eq!(one(text), want, "{text:?}");
        }
        assert_eq!(
            one("# option store '/ignored'\n\n"),
            Vec::<Vec<String>>::new()
        );
        assert_eq!(
            one("option port 1; option store /x\n"),
            vec![
                w(&["option", "port", "1"])[0].clone(),
                w(&["option", "store", "/x"])[0].clone()
            ]
        );
        let o = UciOptions::parse("config qnetd 'main'\n\toption store '/mnt/usb stick/qnetd'\n");
        assert_eq!(o.store, PathBuf::from("/mnt/usb stick/qnetd"));
        let o = UciOptions::parse("c qnetd main\n\to store \"/srv/q\"; o port 15403\n");
        assert_eq!((o.store, o.port), (PathBuf::from("/srv/q"), 15403));
        // Three words exactly: an option with a stray fourth word is not read as a prefix.
        let o = UciOptions::parse("option store /mnt/usb stick\n");
        assert_eq!(o.store, PathBuf::from(DEFAULT_STORE_DIR));
    }

    #[test]
    fn shipped_init_script_carries_the_marker() {
        assert!(INIT_SCRIPT_TEXT.starts_with("#!/bin/sh /etc/rc.common\n"));
        assert!(INIT_SCRIPT_TEXT.contains(INIT_SCRIPT_MARKER));
        assert!(INIT_SCRIPT_TEXT.contains(&format!("PROG={BINARY}")));
    }

    #[test]
    fn keep_list_names_everything() {
        let text = keep_list(
            &[PathBuf::from("/usr/sbin/corosync-qnetd")],
            Path::new("/etc/corosync/qnetd/nssdb"),
        );
        for want in [
            BINARY,
            "/usr/sbin/corosync-qnetd",
            INIT_SCRIPT,
            "/etc/rc.d/S99qnetd",
            UCI_FILE,
            "/etc/corosync/qnetd/nssdb/",
        ] {
            assert!(text.lines().any(|l| l == want), "{want} missing:\n{text}");
        }
    }
}
