//! A built-in SFTP server (protocol version 3, as OpenSSH's sftp-server speaks it), so that
//! OpenSSH's `scp` (SFTP since 9.0) and `sftp` work against a router whose Dropbear has no
//! sftp-server. Invoked as `sftp-server` (argv[0]) or `qnetd sftp-server`; takes OpenSSH
//! sftp-server's flags. See docs/sftp.md.
//!
//! A crate of its own, apart from the daemon: it shares nothing with qnetd but the binary.

#![forbid(unsafe_code)]

pub mod attrs;
mod fsops;
mod handles;
pub mod packet;
mod policy;
pub mod realpath;
pub mod server;
pub mod users;

pub use fsops::status_of;
pub use handles::MAX_HANDLES;
pub use policy::{Policy, REQUESTS};
pub use server::{serve, Fatal, Server};
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

const USAGE: &str = "usage: sftp-server [-ehR] [-d start_directory] [-f log_facility] \
[-l log_level]\n\t[-P denied_requests] [-p allowed_requests] [-u umask]\n       sftp-server -Q protocol_feature";

/// The parsed command line.
#[derive(Debug, Default)]
pub struct Options {
    pub policy: Policy,
    /// -d: the directory to start in (after ~ and %d/%u/%U expansion).
    pub start_dir: Option<String>,
    /// -u: the umask to set.
    pub umask: Option<u32>,
    /// -Q requests: list the request names and exit.
    pub query: bool,
}

/// Parses OpenSSH sftp-server's flags (getopt "d:f:l:P:p:Q:u:cehR"). -e, -l and -f are
/// accepted and ignored (we log only fatal errors, to stderr); -c stops parsing (sftp-server
/// run as a login shell). `Err` is the message to print.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            break;
        }
        if arg == "--help" {
            return Err(String::new());
        }
        for (at, flag) in arg.char_indices().skip(1) {
            if "dflPpQu".contains(flag) {
                let rest = &arg[at + flag.len_utf8()..];
                let value = if !rest.is_empty() {
                    rest.to_string()
                } else {
                    i += 1;
                    args.get(i - 1)
                        .cloned()
                        .ok_or(format!("option requires an argument -- {flag}"))?
                };
                option(&mut o, flag, value)?;
                break;
            }
            match flag {
                'R' => o.policy.read_only = true,
                'e' => {}
                'c' => return Ok(o),
                'h' => return Err(String::new()),
                _ => return Err(format!("unknown option -- {flag}")),
            }
        }
    }
    Ok(o)
}

fn option(o: &mut Options, flag: char, value: String) -> Result<(), String> {
    let list = |v: &str| v.split(',').map(str::to_string).collect::<Vec<_>>();
    match flag {
        'd' => o.start_dir = Some(value),
        'u' => match u32::from_str_radix(&value, 8) {
            Ok(m) if m <= 0o777 => o.umask = Some(m),
            _ => return Err(format!("Invalid umask \"{value}\"")),
        },
        'p' if o.policy.allow.is_some() => return Err("Permitted requests already set".into()),
        'p' => o.policy.allow = Some(list(&value)),
        'P' if !o.policy.deny.is_empty() => return Err("Refused requests already set".into()),
        'P' => o.policy.deny = list(&value),
        'Q' if value.eq_ignore_ascii_case("requests") => o.query = true,
        'Q' => return Err("Invalid query type".into()),
        _ => {} // -l LEVEL, -f FACILITY: no syslog here
    }
    Ok(())
}

/// -d's expansion: a leading ~ or ~/ is the home directory (~user/ that user's), %d the
/// home, %u the user name, %U the uid, %% a percent sign.
fn expand_start_dir(dir: &str) -> String {
    let accounts = users::Accounts::load();
    let uid = rustix::process::getuid().as_raw();
    let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
    let home = text(accounts.home_of_uid(uid));
    let user = accounts
        .user_name(uid)
        .map_or_else(|| uid.to_string(), |u| text(Some(u)));
    let dir = match dir.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{home}{rest}"),
        Some(rest) => {
            // ~user[/rest]; an unknown user leaves the path as it is (chdir then fails).
            let (name, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match accounts.home_of(name.as_bytes()) {
                Some(h) => format!("{}{tail}", text(Some(h))),
                None => dir.to_string(),
            }
        }
        None => dir.to_string(),
    };
    let mut out = String::new();
    let mut chars = dir.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('%', Some(k @ ('d' | 'u' | 'U' | '%'))) => {
                chars.next();
                match k {
                    'd' => out.push_str(&home),
                    'u' => out.push_str(&user),
                    'U' => out.push_str(&uid.to_string()),
                    _ => out.push('%'),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Exit status when stdout was closed under `-Q`: 128 + SIGPIPE, what a shell reports for a
/// tool that SIGPIPE ended (std ignores SIGPIPE, and `println!` would panic instead).
const CLOSED_OUTPUT_EXIT: u8 = 141;

/// A line on stderr; a closed stderr is ignored (there is nowhere left to report it), where
/// `eprintln!` would panic.
fn complain(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `-Q requests`: the request names, one a line.
fn list_requests() -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = REQUESTS
        .iter()
        .try_for_each(|(name, _)| writeln!(out, "{name}"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(CLOSED_OUTPUT_EXIT),
        Err(e) => {
            complain(format_args!("sftp-server: cannot write the output: {e}"));
            ExitCode::from(1)
        }
    }
}

/// Entry point for `sftp-server` and `qnetd sftp-server`; `args` exclude the program name.
///
/// `#[inline(never)]`: inlined into the caller's `main` (opt-level z + LTO does it), its
/// locals would join a stack frame that the daemon keeps resident for its lifetime.
#[inline(never)]
pub fn main(args: &[String]) -> ExitCode {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(msg) => {
            if !msg.is_empty() {
                complain(format_args!("sftp-server: {msg}"));
            }
            complain(format_args!("{USAGE}"));
            return ExitCode::from(1);
        }
    };
    if opts.query {
        return list_requests();
    }
    if let Some(mask) = opts.umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    }
    if let Some(dir) = &opts.start_dir {
        let dir = expand_start_dir(dir);
        // As OpenSSH: a start directory that cannot be entered is reported, not fatal.
        if let Err(e) = std::env::set_current_dir(&dir) {
            complain(format_args!("sftp-server: chdir to \"{dir}\" failed: {e}"));
        }
    }
    match run(opts.policy) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            complain(format_args!("sftp-server: {e}"));
            // OpenSSH's server exits 11 on an oversized packet.
            ExitCode::from(if matches!(e, Fatal::Length(_)) { 11 } else { 1 })
        }
    }
}

/// Serves stdin/stdout through our own buffers (std's stdout is line-buffered, which would
/// split binary replies at every newline byte).
fn run(policy: Policy) -> Result<(), Fatal> {
    let dup = |fd: std::os::fd::BorrowedFd| fd.try_clone_to_owned().map(std::fs::File::from);
    let input = dup(std::io::stdin().as_fd()).map_err(Fatal::Io)?;
    let output = dup(std::io::stdout().as_fd()).map_err(Fatal::Io)?;
    let mut input = BufReader::with_capacity(16 * 1024, input);
    let mut output = BufWriter::with_capacity(64 * 1024, output);
    match server::serve(&mut input, &mut output, policy) {
        // The client went away while we answered: the end of the session, as for OpenSSH.
        Err(Fatal::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags() {
        let o = parse(&args(&[
            "-eR", "-l", "VERBOSE", "-fAUTH", "-u", "027", "-d", "/tmp",
        ]))
        .unwrap();
        assert!(o.policy.read_only);
        assert_eq!(o.umask, Some(0o27));
        assert_eq!(o.start_dir.as_deref(), Some("/tmp"));
        let o = parse(&args(&["-P", "write,remove", "-prealpath"])).unwrap();
        assert_eq!(o.policy.deny, ["write", "remove"]);
        assert_eq!(o.policy.allow, Some(vec!["realpath".to_string()]));
        assert!(parse(&args(&["-Q", "requests"])).unwrap().query);
        // -c: the rest is a shell command line, ignored
        assert!(parse(&args(&["-c", "-x"])).is_ok());
    }

    #[test]
    fn bad_flags() {
        assert_eq!(parse(&args(&["-x"])).unwrap_err(), "unknown option -- x");
        assert_eq!(
            parse(&args(&["-u", "999"])).unwrap_err(),
            "Invalid umask \"999\""
        );
        assert_eq!(
            parse(&args(&["-u", "abc"])).unwrap_err(),
            "Invalid umask \"abc\""
        );
        assert!(parse(&args(&["-d"]))
            .unwrap_err()
            .contains("requires an argument"));
        assert_eq!(
            parse(&args(&["-Q", "x"])).unwrap_err(),
            "Invalid query type"
        );
        assert!(parse(&args(&["-h"])).unwrap_err().is_empty());
    }

    #[test]
    fn start_dir_expansion() {
        let uid = rustix::process::getuid().as_raw();
        assert_eq!(expand_start_dir("/x/%U/%%"), format!("/x/{uid}/%"));
        assert_eq!(expand_start_dir("/x/%z"), "/x/%z");
        assert_eq!(expand_start_dir("~root/x"), "/root/x");
        assert_eq!(expand_start_dir("~no-such-user/x"), "~no-such-user/x");
    }
}
