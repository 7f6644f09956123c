//! The daemon: a single-threaded smol driver around the pure protocol engine.
//!
//! One task per client ([`client`]); one accept loop ([`accept`]) for each listener: the
//! qnetd port ([`listener`]), HTTP ([`http`]) and the status socket ([`status_socket`]);
//! SIGTERM/SIGINT for a clean exit and SIGHUP to reload the revoked certificates
//! ([`revocation`]). The engine lives in a `RefCell`
//! shared by all tasks; every output it returns is routed to the FIFO of the client it is
//! addressed to, so each client's bytes leave in exactly the engine's order.

pub mod accept;
pub mod admission;
pub mod client;
pub mod http;
pub mod listener;
pub mod lockfile;
pub mod memory;
pub mod ratelog;
pub mod revocation;
pub mod runfiles;
pub mod status_socket;
pub mod stop;
pub mod tls;

use crate::engine::{ClientId, CloseReason, Engine, EngineConfig, Output};
use crate::proto::types::TlsMode;
use crate::settings::Config;
use crate::status::snapshot::ServerStatus;
use revocation::{PeerCert, RevocationList, Revocations};
use rustls::ServerConfig;
use smol::channel::Sender;
use smol::future::FutureExt;
use smol::{Async, LocalExecutor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
use stop::Stop;

/// A task of the daemon's executor. Every task is boxed before it is spawned ([`spawn`]):
/// the executor's task machinery is then compiled once, for this type, rather than once for
/// each kind of task (bytes on a router).
pub type Task<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs `task` on `ex` until it ends (or the executor is dropped).
pub fn spawn<'a>(ex: &LocalExecutor<'a>, task: Task<'a>) {
    ex.spawn(task).detach();
}

/// One item of a client's outgoing FIFO.
#[derive(Debug)]
pub enum Out {
    /// An encoded message.
    Frame(Vec<u8>),
    /// Everything before this has been written: switch the connection to TLS now.
    StartTls,
    /// Close the connection; the reason is logged. Boxed: a client's FIFO keeps its items in
    /// blocks of slots the size of the largest one, and a close comes once per connection.
    Close(Box<Close>),
}

/// Why the daemon closes a client's connection: the engine's reason or the driver's own.
/// The session's log line is decided on the variant.
#[derive(Debug)]
pub enum Close {
    Engine(CloseReason),
    /// This many messages wait unsent (`max_client_send_buffers`): the client does not read.
    Backlog(usize),
    /// A reload of the revocation list revoked the client's certificate: the list's words.
    Revoked(String),
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Close::Engine(reason) => reason.fmt(f),
            Close::Backlog(limit) => write!(
                f,
                "{limit} messages are waiting to be sent: the client does not read them"
            ),
            Close::Revoked(words) => write!(f, "dropped on reload: {words}"),
        }
    }
}

/// State shared by the daemon's tasks (all on one thread).
pub struct Daemon {
    pub cfg: Config,
    /// The `max_clients` in force (0 = unlimited): `cfg.max_clients`, or sized from memory.
    pub max_clients: usize,
    pub engine: RefCell<Engine>,
    /// The FIFO of every connected client.
    pub fifos: RefCell<HashMap<ClientId, Sender<Out>>>,
    /// None with `-s off`: STARTTLS then drops the client, as upstream. Otherwise filled once
    /// the TLS configuration is built, which may wait for the kernel's random pool at boot:
    /// STARTTLS waits for it (bounded by the handshake timeout).
    pub tls: Option<Rc<TlsSlot>>,
    /// The revoked client certificates, checked by the TLS verifier; replaced on reload.
    pub revocations: Arc<Revocations>,
    /// The certificate of every client that completed TLS with one: reload drops those whose
    /// certificate it finds revoked.
    pub peer_certs: RefCell<HashMap<ClientId, PeerCert>>,
    /// Counts for `/metrics` kept outside the engine.
    pub counters: Counters,
    /// When the daemon started, Unix seconds (`/metrics`).
    pub started_unix: i64,
}

/// Counts for `/metrics` ([`http`]) that are not the engine's.
#[derive(Debug, Default)]
pub struct Counters {
    /// TLS handshakes completed.
    pub tls_ok: std::cell::Cell<u64>,
    /// TLS handshakes that failed or timed out.
    pub tls_failed: std::cell::Cell<u64>,
    /// Connections closed at accept, by limit ([`admission::Refusal::LIMITS`]).
    pub refused_at_accept: [std::cell::Cell<u64>; 3],
    /// HTTP connections closed at accept: [`http::MAX_CONNECTIONS`] were being served.
    pub http_refused: std::cell::Cell<u64>,
}

impl Counters {
    pub fn count(cell: &std::cell::Cell<u64>) {
        cell.set(cell.get() + 1);
    }
}

/// Now, Unix seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The TLS acceptor, set once it exists.
pub type TlsSlot = smol::lock::OnceCell<futures_rustls::TlsAcceptor>;

impl Daemon {
    /// Queue each output on the FIFO of the client it addresses. Outputs for clients that are
    /// already gone are dropped. A client whose FIFO is over `max_client_send_buffers` (it does
    /// not read what we send) is closed, as upstream does when its send buffers run out.
    pub fn route(&self, outputs: Vec<Output>) {
        let fifos = self.fifos.borrow();
        let limit = self.cfg.settings.max_client_send_buffers;
        for output in outputs {
            let (id, item) = match output {
                Output::Send(id, bytes) => (id, Out::Frame(bytes)),
                Output::StartTls(id) => (id, Out::StartTls),
                Output::Disconnect(id, why) => (id, Out::Close(Box::new(Close::Engine(why)))),
            };
            let Some(fifo) = fifos.get(&id) else { continue };
            let item = match item {
                Out::Frame(_) if fifo.len() >= limit => Out::Close(Box::new(Close::Backlog(limit))),
                item => item,
            };
            // Unbounded channel whose receiver lives as long as the entry: cannot fail.
            let _ = fifo.try_send(item);
        }
    }

    /// A fresh status snapshot for the status socket.
    pub fn snapshot(&self) -> ServerStatus {
        self.with_listener(self.engine.borrow().status(Instant::now()))
    }

    /// A snapshot without the nodes' lists, for `/metrics` and the health verdict (which only
    /// count nodes and votes): a slow reader of it holds a copy of names and counts, not of
    /// every list.
    pub fn snapshot_without_lists(&self) -> ServerStatus {
        self.with_listener(self.engine.borrow().status_without_lists(Instant::now()))
    }

    fn with_listener(&self, engine: ServerStatus) -> ServerStatus {
        ServerStatus {
            listen_addr: self.cfg.listen_addr.clone(),
            port: self.cfg.port,
            max_clients: self.max_clients,
            ..engine
        }
    }
}

/// stderr logging through `log`; `-d` = debug, `-d -d` also rustls' debug lines.
pub fn init_logging(debug: u8) {
    use log::LevelFilter;
    let level = if debug > 0 {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let tls_level = if debug > 1 { level } else { LevelFilter::Warn };
    // Fails only if a logger is already installed (tests calling twice): keep the first.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(level)
        .with_module_level("rustls", tls_level)
        .with_module_level("futures_rustls", tls_level)
        .with_module_level("polling", LevelFilter::Warn)
        .with_module_level("async_io", LevelFilter::Warn)
        .init();
}

/// Run the daemon until SIGTERM/SIGINT or an IPC `shutdown`. Startup problems are logged as
/// one clear error and give a failure exit code, as does a stop nobody asked for (a failed
/// background TLS setup).
pub fn run(cfg: Config) -> ExitCode {
    // Whatever started us (procd applies its no_new_privs only inside ujail, and we run
    // outside one): nothing we exec may gain privileges, not even through a setuid file.
    if let Err(e) = rustix::thread::set_no_new_privs(true) {
        log::warn!("cannot set no_new_privs: {e}");
    }
    match start(cfg) {
        Ok(stop) if stop.is_failure() => ExitCode::FAILURE,
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// TLS setup that may wait for the kernel's random pool (store creation, key loading); run
/// on a thread. `Ok(None)` = nothing to serve (TLS off, store made for pvecm only).
type TlsJob = Box<dyn FnOnce() -> Result<Option<Arc<ServerConfig>>, String> + Send>;

/// What [`prepare_tls`] decided.
struct TlsSetup {
    /// What STARTTLS will use; None with TLS off.
    slot: Option<Rc<TlsSlot>>,
    /// The part of the setup left for a thread.
    job: Option<TlsJob>,
    /// `--wait-store` and the store is not complete: the job reads the revoked
    /// certificates again once it is.
    waits_for_store: bool,
}

impl TlsSetup {
    fn now(slot: Option<Rc<TlsSlot>>) -> TlsSetup {
        TlsSetup {
            slot,
            job: None,
            waits_for_store: false,
        }
    }

    fn later(slot: Option<Rc<TlsSlot>>, job: TlsJob) -> TlsSetup {
        TlsSetup {
            slot,
            job: Some(job),
            waits_for_store: false,
        }
    }
}

/// What STARTTLS will use, and the part of its setup that must not delay listening. The
/// store is read now (a missing one is refused at once, unless `--init-store`); the rustls
/// configuration is built now only if the kernel's random pool is ready, else on a thread:
/// a boot without entropy must never keep us from listening and answering.
fn prepare_tls(cfg: &Config, revocations: &Arc<Revocations>) -> Result<TlsSetup, String> {
    let dir = cfg.store_dir().to_path_buf();
    let revoked = revocations.clone();
    let required = cfg.client_cert_required;
    let slot = (cfg.tls != TlsMode::Unsupported).then(|| Rc::new(TlsSlot::new()));
    if cfg.init_store && !certtool::store_exists(&dir) {
        log::warn!(
            "no certificate store at {}: creating it in the background (--init-store)",
            dir.display()
        );
        let serve = slot.is_some();
        let job: TlsJob = Box::new(move || {
            certtool::CertStore::init(&dir, certtool::InitOptions::default())
                .map_err(|e| e.to_string())?;
            log::info!("created the certificate store {}", dir.display());
            if !serve {
                return Ok(None);
            }
            let creds = tls::load_credentials(&dir).map_err(|e| e.to_string())?;
            tls::build_from_credentials(creds, required, revoked)
                .map(Some)
                .map_err(|e| e.to_string())
        });
        return Ok(TlsSetup::later(slot, job));
    }
    let Some(slot) = slot else {
        return Ok(TlsSetup::now(None));
    };
    let creds = match tls::load_credentials(&dir) {
        Ok(creds) => creds,
        // Root is still making it (the OpenWrt init script's `cert init`, in the background):
        // serve without TLS until it is complete, then read its revocations too.
        Err(e) if cfg.wait_store => {
            log::warn!(
                "the certificate store {} is not complete yet ({e}): waiting for root to \
                 create it (--wait-store); listening now, TLS starts once it is complete",
                dir.display()
            );
            let job: TlsJob = Box::new(move || {
                let creds = wait_for_store(&dir);
                log::info!("the certificate store {} is complete", dir.display());
                match RevocationList::load(&dir) {
                    Ok(list) => revoked.replace(list),
                    Err(e) => log::warn!("{e}: no certificate is refused as revoked"),
                }
                tls::build_from_credentials(creds, required, revoked)
                    .map(Some)
                    .map_err(|e| e.to_string())
            });
            return Ok(TlsSetup {
                waits_for_store: true,
                ..TlsSetup::later(Some(slot), job)
            });
        }
        Err(e) => return Err(e.to_string()),
    };
    if certtool::random_pool_ready() {
        let config =
            tls::build_from_credentials(creds, required, revoked).map_err(|e| e.to_string())?;
        let _ = slot.set_blocking(futures_rustls::TlsAcceptor::from(config));
        return Ok(TlsSetup::now(Some(slot)));
    }
    log::warn!(
        "the kernel's random pool is not ready yet (no hardware RNG?): listening now, TLS \
         starts as soon as it is"
    );
    let job: TlsJob = Box::new(move || {
        tls::build_from_credentials(creds, required, revoked)
            .map(Some)
            .map_err(|e| e.to_string())
    });
    Ok(TlsSetup::later(Some(slot), job))
}

/// Polls until the store at `dir` is complete and its credentials load (root writes each file
/// atomically, the CA export last; a load that fails half-way is tried again).
fn wait_for_store(dir: &std::path::Path) -> certtool::ServerCredentials {
    loop {
        if certtool::store_exists(dir) {
            if let Ok(creds) = tls::load_credentials(dir) {
                return creds;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Runs `job` on a thread and makes its result available to STARTTLS; returns only if it
/// failed (the reason logged): the daemon stops then.
async fn finish_tls_setup(job: TlsJob, slot: Option<Rc<TlsSlot>>) -> Stop {
    match on_thread(job).await {
        Ok(Some(config)) => {
            if let Some(slot) = slot {
                let _ = slot.set(futures_rustls::TlsAcceptor::from(config)).await;
            }
            log::info!("TLS is available");
        }
        Ok(None) => {}
        Err(e) => {
            log::error!("{e}");
            return Stop::TlsSetupFailed;
        }
    }
    std::future::pending().await
}

/// Runs the one blocking job the daemon has on a thread of its own and waits for its result.
/// A plain thread, not `smol::unblock`: that pool's executor and its task type would be
/// linked for this one call (bytes on a router).
async fn on_thread(job: TlsJob) -> Result<Option<Arc<ServerConfig>>, String> {
    let result = Arc::new(std::sync::Mutex::new(None));
    // Closed when the thread is done: a channel of the type the daemon has anyway.
    let (done, finished) = smol::channel::bounded::<()>(1);
    let out = result.clone();
    std::thread::Builder::new()
        .name("tls-setup".into())
        .spawn(move || {
            let r = job();
            if let Ok(mut out) = out.lock() {
                *out = Some(r);
            }
            drop(done);
        })
        .map_err(|e| format!("cannot start a thread for the TLS setup: {e}"))?;
    let _ = finished.recv().await;
    let r = result.lock().ok().and_then(|mut r| r.take());
    r.unwrap_or_else(|| Err("the TLS setup thread ended without a result".into()))
}

/// Runs the daemon; why it stopped, or why it could not start.
fn start(cfg: Config) -> Result<Stop, String> {
    for warning in &cfg.warnings {
        log::warn!("{warning}");
    }
    let max_clients = resolve_max_clients(&cfg);
    // Upstream order: certificates first (a missing store is the most likely mistake), then
    // the lock, the status socket and the TCP listener.
    let (revocations, tls_setup) = revocations_and_tls(&cfg)?;
    let TlsSetup {
        slot: tls,
        job: tls_job,
        ..
    } = tls_setup;
    // The handlers come before the lock: `qnetd reload` signals whoever holds it, and SIGHUP's
    // default action would kill a daemon that has the lock but no handler yet.
    let signals = async_signal::Signals::new([
        async_signal::Signal::Term,
        async_signal::Signal::Int,
        async_signal::Signal::Hup,
    ])
    .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    // Guards: whatever is made from here on is removed again if a later step fails, and
    // when the daemon stops.
    let lock = lockfile::LockFile::acquire(&cfg.settings.lock_file)?;
    let (ipc_listener, socket_file) = bind_status_socket(&cfg)?;
    let tcp = listener::bind(&cfg).map_err(|e| e.to_string())?;
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    let tcp = Async::new(tcp)
        .map_err(|source| listener::BindError::Watch { addr: None, source }.to_string())?;
    let http = bind_http(&cfg)?;

    let daemon = Rc::new(Daemon {
        engine: RefCell::new(Engine::new(EngineConfig::from(&cfg))),
        max_clients,
        fifos: RefCell::new(HashMap::new()),
        tls,
        revocations,
        peer_certs: RefCell::new(HashMap::new()),
        counters: Counters::default(),
        started_unix: unix_now(),
        cfg,
    });
    log::info!(
        "listening on {local}, {}; lock file {}, status socket {}",
        tls_words(&daemon.cfg),
        lock.path().display(),
        socket_file.path().display()
    );
    if let Some(addr) = http.as_ref().and_then(|h| h.get_ref().local_addr().ok()) {
        log::info!("HTTP health and metrics on http://{addr}/ (/health, /metrics, /status.json)");
    }

    let ex = LocalExecutor::new();
    let listeners = Listeners {
        tcp,
        http,
        status: ipc_listener,
    };
    let why = smol::block_on(ex.run(serve_until_stop(&ex, &daemon, listeners, signals, tls_job)));
    log::info!("{why}; shutting down");
    daemon.engine.borrow_mut().shutdown(Instant::now());
    daemon.fifos.borrow_mut().clear();
    // The socket file goes while our listener still holds its inode, so the identity check
    // cannot be fooled by a new file reusing the number.
    drop(socket_file);
    drop(ex);
    drop(lock);
    Ok(why)
}

/// `-m`, or the limit sized from the machine's memory (/proc/meminfo is read only then),
/// logged with where it came from.
fn resolve_max_clients(cfg: &Config) -> usize {
    let max_clients = memory::resolve(cfg.max_clients, memory::read_memory_size);
    match max_clients.source {
        memory::Source::Unknown(_) => log::warn!("{}", max_clients.words()),
        _ => log::info!("{}", max_clients.words()),
    }
    max_clients.value
}

/// The HTTP listener, if asked for. The configuration refused a collision with the qnetd
/// port it could see; a listen address given as a host name is only known here.
fn bind_http(cfg: &Config) -> Result<Option<Async<TcpListener>>, String> {
    let Some(addr) = cfg.settings.http_listen else {
        return Ok(None);
    };
    http::bind(addr)
        .map(Some)
        .map_err(|e| match e.is_addr_in_use() && addr.port() == cfg.port {
            true => format!("{e}: it is the qnetd port (-p); give --http a port of its own"),
            false => e.to_string(),
        })
}

/// The TLS part of the "listening on" line.
fn tls_words(cfg: &Config) -> String {
    match cfg.tls {
        TlsMode::Unsupported => "TLS off".to_string(),
        mode => format!(
            "TLS {}{}, certificates from {}",
            mode.as_str(),
            if cfg.client_cert_required {
                " (client certificate required)"
            } else {
                ""
            },
            cfg.store_dir().display()
        ),
    }
}

/// What the daemon listens on.
struct Listeners {
    tcp: Async<TcpListener>,
    http: Option<Async<TcpListener>>,
    status: smol::net::unix::UnixListener,
}

/// Serves until something stops the daemon: a signal, the status socket's end, or a failed
/// background TLS setup; SIGHUP reloads and serves on.
async fn serve_until_stop<'ex>(
    ex: &LocalExecutor<'ex>,
    daemon: &Rc<Daemon>,
    listeners: Listeners,
    signals: async_signal::Signals,
    tls_job: Option<TlsJob>,
) -> Stop {
    let Listeners { tcp, http, status } = listeners;
    let signal_wait = async {
        use smol::stream::StreamExt;
        let mut signals = signals;
        loop {
            match signals.next().await {
                Some(Ok(async_signal::Signal::Hup)) => reload(daemon),
                Some(Ok(sig)) => break Stop::Signal(sig),
                Some(Err(e)) => break Stop::SignalsFailed(e),
                None => break Stop::SignalsEnded,
            }
        }
    };
    let tls_setup = async {
        match tls_job {
            Some(job) => finish_tls_setup(job, daemon.tls.clone()).await,
            None => std::future::pending().await,
        }
    };
    // The listeners run beside each other here, not spawned: they spawn their connections
    // on `ex`, which a task of `ex` cannot borrow.
    let status_loop = async {
        let limits = status_socket::IpcLimits::from(&daemon.cfg.settings);
        status_socket::serve_with_limits(ex, status, limits, daemon.clone()).await;
        Stop::StatusShutdown
    };
    let http_loop = async {
        match http {
            Some(listener) => match http::serve(ex, daemon.clone(), listener).await {},
            None => std::future::pending::<Stop>().await,
        }
    };
    // Beside the listeners too (a spawned task would be one more kind of task).
    let flush_log = async { match ratelog::flush_every_second().await {} };
    let qnetd_loop = async { match accept_loop(ex, daemon.clone(), tcp).await {} };
    qnetd_loop
        .or(http_loop)
        .or(status_loop)
        .or(signal_wait)
        .or(tls_setup)
        .or(flush_log)
        .await
}

/// The revoked certificates and the TLS setup, read before anything is bound.
fn revocations_and_tls(cfg: &Config) -> Result<(Arc<Revocations>, TlsSetup), String> {
    let (revoked, unread) = match load_revocations(cfg) {
        Ok(list) => (list, None),
        Err(e) if cfg.wait_store => (RevocationList::default(), Some(e)),
        Err(e) => return Err(e),
    };
    let revocations = Revocations::new(revoked);
    let tls = prepare_tls(cfg, &revocations)?;
    if let Some(e) = unread {
        // Forgiven only while root is still making the store: the wait reads the registry
        // again once the store is complete. A complete store's must be read now.
        if !tls.waits_for_store {
            return Err(e);
        }
        log::warn!("{e}: read again once the certificate store is complete");
    }
    Ok((revocations, tls))
}

/// The revoked certificates at start. Only TLS checks them; a registry that cannot be read
/// stops the start: running without the revocations would let revoked nodes in.
fn load_revocations(cfg: &Config) -> Result<RevocationList, String> {
    if cfg.tls == TlsMode::Unsupported {
        return Ok(RevocationList::default());
    }
    let list = RevocationList::load(cfg.store_dir())?;
    if !list.is_empty() && !cfg.client_cert_required {
        log::warn!(
            "{} certificates are revoked, but client certificates are not required (-c off): \
             nodes are not asked for one, so nothing is refused",
            list.len()
        );
    }
    Ok(list)
}

/// SIGHUP: read the revoked certificates again and drop the connected clients whose
/// certificate is now revoked. A registry that cannot be read keeps the previous list.
fn reload(daemon: &Daemon) {
    if daemon.cfg.tls == TlsMode::Unsupported {
        log::info!("received SIGHUP: nothing to reload with TLS off");
        return;
    }
    let path = revocation::registry_path(daemon.cfg.store_dir());
    let list = match RevocationList::load(daemon.cfg.store_dir()) {
        Ok(list) => list,
        Err(e) => {
            log::error!("received SIGHUP: {e}; the previous list stays in force");
            return;
        }
    };
    log::info!(
        "received SIGHUP: reloaded {} ({} revoked certificates)",
        path.display(),
        list.len()
    );
    daemon.revocations.replace(list);
    drop_revoked_clients(daemon);
}

/// Closes every connected client whose certificate is revoked; each session logs why.
fn drop_revoked_clients(daemon: &Daemon) {
    let list = daemon.revocations.current();
    let fifos = daemon.fifos.borrow();
    for (id, cert) in daemon.peer_certs.borrow().iter() {
        let Some(words) = list.refusal(cert.serial, cert.cn.as_deref()) else {
            continue;
        };
        if let Some(fifo) = fifos.get(id) {
            let _ = fifo.try_send(Out::Close(Box::new(Close::Revoked(words))));
        }
    }
}

/// Binds the status socket; the returned guard removes the file (and any directory made for
/// it) when dropped.
fn bind_status_socket(
    cfg: &Config,
) -> Result<(smol::net::unix::UnixListener, runfiles::SocketFile), String> {
    let path = &cfg.settings.local_socket_file;
    let dirs = runfiles::make_parent_dir(path)?;
    runfiles::refuse_live_socket(path)?;
    // local_socket_umask applies to the socket file only, as upstream sets it around bind().
    let old_umask = cfg
        .settings
        .local_socket_umask
        .map(|m| rustix::process::umask(rustix::fs::Mode::from_raw_mode(m)));
    let bound = status_socket::bind(path);
    if let Some(old) = old_umask {
        rustix::process::umask(old);
    }
    let listener =
        bound.map_err(|e| format!("cannot create status socket {}: {e}", path.display()))?;
    let file = runfiles::SocketFile::bound(path, dirs)?;
    if let Some(gid) = cfg.settings.local_socket_gid {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| {
            format!(
                "cannot set group {gid} on status socket {}: {e}",
                path.display()
            )
        })?;
    }
    Ok((listener, file))
}

/// Accept clients forever; each admitted one gets its own task on `ex`, holding its
/// admission ticket until the task ends. Beside it, memory is given back after a flood.
async fn accept_loop<'ex>(
    ex: &LocalExecutor<'ex>,
    daemon: Rc<Daemon>,
    tcp: Async<TcpListener>,
) -> Infallible {
    let admission = admission::Admission::new(admission::Limits {
        max_clients: daemon.max_clients,
        max_preinit: daemon.cfg.settings.max_preinit_clients,
        max_preinit_per_address: daemon.cfg.settings.max_preinit_per_address,
        max_clients_per_address: daemon.cfg.settings.max_clients_per_address,
    });
    let give_back = memory::give_back_after_floods(admission.clone());
    let tcp = &tcp;
    let accept = accept::accept_loop(
        ex,
        accept::Port::Qnetd,
        move || tcp.accept(),
        |stream, peer| {
            let addr = listener::peer_string(peer);
            let ticket = match admission.admit(Some(peer.ip())) {
                Ok(ticket) => ticket,
                Err(refusal) => {
                    Counters::count(&daemon.counters.refused_at_accept[refusal.index()]);
                    ratelog::log(
                        log::Level::Warn,
                        refusal.kind(),
                        format_args!("client {addr} refused: {}", refusal.words()),
                    );
                    return None;
                }
            };
            let _ = stream.get_ref().set_nodelay(true);
            Some(Box::pin(client::serve(
                daemon.clone(),
                stream,
                addr,
                ticket,
            )))
        },
    );
    smol::future::or(accept, give_back).await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(super) fn daemon() -> Daemon {
        let cfg = Config::default();
        Daemon {
            engine: RefCell::new(Engine::new(EngineConfig::from(&cfg))),
            max_clients: 0,
            fifos: RefCell::new(HashMap::new()),
            tls: None,
            revocations: Revocations::new(RevocationList::default()),
            peer_certs: RefCell::new(HashMap::new()),
            counters: Counters::default(),
            started_unix: 0,
            cfg,
        }
    }

    #[test]
    fn outputs_go_to_their_client_in_order_and_a_full_fifo_closes() {
        let d = daemon();
        let (tx1, rx1) = smol::channel::unbounded();
        let (tx2, rx2) = smol::channel::unbounded();
        d.fifos.borrow_mut().insert(1, tx1);
        d.fifos.borrow_mut().insert(2, tx2);
        d.route(vec![
            Output::Send(2, vec![1]),
            Output::Send(1, vec![2]),
            Output::StartTls(1),
            Output::Send(2, vec![3]),
            Output::Send(9, vec![4]), // gone: dropped
        ]);
        let items: Vec<Out> = std::iter::from_fn(|| rx1.try_recv().ok()).collect();
        assert!(matches!(items.as_slice(), [Out::Frame(a), Out::StartTls] if a == &[2]));
        let items: Vec<Out> = std::iter::from_fn(|| rx2.try_recv().ok()).collect();
        assert!(
            matches!(items.as_slice(), [Out::Frame(a), Out::Frame(b)] if a == &[1] && b == &[3])
        );

        let limit = d.cfg.settings.max_client_send_buffers;
        d.route(
            (0..=limit)
                .map(|i| Output::Send(1, vec![i as u8]))
                .collect(),
        );
        let items: Vec<Out> = std::iter::from_fn(|| rx1.try_recv().ok()).collect();
        assert_eq!(items.len(), limit + 1);
        assert!(
            matches!(items.last(), Some(Out::Close(c)) if matches!(**c, Close::Backlog(n) if n == limit))
        );
    }

    #[test]
    fn fifo_items_are_no_larger_than_a_frame() {
        // Each slot of a client's FIFO is this size, whatever it holds.
        assert!(std::mem::size_of::<Out>() <= std::mem::size_of::<Vec<u8>>() + 8);
    }
}
