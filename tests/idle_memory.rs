//! What the daemon keeps on the heap while idle, counted with a global allocator of this test
//! binary's own: an established TLS connection (rustls' ServerConnection with the daemon's
//! configuration, after a TLS 1.3 handshake with a client certificate, a few records each way
//! and a read that would block, as the daemon's reads end), and smol's reactor once started.
//! The bounds are for 64-bit targets (README "Load": VmHWM and bytes per client).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};

/// Counts the bytes this thread holds (allocated minus freed), so parallel tests do not mix in.
struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // try_with: a thread's last frees run after its locals are gone.
    let _ = HELD.try_with(|h| h.set(h.get() + delta));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size() as isize);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(-(l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, size: usize) -> *mut u8 {
        count(size as isize - l.size() as isize);
        unsafe { System.realloc(p, l, size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn held() -> isize {
    HELD.with(Cell::get)
}

/// Moves TLS records between the two ends until neither has anything to send.
fn pump(client: &mut rustls::ClientConnection, server: &mut rustls::ServerConnection) {
    loop {
        let mut to_server = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut to_server).unwrap();
        }
        let mut to_client = Vec::new();
        if !to_server.is_empty() {
            let mut rest = &to_server[..];
            while !rest.is_empty() {
                server.read_tls(&mut rest).unwrap();
            }
            server.process_new_packets().unwrap();
        }
        while server.wants_write() {
            server.write_tls(&mut to_client).unwrap();
        }
        if to_server.is_empty() && to_client.is_empty() {
            return;
        }
        let mut rest = &to_client[..];
        while !rest.is_empty() {
            client.read_tls(&mut rest).unwrap();
        }
        client.process_new_packets().unwrap();
    }
}

/// A socket with nothing to read, as the daemon's reads find it between heartbeats.
struct WouldBlock;

impl Read for WouldBlock {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::WouldBlock.into())
    }
}

#[test]
fn an_idle_tls_connection_keeps_only_its_keys_and_state() {
    let dir = std::env::temp_dir().join(format!("qnetd-tls-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (store, _) = certtool::CertStore::init(&dir, certtool::InitOptions::default()).unwrap();
    let creds = store.server_credentials().unwrap();
    let ca = creds.ca_cert_der.clone();
    let revocations = qnetd::server::revocation::Revocations::new(Default::default());
    let config = qnetd::server::tls::build_from_credentials(creds, true, revocations).unwrap();
    let bundle = dir.join("bundle");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qnetd"))
        .args(["cert", "--dir"])
        .arg(&dir)
        .args(["bundle", "--cluster", "pve", "--out"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cert = std::fs::read(bundle.join("cluster-pve.crt")).unwrap();
    let key_pem = std::fs::read_to_string(bundle.join("cluster-pve.key")).unwrap();
    let key = pem::parse(key_pem).unwrap().contents().to_vec();
    let client_tls =
        qnetd::probe::ClientTls::new(&ca, Some((cert.clone(), key)), qnetd::probe::SERVER_NAME)
            .unwrap();
    let server_name =
        rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());

    let session = || {
        let mut server = Box::new(rustls::ServerConnection::new(config.clone()).unwrap());
        let mut client =
            rustls::ClientConnection::new(client_tls.config(), server_name.clone()).unwrap();
        pump(&mut client, &mut server);
        assert!(!server.is_handshaking());
        for _ in 0..3 {
            client.writer().write_all(&[1; 60]).unwrap();
            server.writer().write_all(&[2; 40]).unwrap();
            pump(&mut client, &mut server);
            let mut buf = [0; 256];
            assert_eq!(server.reader().read(&mut buf).unwrap(), 60);
            assert_eq!(client.reader().read(&mut buf).unwrap(), 40);
        }
        (server, client)
    };
    // The first handshake also sets up what every later one shares (ring's CPU features).
    drop(session());

    let before = held();
    let (mut server, client) = session();
    let _ = server.read_tls(&mut WouldBlock);
    drop(client);
    let idle = held() - before;
    let own = std::mem::size_of::<rustls::ServerConnection>() as isize;
    // Measured: 1,810 bytes beside the connection itself (two AES-GCM keys of 560, the
    // traffic state, the client's certificate chain); 2,643 when rustls kept its handshake
    // span list and empty chunk lists.
    assert!(
        idle - own <= 2_000,
        "an idle connection holds {} bytes",
        idle - own
    );

    // The daemon takes the certificate chain once it has read the node's identity from it.
    let chain = server
        .take_peer_certificates()
        .expect("a client certificate");
    assert_eq!(chain[0].as_ref(), cert.as_slice());
    assert!(server.peer_certificates().is_none());
    drop(chain);
    let without_chain = held() - before - own;
    assert!(
        without_chain <= idle - own - cert.len() as isize,
        "{without_chain} bytes without the chain"
    );
    drop(server);
    assert!(
        held() - before <= 64,
        "the connection's memory was not given back"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// async-io's reactor, started by the first timer (every daemon starts it): its timer-operation
/// queue initialises every slot up front (vendor/async-io/QNETD-PATCH.md). Measured 16,153
/// bytes with 64 slots (the epoll event list, 12 KiB, is most of it); 61,081 with 1000. Nothing
/// else in this binary uses smol, so the reactor starts here.
#[test]
fn smols_reactor_keeps_little_once_started() {
    let before = held();
    smol::block_on(smol::Timer::after(std::time::Duration::from_millis(1)));
    let started = held() - before;
    assert!(started <= 24_000, "the reactor holds {started} bytes");
}
