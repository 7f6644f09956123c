//! Certificate chain failures in words, for both sides of a handshake: the daemon logging a
//! node's certificate, `qnetd probe` judging the server's.

use rustls::CertificateError;

/// Whether a failed chain check means "signed by another CA", with what the signature tells
/// in words (may be empty); None for the other failures. Every CA of qnetd and of upstream's
/// corosync-qnetd is called "CN=QNet CA", so a certificate from another one finds ours by name
/// and then fails its signature: BadSignature when both CA keys are of one kind,
/// UnsupportedSignatureAlgorithmForPublicKeyContext when they differ (an upstream NSS CA is
/// RSA, ours ECDSA), UnknownIssuer when the names differ after all. A signature algorithm
/// rustls does not accept at all (SHA-1, say) is none that a CA of this qnetd signs with.
pub fn other_ca_detail(e: &CertificateError) -> Option<String> {
    match e {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => Some(String::new()),
        CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id,
            public_key_algorithm_id,
        } => Some(format!(
            ": it is signed with {}, but the CA's key is {}",
            algorithm_name(signature_algorithm_id),
            algorithm_name(public_key_algorithm_id)
        )),
        CertificateError::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id,
            ..
        } => Some(format!(
            ": it is signed with {}, which no CA of qnetd uses",
            algorithm_name(signature_algorithm_id)
        )),
        _ => None,
    }
}

/// The name of an X.509 AlgorithmIdentifier (its DER content: the OID, then the
/// parameters), for the algorithms that certificates of corosync clusters use; others by OID.
pub(crate) fn algorithm_name(id: &[u8]) -> String {
    let mut oids = Vec::new();
    let mut rest = id;
    // Each element: tag, short length, content. Only OIDs (tag 6) are read.
    while let [tag, len, tail @ ..] = rest {
        let len = usize::from(*len);
        if len > 0x7f || tail.len() < len {
            break;
        }
        if *tag == 6 {
            oids.push(oid_text(&tail[..len]));
        }
        rest = &tail[len..];
    }
    let known = |oid: &str| -> Option<&'static str> {
        Some(match oid {
            "1.2.840.113549.1.1.1" => "an RSA key",
            "1.2.840.113549.1.1.5" => "RSA with SHA-1",
            "1.2.840.113549.1.1.10" => "RSA-PSS",
            "1.2.840.113549.1.1.11" => "RSA with SHA-256",
            "1.2.840.113549.1.1.12" => "RSA with SHA-384",
            "1.2.840.113549.1.1.13" => "RSA with SHA-512",
            "1.2.840.10045.2.1" => "an ECDSA key",
            "1.2.840.10045.3.1.7" => "P-256",
            "1.3.132.0.34" => "P-384",
            "1.3.132.0.35" => "P-521",
            "1.2.840.10045.4.1" => "ECDSA with SHA-1",
            "1.2.840.10045.4.3.2" => "ECDSA with SHA-256",
            "1.2.840.10045.4.3.3" => "ECDSA with SHA-384",
            "1.2.840.10045.4.3.4" => "ECDSA with SHA-512",
            "1.3.101.112" => "Ed25519",
            _ => return None,
        })
    };
    let words: Vec<String> = oids
        .iter()
        .map(|oid| known(oid).map_or_else(|| format!("algorithm {oid}"), str::to_string))
        .collect();
    match words.as_slice() {
        [] => "an unreadable algorithm".to_string(),
        [one] => one.clone(),
        [first, more @ ..] => format!("{first} ({})", more.join(", ")),
    }
}

/// An OID's dotted text from its DER content.
fn oid_text(der: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in der {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.extend([first, value - first * 40]);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    let text: Vec<String> = arcs.iter().map(u64::to_string).collect();
    text.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_algorithms_are_named_by_oid() {
        assert_eq!(
            algorithm_name(&[6, 3, 43, 101, 113]),
            "algorithm 1.3.101.113"
        );
    }
}
