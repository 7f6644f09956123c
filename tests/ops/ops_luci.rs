//! The rpcd plugin (init.d/rpcd/qnetd) and luci-app-qnetd: every method under BusyBox sh and
//! BusyBox's tools against a running daemon and with none, each answer parsed and checked
//! against docs/openwrt.md; the ACL against what the views call; the views parse (node); the
//! settings view knows the daemon's settings; shellcheck on the plugin.

use super::json::Json;
use crate::support::server::{block_on, joined, path_arg, Daemon, TempDir};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn qnetd() -> &'static str {
    env!("CARGO_BIN_EXE_qnetd")
}

const PLUGIN: &str = "init.d/rpcd/qnetd";
const VIEWS: &str = "init.d/luci-app-qnetd/htdocs/luci-static/resources/view/qnetd";
const MENU: &str = "init.d/luci-app-qnetd/root/usr/share/luci/menu.d/luci-app-qnetd.json";
const ACL: &str = "init.d/luci-app-qnetd/root/usr/share/rpcd/acl.d/luci-app-qnetd.json";

/// The plugin run as rpcd runs it, by BusyBox sh with only BusyBox's applets on the PATH (as
/// on a router), pointed at a test daemon's files.
struct Plugin {
    bin_dir: PathBuf,
    socket: PathBuf,
    pidfile: PathBuf,
    store: PathBuf,
}

impl Plugin {
    fn new(tmp: &TempDir, socket: PathBuf, pidfile: PathBuf, store: PathBuf) -> Plugin {
        let bin_dir = tmp.path("bb");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let list = Command::new("busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            let _ = std::os::unix::fs::symlink("/bin/busybox", bin_dir.join(applet));
        }
        Plugin {
            bin_dir,
            socket,
            pidfile,
            store,
        }
    }

    /// `qnetd ARGS` with `stdin`: the exit code and stdout.
    fn run(&self, args: &[&str], stdin: &str) -> (i32, String) {
        use std::io::Write;
        let mut child = Command::new("busybox")
            .arg("sh")
            .arg(root().join(PLUGIN))
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

/// Two nodes of cluster `c` over plain TCP, one told ACK (the split's lower node id), as
/// server_http's tests make them.
async fn split_cluster(addr: std::net::SocketAddr) -> Vec<qnetd::probe::Probe> {
    use qnetd::proto::types::{Heuristics, MsgType, NodeInfo, NodeListType, RingId};
    let nodes = [NodeInfo::new(1), NodeInfo::new(2)];
    let mut probes = Vec::new();
    for id in [1u32, 2] {
        let ring = RingId {
            node_id: id,
            seq: 4 + u64::from(id),
        };
        let mut p = joined(addr, id, ring, &nodes).await;
        let got = p
            .node_list(
                NodeListType::Membership,
                Some(ring),
                None,
                &[NodeInfo::new(id)],
                Heuristics::Pass,
            )
            .await
            .unwrap();
        for m in got.iter().filter(|m| m.msg_type == MsgType::VoteInfo) {
            p.vote_info_reply(m).await.unwrap();
        }
        probes.push(p);
    }
    probes
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

// ---- the LuCI app's files -----------------------------------------------------------------

fn views() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(root().join(VIEWS))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// The quoted word after `key:` or `key(` at `at` in `text` (`object: 'qnetd'`).
fn quoted_after(text: &str, key: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        rest = &rest[i + key.len()..];
        let trimmed = rest.trim_start_matches([' ', ':', '(']);
        if let Some(q) = trimmed.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let body = &trimmed[1..];
            found.push(body[..body.find(q).unwrap()].to_string());
        }
    }
    found
}

/// `(object, method)` of every rpc.declare in a view.
fn declared_calls(js: &str) -> BTreeSet<(String, String)> {
    js.split("rpc.declare(")
        .skip(1)
        .map(|block| {
            let block = &block[..block.find("})").expect("rpc.declare({ … })")];
            let object = quoted_after(block, "object");
            let method = quoted_after(block, "method");
            assert_eq!((object.len(), method.len()), (1, 1), "{block}");
            (object[0].clone(), method[0].clone())
        })
        .collect()
}

fn acl_ubus(section: &Json) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    if let Some(Json::Obj(objects)) = section.opt("ubus") {
        for (object, methods) in objects {
            for m in methods.arr() {
                assert!(
                    out.insert((object.clone(), m.str().to_string())),
                    "granted twice"
                );
            }
        }
    }
    out
}

fn acl_uci(section: &Json) -> BTreeSet<String> {
    section
        .opt("uci")
        .map(|u| u.arr().iter().map(|c| c.str().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn acl_grants_exactly_what_the_views_call() {
    let mut calls = BTreeSet::new();
    let mut configs = BTreeSet::new();
    for (name, js) in views() {
        calls.extend(declared_calls(&js));
        configs.extend(quoted_after(&js, "form.Map"));
        configs.extend(quoted_after(&js, "uci.load"));
        assert!(
            !js.contains("fs.exec") && !js.contains("'require fs'"),
            "{name}"
        );
    }
    let want: BTreeSet<(String, String)> = [
        ("network.interface", "dump"),
        ("qnetd", "certificates"),
        ("qnetd", "health"),
        ("qnetd", "revoke"),
        ("qnetd", "status"),
    ]
    .iter()
    .map(|(o, m)| (o.to_string(), m.to_string()))
    .collect();
    assert_eq!(
        calls, want,
        "the views' calls changed: update the ACL and this list"
    );
    assert_eq!(configs, BTreeSet::from(["qnetd".to_string()]));

    let acl = Json::parse(&std::fs::read_to_string(root().join(ACL)).unwrap()).unwrap();
    assert_eq!(acl.keys(), ["luci-app-qnetd"]);
    let app = acl.get("luci-app-qnetd");
    let (read, write) = (app.get("read"), app.get("write"));
    let (read_ubus, write_ubus) = (acl_ubus(read), acl_ubus(write));
    // Only revoke changes anything: it alone needs write access.
    let writes = BTreeSet::from([("qnetd".to_string(), "revoke".to_string())]);
    assert_eq!(write_ubus, writes);
    let reads: BTreeSet<_> = want.difference(&writes).cloned().collect();
    assert_eq!(read_ubus, reads);
    assert_eq!(acl_uci(read), configs);
    assert_eq!(acl_uci(write), configs);
    for section in [read, write] {
        for key in section.keys() {
            assert!(matches!(key, "ubus" | "uci"), "grants {key} too");
        }
    }
    // Every method granted on object qnetd is one the plugin lists.
    let tmp = TempDir::new("luci-acl");
    let p = Plugin::new(&tmp, tmp.path("s"), tmp.path("p"), tmp.path("st"));
    let (_, list) = p.run(&["list"], "");
    let listed = Json::parse(list.trim_end()).unwrap();
    for (object, method) in read_ubus.union(&write_ubus) {
        if object == "qnetd" {
            listed.get(method);
        }
    }
}

#[test]
fn views_parse_and_menu_and_acl_are_valid_json() {
    let names: Vec<String> = views().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["certificates.js", "settings.js", "status.js"]);
    for name in &names {
        let path = root().join(VIEWS).join(name);
        let out = Command::new("node")
            .arg("--check")
            .arg(&path)
            .output()
            .expect("node (apt install nodejs)");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (name, js) in views() {
        assert!(js.starts_with("'use strict';\n'require view';\n"), "{name}");
    }
    let menu = Json::parse(&std::fs::read_to_string(root().join(MENU)).unwrap()).unwrap();
    let entries = menu.keys();
    assert_eq!(entries[0], "admin/services/qnetd");
    let top = menu.get("admin/services/qnetd");
    assert_eq!(
        top.get("depends").get("acl").arr(),
        [Json::Str("luci-app-qnetd".into())]
    );
    // Each view entry names a view file that exists.
    let mut viewed = Vec::new();
    for entry in &entries[1..] {
        let action = menu.get(entry).get("action");
        assert_eq!(action.get("type").str(), "view");
        let view = action.get("path").str();
        let file = view.strip_prefix("qnetd/").unwrap().to_string() + ".js";
        assert!(names.contains(&file), "{entry}: {view}");
        viewed.push(file);
    }
    viewed.sort();
    assert_eq!(viewed, names, "every view is in the menu");
    Json::parse(&std::fs::read_to_string(root().join(ACL)).unwrap()).unwrap();
}

/// The settings view checks `list setting` entries against the keys `qnetd run -S` accepts:
/// the same keys, so an entry the form accepts is one the daemon accepts.
#[test]
fn settings_view_knows_every_setting_of_the_daemon() {
    let js = std::fs::read_to_string(root().join(VIEWS).join("settings.js")).unwrap();
    let start = js.find("var SETTINGS = {").unwrap();
    let body = &js[start..start + js[start..].find("\n};").unwrap()];
    // The table's own lines are indented once: `\tkey: rule,`.
    let keys: Vec<&str> = body
        .lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix('\t')?.split_once(':').map(|(k, _)| k))
        .filter(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .collect();
    let daemon: Vec<&str> = qnetd::settings::setting_keys().collect();
    assert_eq!(keys, daemon);
    // Every option of the shipped UCI file is a form field.
    let uci = std::fs::read_to_string(root().join("init.d/qnetd.config")).unwrap();
    for line in uci.lines() {
        let words: Vec<&str> = line
            .trim_start_matches(['\t', '#'])
            .split_whitespace()
            .collect();
        if let ["option" | "list", name, ..] = words.as_slice() {
            assert!(
                js.contains(&format!("'{name}'")),
                "option {name} has no field"
            );
        }
    }
}

#[test]
fn shellcheck_the_plugin() {
    let out = Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(root().join(PLUGIN))
        .output()
        .expect("shellcheck (apt install shellcheck)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---- the views' behaviour, under a stand-in for LuCI (tests/luci/harness.js) --------------

/// A JSON string (the test's inputs are plain text).
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A cluster name as a client may send it: HTML, which the page must show as text.
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

const STATUS_FIXTURE: &str = r#"{"running":true,"pid":4242,"uptime_s":3725,"schema_version":1,
 "qnetd_version":"0.1.0","listen_address":null,"port":5403,"tls":"required",
 "client_cert_required":true,"connected_clients":3,"max_clients":304,"max_send_size":32768,
 "max_receive_size":32768,"clusters":[
 {"name":"pve","algorithm":"ffsplit","tie_breaker":"lowest","kap_tie_breaker":false,"nodes":[
  {"node_id":1,"address":"::ffff:192.168.1.11:41216","heartbeat_interval_ms":8000,
   "tls_active":true,"cert_verified":true,"vote":"ack","ack_nack_vote":"ack","ms_since_last_message":812},
  {"node_id":2,"address":"::ffff:192.168.1.12:41000","heartbeat_interval_ms":8000,
   "tls_active":true,"cert_verified":true,"vote":"nack","ack_nack_vote":"nack","ms_since_last_message":100}]},
 {"name":"HOSTILE","algorithm":"ffsplit","tie_breaker":"lowest","kap_tie_breaker":false,"nodes":[
  {"node_id":7,"address":"::ffff:10.0.0.7:40000","heartbeat_interval_ms":8000,
   "tls_active":false,"cert_verified":false,"vote":"wait_for_reply","ack_nack_vote":"nack",
   "ms_since_last_message":5}]}]}"#;

const INTERFACES_FIXTURE: &str = r#"{"interface":[
 {"interface":"lan","up":true,"ipv4-address":[{"address":"192.168.1.1","mask":24}],
  "ipv6-address":[{"address":"fd00::1","mask":64}],"ipv6-prefix-assignment":[]},
 {"interface":"wan","up":true,"ipv4-address":[{"address":"203.0.113.5","mask":24}]},
 {"interface":"loopback","up":true,"ipv4-address":[{"address":"127.0.0.1","mask":8}]},
 {"interface":"guest","up":false,"ipv4-address":[{"address":"10.9.9.1","mask":24}]}]}"#;

const CERTS_FIXTURE: &str = r#"{"store":"/etc/corosync/qnetd/nssdb",
 "ca":{"name":"QNet CA","serial":"9899199997814314352","not_after":4952213248,"not_after_date":"2126-12-06","days_left":36524,"sha256":"E7:31","in_use":true,"revoked":false,"revoked_at":null,"reason":null},
 "server":{"name":"Qnetd Server","serial":"102","not_after":4952213248,"not_after_date":"2126-12-06","days_left":-3,"sha256":"6E:B5","in_use":true,"revoked":false,"revoked_at":null,"reason":null},
 "clusters":[
 {"name":"HOSTILE","serial":"105","not_after":4952213248,"not_after_date":"2126-12-06","days_left":36524,"sha256":"E0:33","in_use":true,"revoked":false,"revoked_at":null,"reason":null},
 {"name":"old","serial":"103","not_after":4952213248,"not_after_date":"2126-12-06","days_left":36524,"sha256":"E0:34","in_use":false,"revoked":false,"revoked_at":null,"reason":null},
 {"name":"gone","serial":"104","not_after":4952213248,"not_after_date":"2126-12-06","days_left":36524,"sha256":"E0:35","in_use":true,"revoked":true,"revoked_at":1765000000,"reason":"revoked from LuCI"}],
 "unrecorded_revocations":[]}"#;

/// `list setting` entries and `http` values to ask both the form and the daemon about.
fn setting_cases() -> Vec<String> {
    let values = [
        "",
        "0",
        "1",
        "2",
        "15",
        "16",
        "+5",
        " 5",
        "5 ",
        "1023",
        "1024",
        "777",
        "1000",
        "2147483647",
        "2147483648",
        "4294967295",
        "4294967296",
        "-1",
        "abc",
        "on",
        "OFF",
        "yes",
        "1.5",
        "0.5",
        ".5",
        "3.",
        "1e2",
        "1000.1",
        "0x10",
        "/path",
    ];
    let mut cases = Vec::new();
    for key in qnetd::settings::setting_keys() {
        for v in values {
            // The form cannot see the router's /etc/group: a group name is the daemon's to
            // check (numbers, empty and -1 are compared).
            if key == "local_socket_gid" && v.parse::<i64>().is_err() && !v.is_empty() {
                continue;
            }
            cases.push(format!("{key}={v}"));
        }
    }
    cases.extend(
        [
            "unknown=1",
            "HEARTBEAT_INTERVAL_MAX=60000",
            "listen_backlog=5,ipc_max_clients=3",
            "listen_backlog=5,max_client_send_size=1",
            "listen_backlog=5,,anything",
        ]
        .map(String::from),
    );
    cases
}

fn http_cases() -> Vec<String> {
    [
        "",
        "192.168.1.1:5404",
        "1.2.3.4",
        "[::1]:5404",
        "[::]:0",
        "01.2.3.4:5",
        "1.2.3.4:0",
        "1.2.3.4:65535",
        "1.2.3.4:65536",
        "1.2.3.4:080",
        "[::ffff:1.2.3.4]:80",
        "host:80",
        ":80",
        "[::1]",
        "256.1.1.1:80",
        "[fe80::1%2]:80",
        "::1:80",
    ]
    .map(String::from)
    .to_vec()
}

fn run_harness() -> (Json, Vec<String>, Vec<String>) {
    let settings = setting_cases();
    let http = http_cases();
    let list = |v: &[String]| {
        let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
        format!("[{}]", items.join(","))
    };
    let input = format!(
        r#"{{"fixtures":{{"qnetd.status":{},"network.interface.dump":{},"qnetd.certificates":{},
        "qnetd.health":{{"running":true,"status":"fail","reason":"the server certificate expired 3 days ago"}},
        "qnetd.revoke":{{"ok":true,"cluster":"x","revoked":1,"already_revoked":0,"reloaded":true}}}},
        "poll_status":{{"running":false}},"settings":{},"http":{}}}"#,
        STATUS_FIXTURE.replace("HOSTILE", HOSTILE),
        INTERFACES_FIXTURE,
        CERTS_FIXTURE.replace("HOSTILE", HOSTILE),
        list(&settings),
        list(&http)
    );
    Json::parse(&input).expect("the harness input is JSON");
    let out = Command::new("node")
        .arg(root().join("tests/luci/harness.js"))
        .arg(root().join(VIEWS))
        .arg(&input)
        .output()
        .expect("node (apt install nodejs)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = Json::parse(&String::from_utf8(out.stdout).unwrap()).unwrap();
    (doc, settings, http)
}

fn calls_of(doc: &Json, key: &str) -> Vec<(String, String)> {
    doc.get(key)
        .arr()
        .iter()
        .map(|c| {
            (
                c.get("object").str().to_string(),
                c.get("method").str().to_string(),
            )
        })
        .collect()
}

#[test]
fn views_render_what_the_daemon_says_and_escape_what_clients_send() {
    let (doc, settings, http) = run_harness();

    // Status: one status call (and the interfaces once); one status call per poll.
    let status = doc.get("status_html").str();
    assert_eq!(
        calls_of(&doc, "status_calls"),
        [
            ("qnetd".to_string(), "status".to_string()),
            ("network.interface".to_string(), "dump".to_string())
        ]
    );
    assert_eq!(
        calls_of(&doc, "poll_calls"),
        [("qnetd".to_string(), "status".to_string())]
    );
    let every = doc.get("poll_every").arr();
    assert_eq!(every.len(), 1);
    assert!((2.0..=10.0).contains(&every[0].num()));
    for want in [
        "4242",
        "0.1.0",
        "3725s",
        "all addresses port 5403",
        "required, client certificate required",
        "Cluster pve",
        "has its third vote",
        "has no third vote",
        "ACK",
        "NACK",
        "WAIT FOR REPLY",
        "::ffff:192.168.1.11:41216",
        "every 8.0 s, last message 0.8 s ago",
        "pvecm qdevice setup 192.168.1.1",
        "pvecm qdevice setup fd00::1",
        "qnetd cert bundle --cluster CLUSTER-NAME",
    ] {
        assert!(status.contains(want), "{want:?} not in:\n{status}");
    }
    assert_eq!(status.matches("has its third vote").count(), 1, "{status}");
    for never in [
        "203.0.113.5",
        "127.0.0.1",
        "10.9.9.1",
        "<img",
        "port 5403; this",
    ] {
        assert!(!status.contains(never), "{never:?} in:\n{status}");
    }
    assert!(
        status.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{status}"
    );
    let after = doc.get("status_after_poll_html").str();
    assert!(after.contains("The arbiter is not running."), "{after}");
    assert!(!after.contains("Cluster pve"), "{after}");

    // Certificates: health, expiry, and revoke only where it means something.
    let certs = doc.get("certificates_html").str();
    assert_eq!(
        calls_of(&doc, "certificates_calls"),
        [
            ("qnetd".to_string(), "certificates".to_string()),
            ("qnetd".to_string(), "health".to_string())
        ]
    );
    for want in [
        "Health: the server certificate expired 3 days ago",
        "2126-12-06 (36524 days left)",
        "expired 3 days ago",
        "9899199997814314352",
        "no (replaced)",
        "yes, ",
    ] {
        assert!(certs.contains(want), "{want:?} not in:\n{certs}");
    }
    assert!(!certs.contains("<img"), "{certs}");
    assert_eq!(
        doc.get("revoke_buttons").num(),
        1.0,
        "only the in-use, unrevoked certificate: {certs}"
    );
    let modal = doc.get("modal_html").str();
    assert!(modal.contains("&lt;img src=x"), "{modal}");
    assert!(!modal.contains("<img"), "{modal}");
    // The revoke names the cluster as the daemon knows it, unescaped, after confirmation.
    let revoke = doc.get("revoke_calls").arr();
    assert_eq!(revoke[0].get("method").str(), "revoke");
    assert_eq!(revoke[0].get("args").arr(), [Json::Str(HOSTILE.into())]);
    assert_eq!(revoke[0].get("params").arr(), [Json::Str("cluster".into())]);
    // Then the page reloads its data.
    let reload: Vec<&str> = revoke[1..].iter().map(|c| c.get("method").str()).collect();
    assert_eq!(reload, ["certificates", "health"]);

    // Settings: every UCI option is a field, and the form accepts what the daemon accepts.
    let fields: Vec<&str> = doc
        .get("settings_options")
        .arr()
        .iter()
        .map(|o| o.str())
        .collect();
    assert_eq!(
        fields,
        [
            "enabled",
            "listen_address",
            "port",
            "tls",
            "client_cert_required",
            "max_clients",
            "debug",
            "http",
            "user",
            "store",
            "setting"
        ]
    );
    assert_eq!(
        doc.get("tls_values").arr(),
        ["required", "on", "off"].map(|v| Json::Str(v.into()))
    );
    let mut cfg = qnetd::settings::Config::default();
    for v in ["required", "on", "off"] {
        cfg.set_tls(v).unwrap();
    }
    let verdicts = doc.get("setting_verdicts").arr();
    let mut differ = Vec::new();
    for (entry, verdict) in settings.iter().zip(verdicts) {
        let daemon = qnetd::settings::AdvancedSettings::default()
            .apply_list(entry)
            .is_ok();
        let form = verdict == &Json::Bool(true);
        if daemon != form {
            differ.push(format!("{entry:?}: daemon {daemon}, form {verdict:?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    let verdicts = doc.get("http_verdicts").arr();
    for (value, verdict) in http.iter().zip(verdicts) {
        let daemon = qnetd::settings::parse_http_listen(value).is_some();
        assert_eq!(
            daemon,
            verdict == &Json::Bool(true),
            "http {value:?}: form says {verdict:?}"
        );
    }
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
