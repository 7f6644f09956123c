//! `corosync-qnetd-tool`: upstream's status tool, same flags, same request bytes, same output
//! and exit codes (docs/protocol.md, "corosync-qnetd-tool"; `qdevices/corosync-qnetd-tool.c`).
//!
//! Exit codes: 0 ok, 1 usage, 2 internal error, 3 cannot connect / unknown status line,
//! 4 the daemon answered `Error`.

use crate::status::ipc::DEFAULT_SOCKET;
use crate::status_client::{self as client, ClientError, Operation, Reply};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process::ExitCode;

const PROGRAM: &str = "corosync-qnetd-tool";

/// Parsed flags. Later flags win, as with upstream's getopt loop.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ToolArgs {
    pub operation: Option<Operation>,
    pub verbose: bool,
    pub cluster: Option<Vec<u8>>,
    pub socket: Option<PathBuf>,
}

/// Why parsing stopped: `-h` (usage, exit 1) or a getopt error (message, usage, exit 1).
#[derive(Debug, PartialEq, Eq)]
pub enum ParseStop {
    Help,
    Error(String),
}

/// glibc `getopt(argc, argv, "Hhlsvc:p:")` with GNU argument permutation: non-option words
/// anywhere are skipped, `--` ends the options. `argv0` prefixes error messages as glibc does.
pub fn parse(argv0: &str, args: &[OsString]) -> Result<ToolArgs, ParseStop> {
    let mut out = ToolArgs::default();
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_bytes();
        i += 1;
        if word == b"--" {
            break;
        }
        if word.len() < 2 || word[0] != b'-' {
            continue; // permuted away by GNU getopt; the tool ignores operands
        }
        let mut j = 1;
        while j < word.len() {
            let flag = word[j];
            j += 1;
            match flag {
                b'H' => out.operation = Some(Operation::Shutdown),
                b'l' => out.operation = Some(Operation::List),
                b's' => out.operation = Some(Operation::Status),
                b'v' => out.verbose = true,
                b'h' => return Err(ParseStop::Help),
                b'c' | b'p' => {
                    let value = if j < word.len() {
                        word[j..].to_vec()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].as_bytes().to_vec()
                    } else {
                        return Err(ParseStop::Error(format!(
                            "{argv0}: option requires an argument -- '{}'",
                            char::from(flag)
                        )));
                    };
                    if flag == b'c' {
                        out.cluster = Some(value);
                    } else {
                        out.socket = Some(PathBuf::from(OsString::from_vec(value)));
                    }
                    break;
                }
                other => {
                    return Err(ParseStop::Error(format!(
                        "{argv0}: invalid option -- '{}'",
                        char::from(other)
                    )))
                }
            }
        }
    }
    Ok(out)
}

fn usage() {
    outln!("usage: {PROGRAM} [-Hhlsv] [-c cluster_name] [-p qnetd_ipc_socket_path]");
}

/// `err(3)`-style message: short program name, message, and for OS errors the strerror text.
fn fail(code: u8, message: &str) -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_else(|| PROGRAM.into());
    let short = argv0.rsplit('/').next().unwrap_or(&argv0).to_string();
    errln!("{short}: {message}");
    ExitCode::from(code)
}

#[inline(never)] // see cli::main
pub fn main(args: &[String]) -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_else(|| PROGRAM.into());
    // Use the raw OS arguments so cluster names and paths need not be UTF-8.
    let os_args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let os_args = if os_args.len() == args.len() {
        os_args
    } else {
        args.iter().map(OsString::from).collect()
    };
    let parsed = match parse(&argv0, &os_args) {
        Ok(p) => p,
        Err(ParseStop::Help) => {
            usage();
            return ExitCode::from(1);
        }
        Err(ParseStop::Error(msg)) => {
            errln!("{msg}");
            usage();
            return ExitCode::from(1);
        }
    };
    let Some(operation) = parsed.operation else {
        usage();
        return ExitCode::from(1);
    };
    let socket = parsed
        .socket
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let Some(line) = client::request_line(operation, parsed.verbose, parsed.cluster.as_deref())
    else {
        return fail(2, "Can't store command");
    };
    let raw = match client::exchange(&socket, &line) {
        Ok(raw) => raw,
        Err(ClientError::Connect(e)) => {
            return fail(
                3,
                &format!(
                    "Can't connect to qnetd socket (is QNetd running?): {}",
                    client::strerror(&e)
                ),
            )
        }
        Err(ClientError::Io(_)) => return fail(2, "Can't send command"),
    };
    match client::parse_reply(&raw) {
        Reply::Ok(text) => {
            let _ = std::io::stdout().write_all(&text);
            ExitCode::SUCCESS
        }
        Reply::Error(text) => {
            let mut err = std::io::stderr();
            let _ = err.write_all(b"Error: ");
            let _ = err.write_all(&text);
            ExitCode::from(4)
        }
        Reply::Empty => ExitCode::SUCCESS,
        Reply::UnknownStatus => fail(3, "Unknown status line returned by IPC server"),
        Reply::StatusTooLong => fail(2, "Internal error during IPC status line read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<ToolArgs, ParseStop> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse("corosync-qnetd-tool", &args)
    }

    #[test]
    fn flags_like_getopt() {
        let a = p(&["-lv", "-cmy", "-p", "/tmp/s"]).unwrap();
        assert_eq!(a.operation, Some(Operation::List));
        assert!(a.verbose);
        assert_eq!(a.cluster.as_deref(), Some(&b"my"[..]));
        assert_eq!(a.socket, Some(PathBuf::from("/tmp/s")));
        // Later operation wins; operands are skipped; `--` stops.
        let a = p(&["foo", "-l", "-s", "--", "-H"]).unwrap();
        assert_eq!(a.operation, Some(Operation::Status));
        assert_eq!(p(&["-h", "-s"]), Err(ParseStop::Help));
        assert_eq!(
            p(&["-s", "-x"]),
            Err(ParseStop::Error(
                "corosync-qnetd-tool: invalid option -- 'x'".into()
            ))
        );
        assert_eq!(
            p(&["-c"]),
            Err(ParseStop::Error(
                "corosync-qnetd-tool: option requires an argument -- 'c'".into()
            ))
        );
        assert_eq!(p(&[]).unwrap().operation, None);
    }
}
