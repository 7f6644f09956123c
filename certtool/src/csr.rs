//! PKCS#10 certificate requests as NSS `certutil -R` writes them (DER; PEM also accepted).
//!
//! Decoded with RustCrypto's `x509-cert`, the self-signature checked with ring over the
//! request's own bytes, and turned into rcgen parameters that reproduce the subject and the
//! public key byte for byte. Nothing else of the request is used: whatever it asks for beyond
//! subject and key (CA:TRUE, key usages, alternative names…) is not granted, as upstream.

use der::asn1::{Any, ObjectIdentifier};
use der::{Decode, Encode, Header, Reader, SliceReader, Tag, Tagged};
use rcgen::string::{BmpString, Ia5String, PrintableString, TeletexString};
use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, PublicKeyData};
use ring::signature::{self, VerificationAlgorithm};
use x509_cert::name::Name;
use x509_cert::request::CertReq;

use crate::error::StoreError;

/// id-at-commonName (RFC 4519).
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A parsed request whose self-signature has been verified.
pub struct Request {
    /// The subject's common name, if it has one.
    pub common_name: Option<String>,
    /// The subject, and nothing else: the store adds serial and validity.
    pub(crate) params: CertificateParams,
    /// The requester's public key, to be certified.
    pub(crate) public_key: SubjectKey,
}

/// Parses and verifies a request given as DER or PEM (`CERTIFICATE REQUEST` or the older
/// `NEW CERTIFICATE REQUEST` label).
pub fn parse(input: &[u8]) -> Result<Request, StoreError> {
    let der = to_der(input)?;
    let (csr, signed_bytes) = decode(&der)?;
    let public_key = SubjectKey::from_request(&csr)?;
    verify_signature(&csr, signed_bytes, public_key.kind)?;
    let (distinguished_name, common_name) = subject(&csr.info.subject)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name;
    Ok(Request {
        common_name,
        params,
        public_key,
    })
}

/// The request's DER: the input itself, or the request's block of a PEM file. Text before
/// the block (`openssl req -text` prints the request decoded above it) is skipped, as NSS
/// and openssl do; DER starts with a SEQUENCE tag, never with text.
fn to_der(input: &[u8]) -> Result<Vec<u8>, StoreError> {
    let looks_pem = input.first() != Some(&0x30)
        && input
            .windows(b"-----BEGIN".len())
            .any(|w| w == b"-----BEGIN");
    if !looks_pem {
        if input.is_empty() {
            return Err(StoreError::BadRequest("the file is empty".into()));
        }
        return Ok(input.to_vec());
    }
    let blocks = pem::parse_many(input)
        .map_err(|e| StoreError::BadRequest(format!("bad PEM encoding: {e}")))?;
    blocks
        .into_iter()
        .find(|b| matches!(b.tag(), "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"))
        .map(|b| b.into_contents())
        .ok_or_else(|| {
            StoreError::BadRequest("no CERTIFICATE REQUEST block in the PEM file".into())
        })
}

/// Decodes the request and returns it with the exact input bytes of its
/// CertificationRequestInfo, which is what the signature covers.
fn decode(der: &[u8]) -> Result<(CertReq, &[u8]), StoreError> {
    let not_a_request =
        |e: der::Error| StoreError::BadRequest(format!("not a PKCS#10 certificate request: {e}"));
    let mut reader = SliceReader::new(der).map_err(not_a_request)?;
    let signed_bytes = {
        let mut inner = reader.clone();
        Header::decode(&mut inner).map_err(not_a_request)?;
        inner.tlv_bytes().map_err(not_a_request)?
    };
    let csr = CertReq::decode(&mut reader).map_err(not_a_request)?;
    let rest = u32::from(reader.remaining_len());
    if rest != 0 {
        return Err(StoreError::BadRequest(format!(
            "{rest} bytes of garbage after the request"
        )));
    }
    Ok((csr, signed_bytes))
}

/// The key types we can certify, each with the rcgen algorithm whose key encoding it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

impl KeyKind {
    const ALL: [KeyKind; 4] = [
        KeyKind::Rsa,
        KeyKind::EcdsaP256,
        KeyKind::EcdsaP384,
        KeyKind::Ed25519,
    ];

    /// rcgen writes a certificate's SubjectPublicKeyInfo from the algorithm's key OIDs: any
    /// algorithm of the key's type gives the same encoding.
    fn rcgen_algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyKind::Rsa => &rcgen::PKCS_RSA_SHA256,
            KeyKind::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    /// ring's verifier for a signature algorithm (by OID) made with a key of this kind.
    fn verifier(self, sig_alg: ObjectIdentifier) -> Option<&'static dyn VerificationAlgorithm> {
        use KeyKind::*;
        Some(match (self, sig_alg) {
            (Rsa, SHA256_WITH_RSA) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (Rsa, SHA384_WITH_RSA) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (Rsa, SHA512_WITH_RSA) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (EcdsaP256, ECDSA_WITH_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
            (EcdsaP256, ECDSA_WITH_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
            (EcdsaP384, ECDSA_WITH_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
            (EcdsaP384, ECDSA_WITH_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
            (Ed25519, ED25519) => &signature::ED25519,
            _ => return None,
        })
    }
}

/// The requester's public key, in the form rcgen writes into the certificate.
pub(crate) struct SubjectKey {
    kind: KeyKind,
    /// The content of the SubjectPublicKeyInfo's BIT STRING.
    key: Vec<u8>,
}

impl SubjectKey {
    /// The request's key, if it is of a kind we certify and rcgen reproduces its
    /// SubjectPublicKeyInfo exactly (e.g. RSA with the NULL parameters NSS writes).
    fn from_request(csr: &CertReq) -> Result<Self, StoreError> {
        let spki = &csr.info.public_key;
        let unsupported = || {
            StoreError::BadRequest(format!(
                "its public key (algorithm {}) is of a type we cannot certify \
                 (RSA, ECDSA P-256/P-384 and Ed25519 are supported)",
                spki.algorithm.oid
            ))
        };
        let Some(key) = spki.subject_public_key.as_bytes() else {
            return Err(unsupported());
        };
        let encoded = spki.to_der().map_err(|_| unsupported())?;
        KeyKind::ALL
            .into_iter()
            .map(|kind| SubjectKey {
                kind,
                key: key.to_vec(),
            })
            .find(|candidate| candidate.subject_public_key_info() == encoded)
            .ok_or_else(unsupported)
    }
}

impl PublicKeyData for SubjectKey {
    fn der_bytes(&self) -> &[u8] {
        &self.key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.kind.rcgen_algorithm()
    }
}

/// Checks the request's self-signature: proof that the requester holds the private key.
fn verify_signature(csr: &CertReq, signed_bytes: &[u8], kind: KeyKind) -> Result<(), StoreError> {
    let sig_alg = csr.algorithm.oid;
    let verifier = kind.verifier(sig_alg).ok_or_else(|| {
        StoreError::BadRequest(format!(
            "signed with an unsupported algorithm ({sig_alg} with a {kind:?} key)"
        ))
    })?;
    let bad = || {
        StoreError::BadRequest("its signature does not verify (corrupted or tampered file)".into())
    };
    let sig = csr.signature.as_bytes().ok_or_else(bad)?;
    let key = csr
        .info
        .public_key
        .subject_public_key
        .as_bytes()
        .ok_or_else(bad)?;
    if kind == KeyKind::Rsa {
        check_rsa_size(key)?;
    }
    signature::UnparsedPublicKey::new(verifier, key)
        .verify(signed_bytes, sig)
        .map_err(|_| bad())
}

/// RSA keys ring verifies: 2048 to 8192 bits. Said before verifying, since ring's refusal of
/// a shorter key looks like a bad signature.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

fn check_rsa_size(key: &[u8]) -> Result<(), StoreError> {
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: der::asn1::UintRef<'a>,
        _exponent: der::asn1::UintRef<'a>,
    }
    let pk = RsaPublicKey::from_der(key)
        .map_err(|e| StoreError::BadRequest(format!("its RSA public key does not decode: {e}")))?;
    let n = pk.modulus.as_bytes();
    let bits = n
        .first()
        .map_or(0, |b| (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize));
    if RSA_BITS.contains(&bits) {
        return Ok(());
    }
    Err(StoreError::BadRequest(format!(
        "its RSA key has {bits} bits: keys of {} to {} bits are accepted (make the request \
         with a 2048-bit key, as corosync-qdevice-net-certutil does)",
        RSA_BITS.start(),
        RSA_BITS.end()
    )))
}

/// The subject as rcgen parameters (see [`rcgen_name`]) and its CN.
fn subject(name: &Name) -> Result<(DistinguishedName, Option<String>), StoreError> {
    let mut cns = name.iter().filter(|attr| attr.oid == COMMON_NAME);
    let common_name = cns.next().map(|cn| cn_text(&cn.value)).transpose()?;
    let dn = rcgen_name(name).map_err(StoreError::BadRequest)?;
    Ok((dn, common_name))
}

fn cn_text(value: &Any) -> Result<String, StoreError> {
    let not_text = || StoreError::BadRequest("the subject CN is not a text string".into());
    match value.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(value.value())
                .map(str::to_string)
                .map_err(|_| not_text())
        }
        _ => Err(not_text()),
    }
}

/// A name as rcgen parameters with the same attribute types, order and string types, so that
/// rcgen writes it back byte for byte (as a certificate's subject or issuer). Refused, with the
/// reason, when rcgen cannot represent it.
pub(crate) fn rcgen_name(name: &Name) -> Result<DistinguishedName, String> {
    let mut dn = DistinguishedName::new();
    for rdn in name.iter_rdn() {
        // rcgen writes one attribute per RDN.
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err("the subject has a multi-valued or empty name component".into());
        };
        let ty = DnType::from_oid(&attr.oid.arcs().map(u64::from).collect::<Vec<_>>());
        // rcgen keeps one value per type: a second would silently replace the first.
        if dn.get(&ty).is_some() {
            return Err(format!(
                "the subject has attribute {} twice, which we cannot copy",
                attr.oid
            ));
        }
        dn.push(ty, dn_value(&attr.oid, &attr.value)?);
    }
    Ok(dn)
}

/// An attribute value in the string type it was written in.
fn dn_value(oid: &ObjectIdentifier, value: &Any) -> Result<DnValue, String> {
    let bad = |why: &str| format!("subject attribute {oid}: {why}, which we cannot copy");
    let text = || std::str::from_utf8(value.value()).map_err(|_| bad("invalid text"));
    let invalid = |_| bad("invalid characters for its string type");
    Ok(match value.tag() {
        Tag::Utf8String => DnValue::Utf8String(text()?.to_string()),
        Tag::PrintableString => {
            DnValue::PrintableString(PrintableString::try_from(text()?).map_err(invalid)?)
        }
        Tag::Ia5String => DnValue::Ia5String(Ia5String::try_from(text()?).map_err(invalid)?),
        Tag::TeletexString => {
            DnValue::TeletexString(TeletexString::try_from(text()?).map_err(invalid)?)
        }
        Tag::BmpString => DnValue::BmpString(
            BmpString::from_utf16be(value.value().to_vec())
                .map_err(|_| bad("invalid BMPString"))?,
        ),
        other => return Err(bad(&format!("a value of type {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::{BitString, SetOfVec};
    use rcgen::{KeyPair, SigningKey};
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
    use x509_cert::request::CertReqInfo;

    fn key() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
    }

    /// A request made by rcgen for `dn`.
    fn rcgen_request(dn: DistinguishedName, key: &KeyPair) -> Vec<u8> {
        let mut p = CertificateParams::default();
        p.distinguished_name = dn;
        p.serialize_request(key).unwrap().der().to_vec()
    }

    /// A request assembled from x509-cert types: lets a test build what rcgen cannot.
    fn signed_request(subject: RdnSequence, key: &KeyPair) -> Vec<u8> {
        let spki = der::asn1::Any::from_der(&key.subject_public_key_info()).unwrap();
        let info = CertReqInfo {
            version: x509_cert::request::Version::V1,
            subject: Name::from_der(&subject.to_der().unwrap()).unwrap(),
            public_key: spki.decode_as().unwrap(),
            attributes: SetOfVec::new(),
        };
        let info_der = info.to_der().unwrap();
        let sig = key.sign(&info_der).unwrap();
        CertReq {
            info,
            algorithm: spki::AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(&sig).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    fn atv(oid: &str, tag: Tag, value: &[u8]) -> AttributeTypeAndValue {
        AttributeTypeAndValue {
            oid: ObjectIdentifier::new(oid).unwrap(),
            value: Any::new(tag, value).unwrap(),
        }
    }

    fn rdns(rdns: Vec<Vec<AttributeTypeAndValue>>) -> RdnSequence {
        let mut seq = RdnSequence::default();
        for attrs in rdns {
            let mut rdn = RelativeDistinguishedName::default();
            for a in attrs {
                rdn.insert(a).unwrap();
            }
            seq.push(rdn);
        }
        seq
    }

    fn refusal(input: &[u8]) -> String {
        match parse(input) {
            Err(StoreError::BadRequest(msg)) => msg,
            Err(other) => panic!("expected BadRequest, got {other}"),
            Ok(_) => panic!("request accepted"),
        }
    }

    /// Signs the parsed request and returns (request subject DER, certificate subject DER).
    fn subjects(request: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let req = parse(request).unwrap();
        let ca_key = key();
        let ca = rcgen::Issuer::new(CertificateParams::default(), ca_key);
        let cert = req.params.signed_by(&req.public_key, &ca).unwrap();
        let cert = x509_cert::Certificate::from_der(cert.der()).unwrap();
        let csr = CertReq::from_der(request).unwrap();
        (
            csr.info.subject.to_der().unwrap(),
            cert.tbs_certificate().subject().to_der().unwrap(),
        )
    }

    #[test]
    fn accepts_a_good_request_and_keeps_its_key_and_subject() {
        let k = key();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            DnValue::PrintableString("cluster1".try_into().unwrap()),
        );
        let der = rcgen_request(dn, &k);
        let req = parse(&der).unwrap();
        assert_eq!(req.common_name.as_deref(), Some("cluster1"));
        assert_eq!(req.public_key.kind, KeyKind::EcdsaP256);
        assert_eq!(
            req.public_key.subject_public_key_info(),
            k.subject_public_key_info()
        );
        let (theirs, ours) = subjects(&der);
        assert_eq!(theirs, ours);
    }

    #[test]
    fn accepts_pem_with_either_label() {
        let der = rcgen_request(DistinguishedName::new(), &key());
        for label in ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"] {
            let pem = pem::encode(&pem::Pem::new(label, der.clone()));
            assert!(parse(pem.as_bytes()).is_ok(), "{label}");
        }
    }

    #[test]
    fn string_types_and_custom_attributes_are_preserved() {
        let subject = rdns(vec![
            vec![atv("2.5.4.6", Tag::PrintableString, b"DE")],
            vec![atv("2.5.4.10", Tag::Utf8String, "Grüne AG".as_bytes())],
            vec![atv("1.2.840.113549.1.9.1", Tag::Ia5String, b"a@b.example")],
            vec![atv("2.5.4.11", Tag::BmpString, &[0, b'o', 0, b'u'])],
            vec![atv("1.3.6.1.4.1.99999.1", Tag::Utf8String, b"custom")],
            vec![atv("2.5.4.3", Tag::PrintableString, b"cluster1")],
        ]);
        let der = signed_request(subject, &key());
        assert_eq!(
            parse(&der).unwrap().common_name.as_deref(),
            Some("cluster1")
        );
        let (theirs, ours) = subjects(&der);
        assert_eq!(theirs, ours);
    }

    #[test]
    fn a_utf8_cn_is_preserved() {
        let subject = rdns(vec![vec![atv("2.5.4.3", Tag::Utf8String, b"cluster1")]]);
        let der = signed_request(subject, &key());
        let (theirs, ours) = subjects(&der);
        assert_eq!(theirs, ours);
        // The same CN as a PrintableString would be a different subject.
        assert!(theirs.windows(2).any(|w| w == [0x0c, 8]));
    }

    #[test]
    fn refuses_a_bad_signature() {
        let mut der = rcgen_request(DistinguishedName::new(), &key());
        let last = der.len() - 1;
        der[last] ^= 1;
        assert!(refusal(&der).contains("signature does not verify"));
    }

    #[test]
    fn refuses_a_request_signed_by_another_key() {
        let subject = rdns(vec![vec![atv("2.5.4.3", Tag::Utf8String, b"c")]]);
        let a = signed_request(subject.clone(), &key());
        let b = signed_request(subject, &key());
        let csr_a = CertReq::from_der(&a).unwrap();
        let mut csr_b = CertReq::from_der(&b).unwrap();
        csr_b.signature = csr_a.signature;
        assert!(refusal(&csr_b.to_der().unwrap()).contains("signature does not verify"));
    }

    #[test]
    fn refuses_a_multi_valued_rdn() {
        let subject = rdns(vec![vec![
            atv("2.5.4.3", Tag::Utf8String, b"cluster1"),
            atv("2.5.4.10", Tag::Utf8String, b"org"),
        ]]);
        let der = signed_request(subject, &key());
        assert!(refusal(&der).contains("multi-valued"));
    }

    #[test]
    fn refuses_a_repeated_attribute() {
        let subject = rdns(vec![
            vec![atv("2.5.4.11", Tag::Utf8String, b"a")],
            vec![atv("2.5.4.11", Tag::Utf8String, b"b")],
        ]);
        let der = signed_request(subject, &key());
        assert!(refusal(&der).contains("2.5.4.11 twice"));
    }

    #[test]
    fn refuses_a_cn_that_is_not_text() {
        let subject = rdns(vec![vec![atv("2.5.4.3", Tag::OctetString, b"c")]]);
        let der = signed_request(subject, &key());
        assert!(refusal(&der).contains("CN is not a text string"));
    }

    #[test]
    fn refuses_garbage_clearly() {
        assert!(refusal(b"").contains("empty"));
        assert!(refusal(b"hello world").contains("not a PKCS#10 certificate request"));
        assert!(refusal(&[0x30, 0x03, 0x02, 0x01]).contains("not a PKCS#10"));
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(refusal(pem.as_bytes()).contains("no CERTIFICATE REQUEST block"));
        let der = rcgen_request(DistinguishedName::new(), &key());
        assert!(refusal(&der[..der.len() - 5]).contains("not a PKCS#10"));
    }

    #[test]
    fn refuses_trailing_garbage() {
        let mut der = rcgen_request(DistinguishedName::new(), &key());
        der.extend_from_slice(b"xyz");
        assert_eq!(refusal(&der), "3 bytes of garbage after the request");
    }

    /// The request upstream's `corosync-qdevice-net-certutil -r` made with NSS: RSA-2048,
    /// sha256WithRSAEncryption, CN=mycluster as a PrintableString.
    const NSS_REQUEST: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/nss-certutil-3.0.3/qdevice-net-node.crq"
    ));

    #[test]
    fn accepts_the_request_nss_made_and_keeps_its_subject() {
        let req = parse(NSS_REQUEST).unwrap();
        assert_eq!(req.common_name.as_deref(), Some("mycluster"));
        assert_eq!(req.public_key.kind, KeyKind::Rsa);
        let csr = CertReq::from_der(NSS_REQUEST).unwrap();
        assert_eq!(
            req.public_key.subject_public_key_info(),
            csr.info.public_key.to_der().unwrap()
        );
        let (theirs, ours) = subjects(NSS_REQUEST);
        assert_eq!(theirs, ours);
    }

    #[test]
    fn refuses_the_nss_request_with_one_bit_flipped_anywhere_signed() {
        let (_, signed) = decode(NSS_REQUEST).unwrap();
        // A byte of the public key and a letter of the CN: both covered by the signature.
        for at in [signed.len() - 40, 0x1d] {
            let mut der = NSS_REQUEST.to_vec();
            der[at] ^= 0x01;
            assert!(
                refusal(&der).contains("signature does not verify"),
                "byte {at}"
            );
        }
    }

    #[test]
    fn refuses_an_unsupported_signature_algorithm() {
        let mut csr = CertReq::from_der(NSS_REQUEST).unwrap();
        // sha1WithRSAEncryption: refused, as before.
        csr.algorithm.oid = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
        assert!(refusal(&csr.to_der().unwrap()).contains("unsupported algorithm"));
    }
}
