//! Reads the private key out of a PKCS#12 file that NSS `pk12util -o` wrote: the only way NSS
//! hands out a private key. Used by `qnetd cert import-nss` on a file it made itself a moment
//! earlier in a private temp directory, so the MAC is not checked; a wrong password or a
//! damaged file still fails, on the padding or the PKCS#8 structure.
//!
//! What pk12util 3.87 writes (measured): the key in a pkcs8ShroudedKeyBag inside a plain `data`
//! content, PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC (older NSS: SHA-1 PRF, AES-128);
//! certificates in an encrypted content, which we skip (certutil gives them to us as DER).

use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Sequence};
use pkcs12::cms::content_info::ContentInfo;
use pkcs12::pfx::Pfx;
use pkcs12::SafeBag;
use pkcs5::pbes2::{EncryptionScheme, Pbkdf2Prf};

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");

#[derive(Sequence)]
struct EncryptedPrivateKeyInfo {
    encryption_algorithm: pkcs5::EncryptionScheme,
    encrypted_data: OctetString,
}

/// The PKCS#8 DER of every shrouded key in `p12`, decrypted with `password`.
pub fn private_keys(p12: &[u8], password: &str) -> Result<Vec<Vec<u8>>, String> {
    let bad = |what: &str, e: der::Error| format!("the PKCS#12 file's {what} does not parse: {e}");
    let p12 = ber_to_der(p12)?;
    let pfx = Pfx::from_der(&p12).map_err(|e| bad("outer structure", e))?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Err("the PKCS#12 file is not password-integrity protected data".into());
    }
    let safe = pfx
        .auth_safe
        .content
        .decode_as::<OctetString>()
        .map_err(|e| bad("authenticated safe", e))?;
    let contents = Vec::<ContentInfo>::from_der(&ber_to_der(safe.as_bytes())?)
        .map_err(|e| bad("content list", e))?;
    let mut keys = Vec::new();
    for ci in contents.iter().filter(|c| c.content_type == ID_DATA) {
        let data = ci
            .content
            .decode_as::<OctetString>()
            .map_err(|e| bad("safe contents", e))?;
        let bags =
            Vec::<SafeBag>::from_der(&ber_to_der(data.as_bytes())?).map_err(|e| bad("bags", e))?;
        for bag in bags
            .iter()
            .filter(|b| b.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID)
        {
            // Decoded, the pkcs12 crate keeps the bag value's `[0] EXPLICIT` wrapper.
            let value = explicit_content(&bag.bag_value)
                .ok_or_else(|| "the PKCS#12 key bag is malformed".to_string())?;
            let info = EncryptedPrivateKeyInfo::from_der(value).map_err(|e| bad("key bag", e))?;
            keys.push(decrypt(&info, password)?);
        }
    }
    Ok(keys)
}

/// NSS writes PKCS#12 in BER: indefinite lengths and OCTET STRINGs in pieces, which the `der`
/// crate (rightly) refuses. Re-encodes one element and everything inside it as DER: definite
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

/// The content of a DER `[0]` constructed element (the whole of `tlv`).
fn explicit_content(tlv: &[u8]) -> Option<&[u8]> {
    let (tag, after) = read_tag(tlv)?;
    let (len, body) = read_len(after)?;
    (tag == [0xa0] && len == Some(body.len())).then_some(body)
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

fn decrypt(info: &EncryptedPrivateKeyInfo, password: &str) -> Result<Vec<u8>, String> {
    let pkcs5::EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        return Err("the key is encrypted with a PBES1 scheme; only PBES2 is supported".into());
    };
    let Some(kdf) = params.kdf.pbkdf2() else {
        return Err("the key's key derivation is not PBKDF2".into());
    };
    let prf = match kdf.prf {
        Pbkdf2Prf::HmacWithSha1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
        Pbkdf2Prf::HmacWithSha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
        Pbkdf2Prf::HmacWithSha384 => ring::pbkdf2::PBKDF2_HMAC_SHA384,
        Pbkdf2Prf::HmacWithSha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        other => return Err(format!("unsupported PBKDF2 function {other:?}")),
    };
    let (key_len, iv) = match &params.encryption {
        EncryptionScheme::Aes128Cbc { iv } => (16, iv),
        EncryptionScheme::Aes256Cbc { iv } => (32, iv),
        other => return Err(format!("unsupported key cipher {:?}", other.oid())),
    };
    let rounds = std::num::NonZeroU32::new(kdf.iteration_count)
        .ok_or_else(|| "the key's PBKDF2 iteration count is 0".to_string())?;
    // NSS has derived PBES2 keys from the UTF-8 password and, in some versions, from its
    // BMPString form (as PKCS#12's own KDF does): try both.
    let mut bmp: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    bmp.extend_from_slice(&[0, 0]);
    for secret in [password.as_bytes(), bmp.as_slice()] {
        let mut key = vec![0u8; key_len];
        ring::pbkdf2::derive(prf, rounds, kdf.salt.as_bytes(), secret, &mut key);
        if let Some(plain) = aes_cbc_decrypt(&key, iv, info.encrypted_data.as_bytes()) {
            if der::asn1::Any::from_der(&plain).is_ok() {
                return Ok(plain);
            }
        }
    }
    Err("the key in the PKCS#12 file does not decrypt with the expected password".into())
}

fn aes_cbc_decrypt(key: &[u8], iv: &[u8; 16], data: &[u8]) -> Option<Vec<u8>> {
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
