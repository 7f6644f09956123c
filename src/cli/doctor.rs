//! `qnetd doctor`: the checks that make the first `pvecm qdevice setup` work, each with a fix,
//! and the exact setup line to run on a Proxmox VE node.
//!
//! Checks are data ([`Check`]) computed from an [`Env`] of paths, port and clock, so each one
//! is testable with injected values.

pub use super::doctor_store::{check_daemon_access, check_key_modes, check_ownership, check_store};
use crate::install::links::SSH_PATH;
use crate::install::{links as install_links, openwrt};
use crate::status::ipc::DEFAULT_SOCKET;
use argh::FromArgs;
use certtool::registry::{utc_date, utc_date_time};
use certtool::CertStore;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY: i64 = 86_400;

/// check that this host is ready to be a Proxmox VE / corosync qdevice, and print the setup line
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "doctor")]
pub struct DoctorArgs {
    /// certificate store directory (default $QNETD_CERT_DIR, else /etc/corosync/qnetd/nssdb)
    #[argh(option, default = "crate::settings::default_store_dir()")]
    pub store: PathBuf,
    /// TCP port the daemon listens on (default 5403)
    #[argh(option, default = "crate::settings::DEFAULT_PORT")]
    pub port: u16,
    /// the address Proxmox VE nodes reach this host at (default: the LAN address)
    #[argh(option)]
    pub address: Option<IpAddr>,
    /// the daemon's status socket (default /var/run/corosync-qnetd/corosync-qnetd.sock)
    #[argh(option, default = "PathBuf::from(DEFAULT_SOCKET)")]
    pub socket: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Pass,
    Warn,
    Fail,
    /// Could not be checked because an earlier check failed.
    Skip,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Pass => "PASS",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
            Level::Skip => "SKIP",
        }
    }
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    /// What to do about a warning or failure.
    pub fix: Option<String>,
}

impl Check {
    pub(super) fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            level: Level::Pass,
            detail: detail.into(),
            fix: None,
        }
    }
    pub(super) fn bad(
        name: &'static str,
        level: Level,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name,
            level,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    pub(super) fn skip(name: &'static str, why: &str) -> Check {
        Check {
            name,
            level: Level::Skip,
            detail: why.to_string(),
            fix: None,
        }
    }
}

/// Everything the checks look at.
#[derive(Debug, Clone)]
pub struct Env {
    pub store: PathBuf,
    pub port: u16,
    /// Address to test-bind; None = the daemon's default wildcard.
    pub listen: Option<IpAddr>,
    pub socket: PathBuf,
    pub now: SystemTime,
    /// When this binary was built: a lower bound for a plausible clock.
    pub built: SystemTime,
    /// Where the ssh server execs its sftp-server: Dropbear's compiled-in path(s) when
    /// Dropbear is installed, else the usual OpenSSH places.
    pub sftp_servers: Vec<PathBuf>,
    /// The PATH of a non-interactive ssh session.
    pub ssh_path: Vec<PathBuf>,
    /// This program, to tell our corosync-qnetd-certutil from upstream's.
    pub this_binary: Option<PathBuf>,
    /// (name, uid, gid) the installed service runs the daemon as, when not root (OpenWrt).
    pub daemon_account: Option<(String, u32, u32)>,
}

impl Env {
    pub fn from_args(args: &DoctorArgs) -> Env {
        Env {
            store: args.store.clone(),
            port: args.port,
            listen: None,
            socket: args.socket.clone(),
            now: SystemTime::now(),
            built: build_time(),
            sftp_servers: sftp_server_candidates(),
            ssh_path: SSH_PATH.iter().map(PathBuf::from).collect(),
            this_binary: std::env::current_exe().ok(),
            daemon_account: crate::install::service::installed_daemon_account(),
        }
    }
}

/// The build time embedded by build.rs.
pub fn build_time() -> SystemTime {
    let secs: u64 = env!("QNETD_BUILD_EPOCH").parse().unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Every check, in the order they are shown.
pub fn run_checks(env: &Env) -> Vec<Check> {
    let store = CertStore::open(&env.store);
    let ca_der = store.as_ref().ok().and_then(|s| s.ca_cert_der().ok());
    vec![
        check_store(env),
        check_key_modes(env),
        check_ownership(env),
        check_daemon_access(env),
        check_expiry(env),
        check_clock(env, ca_der.as_deref()),
        check_port(env),
        check_sftp_server(env),
        check_certutil_on_path(env),
        check_daemon(env),
    ]
}

/// Days until the CA, server and cluster certificates expire.
pub fn check_expiry(env: &Env) -> Check {
    const NAME: &str = "certificate expiry";
    let Ok(store) = CertStore::open(&env.store) else {
        return Check::skip(NAME, "no certificate store");
    };
    let Ok(creds) = store.server_credentials() else {
        return Check::skip(NAME, "the store's certificates do not load");
    };
    let now = unix(env.now);
    let mut certs: Vec<(String, i64, Level)> = Vec::new();
    // qdevice tolerates an expired server certificate, but not an expired CA; and we refuse
    // expired cluster certificates.
    for (what, der, expired_level) in [
        ("CA", &creds.ca_cert_der, Level::Fail),
        ("server certificate", &creds.server_cert_der, Level::Warn),
    ] {
        match validity(der) {
            Some((_, not_after)) => certs.push((what.to_string(), not_after, expired_level)),
            None => {
                return Check::bad(
                    NAME,
                    Level::Fail,
                    format!("the {what} does not parse"),
                    "re-create the store with `qnetd cert init --force`",
                )
            }
        }
    }
    if let Ok(list) = store.list() {
        for l in list.iter().filter(|l| l.current) {
            if l.entry.kind == certtool::registry::Kind::Cluster {
                certs.push((
                    format!("cluster certificate {}", l.entry.name),
                    l.entry.not_after,
                    Level::Fail,
                ));
            }
        }
    }
    let mut level = Level::Pass;
    let mut notes = Vec::new();
    for (what, not_after, expired_level) in &certs {
        let days = (not_after - now).div_euclid(DAY);
        let until = utc_date(*not_after);
        if days < 0 {
            level = worst(level, *expired_level);
            notes.push(format!("{what} expired on {until}"));
        } else if certtool::profile::expires_soon(*not_after, now) {
            level = worst(level, Level::Warn);
            notes.push(format!("{what} expires in {days} days ({until})"));
        } else {
            notes.push(format!("{what}: {days} days left"));
        }
    }
    let detail = notes.join("; ");
    if level == Level::Pass {
        return Check::pass(NAME, detail);
    }
    Check::bad(
        NAME,
        level,
        detail,
        "for a cluster certificate, re-run `pvecm qdevice setup <address> --force` on that \
         cluster; for the CA or server certificate, `qnetd cert init --force`, then re-run the \
         setup on every cluster",
    )
}

/// The clock is not before this binary's build, nor before the CA was made: routers without
/// a real-time clock boot in the past until NTP answers, and then client certificates look
/// "not yet valid". The build time is the bound that does not depend on this device's clock
/// (a CA made while the clock was wrong is in the past too); the CA's notBefore catches a
/// clock that went backwards after setup.
pub fn check_clock(env: &Env, ca_der: Option<&[u8]>) -> Check {
    const NAME: &str = "clock";
    let now = unix(env.now);
    let built = unix(env.built);
    let ca_start = ca_der.and_then(validity).map(|(nb, _)| nb);
    // A day of slack for time zones and build machines with their own clock trouble.
    let floor_reason = if now + DAY < built {
        Some(format!("this qnetd was built on {}", utc_date(built)))
    } else {
        ca_start
            .filter(|&nb| now + DAY < nb)
            .map(|nb| format!("the CA was created on {}", utc_date(nb)))
    };
    match floor_reason {
        None => Check::pass(NAME, format!("{} UTC", utc_date_time(now))),
        Some(reason) => Check::bad(
            NAME,
            Level::Fail,
            format!("the clock says {} UTC, but {reason}", utc_date_time(now)),
            "set the time: enable NTP (`uci set system.ntp.enabled=1; uci commit system; \
             /etc/init.d/sysntpd restart`) or `date -s 'YYYY-MM-DD hh:mm'`; routers without a \
             real-time clock boot in the past until NTP answers",
        ),
    }
}

/// The TCP port can be bound, or the running qnetd holds it.
pub fn check_port(env: &Env) -> Check {
    const NAME: &str = "port";
    let port = env.port;
    let addrs: Vec<SocketAddr> = match env.listen {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => vec![
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        ],
    };
    let mut last_err = None;
    for addr in &addrs {
        match TcpListener::bind(addr) {
            Ok(_) => return Check::pass(NAME, format!("TCP port {port} is free")),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                last_err = Some(e);
                break;
            }
            // No IPv6 on this host: try IPv4.
            Err(e) => last_err = Some(e),
        }
    }
    let err = last_err.map_or_else(|| "unknown error".to_string(), |e| e.to_string());
    if daemon_status(&env.socket).is_some() {
        return Check::pass(
            NAME,
            format!("TCP port {port} is in use by the running qnetd (its status socket answers)"),
        );
    }
    Check::bad(
        NAME,
        Level::Fail,
        format!("cannot listen on TCP port {port}: {err}"),
        format!(
            "find the program holding it with `netstat -lntp | grep :{port}` and stop it, or \
             choose another port (UCI: `uci set qnetd.main.port=N; uci commit qnetd`)"
        ),
    )
}

/// The daemon's `status` text (upstream's format), if something answers on `socket`.
fn daemon_status(socket: &Path) -> Option<String> {
    use crate::status_client as client;
    let line = client::request_line(client::Operation::Status, false, None)?;
    match client::exchange(socket, &line).map(|r| client::parse_reply(&r)) {
        Ok(client::Reply::Ok(text)) => Some(String::from_utf8_lossy(&text).into_owned()),
        _ => None,
    }
}

/// What the running daemon's TLS line says a LAN host can do (docs/security.md): None when
/// TLS is required with client certificates, the only setting that keeps a host without a
/// cluster certificate out.
fn tls_weakness(status: &str) -> Option<&'static str> {
    let tls = status.lines().find_map(|l| l.strip_prefix("TLS:"))?.trim();
    if tls.starts_with("Unsupported") {
        Some("TLS is off: any host on the LAN can join any cluster as any node")
    } else if tls.starts_with("Supported") {
        Some("TLS is on but not required: a LAN host can skip it and join any cluster as any node")
    } else if !tls.contains("client certificate required") {
        Some(
            "client certificates are not required: a LAN host with no cluster certificate can join",
        )
    } else {
        None
    }
}

/// Dropbear execs a fixed path for the `sftp` subsystem (OpenWrt's build: /usr/libexec, Debian's:
/// /usr/lib); with OpenSSH's sshd the usual places.
fn sftp_server_candidates() -> Vec<PathBuf> {
    if Path::new(openwrt::DROPBEAR).exists() {
        let paths = openwrt::dropbear_sftp_paths(Path::new(openwrt::DROPBEAR));
        if !paths.is_empty() {
            return paths;
        }
        return vec![PathBuf::from(openwrt::SFTP_SERVER)];
    }
    [
        openwrt::SFTP_SERVER,
        "/usr/lib/sftp-server",
        "/usr/lib/openssh/sftp-server",
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}

/// OpenSSH ≥ 9 `scp` (Proxmox VE 8 and later) speaks SFTP, so the router needs an sftp-server
/// where its ssh server looks; qnetd carries one (`qnetd install` links it).
pub fn check_sftp_server(env: &Env) -> Check {
    const NAME: &str = "sftp-server";
    let Some(found) = env.sftp_servers.iter().find(|p| is_executable(p)) else {
        let where_ = env
            .sftp_servers
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Check::bad(
            NAME,
            Level::Fail,
            format!(
                "{where_} does not resolve to a program; pvecm copies certificates with scp, \
                 which uses SFTP since OpenSSH 9 (Proxmox VE 8)"
            ),
            format!(
                "`qnetd install` links qnetd's built-in sftp-server there (or `qnetd install \
                 --dir` plus `ln -s /usr/sbin/qnetd {}`)",
                env.sftp_servers
                    .first()
                    .map_or(openwrt::SFTP_SERVER.into(), |p| p.display().to_string())
            ),
        );
    };
    let builtin = env
        .this_binary
        .as_deref()
        .is_some_and(|me| install_links::is_same_file(found, me));
    let detail = if builtin {
        format!("{} (qnetd's built-in sftp-server)", found.display())
    } else {
        found.display().to_string()
    };
    Check::pass(NAME, detail)
}

/// `pvecm` runs `corosync-qnetd-certutil` through ssh, whose PATH is short on OpenWrt.
pub fn check_certutil_on_path(env: &Env) -> Check {
    const NAME: &str = "corosync-qnetd-certutil";
    let found = env
        .ssh_path
        .iter()
        .map(|d| d.join("corosync-qnetd-certutil"))
        .find(|p| is_executable(p));
    let path_text = env
        .ssh_path
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let Some(found) = found else {
        return Check::bad(
            NAME,
            Level::Fail,
            format!("not found on the ssh PATH ({path_text})"),
            "`qnetd install` links it (and corosync-qnetd, corosync-qnetd-tool) into /usr/sbin",
        );
    };
    let ours = env
        .this_binary
        .as_ref()
        .is_some_and(|me| same_file(me, &found));
    if ours {
        Check::pass(NAME, format!("{} runs this qnetd", found.display()))
    } else {
        // Upstream's script needs NSS certutil, bash and openssl, which OpenWrt lacks.
        let fix = if found.parent() == env.ssh_path.first().map(PathBuf::as_path) {
            "`qnetd install --force` replaces it with this qnetd".to_string()
        } else {
            format!(
                "`qnetd install` links this qnetd into {}, which comes first on the PATH",
                env.ssh_path
                    .first()
                    .map_or("/usr/sbin".into(), |p| p.display().to_string())
            )
        };
        Check::bad(
            NAME,
            Level::Warn,
            format!("{} is not this qnetd", found.display()),
            fix,
        )
    }
}

/// The daemon answers on its status socket. Only a warning: `pvecm qdevice setup` does not
/// need it, but the qdevice on the nodes will.
pub fn check_daemon(env: &Env) -> Check {
    const NAME: &str = "daemon";
    if let Some(status) = daemon_status(&env.socket) {
        match tls_weakness(&status) {
            None => Check::pass(NAME, format!("qnetd answers on {}", env.socket.display())),
            Some(weakness) => Check::bad(
                NAME,
                Level::Warn,
                format!("qnetd answers on {}, but {weakness}", env.socket.display()),
                "require TLS and client certificates (UCI: `uci set qnetd.main.tls=required; \
                 uci set qnetd.main.client_cert_required=1; uci commit qnetd`; \
                 elsewhere: `qnetd run --tls required --client-cert-required on`)",
            ),
        }
    } else {
        Check::bad(
            NAME,
            Level::Warn,
            format!("nothing answers on {}", env.socket.display()),
            "`/etc/init.d/qnetd enable && /etc/init.d/qnetd start` (elsewhere: `qnetd run`)",
        )
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn worst(a: Level, b: Level) -> Level {
    let rank = |l: Level| match l {
        Level::Pass | Level::Skip => 0,
        Level::Warn => 1,
        Level::Fail => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// notBefore and notAfter as Unix seconds.
fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let cert = certtool::certinfo::summary(der).ok()?;
    Some((cert.not_before, cert.not_after))
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The address Proxmox VE nodes should use: `--address`, else OpenWrt's LAN address, else the
/// source address of the default route.
pub fn guess_address() -> Option<IpAddr> {
    if let Ok(out) = std::process::Command::new("uci")
        .args(["-q", "get", "network.lan.ipaddr"])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        // `192.168.1.1` or, on newer OpenWrt, `192.168.1.1/24` (possibly a list).
        let first = text.split_whitespace().next().unwrap_or("");
        if let Ok(ip) = first.split('/').next().unwrap_or("").parse() {
            return Some(ip);
        }
    }
    // Connecting a UDP socket sends nothing; it only picks the route's source address.
    let sock = UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// The line to run on one Proxmox VE node of the cluster.
pub fn setup_line(address: Option<IpAddr>, port: u16) -> String {
    let addr = address.map_or_else(|| "<address-of-this-host>".to_string(), |a| a.to_string());
    let mut line = format!("pvecm qdevice setup {addr}");
    if port != crate::settings::DEFAULT_PORT {
        line.push_str(&format!(
            "\n  (pvecm always uses port 5403: afterwards add `port: {port}` to quorum.device.net \
             in /etc/pve/corosync.conf)"
        ));
    }
    line
}

#[inline(never)] // see cli::main
pub fn main(args: DoctorArgs) -> ExitCode {
    let env = Env::from_args(&args);
    let checks = run_checks(&env);
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &checks {
        outln!("{}  {:<width$}  {}", c.level.label(), c.name, c.detail);
        if let Some(fix) = &c.fix {
            outln!("      {:<width$}  fix: {fix}", "");
        }
    }
    let failed = checks.iter().any(|c| c.level == Level::Fail);
    let address = args.address.or_else(guess_address);
    outln!();
    if failed {
        outln!("Fix the failures above, then on one Proxmox VE node of the cluster run:");
    } else {
        outln!("Ready. On one Proxmox VE node of the cluster run:");
    }
    outln!("  {}", setup_line(address, args.port));
    if address.is_none() {
        outln!("  (could not tell this host's LAN address; pass --address to print it)");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date_time(1_795_305_899), "2026-11-22 00:04");
        assert_eq!(utc_date(-DAY), "1969-12-31");
    }

    #[test]
    fn setup_lines() {
        let ip: IpAddr = "192.168.1.1".parse().unwrap();
        assert_eq!(
            setup_line(Some(ip), 5403),
            "pvecm qdevice setup 192.168.1.1"
        );
        assert!(setup_line(Some(ip), 15403).contains("add `port: 15403`"));
        assert!(setup_line(None, 5403).ends_with("<address-of-this-host>"));
    }
}
