//! [`CaClientVerifier`] against rustls' `WebPkiClientVerifier` built as the daemon built it
//! before (our CA as the only root, no CRLs, client authentication mandatory): on
//! certificates that each fail exactly one check, both give the same verdict and the same
//! error, and the error is the one that check gives.

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use rustls::internal::msgs::codec::Codec;
use rustls::server::WebPkiClientVerifier;
use time::{Duration, OffsetDateTime};

/// A CA: its parameters and key sign, its DER is the trust anchor.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
}

impl Ca {
    /// Every CA of qnetd and upstream is called "QNet CA" (a PrintableString, as NSS and
    /// certtool write it: names match byte for byte).
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        let name = DnValue::PrintableString(name.try_into().unwrap());
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let der = params.self_signed(&key).unwrap().der().clone();
        Ca { params, key, der }
    }

    /// An intermediate CA that this CA signs.
    fn intermediate(&self, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let der = self.sign(&params, &key);
        Ca { params, key, der }
    }

    fn sign(&self, params: &CertificateParams, key: &KeyPair) -> CertificateDer<'static> {
        let issuer = Issuer::from_params(&self.params, &self.key);
        params.signed_by(key, &issuer).unwrap().der().clone()
    }

    /// A node certificate as `qnetd cert sign` makes it, changed by `edit`; and its key.
    fn leaf(
        &self,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> (CertificateDer<'static>, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "pve");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(30);
        edit(&mut params);
        (self.sign(&params, &key), key)
    }
}

fn roots(ca: &Ca) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    roots
}

fn ours(ca: &Ca) -> CaClientVerifier {
    let algorithms = crate::tls::crypto::provider().signature_verification_algorithms;
    CaClientVerifier::new(roots(ca), algorithms).unwrap()
}

/// rustls' verifier, built as `server::tls` built it before this one.
fn theirs(ca: &Ca) -> Arc<dyn ClientCertVerifier> {
    let provider = Arc::new(crate::tls::crypto::provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)), provider)
        .build()
        .unwrap()
}

/// Both verifiers' verdict on `cert` (with `intermediates`), which must be the same; Debug
/// text, since rustls' `OtherError` never compares equal.
fn verdict(ca: &Ca, cert: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> String {
    let now = UnixTime::now();
    let text = |r: Result<ClientCertVerified, Error>| match r {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{e:?}"),
    };
    let a = text(ours(ca).verify_client_cert(cert, intermediates, now));
    let b = text(theirs(ca).verify_client_cert(cert, intermediates, now));
    assert_eq!(a, b, "our verifier and rustls' disagree");
    a
}

#[test]
fn a_node_certificate_of_our_ca_is_accepted() {
    let ca = Ca::new("QNet CA");
    let (cert, _) = ca.leaf(|_| {});
    assert_eq!(verdict(&ca, &cert, &[]), "ok");
}

#[test]
fn an_unparsable_certificate_is_bad_encoding() {
    let ca = Ca::new("QNet CA");
    let (cert, _) = ca.leaf(|_| {});
    let truncated = CertificateDer::from(cert[..cert.len() - 1].to_vec());
    assert_eq!(
        verdict(&ca, &truncated, &[]),
        "InvalidCertificate(BadEncoding)"
    );
    let trailing = CertificateDer::from([cert.as_ref(), &[0]].concat());
    assert_eq!(
        verdict(&ca, &trailing, &[]),
        "InvalidCertificate(BadEncoding)"
    );
}

#[test]
fn an_expired_certificate_is_refused_as_expired() {
    let ca = Ca::new("QNet CA");
    let (cert, _) = ca.leaf(|p| {
        p.not_before = OffsetDateTime::now_utc() - Duration::days(30);
        p.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    });
    assert!(verdict(&ca, &cert, &[]).starts_with("InvalidCertificate(ExpiredContext"));
}

#[test]
fn a_certificate_not_valid_yet_is_refused_as_such() {
    let ca = Ca::new("QNet CA");
    let (cert, _) = ca.leaf(|p| {
        p.not_before = OffsetDateTime::now_utc() + Duration::days(1);
        p.not_after = OffsetDateTime::now_utc() + Duration::days(30);
    });
    assert!(verdict(&ca, &cert, &[]).starts_with("InvalidCertificate(NotValidYetContext"));
}

#[test]
fn a_certificate_of_another_ca_of_the_same_name_has_a_bad_signature() {
    let ca = Ca::new("QNet CA");
    let (cert, _) = Ca::new("QNet CA").leaf(|_| {});
    assert_eq!(verdict(&ca, &cert, &[]), "InvalidCertificate(BadSignature)");
}

#[test]
fn a_certificate_of_a_ca_we_do_not_know_has_an_unknown_issuer() {
    let ca = Ca::new("QNet CA");
    let (cert, _) = Ca::new("Other CA").leaf(|_| {});
    assert_eq!(
        verdict(&ca, &cert, &[]),
        "InvalidCertificate(UnknownIssuer)"
    );
}

#[test]
fn a_certificate_for_servers_only_is_refused_for_its_purpose() {
    let ca = Ca::new("QNet CA");
    let (cert, _) = ca.leaf(|p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]);
    assert_eq!(
        verdict(&ca, &cert, &[]),
        "InvalidCertificate(InvalidPurposeContext { required: ClientAuth, presented: [ServerAuth] })"
    );
    let (cert, _) = ca.leaf(|p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 4, 1, 9])]
    });
    assert!(verdict(&ca, &cert, &[]).contains("presented: [Other([1, 3, 6, 1, 4, 1, 9])]"));
}

#[test]
fn a_ca_certificate_offered_as_a_node_certificate_is_refused() {
    let ca = Ca::new("QNet CA");
    let (cert, _) = ca.leaf(|p| p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained));
    assert_eq!(
        verdict(&ca, &cert, &[]),
        "InvalidCertificate(Other(OtherError(CaUsedAsEndEntity)))"
    );
    // Our own CA certificate too.
    assert_eq!(
        verdict(&ca, &ca.der, &[]),
        "InvalidCertificate(Other(OtherError(CaUsedAsEndEntity)))"
    );
}

#[test]
fn a_chain_through_an_intermediate_the_client_sends_is_accepted() {
    let ca = Ca::new("QNet CA");
    let sub = ca.intermediate("QNet sub CA");
    let (cert, _) = sub.leaf(|_| {});
    assert_eq!(verdict(&ca, &cert, std::slice::from_ref(&sub.der)), "ok");
    // Without the intermediate there is no chain.
    assert_eq!(
        verdict(&ca, &cert, &[]),
        "InvalidCertificate(UnknownIssuer)"
    );
    // A node certificate (not a CA) cannot issue one.
    let issuer = Ca {
        params: {
            let mut p = CertificateParams::new(Vec::new()).unwrap();
            p.distinguished_name.push(DnType::CommonName, "pve");
            p
        },
        key: KeyPair::generate().unwrap(),
        der: CertificateDer::from(Vec::new()),
    };
    let node = ca.sign(&issuer.params, &issuer.key);
    let (cert, _) = issuer.leaf(|_| {});
    assert_eq!(
        verdict(&ca, &cert, &[node]),
        "InvalidCertificate(Other(OtherError(EndEntityUsedAsCa)))"
    );
}

const UPSTREAM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nss-certutil-3.0.3");

/// The node certificate of an upstream corosync-qnetd (NSS): RSA, signed by an RSA "QNet CA".
#[test]
fn an_upstream_node_certificate_verifies_only_against_its_own_rsa_ca() {
    let read = |name: &str| std::fs::read(format!("{UPSTREAM}/{name}")).unwrap();
    let cert = CertificateDer::from(read("cluster-mycluster.crt"));
    let ours_ca = Ca::new("QNet CA");
    let v = verdict(&ours_ca, &cert, &[]);
    assert!(
        v.starts_with("InvalidCertificate(UnsupportedSignatureAlgorithmForPublicKeyContext"),
        "{v}"
    );
    let upstream_pem = read("qnetd-cacert.crt");
    let upstream_ca =
        pem::parse(&upstream_pem[upstream_pem.windows(5).position(|w| w == b"-----").unwrap()..])
            .unwrap();
    let upstream = Ca {
        der: CertificateDer::from(upstream_ca.contents().to_vec()),
        ..Ca::new("unused")
    };
    assert_eq!(verdict(&upstream, &cert, &[]), "ok");
}

#[test]
fn the_certificate_request_offers_what_rustls_offered() {
    let ca = Ca::new("QNet CA");
    let (a, b) = (ours(&ca), theirs(&ca));
    assert!(a.offer_client_auth() && b.offer_client_auth());
    assert!(a.client_auth_mandatory() && b.client_auth_mandatory());
    let names = |v: &dyn ClientCertVerifier| -> Vec<Vec<u8>> {
        v.root_hint_subjects()
            .iter()
            .map(|n| n.as_ref().to_vec())
            .collect()
    };
    assert_eq!(names(&a), names(b.as_ref()));
    assert_eq!(names(&a).len(), 1);
    assert_eq!(a.supported_verify_schemes(), b.supported_verify_schemes());
    assert!(CaClientVerifier::new(RootCertStore::empty(), ca_algorithms()).is_none());
}

fn ca_algorithms() -> WebPkiSupportedAlgorithms {
    crate::tls::crypto::provider().signature_verification_algorithms
}

/// A CertificateVerify of `scheme` carrying `signature`, as it comes off the wire.
fn digitally_signed(scheme: SignatureScheme, signature: &[u8]) -> DigitallySignedStruct {
    let mut wire = u16::from(scheme).to_be_bytes().to_vec();
    wire.extend_from_slice(&(signature.len() as u16).to_be_bytes());
    wire.extend_from_slice(signature);
    DigitallySignedStruct::read_bytes(&wire).unwrap()
}

fn ecdsa_sign(key: &KeyPair, message: &[u8]) -> Vec<u8> {
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der(), &rng)
            .unwrap();
    pair.sign(&rng, message).unwrap().as_ref().to_vec()
}

#[test]
fn the_handshake_signature_must_be_made_with_the_certificates_key() {
    let ca = Ca::new("QNet CA");
    let (cert, key) = ca.leaf(|_| {});
    let message = b"TLS 1.3, client CertificateVerify\0transcript hash";
    let (a, b) = (ours(&ca), theirs(&ca));
    let text = |r: Result<HandshakeSignatureValid, Error>| match r {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{e:?}"),
    };
    let check = |signature: &[u8], scheme: SignatureScheme| {
        let dss = digitally_signed(scheme, signature);
        let ours13 = text(a.verify_tls13_signature(message, &cert, &dss));
        assert_eq!(ours13, text(b.verify_tls13_signature(message, &cert, &dss)));
        let ours12 = text(a.verify_tls12_signature(message, &cert, &dss));
        assert_eq!(ours12, text(b.verify_tls12_signature(message, &cert, &dss)));
        (ours13, ours12)
    };
    let good = ecdsa_sign(&key, message);
    assert_eq!(
        check(&good, SignatureScheme::ECDSA_NISTP256_SHA256),
        ("ok".into(), "ok".into())
    );
    // Someone else's key: the certificate proves nothing.
    let other = ecdsa_sign(&KeyPair::generate().unwrap(), message);
    let (v13, v12) = check(&other, SignatureScheme::ECDSA_NISTP256_SHA256);
    assert_eq!(v13, "InvalidCertificate(BadSignature)");
    assert_eq!(v12, "InvalidCertificate(BadSignature)");
    // A scheme the provider does not offer.
    let (v13, _) = check(&good, SignatureScheme::ECDSA_NISTP521_SHA512);
    assert_eq!(
        v13,
        "PeerMisbehaved(SignedHandshakeWithUnadvertisedSigScheme)"
    );
}
