//! `qnetd status`: ask the running daemon over its status socket. A table for people, or
//! `--json` for machines (schema: docs/status-json.md).
//!
//! Exit status: 0 the daemon answered, 3 nothing answers on the socket (not running; the LSB
//! "not running" code, and what `corosync-qnetd-tool` uses), 4 the daemon answered with an
//! error, 2 anything else (I/O error, garbled reply).

use crate::status::client::{self, ClientError, Reply};
use crate::status::ipc::DEFAULT_SOCKET;
use argh::FromArgs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// show what the running daemon knows: clusters, nodes, votes, TLS (exit 3 if not running)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct StatusArgs {
    /// print JSON (schema in docs/status-json.md) instead of a table
    #[argh(switch)]
    pub json: bool,
    /// the daemon's status socket (default /var/run/corosync-qnetd/corosync-qnetd.sock)
    #[argh(option, short = 'p', default = "PathBuf::from(DEFAULT_SOCKET)")]
    pub socket: PathBuf,
}

#[inline(never)] // see cli::main
pub fn main(args: StatusArgs) -> ExitCode {
    // Our own IPC commands; upstream's daemon answers "Unknown command" to them.
    let command: &[u8] = if args.json { b"json \n" } else { b"table \n" };
    let raw = match client::exchange(&args.socket, command) {
        Ok(raw) => raw,
        Err(ClientError::Connect(e)) => {
            eprintln!(
                "qnetd status: qnetd is not running (nothing answers on {}: {})",
                args.socket.display(),
                client::strerror(&e)
            );
            return ExitCode::from(3);
        }
        Err(ClientError::Io(e)) => {
            eprintln!(
                "qnetd status: talking to {} failed: {e}",
                args.socket.display()
            );
            return ExitCode::from(2);
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
                eprintln!(
                    "qnetd status: the daemon on {} answered \"{msg}\": it is probably upstream \
                     corosync-qnetd; use `corosync-qnetd-tool -l -v` instead",
                    args.socket.display()
                );
            } else {
                eprintln!("qnetd status: the daemon answered: {msg}");
            }
            ExitCode::from(4)
        }
        Reply::Empty => {
            eprintln!(
                "qnetd status: the daemon on {} closed the connection without answering \
                 (too many status clients?)",
                args.socket.display()
            );
            ExitCode::from(2)
        }
        Reply::UnknownStatus | Reply::StatusTooLong => {
            eprintln!(
                "qnetd status: unexpected reply on {}: is that a qnetd status socket?",
                args.socket.display()
            );
            ExitCode::from(2)
        }
    }
}
