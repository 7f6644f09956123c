//! The rpcd plugin (init.d/rpcd/qnetd): every method under BusyBox sh and BusyBox's tools
//! against a running daemon and with none, each answer parsed and checked against
//! docs/openwrt.md; `qnetd status --health` against HTTP /health. The LuCI files are
//! ops_luci_views.rs's.

use super::json::Json;
use crate::support::server::{block_on, path_arg, split_cluster, Daemon, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(super) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn qnetd() -> &'static str {
    env!("CARGO_BIN_EXE_qnetd")
}

pub(super) const PLUGIN: &str = "init.d/rpcd/qnetd";
pub(super) const VIEWS: &str = "init.d/luci-app-qnetd/htdocs/luci-static/resources/view/qnetd";
pub(super) const MENU: &str =
    "init.d/luci-app-qnetd/root/usr/share/luci/menu.d/luci-app-qnetd.json";
pub(super) const ACL: &str = "init.d/luci-app-qnetd/root/usr/share/rpcd/acl.d/luci-app-qnetd.json";

/// Repository file `file`'s bytes as `qnetd install` embeds them (build/minify.rs).
pub(super) fn embedded(file: &str) -> String {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    super::minify::embedded(file, &text).unwrap()
}

/// The views as embedded, in a directory of `tmp`: what tests/luci/harness.js and node run.
pub(super) fn embedded_views(tmp: &TempDir) -> PathBuf {
    let dir = tmp.path("views");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(root().join(VIEWS)).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let text = embedded(&format!("{VIEWS}/{name}"));
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

/// The plugin run as rpcd runs it, by BusyBox sh with only BusyBox's applets on the PATH (as
/// on a router), pointed at a test daemon's files.
pub(super) struct Plugin {
    bin_dir: PathBuf,
    /// The plugin as embedded (build/minify.rs).
    script: PathBuf,
    socket: PathBuf,
    pidfile: PathBuf,
    store: PathBuf,
}

impl Plugin {
    pub(super) fn new(tmp: &TempDir, socket: PathBuf, pidfile: PathBuf, store: PathBuf) -> Plugin {
        let bin_dir = tmp.path("bb");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let list = Command::new("busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            let _ = std::os::unix::fs::symlink("/bin/busybox", bin_dir.join(applet));
        }
        let script = tmp.path("rpcd-qnetd");
        std::fs::write(&script, embedded(PLUGIN)).unwrap();
        Plugin {
            bin_dir,
            script,
            socket,
            pidfile,
            store,
        }
    }

    /// `qnetd ARGS` with `stdin`: the exit code and stdout.
    pub(super) fn run(&self, args: &[&str], stdin: &str) -> (i32, String) {
        use std::io::Write;
        let mut child = Command::new("busybox")
            .arg("sh")
            .arg(&self.script)
            .args(args)
            .env_clear()
            .env("PATH", &self.bin_dir)
            .env("QNETD_BIN", qnetd())
            .env("QNETD_SOCKET", &self.socket)
            .env("QNETD_PIDFILE", &self.pidfile)
            .env("QNETD_STORE", &self.store)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
        )
    }

    /// `call METHOD` with `args`: the answer, which must be one JSON object on one line.
    fn call(&self, method: &str, args: &str) -> Json {
        let (code, out) = self.run(&["call", method], args);
        // The transcript in docs/openwrt.md comes from here (--nocapture shows it).
        print!("$ echo '{args}' | qnetd call {method}\n{out}");
        assert_eq!(code, 0, "call {method} {args}: exit {code}: {out}");
        assert_eq!(out.matches('\n').count(), 1, "one line: {out}");
        let doc = Json::parse(out.trim_end()).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert!(
            matches!(doc, Json::Obj(_)),
            "rpcd takes only an object: {out}"
        );
        doc
    }
}

fn init_store(dir: &Path) {
    let out = Command::new(qnetd())
        .args(["cert", "--store", &path_arg(dir), "init"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A cluster certificate for `cluster` in the store (a bundle issues one).
fn issue(store: &Path, cluster: &str, out: &Path) {
    let o = Command::new(qnetd())
        .args([
            "cert",
            "--store",
            &path_arg(store),
            "bundle",
            "--cluster",
            cluster,
        ])
        .args(["--out", &path_arg(out)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
}

/// The documented `list` answer: each method with its argument signature.
fn check_list(p: &Plugin) {
    let (code, out) = p.run(&["list"], "");
    assert_eq!(code, 0);
    let doc = Json::parse(out.trim_end()).unwrap();
    assert_eq!(
        doc.keys(),
        ["status", "certificates", "health", "revoke"],
        "{out}"
    );
    assert!(doc.get("status").keys().is_empty());
    assert!(doc.get("certificates").keys().is_empty());
    for m in ["health", "revoke"] {
        assert_eq!(doc.get(m).keys(), ["cluster"]);
        assert_eq!(doc.get(m).get("cluster").str(), "str", "a string argument");
    }
}

/// A certificate of the `certificates` answer, as documented.
fn check_cert(c: &Json, name: &str) {
    assert_eq!(c.get("name").str(), name);
    let serial = c.get("serial").str();
    assert!(
        !serial.is_empty() && serial.bytes().all(|b| b.is_ascii_digit()),
        "{c:?}"
    );
    assert!(c.get("not_after").num() > 1.7e9);
    assert_eq!(c.get("not_after_date").str().len(), 10);
    assert!(c.get("days_left").num() > 300.0);
    let fp = c.get("sha256").str();
    assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
    assert!(fp.split(':').all(|h| h.len() == 2));
    for key in ["in_use", "revoked"] {
        c.get(key).bool();
    }
    c.get("revoked_at");
    c.get("reason");
}

#[test]
fn plugin_answers_every_method_against_a_running_daemon() {
    let tmp = TempDir::new("luci-plugin");
    let store = tmp.path("store");
    init_store(&store);
    issue(&store, "c", &tmp.path("bundle-c"));
    let d = Daemon::start(&tmp, &["--tls", "on", "--store", &path_arg(&store)]);
    let p = Plugin::new(&tmp, d.socket.clone(), d.lock.clone(), store.clone());
    check_list(&p);

    block_on(async {
        let _probes = split_cluster(d.addr).await;

        let st = p.call("status", "{ }");
        assert!(st.get("running").bool());
        assert_eq!(st.get("pid").num() as u32, d.child.id());
        assert!(st.get("uptime_s").num() >= 0.0);
        // The daemon's own document follows (docs/status-json.md).
        assert_eq!(st.get("schema_version").num(), 1.0);
        assert_eq!(st.get("port").num() as u16, d.port);
        assert_eq!(st.get("tls").str(), "on");
        assert_eq!(st.get("listen_address").str(), "127.0.0.1");
        st.get("qnetd_version").str();
        let clusters = st.get("clusters").arr();
        assert_eq!(clusters.len(), 1, "{st:?}");
        assert_eq!(clusters[0].get("name").str(), "c");
        let nodes = clusters[0].get("nodes").arr();
        assert_eq!(nodes.len(), 2);
        for n in nodes {
            for key in ["node_id", "heartbeat_interval_ms", "ms_since_last_message"] {
                n.get(key).num();
            }
            n.get("address").str();
            assert!(!n.get("tls_active").bool());
            assert!(!n.get("cert_verified").bool());
        }
        let acks = nodes
            .iter()
            .filter(|n| n.get("ack_nack_vote") == &Json::Str("ack".into()))
            .count();
        assert_eq!(acks, 1, "the cluster has its third vote: {st:?}");

        let h = p.call("health", "{ }");
        assert_eq!(h.keys(), ["running", "status"]);
        assert_eq!(h.get("status").str(), "ok");
        let h = p.call("health", r#"{ "cluster": "c" }"#);
        assert_eq!(h.get("status").str(), "ok", "{h:?}");
        let h = p.call("health", r#"{ "cluster": "a\\b" }"#);
        assert_eq!(h.get("status").str(), "fail");
        assert!(h.get("reason").str().contains("non-empty string"), "{h:?}");
        // rpcd passes UTF-8 as it is (libubox escapes only ", \, / and control bytes).
        let h = p.call("health", r#"{ "cluster": "ünï cødé 'x'" }"#);
        assert_eq!(
            h.get("reason").str(),
            "cluster ünï cødé 'x' has no connected nodes"
        );
        let h = p.call("health", r#"{ "cluster": "other" }"#);
        assert_eq!(h.get("status").str(), "fail");
        assert_eq!(
            h.get("reason").str(),
            "cluster other has no connected nodes"
        );
    });

    let certs = p.call("certificates", "{ }");
    assert_eq!(certs.get("store").str(), path_arg(&store));
    check_cert(certs.get("ca"), "QNet CA");
    check_cert(certs.get("server"), "Qnetd Server");
    let clusters = certs.get("clusters").arr();
    assert_eq!(clusters.len(), 1);
    check_cert(&clusters[0], "c");
    assert!(clusters[0].get("in_use").bool());
    assert!(!clusters[0].get("revoked").bool());
    assert_eq!(clusters[0].get("revoked_at"), &Json::Null);
    assert!(certs.get("unrecorded_revocations").arr().is_empty());

    // Bad arguments are answers, and nothing in them is run.
    let marker = tmp.path("injected");
    for args in [
        "{ }".to_string(),
        r#"{ "cluster": "a\"b" }"#.to_string(),
        r#"{ "cluster": "" }"#.to_string(),
        format!(r#"{{ "cluster": "$(touch {m})" }}"#, m = marker.display()),
        format!(r#"{{ "cluster": "c; touch {m}" }}"#, m = marker.display()),
        format!(r#"{{ "cluster": "`touch {m}`" }}"#, m = marker.display()),
        r#"{ "cluster": "--serial" }"#.to_string(),
    ] {
        let r = p.call("revoke", &args);
        assert!(!r.get("ok").bool(), "{args}: {r:?}");
        assert!(!r.get("error").str().is_empty());
    }
    assert!(!marker.exists(), "an argument was run");
    let still = p.call("certificates", "{ }");
    assert!(!still.get("clusters").arr()[0].get("revoked").bool());

    let r = p.call("revoke", r#"{ "cluster": "c" }"#);
    assert!(r.get("ok").bool(), "{r:?}");
    assert_eq!(r.get("cluster").str(), "c");
    assert_eq!(r.get("revoked").num(), 1.0);
    assert_eq!(r.get("already_revoked").num(), 0.0);
    assert!(r.get("reloaded").bool(), "SIGHUP sent");
    d.wait_log("received SIGHUP");
    let certs = p.call("certificates", "{ }");
    let c = &certs.get("clusters").arr()[0];
    assert!(c.get("revoked").bool());
    assert!(c.get("revoked_at").num() > 1.7e9);
    assert_eq!(c.get("reason").str(), "revoked from LuCI");
    let again = p.call("revoke", r#"{ "cluster": "c" }"#);
    assert_eq!(again.get("revoked").num(), 0.0);
    assert_eq!(again.get("already_revoked").num(), 1.0);

    let (code, out) = p.run(&["call", "frob"], "{}");
    assert_eq!(code, 1);
    assert_eq!(Json::parse(out.trim_end()).unwrap().keys(), ["error"]);
}

#[test]
fn plugin_answers_with_no_daemon_running() {
    let tmp = TempDir::new("luci-none");
    let store = tmp.path("store");
    let p = Plugin::new(
        &tmp,
        tmp.path("none.sock"),
        tmp.path("none.pid"),
        store.clone(),
    );
    check_list(&p);
    assert_eq!(
        p.call("status", "{}"),
        Json::parse(r#"{"running":false}"#).unwrap()
    );
    let h = p.call("health", r#"{"cluster":"c"}"#);
    assert!(!h.get("running").bool());
    assert_eq!(h.get("status").str(), "fail");
    assert_eq!(h.get("reason").str(), "qnetd is not running");
    // No store yet: an answer that says so.
    let certs = p.call("certificates", "{}");
    assert_eq!(certs.keys(), ["error"]);
    assert!(
        certs.get("error").str().contains(&path_arg(&store)),
        "{certs:?}"
    );
    // The store is read without the daemon; a revoke waits for its next start.
    init_store(&store);
    issue(&store, "c", &tmp.path("bundle-c"));
    let certs = p.call("certificates", "{}");
    check_cert(certs.get("ca"), "QNet CA");
    let r = p.call("revoke", r#"{"cluster":"c"}"#);
    assert!(r.get("ok").bool(), "{r:?}");
    assert!(!r.get("reloaded").bool());
}

// ---- `qnetd status --health`: HTTP /health's verdict over the status socket ----------------

/// `GET path` on the daemon's HTTP port: the body.
fn http_get(http: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(out)
}

fn status_health(d: &Daemon, cluster: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new(qnetd());
    cmd.args(["status", "--health", "-p", &path_arg(&d.socket)]);
    if let Some(c) = cluster {
        cmd.args(["--cluster", c]);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// The socket's `health` is /health's own verdict, whatever the state: the same body for the
/// daemon, for a cluster without nodes, with a vote, and with a store it cannot read.
#[test]
fn status_health_is_what_http_health_says() {
    let tmp = TempDir::new("luci-health");
    let store = tmp.path("store");
    init_store(&store);
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], crate::support::server::free_port()));
    let d = Daemon::start(
        &tmp,
        &[
            "--tls",
            "on",
            "--store",
            &path_arg(&store),
            "--http",
            &http.to_string(),
        ],
    );
    d.wait_log("HTTP health and metrics on");
    let same = |cluster: Option<&str>, want: &str| {
        let (code, socket) = status_health(&d, cluster);
        assert_eq!(code, 0, "{socket}");
        let query = cluster.map_or(String::new(), |c| format!("?cluster={c}"));
        assert_eq!(socket, http_get(http, &format!("/health{query}")));
        assert!(socket.contains(want), "{socket}");
    };
    same(None, r#"{"status":"ok"}"#);
    same(Some("c"), "cluster c has no connected nodes");
    block_on(async {
        let _probes = split_cluster(d.addr).await;
        same(Some("c"), r#"{"status":"ok"}"#);
    });
    std::fs::remove_file(store.join(certtool::SERVER_CERT_FILE)).unwrap();
    same(None, r#""status":"fail""#);
    same(Some("c"), r#""status":"fail""#);

    // Flags that do not go together are a usage error (2), as every bad command line.
    let out = Command::new(qnetd())
        .args(["status", "--cluster", "c", "-p", &path_arg(&d.socket)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(qnetd())
        .args(["status", "--health", "--json", "-p", &path_arg(&d.socket)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
