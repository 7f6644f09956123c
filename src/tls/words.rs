//! Certificate chain failures in words, for both sides of a handshake: the daemon logging a
//! node's certificate, `qnetd probe` judging the server's.

use rustls::CertificateError;
use webpki::Error as Pki;

/// Why the verifier refused a certificate, in words: every variant of rustls'
/// [`CertificateError`] and of the webpki errors it wraps in `Other`, by name. Both enums are
/// `non_exhaustive`; a variant added by a later rustls falls to its Display text, and
/// `every_verifier_error_has_words` lists the variants of the versions we build with.
pub fn certificate_refusal(e: &CertificateError) -> String {
    use CertificateError as C;
    match e {
        C::BadEncoding => "it is not a well-formed X.509 certificate".into(),
        C::Expired | C::ExpiredContext { .. } => "it has expired; issue a new one".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "it is not valid yet (check the clocks)".into()
        }
        C::Revoked => "it has been revoked (`qnetd cert list` shows it)".into(),
        C::UnhandledCriticalExtension => {
            "it has a critical extension the verifier does not know".into()
        }
        C::UnknownIssuer => "it is not signed by a CA we trust".into(),
        C::UnknownRevocationStatus => "its revocation status is unknown".into(),
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            "the revocation list has expired".into()
        }
        C::BadSignature => "its signature does not verify with the issuer's key".into(),
        #[allow(deprecated)]
        C::UnsupportedSignatureAlgorithm => {
            "it is signed with an algorithm the verifier does not support".into()
        }
        C::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id,
            ..
        } => format!(
            "it is signed with {}, which the verifier does not support",
            algorithm_name(signature_algorithm_id)
        ),
        C::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id,
            public_key_algorithm_id,
        } => format!(
            "it is signed with {}, which does not fit the issuer's key ({})",
            algorithm_name(signature_algorithm_id),
            algorithm_name(public_key_algorithm_id)
        ),
        C::NotValidForName => "it is not valid for the name expected".into(),
        C::NotValidForNameContext { presented, .. } => format!(
            "it is not valid for the name expected (it names {})",
            presented.join(", ")
        ),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "its extended key usage does not allow this use (TLS client or server \
             authentication)"
                .into()
        }
        C::InvalidOcspResponse => "its OCSP response is invalid".into(),
        C::ApplicationVerificationFailure => "a check of the application refused it".into(),
        C::Other(other) => match other.0.downcast_ref::<Pki>() {
            Some(pki) => pki_refusal(pki),
            None => format!("the verifier refused it: {}", other.0),
        },
        _ => format!("the verifier refused it: {e}"),
    }
}

/// The webpki errors rustls passes on inside [`CertificateError::Other`] (it maps only some
/// to variants of its own); all of them, for when a later rustls passes more.
fn pki_refusal(e: &Pki) -> String {
    let text = match e {
        Pki::BadDer | Pki::BadDerTime | Pki::TrailingData(_) => {
            "it is not a well-formed X.509 certificate"
        }
        Pki::CaUsedAsEndEntity => {
            "it is a CA certificate (basicConstraints CA:TRUE), not a node certificate: a \
             self-signed certificate, or a CA's own, was offered instead of the cluster \
             certificate this qnetd signs (`qnetd cert sign`)"
        }
        Pki::CertDistrusted => "it is distrusted",
        Pki::CertExpired { .. } => "it has expired; issue a new one",
        Pki::CertNotValidForName(_) => "it is not valid for the name expected",
        Pki::CertNotValidYet { .. } => "it is not valid yet (check the clocks)",
        Pki::CertRevoked => "it has been revoked",
        Pki::CrlExpired { .. } => "the revocation list has expired",
        Pki::EmptyEkuExtension => "its extended key usage extension is empty",
        Pki::EndEntityUsedAsCa => "its chain uses a certificate that is not a CA as a CA",
        Pki::ExtensionValueInvalid => "one of its extensions has an invalid value",
        Pki::InvalidCertValidity => "its validity period is invalid (notAfter before notBefore)",
        Pki::InvalidCrlNumber => "the revocation list's number is invalid",
        Pki::InvalidNetworkMaskConstraint => "a name constraint has an invalid network mask",
        Pki::InvalidSerialNumber => {
            "its serial number is invalid (negative, or longer than 20 bytes)"
        }
        Pki::InvalidCrlSignatureForPublicKey => "the revocation list's signature does not verify",
        Pki::InvalidSignatureForPublicKey => "its signature does not verify with the issuer's key",
        Pki::IssuerNotCrlSigner => "the revocation list's issuer may not sign revocation lists",
        Pki::MalformedDnsIdentifier => "one of its DNS names is malformed",
        Pki::MalformedExtensions => "its extensions are malformed",
        Pki::MalformedNameConstraint => "a name constraint of its chain is malformed",
        Pki::MaximumNameConstraintComparisonsExceeded => {
            "checking its chain's name constraints took too many comparisons"
        }
        Pki::MaximumPathBuildCallsExceeded => "building its chain took too many steps",
        Pki::MaximumPathDepthExceeded => "its chain is too long",
        Pki::MaximumSignatureChecksExceeded => "its chain needs too many signature checks",
        Pki::NameConstraintViolation => "it violates a name constraint of its chain",
        Pki::PathLenConstraintViolated => "its chain violates a path length constraint",
        #[allow(deprecated)]
        Pki::RequiredEkuNotFound | Pki::RequiredEkuNotFoundContext(_) => {
            "its extended key usage does not allow this use (TLS client or server \
             authentication)"
        }
        Pki::SignatureAlgorithmMismatch => {
            "its outer signature algorithm differs from the one inside it"
        }
        Pki::UnknownIssuer => "it is not signed by a CA we trust",
        Pki::UnknownRevocationStatus => "its revocation status is unknown",
        Pki::UnsupportedCertVersion => {
            "it is an X.509 version 1 or 2 certificate; only version 3 is accepted: issue a \
             new one (`qnetd cert sign`)"
        }
        Pki::UnsupportedCriticalExtension => {
            "it has a critical extension the verifier does not know"
        }
        Pki::UnsupportedCrlIssuingDistributionPoint
        | Pki::UnsupportedCrlVersion
        | Pki::UnsupportedDeltaCrl
        | Pki::UnsupportedIndirectCrl
        | Pki::UnsupportedRevocationReason
        | Pki::UnsupportedRevocationReasonsPartitioning => {
            "the revocation list uses a feature the verifier does not support"
        }
        #[allow(deprecated)]
        Pki::UnsupportedCrlSignatureAlgorithm
        | Pki::UnsupportedCrlSignatureAlgorithmContext(_)
        | Pki::UnsupportedCrlSignatureAlgorithmForPublicKey
        | Pki::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_) => {
            "the revocation list is signed with an algorithm the verifier does not support"
        }
        Pki::UnsupportedNameType => "it uses a kind of name the verifier does not support",
        #[allow(deprecated)]
        Pki::UnsupportedSignatureAlgorithm
        | Pki::UnsupportedSignatureAlgorithmContext(_)
        | Pki::UnsupportedSignatureAlgorithmForPublicKey
        | Pki::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "it is signed with an algorithm the verifier does not support"
        }
        _ => return format!("the verifier refused it: {e}"),
    };
    text.to_string()
}

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
    use rustls::pki_types::UnixTime;
    use std::sync::Arc;

    /// Words, never a Rust Debug rendering (a variant name, `Other(`, `Context {`).
    fn assert_words(words: &str) {
        let debug = ["Other(", "Context", "{", "Error", "CaUsed", "Unsupported"];
        assert!(
            !debug.iter().any(|d| words.contains(d)) && words.starts_with(char::is_lowercase),
            "{words}"
        );
    }

    #[test]
    #[allow(deprecated)]
    fn every_verifier_error_has_words() {
        let t = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1));
        let alg = vec![6, 8, 42, 134, 72, 206, 61, 4, 3, 2];
        let certificate = [
            CertificateError::BadEncoding,
            CertificateError::Expired,
            CertificateError::ExpiredContext {
                time: t,
                not_after: t,
            },
            CertificateError::NotValidYet,
            CertificateError::NotValidYetContext {
                time: t,
                not_before: t,
            },
            CertificateError::Revoked,
            CertificateError::UnhandledCriticalExtension,
            CertificateError::UnknownIssuer,
            CertificateError::UnknownRevocationStatus,
            CertificateError::ExpiredRevocationList,
            CertificateError::ExpiredRevocationListContext {
                time: t,
                next_update: t,
            },
            CertificateError::BadSignature,
            CertificateError::UnsupportedSignatureAlgorithm,
            CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: alg.clone(),
                supported_algorithms: vec![],
            },
            CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id: alg.clone(),
                public_key_algorithm_id: alg.clone(),
            },
            CertificateError::NotValidForName,
            CertificateError::NotValidForNameContext {
                expected: rustls::pki_types::ServerName::try_from("pve").unwrap(),
                presented: vec!["other".into()],
            },
            CertificateError::InvalidPurpose,
            CertificateError::InvalidPurposeContext {
                required: rustls::ExtendedKeyPurpose::ClientAuth,
                presented: vec![],
            },
            CertificateError::InvalidOcspResponse,
            CertificateError::ApplicationVerificationFailure,
        ];
        for e in &certificate {
            assert_words(&certificate_refusal(e));
        }
        let pki = [
            Pki::BadDer,
            Pki::BadDerTime,
            Pki::CaUsedAsEndEntity,
            Pki::CertDistrusted,
            Pki::CertExpired {
                time: t,
                not_after: t,
            },
            Pki::CertNotValidYet {
                time: t,
                not_before: t,
            },
            Pki::CertRevoked,
            Pki::CrlExpired {
                time: t,
                next_update: t,
            },
            Pki::EmptyEkuExtension,
            Pki::EndEntityUsedAsCa,
            Pki::ExtensionValueInvalid,
            Pki::InvalidCertValidity,
            Pki::InvalidCrlNumber,
            Pki::InvalidNetworkMaskConstraint,
            Pki::InvalidSerialNumber,
            Pki::InvalidCrlSignatureForPublicKey,
            Pki::InvalidSignatureForPublicKey,
            Pki::IssuerNotCrlSigner,
            Pki::MalformedDnsIdentifier,
            Pki::MalformedExtensions,
            Pki::MalformedNameConstraint,
            Pki::MaximumNameConstraintComparisonsExceeded,
            Pki::MaximumPathBuildCallsExceeded,
            Pki::MaximumPathDepthExceeded,
            Pki::MaximumSignatureChecksExceeded,
            Pki::NameConstraintViolation,
            Pki::PathLenConstraintViolated,
            Pki::RequiredEkuNotFound,
            Pki::SignatureAlgorithmMismatch,
            Pki::UnknownIssuer,
            Pki::UnknownRevocationStatus,
            Pki::UnsupportedCertVersion,
            Pki::UnsupportedCriticalExtension,
            Pki::UnsupportedCrlIssuingDistributionPoint,
            Pki::UnsupportedCrlVersion,
            Pki::UnsupportedDeltaCrl,
            Pki::UnsupportedIndirectCrl,
            Pki::UnsupportedNameType,
            Pki::UnsupportedRevocationReason,
            Pki::UnsupportedRevocationReasonsPartitioning,
            Pki::UnsupportedCrlSignatureAlgorithm,
            Pki::UnsupportedCrlSignatureAlgorithmForPublicKey,
            Pki::UnsupportedSignatureAlgorithm,
            Pki::UnsupportedSignatureAlgorithmForPublicKey,
        ];
        for e in pki {
            let wrapped = CertificateError::Other(rustls::OtherError(Arc::new(e.clone())));
            let words = certificate_refusal(&wrapped);
            assert_words(&words);
            assert!(
                !words.starts_with("the verifier refused it"),
                "{e:?}: {words}"
            );
        }
    }

    #[test]
    fn unknown_algorithms_are_named_by_oid() {
        assert_eq!(
            algorithm_name(&[6, 3, 43, 101, 113]),
            "algorithm 1.3.101.113"
        );
    }
}
