//! The local status socket, speaking upstream's IPC protocol (docs/protocol.md, "Status socket") so
//! Debian's `corosync-qnetd-tool`, crmsh and pcs work against us unchanged.
//!
//! One request line per connection: read until a `\n`, answer `OK\n<text>` or
//! `Error\n<message>\n`, close. Besides upstream's `status`, `list` and `shutdown` we answer two
//! commands of our own that upstream tools never send: `json` (docs/status-json.md), `table`
//! (the `qnetd status` view) and `health [cluster NAME]` (the verdict of HTTP `/health`, for
//! a daemon run without `--http`).

use super::snapshot::ServerStatus;
use super::upstream::{c_str, list_text, status_text};
use super::{json, table};
use crate::server::ratelog;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::unix::{UnixListener, UnixStream};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

/// Upstream's default `local_socket_file` (defined in `settings`).
pub use crate::settings::DEFAULT_LOCAL_SOCKET_FILE as DEFAULT_SOCKET;

/// Upstream reads a request in chunks of at most this many bytes.
const READ_CHUNK: usize = 256;

/// Limits of the IPC server; defaults are upstream's advanced-settings defaults.
#[derive(Debug, Clone)]
pub struct IpcLimits {
    /// Simultaneous IPC connections (`ipc_max_clients`); 0 = unlimited. At the limit, the
    /// connection idle longest is closed for a new one; with none idle, the new one is
    /// closed at once (see [`serve_with_limits`]).
    pub max_clients: usize,
    /// Request buffer (`ipc_max_receive_size`); a longer request drops the connection.
    pub max_receive_size: usize,
    /// Reply buffer (`ipc_max_send_size`).
    pub max_send_size: usize,
    /// Not in upstream: a connection that sends no complete line within this time (counted
    /// from its first read), or does not read its reply within it, is closed, so a stuck local
    /// client cannot hold one of the few IPC slots forever.
    pub idle_timeout: Duration,
}

impl Default for IpcLimits {
    fn default() -> IpcLimits {
        IpcLimits::from(&crate::settings::AdvancedSettings::default())
    }
}

impl From<&crate::settings::AdvancedSettings> for IpcLimits {
    fn from(s: &crate::settings::AdvancedSettings) -> IpcLimits {
        IpcLimits {
            max_clients: s.ipc_max_clients,
            max_receive_size: s.ipc_max_receive_size,
            max_send_size: s.ipc_max_send_size,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

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
        cluster.and_then(|c| crate::server::http::cluster_problem(&self.snapshot(), c))
    }
}

impl<F: Fn() -> ServerStatus> StatusSource for F {
    fn snapshot(&self) -> ServerStatus {
        self()
    }
}

/// The body of `/health` and of the `health` command: `{"status":"ok"}` or
/// `{"status":"fail","reason":…}`, one line.
pub fn health_body(problem: Option<&str>) -> String {
    match problem {
        None => "{\"status\":\"ok\"}\n".to_string(),
        Some(why) => format!("{{\"status\":\"fail\",\"reason\":{}}}\n", json::quote(why)),
    }
}

/// The bytes to send back for `request`; a snapshot is taken only if the request needs it.
pub fn respond(request: &Request, source: &impl StatusSource, max_send_size: usize) -> Vec<u8> {
    let snapshot = || source.snapshot();
    let (text, what) = match request {
        Request::Empty => return error_reply(b"No command specified"),
        Request::Unknown(word) => {
            let mut msg = b"Unknown command '".to_vec();
            msg.extend_from_slice(word);
            msg.push(b'\'');
            return error_reply(&msg);
        }
        Request::Shutdown => (Vec::new(), "status"),
        Request::Status { verbose } => (status_text(&snapshot(), *verbose).into_bytes(), "status"),
        Request::List { verbose, cluster } => (
            list_text(&snapshot(), *verbose, cluster.as_deref()),
            "cluster list",
        ),
        Request::Json => (json::to_json(&snapshot()).into_bytes(), "status"),
        Request::Table => (table::render(&snapshot()).into_bytes(), "status"),
        Request::Health { cluster } => (
            health_body(source.health_problem(cluster.as_deref()).as_deref()).into_bytes(),
            "status",
        ),
    };
    // Upstream fills a bounded buffer with the text, then prepends "OK\n"; either step can
    // overflow it, with different messages.
    if text.len() > max_send_size {
        return error_reply(format!("Can't get QNetd {what}").as_bytes());
    }
    if text.len() + 3 > max_send_size {
        return error_reply(b"Internal IPC buffer too small");
    }
    let mut reply = b"OK\n".to_vec();
    reply.extend_from_slice(&text);
    reply
}

fn error_reply(message: &[u8]) -> Vec<u8> {
    let mut reply = b"Error\n".to_vec();
    reply.extend_from_slice(message);
    reply.push(b'\n');
    reply
}

/// Bind the status socket at `path`, replacing a stale socket file as upstream does. The
/// caller removes the file when the daemon exits.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    UnixListener::bind(path)
}

/// Serve the status socket with `limits` until a client's `shutdown` request has been
/// answered; then call `shutdown` and return. Connections are handled concurrently on a small
/// local executor that lives inside this future, so the daemon only has to spawn (or select
/// on) this one future.
///
/// When all `max_clients` slots are taken, the connection that has waited longest without
/// sending a complete request is closed to make room (upstream closes the new one instead).
/// Why: upstream's way lets anything that connects and sends nothing (`nc -U`, a hung
/// monitoring script, a local user in the socket's group) lock `corosync-qnetd-tool`, crmsh
/// and pcs out of the daemon, and a shorter timeout alone only shortens the lock-out: whoever
/// holds the slots can reconnect. Real tools send their request right after connecting, so
/// a connection found with nothing to read is the one to give up, and the new one is served.
/// Only a connection whose read has been tried and found empty counts as idle: one whose
/// request is already in the socket buffer but not read yet (a burst of accepts) is not.
pub async fn serve_with_limits(
    listener: UnixListener,
    limits: IpcLimits,
    source: impl StatusSource,
    shutdown: impl Fn(),
) {
    let slots = Slots::default();
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let ex = smol::LocalExecutor::new();
    let accept = async {
        loop {
            let accepted = smol::future::or(async { Some(listener.accept().await) }, async {
                let _ = stop_rx.recv().await;
                None
            })
            .await;
            let stream = match accepted {
                None => break,
                Some(Ok((stream, _))) => stream,
                Some(Err(e)) => {
                    // EMFILE and friends: back off instead of spinning.
                    log::warn!("status socket: accept failed: {e}");
                    smol::Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if !make_room(&slots, limits.max_clients) {
                ratelog::log(
                    log::Level::Warn,
                    "IPC clients at maximum",
                    format_args!(
                        "status socket: maximum IPC clients ({}) reached, all busy with \
                         requests; closing the new connection",
                        limits.max_clients
                    ),
                );
                drop(stream);
                continue;
            }
            let slot = slots.add();
            let (limits, source, stop_tx) = (&limits, &source, &stop_tx);
            ex.spawn(async move {
                if handle(stream, limits, source, slot).await {
                    let _ = stop_tx.try_send(());
                }
            })
            .detach();
            // Let the new connection's task read before the next accept: a request already
            // waiting in its buffer is then read, so make_room never takes it for idle.
            smol::future::yield_now().await;
        }
    };
    // Not `ex.run(accept)`: that gives this executor a second runner whose 512-slot task
    // queue is initialised at once; ticking needs none (measured: the daemon's anonymous
    // memory before any client 160 -> 152-156 kB).
    let tick = async {
        loop {
            ex.tick().await;
        }
    };
    smol::future::or(accept, tick).await;
    log::info!("status socket: shutdown requested over IPC");
    shutdown();
}

/// Whether a new connection may be served: yes below `max` (0 = unlimited), or after closing
/// the connection that has been idle longest.
fn make_room(slots: &Slots, max: usize) -> bool {
    if max == 0 || slots.len() < max {
        return true;
    }
    match slots.evict_longest_idle(Instant::now()) {
        Some(idle) => {
            ratelog::log(
                log::Level::Info,
                "IPC idle client closed",
                format_args!(
                    "status socket: all {max} IPC slots taken; closed the connection idle \
                     longest ({} ms without a request) to serve a new one",
                    idle.as_millis()
                ),
            );
            true
        }
        None => false,
    }
}

/// The open connections of one server: their count is the limit's, and the idle ones can
/// be closed to make room.
#[derive(Default)]
struct Slots {
    next_id: Cell<u64>,
    open: RefCell<Vec<SlotEntry>>,
}

struct SlotEntry {
    id: u64,
    /// Set when a read first found nothing to read, cleared when the request is complete:
    /// while set the connection is idle and may be closed to make room.
    idle_since: Option<Instant>,
    evict: smol::channel::Sender<()>,
}

impl Slots {
    fn len(&self) -> usize {
        self.open.borrow().len()
    }

    fn add(&self) -> Slot<'_> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (evict, evicted) = smol::channel::bounded(1);
        self.open.borrow_mut().push(SlotEntry {
            id,
            idle_since: None,
            evict,
        });
        Slot {
            slots: self,
            id,
            evicted,
        }
    }

    fn set_idle(&self, id: u64, idle: bool) {
        if let Some(e) = self.open.borrow_mut().iter_mut().find(|e| e.id == id) {
            e.idle_since = match (idle, e.idle_since) {
                (true, Some(since)) => Some(since),
                (true, None) => Some(Instant::now()),
                (false, _) => None,
            };
        }
    }

    /// Close the connection idle longest; how long it was idle, or None if none is idle.
    /// Its entry goes at once, so the next call picks another one.
    fn evict_longest_idle(&self, now: Instant) -> Option<Duration> {
        let mut open = self.open.borrow_mut();
        let (index, since) = open
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.idle_since.map(|since| (i, since)))
            .min_by_key(|&(_, since)| since)?;
        let entry = open.swap_remove(index);
        let _ = entry.evict.try_send(());
        Some(now.saturating_duration_since(since))
    }
}

/// One connection's place in [`Slots`], given up when dropped.
struct Slot<'a> {
    slots: &'a Slots,
    id: u64,
    evicted: smol::channel::Receiver<()>,
}

impl Slot<'_> {
    fn set_idle(&self, idle: bool) {
        self.slots.set_idle(self.id, idle);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.slots.open.borrow_mut().retain(|e| e.id != self.id);
    }
}

/// What waiting for the client's next bytes ended with.
enum Wait<T> {
    Done(T),
    TimedOut,
    Evicted,
}

/// `io` unless the deadline passes or the connection is closed to make room first.
async fn bounded<T>(io: impl Future<Output = T>, deadline: Instant, slot: &Slot<'_>) -> Wait<T> {
    let io = async { Wait::Done(io.await) };
    let timer = async {
        smol::Timer::at(deadline).await;
        Wait::TimedOut
    };
    let evicted = async {
        let _ = slot.evicted.recv().await;
        Wait::Evicted
    };
    smol::future::or(io, smol::future::or(evicted, timer)).await
}

/// One connection: read one line, answer, close. Returns true if it was a `shutdown` whose
/// reply was fully written (upstream shuts down only then).
async fn handle(
    mut stream: UnixStream,
    limits: &IpcLimits,
    source: &impl StatusSource,
    slot: Slot<'_>,
) -> bool {
    let Some(request) = read_request(&mut stream, limits, &slot).await else {
        return false;
    };
    let parsed = parse_request(&request);
    let reply = respond(&parsed, source, limits.max_send_size);
    // A client that does not read a long reply must not keep its slot forever either.
    let deadline = Instant::now() + limits.idle_timeout;
    let write = async {
        stream.write_all(&reply).await?;
        stream.flush().await
    };
    match bounded(write, deadline, &slot).await {
        Wait::Done(Ok(())) => parsed == Request::Shutdown,
        Wait::Done(Err(e)) => {
            log::debug!("status socket: write failed: {e}");
            false
        }
        Wait::TimedOut | Wait::Evicted => {
            log::debug!("status socket: client did not read its reply in time");
            false
        }
    }
}

/// Read up to and including the first `\n`, within `idle_timeout` from the start (not per
/// read, so a byte now and then does not keep a slot). None if the client went, sent too
/// much, took too long or was closed to make room.
async fn read_request(
    stream: &mut UnixStream,
    limits: &IpcLimits,
    slot: &Slot<'_>,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + limits.idle_timeout;
    let mut request = Vec::new();
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        // Marked idle only while this read waits: one that finds data ready returns before
        // any other task (make_room) runs.
        slot.set_idle(true);
        let n = match bounded(stream.read(&mut chunk), deadline, slot).await {
            Wait::Done(Ok(0)) => return None,
            Wait::Done(Ok(n)) => n,
            Wait::Done(Err(e)) => {
                log::debug!("status socket: read failed: {e}");
                return None;
            }
            Wait::TimedOut => {
                log::debug!("status socket: client sent no request in time");
                return None;
            }
            Wait::Evicted => return None,
        };
        if request.len() + n > limits.max_receive_size {
            log::warn!(
                "status socket: request longer than {} bytes, dropping the client",
                limits.max_receive_size
            );
            return None;
        }
        request.extend_from_slice(&chunk[..n]);
        if chunk[..n].contains(&b'\n') {
            slot.set_idle(false);
            return Some(request);
        }
    }
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
            respond(&Request::Empty, &snap, 4096),
            b"Error\nNo command specified\n"
        );
        assert_eq!(
            respond(&Request::Unknown(b"frob".to_vec()), &snap, 4096),
            b"Error\nUnknown command 'frob'\n"
        );
        assert_eq!(respond(&Request::Shutdown, &snap, 4096), b"OK\n");
    }

    #[test]
    fn the_slot_idle_longest_is_evicted_and_a_busy_one_never() {
        let slots = Slots::default();
        let (a, b, busy) = (slots.add(), slots.add(), slots.add());
        b.set_idle(true);
        std::thread::sleep(Duration::from_millis(2));
        a.set_idle(true);
        busy.set_idle(true);
        busy.set_idle(false); // its request is complete
        let now = Instant::now();
        assert!(slots.evict_longest_idle(now).is_some());
        assert_eq!(b.evicted.try_recv(), Ok(()));
        assert_eq!(slots.len(), 2);
        assert!(slots.evict_longest_idle(now).is_some());
        assert_eq!(a.evicted.try_recv(), Ok(()));
        assert_eq!(slots.evict_longest_idle(now), None);
        assert!(busy.evicted.try_recv().is_err());
        drop((a, b));
        assert_eq!(slots.len(), 1);
        drop(busy);
        assert_eq!(slots.len(), 0);
    }
}
