//! Our status socket server against Debian's corosync-qnetd 3.0.3 daemon, byte for byte: the
//! same raw request lines (odd spacing, quotes, escapes, NULs, unknown commands, oversized
//! requests) sent to both must get the same replies, and both enforce the same client limit.

mod ops_common;

use ops_common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
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

/// Ten idle connections fill both servers; the eleventh is closed without a reply; after one
/// idle connection goes away a new request is served again.
#[test]
fn same_client_limit_as_debian_daemon() {
    let dir = TempDir::new("ipc-limit");
    let debian = DebianDaemon::start(dir.path());
    let ours_socket = dir.path().join("ours.sock");
    let _ours = OurServer::start(&ours_socket, debian.empty_snapshot());

    for socket in [&debian.socket, &ours_socket] {
        let mut idle: Vec<UnixStream> = (0..10)
            .map(|_| UnixStream::connect(socket).unwrap())
            .collect();
        // Let the server accept them all before the extra one.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            raw_exchange(socket, b"status \n"),
            b"",
            "{}",
            socket.display()
        );
        idle.pop();
        std::thread::sleep(Duration::from_millis(500));
        assert!(raw_exchange(socket, b"status \n").starts_with(b"OK\n"));
    }
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
