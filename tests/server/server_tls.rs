//! The daemon's TLS paths, end to end: our probe client against the built binary.

use crate::support::server as server_support;

use qnetd::probe::{self, ClientTls, InitParams, Probe, ProbeError, SessionParams};
use qnetd::proto::types::{MsgType, ReplyError, TlsMode};
use server_support::{block_on, Daemon, Store, TempDir};

fn store_arg(store: &Store) -> String {
    store.dir.to_string_lossy().to_string()
}

fn session(cluster: &str, tls: Option<ClientTls>) -> SessionParams {
    SessionParams {
        cluster: cluster.to_string(),
        tls,
        init: InitParams::default(),
    }
}

#[test]
fn tls_on_with_client_certificate_init_ok_and_status_shows_tls() {
    let tmp = TempDir::new("tls-ok");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    let params = session("alpha", Some(store.client_tls("alpha")));
    block_on(async {
        let (mut p, reply) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(reply.msg_type, MsgType::InitReply, "{reply:?}");
        assert_eq!(reply.reply_error_code, Some(ReplyError::NoError.code()));
        p.echo().await.unwrap();
        let list = d.ipc("list verbose");
        assert!(list.starts_with("OK\n"), "{list}");
        assert!(list.contains("Cluster \"alpha\":"), "{list}");
        assert!(
            list.contains("TLS active:\t\tYes (client certificate verified)"),
            "{list}"
        );
        assert!(list.contains("Client address:\t\t127.0.0.1:"), "{list}");
    });
    let status = d.ipc("status");
    assert!(
        status.contains("TLS:\t\t\t\tSupported (client certificate required)"),
        "{status}"
    );
}

#[test]
fn preinit_reply_announces_the_tls_mode() {
    let tmp = TempDir::new("tls-mode");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store), "--tls", "required"]);
    block_on(async {
        let mut p = Probe::connect(d.addr).await.unwrap();
        let reply = p.preinit("alpha").await.unwrap();
        assert_eq!(reply.msg_type, MsgType::PreinitReply);
        assert_eq!(reply.tls_supported, Some(TlsMode::Required));
        assert_eq!(reply.tls_client_cert_required, Some(1));
    });
}

#[test]
fn tls_required_without_starttls_gets_error_3_and_stays_connected() {
    let tmp = TempDir::new("tls-req");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store), "--tls", "req"]);
    let params = session("alpha", None);
    block_on(async {
        let (mut p, reply) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(reply.msg_type, MsgType::ServerError, "{reply:?}");
        assert_eq!(reply.reply_error_code, Some(ReplyError::TlsRequired.code()));
        // Upstream keeps the connection open after TLS_REQUIRED: an echo gets the same error.
        let mut echo = qnetd::proto::types::Message::new(MsgType::EchoRequest);
        echo.seq = Some(p.next_seq());
        p.send(&echo).await.unwrap();
        let again = p.recv().await.unwrap();
        assert_eq!(again.reply_error_code, Some(ReplyError::TlsRequired.code()));
    });
}

#[test]
fn client_certificate_from_another_ca_is_dropped_and_logged() {
    let tmp = TempDir::new("tls-wrong-ca");
    let store = Store::init(&tmp.path("store"));
    let other = Store::init(&tmp.path("other"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    // Trusts our server (right CA) but presents a certificate signed by another CA.
    let tls = ClientTls::new(
        &store.ca_der(),
        Some(other.client_cert("alpha")),
        probe::SERVER_NAME,
    )
    .unwrap();
    let params = session("alpha", Some(tls));
    block_on(async {
        match probe::session(d.addr, &params).await {
            Ok((_, reply)) => panic!("INIT answered despite a foreign certificate: {reply:?}"),
            Err(ProbeError::Closed | ProbeError::Io(_) | ProbeError::Tls(_)) => {}
            Err(e) => panic!("unexpected failure: {e}"),
        }
    });
    d.wait_log("client certificate is not signed by our CA");
}

const UPSTREAM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nss-certutil-3.0.3");

/// The upstream node's certificate (RSA, signed by an upstream NSS "CN=QNet CA") and its key.
fn upstream_node_cert() -> (Vec<u8>, Vec<u8>) {
    let read = |name: &str| std::fs::read(format!("{UPSTREAM}/{name}")).unwrap();
    (
        read("cluster-mycluster.crt"),
        read("qdevice-net-node.key.der"),
    )
}

/// A node that still has the certificate of an upstream qnetd: its issuer is called
/// "CN=QNet CA" like ours, but was RSA where ours is ECDSA, so rustls fails it on the
/// signature's algorithm. The log must say in words that it is not our CA's.
#[test]
fn client_certificate_from_an_upstream_ca_is_refused_in_words() {
    let tmp = TempDir::new("tls-upstream-ca");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    let tls = ClientTls::new(
        &store.ca_der(),
        Some(upstream_node_cert()),
        probe::SERVER_NAME,
    )
    .unwrap();
    block_on(async {
        match probe::session(d.addr, &session("mycluster", Some(tls))).await {
            Ok((_, reply)) => panic!("INIT answered despite an upstream certificate: {reply:?}"),
            Err(ProbeError::Closed | ProbeError::Io(_) | ProbeError::Tls(_)) => {}
            Err(e) => panic!("unexpected failure: {e}"),
        }
    });
    let log = d.wait_log_any(&[
        "client certificate refused",
        "client certificate is",
        "TLS handshake failed",
    ]);
    assert!(
        log.contains("client certificate is not signed by our CA"),
        "{log}"
    );
    assert!(!log.contains("UnsupportedSignatureAlgorithm"), "{log}");
}

#[test]
fn certificate_cn_other_than_cluster_name_is_dropped_with_the_reason() {
    let tmp = TempDir::new("tls-cn");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    let params = session("beta", Some(store.client_tls("alpha")));
    block_on(async {
        match probe::session(d.addr, &params).await {
            Ok((_, reply)) => panic!("INIT answered despite CN mismatch: {reply:?}"),
            // The probe says why the server hung up on it.
            Err(ProbeError::Tls(msg)) => assert!(
                msg.contains("the server refused our client certificate")
                    && msg.contains("its name (CN 'alpha') is not the cluster name 'beta'"),
                "{msg}"
            ),
            Err(e) => panic!("unexpected failure: {e}"),
        }
    });
    let log = d.wait_log("'alpha'");
    assert!(log.contains("'beta'"), "{log}");
    assert!(log.contains("127.0.0.1:"), "{log}");
}

#[test]
fn missing_client_certificate_is_refused_with_words() {
    let tmp = TempDir::new("tls-nocert");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    let tls = ClientTls::new(&store.ca_der(), None, probe::SERVER_NAME).unwrap();
    let params = session("alpha", Some(tls));
    block_on(async {
        assert!(probe::session(d.addr, &params).await.is_err());
    });
    d.wait_log("client sent no certificate");
}

#[test]
fn client_certificate_not_required_with_c_off() {
    let tmp = TempDir::new("tls-c-off");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(
        &tmp,
        &[
            "--store",
            &store_arg(&store),
            "--client-cert-required",
            "off",
        ],
    );
    let tls = ClientTls::new(&store.ca_der(), None, probe::SERVER_NAME).unwrap();
    let params = session("alpha", Some(tls));
    block_on(async {
        let (mut p, reply) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(reply.msg_type, MsgType::InitReply, "{reply:?}");
        assert_eq!(reply.reply_error_code, Some(0));
        p.echo().await.unwrap();
    });
}

#[test]
fn probe_refuses_a_server_certificate_from_another_ca() {
    let tmp = TempDir::new("tls-server-ca");
    let store = Store::init(&tmp.path("store"));
    let other = Store::init(&tmp.path("other"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    // The client trusts only the other CA: it must refuse our server, and the server logs
    // that the client gave up on the handshake: with its alert when the alert reached us
    // before the close, or as a close during the handshake when it did not (both happen).
    let params = session("alpha", Some(other.client_tls("alpha")));
    block_on(async {
        match probe::session(d.addr, &params).await {
            // Both CAs are "CN=QNet CA": the chain check fails on the signature.
            Err(ProbeError::Tls(msg)) => assert!(
                msg.contains("the server's certificate is not signed by the given CA"),
                "{msg}"
            ),
            other => panic!("expected a TLS failure, got {:?}", other.map(|(_, r)| r)),
        }
    });
    d.wait_log_any(&[
        "the client aborted the TLS handshake",
        "connection closed during the TLS handshake",
    ]);
}

#[test]
fn probe_subcommand_completes_a_tls_session() {
    let tmp = TempDir::new("tls-probe-cli");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    let (cert, key) = store.client_cert("gamma");
    std::fs::write(tmp.path("c.der"), cert).unwrap();
    std::fs::write(tmp.path("k.der"), key).unwrap();
    let ca = store.dir.join(certtool::CA_CERT_FILE); // DER followed by PEM, as upstream
    let out = std::process::Command::new(server_support::bin())
        .args(["probe", "--port", &d.port.to_string(), "--cluster", "gamma"])
        .arg("--ca")
        .arg(&ca)
        .arg("--cert")
        .arg(tmp.path("c.der"))
        .arg("--key")
        .arg(tmp.path("k.der"))
        .args(["--echoes", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("INIT accepted"), "{stdout}");
    assert_eq!(stdout.matches("echo reply").count(), 2, "{stdout}");
}

/// `qnetd probe --port PORT --cluster CLUSTER --ca CA [--cert C --key K] extra..`:
/// (success, stdout, stderr).
fn probe_cli(
    d: &Daemon,
    cluster: &str,
    ca: &std::path::Path,
    client: Option<(&std::path::Path, &std::path::Path)>,
    extra: &[&str],
) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(server_support::bin());
    cmd.args(["probe", "--port", &d.port.to_string(), "--cluster", cluster])
        .arg("--ca")
        .arg(ca)
        .args(["--echoes", "0"])
        .args(extra);
    if let Some((cert, key)) = client {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A node certificate of `store` for `cn` in files of `tmp`: (certificate, key).
fn node_files(tmp: &TempDir, store: &Store, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = store.client_cert(cn);
    let (c, k) = (
        tmp.path(&format!("{cn}.der")),
        tmp.path(&format!("{cn}.key")),
    );
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

/// What `qnetd probe` says when the TLS part goes wrong: in words, naming the files and
/// names involved, never rustls' internal names.
#[test]
fn probe_subcommand_says_in_words_what_is_wrong_with_tls() {
    let tmp = TempDir::new("tls-probe-words");
    let store = Store::init(&tmp.path("store"));
    let other = Store::init(&tmp.path("other"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    let our_ca = store.dir.join(certtool::CA_CERT_FILE);
    let other_ca = other.dir.join(certtool::CA_CERT_FILE);
    let (cert, key) = node_files(&tmp, &store, "alpha");
    let no_internals = |err: &str| {
        for internal in [
            "BadSignature",
            "UnknownIssuer",
            "NotValidForName",
            "Context {",
        ] {
            assert!(!err.contains(internal), "{err}");
        }
    };

    // The server's certificate is from another CA than the one we were given.
    let (ok, _, err) = probe_cli(&d, "alpha", &other_ca, Some((&cert, &key)), &[]);
    assert!(!ok);
    let want = format!(
        "the server's certificate is not signed by the CA in {}",
        other_ca.display()
    );
    assert!(err.contains(&want), "{err}");
    no_internals(&err);

    // The server's certificate does not carry the name we expect: both names.
    let (ok, _, err) = probe_cli(
        &d,
        "alpha",
        &our_ca,
        Some((&cert, &key)),
        &["--server-name", "Other Server"],
    );
    assert!(!ok);
    assert!(
        err.contains("the server's certificate is for CN 'Qnetd Server', not for 'Other Server'"),
        "{err}"
    );
    no_internals(&err);

    // Our certificate's CN is not the cluster name: the server hangs up after INIT.
    let (ok, _, err) = probe_cli(&d, "beta", &our_ca, Some((&cert, &key)), &[]);
    assert!(!ok);
    assert!(
        err.contains("the server refused our client certificate")
            && err.contains("its name (CN 'alpha') is not the cluster name 'beta'"),
        "{err}"
    );

    // Our certificate is from another CA: the server refuses it (with an alert, or by
    // closing the connection when the alert is lost in the reset).
    let (foreign, foreign_key) = node_files(&tmp, &other, "gamma");
    let (ok, _, err) = probe_cli(&d, "gamma", &our_ca, Some((&foreign, &foreign_key)), &[]);
    assert!(!ok);
    assert!(
        err.contains("the server refused our client certificate"),
        "{err}"
    );
    no_internals(&err);
}

/// STARTTLS and the ClientHello arrive in one read: the bytes after STARTTLS must go to TLS.
#[test]
fn starttls_pipelined_with_the_client_hello() {
    let tmp = TempDir::new("tls-pipelined");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    let tls = store.client_tls("alpha");
    block_on(async {
        for _ in 0..5 {
            let mut p = Probe::connect(d.addr).await.unwrap();
            let pre = p.preinit("alpha").await.unwrap();
            assert_eq!(pre.msg_type, MsgType::PreinitReply);
            p.starttls_pipelined(&tls).await.unwrap();
            let reply = p.init(&InitParams::default()).await.unwrap();
            assert_eq!(reply.msg_type, MsgType::InitReply, "{reply:?}");
            assert_eq!(reply.reply_error_code, Some(0));
            p.echo().await.unwrap();
        }
    });
}

/// Boot without entropy: the daemon's non-blocking probe of the kernel's random pool is made
/// to fail with EAGAIN (strace fault injection on the process's second getrandom call; the
/// first is std's hash seed). The daemon must listen at once, say it is waiting, and serve TLS
/// once its background setup has the pool (here at once, since only the probe was failed).
#[test]
fn a_boot_without_entropy_listens_at_once_and_serves_tls_when_ready() {
    let tmp = TempDir::new("tls-entropy");
    let store = Store::init(&tmp.path("store"));
    let port = server_support::free_port();
    let mut args: Vec<String> = [
        "-o",
        "/dev/null",
        "-e",
        "trace=getrandom",
        "-e",
        "inject=getrandom:error=EAGAIN:when=2",
        server_support::bin(),
        "run",
        "-l",
        "127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["-p".to_string(), port.to_string()]);
    args.extend(["--store".to_string(), store_arg(&store)]);
    args.extend([
        "--lock-file".to_string(),
        server_support::path_arg(&tmp.path("qnetd.pid")),
    ]);
    args.extend([
        "--socket".to_string(),
        server_support::path_arg(&tmp.path("qnetd.sock")),
    ]);
    let strace = std::path::Path::new("/usr/bin/strace");
    assert!(strace.exists(), "strace is missing: .ci/run installs it");
    let d = Daemon::spawn_with(&tmp, port, strace, &args);
    d.wait_listening();
    d.wait_log("the kernel's random pool is not ready yet");
    let params = session("alpha", Some(store.client_tls("alpha")));
    block_on(async {
        let (_, reply) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0));
    });
    d.wait_log("TLS is available");
}

/// `--init-store` (what the procd script passes): a missing store is created by the daemon
/// itself after it started listening, then TLS clients are served from it.
#[test]
fn init_store_creates_a_missing_store_and_then_serves_tls() {
    let tmp = TempDir::new("tls-init-store");
    let dir = tmp.path("store");
    let d = Daemon::start(&tmp, &["--store", dir.to_str().unwrap(), "--init-store"]);
    d.wait_log("creating it in the background");
    d.wait_log("TLS is available");
    let store = Store {
        dir: dir.clone(),
        store: certtool::CertStore::open(&dir).unwrap(),
    };
    let params = session("alpha", Some(store.client_tls("alpha")));
    block_on(async {
        let (_, reply) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0));
    });
}

/// A TLS setup that runs in the background and fails stops the daemon with a failure exit
/// code (a service manager must see it failed), its error logged. Here `--init-store` cannot
/// create the store: its path is a dangling symbolic link.
#[test]
fn a_failed_background_tls_setup_exits_with_a_failure() {
    let tmp = TempDir::new("tls-init-store-fails");
    let dir = tmp.path("store");
    std::os::unix::fs::symlink(tmp.path("nowhere/store"), &dir).unwrap();
    let mut d = Daemon::spawn(&tmp, &["--store", dir.to_str().unwrap(), "--init-store"]);
    let status = d.wait_exit();
    let log = d.log();
    assert!(log.contains("TLS setup failed; shutting down"), "{log}");
    assert_eq!(status.code(), Some(1), "{log}");
}

/// `--wait-store` (what the procd script passes; root creates the store): the daemon listens
/// and answers while the store is missing, never creates it itself, and serves TLS once root
/// has made it.
#[test]
fn wait_store_listens_until_root_has_made_the_store_then_serves_tls() {
    let tmp = TempDir::new("tls-wait-store");
    let dir = tmp.path("store");
    let d = Daemon::start(&tmp, &["--store", dir.to_str().unwrap(), "--wait-store"]);
    d.wait_log("waiting for root to create it (--wait-store)");
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(!dir.exists(), "the daemon made the store itself");
    let store = Store::init(&dir);
    d.wait_log("TLS is available");
    let params = session("alpha", Some(store.client_tls("alpha")));
    block_on(async {
        let (_, reply) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0));
    });
}

/// A node of `cn` whose certificate is freshly issued by `store`; returns its serial too.
fn node_tls(store: &Store, cn: &str) -> (ClientTls, u64) {
    let (der, key) = store.client_cert(cn);
    let serial = certtool::certinfo::summary(&der).unwrap().serial;
    let tls = ClientTls::new(&store.ca_der(), Some((der, key)), probe::SERVER_NAME).unwrap();
    (tls, serial)
}

fn revoke(store: &Store, target: certtool::RevokeTarget<'_>, reason: &str) {
    let out = store.store.revoke(target, reason).unwrap();
    assert!(!out.revoked.is_empty(), "nothing revoked");
}

#[test]
fn a_revoked_client_certificate_is_refused_at_the_handshake_with_the_reason() {
    let tmp = TempDir::new("tls-revoked");
    let store = Store::init(&tmp.path("store"));
    let (revoked_tls, serial) = node_tls(&store, "alpha");
    revoke(
        &store,
        certtool::RevokeTarget::Cluster("alpha"),
        "laptop stolen",
    );
    // Signed after the revocation: not revoked.
    let (new_tls, _) = node_tls(&store, "alpha");
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    block_on(async {
        match probe::session(d.addr, &session("alpha", Some(revoked_tls))).await {
            Ok((_, reply)) => panic!("INIT answered despite a revoked certificate: {reply:?}"),
            Err(ProbeError::Closed | ProbeError::Io(_) | ProbeError::Tls(_)) => {}
            Err(e) => panic!("unexpected failure: {e}"),
        }
    });
    let log = d.wait_log(&format!(
        "client certificate serial {serial} of cluster alpha was revoked on 20"
    ));
    assert!(log.contains(" UTC: laptop stolen"), "{log}");
    assert!(log.contains("127.0.0.1:"), "{log}");
    block_on(async {
        let (_, reply) = probe::session(d.addr, &session("alpha", Some(new_tls)))
            .await
            .unwrap();
        assert_eq!(reply.reply_error_code, Some(ReplyError::NoError.code()));
    });
}

fn qnetd_reload(d: &Daemon) -> std::process::Output {
    std::process::Command::new(server_support::bin())
        .args(["reload", "--lock-file"])
        .arg(&d.lock)
        .output()
        .unwrap()
}

#[test]
fn reload_drops_a_connected_client_whose_certificate_was_revoked_and_it_cannot_reconnect() {
    let tmp = TempDir::new("tls-reload");
    let store = Store::init(&tmp.path("store"));
    let (alpha_tls, serial) = node_tls(&store, "alpha");
    let (beta_tls, _) = node_tls(&store, "beta");
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    block_on(async {
        let (mut alpha, reply) = probe::session(d.addr, &session("alpha", Some(alpha_tls.clone())))
            .await
            .unwrap();
        assert_eq!(reply.reply_error_code, Some(ReplyError::NoError.code()));
        let (mut beta, _) = probe::session(d.addr, &session("beta", Some(beta_tls)))
            .await
            .unwrap();
        alpha.echo().await.unwrap();

        revoke(
            &store,
            certtool::RevokeTarget::Serial(serial),
            "compromised",
        );
        // Revoked in the registry, but the daemon has not read it yet: still served.
        alpha.echo().await.unwrap();
        let o = qnetd_reload(&d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let log = d.wait_log("dropped on reload: client certificate serial");
        assert!(log.contains("(1 revoked certificates)"), "{log}");
        assert!(
            log.contains(&format!(
                "dropped on reload: client certificate serial {serial} of cluster alpha was revoked on 20"
            )) && log.contains(" UTC: compromised"),
            "{log}"
        );
        assert!(
            alpha.echo().await.is_err(),
            "the revoked client is still served"
        );
        // The other cluster is not touched.
        beta.echo().await.unwrap();
        match probe::session(d.addr, &session("alpha", Some(alpha_tls))).await {
            Ok((_, reply)) => panic!("reconnected with a revoked certificate: {reply:?}"),
            Err(ProbeError::Closed | ProbeError::Io(_) | ProbeError::Tls(_)) => {}
            Err(e) => panic!("unexpected failure: {e}"),
        }
    });
    // The client may see the refusal before the daemon has logged it: wait for the line.
    let line = format!("client certificate serial {serial} of cluster alpha was revoked");
    let until = std::time::Instant::now() + server_support::WAIT;
    while d.log().matches(&line).count() < 2 && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = d.log();
    assert_eq!(
        log.matches(&line).count(),
        2,
        "one drop, one refused reconnect:\n{log}"
    );
}

#[test]
fn sighup_with_an_unreadable_registry_keeps_the_previous_revocations() {
    let tmp = TempDir::new("tls-reload-bad");
    let store = Store::init(&tmp.path("store"));
    let (alpha_tls, serial) = node_tls(&store, "alpha");
    revoke(&store, certtool::RevokeTarget::Serial(serial), "gone");
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    let reg = store.dir.join(certtool::REGISTRY_FILE);
    let mut text = std::fs::read_to_string(&reg).unwrap();
    text.push_str("garbage line\n");
    std::fs::write(&reg, text).unwrap();
    d.signal(rustix::process::Signal::HUP);
    d.wait_log("the previous list stays in force");
    block_on(async {
        assert!(probe::session(d.addr, &session("alpha", Some(alpha_tls)))
            .await
            .is_err());
    });
    d.wait_log(&format!(
        "client certificate serial {serial} of cluster alpha was revoked"
    ));
}

/// `--wait-store` forgives an unreadable registry only while the store is not complete (root
/// is still making it; it is read again once it is). A complete store whose registry cannot
/// be read stops the start as without `--wait-store`: running on would let revoked nodes in.
#[test]
fn wait_store_with_a_complete_store_refuses_an_unreadable_registry() {
    let tmp = TempDir::new("tls-wait-store-bad-registry");
    let store = Store::init(&tmp.path("store"));
    let (_, serial) = node_tls(&store, "alpha");
    revoke(&store, certtool::RevokeTarget::Serial(serial), "gone");
    let reg = store.dir.join(certtool::REGISTRY_FILE);
    let mut text = std::fs::read_to_string(&reg).unwrap();
    text.push_str("garbage line\n");
    std::fs::write(&reg, text).unwrap();
    let mut d = Daemon::spawn(&tmp, &["--store", &store_arg(&store), "--wait-store"]);
    let status = d.wait_exit();
    let log = d.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("cannot read the revoked certificates"),
        "{log}"
    );
}

#[test]
fn reload_without_a_running_daemon_exits_3() {
    let tmp = TempDir::new("tls-reload-none");
    let o = std::process::Command::new(server_support::bin())
        .args(["reload", "--lock-file"])
        .arg(tmp.path("qnetd.pid"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not running"));
    // A lock file left behind by a daemon that is gone: nobody holds it, nothing is signalled.
    std::fs::write(tmp.path("qnetd.pid"), format!("{}\n", std::process::id())).unwrap();
    let o = std::process::Command::new(server_support::bin())
        .args(["reload", "--lock-file"])
        .arg(tmp.path("qnetd.pid"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nobody holds"));
}

/// A qdevice-like client: PREINIT (cluster pve), STARTTLS, then a TLS handshake presenting
/// `cert` and `key` (PEM files). Python's ssl (OpenSSL) presents certificates rustls will not
/// even load as a client, such as an X.509 v1 one.
const OFFER_CERT: &str = r#"
import socket, ssl, struct, sys
host, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
T = lambda t, v: struct.pack(">HH", t, len(v)) + v
M = lambda t, *v: struct.pack(">HI", t, len(b"".join(v))) + b"".join(v)
s = socket.create_connection((host, port), timeout=10)
s.sendall(M(0, T(0, struct.pack(">I", 1)), T(1, b"pve")))
head = s.recv(6)
s.recv(struct.unpack(">HI", head)[1])
s.sendall(M(2, T(0, struct.pack(">I", 2))))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.load_cert_chain(cert, key)
try:
    t = ctx.wrap_socket(s)
    t.recv(1)
except (ssl.SSLError, OSError):
    pass
"#;

/// The certificate refusals that were logged as Rust Debug (`Other(OtherError(CaUsedAsEndEntity))`
/// for a self-signed CN=pve certificate, `UnsupportedCertVersion` for a v1 one), through a
/// real STARTTLS handshake: the log says why in words.
#[test]
fn certificate_refusals_are_logged_in_words() {
    let tmp = TempDir::new("tls-words");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(&tmp, &["--store", &store_arg(&store)]);
    let path = |name: &str| tmp.path(name).to_string_lossy().to_string();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl is installed");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let (key, csr, self_signed, v1) =
        (path("k.pem"), path("r.csr"), path("ss.crt"), path("v1.crt"));
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &key,
    ]);
    // OpenSSL's self-signed certificate: version 3, basicConstraints CA:TRUE.
    openssl(&[
        "req",
        "-x509",
        "-key",
        &key,
        "-subj",
        "/CN=pve",
        "-days",
        "2",
        "-out",
        &self_signed,
    ]);
    // `x509 -req` without extensions: version 1.
    openssl(&[
        "req", "-new", "-key", &key, "-subj", "/CN=pve", "-out", &csr,
    ]);
    openssl(&[
        "x509", "-req", "-in", &csr, "-signkey", &key, "-days", "2", "-out", &v1,
    ]);
    for (cert, words) in [
        (
            &self_signed,
            "client certificate refused: it is a CA certificate (basicConstraints CA:TRUE)",
        ),
        (
            &v1,
            "client certificate refused: it is an X.509 version 1 or 2 certificate",
        ),
    ] {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                OFFER_CERT,
                "127.0.0.1",
                &d.port.to_string(),
                cert,
                &key,
            ])
            .output()
            .expect("python3 is installed");
        assert!(out.status.success(), "{out:?}");
        d.wait_log(words);
    }
    let log = d.log();
    for debug in ["CaUsedAsEndEntity", "UnsupportedCertVersion", "Other("] {
        assert!(!log.contains(debug), "log:\n{log}");
    }
}
