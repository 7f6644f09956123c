//! What qnetd reads from a DER certificate: serial, validity, and the names a client is matched
//! by. Decoded with RustCrypto's `x509-cert` (already linked for PKCS#12), never by hand.

use der::asn1::{Any, ObjectIdentifier};
use der::{Decode, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::Certificate;

/// id-at-commonName (RFC 4519).
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// id-ce-subjectAltName (RFC 5280).
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// GeneralName's `dNSName [2] IA5String`.
const DNS_NAME: TagNumber = TagNumber(2);

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

/// Decodes a DER certificate; bytes after it are ignored (as PEM readers hand them over).
fn decode(der: &[u8]) -> Result<Certificate, der::Error> {
    let mut reader = SliceReader::new(der)?;
    Certificate::decode(&mut reader)
}

/// Serial and validity of a DER certificate.
pub fn summary(der: &[u8]) -> Result<Summary, der::Error> {
    let cert = decode(der)?;
    let tbs = cert.tbs_certificate();
    let validity = tbs.validity();
    Ok(Summary {
        serial: low_u64(tbs.serial_number().as_bytes()),
        not_before: unix_seconds(validity.not_before.to_unix_duration()),
        not_after: unix_seconds(validity.not_after.to_unix_duration()),
    })
}

/// The subject name of a DER certificate.
pub(crate) fn subject(der: &[u8]) -> Result<x509_cert::name::Name, der::Error> {
    Ok(decode(der)?.tbs_certificate().subject().clone())
}

/// The subjectPublicKey bits of a DER certificate (for EC keys the point, for RSA keys the
/// RSAPublicKey structure): what a private key must match to be that certificate's key.
pub(crate) fn public_key(der: &[u8]) -> Result<Vec<u8>, der::Error> {
    let cert = decode(der)?;
    let spki = cert.tbs_certificate().subject_public_key_info();
    Ok(spki.subject_public_key.raw_bytes().to_vec())
}

/// Subject CNs and SAN dNSNames of a DER certificate. An undecodable certificate has no names;
/// an unreadable or repeated SAN extension contributes none; a CN that is not text is skipped.
pub fn names(der: &[u8]) -> Names {
    let Ok(cert) = decode(der) else {
        return Names::default();
    };
    let tbs = cert.tbs_certificate();
    let common_names = tbs
        .subject()
        .iter()
        .filter(|atv| atv.oid == COMMON_NAME)
        .filter_map(|atv| text(&atv.value))
        .collect();
    let mut sans = tbs
        .extensions()
        .into_iter()
        .flatten()
        .filter(|ext| ext.extn_id == SUBJECT_ALT_NAME);
    let dns_names = match (sans.next(), sans.next()) {
        (Some(san), None) => dns_names(san.extn_value.as_bytes()),
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
    let Ok(entries) = Vec::<Any>::from_der(general_names) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|gn| {
            gn.tag()
                == Tag::ContextSpecific {
                    constructed: false,
                    number: DNS_NAME,
                }
        })
        .filter_map(|gn| std::str::from_utf8(gn.value()).ok().map(str::to_string))
        .collect()
}

/// An attribute value as text, if it is one of the string types a name is written in.
fn text(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(value.value()).ok().map(str::to_string)
        }
        _ => None,
    }
}

/// The low 64 bits of a big-endian unsigned integer.
fn low_u64(be: &[u8]) -> u64 {
    let tail = &be[be.len().saturating_sub(8)..];
    tail.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

fn unix_seconds(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
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
}
