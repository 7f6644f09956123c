//! PKCS#10 certificate requests as NSS `certutil -R` writes them (DER; PEM also accepted).
//!
//! Read with our DER reader ([`crate::asn1`]), the self-signature checked with ring over the
//! request's own bytes, and turned into rcgen parameters that reproduce the subject and the
//! public key byte for byte. Nothing else of the request is used: whatever it asks for beyond
//! subject and key (CA:TRUE, key usages, alternative names…) is not granted, as upstream.

use rcgen::string::{BmpString, Ia5String, PrintableString, TeletexString};
use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, PublicKeyData};
use ring::signature::{self, VerificationAlgorithm};

use crate::asn1::{self, oid_string, tag, Reader, Tlv};
use crate::error::StoreError;

/// id-at-commonName (RFC 4519), 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// 1.2.840.113549.1.1.{11,12,13}: sha{256,384,512}WithRSAEncryption.
const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
/// 1.2.840.10045.4.3.{2,3}: ecdsa-with-SHA{256,384}.
const ECDSA_WITH_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const ECDSA_WITH_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
/// 1.3.101.112: id-Ed25519.
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

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
    let csr = decode(&der)?;
    let public_key = SubjectKey::from_request(&csr)?;
    verify_signature(&csr, public_key.kind)?;
    let (distinguished_name, common_name) = subject(&csr.subject)?;
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

/// The parts of a CertificationRequest (RFC 2986) we use.
struct CertReq<'a> {
    /// The CertificationRequestInfo's exact bytes: what the signature covers.
    signed: &'a [u8],
    subject: Tlv<'a>,
    /// The SubjectPublicKeyInfo's bytes, its algorithm OID and key bits.
    spki: &'a [u8],
    key: asn1::Spki<'a>,
    signature_algorithm: &'a [u8],
    /// The signature algorithm's parameters, if any.
    signature_parameters: Option<&'a [u8]>,
    signature: Tlv<'a>,
}

/// Decodes the request; the whole structure is checked, attributes included.
fn decode(der: &[u8]) -> Result<CertReq<'_>, StoreError> {
    let mut top = Reader::new(der);
    let csr = decode_request(&mut top)
        .map_err(|e| StoreError::BadRequest(format!("not a PKCS#10 certificate request: {e}")))?;
    let rest = top.remaining();
    if rest != 0 {
        return Err(StoreError::BadRequest(format!(
            "{rest} bytes of garbage after the request"
        )));
    }
    Ok(csr)
}

fn decode_request<'a>(top: &mut Reader<'a>) -> Result<CertReq<'a>, asn1::Error> {
    let mut r = top.expect(tag::SEQUENCE)?.contents();
    let info = r.expect(tag::SEQUENCE)?;
    let (signature_algorithm, signature_parameters) = asn1::algorithm(&mut r)?;
    let signature = r.expect(tag::BIT_STRING)?;
    signature.bit_string()?;
    r.finish()?;

    let mut i = info.contents();
    let version = i.expect(tag::INTEGER)?;
    if !version.unsigned()?.is_empty() {
        return Err(version.invalid("a request version other than 1"));
    }
    let subject = i.expect(tag::SEQUENCE)?;
    asn1::name(&subject)?;
    let spki = i.expect(tag::SEQUENCE)?;
    let key = asn1::spki(&spki)?;
    let attributes = i.expect(tag::context(0, true))?;
    i.finish()?;
    let mut a = attributes.contents();
    while !a.is_empty() {
        let mut attr = a.expect(tag::SEQUENCE)?.contents();
        attr.expect(tag::OID)?.oid()?;
        attr.expect(tag::SET)?;
        attr.finish()?;
    }
    Ok(CertReq {
        signed: info.raw,
        subject,
        spki: spki.raw,
        key,
        signature_algorithm,
        signature_parameters: signature_parameters.map(|p| p.raw),
        signature,
    })
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

    /// ring's verifier for a signature algorithm (by OID and parameters) made with a key of
    /// this kind. The parameters are the algorithm's own: NULL for RSA (RFC 4055), none for
    /// ECDSA (RFC 5758) and Ed25519 (RFC 8410); they are outside what the signature covers.
    fn verifier(
        self,
        sig_alg: &[u8],
        params: Option<&[u8]>,
    ) -> Option<&'static dyn VerificationAlgorithm> {
        use KeyKind::*;
        let expected: Option<&[u8]> = (self == Rsa).then_some(&[0x05, 0x00]);
        if params != expected {
            return None;
        }
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
    fn from_request(csr: &CertReq<'_>) -> Result<Self, StoreError> {
        let unsupported = || {
            StoreError::BadRequest(format!(
                "its public key (algorithm {}) is of a type we cannot certify \
                 (RSA, ECDSA P-256/P-384 and Ed25519 are supported)",
                oid_string(csr.key.algorithm)
            ))
        };
        if csr.key.unused_bits != 0 {
            return Err(unsupported());
        }
        let key = csr.key.key;
        KeyKind::ALL
            .into_iter()
            .map(|kind| SubjectKey {
                kind,
                key: key.to_vec(),
            })
            .find(|candidate| candidate.subject_public_key_info() == csr.spki)
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
fn verify_signature(csr: &CertReq<'_>, kind: KeyKind) -> Result<(), StoreError> {
    let sig_alg = csr.signature_algorithm;
    let params = csr.signature_parameters;
    let verifier = kind.verifier(sig_alg, params).ok_or_else(|| {
        let params = if params.is_some() { ", parameters" } else { "" };
        StoreError::BadRequest(format!(
            "signed with an unsupported algorithm ({}{params} with a {kind:?} key)",
            oid_string(sig_alg)
        ))
    })?;
    let bad = || {
        StoreError::BadRequest("its signature does not verify (corrupted or tampered file)".into())
    };
    let sig = csr.signature.bit_string_bytes().map_err(|_| bad())?;
    let key = csr.key.key;
    if kind == KeyKind::Rsa {
        check_rsa_size(key)?;
    }
    signature::UnparsedPublicKey::new(verifier, key)
        .verify(csr.signed, sig)
        .map_err(|_| bad())
}

/// RSA keys ring verifies: 2048 to 8192 bits. Said before verifying, since ring's refusal of
/// a shorter key looks like a bad signature.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

fn check_rsa_size(key: &[u8]) -> Result<(), StoreError> {
    let modulus = rsa_modulus(key)
        .map_err(|e| StoreError::BadRequest(format!("its RSA public key does not decode: {e}")))?;
    let bits = modulus.first().map_or(0, |b| {
        (modulus.len() - 1) * 8 + (8 - b.leading_zeros() as usize)
    });
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

/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }: the modulus.
fn rsa_modulus(key: &[u8]) -> Result<&[u8], asn1::Error> {
    let mut top = Reader::new(key);
    let mut r = top.expect(tag::SEQUENCE)?.contents();
    top.finish()?;
    let modulus = r.expect(tag::INTEGER)?.unsigned()?;
    r.expect(tag::INTEGER)?.unsigned()?;
    r.finish()?;
    Ok(modulus)
}

/// The subject as rcgen parameters (see [`rcgen_name`]) and its CN.
fn subject(name: &Tlv<'_>) -> Result<(DistinguishedName, Option<String>), StoreError> {
    let bad = |e: asn1::Error| StoreError::BadRequest(format!("its subject does not decode: {e}"));
    let rdns = asn1::name(name).map_err(bad)?;
    let mut cns = rdns.iter().flatten().filter(|atv| atv.oid == COMMON_NAME);
    let common_name = cns.next().map(|cn| cn_text(&cn.value)).transpose()?;
    let dn = rcgen_name(name.raw).map_err(StoreError::BadRequest)?;
    Ok((dn, common_name))
}

fn cn_text(value: &Tlv<'_>) -> Result<String, StoreError> {
    asn1::text(value)
        .map(str::to_string)
        .ok_or_else(|| StoreError::BadRequest("the subject CN is not a text string".into()))
}

/// A name (its DER) as rcgen parameters with the same attribute types, order and string
/// types, so that rcgen writes it back byte for byte (as a certificate's subject or issuer).
/// Refused, with the reason, when rcgen cannot represent it.
pub(crate) fn rcgen_name(name_der: &[u8]) -> Result<DistinguishedName, String> {
    let mut top = Reader::new(name_der);
    let rdns = top
        .expect(tag::SEQUENCE)
        .and_then(|name| top.finish().and_then(|()| asn1::name(&name)))
        .map_err(|e| format!("the name does not decode: {e}"))?;
    let mut dn = DistinguishedName::new();
    for rdn in &rdns {
        // rcgen writes one attribute per RDN.
        let [attr] = rdn.as_slice() else {
            return Err("the subject has a multi-valued or empty name component".into());
        };
        let oid = oid_string(attr.oid);
        // asn1::name checked every OID.
        let arcs = asn1::oid_arcs(attr.oid).unwrap_or_default();
        let ty = DnType::from_oid(&arcs);
        // rcgen keeps one value per type: a second would silently replace the first.
        if dn.get(&ty).is_some() {
            return Err(format!(
                "the subject has attribute {oid} twice, which we cannot copy"
            ));
        }
        dn.push(ty, dn_value(&oid, &attr.value)?);
    }
    Ok(dn)
}

/// An attribute value in the string type it was written in.
fn dn_value(oid: &str, value: &Tlv<'_>) -> Result<DnValue, String> {
    let bad = |why: &str| format!("subject attribute {oid}: {why}, which we cannot copy");
    let text = || std::str::from_utf8(value.value).map_err(|_| bad("invalid text"));
    let invalid = |_| bad("invalid characters for its string type");
    Ok(match value.tag {
        tag::UTF8_STRING => DnValue::Utf8String(text()?.to_string()),
        tag::PRINTABLE_STRING => {
            DnValue::PrintableString(PrintableString::try_from(text()?).map_err(invalid)?)
        }
        tag::IA5_STRING => DnValue::Ia5String(Ia5String::try_from(text()?).map_err(invalid)?),
        tag::TELETEX_STRING => {
            DnValue::TeletexString(TeletexString::try_from(text()?).map_err(invalid)?)
        }
        tag::BMP_STRING => DnValue::BmpString(
            BmpString::from_utf16be(value.value.to_vec()).map_err(|_| bad("invalid BMPString"))?,
        ),
        other => return Err(bad(&format!("a value of ASN.1 tag 0x{other:02x}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{KeyPair, SigningKey};

    fn key() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
    }

    /// A request made by rcgen for `dn`.
    fn rcgen_request(dn: DistinguishedName, key: &KeyPair) -> Vec<u8> {
        let mut p = CertificateParams::default();
        p.distinguished_name = dn;
        p.serialize_request(key).unwrap().der().to_vec()
    }

    /// A DER element of `parts` concatenated: lets a test build what rcgen cannot.
    fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
        let content = parts.concat();
        let len = u32::try_from(content.len()).unwrap().to_be_bytes();
        let skip = len.iter().take_while(|b| **b == 0).count();
        let mut out = vec![tag];
        match content.len() {
            0..0x80 => out.push(content.len() as u8),
            _ => {
                out.push(0x80 | (4 - skip) as u8);
                out.extend_from_slice(&len[skip..]);
            }
        }
        out.extend(content);
        out
    }

    fn oid(dotted: &str) -> Vec<u8> {
        let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
        let oid = yasna::models::ObjectIdentifier::from_slice(&arcs);
        yasna::construct_der(|w| w.write_oid(&oid))
    }

    /// A Name of RDNs of (type, string tag, value) attributes, in DER's SET OF order.
    fn name(rdns: &[&[(&str, u8, &[u8])]]) -> Vec<u8> {
        let sets: Vec<Vec<u8>> = rdns
            .iter()
            .map(|rdn| {
                let mut atvs: Vec<Vec<u8>> = rdn
                    .iter()
                    .map(|(ty, t, v)| tlv(tag::SEQUENCE, &[&oid(ty), &tlv(*t, &[v])]))
                    .collect();
                atvs.sort();
                tlv(
                    tag::SET,
                    &atvs.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                )
            })
            .collect();
        tlv(
            tag::SEQUENCE,
            &sets.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        )
    }

    /// A CertificationRequestInfo: version 1, `subject`, the key, no attributes.
    fn info(subject: &[u8], key: &KeyPair) -> Vec<u8> {
        let spki = key.subject_public_key_info();
        tlv(tag::SEQUENCE, &[&[2, 1, 0], subject, &spki, &[0xa0, 0]])
    }

    fn assemble(info: &[u8], sig_alg: &str, sig: &[u8]) -> Vec<u8> {
        let null: &[u8] = if sig_alg.starts_with("1.2.840.113549.") {
            &[5, 0]
        } else {
            &[]
        };
        let alg = tlv(tag::SEQUENCE, &[&oid(sig_alg), null]);
        let sig = tlv(tag::BIT_STRING, &[&[0], sig]);
        tlv(tag::SEQUENCE, &[info, &alg, &sig])
    }

    /// A request for `subject` (a Name's DER), signed by `key` with ecdsa-with-SHA256.
    fn signed_request(subject: &[u8], key: &KeyPair) -> Vec<u8> {
        let info = info(subject, key);
        assemble(&info, "1.2.840.10045.4.3.2", &key.sign(&info).unwrap())
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
        (
            decode(request).unwrap().subject.raw.to_vec(),
            crate::certinfo::subject(cert.der()).unwrap(),
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
        let subject = name(&[
            &[("2.5.4.6", tag::PRINTABLE_STRING, b"DE")],
            &[("2.5.4.10", tag::UTF8_STRING, "Grüne AG".as_bytes())],
            &[("1.2.840.113549.1.9.1", tag::IA5_STRING, b"a@b.example")],
            &[("2.5.4.11", tag::BMP_STRING, &[0, b'o', 0, b'u'])],
            &[("1.3.6.1.4.1.99999.1", tag::UTF8_STRING, b"custom")],
            &[("2.5.4.3", tag::PRINTABLE_STRING, b"cluster1")],
        ]);
        let der = signed_request(&subject, &key());
        assert_eq!(
            parse(&der).unwrap().common_name.as_deref(),
            Some("cluster1")
        );
        let (theirs, ours) = subjects(&der);
        assert_eq!(theirs, ours);
    }

    #[test]
    fn a_utf8_cn_is_preserved() {
        let subject = name(&[&[("2.5.4.3", tag::UTF8_STRING, b"cluster1")]]);
        let der = signed_request(&subject, &key());
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
        let subject = name(&[&[("2.5.4.3", tag::UTF8_STRING, b"c")]]);
        let (ours, other) = (key(), key());
        let info = info(&subject, &ours);
        let der = assemble(&info, "1.2.840.10045.4.3.2", &other.sign(&info).unwrap());
        assert!(refusal(&der).contains("signature does not verify"));
    }

    #[test]
    fn refuses_a_multi_valued_rdn() {
        let subject = name(&[&[
            ("2.5.4.3", tag::UTF8_STRING, b"cluster1"),
            ("2.5.4.10", tag::UTF8_STRING, b"org"),
        ]]);
        let der = signed_request(&subject, &key());
        assert!(refusal(&der).contains("multi-valued"));
    }

    #[test]
    fn refuses_a_repeated_attribute() {
        let subject = name(&[
            &[("2.5.4.11", tag::UTF8_STRING, b"a")],
            &[("2.5.4.11", tag::UTF8_STRING, b"b")],
        ]);
        let der = signed_request(&subject, &key());
        assert!(refusal(&der).contains("2.5.4.11 twice"));
    }

    #[test]
    fn refuses_a_cn_that_is_not_text() {
        let subject = name(&[&[("2.5.4.3", tag::OCTET_STRING, b"c")]]);
        let der = signed_request(&subject, &key());
        assert!(refusal(&der).contains("CN is not a text string"));
    }

    #[test]
    fn refuses_an_attribute_value_rcgen_cannot_write() {
        let subject = name(&[&[("2.5.4.10", tag::OCTET_STRING, b"c")]]);
        let der = signed_request(&subject, &key());
        assert_eq!(
            refusal(&der),
            "subject attribute 2.5.4.10: a value of ASN.1 tag 0x04, which we cannot copy"
        );
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
        // Lengths that overflow an offset, and BER's indefinite length.
        for huge in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30][..],
            &[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x80, 0x30, 0x00, 0x00, 0x00],
        ] {
            assert!(refusal(huge).contains("not a PKCS#10"), "{huge:?}");
        }
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
        assert_eq!(
            req.public_key.subject_public_key_info(),
            decode(NSS_REQUEST).unwrap().spki
        );
        let (theirs, ours) = subjects(NSS_REQUEST);
        assert_eq!(theirs, ours);
    }

    #[test]
    fn refuses_the_nss_request_with_one_bit_flipped_anywhere_signed() {
        let signed = decode(NSS_REQUEST).unwrap().signed;
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
        let csr = decode(NSS_REQUEST).unwrap();
        let sig = csr.signature.bit_string_bytes().unwrap();
        // sha1WithRSAEncryption: refused, as before.
        let der = assemble(csr.signed, "1.2.840.113549.1.1.5", sig);
        assert!(refusal(&der).contains("unsupported algorithm (1.2.840.113549.1.1.5"));
    }

    #[test]
    fn refuses_signature_algorithm_parameters_the_algorithm_does_not_have() {
        let csr = decode(NSS_REQUEST).unwrap();
        let sig = csr.signature.bit_string_bytes().unwrap();
        let alg = |params: &[u8]| tlv(tag::SEQUENCE, &[&oid("1.2.840.113549.1.1.11"), params]);
        let sig = tlv(tag::BIT_STRING, &[&[0], sig]);
        let with = |params: &[u8]| tlv(tag::SEQUENCE, &[csr.signed, &alg(params), &sig]);
        assert!(parse(&with(&[5, 0])).is_ok());
        assert!(refusal(&with(&[])).contains("unsupported algorithm (1.2.840.113549.1.1.11 with"));
        assert!(refusal(&with(&[4, 0])).contains("1.2.840.113549.1.1.11, parameters with"));
        let k = key();
        let info = info(&name(&[]), &k);
        let sig = tlv(tag::BIT_STRING, &[&[0], &k.sign(&info).unwrap()]);
        let ecdsa = |params: &[u8]| tlv(tag::SEQUENCE, &[&oid("1.2.840.10045.4.3.2"), params]);
        assert!(parse(&tlv(tag::SEQUENCE, &[&info, &ecdsa(&[]), &sig])).is_ok());
        let der = tlv(tag::SEQUENCE, &[&info, &ecdsa(&[5, 0]), &sig]);
        assert!(refusal(&der).contains("parameters with a EcdsaP256 key"));
    }

    /// Every truncation and every single-bit flip of a valid request (NSS's RSA one and an
    /// rcgen ECDSA one) is refused with a BadRequest, never accepted and never a panic; random
    /// multi-byte damage too.
    #[test]
    fn damaged_requests_are_refused_never_a_panic() {
        let ecdsa = signed_request(
            &name(&[&[("2.5.4.3", tag::PRINTABLE_STRING, b"cluster1")]]),
            &key(),
        );
        for good in [NSS_REQUEST, &ecdsa] {
            assert!(parse(good).is_ok());
            for len in 0..good.len() {
                refusal(&good[..len]);
            }
            for bit in 0..good.len() * 8 {
                let mut der = good.to_vec();
                der[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    parse(&der).is_err(),
                    "bit {bit} of {} flipped: accepted",
                    good.len()
                );
            }
            let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
            for _ in 0..2000 {
                let mut der = good.to_vec();
                for _ in 0..1 + xorshift(&mut rng) % 8 {
                    let at = xorshift(&mut rng) as usize % der.len();
                    der[at] = xorshift(&mut rng) as u8;
                }
                let _ = parse(&der);
            }
        }
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }
}
