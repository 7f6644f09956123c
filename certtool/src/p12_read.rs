//! Reads the private key out of a PKCS#12 file that NSS `pk12util -o` wrote: the only way NSS
//! hands out a private key. Used by `qnetd cert import-nss` on a file it made itself a moment
//! earlier in a private temp directory, so the MAC is not checked; a wrong password or a
//! damaged file still fails, on the padding or the PKCS#8 structure.
//!
//! What pk12util 3.87 writes (measured): the key in a pkcs8ShroudedKeyBag inside a plain `data`
//! content, PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC (older NSS: SHA-1 PRF, AES-128);
//! certificates in an encrypted content, which we skip (certutil gives them to us as DER).

use crate::asn1::{self, oid_string, tag, Reader, Tlv};

/// The OIDs we read (contents only).
mod oid {
    /// id-data, 1.2.840.113549.1.7.1.
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 7, 1];
    /// pkcs8ShroudedKeyBag, 1.2.840.113549.1.12.10.1.2.
    pub const SHROUDED_KEY_BAG: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 12, 10, 1, 2];
    /// PBES2 and PBKDF2, 1.2.840.113549.1.5.13 and .12.
    pub const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 5, 13];
    pub const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 5, 12];
    /// hmacWithSHA1/256/384/512, 1.2.840.113549.2.{7,9,10,11}.
    pub const HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 2, 7];
    pub const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 2, 9];
    pub const HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 2, 10];
    pub const HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 2, 11];
    /// aes128-CBC and aes256-CBC, 2.16.840.1.101.3.4.1.{2,42}.
    pub const AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 1, 0x65, 3, 4, 1, 2];
    pub const AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 1, 0x65, 3, 4, 1, 42];
}

/// The PKCS#8 DER of every shrouded key in `p12`, decrypted with `password`.
pub fn private_keys(p12: &[u8], password: &str) -> Result<Vec<Vec<u8>>, String> {
    let bad = |what: &'static str| {
        move |e: asn1::Error| format!("the PKCS#12 file's {what} does not parse: {e}")
    };
    let p12 = ber_to_der(p12)?;
    let auth_safe = pfx_content(&p12).map_err(bad("outer structure"))?;
    let Some(auth_safe) = auth_safe else {
        return Err("the PKCS#12 file is not password-integrity protected data".into());
    };
    let auth_safe = ber_to_der(auth_safe)?;
    let contents = content_infos(&auth_safe).map_err(bad("content list"))?;
    let mut keys = Vec::new();
    // Contents of another type (NSS's encrypted certificates) are skipped.
    for data in contents.into_iter().flatten() {
        let bags = ber_to_der(data)?;
        for info in shrouded_keys(&bags).map_err(bad("bags"))? {
            let (scheme, encrypted) = encrypted_private_key_info(info).map_err(bad("key bag"))?;
            keys.push(decrypt(&scheme, encrypted, password)?);
        }
    }
    Ok(keys)
}

/// PFX ::= SEQUENCE { version, authSafe ContentInfo, macData OPTIONAL }: the authSafe's
/// data, `None` if it is not of type `data` (public-key integrity mode).
fn pfx_content(pfx: &[u8]) -> asn1::Result<Option<&[u8]>> {
    let mut top = Reader::new(pfx);
    let mut r = top.expect(tag::SEQUENCE)?.contents();
    top.finish()?;
    r.expect(tag::INTEGER)?;
    let content = content_info(&r.expect(tag::SEQUENCE)?)?;
    r.optional(tag::SEQUENCE)?;
    r.finish()?;
    Ok(content)
}

/// ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }: the OCTET STRING
/// of a `data` content, `None` for other types.
fn content_info<'a>(ci: &Tlv<'a>) -> asn1::Result<Option<&'a [u8]>> {
    let mut r = ci.contents();
    let content_type = r.expect(tag::OID)?.oid()?;
    let mut explicit = r.expect(tag::context(0, true))?.contents();
    r.finish()?;
    let content = explicit.any()?;
    explicit.finish()?;
    if content_type != oid::DATA {
        return Ok(None);
    }
    if content.tag != tag::OCTET_STRING {
        return Err(content.invalid("a data content that is not an OCTET STRING"));
    }
    Ok(Some(content.value))
}

/// AuthenticatedSafe ::= SEQUENCE OF ContentInfo: each one's data (see [`content_info`]).
fn content_infos(der: &[u8]) -> asn1::Result<Vec<Option<&[u8]>>> {
    let mut top = Reader::new(der);
    let mut r = top.expect(tag::SEQUENCE)?.contents();
    top.finish()?;
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(content_info(&r.expect(tag::SEQUENCE)?)?);
    }
    Ok(out)
}

/// SafeContents ::= SEQUENCE OF SafeBag { bagId, [0] EXPLICIT bagValue, bagAttributes
/// OPTIONAL }: the values of the pkcs8ShroudedKeyBags.
fn shrouded_keys(der: &[u8]) -> asn1::Result<Vec<Tlv<'_>>> {
    let mut top = Reader::new(der);
    let mut r = top.expect(tag::SEQUENCE)?.contents();
    top.finish()?;
    let mut keys = Vec::new();
    while !r.is_empty() {
        let mut bag = r.expect(tag::SEQUENCE)?.contents();
        let id = bag.expect(tag::OID)?.oid()?;
        let mut explicit = bag.expect(tag::context(0, true))?.contents();
        let value = explicit.any()?;
        explicit.finish()?;
        bag.optional(tag::SET)?;
        bag.finish()?;
        if id == oid::SHROUDED_KEY_BAG {
            keys.push(value);
        }
    }
    Ok(keys)
}

/// What PBES2 says about the key's encryption (RFC 8018 A.2, A.4, B.2.2).
struct Pbes2<'a> {
    salt: &'a [u8],
    iterations: u32,
    prf: ring::pbkdf2::Algorithm,
    key_len: usize,
    iv: &'a [u8],
}

/// The scheme's parameters, or why we cannot decrypt with it.
type Scheme<'a> = Result<Pbes2<'a>, String>;

/// EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData OCTET STRING }.
fn encrypted_private_key_info<'a>(info: Tlv<'a>) -> asn1::Result<(Scheme<'a>, &'a [u8])> {
    if info.tag != tag::SEQUENCE {
        return Err(info.invalid("a key bag that is not a SEQUENCE"));
    }
    let mut r = info.contents();
    let (scheme, params) = asn1::algorithm(&mut r)?;
    let encrypted = r.expect(tag::OCTET_STRING)?.value;
    r.finish()?;
    if scheme != oid::PBES2 {
        let scheme = oid_string(scheme);
        return Ok((
            Err(format!(
                "the key is encrypted with {scheme}, not PBES2; only PBES2 is supported"
            )),
            encrypted,
        ));
    }
    let params = params.ok_or_else(|| info.invalid("PBES2 without parameters"))?;
    Ok((pbes2(&params)?, encrypted))
}

/// PBES2-params ::= SEQUENCE { keyDerivationFunc (PBKDF2), encryptionScheme (AES-CBC) }.
fn pbes2<'a>(params: &Tlv<'a>) -> asn1::Result<Scheme<'a>> {
    let mut r = params.contents();
    let (kdf, kdf_params) = asn1::algorithm(&mut r)?;
    let (cipher, iv) = asn1::algorithm(&mut r)?;
    r.finish()?;
    if kdf != oid::PBKDF2 {
        return Ok(Err("the key's key derivation is not PBKDF2".into()));
    }
    let kdf_params = kdf_params.ok_or_else(|| params.invalid("PBKDF2 without parameters"))?;
    // PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER,
    //   keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT hmacWithSHA1 }
    let mut p = kdf_params.contents();
    let salt = p.expect(tag::OCTET_STRING)?.value;
    let count = p.expect(tag::INTEGER)?;
    p.optional(tag::INTEGER)?;
    let prf = if p.is_empty() {
        oid::HMAC_SHA1
    } else {
        asn1::algorithm(&mut p)?.0
    };
    p.finish()?;
    let iterations = match count.unsigned()? {
        bytes @ [_, ..] if bytes.len() <= 4 => {
            bytes.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b))
        }
        _ => return Err(count.invalid("an iteration count that is not 1 to 2^32-1")),
    };
    let prf = match prf {
        oid::HMAC_SHA1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
        oid::HMAC_SHA256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
        oid::HMAC_SHA384 => ring::pbkdf2::PBKDF2_HMAC_SHA384,
        oid::HMAC_SHA512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        other => {
            return Ok(Err(format!(
                "unsupported PBKDF2 function {}",
                oid_string(other)
            )))
        }
    };
    let key_len = match cipher {
        oid::AES128_CBC => 16,
        oid::AES256_CBC => 32,
        other => return Ok(Err(format!("unsupported key cipher {}", oid_string(other)))),
    };
    let iv = match iv {
        Some(iv) if iv.tag == tag::OCTET_STRING && iv.value.len() == 16 => iv.value,
        _ => return Err(params.invalid("an AES-CBC IV that is not 16 bytes")),
    };
    Ok(Ok(Pbes2 {
        salt,
        iterations,
        prf,
        key_len,
        iv,
    }))
}

/// NSS writes PKCS#12 in BER: indefinite lengths and OCTET STRINGs in pieces, which our DER
/// reader (rightly) refuses. Re-encodes one element and everything inside it as DER: definite
/// minimal lengths, constructed strings joined into one primitive, SET elements sorted.
/// OCTET STRING contents are left as they are (the caller converts nested encodings).
pub(crate) fn ber_to_der(input: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let rest = convert(input, &mut out, 0)?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the PKCS#12 structure", rest.len()));
    }
    Ok(out)
}

const MAX_DEPTH: u32 = 32;

/// Converts one element at the start of `input` into `out`; returns what follows it.
fn convert<'a>(input: &'a [u8], out: &mut Vec<u8>, depth: u32) -> Result<&'a [u8], String> {
    let malformed = || "malformed BER in the PKCS#12 file".to_string();
    if depth > MAX_DEPTH {
        return Err(malformed());
    }
    let (tag, after_tag) = read_tag(input).ok_or_else(malformed)?;
    let (len, body) = read_len(after_tag).ok_or_else(malformed)?;
    let constructed = tag[0] & 0x20 != 0;
    if !constructed {
        let len = len.ok_or_else(malformed)?;
        if body.len() < len {
            return Err(malformed());
        }
        put(out, tag, &body[..len]);
        return Ok(&body[len..]);
    }
    let mut children = Vec::new();
    let rest = match len {
        Some(len) => {
            if body.len() < len {
                return Err(malformed());
            }
            let mut inner = &body[..len];
            while !inner.is_empty() {
                let mut child = Vec::new();
                inner = convert(inner, &mut child, depth + 1)?;
                children.push(child);
            }
            &body[len..]
        }
        None => {
            let mut inner = body;
            loop {
                if inner.starts_with(&[0, 0]) {
                    break &inner[2..];
                }
                if inner.is_empty() {
                    return Err(malformed());
                }
                let mut child = Vec::new();
                inner = convert(inner, &mut child, depth + 1)?;
                children.push(child);
            }
        }
    };
    // A constructed universal string type (OCTET STRING 0x24, BIT STRING excluded: NSS does
    // not split those) becomes one primitive string.
    if tag == [0x24] {
        let mut joined = Vec::new();
        for c in &children {
            let (ctag, after) = read_tag(c).ok_or_else(malformed)?;
            let (clen, cbody) = read_len(after).ok_or_else(malformed)?;
            if ctag != [0x04] || clen != Some(cbody.len()) {
                return Err(malformed());
            }
            joined.extend_from_slice(cbody);
        }
        put(out, &[0x04], &joined);
        return Ok(rest);
    }
    if tag == [0x31] {
        children.sort();
    }
    put(out, tag, &children.concat());
    Ok(rest)
}

fn read_tag(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = *input.first()?;
    let mut n = 1;
    if first & 0x1f == 0x1f {
        while input.get(n)? & 0x80 != 0 {
            n += 1;
        }
        n += 1;
    }
    (input.len() >= n).then(|| input.split_at(n))
}

/// `None` = indefinite length.
#[allow(clippy::type_complexity)]
fn read_len(input: &[u8]) -> Option<(Option<usize>, &[u8])> {
    let first = *input.first()?;
    if first < 0x80 {
        return Some((Some(first as usize), &input[1..]));
    }
    if first == 0x80 {
        return Some((None, &input[1..]));
    }
    let n = (first & 0x7f) as usize;
    if n > 4 || input.len() < 1 + n {
        return None;
    }
    let len = input[1..=n]
        .iter()
        .fold(0usize, |a, b| (a << 8) | *b as usize);
    Some((Some(len), &input[1 + n..]))
}

fn put(out: &mut Vec<u8>, tag: &[u8], content: &[u8]) {
    out.extend_from_slice(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

fn decrypt(scheme: &Scheme<'_>, encrypted: &[u8], password: &str) -> Result<Vec<u8>, String> {
    let scheme = scheme.as_ref().map_err(String::clone)?;
    let rounds = std::num::NonZeroU32::new(scheme.iterations)
        .ok_or_else(|| "the key's PBKDF2 iteration count is 0".to_string())?;
    // NSS has derived PBES2 keys from the UTF-8 password and, in some versions, from its
    // BMPString form (as PKCS#12's own KDF does): try both.
    let mut bmp: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    bmp.extend_from_slice(&[0, 0]);
    for secret in [password.as_bytes(), bmp.as_slice()] {
        let mut key = vec![0u8; scheme.key_len];
        ring::pbkdf2::derive(scheme.prf, rounds, scheme.salt, secret, &mut key);
        if let Some(plain) = aes_cbc_decrypt(&key, scheme.iv, encrypted) {
            let mut r = Reader::new(&plain);
            if r.any().is_ok() && r.finish().is_ok() {
                return Ok(plain);
            }
        }
    }
    Err("the key in the PKCS#12 file does not decrypt with the expected password".into())
}

fn aes_cbc_decrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, KeyIvInit};
    match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_vec::<Pkcs7>(data)
            .ok(),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_vec::<Pkcs7>(data)
            .ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our own writer (p12.rs) uses the same scheme: what it seals, this opens.
    #[test]
    fn reads_back_what_p12_build_writes() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let p12 = crate::p12::build(
            &crate::p12::Identity {
                key_pkcs8_der: &key.serialize_der(),
                cert_der: cert.der(),
                nickname: "n",
                ca_cert_der: cert.der(),
                ca_nickname: "c",
            },
            "pw",
        )
        .unwrap();
        assert_eq!(private_keys(&p12, "pw").unwrap(), [key.serialize_der()]);
        assert!(private_keys(&p12, "wrong").is_err());
        assert!(private_keys(b"junk", "pw").is_err());
    }

    const NSS_DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/nss-certutil-3.0.3/"
    );

    /// The file NSS's pk12util wrote (BER, the key bag in a plain data content) gives the key
    /// openssl reads from it; the files `openssl pkcs12 -export` wrote with PBES1 are refused.
    #[test]
    fn reads_the_key_nss_wrote() {
        let read = |f: &str| std::fs::read(format!("{NSS_DIR}{f}")).unwrap();
        let keys = private_keys(&read("qdevice-net-node.p12"), "").unwrap();
        assert_eq!(keys, [read("qdevice-net-node.key.der")]);
        assert!(private_keys(&read("qdevice-net-node.p12"), "x").is_err());
        for pbes1 in [
            "openssl-made-legacy3des.p12",
            "openssl-made-pbe_sha1_3des.p12",
        ] {
            let e = private_keys(&read(pbes1), "").unwrap_err();
            assert!(e.contains("only PBES2 is supported"), "{pbes1}: {e}");
        }
        let keys = private_keys(&read("openssl-made-ossl3default.p12"), "").unwrap();
        assert_eq!(keys.len(), 1);
    }

    /// Every truncation of NSS's file is an error; every truncation of one of ours (2048
    /// PBKDF2 rounds, where NSS's 600000 would make this slow) too, and a bit flipped in each
    /// of its bytes (a different bit from byte to byte) gives an error or a key, never a panic.
    #[test]
    fn damaged_files_never_panic() {
        let nss = std::fs::read(format!("{NSS_DIR}qdevice-net-node.p12")).unwrap();
        for len in 0..nss.len() {
            assert!(private_keys(&nss[..len], "").is_err(), "{len}");
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/p12-reference/");
        let ours = std::fs::read(format!("{dir}a.p12")).unwrap();
        let key = std::fs::read(format!("{dir}node.key")).unwrap();
        assert_eq!(private_keys(&ours, "").unwrap(), [key]);
        for len in 0..ours.len() {
            assert!(private_keys(&ours[..len], "").is_err(), "{len}");
        }
        for at in 0..ours.len() {
            let mut p12 = ours.clone();
            p12[at] ^= 1 << (at % 8);
            let _ = private_keys(&p12, "");
        }
    }

    #[test]
    fn ber_is_made_der() {
        // SEQUENCE (indefinite) { OCTET STRING constructed (indefinite) { "ab", "c" }, SET { 2, 1 } }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x31,
            0x06, 0x02, 0x01, 0x02, 0x02, 0x01, 0x01, 0x00, 0x00,
        ];
        let der = ber_to_der(&ber).unwrap();
        assert_eq!(
            der,
            [
                0x30, 0x0d, 0x04, 0x03, b'a', b'b', b'c', 0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01,
                0x02
            ]
        );
        assert!(ber_to_der(&[0x30, 0x80, 0x04, 0x01]).is_err());
        assert!(ber_to_der(&[0x30, 0x05, 0x04]).is_err());
    }
}
