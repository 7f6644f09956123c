//! Our certificates in a real TLS handshake between NSS (`tstclnt`, as the qdevice client:
//! it checks the server name "Qnetd Server" and presents the "Cluster Cert" nickname) and a
//! rustls server configured as the daemon's (webpki client verification over our CA).
//! Covers both kinds of node certificate: the ECDSA one from `qnetd cert bundle` and the RSA
//! one NSS requests and we sign (the pvecm way).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use certtool::{CertStore, InitOptions};

use crate::support::nss_client;
use nss_client::{node_db, nss};

const QNETD: &str = env!("CARGO_BIN_EXE_qnetd");

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qnetd-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The daemon's own rustls configuration (its crypto provider, client verifier and versions).
fn server_config(store: &CertStore) -> Arc<rustls::ServerConfig> {
    let creds = store.server_credentials().unwrap();
    qnetd::server::tls::build_server_config(
        creds.ca_cert_der,
        creds.server_cert_der,
        creds.server_key_pkcs8_der,
        true,
        qnetd::server::revocation::Revocations::new(Default::default()),
    )
    .unwrap()
}

/// Runs one NSS client connection, limited to the TLS versions `versions` (tstclnt's -V
/// syntax, e.g. "tls1.2:tls1.2"), against the daemon's rustls configuration; returns the CN
/// of the client certificate the server verified and the version they agreed on.
fn handshake(store: &CertStore, node_db: &Path, versions: &str) -> (String, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cfg = server_config(store);
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(cfg).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut line = String::new();
        BufReader::new(&mut tls).read_line(&mut line).unwrap();
        tls.write_all(b"pong\n").unwrap();
        tls.flush().unwrap();
        let certs = tls
            .conn
            .peer_certificates()
            .expect("client certificate")
            .to_vec();
        tls.conn.send_close_notify();
        let _ = tls.flush();
        let (_, cert) = x509_parser::parse_x509_certificate(&certs[0]).unwrap();
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        let version = format!("{:?}", tls.conn.protocol_version().unwrap());
        (line, cn, version)
    });
    let request = node_db.with_extension("request");
    std::fs::write(&request, b"ping\n").unwrap();
    // -f: the client speaks first (qdevice does); -A: send this file, then wait for the reply.
    let mut client = Command::new("tstclnt")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-a",
            "Qnetd Server",
            "-n",
            "Cluster Cert",
            "-f",
            "-V",
            versions,
        ])
        .arg("-A")
        .arg(&request)
        .arg("-d")
        .arg(format!("sql:{}", node_db.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Never hang the test suite: a client still running after 30 s is killed (and fails below).
    let started = std::time::Instant::now();
    while client.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            client.kill().unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = client.wait_with_output().unwrap();
    let (line, cn, version) = server.join().expect("server side of the handshake failed");
    assert_eq!(line, "ping\n");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pong"),
        "tstclnt: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (cn, version)
}

#[test]
fn nss_client_and_rustls_server_accept_our_certificates() {
    let root = temp_dir("hs");
    let dir = root.join("nssdb");
    let (store, _) = CertStore::init(&dir, InitOptions::default()).unwrap();
    let ca = dir.join("qnetd-cacert.crt");

    // ECDSA node key and certificate from the bundle.
    let out = root.join("bundle");
    let o = Command::new(QNETD)
        .args([
            "cert",
            "--dir",
            dir.to_str().unwrap(),
            "bundle",
            "--cluster",
            "ecluster",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let db = node_db(&root.join("node-ecdsa"), &ca);
    nss(
        &db,
        "pk12util",
        &[
            "-i",
            out.join("qdevice-net-node.p12").to_str().unwrap(),
            "-W",
            "",
        ],
    );
    for (versions, agreed) in [("tls1.2:tls1.3", "TLSv1_3"), ("tls1.2:tls1.2", "TLSv1_2")] {
        let got = handshake(&store, &db, versions);
        assert_eq!(got, ("ecluster".to_string(), agreed.to_string()));
    }

    // RSA node key made by NSS, request signed by us.
    let db = node_db(&root.join("node-rsa"), &ca);
    let crq = root.join("node.crq");
    let noise = root.join("noise");
    std::fs::write(&noise, [7u8; 64]).unwrap();
    nss(
        &db,
        "certutil",
        &[
            "-R",
            "-s",
            "CN=rcluster",
            "-o",
            crq.to_str().unwrap(),
            "-z",
            noise.to_str().unwrap(),
        ],
    );
    let issued = store
        .sign_request(&std::fs::read(&crq).unwrap(), "rcluster")
        .unwrap();
    nss(
        &db,
        "certutil",
        &[
            "-A",
            "-n",
            "Cluster Cert",
            "-t",
            "u,u,u",
            "-i",
            issued.path.to_str().unwrap(),
        ],
    );
    for (versions, agreed) in [("tls1.2:tls1.3", "TLSv1_3"), ("tls1.2:tls1.2", "TLSv1_2")] {
        let got = handshake(&store, &db, versions);
        assert_eq!(got, ("rcluster".to_string(), agreed.to_string()));
    }

    let _ = std::fs::remove_dir_all(&root);
}
