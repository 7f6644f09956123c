//! Our status socket server against Debian's corosync-qnetd 3.0.3 daemon, byte for byte: the
//! same raw request lines (odd spacing, quotes, escapes, NULs, unknown commands, oversized
//! requests) sent to both must get the same replies, and both enforce the same client
//! limit (ours closes an idle client to make room where Debian's refuses the new one).

use crate::support::ops as ops_common;

use ops_common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const REQUESTS: &[&[u8]] = &[
    b"status \n",
    b"status \n\0",
    b"STATUS Verbose\n",
    b"status verbose extra\n",
    b"status \"verbose\"\n",
    b"status verb\\ose\n",
    b"status verbosely\n",
    b"status\r\n",
    b"\tstatus\x0b\x0cverbose\r\n",
    b"status\rverbose\n",
    b"list \n",
    b"list verbose cluster \"x\" \n",
    b"list cluster\n",
    b"list cluster \"\" verbose\n",
    b"list nonsense verbose\n",
    b"list\0junk\n",
    b"\n",
    b"   \t\n",
    b"\"\"\n",
    b"\0status\n",
    b"frob\n",
    b"fr\\\"ob\n",
    b"\"fr ob\" x\n",
    b"\"unterminated\n",
    b"fr\0ob\n",
    b"json\n",
    b"trailing\\\n",
    b"x\"a\\qb\\\"c\"y\n",
];

#[test]
fn same_replies_as_debian_daemon() {
    let dir = TempDir::new("ipc-conformance");
    let debian = DebianDaemon::start(dir.path());
    let ours_socket = dir.path().join("ours.sock");
    let _ours = OurServer::start(&ours_socket, debian.empty_snapshot());

    for request in REQUESTS {
        let want = raw_exchange(&debian.socket, request);
        // Our `json` command is an extension; everything else must match.
        if *request == b"json\n" {
            assert_eq!(want, b"Error\nUnknown command 'json'\n");
            continue;
        }
        let got = raw_exchange(&ours_socket, request);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "reply differs for {:?}",
            String::from_utf8_lossy(request)
        );
    }

    // A long command name just under the 4096-byte receive limit is echoed back in the error.
    let mut long = vec![b'x'; 4000];
    long.push(b'\n');
    assert_eq!(
        raw_exchange(&ours_socket, &long),
        raw_exchange(&debian.socket, &long)
    );
    // A request that overflows the receive buffer is dropped without a reply.
    let huge = vec![b'y'; 5000];
    let want = raw_exchange(&debian.socket, &huge);
    assert_eq!(want, b"");
    assert_eq!(raw_exchange(&ours_socket, &huge), want);

    // A request split over several writes is answered once the newline arrives.
    for socket in [&debian.socket, &ours_socket] {
        let mut s = UnixStream::connect(socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"sta").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        s.write_all(b"tus verbose \n").unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        assert!(reply.starts_with(b"OK\nQNetd address:"));
    }
}

/// Ten idle connections fill both servers. Debian's daemon closes the eleventh without a
/// reply and serves again once an idle one goes away. Ours, deliberately not like upstream
/// (an idle client must not lock the tools out, see `status_socket::serve_with_limits`), serves the
/// eleventh and closes the connection idle longest instead.
#[test]
fn client_limit_like_debian_daemon_but_idle_ones_make_room() {
    let dir = TempDir::new("ipc-limit");
    let debian = DebianDaemon::start(dir.path());
    let ours_socket = dir.path().join("ours.sock");
    let _ours = OurServer::start(&ours_socket, debian.empty_snapshot());
    let fill = |socket: &Path| -> Vec<UnixStream> {
        let idle = (0..10)
            .map(|_| UnixStream::connect(socket).unwrap())
            .collect();
        // Let the server accept them all before the extra one.
        std::thread::sleep(Duration::from_millis(500));
        idle
    };

    let mut idle = fill(&debian.socket);
    assert_eq!(raw_exchange(&debian.socket, b"status \n"), b"");
    idle.pop();
    std::thread::sleep(Duration::from_millis(500));
    assert!(raw_exchange(&debian.socket, b"status \n").starts_with(b"OK\n"));

    let mut idle = fill(&ours_socket);
    assert!(raw_exchange(&ours_socket, b"status \n").starts_with(b"OK\n"));
    // The first one, idle longest, was closed; the others are still open.
    let mut first = idle.remove(0);
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(first.read(&mut buf).unwrap(), 0);
    idle[0]
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(idle[0].read(&mut buf).is_err(), "still open, nothing sent");
}

/// `shutdown` answers OK and then stops both servers; Debian's daemon exits 0.
#[test]
fn shutdown_like_debian_daemon() {
    let dir = TempDir::new("ipc-shutdown");
    let mut debian = DebianDaemon::start(dir.path());
    let ours_socket = dir.path().join("ours.sock");
    let ours = OurServer::start(&ours_socket, debian.empty_snapshot());
    let want = raw_exchange(&debian.socket, b"shutdown now\n");
    assert_eq!(want, b"OK\n");
    assert_eq!(debian.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(raw_exchange(&ours_socket, b"shutdown now\n"), want);
    let flag = ours.shut_down.clone();
    assert!(ours.join(Duration::from_secs(5)));
    assert!(flag.load(std::sync::atomic::Ordering::SeqCst));
}

/// The idle timeout counts from the start of the request, not from its last byte: a client
/// that trickles a byte every 100 ms is closed after the 300 ms limit all the same.
#[test]
fn a_trickling_request_is_closed_at_the_idle_timeout() {
    let dir = TempDir::new("ipc-trickle");
    let socket = dir.path().join("ours.sock");
    let limits = qnetd::server::status_socket::IpcLimits {
        idle_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let _ours = OurServer::start_with(&socket, limits, two_clusters());
    let mut s = UnixStream::connect(&socket).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 16];
    while start.elapsed() < Duration::from_secs(3) {
        if s.write_all(b"s").is_err() {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => panic!("a reply to half a request"),
            Err(_) => {} // timeout: still open
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "still open after {:?}",
        start.elapsed()
    );
}
