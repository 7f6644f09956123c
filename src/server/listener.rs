//! The TCP listening socket: dual-stack `[::]` by default (IPv4 peers arrive as v4-mapped
//! addresses, which we show unmapped), `-4` / `-6`, or one `-l` address; SO_REUSEADDR and
//! upstream's `listen_backlog`.

use crate::settings::{AddressFamily, Config};
use rustix::net::{self as rnet, sockopt};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::{fmt, io};

/// Why the qnetd port or the HTTP port could not be listened on; Display is a sentence for
/// the user.
#[derive(Debug)]
pub enum BindError {
    /// The qnetd port: bind or listen on `addr` failed.
    Listen { addr: SocketAddr, source: io::Error },
    /// `--http`: bind or listen on `addr` failed.
    Http { addr: SocketAddr, source: io::Error },
    /// The socket could not be registered with the reactor (`addr`: the HTTP one's).
    Watch {
        addr: Option<SocketAddr>,
        source: io::Error,
    },
    /// `-l HOST` does not resolve.
    Resolve { host: String, source: io::Error },
    /// `-l HOST` has no address of the family `-4`/`-6` asks for.
    NoAddressOfFamily { host: String },
}

impl BindError {
    /// The address is taken by another socket.
    pub fn is_addr_in_use(&self) -> bool {
        match self {
            BindError::Listen { source, .. } | BindError::Http { source, .. } => {
                source.kind() == io::ErrorKind::AddrInUse
            }
            _ => false,
        }
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            BindError::Http { addr, source } => {
                write!(f, "cannot listen for HTTP on {addr} (--http): {source}")
            }
            BindError::Watch {
                addr: Some(addr),
                source,
            } => write!(f, "cannot watch the HTTP socket {addr}: {source}"),
            BindError::Watch { addr: None, source } => {
                write!(f, "cannot watch the listening socket: {source}")
            }
            BindError::Resolve { host, source } => {
                write!(f, "cannot resolve listen address '{host}': {source}")
            }
            BindError::NoAddressOfFamily { host } => {
                write!(
                    f,
                    "listen address '{host}' has no address of the requested family"
                )
            }
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BindError::Listen { source, .. }
            | BindError::Http { source, .. }
            | BindError::Watch { source, .. }
            | BindError::Resolve { source, .. } => Some(source),
            BindError::NoAddressOfFamily { .. } => None,
        }
    }
}

/// Bind the listener the configuration asks for.
pub fn bind(cfg: &Config) -> Result<TcpListener, BindError> {
    let backlog = i32::try_from(cfg.settings.listen_backlog).unwrap_or(i32::MAX);
    let port = cfg.port;
    match &cfg.listen_addr {
        None => bind_wildcard(cfg.family, port, backlog),
        Some(host) => {
            let candidates = resolve(host, port, cfg.family)?;
            let mut last_err = None;
            for addr in candidates {
                // `-l ::` without -6 stays dual-stack, like the default.
                let v6only = cfg.family == AddressFamily::V6;
                match bind_one(addr, backlog, v6only) {
                    Ok(l) => return Ok(l),
                    Err(source) => last_err = Some(BindError::Listen { addr, source }),
                }
            }
            Err(last_err.unwrap_or_else(|| BindError::NoAddressOfFamily { host: host.clone() }))
        }
    }
}

fn bind_wildcard(family: AddressFamily, port: u16, backlog: i32) -> Result<TcpListener, BindError> {
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let describe = |addr: SocketAddr, source: io::Error| BindError::Listen { addr, source };
    match family {
        AddressFamily::V4 => bind_one(v4, backlog, false).map_err(|e| describe(v4, e)),
        // Upstream's man page: -6 forces IPv6.
        AddressFamily::V6 => bind_one(v6, backlog, true).map_err(|e| describe(v6, e)),
        AddressFamily::Any => match bind_one(v6, backlog, false) {
            Ok(l) => Ok(l),
            // A port in use or a privilege problem would hit IPv4 just the same: report it.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                ) =>
            {
                Err(describe(v6, e))
            }
            Err(e) => {
                log::info!("IPv6 is not available ({e}); listening on IPv4 only");
                bind_one(v4, backlog, false).map_err(|e| describe(v4, e))
            }
        },
    }
}

fn resolve(host: &str, port: u16, family: AddressFamily) -> Result<Vec<SocketAddr>, BindError> {
    let all: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map_err(|source| BindError::Resolve {
                host: host.to_string(),
                source,
            })?
            .collect(),
    };
    Ok(all
        .into_iter()
        .filter(|a| match family {
            AddressFamily::Any => true,
            AddressFamily::V4 => a.is_ipv4(),
            AddressFamily::V6 => a.is_ipv6(),
        })
        .collect())
}

/// One listening socket. IPV6_V6ONLY is always set explicitly (`v6only`; only meaningful for
/// the IPv6 wildcard), so the `net.ipv6.bindv6only` sysctl does not matter.
fn bind_one(addr: SocketAddr, backlog: i32, v6only: bool) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv6() {
        rnet::AddressFamily::INET6
    } else {
        rnet::AddressFamily::INET
    };
    let fd = rnet::socket_with(
        domain,
        rnet::SocketType::STREAM,
        rnet::SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&fd, v6only)?;
    }
    rnet::bind(&fd, &addr)?;
    rnet::listen(&fd, backlog)?;
    Ok(TcpListener::from(fd))
}

/// What part of the address space a listening socket takes, for the collision check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    AllIpv4,
    AllIpv6,
    One(IpAddr),
}

/// The addresses a wildcard or a single IP takes; an IPv6 wildcard that is not v6-only takes
/// the IPv4 ones too (IPv4-mapped).
fn takes(ip: IpAddr, v6only: bool) -> Vec<Takes> {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => vec![Takes::AllIpv4],
        IpAddr::V6(v6) if v6.is_unspecified() && v6only => vec![Takes::AllIpv6],
        IpAddr::V6(v6) if v6.is_unspecified() => vec![Takes::AllIpv6, Takes::AllIpv4],
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => vec![Takes::One(IpAddr::V4(v4))],
            None => vec![Takes::One(ip)],
        },
        IpAddr::V4(_) => vec![Takes::One(ip)],
    }
}

fn overlap(a: Takes, b: Takes) -> bool {
    match (a, b) {
        (Takes::AllIpv4, Takes::AllIpv4) | (Takes::AllIpv6, Takes::AllIpv6) => true,
        (Takes::AllIpv4, Takes::One(ip)) | (Takes::One(ip), Takes::AllIpv4) => ip.is_ipv4(),
        (Takes::AllIpv6, Takes::One(ip)) | (Takes::One(ip), Takes::AllIpv6) => ip.is_ipv6(),
        (Takes::One(x), Takes::One(y)) => x == y,
        _ => false,
    }
}

/// Whether the HTTP responder's `http` address would take the qnetd listener's port on an
/// address the listener has (the same address, or a wildcard covering the other), in words
/// for the user; checked with the configuration, before anything is bound, since the bind
/// itself would only say "Address already in use". A listen address given as a host name
/// is not resolved here (the bind's error names both then).
pub fn http_collision(cfg: &Config, http: SocketAddr) -> Option<String> {
    if http.port() != cfg.port {
        return None;
    }
    let qnetd_ips: Vec<Takes> = match &cfg.listen_addr {
        None => match cfg.family {
            AddressFamily::V4 => vec![Takes::AllIpv4],
            AddressFamily::V6 => vec![Takes::AllIpv6],
            AddressFamily::Any => vec![Takes::AllIpv6, Takes::AllIpv4],
        },
        Some(host) => takes(host.parse().ok()?, cfg.family == AddressFamily::V6),
    };
    // std binds [::] as the system's default (net.ipv6.bindv6only, 0: dual-stack).
    let http_ips = takes(http.ip(), false);
    let collides = qnetd_ips
        .iter()
        .any(|q| http_ips.iter().any(|h| overlap(*q, *h)));
    let qnetd = match &cfg.listen_addr {
        Some(host) => format!("-l {host} -p {}", cfg.port),
        None => format!("all addresses, port {}", cfg.port),
    };
    collides.then(|| {
        format!(
            "the HTTP address {http} (--http, http_listen) is on the qnetd port ({qnetd}): \
             give the HTTP responder a port of its own, e.g. {}",
            SocketAddr::new(http.ip(), cfg.port.wrapping_add(1).max(1))
        )
    })
}

/// A peer address as the status tool and the logs show it: `ip:port`, IPv4 peers of the
/// dual-stack socket unmapped (`10.0.0.5:40312`, not `::ffff:10.0.0.5:40312`).
pub fn peer_string(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", a.port()),
            None => format!("{}:{}", a.ip(), a.port()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_on_the_qnetd_port_collides_where_the_addresses_overlap() {
        let cfg = |listen: Option<&str>, family: AddressFamily| Config {
            listen_addr: listen.map(str::to_string),
            family,
            port: 5403,
            ..Config::default()
        };
        let http = |s: &str| s.parse::<SocketAddr>().unwrap();
        let any = cfg(None, AddressFamily::Any);
        for h in [
            "127.0.0.1:5403",
            "0.0.0.0:5403",
            "[::]:5403",
            "[fd00::1]:5403",
        ] {
            let words = http_collision(&any, http(h)).unwrap();
            assert!(
                words.contains("is on the qnetd port (all addresses, port 5403)"),
                "{words}"
            );
        }
        assert_eq!(http_collision(&any, http("127.0.0.1:5404")), None);
        let v4 = cfg(None, AddressFamily::V4);
        assert!(http_collision(&v4, http("192.168.1.1:5403")).is_some());
        assert!(http_collision(&v4, http("[::1]:5403")).is_none());
        let v6 = cfg(None, AddressFamily::V6);
        assert!(http_collision(&v6, http("[::1]:5403")).is_some());
        assert!(http_collision(&v6, http("10.0.0.1:5403")).is_none());
        let one = cfg(Some("192.168.1.1"), AddressFamily::Any);
        assert!(http_collision(&one, http("192.168.1.1:5403")).is_some());
        assert!(http_collision(&one, http("[::ffff:192.168.1.1]:5403")).is_some());
        assert!(http_collision(&one, http("0.0.0.0:5403")).is_some());
        assert!(http_collision(&one, http("[::]:5403")).is_some());
        assert!(http_collision(&one, http("192.168.1.2:5403")).is_none());
        assert!(http_collision(&one, http("[::1]:5403")).is_none());
        let words = http_collision(&one, http("0.0.0.0:5403")).unwrap();
        assert!(
            words.contains("(-l 192.168.1.1 -p 5403)") && words.ends_with("e.g. 0.0.0.0:5404"),
            "{words}"
        );
        // `-l ::` without -6 is dual-stack; with -6 it leaves IPv4 alone.
        let dual = cfg(Some("::"), AddressFamily::Any);
        assert!(http_collision(&dual, http("10.0.0.1:5403")).is_some());
        let v6only = cfg(Some("::"), AddressFamily::V6);
        assert!(http_collision(&v6only, http("10.0.0.1:5403")).is_none());
        // A host name is not resolved here.
        assert!(http_collision(
            &cfg(Some("router.lan"), AddressFamily::Any),
            http("0.0.0.0:5403")
        )
        .is_none());
    }

    #[test]
    fn mapped_ipv4_is_shown_unmapped() {
        let a: SocketAddr = "[::ffff:10.0.0.5]:40312".parse().unwrap();
        assert_eq!(peer_string(a), "10.0.0.5:40312");
        let b: SocketAddr = "[2001:db8::1]:5403".parse().unwrap();
        assert_eq!(peer_string(b), "2001:db8::1:5403");
        let c: SocketAddr = "127.0.0.1:7".parse().unwrap();
        assert_eq!(peer_string(c), "127.0.0.1:7");
    }

    #[test]
    fn dual_stack_wildcard_accepts_ipv4() {
        let cfg = Config {
            port: 0,
            ..Config::default()
        };
        let Ok(l) = bind(&cfg) else { return }; // no IPv6 and no IPv4 at all: nothing to test
        let port = l.local_addr().unwrap().port();
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_s, peer) = l.accept().unwrap();
        assert!(peer_string(peer).starts_with("127.0.0.1:"));
    }

    #[test]
    fn ipv6_only_refuses_ipv4() {
        let cfg = Config {
            port: 0,
            family: AddressFamily::V6,
            ..Config::default()
        };
        let Ok(l) = bind(&cfg) else { return }; // host without IPv6
        let port = l.local_addr().unwrap().port();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn explicit_address_and_family_filter() {
        let mut cfg = Config {
            port: 0,
            listen_addr: Some("127.0.0.1".into()),
            ..Config::default()
        };
        assert!(bind(&cfg).unwrap().local_addr().unwrap().is_ipv4());
        cfg.family = AddressFamily::V6;
        let e = bind(&cfg).unwrap_err();
        assert!(
            matches!(&e, BindError::NoAddressOfFamily { host } if host == "127.0.0.1"),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "listen address '127.0.0.1' has no address of the requested family"
        );
    }
}
