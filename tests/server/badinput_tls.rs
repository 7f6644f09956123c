//! TLS misuse against the running daemon: plaintext where TLS is required, garbage instead of
//! a TLS handshake, no client certificate, a certificate of another cluster. Answers as
//! upstream's (docs/protocol.md, "TLS modes": TLS_REQUIRED replies, or a close), and
//! a healthy TLS client of another cluster keeps its vote throughout.
//! QNETD_BADINPUT_UPSTREAM=1 runs the same checks against Debian's corosync-qnetd (it then
//! needs openssl to put our server key into an NSS database).

use crate::support::badinput as badinput_support;

use badinput_support::*;
use std::io::{Read, Write};
use std::time::Duration;

fn tls_required() -> Options {
    Options {
        tls: Tls::Required,
        ..Options::default()
    }
}

/// Reads until the server ends the connection; whatever arrives must not be a protocol
/// message (a TLS alert record, type 0x15, is fine).
fn expect_end<R: Read>(r: &mut R) {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("connection still open after {got:02x?}")
            }
            Err(_) => break, // reset, or a TLS alert turned into an error by rustls
        }
    }
    assert!(
        got.is_empty() || got[0] == 0x15,
        "expected a close (or a TLS alert), got {got:02x?}"
    );
}

#[test]
fn plaintext_messages_where_tls_is_required_get_tls_required() {
    let b = Bench::start(tls_required());
    let mut c = Client::connect(b.port());
    let r = c.request(&preinit(1, "plain"));
    assert_eq!(
        (r.msg_type, r.u8(o::TLS_SUPPORTED)),
        (t::PREINIT_REPLY, Some(2)),
        "{r:?}"
    );
    // The gate answers before INIT is even looked at: a SERVER_ERROR, not an INIT_REPLY.
    c.send_msg(&init(2, 1, 8000));
    c.expect_error(Some(2), 3);
    c.send_msg(&echo(3));
    c.expect_error(Some(3), 3);
    c.send_msg(&config_list(4, &[1, 2]));
    c.expect_error(Some(4), 3);
    // The connection stays open.
    c.expect_silence(Duration::from_millis(200));
    b.finish();
}

#[test]
fn garbage_instead_of_a_tls_handshake_closes_the_connection() {
    let b = Bench::start(tls_required());
    // Upstream (NSS) answers each with an alert and a close. (A short "GET / ..." is not
    // used: NSS reads it as the start of an 18 KB SSLv2 record and waits for the rest.)
    let garbage: [&[u8]; 4] = [
        &[0xFF; 64],
        &[0; 64],
        &[
            0x16, 0x03, 0x01, 0x00, 0x10, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
            0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
        ],
        &[b'A'; 20_000],
    ];
    for (i, g) in garbage.iter().enumerate() {
        let mut c = Client::connect(b.port());
        c.request(&preinit(1, "garbage"));
        c.send_msg(&Msg::new(t::STARTTLS).seq(2));
        c.send(g);
        eprintln!("garbage case {i}");
        expect_end(&mut c.stream);
    }
    b.finish();
}

#[test]
fn plaintext_protocol_message_instead_of_a_tls_handshake_closes_the_connection() {
    let b = Bench::start(tls_required());
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "garbage2"));
    c.send_msg(&Msg::new(t::STARTTLS).seq(2));
    c.send_msg(&init(3, 1, 8000));
    expect_end(&mut c.stream);
    b.finish();
}

#[test]
fn certificate_of_another_cluster_is_dropped_at_init() {
    let b = Bench::start(tls_required());
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "victim"));
    c.send_msg(&Msg::new(t::STARTTLS).seq(2));
    let pki = b.daemon.pki.as_ref().expect("TLS daemon has a PKI");
    let mut tls = start_tls(pki, "intruder", c.stream).expect("the handshake itself succeeds");
    tls.write_all(&init(3, 1, 8000).bytes()).unwrap();
    tls.flush().unwrap();
    expect_end(&mut tls);
    b.finish();
}

#[test]
fn tls_client_without_a_certificate_is_refused() {
    let b = Bench::start(tls_required());
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "nocert"));
    c.send_msg(&Msg::new(t::STARTTLS).seq(2));
    let pki = b.daemon.pki.as_ref().expect("TLS daemon has a PKI");
    match start_tls_without_client_cert(pki, c.stream) {
        Err(_) => {} // refused during the handshake (TLS 1.2 style)
        Ok(mut tls) => {
            // TLS 1.3: the client finishes first; the server's refusal follows.
            let _ = tls.write_all(&init(3, 1, 8000).bytes());
            let _ = tls.flush();
            expect_end(&mut tls);
        }
    }
    b.finish();
}

/// The cross-cluster reproduction: a node certificate of cluster "pve" is verified (ECHO goes
/// through the gate), then a second PREINIT names "victim" and INIT asks for node 7 there.
/// Debian's corosync-qnetd 3.0.3 accepts it (INIT_REPLY error 0: the certificate votes in a
/// cluster it does not name); we end the connection at the second PREINIT.
fn certificate_of_one_cluster_cannot_init_into_another(tls: Tls) {
    let b = Bench::start(Options {
        tls,
        ..Options::default()
    });
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "pve"));
    c.send_msg(&Msg::new(t::STARTTLS).seq(2));
    let pki = b.daemon.pki.as_ref().expect("TLS daemon has a PKI");
    let mut tls_stream = start_tls(pki, "pve", c.stream).expect("handshake");
    tls_stream.write_all(&echo(3).bytes()).unwrap();
    // The gate verified CN "pve" against "pve"; the echo itself needs INIT (error 11).
    let r = read_msg(&mut tls_stream).unwrap().expect("a reply to ECHO");
    assert_eq!(
        (r.msg_type, r.error()),
        (t::SERVER_ERROR, Some(11)),
        "{r:?}"
    );
    tls_stream.write_all(&preinit(4, "victim").bytes()).unwrap();
    tls_stream.write_all(&init(5, 7, 8000).bytes()).unwrap();
    tls_stream.flush().unwrap();
    while let Ok(Some(r)) = read_msg(&mut tls_stream) {
        assert!(
            !(r.msg_type == t::INIT_REPLY && r.error() == Some(0)),
            "a 'pve' certificate was accepted into cluster 'victim' ({tls:?}): {r:?}"
        );
    }
    let why = "PREINIT for cluster 'victim' on a connection using TLS for cluster 'pve'";
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !b.daemon.log_text().contains(why) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = b.daemon.log_text();
    assert!(log.contains(why), "{log}");
    b.finish();
}

#[test]
fn certificate_of_one_cluster_cannot_init_into_another_tls_on() {
    certificate_of_one_cluster_cannot_init_into_another(Tls::On);
}

#[test]
fn certificate_of_one_cluster_cannot_init_into_another_tls_required() {
    certificate_of_one_cluster_cannot_init_into_another(Tls::Required);
}
