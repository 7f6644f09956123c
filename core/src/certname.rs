//! The client certificate's names and NSS's rule for matching them against a cluster name
//! (`CERT_VerifyCertName`), shared by the daemon's TLS gate and `qnetd probe`. Pure: the
//! daemon reads the names from the certificate's DER (`qnetd::certname::peer_identity`).

/// Names from the client's TLS certificate, extracted by the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerIdentity {
    /// subjectAltName dNSName entries.
    pub dns_names: Vec<String>,
    /// Subject commonName values, in certificate order.
    pub common_names: Vec<String>,
}

/// The TLS gate's name check: does the client's certificate name its cluster? On failure,
/// a reason a user can act on.
///
/// NSS's match alone is not enough: it reads the name as a C string, so "pve\0x" would pass
/// for a "pve" certificate while clusters are keyed by all their bytes. A name with a NUL is
/// refused, so the name NSS matched is byte for byte the cluster's key.
pub fn verify_peer(peer: Option<&PeerIdentity>, cluster_name: Option<&[u8]>) -> Result<(), String> {
    let Some(peer) = peer else {
        return Err(
            "client sent no certificate, but client certificates are required \
                    (client_cert_required on); disconnecting"
                .to_string(),
        );
    };
    let name = cluster_name.unwrap_or_default();
    if name.contains(&0) {
        return Err(format!(
            "cluster name '{}' contains a NUL byte, which no certificate can name; disconnecting",
            String::from_utf8_lossy(name).escape_debug()
        ));
    }
    if cert_name_matches(peer, name) {
        return Ok(());
    }
    let shown = crate::escape::escape(name);
    let reason = if !peer.dns_names.is_empty() && !is_ip_address(name) {
        format!(
            "client certificate subjectAltName DNS names {} do not match cluster name '{shown}'; \
             disconnecting (issue the cluster certificate for CN '{shown}')",
            quoted_list(&peer.dns_names)
        )
    } else if let Some(cn) = peer.common_names.last() {
        format!(
            "client certificate CN '{}' does not match cluster name '{shown}'; disconnecting \
             (issue the cluster certificate for CN '{shown}')",
            crate::escape::escape_str(cn)
        )
    } else {
        format!(
            "client certificate has no CN or DNS name to match cluster name '{shown}'; \
             disconnecting"
        )
    };
    Err(reason)
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{}'", crate::escape::escape_str(n)))
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
        assert!(
            err.contains("CN 'x' does not match cluster name 'y'"),
            "{err}"
        );
        let err = verify_peer(None, Some(b"y")).unwrap_err();
        assert!(err.contains("no certificate"), "{err}");
        assert!(verify_peer(Some(&cn("Y")), Some(b"y")).is_ok());
    }

    #[test]
    fn a_name_with_nul_is_never_verified() {
        // NSS alone would match it (it stops at the NUL); the cluster key is all the bytes.
        assert!(cert_name_matches(&cn("pve"), b"pve\0x"));
        let err = verify_peer(Some(&cn("pve")), Some(b"pve\0x")).unwrap_err();
        assert!(err.contains("NUL"), "{err}");
    }
}
