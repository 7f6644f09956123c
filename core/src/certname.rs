//! The client certificate's names and NSS's rule for matching them against a cluster name
//! (`CERT_VerifyCertName`), shared by the daemon's TLS gate and `qnetd probe`. Pure: the
//! daemon reads the names from the certificate's DER (`qnetd::certname::peer_identity`).

use std::fmt;

use crate::escape::{escape, escape_str};

/// Names from the client's TLS certificate, extracted by the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerIdentity {
    /// subjectAltName dNSName entries.
    pub dns_names: Vec<String>,
    /// Subject commonName values, in certificate order.
    pub common_names: Vec<String>,
}

/// Why the TLS gate refuses a client's certificate. Its words (`Display`) say what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRefusal {
    /// Certificates are required and the client sent none.
    NoCertificate,
    /// The cluster name has a NUL byte, which no certificate can name.
    NulInName(Vec<u8>),
    /// The certificate's subjectAltName DNS names (which NSS matches, and only them) do
    /// not name the cluster.
    DnsNames {
        names: Vec<String>,
        cluster: Vec<u8>,
    },
    /// The certificate's (last) CN does not name the cluster.
    CommonName { cn: String, cluster: Vec<u8> },
    /// The certificate has neither.
    NoNames { cluster: Vec<u8> },
}

impl fmt::Display for CertRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fix = |f: &mut fmt::Formatter<'_>, shown: &str| {
            write!(
                f,
                "; disconnecting (issue the cluster certificate for CN '{shown}')"
            )
        };
        match self {
            CertRefusal::NoCertificate => f.write_str(
                "client sent no certificate, but client certificates are required \
                 (client_cert_required on); disconnecting",
            ),
            CertRefusal::NulInName(name) => write!(
                f,
                "cluster name '{}' contains a NUL byte, which no certificate can name; \
                 disconnecting",
                String::from_utf8_lossy(name).escape_debug()
            ),
            CertRefusal::DnsNames { names, cluster } => {
                let shown = escape(cluster);
                write!(
                    f,
                    "client certificate subjectAltName DNS names {} do not match cluster \
                     name '{shown}'",
                    quoted_list(names)
                )?;
                fix(f, &shown)
            }
            CertRefusal::CommonName { cn, cluster } => {
                let shown = escape(cluster);
                write!(
                    f,
                    "client certificate CN '{}' does not match cluster name '{shown}'",
                    escape_str(cn)
                )?;
                fix(f, &shown)
            }
            CertRefusal::NoNames { cluster } => write!(
                f,
                "client certificate has no CN or DNS name to match cluster name '{}'; \
                 disconnecting",
                escape(cluster)
            ),
        }
    }
}

/// The TLS gate's name check: does the client's certificate name its cluster? On failure,
/// a reason a user can act on.
///
/// NSS's match alone is not enough: it reads the name as a C string, so "pve\0x" would pass
/// for a "pve" certificate while clusters are keyed by all their bytes. A name with a NUL is
/// refused, so the name NSS matched is byte for byte the cluster's key.
pub fn verify_peer(
    peer: Option<&PeerIdentity>,
    cluster_name: Option<&[u8]>,
) -> Result<(), CertRefusal> {
    let Some(peer) = peer else {
        return Err(CertRefusal::NoCertificate);
    };
    let name = cluster_name.unwrap_or_default();
    if name.contains(&0) {
        return Err(CertRefusal::NulInName(name.to_vec()));
    }
    if cert_name_matches(peer, name) {
        return Ok(());
    }
    let cluster = name.to_vec();
    Err(if !peer.dns_names.is_empty() && !is_ip_address(name) {
        CertRefusal::DnsNames {
            names: peer.dns_names.clone(),
            cluster,
        }
    } else if let Some(cn) = peer.common_names.last() {
        CertRefusal::CommonName {
            cn: cn.clone(),
            cluster,
        }
    } else {
        CertRefusal::NoNames { cluster }
    })
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{}'", escape_str(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// NSS `CERT_VerifyCertName(cert, cluster_name)`: the SAN dNSNames if the certificate has
/// any (for a non-IP name), otherwise the last subject CN; ASCII case-insensitive; one `*`
/// wildcard at the end of the first label of a name with at least three labels.
///
/// Not modelled (we only get dNSNames and CNs): SAN iPAddress entries, and NSS's
/// RFC 1485 quoting of dNSNames that contain special characters.
pub fn cert_name_matches(peer: &PeerIdentity, cluster_name: &[u8]) -> bool {
    // NSS sees a C string: the name ends at the first NUL; an empty name never matches.
    let host = cluster_name.split(|&b| b == 0).next().unwrap_or_default();
    if host.is_empty() {
        return false;
    }
    if is_ip_address(host) {
        return peer
            .common_names
            .last()
            .is_some_and(|cn| cn.as_bytes().eq_ignore_ascii_case(host));
    }
    if !peer.dns_names.is_empty() {
        return peer
            .dns_names
            .iter()
            .any(|pattern| host_name_matches(pattern.as_bytes(), host));
    }
    peer.common_names
        .last()
        .is_some_and(|cn| host_name_matches(cn.as_bytes(), host))
}

fn is_ip_address(name: &[u8]) -> bool {
    std::str::from_utf8(name).is_ok_and(|s| s.parse::<std::net::IpAddr>().is_ok())
}

/// NSS `cert_TestHostName` (RFC 6125 mode): wildcard pattern or whole-name comparison.
fn host_name_matches(pattern: &[u8], host: &[u8]) -> bool {
    // A C string as well.
    let pattern = pattern.split(|&b| b == 0).next().unwrap_or_default();
    if wildcard_matches(pattern, host) {
        return true;
    }
    pattern.eq_ignore_ascii_case(host)
}

fn wildcard_matches(cn: &[u8], hn: &[u8]) -> bool {
    let find = |s: &[u8], from: usize, b: u8| {
        s.get(from..)
            .and_then(|t| t.iter().position(|&c| c == b))
            .map(|p| p + from)
    };
    let (Some(wildcard), Some(first_dot), Some(hn_dot)) =
        (find(cn, 0, b'*'), find(cn, 0, b'.'), find(hn, 0, b'.'))
    else {
        return false;
    };
    let Some(second_dot) = find(cn, first_dot + 1, b'.') else {
        return false;
    };
    let prefix_matches =
        hn.len() >= wildcard && cn[..wildcard].eq_ignore_ascii_case(&hn[..wildcard]);
    let ace = hn.len() >= 4 && hn[..4].eq_ignore_ascii_case(b"xn--");
    second_dot + 1 < cn.len()                       // a non-empty third label
        && first_dot == wildcard + 1                 // `*` ends the first label
        && second_dot - first_dot > 1                // the second label is not empty
        && cn.iter().rposition(|&c| c == b'*') == Some(wildcard) // only one `*`
        && prefix_matches
        && cn[first_dot..].eq_ignore_ascii_case(&hn[hn_dot..])
        && (!ace || wildcard == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cn(name: &str) -> PeerIdentity {
        PeerIdentity {
            dns_names: vec![],
            common_names: vec![name.to_string()],
        }
    }

    #[test]
    fn cn_matches_case_insensitively() {
        assert!(cert_name_matches(&cn("MyCluster"), b"mycluster"));
        assert!(!cert_name_matches(&cn("mycluster2"), b"mycluster"));
        assert!(!cert_name_matches(&cn("mycluster"), b""));
    }

    #[test]
    fn last_cn_counts() {
        let peer = PeerIdentity {
            dns_names: vec![],
            common_names: vec!["other".into(), "pve".into()],
        };
        assert!(cert_name_matches(&peer, b"pve"));
        assert!(!cert_name_matches(&peer, b"other"));
    }

    #[test]
    fn san_dns_names_replace_the_cn() {
        let peer = PeerIdentity {
            dns_names: vec!["a.example".into(), "b.example".into()],
            common_names: vec!["pve".into()],
        };
        assert!(cert_name_matches(&peer, b"B.example"));
        assert!(!cert_name_matches(&peer, b"pve"));
    }

    #[test]
    fn wildcards_follow_nss_rules() {
        assert!(cert_name_matches(&cn("*.example.org"), b"pve.example.org"));
        assert!(cert_name_matches(
            &cn("pve*.example.org"),
            b"pve1.example.org"
        ));
        assert!(!cert_name_matches(&cn("*.org"), b"example.org"));
        assert!(!cert_name_matches(&cn("*.example.org"), b"a.b.example.org"));
        assert!(!cert_name_matches(
            &cn("a*b.example.org"),
            b"axb.example.org"
        ));
        assert!(!cert_name_matches(
            &cn("*.*.example.org"),
            b"a.b.example.org"
        ));
        assert!(!cert_name_matches(
            &cn("x*.example.org"),
            b"xn--a.example.org"
        ));
        assert!(cert_name_matches(
            &cn("*.example.org"),
            b"xn--a.example.org"
        ));
        // A name without a dot never matches a wildcard; a literal `*` still compares whole.
        assert!(!cert_name_matches(&cn("*"), b"pve"));
        assert!(cert_name_matches(&cn("*"), b"*"));
    }

    #[test]
    fn name_ends_at_nul() {
        assert!(cert_name_matches(&cn("pve"), b"pve\0junk"));
    }

    #[test]
    fn reasons_name_the_mismatch() {
        let err = verify_peer(Some(&cn("x")), Some(b"y")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "client certificate CN 'x' does not match cluster name 'y'; disconnecting \
             (issue the cluster certificate for CN 'y')"
        );
        let err = verify_peer(None, Some(b"y")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "client sent no certificate, but client certificates are required \
             (client_cert_required on); disconnecting"
        );
        let san = PeerIdentity {
            dns_names: vec!["a".into(), "b\n".into()],
            common_names: vec!["y".into()],
        };
        assert_eq!(
            verify_peer(Some(&san), Some(b"y")).unwrap_err().to_string(),
            "client certificate subjectAltName DNS names 'a', 'b\\x0a' do not match cluster \
             name 'y'; disconnecting (issue the cluster certificate for CN 'y')"
        );
        let none = PeerIdentity::default();
        assert_eq!(
            verify_peer(Some(&none), Some(b"y"))
                .unwrap_err()
                .to_string(),
            "client certificate has no CN or DNS name to match cluster name 'y'; disconnecting"
        );
        assert!(verify_peer(Some(&cn("Y")), Some(b"y")).is_ok());
    }

    #[test]
    fn a_name_with_nul_is_never_verified() {
        // NSS alone would match it (it stops at the NUL); the cluster key is all the bytes.
        assert!(cert_name_matches(&cn("pve"), b"pve\0x"));
        let err = verify_peer(Some(&cn("pve")), Some(b"pve\0x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cluster name 'pve\\0x' contains a NUL byte, which no certificate can name; \
             disconnecting"
        );
    }
}
