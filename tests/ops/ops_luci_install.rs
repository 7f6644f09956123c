//! `qnetd install` and `uninstall` of the rpcd plugin and the LuCI page in a BusyBox-only
//! OpenWrt root (tests/support/router): with LuCI and rpcd, with rpcd alone, with neither.
//! With LuCI, the installed plugin then answers `call status` for the daemon the install
//! started, from inside the root with the default paths.

use super::json::Json;
use super::ops_luci::embedded;
use super::router::Router;
use std::fs;
use std::time::{Duration, Instant};

const PLUGIN: &str = "/usr/libexec/rpcd/qnetd";
/// (installed path, repository file) of every LuCI file.
const LUCI: [(&str, &str); 5] = [
    (
        "/www/luci-static/resources/view/qnetd/status.js",
        "init.d/luci-app-qnetd/htdocs/luci-static/resources/view/qnetd/status.js",
    ),
    (
        "/www/luci-static/resources/view/qnetd/certificates.js",
        "init.d/luci-app-qnetd/htdocs/luci-static/resources/view/qnetd/certificates.js",
    ),
    (
        "/www/luci-static/resources/view/qnetd/settings.js",
        "init.d/luci-app-qnetd/htdocs/luci-static/resources/view/qnetd/settings.js",
    ),
    (
        "/usr/share/luci/menu.d/luci-app-qnetd.json",
        "init.d/luci-app-qnetd/root/usr/share/luci/menu.d/luci-app-qnetd.json",
    ),
    (
        "/usr/share/rpcd/acl.d/luci-app-qnetd.json",
        "init.d/luci-app-qnetd/root/usr/share/rpcd/acl.d/luci-app-qnetd.json",
    ),
];

/// `call status` of the installed plugin, until the daemon the install started answers.
fn status_when_running(r: &Router) -> Json {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = r.ok(&[PLUGIN, "call", "status"]);
        let doc = Json::parse(out.trim_end()).unwrap_or_else(|e| panic!("{e}: {out}"));
        if doc.get("running") == &Json::Bool(true) {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "{out}\nlog:\n{}",
            r.read("/tmp/qnetd.log")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn with_luci_install_writes_the_page_and_plugin_and_uninstall_removes_them() {
    let r = Router::with_rpcd("luci-with", true);
    fs::write(r.root.file("/tmp/luci-indexcache.0123abcd.json"), "{}").unwrap();
    fs::create_dir_all(r.root.file("/tmp/luci-modulecache/luci")).unwrap();

    let plan = r.ok(&["/tmp/qnetd", "install", "--dry-run"]);
    for want in [
        "install: would write /usr/libexec/rpcd/qnetd (rpcd plugin: ubus object qnetd)",
        "install: would write /www/luci-static/resources/view/qnetd/status.js (LuCI view: status)",
        "install: would write /usr/share/luci/menu.d/luci-app-qnetd.json (LuCI menu",
        "install: would write /usr/share/rpcd/acl.d/luci-app-qnetd.json (rpcd ACL",
        "install: would remove LuCI's menu cache /tmp/luci-indexcache* and /tmp/luci-modulecache",
        "install: would run /etc/init.d/rpcd reload",
    ] {
        assert!(plan.contains(want), "missing {want:?} in:\n{plan}");
    }
    assert!(!r.exists(PLUGIN), "--dry-run wrote the plugin");
    assert!(r.exists("/tmp/luci-indexcache.0123abcd.json"));

    let out = r.ok(&["/tmp/qnetd", "install"]);
    assert!(!out.contains("FAILED"), "{out}");
    assert_eq!(
        fs::read(r.root.file(PLUGIN)).unwrap(),
        embedded("init.d/rpcd/qnetd").as_bytes()
    );
    assert_eq!(r.mode(PLUGIN), 0o755);
    for (path, file) in LUCI {
        assert_eq!(
            fs::read(r.root.file(path)).unwrap(),
            embedded(file).as_bytes(),
            "{path}"
        );
        assert_eq!(r.mode(path), 0o644, "{path}");
    }
    assert!(
        !r.exists("/tmp/luci-indexcache.0123abcd.json"),
        "index cache left"
    );
    assert!(!r.exists("/tmp/luci-modulecache"), "module cache left");
    assert!(r.read("/tmp/rc.log").contains("rpcd reload"));
    let keep = r.read("/lib/upgrade/keep.d/qnetd");
    for path in std::iter::once(PLUGIN).chain(LUCI.iter().map(|(p, _)| *p)) {
        assert!(
            keep.lines().any(|l| l == path),
            "{path} not in keep.d:\n{keep}"
        );
    }

    // The installed plugin, under the root's BusyBox, finds the daemon by the default paths.
    let list = Json::parse(r.ok(&[PLUGIN, "list"]).trim_end()).unwrap();
    assert_eq!(list.keys(), ["status", "certificates", "health", "revoke"]);
    let st = status_when_running(&r);
    let pid: u32 = r
        .read("/var/run/procd-standin/qnetd.pid")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(st.get("pid").num() as u32, pid);
    assert_eq!(st.get("port").num(), 5403.0);
    assert_eq!(st.get("tls").str(), "required");
    // Root makes the store in the background on a first start (the init script runs `qnetd cert
    // init`; the daemon waits for it): until it is complete the answer is an error.
    let deadline = Instant::now() + Duration::from_secs(60);
    let certs = loop {
        let doc = Json::parse(r.ok(&[PLUGIN, "call", "certificates"]).trim_end()).unwrap();
        match doc.opt("error") {
            None => break doc,
            Some(e) => assert!(!e.str().is_empty()),
        }
        assert!(Instant::now() < deadline, "{doc:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(certs.get("store").str(), "/etc/corosync/qnetd/nssdb");
    assert_eq!(certs.get("ca").get("name").str(), "QNet CA");

    // Again: nothing to do, rpcd left alone.
    let reloads = || r.read("/tmp/rc.log").matches("rpcd reload").count();
    assert_eq!(reloads(), 1);
    let again = r.ok(&["/usr/sbin/qnetd", "install"]);
    assert!(again.contains("install: nothing to do"), "{again}");
    assert_eq!(reloads(), 1);

    // An older copy of a view is updated.
    let status_js = LUCI[0].0;
    fs::write(r.root.file(status_js), "'use strict';\n// older\n").unwrap();
    let upd = r.ok(&["/usr/sbin/qnetd", "install"]);
    assert!(
        upd.contains(&format!(
            "write {status_js} (LuCI/rpcd file, updated): done"
        )),
        "{upd}"
    );
    assert!(upd.contains("run /etc/init.d/rpcd reload"), "{upd}");
    assert_eq!(
        fs::read(r.root.file(status_js)).unwrap(),
        embedded(LUCI[0].1).as_bytes()
    );

    let un = r.ok(&["/usr/sbin/qnetd", "uninstall"]);
    assert!(!un.contains("FAILED"), "{un}");
    assert!(!r.exists(PLUGIN), "{un}");
    for (path, _) in LUCI {
        assert!(!r.exists(path), "{path} left:\n{un}");
    }
    assert!(!r.exists("/www/luci-static/resources/view/qnetd"), "{un}");
    assert!(
        r.exists("/www/luci-static/resources/view"),
        "LuCI's own directory went"
    );
    assert!(un.contains("run /etc/init.d/rpcd reload"), "{un}");
}

#[test]
fn without_luci_only_what_the_router_can_use() {
    // rpcd without LuCI: the plugin only (`ubus call qnetd status` works without the page).
    let r = Router::with_rpcd("luci-rpcd", false);
    let out = r.ok(&["/tmp/qnetd", "install"]);
    assert!(
        out.contains("skipped the LuCI page: LuCI is not installed"),
        "{out}"
    );
    assert!(r.exists(PLUGIN));
    for (path, _) in LUCI {
        assert!(!r.exists(path), "{path} written without LuCI");
    }
    assert!(!r.read("/lib/upgrade/keep.d/qnetd").contains("luci"));
    assert!(r.read("/tmp/rc.log").contains("rpcd reload"));
    let un = r.ok(&["/usr/sbin/qnetd", "uninstall"]);
    assert!(!r.exists(PLUGIN), "{un}");
    drop(r);

    // Neither: nothing of either, and the install says why.
    let r = Router::new("luci-none", true);
    let plan = r.ok(&["/tmp/qnetd", "install", "--dry-run"]);
    assert!(
        plan.contains("skipped the rpcd plugin and the LuCI page: no rpcd here"),
        "{plan}"
    );
    let out = r.ok(&["/tmp/qnetd", "install"]);
    assert!(!out.contains("FAILED"), "{out}");
    assert!(!r.exists(PLUGIN));
    assert!(!r.exists("/usr/share/rpcd"));
    assert!(!r.read("/tmp/rc.log").contains("rpcd"));
    let un = r.ok(&["/usr/sbin/qnetd", "uninstall"]);
    assert!(!un.contains("rpcd"), "{un}");
}
