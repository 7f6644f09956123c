//! What qnetd reads from a DER certificate: serial, validity, subject, key, and the names a
//! client is matched by. Read with our DER reader ([`crate::asn1`]); the whole TBSCertificate
//! structure is checked, not only the fields we take.

use crate::asn1::{self, tag, Reader, Tlv};

pub use crate::asn1::Error;

/// id-at-commonName (RFC 4519), 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// id-ce-subjectAltName (RFC 5280), 2.5.29.17.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// GeneralName's `dNSName [2] IA5String`.
const DNS_NAME: u8 = tag::context(2, false);

/// The fields of a certificate the store's registry and the doctor report show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The low 64 bits of the serial number (ours are 64-bit at most: counters, a random CA serial).
    pub serial: u64,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
}

/// The names a client certificate carries, in certificate order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Subject commonName attributes that are text (Printable, UTF8, IA5 or Numeric string).
    pub common_names: Vec<String>,
    /// dNSName entries of the subjectAltName extension.
    pub dns_names: Vec<String>,
}

/// The parts of a TBSCertificate we use.
struct Tbs<'a> {
    serial: &'a [u8],
    not_before: i64,
    not_after: i64,
    subject: Tlv<'a>,
    /// The subjectPublicKey bits.
    public_key: &'a [u8],
    extensions: Vec<Extension<'a>>,
}

/// An extension's extnID (OID contents) and extnValue (the OCTET STRING's contents).
struct Extension<'a> {
    id: &'a [u8],
    value: &'a [u8],
}

/// Decodes a DER certificate (RFC 5280 4.1); bytes after it are ignored (as PEM readers hand
/// them over).
fn decode(der: &[u8]) -> Result<Tbs<'_>, Error> {
    let cert = Reader::new(der).expect(tag::SEQUENCE)?;
    let mut c = cert.contents();
    let tbs = c.expect(tag::SEQUENCE)?;
    asn1::algorithm(&mut c)?;
    c.expect(tag::BIT_STRING)?.bit_string()?;
    c.finish()?;
    decode_tbs(&tbs)
}

fn decode_tbs<'a>(tbs: &Tlv<'a>) -> Result<Tbs<'a>, Error> {
    let mut t = tbs.contents();
    if let Some(version) = t.optional(tag::context(0, true))? {
        let mut v = version.contents();
        let int = v.expect(tag::INTEGER)?;
        v.finish()?;
        if !matches!(int.unsigned()?, [] | [1] | [2]) {
            return Err(int.invalid("an unknown certificate version"));
        }
    }
    let serial = t.expect(tag::INTEGER)?;
    // The serial's sign is not ours to judge (some CAs wrote negative ones): its bytes only.
    if serial.value.is_empty() {
        return Err(serial.invalid("an empty serial number"));
    }
    asn1::algorithm(&mut t)?;
    asn1::name(&t.expect(tag::SEQUENCE)?)?;
    let validity = t.expect(tag::SEQUENCE)?;
    let mut v = validity.contents();
    let not_before = asn1::time(&v.any()?)?;
    let not_after = asn1::time(&v.any()?)?;
    v.finish()?;
    let subject = t.expect(tag::SEQUENCE)?;
    asn1::name(&subject)?;
    let public_key = asn1::spki(&t.expect(tag::SEQUENCE)?)?.key;
    t.optional(tag::context(1, false))?;
    t.optional(tag::context(2, false))?;
    let extensions = match t.optional(tag::context(3, true))? {
        Some(explicit) => extensions(&explicit)?,
        None => Vec::new(),
    };
    t.finish()?;
    Ok(Tbs {
        serial: serial.value,
        not_before,
        not_after,
        subject,
        public_key,
        extensions,
    })
}

/// `[3] EXPLICIT SEQUENCE OF Extension`.
fn extensions<'a>(explicit: &Tlv<'a>) -> Result<Vec<Extension<'a>>, Error> {
    let mut outer = explicit.contents();
    let list = outer.expect(tag::SEQUENCE)?;
    outer.finish()?;
    let mut out = Vec::new();
    let mut r = list.contents();
    while !r.is_empty() {
        let ext = r.expect(tag::SEQUENCE)?;
        let mut e = ext.contents();
        let id = e.expect(tag::OID)?.oid()?;
        e.optional(tag::BOOLEAN)?;
        let value = e.expect(tag::OCTET_STRING)?;
        e.finish()?;
        out.push(Extension {
            id,
            value: value.value,
        });
    }
    Ok(out)
}

/// What checking a certificate's signature takes (`import-nss` checks the chain it migrates).
#[cfg(feature = "nss")]
pub(crate) struct Signed<'a> {
    /// The TBSCertificate's bytes, which the signature covers.
    pub tbs: &'a [u8],
    /// The signature algorithm's OID contents.
    pub algorithm: &'a [u8],
    pub signature: &'a [u8],
    /// The issuer name's DER.
    pub issuer: &'a [u8],
}

#[cfg(feature = "nss")]
pub(crate) fn signed(der: &[u8]) -> Result<Signed<'_>, Error> {
    let cert = Reader::new(der).expect(tag::SEQUENCE)?;
    let mut c = cert.contents();
    let tbs = c.expect(tag::SEQUENCE)?;
    let (algorithm, _) = asn1::algorithm(&mut c)?;
    let signature = c.expect(tag::BIT_STRING)?.bit_string_bytes()?;
    c.finish()?;
    decode_tbs(&tbs)?;
    // Checked by decode_tbs: [0] version, serial, signature, then the issuer.
    let mut t = tbs.contents();
    t.optional(tag::context(0, true))?;
    t.expect(tag::INTEGER)?;
    asn1::algorithm(&mut t)?;
    let issuer = t.expect(tag::SEQUENCE)?.raw;
    Ok(Signed {
        tbs: tbs.raw,
        algorithm,
        signature,
        issuer,
    })
}

/// Serial and validity of a DER certificate.
pub fn summary(der: &[u8]) -> Result<Summary, Error> {
    let tbs = decode(der)?;
    Ok(Summary {
        serial: low_u64(tbs.serial),
        not_before: tbs.not_before,
        not_after: tbs.not_after,
    })
}

/// The subject name of a DER certificate, as its DER encoding.
pub(crate) fn subject(der: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(decode(der)?.subject.raw.to_vec())
}

/// The subjectPublicKey bits of a DER certificate (for EC keys the point, for RSA keys the
/// RSAPublicKey structure): what a private key must match to be that certificate's key.
pub(crate) fn public_key(der: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(decode(der)?.public_key.to_vec())
}

/// Subject CNs and SAN dNSNames of a DER certificate. An undecodable certificate has no names;
/// an unreadable or repeated SAN extension contributes none; a CN that is not text is skipped.
pub fn names(der: &[u8]) -> Names {
    let Ok(tbs) = decode(der) else {
        return Names::default();
    };
    let common_names = asn1::name(&tbs.subject)
        .unwrap_or_default()
        .iter()
        .flatten()
        .filter(|atv| atv.oid == COMMON_NAME)
        .filter_map(|atv| asn1::text(&atv.value).map(str::to_string))
        .collect();
    let mut sans = tbs
        .extensions
        .iter()
        .filter(|ext| ext.id == SUBJECT_ALT_NAME);
    let dns_names = match (sans.next(), sans.next()) {
        (Some(san), None) => dns_names(san.value),
        _ => Vec::new(),
    };
    Names {
        common_names,
        dns_names,
    }
}

/// The dNSNames of a GeneralNames value. Entries are read leniently, one by one: an entry of
/// another kind or with bytes that are not UTF-8 is skipped, not fatal to the others (many
/// certificates put UTF-8 where RFC 5280 says IA5String).
fn dns_names(general_names: &[u8]) -> Vec<String> {
    let mut outer = Reader::new(general_names);
    let Ok(seq) = outer.expect(tag::SEQUENCE) else {
        return Vec::new();
    };
    if outer.finish().is_err() {
        return Vec::new();
    }
    let mut entries = Vec::new();
    let mut r = seq.contents();
    while !r.is_empty() {
        let Ok(gn) = r.any() else {
            return Vec::new();
        };
        entries.push(gn);
    }
    entries
        .iter()
        .filter(|gn| gn.tag == DNS_NAME)
        .filter_map(|gn| std::str::from_utf8(gn.value).ok().map(str::to_string))
        .collect()
}

/// The low 64 bits of a big-endian unsigned integer.
fn low_u64(be: &[u8]) -> u64 {
    let tail = &be[be.len().saturating_sub(8)..];
    tail.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, DnValue, KeyPair, SanType, SerialNumber};

    fn cert(params: CertificateParams) -> Vec<u8> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn summary_reads_serial_and_validity() {
        let mut p = CertificateParams::default();
        p.serial_number = Some(SerialNumber::from(0x0102_0304_0506_0708_u64));
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2125, 6, 30);
        let s = summary(&cert(p)).unwrap();
        assert_eq!(s.serial, 0x0102_0304_0506_0708);
        assert_eq!(s.not_before, 946_684_800);
        assert_eq!(s.not_after, 4_906_915_200);
    }

    #[test]
    fn summary_ignores_bytes_after_the_certificate_but_refuses_garbage() {
        let mut der = cert(CertificateParams::default());
        der.extend_from_slice(b"trailing");
        assert!(summary(&der).is_ok());
        assert!(summary(b"not a certificate").is_err());
        assert!(summary(&der[..40]).is_err());
    }

    #[test]
    fn serial_keeps_the_low_64_bits() {
        assert_eq!(low_u64(&[]), 0);
        assert_eq!(low_u64(&[0x00, 0xff]), 0xff);
        assert_eq!(
            low_u64(&[0x7f, 1, 2, 3, 4, 5, 6, 7, 8]),
            0x0102_0304_0506_0708
        );
    }

    #[test]
    fn names_reads_every_text_cn_and_dns_san() {
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(
            DnType::CommonName,
            DnValue::PrintableString("cluster1".try_into().unwrap()),
        );
        p.distinguished_name
            .push(DnType::OrganizationName, "not a name");
        p.subject_alt_names = vec![
            SanType::DnsName("a.example".try_into().unwrap()),
            SanType::IpAddress("192.0.2.1".parse().unwrap()),
            SanType::DnsName("b.example".try_into().unwrap()),
        ];
        let n = names(&cert(p));
        assert_eq!(n.common_names, ["cluster1"]);
        assert_eq!(n.dns_names, ["a.example", "b.example"]);
    }

    #[test]
    fn a_utf8_cn_is_read_and_a_bmp_cn_is_skipped() {
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CommonName, DnValue::Utf8String("clüster".into()));
        assert_eq!(names(&cert(p)).common_names, ["clüster"]);

        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        let bmp = rcgen::string::BmpString::try_from("cluster").unwrap();
        p.distinguished_name
            .push(DnType::CommonName, DnValue::BmpString(bmp));
        assert!(names(&cert(p)).common_names.is_empty());
    }

    #[test]
    fn garbage_has_no_names() {
        assert_eq!(names(b"not a certificate"), Names::default());
        assert_eq!(names(&[]), Names::default());
    }

    #[test]
    fn dns_names_skips_entries_it_cannot_read() {
        // SEQUENCE { [2] "a", [2] 0xff (not UTF-8), [7] 4 bytes, [2] "b" }
        let gn = [
            0x30, 0x0f, 0x82, 0x01, b'a', 0x82, 0x01, 0xff, 0x87, 0x04, 192, 0, 2, 1, 0x82, 0x01,
            b'b',
        ];
        assert_eq!(dns_names(&gn), ["a", "b"]);
        assert!(dns_names(&[0x30, 0x05, 0x82]).is_empty());
    }

    /// The certificate upstream's `corosync-qnetd-certutil -s` made with NSS (RSA-2048).
    const NSS_CERT: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/nss-certutil-3.0.3/cluster-mycluster.crt"
    ));

    #[test]
    fn reads_the_certificate_nss_made() {
        // What `openssl x509 -serial -startdate -enddate` reads: serial 0x68, 2026-11-21
        // 22:51:35 to 2126-11-21 22:51:35 UTC (a UTCTime, then a GeneralizedTime).
        let s = summary(NSS_CERT).unwrap();
        assert_eq!(s.serial, 0x68);
        assert_eq!(s.not_before, 1_795_301_495);
        assert_eq!(s.not_after, 4_950_975_095);
        assert_eq!(names(NSS_CERT).common_names, ["mycluster"]);
        assert!(subject(NSS_CERT).unwrap().ends_with(b"mycluster"));
        assert_eq!(public_key(NSS_CERT).unwrap()[..2], [0x30, 0x82]);
    }

    /// Every truncation, every single-bit flip and random multi-byte damage of a certificate
    /// (NSS's RSA one and an rcgen ECDSA one with SANs) is read without a panic; a truncated
    /// certificate never decodes.
    #[test]
    fn damaged_certificates_never_panic() {
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::CommonName, DnValue::Utf8String("c1".into()));
        p.subject_alt_names = vec![SanType::DnsName("a.example".try_into().unwrap())];
        let ecdsa = cert(p);
        for good in [NSS_CERT, &ecdsa] {
            let read = |der: &[u8]| {
                let _ = (summary(der), subject(der), public_key(der), names(der));
            };
            for len in 0..good.len() {
                assert!(summary(&good[..len]).is_err(), "{len}");
                read(&good[..len]);
            }
            for bit in 0..good.len() * 8 {
                let mut der = good.to_vec();
                der[bit / 8] ^= 1 << (bit % 8);
                read(&der);
            }
            let mut rng = 0x2545_f491_4f6c_dd1d_u64;
            for _ in 0..5000 {
                let mut der = good.to_vec();
                for _ in 0..1 + xorshift(&mut rng) % 8 {
                    let at = xorshift(&mut rng) as usize % der.len();
                    der[at] = xorshift(&mut rng) as u8;
                }
                read(&der);
            }
        }
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// What x509-parser reads: serial, validity, text CNs and dNSNames (`None` if it refuses).
    fn reference(der: &[u8]) -> Option<(Summary, Names)> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let summary = Summary {
            serial: low_u64(cert.tbs_certificate.raw_serial()),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        };
        let common_names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect();
        let dns_names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|gn| match gn {
                    GeneralName::DNSName(name) => Some(name.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let names = Names {
            common_names,
            dns_names,
        };
        Some((summary, names))
    }

    /// Random certificates (serials of 1 to 20 bytes, validity from 1950 to 9999 so both
    /// UTCTime and GeneralizedTime, CNs in three string types, SANs) read as x509-parser
    /// reads them; so do damaged ones whenever both readers accept them.
    #[test]
    fn agrees_with_x509_parser() {
        let mut rng = 0x1234_5678_9abc_def1_u64;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        for round in 0..300 {
            let mut p = CertificateParams::default();
            let serial: Vec<u8> = (0..1 + xorshift(&mut rng) % 20)
                .map(|_| xorshift(&mut rng) as u8)
                .collect();
            p.serial_number = Some(SerialNumber::from(serial));
            // 1950-01-01 to 9999-12-31.
            let span = 253_402_300_799 + 631_152_000;
            let at = |x: u64| (x % span) as i64 - 631_152_000;
            let (a, b) = (at(xorshift(&mut rng)), at(xorshift(&mut rng)));
            p.not_before = time::OffsetDateTime::from_unix_timestamp(a.min(b)).unwrap();
            p.not_after = time::OffsetDateTime::from_unix_timestamp(a.max(b)).unwrap();
            p.distinguished_name = rcgen::DistinguishedName::new();
            let cn = format!("node{round}");
            p.distinguished_name.push(
                DnType::CommonName,
                match round % 3 {
                    0 => DnValue::PrintableString(cn.as_str().try_into().unwrap()),
                    1 => DnValue::Utf8String(cn.clone()),
                    _ => DnValue::Ia5String(cn.as_str().try_into().unwrap()),
                },
            );
            p.subject_alt_names = (0..xorshift(&mut rng) % 4)
                .map(|i| match i % 2 {
                    0 => SanType::DnsName(format!("n{i}.example").try_into().unwrap()),
                    _ => SanType::IpAddress("192.0.2.1".parse().unwrap()),
                })
                .collect();
            let der = p.self_signed(&key).unwrap().der().to_vec();
            let (summary_ref, names_ref) = reference(&der).unwrap();
            assert_eq!(summary(&der).unwrap(), summary_ref, "round {round}");
            assert_eq!(names(&der), names_ref, "round {round}");
            for _ in 0..20 {
                let mut bad = der.clone();
                let at = xorshift(&mut rng) as usize % bad.len();
                bad[at] ^= 1 << (xorshift(&mut rng) % 8);
                if let (Ok(ours), Some((theirs, _))) = (summary(&bad), reference(&bad)) {
                    assert_eq!(ours, theirs, "round {round}, byte {at}");
                }
            }
        }
    }
}
