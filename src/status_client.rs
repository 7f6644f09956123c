//! The client side of the status socket, shared by `corosync-qnetd-tool` and `qnetd status`:
//! build the request line exactly as upstream's tool does, send it, split the reply.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Upstream's tool keeps its command in a buffer of `ipc_max_receive_size` (4096) bytes,
/// counting the `\n\0` it appends.
pub const MAX_REQUEST: usize = 4096;
/// Upstream's tool keeps the reply's status line in a 512-byte buffer (with its NUL).
const MAX_STATUS_LINE: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Shutdown,
    Status,
    List,
}

/// The request line upstream's `corosync-qnetd-tool` sends: `status ` / `list ` / `shutdown `,
/// `verbose ` if asked, `cluster "NAME" ` if a name was given (for any operation, as upstream
/// does), then `\n`. (Upstream appends `\n\0` to its buffer but writes it with `%s`, so the
/// NUL never reaches the socket; captured with Debian 3.0.3.)
/// None if it would not fit upstream's buffer.
pub fn request_line(op: Operation, verbose: bool, cluster: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut line = match op {
        Operation::Shutdown => b"shutdown ".to_vec(),
        Operation::Status => b"status ".to_vec(),
        Operation::List => b"list ".to_vec(),
    };
    if verbose {
        line.extend_from_slice(b"verbose ");
    }
    if let Some(name) = cluster {
        line.extend_from_slice(b"cluster \"");
        for &b in name.iter().take_while(|&&b| b != 0) {
            if b == b'"' || b == b'\\' {
                line.push(b'\\');
            }
            line.push(b);
        }
        line.extend_from_slice(b"\" ");
    }
    if line.len() + 2 > MAX_REQUEST {
        return None;
    }
    line.push(b'\n');
    Some(line)
}

/// A reply split at its status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `OK`: the rest goes to stdout.
    Ok(Vec<u8>),
    /// `Error`: the rest is the message (ends in `\n`).
    Error(Vec<u8>),
    /// The server closed before sending a status line; upstream's tool treats this as success
    /// with no output.
    Empty,
    /// Neither `OK` nor `Error`.
    UnknownStatus,
    /// The status line did not fit upstream's buffer.
    StatusTooLong,
}

/// Split a complete reply the way upstream's tool reads it: `\r` is dropped from the status
/// line, which compares case-insensitively (as a C string) with `OK` / `Error`.
pub fn parse_reply(raw: &[u8]) -> Reply {
    let Some(nl) = raw.iter().position(|&b| b == b'\n') else {
        let kept = raw.iter().filter(|&&b| b != b'\r').count();
        return if kept + 1 > MAX_STATUS_LINE {
            Reply::StatusTooLong
        } else {
            Reply::Empty
        };
    };
    let status: Vec<u8> = raw[..nl].iter().copied().filter(|&b| b != b'\r').collect();
    if status.len() + 1 > MAX_STATUS_LINE {
        return Reply::StatusTooLong;
    }
    let status = crate::status::upstream::c_str(&status);
    let rest = raw[nl + 1..].to_vec();
    if status.eq_ignore_ascii_case(b"OK") {
        Reply::Ok(rest)
    } else if status.eq_ignore_ascii_case(b"Error") {
        Reply::Error(rest)
    } else {
        Reply::UnknownStatus
    }
}

#[derive(Debug)]
pub enum ClientError {
    /// Could not connect: the daemon is not running (or the path is wrong).
    Connect(std::io::Error),
    /// Connected, but sending or receiving failed.
    Io(std::io::Error),
}

/// How long [`exchange`] waits for each read or write: a daemon that accepts but never
/// answers must not hang scripts forever.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Connect to `socket`, send `line`, read the reply until the server closes.
pub fn exchange(socket: &Path, line: &[u8]) -> Result<Vec<u8>, ClientError> {
    exchange_within(socket, line, TIMEOUT)
}

/// [`exchange`] with another time limit per read or write.
pub fn exchange_within(
    socket: &Path,
    line: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    let mut stream = UnixStream::connect(socket).map_err(ClientError::Connect)?;
    let timeout = Some(timeout);
    stream.set_read_timeout(timeout).map_err(ClientError::Io)?;
    stream.set_write_timeout(timeout).map_err(ClientError::Io)?;
    stream.write_all(line).map_err(ClientError::Io)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map_err(ClientError::Io)?;
    Ok(reply)
}

/// The text of an OS error without Rust's " (os error N)" suffix, as C's `strerror` prints it.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_match_upstream_tool() {
        assert_eq!(
            request_line(Operation::Status, false, None).unwrap(),
            b"status \n"
        );
        assert_eq!(
            request_line(Operation::Status, false, Some(br#"a"b\c"#)).unwrap(),
            b"status cluster \"a\\\"b\\\\c\" \n"
        );
        assert_eq!(
            request_line(Operation::List, true, Some(b"x")).unwrap(),
            b"list verbose cluster \"x\" \n"
        );
        assert_eq!(
            request_line(Operation::Shutdown, false, None).unwrap(),
            b"shutdown \n"
        );
        assert!(request_line(Operation::List, false, Some(&[b'a'; 4090])).is_none());
    }

    #[test]
    fn replies() {
        assert_eq!(parse_reply(b"OK\nabc\n"), Reply::Ok(b"abc\n".to_vec()));
        assert_eq!(parse_reply(b"ok\r\n"), Reply::Ok(vec![]));
        assert_eq!(
            parse_reply(b"Error\nbad\n"),
            Reply::Error(b"bad\n".to_vec())
        );
        assert_eq!(parse_reply(b"Hello\nx"), Reply::UnknownStatus);
        assert_eq!(parse_reply(b""), Reply::Empty);
        assert_eq!(parse_reply(&[b'x'; 600]), Reply::StatusTooLong);
    }
}
