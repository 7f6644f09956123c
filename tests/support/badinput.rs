//! Shared by the tests/server/badinput_*.rs tests: a daemon on a free port (ours, or Debian's
//! corosync-qnetd with QNETD_BADINPUT_UPSTREAM=1 to check that the expected answers are
//! upstream's), raw message building and reading (independent of our codec on purpose), and a
//! healthy client of another cluster that must keep its echo replies and its vote throughout.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const UPSTREAM: &str = "/usr/bin/corosync-qnetd";

/// Message types and TLV options used here (numbers from docs/protocol.md, "Option types" and "Message types").
pub mod t {
    pub const PREINIT: u16 = 0;
    pub const PREINIT_REPLY: u16 = 1;
    pub const STARTTLS: u16 = 2;
    pub const INIT: u16 = 3;
    pub const INIT_REPLY: u16 = 4;
    pub const SERVER_ERROR: u16 = 5;
    pub const SET_OPTION: u16 = 6;
    pub const ECHO_REQUEST: u16 = 8;
    pub const ECHO_REPLY: u16 = 9;
    pub const NODE_LIST: u16 = 10;
    pub const NODE_LIST_REPLY: u16 = 11;
    pub const ASK_FOR_VOTE: u16 = 12;
    pub const VOTE_INFO: u16 = 14;
    pub const VOTE_INFO_REPLY: u16 = 15;
}

pub mod o {
    pub const SEQ: u16 = 0;
    pub const CLUSTER_NAME: u16 = 1;
    pub const TLS_SUPPORTED: u16 = 2;
    pub const SUPPORTED_MESSAGES: u16 = 4;
    pub const SUPPORTED_OPTIONS: u16 = 5;
    pub const REPLY_ERROR_CODE: u16 = 6;
    pub const NODE_ID: u16 = 9;
    pub const DECISION_ALGORITHM: u16 = 11;
    pub const HEARTBEAT_INTERVAL: u16 = 12;
    pub const RING_ID: u16 = 13;
    pub const CONFIG_VERSION: u16 = 14;
    pub const NODE_INFO: u16 = 17;
    pub const NODE_LIST_TYPE: u16 = 18;
    pub const VOTE: u16 = 19;
    pub const QUORATE: u16 = 20;
    pub const TIE_BREAKER: u16 = 21;
    pub const HEURISTICS: u16 = 22;
}

pub const ACK: u8 = 1;

pub fn against_upstream() -> bool {
    std::env::var("QNETD_BADINPUT_UPSTREAM").is_ok_and(|v| v == "1")
}

// ---------------------------------------------------------------------------------------------
// Raw messages

/// A message under construction: TLVs in the order they are added, nothing checked.
#[derive(Clone)]
pub struct Msg {
    msg_type: u16,
    body: Vec<u8>,
}

impl Msg {
    pub fn new(msg_type: u16) -> Msg {
        Msg {
            msg_type,
            body: Vec::new(),
        }
    }
    pub fn tlv(mut self, opt: u16, value: &[u8]) -> Msg {
        self.body.extend_from_slice(&opt.to_be_bytes());
        self.body
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.body.extend_from_slice(value);
        self
    }
    /// Bytes appended to the body as they are (for broken TLV streams).
    pub fn raw(mut self, bytes: &[u8]) -> Msg {
        self.body.extend_from_slice(bytes);
        self
    }
    pub fn seq(self, seq: u32) -> Msg {
        self.tlv(o::SEQ, &seq.to_be_bytes())
    }
    pub fn u8(self, opt: u16, v: u8) -> Msg {
        self.tlv(opt, &[v])
    }
    pub fn u16(self, opt: u16, v: u16) -> Msg {
        self.tlv(opt, &v.to_be_bytes())
    }
    pub fn u32(self, opt: u16, v: u32) -> Msg {
        self.tlv(opt, &v.to_be_bytes())
    }
    pub fn ring(self, node: u32, seq: u64) -> Msg {
        let mut v = node.to_be_bytes().to_vec();
        v.extend_from_slice(&seq.to_be_bytes());
        self.tlv(o::RING_ID, &v)
    }
    pub fn node(self, id: u32) -> Msg {
        let mut inner = Vec::new();
        inner.extend_from_slice(&o::NODE_ID.to_be_bytes());
        inner.extend_from_slice(&4u16.to_be_bytes());
        inner.extend_from_slice(&id.to_be_bytes());
        self.tlv(o::NODE_INFO, &inner)
    }
    /// Header (type, length of the body) + body.
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = self.msg_type.to_be_bytes().to_vec();
        v.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        v.extend_from_slice(&self.body);
        v
    }
}

pub fn preinit(seq: u32, cluster: &str) -> Msg {
    Msg::new(t::PREINIT)
        .seq(seq)
        .tlv(o::CLUSTER_NAME, cluster.as_bytes())
}

/// INIT as qdevice-net sends it (ffsplit, lowest tie-breaker, ring (1,1)).
pub fn init(seq: u32, node_id: u32, heartbeat_ms: u32) -> Msg {
    let msgs: Vec<u8> = (0u16..18).flat_map(u16::to_be_bytes).collect();
    let opts: Vec<u8> = (0u16..24).flat_map(u16::to_be_bytes).collect();
    Msg::new(t::INIT)
        .seq(seq)
        .tlv(o::SUPPORTED_MESSAGES, &msgs)
        .tlv(o::SUPPORTED_OPTIONS, &opts)
        .u32(o::NODE_ID, node_id)
        .u16(o::DECISION_ALGORITHM, 1)
        .u32(o::HEARTBEAT_INTERVAL, heartbeat_ms)
        .tlv(o::TIE_BREAKER, &[1, 0, 0, 0, 0])
        .ring(1, 1)
}

pub fn config_list(seq: u32, nodes: &[u32]) -> Msg {
    let mut m = Msg::new(t::NODE_LIST)
        .seq(seq)
        .u8(o::NODE_LIST_TYPE, 0)
        .tlv(o::CONFIG_VERSION, &1u64.to_be_bytes());
    for n in nodes {
        m = m.node(*n);
    }
    m
}

pub fn membership_list(seq: u32, ring: (u32, u64), nodes: &[u32]) -> Msg {
    let mut m = Msg::new(t::NODE_LIST)
        .seq(seq)
        .u8(o::NODE_LIST_TYPE, 2)
        .ring(ring.0, ring.1);
    for n in nodes {
        m = m.node(*n);
    }
    m
}

pub fn echo(seq: u32) -> Msg {
    Msg::new(t::ECHO_REQUEST).seq(seq)
}

/// A received message: type and TLVs in order (values raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub msg_type: u16,
    pub tlvs: Vec<(u16, Vec<u8>)>,
}

impl Reply {
    pub fn parse(frame: &[u8]) -> Reply {
        assert!(frame.len() >= 6, "short frame {frame:02x?}");
        let msg_type = u16::from_be_bytes([frame[0], frame[1]]);
        let mut tlvs = Vec::new();
        let mut rest = &frame[6..];
        while rest.len() >= 4 {
            let opt = u16::from_be_bytes([rest[0], rest[1]]);
            let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
            assert!(
                rest.len() >= 4 + len,
                "reply TLV runs past the end: {frame:02x?}"
            );
            tlvs.push((opt, rest[4..4 + len].to_vec()));
            rest = &rest[4 + len..];
        }
        assert!(rest.is_empty(), "trailing bytes in reply {frame:02x?}");
        Reply { msg_type, tlvs }
    }
    pub fn get(&self, opt: u16) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .rev()
            .find(|(o, _)| *o == opt)
            .map(|(_, v)| v.as_slice())
    }
    pub fn seq(&self) -> Option<u32> {
        self.get(o::SEQ)
            .map(|v| u32::from_be_bytes(v.try_into().expect("4-byte SEQ")))
    }
    pub fn error(&self) -> Option<u16> {
        self.get(o::REPLY_ERROR_CODE)
            .map(|v| u16::from_be_bytes(v.try_into().expect("2-byte error code")))
    }
    pub fn u8(&self, opt: u16) -> Option<u8> {
        self.get(opt).map(|v| v[0])
    }
}

/// Reads one message; `Ok(None)` on EOF before any byte.
pub fn read_msg<R: Read>(r: &mut R) -> std::io::Result<Option<Reply>> {
    let mut header = [0u8; 6];
    let mut got = 0;
    while got < 6 {
        let n = r.read(&mut header[got..])?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    assert!(len < 1 << 20, "reply of {len} bytes");
    let mut frame = header.to_vec();
    frame.resize(6 + len, 0);
    r.read_exact(&mut frame[6..])?;
    Ok(Some(Reply::parse(&frame)))
}

// ---------------------------------------------------------------------------------------------
// A raw client connection

pub struct Client {
    pub stream: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream }
    }
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }
    pub fn send_msg(&mut self, m: &Msg) {
        self.send(&m.bytes());
    }
    /// The next message; fails on EOF or timeout.
    pub fn recv(&mut self) -> Reply {
        match read_msg(&mut self.stream) {
            Ok(Some(r)) => r,
            Ok(None) => panic!("connection closed, a reply was expected"),
            Err(e) => panic!("no reply: {e}"),
        }
    }
    pub fn request(&mut self, m: &Msg) -> Reply {
        self.send_msg(m);
        self.recv()
    }
    /// Asserts SERVER_ERROR with this SEQ (or none) and code.
    pub fn expect_error(&mut self, seq: Option<u32>, code: u16) {
        let r = self.recv();
        assert_eq!(
            (r.msg_type, r.seq(), r.error()),
            (t::SERVER_ERROR, seq, Some(code)),
            "expected SERVER_ERROR{{seq {seq:?}, code {code}}}, got {r:?}"
        );
    }
    /// Asserts that the server closes the connection without sending a message.
    pub fn expect_closed(&mut self) {
        let mut buf = [0u8; 256];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("expected a close, got {n} bytes: {:02x?}", &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected a close, got {e}"),
        }
    }
    /// Asserts that nothing arrives (and the connection stays open) for `d`.
    pub fn expect_silence(&mut self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).unwrap();
        let mut buf = [0u8; 64];
        match self.stream.read(&mut buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Ok(0) => panic!("connection closed, expected it to stay open"),
            Ok(n) => panic!("expected silence, got {:02x?}", &buf[..n]),
            Err(e) => panic!("expected silence, got {e}"),
        }
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
    }
    /// PREINIT (plain, server `-s off`) → INIT → ready for node lists; next seq is 3.
    pub fn plain_init(port: u16, cluster: &str, node_id: u32) -> Client {
        let mut c = Client::connect(port);
        let r = c.request(&preinit(1, cluster));
        assert_eq!(r.msg_type, t::PREINIT_REPLY, "{r:?}");
        let r = c.request(&init(2, node_id, 8000));
        assert_eq!((r.msg_type, r.error()), (t::INIT_REPLY, Some(0)), "{r:?}");
        c
    }
    pub fn half_close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon under test

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tls {
    Off,
    On,
    Required,
}

pub struct Options {
    pub tls: Tls,
    pub max_clients: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tls: Tls::Off,
            max_clients: 0,
        }
    }
}

/// Certificates for TLS cases: our store (`qnetd cert init`), a cluster certificate for each
/// name asked for (`qnetd cert bundle`), and for upstream an NSS database with the same CA
/// and server key (openssl pkcs12 + pk12util).
pub struct Pki {
    pub store: PathBuf,
    pub nss: PathBuf,
}

impl Pki {
    fn create(dir: &Path, upstream: bool) -> Pki {
        let store = dir.join("store");
        run(Command::new(env!("CARGO_BIN_EXE_qnetd"))
            .arg("cert")
            .arg("--dir")
            .arg(&store)
            .arg("init"));
        let nss = dir.join("nss");
        if upstream {
            std::fs::create_dir_all(&nss).unwrap();
            let db = format!("sql:{}", nss.display());
            run(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
            std::fs::write(nss.join("pwdfile.txt"), "").unwrap();
            let ca = store.join("qnetd-cacert.crt");
            run(Command::new("certutil")
                .args(["-A", "-d", &db, "-n", "QNet CA", "-t", "CT,,", "-a", "-i"])
                .arg(&ca));
            let p12 = dir.join("server.p12");
            run(Command::new("openssl")
                .args([
                    "pkcs12",
                    "-export",
                    "-name",
                    "QNetd Cert",
                    "-passout",
                    "pass:",
                ])
                .arg("-inkey")
                .arg(store.join("qnetd-server.key"))
                .arg("-in")
                .arg(store.join("qnetd-server.crt"))
                .arg("-out")
                .arg(&p12));
            run(Command::new("pk12util")
                .args(["-d", &db, "-W", ""])
                .arg("-i")
                .arg(&p12));
        }
        Pki { store, nss }
    }

    /// (certificate DER, key PKCS#8 DER) of a client certificate with CN = `cluster`.
    pub fn client_cert(&self, cluster: &str) -> (Vec<u8>, Vec<u8>) {
        let out = self.store.join(format!("bundle-{cluster}"));
        if !out.exists() {
            run(Command::new(env!("CARGO_BIN_EXE_qnetd"))
                .arg("cert")
                .arg("--dir")
                .arg(&self.store)
                .args(["bundle", "--cluster", cluster, "--out"])
                .arg(&out));
        }
        let cert = std::fs::read(out.join(format!("cluster-{cluster}.crt"))).unwrap();
        let key_pem = std::fs::read_to_string(out.join(format!("cluster-{cluster}.key"))).unwrap();
        (cert, pem_body(&key_pem))
    }

    pub fn ca_der(&self) -> Vec<u8> {
        pem_body(&std::fs::read_to_string(self.store.join("qnetd-cacert.crt")).unwrap())
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The DER inside the first PEM block of `text`.
fn pem_body(text: &str) -> Vec<u8> {
    let start = text.find("-----BEGIN").expect("PEM block");
    let body: String = text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64_decode(&body)
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 {c}"),
        }
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

pub struct Daemon {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub pki: Option<Pki>,
    log: PathBuf,
    pub upstream: bool,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Daemon {
    pub fn start(opts: Options) -> Daemon {
        let upstream = against_upstream();
        let dir = std::env::temp_dir().join(format!(
            "qnetd-badinput-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = (opts.tls != Tls::Off).then(|| Pki::create(&dir, upstream));
        let port = free_port();
        let log = dir.join("daemon.log");
        let lock = dir.join("qnetd.pid");
        let sock = dir.join("qnetd.sock");
        let mut cmd;
        if upstream {
            let tls = match opts.tls {
                Tls::Off => "off",
                Tls::On => "on",
                Tls::Required => "req",
            };
            let nss = pki.as_ref().map_or(dir.join("nss"), |p| p.nss.clone());
            cmd = Command::new(UPSTREAM);
            cmd.args(["-f", "-l", "127.0.0.1", "-s", tls])
                .arg("-p")
                .arg(port.to_string())
                .arg("-m")
                .arg(opts.max_clients.to_string())
                .arg("-S")
                .arg(format!(
                    "lock_file={},local_socket_file={},nss_db_dir={}",
                    lock.display(),
                    sock.display(),
                    nss.display()
                ));
        } else {
            let tls = match opts.tls {
                Tls::Off => "off",
                Tls::On => "on",
                Tls::Required => "required",
            };
            cmd = Command::new(env!("CARGO_BIN_EXE_qnetd"));
            cmd.args(["run", "-l", "127.0.0.1", "--tls", tls])
                .arg("-p")
                .arg(port.to_string())
                .arg("-m")
                .arg(opts.max_clients.to_string())
                .arg("--lock-file")
                .arg(&lock)
                .arg("--socket")
                .arg(&sock);
            if let Some(p) = &pki {
                cmd.arg("--store").arg(&p.store);
            }
        }
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let mut d = Daemon {
            child,
            port,
            dir,
            pki,
            log,
            upstream,
        };
        d.wait_listening();
        d
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("daemon exited at start ({status}): {}", self.log_text());
            }
            // A probe connection that closes at once: the daemon just drops it.
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                // Let the daemon see the probe's close before the test counts clients.
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon not listening: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asserts the daemon is still running and never panicked, then stops it.
    pub fn finish(mut self) {
        let status = self.child.try_wait().unwrap();
        let log = self.log_text();
        assert!(status.is_none(), "daemon exited ({status:?}): {log}");
        assert!(!log.contains("panicked"), "daemon panicked: {log}");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// TLS (rustls, blocking)

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// The TLS settings of a qdevice node of `client`'s cluster, from qnetd's own probe client:
/// the server certificate must chain to our CA and carry "Qnetd Server", as NSS checks.
fn client_config(pki: &Pki, client: Option<(Vec<u8>, Vec<u8>)>) -> rustls::ClientConfig {
    let tls =
        qnetd::probe::ClientTls::new(&pki.ca_der(), client, qnetd::probe::SERVER_NAME).unwrap();
    (*tls.config()).clone()
}

/// Switches a plain connection (STARTTLS already sent) to TLS with the certificate of `cluster`.
pub fn start_tls(pki: &Pki, cluster: &str, tcp: TcpStream) -> std::io::Result<TlsStream> {
    handshake(client_config(pki, Some(pki.client_cert(cluster))), tcp)
}

/// As [`start_tls`], presenting no client certificate.
pub fn start_tls_without_client_cert(pki: &Pki, tcp: TcpStream) -> std::io::Result<TlsStream> {
    handshake(client_config(pki, None), tcp)
}

fn handshake(config: rustls::ClientConfig, tcp: TcpStream) -> std::io::Result<TlsStream> {
    let name = rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

// ---------------------------------------------------------------------------------------------
// The healthy client of another cluster

/// What the healthy client saw.
#[derive(Debug, Default)]
pub struct Health {
    pub echoes_answered: u32,
    pub problems: Vec<String>,
}

pub struct Healthy {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<Health>>,
}

const HEALTHY_CLUSTER: &str = "healthy";
const HEALTHY_TICK: Duration = Duration::from_millis(250);
/// The healthy client's heartbeat interval (INIT). Like the real client, it wants each echo
/// answered before a heartbeat interval has passed; 2 s is short enough to catch a daemon
/// held up by the 3-second byte-at-a-time client, long enough for a loaded test machine.
const HEALTHY_HEARTBEAT_MS: u32 = 2000;
const ECHO_DEADLINE: Duration = Duration::from_millis(HEALTHY_HEARTBEAT_MS as u64);

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Healthy {
    /// Connects node 1 of cluster "healthy" (2 nodes configured, only this one connected: it
    /// gets the ACK), then echoes every 250 ms in a thread. Each echo must be answered within
    /// ECHO_DEADLINE, and nothing else (no other vote) may arrive.
    pub fn start(d: &Daemon) -> Healthy {
        let mut s = Self::connect(d);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || Self::watch(&mut s, &stop2));
        Healthy {
            stop,
            handle: Some(handle),
        }
    }

    fn connect(d: &Daemon) -> Stream {
        let tcp = TcpStream::connect(("127.0.0.1", d.port)).expect("healthy connect");
        tcp.set_nodelay(true).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut s = Stream::Plain(tcp);
        let mut seq = 1;
        s.write_all(&preinit(seq, HEALTHY_CLUSTER).bytes()).unwrap();
        let r = read_msg(&mut s).unwrap().expect("PREINIT_REPLY");
        assert_eq!(r.msg_type, t::PREINIT_REPLY, "healthy: {r:?}");
        if r.u8(o::TLS_SUPPORTED) != Some(0) {
            seq += 1;
            s.write_all(&Msg::new(t::STARTTLS).seq(seq).bytes())
                .unwrap();
            let Stream::Plain(tcp) = s else {
                unreachable!()
            };
            let pki = d.pki.as_ref().expect("TLS daemon has a PKI");
            s = Stream::Tls(Box::new(
                start_tls(pki, HEALTHY_CLUSTER, tcp).expect("healthy TLS"),
            ));
        }
        seq += 1;
        s.write_all(&init(seq, 1, HEALTHY_HEARTBEAT_MS).bytes())
            .unwrap();
        let r = read_msg(&mut s).unwrap().expect("INIT_REPLY");
        assert_eq!(
            (r.msg_type, r.error()),
            (t::INIT_REPLY, Some(0)),
            "healthy: {r:?}"
        );
        seq += 1;
        s.write_all(&config_list(seq, &[1, 2]).bytes()).unwrap();
        let r = read_msg(&mut s).unwrap().expect("NODE_LIST_REPLY");
        assert_eq!(r.msg_type, t::NODE_LIST_REPLY, "healthy: {r:?}");
        seq += 1;
        s.write_all(&membership_list(seq, (1, 2), &[1]).bytes())
            .unwrap();
        Self::expect_ack(&mut s);
        let r = read_msg(&mut s).unwrap().expect("NODE_LIST_REPLY");
        assert_eq!(r.msg_type, t::NODE_LIST_REPLY, "healthy: {r:?}");
        s
    }

    /// VOTE_INFO{ACK} (answered with VOTE_INFO_REPLY).
    fn expect_ack(s: &mut Stream) {
        let r = read_msg(s).unwrap().expect("VOTE_INFO");
        assert_eq!(
            (r.msg_type, r.u8(o::VOTE)),
            (t::VOTE_INFO, Some(ACK)),
            "healthy: {r:?}"
        );
        let seq = r.seq().expect("VOTE_INFO seq");
        s.write_all(&Msg::new(t::VOTE_INFO_REPLY).seq(seq).bytes())
            .unwrap();
    }

    fn watch(s: &mut Stream, stop: &AtomicBool) -> Health {
        let mut h = Health::default();
        let mut echo_seq = 0u32;
        while !stop.load(Ordering::Relaxed) {
            echo_seq += 1;
            let sent = Instant::now();
            if let Err(e) = s.write_all(&echo(echo_seq).bytes()) {
                h.problems.push(format!("echo {echo_seq}: send: {e}"));
                return h;
            }
            match read_msg(s) {
                Ok(Some(r)) if r.msg_type == t::ECHO_REPLY && r.seq() == Some(echo_seq) => {
                    if sent.elapsed() > ECHO_DEADLINE {
                        h.problems.push(format!(
                            "echo {echo_seq} answered after {:?}",
                            sent.elapsed()
                        ));
                    }
                    h.echoes_answered += 1;
                }
                Ok(Some(r)) => {
                    h.problems.push(format!("echo {echo_seq}: got {r:?}"));
                    return h;
                }
                Ok(None) => {
                    h.problems
                        .push(format!("echo {echo_seq}: connection closed"));
                    return h;
                }
                Err(e) => {
                    h.problems.push(format!("echo {echo_seq}: {e}"));
                    return h;
                }
            }
            std::thread::sleep(HEALTHY_TICK.saturating_sub(sent.elapsed()));
        }
        // Still ACK: the same membership again makes ffsplit re-decide and re-send the vote.
        let seq = 100;
        if let Err(e) = s.write_all(&membership_list(seq, (1, 2), &[1]).bytes()) {
            h.problems.push(format!("final membership: {e}"));
            return h;
        }
        match read_msg(s) {
            Ok(Some(r)) if r.msg_type == t::VOTE_INFO && r.u8(o::VOTE) == Some(ACK) => {}
            other => h.problems.push(format!("final vote: {other:?}")),
        }
        h
    }

    /// Stops the client and asserts it kept its echoes and its vote.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let h = self
            .handle
            .take()
            .expect("finished once")
            .join()
            .expect("healthy client thread");
        assert!(h.problems.is_empty(), "healthy client: {:?}", h.problems);
        assert!(h.echoes_answered > 0, "healthy client sent no echo");
    }
}

/// A daemon with a healthy client of another cluster attached; `finish` checks both.
pub struct Bench {
    pub daemon: Daemon,
    healthy: Option<Healthy>,
}

impl Bench {
    pub fn start(opts: Options) -> Bench {
        let daemon = Daemon::start(opts);
        let healthy = Healthy::start(&daemon);
        Bench {
            daemon,
            healthy: Some(healthy),
        }
    }
    pub fn port(&self) -> u16 {
        self.daemon.port
    }
    pub fn finish(mut self) {
        // Let the healthy client tick a few more times after the last bad input.
        std::thread::sleep(HEALTHY_TICK * 2);
        self.healthy.take().expect("finished once").finish();
        self.daemon.finish();
    }
}
