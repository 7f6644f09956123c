//! Our status socket server (`server::status_socket::serve_with_limits`) and our
//! `corosync-qnetd-tool`, each checked against Debian's 3.0.3 tool: same bytes on stdout and
//! stderr, same exit codes, for every flag, with two clusters in the snapshot.

use crate::support::ops as ops_common;

use ops_common::*;
use qnetd::status::upstream::{list_text, status_text};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

const FLAG_SETS: &[&[&str]] = &[
    &["-s"],
    &["-s", "-v"],
    &["-sv"],
    &["-l"],
    &["-l", "-v"],
    &["-l", "-c", "alpha"],
    &["-l", "-v", "-c", "alpha"],
    &["-l", "-c", "beta \"two\""],
    &["-lv", "-cbeta \"two\""],
    &["-l", "-c", "nosuchcluster"],
    &["-l", "-c", ""],
    &["-s", "-c", "alpha"],
    &["ignored-operand", "-l"],
    &[],
    &["-h"],
    &["-x"],
    &["-l", "-c"],
];

#[test]
fn debian_tool_and_ours_agree_on_our_server() {
    let dir = TempDir::new("tool-ipc");
    let tools = tool_pair(dir.path());
    let socket = dir.path().join("qnetd.sock");
    let snapshot = two_clusters();
    let server = OurServer::start(&socket, snapshot.clone());

    // Debian's tool prints exactly our renderer's text.
    let (out, err, code) = run(
        Path::new(DEBIAN_TOOL),
        &["-p", socket.to_str().unwrap(), "-l", "-v"],
    );
    assert_eq!((code, err), (Some(0), vec![]));
    assert_eq!(out, list_text(&snapshot, true, None));
    let (out, _, _) = run(
        Path::new(DEBIAN_TOOL),
        &["-p", socket.to_str().unwrap(), "-s", "-v"],
    );
    assert_eq!(out, status_text(&snapshot, true).into_bytes());
    let (out, _, _) = run(
        Path::new(DEBIAN_TOOL),
        &["-p", socket.to_str().unwrap(), "-l", "-c", "beta \"two\""],
    );
    assert!(
        out.starts_with(b"Cluster \"beta \"two\"\":\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(!String::from_utf8_lossy(&out).contains("alpha"));

    for flags in FLAG_SETS {
        compare_tools(&tools, &socket, flags);
    }
    // No daemon at that path.
    let missing = dir.path().join("missing.sock");
    compare_tools(&tools, &missing, &["-s"]);

    // -H from Debian's tool shuts our server down.
    let (out, err, code) = run(
        Path::new(DEBIAN_TOOL),
        &["-p", socket.to_str().unwrap(), "-H"],
    );
    assert_eq!((out, err, code), (vec![], vec![], Some(0)));
    let shut_down = server.shut_down.clone();
    assert!(
        server.join(Duration::from_secs(5)),
        "serve_with_limits() did not return after -H"
    );
    assert!(shut_down.load(Ordering::SeqCst));
}

#[test]
fn our_tool_shuts_down_our_server() {
    let dir = TempDir::new("tool-shutdown");
    let ours = ours_as(dir.path(), "corosync-qnetd-tool");
    let socket = dir.path().join("qnetd.sock");
    let server = OurServer::start(&socket, two_clusters());
    let (out, err, code) = run(&ours, &["-p", socket.to_str().unwrap(), "-H"]);
    assert_eq!((out, err, code), (vec![], vec![], Some(0)));
    let shut_down = server.shut_down.clone();
    assert!(server.join(Duration::from_secs(5)));
    assert!(shut_down.load(Ordering::SeqCst));
}

#[test]
fn error_replies_reach_both_tools_alike() {
    // A server that answers every request with an error, and one with an unknown status line.
    let dir = TempDir::new("tool-errors");
    let tools = tool_pair(dir.path());
    for reply in [
        &b"Error\nSomething broke\n"[..],
        b"Bogus\nx\n",
        b"",
        b"ok\r\nfine\n",
    ] {
        let socket = dir.path().join("fake.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let reply = reply.to_vec();
        let t = std::thread::spawn(move || {
            use std::io::{Read, Write};
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                s.write_all(&reply).unwrap();
            }
        });
        compare_tools(&tools, &socket, &["-s"]);
        t.join().unwrap();
    }
}
