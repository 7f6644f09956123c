//! The local status socket's server: upstream's IPC protocol (the requests and replies are
//! [`crate::status::ipc`]'s), one request line per connection, served on the daemon's
//! executor through the accept loop every listener shares ([`super::accept`]).

use super::accept::{accept_loop, Port};
use super::admission::{Admission, Limits, Ticket};
use super::ratelog;
use crate::status::ipc::{needs_snapshot, parse_request, reply_chunks, Request, StatusSource};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::unix::{UnixListener, UnixStream};
use smol::LocalExecutor;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

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
    /// `ipc_max_send_size`: accepted as upstream's setting, but replies are written a node
    /// at a time and never refused for their size (see [`reply_chunks`]).
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

/// What the connections of one status socket share.
struct Shared<S> {
    limits: IpcLimits,
    source: S,
    /// Counts the connections against `limits.max_clients`.
    admission: Admission,
    open: Open,
    /// A `shutdown` request was answered.
    stop: smol::channel::Sender<()>,
}

/// Serve the status socket with `limits` until a client's `shutdown` request has been
/// answered, then return. Connections are handled concurrently, each in its own task on
/// `ex` (the daemon's executor), which must be running while this future is polled.
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
pub async fn serve_with_limits<'ex, S: StatusSource + 'ex>(
    ex: &LocalExecutor<'ex>,
    listener: UnixListener,
    limits: IpcLimits,
    source: S,
) {
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let shared = Rc::new(Shared {
        admission: Admission::new(Limits {
            max_clients: limits.max_clients,
            ..Limits::default()
        }),
        limits,
        source,
        open: Open::default(),
        stop,
    });
    let listener = &listener;
    let accept = accept_loop(
        ex,
        Port::Status,
        move || listener.accept(),
        |stream, _| {
            let place = shared.open.add(admit(&shared)?);
            let shared = shared.clone();
            Some(Box::pin(async move {
                if handle(stream, &shared, place).await {
                    let _ = shared.stop.try_send(());
                }
            }))
        },
    );
    smol::future::or(async { match accept.await {} }, async {
        let _ = stopped.recv().await;
    })
    .await;
    log::info!("status socket: shutdown requested over IPC");
}

/// A place for a new connection: below `max_clients` (0 = unlimited), or after closing the
/// connection that has been idle longest; None (logged) when every connection is busy.
fn admit<S>(shared: &Shared<S>) -> Option<Ticket> {
    if let Ok(ticket) = shared.admission.admit(None) {
        return Some(ticket);
    }
    let max = shared.limits.max_clients;
    match shared.open.evict_longest_idle(Instant::now()) {
        Some(idle) => ratelog::log(
            log::Level::Info,
            "IPC idle client closed",
            format_args!(
                "status socket: all {max} IPC slots taken; closed the connection idle \
                 longest ({} ms without a request) to serve a new one",
                idle.as_millis()
            ),
        ),
        None => {
            ratelog::log(
                log::Level::Warn,
                "IPC clients at maximum",
                format_args!(
                    "status socket: maximum IPC clients ({max}) reached, all busy with \
                     requests; closing the new connection"
                ),
            );
            return None;
        }
    }
    // The evicted connection's ticket went with its entry: its place is free.
    shared.admission.admit(None).ok()
}

/// The open connections, for closing the idle one longest to make room. Each entry holds
/// its connection's admission ticket, so a connection closed to make room gives its place
/// back at once, before its task has noticed.
#[derive(Default, Clone)]
struct Open(Rc<OpenInner>);

#[derive(Default)]
struct OpenInner {
    next_id: Cell<u64>,
    entries: RefCell<Vec<Entry>>,
}

struct Entry {
    id: u64,
    /// Set when a read first found nothing to read, cleared when the request is complete:
    /// while set the connection is idle and may be closed to make room.
    idle_since: Option<Instant>,
    evict: smol::channel::Sender<()>,
    _ticket: Ticket,
}

impl Open {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.entries.borrow().len()
    }

    fn add(&self, ticket: Ticket) -> Place {
        let id = self.0.next_id.get();
        self.0.next_id.set(id + 1);
        let (evict, evicted) = smol::channel::bounded(1);
        self.0.entries.borrow_mut().push(Entry {
            id,
            idle_since: None,
            evict,
            _ticket: ticket,
        });
        Place {
            open: self.clone(),
            id,
            evicted,
        }
    }

    fn set_idle(&self, id: u64, idle: bool) {
        let mut entries = self.0.entries.borrow_mut();
        if let Some(e) = entries.iter_mut().find(|e| e.id == id) {
            e.idle_since = match (idle, e.idle_since) {
                (true, Some(since)) => Some(since),
                (true, None) => Some(Instant::now()),
                (false, _) => None,
            };
        }
    }

    /// Close the connection idle longest; how long it was idle, or None if none is idle.
    /// Its entry (and ticket) goes at once, so the next call picks another one.
    fn evict_longest_idle(&self, now: Instant) -> Option<Duration> {
        let entry = {
            let mut entries = self.0.entries.borrow_mut();
            let (index, _) = entries
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.idle_since.map(|since| (i, since)))
                .min_by_key(|&(_, since)| since)?;
            entries.swap_remove(index)
        };
        let _ = entry.evict.try_send(());
        entry
            .idle_since
            .map(|since| now.saturating_duration_since(since))
    }
}

/// One connection's entry in [`Open`], removed (with its ticket) when dropped.
struct Place {
    open: Open,
    id: u64,
    evicted: smol::channel::Receiver<()>,
}

impl Place {
    fn set_idle(&self, idle: bool) {
        self.open.set_idle(self.id, idle);
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut entries = self.open.0.entries.borrow_mut();
        // Gone already if it was evicted.
        if let Some(index) = entries.iter().position(|e| e.id == self.id) {
            entries.swap_remove(index);
        }
    }
}

/// What waiting for the client's next bytes ended with.
enum Wait<T> {
    Done(T),
    TimedOut,
    Evicted,
}

/// `io` unless the deadline passes or the connection is closed to make room first.
async fn bounded<T>(io: impl Future<Output = T>, deadline: Instant, place: &Place) -> Wait<T> {
    let io = async { Wait::Done(io.await) };
    let timer = async {
        smol::Timer::at(deadline).await;
        Wait::TimedOut
    };
    let evicted = async {
        let _ = place.evicted.recv().await;
        Wait::Evicted
    };
    smol::future::or(io, smol::future::or(evicted, timer)).await
}

/// One connection: read one line, answer, close. Returns true if it was a `shutdown` whose
/// reply was fully written (upstream shuts down only then).
async fn handle<S: StatusSource>(mut stream: UnixStream, shared: &Shared<S>, place: Place) -> bool {
    let limits = &shared.limits;
    let Some(request) = read_request(&mut stream, limits, &place).await else {
        return false;
    };
    let parsed = parse_request(&request);
    let st = needs_snapshot(&parsed).then(|| shared.source.snapshot());
    // A client that does not read a long reply must not keep its slot forever either.
    let deadline = Instant::now() + limits.idle_timeout;
    let write = async {
        for chunk in reply_chunks(&parsed, st.as_ref(), &shared.source) {
            stream.write_all(&chunk).await?;
        }
        stream.flush().await
    };
    match bounded(write, deadline, &place).await {
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
    place: &Place,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + limits.idle_timeout;
    let mut request = Vec::new();
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        // Marked idle only while this read waits: one that finds data ready returns before
        // any other task (admit) runs.
        place.set_idle(true);
        let n = match bounded(stream.read(&mut chunk), deadline, place).await {
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
            place.set_idle(false);
            return Some(request);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_idle_longest_is_evicted_and_a_busy_one_never() {
        let admission = Admission::new(Limits {
            max_clients: 3,
            ..Limits::default()
        });
        let open = Open::default();
        let add = || open.add(admission.admit(None).unwrap());
        let (a, b, busy) = (add(), add(), add());
        assert!(admission.admit(None).is_err());
        b.set_idle(true);
        std::thread::sleep(Duration::from_millis(2));
        a.set_idle(true);
        busy.set_idle(true);
        busy.set_idle(false); // its request is complete
        let now = Instant::now();
        assert!(open.evict_longest_idle(now).is_some());
        assert_eq!(b.evicted.try_recv(), Ok(()));
        assert_eq!(open.len(), 2);
        // The evicted connection's place is free before its task has ended.
        assert_eq!(admission.clients(), 2);
        assert!(open.evict_longest_idle(now).is_some());
        assert_eq!(a.evicted.try_recv(), Ok(()));
        assert_eq!(open.evict_longest_idle(now), None);
        assert!(busy.evicted.try_recv().is_err());
        drop((a, b));
        assert_eq!((open.len(), admission.clients()), (1, 1));
        drop(busy);
        assert_eq!((open.len(), admission.clients()), (0, 0));
    }
}
