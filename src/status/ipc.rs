//! The requests and replies of the local status socket, in upstream's IPC protocol
//! (docs/protocol.md, "Status socket") so Debian's `corosync-qnetd-tool`, crmsh and pcs work
//! against us unchanged. Pure: the socket's server is `server::status_socket`.
//!
//! One request line per connection: read until a `\n`, answer `OK\n<text>` or
//! `Error\n<message>\n`, close. Besides upstream's `status`, `list` and `shutdown` we answer two
//! commands of our own that upstream tools never send: `json` (docs/status-json.md), `table`
//! (the `qnetd status` view) and `health [cluster NAME]` (the verdict of HTTP `/health`, for
//! a daemon run without `--http`).

use super::health::{cluster_problem, health_body};
use super::snapshot::ServerStatus;
use super::upstream::{c_str, list_chunks, status_text};
use super::{json, table};

/// Upstream's default `local_socket_file` (defined in `settings`).
pub use crate::settings::DEFAULT_LOCAL_SOCKET_FILE as DEFAULT_SOCKET;

/// Upstream's request tokenizer (`dynar-simple-lex.c`, quote mode) over one request buffer.
///
/// Tokens are separated by space, tab, `\f`, `\v`; `\n` or `\r` ends the line. Double quotes
/// group; inside quotes only `\"` and `\\` are escapes (any other `\x` keeps its backslash);
/// outside quotes `\x` yields `x`. An empty token means "no more tokens" (or `""`), exactly
/// as upstream cannot tell them apart either.
pub struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(input: &'a [u8]) -> Lexer<'a> {
        Lexer { input, pos: 0 }
    }

    pub fn next_token(&mut self) -> Vec<u8> {
        let mut token = Vec::new();
        let input = self.input;
        let at = |pos: usize| input.get(pos).copied();
        let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
        let is_eol = |c: Option<u8>| matches!(c, None | Some(b'\n') | Some(b'\r'));
        let mut pos = self.pos;
        // Skip separators; a newline ends processing for good.
        while let Some(c) = at(pos) {
            if c == b'\n' || c == b'\r' || !is_space(c) {
                break;
            }
            pos += 1;
        }
        if is_eol(at(pos)) {
            self.pos = pos;
            return token;
        }
        let mut quoted = false;
        loop {
            let c = at(pos);
            if quoted {
                match c {
                    None | Some(b'\n') | Some(b'\r') => break,
                    Some(b'"') => {
                        quoted = false;
                        pos += 1;
                    }
                    Some(b'\\') => {
                        pos += 1;
                        match at(pos) {
                            Some(e @ (b'\\' | b'"')) => token.push(e),
                            Some(e) if !is_eol(Some(e)) => token.extend_from_slice(&[b'\\', e]),
                            _ => break,
                        }
                        pos += 1;
                    }
                    Some(c) => {
                        token.push(c);
                        pos += 1;
                    }
                }
            } else {
                match c {
                    None => break,
                    Some(c) if is_space(c) => break,
                    Some(b'"') => {
                        quoted = true;
                        pos += 1;
                    }
                    Some(b'\\') => {
                        pos += 1;
                        match at(pos) {
                            Some(e) if !is_eol(Some(e)) => token.push(e),
                            _ => break,
                        }
                        pos += 1;
                    }
                    Some(c) => {
                        token.push(c);
                        pos += 1;
                    }
                }
            }
        }
        self.pos = pos;
        token
    }
}

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Empty line: `Error\nNo command specified\n`.
    Empty,
    Shutdown,
    Status {
        verbose: bool,
    },
    /// `cluster` None or empty = every cluster.
    List {
        verbose: bool,
        cluster: Option<Vec<u8>>,
    },
    /// Ours: the status as JSON (docs/status-json.md).
    Json,
    /// Ours: the people's table of `qnetd status`.
    Table,
    /// Ours: HTTP `/health`'s JSON verdict; with a cluster, that cluster must hold a vote.
    Health {
        cluster: Option<Vec<u8>>,
    },
    /// `Error\nUnknown command '<token>'\n`.
    Unknown(Vec<u8>),
}

/// Parse one request the way upstream's `qnetd_ipc_parse_line` does. Keywords compare
/// case-insensitively as C strings (up to the first NUL).
pub fn parse_request(line: &[u8]) -> Request {
    let mut lex = Lexer::new(line);
    let first = lex.next_token();
    let word = c_str(&first);
    let is = |w: &[u8], kw: &str| w.eq_ignore_ascii_case(kw.as_bytes());
    if word.is_empty() {
        Request::Empty
    } else if is(word, "shutdown") {
        Request::Shutdown
    } else if is(word, "status") {
        let verbose = is(c_str(&lex.next_token()), "verbose");
        Request::Status { verbose }
    } else if is(word, "list") {
        let mut verbose = false;
        let mut cluster = None;
        loop {
            let token = lex.next_token();
            let arg = c_str(&token);
            if arg.is_empty() {
                break;
            } else if is(arg, "verbose") {
                verbose = true;
            } else if is(arg, "cluster") {
                cluster = Some(c_str(&lex.next_token()).to_vec());
            } else {
                break;
            }
        }
        Request::List { verbose, cluster }
    } else if is(word, "json") {
        Request::Json
    } else if is(word, "table") {
        Request::Table
    } else if is(word, "health") {
        let cluster = is(c_str(&lex.next_token()), "cluster")
            .then(|| c_str(&lex.next_token()).to_vec())
            .filter(|c| !c.is_empty());
        Request::Health { cluster }
    } else {
        Request::Unknown(word.to_vec())
    }
}

/// What the status socket answers from. A closure giving snapshots is one (its health is
/// the snapshot's part of the verdict); the daemon adds its TLS and certificate checks.
pub trait StatusSource {
    fn snapshot(&self) -> ServerStatus;

    /// Why the daemon (and `cluster`, if given) is not healthy; `None` = healthy.
    fn health_problem(&self, cluster: Option<&[u8]>) -> Option<String> {
        cluster.and_then(|c| cluster_problem(&self.snapshot(), c))
    }
}

impl<F: Fn() -> ServerStatus> StatusSource for F {
    fn snapshot(&self) -> ServerStatus {
        self()
    }
}

/// The bytes to send back for `request`; a snapshot is taken only if the request needs it.
pub fn respond(request: &Request, source: &impl StatusSource) -> Vec<u8> {
    let st = needs_snapshot(request).then(|| source.snapshot());
    reply_chunks(request, st.as_ref(), source)
        .flatten()
        .collect()
}

/// Whether answering `request` needs the status snapshot.
pub fn needs_snapshot(request: &Request) -> bool {
    matches!(
        request,
        Request::Status { .. } | Request::List { .. } | Request::Json | Request::Table
    )
}

/// The reply to `request` in pieces of at most one node's text each, for the socket to write
/// as they come: however many clients the daemon holds, a reply never needs memory for more
/// than one node's text. (Upstream renders into a buffer of `ipc_max_send_size` and answers
/// "Can't get QNetd status" past it, so a daemon full of clients had no status at all; we
/// accept the setting and never refuse a reply for its size.) `st` is the snapshot, when
/// [`needs_snapshot`].
pub fn reply_chunks<'a>(
    request: &'a Request,
    st: Option<&'a ServerStatus>,
    source: &impl StatusSource,
) -> Box<dyn Iterator<Item = Vec<u8>> + 'a> {
    let ok = || std::iter::once(b"OK\n".to_vec());
    match (request, st) {
        (Request::Empty, _) => Box::new(std::iter::once(error_reply(b"No command specified"))),
        (Request::Unknown(word), _) => {
            let mut msg = b"Unknown command '".to_vec();
            msg.extend_from_slice(word);
            msg.push(b'\'');
            Box::new(std::iter::once(error_reply(&msg)))
        }
        (Request::Shutdown, _) => Box::new(ok()),
        (Request::Status { verbose }, Some(st)) => {
            Box::new(ok().chain(std::iter::once(status_text(st, *verbose).into_bytes())))
        }
        (Request::List { verbose, cluster }, Some(st)) => {
            Box::new(ok().chain(list_chunks(st, *verbose, cluster.as_deref())))
        }
        (Request::Json, Some(st)) => Box::new(ok().chain(json::chunks(st).map(String::into_bytes))),
        (Request::Table, Some(st)) => {
            Box::new(ok().chain(std::iter::once(table::render(st).into_bytes())))
        }
        (Request::Health { cluster }, _) => {
            let problem = source.health_problem(cluster.as_deref());
            Box::new(ok().chain(std::iter::once(
                health_body(problem.as_deref()).into_bytes(),
            )))
        }
        (_, None) => Box::new(std::iter::once(error_reply(b"Can't get QNetd status"))),
    }
}

fn error_reply(message: &[u8]) -> Vec<u8> {
    let mut reply = b"Error\n".to_vec();
    reply.extend_from_slice(message);
    reply.push(b'\n');
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(line: &[u8]) -> Vec<Vec<u8>> {
        let mut lex = Lexer::new(line);
        let mut out = Vec::new();
        loop {
            let t = lex.next_token();
            if t.is_empty() {
                return out;
            }
            out.push(t);
        }
    }

    #[test]
    fn lexer_separators_quotes_escapes() {
        assert_eq!(
            tokens(b"  status\t\x0bverbose \n\0"),
            vec![b"status".to_vec(), b"verbose".to_vec()]
        );
        assert_eq!(
            tokens(b"list cluster \"a b\" x\n"),
            vec![
                b"list".to_vec(),
                b"cluster".to_vec(),
                b"a b".to_vec(),
                b"x".to_vec()
            ]
        );
        assert_eq!(tokens(br#""a\"b\\c\n""#), vec![br#"a"b\c\n"#.to_vec()]);
        assert_eq!(tokens(br"a\ b\q"), vec![b"a bq".to_vec()]);
        assert_eq!(
            tokens(b"x\"y z\"w v"),
            vec![b"xy zw".to_vec(), b"v".to_vec()]
        );
        assert_eq!(tokens(b"one\rtwo"), vec![b"one".to_vec()]);
        assert_eq!(tokens(b"\"open quote\nnext"), vec![b"open quote".to_vec()]);
        assert_eq!(tokens(b"trailing\\"), vec![b"trailing".to_vec()]);
    }

    #[test]
    fn requests_as_the_tool_sends_them() {
        assert_eq!(
            parse_request(b"status \n"),
            Request::Status { verbose: false }
        );
        assert_eq!(
            parse_request(b"STATUS Verbose \n"),
            Request::Status { verbose: true }
        );
        assert_eq!(
            parse_request(b"status bogus verbose\n"),
            Request::Status { verbose: false }
        );
        assert_eq!(parse_request(b"shutdown please\n"), Request::Shutdown);
        assert_eq!(
            parse_request(b"list verbose cluster \"a\\\"b\" \n"),
            Request::List {
                verbose: true,
                cluster: Some(b"a\"b".to_vec())
            }
        );
        // The first unknown token stops argument parsing.
        assert_eq!(
            parse_request(b"list stop verbose\n"),
            Request::List {
                verbose: false,
                cluster: None
            }
        );
        assert_eq!(parse_request(b"   \n"), Request::Empty);
        assert_eq!(
            parse_request(b"frob x\n"),
            Request::Unknown(b"frob".to_vec())
        );
    }

    #[test]
    fn replies_match_upstream_errors() {
        let snap = || -> ServerStatus { panic!("no snapshot needed") };
        assert_eq!(
            respond(&Request::Empty, &snap),
            b"Error\nNo command specified\n"
        );
        assert_eq!(
            respond(&Request::Unknown(b"frob".to_vec()), &snap),
            b"Error\nUnknown command 'frob'\n"
        );
        assert_eq!(respond(&Request::Shutdown, &snap), b"OK\n");
    }
}
