//! `qnetd status`: ask the running daemon over its status socket. A table for people, or
//! `--json` for machines (schema: docs/status-json.md).
//!
//! Exit status (the --help text and docs/daemon.md say the same; 3 and 4 as upstream's
//! `corosync-qnetd-tool`, 1 and 2 as every `qnetd` subcommand):
//! 0 the daemon answered; 1 no answer from it (permission denied, timeout, closed without
//! answering, a reply that is not the status protocol); 2 bad command line; 3 not running
//! (no socket file, or nothing listening on it: the LSB "not running" code); 4 the daemon
//! answered with an error (e.g. upstream's daemon, which does not know our commands).

use crate::status::ipc::DEFAULT_SOCKET;
use crate::status_client::{self as client, ClientError, Reply};
use argh::FromArgs;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit status: the daemon answered with an error.
const EXIT_DAEMON_ERROR: u8 = 4;

/// show what the running daemon knows: clusters, nodes, votes, TLS (exit 3 if not running)
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "status",
    error_code(0, "the daemon answered"),
    error_code(
        1,
        "no answer: permission denied, timeout, closed without answering, garbled"
    ),
    error_code(2, "bad command line"),
    error_code(3, "not running: no socket file, or nothing listening on it"),
    error_code(
        4,
        "the daemon answered with an error (e.g. upstream's corosync-qnetd)"
    )
)]
pub struct StatusArgs {
    /// print JSON (schema in docs/status-json.md) instead of a table
    #[argh(switch)]
    pub json: bool,
    /// print the daemon's health verdict as HTTP /health gives it (JSON), without --http
    #[argh(switch)]
    pub health: bool,
    /// with --health: the cluster must also have a node holding an ACK vote
    #[argh(option)]
    pub cluster: Option<String>,
    /// the daemon's status socket (default /var/run/corosync-qnetd/corosync-qnetd.sock)
    #[argh(option, short = 'p', default = "PathBuf::from(DEFAULT_SOCKET)")]
    pub socket: PathBuf,
    /// seconds to wait for the answer (default 30)
    #[argh(option, default = "30")]
    pub timeout: u32,
}

#[inline(never)] // see cli::main
pub fn main(args: StatusArgs) -> ExitCode {
    if args.timeout == 0 {
        return super::usage_error("status", "--timeout must be at least 1 second");
    }
    // Our own IPC commands; upstream's daemon answers "Unknown command" to them.
    let command = match request(&args) {
        Ok(c) => c,
        Err(e) => return super::usage_error("status", e),
    };
    let timeout = Duration::from_secs(args.timeout.into());
    let socket = args.socket.display();
    let raw = match client::exchange_within(&args.socket, &command, timeout) {
        Ok(raw) => raw,
        Err(ClientError::Connect(e)) if not_running(&e) => {
            errln!(
                "qnetd status: qnetd is not running (nothing answers on {socket}: {})",
                client::strerror(&e)
            );
            return ExitCode::from(super::EXIT_NOT_RUNNING);
        }
        Err(ClientError::Connect(e)) => {
            errln!(
                "qnetd status: cannot connect to {socket}: {}",
                client::strerror(&e)
            );
            return ExitCode::FAILURE;
        }
        Err(ClientError::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            errln!(
                "qnetd status: the daemon on {socket} did not answer within {} s",
                args.timeout
            );
            return ExitCode::FAILURE;
        }
        // A daemon at its client limit closes at once: before or after our request is out.
        Err(ClientError::Io(e))
            if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) =>
        {
            return closed_without_answer(&socket);
        }
        Err(ClientError::Io(e)) => {
            errln!(
                "qnetd status: talking to {socket} failed: {}",
                client::strerror(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    match client::parse_reply(&raw) {
        Reply::Ok(text) => {
            let _ = std::io::stdout().write_all(&text);
            ExitCode::SUCCESS
        }
        Reply::Error(msg) => {
            let msg = String::from_utf8_lossy(&msg);
            let msg = msg.trim_end();
            if msg.starts_with("Unknown command") {
                errln!(
                    "qnetd status: the daemon on {socket} answered \"{msg}\": it is probably \
                     upstream corosync-qnetd; use `corosync-qnetd-tool -l -v` instead"
                );
            } else {
                errln!("qnetd status: the daemon answered: {msg}");
            }
            ExitCode::from(EXIT_DAEMON_ERROR)
        }
        Reply::Empty => closed_without_answer(&socket),
        Reply::UnknownStatus | Reply::StatusTooLong => {
            errln!("qnetd status: unexpected reply on {socket}: is that a qnetd status socket?");
            ExitCode::FAILURE
        }
    }
}

/// The IPC request line for the flags given.
fn request(args: &StatusArgs) -> Result<Vec<u8>, String> {
    if args.cluster.is_some() && !args.health {
        return Err("--cluster goes with --health".into());
    }
    if args.health && args.json {
        return Err("--health prints JSON already; give one of --health and --json".into());
    }
    Ok(match (&args.cluster, args.health, args.json) {
        (Some(name), _, _) => health_request(name)?,
        (None, true, _) => b"health\n".to_vec(),
        (None, false, true) => b"json \n".to_vec(),
        (None, false, false) => b"table \n".to_vec(),
    })
}

/// `health cluster "NAME"`, quoted for the socket's tokenizer (`\"` and `\\` inside quotes).
fn health_request(name: &str) -> Result<Vec<u8>, String> {
    if name.is_empty() || name.contains(['\n', '\r', '\0']) {
        return Err(format!("--cluster {name:?}: not a cluster name"));
    }
    let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
    Ok(format!("health cluster \"{quoted}\"\n").into_bytes())
}

fn closed_without_answer(socket: &impl std::fmt::Display) -> ExitCode {
    errln!(
        "qnetd status: the daemon on {socket} closed the connection without answering \
         (too many status clients?)"
    );
    ExitCode::FAILURE
}

/// Whether a failed connect means no daemon: no socket file (or no directory for it), or a
/// file that nothing listens on (left by a daemon that was killed). Permission denied and
/// the like mean a daemon may well be running.
fn not_running(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::NotFound | ErrorKind::ConnectionRefused | ErrorKind::NotADirectory
    )
}

#[cfg(test)]
mod tests {
    use super::health_request;
    use crate::status::ipc::{parse_request, Request};

    /// Whatever a cluster is called, the daemon reads back the very name (the socket's
    /// tokenizer undoes the quoting), so `--health --cluster` asks about that cluster.
    #[test]
    fn health_request_quotes_any_name_the_tokenizer_reads_back() {
        let names = [
            "pve",
            "a b",
            "a\"b",
            "back\\slash",
            "\\\"",
            "trailing\\",
            "\"",
            "cluster name\twith tab",
            "ünï cødé",
            "-x",
            "verbose",
        ];
        for name in names {
            let line = health_request(name).unwrap();
            assert_eq!(
                parse_request(&line),
                Request::Health {
                    cluster: Some(name.as_bytes().to_vec())
                },
                "{name:?}"
            );
        }
        for bad in ["", "a\nb", "a\rb", "a\0b"] {
            assert!(health_request(bad).is_err(), "{bad:?}");
        }
    }
}
