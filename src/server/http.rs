//! `--http ADDR:PORT`: a minimal read-only HTTP/1.1 responder for health checks and
//! monitoring. GET only, one request per connection (`Connection: close`), on the daemon's
//! executor but in its own tasks: it never reads or writes the engine, only takes status
//! snapshots, so it cannot slow the qnetd port beyond the cost of a snapshot.
//!
//! Paths: `/health` (200 or 503 with the reason, `?cluster=NAME` also wants that cluster to
//! have a node holding an ACK vote), `/metrics` (Prometheus text format), `/status.json`
//! (the document `qnetd status --json` prints).
//!
//! Bounds, so that a scanner or a slow client costs little: a request head of at most
//! [`MAX_HEAD`] bytes (431 beyond), [`DEADLINE`] for the whole exchange (then the connection
//! is closed: slowloris), [`MAX_CONNECTIONS`] at once and [`MAX_PER_ADDRESS`] of them from
//! one source address (more are closed at accept): one host holding connections open cannot
//! take the places a monitoring system needs for `/health`.

use super::accept::{accept_loop, Port};
use super::admission::{Admission, Limits};
use super::listener::BindError;
use super::Daemon;
use crate::proto::types::TlsMode;
use crate::status::health::{cluster_problem, health_body};
use crate::status::prometheus::{self, Facts};
use crate::status::snapshot::ServerStatus;
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, LocalExecutor, Timer};
use std::cell::Cell;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

/// Largest request head (request line and headers) read; a bigger one is answered 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a connection may take from accept to the last byte of the answer.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// HTTP connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 16;
/// HTTP connections served at once from one source address (per /64 for IPv6): a quarter
/// of the places, so a host needs four addresses to take them all; a monitoring system
/// makes one request at a time.
pub const MAX_PER_ADDRESS: usize = 4;
/// `/status.json` answers being written at once. Each holds a copy of the status with every
/// node's lists (about 11.5 KB per client with full lists) until a slow reader has taken it
/// all; one at a time keeps that to one copy, whatever the connections do (the others get
/// 503 and `Retry-After`).
pub const MAX_FULL_SNAPSHOTS: usize = 1;
/// The body of the 503 a `/status.json` gets while another is written.
const BUSY: &str = "another /status.json answer is being written; retry\n";
/// `/health` fails when a certificate expires within this time.
pub const EXPIRY_MARGIN_SECS: i64 = certtool::profile::EXPIRY_WARNING_SECS;
/// Request bytes read after the answer (a body we ignore), so that closing does not reset
/// the connection before the client has read the answer.
const DRAIN_MAX: usize = 64 * 1024;

/// Binds the HTTP listener (at startup, so a taken port stops the start with a clear error).
pub fn bind(addr: std::net::SocketAddr) -> Result<Async<TcpListener>, BindError> {
    let listener = TcpListener::bind(addr).map_err(|source| BindError::Http { addr, source })?;
    Async::new(listener).map_err(|source| BindError::Watch {
        addr: Some(addr),
        source,
    })
}

/// Accepts HTTP connections forever, each in its own task on `ex`.
pub async fn serve<'ex>(
    ex: &LocalExecutor<'ex>,
    daemon: Rc<Daemon>,
    listener: Async<TcpListener>,
) -> Infallible {
    // A connection never INITs: the pre-INIT cap per source is the cap per source.
    let admission = Admission::new(Limits {
        max_clients: MAX_CONNECTIONS,
        max_preinit_per_address: MAX_PER_ADDRESS,
        ..Limits::default()
    });
    let snapshots = Snapshots::default();
    let listener = &listener;
    accept_loop(
        ex,
        Port::Http,
        move || listener.accept(),
        |stream, peer| {
            let Ok(ticket) = admission.admit(Some(peer.ip())) else {
                super::Counters::count(&daemon.counters.http_refused);
                return None;
            };
            let (d, snapshots) = (daemon.clone(), snapshots.clone());
            Some(Box::pin(async move {
                let _ticket = ticket;
                let mut stream = stream;
                connection(&d, &snapshots, &mut stream)
                    .or(async {
                        Timer::after(DEADLINE).await;
                    })
                    .await;
            }))
        },
    )
    .await
}

/// The `/status.json` answers being written ([`MAX_FULL_SNAPSHOTS`]).
#[derive(Default, Clone)]
struct Snapshots(Rc<Cell<usize>>);

impl Snapshots {
    /// Leave to hold a full status copy while `/status.json` is written, unless
    /// [`MAX_FULL_SNAPSHOTS`] are held already.
    fn take(&self) -> Option<SnapshotPermit> {
        if self.0.get() >= MAX_FULL_SNAPSHOTS {
            return None;
        }
        self.0.set(self.0.get() + 1);
        Some(SnapshotPermit(self.clone()))
    }
}

/// Held by a `/status.json` answer until it is written; given back on drop.
pub struct SnapshotPermit(Snapshots);

impl Drop for SnapshotPermit {
    fn drop(&mut self) {
        let held = &self.0 .0;
        held.set(held.get() - 1);
    }
}

/// Reads one request, answers it, closes.
async fn connection(daemon: &Daemon, snapshots: &Snapshots, stream: &mut Async<TcpStream>) {
    let mut buf = Vec::with_capacity(1024);
    let answer = match read_head(stream, &mut buf).await {
        Head::Complete(len) => match parse(&buf[..len]) {
            Ok(request) => respond(daemon, snapshots, &request),
            Err(status) => Response::error(status),
        },
        Head::TooBig => Response::error(431),
        Head::Truncated => Response::error(400),
        Head::Nothing => return,
    };
    if answer.write_to(stream).await.is_err() {
        return;
    }
    let _ = stream.flush().await;
    let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
    // A client that keeps its end open gets a second, not the rest of the deadline.
    drain(stream)
        .or(async {
            Timer::after(Duration::from_secs(1)).await;
        })
        .await;
}

/// Reads what the client still sends until it closes (bounded): closing a socket with
/// unread bytes sends a reset, which can destroy the answer before the client reads it.
async fn drain(stream: &mut Async<TcpStream>) {
    let mut scratch = [0u8; 4096];
    let mut total = 0;
    while total < DRAIN_MAX {
        match stream.read(&mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

enum Head {
    /// The head is `buf[..len]` (ending in the empty line).
    Complete(usize),
    /// No empty line within [`MAX_HEAD`] bytes.
    TooBig,
    /// The client closed in the middle of a head.
    Truncated,
    /// The client closed without sending anything.
    Nothing,
}

async fn read_head(stream: &mut Async<TcpStream>, buf: &mut Vec<u8>) -> Head {
    let mut chunk = [0u8; 2048];
    // Where the search for the empty line resumes: each byte is looked at about once, so a
    // client sending one byte at a time costs no more than one sending the head at once.
    let mut from = 0;
    loop {
        if let Some(len) = head_end(buf, from) {
            return Head::Complete(len);
        }
        if buf.len() >= MAX_HEAD {
            return Head::TooBig;
        }
        from = buf.len().saturating_sub(2);
        let want = chunk.len().min(MAX_HEAD + 4 - buf.len());
        match stream.read(&mut chunk[..want]).await {
            Ok(0) | Err(_) if buf.is_empty() => return Head::Nothing,
            Ok(0) | Err(_) => return Head::Truncated,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Length of the head up to and including its empty line (CRLF CRLF, or bare LF LF as
/// RFC 9112 lets a server accept), looking from `from` on, if it ends within [`MAX_HEAD`]
/// (plus the empty line).
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let head = &buf[..buf.len().min(MAX_HEAD + 4)];
    (from.min(head.len())..head.len()).find_map(|i| match &head[i..] {
        [b'\n', b'\n', ..] => Some(i + 2),
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

/// A parsed GET request: its path and query.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub path: String,
    pub query: Option<String>,
}

/// Parses a request head; the error is the status to answer (400 malformed, 405 not GET).
pub fn parse(head: &[u8]) -> Result<Request, u16> {
    let text = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().ok_or(400u16)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(method) || !target.starts_with('/') || !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(400);
    }
    for header in lines.take_while(|l| !l.is_empty()) {
        match header.split_once(':') {
            Some((name, _)) if token(name) => {}
            _ => return Err(400),
        }
    }
    if method != "GET" {
        return Err(405);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    Ok(Request { path, query })
}

/// An answer: status, content type, body.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
}

/// What follows the head.
pub enum Body {
    Text(String),
    /// `/status.json`, written a node at a time as it is rendered (`json::chunks`), so the
    /// answer never holds the whole document: with a daemon full of clients it would be
    /// megabytes. No Content-Length: the body ends with the connection.
    Json(Box<ServerStatus>, SnapshotPermit),
    /// 503 for a `/status.json` asked while another is written ([`MAX_FULL_SNAPSHOTS`]).
    Busy,
    /// `/metrics`, written a cluster at a time as it is rendered (`prometheus::chunks`), for
    /// the same reason.
    Metrics(Box<ServerStatus>, Box<Facts>),
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: String) -> Response {
        Response {
            status,
            content_type,
            body: Body::Text(body),
        }
    }

    fn error(status: u16) -> Response {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            format!("{}\n", reason(status)),
        )
    }

    fn head(&self) -> String {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
        );
        match &self.body {
            Body::Text(text) => {
                let _ = write!(head, "Content-Length: {}\r\n", text.len());
            }
            Body::Busy => {
                let _ = write!(head, "Content-Length: {}\r\nRetry-After: 1\r\n", BUSY.len());
            }
            Body::Json(..) | Body::Metrics(..) => {}
        }
        head.push_str("Connection: close\r\nCache-Control: no-store\r\n");
        if self.status == 405 {
            head.push_str("Allow: GET\r\n");
        }
        head.push_str("\r\n");
        head
    }

    async fn write_to(&self, stream: &mut Async<TcpStream>) -> std::io::Result<()> {
        match &self.body {
            Body::Text(text) => {
                let mut out = self.head().into_bytes();
                out.extend_from_slice(text.as_bytes());
                stream.write_all(&out).await
            }
            Body::Busy => {
                let mut out = self.head().into_bytes();
                out.extend_from_slice(BUSY.as_bytes());
                stream.write_all(&out).await
            }
            Body::Json(st, _permit) => {
                stream.write_all(self.head().as_bytes()).await?;
                write_chunks(stream, crate::status::json::chunks(st)).await
            }
            Body::Metrics(st, facts) => {
                stream.write_all(self.head().as_bytes()).await?;
                write_chunks(stream, prometheus::chunks(st, facts)).await
            }
        }
    }
}

/// Bytes gathered before a write: pieces as small as one Prometheus sample are sent together,
/// so a long answer takes few writes while holding at most this plus one piece.
const WRITE_BATCH: usize = 16 * 1024;

async fn write_chunks(
    stream: &mut Async<TcpStream>,
    chunks: impl Iterator<Item = String>,
) -> std::io::Result<()> {
    let mut batch = String::new();
    for chunk in chunks {
        batch.push_str(&chunk);
        if batch.len() >= WRITE_BATCH {
            stream.write_all(batch.as_bytes()).await?;
            batch.clear();
        }
    }
    stream.write_all(batch.as_bytes()).await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn respond(daemon: &Daemon, snapshots: &Snapshots, request: &Request) -> Response {
    match request.path.as_str() {
        "/health" => health(daemon, request.query.as_deref()),
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: Body::Metrics(
                Box::new(daemon.snapshot_without_lists()),
                Box::new(facts(daemon, now_secs())),
            ),
        },
        "/status.json" => match snapshots.take() {
            Some(permit) => Response {
                status: 200,
                content_type: "application/json",
                body: Body::Json(Box::new(daemon.snapshot()), permit),
            },
            None => Response {
                status: 503,
                content_type: "text/plain; charset=utf-8",
                body: Body::Busy,
            },
        },
        _ => Response::error(404),
    }
}

fn now_secs() -> i64 {
    super::unix_now()
}

/// The expiry (notAfter, Unix seconds) of the CA and server certificates, read afresh from
/// the store: a certificate replaced on disk is noticed at the next request.
#[derive(Debug, Clone, Copy)]
pub struct Expiry {
    pub ca: i64,
    pub server: i64,
}

/// `Ok(None)` with TLS off (no certificate is used).
fn read_expiry(daemon: &Daemon) -> Result<Option<Expiry>, String> {
    if daemon.cfg.tls == TlsMode::Unsupported {
        return Ok(None);
    }
    let dir = daemon.cfg.store_dir();
    let store = certtool::CertStore::open(dir).map_err(|e| e.to_string())?;
    // Certificates only: the private key is not read for an unauthenticated request.
    let read = |r: Result<Vec<u8>, certtool::StoreError>| {
        r.map_err(|e| format!("certificate store {}: {e}", dir.display()))
    };
    let ca_der = read(store.ca_cert_der())?;
    let server_der = read(store.server_cert_der())?;
    let not_after = |der: &[u8], what: &str| {
        certtool::certinfo::summary(der)
            .map(|s| s.not_after)
            .map_err(|e| {
                format!(
                    "the {what} certificate in {} cannot be read: {e}",
                    dir.display()
                )
            })
    };
    Ok(Some(Expiry {
        ca: not_after(&ca_der, "CA")?,
        server: not_after(&server_der, "server")?,
    }))
}

/// Why the certificates make the daemon unhealthy, if they do.
pub fn expiry_problem(expiry: Expiry, now: i64) -> Option<String> {
    [("server", expiry.server), ("CA", expiry.ca)]
        .into_iter()
        .find_map(|(what, not_after)| {
            let left = not_after - now;
            if left <= 0 {
                Some(format!(
                    "the {what} certificate expired {} days ago",
                    (-left) / 86400
                ))
            } else if certtool::profile::expires_soon(not_after, now) {
                Some(format!(
                    "the {what} certificate expires in {} days",
                    left / 86400
                ))
            } else {
                None
            }
        })
}

fn health(daemon: &Daemon, query: Option<&str>) -> Response {
    let cluster = query.and_then(|q| query_param(q, "cluster"));
    let verdict = health_problem(daemon, cluster.as_deref());
    let status = if verdict.is_none() { 200 } else { 503 };
    Response::new(status, "application/json", health_body(verdict.as_deref()))
}

/// The verdict of `/health`, also the status socket's `health` command (see
/// [`crate::status::ipc::StatusSource`]): the daemon's TLS and certificates, then the
/// cluster's vote if one is named.
pub fn health_problem(daemon: &Daemon, cluster: Option<&[u8]>) -> Option<String> {
    // The votes are all it reads: no copy of every node's lists for a monitoring poll.
    daemon_problem(daemon).or_else(|| cluster_problem(&daemon.snapshot_without_lists(), cluster?))
}

impl crate::status::ipc::StatusSource for Rc<Daemon> {
    fn snapshot(&self) -> ServerStatus {
        Daemon::snapshot(self)
    }

    fn health_problem(&self, cluster: Option<&[u8]>) -> Option<String> {
        health_problem(self, cluster)
    }
}

/// The store and TLS state; `None` = fine.
fn daemon_problem(daemon: &Daemon) -> Option<String> {
    if let Some(slot) = &daemon.tls {
        if slot.get().is_none() {
            return Some("TLS is not available yet (certificate setup under way)".into());
        }
    }
    match read_expiry(daemon) {
        Err(e) => Some(e),
        Ok(None) => None,
        Ok(Some(expiry)) => expiry_problem(expiry, now_secs()),
    }
}

/// The percent-decoded value of `key` in a query string (`+` is a space, as forms send it).
pub fn query_param(query: &str, key: &str) -> Option<Vec<u8>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = match b.get(i + 1..i + 3) {
            Some(&[h, l]) if b[i] == b'%' => hex(h).zip(hex(l)),
            _ => None,
        };
        match (escaped, b[i]) {
            (Some((h, l)), _) => {
                // Two hex digits: at most 255.
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, c) => out.push(c),
        }
        i += 1;
    }
    out
}

/// What `/metrics` shows beside the snapshot: the certificates' expiry (read afresh from the
/// store) and the daemon's and engine's counters.
pub fn facts(daemon: &Daemon, now: i64) -> Facts {
    let expiry = read_expiry(daemon);
    let c = &daemon.counters;
    let engine = daemon.engine.borrow();
    Facts {
        started_unix: daemon.started_unix,
        cert_store_readable: expiry.is_ok(),
        expiry_in: match expiry {
            Ok(Some(e)) => Some((e.ca - now, e.server - now)),
            _ => None,
        },
        tls_ok: c.tls_ok.get(),
        tls_failed: c.tls_failed.get(),
        refused_at_accept: super::admission::Refusal::LIMITS
            .iter()
            .zip(&c.refused_at_accept)
            .map(|(limit, n)| (*limit, n.get()))
            .collect(),
        http_refused: c.http_refused.get(),
        votes_sent: engine.counters().votes().collect(),
        refusals: engine.counters().refusals().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::Vote;

    #[test]
    fn requests_parse_and_bad_ones_get_their_status() {
        let r = parse(b"GET /health?cluster=a%20b HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(r.path, "/health");
        assert_eq!(
            query_param(r.query.as_deref().unwrap(), "cluster").unwrap(),
            b"a b"
        );
        assert_eq!(parse(b"POST /health HTTP/1.1\r\n\r\n").unwrap_err(), 405);
        assert_eq!(parse(b"garbage\r\n\r\n").unwrap_err(), 400);
        assert_eq!(
            parse(b"GET /x HTTP/1.1\r\nno colon\r\n\r\n").unwrap_err(),
            400
        );
        assert_eq!(parse(b"GET x HTTP/1.1\r\n\r\n").unwrap_err(), 400);
        assert_eq!(parse(b"GET /x HTTP/2\r\n\r\n").unwrap_err(), 400);
        assert_eq!(parse(b"\xff\xfe\r\n\r\n").unwrap_err(), 400);
    }

    #[test]
    fn head_end_finds_the_empty_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody", 0), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n", 0), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n", 0), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\n", 20), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        // Beyond MAX_HEAD the end is not looked for.
        let mut long = vec![b'a'; MAX_HEAD + 10];
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head_end(&long, 0), None);
    }

    #[test]
    fn one_status_json_answer_at_a_time_holds_a_full_status_copy() {
        let d = super::super::tests::daemon();
        let slots = Snapshots::default();
        let get = |path: &str| Request {
            path: path.into(),
            query: None,
        };
        let first = respond(&d, &slots, &get("/status.json"));
        assert_eq!(first.status, 200);
        // While the first is being written, a second gets 503 (Retry-After), not a copy.
        let second = respond(&d, &slots, &get("/status.json"));
        assert_eq!(second.status, 503);
        assert!(second.head().contains("Retry-After: 1\r\n"));
        // /metrics needs no full copy and is answered meanwhile.
        assert_eq!(respond(&d, &slots, &get("/metrics")).status, 200);
        drop(first);
        assert_eq!(respond(&d, &slots, &get("/status.json")).status, 200);
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%2Fb+c%zz%4"), b"a/b c%zz%4");
        assert_eq!(percent_decode("%"), b"%");
    }

    #[test]
    fn a_cluster_is_healthy_once_a_node_holds_an_ack_vote() {
        use crate::status::snapshot::{ClusterStatus, NodeStatus};
        let d = super::super::tests::daemon();
        let mut st = d.snapshot();
        st.clusters.push(ClusterStatus {
            name: b"alpha".to_vec(),
            algorithm: crate::proto::types::Algorithm::Ffsplit,
            tie_breaker: crate::proto::types::TieBreaker::Lowest,
            kap_tie_breaker: false,
            nodes: vec![NodeStatus::blank(1, "127.0.0.1:1".into())],
        });
        assert!(cluster_problem(&st, b"alpha")
            .unwrap()
            .contains("holds an ACK vote"));
        assert!(cluster_problem(&st, b"beta")
            .unwrap()
            .contains("no connected nodes"));
        st.clusters[0].nodes[0].last_sent_ack_nack_vote = Some(Vote::Nack);
        let text = prometheus::render(&st, &facts(&d, 0));
        assert!(
            text.contains("qnetd_cluster_votes{cluster=\"alpha\",vote=\"nack\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("qnetd_cluster_votes{cluster=\"alpha\",vote=\"ack\"} 0"),
            "{text}"
        );
        st.clusters[0].nodes[0].last_sent_ack_nack_vote = Some(Vote::Ack);
        assert_eq!(cluster_problem(&st, b"alpha"), None);
    }

    #[test]
    fn expiry_margin_is_30_days() {
        let now = 1_000_000_000;
        let ok = Expiry {
            ca: now + EXPIRY_MARGIN_SECS + 10,
            server: now + EXPIRY_MARGIN_SECS + 10,
        };
        assert_eq!(expiry_problem(ok, now), None);
        let soon = Expiry {
            server: now + 86400 * 3,
            ..ok
        };
        assert!(expiry_problem(soon, now)
            .unwrap()
            .contains("expires in 3 days"));
        let gone = Expiry {
            ca: now - 86400,
            ..ok
        };
        assert!(expiry_problem(gone, now)
            .unwrap()
            .contains("CA certificate expired 1 days ago"));
    }
}
