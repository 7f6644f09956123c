//! A DER reader for what certtool reads: certificates and certificate requests, their names,
//! keys and validity.
//!
//! Zero-copy (an element borrows its bytes from the input), strict about DER's length rules,
//! and without recursion of its own: callers walk the structures they know, so the depth is
//! theirs. Every read is bounds-checked and returns an [`Error`] naming the byte where the
//! input went wrong; nothing here panics on input. Written for certtool rather than taken from
//! a crate: RustCrypto's `der` + `x509-cert` cost ~75 KB on mipsel for these few structures,
//! and yasna's reader (whose writer rcgen already links) adds lengths without overflow checks
//! when it skips an element.

use std::fmt;

/// Universal tags (single-byte identifiers, as every structure we read uses).
pub(crate) mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const NUMERIC_STRING: u8 = 0x12;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const TELETEX_STRING: u8 = 0x14;
    pub const IA5_STRING: u8 = 0x16;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;

    /// A context-specific tag `[n]`, constructed (EXPLICIT, or IMPLICIT over a constructed
    /// type) or primitive.
    pub const fn context(n: u8, constructed: bool) -> u8 {
        0x80 | if constructed { 0x20 } else { 0 } | n
    }
}

/// Why the input is not the DER structure expected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    what: ErrorKind,
    /// Byte offset in the whole input.
    at: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrorKind {
    Truncated,
    Length,
    HighTag,
    Tag { expected: u8, found: u8 },
    Trailing,
    Invalid(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            ErrorKind::Truncated => f.write_str("truncated")?,
            ErrorKind::Length => f.write_str("a length that is not DER")?,
            ErrorKind::HighTag => f.write_str("an unsupported multi-byte tag")?,
            ErrorKind::Tag { expected, found } => {
                write!(f, "tag 0x{found:02x} where 0x{expected:02x} was expected")?
            }
            ErrorKind::Trailing => f.write_str("unexpected data")?,
            ErrorKind::Invalid(what) => f.write_str(what)?,
        }
        write!(f, " at byte {}", self.at)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// One element: its tag, its contents and its whole encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
    /// Offset of `value` in the whole input.
    at: usize,
}

impl<'a> Tlv<'a> {
    /// A reader over the contents (of a constructed element).
    pub fn contents(&self) -> Reader<'a> {
        Reader {
            data: self.value,
            pos: 0,
            base: self.at,
        }
    }

    /// An error about this element's contents.
    pub fn invalid(&self, what: &'static str) -> Error {
        Error {
            what: ErrorKind::Invalid(what),
            at: self.at,
        }
    }

    /// A BIT STRING's unused-bit count and bytes.
    pub fn bit_string(&self) -> Result<(u8, &'a [u8])> {
        self.check_tag(tag::BIT_STRING)?;
        match self.value.split_first() {
            Some((&unused, bits)) if unused < 8 && (unused == 0 || !bits.is_empty()) => {
                Ok((unused, bits))
            }
            _ => Err(self.invalid("a malformed BIT STRING")),
        }
    }

    /// A BIT STRING of whole bytes (a key or a signature).
    pub fn bit_string_bytes(&self) -> Result<&'a [u8]> {
        match self.bit_string()? {
            (0, bytes) => Ok(bytes),
            _ => Err(self.invalid("a BIT STRING that is not whole bytes")),
        }
    }

    /// A non-negative INTEGER's big-endian magnitude, without the sign byte.
    pub fn unsigned(&self) -> Result<&'a [u8]> {
        self.check_tag(tag::INTEGER)?;
        match self.value {
            [] => Err(self.invalid("an empty INTEGER")),
            [0, next, ..] if *next < 0x80 => Err(self.invalid("an INTEGER that is not DER")),
            [0xff, next, ..] if *next >= 0x80 => Err(self.invalid("an INTEGER that is not DER")),
            [first, ..] if *first >= 0x80 => Err(self.invalid("a negative INTEGER")),
            [0, rest @ ..] => Ok(rest),
            all => Ok(all),
        }
    }

    /// An OBJECT IDENTIFIER's contents, checked to be a well-formed OID.
    pub fn oid(&self) -> Result<&'a [u8]> {
        self.check_tag(tag::OID)?;
        oid_arcs(self.value).ok_or_else(|| self.invalid("a malformed OBJECT IDENTIFIER"))?;
        Ok(self.value)
    }

    fn check_tag(&self, expected: u8) -> Result<()> {
        if self.tag == expected {
            return Ok(());
        }
        Err(Error {
            what: ErrorKind::Tag {
                expected,
                found: self.tag,
            },
            at: self.at.saturating_sub(self.raw.len() - self.value.len()),
        })
    }
}

/// Reads the elements of a DER encoding one after the other.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data` in the whole input.
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            base: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn error(&self, what: ErrorKind, pos: usize) -> Error {
        Error {
            what,
            at: self.base + pos,
        }
    }

    fn byte(&self, pos: usize) -> Result<u8> {
        self.data
            .get(pos)
            .copied()
            .ok_or_else(|| self.error(ErrorKind::Truncated, pos))
    }

    /// The tag of the next element, if there is one.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>> {
        let start = self.pos;
        let tag = self.byte(start)?;
        if tag & 0x1f == 0x1f {
            return Err(self.error(ErrorKind::HighTag, start));
        }
        let first = self.byte(start + 1)?;
        let (len, header) = match first {
            0..0x80 => (usize::from(first), 2),
            // 0x80 is BER's indefinite length; more than 4 length bytes is more than we read.
            0x80 | 0x85.. => return Err(self.error(ErrorKind::Length, start + 1)),
            _ => {
                let n = usize::from(first & 0x7f);
                let mut len: u32 = 0;
                for i in 0..n {
                    len = (len << 8) | u32::from(self.byte(start + 2 + i)?);
                }
                // DER: the shortest form, so no leading zero byte and no long form below 128.
                if len < 0x80 || self.byte(start + 2)? == 0 {
                    return Err(self.error(ErrorKind::Length, start + 1));
                }
                let len = usize::try_from(len)
                    .map_err(|_| self.error(ErrorKind::Truncated, start + 1))?;
                (len, 2 + n)
            }
        };
        let value_start = start + header;
        let end = value_start
            .checked_add(len)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| self.error(ErrorKind::Truncated, start))?;
        self.pos = end;
        Ok(Tlv {
            tag,
            value: &self.data[value_start..end],
            raw: &self.data[start..end],
            at: self.base + value_start,
        })
    }

    /// The next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>> {
        let tlv = self.any()?;
        tlv.check_tag(tag)?;
        Ok(tlv)
    }

    /// The next element if it has `tag` (an OPTIONAL or DEFAULT field).
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>> {
        if self.peek_tag() == Some(tag) {
            return self.any().map(Some);
        }
        Ok(None)
    }

    /// Ends the reading: nothing may follow.
    pub fn finish(&self) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        Err(self.error(ErrorKind::Trailing, self.pos))
    }
}

/// An AlgorithmIdentifier (SEQUENCE { algorithm OID, parameters ANY OPTIONAL }): the OID's
/// contents and the parameters.
pub(crate) fn algorithm<'a>(reader: &mut Reader<'a>) -> Result<(&'a [u8], Option<Tlv<'a>>)> {
    let seq = reader.expect(tag::SEQUENCE)?;
    let mut r = seq.contents();
    let oid = r.expect(tag::OID)?.oid()?;
    let params = if r.is_empty() { None } else { Some(r.any()?) };
    r.finish()?;
    Ok((oid, params))
}

/// A SubjectPublicKeyInfo's algorithm and key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spki<'a> {
    /// The algorithm's OID contents.
    pub algorithm: &'a [u8],
    /// The key's BIT STRING: unused bits and bytes.
    pub unused_bits: u8,
    pub key: &'a [u8],
}

/// A SubjectPublicKeyInfo (SEQUENCE { AlgorithmIdentifier, BIT STRING }).
pub(crate) fn spki<'a>(spki: &Tlv<'a>) -> Result<Spki<'a>> {
    spki.check_tag(tag::SEQUENCE)?;
    let mut r = spki.contents();
    let (algorithm, _) = algorithm(&mut r)?;
    let (unused_bits, key) = r.expect(tag::BIT_STRING)?.bit_string()?;
    r.finish()?;
    Ok(Spki {
        algorithm,
        unused_bits,
        key,
    })
}

/// An AttributeTypeAndValue of a name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Atv<'a> {
    /// The attribute type's OID contents.
    pub oid: &'a [u8],
    pub value: Tlv<'a>,
}

/// A Name (RDNSequence): its relative distinguished names in order, each a list of
/// attributes (SET OF AttributeTypeAndValue).
pub(crate) fn name<'a>(name: &Tlv<'a>) -> Result<Vec<Vec<Atv<'a>>>> {
    name.check_tag(tag::SEQUENCE)?;
    let mut rdns = Vec::new();
    let mut r = name.contents();
    while !r.is_empty() {
        let set = r.expect(tag::SET)?;
        let mut attrs = Vec::new();
        let mut s = set.contents();
        while !s.is_empty() {
            let atv = s.expect(tag::SEQUENCE)?;
            let mut a = atv.contents();
            let oid = a.expect(tag::OID)?.oid()?;
            let value = a.any()?;
            a.finish()?;
            attrs.push(Atv { oid, value });
        }
        rdns.push(attrs);
    }
    Ok(rdns)
}

/// The text of a name attribute written as one of the string types a name is written in
/// (Printable, UTF8, IA5 or Numeric string); `None` for other types and bytes that are not
/// UTF-8.
pub(crate) fn text<'a>(value: &Tlv<'a>) -> Option<&'a str> {
    match value.tag {
        tag::PRINTABLE_STRING | tag::UTF8_STRING | tag::IA5_STRING | tag::NUMERIC_STRING => {
            std::str::from_utf8(value.value).ok()
        }
        _ => None,
    }
}

/// The arcs of an OID's contents; `None` when they are not a well-formed (minimal, complete,
/// 64-bit) encoding.
pub(crate) fn oid_arcs(content: &[u8]) -> Option<Vec<u64>> {
    let mut subids = Vec::new();
    let mut acc: u64 = 0;
    let mut fresh = true;
    for &b in content {
        // A sub-identifier's first byte is never 0x80 (that would be a leading zero).
        if fresh && b == 0x80 {
            return None;
        }
        if acc > u64::MAX >> 7 {
            return None;
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        fresh = b & 0x80 == 0;
        if fresh {
            subids.push(acc);
            acc = 0;
        }
    }
    if !fresh {
        return None;
    }
    let (&first, rest) = subids.split_first()?;
    let (a, b) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut arcs = vec![a, b];
    arcs.extend_from_slice(rest);
    Some(arcs)
}

/// An OID's contents in dotted form, for messages.
pub(crate) fn oid_string(content: &[u8]) -> String {
    match oid_arcs(content) {
        Some(arcs) => {
            let arcs: Vec<String> = arcs.iter().map(u64::to_string).collect();
            arcs.join(".")
        }
        None => "(malformed OID)".to_string(),
    }
}

/// A Time (UTCTime or GeneralizedTime, as RFC 5280 requires them: UTC, with seconds, `Z`)
/// in Unix seconds.
pub(crate) fn time(tlv: &Tlv<'_>) -> Result<i64> {
    let bad = || tlv.invalid("a malformed time");
    let (year, rest) = match tlv.tag {
        tag::UTC_TIME if tlv.value.len() == 13 => {
            let yy = digits(&tlv.value[..2]).ok_or_else(bad)?;
            // RFC 5280 4.1.2.5.1: YY >= 50 is 19YY.
            (
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
                &tlv.value[2..],
            )
        }
        tag::GENERALIZED_TIME if tlv.value.len() == 15 => {
            (digits(&tlv.value[..4]).ok_or_else(bad)?, &tlv.value[4..])
        }
        _ => return Err(tlv.invalid("a time that is not UTCTime or GeneralizedTime")),
    };
    let [m0, m1, d0, d1, h0, h1, n0, n1, s0, s1, b'Z'] = *rest else {
        return Err(bad());
    };
    let field = |hi, lo| digits(&[hi, lo]).ok_or_else(bad);
    let (month, day) = (field(m0, m1)?, field(d0, d1)?);
    let (hour, minute, second) = (field(h0, h1)?, field(n0, n1)?, field(s0, s1)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad());
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    Ok(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second))
}

/// ASCII decimal digits as a number.
fn digits(ascii: &[u8]) -> Option<u32> {
    ascii.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse of
/// Howard Hinnant's chrono algorithms).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &[u8]) -> Result<Tlv<'_>> {
        let mut r = Reader::new(input);
        let tlv = r.any()?;
        r.finish()?;
        Ok(tlv)
    }

    #[test]
    fn lengths_must_be_der() {
        assert_eq!(one(&[0x04, 0x01, 7]).unwrap().value, [7]);
        let long = [&[0x04, 0x81, 0x80][..], &[0; 0x80]].concat();
        assert_eq!(one(&long).unwrap().value.len(), 0x80);
        // Long form below 128, a leading zero length byte, indefinite, 5 length bytes.
        for bad in [
            &[0x04, 0x81, 0x01, 7][..],
            &[0x04, 0x82, 0x00, 0x80],
            &[0x30, 0x80, 0, 0],
            &[0x04, 0x85, 1, 0, 0, 0, 0],
        ] {
            assert!(
                one(bad).unwrap_err().to_string().contains("not DER"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn truncation_and_huge_lengths_are_errors() {
        assert!(one(&[]).is_err());
        assert!(one(&[0x04]).is_err());
        assert!(one(&[0x04, 0x02, 1]).is_err());
        assert!(one(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 1]).is_err());
        assert!(one(&[0x04, 0x82, 0x01]).is_err());
        assert!(one(&[0x1f, 0x01, 0x00]).is_err());
        let e = one(&[0x04, 0x00, 0x00]).unwrap_err();
        assert_eq!(e.to_string(), "unexpected data at byte 2");
    }

    #[test]
    fn tag_mismatch_says_what_and_where() {
        let mut r = Reader::new(&[0x30, 0x03, 0x02, 0x01, 0x05]);
        let seq = r.expect(tag::SEQUENCE).unwrap();
        let e = seq.contents().expect(tag::OID).unwrap_err();
        assert_eq!(e.to_string(), "tag 0x02 where 0x06 was expected at byte 2");
    }

    #[test]
    fn oids_decode_and_print() {
        // 1.2.840.113549.1.1.11 and 2.5.4.3, 2.999.3
        let rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
        assert_eq!(oid_string(&rsa), "1.2.840.113549.1.1.11");
        assert_eq!(oid_string(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(oid_string(&[0x88, 0x37, 0x03]), "2.999.3");
        for bad in [&[][..], &[0x2a, 0x86], &[0x2a, 0x80, 0x01], &[0xff; 11]] {
            assert_eq!(oid_arcs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integers_must_be_minimal_and_non_negative() {
        let int = |v: &[u8]| {
            let der = [&[0x02, v.len() as u8][..], v].concat();
            one(&der).unwrap().unsigned().map(<[u8]>::to_vec)
        };
        assert_eq!(int(&[0]).unwrap(), [0u8; 0]);
        assert_eq!(int(&[0, 0x80]).unwrap(), [0x80]);
        assert_eq!(int(&[1, 2]).unwrap(), [1, 2]);
        assert!(int(&[]).is_err());
        assert!(int(&[0, 1]).is_err());
        assert!(int(&[0x80]).is_err());
        assert!(int(&[0xff, 0x80]).is_err());
    }

    #[test]
    fn times_are_unix_seconds() {
        let t = |tag, s: &str| {
            let der = [&[tag, s.len() as u8][..], s.as_bytes()].concat();
            time(&one(&der).unwrap())
        };
        assert_eq!(t(tag::UTC_TIME, "700101000000Z").unwrap(), 0);
        assert_eq!(t(tag::UTC_TIME, "000101000000Z").unwrap(), 946_684_800);
        assert_eq!(t(tag::UTC_TIME, "491231235959Z").unwrap(), 2_524_607_999);
        assert_eq!(t(tag::UTC_TIME, "500101000000Z").unwrap(), -631_152_000);
        assert_eq!(
            t(tag::GENERALIZED_TIME, "21250630000000Z").unwrap(),
            4_906_915_200
        );
        assert_eq!(
            t(tag::GENERALIZED_TIME, "20240229120000Z").unwrap(),
            1_709_208_000
        );
        for bad in [
            "000101000000",
            "0001010000000",
            "000230000000Z",
            "001301000000Z",
            "000101240000Z",
            "00010100000aZ",
            "230229000000Z",
        ] {
            assert!(t(tag::UTC_TIME, bad).is_err(), "{bad}");
        }
        assert!(t(tag::GENERALIZED_TIME, "000101000000Z").is_err());
        assert!(t(tag::OCTET_STRING, "000101000000Z").is_err());
    }
}
